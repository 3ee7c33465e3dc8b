"""The grading engine: each exercise graded on its own, verdicts computed outside the learner's code.

For one submission:

1. find each exercise's answer cell: by its nbgrader ``grade_id``, or, when the metadata was stripped,
   by the cell that defines the exercise's function;
2. in a fresh Jupyter kernel, run the lesson's set-up cells (from the course source, never the
   learner's copy) and, for each exercise in turn, its answer cell followed by
   :func:`slt_lessons.checks.harness.record`, which saves the function's outputs on the seeded cases;
   the kernel's own output is drained and discarded (an answer that prints gigabytes costs nothing);
3. if an answer cell kills the kernel, or runs past its time limit and ignores the interrupt, that
   exercise scores 0 with the reason, and a new kernel carries on with the next exercise;
4. judge every recording in this process with :func:`slt_lessons.checks.runner.judge`, against the
   reference on the same seeded cases. An exercise earns its points when both suites pass and its
   function never called the exercise's own reference.

Demonstration cells are not run: graded exercises depend only on the set-up cells and their own
answer (course/AUTHORING.md), so they need not be.
"""

from __future__ import annotations

import json
import queue
import subprocess
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import torch

from slt_lessons.checks import registry
from slt_lessons.checks.runner import judge
from slt_lessons.course.paths import Repo


@dataclass(frozen=True)
class Limits:
    exercise_s: float = 120.0    # one answer cell plus its recording
    submission_s: float = 900.0  # the whole submission: a hard bound
    startup_s: float = 60.0      # kernel start and set-up cells


@dataclass
class ExerciseGrade:
    exercise_id: str
    grade_id: str
    points: float
    max_points: float
    feedback: str
    seconds: float = 0.0  # time the answer cell and its recording took in the kernel


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


# ----------------------------------------------------------------------------- the lesson's plan


@dataclass(frozen=True)
class Planned:
    exercise_id: str
    grade_id: str
    function_name: str
    points: float


def lesson_plan(source: nbformat.NotebookNode) -> tuple[list[str], list[Planned]]:
    """The set-up cells' code and the graded exercises of a source notebook."""
    setup, planned = [], []
    for cell in source.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if cell.cell_type == "code" and gid.startswith("setup-"):
            setup.append(cell.source)
        if meta.get("grade") and gid.endswith("-test"):
            m = re.match(r'check\("([^"]+)", (\w+)\)', cell.source)
            if m:
                planned.append(Planned(m.group(1), gid.removesuffix("-test"), m.group(2), float(meta.get("points", 0))))
    return setup, planned


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", source, re.M) is not None


def find_answers(nb: nbformat.NotebookNode, planned: list[Planned]) -> tuple[dict[str, str], list[str]]:
    """Each exercise's answer source: by grade_id, else (metadata stripped) by the defining cell."""
    by_id = {}
    for cell in nb.cells:
        gid = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
        if gid and cell.cell_type == "code":
            by_id[gid] = cell.source
    answers, notes = {}, []
    code_cells = [c.source for c in nb.cells if c.cell_type == "code"]
    for p in planned:
        if p.grade_id in by_id:
            answers[p.exercise_id] = by_id[p.grade_id]
            continue
        defining = [src for src in code_cells if _defines(src, p.function_name)]
        if defining:
            answers[p.exercise_id] = defining[-1]
            notes.append(f"{p.exercise_id}: answer cell found by the function it defines (its nbgrader metadata is missing)")
    return answers, notes


# ----------------------------------------------------------------------------- running code in a kernel


