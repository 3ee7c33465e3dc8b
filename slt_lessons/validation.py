"""Argument checks that name the argument and say what was expected.

Every public function validates its inputs with these helpers, so that bad
input fails at once with a ``ValueError`` like::

    ValueError: beta must be a positive finite number, got -1.0
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = [
    "as_tensor",
    "require_positive",
    "require_number",
    "require_finite",
    "require_nonempty",
    "require_ndim",
    "require_increasing",
    "require_same_length",
]


def as_tensor(name: str, value, *, dtype=None, device=None) -> torch.Tensor:
    """Convert ``value`` to a floating tensor, or raise naming ``name``.

    A tensor keeps its device and floating dtype unless ``dtype``/``device`` say
    otherwise; integer tensors and Python/numpy data become float64.
    """
    try:
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be array-like numbers, got {type(value).__name__}") from exc
    if dtype is None and not t.is_floating_point():
        dtype = torch.float64
    return t.to(dtype=dtype or t.dtype, device=device or t.device)


def require_finite(name: str, t: torch.Tensor) -> torch.Tensor:
    if not bool(torch.isfinite(t).all()):
        bad = (~torch.isfinite(t)).sum().item()
        raise ValueError(f"{name} must be finite, but has {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}")
    return t


def require_nonempty(name: str, t: torch.Tensor) -> torch.Tensor:
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    return t


def require_ndim(name: str, t: torch.Tensor, ndim: int | Sequence[int]) -> torch.Tensor:
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if t.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {want}, got shape {tuple(t.shape)}")
    return t


def require_positive(name: str, value) -> float:
    """A positive finite real number (e.g. ``beta``, ``sigma``)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def require_number(name: str, value) -> float:
    """A finite real number, as a Python float (e.g. a loss or a learning coefficient)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a finite number, got {value!r}") from exc
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def require_increasing(name: str, t: torch.Tensor) -> torch.Tensor:
    """A 1-D grid with at least two points, strictly increasing."""
    require_ndim(name, t, 1)
    if t.numel() < 2:
        raise ValueError(f"{name} must have at least 2 points, got {t.numel()}")
    require_finite(name, t)
    if not bool((t[1:] > t[:-1]).all()):
        raise ValueError(f"{name} must be strictly increasing")
    return t


def require_same_length(names: tuple[str, str], a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )
