"""Checks of lesson 1 (Bayesian posteriors): likelihoods, normalisation, summaries, sampling.

Tolerances. float64: every quantity is a sum of at most ~10⁵ terms of size ≤ 10⁶, so
round-off is ≤ 1e-16 · 10⁵ · 10⁶ ≈ 1e-5 absolute in the worst case and ~1e-12 relative for
typical sums; ``rtol=1e-9, atol=1e-8`` leaves a margin of ~10³ over a differently ordered sum
and still catches any missing factor. float32 cases: round-off ~ 6e-8 relative per operation,
accumulated over ≤ 2000 terms, gives ~1e-4 relative; we allow ``rtol=1e-4``.
"""

from __future__ import annotations

import math
import numbers
import threading

import torch

from slt_lessons import models, posterior
from slt_lessons.checks.registry import Case, Exercise, describe, register, scalar_close, tensor_close

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
            Case("y of shape (3, 4) and mean of shape (4,): broadcast, sigma = 0.8",
                 dict(y=_randn((3, 4), 5, device), mean=_randn(4, 6, device), sigma=0.8)),
            Case("float32 inputs, 20 points, sigma = 1.5: the result must stay float32",
                 dict(y=_randn(20, 3, device, torch.float32), mean=_randn(20, 4, device, torch.float32), sigma=1.5)),
        ]
    return [
        Case("a 2-D y and a 1-D mean that broadcasts against it, a large sigma",
             dict(y=_randn((5, 7), 11, device, scale=3), mean=_randn(7, 12, device), sigma=2.5)),
        Case("many points far from the mean, a tiny sigma (large log-densities)", dict(y=_randn(1000, 13, device, scale=5), mean=_randn(1000, 14, device), sigma=0.01)),
        Case("float32 inputs: the result must stay float32",
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
        _pll_case("a large data set on a non-square 2-D grid, small sigma", 2000, 21, device, grid=(41, 31), sigma=0.2),
        _pll_case("a single data point, large sigma", 1, 22, device, sigma=3.0),
        _pll_case("float32 inputs, a medium data set", 500, 23, device, dtype=torch.float32),
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
                case("2-D grid 9x7", 2, (9, 7), 5.0),
                case("1-D grid of 51 points, log-density around -1e6 (exp underflows to 0)", 3, (51,), 20.0, shift=-1e6),
                case("2-D grid 20x15, log-density around +800 (exp overflows to inf)", 4, (20, 15), 10.0, shift=800.0)]
    return [case("a fine 1-D grid, log-density so negative that exp underflows", 31, (201,), 50.0, shift=-3e5),
            case("a non-square 2-D grid, log-density so large that exp overflows", 32, (60, 50), 20.0, shift=2000.0),
            case("float32 inputs on a 2-D grid", 33, (30, 30), 10.0, torch.float32)]


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
                case("2-D grid 15x15, beta = 0.25 (flattens)", 4, (15, 15), 0.25),
                case("1-D grid of 31 points, beta = 2.5 (sharpens)", 5, (31,), 2.5)]
    return [case("strong tempering (beta the inverse of log n) on a 2-D grid, a huge log-likelihood", 41, (80, 80), 1 / math.log(1e6), n_scale=3e4),
            case("a fine 1-D grid, strong sharpening (beta above one)", 42, (301,), 3.0),
            case("float32 inputs, flattening (beta below one)", 43, (101,), 0.5, torch.float32)]


register(Exercise(
    id="posterior.tempered_log_posterior",
    reference=posterior.tempered_log_posterior,
    cases=_temp_cases,
    judge=tensor_close(rtol=1e-11, atol=1e-8, rtol32=1e-5, atol32=1e-3),
    notes="As for normalize_log_density, with log-likelihoods up to ~1e6 in size (float64 absolute ~1e-10).",
))


# ------------------------------------------------------------------ posterior_mean