class Kernel:
    """A Jupyter kernel that runs code with a time limit and discards everything it prints."""

    def __init__(self, cwd: Path):
        from jupyter_client.manager import start_new_kernel

        # the kernel process's own stderr holds only its start-up chatter; the learner's output
        # travels over the iopub channel, which run() drains and discards
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), startup_timeout=60,
                                            stderr=subprocess.DEVNULL)

    def run(self, code: str, timeout: float) -> tuple[str, str]:
        """Run ``code``. Returns ``(status, message)``; status is ``ok``, ``error`` (it raised; the
        kernel is fine), ``timeout`` (interrupted after ``timeout`` s; the kernel is fine), or
        ``dead`` / ``stuck`` (the kernel must be replaced)."""
        # stop_on_error=False: an error must not make the kernel abort the requests that follow
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        interrupted = False
        while True:
            self._drain_iopub()
            try:
                reply = self.kc.get_shell_msg(timeout=0.2)
            except queue.Empty:
                reply = None
            if reply is not None and reply["parent_header"].get("msg_id") == msg_id:
                content = reply["content"]
                if interrupted:
                    return "timeout", f"it ran longer than {timeout:g} s and was interrupted"
                if content.get("status") == "error":
                    return "error", f"{content.get('ename')}: {content.get('evalue')}"
                if content.get("status") != "ok":
                    return "stuck", f"the kernel did not run the code (status {content.get('status')})"
                return "ok", ""
            if not self.km.is_alive():
                return "dead", "the Python kernel died (e.g. os._exit, a crash, or memory exhausted)"
            if time.monotonic() > deadline:
                if interrupted:
                    return "stuck", f"it ran longer than {timeout:g} s and did not stop when interrupted"
                self.km.interrupt_kernel()
                interrupted = True
                deadline = time.monotonic() + 10

    def _drain_iopub(self) -> None:
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                return

    def stop(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        except Exception:  # a dead kernel may already be gone
            pass


# ----------------------------------------------------------------------------- grading


def _record_code(ex_id: str, name: str, path: Path) -> str:
    return (
        "import slt_lessons.checks.harness as _slt_harness\n"
        f"_slt_harness.record({ex_id!r}, globals().get({name!r}), {str(path)!r})\n"
    )


def _verdict(ex_id: str, data: dict, suites=registry.SUITES) -> tuple[bool, str]:
    if data.get("missing"):
        return False, "no answer: the function is not defined after running your answer cell"
    if data.get("not_callable"):
        return False, "your answer cell defines the name, but not as a function"
    if data.get("called_reference"):
        return False, ("your function calls the course's reference implementation of this exercise; "
                       "write it yourself (other exercises' library functions are fine)")
    texts, ok = [], True
    for suite in suites:
        result = judge(ex_id, data[suite], suite)
        ok &= result.passed
        texts.append(str(result))
    return ok, "\n".join(texts)


def grade_submission(repo: Repo, assignment: str, path: Path | None, *, limits: Limits = Limits(),
                     source: nbformat.NotebookNode | None = None, suites=registry.SUITES) -> SubmissionGrade:
    """Grade one submission. ``source`` defaults to the assignment's course source; ``suites`` are
    the check suites that count (both by default; a learner without the course source has only
    the visible ones)."""
    if source is None:
        source = nbformat.read(repo.source_notebook(assignment), as_version=4)
    setup, planned = lesson_plan(source)
    result = SubmissionGrade(assignment)

    def zero_all(reason: str) -> SubmissionGrade:
        result.exercises = [ExerciseGrade(p.exercise_id, p.grade_id, 0.0, p.points, reason) for p in planned]
        return result

    if path is None or not Path(path).is_file():
        return zero_all("no notebook was submitted")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        return zero_all(f"the submission is not a readable Jupyter notebook ({type(exc).__name__})")
    answers, notes = find_answers(nb, planned)
    result.notes.extend(notes)
    if not answers:
        other = match_assignment(repo, nb, exclude=assignment)
        return zero_all(f"this notebook holds none of {assignment}'s exercises"
                        + (f"; it looks like a notebook of {other}" if other else ""))

    deadline = time.monotonic() + limits.submission_s

    def left() -> float:
        return deadline - time.monotonic()

    with tempfile.TemporaryDirectory(prefix="slt-grade-") as tmp:
        tmpdir = Path(tmp)
        kernel = None
        recorded: dict[str, dict | str] = {}
        notes_for: dict[str, str] = {}
        seconds: dict[str, float] = {}
        for i, p in enumerate(planned):
            if p.exercise_id not in answers:
                recorded[p.exercise_id] = "no answer cell for this exercise in the notebook"
                continue
            if left() <= 0:
                recorded[p.exercise_id] = f"not graded: the submission used up its {limits.submission_s:g} s"
                continue
            if kernel is None:
                kernel = Kernel(Path(path).parent)
                status, message = kernel.run("\n".join(setup) + "\n", min(limits.startup_s, left()))
                if status != "ok":
                    kernel.stop()
                    kernel = None
                    recorded[p.exercise_id] = f"the lesson's set-up cells could not run: {message}"
                    continue
            out = tmpdir / f"{i}.pt"
            t0 = time.monotonic()
            status, message = kernel.run(answers[p.exercise_id] + "\n", min(limits.exercise_s, left()))
            if status == "error":
                notes_for[p.exercise_id] = f"your answer cell raised {message}"
            if status in ("ok", "error"):
                status, message = kernel.run(_record_code(p.exercise_id, p.function_name, out),
                                             min(limits.exercise_s, max(left(), 1)))
                if status == "error":
                    status, message = "broken", f"the grading code failed after your answer ran ({message})"
            seconds[p.exercise_id] = time.monotonic() - t0
            if status not in ("ok", "error"):
                recorded[p.exercise_id] = f"your answer could not be graded: {message}"
                if status in ("dead", "stuck"):
                    kernel.stop()
                    kernel = None
                continue
            if not out.is_file():
                recorded[p.exercise_id] = "your answer cell stopped the grading code from recording its results"
                continue
            try:
                recorded[p.exercise_id] = torch.load(out, weights_only=False)
            except Exception as exc:
                recorded[p.exercise_id] = f"the recorded results could not be read ({type(exc).__name__})"
        if kernel is not None:
            kernel.stop()

    for p in planned:
        data = recorded.get(p.exercise_id)
        if isinstance(data, dict):
            try:
                ok, text = _verdict(p.exercise_id, data, suites)
            except Exception as exc:  # a malformed recording must not stop the other exercises
                ok, text = False, f"the recorded results could not be judged ({type(exc).__name__}: {exc})"
        else:
            ok, text = False, str(data)
        if p.exercise_id in notes_for:
            text = notes_for[p.exercise_id] + "\n" + text
        result.exercises.append(ExerciseGrade(p.exercise_id, p.grade_id, p.points if ok else 0.0, p.points, text,
                                              round(seconds.get(p.exercise_id, 0.0), 3)))
    return result


def match_assignment(repo: Repo | None, nb, exclude: str | None = None) -> str | None:
    """The assignment whose exercises' answers ``nb`` holds most of (found as for grading:
    by grade_id, else by the cells that define the functions); None if it holds none."""
    best, most = None, 0
    for a in (repo.assignments() if repo is not None else []):
        if a == exclude or not repo.source_notebook(a).is_file():
            continue
        answers, _ = find_answers(nb, lesson_plan(nbformat.read(repo.source_notebook(a), as_version=4))[1])
        if len(answers) > most:
            best, most = a, len(answers)
    return best


def to_json(grade: SubmissionGrade) -> str:
    return json.dumps({"assignment": grade.assignment, "score": grade.score, "max_score": grade.max_score,
                       "exercises": [e.__dict__ for e in grade.exercises], "notes": grade.notes}, indent=1)
