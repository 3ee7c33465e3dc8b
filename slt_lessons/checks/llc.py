"""Checks of lesson 5 (estimating the LLC): the temperature, the loss, the estimate from loss
traces, and the diagnostics that say whether to trust it (effective sample size, split R̂).

All five are deterministic functions of their inputs, judged entry by entry against the
reference. Tolerances (float64): each output is a sum of at most 10⁴ terms of size ≤ 10, so
round-off is ≲ 1e-11 absolute whatever the order of summation (direct sums or FFT); the judges
allow 1e-9 relative. float32 cases state their own tolerance below.

The effective sample size truncates a sum at the first non-positive pair Γ_m of
autocovariances, a discrete decision: the cases are built so that none of the pairs up to that
point lies within 1e-6·γ_0 (float64) or 1e-3·γ_0 (float32) of zero, so round-off cannot flip it.
"""

from __future__ import annotations

import math

import torch

from slt_lessons import diagnostics, llc, potentials
from slt_lessons.checks.registry import Case, Exercise, register, scalar_close, tensor_close

F64, F32 = torch.float64, torch.float32


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def ar1(shape, rho, seed, *, mean=0.0, scale=1.0, start=None):
    """AR(1) traces x_t = rho x_{t−1} + √(1−rho²) ξ_t along the last dim, started in the stationary law
    (or at ``start``), then ``mean + scale·x``; float64 on the CPU."""
    g = torch.Generator().manual_seed(seed)
    *lead, T = shape
    xi = torch.randn(*lead, T, generator=g, dtype=F64)
    x = torch.empty(*lead, T, dtype=F64)
    x[..., 0] = xi[..., 0] if start is None else start
    for t in range(1, T):
        x[..., t] = rho * x[..., t - 1] + math.sqrt(1 - rho**2) * xi[..., t]
    return mean + scale * x


# ----------------------------------------------------------------------------- default_nbeta


def _nbeta_cases(suite, device):
    ns = [10, 1000] if suite == "visible" else [2, 60000, 10**7]
    return [Case(f"n = {n}", dict(n=n)) for n in ns]


register(Exercise(
    id="llc.default_nbeta",
    reference=llc.default_nbeta,
    cases=_nbeta_cases,
    judge=scalar_close(rtol=1e-12, atol=0.0),
    notes="One division and a natural log: float64 round-off ~1e-16 relative.",
))


# ----------------------------------------------------------------------------- llc_from_losses


def _losses_case(label, seed, device, C, T, burn_in, n, dtype=F64, lam=2.0, L0=1.4):
    """Loss traces that relax from L0 to L0 + λ/nβ (a burn-in transient) with AR(1) noise."""
    nbeta = n / math.log(n)
    t = torch.arange(T, dtype=F64)
    transient = (lam / nbeta) * (1 - torch.exp(-t / (burn_in / 3 + 1)))
    noise = ar1((C, T), 0.8, seed, scale=math.sqrt(lam) / nbeta)
    losses = L0 + transient + noise
    return Case(
        f"{label}: {C} chains x {T} steps, burn_in = {burn_in}, nbeta = n/log n for n = {n}, {_dtype_name(dtype)}",
        dict(losses=losses.to(device=device, dtype=dtype), init_loss=L0, nbeta=nbeta, burn_in=burn_in),
    )


def _losses_cases(suite, device):
    if suite == "visible":
        return [
            _losses_case("a few chains", 1, device, 4, 200, 50, 1000),
            _losses_case("no burn-in", 2, device, 3, 100, 0, 500),
        ]
    return [
        _losses_case("many chains, large n", 11, device, 16, 2000, 400, 10**5),
        _losses_case("one chain, burn-in = T - 1 (a single kept draw)", 12, device, 1, 30, 29, 100),
        _losses_case("float32", 13, device, 8, 500, 100, 1000, dtype=F32),
    ]


register(Exercise(
    id="llc.llc_from_losses",
    reference=llc.llc_from_losses,
    cases=_losses_cases,
    judge=tensor_close(rtol=1e-9, atol=1e-9, rtol32=1e-3, atol32=2e-2),
    notes=(
        "nβ·(mean − L0) with losses ≈ 1.4 and nβ ≤ 10⁴: float64 round-off of the mean ≲ 1e-16·1.4·T, times nβ, "
        "≲ 1e-9. float32 (nβ = 145, T = 500): a sequential sum errs by up to T·6e-8·1.4 ≈ 4e-5 in the mean, "
        "6e-3 after multiplying by nβ; allowed 2e-2, while the smallest mistake it must catch (no burn-in) "
        "moves the result by > 0.3 there."
    ),
))


# ----------------------------------------------------------------------------- gaussian_nll


def _nll_case(label, seed, device, shape, dtype=F64, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    out = scale * torch.randn(shape, generator=g, dtype=F64)
    y = out + torch.randn(shape, generator=g, dtype=F64)
    return Case(f"{label}: output and y of shape {tuple(shape)}, {_dtype_name(dtype)}",
                dict(output=out.to(device=device, dtype=dtype), y=y.to(device=device, dtype=dtype)))


def _nll_cases(suite, device):
    if suite == "visible":
        return [_nll_case("5 samples, 1 output", 1, device, (5, 1)), _nll_case("20 samples, 3 outputs", 2, device, (20, 3))]
    return [
        _nll_case("1000 samples, 10 outputs", 11, device, (1000, 10), scale=3.0),
        _nll_case("one sample, 4 outputs", 12, device, (1, 4)),
        _nll_case("float32, 500 samples, 2 outputs", 13, device, (500, 2), dtype=F32),
    ]


register(Exercise(
    id="llc.gaussian_nll",
    reference=potentials.gaussian_nll,
    cases=_nll_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-12, rtol32=1e-5, atol32=1e-6),
    notes=(
        "A mean of ≤ 10⁴ squares of size ≤ 10²: float64 round-off ~1e-13 relative; float32 ~6e-8·√n relative, "
        "allowed 1e-5. A missing ½, a mean over the outputs or a sum over the batch is off by a factor ≥ 2."
    ),
))


