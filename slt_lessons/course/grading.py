"""``slt-course grade`` (the robust engine) and ``slt-course demo`` (plain nbgrader autograde).

The instructor root (``--root``, ``$SLT_COURSE_ROOT``, default ``<repo>/.instructor``) holds
nbgrader's state: ``submitted/<student>/<assignment>/<assignment>.ipynb`` in; the gradebook
(sqlite at an absolute path, or ``$SLT_DB_URL``), ``grades.csv`` and ``feedback/`` (or nbgrader's
``autograded/``) out. Both paths share how submissions are found, checked and recorded.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from slt_lessons.course.paths import CourseError, Repo, use_this_environment


@dataclass(frozen=True)
class Grade:
    student: str
    assignment: str
    score: float
    max_score: float


def _nbgrader(repo: Repo, root: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    use_this_environment()
    env = dict(os.environ, SLT_COURSE_ROOT=str(root))
    env.pop("SLT_FAST", None)
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=repo.course, env=env, capture_output=True, text=True, timeout=timeout)


def register_assignments(repo: Repo, root: Path, assignments: list[str]) -> None:
    """Put each assignment's source notebook into the gradebook (nbgrader generate_assignment)."""
    root.mkdir(parents=True, exist_ok=True)
    for a in assignments:
        res = _nbgrader(repo, root, "generate_assignment", a, "--force")
        if res.returncode != 0:
            raise CourseError(f"nbgrader generate_assignment {a} failed:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")


def autograde(repo: Repo, root: Path, assignment: str, log=print) -> None:
    res = _nbgrader(repo, root, "autograde", assignment, "--force")
    if res.returncode != 0:
        log(f"nbgrader autograde {assignment} reported failures (exit {res.returncode}); see the log below")
        log("\n".join(line for line in res.stderr.splitlines() if "ERROR" in line or "WARNING" in line)[-3000:])


def read_grades(root: Path, db_url: str | None = None) -> list[Grade]:
    """Every (student, assignment) score from the gradebook."""
    from nbgrader.api import Gradebook

    url = db_url or os.environ.get("SLT_DB_URL") or f"sqlite:///{root / 'gradebook.db'}"
    grades = []
    with Gradebook(url) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                grades.append(Grade(sub.student.id, assignment.name, float(sub.score), float(sub.max_score)))
    return sorted(grades, key=lambda g: (g.assignment, g.student))


def write_csv(grades: list[Grade], path: Path) -> None:
    """``grades`` as CSV, replacing ``path`` atomically."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["assignment", "student", "score", "max_score"])
    for g in grades:
        w.writerow([g.assignment, g.student, f"{g.score:g}", f"{g.max_score:g}"])
    _write_atomically(path, buf.getvalue())


def table(grades: list[Grade]) -> str:
    students = sorted({g.student for g in grades})
    assignments = sorted({g.assignment for g in grades})
    by = {(g.assignment, g.student): g for g in grades}
    w = max([len("assignment")] + [len(a) for a in assignments])
    head = f"{'assignment':<{w}}  " + "  ".join(f"{s:>12}" for s in students)
    rows = [head, "-" * len(head)]
    for a in assignments:
        cells = []
        for s in students:
            g = by.get((a, s))
            cells.append(f"{'-':>12}" if g is None else f"{f'{g.score:g}/{g.max_score:g}':>12}")
        rows.append(f"{a:<{w}}  " + "  ".join(cells))
    return "\n".join(rows)


def nbgrader_autograde_all(repo: Repo, root: Path, assignments: list[str] | None = None, log=print) -> list[Grade]:
    """Plain ``nbgrader autograde`` of every submission (the demo's path), then ``grades.csv``."""
    names = _prepare(repo, root, _submissions(root, assignments), assignments)
    for a in names:
        log(f"autograding {a} ...")
        autograde(repo, root, a, log)
    return _export(root, names)


def submit(root: Path, student: str, assignment: str, notebook: Path) -> None:
    """Place a notebook as ``student``'s submission of ``assignment`` (as nbgrader collect would)."""
    dest = root / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, dest / f"{assignment}.ipynb")
    (dest / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC\n")


def demo(repo: Repo, root: Path, assignments: list[str] | None = None, log=print) -> list[Grade]:
    """Grade the reference solution and the untouched learner version of every assignment."""
    names = assignments or repo.assignments()
    pairs = [(a, repo.solutions / a / f"{a}.ipynb", repo.exercises / a / f"{a}.ipynb") for a in names]
    missing = [str(p.relative_to(repo.root)) for _, s, e in pairs for p in (s, e) if not p.is_file()]
    if missing:
        raise CourseError(f"missing generated notebooks ({', '.join(missing)}): run `slt-course build` first")
    if root.exists():
        shutil.rmtree(root)
    for a, solution, exercise in pairs:
        submit(root, "reference", a, solution)
        submit(root, "untouched", a, exercise)
    return nbgrader_autograde_all(repo, root, names, log=log)


# ----------------------------------------------------------------------------- shared by both paths


@dataclass
class Submission:
    student: str
    folder: Path
    assignment: str | None           # None: the folder matches no assignment of the course
    notes: list[str] = field(default_factory=list)


def _normalised(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def match_folder(name: str, known: list[str]) -> tuple[str | None, str | None]:
    """The assignment a submission folder is for, and a note when it was not an exact match."""
    import difflib

    if name in known:
        return name, None
    same = [a for a in known if _normalised(a) == _normalised(name)]
    close = same or difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.85)
    if close:
        return close[0], f"the folder is named {name!r}; it was graded as {close[0]}"
    return None, None


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())


