"""The grading engine: the learner's notebook run as they wrote it, in a sandbox; verdicts outside it.

For one submission:

1. read the notebook's cells (:mod:`slt_lessons.course.notebook`): the learner's cells (answer cells
   and any cell they added) run, the course's own cells never come from the submission;
2. from a private copy of the submission's folder, in a fresh Jupyter kernel inside the sandbox
   (:mod:`slt_lessons.course.sandbox`), run the lesson's set-up cells from the course source, then
   the learner's cells in notebook order, then, for each exercise,
   :func:`slt_lessons.checks.harness.record`, which saves the function's outputs on the seeded cases;
   the kernel's output is drained and discarded;
3. a cell that kills the kernel or never finishes is *replayed around*: a new kernel runs the set-up
   and the learner's cells before it, skips it, and goes on. It costs the exercise it belongs to
   (0 points, with the reason); an ordinary exception in a cell is only noted, as Jupyter would
   show it. A recording that kills the kernel or hangs costs its own exercise the same way;
4. judge every recording in this process with :func:`slt_lessons.checks.runner.judge`, against the
   reference on the same seeded cases. An exercise earns its points when both suites pass and its
   function never called the exercise's own reference. When a failing function called another
   exercise's function that failed too, the feedback says so (the points still follow the outputs).

Demonstration cells are not run: graded exercises depend only on the set-up cells and the learner's
cells (course/AUTHORING.md), so they need not be.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import nbformat
import torch

from slt_lessons.checks import registry
from slt_lessons.checks.runner import Outcome, Unsupported, judge
from slt_lessons.course import notebook
from slt_lessons.course.kernel import Kernel
from slt_lessons.course.notebook import LearnerCell, Plan, Planned, lesson_plan
from slt_lessons.course.paths import Repo
from slt_lessons.course.sandbox import Sandbox


@dataclass(frozen=True)
class Limits:
    exercise_s: float = 120.0    # one learner cell, or one exercise's recording
    submission_s: float = 900.0  # the whole submission: a hard bound
    startup_s: float = 60.0      # kernel start and set-up cells


@dataclass
class ExerciseGrade:
    exercise_id: str
    grade_id: str
    points: float
    max_points: float
    feedback: str                # for the instructor: every case in full, hidden ones included
    seconds: float = 0.0  # time its recording took in the kernel
    learner_feedback: str | None = None  # for the learner: hidden cases by label and verdict only (None: as feedback)

    @property
    def for_learner(self) -> str:
        return self.feedback if self.learner_feedback is None else self.learner_feedback


@dataclass
class SubmissionGrade:
    assignment: str
    exercises: list[ExerciseGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def feedback_text(self) -> str:
        lines = [f"{self.assignment}: {self.score:g} / {self.max_score:g} points", ""]
        lines += [f"NOTE: {n}" for n in self.notes]
        for e in self.exercises:
            lines.append(f"[{e.points:g}/{e.max_points:g}] {e.exercise_id}")
            lines.extend("    " + l for l in e.feedback.splitlines())
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- running the learner's cells


# after the set-up cells: watch threads for reference calls; and make exit() end the kernel at once,
# as part of the cell that calls it (IPython's exit() lets the cell finish and the kernel stops after,
# so the death would be blamed on whichever cell came next)
_AFTER_SETUP = """
import slt_lessons.checks.harness as _slt_harness
_slt_harness.install()
import os as _slt_os
get_ipython().ask_exit = lambda: _slt_os._exit(0)
"""


class _SetupFailed(Exception):
    pass


class _Session:
    """The learner's cells in a kernel, replayed into a new kernel when one dies or hangs."""

    def __init__(self, plan: Plan, workdir: Path, conndir: Path, limits: Limits, sandbox: Sandbox):
        self.plan, self.workdir, self.conndir, self.limits, self.sandbox = plan, workdir, conndir, limits, sandbox
        self.deadline = time.monotonic() + limits.submission_s
        self.kernel: Kernel | None = None
        self.ran: list[LearnerCell] = []          # cells the current kernel state is built from
        self.broken: dict[str, list[str]] = {}    # exercise -> why its cells were skipped
        self.raised: dict[str, list[str]] = {}    # exercise -> exceptions its cells raised
        self.notes: list[str] = []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _limit(self) -> float:
        return max(0.0, min(self.limits.exercise_s, self.left()))

    def _skip(self, cell: LearnerCell, why: str) -> None:
        text = f"your {cell.describe()} was skipped: {why}"
        if cell.owner is None:
            self.notes.append(text)
        else:
            self.broken.setdefault(cell.owner, []).append(text)

    def _fresh_kernel(self) -> None:
        """A new kernel with the set-up cells, then the learner's cells that ran before."""
        while self.kernel is None:
            if self.left() <= 0:
                raise _SetupFailed(f"the submission used up its {self.limits.submission_s:g} s")
            try:
                kernel = Kernel(self.workdir, self.conndir, self.sandbox, startup_timeout=self.limits.startup_s)
            except Exception as exc:
                raise _SetupFailed(f"the kernel did not start ({type(exc).__name__}: {exc})") from None
            setup = "\n".join(self.plan.setup) + _AFTER_SETUP
            status, message = kernel.run(setup, min(self.limits.startup_s, self.left()))
            if status != "ok":
                kernel.stop()
                raise _SetupFailed(f"the lesson's set-up cells could not run: {message}")
            self.kernel = kernel
            for cell in list(self.ran):
                status, message = kernel.run(cell.source + "\n", self._limit())
                if status in ("timeout", "dead", "stuck"):  # it passed before: now it does not
                    self.ran.remove(cell)
                    self._skip(cell, message + " (when it was run again after an earlier broken cell)")
                    if status != "timeout":
                        self._drop_kernel()
                        break

    def _drop_kernel(self) -> None:
        if self.kernel is not None:
            self.kernel.stop()
            self.kernel = None

    def run_cell(self, cell: LearnerCell) -> None:
        self._fresh_kernel()
        status, message = self.kernel.run(cell.source + "\n", self._limit())
        if status in ("ok", "error"):
            self.ran.append(cell)
            if status == "error" and cell.owner is not None:
                self.raised.setdefault(cell.owner, []).append(f"your {cell.describe()} raised {message}")
            return
        self._skip(cell, message)
        if status != "timeout":
            self._drop_kernel()

    def record(self, code: str) -> tuple[str, str]:
        self._fresh_kernel()
        status, message = self.kernel.run(code, self._limit())
        if status in ("dead", "stuck"):
            self._drop_kernel()
        return status, message

    def close(self) -> None:
        self._drop_kernel()