def _zero_d(expected, got) -> str | None:
    """The text asks for a 0-d tensor of the inputs' dtype and device (the demos call ``.item()`` and do
    tensor arithmetic with it): a Python float, a shape (1,) tensor or another dtype is named as such."""
    if not isinstance(got, torch.Tensor):
        return (f"result: expected a 0-d tensor (e.g. what `.sum()` returns), got {describe(got)}; "
                "keep it a tensor: do not call `.item()` or `float()`")
    if got.ndim != 0:
        return f"result: expected a 0-d tensor (shape ()), got shape {tuple(got.shape)}; e.g. `.sum()` over all entries, or `.squeeze()`"
    if got.dtype != expected.dtype:
        return f"result: wrong dtype: expected {expected.dtype} (the inputs' dtype), got {got.dtype}"
    if got.device.type != expected.device.type:
        return f"result: wrong device: expected {expected.device.type} (the inputs' device), got {got.device.type}"
    return None


def _zero_d_close(**tolerances):
    close = scalar_close(**tolerances)
    return lambda case, expected, got: _zero_d(expected, got) or close(case, expected, got)


def _mean_cases(suite, device):
    def case(label, seed, shape, coord, dtype=F64, square=False):
        logd, lw, mesh = _grid_density(seed, shape, device, 8.0, dtype)
        logp = posterior.normalize_log_density(logd, lw)
        values = mesh[coord] ** 2 if square else mesh[coord]
        return Case(label, dict(log_posterior=logp, values=values, log_weights=lw))
    if suite == "visible":
        return [case("1-D grid of 51 points, g(w) = w", 5, (51,), 0),
                case("2-D grid 31x21, g(w) = w2", 6, (31, 21), 1),
                case("float32 1-D grid of 41 points, g(w) = w: the result is a float32 0-d tensor", 7, (41,), 0, torch.float32)]
    return [case("a large non-square 2-D grid, g = the first coordinate", 51, (101, 99), 0),
            case("a fine 1-D grid, g nonlinear (a square)", 52, (400,), 0, square=True),
            case("float32 inputs on a 2-D grid, g = the second coordinate", 53, (40, 40), 1, torch.float32)]


register(Exercise(
    id="posterior.posterior_mean",
    reference=posterior.posterior_mean,
    cases=_mean_cases,
    judge=_zero_d_close(rtol=1e-10, atol=1e-12, rtol32=1e-4, atol32=1e-5),
    notes=("A weighted sum of ≤ 10⁴ terms of size ≤ 1: float64 round-off ~1e-13; float32 ~1e-6, allowed 1e-5. "
           "The result must be a 0-d tensor of the inputs' dtype, as the text asks (every case checks it)."),
))


# ------------------------------------------------------------------ credible_threshold


def _cred_cases(suite, device):
    # uneven grids (cells from ~0.3x to ~3x the mean width): ordering by mass p_j v_j instead of by
    # density p_j, or summing densities instead of masses, picks another cell
    def case(label, seed, shape, level, dtype=F64, scale=6.0):
        logd, lw, _ = _grid_density(seed, shape, device, scale, dtype, uneven=True)
        return Case(label, dict(log_posterior=posterior.normalize_log_density(logd, lw), log_weights=lw, level=level))
    if suite == "visible":
        return [case("uneven 1-D grid of 41 points, level 0.9", 7, (41,), 0.9),
                case("uneven 2-D grid 25x25, level 0.5", 8, (25, 25), 0.5),
                case("uneven 1-D grid of 30 points, level 1.0: the whole grid (the masses add up to just below 1)",
                     1, (30,), 1.0, scale=0.5),
                case("float32, uneven 2-D grid 20x20, level 0.8: the result is a float32 0-d tensor", 10, (20, 20), 0.8,
                     torch.float32)]
    return [case("uneven 2-D grid, a high level", 61, (90, 70), 0.95),
            case("uneven 1-D grid, a level close to one", 62, (500,), 0.99),
            case("uneven 1-D grid, a low level", 63, (100,), 0.1),
            case("float32, uneven 2-D grid, a middle level", 64, (40, 30), 0.7, torch.float32)]


