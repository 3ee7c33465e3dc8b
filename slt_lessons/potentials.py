"""Small problems with known learning coefficients, for tests, lessons and the benchmark.

The loss is the per-sample Gaussian negative log-likelihood with σ = 1, ``½‖y − f(x)‖²`` up to
a constant (:func:`gaussian_nll`); population losses are written as batched potentials
``(C, d) -> (C,)`` for :func:`slt_lessons.llc.estimate_llc`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from slt_lessons.device import default_dtype, generator, get_device

__all__ = [
    "gaussian_nll",
    "Problem",
    "linear_regression",
    "SquareWeight",
    "normal_crossing",
    "deep_linear_network",
    "reduced_rank_regression",
]


def gaussian_nll(output, y):
    """Mean over the batch of ½‖y − f(x)‖² (the Gaussian negative log-likelihood, σ = 1, less a constant)."""
    return 0.5 * ((y - output) ** 2).sum(-1).mean()


@dataclass
class Problem:
    """Arguments for ``estimate_llc`` (``model`` with ``loss_fn``/``data``, or a potential with
    ``w_star`` and ``n``), and the exact learning coefficient ``lam`` with multiplicity ``m``."""

    name: str
    model: object
    lam: float
    m: int
    n: int
    loss_fn: Callable | None = None
    data: tuple | None = None
    w_star: torch.Tensor | None = None

    def kwargs(self) -> dict:
        if self.data is not None:
            return dict(model=self.model, loss_fn=self.loss_fn, data=self.data)
        return dict(model=self.model, w_star=self.w_star, n=self.n)


def linear_regression(n=1000, d=10, seed=0, device=None) -> Problem:
    """y = x·w0 + N(0, 1), x ~ N(0, I_d); sampled at the least-squares fit (λ = d/2, m = 1)."""
    device, dtype = get_device(device), default_dtype(device)
    g = generator(seed, device)
    x = torch.randn(n, d, generator=g, device=device, dtype=dtype)
    w0 = torch.randn(d, 1, generator=g, device=device, dtype=dtype)
    y = x @ w0 + torch.randn(n, 1, generator=g, device=device, dtype=dtype)
    model = torch.nn.Linear(d, 1, bias=False).to(device=device, dtype=dtype)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return Problem("linear regression", model, d / 2, 1, n, gaussian_nll, (x, y))


class SquareWeight(torch.nn.Module):
    """f(x) = w² x: the simplest singular model."""

    def __init__(self, w=0.0, dtype=torch.float64):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([w], dtype=dtype))

    def forward(self, x):
        return self.w**2 * x


def normal_crossing(n=1000, seed=0, device=None) -> Problem:
    """f(x) = w²x, true w = 0, noise made orthogonal to x: K_n(w) = w⁴ Σx²/(2n) exactly (λ = 1/4)."""
    device, dtype = get_device(device), default_dtype(device)
    g = generator(seed, device)
    x = torch.randn(n, 1, generator=g, device=device, dtype=dtype)
    e = torch.randn(n, 1, generator=g, device=device, dtype=dtype)
    y = e - x * (x * e).sum() / (x * x).sum()  # Σ x_i y_i = 0
    return Problem("normal crossing w²x", SquareWeight(0.0, dtype).to(device), 0.25, 1, n, gaussian_nll, (x, y))


def _split(W, shapes):
    """Split (C, d) into matrices of the given shapes, each (C, rows, cols)."""
    sizes = [r * c for r, c in shapes]
    return [p.reshape(-1, r, c) for p, (r, c) in zip(torch.split(W, sizes, dim=-1), shapes)]


def deep_linear_network(widths=(4, 3, 3, 4), rank=1, n=1000, seed=0, device=None) -> Problem:
    """Population loss ½‖C − W_L⋯W_1‖²_F of a deep linear network (widths input → output).

    C = u vᵀ-type product of rank ``rank`` with unit singular values; sampled at the
    zero-padded true parameter (the first ``rank`` units of each layer carry C). λ and m from
    Aoyagi (2024, Neural Networks 172:106132, Theorem 1): for the defaults λ = 11/2, m = 3.
    """
    device, dtype = get_device(device), default_dtype(device)
    g = generator(seed, device)
    H = list(widths)
    shapes = [(H[i + 1], H[i]) for i in range(len(H) - 1)]
    U = torch.linalg.qr(torch.randn(H[-1], rank, generator=g, device=device, dtype=dtype))[0]
    V = torch.linalg.qr(torch.randn(H[0], rank, generator=g, device=device, dtype=dtype))[0]
    C = U @ V.T
    mats = []
    for i, (r, c) in enumerate(shapes):
        M = torch.zeros(r, c, device=device, dtype=dtype)
        if i == 0:
            M[:rank] = V.T
        elif i == len(shapes) - 1:
            M[:, :rank] = U
        else:
            M[:rank, :rank] = torch.eye(rank, device=device, dtype=dtype)
        mats.append(M.reshape(-1))
    w_star = torch.cat(mats)

    def potential(W):
        P = None
        for M in _split(W, shapes):
            P = M if P is None else M @ P
        return 0.5 * ((C - P) ** 2).sum((-2, -1))

    lam, m = (5.5, 3) if (tuple(H), rank) == ((4, 3, 3, 4), 1) else (float("nan"), 0)
    return Problem(f"DLN {H} rank {rank}", potential, lam, m, n, w_star=w_star)


def reduced_rank_regression(M=4, H=3, N=8, n=1000, device=None) -> Problem:
    """Population loss ½‖BA‖²_F (true rank r = 0, x ~ N(0, I_M)), A: H×M, B: N×H, at the origin.

    λ from Aoyagi & Watanabe (2005, Neural Networks 18:924–933); with r = 0 and M + H < N it is
    HM/2, else the general formula (m = 1 or 2); (4, 3, 8) gives λ = 6, m = 1.
    """
    device, dtype = get_device(device), default_dtype(device)
    shapes = [(H, M), (N, H)]

    def potential(W):
        A, B = _split(W, shapes)
        return 0.5 * ((B @ A) ** 2).sum((-2, -1))

    lam, m = _rrr_lambda(M, H, N, r=0)
    return Problem(f"RRR (M,H,N)=({M},{H},{N}) r=0", potential, lam, m, n, w_star=torch.zeros(H * M + N * H, device=device, dtype=dtype))


def _rrr_lambda(M, H, N, r):
    """Aoyagi & Watanabe (2005), Main Theorem: (λ, m) of reduced-rank regression."""
    if M + H < N + r:
        return (H * M - H * r + N * r) / 2, 1
    if N + H < M + r:
        return (H * N - H * r + M * r) / 2, 1
    if M + N < H + r:
        return M * N / 2, 1
    s = (M + H + N + r) % 2
    return (2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2 + s) / 8, 1 + s