def _record_code(exercise: Planned, plan: Plan, path: Path) -> str:
    others = ", ".join(f"{p.exercise_id!r}: globals().get({p.function_name!r})"
                       for p in plan.exercises if p != exercise)
    return (
        "import slt_lessons.checks.harness as _slt_harness\n"
        f"_slt_harness.record({exercise.exercise_id!r}, globals().get({exercise.function_name!r}), "
        f"{str(path)!r}, {{{others}}})\n"
    )


COPY_LIMIT = 256 * 2**20  # bytes of a submission's folder copied for its kernel


def _private_copy(folder: Path, dest: Path) -> None:
    """The submission's folder (the files a notebook may read beside it), for its kernel: regular
    files only (a symlink could point at another submission), no hidden folders (``.git``,
    ``.venv``, checkpoints), never the copy itself (a notebook in the temporary folder's parent),
    and at most :data:`COPY_LIMIT` bytes; past that, the rest is left out."""
    budget = [COPY_LIMIT]
    target = dest.resolve()

    def copy(src: Path, to: Path) -> None:
        to.mkdir()
        for item in sorted(src.iterdir()) if src.is_dir() else []:
            if item.is_symlink() or item.name.startswith("."):
                continue
            if item.is_dir():
                if not target.is_relative_to(item.resolve()):
                    copy(item, to / item.name)
            elif item.is_file() and item.stat().st_size <= budget[0]:
                budget[0] -= item.stat().st_size
                shutil.copyfile(item, to / item.name)

    copy(folder, dest)


def _load_record(path: Path) -> dict:
    """A recording, read without running anything in it: the learner's code could have written
    this file, so only tensors, plain data and the harness's own record types may be in it."""
    torch.serialization.add_safe_globals([Outcome, Unsupported, Fraction, complex])
    data = torch.load(path, weights_only=True)
    if not isinstance(data, dict):
        raise ValueError("not a recording")
    return data


def _run_submission(plan: Plan, reading, folder: Path, limits: Limits, sandbox: Sandbox):
    """Run the learner's cells and record every exercise. Returns (recorded, session)."""
    recorded: dict[str, dict | str] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="slt-grade-") as tmp:
        workdir, conndir = Path(tmp) / "work", Path(tmp) / "conn"
        _private_copy(folder, workdir)
        conndir.mkdir()
        session = _Session(plan, workdir, conndir, limits, sandbox)
        try:
            for cell in reading.cells:
                session.run_cell(cell)
            for i, p in enumerate(plan.exercises):
                if p.exercise_id not in reading.answered:
                    recorded[p.exercise_id] = "no answer cell for this exercise in the notebook"
                    continue
                out = conndir / f"record-{i}.pt"
                t0 = time.monotonic()
                status, message = session.record(_record_code(p, plan, out))
                seconds[p.exercise_id] = time.monotonic() - t0
                if status == "error":
                    recorded[p.exercise_id] = f"the grading code failed after your cells ran ({message})"
                elif status != "ok":
                    recorded[p.exercise_id] = f"your function could not be graded: {message}"
                elif not out.is_file():
                    recorded[p.exercise_id] = "your code stopped the grading code from recording its results"
                else:
                    try:
                        recorded[p.exercise_id] = _load_record(out)
                    except Exception as exc:
                        recorded[p.exercise_id] = f"the recorded results could not be read ({type(exc).__name__})"
        except _SetupFailed as exc:
            for p in plan.exercises:
                recorded.setdefault(p.exercise_id, str(exc))
        finally:
            session.close()
    return recorded, seconds, session


