"""``slt-course build``: lesson files -> course/source -> exercises/ and solutions/.

- ``course/source/<a>/<a>.ipynb``: the nbgrader source notebook, generated from
  ``course/lessons/<a>.py`` and the library's reference functions;
- ``exercises/<a>/<a>.ipynb``: the learner version, made by nbgrader's ``generate_assignment``;
- ``solutions/<a>/<a>.ipynb``: the source notebook executed (outputs and plots kept).

``--check`` regenerates everything in memory and reports what differs from the committed files
(sources and metadata; executed outputs are not compared).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import nbformat

from slt_lessons.course import execute as ex
from slt_lessons.course.lessonfile import to_notebook
from slt_lessons.course.paths import CourseError, Repo, use_this_environment


def _dump(nb) -> str:
    return nbformat.writes(nb) + "\n"


def _structure(nb) -> str:
    """What --check compares: each cell's type, source and metadata, and the kernelspec."""
    cells = [{"cell_type": c.cell_type, "source": c.source, "metadata": c.get("metadata", {})} for c in nb.cells]
    return json.dumps({"kernelspec": nb.metadata.get("kernelspec"), "cells": cells}, sort_keys=True, indent=1)


def generate_release(source_nb: nbformat.NotebookNode, assignment: str) -> nbformat.NotebookNode:
    """The learner version of a source notebook, through nbgrader's own generate_assignment."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="slt-build-") as tmp:
        src = Path(tmp) / "source" / assignment
        src.mkdir(parents=True)
        nbformat.write(source_nb, src / f"{assignment}.ipynb")
        config = Config()
        config.CourseDirectory.root = tmp
        config.CourseDirectory.db_url = f"sqlite:///{tmp}/gradebook.db"
        config.Exchange.root = str(Path(tmp) / "exchange")
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise CourseError(f"nbgrader generate_assignment failed for {assignment}:\n{result.get('error') or result.get('log')}")
        release = nbformat.read(Path(tmp) / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    return release


def build(repo: Repo, *, check: bool = False, execute: bool = True, only: list[str] | None = None,
          log=print) -> list[str]:
    """Build (or with ``check``, compare) every assignment. Returns a list of drift problems."""
    use_this_environment()
    names = repo.assignments()
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise CourseError(f"unknown assignment(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in only]
    if not names:
        raise CourseError(f"no lesson files in {repo.lessons}")
    problems: list[str] = []
    for a in names:
        source_nb = to_notebook(repo.lessons / f"{a}.py")
        release_nb = generate_release(source_nb, a)
        targets = {
            repo.source_notebook(a): _dump(source_nb),
            repo.exercises / a / f"{a}.ipynb": _dump(release_nb),
        }
        sol_path = repo.solutions / a / f"{a}.ipynb"
        if check:
            for path, text in targets.items():
                rel = path.relative_to(repo.root)
                if not path.is_file():
                    problems.append(f"{rel} is missing")
                elif path.read_text() != text:
                    problems.append(f"{rel} differs from what the build makes from course/lessons/{a}.py")
            if not sol_path.is_file():
                problems.append(f"{sol_path.relative_to(repo.root)} is missing")
            elif _structure(nbformat.read(sol_path, as_version=4)) != _structure(source_nb):
                problems.append(f"{sol_path.relative_to(repo.root)} differs from course/source/{a} (cells or metadata)")
            continue
        for path, text in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            log(f"wrote {path.relative_to(repo.root)}")
        if execute:
            sol_path.parent.mkdir(parents=True, exist_ok=True)
            executed, problem = _execute_solution(source_nb, sol_path.parent)
            if problem:
                raise CourseError(f"the solution of {a} did not run cleanly: {problem}")
            _strip_volatile(executed)
            sol_path.write_text(_dump(executed))
            log(f"wrote {sol_path.relative_to(repo.root)} (executed)")
    return problems


def _strip_volatile(nb) -> None:
    """Drop what changes on every run without meaning anything: cell timings, progress-bar widgets
    (random model ids; in a saved notebook they show only their first frame), and the way printed
    text happened to be split into chunks (adjacent stream outputs are joined)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        if "outputs" not in cell:
            continue
        outputs = []
        for out in cell.outputs:
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                continue
            prev = outputs[-1] if outputs else None
            if (out.get("output_type") == "stream" and prev is not None
                    and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
                prev["text"] += out["text"]
                continue
            outputs.append(out)
        cell.outputs = outputs


def _execute_solution(source_nb, cwd: Path):
    nb = nbformat.reads(nbformat.writes(source_nb), as_version=4)
    try:
        return ex.execute(nb, cwd, fast=False, allow_errors=False)
    except Exception as exc:  # a failing cell in the reference solution is a build error
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        return nb, f"{type(exc).__name__}: ...{text[-1500:]}"
