"""``slt-course grade`` (the robust engine) and ``slt-course demo`` (plain nbgrader autograde).

The class folder (``--root``, ``$SLT_COURSE_ROOT``, default ``<repo>/.instructor``) holds
nbgrader's state: ``submitted/<student>/<assignment>/`` in (as ``nbgrader collect`` leaves it, its
``timestamp.txt`` included); out go the gradebook (sqlite at an absolute path, or ``$SLT_DB_URL``),
``autograded/<student>/<assignment>/<assignment>.ipynb`` (the graded copy that nbgrader's
formgrader and ``generate_feedback`` read, as after ``nbgrader autograde``), ``grades.csv``
(nbgrader's own export, every student of the gradebook for every assignment) and
``reports/<student>/<assignment>/`` (the instructor's full report: hidden cases included).
Both paths share how submissions are found, checked and recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from slt_lessons.course.paths import CourseError, Repo, nbgrader_environment, prepare_root


@dataclass(frozen=True)
class Grade:
    student: str
    assignment: str
    score: float             # after the late-submission penalty, as nbgrader's export computes it
    max_score: float
    late_penalty: float = 0.0
    overridden: bool = False  # a score set by hand (formgrader) counts instead of the autograder's


def db_url(root: Path) -> str:
    return os.environ.get("SLT_DB_URL") or f"sqlite:///{root / 'gradebook.db'}"


def _nbgrader(repo: Repo, root: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    prepare_root(repo, root)
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=root, env=nbgrader_environment(root), capture_output=True, text=True,
                          timeout=timeout)


def _registered(root: Path, assignment: str, plan) -> bool:
    """Whether the gradebook already holds ``assignment`` with the graded cells of ``plan``."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(root)) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return False
        cells = {(g.name, float(g.max_score)) for nb in a.notebooks for g in nb.grade_cells}
    return cells == {(f"{p.grade_id}-test", p.points) for p in plan.exercises}


def register_assignments(repo: Repo, root: Path, assignments: list[str]) -> None:
    """Put each assignment's source notebook into the gradebook (nbgrader generate_assignment),
    unless it is there already: regenerating would touch a released assignment and its due date."""
    from slt_lessons.course.notebook import lesson_plan

    prepare_root(repo, root)
    for a in assignments:
        if _registered(root, a, lesson_plan(nbformat.read(repo.source_notebook(a), as_version=4))):
            continue
        res = _nbgrader(repo, root, "generate_assignment", a, "--force")
        if res.returncode != 0:
            raise CourseError(f"nbgrader generate_assignment {a} failed:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")


def autograde(repo: Repo, root: Path, assignment: str, log=print) -> None:
    res = _nbgrader(repo, root, "autograde", assignment, "--force")
    if res.returncode != 0:
        log(f"nbgrader autograde {assignment} reported failures (exit {res.returncode}); see the log below")
        log("\n".join(line for line in res.stderr.splitlines() if "ERROR" in line or "WARNING" in line)[-3000:])


def read_grades(root: Path) -> list[Grade]:
    """Every submission's score from the gradebook (after its late penalty, as nbgrader exports it)."""
    from nbgrader.api import Gradebook

    grades = []
    with Gradebook(db_url(root)) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                penalty = float(sub.late_submission_penalty or 0.0)
                overridden = any(g.manual_score is not None for nb in sub.notebooks for g in nb.grades)
                grades.append(Grade(sub.student.id, assignment.name, max(0.0, float(sub.score) - penalty),
                                    float(sub.max_score), penalty, overridden))
    return sorted(grades, key=lambda g: (g.assignment, g.student))


