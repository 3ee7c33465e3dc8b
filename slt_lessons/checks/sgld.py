"""Checks of lesson 4 (SGLD): a step, its stationary variance, a chain, the MALA correction, a diagnostic.

Deterministic exercises are compared with the reference entry by entry. Tolerances: each
output is a handful of elementwise operations on numbers of size ≤ 10³, so float64 round-off
is ≲ 1e-13 absolute; ``1e-10`` leaves a wide margin for another order of operations. float32:
6e-8 relative per operation on terms up to 10³ gives ≲ 1e-4 absolute.

The chain (:func:`slt_lessons.sgld.sgld_chain`) is random, so its check is a statistical test
whose null distribution is exact. On the diagonal quadratic target
``L(w) = ½ Σ_i a_i (w_i − m_i)²`` an SGLD step (Welling & Teh 2011, ICML, with the localization
term of Lau et al. 2023, arXiv:2308.12108) is the linear recursion

    w_t = ρ w_{t−1} + c + √ε ξ_t,   ρ = 1 − (ε/2)(nβ a + γ),   c = (ε/2)(nβ a m + γ w*),

so for a correct chain the one-step residuals ``e_t = (w_t − ρ w_{t−1} − c)/√ε`` are exactly the
noise draws: independent N(0, 1) over steps, chains and coordinates, whatever order they were
drawn in. With N residuals the judge runs five exact tests, each two-sided at level ``ALPHA``:

1. ``Σ e / √N ~ N(0, 1)``                                 (a biased drift)
2. ``Σ e² ~ χ²_N``                                        (noise scale, factor ½, nβ², sign of γ)
3. ``Σ ((e_{2k} + e_{2k+1})/√2)² ~ χ²_{N/2}`` over consecutive steps (noise reused over time)
4. the same over neighbouring chains                       (noise shared between chains)
5. ``Σ z² ~ χ²_{B·d}`` for the last state, ``z = (w_T − μ_T)/σ_T``, from the exact Gaussian law of
   the discretised chain after T steps from w_0 (the lesson's stationary law as T → ∞).

A correct chain fails a case with probability ≤ 5·ALPHA = 2.5e-8, a suite (≤ 3 cases) with
probability ≤ 7.5e-8, and a notebook (both suites, 5 cases) with probability ≤ 1.25e-7 < 1e-6.
Float rounding of a float32 chain moves each residual by ≲ 1e-6, which changes the statistics by
≲ 1e-3 of their standard deviations.
"""

from __future__ import annotations

import math

import torch
from scipy import special

from slt_lessons import diagnostics, mala, sgld
from slt_lessons.targets import potential_target
from slt_lessons.checks.registry import Case, Exercise, compare_tensors, register, tensor_close

F64, F32 = torch.float64, torch.float32
ALPHA = 5e-9


def _randn(shape, seed, device, dtype=F64, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return (shift + scale * torch.randn(shape, generator=g, dtype=F64)).to(device=device, dtype=dtype)


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# ----------------------------------------------------------------------------- sgld_step


def _step_case(label, seed, device, shape, eps, nbeta, gamma, dtype=F64, noise_scale=1.0):
    d = shape[-1]
    return Case(
        f"{label}: w of shape {tuple(shape)}, eps={eps}, nbeta={nbeta}, gamma={gamma}, {_dtype_name(dtype)}",
        dict(
            w=_randn(shape, seed, device, dtype),
            grad=_randn(shape, seed + 1, device, dtype, scale=3.0),
            w_star=_randn((d,), seed + 2, device, dtype, scale=0.5, shift=1.0),
            eps=eps, nbeta=nbeta, gamma=gamma,
            noise=_randn(shape, seed + 3, device, dtype, scale=noise_scale),
        ),
    )


def _step_cases(suite, device):
    if suite == "visible":
        return [
            _step_case("one chain", 1, device, (3,), eps=0.01, nbeta=5.0, gamma=2.0),
            _step_case("8 chains", 11, device, (8, 2), eps=0.1, nbeta=0.5, gamma=10.0),
        ]
    return [
        _step_case("no noise (a gradient-descent step of size eps/2)", 21, device, (4, 3), eps=0.2, nbeta=3.0,
                   gamma=1.0, noise_scale=0.0),
        _step_case("nbeta = n/log n for n = 10^4, small step", 31, device, (16, 5), eps=1e-4,
                   nbeta=1e4 / math.log(1e4), gamma=100.0),
        _step_case("no localization", 41, device, (6, 4), eps=0.05, nbeta=2.0, gamma=0.0),
        _step_case("float32", 51, device, (32, 3), eps=0.01, nbeta=20.0, gamma=5.0, dtype=F32),
    ]


register(Exercise(
    id="sgld.sgld_step",
    reference=sgld.sgld_step,
    cases=_step_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-10, rtol32=1e-5, atol32=1e-4),
    notes=(
        "Elementwise: float64 round-off ~1e-15 relative on terms of size <= 10^2; float32 ~6e-8 relative per "
        "operation on terms <= 10^2, so 1e-4 absolute. Every case has eps != 1 (noise*eps != noise*sqrt(eps)), "
        "nbeta != 1 (nbeta^2 != nbeta) and w != w* (the sign of the localization term shows)."
    ),
))


