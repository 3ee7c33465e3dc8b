"""Checks for lesson 2 (free energy and model selection).

Every case is built from a model whose free energy is known in closed form or follows from
the inputs directly, so a learner's mistake shows up as a number that is off by far more than
round-off. Reference functions: :mod:`slt_lessons.free_energy`.
"""

from __future__ import annotations

import math

import torch

from slt_lessons import free_energy
from slt_lessons.checks.registry import Case, Exercise, must_raise, register, scalar_close, tensor_close

def _must_raise(label, kwargs):
    """A case on which the text requires a ValueError (a one-item list, to splice into a suite)."""
    return must_raise((f"{label} (must raise ValueError)", kwargs))


def _with_hints(base, mistakes):
    """``base`` judge, plus the hint of the one known mistake whose output the wrong answer matches.

    ``mistakes``: ``(function of the case's kwargs, hint)`` pairs; a ``None`` hint is a simple alternative
    that earns no hint of its own. A hint is printed only when the learner's output agrees with that
    mistake's output within ``base``'s own tolerance and with no other listed mistake's (two mistakes that
    coincide on a case cannot be told apart there), so it is derived from the failure, never printed on
    every failure; otherwise only ``base``'s message is shown.
    """

    def judge(case, expected, got):
        message = base(case, expected, got)
        if message is None:
            return None
        matches = []
        for mistake, hint in mistakes:
            try:
                wrong = mistake(**{k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in case.kwargs.items()})
            except Exception:  # a mistake that cannot run on this case says nothing about it
                continue
            if base(case, wrong, got) is None:
                matches.append(hint)
        if len(matches) == 1 and matches[0] is not None:
            return f"{message}\nhint: {matches[0]}"
        return message

    return judge


def _trapezoid_log_weights(grid):
    dw = grid[1:] - grid[:-1]
    return torch.log(torch.cat([dw[:1], dw[1:] + dw[:-1], dw[-1:]]) / 2)


def _even_log_weights(grid):
    """The uneven-grid mistake: every cell as wide as the first one."""
    h = grid[1] - grid[0]
    v = torch.full_like(grid, float(h))
    v[0] = v[-1] = float(h) / 2
    return v.log()

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
            _grid_model("uneven grid (dense near 0): singular model nL_n = n w^4, n = 1000, uniform prior on [-1, 1], 801 points",
                        _graded(1.0, 801), lambda w: 1000 * w**4, device=device),
            _grid_model("large nL_n = 5e5 + n w^2/2 with n = 1e4 (needs log space), uniform prior on [-1, 1], 401 points",
                        lin(-1, 1, 401, dtype=f64), lambda w: 1e4 * w**2 / 2, nLn0=5e5, device=device),
            _grid_model("very negative nL_n = -3e3 + 4 w^2/2 on the half-line [0, 2], 201 points",
                        lin(0, 2, 201, dtype=f64), lambda w: 4 * w**2 / 2, nLn0=-3e3, device=device),
            _grid_model("non-uniform prior N(0, 0.5^2): nL_n = 20 (w-0.6)^2/2 on [-2, 2], 401 points",
                        lin(-2, 2, 401, dtype=f64), lambda w: 20 * (w - 0.6) ** 2 / 2,
                        log_prior=lambda w: _gaussian_log_prior(w, 0.5), device=device),
            *_bad_grid_cases(device),
        ]
    return [
        _grid_model("singular (quartic) model with a large offset on a graded (uneven) grid, very large n, a fine grid",
                    _graded(1.0, 1001), lambda w: 1e6 * w**4, nLn0=5e5, device=device),
        _grid_model("non-uniform grid (dense near the minimum), a regular (quadratic) model at moderate n, a Gaussian prior",
                    _graded(2.0, 401), lambda w: 50 * w**2 / 2, log_prior=_gaussian_log_prior, device=device),
        _grid_model("large offset and a non-uniform (Gaussian) prior, a quadratic minimum off the prior's centre, large n, "
                    "a fine grid on an asymmetric range",
                    lin(-1, 2, 2001, dtype=f64), lambda w: 1e4 * (w - 0.5) ** 2 / 2, nLn0=1e4,
                    log_prior=_gaussian_log_prior, device=device),
        _grid_model("very negative free energy (a large negative offset), a quadratic model at small n, uniform prior",
                    lin(-1, 1, 301, dtype=f64), lambda w: 10 * w**2, nLn0=-3e3, device=device),
        _grid_model("float32: a quadratic model at small n, uniform prior",
                    lin(-2, 2, 201, dtype=f64), lambda w: 30 * w**2 / 2, dtype=torch.float32, device=device),
    ]