def _threshold_by(order_key, log_posterior, masses, level):
    """The log-density where the running sum of ``masses``, in decreasing order of ``order_key``, reaches ``level``."""
    order = torch.argsort(order_key.flatten(), descending=True)
    k = int(torch.searchsorted(torch.cumsum(masses.flatten()[order], 0), float(level)))
    return log_posterior.flatten()[order][min(k, order.numel() - 1)], order, k


def _threshold_mistakes(log_posterior, log_weights, level):
    """What plausible mistakes return on this input: (explanation, their result)."""
    lp, lw = log_posterior.double(), log_weights.double()
    mass = torch.exp(lp + lw)
    right, order, k = _threshold_by(lp, lp, mass, level)
    last = order.numel() - 1
    return [
        ("the cells were ordered by their mass p_j v_j; order them by density p_j (the log-posterior), and add "
         "up masses in that order: on an uneven grid a wide cell of low density can have a large mass, but a "
         "highest-density region takes the densest cells first", _threshold_by(lp + lw, lp, mass, level)[0]),
        ("the densities p_j were added up instead of the masses p_j v_j = exp(log p_j + log v_j): the weights "
         "v_j turn a density into the probability of a cell", _threshold_by(lp, lp, torch.exp(lp), level)[0]),
        ("the cells were taken in increasing order of density; a highest-density region starts from the densest "
         "cell", _threshold_by(-lp, lp, mass, level)[0]),
        ("that is the log-density of the cell before the one where the running sum reaches the level; that "
         "last cell is needed, so it belongs to the region", lp.flatten()[order][max(min(k, last) - 1, 0)]),
        ("that is the log-density of the cell after the one where the running sum reaches the level; the "
         "region stops at the first cell where the sum reaches the level", lp.flatten()[order][min(k + 1, last)]),
        ("that is a density, not a log-density: return the log-posterior's value at the last cell",
         torch.exp(right)),
    ]


def _judge_threshold(case: Case, expected, got) -> str | None:
    message = _zero_d_close(rtol=0.0, atol=1e-9, atol32=1e-6)(case, expected, got)
    if message is None or _zero_d(expected, got) is not None:
        return message
    g = float(got.item() if isinstance(got, torch.Tensor) else got)
    for why, value in _threshold_mistakes(**case.kwargs):
        if abs(float(value) - g) <= 1e-6 and abs(float(value) - float(expected)) > 1e-6:
            return f"{message}\n{why}"
    return message


register(Exercise(
    id="posterior.credible_threshold",
    reference=posterior.credible_threshold,
    cases=_cred_cases,
    judge=_judge_threshold,
    notes=(
        "The threshold is one of the grid's log-densities, chosen by a cumulative sum; densities carry random "
        "noise so no two cells tie, and no cumulative mass lies within 1e-9 of the level (1e-4 in float32, "
        "where a sum of 1200 terms is good to ~1e-5; tests/test_checks_posterior.py checks both), so any correct summation order picks the same cell and the comparison is "
        "exact up to round-off (float32: the value itself is a float32, 1e-6 absolute). The grids are uneven, "
        "so ordering by mass instead of density, or ignoring the weights, picks another cell. At level 1.0 "
        "every correct answer is the smallest log-density (each cell holds over 1% of the mass, far above "
        "round-off). A wrong answer that matches a known mistake gets that mistake's explanation."
    ),
))


# ------------------------------------------------------------------ sample_grid (statistical)

N_SAMPLES = 200_000
FALSE_FAILURE = 1e-7
SAME_SEED = "the same input and the same generator seed again: the draws must repeat exactly (all randomness from `generator`)"
OTHER_SEED = "the same input with another generator seed: the draws must change"
# A suite's first draws on a grid, for the two cases compared with them; per thread, since grading
# judges several submissions at once in threads (each submission's suites in one thread, in order).
_FIRST_DRAWS = threading.local()


def _sample_cases(suite, device):
    def case(label, seed, shape, scale, gen_seed=None):
        logd, lw, _ = _grid_density(seed, shape, device, scale, uneven=True)
        g = torch.Generator(device=device).manual_seed(1000 + seed if gen_seed is None else gen_seed)
        return Case(label, dict(log_posterior=posterior.normalize_log_density(logd, lw), log_weights=lw,
                                n_samples=N_SAMPLES, generator=g))
    if suite == "visible":
        return [case(f"uneven 1-D grid of 30 points, {N_SAMPLES} samples", 9, (30,), 4.0),
                case(SAME_SEED, 9, (30,), 4.0),
                case(OTHER_SEED, 9, (30,), 4.0, gen_seed=7),
                _peaked_case(device)]
    return [case("uneven 2-D grid, many samples", 71, (12, 10), 3.0),
            case(SAME_SEED, 71, (12, 10), 3.0),
            case(OTHER_SEED, 71, (12, 10), 3.0, gen_seed=8),
            case("uneven 1-D grid, sharply peaked, many samples", 72, (60,), 40.0)]


FEW_SAMPLES, FEW_CELLS = 100, 200


def _peaked_case(device):
    """Fewer draws than cells, one cell holding half the mass: a sampler that draws without replacement
    picks that cell at most once (frequency ≤ 0.01 against mass 0.5)."""
    logd, lw, _ = _grid_density(73, (FEW_CELLS,), device, 4.0)
    peak = FEW_CELLS // 3
    others = torch.logsumexp(torch.cat([logd[:peak] + lw[:peak], logd[peak + 1:] + lw[peak + 1:]]), 0)
    logd[peak] = others - lw[peak]  # the peak's mass p v equals all the other cells' together
    g = torch.Generator(device=device).manual_seed(1073)
    return Case(f"1-D grid of {FEW_CELLS} points where one cell holds half the mass, {FEW_SAMPLES} samples: "
                "fewer samples than cells, drawn independently (with replacement)",
                dict(log_posterior=posterior.normalize_log_density(logd, lw), log_weights=lw,
                     n_samples=FEW_SAMPLES, generator=g))


def _judge_samples(case: Case, expected, got) -> str | None:
    """Hoeffding + union bound: P(any |count_j/N − q_j| ≥ t) ≤ 2 K exp(−2 N t²) =: FALSE_FAILURE.

    A suite's first case's draws are kept; the SAME_SEED case after it must repeat them exactly and
    the OTHER_SEED case must differ from them (a suite's cases are judged in order)."""
    if not isinstance(got, torch.Tensor):
        return f"result: expected a tensor of indices, got {type(got).__name__}"
    if got.dtype not in (torch.int64, torch.int32):
        return f"result: expected integer indices (torch.int64), got dtype {got.dtype}"
    n = case.kwargs["n_samples"]
    if tuple(got.shape) != (n,):
        return f"result: expected shape ({n},) (one flat index per sample), got {tuple(got.shape)}"
    q = torch.exp(case.kwargs["log_posterior"] + case.kwargs["log_weights"]).flatten().double().cpu()
    K = q.numel()
    g = got.cpu().long()
    if int(g.min()) < 0 or int(g.max()) >= K:
        return f"result: indices must lie in 0..{K - 1} (flat indices of the grid), got range {int(g.min())}..{int(g.max())}"
    key = tuple(case.kwargs["log_posterior"].shape)  # the two comparing cases share the first case's grid
    draws = _FIRST_DRAWS.__dict__.setdefault("by_grid", {})
    if case.label in (SAME_SEED, OTHER_SEED):
        first = draws.get(key) if case.label == SAME_SEED else draws.pop(key, None)
        if first is None:
            return "the first case gave no draws to compare with: fix that case first"
        same = torch.equal(first, g)
        if case.label == SAME_SEED and not same:
            return ("the draws differ from the first case's, although the input and the generator's seed are the "
                    "same: take all randomness from `generator` (e.g. torch.multinomial(..., generator=generator)), "
                    "never from torch's global random state")
        if case.label == OTHER_SEED and same:
            return ("the draws are the same as with the first case's generator seed: the result must depend on "
                    "`generator` (do not reseed torch inside the function)")
    else:
        draws[key] = g
    return judge_counts(q, torch.bincount(g, minlength=K))


def judge_counts(q: torch.Tensor, counts: torch.Tensor) -> str | None:
    """The decision of :func:`_judge_samples` from the number of draws of each cell."""
    K, N = q.numel(), int(counts.sum())
    freq = counts.double() / N
    t = math.sqrt(math.log(2 * K / FALSE_FAILURE) / (2 * N))
    dev = (freq - q).abs()
    j = int(torch.argmax(dev))
    if float(dev[j]) >= t:
        hint = ("; the draws must be independent, with replacement (a cell can be drawn many times), even "
                "when there are fewer samples than cells" if N <= K and int(counts.max()) <= 1 else "")
        return (f"the sample frequencies do not follow the cell masses p_j v_j: cell {j} was drawn with frequency "
                f"{float(freq[j]):.5f} but has mass {float(q[j]):.5f} (a correct sampler differs by less than "
                f"{t:.4f} except with probability {FALSE_FAILURE:g}){hint}")
    return None


register(Exercise(
    id="posterior.sample_grid",
    reference=posterior.sample_grid,
    cases=_sample_cases,
    judge=_judge_samples,
    notes=(
        f"Statistical: each cell's frequency must lie within t of its mass, t from Hoeffding's inequality with a "
        f"union bound over the K cells, so a correct sampler fails a case with probability at most {FALSE_FAILURE:g} "
        f"(any RNG, any draw order): t = √(log(2K/{FALSE_FAILURE:g})/(2N)), ≤ 0.0074 for N = {N_SAMPLES}, K ≤ 120, and "
        f"≈ 0.33 for the visible case of N = {FEW_SAMPLES} draws on K = {FEW_CELLS} cells. That case has fewer draws "
        f"than cells and one cell of mass 0.5, which a sampler without replacement draws at most once (frequency "
        f"≤ 0.01, off by ≥ 0.49 > 0.33): it fails always. Two cases rerun the first with the same generator seed (the draws must "
        f"repeat exactly) and with another seed (they must change: two correct draws of {N_SAMPLES} samples "
        f"coincide with probability far below 1e-100). The runner already fails a function that uses torch's "
        f"global random state; these two cases remain because no single call can show the rest: OTHER_SEED "
        f"catches a sampler that makes its own fixed-seed generator and ignores `generator`, SAME_SEED one that "
        f"draws from numpy's or Python's global random state (which the runner does not watch). Comparing two "
        f"calls needs the first call's draws, so the judge keeps them per thread (grading judges submissions in "
        f"threads, each suite's cases in order); there is no stateless way to compare two seeds."
    ),
))


# ------------------------------------------------------------------ credible_volume_exponent (reasoning)

_VOLUME_VISIBLE = [
    ("one coordinate, K = w^4 (the example the text works out)", (4,), (1.0,)),
    ("two coordinates, K = 0.5 w1^2 + 3 w2^2 (a regular model)", (2, 2), (0.5, 3.0)),
    ("two coordinates of mixed powers, K = w1^2 + 2 w2^6", (2, 6), (1.0, 2.0)),
    ("two coordinates, K = w1^4 and w2 free (p = 0: K does not depend on w2)", (4, 0), (1.0, 1.0)),
]
_VOLUME_HIDDEN = [
    ("one coordinate, a higher even power", (6,), (2.0,)),
    ("one coordinate, a high power and a tiny coefficient", (10,), (1e-4,)),
    ("terms of mixed powers, in different coordinates", (2, 4), (1.0, 1.0)),
    ("several terms of the same higher power, different coefficients", (4, 4), (1.0, 0.3)),
    ("a coordinate K does not depend on, beside terms of different powers", (0, 6, 2), (1.0, 1.0, 4.0)),
    ("several terms of different powers, coefficients far from one", (8, 2, 6), (1e-3, 50.0, 0.2)),
    ("many quadratic terms (a regular model)", (2, 2, 2, 2, 2), (1.0, 2.0, 3.0, 4.0, 5.0)),
    ("several coordinates K does not depend on, and one higher-power term", (0, 0, 4), (1.0, 1.0, 1.0)),
]
_VOLUME_SUITES = {"visible": _VOLUME_VISIBLE, "hidden": _VOLUME_HIDDEN}
_VOLUME_VISIBLE_LABELS = {label for label, _, _ in _VOLUME_VISIBLE}


def _volume_cases(suite, device):
    return [Case(label, dict(powers=powers, coefficients=coefs)) for label, powers, coefs in _VOLUME_SUITES[suite]]


_ONE_COORDINATE = ("that counts one coordinate only: the posterior exp(−n Σ c_i w_i^(p_i)) is a product of one factor "
                   "per coordinate, so the region's volume is (up to a constant) the product of its widths")
# Plausible wrong lines of reasoning: (explanation, their answer from powers and coefficients).
_VOLUME_MISTAKES = [
    ("that is d/2, half the number of coordinates: the answer for a regular model, where every term is "
     "quadratic. A term c w^p with a higher power constrains w less", lambda ps, cs: len(ps) / 2),
    ("that counts 1/2 for each coordinate K depends on, as if every term were quadratic: a term c w^p with "
     "a higher power constrains w less", lambda ps, cs: sum(0.5 for p in ps if p)),
    ("that is Σ p_i/2: for larger p the region shrinks more slowly, not faster", lambda ps, cs: sum(p / 2 for p in ps)),
    ("that is Σ 1/(2 p_i): `powers` holds the exponents p_i themselves (K = w^4 has p = 4)",
     lambda ps, cs: sum(1 / (2 * p) for p in ps if p)),
    (_ONE_COORDINATE, lambda ps, cs: max((1 / p for p in ps if p), default=0.0)),
    (_ONE_COORDINATE, lambda ps, cs: min((1 / p for p in ps if p), default=0.0)),
    ("that multiplies the coordinates' exponents; the volume is the product of the widths, so multiply the "
     "widths, not their exponents", lambda ps, cs: math.prod(1 / p for p in ps if p)),
    ("that counts a coordinate K does not depend on as if it were quadratic: nothing in exp(−nK) depends on "
     "it", lambda ps, cs: sum(1 / p if p else 0.5 for p in ps)),
    ("that lets the coefficients c_i weigh the exponents: after the substitution c_i is a constant factor",
     lambda ps, cs: sum(c / p for p, c in zip(ps, cs) if p)),
]
# The answers judged so far in the suite being judged, per thread (grading judges several submissions at
# once, in threads; each suite's cases in order): a mistake is named only when the answers match it on
# every case where it differs from the right answer, which one case alone cannot show.
_VOLUME_ANSWERS = threading.local()


def _volume_record(suite: str, index: int, answer: float) -> dict[int, float]:
    rec = _VOLUME_ANSWERS.__dict__
    if rec.get("suite") != suite or index <= rec.get("last", -1):  # a new run of the suite starts
        rec.update(suite=suite, answers={})
    rec["last"] = index
    rec["answers"][index] = answer
    return rec["answers"]