# ----------------------------------------------------------------------------- stationary_variance


def _variance_cases(suite, device):
    def t(v, dtype=F64):
        return torch.as_tensor(v, dtype=dtype, device=device)

    if suite == "visible":
        return [
            Case("kappa = 10, gamma = 1, eps = 0.01 (0-d tensors)", dict(kappa=t(10.0), gamma=t(1.0), eps=t(0.01))),
            Case("a grid of 5 step sizes, kappa = 4, gamma = 0",
                 dict(kappa=t(4.0), gamma=t(0.0), eps=t([1e-4, 1e-3, 1e-2, 0.1, 0.5]))),
        ]
    return [
        Case("step sizes near the stability limit eps*(kappa+gamma) -> 4",
             dict(kappa=t(3.0), gamma=t(1.0), eps=t([0.5, 0.9, 0.99]))),
        Case("kappa and eps broadcast: kappa of shape (4, 1), eps of shape (3,), gamma = 2.5",
             dict(kappa=t([[0.1], [1.0], [10.0], [1000.0]]), gamma=t(2.5), eps=t([1e-5, 1e-4, 1e-3]))),
        Case("float32, kappa = n/log n for n = 1000, gamma = 100",
             dict(kappa=t(1000 / math.log(1000), F32), gamma=t(100.0, F32), eps=t([1e-4, 1e-3, 5e-3], F32))),
    ]


register(Exercise(
    id="sgld.stationary_variance",
    reference=sgld.stationary_variance,
    cases=_variance_cases,
    judge=tensor_close(rtol=1e-10, atol=0.0, rtol32=1e-5, atol32=0.0),
    notes=(
        "A closed form of a few operations: float64 relative round-off ~1e-15, amplified by at most "
        "1/(1 - eps*a/4) <= 1/(1 - 0.99) = 100 near the stability limit: 1e-10 relative. float32: 1e-5 relative."
    ),
))


# ----------------------------------------------------------------------------- mala_log_accept_ratio


def _quartic(w, nbeta, gamma, w_star):
    """log p and its gradient for log p(w) = −nβ Σ w⁴/4 − (γ/2)‖w − w*‖² (a non-Gaussian target)."""
    logp = -nbeta * (w**4).sum(-1) / 4 - (gamma / 2) * ((w - w_star) ** 2).sum(-1)
    return logp, -nbeta * w**3 - gamma * (w - w_star)


def _mala_case(label, seed, device, shape, eps, nbeta=10.0, gamma=1.0, dtype=F64):
    w = _randn(shape, seed, "cpu", scale=0.7)
    w_star = torch.zeros(shape[-1], dtype=F64)
    logp, grad = _quartic(w, nbeta, gamma, w_star)
    noise = _randn(shape, seed + 1, "cpu")
    w_new = w + (eps / 2) * grad + math.sqrt(eps) * noise  # a Langevin proposal
    logp_new, grad_new = _quartic(w_new, nbeta, gamma, w_star)
    to = dict(device=device, dtype=dtype)
    return Case(
        f"{label}: w of shape {tuple(shape)}, eps={eps}, quartic target nbeta={nbeta}, {_dtype_name(dtype)}",
        dict(w=w.to(**to), w_new=w_new.to(**to), logp=logp.to(**to), logp_new=logp_new.to(**to),
             grad_logp=grad.to(**to), grad_logp_new=grad_new.to(**to), eps=eps),
    )