def _bad_grid_cases(device, **extra):
    """The text's requirement: a grid that is not strictly increasing, or of another length, raises ValueError."""
    w = torch.linspace(-1, 1, 11, dtype=torch.float64, device=device)
    flat = torch.full_like(w, -math.log(2.0))
    repeated = torch.cat([w[:6], w[5:]])  # w[5] twice: non-decreasing, yet not strictly increasing
    return [
        *_must_raise("a repeated grid node (the grid never decreases, but is not strictly increasing)",
                     {"nLn": 3 * repeated**2, "log_prior": torch.full_like(repeated, -math.log(2.0)), "grid": repeated, **extra}),
        *_must_raise("grid not increasing (given from right to left)", {"nLn": 3 * w.flip(0) ** 2, "log_prior": flat, "grid": w.flip(0), **extra}),
        *_must_raise("nLn shorter than the grid", {"nLn": 3 * w[:-1] ** 2, "log_prior": flat, "grid": w, **extra}),
    ]


# ----------------------------------------------------------------------------- free_energy_grid


def _fe_with(log_weights):
    return lambda nLn, log_prior, grid: -torch.logsumexp(log_prior - nLn + log_weights(grid), dim=0)


_GRID_MISTAKES = [
    (_fe_with(_even_log_weights),
     "your value matches trapezoid weights computed from the first spacing alone; the grid is not evenly "
     "spaced, so each node's weight is half the width of the two cells beside it, (w[j+1] - w[j-1])/2"),
    (_fe_with(lambda g: torch.log(torch.diff(g, append=g[-1:] + (g[-1] - g[-2])))),
     "your value matches rectangles (weight w[j+1] - w[j]); the trapezoid rule gives the two end nodes half a cell"),
    (lambda nLn, log_prior, grid: -torch.logsumexp(-nLn + _trapezoid_log_weights(grid), dim=0),
     "your value leaves out the prior: the integrand is exp(log_prior - nLn)"),
    (lambda nLn, log_prior, grid: torch.logsumexp(log_prior - nLn + _trapezoid_log_weights(grid), dim=0),
     "your value has the wrong sign: F = -log Z"),
]