def export_csv(root: Path) -> Path:
    """``root/grades.csv`` by nbgrader's own CSV export (the file ``slt-course nbgrader export``
    writes, with the same rows: every student of the gradebook for every assignment, 0 where
    nothing was submitted), replaced atomically."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    dest = root / "grades.csv"
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    with Gradebook(db_url(root)) as gb:
        CsvExportPlugin(to=str(tmp)).export(gb)
    os.replace(tmp, dest)
    return dest


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
            mark = ("*" if g is not None and g.overridden else "") + ("L" if g is not None and g.late_penalty else "")
            cells.append(f"{'-':>12}" if g is None else f"{f'{g.score:g}/{g.max_score:g}{mark}':>12}")
        rows.append(f"{a:<{w}}  " + "  ".join(cells))
    if any(g.overridden for g in grades):
        rows.append("* a score set by hand (formgrader) counts instead of the autograder's")
    if any(g.late_penalty for g in grades):
        rows.append("L late: the late-submission penalty is taken off")
    return "\n".join(rows)


def nbgrader_autograde_all(repo: Repo, root: Path, assignments: list[str] | None = None, log=print) -> list[Grade]:
    """Plain ``nbgrader autograde`` of every submission (the demo's path), then ``grades.csv``."""
    names = _prepare(repo, root, _submissions(root, assignments), assignments)
    for a in names:
        log(f"autograding {a} ...")
        autograde(repo, root, a, log)
    return _export(root)


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


def _submissions(root: Path, assignments: list[str] | None, known: list[str] | None = None,
                 students: list[str] | None = None) -> list[Submission]:
    """Every folder submitted/<student>/<assignment>/, matched to an assignment (``known``:
    near misses of those names are matched too; without it, names are taken as they are)."""
    sub = root / "submitted"
    found = []
    for folder in sorted(sub.glob("*/*")) if sub.is_dir() else []:
        if not folder.is_dir() or (students and folder.parent.name not in students):
            continue
        name, note = match_folder(folder.name, known) if known is not None else (folder.name, None)
        if assignments and name not in assignments:
            continue
        found.append(Submission(folder.parent.name, folder, name, [note] if note else []))
    return found


def _prepare(repo: Repo, root: Path, subs: list[Submission], assignments: list[str] | None,
             students: list[str] | None = None) -> list[str]:
    """Check the submissions found and put their assignments into the gradebook; their names."""
    names = sorted({s.assignment for s in subs if s.assignment})
    who = f" by {', '.join(students)}" if students else ""
    missing = sorted(set(assignments or []) - set(names))
    if missing:
        raise CourseError(f"no submissions of {', '.join(missing)}{who} under {root / 'submitted'}")
    if not names:
        raise CourseError(f"no submissions{who} under {root / 'submitted'} "
                          "(expected submitted/<student>/<assignment>/<assignment>.ipynb)")
    unknown = sorted(set(names) - set(repo.assignments()))
    if unknown:
        raise CourseError(f"submissions of unknown assignment(s): {', '.join(unknown)}")
    register_assignments(repo, root, names)
    return names


def _export(root: Path) -> list[Grade]:
    """Every grade of the gradebook, also exported to ``root/grades.csv``."""
    export_csv(root)
    return read_grades(root)


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


def grade(repo: Repo, root: Path, assignments: list[str] | None = None, *, students: list[str] | None = None,
          workers: int = 1, limits=None, sandbox=None, log=print) -> list[Grade]:
    """Grade the submissions under ``root/submitted`` (all, or those of ``assignments`` by
    ``students``) with the robust engine, in the sandbox; record them in nbgrader's gradebook,
    write their graded copies and reports, and export ``root/grades.csv``.

    Submissions are graded ``workers`` at a time. Nothing is written until every submission's
    processes are gone; then the gradebook is updated in one transaction, by one writer, in a fixed
    order (so a parallel run records exactly what a serial one does), and the files are replaced
    atomically. Only the graded submissions' rows change: a score set by hand in formgrader stays
    and is flagged for review, as ``nbgrader autograde`` does. A submission that cannot be graded
    gets its own message; the others are graded. Returns every grade of the gradebook.
    """
    from concurrent.futures import ThreadPoolExecutor

    from slt_lessons.course import engine
    from slt_lessons.course.sandbox import Sandbox

    limits = limits or engine.Limits()
    sandbox = sandbox_or_refuse(sandbox or Sandbox(), log)
    subs = _submissions(root, assignments, repo.assignments(), students)
    for s in subs:
        if s.assignment is None:
            log(f"NOT GRADED: {s.folder.relative_to(root)}: the folder's name matches no assignment of this "
                f"course ({', '.join(repo.assignments())}); rename it submitted/{s.student}/<assignment>/")
    subs = [s for s in subs if s.assignment]
    _prepare(repo, root, subs, assignments, students)
    penalty = late_penalty_rule(root)  # the class folder is prepared: _prepare registered the assignments

    def one(s: Submission):
        nb = None
        try:
            nb, notes = _choose_notebook(repo, s.assignment, s.folder)
            result = engine.grade_submission(repo, s.assignment, nb, limits=limits, sandbox=sandbox)
            result.notes[:0] = s.notes + notes
        except Exception as exc:  # a bug of ours, or a submission we did not foresee: only this one fails
            plan = engine.lesson_plan(nbformat.read(repo.source_notebook(s.assignment), as_version=4))
            result = engine.zero_grade(s.assignment, plan, f"this submission could not be graded "
                                       f"({type(exc).__name__}: {exc}); tell your instructor")
        log(f"graded {s.student}/{s.assignment}: {result.score:g}/{result.max_score:g}")
        return s, result, nb

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, subs))
    # every kernel has stopped and every sandbox process is gone (Kernel.stop waits for that)
    stamps = {(s.student, s.assignment): submission_time(s.folder) for s, _, _ in results}
    for (student, a), (when, problem) in stamps.items():
        if problem:
            log(f"NOTE: {student}/{a}: {problem}")
    record_in_gradebook(root, [(s.student, s.assignment, r, stamps[s.student, s.assignment][0])
                               for s, r, _ in results], penalty=penalty)
    for s, result, nb in results:
        write_graded_copy(repo, root, s.student, s.folder, result, nb)
        out = root / "reports" / s.student / s.assignment
        _write_atomically(out / "report.txt", "For the instructor: hidden cases in full (the learner's feedback "
                          "omits their values).\n\n" + result.feedback_text())
        _write_atomically(out / "grades.json", engine.to_json(result))
    return _export(root)