def _named_mistake(suite: str, index: int, answers: dict[int, float]) -> str | None:
    """The explanation of the one listed mistake that the answers of cases 0..index match on every case
    (so in particular on every case where it differs from the right answer, all of which are judged by
    now); None when none does, or when two different explanations do."""
    rows = _VOLUME_SUITES[suite]
    right = [posterior.credible_volume_exponent(ps, cs) for _, ps, cs in rows]
    named = set()
    for why, mistake in _VOLUME_MISTAKES:
        values = [mistake(ps, cs) for _, ps, cs in rows]
        differ = [i for i, (v, r) in enumerate(zip(values, right)) if abs(v - r) > 1e-9]
        if differ and max(differ) <= index and all(
                i in answers and abs(answers[i] - values[i]) <= 1e-9 for i in range(index + 1)):
            named.add(why)
    return named.pop() if len(named) == 1 else None


def _volume_question(powers, coefficients) -> str:
    """A question that points at the step this kind of input needs, without its result."""
    questions = ["work the substitution for one coordinate at a time: which power of n makes n c_i w_i^(p_i) "
                 "free of n, and so how wide is the region in w_i?"]
    if 0 in powers:
        questions.append("along a coordinate that K does not depend on, what limits the region as n grows?")
    if len(powers) > 1:
        questions.append("exp(−nK) for a sum of terms in different coordinates factors into one factor per "
                         "coordinate: how does the volume of such a region follow from its widths?")
    if any(c != 1 for c in coefficients):
        questions.append("after the substitution, where does c_i appear: in the power of n, or elsewhere?")
    return " ".join(questions)


def _judge_volume_exponent(case: Case, expected, got) -> str | None:
    """Exact (the answer is a sum of at most five unit fractions: 1e-9 covers any summation order). A wrong
    answer names a listed mistake when the suite's answers so far match it on every case where it differs
    from the right one (and match no other listed mistake); otherwise it asks a question about this kind of
    input that leads to the right step without stating it."""
    if isinstance(got, torch.Tensor) and got.ndim != 0:
        return (f"result: expected a number (a Python float, or a 0-d tensor), got a tensor of shape "
                f"{tuple(got.shape)}; return the number itself, e.g. `sum(...)` of Python numbers, not `torch.tensor([λ])`")
    if isinstance(got, bool) or not isinstance(got, (numbers.Real, torch.Tensor)):
        return f"result: expected a number (a Python float, or a 0-d tensor), got {describe(got)}"
    g = float(got)
    suite = "visible" if case.label in _VOLUME_VISIBLE_LABELS else "hidden"
    index = [label for label, _, _ in _VOLUME_SUITES[suite]].index(case.label)
    answers = _volume_record(suite, index, g)
    e = float(expected)
    if abs(g - e) <= 1e-9:
        return None
    shown = f"expected {e:.6g}, got {g:.6g}" if suite == "visible" else f"got {g:.6g}, which is not the exponent"
    why = _named_mistake(suite, index, answers)
    if why is not None:
        return f"result: {shown}; {why}."
    return f"result: {shown}. To find the step that went wrong, {_volume_question(**case.kwargs)}"


register(Exercise(
    id="posterior.credible_volume_exponent",
    reference=posterior.credible_volume_exponent,
    cases=_volume_cases,
    judge=_judge_volume_exponent,
    notes=(
        "A reasoning exercise: the answer is a number (the text says so: a Python number or a 0-d tensor; a "
        "tensor of shape (1,) or a list fails every case), a rational number exact up to float round-off (a sum of at most "
        "five unit fractions: 1e-9). Eight hidden potentials of different kinds (higher powers, sums, coordinates "
        "K ignores, coefficients far from 1), so that trying answers until the visible cases pass cannot find the "
        "rule; the four visible ones cover one coordinate, a sum, mixed powers and a free coordinate. A hidden "
        "failure shows the answer given but not the expected one. A listed wrong line of reasoning is named only "
        "when the answers judged so far in the suite match it on every case where it differs from the right "
        "answer, and no other listed mistake matches as well (per-thread record of the suite's answers, reset "
        "when a suite's cases start again: a judge sees one case at a time); otherwise the feedback asks a "
        "question about the step this kind of input needs, without its result."
    ),
))