register(Exercise(
    id="free_energy.free_energy_grid",
    reference=free_energy.free_energy_grid,
    cases=_grid_cases,
    judge=_with_hints(tensor_close(rtol=1e-12, atol=1e-9, rtol32=1e-5, atol32=1e-4), _GRID_MISTAKES),
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
    f64 = torch.float64
    if suite == "visible":
        return [
            _laplace_case("d = 1, H = [[n]] with n = 100, log prior -log 6", 12.5, -math.log(6.0),
                          torch.tensor([[100.0]], dtype=f64), device=device),
            _laplace_case("d = 3, H = 1000 x (SPD, condition number 10)", 1523.25, -2.0,
                          _spd(3, 10.0, seed=1, scale=1000.0), device=device),
            *_must_raise("indefinite H = [[4, 0], [0, -1]] (a saddle, not a minimum)",
                         _laplace_case("", 3.0, 0.0, torch.tensor([[4.0, 0.0], [0.0, -1.0]], dtype=f64), device=device).kwargs),
            *_must_raise("negative definite H = -[[2, 1], [1, 3]] (a maximum: det H = 5 > 0, yet not positive definite)",
                         _laplace_case("", 2.0, 0.0, -torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=f64), device=device).kwargs),
            *_must_raise("singular H = 0 (the flat direction of w^4 at w = 0)",
                         _laplace_case("", 0.0, 0.0, torch.zeros(1, 1, dtype=f64), device=device).kwargs),
        ]
    return [
        _laplace_case("ill-conditioned Hessian (SPD, a huge condition number), several parameters", 4.1e4, -7.3,
                      _spd(6, 1e6, seed=2, scale=1e4), device=device),
        _laplace_case("regular model at huge n: an isotropic Hessian, many parameters", 2.0e8, 0.4,
                      1e8 * torch.eye(10, dtype=f64), device=device),
        _laplace_case("correlated parameters (strong off-diagonal Hessian terms), negative nL_n", -1.5, 1.25,
                      torch.tensor([[5.0, 3.0], [3.0, 2.0]], dtype=f64), device=device),
        _laplace_case("float32: a moderately conditioned SPD Hessian, a few parameters", 310.5, -1.0,
                      _spd(4, 100.0, seed=3, scale=50.0), dtype=torch.float32, device=device),
        *_must_raise("positive semi-definite with a flat direction",
                     _laplace_case("", 1.0, 0.0, torch.tensor([[3.0, 0.0], [0.0, 0.0]], dtype=f64), device=device).kwargs),
        *_must_raise("negative definite (a maximum: det H positive, yet not positive definite)",
                     _laplace_case("", 1.0, 0.0, -50 * torch.eye(2, dtype=f64), device=device).kwargs),
        # a saddle whose determinant and diagonal are both positive (two negative eigenvalues): only a
        # test of every eigenvalue (or a Cholesky factorisation) sees it; needs three or more parameters
        *_must_raise("indefinite, yet with a positive determinant and a positive diagonal",
                     _laplace_case("", 1.0, 0.0, torch.tensor([[1.0, 2.0, 2.0], [2.0, 1.0, 2.0], [2.0, 2.0, 1.0]],
                                                              dtype=f64), device=device).kwargs),
    ]


def _laplace_with(half_logdet_sign=1.0, logdet_factor=0.5, two_pi=-1.0, prior=-1.0, diagonal=False):
    def laplace(nLn_min, log_prior_min, hessian):
        d = hessian.shape[-1]
        logdet = hessian.diagonal().log().sum() if diagonal else torch.linalg.slogdet(hessian)[1]
        return nLn_min + prior * log_prior_min + half_logdet_sign * logdet_factor * logdet + two_pi * d / 2 * math.log(2 * math.pi)

    return laplace


register(Exercise(
    id="free_energy.laplace_free_energy",
    reference=free_energy.laplace_free_energy,
    cases=_laplace_cases,
    judge=_with_hints(tensor_close(rtol=1e-12, atol=1e-8, rtol32=1e-6, atol32=1e-4), [
        (_laplace_with(logdet_factor=1.0), "your value has log det H where the Gaussian integral gives (1/2) log det H"),
        (_laplace_with(half_logdet_sign=-1.0), "your value has -(1/2) log det H: a sharper peak (larger H) has less volume, so F grows with log det H"),
        (_laplace_with(two_pi=1.0), "your value adds (d/2) log 2*pi; the Gaussian integral is (2*pi)^(d/2) det(H)^(-1/2), so F subtracts it"),
        (_laplace_with(two_pi=0.0), "your value leaves out -(d/2) log 2*pi"),
        (_laplace_with(prior=1.0), "your value adds log phi(w_hat); F = -log Z subtracts it"),
        (_laplace_with(diagonal=True), "your value uses the product of H's diagonal entries; det H is that product only "
         "when H is diagonal: take the log-determinant of the whole matrix (Cholesky, eigenvalues or slogdet)"),
    ]),
    notes=(
        "float64: log det H by Cholesky, eigenvalues or slogdet differs by ~cond(H)*1e-16 per eigenvalue "
        "(cond <= 1e6: ~1e-10 in log det), plus 1e-16*|F| (|F| <= 2e8) -> atol 1e-8, rtol 1e-12. "
        "float32: cond <= 100, ~100*6e-8 = 6e-6 per log-eigenvalue over d = 4 -> atol 1e-4, and "
        "6e-8*|F| from the terms -> rtol 1e-6. Mistakes (missing 1/2, sign of the 2*pi or prior term, "
        "log det of the inverse) change F by >= 0.9. A Hessian that is not positive definite (indefinite, "
        "singular, negative definite) must raise ValueError, as the text asks."
    ),
))


# ----------------------------------------------------------------------------- bic


def _bic_cases(suite, device):
    t = lambda x, dtype=torch.float64: torch.tensor(x, dtype=dtype, device=device)  # noqa: E731
    if suite == "visible":
        return [
            Case("moderate loss nL_n(w) = 140.2, d = 2, n = 100", {"nLn_min": t(140.2), "d": 2, "n": 100}),
            Case("larger model nL_n(w) = 1418.9, d = 5, n = 1000", {"nLn_min": t(1418.9), "d": 5, "n": 1000}),
            Case("float32 input nL_n(w) = 52.5, d = 3, n = 40: the result stays a float32 tensor",
                 {"nLn_min": t(52.5, torch.float32), "d": 3, "n": 40}),
        ]
    return [
        Case("zero loss term (only the penalty counts), few parameters, small n", {"nLn_min": t(0.0), "d": 1, "n": 10}),
        Case("huge n with a comparable loss term, few parameters", {"nLn_min": t(1.4e14), "d": 3, "n": 10**14}),
        Case("negative nL_n(w) (a density above one), several parameters, moderate n", {"nLn_min": t(-250.5), "d": 7, "n": 200}),
        Case("float32 input: a positive loss term, a few parameters, moderate n", {"nLn_min": t(731.25, torch.float32), "d": 4, "n": 500}),
    ]


register(Exercise(
    id="free_energy.bic",
    reference=free_energy.bic,
    cases=_bic_cases,
    judge=_with_hints(tensor_close(rtol=1e-12, atol=1e-10, rtol32=1e-6, atol32=1e-4), [
        (lambda nLn_min, d, n: nLn_min + (d // 2) * math.log(n),
         "your value matches (d // 2) log n: // is integer division (5 // 2 = 2); the penalty is (d / 2) log n"),
        (lambda nLn_min, d, n: nLn_min + d * math.log(n), "your value charges d log n; BIC charges (d / 2) log n"),
        (lambda nLn_min, d, n: nLn_min + d / 2 * math.log10(n), "your value uses log10; BIC's log n is the natural log"),
    ]),
    notes=(
        "two terms and a log: float64 round-off ~1e-16 relative; float32 ~6e-8 relative of nL_n <= 731 "
        "(atol 1e-4). The lesson's rule (tensors in, a tensor of the inputs' dtype and device out) holds "
        "here too: a Python float or a float64 answer to a float32 input fails. Mistakes (d log n, log10, "
        "missing nL_n) are off by >= 1."
    ),
))


# ----------------------------------------------------------------------------- wbic_grid


def _wbic_cases(suite, device):
    ns = (100, 1000, 10**4, 20, 50) if suite == "visible" else (10**6, 50, 10**4, 10, 30)
    grids = [c for c in _grid_cases(suite, device) if "must raise" not in c.label]
    beta = (lambda n: f"beta = 1/log({n})") if suite == "visible" else (lambda n: "beta the inverse of log n")
    cases = [Case(f"{case.label}; {beta(n)}", {**case.kwargs, "n": n}) for case, n in zip(grids, ns, strict=True)]
    w = torch.linspace(0, 2, 101, dtype=torch.float64, device=device)
    flat = torch.full_like(w, -math.log(2.0))
    if suite == "visible":
        return [*cases,
                *_must_raise("n = 1 (beta = 1/log n is undefined)", {"nLn": 5 * w**2, "log_prior": flat, "grid": w, "n": 1}),
                *_bad_grid_cases(device, n=100)]
    return [*cases,
            Case("the smallest allowed sample size (beta as large as it gets), a quadratic nL_n on a half-line grid",
                 {"nLn": 2 * w**2, "log_prior": flat, "grid": w, "n": 2}),
            *_must_raise("a fractional n below one (beta would be negative)", {"nLn": 5 * w**2, "log_prior": flat, "grid": w, "n": 0.5})]


def _wbic_with(beta_of_n, log_weights=_trapezoid_log_weights, use_prior=True):
    def wbic(nLn, log_prior, grid, n):
        logits = (log_prior if use_prior else 0.0) - beta_of_n(n) * nLn + log_weights(grid)
        return (torch.softmax(logits, dim=0) * nLn).sum()

    return wbic


register(Exercise(
    id="free_energy.wbic_grid",
    reference=free_energy.wbic_grid,
    cases=_wbic_cases,
    judge=_with_hints(tensor_close(rtol=1e-11, atol=1e-9, rtol32=1e-4, atol32=1e-4), [
        (_wbic_with(lambda n: 1.0), "your value is the posterior mean at beta = 1; WBIC tempers it to beta = 1/log n"),
        (_wbic_with(lambda n: 1 / n), "your value uses beta = 1/n; WBIC's beta is 1/log n"),
        (lambda nLn, log_prior, grid, n: _wbic_with(lambda n: 1 / math.log(n))(nLn, log_prior, grid, n) / math.log(n),
         "your value is the tempered mean of beta nL_n; WBIC is the tempered mean of nL_n itself (beta only sets the weights)"),
        (_wbic_with(lambda n: 1 / math.log10(n)), "your value uses log10; beta = 1/log n with the natural log"),
        (_wbic_with(lambda n: 1 / math.log(n), use_prior=False), "your value leaves out the prior"),
        (_wbic_with(lambda n: 1 / math.log(n), log_weights=_even_log_weights),
         "your value matches trapezoid weights from the first spacing alone; the grid is not evenly spaced"),
        (lambda nLn, log_prior, grid, n: _wbic_with(lambda n: 1 / math.log(n))(nLn, log_prior, grid, n) / n,
         "your value is off by the factor n: WBIC averages nL_n, not L_n"),
    ]),
    notes=(
        "a ratio of two trapezoid sums of G <= 2001 positive terms: float64 relative error ~G*1e-16 ~ 2e-13 "
        "of the mean (|WBIC| <= 5e5) -> rtol 1e-11, atol 1e-9. float32, G = 201: each sum is good to "
        "G*6e-8 ~ 1.2e-5 relative, their ratio to 2.4e-5 -> rtol 1e-4, atol 1e-4. Mistakes (beta = 1, "
        "beta = 1/n, L_n instead of nL_n, no prior) are off by >= 1e-2 relative. n <= 1 and a grid that "
        "is not increasing raise ValueError, as the text asks."
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
        short = _line("", ln10 * torch.arange(1, 7), 3.0, 0.5, 0.0, 0, device=device).kwargs
        return [
            _line("exact line F = 3 + 0.5 log n, n = 10^1..10^6", ln10 * torch.arange(1, 7), 3.0, 0.5, 0.0, 0, device=device),
            _line("noisy line, slope 0.25, 12 points over n = 10^2..10^8", ln10 * torch.linspace(2, 8, 12), 1.0, 0.25, 0.05, 1, device=device),
            *_must_raise("F one value shorter than log_n", {"log_n": short["log_n"], "F": short["F"][:-1]}),
        ]
    return [
        _line("noisy line with a huge offset (nL_n at the true parameter), many points", ln10 * torch.linspace(1, 9, 20), 1e6, 1.5, 0.3, 2,
              device=device),
        _line("unevenly spaced log n (random), noisy, a few points", 20 * torch.rand(9, generator=torch.Generator().manual_seed(3),
              dtype=torch.float64), -4.0, 0.75, 0.1, 4, device=device),
        _line("two points only (no noise)", torch.tensor([2.0, 5.0]), 0.5, 2.0, 0.0, 5, device=device),
        _line("float32: noisy line, log n over a wide range", ln10 * torch.linspace(2, 14, 15), 10.0, 0.5, 0.2, 6,
              dtype=torch.float32, device=device),
    ]


register(Exercise(
    id="free_energy.fit_slope",
    reference=free_energy.fit_slope,
    cases=_slope_cases,
    judge=_with_hints(tensor_close(rtol=1e-8, atol=1e-9, rtol32=1e-4, atol32=1e-4), [
        (lambda log_n, F: (F[-1] - F[0]) / (log_n[-1] - log_n[0]),
         "your value is the slope between the end points; least squares uses every point"),
        (lambda log_n, F: (log_n * F).sum() / (log_n * log_n).sum(),
         "your value is the slope of a line through the origin; centre log n first (x - mean of x)"),
        (lambda log_n, F: F.mean() - ((log_n - log_n.mean()) * F).sum() / ((log_n - log_n.mean()) ** 2).sum() * log_n.mean(),
         "your value is the intercept, not the slope"),
        (lambda log_n, F: ((F - F.mean()) * log_n).sum() / ((F - F.mean()) ** 2).sum(),
         "your value regresses log n on F; the slope of F against log n divides by the spread of log n"),
        (lambda log_n, F: ((F - F.mean()) ** 2).sum() / ((F - F.mean()) * log_n).sum(),
         "your value is 1 / (slope of log n on F), the inverse regression; on noisy data it is not the least-squares "
         "slope of F on log n, which divides the covariance by the spread of log n"),
    ]),
    notes=(
        "the slope sum (x - xbar)(y - ybar) / sum (x - xbar)^2 and the normal equations agree to "
        "~|ybar|/(spread of y) * 1e-16 relative; with the offset 1e6 case that is ~1e-10, so rtol 1e-8 "
        "admits every standard way (lstsq, polyfit, the formula). float32: with |y| <= 20 and 15 points "
        "the slope is good to ~1e-5 (atol, rtol 1e-4). Mistakes (x on y, the intercept, the end-point "
        "difference on noisy data) are off by >= 1e-2."
    ),
))


# ----------------------------------------------------------------------------- preferred_model


def _models(label, n, L, lam, m, device=None):
    t = lambda x: torch.as_tensor(x, dtype=torch.float64, device=device)  # noqa: E731
    m = m.to(device) if isinstance(m, torch.Tensor) else t(m)
    return Case(label, {"n": t(n), "L": t(L), "lam": t(lam), "m": m})


def _preference_cases(suite, device):
    logn = lambda a, b, k: torch.logspace(a, b, k, dtype=torch.float64)  # noqa: E731
    if suite == "visible":
        return [
            _models("two models: a simple one (lambda = 1/4) and a more accurate one (loss lower by 1e-3, lambda = 1)",
                    logn(1, 6, 11), [0.101, 0.100], [0.25, 1.0], [1, 1], device),
            _models("the lesson's c = 0: same loss, same lambda = 1/2, multiplicity 1 against 2",
                    logn(1, 8, 8), [1.42, 1.42], [0.5, 0.5], [1, 2], device),
            _models("three phases: losses 0.30 > 0.28 > 0.27, lambdas 1/2 < 3/2 < 4",
                    logn(1, 5, 13), [0.30, 0.28, 0.27], [0.5, 1.5, 4.0], [1, 1, 1], device),
            _models("large loss gaps (5 and 6 nats per sample against 0): the small lambdas belong to the worse models",
                    logn(0.5, 4, 8), [5.0, 6.0, 0.0], [0.1, 0.5, 1.5], [1, 1, 1], device),
            _models("equal lambda = 1, the lower-loss model (gap 1e-5) has multiplicity 1, the other 3",
                    logn(1, 10, 19), [0.30001, 0.3], [1.0, 1.0], [3, 1], device),
            _models("three models of equal loss (the m = 3 one lower by 1e-10): lambdas 0.55, 1/2, 0.47, multiplicities 3, 1, 2",
                    logn(1, 8, 15), [0.2 - 1e-10, 0.2, 0.2], [0.55, 0.5, 0.47], [3, 1, 2], device),
            _models("equal losses, lambdas close (2, 1/2, 0.45, 1/2) with multiplicities 1, 1, 2, 4",
                    logn(1, 12, 12), [0.2, 0.2, 0.2, 0.2], [2.0, 0.5, 0.45, 0.5], [1, 1, 2, 4], device),
        ]
    g = torch.Generator().manual_seed(7)
    L4 = 0.5 + 1e-4 * torch.rand(4, generator=g, dtype=torch.float64)
    return [
        _models("a tiny loss gap and very large n: a simpler model against a more accurate, more complex one",
                logn(2, 12, 21), [0.693148, 0.693147], [0.5, 2.0], [1, 1], device),
        _models("two models, one of which dominates the other",
                logn(1, 9, 9), [0.2, 0.1], [1.5, 0.25], [1, 1], device),
        _models("equal lambda, the lower-loss model has the smaller multiplicity",
                logn(1, 10, 19), [0.40001, 0.4], [0.75, 0.75], [3, 1], device),
        _models("several models with random, nearly equal losses, lambdas spread out, one of higher multiplicity",
                logn(1, 10, 25), L4, [0.25, 0.75, 1.5, 2.5], [1, 2, 1, 1], device),
        _models("multiplicities given as an integer tensor: two singular models with nearly equal losses",
                logn(1, 7, 13), [1.0, 1.00001], [5 / 12, 0.5], torch.tensor([1, 2]), device),
        _models("a longer list of models, with a trade-off between loss and lambda",
                logn(1, 8, 15), [0.05, 0.04, 0.035, 0.033, 0.0325], [0.5, 1.0, 2.0, 3.0, 5.0], [1, 1, 1, 1, 1], device),
    ]


_HIDDEN_PREFERENCE_LABELS = {c.label for c in _preference_cases("hidden", torch.device("cpu"))}


def _free_energies(n, L, lam, m, log=torch.log, loss=True, penalty=True, multiplicity=1.0, n_times_L=True, loglog=True):
    """Rows: sample sizes; columns: models. The variants (a missing term, log10, ...) are the mistakes."""
    log_n = log(n)[:, None]
    F = torch.zeros(n.numel(), L.numel(), dtype=torch.float64, device=n.device)
    if loss:
        F = F + (n[:, None] * L if n_times_L else L.expand_as(F))
    if penalty:
        F = F + lam * log_n
    return F - multiplicity * (m - 1) * (log_n.log() if loglog else log_n)


def _two_model_rule(F, L, lam):
    """A simple alternative, not a named mistake: compare only the lowest-loss and the lowest-lambda model."""
    pair = torch.tensor(sorted({int(L.argmin()), int(lam.argmin())}))
    return pair[F[:, pair].argmin(1)]


_PREFERENCE_MISTAKES = [
    (lambda F: F.argmax(1), "you picked the LARGEST free energy. The posterior probability of a model is proportional "
     "to its evidence Z = exp(-F), so the posterior prefers the model of SMALLEST free energy."),
    (lambda F: F.argmin(1) + 1, "your indices are one too large: index the models from 0, as the tensors do."),
]
_TERM_MISTAKES = [
    (dict(multiplicity=0.0), "you left out -(m - 1) log log n. When n L + lambda log n are equal (or close), "
     "the model of larger multiplicity m has the smaller free energy: the c = 0 comparison of section 5."),
    (dict(multiplicity=-1.0), "your multiplicity term has the wrong sign: a larger m LOWERS the free energy, by (m - 1) log log n."),
    (dict(loglog=False), "your multiplicity term is -(m - 1) log n; it is -(m - 1) log log n, which grows far more slowly "
     "(section 5: at c = 0 the singular model's advantage grows only like log log n)."),
    (dict(loss=False), "you left out the loss term n L. It grows linearly in n and, however small the loss gap, "
     "decides at large n: then the more accurate model wins."),
    (dict(penalty=False), "you left out lambda log n. While n times the loss gap is small, the model of smaller lambda "
     "(the simpler one) has the smaller free energy."),
    (dict(n_times_L=False), "your loss term is L, not n L: the loss of n samples is n times the per-sample loss."),
    (dict(log=torch.log10), "you used log10; the free energy's log n and log log n are natural logarithms."),
]


def _ordinal(k):
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, ..."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _preference_judge(case, expected, got):
    n, L, lam, m = (case.kwargs[k].to(torch.float64).cpu() for k in ("n", "L", "lam", "m"))
    if not isinstance(got, torch.Tensor):
        return f"result: expected a tensor of model indices, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"result: wrong shape: expected {tuple(expected.shape)} (one index per sample size), got {tuple(got.shape)}"
    if got.dtype.is_floating_point or got.dtype.is_complex or got.dtype == torch.bool:
        return f"result: expected integer model indices (torch.long, as argmin returns), got dtype {got.dtype}"
    got = got.cpu().long()
    F = _free_energies(n, L, lam, m)
    A = L.numel()
    ok = (got >= 0) & (got < A)
    chosen = F.gather(1, got.clamp(0, A - 1)[:, None])[:, 0]
    ok &= chosen <= F.min(1).values + 1e-9 * (1 + F.min(1).values.abs())
    if bool(ok.all()):
        return None
    i = int(torch.nonzero(~ok)[0])
    line = f"{int((~ok).sum())} of {n.numel()} sample sizes wrong"
    if case.label in _HIDDEN_PREFERENCE_LABELS:  # a hidden case: no values, no answers
        line += f"; the first is the {_ordinal(i + 1)} smallest n of this case"
    else:
        line += f"; the first at n = {n[i].item():.4g}: expected model {int(expected[i])}, got {int(got[i])}"
    candidates = [(pick(F), hint) for pick, hint in _PREFERENCE_MISTAKES]
    candidates += [(_free_energies(n, L, lam, m, **kw).argmin(1), hint) for kw, hint in _TERM_MISTAKES]
    candidates += [(_two_model_rule(F, L, lam), None)]  # a simple alternative: it earns no hint, but blocks others
    hints = [hint for answer, hint in candidates if torch.equal(answer, got)]
    if len(hints) == 1 and hints[0] is not None:  # that mistake's answer at every n, and no other listed one's
        return f"{line}\nhint: {hints[0]}"
    return (f"{line}\nhint: at each of these n, which model has the smallest free energy? Section 6 says what "
            "each term of F_n does and at which n it decides.")


register(Exercise(
    id="free_energy.preferred_model",
    reference=free_energy.preferred_model,
    cases=_preference_cases,
    judge=_preference_judge,
    notes=(
        "exact: the answer is an index per sample size. Every case keeps the two smallest free energies "
        "at least 1e-3 apart (tests/test_checks_free_energy.py checks it), far above float64 round-off "
        "of n L <= 1e12 (~1e-4 at most, in the tiny-gap case: 1e-16 * 7e11), so any correct way of "
        "comparing agrees; the judge also accepts any model whose F is within 1e-9 relative of the smallest. "
        "A hint is printed only when the wrong answer equals that of exactly one named mistake at every n of the "
        "case (a term left out, the largest F, log10, indices from 1, -(m - 1) log n) and not the answer of the simple "
        "rule 'compare only the lowest-loss and lowest-lambda models'; otherwise a neutral message names the "
        "wrong n (in hidden cases only by rank) and never prints the per-model terms."
    ),
))
