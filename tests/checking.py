"""Running an exercise's checks on a function in a test, away from a notebook: the verdict of every case.

The tests of each lesson's checks (tests/test_checks_*.py) ask the same questions of a function (does it pass
everywhere, which cases does it get wrong, which wrong answers slip through) through these helpers, on the CPU.
"""

from __future__ import annotations

import torch

from slt_lessons.checks.registry import get
from slt_lessons.checks.runner import collect, judge

CPU = torch.device("cpu")
SUITES = ("visible", "hidden")


def verdicts(exercise_id, fn, suite):
    return judge(exercise_id, collect(exercise_id, fn, suite, CPU), suite, CPU).verdicts


def passes(exercise_id, fn):
    return all(v.message is None for suite in SUITES for v in verdicts(exercise_id, fn, suite))


def failures(exercise_id, fn):
    """(suite, label, message) of every case ``fn`` gets wrong: shown when a correct variant fails."""
    return [(suite, v.label, v.message) for suite in SUITES for v in verdicts(exercise_id, fn, suite) if v.message]


def missed(exercise_id, fn, *, errors=True):
    """Labels of the cases (both suites) where a wrong function was judged right (without the cases whose right
    answer is an error when ``errors`` is False: a mistake in the formula need not show there)."""
    raising = {c.label for s in SUITES for c in get(exercise_id).cases(s, CPU) if c.raises is not None}
    return [v.label for suite in SUITES for v in verdicts(exercise_id, fn, suite)
            if v.message is None and (errors or v.label not in raising)]


def wrong_visible(exercise_id, fn):
    """The messages of the visible cases that ``fn`` gets wrong."""
    return [v.message for v in verdicts(exercise_id, fn, "visible") if v.message]


def wrong_labels(exercise_id, fn, suite):
    """The labels of the cases of ``suite`` that ``fn`` gets wrong."""
    return [v.label for v in verdicts(exercise_id, fn, suite) if v.message]
