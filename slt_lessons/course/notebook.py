"""What a submitted notebook holds, cell by cell, as grading sees it.

The course source says which cells are the course's own: set-up cells (``grade_id`` ``setup-*``),
test cells (``grade_id`` ``<exercise>-test``, or, with the metadata stripped, a cell that starts
with ``check("<exercise id>", ...)``) and demonstration cells (tagged ``slt_course.role = demo`` at
build time, with the course's cell id, or identical to a demonstration cell of the source).
Every other code cell is the learner's: the answer cells and any cell the learner added. Grading
runs the learner's cells, in notebook order, after the set-up cells taken from the course source.

A learner's cell belongs to the exercise whose test cell comes next below it (an answer cell to its
own exercise); a cell below the last test cell belongs to the exercise whose function it defines,
if any. A broken cell (one that kills the kernel or never finishes) costs the exercise it belongs to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

DEMO = {"role": "demo"}  # cell metadata key "slt_course" of a demonstration cell
_CHECK_CALL = re.compile(r"""^\s*check\(\s*["']([\w.\-]+)["']""")


@dataclass(frozen=True)
class Planned:
    exercise_id: str
    grade_id: str
    function_name: str
    points: float


@dataclass(frozen=True)
class Plan:
    """What the course source of an assignment says."""

    setup: tuple[str, ...]
    exercises: tuple[Planned, ...]
    demo_ids: frozenset[str]
    demo_sources: frozenset[str]


@dataclass(frozen=True)
class Cell:
    cell_type: str
    source: str
    metadata: dict
    id: str | None


@dataclass(frozen=True)
class LearnerCell:
    number: int          # the cell's position in the notebook, from 1
    source: str
    owner: str | None    # the exercise it belongs to

    def describe(self) -> str:
        first = next((l.strip() for l in self.source.splitlines() if l.strip()), "")
        return f"cell {self.number} (`{first[:60]}`)"


def _text(source) -> str:
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def cells_of(nb) -> list[Cell]:
    """The cells of a notebook, tolerating missing or malformed fields (a cell with no ``source``
    key is an empty cell, not a crash)."""
    out = []
    for raw in nb.get("cells", []) if isinstance(nb, dict) else []:
        if not isinstance(raw, dict):
            continue
        meta = raw.get("metadata")
        out.append(Cell(str(raw.get("cell_type", "")), _text(raw.get("source", "")),
                        meta if isinstance(meta, dict) else {}, raw.get("id")))
    return out


def read(path: Path):
    """A submitted notebook as nbformat v4, or raises ValueError saying why it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        nb = nbformat.reads(text, as_version=4)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{type(exc).__name__}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("it has no list of cells")
    return nb


def _nbgrader(cell: Cell) -> dict:
    meta = cell.metadata.get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def lesson_plan(source) -> Plan:
    """The set-up code, graded exercises and demonstration cells of a course source notebook."""
    setup, planned, demo_ids, demo_sources = [], [], set(), set()
    for cell in cells_of(source):
        meta = _nbgrader(cell)
        gid = str(meta.get("grade_id", ""))
        if cell.cell_type != "code":
            continue
        if gid.startswith("setup-"):
            setup.append(cell.source)
        elif meta.get("grade") and gid.endswith("-test"):
            m = re.match(r'check\("([^"]+)", (\w+)\)', cell.source)
            if m:
                planned.append(Planned(m.group(1), gid.removesuffix("-test"), m.group(2), float(meta.get("points", 0))))
        elif cell.metadata.get("slt_course") == DEMO:
            demo_ids.add(cell.id)
            demo_sources.add(cell.source.strip())
    return Plan(tuple(setup), tuple(planned), frozenset(demo_ids - {None}), frozenset(demo_sources))


def defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", source, re.M) is not None


@dataclass
class Reading:
    """A submission as grading runs it."""

    cells: list[LearnerCell]
    answered: list[str]       # exercises with an answer cell, or a learner cell defining their function
    notes: list[str]


def learner_cells(nb, plan: Plan) -> Reading:
    """The learner's code cells of ``nb``, in order, each with the exercise it belongs to."""
    by_gid = {p.grade_id: p for p in plan.exercises}
    by_id = {p.exercise_id: p for p in plan.exercises}
    setup_sources = {s.strip() for s in plan.setup}
    kinds: list[tuple[int, Cell, str, str | None]] = []  # (number, cell, kind, exercise)
    for number, cell in enumerate(cells_of(nb), 1):
        if cell.cell_type != "code":
            continue
        gid = str(_nbgrader(cell).get("grade_id", ""))
        check = _CHECK_CALL.match(cell.source)
        if gid.startswith("setup-") or cell.source.strip() in setup_sources:
            kinds.append((number, cell, "setup", None))
        elif gid.endswith("-test") and gid.removesuffix("-test") in by_gid:
            kinds.append((number, cell, "test", by_gid[gid.removesuffix("-test")].exercise_id))
        elif check and check.group(1) in by_id:
            kinds.append((number, cell, "test", check.group(1)))
        elif ((cell.metadata.get("slt_course") == DEMO and cell.id in plan.demo_ids)
              or cell.source.strip() in plan.demo_sources):
            kinds.append((number, cell, "demo", None))
        elif gid in by_gid:
            kinds.append((number, cell, "answer", by_gid[gid].exercise_id))
        else:
            kinds.append((number, cell, "learner", None))

    cells, next_test = [], None
    for number, cell, kind, ex in reversed(kinds):
        if kind == "test":
            next_test = ex
        elif kind in ("answer", "learner"):
            owner = ex or next_test or next((p.exercise_id for p in reversed(plan.exercises)
                                             if defines(cell.source, p.function_name)), None)
            cells.append(LearnerCell(number, cell.source, owner))
    cells.reverse()

    answered, notes = [], []
    with_answer_cell = {ex for _, _, kind, ex in kinds if kind == "answer"}
    for p in plan.exercises:
        if p.exercise_id in with_answer_cell:
            answered.append(p.exercise_id)
        elif any(defines(c.source, p.function_name) for c in cells):
            answered.append(p.exercise_id)
            notes.append(f"{p.exercise_id}: answer cell found by the function it defines (its nbgrader metadata is missing)")
    return Reading(cells, answered, notes)