def _choose_notebook(repo: Repo, assignment: str, folder: Path) -> tuple[Path | None, list[str]]:
    """The notebook of a folder to grade: the only one, else the one holding most of the
    assignment's exercises (ties: the one named for the assignment, then by name)."""
    from slt_lessons.course import notebook

    found = _notebooks(folder)
    if len(found) <= 1:
        return (found[0] if found else None), []
    plan = notebook.lesson_plan(nbformat.read(repo.source_notebook(assignment), as_version=4))

    def holds(path: Path) -> int:
        try:
            return len(notebook.learner_cells(notebook.read(path), plan).answered)
        except ValueError:
            return -1

    best = max(found, key=lambda p: (holds(p), p.stem == assignment, [-ord(c) for c in p.name]))
    return best, [f"the folder holds {len(found)} notebooks ({', '.join(p.name for p in found)}); "
                  f"{best.name} was graded, as the one holding most of {assignment}'s exercises"]


def _submissions(root: Path, assignments: list[str] | None, known: list[str] | None = None) -> list[Submission]:
    """Every folder submitted/<student>/<assignment>/, matched to an assignment (``known``:
    near misses of those names are matched too; without it, names are taken as they are)."""
    sub = root / "submitted"
    found = []
    for folder in sorted(sub.glob("*/*")) if sub.is_dir() else []:
        if not folder.is_dir():
            continue
        name, note = match_folder(folder.name, known) if known is not None else (folder.name, None)
        if assignments and name not in assignments:
            continue
        found.append(Submission(folder.parent.name, folder, name, [note] if note else []))
    return found


def _prepare(repo: Repo, root: Path, subs: list[Submission], assignments: list[str] | None) -> list[str]:
    """Check the submissions found and put their assignments into the gradebook; their names."""
    names = sorted({s.assignment for s in subs if s.assignment})
    missing = sorted(set(assignments or []) - set(names))
    if missing:
        raise CourseError(f"no submissions of {', '.join(missing)} under {root / 'submitted'}")
    if not names:
        raise CourseError(f"no submissions under {root / 'submitted'} (expected submitted/<student>/<assignment>/<assignment>.ipynb)")
    unknown = sorted(set(names) - set(repo.assignments()))
    if unknown:
        raise CourseError(f"submissions of unknown assignment(s): {', '.join(unknown)}")
    register_assignments(repo, root, names)
    return names


def _export(root: Path, names: list[str]) -> list[Grade]:
    """The gradebook's grades of these assignments, also written to ``root/grades.csv``."""
    grades = [g for g in read_grades(root) if g.assignment in names]
    write_csv(grades, root / "grades.csv")
    return grades


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the robust grader


