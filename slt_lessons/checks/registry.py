"""The exercise registry: what an exercise is and how a learner's answer is judged.

An :class:`Exercise` pairs a reference function from :mod:`slt_lessons` with seeded
inputs (:class:`Case`) and a *judge* that decides whether a learner's output on a case
is right. Judging works from outputs only, so a verdict can be computed from the
outputs alone, away from the code that produced them (see :func:`collect` and
:func:`judge`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

__all__ = [
    "Case",
    "Exercise",
    "register",
    "get",
    "exercises",
    "must_raise",
    "tensor_close",
    "scalar_close",
    "describe",
]

SUITES = ("visible", "hidden")


@dataclass(frozen=True)
class Case:
    """One seeded input: ``label`` says in words what kind of input it is; ``kwargs`` are the
    arguments. With ``raises`` set, the right answer is to raise that exception (or a subclass):
    the text asks for it, e.g. a ``ValueError`` naming a bad argument."""

    label: str
    kwargs: dict[str, Any]
    raises: type[BaseException] | None = None


@dataclass(frozen=True)
class Exercise:
    """A graded exercise.

    ``cases(suite, device)`` returns the inputs of a suite (``"visible"`` or ``"hidden"``),
    deterministically. ``judge(case, expected, got)`` returns ``None`` when ``got`` is right
    and otherwise a message for the learner. ``notes`` justifies the tolerance (and, for a
    statistical judge, states its false-failure rate).
    """

    id: str
    reference: Callable
    cases: Callable[[str, torch.device], Sequence[Case]]
    judge: Callable[[Case, Any, Any], str | None]
    notes: str = ""

    @property
    def function_name(self) -> str:
        return self.reference.__name__


_REGISTRY: dict[str, Exercise] = {}


def must_raise(*cases: tuple[str, dict[str, Any]], error: type[BaseException] = ValueError) -> list[Case]:
    """Cases whose right answer is to raise ``error``, from ``(label, kwargs)`` pairs: one for each
    error the text asks for."""
    return [Case(label, kwargs, raises=error) for label, kwargs in cases]


def register(exercise: Exercise) -> Exercise:
    if exercise.id in _REGISTRY and _REGISTRY[exercise.id] is not exercise:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    if exercise.id.rsplit(".", 1)[-1] != exercise.reference.__name__:
        raise ValueError(
            f"exercise id {exercise.id!r} must end with the reference's name {exercise.reference.__name__!r}"
        )
    _REGISTRY[exercise.id] = exercise
    return exercise


def get(exercise_id: str) -> Exercise:
    if exercise_id not in _REGISTRY:
        _load_topic(exercise_id.split(".", 1)[0])
    if exercise_id not in _REGISTRY:
        _load_all()
    try:
        return _REGISTRY[exercise_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise ValueError(f"unknown exercise id {exercise_id!r}; known ids: {known}") from None


def exercises() -> list[str]:
    """The registered exercise ids, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def _load_topic(topic: str) -> None:
    """Import ``slt_lessons.checks.<topic>``, where exercises ``<topic>.*`` are usually registered."""
    import importlib.util

    name = f"slt_lessons.checks.{topic}"
    if topic.isidentifier() and topic not in {"registry", "runner"} and importlib.util.find_spec(name):
        importlib.import_module(name)


def _load_all() -> None:
    import importlib
    import pkgutil

    import slt_lessons.checks as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in {"registry", "runner"} and not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


# ----------------------------------------------------------------------------- describing values


def describe(value: Any) -> str:
    """A short description of a value: type, and for tensors shape, dtype and device."""
    if isinstance(value, torch.Tensor):
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype}, device={value.device.type})"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe(v) for v in value[:4])
        return f"{type(value).__name__} of {len(value)}: ({inner}{', ...' if len(value) > 4 else ''})"
    return f"{type(value).__name__} {value!r}"[:200]