def _mala_cases(suite, device):
    if suite == "visible":
        return [
            _mala_case("one chain in 2-D (a rejected proposal)", 8, device, (2,), eps=0.05),
            _mala_case("20 chains in 3-D", 11, device, (20, 3), eps=0.02),
        ]
    return [
        _mala_case("200 chains in 1-D, large step (many rejections)", 21, device, (200, 1), eps=0.3),
        _mala_case("chains in a (5, 4, 6) batch", 31, device, (5, 4, 6), eps=0.01, nbeta=30.0),
        _mala_case("float32, 50 chains in 10-D", 41, device, (50, 10), eps=0.02, dtype=F32),
    ]


register(Exercise(
    id="sgld.mala_log_accept_ratio",
    reference=mala.mala_log_accept_ratio,
    cases=_mala_cases,
    judge=tensor_close(rtol=1e-9, atol=1e-9, rtol32=1e-4, atol32=2e-3),
    notes=(
        "Differences of log-densities and of squared norms / (2 eps), each of size <= 10^3: float64 round-off "
        "<= 1e-12 absolute; float32 ~6e-8 * 10^3 * (a sum over 10 coordinates) ~ 1e-4 absolute, allowed 2e-3. "
        "Every case mixes accepted (ratio clamped at 0) and rejected proposals, so a missing min(0, .), a lost "
        "proposal term or a wrong sign in q shows."
    ),
))


# ----------------------------------------------------------------------------- sgld_chain


class QuadraticGrad:
    """The gradient ``∇L(w) = a ⊙ (w − m)`` of ``L(w) = ½ Σ_i a_i (w_i − m_i)²`` (broadcasting over chains)."""

    def __init__(self, a: torch.Tensor, m: torch.Tensor):
        self.a, self.m = a, m

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return self.a * (w - self.m)

    def __repr__(self) -> str:
        return f"QuadraticGrad(a={self.a.tolist()}, m={self.m.tolist()})"


def _chain_case(label, *, seed, device, dtype, n_chains, a, m, w_star, start, eps, nbeta, gamma, n_steps):
    """``n_chains`` chains on the diagonal quadratic (a, m), all started at ``start``."""
    def t(v):
        return torch.as_tensor(v, dtype=dtype, device=device)

    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return Case(
        f"{label}: {n_chains} chains x {len(a)} coordinates, {n_steps} steps, eps={eps}, nbeta={nbeta}, "
        f"gamma={gamma}, quadratic L with curvatures a={a}, {_dtype_name(dtype)}",
        dict(grad_fn=QuadraticGrad(t(a), t(m)), w0=t(start).expand(n_chains, len(a)).clone(), w_star=t(w_star),
             eps=eps, nbeta=nbeta, gamma=gamma, n_steps=n_steps, generator=gen),
    )


_CHAIN_SPECS = {
    "visible": [
        ("started far from the minimum", 11, F64,
         dict(n_chains=128, a=[1.0, 2.5], m=[0.0, 0.0], w_star=[0.5, -0.5], start=[3.0, -3.0],
              eps=0.05, nbeta=4.0, gamma=2.0, n_steps=30)),
        ("started at w*, tempered below 1", 12, F64,
         dict(n_chains=256, a=[20.0, 5.0], m=[2.0, -2.0], w_star=[-1.0, 1.0], start=[-1.0, 1.0],
              eps=0.04, nbeta=0.5, gamma=10.0, n_steps=30)),
    ],
    "hidden": [
        ("float32, far start", 101, F32,
         dict(n_chains=128, a=[0.5, 1.0, 3.0], m=[0.0, 1.0, -1.0], w_star=[1.0, 0.0, 0.0],
              start=[-4.0, 4.0, 2.0], eps=0.04, nbeta=10.0, gamma=4.0, n_steps=30)),
        ("large step, eps*(nbeta*a + gamma) up to 1", 102, F64,
         dict(n_chains=128, a=[1.0, 4.0], m=[0.0, 0.0], w_star=[2.0, -2.0], start=[-3.0, 3.0],
              eps=0.1, nbeta=2.0, gamma=2.0, n_steps=30)),
        ("one coordinate, strong localization", 103, F64,
         dict(n_chains=512, a=[0.1], m=[3.0], w_star=[0.0], start=[1.0],
              eps=0.01, nbeta=100.0, gamma=50.0, n_steps=30)),
    ],
}