def submission_time(folder: Path):
    """The submission time that ``nbgrader collect`` wrote (``timestamp.txt``), and a problem with
    it if it cannot be read (None, None: there is none, as for a notebook copied in by hand)."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if not path.is_file():
        return None, None
    text = path.read_text(errors="replace").strip()
    try:
        return parse_utc(text), None
    except Exception:
        return None, f"its timestamp.txt ({text[:40]!r}) is not a time; the submission is recorded without one"


def class_config(root: Path):
    """The nbgrader configuration of the class at ``root``, a folder :func:`prepare_root` has
    prepared (course settings, then the class's own)."""
    from traitlets.config.loader import PyFileConfigLoader

    saved = os.environ.get("SLT_COURSE_ROOT")
    try:  # the class file sets SLT_COURSE_ROOT for the course settings it loads
        return PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
    finally:
        if saved is None:
            os.environ.pop("SLT_COURSE_ROOT", None)
        else:
            os.environ["SLT_COURSE_ROOT"] = saved


def late_penalty_rule(root: Path):
    """nbgrader's late-submission plugin as the class configures it (``AssignLatePenalties.plugin_class``,
    default ``LateSubmissionPlugin``, whose ``penalty_method`` is ``none`` unless set)."""
    from nbgrader.plugins import LateSubmissionPlugin
    from traitlets.utils.importstring import import_item

    config = class_config(root)
    cls = config.AssignLatePenalties.get("plugin_class", LateSubmissionPlugin)
    return (import_item(cls) if isinstance(cls, str) else cls)(config=config)


def record_in_gradebook(root: Path, results, penalty=None) -> None:
    """Every (student, assignment, SubmissionGrade, submission time) into nbgrader's gradebook, in
    one transaction (sqlite or PostgreSQL): either all of them are recorded or none is.

    As ``nbgrader autograde`` records: the autograder's score of each graded cell, a score set by
    hand kept (and the cell flagged as needing manual grading, so the instructor sees the two
    disagree or agree), the submission time, and the late penalty of ``penalty`` (an nbgrader
    ``LateSubmissionPlugin``; none without one), at most the notebook's score."""
    import warnings

    from nbgrader.api import Gradebook

    # nbgrader 0.9.6's update_or_create_submission triggers SQLAlchemy's harmless
    # "not in session" warning on every new submission
    warnings.filterwarnings("ignore", message=".*not in session.*")

    with Gradebook(db_url(root)) as gb:
        commit = gb.db.commit
        gb.db.commit = gb.db.flush  # nbgrader commits after each call; here everything commits once
        try:
            for student, a, result, when in results:
                gb.update_or_create_student(student)
                sub = gb.update_or_create_submission(a, student)
                sub.timestamp = when
                for ex in result.exercises:
                    g = gb.find_grade(f"{ex.grade_id}-test", a, a, student)
                    g.auto_score = ex.points
                    g.needs_manual_grade = g.manual_score is not None
                gb.db.flush()
                notebook = gb.find_submission_notebook(a, a, student)
                gb.db.refresh(notebook)  # its score sums the grades just written
                notebook.late_submission_penalty = None
                if penalty is not None and sub.total_seconds_late > 0:
                    p = penalty.late_submission_penalty(student, notebook.score, sub.total_seconds_late)
                    if p is not None:
                        notebook.late_submission_penalty = min(max(float(p), 0.0), float(notebook.score))
            commit()
        except BaseException:
            gb.db.rollback()
            raise
        finally:
            gb.db.commit = commit


def graded_notebook(source, submitted, result):
    """The graded copy of a submission, as nbgrader's formgrader and ``generate_feedback`` read it:
    the course source's cells, each answer cell replaced by the learner's cells that grading ran
    for that exercise (helpers included, in their order), each test cell (hidden tests included;
    feedback removes them) carrying the exercise's verdicts as its output, with the hidden cases
    by label and verdict only."""
    import copy

    from slt_lessons.course import notebook

    plan = notebook.lesson_plan(source)
    reading = notebook.learner_cells(submitted, plan) if submitted is not None else notebook.Reading([], [], [])
    mine: dict[str | None, list] = {}
    for cell in reading.cells:
        mine.setdefault(cell.owner, []).append(cell)
    by_gid = {p.grade_id: p for p in plan.exercises}
    graded = {e.grade_id: e for e in result.exercises}
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(source.metadata))
    if result.notes:
        out.cells.append(nbformat.v4.new_markdown_cell("**Grading notes**\n\n" + "\n".join(f"- {n}" for n in result.notes)))
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if cell.cell_type == "code" and meta.get("solution") and gid in by_gid:
            cells = mine.pop(by_gid[gid].exercise_id, [])
            name = by_gid[gid].function_name
            answer = next((c for c in reversed(cells) if notebook.defines(c.source, name)), cells[-1] if cells else None)
            for c in cells:
                if c is not answer:
                    out.cells.append(nbformat.v4.new_code_cell(c.source))
            text = answer.source if answer else "# no answer to this exercise was found in the submission"
            out.cells.append(nbformat.v4.new_code_cell(text, metadata=copy.deepcopy(cell.metadata)))
        elif cell.cell_type == "code" and meta.get("grade") and gid.removesuffix("-test") in graded:
            e = graded[gid.removesuffix("-test")]
            report = f"autograder: {e.points:g} / {e.max_points:g} points\n{e.for_learner}\n"
            out.cells.append(nbformat.v4.new_code_cell(cell.source, metadata=copy.deepcopy(cell.metadata),
                                                       outputs=[nbformat.v4.new_output("stream", name="stdout", text=report)]))
        else:
            new = copy.deepcopy(cell)
            if new.cell_type == "code":
                new.outputs, new.execution_count = [], None
            out.cells.append(new)
    for cells in mine.values():  # cells of no exercise, below the last test cell
        out.cells.extend(nbformat.v4.new_code_cell(c.source) for c in cells)
    for i, cell in enumerate(out.cells):
        cell["id"] = f"graded-{i}"
    return out


def write_graded_copy(repo: Repo, root: Path, student: str, folder: Path, result, path: Path | None) -> Path:
    """``autograded/<student>/<assignment>/``: the graded copy of the notebook, with the submission's
    ``timestamp.txt`` and ``submission_secret.txt`` (nbgrader's feedback release needs both), replaced
    as a whole."""
    from slt_lessons.course import notebook

    a = result.assignment
    try:
        submitted = notebook.read(path) if path is not None else None
    except ValueError:
        submitted = None
    nb = graded_notebook(nbformat.read(repo.source_notebook(a), as_version=4), submitted, result)
    dest = root / "autograded" / student / a
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = (dest.with_name(f".{a}.{what}-{os.getpid()}") for what in ("new", "old"))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    nbformat.write(nb, tmp / f"{a}.ipynb")
    for name in ("timestamp.txt", "submission_secret.txt"):
        if (folder / name).is_file() and not (folder / name).is_symlink():
            shutil.copy(folder / name, tmp / name)
    if dest.exists():
        os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest
