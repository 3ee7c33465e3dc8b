"""Checks of lesson 5 (estimating the LLC): the temperature, the loss, the estimate from loss
traces, the diagnostics that say whether to trust it (effective sample size, split R̂), the
estimator end to end, the choice of the step size, and the verdict on a run.

The first five are deterministic functions of their inputs, judged entry by entry against the
reference. Tolerances (float64): each output is a sum of at most 10⁴ terms of size ≤ 10, so
round-off is ≲ 1e-11 absolute whatever the order of summation (direct sums or FFT); the judges
allow 1e-9 relative. float32 cases state their own tolerance below. Every ValueError the text
asks for has a visible case (``raises=ValueError``). ``sgld_llc`` is judged exactly on the same
generator, ``choose_eps`` by the outcome of a run, ``run_verdict`` exactly (a string).

The effective sample size truncates a sum at the first non-positive pair Γ_m of
autocovariances, a discrete decision: the cases are built so that none of the pairs up to that
point lies within 1e-6·γ_0 (float64) or 1e-3·γ_0 (float32) of zero, so round-off cannot flip it.
"""

from __future__ import annotations

import functools
import math

import torch

from slt_lessons import diagnostics, llc, potentials, sgld
from slt_lessons.checks.registry import (
    Case, Exercise, compare_tensors, describe, must_raise, register, scalar_close, tensor_close,
)
from slt_lessons.targets import potential_target

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
    if suite == "visible":
        return [Case(f"n = {n}", dict(n=n)) for n in (2, 10, 1000)] + must_raise(
            ("n = 1 (not >= 2): ValueError", dict(n=1)), ("n a float, 1000.0 (not an int): ValueError", dict(n=1000.0)))
    return [Case(label, dict(n=n)) for label, n in (("a small n, just above the smallest allowed", 3),
                                                    ("a moderate n", 60000), ("a very large n", 10**7))] + must_raise(
        ("n not positive: ValueError", dict(n=0)))


def _python_float(judge):
    """``judge``, after requiring a Python float (the text asks for one; a 0-d tensor is not one)."""

    def wrapped(case, expected, got):
        if isinstance(got, bool) or not isinstance(got, float):
            return f"result: expected a Python float (as the text asks), got {describe(got)}; convert with float(...)"
        return judge(case, expected, got)

    return wrapped


register(Exercise(
    id="llc.default_nbeta",
    reference=llc.default_nbeta,
    cases=_nbeta_cases,
    judge=_python_float(scalar_close(rtol=1e-12, atol=0.0)),
    notes="One division and a natural log: float64 round-off ~1e-16 relative. The result must be a Python float.",
))


# ----------------------------------------------------------------------------- llc_from_losses


def _losses_case(label, seed, device, C, T, burn_in, n, dtype=F64, lam=2.0, L0=1.4, values=True):
    """Loss traces that relax from L0 to L0 + λ/nβ (a burn-in transient) with AR(1) noise. ``values``: the
    label states the sizes (visible cases; hidden labels say only the kind)."""
    nbeta = n / math.log(n)
    t = torch.arange(T, dtype=F64)
    transient = (lam / nbeta) * (1 - torch.exp(-t / (burn_in / 3 + 1)))
    noise = ar1((C, T), 0.8, seed, scale=math.sqrt(lam) / nbeta)
    losses = L0 + transient + noise
    detail = f"{C} chains x {T} steps, burn_in = {burn_in}, nbeta = n/log n for n = {n}" if values else "nbeta = n/log n"
    return Case(
        f"{label}: {detail}, {_dtype_name(dtype)}",
        dict(losses=losses.to(device=device, dtype=dtype), init_loss=L0, nbeta=nbeta, burn_in=burn_in),
    )


def _losses_error(label, seed, device, burn_in, one_d=False):
    case = _losses_case(label, seed, device, 3, 40, 10, 1000)
    kwargs = dict(case.kwargs, burn_in=burn_in)
    if one_d:
        kwargs["losses"] = kwargs["losses"][0]
    return must_raise((f"{label}: ValueError", kwargs))[0]


