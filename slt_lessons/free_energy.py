"""The Bayesian free energy ``F_n = −log ∫ φ(w) ∏_i p(y_i | x_i, w) dw`` and its approximations.

Written with ``nL_n(w) = −Σ_i log p(y_i | x_i, w)``, ``F_n = −log ∫ exp(log φ(w) − nL_n(w)) dw``.
Watanabe (2009, *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP, Theorem 6.7)
shows ``F_n = nL_n(w_0) + λ log n − (m − 1) log log n + O_p(1)``; for a regular model
``λ = d/2``, ``m = 1`` and the Laplace approximation / BIC apply; for a singular model they do not.

Exercises (short, for a learner to write):

- :func:`free_energy_grid`     ``F`` on a 1-D grid by the trapezoid rule, in log space
- :func:`laplace_free_energy`  the Laplace approximation (undefined where the Hessian is singular)
- :func:`bic`                  ``nL_n(ŵ) + (d/2) log n``
- :func:`wbic_grid`            ``E_β[nL_n]`` at ``β = 1/log n`` on a 1-D grid (Watanabe 2013)
- :func:`fit_slope`            the least-squares slope of ``F`` against ``log n``
- :func:`preferred_model`      which model the posterior prefers at each ``n``, from ``(L, λ, m)``

Library (high accuracy, for ``K(w)`` models in 1-D and 2-D, ``n`` up to ``1e14``):

- :func:`quadrature_mesh`, :func:`free_energy_quad`, :func:`lambda_eff_quad`, :func:`wbic_quad`
- :func:`laplace_free_energy_at`   the Laplace approximation with an autograd Hessian
- :func:`fit_learning_coefficient` ``λ`` and ``m`` from ``F_n`` over a range of ``n``
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from slt_lessons.device import default_dtype, get_device
from slt_lessons.validation import (
    as_tensor,
    require_finite,
    require_increasing,
    require_ndim,
    require_positive,
    require_same_length,
)

__all__ = [
    "free_energy_grid",
    "laplace_free_energy",
    "bic",
    "wbic_grid",
    "fit_slope",
    "preferred_model",
    "quadrature_mesh",
    "free_energy_quad",
    "lambda_eff_quad",
    "wbic_quad",
    "laplace_free_energy_at",
    "LearningCoefficientFit",
    "fit_learning_coefficient",
]


# ============================================================================ exercises


def free_energy_grid(nLn, log_prior, grid):
    """``F = −log ∫ exp(log φ(w) − nL_n(w)) dw`` by the trapezoid rule on a 1-D grid.

    All three arguments have shape ``(G,)``. The trapezoid weights ``Δ_j`` (half the width of the
    two cells beside node ``j``) enter as ``log Δ_j``, and ``F = −logsumexp_j(log φ_j − nL_n,j + log Δ_j)``,
    so neither ``e^{−nL_n}`` (underflow for large ``n``) nor its sum is ever formed.
    Accuracy: that of the trapezoid rule on the grid; float32 adds ``~1e-6`` relative.
    """
    require_increasing("grid", grid)
    require_same_length(("nLn", "grid"), nLn, grid)
    dw = grid[1:] - grid[:-1]
    log_trapezoid = torch.log(torch.cat([dw[:1], dw[1:] + dw[:-1], dw[-1:]]) / 2)
    return -torch.logsumexp(log_prior - nLn + log_trapezoid, dim=0)


def laplace_free_energy(nLn_min, log_prior_min, hessian):
    """The Laplace approximation ``F ≈ nL_n(ŵ) − log φ(ŵ) + ½ log det H − (d/2) log 2π``.

    ``H`` (``d×d``, symmetric) is the Hessian of ``nL_n`` at its minimiser ``ŵ``: a Gaussian
    approximation of ``e^{−nL_n}`` around ``ŵ`` (Laplace 1774; Tierney & Kadane 1986, *JASA*
    81:82–86). ``½ log det H − (d/2) log 2π = ½ log det(H/2π)`` is the sum of
    ``log(L_ii/√(2π))`` over the diagonal of the Cholesky factor ``L`` of ``H``.
    Raises ``ValueError`` when ``H`` is not positive definite: at a singular point the Gaussian
    has infinite volume and the approximation is undefined.
    """
    chol, info = torch.linalg.cholesky_ex(hessian)
    if info != 0:
        raise ValueError("hessian is not positive definite: the Laplace approximation is undefined for a singular model there")
    # ½ log det(H / 2π) = Σ_i log(L_ii / √(2π)) for the Cholesky factor L of H
    return nLn_min - log_prior_min + torch.log(chol.diagonal() / math.sqrt(2 * math.pi)).sum()


def bic(nLn_min, d, n):
    """The Bayesian information criterion ``nL_n(ŵ) + (d/2) log n`` (Schwarz 1978, *Ann. Statist.*
    6:461–464): the free energy of a regular model with ``d`` parameters up to ``O_p(1)``."""
    n = require_positive("n", n)
    return nLn_min + d / 2 * math.log(n)


def wbic_grid(nLn, log_prior, grid, n):
    """WBIC: the posterior mean of ``nL_n`` at inverse temperature ``β = 1/log n``, on a 1-D grid.

    ``WBIC = ∫ nL_n φ e^{−β nL_n} dw / ∫ φ e^{−β nL_n} dw`` (Watanabe 2013, "A widely applicable
    Bayesian information criterion", *JMLR* 14:867–897), both integrals by the trapezoid rule; the
    weights are scaled by their largest value first, so nothing overflows. ``n > 1``.
    """
    require_increasing("grid", grid)
    require_same_length(("nLn", "grid"), nLn, grid)
    if not n > 1:
        raise ValueError(f"n must be larger than 1 (β = 1/log n), got {n!r}")
    a = log_prior - nLn / math.log(n)
    u = torch.exp(a - a.max())
    return torch.trapezoid(u * nLn, grid) / torch.trapezoid(u, grid)


def fit_slope(log_n, F):
    """The least-squares slope of ``F`` against ``log n``: ``Σ (x − x̄)(F − F̄) / Σ (x − x̄)²``.

    Since ``F_n ≈ λ log n − (m − 1) log log n + const``, this is the naive estimate of ``λ``;
    it is biased low by about ``(m − 1)/log n`` (see :func:`fit_learning_coefficient`).
    """
    require_same_length(("log_n", "F"), log_n, F)
    x = log_n - log_n.mean()
    return (x * F).sum() / (x * x).sum()  # Σ (x − x̄) F̄ = 0, so F need not be centred


def preferred_model(n, L, lam, m):
    """The index of the model the posterior prefers at each sample size, from ``(L, λ, m)``.

    Model ``α`` has the smallest population loss ``L_α`` (per sample), learning coefficient
    ``λ_α`` and multiplicity ``m_α`` (``L``, ``lam``, ``m`` of shape ``(A,)``). With equal prior
    odds the posterior prefers the model of smallest free energy ``F_α(n) = −log Z_α``; how
    ``F_α`` grows with ``n`` for the population loss follows from Watanabe's free energy
    asymptotics (2009, *Algebraic Geometry and Statistical Learning Theory*, Theorem 6.7), and the
    terms that stay bounded as ``n`` grows are left out. The switch from the model of small ``λ``
    to the model of small ``L`` is a Bayesian phase transition (Chen, Lau, Mendel, Wei, Murfet
    2023, arXiv:2310.06301). ``n`` has shape ``(N,)``, every entry larger than ``e``; returns a
    long tensor of shape ``(N,)``.
    """
    # F_α(n) = n L_α + λ_α log n − (m_α − 1) log log n + O(1) (Watanabe 2009, Theorem 6.7, with
    # nL_n(w_0) = n L_α for the population loss). The "+ log log n" of −(m_α − 1) log log n is
    # common to all models and cannot change the argmin, so it is left out.
    log_n = n.log()[:, None]
    F = n[:, None] * L + lam * log_n - m * log_n.log()
    return F.argmin(dim=1)


# ============================================================================ quadrature for K(w) models


def _graded_panels(lo: float, hi: float, points: Sequence[float], ratio: float, depth: float) -> np.ndarray:
    """Breakpoints of ``[lo, hi]`` at ``p ± (hi − lo) ratio^j`` around each ``p`` in ``points``."""
    breaks = {lo, hi}
    for p in points:
        if lo <= p <= hi:
            breaks.add(p)
            s = hi - lo
            while s > depth * (hi - lo):
                breaks.update(q for q in (p - s, p + s) if lo < q < hi)
                s *= ratio
    return np.array(sorted(breaks))


def quadrature_mesh(bounds, points=None, *, order: int | None = None, ratio: float = 0.5,
                    depth: float = 1e-24, device=None):
    """Nodes and log-weights of a graded tensor-product Gauss–Legendre rule on a box.

    ``bounds = [(lo_1, hi_1), ..., (lo_d, hi_d)]`` (``d`` = 1 or 2). Along coordinate ``i`` the
    interval is cut at ``p ± (hi − lo) ratio^j``, ``j = 0, 1, ...`` down to ``depth × (hi − lo)``,
    around each ``p`` in ``points[i]`` (default: 0 when inside the interval), and each panel gets
    ``order`` Gauss–Legendre nodes (default 20 in 1-D, 12 in 2-D). Such geometric grading
    resolves integrands that concentrate on the lines ``w_i = p`` at every scale, e.g.
    ``e^{−nK}`` for normal-crossing ``K`` (Schwab 1998, *p- and hp-Finite Element Methods*, §4.4).
    Returns ``(w, log_weights)`` of shapes ``(G, d)`` and ``(G,)`` on ``device`` (float64 except MPS).
    """
    bounds = [(float(lo), float(hi)) for lo, hi in bounds]
    if len(bounds) not in (1, 2) or any(not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) for lo, hi in bounds):
        raise ValueError(f"bounds must be 1 or 2 finite intervals (lo, hi) with lo < hi, got {bounds!r}")
    if points is None:
        points = [[0.0]] * len(bounds)
    if len(points) != len(bounds):
        raise ValueError(f"points must give one list of grading points per coordinate ({len(bounds)}), got {points!r}")
    order = order or (20 if len(bounds) == 1 else 12)
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be in (0, 1), got {ratio!r}")
    x, wt = np.polynomial.legendre.leggauss(int(order))
    device = get_device(device)
    dtype = default_dtype(device)
    axes = []
    for (lo, hi), pts in zip(bounds, points):
        br = _graded_panels(lo, hi, [float(p) for p in pts], ratio, depth)
        a, b = br[:-1, None], br[1:, None]
        nodes = ((a + b) / 2 + (b - a) / 2 * x).ravel()
        log_w = np.log((b - a) / 2 * wt).ravel()
        axes.append((torch.as_tensor(nodes, dtype=dtype, device=device), torch.as_tensor(log_w, dtype=dtype, device=device)))
    w = torch.cartesian_prod(*[nodes for nodes, _ in axes]).reshape(-1, len(bounds))
    log_weights = axes[0][1]
    for _, lw in axes[1:]:
        log_weights = (log_weights[:, None] + lw[None, :]).reshape(-1)
    return w, log_weights


def _log_terms(K, bounds, log_prior, points, order, device):
    """``K(w)`` and ``log(weight) + log φ(w)`` at the mesh nodes (uniform prior on the box by default)."""
    w, log_weights = quadrature_mesh(bounds, points, order=order, device=device)
    if log_prior is None:
        log_volume = sum(math.log(hi - lo) for lo, hi in bounds)
        log_base = log_weights - log_volume
    else:
        log_base = log_weights + log_prior(w)
    Kw = K(w)
    if Kw.shape != log_base.shape:
        raise ValueError(f"K must map w of shape (G, d) to shape (G,), got {tuple(Kw.shape)}")
    require_finite("K(w)", Kw)
    return Kw, log_base


def _as_n(n, device) -> torch.Tensor:
    n = as_tensor("n", n, dtype=default_dtype(device), device=get_device(device))
    if not bool((n > 0).all()) or not bool(torch.isfinite(n).all()):
        raise ValueError("n must be positive and finite")
    return n


def free_energy_quad(K: Callable, n, bounds, *, log_prior: Callable | None = None, points=None,
                     order: int | None = None, device=None) -> torch.Tensor:
    """``F_n = −log ∫_box φ(w) e^{−nK(w)} dw`` for each ``n`` (any shape), by graded quadrature.

    ``K`` maps ``w`` of shape ``(G, d)`` (``d`` = 1 or 2) to ``(G,)``: a population loss ``K(w) ≥ 0``,
    or an empirical ``K_n(w) = L_n(w) − L_n(w_0)`` (which may be negative: everything is in log
    space, shifted by the largest term, so ``n`` up to ``1e14`` and beyond is safe).
    ``log_prior`` maps ``w`` to ``log φ(w)`` (normalised); the default is the uniform density on
    the box. The mesh (:func:`quadrature_mesh`) is graded towards the lines ``w_i = points[i]``,
    so the result is accurate when ``K`` vanishes only on such lines (normal crossing in the given
    coordinates). Measured against closed forms for ``n`` in ``[1, 1e14]`` (uniform prior on
    ``[−1, 1]^d``): relative error ``<= 4e-11`` for ``w^{2k}``, ``k <= 4`` (1-D, order 20), ``2e-12``
    for ``w1² w2⁴`` and ``1e-15`` for ``w1² w2²`` (2-D, order 12, about 3.6 million nodes, 1.5 s for
    15 values of ``n`` on 2 CPU cores). Higher powers need a higher ``order``. ``K`` is evaluated
    once for all ``n``.
    """
    n = _as_n(n, device)
    Kw, log_base = _log_terms(K, bounds, log_prior, points, order, device)
    logZ = torch.stack([torch.logsumexp(log_base - nj * Kw, dim=0) for nj in n.reshape(-1)])
    return -logZ.reshape(n.shape)


def _tempered_mean_nK(Kw, log_base, t, n):
    """``E_t[nK] = Σ nK e^{log base − tK} / Σ e^{log base − tK}``."""
    p = torch.softmax(log_base - t * Kw, dim=0)
    return (p * n * Kw).sum()


def lambda_eff_quad(K: Callable, n, bounds, *, log_prior: Callable | None = None, points=None,
                    order: int | None = None, device=None) -> torch.Tensor:
    """``λ_eff(n) = dF_n/d log n = E_n[nK]``, the posterior mean of ``nK`` at sample size ``n``.

    Differentiating ``F_n = −log ∫ φ e^{−nK}`` gives ``n E_n[K]`` exactly; for large ``n`` it tends
    to ``λ − (m − 1)/log n + O(1/log² n)`` (Watanabe 2009, ch. 6). Same mesh and arguments as
    :func:`free_energy_quad`.
    """
    n = _as_n(n, device)
    Kw, log_base = _log_terms(K, bounds, log_prior, points, order, device)
    return torch.stack([_tempered_mean_nK(Kw, log_base, nj, nj) for nj in n.reshape(-1)]).reshape(n.shape)


def wbic_quad(K: Callable, n, bounds, *, log_prior: Callable | None = None, points=None,
              order: int | None = None, device=None) -> torch.Tensor:
    """WBIC with ``K`` in place of ``L_n``: ``E_β[nK]`` under ``φ e^{−nβK}``, ``β = 1/log n`` (``n > 1``).

    Watanabe (2013, *JMLR* 14:867–897): ``WBIC = λ log n + O_p(√log n)`` when the loss is
    ``K_n``; with the population ``K`` it equals ``log n · λ_eff(n/log n)`` exactly.
    """
    n = _as_n(n, device)
    if not bool((n > 1).all()):
        raise ValueError("n must be larger than 1 (β = 1/log n)")
    Kw, log_base = _log_terms(K, bounds, log_prior, points, order, device)
    return torch.stack([_tempered_mean_nK(Kw, log_base, nj / nj.log(), nj) for nj in n.reshape(-1)]).reshape(n.shape)


def laplace_free_energy_at(nLn: Callable, log_prior: Callable, w_hat) -> torch.Tensor:
    """:func:`laplace_free_energy` at ``ŵ`` with the Hessian of ``nL_n`` computed by autograd.

    ``nLn`` and ``log_prior`` map a parameter vector ``w`` of shape ``(d,)`` to a scalar.
    """
    w_hat = as_tensor("w_hat", w_hat)
    require_ndim("w_hat", w_hat, 1)
    hessian = torch.autograd.functional.hessian(nLn, w_hat)
    return laplace_free_energy(nLn(w_hat), log_prior(w_hat), hessian)


# ============================================================================ fitting λ and m


@dataclass(frozen=True)
class LearningCoefficientFit:
    """Least-squares fit of ``F_n = a + λ log n − (m − 1) log log n − c/log n``."""

    lam: float
    m: float
    c: float
    a: float
    rms_residual: float


def fit_learning_coefficient(n, F, *, m: float | None = None, correction: bool = True) -> LearningCoefficientFit:
    """Fit ``λ`` (and ``m`` unless given) from free energies ``F`` at sample sizes ``n``.

    Model: ``F_n = a + λ log n − (m − 1) log log n − c/log n``. The last term is the next
    correction of the asymptotic expansion: its derivative makes
    ``λ_eff(n) = dF_n/d log n ≈ λ − (m − 1)/log n + c/log² n`` (Watanabe 2009, Theorem 6.7 and
    the asymptotic expansion of the zeta function's largest pole). Without it (``correction=False``)
    ``m`` comes out biased (for ``w1² w2²`` over ``n`` in ``[10², 10¹⁴]``, ``m ≈ 1.7`` instead of 2).
    With ``m`` given, only ``a``, ``λ`` (and ``c``) are fitted. Linear least squares in float64.
    """
    n = as_tensor("n", n, dtype=torch.float64, device="cpu").reshape(-1)
    F = as_tensor("F", F, dtype=torch.float64, device="cpu").reshape(-1)
    require_same_length(("n", "F"), n, F)
    if not bool((n > math.e).all()):
        raise ValueError("n must be larger than e (log log n must be positive)")
    L = n.log()
    columns = [torch.ones_like(L), L]
    target = F.clone()
    if m is None:
        columns.append(-L.log())
    else:
        target = target + (float(m) - 1) * L.log()
    if correction:
        columns.append(-1 / L)
    X = torch.stack(columns, dim=1)
    if X.shape[0] < X.shape[1]:
        raise ValueError(f"need at least {X.shape[1]} values of n for this fit, got {X.shape[0]}")
    coef = torch.linalg.lstsq(X, target.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    rms = float(((X @ coef - target) ** 2).mean().sqrt())
    fitted_m = float(m) if m is not None else 1 + float(coef[2])
    c = float(coef[-1]) if correction else 0.0
    return LearningCoefficientFit(lam=float(coef[1]), m=fitted_m, c=c, a=float(coef[0]), rms_residual=rms)
