"""``slt-course check NOTEBOOK``: a learner grades their own notebook, hidden tests included.

The notebook runs in a fresh kernel in fast mode. Its test cells (and other locked cells) are
replaced by the course's source versions, which carry the hidden tests, and deleted ones are put
back; the learner's answers and their own cells are kept. Prints points per exercise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from slt_lessons.course import execute as ex
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
    """The assignment a notebook belongs to: by its name, else by its graded cells' ids."""
    names = repo.assignments()
    if path.stem in names:
        return path.stem
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells} - {None}
    best, overlap = None, 0
    for a in names:
        src = repo.source_notebook(a)
        if src.is_file():
            ref = {nbgrader_meta(c).get("grade_id") for c in nbformat.read(src, as_version=4).cells} - {None}
            if len(ids & ref) > overlap:
                best, overlap = a, len(ids & ref)
    if best is None:
        raise CourseError(
            f"{path} is not a notebook of any known assignment ({', '.join(names)}): "
            "its name and its graded cells match none of them"
        )
    return best


def merge_with_source(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner's notebook with every locked or graded cell taken from the source (restored
    if edited, put back if deleted), in the source's order relative to the learner's answers."""
    out = copy.deepcopy(nb)
    src_cells = {nbgrader_meta(c)["grade_id"]: c for c in source.cells if nbgrader_meta(c).get("grade_id")}
    protected = {g for g, c in src_cells.items() if nbgrader_meta(c).get("locked") or nbgrader_meta(c).get("grade")}
    present = set()
    for i, cell in enumerate(out.cells):
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in protected:
            out.cells[i] = copy.deepcopy(src_cells[gid])
            present.add(gid)
    # put back deleted protected cells after the nearest preceding cell that is present
    order = [nbgrader_meta(c).get("grade_id") for c in source.cells]
    for k, gid in enumerate(order):
        if gid in protected and gid not in present:
            anchor = next((g for g in reversed(order[:k]) if g and any(nbgrader_meta(c).get("grade_id") == g for c in out.cells)), None)
            pos = 0
            if anchor is not None:
                pos = 1 + max(i for i, c in enumerate(out.cells) if nbgrader_meta(c).get("grade_id") == anchor)
            out.cells.insert(pos, copy.deepcopy(src_cells[gid]))
            present.add(gid)
    return out


@dataclass
class Report:
    assignment: str
    grades: list[ex.CellGrade]
    problem: str | None
    hidden_included: bool

    @property
    def score(self) -> float:
        return sum(g.points for g in self.grades)

    @property
    def max_score(self) -> float:
        return sum(g.max_points for g in self.grades)

    def table(self) -> str:
        lines = [f"{self.assignment}: {self.score:g} / {self.max_score:g} points"
                 + ("" if self.hidden_included else " (visible tests only: the course source is not here)")]
        width = max((len(g.grade_id) for g in self.grades), default=10)
        for g in self.grades:
            first = _summary(g.message)
            lines.append(f"  {g.grade_id:<{width}}  {g.points:>4g} / {g.max_points:<4g} {first}")
        if self.problem:
            lines.append(f"  NOTE: {self.problem}")
        return "\n".join(lines)


def _summary(message: str) -> str:
    """The first line of a verdict, and the first reason a case was wrong."""
    lines = [l.strip() for l in message.strip().splitlines() if l.strip()]
    if not lines:
        return ""
    reason = next((lines[i + 1] for i, l in enumerate(lines[:-1]) if l.startswith("WRONG")), "")
    return lines[0] + (f" | first problem: {reason}" if reason else "")


def check_notebook(repo: Repo, path: Path) -> Report:
    path = Path(path).resolve()
    nb = read_notebook(path)
    assignment = identify(repo, nb, path)
    src_path = repo.source_notebook(assignment)
    hidden = src_path.is_file()
    if hidden:
        nb = merge_with_source(nb, nbformat.read(src_path, as_version=4))
    executed, problem = ex.execute(nb, path.parent, fast=True)
    grades = ex.graded_cells(executed)
    if not grades:
        raise CourseError(f"{path} has no graded test cells")
    return Report(assignment, grades, problem, hidden)
