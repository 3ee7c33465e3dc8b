"""Volume scaling: the learning coefficient from how fast ``{w : K(w) < ε}`` shrinks.

``V(ε) = ∫_{K(w) < ε} φ(w) dw = c ε^λ (−log ε)^{m−1} (1 + o(1))`` as ``ε → 0``, with the same
``(λ, m)`` as the free energy: ``V`` is the distribution function of ``K`` under the prior,
whose Mellin transform is the zeta function ``∫ K^z φ dw`` (Watanabe 2009, *Algebraic Geometry
and Statistical Learning Theory*, Cambridge UP, §6.2 and Theorem 7.1). Sampling ``w`` from the
prior and counting how many fall below ``ε`` estimates ``V``.

- :func:`volume_fraction`       the fraction of samples with ``K < ε`` (exercise)
- :func:`volume_exponent`       least-squares ``λ`` from ``log V`` against ``log ε`` (exercise)
- :func:`fit_volume_scaling`    ``λ`` (and ``m``) with standard errors from prior samples of ``K``
- :func:`volume_scaling_box`    the same, sampling ``w`` uniformly from a box
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from slt_lessons.device import default_dtype, get_device
from slt_lessons.validation import as_tensor, require_ndim, require_nonempty, require_same_length

__all__ = ["volume_fraction", "volume_exponent", "VolumeFit", "fit_volume_scaling", "volume_scaling_box"]


def volume_fraction(K_values, eps):
    """The fraction of samples with ``K < ε``, for each ``ε``: ``V̂(ε) = (1/S) Σ_s 1[K(w_s) < ε]``.

    ``K_values`` (shape ``(S,)``) are ``K`` at samples ``w_s`` from the prior, so ``V̂(ε)`` is an
    unbiased estimate of ``V(ε)`` with variance ``V(1 − V)/S``. Returns the shape of ``eps``.
    """
    require_ndim("K_values", K_values, 1)
    below = K_values < eps.unsqueeze(-1)
    return below.to(K_values.dtype).mean(dim=-1)


def volume_exponent(eps, V, m=1):
    """The least-squares ``λ`` in ``log V = log c + λ log ε + (m − 1) log(−log ε)``, ``m`` given.

    ``y = log V − (m − 1) log(−log ε)`` is regressed on ``x = log ε``: ``λ = Σ (x − x̄) y/Σ (x − x̄)²``
    (the same as ``Σ (x − x̄)(y − ȳ)/Σ (x − x̄)²``, since ``Σ (x − x̄) = 0``). Raises a ValueError
    unless ``0 < ε < 1`` when ``m ≠ 1`` (``log(−log ε)`` must exist). Without the log factor the
    slope is too low by about ``(m − 1)/(−log ε)``.
    """
    require_same_length(("eps", "V"), eps, V)
    x, y = eps.log(), V.log()
    if m != 1:  # with m = 1 there is no log factor, and any eps > 0 will do
        if not bool(((eps > 0) & (eps < 1)).all()):
            raise ValueError("eps must lie in (0, 1) when m != 1 (log(−log ε) must exist)")
        y = y - (m - 1) * torch.log(-x)
    x = x - x.mean()
    return (x * y).sum() / (x * x).sum()


@dataclass(frozen=True)
class VolumeFit:
    """A volume-scaling fit: estimates with standard errors, and the data they came from."""

    lam: float
    lam_se: float
    m: float
    m_se: float  # 0 when m was given
    log_c: float
    eps: torch.Tensor
    V: torch.Tensor
    counts: torch.Tensor
    num_samples: int


def _default_eps(K_sorted: torch.Tensor, min_count: int) -> torch.Tensor:
    """16 log-spaced thresholds from about the ``2 min_count``-th smallest ``K`` to the 1 % quantile.

    The ends are snapped inwards to a grid of quarter decades, so that the lowest count is not
    fixed by construction (a threshold placed exactly at a sample would bias ``V̂`` there).
    """
    S = K_sorted.numel()
    if S < 200 * min_count:
        raise ValueError(f"K_values needs at least {200 * min_count} samples for the default eps, got {S}")
    lo, hi = float(K_sorted[2 * min_count]), float(K_sorted[S // 100])
    if not (0 < lo < hi < 1):
        raise ValueError("cannot choose eps in (0, 1) from K_values (too many zeros, or K too large); pass eps")
    lo, hi = math.ceil(4 * math.log10(lo)) / 4, math.floor(4 * math.log10(hi)) / 4
    if not lo < hi:
        raise ValueError("K_values spans less than a quarter decade near 0; pass eps")
    return torch.logspace(lo, hi, 16, dtype=torch.float64, device=K_sorted.device)


def fit_volume_scaling(K_values, eps=None, *, m: float | None = 1, correction: bool = False,
                       min_count: int = 100) -> VolumeFit:
    """Fit ``log V(ε) = log c + λ log ε + (m − 1) log(−log ε)`` to prior samples of ``K``.

    ``K_values``: ``K(w_s)`` for ``S`` independent draws ``w_s ~ φ``. ``eps``: the thresholds
    (default: :func:`_default_eps`, 16 log-spaced values from about the ``2 min_count``-th
    smallest ``K`` to the 1 % quantile).
    ``m``: the multiplicity, or None to fit it too (strongly correlated with ``λ`` over a short
    range of ``ε``: expect a large standard error). ``correction``: add a term ``b/(−log ε)``, the
    first-order form of the next factor ``(1 + b/(−log ε))`` of ``V`` when ``m >= 2``; without it
    ``K = w1² w2²`` (``V = √ε (1 + ½(−log ε))``) gives ``λ̂`` about 6 standard errors high with
    ``10⁶`` samples, with it the error is within the (larger) standard error.

    Generalised least squares with the exact covariance of the counts: the ``V̂(ε_j)`` are
    nested, ``Cov(V̂_i, V̂_j) = (min(V_i, V_j) − V_i V_j)/S``, so to first order
    ``Cov(log V̂_i, log V̂_j) = (1/max(V_i, V_j) − 1)/S`` (delta method). The standard errors are
    those of the GLS estimator under this covariance (Monte Carlo error only: the neglected
    ``o(1)`` in ``V``, e.g. a second pole, is a bias they do not include; choose ``ε`` small enough).
    """
    K_values = as_tensor("K_values", K_values, dtype=torch.float64)
    require_ndim("K_values", K_values, 1)
    require_nonempty("K_values", K_values)
    S = K_values.numel()
    K_sorted = torch.sort(K_values).values
    if eps is None:
        eps = _default_eps(K_sorted, min_count)
    eps = as_tensor("eps", eps, dtype=torch.float64, device=K_values.device)
    require_ndim("eps", eps, 1)
    if not bool(((eps > 0) & (eps < 1)).all()) or not bool((eps[1:] > eps[:-1]).all()):
        raise ValueError("eps must be increasing and lie in (0, 1)")
    counts = torch.searchsorted(K_sorted, eps, right=False)  # number of samples with K < eps
    if int(counts[0]) < 10:
        raise ValueError(f"only {int(counts[0])} samples have K < eps[0]; use a larger eps[0] or more samples")
    V = counts.to(torch.float64) / S

    log_eps = eps.log()
    columns = [torch.ones_like(log_eps), log_eps]
    y = V.log() + (1 - V) / (2 * counts)  # log V̂ is biased low by (1 − V)/(2 S V) (delta method)
    if m is None:
        columns.append(torch.log(-log_eps))
    else:
        y = y - (float(m) - 1) * torch.log(-log_eps)
    if correction:
        columns.append(1 / -log_eps)
    X = torch.stack(columns, dim=1)
    cov = (1 / torch.maximum(V[:, None], V[None, :]) - 1) / S
    cov = cov + 1e-12 * cov.diagonal().max() * torch.eye(len(V), dtype=cov.dtype, device=cov.device)
    chol = torch.linalg.cholesky(cov)
    Xw = torch.linalg.solve_triangular(chol, X, upper=False)
    yw = torch.linalg.solve_triangular(chol, y[:, None], upper=False)
    coef_cov = torch.linalg.inv(Xw.T @ Xw)
    coef = (coef_cov @ Xw.T @ yw).squeeze(1)
    se = coef_cov.diagonal().sqrt()
    fitted_m, m_se = (float(m), 0.0) if m is not None else (1 + float(coef[2]), float(se[2]))
    return VolumeFit(lam=float(coef[1]), lam_se=float(se[1]), m=fitted_m, m_se=m_se, log_c=float(coef[0]),
                     eps=eps, V=V, counts=counts, num_samples=S)


def volume_scaling_box(K: Callable, bounds, num_samples: int, generator: torch.Generator, eps=None, *,
                       m: float | None = 1, correction: bool = False, min_count: int = 100,
                       chunk: int = 1_000_000) -> VolumeFit:
    """:func:`fit_volume_scaling` for ``K`` under the uniform prior on a box.

    ``K`` maps ``w`` of shape ``(B, d)`` to ``(B,)``; ``bounds = [(lo_1, hi_1), ..., (lo_d, hi_d)]``.
    Draws ``num_samples`` points with ``generator`` (in chunks, so memory stays bounded).
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    lo = as_tensor("bounds", [b[0] for b in bounds], dtype=torch.float64)
    hi = as_tensor("bounds", [b[1] for b in bounds], dtype=torch.float64)
    if not bool((hi > lo).all()):
        raise ValueError(f"bounds must be intervals (lo, hi) with lo < hi, got {bounds!r}")
    device = generator.device if generator is not None else get_device()
    dtype = default_dtype(device)
    lo, hi = lo.to(device=device, dtype=dtype), hi.to(device=device, dtype=dtype)
    values = []
    for start in range(0, num_samples, chunk):
        size = min(chunk, num_samples - start)
        u = torch.rand(size, len(lo), generator=generator, device=device, dtype=dtype)
        values.append(K(lo + (hi - lo) * u))
    return fit_volume_scaling(torch.cat(values), eps, m=m, correction=correction, min_count=min_count)
