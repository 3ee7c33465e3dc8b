"""Where tensors live, and how runs are made reproducible.

Every function in :mod:`slt_lessons` that creates tensors asks :func:`get_device`
unless it is given a ``device``. The choice is: the ``SLT_DEVICE`` environment
variable if set (e.g. ``SLT_DEVICE=cpu``), else CUDA, else Apple's MPS, else CPU.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "default_dtype", "generator"]


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` if given, else ``$SLT_DEVICE``, else cuda, mps or cpu."""
    if device is not None:
        return torch.device(device)
    override = os.environ.get("SLT_DEVICE", "").strip()
    if override:
        return torch.device(override)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_dtype(device: str | torch.device | None = None) -> torch.dtype:
    """float64, except on MPS, which has no float64 (there float32 is used)."""
    return torch.float32 if get_device(device).type == "mps" else torch.float64


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (all devices)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def generator(seed: int, device: str | torch.device | None = None) -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device``, seeded with ``seed``.

    Prefer passing explicit generators over seeding globals: two runs with the
    same generators give the same draws whatever else ran in between.
    """
    g = torch.Generator(device=get_device(device))
    g.manual_seed(int(seed))
    return g