def _fmt(t: torch.Tensor, max_items: int = 6) -> str:
    flat = t.detach().flatten().cpu()
    items = ", ".join(f"{v:.6g}" for v in flat[:max_items].tolist())
    return f"[{items}{', ...' if flat.numel() > max_items else ''}]"


def _input_dtype(case: Case) -> torch.dtype | None:
    for v in case.kwargs.values():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.dtype
    return None


# ----------------------------------------------------------------------------- ready-made judges


def tensor_close(
    rtol: float,
    atol: float,
    rtol32: float | None = None,
    atol32: float | None = None,
    *,
    check_dtype: bool = True,
) -> Callable[[Case, Any, Any], str | None]:
    """Judge a tensor output against the reference output, entry by entry.

    The tolerance is ``rtol``/``atol`` for float64 inputs and ``rtol32``/``atol32`` for float32
    inputs (the case's first floating tensor decides). Shape, device and (unless
    ``check_dtype=False``) dtype must match the reference output exactly.
    """

    def judge(case: Case, expected: Any, got: Any) -> str | None:
        return compare_tensors(
            expected, got, _tolerance(case, rtol, atol, rtol32, atol32), check_dtype=check_dtype
        )

    return judge


def _tolerance(case, rtol, atol, rtol32, atol32):
    if _input_dtype(case) in (torch.float32, torch.float16, torch.bfloat16):
        return (rtol32 if rtol32 is not None else max(rtol, 1e-5), atol32 if atol32 is not None else atol)
    return rtol, atol


def compare_tensors(expected: torch.Tensor, got: Any, tol: tuple[float, float], *, check_dtype=True, name="result"):
    """``None`` if ``got`` matches ``expected`` within ``tol = (rtol, atol)``, else a message."""
    rtol, atol = tol
    if not isinstance(got, torch.Tensor):
        return f"{name}: expected a torch tensor, got {describe(got)}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"{name}: wrong shape: expected {tuple(expected.shape)}, got {tuple(got.shape)}"
    if got.device.type != expected.device.type:
        return (
            f"{name}: wrong device: expected {expected.device.type} (the inputs' device), got {got.device.type}"
        )
    if check_dtype and got.dtype != expected.dtype:
        return f"{name}: wrong dtype: expected {expected.dtype} (follow the inputs' dtype), got {got.dtype}"
    e = expected.detach().to(torch.float64).cpu()
    g = got.detach().to(torch.float64).cpu()
    same_nonfinite = (~torch.isfinite(e)) & (e == g)
    bad = ~(same_nonfinite | (torch.abs(g - e) <= atol + rtol * torch.abs(e)))
    bad |= torch.isnan(g) & ~torch.isnan(e)
    if not bool(bad.any()):
        return None
    idx = int(torch.nonzero(bad.flatten())[0])
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(idx), e.shape)) if e.ndim else ()
    ev, gv = e.flatten()[idx].item(), g.flatten()[idx].item()
    return (
        f"{name}: {int(bad.sum())} of {e.numel()} entries differ; first at index {where}: "
        f"expected {ev:.10g}, got {gv:.10g} (allowed |diff| <= {atol:g} + {rtol:g}*|expected|)\n"
        f"  expected {_fmt(e)}\n  got      {_fmt(g)}"
    )


def scalar_close(rtol: float, atol: float, rtol32: float | None = None, atol32: float | None = None):
    """Judge a scalar (a Python number or a 0-d tensor) against the reference's scalar."""

    def judge(case: Case, expected: Any, got: Any) -> str | None:
        rt, at = _tolerance(case, rtol, atol, rtol32, atol32)
        try:
            g = float(got.item() if isinstance(got, torch.Tensor) else got)
        except (TypeError, ValueError, RuntimeError):
            return f"result: expected a number, got {describe(got)}"
        e = float(expected.item() if isinstance(expected, torch.Tensor) else expected)
        if math.isnan(g) or abs(g - e) > at + rt * abs(e):
            return f"result: expected {e:.10g}, got {g:.10g} (allowed |diff| <= {at:g} + {rt:g}*|expected|)"
        return None

    return judge
