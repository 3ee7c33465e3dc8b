"""Tempered posteriors on 1-D and 2-D grids, normalised in log space.

The tempered posterior (Watanabe 2018, *Mathematical Theory of Bayesian Statistics*, §1.2) is

    p_β(w | D_n) = φ(w) ∏_i p(y_i | x_i, w)^β / Z_n(β).

On a grid it is a table of log-densities; integrals become weighted sums
``∫ g(w) dw ≈ Σ_j g(w_j) v_j`` with trapezoid weights ``v_j`` (:func:`grid_log_weights`).
Everything is kept as logarithms and normalised with ``logsumexp``: a log-likelihood of −10⁶
never reaches ``exp``.

A grid resolves a posterior only if the posterior spans many cells: at large n it
concentrates on a width ~ n^(−1/2) (regular) and a grid coarser than that puts all its mass
in one or two cells (:func:`effective_cells` measures this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from slt_lessons import models
from slt_lessons.validation import as_tensor, require_finite, require_increasing, require_positive

__all__ = [
    "normalize_log_density",
    "tempered_log_posterior",
    "posterior_mean",
    "credible_threshold",
    "credible_volume_exponent",
    "sample_grid",
    "grid_log_weights",
    "effective_cells",
    "GridPosterior",
    "grid_posterior",
]


# --------------------------------------------------------------------------- exercise-sized steps


def normalize_log_density(log_density, log_weights):
    """Normalise a log-density on a grid: ``log p_j − log Σ_k exp(log p_k + log v_k)``.

    Afterwards ``Σ_j exp(out_j) v_j = 1``. Computed with ``logsumexp``, so it works for
    log-densities of any magnitude (e.g. −10⁶ at n = 10⁶).
    """
    return log_density - torch.logsumexp((log_density + log_weights).flatten(), dim=0)


def tempered_log_posterior(log_likelihood, log_prior, beta, log_weights):
    """The normalised tempered log-posterior ``log φ + β·log-likelihood − log Z_n(β)`` on a grid.

    ``log Z_n(β) = log Σ_j exp(log φ_j + β ℓ_j + log v_j)``, by ``logsumexp``.
    """
    unnormalised = log_prior + beta * log_likelihood
    return unnormalised - torch.logsumexp((unnormalised + log_weights).flatten(), dim=0)


def posterior_mean(log_posterior, values, log_weights):
    """``E[g(w)] = Σ_j g(w_j) p(w_j) v_j`` for a normalised log-posterior and ``values = g(w_j)``."""
    return (values * torch.exp(log_posterior + log_weights)).sum()


def credible_threshold(log_posterior, log_weights, level):
    """The log-density threshold of the highest-density credible region of mass ``level``.

    Cells are taken in order of decreasing density until their mass ``Σ p_j v_j`` reaches
    ``level``; the threshold is the log-density of the last cell taken, so the region is
    ``{w_j : log p(w_j) ≥ threshold}``. On an uneven grid the order (by density) and the sum (of
    masses) differ: sorting by mass would prefer wide cells to dense ones. When round-off leaves the
    total mass just below ``level`` (e.g. ``level = 1``), the last cell is taken.
    """
    order = torch.argsort(log_posterior.flatten(), descending=True)
    mass = torch.exp(log_posterior + log_weights).flatten()[order]
    k = torch.searchsorted(torch.cumsum(mass, dim=0), level)  # the first cell where the sum reaches level
    k = torch.clamp(k, max=mass.numel() - 1)  # round-off can leave the total just below level
    return log_posterior.flatten()[order][k]


def sample_grid(log_posterior, log_weights, n_samples, generator):
    """Draw ``n_samples`` flat indices of grid cells with probabilities ``p_j v_j``."""
    probs = torch.exp(log_posterior + log_weights).flatten()
    return torch.multinomial(probs, n_samples, replacement=True, generator=generator)


def credible_volume_exponent(powers, coefficients):
    """The exponent λ with which the posterior's credible regions shrink: their volume ∝ n^(−λ).

    The posterior is ``p(w) ∝ exp(−n K(w))`` on a box around the origin (a flat prior), with
    ``K(w) = Σ_i c_i w_i^(p_i)``: ``powers[i] = p_i`` is a positive even integer, or 0 when K does not
    depend on ``w_i``; ``coefficients[i] = c_i > 0``. Returns λ (a number) such that the volume of
    the highest-density region of any fixed level is proportional to ``n^(−λ)`` as n → ∞.
    λ is the learning coefficient of K: the volume of ``{K < ε}`` is proportional to ``ε^λ``
    (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*).
    """
    # Substituting w_i = n^(−1/p_i) u_i turns n c_i w_i^(p_i) into c_i u_i^(p_i), free of n: the region
    # is a fixed region in u, whose width along w_i shrinks like n^(−1/p_i). The posterior of a sum is a
    # product over coordinates, so the volume is the product of the widths: λ = Σ_{p_i > 0} 1/p_i.
    # A coordinate that K ignores keeps the box's width (exponent 0); the c_i only set the constant.
    return sum(1 / p for p in powers if p != 0)


# --------------------------------------------------------------------------- grids


def grid_log_weights(*grids) -> torch.Tensor:
    """Log trapezoid weights of a product grid: shape ``(len(g1), len(g2), ...)``.

    For a 1-D grid ``w_0 < ... < w_{G−1}``: ``v_j = (w_{j+1} − w_{j−1})/2`` inside and half a cell
    at the ends. A product grid's weight is the product of the 1-D weights.
    """
    if not grids:
        raise ValueError("grid_log_weights needs at least one grid")
    logs = []
    for i, g in enumerate(grids):
        g = require_increasing(f"grids[{i}]", as_tensor(f"grids[{i}]", g))
        d = g[1:] - g[:-1]
        v = torch.zeros_like(g)
        v[:-1] += d / 2
        v[1:] += d / 2
        logs.append(torch.log(v))
    out = logs[0]
    for lw in logs[1:]:
        out = out.unsqueeze(-1) + lw
    return out


def effective_cells(log_posterior, log_weights) -> float:
    """``exp(entropy)`` of the cell masses: how many grid cells the posterior really occupies.

    Around 1–3 means the grid is too coarse to resolve the posterior: refine or zoom in.
    """
    logm = (log_posterior + log_weights).flatten()
    logm = logm - torch.logsumexp(logm, 0)
    m = torch.exp(logm)
    return float(torch.exp(-(m * torch.where(m > 0, logm, torch.zeros_like(logm))).sum()))


# --------------------------------------------------------------------------- the whole posterior


@dataclass(frozen=True)
class GridPosterior:
    """A normalised tempered posterior on a 1-D or 2-D grid.

    ``log_density[j]`` is ``log p_β(w_j | D_n)``; ``log_weights`` the trapezoid weights.
    ``grids`` are the 1-D axes; ``mesh`` the coordinates of every grid point (indexing "ij").
    """

    grids: tuple[torch.Tensor, ...]
    log_density: torch.Tensor
    log_weights: torch.Tensor
    beta: float

    @property
    def mesh(self) -> tuple[torch.Tensor, ...]:
        return torch.meshgrid(*self.grids, indexing="ij")

    def mass(self) -> torch.Tensor:
        """Probability of each cell, ``p_j v_j`` (sums to 1)."""
        return torch.exp(self.log_density + self.log_weights)

    def mean(self) -> torch.Tensor:
        """Posterior mean of the parameters, shape (d,)."""
        return torch.stack([posterior_mean(self.log_density, c, self.log_weights) for c in self.mesh])

    def marginal(self, axis: int) -> torch.Tensor:
        """Marginal density along one axis of a 2-D grid (integrates to 1 on ``grids[axis]``)."""
        if len(self.grids) == 1:
            return torch.exp(self.log_density)
        other = 1 - axis
        m = self.mass().sum(dim=other)
        return m / torch.exp(grid_log_weights(self.grids[axis]))

    def credible_region(self, level: float = 0.95) -> torch.Tensor:
        """Boolean mask of the highest-density region holding ``level`` of the mass."""
        if not 0 < level < 1:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
        t = credible_threshold(self.log_density, self.log_weights, level)
        return self.log_density >= t

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw parameters, shape (n_samples, d): a cell by its mass, then uniformly within it.

        The within-cell jitter is half a cell each way (clamped to the grid), so samples are not
        stuck on grid points.
        """
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
        flat = sample_grid(self.log_density, self.log_weights, n_samples, generator)
        idx = torch.unravel_index(flat, self.log_density.shape)
        out = []
        for g, i in zip(self.grids, idx):
            lo = torch.where(i > 0, (g[i - 1] + g[i]) / 2, g[i])
            hi = torch.where(i < g.numel() - 1, (g[torch.clamp(i + 1, max=g.numel() - 1)] + g[i]) / 2, g[i])
            u = torch.rand(i.shape, generator=generator, dtype=g.dtype, device=g.device)
            out.append(lo + u * (hi - lo))
        return torch.stack(out, dim=-1)

    def predictive(self, x, f: Callable, sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior predictive mean and variance of ``y`` at inputs ``x``.

        ``f(x, *w)`` is the model mean, called with the grid coordinates (broadcast against
        x, which gets a trailing axis). Variance = σ² + Var_w[f(x, w)].
        """
        sigma = require_positive("sigma", sigma)
        x = as_tensor("x", x, dtype=self.log_density.dtype, device=self.log_density.device)
        mass = self.mass().unsqueeze(-1)
        fx = f(x, *[c.unsqueeze(-1) for c in self.mesh])
        dims = tuple(range(len(self.grids)))
        mean = (mass * fx).sum(dims)
        var = (mass * (fx - mean) ** 2).sum(dims) + sigma**2
        return mean, var

    def effective_cells(self) -> float:
        return effective_cells(self.log_density, self.log_weights)


def grid_posterior(
    log_likelihood: Callable[..., torch.Tensor] | torch.Tensor,
    grids: Sequence,
    *,
    log_prior: Callable[..., torch.Tensor] | torch.Tensor | None = None,
    beta: float = 1.0,
) -> GridPosterior:
    """The tempered posterior on the product grid of ``grids`` (one or two 1-D increasing tensors).

    ``log_likelihood`` is a table on the grid, or a function of the mesh coordinates
    (e.g. ``lambda a, b: models.product_log_likelihood(a, b, x, y, sigma)``); so is
    ``log_prior`` (default: flat on the grid's box).
    """
    if isinstance(grids, torch.Tensor) and grids.ndim == 1:
        grids = (grids,)
    grids = tuple(
        require_increasing(f"grids[{i}]", as_tensor(f"grids[{i}]", g)) for i, g in enumerate(grids)
    )
    if len(grids) not in (1, 2):
        raise ValueError(f"grids must hold one or two 1-D grids, got {len(grids)}")
    beta = require_positive("beta", beta)
    mesh = torch.meshgrid(*grids, indexing="ij")
    shape = tuple(g.numel() for g in grids)

    def table(name, value, default):
        if value is None:
            return default
        t = value(*mesh) if callable(value) else as_tensor(name, value, device=grids[0].device)
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have the grid's shape {shape}, got {tuple(t.shape)}")
        t = t.to(grids[0].dtype)
        if bool(torch.isnan(t).any()):
            raise ValueError(f"{name} has NaN entries on the grid")
        return t

    loglik = table("log_likelihood", log_likelihood, None)
    logprior = table("log_prior", log_prior, torch.zeros(shape, dtype=grids[0].dtype, device=grids[0].device))
    if not bool(torch.isfinite(loglik).any()):
        raise ValueError("log_likelihood is -inf or infinite everywhere on the grid")
    lw = grid_log_weights(*grids)
    return GridPosterior(grids, tempered_log_posterior(loglik, logprior, beta, lw), lw, beta)


def log_normal_prior(*coords, scale: float = 1.0) -> torch.Tensor:
    """``log φ`` of independent ``N(0, scale²)`` priors, summed over the given coordinates."""
    scale = require_positive("scale", scale)
    return sum(-0.5 * (c / scale) ** 2 - math.log(scale) - 0.5 * models.LOG_2PI for c in coords)


__all__.append("log_normal_prior")