def _verdict(ex_id: str, data: dict, suites=registry.SUITES) -> tuple[bool, str, str]:
    """Passed?, the full report, and the report a learner may see (hidden cases without details)."""
    if data.get("missing"):
        return (False, *["no answer: the function is not defined after running your cells"] * 2)
    if data.get("not_callable"):
        return (False, *["your cells define the name, but not as a function"] * 2)
    if data.get("called_reference"):
        return (False, *["your function calls the course's reference implementation of this exercise; write it "
                         "yourself (other exercises' library functions are fine, as long as they do not call this one's)"] * 2)
    texts, learner, ok = [], [], True
    for suite in suites:
        result = judge(ex_id, data[suite], suite)
        ok &= result.passed
        texts.append(str(result))
        learner.append(result.without_details() if suite == "hidden" else str(result))
    return ok, "\n".join(texts), "\n".join(learner)


def grade_submission(repo: Repo, assignment: str, path: Path | None, *, limits: Limits = Limits(),
                     source: nbformat.NotebookNode | None = None, suites=registry.SUITES,
                     sandbox: Sandbox = Sandbox()) -> SubmissionGrade:
    """Grade one submission. ``source`` defaults to the assignment's course source; ``suites`` are
    the check suites that count (both by default; a learner without the course source has only
    the visible ones)."""
    if source is None:
        source = nbformat.read(repo.source_notebook(assignment), as_version=4)
    plan = lesson_plan(source)
    if path is None or not Path(path).is_file():
        return zero_grade(assignment, plan, "no notebook was submitted")
    try:
        nb = notebook.read(path)
    except ValueError as exc:
        return zero_grade(assignment, plan, f"the submission is not a readable Jupyter notebook ({exc})")
    reading = notebook.learner_cells(nb, plan)
    if not reading.answered:
        other = match_assignment(repo, nb, exclude=assignment)
        return zero_grade(assignment, plan, f"this notebook holds none of {assignment}'s exercises"
                          + (f"; it looks like a notebook of {other}" if other else ""))

    recorded, seconds, session = _run_submission(plan, reading, Path(path).parent, limits, sandbox)
    result = SubmissionGrade(assignment, notes=reading.notes + session.notes)
    passed: dict[str, bool] = {}
    texts: dict[str, tuple[str, str]] = {}
    for p in plan.exercises:
        data = recorded.get(p.exercise_id)
        if isinstance(data, dict):
            try:
                ok, text, learner = _verdict(p.exercise_id, data, suites)
            except Exception as exc:  # a malformed recording must not stop the other exercises
                ok, text = False, f"the recorded results could not be judged ({type(exc).__name__}: {exc})"
                learner = text
        else:
            ok, text = False, str(data)
            learner = text
        broken = session.broken.get(p.exercise_id, [])
        passed[p.exercise_id] = ok and not broken
        before = broken + session.raised.get(p.exercise_id, [])
        texts[p.exercise_id] = ("\n".join(before + [text]), "\n".join(before + [learner]))
    names = {p.exercise_id: p.function_name for p in plan.exercises}
    for p in plan.exercises:
        text, learner = texts[p.exercise_id]
        data = recorded.get(p.exercise_id)
        failed_deps = [d for d in (data.get("calls", []) if isinstance(data, dict) else [])
                       if d in passed and not passed[d]]
        if not passed[p.exercise_id] and failed_deps:
            note = "\n".join(f"NOTE: your function calls your `{names[d]}` ({d}), which did not pass its checks: "
                             "fix that one first" for d in failed_deps) + "\n"
            text, learner = note + text, note + learner
        result.exercises.append(ExerciseGrade(p.exercise_id, p.grade_id, p.points if passed[p.exercise_id] else 0.0,
                                              p.points, text, round(seconds.get(p.exercise_id, 0.0), 3), learner))
    return result


def zero_grade(assignment: str, plan: Plan, reason: str) -> SubmissionGrade:
    """Every exercise of ``plan`` at 0 points, for ``reason``."""
    return SubmissionGrade(assignment, [ExerciseGrade(p.exercise_id, p.grade_id, 0.0, p.points, reason)
                                        for p in plan.exercises])


def match_assignment(repo: Repo | None, nb, exclude: str | None = None) -> str | None:
    """The assignment whose exercises' answers ``nb`` holds most of (found as for grading:
    by grade_id, else by the cells that define the functions); None if it holds none."""
    best, most = None, 0
    for a in (repo.assignments() if repo is not None else []):
        if a == exclude or not repo.source_notebook(a).is_file():
            continue
        answered = notebook.learner_cells(nb, lesson_plan(nbformat.read(repo.source_notebook(a), as_version=4))).answered
        if len(answered) > most:
            best, most = a, len(answered)
    return best


def to_json(grade: SubmissionGrade) -> str:
    return json.dumps({"assignment": grade.assignment, "score": grade.score, "max_score": grade.max_score,
                       "exercises": [e.__dict__ for e in grade.exercises], "notes": grade.notes}, indent=1)