def _losses_cases(suite, device):
    if suite == "visible":
        return [
            _losses_case("a few chains", 1, device, 4, 200, 50, 1000),
            _losses_case("no burn-in", 2, device, 3, 100, 0, 500),
            _losses_error("burn_in = T (no draw left), 3 chains x 40 steps", 3, device, 40),
            _losses_error("burn_in negative (-1)", 4, device, -1),
            _losses_error("losses 1-D (one trace, not (C, T))", 5, device, 10, one_d=True),
        ]
    return [
        _losses_case("many chains, long traces and a long burn-in, large n", 11, device, 16, 2000, 400, 10**5,
                     values=False),
        _losses_case("one chain, burn-in one step short of T (a single kept draw), small n", 12, device, 1, 30, 29, 100,
                     values=False),
        _losses_case("float32, several chains, moderate n", 13, device, 8, 500, 100, 1000, dtype=F32, values=False),
        _losses_error("burn_in larger than T", 14, device, 100),
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


def _nll_case(label, seed, device, shape, dtype=F64, scale=1.0, values=True):
    g = torch.Generator().manual_seed(seed)
    out = scale * torch.randn(shape, generator=g, dtype=F64)
    y = out + torch.randn(shape, generator=g, dtype=F64)
    return Case(f"{label}: output and y of shape {tuple(shape)}, {_dtype_name(dtype)}" if values else
                f"{label}, {_dtype_name(dtype)}",
                dict(output=out.to(device=device, dtype=dtype), y=y.to(device=device, dtype=dtype)))


def _nll_cases(suite, device):
    if suite == "visible":
        return [_nll_case("5 samples, 1 output", 1, device, (5, 1)), _nll_case("20 samples, 3 outputs", 2, device, (20, 3))]
    return [
        _nll_case("many samples, several outputs", 11, device, (1000, 10), scale=3.0, values=False),
        _nll_case("one sample, several outputs", 12, device, (1, 4), values=False),
        _nll_case("float32, many samples, a few outputs", 13, device, (500, 2), dtype=F32, values=False),
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


def _first_nonpositive_pair(x: torch.Tensor) -> tuple[int, int]:
    """(M, number of pairs) of Geyer's truncation for trace x, by direct sums in float64."""
    x = x.to(F64).cpu()
    N = x.shape[-1]
    y = x - x.mean()
    acov = torch.stack([(y[: N - k] * y[k:]).sum() for k in range(N)])
    pairs = acov[: 2 * (N // 2)].reshape(-1, 2).sum(-1)
    nonpositive = (pairs <= 0).nonzero()
    return (int(nonpositive[0]) if len(nonpositive) else len(pairs)), len(pairs)


def _late(x):
    """The first non-positive pair comes after a third of the pairs (so lags past N/2 count), but it comes:
    a rule that looks at fewer pairs, or at all of them, gives another τ."""
    M, P = _first_nonpositive_pair(x)
    return len(x) // 3 < M < P


def _ess_case(label, N, rho, seed, device, dtype=F64, accept=lambda x: True, values=True):
    margin = 1e-6 if dtype == F64 else 1e-3
    for s in range(seed, seed + 100):  # the first seed whose pair sums keep clear of zero
        x = ar1((N,), rho, s)
        if _pairs_clear_of_zero(x.to(dtype), margin) and accept(x):
            return Case(f"{label}: N = {N}, AR(1) with rho = {rho}, {_dtype_name(dtype)}" if values else
                        f"{label}, {_dtype_name(dtype)}",
                        dict(trace=x.to(device=device, dtype=dtype)))
    raise RuntimeError("no seed keeps the pair sums clear of zero")  # never reached for these sizes


def phase_slip(N, slip=1):
    """An alternating trace ±1 whose phase slips once, after ``slip`` entries (float64). For odd N every pair
    sum Γ_m is positive (≥ 0.09·γ_0 for N = 9): none stops the sum, all ⌊N/2⌋ pairs count, and τ > 0 only
    because the first and last draws have opposite signs. (A smooth trace cannot do this: the pair sums of a
    centred trace add up to γ_0/2 − γ_{N−1}, so all of them can be positive only with a strong negative γ_1.)"""
    t = torch.arange(N, dtype=F64)
    return torch.where(t < slip, 1.0, -1.0) * (-1.0) ** t


def _no_pair_case(label, N, slip, device, dtype=F64, values=True):
    size = f"N = {N}, " if values else ""
    return Case(f"{label}: {size}alternating signs with one phase slip, {_dtype_name(dtype)}",
                dict(trace=phase_slip(N, slip).to(device=device, dtype=dtype)))


def _ess_cases(suite, device):
    bad = ar1((50,), 0.5, 5)
    bad[17] = math.nan
    if suite == "visible":
        return [
            _ess_case("white noise", 200, 0.0, 1, device),
            _ess_case("strongly correlated", 500, 0.9, 2, device),
            Case("a constant trace (gamma_0 = 0): returns N, N = 50, float64",
                 dict(trace=torch.full((50,), 2.5, dtype=F64, device=device))),
            _ess_case("the shortest trace allowed", 4, 0.3, 3, device),
            _no_pair_case("no pair sum is <= 0 (all floor(N/2) pairs count)", 9, 1, device),
        ] + must_raise(
            ("3 entries (fewer than 4): ValueError", dict(trace=ar1((3,), 0.5, 4).to(device))),
            ("a 2-D trace, shape (2, 50): ValueError", dict(trace=ar1((2, 50), 0.5, 4).to(device))),
            ("a NaN in the trace: ValueError", dict(trace=bad.to(device))),
        )
    return [
        _ess_case("negatively correlated (ESS > N)", 400, -0.5, 11, device, values=False),
        _ess_case("very slow mixing, a long trace", 3000, 0.99, 12, device, values=False),
        _ess_case("odd length, moderately correlated", 301, 0.5, 13, device, values=False),
        _ess_case("float32, strongly correlated", 1000, 0.8, 14, device, dtype=F32, values=False),
        _ess_case("short and strongly anticorrelated (the first non-positive pair comes late)", 30, -0.9, 20, device,
                  accept=_late, values=False),
        Case("a constant trace of odd length, float32", dict(trace=torch.full((31,), -1.0, dtype=F32, device=device))),
        _no_pair_case("no pair sum is non-positive, the slip at the end", 15, 14, device, values=False),
    ] + must_raise(("a trace with an inf: ValueError",
                 dict(trace=torch.cat([ar1((20,), 0.0, 15), torch.tensor([math.inf], dtype=F64)]).to(device))))


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


def _rhat_case(label, C, T, seed, device, dtype=F64, offsets=None, rho=0.5, values=True):
    x = ar1((C, T), rho, seed)
    if offsets is not None:
        x = x + torch.as_tensor(offsets, dtype=F64)[:, None]
    size = f": {C} chains x {T} draws" if values else ""
    return Case(f"{label}{size}, {_dtype_name(dtype)}", dict(traces=x.to(device=device, dtype=dtype)))


def _drifting(C, T, seed, slope):
    x = ar1((C, T), 0.5, seed)
    return x + slope * torch.linspace(0, 1, T, dtype=F64)


def _with_nan(x):
    x = x.clone()
    x[1, 37] = math.nan
    return x


def _rhat_cases(suite, device):
    if suite == "visible":
        return [
            _rhat_case("chains from the same law", 4, 100, 1, device),
            _rhat_case("one chain stuck elsewhere", 4, 100, 2, device, offsets=[0.0, 0.0, 0.0, 2.0]),
            _rhat_case("the shortest allowed (4 draws)", 3, 4, 3, device, offsets=[0.0, 1.0, -1.0]),
            _rhat_case("an odd number of draws (the middle one is dropped)", 3, 21, 7, device, offsets=[0.0, 0.5, -0.5]),
        ] + must_raise(
            ("3 draws per chain (fewer than 4): ValueError", dict(traces=ar1((4, 3), 0.5, 4).to(device))),
            ("1-D traces (one chain given as a vector): ValueError", dict(traces=ar1((100,), 0.5, 5).to(device))),
            ("a NaN in the traces: ValueError", dict(traces=_with_nan(ar1((4, 100), 0.5, 6)).to(device))),
        )
    return [
        Case("a drifting trend within every chain (only splitting sees it), several chains, float64",
             dict(traces=_drifting(4, 200, 11, 3.0).to(device))),
        _rhat_case("an odd number of draws, chains apart", 3, 101, 12, device, offsets=[0.0, 0.5, -0.5], values=False),
        _rhat_case("two chains, slow mixing, long traces", 2, 1000, 13, device, rho=0.95, values=False),
        _rhat_case("float32, many chains, one of them apart from the others", 8, 500, 14, device, dtype=F32,
                   offsets=[0.0] * 7 + [1.0], values=False),
        _rhat_case("the shortest traces allowed, one chain", 1, 4, 15, device, values=False),
    ] + must_raise(("fewer draws per chain than allowed: ValueError", dict(traces=ar1((5, 2), 0.5, 16).to(device))))


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


# ----------------------------------------------------------------------------- sgld_llc (exact)


def _quadratic(h):
    return lambda W: 0.5 * (h * W**2).sum(-1)


def _cross(W):
    return 0.5 * (W[:, 0] * W[:, 1]) ** 2


def _scaled_sgld_step(w, grad, w_star, eps, nbeta, gamma, noise):
    """SGLD at half the temperature: the noise scaled by ½ (a different ``step`` to pass in)."""
    return sgld.sgld_step(w, grad, w_star, eps, nbeta, gamma, 0.5 * noise)


def _sgld_llc_case(label, loss_fn, w_star, *, n, gamma, eps, C, T, burn_in, seed, step=None, device, dtype=F64,
                   values=True):
    kwargs = dict(loss_fn=loss_fn, w_star=w_star.to(device=device, dtype=dtype), n=n, gamma=gamma, eps=eps,
                  n_chains=C, n_steps=T, burn_in=burn_in,
                  generator=torch.Generator(device=device).manual_seed(seed))
    if step is not None:
        kwargs["step"] = step
    d = w_star.numel()
    if not values:  # hidden: the kind only
        return Case(f"{label}, {_dtype_name(dtype)}", kwargs)
    return Case(f"{label}: {C} chains x {T} steps in d = {d}, burn_in = {burn_in}, n = {n}, gamma = {gamma}, "
                f"eps = {eps}, {_dtype_name(dtype)}", kwargs)


def _sgld_llc_cases(suite, device):
    h3 = torch.tensor([1.0, 2.0, 4.0], dtype=F64, device=device)
    if suite == "visible":
        return [
            _sgld_llc_case("a quadratic, the library's SGLD step", _quadratic(h3), torch.zeros(3), n=1000, gamma=1.0,
                           eps=1e-3, C=2, T=60, burn_in=15, seed=1, device=device),
            _sgld_llc_case("a singular potential w1²w2²/2 away from 0", _cross, torch.tensor([0.5, 0.0]), n=500,
                           gamma=2.0, eps=3e-3, C=4, T=200, burn_in=50, seed=2, device=device),
            _sgld_llc_case("another step function passed as `step` (noise scaled by 1/2)", _quadratic(h3),
                           torch.ones(3), n=200, gamma=5.0, eps=2e-3, C=3, T=80, burn_in=20, seed=3,
                           step=_scaled_sgld_step, device=device),
        ]
    dln = potentials.deep_linear_network(device=device)
    return [
        _sgld_llc_case("a deep linear network at a low-rank true parameter, many chains, a small step", dln.model,
                       dln.w_star, n=1000, gamma=1.0, eps=3e-4, C=8, T=150, burn_in=40, seed=11, device=device,
                       values=False),
        _sgld_llc_case("no burn-in: a quadratic, a few chains", _quadratic(h3), torch.zeros(3), n=100, gamma=0.5,
                       eps=5e-3, C=3, T=50, burn_in=0, seed=12, device=device, values=False),
        _sgld_llc_case("one chain: a singular potential", _cross, torch.tensor([0.0, 1.0]), n=2000, gamma=1.0, eps=1e-3,
                       C=1, T=100, burn_in=30, seed=13, device=device, values=False),
        _sgld_llc_case("float32: a quadratic, a few chains", _quadratic(h3.float()), torch.zeros(3), n=1000, gamma=1.0,
                       eps=1e-3, C=4, T=100, burn_in=25, seed=14, device=device, dtype=F32, values=False),
    ]


def _number(x):
    return float(x.item() if isinstance(x, torch.Tensor) and x.numel() == 1 else x)


def _sgld_llc_judge(case, expected, got):
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        return f"expected a tuple (estimate, se, per_chain), got {describe(got)}"
    e_est, e_se, e_pc = expected
    g_est, g_se, g_pc = got
    f32 = case.kwargs["w_star"].dtype == F32
    rtol, atol = (1e-3, 1e-4) if f32 else (1e-8, 1e-10)
    msg = compare_tensors(e_pc, g_pc, (rtol, atol), check_dtype=False, name="per_chain")
    if msg is not None:
        return msg + "\n" + _sgld_llc_hint(case, e_pc, g_pc)
    for name, e, g in (("estimate", e_est, g_est), ("se", e_se, g_se)):
        try:
            gv = _number(g)
        except (TypeError, ValueError, RuntimeError):
            return f"{name}: expected a number or a 0-d tensor, got {describe(g)}"
        ev = _number(e)
        if not math.isfinite(gv) or abs(gv - ev) > atol + rtol * abs(ev):
            hint = ("the estimate is the mean of the per-chain estimates" if name == "estimate" else
                    "se = √(Σ_c var(y_c)/ESS(y_c)) / C, with y_c = nβ(losses[c, burn_in:] − L(w*)), var unbiased, "
                    "ESS from diagnostics.effective_sample_size")
            return f"{name}: expected {ev:.10g}, got {gv:.10g} (per_chain is right)\n  {hint}"
    return None


def _sgld_llc_hint(case, expected, got):
    """Which step went wrong, read from how the per-chain estimates differ."""
    kw = case.kwargs
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return "  per_chain has one estimate per chain, shape (n_chains,)"
    g = got.detach().double().cpu()
    n, step = kw["n"], kw.get("step", sgld.sgld_step)
    at_n = lambda w, grad, w_star, eps, nbeta, gamma, noise: step(w, grad, w_star, eps, n, gamma, noise)  # noqa: E731
    gen = torch.Generator(device=kw["generator"].device)
    gen.set_state(kw["generator"].get_state())
    hot = dict(kw, generator=gen, step=at_n)
    _, _, pc = llc.sgld_llc(**hot)
    wrong = (pc * (n / llc.default_nbeta(n))).double().cpu()
    if torch.allclose(g, wrong, rtol=1e-6, atol=1e-9):
        return "  hint: these are the chains at temperature n: it is nβ = n / log n (llc.default_nbeta(n)), n the dataset size"
    return ("  hint: with the same noise the chains must agree to round-off. Check, in order: nβ = llc.default_nbeta(n); "
            "the chains start at w*; at each step the loss is recorded BEFORE the step; one "
            "torch.randn(W.shape, generator=generator, ...) per step, for all chains at once, after the gradient; "
            "the step is `step(W, grad, w_star, eps, nbeta, gamma, noise)`; the first burn_in steps are dropped.")


register(Exercise(
    id="llc.sgld_llc",
    reference=llc.sgld_llc,
    cases=_sgld_llc_cases,
    judge=_sgld_llc_judge,
    notes=(
        "Exact: the noise is drawn in the stated order from the given generator, so a right answer reproduces the "
        "reference's chains to round-off. float64: the chains are contracting (ε(κ_max + γ) ≤ 0.3 in every case), "
        "so round-off of ~1e-16 per step stays ≲ 1e-13 over ≤ 200 steps; the ESS truncation could flip only if a pair "
        "sum lay within ~1e-12 of zero. Allowed 1e-8 relative. float32: ~6e-8 per operation over 100 steps, "
        "allowed 1e-3 relative. Agreement with estimate_llc (another noise order) is statistical: tests/test_llc.py."
    ),
))


# ----------------------------------------------------------------------------- choose_eps (graded by outcome)

# The run the check makes with the learner's ε: OUTCOME_CHAINS chains of OUTCOME_STEPS SGLD steps, the first
# OUTCOME_BURN_IN dropped, the MALA acceptance of the SGLD proposal every 50 steps.
OUTCOME_CHAINS, OUTCOME_STEPS, OUTCOME_BURN_IN = 512, 1000, 300
ACCEPT_BOUND, REL_TOL, N_SE = 0.9, 0.05, 3.0


def _expect_1d(term, nbeta, gamma):
    """E[nβ·term(w)] under exp(−nβ·term(w) − γw²/2) on the real line, by the trapezoid rule (term(0) = 0)."""
    w = torch.linspace(-8, 8, 20001, dtype=F64) / math.sqrt(gamma)
    logp = -nbeta * term(w) - gamma * w**2 / 2
    p = torch.exp(logp - logp.max())
    return float(torch.trapezoid(nbeta * term(w) * p, w) / torch.trapezoid(p, w))


class EpsProblem:
    """A model for :func:`slt_lessons.llc.choose_eps`: a separable potential L(w) = Σ_i term_i(w_i) (each term
    ≥ 0 with term(0) = 0), possibly rotated, at w* = 0, with the exact E[nβ(L − L(w*))] at γ by 1-D quadrature."""

    def __init__(self, name, terms, nbeta, gamma, rotation=None, pilot_eps=1e-4):
        self.name, self.terms, self.nbeta, self.gamma, self.rotation = name, terms, nbeta, gamma, rotation
        self.pilot_eps = pilot_eps

    @functools.cached_property
    def reference(self):
        return sum(_expect_1d(t, self.nbeta, self.gamma) for t in self.terms)  # a rotation leaves it unchanged

    def loss(self, W):
        V = W if self.rotation is None else W @ self.rotation.to(W)
        return sum(t(V[:, i]) for i, t in enumerate(self.terms))


def _power(c, p):
    return lambda w: c * w**p


@functools.lru_cache(maxsize=None)
def _eps_problems(suite):
    if suite == "visible":
        return [
            EpsProblem("a regular quadratic minimum, d = 4", [_power(c / 2, 2) for c in (1.0, 2.0, 3.0, 5.0)],
                       nbeta=100.0, gamma=10.0),
            EpsProblem("a singular minimum: L = w⁴/2 (the Hessian at w* is 0)", [_power(0.5, 4)], nbeta=145.0,
                       gamma=5.0, pilot_eps=1e-3),
        EpsProblem("a flat quadratic under a strong localization (gamma far above the curvatures), d = 3",
                   [_power(c / 2, 2) for c in (0.01, 0.02, 0.04)], nbeta=100.0, gamma=50.0, pilot_eps=1e-3),
        ]
    g = torch.Generator().manual_seed(5)
    Q = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=F64))[0]
    return [
        EpsProblem("a rotated quadratic in several dimensions", [_power(c / 2, 2) for c in (0.5, 1, 1.5, 2, 3, 4)], nbeta=100.0,
                   gamma=5.0, rotation=Q),
        EpsProblem("a quadratic whose curvature is comparable to gamma", [_power(0.05, 2), _power(0.1, 2)],
                   nbeta=100.0, gamma=10.0, pilot_eps=1e-3),
        EpsProblem("a sum of quartics (the Hessian vanishes at w*)", [_power(c, 4) for c in (0.5, 1.0, 2.0)], nbeta=145.0,
                   gamma=4.0, pilot_eps=1e-4),
        EpsProblem("a quartic and a quadratic direction, rotated off the axes", [_power(1.0, 4), _power(0.25, 2)],
                   nbeta=145.0, gamma=3.0, rotation=torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=F64) / math.sqrt(2)),
        EpsProblem("a regular direction beside a quartic one", [_power(0.5, 2), _power(1.0, 4)], nbeta=145.0,
                   gamma=2.0),
    ]


@functools.lru_cache(maxsize=None)
def _pilot(suite, device, k):
    """The draws of a case: final states of a pilot run at a small ε (cached: collecting and judging need them)."""
    pr = _eps_problems(suite)[k]
    w_star = torch.zeros(len(pr.terms), dtype=F64, device=device)
    return llc.pilot_draws(pr.loss, w_star, pr.nbeta, pr.gamma, eps=pr.pilot_eps, n_chains=100, n_steps=1000,
                           seed=100 + k)


def _eps_cases(suite, device):
    cases = []
    for k, pr in enumerate(_eps_problems(suite)):
        w_star = torch.zeros(len(pr.terms), dtype=F64, device=device)
        draws = _pilot(suite, device, k).clone()
        cases.append(Case(f"{pr.name}, nbeta = {pr.nbeta:g}, gamma = {pr.gamma:g}" if suite == "visible" else pr.name,
                          dict(loss_fn=pr.loss, w_star=w_star, nbeta=pr.nbeta, gamma=pr.gamma, draws=draws)))
    return cases


def outcome(loss_fn, w_star, nbeta, gamma, eps, seed=0):
    """The check's run with step ``eps``: (estimate, SE, mean MALA acceptance, split R̂) from
    OUTCOME_CHAINS independent chains (SE = std of the per-chain estimates / √C)."""
    run = sgld.sample_sgld(potential_target(loss_fn, w_star), nbeta=nbeta, gamma=gamma, eps=eps,
                           n_steps=OUTCOME_STEPS, n_chains=OUTCOME_CHAINS, seed=seed, acceptance_every=50)
    init = float(loss_fn(w_star[None])[0])
    return _summary(run.losses, run.acceptance, init, nbeta)


def _summary(losses, acceptance, init, nbeta):
    per_chain = llc.llc_from_losses(losses, init, nbeta, OUTCOME_BURN_IN)
    C = per_chain.shape[0]
    y = nbeta * (losses[:, OUTCOME_BURN_IN:] - init)
    rhat = float(diagnostics.split_rhat(y)) if bool(torch.isfinite(y).all()) else math.nan
    return float(per_chain.mean()), float(per_chain.std() / math.sqrt(C)), float(acceptance.mean()), rhat


def eps_verdict(estimate, se, acceptance, reference):
    """None when the outcome passes: |estimate − reference| ≤ 5%·reference + 3·SE and acceptance ≥ 0.9."""
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return "the chains diverged (NaN/inf): ε is far too large"
    if abs(estimate - reference) > REL_TOL * abs(reference) + N_SE * se or acceptance < ACCEPT_BOUND:
        return "wrong"
    return None


def _eps_judge(case, expected, got):
    if isinstance(got, bool) or not isinstance(got, float):
        return f"result: expected a Python float (as the text asks), got {describe(got)}; convert with float(...)"
    if not (math.isfinite(got) and got > 0):
        return f"ε must be a positive finite number, got {got!r}"
    kw = case.kwargs
    pr = next(p for s in ("visible", "hidden") for p in _eps_problems(s) if case.label.startswith(p.name))
    kappa_star = kw["nbeta"] * float(torch.linalg.eigvalsh(
        torch.autograd.functional.hessian(lambda w: kw["loss_fn"](w[None])[0], kw["w_star"])).max())
    try:
        est, se, acc, rhat = outcome(kw["loss_fn"], kw["w_star"], kw["nbeta"], kw["gamma"], got)
    except (ValueError, RuntimeError) as exc:
        return f"SGLD with ε = {got:.3g} failed: {exc}"
    verdict = eps_verdict(est, se, acc, pr.reference)
    if verdict is None:
        return None
    a = got * 0.1 / expected  # ε(κ_max + γ), with the reference's κ_max (the reference's ε makes it 0.1)
    report = (f"with ε = {got:.3g} ({OUTCOME_CHAINS} chains x {OUTCOME_STEPS} steps, burn-in {OUTCOME_BURN_IN}): "
              f"estimate {est:.4g} ± {se:.2g} (SE), exact value at this gamma {pr.reference:.4g}; "
              f"acceptance {acc:.3f}, split R̂ {rhat:.3f}; ε(κ_max + γ) = {a:.3g} with κ_max the largest curvature "
              f"of nβL at the draws")
    if not math.isfinite(est) or est > pr.reference:
        why = ("too large: the discretisation bias (a factor 1/(1 − ε(κ+γ)/4) on each quadratic direction) "
               "raises the estimate")
        if abs(got * (kappa_star + kw["gamma"]) - 0.1) <= 0.01:  # the criterion's ε from the Hessian at w* alone
            why += (". It is what the Hessian at w* alone gives: at a singular w* it is degenerate, and the "
                    "curvature grows away from w*; measure it where the chains go, at the draws")
        elif got > expected:
            why += (f". It makes ε(κ_max + γ) = {a:.2g} with the largest curvature the chains meet: either your "
                    "curvature is below that one (take the largest curvature of nβL, plus γ, over w* and all the "
                    "draws), or the product you aim for is above what keeps the bias at a few percent")
    else:
        why = ("too small: in the fixed budget the chains have not relaxed (the slowest direction needs "
               "≈ 1/(ε(κ_min + γ)) steps), so the estimate is low; R̂ > 1 says so too")
    return f"{verdict}: {report}.\n  ε is {why}."


register(Exercise(
    id="llc.choose_eps",
    reference=llc.choose_eps,
    cases=_eps_cases,
    judge=_eps_judge,
    notes=(
        "Graded by outcome. The check runs 512 chains x 1000 SGLD steps (burn-in 300) with the learner's ε and "
        "passes it when |estimate − exact| ≤ 5%·exact + 3·SE, SE = std(per-chain)/√512 (the chains are independent; "
        "the exact value at that γ is by quadrature or in closed form, so there is no second SE to combine), and "
        "the mean MALA acceptance of SGLD proposals is ≥ 0.9. The window is wide: every case passes for "
        "ε(κ_max + γ) from about 0.03 to 0.2 (κ_max over the draws). False failures: at the reference's "
        "ε(κ_max + γ) = 0.1 the bias is ≤ 2.6% on the quadratic cases (exactly: 1/(1 − 0.025) − 1) and ≤ 2% on the "
        "quartic ones, with SE ≤ 3% of the exact value, so a failure needs a Monte Carlo error of ≥ 4 SE: "
        "probability ≤ 3e-5 per case, ≤ 3e-4 for a notebook (8 cases); tests/test_checks_llc.py repeats the worst "
        "case's run 300 times and bounds the tail from the mean and spread of its standardised errors. The "
        "acceptance is ≥ 0.99 at that ε. Graded by the estimate the ε gives, as the lesson text says: any ε that "
        "meets the criterion on every case passes. So a rule on the mean or median curvature over the draws, or "
        "on the trace of the Hessian instead of its largest eigenvalue, passes these models (their curvature over "
        "the draws is not heavy-tailed enough to push such an ε out of the window), and so does ε(κ_max + γ) = 0.2 "
        "instead of 0.1 (inside the window above; the mutation test's 0.2 survivor is this): the check grades the "
        "outcome the text asks for, not one formula. The feedback names the Hessian at w* alone only when the ε "
        "is that rule's (ε(κ(w*) + γ) within 0.01 of 0.1); another too-large ε is told it corresponds to a "
        "curvature below the largest the chains meet."
    ),
))


# ----------------------------------------------------------------------------- run_verdict (reasoning)

VERDICTS = ("not mixed", "too few draws", "step too large", "step bias", "trust")
RHAT_MAX, ESS_MIN, ACCEPT_MIN, HALVING_SE = 1.1, 100.0, 0.9, 3.0


def _verdict_case(label, rhat, ess, acceptance, estimate, se, estimate_half, se_half, *, device):
    return Case(label, dict(rhat=rhat, ess=torch.tensor(ess, dtype=F64, device=device), acceptance=acceptance,
                            estimate=estimate, se=se, estimate_half=estimate_half, se_half=se_half))


def _random_run(g, *, rhat=(1.0, 1.05), ess=(150.0, 900.0), chains=8, acceptance=(0.93, 0.99), shift=(0.0, 2.0),
                low_chain=None, equal_se=False, sign=None):
    """Diagnostics of a run drawn from the given ranges (uniform; ``shift`` in combined SEs, its sign random):
    each rule's quantity lies in its range, so the verdict is known from the ranges alone."""
    u = lambda lo, hi: lo + (hi - lo) * float(torch.rand((), generator=g, dtype=F64))  # noqa: E731
    C = chains
    mean_ess = u(*ess)
    spread = torch.rand(C, generator=g, dtype=F64) - 0.5
    e = mean_ess * (1 + 0.6 * (spread - spread.mean()))  # chains differ; the mean is mean_ess exactly (to round-off)
    if low_chain is not None:  # one chain below 100 (and one above), the mean unchanged
        e[0], e[1] = low_chain, 2 * mean_ess - low_chain + (e[0] + e[1] - 2 * mean_ess)
    estimate, se, se_half = u(0.5, 12.0), u(0.02, 0.3), u(0.02, 0.3)
    se_half = se if equal_se else se_half  # equal SEs: the combined SE √2·SE is far from 2·SE and from 1·SE
    coin = 1.0 if float(torch.rand((), generator=g)) < 0.5 else -1.0
    sign = coin if sign is None else sign
    half = estimate + sign * u(*shift) * math.hypot(se, se_half)
    return dict(rhat=u(*rhat), ess=[round(float(v), 2) for v in e], acceptance=u(*acceptance), estimate=estimate,
                se=se, estimate_half=half, se_half=se_half)


def _verdict_cases(suite, device):
    case = functools.partial(_verdict_case, device=device)
    if suite == "visible":
        return [
            case("every diagnostic passes", 1.01, [420.0, 380.0, 510.0, 450.0], 0.97, 4.12, 0.05, 4.05, 0.06),
            case("chains that disagree", 1.45, [300.0, 280.0, 350.0, 330.0], 0.99, 2.3, 0.2, 2.1, 0.25),
            case("too few effective draws", 1.03, [40.0, 55.0, 35.0, 60.0], 0.98, 0.9, 0.04, 0.88, 0.05),
            case("one chain with few effective draws, the others many", 1.02, [45.0, 300.0, 260.0, 310.0], 0.96, 1.5,
                 0.03, 1.52, 0.03),
            case("a low acceptance", 1.002, [800.0, 760.0, 900.0, 850.0], 0.78, 6.3, 0.05, 6.25, 0.05),
            case("halving eps moves the estimate", 1.005, [600.0, 640.0, 580.0, 610.0], 0.95, 5.6, 0.06, 5.2, 0.07),
            # two rules fail, for every pair of rules: the first in the lesson's order decides
            case("rules 1 and 2 fail (chains disagree, too few effective draws)", 1.25, [50.0, 60.0, 40.0, 70.0], 0.97,
                 2.0, 0.05, 2.02, 0.05),
            case("rules 1 and 3 fail (chains disagree, low acceptance)", 1.3, [500.0, 450.0, 520.0, 480.0], 0.8, 3.0,
                 0.1, 2.9, 0.1),
            case("rules 1 and 4 fail (chains disagree, halving eps moves the estimate)", 1.2,
                 [300.0, 320.0, 280.0, 310.0], 0.96, 5.0, 0.05, 4.5, 0.05),
            case("rules 2 and 3 fail (too few effective draws, low acceptance)", 1.02, [60.0, 80.0, 50.0, 70.0], 0.82,
                 3.0, 0.05, 3.02, 0.05),
            case("rules 2 and 4 fail (too few effective draws, halving eps moves the estimate)", 1.03,
                 [70.0, 60.0, 80.0, 90.0], 0.95, 2.0, 0.04, 2.5, 0.04),
            case("rules 3 and 4 fail (low acceptance, halving eps moves the estimate)", 1.01,
                 [500.0, 540.0, 470.0, 520.0], 0.85, 6.0, 0.05, 5.4, 0.05),
            case("R-hat exactly 1.1 and acceptance exactly 0.9 (each rule passes at equality), the rest fine", 1.1,
                 [300.0, 320.0, 280.0, 310.0], 0.9, 3.0, 0.05, 3.02, 0.05),
        ]
    g = torch.Generator().manual_seed(2025)
    runs = [
        ("every diagnostic passes, several close to their thresholds",
         dict(rhat=(1.06, 1.09), ess=(110.0, 140.0), acceptance=(0.905, 0.93), shift=(2.0, 2.7))),
        ("every diagnostic passes; one chain's ESS below the threshold, the mean above",
         dict(ess=(120.0, 160.0), low_chain=60.0)),
        ("R-hat just above its threshold, the rest fine", dict(rhat=(1.11, 1.14))),
        ("chains far apart, also too few draws and a low acceptance",
         dict(rhat=(1.3, 1.9), ess=(10.0, 40.0), acceptance=(0.6, 0.85))),
        ("mean ESS just below its threshold, some chains above", dict(ess=(99.2, 99.8), chains=6)),
        ("too few draws and a large change under halving", dict(ess=(20.0, 70.0), shift=(5.0, 10.0))),
        ("acceptance just below its bound", dict(acceptance=(0.88, 0.895))),
        ("a low acceptance and a large change under halving", dict(acceptance=(0.5, 0.85), shift=(4.0, 8.0))),
        ("a change just over the halving threshold in combined SEs, equal SEs", dict(shift=(3.15, 3.4), equal_se=True)),
        ("the estimate rises by many SEs when eps is halved, R-hat and acceptance close to their thresholds",
         dict(rhat=(1.07, 1.09), acceptance=(0.905, 0.92), shift=(6.0, 12.0), sign=1.0)),
        ("a change just under the halving threshold in combined SEs, equal SEs (yet over it in one SE alone)",
         dict(shift=(2.2, 2.9), equal_se=True)),
        ("too few draws and an acceptance below its bound, the rest fine",
         dict(ess=(30.0, 90.0), acceptance=(0.7, 0.89))),
        ("R-hat above its threshold and a large change under halving", dict(rhat=(1.15, 1.5), shift=(4.0, 9.0))),
        ("R-hat above its threshold and too few draws, the acceptance fine", dict(rhat=(1.12, 1.6), ess=(20.0, 80.0))),
        ("mean ESS just below its threshold and an acceptance just below its bound",
         dict(ess=(99.2, 99.8), acceptance=(0.88, 0.895))),
    ]
    cases = [case(label, **_random_run(g, **ranges)) for label, ranges in runs]
    cases += [  # exact boundaries, in numbers every correct way of writing the rule computes exactly
        case("mean ESS exactly at its threshold (integer ESS values), the rest fine", 1.02,
             [80.0, 130.0, 90.0, 100.0], 0.96, 7.0, 0.1, 7.05, 0.1),
        case("a change of exactly the halving threshold in combined SEs (unequal SEs), the rest fine", 1.0,
             [200.0, 200.0], 0.95, 100.0, 3.0, 85.0, 4.0),
        case("R-hat exactly at its threshold, the rest fine", 1.1, [150.0, 170.0, 160.0], 0.95, 2.0, 0.04, 2.01, 0.04),
        case("acceptance exactly at its bound, the rest fine", 1.03, [400.0, 420.0, 380.0], 0.9, 8.0, 0.1, 8.1, 0.1),
    ]
    return cases


def _verdict_rules(kw):
    """The four rules in order: (verdict if it fails, passes?, what it says about this run)."""
    ess = kw["ess"].double().cpu()
    change, combined = abs(kw["estimate"] - kw["estimate_half"]), math.hypot(kw["se"], kw["se_half"])
    return [
        ("not mixed", kw["rhat"] <= RHAT_MAX,
         f"split R̂ = {kw['rhat']:.3f} ({'≤' if kw['rhat'] <= RHAT_MAX else '>'} {RHAT_MAX}): the chains "
         + ("agree" if kw["rhat"] <= RHAT_MAX else "disagree, so the estimate depends on where they are")),
        ("too few draws", float(ess.mean()) >= ESS_MIN,
         f"mean ESS per chain = {float(ess.mean()):.1f} ({'≥' if float(ess.mean()) >= ESS_MIN else '<'} {ESS_MIN:g}; "
         f"the smallest chain has {float(ess.min()):.0f}, the largest {float(ess.max()):.0f})"),
        ("step too large", kw["acceptance"] >= ACCEPT_MIN,
         f"mean acceptance = {kw['acceptance']:.3f} ({'≥' if kw['acceptance'] >= ACCEPT_MIN else '<'} {ACCEPT_MIN})"),
        ("step bias", change <= HALVING_SE * combined,
         f"halving ε moved the estimate by {change:.4g} = {change / combined:.2f} combined SEs "
         f"√(SE² + SE_half²) = {combined:.3g} ({'≤' if change <= HALVING_SE * combined else '>'} {HALVING_SE:g})"),
    ]


def _verdict_judge(case, expected, got):
    if not isinstance(got, str) or got not in VERDICTS:
        return f"result: expected one of {', '.join(repr(v) for v in VERDICTS)}, got {describe(got)}"
    if got == expected:
        return None
    rules = _verdict_rules(case.kwargs)
    first = next((k for k, (_, ok, _) in enumerate(rules) if not ok), None)
    lines = [f"expected {expected!r}, got {got!r}. The rules in order, on this run:"]
    lines += [f"  {k + 1}. {'passes' if ok else 'FAILS'}: {why}" for k, (_, ok, why) in enumerate(rules)]
    if got == "trust":
        lines.append(f"  'trust' needs all four rules to pass; rule {first + 1} fails, and the first rule that fails "
                     "names the verdict.")
        return "\n".join(lines)
    k = [v for v, _, _ in rules].index(got)
    if rules[k][1]:
        lines.append(f"  {got!r} is rule {k + 1}'s verdict, but rule {k + 1} passes here.")
        if k == 1 and float(case.kwargs["ess"].min()) < ESS_MIN:
            lines.append("  The rule is on the mean ESS per chain (total ≥ 100 × the number of chains), "
                         "not on the smallest chain.")
        if k == 3:
            lines.append("  The change is compared with 3 combined SEs, √(SE² + SE_half²): both estimates are noisy.")
    else:
        lines.append(f"  Rule {k + 1} fails too, but rule {first + 1} comes first: a run that fails an earlier rule "
                     "is not judged by the later ones (the SEs and the comparison under halving mean something only "
                     "for chains that have mixed, with enough draws, at an acceptable step).")
    if expected == "trust":
        lines.append("  All four pass, so the answer is 'trust'.")
    return "\n".join(lines)


register(Exercise(
    id="llc.run_verdict",
    reference=llc.run_verdict,
    cases=_verdict_cases,
    judge=_verdict_judge,
    notes=(
        "Exact: a string from a fixed set. The hidden cases are drawn from ranges that put each rule's quantity "
        "at least 0.005 (R̂, acceptance), 0.2 (mean ESS) or 0.15 combined SEs (the change under halving) from its "
        "threshold, far beyond round-off, except two exact boundary cases in numbers that every correct way of "
        "writing the rule computes exactly: a mean ESS of exactly 100 from integers, and a change of exactly 3 combined "
        "SEs with SEs 3 and 4 (√(9 + 16) = 5, 100 − 85 = 15); and cases (one visible, two hidden) with R̂ exactly the "
        "float 1.1 and the acceptance exactly the float 0.9, the literals the text states, compared as the text says "
        "(R̂ ≤ 1.1, acceptance ≥ 0.9). Each rule passes at equality, as the text says."
    ),
))
