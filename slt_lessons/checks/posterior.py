"""Checks of lesson 1 (Bayesian posteriors): likelihoods, normalisation, summaries, sampling.

Tolerances. float64: every quantity is a sum of at most ~10⁵ terms of size ≤ 10⁶, so
round-off is ≤ 1e-16 · 10⁵ · 10⁶ ≈ 1e-5 absolute in the worst case and ~1e-12 relative for
typical sums; ``rtol=1e-9, atol=1e-8`` leaves a margin of ~10³ over a differently ordered sum
and still catches any missing factor. float32 cases: round-off ~ 6e-8 relative per operation,
accumulated over ≤ 2000 terms, gives ~1e-4 relative; we allow ``rtol=1e-4``.
"""

from __future__ import annotations

import math

import torch

from slt_lessons import models, posterior
from slt_lessons.checks.registry import Case, Exercise, register, scalar_close, tensor_close

F64 = torch.float64


def _gen(seed, device):
    return torch.Generator(device="cpu").manual_seed(seed)


def _randn(shape, seed, device, dtype=F64, scale=1.0):
    return (scale * torch.randn(shape, generator=_gen(seed, device), dtype=F64)).to(device=device, dtype=dtype)


# ------------------------------------------------------------------ gaussian_log_likelihood


def _gll_cases(suite, device):
    if suite == "visible":
        return [
            Case("y = 0.5, mean = 0, sigma = 1 (scalars as 0-d tensors)",
                 dict(y=torch.tensor(0.5, dtype=F64, device=device), mean=torch.tensor(0.0, dtype=F64, device=device), sigma=1.0)),
            Case("10 points, sigma = 0.3", dict(y=_randn(10, 1, device), mean=_randn(10, 2, device), sigma=0.3)),
        ]
    return [
        Case("y of shape (5, 7), mean broadcast from (7,), sigma = 2.5",
             dict(y=_randn((5, 7), 11, device, scale=3), mean=_randn(7, 12, device), sigma=2.5)),
        Case("1000 points far from the mean, sigma = 0.01", dict(y=_randn(1000, 13, device, scale=5), mean=_randn(1000, 14, device), sigma=0.01)),
        Case("float32, 100 points, sigma = 0.7",
             dict(y=_randn(100, 15, device, torch.float32), mean=_randn(100, 16, device, torch.float32), sigma=0.7)),
    ]


register(Exercise(
    id="posterior.gaussian_log_likelihood",
    reference=models.gaussian_log_likelihood,
    cases=_gll_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-10, rtol32=1e-5, atol32=1e-4),
    notes="Elementwise formula: float64 round-off ~1e-15 relative; float32 ~1e-6.",
))


# ------------------------------------------------------------------ product_log_likelihood


def _pll_case(label, n, seed, device, grid=(21, 21), sigma=0.5, dtype=F64, true_c=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=F64)
    y = true_c * x + sigma * torch.randn(n, generator=g, dtype=F64)
    a = torch.linspace(-2, 2, grid[0], dtype=F64).unsqueeze(1)
    b = torch.linspace(-1.5, 1.5, grid[1], dtype=F64).unsqueeze(0)
    to = dict(device=device, dtype=dtype)
    return Case(label, dict(a=a.to(**to), b=b.to(**to), x=x.to(**to), y=y.to(**to), sigma=sigma))


def _pll_cases(suite, device):
    if suite == "visible":
        return [
            _pll_case("n = 5, a on (21, 1) and b on (1, 21) (broadcast to a 21x21 grid), sigma = 0.5", 5, 1, device),
            _pll_case("n = 50, true ab = 0.8, sigma = 1", 50, 2, device, sigma=1.0, true_c=0.8),
        ]
    return [
        _pll_case("n = 2000, 41x31 grid, sigma = 0.2", 2000, 21, device, grid=(41, 31), sigma=0.2),
        _pll_case("n = 1, sigma = 3", 1, 22, device, sigma=3.0),
        _pll_case("float32, n = 500, sigma = 0.5", 500, 23, device, dtype=torch.float32),
    ]


register(Exercise(
    id="posterior.product_log_likelihood",
    reference=models.product_log_likelihood,
    cases=_pll_cases,
    judge=tensor_close(rtol=1e-9, atol=1e-7, rtol32=1e-4, atol32=1e-2),
    notes=(
        "A sum of n ≤ 2000 terms of size ≤ 10⁴ (sigma = 0.2): float64 round-off ≲ 1e-9 absolute whatever the "
        "order of summation (sufficient statistics or a direct sum). float32: ~6e-8·√n·|sum| ≈ 1e-4 relative."
    ),
))


# ------------------------------------------------------------------ normalize_log_density