def chain_cases(suite: str, device: torch.device, seed: int | None = None) -> list[Case]:
    """The cases of ``sgld_chain``; ``seed`` replaces the suite's fixed seeds (calibration tests)."""
    return [
        _chain_case(label, seed=s if seed is None else 1000 * seed + i, device=device, dtype=dtype, **kw)
        for i, (label, s, dtype, kw) in enumerate(_CHAIN_SPECS[suite])
    ]


def _two_sided_chi2(q: float, dof: int) -> float:
    return float(2 * min(special.chdtr(dof, q), special.chdtrc(dof, q)))


def chain_pvalues(case: Case, trajectory: torch.Tensor) -> tuple[dict[str, float], float]:
    """The five exact tests' p-values for ``trajectory`` on ``case``, and the residuals' mean square."""
    kw = case.kwargs

    def f64(v):
        return torch.as_tensor(v).detach().to(device="cpu", dtype=F64)

    a, m, w_star, w0 = f64(kw["grad_fn"].a), f64(kw["grad_fn"].m), f64(kw["w_star"]), f64(kw["w0"])
    eps, nbeta, gamma, T = float(kw["eps"]), float(kw["nbeta"]), float(kw["gamma"]), int(kw["n_steps"])
    w = f64(trajectory)
    rho = 1 - (eps / 2) * (nbeta * a + gamma)
    c = (eps / 2) * (nbeta * a * m + gamma * w_star)
    e = (w - rho * torch.cat([w0[None], w[:-1]]) - c) / math.sqrt(eps)  # (T, B, d)
    n = e.numel()
    p = {"mean of the residuals": math.erfc(abs(e.sum().item()) / math.sqrt(2 * n)),
         "mean square of the residuals": _two_sided_chi2((e**2).sum().item(), n)}
    steps = (e[0 : T - T % 2 : 2] + e[1 : T - T % 2 : 2]) / math.sqrt(2)
    p["independence of consecutive steps"] = _two_sided_chi2((steps**2).sum().item(), steps.numel())
    B = e.shape[1]
    chains = (e[:, 0 : B - B % 2 : 2] + e[:, 1 : B - B % 2 : 2]) / math.sqrt(2)
    p["independence of neighbouring chains"] = _two_sided_chi2((chains**2).sum().item(), chains.numel())
    # w_T | w_0 ~ N(rho^T w_0 + c (1 − rho^T)/(1 − rho), eps (1 − rho^2T)/(1 − rho^2))
    mu = rho**T * w0 + c * (1 - rho**T) / (1 - rho)
    var = eps * (1 - rho ** (2 * T)) / (1 - rho**2)
    z = (w[-1] - mu) / var.sqrt()
    p["law of the last state"] = _two_sided_chi2((z**2).sum().item(), z.numel())
    return p, (e**2).mean().item()


