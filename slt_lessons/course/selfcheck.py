"""``slt-course check NOTEBOOK``: a learner grades their own notebook, hidden tests included.

The same engine as the instructor's ``slt-course grade`` (:mod:`slt_lessons.course.engine`): the
lesson's set-up cells and each answer run in a fresh kernel, the checks (visible and hidden) are
judged outside it, and a broken answer costs only its own exercise.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nbformat

from slt_lessons.course.paths import CourseError, Repo


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def read_notebook(path: Path) -> nbformat.NotebookNode:
    if not path.exists():
        raise CourseError(f"no such notebook: {path}")
    if path.is_dir() or path.suffix != ".ipynb":
        raise CourseError(f"not a notebook (expected a .ipynb file): {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:
        raise CourseError(f"cannot read {path} as a Jupyter notebook: {exc}") from None


def identify(repo: Repo, nb: nbformat.NotebookNode, path: Path) -> str:
    """The assignment a notebook belongs to: by its name, else by the answers it holds (by their
    grade_ids, or, with the metadata stripped, by the functions they define)."""
    from slt_lessons.course.engine import match_assignment

    names = repo.assignments()
    if path.stem in names:
        return path.stem
    if not names:
        raise CourseError("this course has no lessons (course/lessons is empty)")
    best = match_assignment(repo, nb)
    if best is None:
        raise CourseError(
            f"{path} is not a notebook of any known assignment ({', '.join(names)}): "
            "its name and its graded cells match none of them"
        )
    return best


def check_notebook(repo: Repo | None, path: Path, limits=None, sandbox=None):
    """Grade a learner's notebook with the course's grading engine (hidden tests included when the
    course source is here; ``repo`` is None for a learner who has only the notebooks). It runs in
    the sandbox where bubblewrap works, and otherwise as a plain kernel, with a note saying so."""
    from slt_lessons.course import engine
    from slt_lessons.course import sandbox as sb

    path = Path(path).resolve()
    nb = read_notebook(path)
    limits = limits or engine.Limits()
    sandbox = sandbox or sb.Sandbox()
    note = None
    if sandbox.enabled and (problem := sb.probe()):
        sandbox = dataclasses.replace(sandbox, enabled=False)
        note = f"run without the sandbox: {problem}"
    result = _grade(repo, path, nb, limits, sandbox)
    if note:
        result.notes.append(note)
    return result


def _grade(repo, path, nb, limits, sandbox):
    from slt_lessons.course import engine

    if repo is None:
        assignment = path.stem
    else:
        assignment = identify(repo, nb, path)
    if repo is not None and repo.source_notebook(assignment).is_file():
        return engine.grade_submission(repo, assignment, path, limits=limits, sandbox=sandbox)
    if not any(nbgrader_meta(c).get("grade") for c in nb.cells):
        raise CourseError(f"{path} has no graded test cells, and the course source is not here to restore them")
    # a learner's copy of the course without course/source: the notebook's own set-up and test
    # cells say what to run, and only the visible checks can count
    result = engine.grade_submission(repo, assignment, path, limits=limits, source=nb, suites=("visible",),
                                     sandbox=sandbox)
    result.notes.append("visible checks only: the course source with the hidden tests is not here")
    return result


def table(result) -> str:
    """Points per exercise; under an exercise that lost points, its wrong cases by label (what kind
    of input each is: hidden cases never show their values) with the first line of each verdict."""
    lines = [f"{result.assignment}: {result.score:g} / {result.max_score:g} points"]
    lines += [f"  NOTE: {n}" for n in result.notes]
    width = max((len(e.exercise_id) for e in result.exercises), default=10)
    for e in result.exercises:
        lines.append(f"  {e.exercise_id:<{width}}  {e.points:>3g} / {e.max_points:<3g} {_summary(e.feedback)}")
        lines += [f"      {l.strip()}" for l in e.feedback.splitlines() if l.strip().startswith("NOTE:")]
        wrong = _wrong_cases(e.feedback)
        if len(wrong) > 1 and len({reason for _, reason in wrong}) == 1:  # e.g. not written yet
            wrong = [(f"all {len(wrong)} cases", wrong[0][1])]
        for label, reason in wrong[:_SHOWN]:
            first, *rest = reason.splitlines() or [""]
            lines.append(f"      WRONG {label}: {first}")
            lines += [f"          {l}" for l in rest[:_LINES]]
            if len(rest) > _LINES:
                lines.append("          ...")
        if len(wrong) > _SHOWN:
            lines.append(f"      ... and {len(wrong) - _SHOWN} more wrong cases")
    return "\n".join(lines)


_SHOWN = 3  # wrong cases listed per exercise
_LINES = 8  # lines of a verdict after its first


def _summary(message: str) -> str:
    """Whether it passed, or the first line of each suite that failed."""
    lines = [l.strip() for l in message.strip().splitlines() if l.strip()]
    if not lines:
        return ""
    if all(l.startswith(("PASSED", "ok")) for l in lines):
        return "passed"
    suites = re.findall(r"^(?:PASSED|FAILED) \S+ \((\w+) checks, on \w+\): (\d+/\d+)", message, re.M)
    if not suites:
        return lines[0]
    return "correct: " + ", ".join(f"{suite} {counts}" for suite, counts in suites)


def _wrong_cases(message: str) -> list[tuple[str, str]]:
    """``(label, verdict)`` of each case a check report marks WRONG, the verdict's lines joined."""
    wrong: list[tuple[str, list[str]]] = []
    current: list[str] | None = None  # the verdict lines of the WRONG case being read
    for line in message.splitlines():
        text = line.strip()
        if text.startswith("WRONG "):
            current = []
            wrong.append((text[len("WRONG "):], current))
        elif text == "ok" or text.startswith(("ok ", "PASSED", "FAILED", "NOTE:")):
            current = None
        elif current is not None and text:
            current.append(text)
    return [(label, "\n".join(lines)) for label, lines in wrong]
