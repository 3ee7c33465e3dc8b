"""Grading speed: a class of 20 synthetic submissions of lesson 1 (correct, wrong and broken).

Prints submissions per minute for `slt-course grade` serially and with 2 workers (and the ratio),
and the per-submission overhead of our engine over plain `nbgrader autograde` on the same notebooks.

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
    parser.add_argument("--timeout", type=float, default=15.0, help="per-answer timeout (the loop costs this)")
    args = parser.parse_args()
    use_this_environment()
    repo = Repo(REPO)
    limits = Limits(exercise_s=args.timeout, submission_s=300)
    n = len(MIX)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        times = {}
        for workers in (1, 2):
            root = make_root(repo, base, f"w{workers}")
            t0 = time.perf_counter()
            grades = grading.grade(repo, root, [A], workers=workers, limits=limits, log=lambda s: None)
            times[workers] = time.perf_counter() - t0
            print(f"slt-course grade, workers={workers}: {n} submissions in {times[workers]:.1f} s = "
                  f"{60 * n / times[workers]:.1f} submissions/min (total score {sum(g.score for g in grades):g})")
        print(f"parallel speed-up (2 workers / serial): {times[1] / times[2]:.2f}x")

        root = make_root(repo, base, "nbgrader")
        grading.register_assignments(repo, root, [A])
        t0 = time.perf_counter()
        os.environ["SLT_CELL_TIMEOUT"] = str(int(args.timeout))  # course/nbgrader_config.py reads it
        res = grading._nbgrader(repo, root, "autograde", A, "--force")
        t_nb = time.perf_counter() - t0
        nb_grades = grading.read_grades(root)
        print(f"plain nbgrader autograde (serial, whole notebooks, exit {res.returncode}): {n} submissions in {t_nb:.1f} s = "
              f"{60 * n / t_nb:.1f} submissions/min (total score {sum(g.score for g in nb_grades):g})")
        print(f"per-submission overhead of slt-course grade over nbgrader autograde (serial): "
              f"{(times[1] - t_nb) / n:+.2f} s")


if __name__ == "__main__":
    main()
