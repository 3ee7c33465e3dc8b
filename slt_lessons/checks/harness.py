"""Recording a learner's outputs for grading, inside the process that runs their code.

The grader (:mod:`slt_lessons.course.engine`) runs the set-up cells and one answer cell, then
calls :func:`record`, which calls the learner's function on every case of both suites and saves
what it returned or raised. The verdict is computed later, in the grader's own process, from these
records alone: nothing the notebook redefines (``check``, ``assert_allclose``, the registry) can
change it. While the learner's function runs, a profiler watches for calls to the exercise's own
reference function (by its code object, so renaming or aliasing it does not hide it).
"""

from __future__ import annotations

import sys
from fractions import Fraction
from typing import Any

import torch

from slt_lessons.checks import registry
from slt_lessons.checks.runner import Outcome, collect

_collect = collect  # bound at import, before any learner code runs


def _portable(value: Any) -> Any:
    """Outputs that can be saved and loaded without the learner's classes."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (tuple, list)):
        return type(value)(_portable(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, complex, str, Fraction)):
        return value
    return f"<unsupported result of type {type(value).__name__}>"


def record(exercise_id: str, fn: Any, path: str) -> None:
    ex = registry.get(exercise_id)
    ref_code = getattr(ex.reference, "__code__", None)
    called = {"reference": False}

    def watch(frame, event, arg):
        if event == "call" and frame.f_code is ref_code:
            called["reference"] = True

    data: dict[str, Any] = {"exercise_id": exercise_id, "missing": fn is None, "not_callable": fn is not None and not callable(fn)}
    if fn is not None and callable(fn):
        sys.setprofile(watch)
        try:
            for suite in registry.SUITES:
                outcomes = _collect(exercise_id, fn, suite)
                data[suite] = [Outcome(o.label, _portable(o.output), o.error) for o in outcomes]
        finally:
            sys.setprofile(None)
    data["called_reference"] = called["reference"]
    torch.save(data, path)
