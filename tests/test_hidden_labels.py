"""Hidden cases' labels say what KIND of input a case is, never its values.

A learner sees the label of every hidden case in the graded feedback (it is how they find what their
function gets wrong), but the course promises that hidden inputs and expected values are never shown,
so that the course can be reused. A label may name a dtype ("float32"), a tensor's dimension ("2-D"),
a case number ("hidden case 3", "case 2") and formulas without numbers ("nbeta = n/log n"); once those
are removed, no digit may remain: no sizes, no parameter values, no answers.
"""

from __future__ import annotations

import re
from collections import Counter

import torch

from slt_lessons.checks import registry

CPU = torch.device("cpu")

# What a hidden label may contain that has a digit in it.
_ALLOWED = [
    re.compile(r"\b(?:b?float|u?int|complex)(?:8|16|32|64|128)\b"),  # dtype names: float32, int64, bfloat16, ...
    re.compile(r"\b\d+-D\b"),  # dimension words: 1-D, 2-D, 3-D
    re.compile(r"\b(?:hidden )?case \d+\b"),  # numbering: "hidden case 3", "case 2"
]


def without_allowed(label: str) -> str:
    """``label`` with the allowed digit-bearing tokens removed."""
    for pattern in _ALLOWED:
        label = pattern.sub("", label)
    return label


def _hidden_labels(exercise_id: str) -> list[str]:
    return [case.label for case in registry.get(exercise_id).cases("hidden", CPU)]


def test_the_allowed_tokens_are_removed_and_nothing_else():
    assert not re.search(r"\d", without_allowed("hidden case 12: float32, a 2-D grid, nbeta = n/log n, int64"))
    assert not re.search(r"\d", without_allowed("regime main, case 4"))
    for shown in ("n = 3", "d = 7", "rtol = 1e-4", "diag(1, 1e-3)", "m = 2", "AR(1)", "beta = 1/log n",
                  "shape (16, 5)", "case12", "float33", "a 12x3 grid"):
        assert re.search(r"\d", without_allowed(shown)), shown


def test_hidden_labels_state_no_numbers():
    offending = [
        f"{exercise_id}: {label!r}"
        for exercise_id in registry.exercises()
        for label in _hidden_labels(exercise_id)
        if re.search(r"\d", without_allowed(label))
    ]
    assert not offending, (
        "hidden case labels must describe the kind of input in words, without numbers that pin down an input "
        "or reveal an expected value (allowed: dtype names, N-D, 'hidden case k'/'case k'); offending labels:\n  "
        + "\n  ".join(offending)
    )


def test_hidden_labels_are_unique_within_each_exercise():
    repeated = [
        f"{exercise_id}: {label!r} x{count}"
        for exercise_id in registry.exercises()
        for label, count in Counter(_hidden_labels(exercise_id)).items()
        if count > 1
    ]
    assert not repeated, "hidden case labels must be unique within an exercise; repeated:\n  " + "\n  ".join(repeated)