# ----------------------------------------------------------------------------- effective_sample_size


def _pairs_clear_of_zero(x: torch.Tensor, margin: float) -> bool:
    """The pairs Γ_m = γ_2m + γ_2m+1 (direct sums, float64) that decide the truncation, up to and
    including the first non-positive one, all lie farther than margin·γ_0 from zero."""
    x = x.to(F64).cpu()
    N = x.shape[-1]
    y = x - x.mean()
    acov = torch.stack([(y[: N - k] * y[k:]).sum() / N for k in range(N)])
    pairs = acov[: 2 * (N // 2)].reshape(-1, 2).sum(-1)
    nonpositive = (pairs <= 0).nonzero()
    M = int(nonpositive[0]) if len(nonpositive) else len(pairs) - 1
    return bool((pairs[: M + 1].abs() > margin * acov[0]).all())


def _ess_case(label, N, rho, seed, device, dtype=F64):
    margin = 1e-6 if dtype == F64 else 1e-3
    for s in range(seed, seed + 100):  # the first seed whose pair sums keep clear of zero
        x = ar1((N,), rho, s)
        if _pairs_clear_of_zero(x.to(dtype), margin):
            return Case(f"{label}: N = {N}, AR(1) with rho = {rho}, {_dtype_name(dtype)}",
                        dict(trace=x.to(device=device, dtype=dtype)))
    raise RuntimeError("no seed keeps the pair sums clear of zero")  # never reached for these sizes


def _ess_cases(suite, device):
    if suite == "visible":
        return [_ess_case("white noise", 200, 0.0, 1, device), _ess_case("strongly correlated", 500, 0.9, 2, device)]
    return [
        _ess_case("negatively correlated (ESS > N)", 400, -0.5, 11, device),
        _ess_case("very slow mixing", 3000, 0.99, 12, device),
        _ess_case("odd length", 301, 0.5, 13, device),
        _ess_case("float32", 1000, 0.8, 14, device, dtype=F32),
    ]


register(Exercise(
    id="llc.effective_sample_size",
    reference=diagnostics.effective_sample_size,
    cases=_ess_cases,
    judge=scalar_close(rtol=1e-8, atol=0.0, rtol32=1e-3, atol32=0.0),
    notes=(
        "N/τ with τ a sum of ≤ N/2 autocovariance ratios: float64 round-off ~1e-13 relative. The truncation "
        "point cannot flip (module docstring). float32: each Γ_m/γ_0 is good to ~1e-6, a sum of ≤ 100 of them "
        "to ~1e-4: allowed 1e-3 relative. A wrong normalisation, a missing −1 or no truncation is caught in every "
        "case; Geyer's pair rule vs a single-lag rule differ only in the correlated float64 cases."
    ),
))


# ----------------------------------------------------------------------------- split_rhat


def _rhat_case(label, C, T, seed, device, dtype=F64, offsets=None, rho=0.5):
    x = ar1((C, T), rho, seed)
    if offsets is not None:
        x = x + torch.as_tensor(offsets, dtype=F64)[:, None]
    return Case(f"{label}: {C} chains x {T} draws, {_dtype_name(dtype)}", dict(traces=x.to(device=device, dtype=dtype)))


def _drifting(C, T, seed, slope):
    x = ar1((C, T), 0.5, seed)
    return x + slope * torch.linspace(0, 1, T, dtype=F64)


def _rhat_cases(suite, device):
    if suite == "visible":
        return [
            _rhat_case("chains from the same law", 4, 100, 1, device),
            _rhat_case("one chain stuck elsewhere", 4, 100, 2, device, offsets=[0.0, 0.0, 0.0, 2.0]),
        ]
    return [
        Case("a drifting trend within every chain (only splitting sees it): 4 chains x 200 draws, float64",
             dict(traces=_drifting(4, 200, 11, 3.0).to(device))),
        _rhat_case("odd number of draws", 3, 101, 12, device, offsets=[0.0, 0.5, -0.5]),
        _rhat_case("two chains, slow mixing", 2, 1000, 13, device, rho=0.95),
        _rhat_case("float32", 8, 500, 14, device, dtype=F32, offsets=[0.0] * 7 + [1.0]),
    ]


register(Exercise(
    id="llc.split_rhat",
    reference=diagnostics.split_rhat,
    cases=_rhat_cases,
    judge=scalar_close(rtol=1e-9, atol=0.0, rtol32=1e-4, atol32=0.0),
    notes=(
        "A square root of a ratio of variances of ≤ 8000 draws of size ≤ 10: float64 round-off ~1e-13 relative. "
        "float32: variances good to ~1e-6 relative; allowed 1e-4. R̂ close to 1 still separates the mistakes: "
        "biased variances or a missing (n−1)/n move it by > 1e-3."
    ),
))
