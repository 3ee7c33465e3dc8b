"""Checks for lesson 2 (free energy and model selection).

Every case is built from a model whose free energy is known in closed form or follows from
the inputs directly, so a learner's mistake shows up as a number that is off by far more than
round-off. Reference functions: :mod:`slt_lessons.free_energy`.
"""

from __future__ import annotations

import math

import torch

from slt_lessons import free_energy
from slt_lessons.checks.registry import Case, Exercise, register, scalar_close, tensor_close

# ----------------------------------------------------------------------------- grid models


def _grid_model(label, grid, nK, nLn0=0.0, log_prior=None, dtype=torch.float64, device=None):
    """A grid case: nL_n(w) = nL_n(w0) + nK(w) on ``grid``; uniform prior on the grid's range by default."""
    grid = grid.to(dtype=dtype, device=device)
    nLn = nLn0 + nK(grid)
    if log_prior is None:
        log_prior = torch.full_like(grid, -math.log(float(grid[-1] - grid[0])))
    else:
        log_prior = log_prior(grid)
    return Case(label, {"nLn": nLn, "log_prior": log_prior, "grid": grid})


def _graded(half_width, size, power=3.0):
    """A grid on [-half_width, half_width], dense near 0 (w = half_width * u^3 for uniform u): not uniform."""
    u = torch.linspace(-1.0, 1.0, size, dtype=torch.float64)
    return half_width * torch.sign(u) * u.abs() ** power


def _gaussian_log_prior(w, scale=1.0):
    return -0.5 * (w / scale) ** 2 - math.log(scale * math.sqrt(2 * math.pi))


def _grid_cases(suite, device):
    lin = torch.linspace
    f64 = torch.float64
    if suite == "visible":
        return [
            _grid_model("regular model nL_n = n(w-0.3)^2/2, n = 100, uniform prior on [-3, 3], 601 points",
                        lin(-3, 3, 601, dtype=f64), lambda w: 100 * (w - 0.3) ** 2 / 2, device=device),
            _grid_model("singular model nL_n = n w^4, n = 1000, uniform prior on [-1, 1], 801 points",
                        lin(-1, 1, 801, dtype=f64), lambda w: 1000 * w**4, device=device),
            _grid_model("half-line w in [0, 2], nL_n = 4 w^2/2 (integrand far from 0 at the ends), 201 points",
                        lin(0, 2, 201, dtype=f64), lambda w: 4 * w**2 / 2, device=device),
        ]
    return [
        _grid_model("nL_n = 5e5 + n w^4 with n = 1e6 (needs log space), graded grid on [-1, 1], 1001 points",
                    _graded(1.0, 1001), lambda w: 1e6 * w**4, nLn0=5e5, device=device),
        _grid_model("non-uniform grid on [-2, 2] (dense near 0), nL_n = 50 w^2/2, N(0, 1) prior, 401 points",
                    _graded(2.0, 401), lambda w: 50 * w**2 / 2, log_prior=_gaussian_log_prior, device=device),
        _grid_model("nL_n = 1e4 + n (w-0.5)^2/2 with n = 1e4, N(0, 1) prior, 2001 points on [-1, 2]",
                    lin(-1, 2, 2001, dtype=f64), lambda w: 1e4 * (w - 0.5) ** 2 / 2, nLn0=1e4,
                    log_prior=_gaussian_log_prior, device=device),
        _grid_model("very negative free energy: nL_n = -3e3 + n w^2 with n = 10 on [-1, 1], 301 points",
                    lin(-1, 1, 301, dtype=f64), lambda w: 10 * w**2, nLn0=-3e3, device=device),
        _grid_model("float32: nL_n = n w^2/2, n = 30, uniform prior on [-2, 2], 201 points",
                    lin(-2, 2, 201, dtype=f64), lambda w: 30 * w**2 / 2, dtype=torch.float32, device=device),
    ]


# ----------------------------------------------------------------------------- free_energy_grid

register(Exercise(
    id="free_energy.free_energy_grid",
    reference=free_energy.free_energy_grid,
    cases=_grid_cases,
    judge=tensor_close(rtol=1e-12, atol=1e-9, rtol32=1e-5, atol32=1e-4),
    notes=(
        "float64: F is a log of a sum of G <= 2001 positive terms; any order of summation or shift "
        "(logsumexp, trapezoid on shifted values) agrees to ~G*1e-16 relative in the sum, i.e. ~1e-13 "
        "absolute in F, plus 1e-16*|F| from the offset nL_n(w0) <= 5e5 (rtol 1e-12, atol 1e-9 covers it; "
        "the mistakes differ by >= 1e-3). float32: G = 201 terms, sum error <= G*6e-8 ~ 1.2e-5 relative, "
        "so |dF| <= 1.2e-5 plus 6e-8*|F| (atol 1e-4, rtol 1e-5)."
    ),
))


# ----------------------------------------------------------------------------- laplace_free_energy


def _spd(d, cond, seed, scale=1.0):
    """A symmetric positive-definite d x d matrix with condition number ``cond``, eigenvalues scaled by ``scale``."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    eig = scale * torch.logspace(0, math.log10(cond), d, dtype=torch.float64) if d > 1 else torch.tensor([scale], dtype=torch.float64)
    h = q @ torch.diag(eig) @ q.T
    return (h + h.T) / 2


def _laplace_case(label, nLn_min, log_prior_min, hessian, dtype=torch.float64, device=None):
    t = lambda x: torch.as_tensor(x, dtype=dtype, device=device)  # noqa: E731
    return Case(label, {"nLn_min": t(nLn_min), "log_prior_min": t(log_prior_min), "hessian": hessian.to(dtype=dtype, device=device)})


def _laplace_cases(suite, device):
    if suite == "visible":
        return [
            _laplace_case("d = 1, H = [[n]] with n = 100, log prior -log 6", 12.5, -math.log(6.0),
                          torch.tensor([[100.0]], dtype=torch.float64), device=device),
            _laplace_case("d = 3, H = 1000 x (SPD, condition number 10)", 1523.25, -2.0,
                          _spd(3, 10.0, seed=1, scale=1000.0), device=device),
        ]
    return [
        _laplace_case("d = 6, H = 1e4 x (SPD, condition number 1e6)", 4.1e4, -7.3,
                      _spd(6, 1e6, seed=2, scale=1e4), device=device),
        _laplace_case("d = 10, H = n I with n = 1e8 (Laplace = BIC + prior and 2*pi terms)", 2.0e8, 0.4,
                      1e8 * torch.eye(10, dtype=torch.float64), device=device),
        _laplace_case("d = 2, H with off-diagonal terms [[5, 3], [3, 2]]", -1.5, 1.25,
                      torch.tensor([[5.0, 3.0], [3.0, 2.0]], dtype=torch.float64), device=device),
        _laplace_case("float32: d = 4, H = 50 x (SPD, condition number 100)", 310.5, -1.0,
                      _spd(4, 100.0, seed=3, scale=50.0), dtype=torch.float32, device=device),
    ]


register(Exercise(
    id="free_energy.laplace_free_energy",
    reference=free_energy.laplace_free_energy,
    cases=_laplace_cases,
    judge=tensor_close(rtol=1e-12, atol=1e-8, rtol32=1e-6, atol32=1e-4),
    notes=(
        "float64: log det H by Cholesky, eigenvalues or slogdet differs by ~cond(H)*1e-16 per eigenvalue "
        "(cond <= 1e6: ~1e-10 in log det), plus 1e-16*|F| (|F| <= 2e8) -> atol 1e-8, rtol 1e-12. "
        "float32: cond <= 100, ~100*6e-8 = 6e-6 per log-eigenvalue over d = 4 -> atol 1e-4, and "
        "6e-8*|F| from the terms -> rtol 1e-6. Mistakes (missing 1/2, sign of the 2*pi or prior term, "
        "log det of the inverse) change F by >= 0.9."
    ),
))


# ----------------------------------------------------------------------------- bic


def _bic_cases(suite, device):
    t = lambda x, dtype=torch.float64: torch.tensor(x, dtype=dtype, device=device)  # noqa: E731
    if suite == "visible":
        return [
            Case("nL_n(w) = 140.2, d = 2, n = 100", {"nLn_min": t(140.2), "d": 2, "n": 100}),
            Case("nL_n(w) = 1418.9, d = 5, n = 1000", {"nLn_min": t(1418.9), "d": 5, "n": 1000}),
        ]
    return [
        Case("nL_n(w) = 0, d = 1, n = 10", {"nLn_min": t(0.0), "d": 1, "n": 10}),
        Case("nL_n(w) = 1.4e14, d = 3, n = 1e14", {"nLn_min": t(1.4e14), "d": 3, "n": 10**14}),
        Case("nL_n(w) = -250.5 (a density above 1), d = 7, n = 200", {"nLn_min": t(-250.5), "d": 7, "n": 200}),
        Case("float32: nL_n(w) = 731.25, d = 4, n = 500", {"nLn_min": t(731.25, torch.float32), "d": 4, "n": 500}),
    ]


register(Exercise(
    id="free_energy.bic",
    reference=free_energy.bic,
    cases=_bic_cases,
    judge=scalar_close(rtol=1e-12, atol=1e-10, rtol32=1e-6, atol32=1e-4),
    notes=(
        "two terms and a log: float64 round-off ~1e-16 relative; float32 ~6e-8 relative of nL_n <= 731 "
        "(atol 1e-4). A Python float or a 0-d tensor are both accepted. Mistakes (d log n, log10, "
        "missing nL_n) are off by >= 1."
    ),
))


# ----------------------------------------------------------------------------- wbic_grid


def _wbic_cases(suite, device):
    cases = []
    for case, n in zip(_grid_cases(suite, device), (100, 1000, 20) if suite == "visible" else (10**6, 50, 10**4, 10, 30)):
        cases.append(Case(f"{case.label}; beta = 1/log({n})", {**case.kwargs, "n": n}))
    return cases


register(Exercise(
    id="free_energy.wbic_grid",
    reference=free_energy.wbic_grid,
    cases=_wbic_cases,
    judge=tensor_close(rtol=1e-11, atol=1e-9, rtol32=1e-4, atol32=1e-4),
    notes=(
        "a ratio of two trapezoid sums of G <= 2001 positive terms: float64 relative error ~G*1e-16 ~ 2e-13 "
        "of the mean (|WBIC| <= 5e5) -> rtol 1e-11, atol 1e-9. float32, G = 201: each sum is good to "
        "G*6e-8 ~ 1.2e-5 relative, their ratio to 2.4e-5 -> rtol 1e-4, atol 1e-4. Mistakes (beta = 1, "
        "beta = 1/n, L_n instead of nL_n, no prior) are off by >= 1e-2 relative."
    ),
))


# ----------------------------------------------------------------------------- fit_slope


def _line(label, log_n, intercept, slope, noise_sd, seed, dtype=torch.float64, device=None):
    g = torch.Generator().manual_seed(seed)
    log_n = torch.as_tensor(log_n, dtype=torch.float64)
    F = intercept + slope * log_n + noise_sd * torch.randn(log_n.shape, generator=g, dtype=torch.float64)
    return Case(label, {"log_n": log_n.to(dtype=dtype, device=device), "F": F.to(dtype=dtype, device=device)})


def _slope_cases(suite, device):
    ln10 = math.log(10)
    if suite == "visible":
        return [
            _line("exact line F = 3 + 0.5 log n, n = 10^1..10^6", ln10 * torch.arange(1, 7), 3.0, 0.5, 0.0, 0, device=device),
            _line("noisy line, slope 0.25, 12 points over n = 10^2..10^8", ln10 * torch.linspace(2, 8, 12), 1.0, 0.25, 0.05, 1, device=device),
        ]
    return [
        _line("noisy line with offset 1e6 (nL_n(w0)), slope 1.5, 20 points", ln10 * torch.linspace(1, 9, 20), 1e6, 1.5, 0.3, 2,
              device=device),
        _line("unevenly spaced log n (random), slope 0.75, 9 points", 20 * torch.rand(9, generator=torch.Generator().manual_seed(3),
              dtype=torch.float64), -4.0, 0.75, 0.1, 4, device=device),
        _line("two points only, slope 2.0", torch.tensor([2.0, 5.0]), 0.5, 2.0, 0.0, 5, device=device),
        _line("float32: noisy line, slope 0.5, 15 points over n = 10^2..10^14", ln10 * torch.linspace(2, 14, 15), 10.0, 0.5, 0.2, 6,
              dtype=torch.float32, device=device),
    ]


register(Exercise(
    id="free_energy.fit_slope",
    reference=free_energy.fit_slope,
    cases=_slope_cases,
    judge=tensor_close(rtol=1e-8, atol=1e-9, rtol32=1e-4, atol32=1e-4),
    notes=(
        "the slope sum (x - xbar)(y - ybar) / sum (x - xbar)^2 and the normal equations agree to "
        "~|ybar|/(spread of y) * 1e-16 relative; with the offset 1e6 case that is ~1e-10, so rtol 1e-8 "
        "admits every standard way (lstsq, polyfit, the formula). float32: with |y| <= 20 and 15 points "
        "the slope is good to ~1e-5 (atol, rtol 1e-4). Mistakes (x on y, the intercept, the end-point "
        "difference on noisy data) are off by >= 1e-2."
    ),
))