def _grid_density(seed, shape, device, scale, dtype=F64, uneven=False):
    g = torch.Generator().manual_seed(seed)
    # an uneven grid (cells from ~0.3x to ~3x the mean width) makes the trapezoid weights matter
    grids = [torch.sinh(2 * torch.linspace(-1, 1, s, dtype=F64)) / math.sinh(2) if uneven
             else torch.linspace(-1, 1, s, dtype=F64) for s in shape]
    lw = posterior.grid_log_weights(*grids)
    centre = [0.4 * (2 * torch.rand((), generator=g, dtype=F64) - 1) for _ in shape]
    mesh = torch.meshgrid(*grids, indexing="ij")
    quad = sum((m - c) ** 2 for m, c in zip(mesh, centre))
    logd = -scale * quad + 0.3 * torch.randn(shape, generator=g, dtype=F64) - 7.0
    return logd.to(device=device, dtype=dtype), lw.to(device=device, dtype=dtype), [m.to(device=device, dtype=dtype) for m in mesh]


def _norm_cases(suite, device):
    def case(label, seed, shape, scale, dtype=F64, shift=0.0):
        logd, lw, _ = _grid_density(seed, shape, device, scale, dtype)
        return Case(label, dict(log_density=logd + shift, log_weights=lw))
    if suite == "visible":
        return [case("1-D grid of 11 points, moderate values", 1, (11,), 3.0),
                case("2-D grid 9x7", 2, (9, 7), 5.0)]
    return [case("1-D grid of 201 points, log-density around -1e6 (exp underflows)", 31, (201,), 50.0, shift=-1e6),
            case("2-D grid 60x50, log-density around +800 (exp overflows)", 32, (60, 50), 20.0, shift=800.0),
            case("float32 2-D grid 30x30", 33, (30, 30), 10.0, torch.float32)]


register(Exercise(
    id="posterior.normalize_log_density",
    reference=posterior.normalize_log_density,
    cases=_norm_cases,
    judge=tensor_close(rtol=1e-11, atol=1e-9, rtol32=1e-5, atol32=1e-3),
    notes=(
        "Output = input − a constant; with inputs up to 1e6 in size float64 round-off is ~1e-10 absolute, hence "
        "atol=1e-9; float32 inputs of size ~100 carry ~1e-5 absolute error, we allow 1e-3."
    ),
))


# ------------------------------------------------------------------ tempered_log_posterior


def _temp_cases(suite, device):
    def case(label, seed, shape, beta, dtype=F64, n_scale=1.0):
        logd, lw, _ = _grid_density(seed, shape, device, 30.0, dtype)
        loglik = n_scale * logd
        g = torch.Generator().manual_seed(seed + 100)
        logprior = (-0.5 * torch.rand(shape, generator=g, dtype=F64)).to(device=device, dtype=dtype)
        return Case(label, dict(log_likelihood=loglik, log_prior=logprior, beta=beta, log_weights=lw))
    if suite == "visible":
        return [case("1-D grid of 21 points, beta = 1", 3, (21,), 1.0),
                case("2-D grid 15x15, beta = 0.25", 4, (15, 15), 0.25)]
    return [case("2-D grid 80x80, beta = 1/log(1e6), log-likelihood ~ -1e6", 41, (80, 80), 1 / math.log(1e6), n_scale=3e4),
            case("1-D grid of 301 points, beta = 3", 42, (301,), 3.0),
            case("float32 1-D grid of 101 points, beta = 0.5", 43, (101,), 0.5, torch.float32)]


register(Exercise(
    id="posterior.tempered_log_posterior",
    reference=posterior.tempered_log_posterior,
    cases=_temp_cases,
    judge=tensor_close(rtol=1e-11, atol=1e-8, rtol32=1e-5, atol32=1e-3),
    notes="As for normalize_log_density, with log-likelihoods up to ~1e6 in size (float64 absolute ~1e-10).",
))


# ------------------------------------------------------------------ posterior_mean


def _mean_cases(suite, device):
    def case(label, seed, shape, coord, dtype=F64, square=False):
        logd, lw, mesh = _grid_density(seed, shape, device, 8.0, dtype)
        logp = posterior.normalize_log_density(logd, lw)
        values = mesh[coord] ** 2 if square else mesh[coord]
        return Case(label, dict(log_posterior=logp, values=values, log_weights=lw))
    if suite == "visible":
        return [case("1-D grid of 51 points, g(w) = w", 5, (51,), 0),
                case("2-D grid 31x21, g(w) = w2", 6, (31, 21), 1)]
    return [case("2-D grid 101x99, g(w) = w1", 51, (101, 99), 0),
            case("1-D grid of 400 points, g(w) = w^2", 52, (400,), 0, square=True),
            case("float32 2-D grid 40x40, g(w) = w2", 53, (40, 40), 1, torch.float32)]


