"""Lesson files (course/lessons/<assignment>.py) to nbgrader source notebooks.

A lesson file is plain Python text split into cells by ``# %%`` lines (see course/AUTHORING.md):
``# %% [markdown]``, ``# %% [setup]``, ``# %% [exercise] <id> points=<n>`` and bare ``# %%``.
An exercise marker becomes an answer cell holding the reference function's source from
:mod:`slt_lessons` (signature and docstring given, body between solution markers) and a graded
test cell that calls :func:`slt_lessons.checks.check`. The solution is the library's code, never
a call to it, so a learner's call to the reference can be told apart from a correct answer.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from slt_lessons.checks import registry
from slt_lessons.course.notebook import DEMO
from slt_lessons.course.paths import CourseError

MARKER = re.compile(r"^# %%(?:\s+\[(?P<kind>\w+)\])?(?P<args>.*)$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass
class RawCell:
    kind: str  # markdown | setup | exercise | code
    body: str
    args: str
    line: int


def parse(text: str, filename: str = "<lesson>") -> list[RawCell]:
    cells: list[RawCell] = []
    current: RawCell | None = None
    lines: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = MARKER.match(line)
        if m:
            if current is not None:
                current.body = "\n".join(lines).strip("\n")
                cells.append(current)
            kind = m.group("kind") or "code"
            if kind not in {"markdown", "setup", "exercise", "code"}:
                raise CourseError(f"{filename}:{lineno}: unknown cell kind [{kind}]")
            current, lines = RawCell(kind, "", m.group("args").strip(), lineno), []
        elif current is None:
            if line.strip():
                raise CourseError(f"{filename}:{lineno}: text before the first '# %%' cell marker")
        else:
            lines.append(line)
    if current is not None:
        current.body = "\n".join(lines).strip("\n")
        cells.append(current)
    return cells


def _markdown(body: str, filename: str, line: int) -> str:
    out = []
    for i, raw in enumerate(body.splitlines(), line + 1):
        if raw == "#":
            out.append("")
        elif raw.startswith("# "):
            out.append(raw[2:])
        elif not raw.strip():
            out.append("")
        else:
            raise CourseError(f"{filename}:{i}: a markdown line must start with '# ' (got {raw!r})")
    return "\n".join(out).strip("\n")


def solution_source(func) -> str:
    """The reference's source with its body between ``### BEGIN SOLUTION`` / ``### END SOLUTION``."""
    src = textwrap.dedent(inspect.getsource(func))
    tree = ast.parse(src)
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef):
        raise CourseError(f"the reference {func.__qualname__} must be a plain function")
    first = fn.body[0]
    has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) and isinstance(first.value.value, str)
    # lines[:body_start] is the signature (and docstring): what the learner is given
    body_start = first.end_lineno if has_doc else first.lineno - 1
    lines = src.splitlines()
    header, body = lines[:body_start], lines[body_start:]
    indent = re.match(r"\s*", next(l for l in body if l.strip())).group(0)
    return "\n".join(header + [f"{indent}### BEGIN SOLUTION", *body, f"{indent}### END SOLUTION"])


def graded_cell_source(exercise_id: str, name: str) -> str:
    return (
        f'check("{exercise_id}", {name})\n'
        "### BEGIN HIDDEN TESTS\n"
        f'check("{exercise_id}", {name}, suite="hidden")\n'
        "### END HIDDEN TESTS"
    )


def _grade_id(exercise_id: str) -> str:
    return exercise_id.replace(".", "-")


def _meta(**kw) -> dict:
    base = {"grade": False, "locked": False, "schema_version": 3, "solution": False, "task": False}
    base.update(kw)
    return {"nbgrader": base}


def _exercise_args(args: str, filename: str, line: int) -> tuple[str, int]:
    parts = args.split()
    if not parts:
        raise CourseError(f"{filename}:{line}: [exercise] needs an exercise id")
    ex_id, points = parts[0], 1
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key != "points" or not value.isdigit() or int(value) < 1:
            raise CourseError(f"{filename}:{line}: expected 'points=<positive int>', got {p!r}")
        points = int(value)
    return ex_id, points


def to_notebook(path: Path) -> nbformat.NotebookNode:
    """The nbgrader source notebook of a lesson file (no outputs, deterministic cell ids)."""
    filename = str(path)
    cells = []
    n_setup = n_code = n_md = 0
    for raw in parse(path.read_text(), filename):
        if raw.kind == "markdown":
            n_md += 1
            cell = nbformat.v4.new_markdown_cell(_markdown(raw.body, filename, raw.line),
                                                 metadata=_meta(grade_id=f"md-{n_md}", locked=True))
            cells.append(cell)
        elif raw.kind == "setup":
            n_setup += 1
            cells.append(nbformat.v4.new_code_cell(raw.body, metadata=_meta(grade_id=f"setup-{n_setup}", locked=True)))
        elif raw.kind == "code":
            n_code += 1
            # a demonstration: tagged, so that grading tells it apart from cells the learner adds
            cells.append(nbformat.v4.new_code_cell(raw.body, metadata={"slt_course": dict(DEMO)}))
        else:
            ex_id, points = _exercise_args(raw.args, filename, raw.line)
            if raw.body.strip():
                raise CourseError(f"{filename}:{raw.line}: an [exercise] cell is generated; leave its body empty")
            try:
                ex = registry.get(ex_id)
            except ValueError as exc:
                raise CourseError(f"{filename}:{raw.line}: {exc}") from None
            gid = _grade_id(ex_id)
            cells.append(nbformat.v4.new_code_cell(
                solution_source(ex.reference), metadata=_meta(grade_id=gid, solution=True)))
            cells.append(nbformat.v4.new_code_cell(
                graded_cell_source(ex_id, ex.function_name),
                metadata=_meta(grade_id=f"{gid}-test", grade=True, locked=True, points=points)))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:03d}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def exercise_ids(path: Path) -> list[str]:
    """The exercise ids a lesson file uses, in order."""
    return [_exercise_args(c.args, str(path), c.line)[0] for c in parse(path.read_text(), str(path)) if c.kind == "exercise"]
