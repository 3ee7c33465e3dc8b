"""What an executed solution notebook printed, for tests of the numbers a lesson's prose states.

A lesson may state a number about a result only if the notebook prints it beside the prose, or a
test asserts it here against ``solutions/<assignment>/<assignment>.ipynb`` (which the build
executes and ``slt-course build --check`` keeps current).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def cell_outputs(assignment: str) -> list[str]:
    """The printed text of each code cell of the executed solution, in order ('' for none)."""
    nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.get("data", {}):
                if "image/png" not in out.data:
                    parts.append(out.data["text/plain"])
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
        texts.append("".join(parts))
    return texts


def printed(assignment: str) -> str:
    """Everything the executed solution printed, cells joined by newlines."""
    return "\n".join(cell_outputs(assignment))


def numbers_after(text: str, label: str) -> list[float]:
    """The numbers printed right after each occurrence of ``label`` (e.g. ``"acceptance"``)."""
    pattern = re.escape(label) + r"\s*[:=]?\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    return [float(m) for m in re.findall(pattern, text)]