register(Exercise(
    id="posterior.posterior_mean",
    reference=posterior.posterior_mean,
    cases=_mean_cases,
    judge=scalar_close(rtol=1e-10, atol=1e-12, rtol32=1e-4, atol32=1e-5),
    notes="A weighted sum of ≤ 10⁴ terms of size ≤ 1: float64 round-off ~1e-13; float32 ~1e-6, allowed 1e-5.",
))


# ------------------------------------------------------------------ credible_threshold


def _cred_cases(suite, device):
    def case(label, seed, shape, level, dtype=F64):
        logd, lw, _ = _grid_density(seed, shape, device, 6.0, dtype)
        return Case(label, dict(log_posterior=posterior.normalize_log_density(logd, lw), log_weights=lw, level=level))
    if suite == "visible":
        return [case("1-D grid of 41 points, level 0.9", 7, (41,), 0.9),
                case("2-D grid 25x25, level 0.5", 8, (25, 25), 0.5)]
    return [case("2-D grid 90x70, level 0.95", 61, (90, 70), 0.95),
            case("1-D grid of 500 points, level 0.99", 62, (500,), 0.99),
            case("1-D grid of 100 points, level 0.1", 63, (100,), 0.1)]


register(Exercise(
    id="posterior.credible_threshold",
    reference=posterior.credible_threshold,
    cases=_cred_cases,
    judge=scalar_close(rtol=0.0, atol=1e-9),
    notes=(
        "The threshold is one of the grid's log-densities, chosen by a cumulative sum; densities carry random "
        "noise so no two cells tie and no cumulative mass sits within 1e-9 of the level: any correct ordering "
        "picks the same cell, so the comparison is exact up to round-off."
    ),
))


# ------------------------------------------------------------------ sample_grid (statistical)

N_SAMPLES = 200_000
FALSE_FAILURE = 1e-7


def _sample_cases(suite, device):
    def case(label, seed, shape, scale):
        logd, lw, _ = _grid_density(seed, shape, device, scale, uneven=True)
        g = torch.Generator(device=device).manual_seed(1000 + seed)
        return Case(label, dict(log_posterior=posterior.normalize_log_density(logd, lw), log_weights=lw,
                                n_samples=N_SAMPLES, generator=g))
    if suite == "visible":
        return [case(f"uneven 1-D grid of 30 points, {N_SAMPLES} samples", 9, (30,), 4.0)]
    return [case(f"uneven 2-D grid 12x10, {N_SAMPLES} samples", 71, (12, 10), 3.0),
            case(f"uneven 1-D grid of 60 points, sharply peaked, {N_SAMPLES} samples", 72, (60,), 40.0)]


def _judge_samples(case: Case, expected, got) -> str | None:
    """Hoeffding + union bound: P(any |count_j/N − q_j| ≥ t) ≤ 2 K exp(−2 N t²) =: FALSE_FAILURE."""
    if not isinstance(got, torch.Tensor):
        return f"result: expected a tensor of indices, got {type(got).__name__}"
    if got.dtype not in (torch.int64, torch.int32):
        return f"result: expected integer indices (torch.int64), got dtype {got.dtype}"
    if tuple(got.shape) != (N_SAMPLES,):
        return f"result: expected shape ({N_SAMPLES},) (one flat index per sample), got {tuple(got.shape)}"
    q = torch.exp(case.kwargs["log_posterior"] + case.kwargs["log_weights"]).flatten().double().cpu()
    K = q.numel()
    g = got.cpu().long()
    if int(g.min()) < 0 or int(g.max()) >= K:
        return f"result: indices must lie in 0..{K - 1} (flat indices of the grid), got range {int(g.min())}..{int(g.max())}"
    return judge_counts(q, torch.bincount(g, minlength=K))


def judge_counts(q: torch.Tensor, counts: torch.Tensor) -> str | None:
    """The decision of :func:`_judge_samples` from the number of draws of each cell."""
    K = q.numel()
    freq = counts.double() / N_SAMPLES
    t = math.sqrt(math.log(2 * K / FALSE_FAILURE) / (2 * N_SAMPLES))
    dev = (freq - q).abs()
    j = int(torch.argmax(dev))
    if float(dev[j]) >= t:
        return (f"the sample frequencies do not follow the cell masses p_j v_j: cell {j} was drawn with frequency "
                f"{float(freq[j]):.5f} but has mass {float(q[j]):.5f} (a correct sampler differs by less than "
                f"{t:.4f} except with probability {FALSE_FAILURE:g})")
    return None


register(Exercise(
    id="posterior.sample_grid",
    reference=posterior.sample_grid,
    cases=_sample_cases,
    judge=_judge_samples,
    notes=(
        f"Statistical: each cell's frequency must lie within t of its mass, t from Hoeffding's inequality with a "
        f"union bound over the K cells, so a correct sampler fails a case with probability at most {FALSE_FAILURE:g} "
        f"(any RNG, any draw order)."
    ),
))