def sandbox_or_refuse(sandbox, log=print):
    """``sandbox`` if its probe succeeds; with the sandbox turned off, a loud warning; else an
    error saying why it is unavailable and how to fix it."""
    from slt_lessons.course import sandbox as sb

    if not sandbox.enabled:
        log("WARNING: --no-sandbox: the learners' code runs with your user's rights; it can read and "
            "change other submissions, the gradebook and anything else you can. Use it only for code you trust.")
        return sandbox
    problem = sb.probe()
    if problem:
        raise CourseError(f"cannot grade in a sandbox: {problem}.\nFix that, or pass --no-sandbox to grade "
                          "without one (only for notebooks you trust).")
    return sandbox


def grade(repo: Repo, root: Path, assignments: list[str] | None = None, *, workers: int = 1,
          limits=None, sandbox=None, log=print) -> list[Grade]:
    """Grade every submission under ``root/submitted`` with the robust engine, in the sandbox;
    record the scores in nbgrader's gradebook, write per-exercise feedback and ``root/grades.csv``.

    Submissions are graded ``workers`` at a time. Nothing is written until every submission's
    processes are gone; then the gradebook is updated in one transaction, by one writer, in a fixed
    order (so a parallel run records exactly what a serial one does), and the files are replaced
    atomically. A submission that cannot be graded gets its own message; the others are graded.
    """
    from concurrent.futures import ThreadPoolExecutor

    from slt_lessons.course import engine
    from slt_lessons.course.sandbox import Sandbox

    limits = limits or engine.Limits()
    sandbox = sandbox_or_refuse(sandbox or Sandbox(), log)
    subs = _submissions(root, assignments, repo.assignments())
    for s in subs:
        if s.assignment is None:
            log(f"NOT GRADED: {s.folder.relative_to(root)}: the folder's name matches no assignment of this "
                f"course ({', '.join(repo.assignments())}); rename it submitted/{s.student}/<assignment>/")
    subs = [s for s in subs if s.assignment]
    names = _prepare(repo, root, subs, assignments)

    def one(s: Submission):
        try:
            nb, notes = _choose_notebook(repo, s.assignment, s.folder)
            result = engine.grade_submission(repo, s.assignment, nb, limits=limits, sandbox=sandbox)
            result.notes[:0] = s.notes + notes
        except Exception as exc:  # a bug of ours, or a submission we did not foresee: only this one fails
            plan = engine.lesson_plan(nbformat.read(repo.source_notebook(s.assignment), as_version=4))
            result = engine.zero_grade(s.assignment, plan, f"this submission could not be graded "
                                       f"({type(exc).__name__}: {exc}); tell your instructor")
        log(f"graded {s.student}/{s.assignment}: {result.score:g}/{result.max_score:g}")
        return s, result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, subs))
    # every kernel has stopped and every sandbox process is gone (Kernel.stop waits for that)
    record_in_gradebook(root, [(s.student, s.assignment, r) for s, r in results])
    for s, result in results:
        out = root / "feedback" / s.student / s.assignment
        _write_atomically(out / "feedback.txt", result.feedback_text())
        _write_atomically(out / "grades.json", engine.to_json(result))
    return _export(root, names)


def record_in_gradebook(root: Path, results) -> None:
    """Every (student, assignment, SubmissionGrade) into nbgrader's gradebook, in one transaction (sqlite or PostgreSQL): either
    all of them are recorded or none is."""
    import warnings

    from nbgrader.api import Gradebook

    # nbgrader 0.9.6's update_or_create_submission triggers SQLAlchemy's harmless
    # "not in session" warning on every new submission
    warnings.filterwarnings("ignore", message=".*not in session.*")

    url = os.environ.get("SLT_DB_URL") or f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        commit = gb.db.commit
        gb.db.commit = gb.db.flush  # nbgrader commits after each call; here everything commits once
        try:
            for student, a, result in results:
                gb.update_or_create_student(student)
                gb.update_or_create_submission(a, student)
                for ex in result.exercises:
                    g = gb.find_grade(f"{ex.grade_id}-test", a, a, student)
                    g.auto_score = ex.points
                    g.manual_score = None
                    g.needs_manual_grade = False
            commit()
        except BaseException:
            gb.db.rollback()
            raise
        finally:
            gb.db.commit = commit