def judge_chain(case: Case, expected, got) -> str | None:
    """Shape, dtype and device as the reference's; then the five exact tests, each at level ALPHA."""
    msg = compare_tensors(expected, got, (math.inf, math.inf), name="trajectory")
    if msg:
        return msg
    if not bool(torch.isfinite(got).all()):
        return "trajectory: has NaN or infinite entries (is the step stable? check the signs)"
    p, mean_square = chain_pvalues(case, got)
    failed = [k for k, v in p.items() if not v >= ALPHA]
    if not failed:
        return None
    eps = float(case.kwargs["eps"])
    return (
        f"trajectory: not distributed as SGLD on this quadratic target; failed: {', '.join(failed)} "
        f"(p-values {', '.join(f'{p[k]:.2g}' for k in failed)}; each test has level {ALPHA:g}).\n"
        f"  For a correct chain the residuals (w_t - w_(t-1) + (eps/2)(nbeta grad + gamma (w_(t-1) - w*)))"
        f" / sqrt(eps)\n  are the N(0, 1) noise draws, independent across steps and chains. Their mean square "
        f"here is {mean_square:.4g}, not 1\n  (eps = {eps:g}: about eps would mean noise scaled by eps instead "
        f"of sqrt(eps))."
    )


register(Exercise(
    id="sgld.sgld_chain",
    reference=sgld.sgld_chain,
    cases=chain_cases,
    judge=judge_chain,
    notes=(
        f"Statistical: five exact tests per case (see the module docstring), each two-sided at level {ALPHA:g}, "
        "so a correct chain fails a case with probability <= 2.5e-8 and a whole notebook (5 cases) <= 1.25e-7. "
        "Calibration: 0 failures over 1000 seeds of every case (tests/test_checks_sgld.py). Power: each case "
        "puts a wrong noise scale, a missing 1/2, a wrong sign of gamma or nbeta^2 at p < 1e-10."
    ),
))


# ----------------------------------------------------------------------------- langevin_acceptance


class BananaPotential:
    """A non-Gaussian, non-separable test loss ``L(w) = Σ_i w_i⁴/4 + ½ (w_1 w_2 − 0.5)²`` on ``(C, d)``."""

    def __call__(self, W: torch.Tensor) -> torch.Tensor:
        return (W**4).sum(-1) / 4 + 0.5 * (W[:, 0] * W[:, 1] - 0.5) ** 2

    def __repr__(self) -> str:
        return "BananaPotential()"


def _acceptance_case(label, seed, device, n_chains, d, eps, nbeta, gamma, dtype=F64, spread=0.5):
    w_star = _randn((d,), seed, device, dtype, scale=0.3)
    target = potential_target(BananaPotential(), w_star)
    return Case(
        f"{label}: {n_chains} chains in {d}-D, eps={eps}, nbeta={nbeta}, gamma={gamma}, {_dtype_name(dtype)}",
        dict(target=target, W=w_star + _randn((n_chains, d), seed + 1, device, dtype, scale=spread), w_star=w_star,
             nbeta=nbeta, gamma=gamma, eps=eps, noise=_randn((n_chains, d), seed + 2, device, dtype)),
    )


def _acceptance_cases(suite, device):
    if suite == "visible":
        return [
            _acceptance_case("small step", 1, device, 6, 2, eps=1e-2, nbeta=20.0, gamma=5.0),
            _acceptance_case("larger step", 11, device, 6, 3, eps=5e-2, nbeta=20.0, gamma=5.0),
        ]
    return [
        _acceptance_case("a step size that rejects often", 21, device, 40, 2, eps=0.1, nbeta=30.0, gamma=1.0),
        _acceptance_case("nbeta = n/log n for n = 1000, chains near w*", 31, device, 20, 5, eps=5e-3,
                         nbeta=1000 / math.log(1000), gamma=50.0, spread=0.1),
        _acceptance_case("float32", 41, device, 20, 4, eps=5e-2, nbeta=10.0, gamma=2.0, dtype=F32),
    ]


register(Exercise(
    id="sgld.langevin_acceptance",
    reference=diagnostics.langevin_acceptance,
    cases=_acceptance_cases,
    judge=tensor_close(rtol=1e-8, atol=1e-9, rtol32=1e-3, atol32=2e-3),
    notes=(
        "exp of a log-ratio of size <= 10^2 computed in float64 (round-off <= 1e-12); float32: the log-ratio is "
        "good to ~1e-4 absolute (terms <= 10^2 times 6e-8 times a few operations), and exp(.) <= 1 keeps that "
        "absolute. Each case mixes accepted and rejected proposals."
    ),
))
