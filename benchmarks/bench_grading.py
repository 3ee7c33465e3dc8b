"""Grading speed: a class of 20 synthetic submissions of lesson 1 (correct, wrong and broken).

Prints, in one run, the throughput of `slt-course grade` with the sandbox and with `--no-sandbox`,
and of plain `nbgrader autograde` on the same notebooks, and the ratios between them.

    .venv/bin/python benchmarks/bench_grading.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_grading_matrix import A, make_class  # noqa: E402  (the matrix's synthetic submissions)

from slt_lessons.course import grading  # noqa: E402
from slt_lessons.course.engine import Limits  # noqa: E402
from slt_lessons.course.paths import Repo, use_this_environment  # noqa: E402
from slt_lessons.course.sandbox import Sandbox  # noqa: E402

# a mix: mostly correct or wrong answers, a few broken ones (the matrix has one of each kind)
MIX = ["reference", "untouched", "wrong_hidden", "exception", "calls_reference", "wrong_type",
       "stripped_metadata", "edited_test", "kernel_death", "infinite_loop"] * 2


def make_root(repo: Repo, base: Path, name: str) -> Path:
    subs = make_class(repo)
    root = base / name
    for i, kind in enumerate(MIX):
        folder = root / "submitted" / f"s{i:02d}_{kind}" / A
        folder.mkdir(parents=True)
        nbformat.write(subs[kind][0], folder / f"{A}.ipynb")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=15.0, help="per-cell timeout (the loop costs this)")
    parser.add_argument("--workers", type=int, default=1, help="workers of slt-course grade (nbgrader is serial)")
    args = parser.parse_args()
    use_this_environment()
    repo = Repo(REPO)
    limits = Limits(exercise_s=args.timeout, submission_s=300)
    n = len(MIX)
    print(f"{n} submissions of {A}, per-cell timeout {args.timeout:g} s, slt-course grade with {args.workers} worker(s)")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        times = {}
        for label, sandbox in (("sandbox", Sandbox()), ("no-sandbox", Sandbox(enabled=False))):
            root = make_root(repo, base, label)
            t0 = time.perf_counter()
            grades = grading.grade(repo, root, [A], workers=args.workers, limits=limits, sandbox=sandbox,
                                   log=lambda s: None)
            times[label] = time.perf_counter() - t0
            print(f"slt-course grade ({label:>10}): {times[label]:6.1f} s = {60 * n / times[label]:5.1f} submissions/min "
                  f"(total score {sum(g.score for g in grades):g})")

        root = make_root(repo, base, "nbgrader")
        grading.register_assignments(repo, root, [A])
        os.environ["SLT_CELL_TIMEOUT"] = str(int(args.timeout))  # course/nbgrader_config.py reads it
        t0 = time.perf_counter()
        res = grading._nbgrader(repo, root, "autograde", A, "--force")
        times["nbgrader"] = time.perf_counter() - t0
        nb_grades = grading.read_grades(root)
        print(f"plain nbgrader autograde     : {times['nbgrader']:6.1f} s = {60 * n / times['nbgrader']:5.1f} submissions/min "
              f"(total score {sum(g.score for g in nb_grades):g}; exit {res.returncode}; no isolation, a dead kernel fails the whole notebook)")
        print(f"sandbox cost over --no-sandbox: {100 * (times['sandbox'] / times['no-sandbox'] - 1):+.1f}%")
        print(f"time of slt-course grade (sandbox) over plain nbgrader: {100 * (times['sandbox'] / times['nbgrader'] - 1):+.1f}%")


if __name__ == "__main__":
    main()
