"""Execute a lesson's solution in the course's full mode (``SLT_FULL=1``: larger n, more chains, longer
training) and print what its demonstrations print. Meant for a GPU (``scripts/gpu-check.sh`` runs it on
lesson 6); it runs on a CPU too, slowly. Nothing is written: the committed solutions stay the default mode's.

    python scripts/run_full.py l6_phase_transitions [--save executed.ipynb]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slt_lessons.course.execute import execute  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--save", help="also write the executed notebook here")
    args = parser.parse_args()
    src = ROOT / "course" / "source" / args.assignment / f"{args.assignment}.ipynb"
    nb = nbformat.read(src, as_version=4)
    t0 = time.time()
    nb, problem = execute(nb, src.parent, fast=False, full=True)
    errors = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and not out.text.startswith(("PASSED", "FAILED")):
                print(out.text, end="" if out.text.endswith("\n") else "\n")
            elif out.output_type == "error":
                errors += 1
                print(f"ERROR {out.ename}: {out.evalue}")
    print(f"== {args.assignment} in full mode: {time.time() - t0:.0f} s, {errors} cell error(s)"
          + (f"; {problem}" if problem else ""))
    if args.save:
        nbformat.write(nb, args.save)
    return 1 if errors or problem else 0


if __name__ == "__main__":
    sys.exit(main())
