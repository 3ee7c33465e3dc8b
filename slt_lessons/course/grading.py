"""``slt-course grade`` (the robust engine) and ``slt-course demo`` (plain nbgrader autograde).

The instructor root (``--root``, ``$SLT_COURSE_ROOT``, default ``<repo>/.instructor``) holds
nbgrader's state: ``submitted/<student>/<assignment>/<assignment>.ipynb`` in; the gradebook
(sqlite at an absolute path, or ``$SLT_DB_URL``), ``grades.csv`` and ``feedback/`` (or nbgrader's
``autograded/``) out. Both paths share how submissions are found, checked and recorded.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["assignment", "student", "score", "max_score"])
        for g in grades:
            w.writerow([g.assignment, g.student, f"{g.score:g}", f"{g.max_score:g}"])


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


def _submissions(root: Path, assignments: list[str] | None) -> list[tuple[str, str, Path | None]]:
    """(student, assignment, notebook or None) for every folder submitted/<student>/<assignment>/."""
    sub = root / "submitted"
    found = []
    for folder in sorted(sub.glob("*/*")) if sub.is_dir() else []:
        if not folder.is_dir() or (assignments and folder.name not in assignments):
            continue
        nb = folder / f"{folder.name}.ipynb"
        if not nb.is_file():
            others = sorted(folder.glob("*.ipynb"))
            nb = others[0] if len(others) == 1 else None
        found.append((folder.parent.name, folder.name, nb))
    return found


def _prepare(repo: Repo, root: Path, subs, assignments: list[str] | None) -> list[str]:
    """Check the submissions found and put their assignments into the gradebook; their names."""
    names = sorted({a for _, a, _ in subs})
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


# ----------------------------------------------------------------------------- the robust grader


def grade(repo: Repo, root: Path, assignments: list[str] | None = None, *, workers: int = 1,
          limits=None, log=print) -> list[Grade]:
    """Grade every submission under ``root/submitted`` with the robust engine, record the scores in
    nbgrader's gradebook, write per-exercise feedback and ``root/grades.csv``.

    Submissions are graded ``workers`` at a time; the gradebook is written afterwards, by one
    writer, in a fixed order, so a parallel run records exactly what a serial one does.
    """
    from concurrent.futures import ThreadPoolExecutor

    from slt_lessons.course import engine

    limits = limits or engine.Limits()
    subs = _submissions(root, assignments)
    names = _prepare(repo, root, subs, assignments)

    def one(item):
        student, a, nb = item
        result = engine.grade_submission(repo, a, nb, limits=limits)
        log(f"graded {student}/{a}: {result.score:g}/{result.max_score:g}")
        return item, result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, subs))
    record_in_gradebook(root, results)
    for (student, a, _), result in results:
        out = root / "feedback" / student / a
        out.mkdir(parents=True, exist_ok=True)
        (out / "feedback.txt").write_text(result.feedback_text())
        (out / "grades.json").write_text(engine.to_json(result))
    return _export(root, names)


def record_in_gradebook(root: Path, results) -> None:
    import warnings

    from nbgrader.api import Gradebook

    # nbgrader 0.9.6's update_or_create_submission triggers SQLAlchemy's harmless
    # "not in session" warning on every new submission
    warnings.filterwarnings("ignore", message=".*not in session.*")

    url = os.environ.get("SLT_DB_URL") or f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        for (student, a, _), result in results:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(a, student)
            for ex in result.exercises:
                g = gb.find_grade(f"{ex.grade_id}-test", a, a, student)
                g.auto_score = ex.points
                g.manual_score = None
                g.needs_manual_grade = False
            gb.db.commit()
