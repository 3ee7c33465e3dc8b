"""Checks of lesson 4 (SGLD): a step, its stationary variance, a chain, the largest step for a bias
tolerance (a reasoning exercise), the MALA correction, a diagnostic.

Deterministic exercises are compared with the reference entry by entry. Tolerances: each
output is a handful of elementwise operations on numbers of size ≤ 10³, so float64 round-off
is ≲ 1e-13 absolute; ``1e-10`` leaves a wide margin for another order of operations. float32:
6e-8 relative per operation on terms up to 10³ gives ≲ 1e-4 absolute.

The reasoning exercise (:func:`slt_lessons.sgld.largest_step`) is a number judged to 1e-5 relative on
two visible and seven hidden spectra; a wrong answer is told how far its step's bias is from the
tolerance, which plausible wrong reasoning it matches (``_step_mistakes``), and the reasoning itself.

The chain (:func:`slt_lessons.sgld.sgld_chain`) is random, but its randomness is the given
generator's, so it is judged exactly. On the diagonal quadratic target
``L(w) = ½ Σ_i a_i (w_i − m_i)²`` an SGLD step (Welling & Teh 2011, ICML, with the localization
term of Lau et al. 2023, arXiv:2308.12108) is the linear recursion

    w_t = ρ w_{t−1} + c + √ε ξ_t,   ρ = 1 − (ε/2)(nβ a + γ),   c = (ε/2)(nβ a m + γ w*),

so the one-step residuals ``e_t = (w_t − ρ w_{t−1} − c)/√ε`` of a correct chain are exactly its
noise draws. The judge recomputes the draws of the case's generator in the order the lesson asks
for (one ``torch.randn(w.shape, generator=...)`` per step) and in two other natural orders (all
steps at once; chain by chain, all steps at once) and passes the trajectory when the residuals
equal one of them to rounding (float64: 1e-7; float32: 1e-3, while two draws differ by O(1)).
There is no false failure. When they differ, the hint is derived from how they differ: the
residuals a multiple of the draws (noise scale), the draws plus a multiple of the drift (factor ½,
sign of γ, nβ twice), the draws one step late (w0 returned), or unrelated to the generator (a
generator ignored); for the last, five exact statistical tests of the residuals (``chain_pvalues``:
independent N(0, 1) over steps and chains, and the exact Gaussian law of the last state, each
two-sided at level ``ALPHA``) say whether the law is right besides.
"""

from __future__ import annotations

import itertools
import math

import torch
from scipy import special
from scipy.optimize import brentq

from slt_lessons import diagnostics, mala, sgld
from slt_lessons.targets import potential_target
from slt_lessons.checks.registry import Case, Exercise, compare_tensors, describe, register, tensor_close

F64, F32 = torch.float64, torch.float32
ALPHA = 5e-9


def _randn(shape, seed, device, dtype=F64, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return (shift + scale * torch.randn(shape, generator=g, dtype=F64)).to(device=device, dtype=dtype)


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# ----------------------------------------------------------------------------- sgld_step


def _step_case(label, seed, device, shape, eps, nbeta, gamma, dtype=F64, noise_scale=1.0, values=False):
    """``values``: the label states the numbers (visible cases; round numbers only)."""
    d = shape[-1]
    chains = (f"one chain in {d}-D" if len(shape) == 1 else
              f"{shape[0]} chains in {d}-D" if values else f"a batch of chains in {d}-D")
    detail = f", eps = {eps:g}, nbeta = {nbeta:g}, gamma = {gamma:g}" if values else ""
    return Case(
        f"{label}: {chains}{detail}, {_dtype_name(dtype)}",
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
            _step_case("one chain", 1, device, (3,), eps=0.01, nbeta=5.0, gamma=2.0, values=True),
            _step_case("a batch of chains", 11, device, (8, 2), eps=0.1, nbeta=0.5, gamma=10.0, values=True),
        ]
    return [
        _step_case("no noise (a plain gradient-descent step of size half eps)", 21, device, (4, 3), eps=0.2, nbeta=3.0,
                   gamma=1.0, noise_scale=0.0),
        _step_case("nbeta = n/log n for a large n, a small step, strong localization", 31, device, (16, 5), eps=1e-4,
                   nbeta=1e4 / math.log(1e4), gamma=100.0),
        _step_case("no localization (gamma zero)", 41, device, (6, 4), eps=0.05, nbeta=4.0, gamma=0.0),
        _step_case("tempered (nbeta below one), strong localization", 61, device, (5, 3), eps=0.02, nbeta=0.3, gamma=20.0),
        _step_case("float32", 51, device, (32, 3), eps=0.01, nbeta=20.0, gamma=5.0, dtype=F32),
    ]


# Each plausible mistake as a choice among ways of writing one part of the step (the first is right):
# w + direction * (eps/2) * half * (nbeta^k grad + loc_sign gamma (w - w*?)) + scale(eps) noise.
_STEP_PARTS = {
    "half": {1.0: "", 2.0: "the factor 1/2 is missing: the drift is -(eps/2)(...), half of eps times the gradient"},
    "noise": {"sqrt": "", "eps": "the noise is scaled by eps instead of sqrt(eps) (the Euler-Maruyama step of "
                                 "dB_t has variance eps, so its scale is sqrt(eps))",
              "sqrt2": "the noise is scaled by sqrt(2 eps) (the other Langevin convention) instead of sqrt(eps)"},
    "loc_sign": {1.0: "", -1.0: "the localization pushes away from w*: its term inside the bracket is "
                                "+gamma (w - w*), so that the step pulls towards w*"},
    "w_star": {True: "", False: "w* is ignored: the localization term is gamma (w - w*), not gamma w "
                                "(the demonstration after this exercise uses a nonzero w*)"},
    "nbeta": {1: "", 0: "nbeta is missing: grad is the gradient of L, and the drift has nbeta times it",
              2: "nbeta is applied twice (grad is the gradient of L, not yet times nbeta)"},
    "nbeta_gamma": {False: "", True: "nbeta is applied to the gamma term too: nbeta multiplies the gradient of L "
                                     "only; the localization term is gamma (w - w*), not nbeta gamma (w - w*)"},
    "direction": {-1.0: "", 1.0: "the drift goes uphill: the step is w - (eps/2)(...), gradient descent plus noise"},
}


def _step_with(kw, half, noise, loc_sign, w_star, nbeta, nbeta_gamma, direction):
    eps = kw["eps"]
    loc = kw["w"] - kw["w_star"] if w_star else kw["w"]
    drift = kw["nbeta"] ** nbeta * kw["grad"] + (kw["nbeta"] if nbeta_gamma else 1.0) * loc_sign * kw["gamma"] * loc
    scale = {"sqrt": math.sqrt(eps), "eps": eps, "sqrt2": math.sqrt(2 * eps)}[noise]
    return kw["w"] + direction * (eps / 2) * half * drift + scale * kw["noise"]


_step_close = tensor_close(rtol=1e-10, atol=1e-10, rtol32=1e-5, atol32=1e-4)


def judge_step(case: Case, expected, got) -> str | None:
    """Entry by entry; a wrong step is compared with every combination of the plausible mistakes
    (``_STEP_PARTS``), and the fewest-mistakes combination it matches is named."""
    msg = _step_close(case, expected, got)
    if msg is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return msg
    names = list(_STEP_PARTS)
    matches = []
    for choice in itertools.product(*(_STEP_PARTS[k] for k in names)):
        wrong = [_STEP_PARTS[k][c] for k, c in zip(names, choice) if _STEP_PARTS[k][c]]
        if wrong and _step_close(case, _step_with(case.kwargs, *choice), got) is None:
            matches.append(wrong)
    if matches:
        msg += "\n  Your step matches an SGLD step except that " + "; and ".join(min(matches, key=len)) + "."
    return msg


register(Exercise(
    id="sgld.sgld_step",
    reference=sgld.sgld_step,
    cases=_step_cases,
    judge=judge_step,
    notes=(
        "Elementwise: float64 round-off ~1e-15 relative on terms of size <= 10^2; float32 ~6e-8 relative per "
        "operation on terms <= 10^2, so 1e-4 absolute. Every case has eps != 1 (noise*eps != noise*sqrt(eps)), "
        "nbeta != 1 (nbeta^2 != nbeta, nbeta grad != grad), w* != 0 and w != w* (the sign of the localization "
        "term and an ignored w* show). A wrong step is matched, with the same tolerance, against all 384 "
        "combinations of seven plausible mistakes (factor 1/2, noise scale eps or sqrt(2 eps), sign of gamma, "
        "w* ignored, nbeta missing or squared, nbeta on the gamma term too, uphill drift); the hint names the fewest-mistakes match, and "
        "none is shown when nothing matches."
    ),
))


# ----------------------------------------------------------------------------- stationary_variance


def _variance_cases(suite, device):
    def t(v, dtype=F64):
        return torch.as_tensor(v, dtype=dtype, device=device)

    if suite == "visible":
        return [
            Case("kappa = 10, gamma = 1, eps = 0.01 (0-d tensors)", dict(kappa=t(10.0), gamma=t(1.0), eps=t(0.01))),
            Case("Python numbers: kappa = 50, gamma = 2, eps = 0.02", dict(kappa=50.0, gamma=2.0, eps=0.02)),
            Case("a grid of 5 step sizes, kappa = 4, gamma = 0",
                 dict(kappa=t(4.0), gamma=t(0.0), eps=t([1e-4, 1e-3, 1e-2, 0.1, 0.5]))),
        ]
    return [
        Case("step sizes approaching the stability limit of eps*(kappa+gamma)",
             dict(kappa=t(3.0), gamma=t(1.0), eps=t([0.5, 0.9, 0.99]))),
        Case("kappa and eps broadcast against each other: a column of curvatures, a row of step sizes",
             dict(kappa=t([[0.1], [1.0], [10.0], [1000.0]]), gamma=t(2.5), eps=t([1e-5, 1e-4, 1e-3]))),
        Case("float32, kappa = n/log n for a moderate n, strong localization",
             dict(kappa=t(1000 / math.log(1000), F32), gamma=t(100.0, F32), eps=t([1e-4, 1e-3, 5e-3], F32))),
    ]


_variance_close = tensor_close(rtol=1e-10, atol=0.0, rtol32=1e-5, atol32=0.0)


def _judge_variance(case, expected, got):
    """Tensors entry by entry; for Python-number inputs a number (or a 0-d tensor) is fine."""
    if isinstance(expected, float):
        try:
            g = float(got.item() if isinstance(got, torch.Tensor) else got)
        except (TypeError, ValueError, RuntimeError):
            return f"result: expected a number, got {describe(got)}"
        if not abs(g - expected) <= 1e-10 * abs(expected):
            return f"result: expected {expected:.10g}, got {g:.10g} (allowed relative error 1e-10)"
        return None
    return _variance_close(case, expected, got)


register(Exercise(
    id="sgld.stationary_variance",
    reference=sgld.stationary_variance,
    cases=_variance_cases,
    judge=_judge_variance,
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


def _mala_case(label, seed, device, shape, eps, nbeta=10.0, gamma=1.0, dtype=F64, values=False, hidden=False):
    """``eps`` a number, or a list of one step size per chain (passed as a ``(C, 1)`` tensor). ``hidden``: the
    label is the kind alone, without w's shape."""
    w = _randn(shape, seed, "cpu", scale=0.7)
    w_star = torch.zeros(shape[-1], dtype=F64)
    logp, grad = _quartic(w, nbeta, gamma, w_star)
    noise = _randn(shape, seed + 1, "cpu")
    e = torch.tensor(eps, dtype=F64)[:, None] if isinstance(eps, list) else torch.tensor(eps, dtype=F64)
    w_new = w + (e / 2) * grad + e.sqrt() * noise  # a Langevin proposal
    logp_new, grad_new = _quartic(w_new, nbeta, gamma, w_star)
    to = dict(device=device, dtype=dtype)
    detail = f", eps = {eps:g}, quartic target nbeta = {nbeta:g}" if values else ""
    shown = label if hidden else f"{label}: w of shape {tuple(shape)}{detail}"
    return Case(
        f"{shown}, {_dtype_name(dtype)}",
        dict(w=w.to(**to), w_new=w_new.to(**to), logp=logp.to(**to), logp_new=logp_new.to(**to),
             grad_logp=grad.to(**to), grad_logp_new=grad_new.to(**to), eps=e.to(**to) if isinstance(eps, list) else eps),
    )


def _mala_cases(suite, device):
    if suite == "visible":
        return [
            _mala_case("one chain in 2-D (a rejected proposal)", 8, device, (2,), eps=0.05, values=True),
            _mala_case("20 chains in 3-D", 11, device, (20, 3), eps=0.02, values=True),
            _mala_case("one step size per chain: eps a tensor of shape (C, 1), broadcast against w", 15, device,
                       (6, 3), eps=[0.01, 0.02, 0.05, 0.1, 0.2, 0.3]),
        ]
    return [
        _mala_case("many chains in 1-D, a large step (many rejections)", 21, device, (200, 1), eps=0.3, hidden=True),
        _mala_case("chains in a 2-D batch (w with two batch dimensions), a stiffer target", 31, device, (5, 4, 6),
                   eps=0.01, nbeta=30.0, hidden=True),
        _mala_case("float32, many chains in a higher dimension", 41, device, (50, 10), eps=0.02, dtype=F32, hidden=True),
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
        "proposal term or a wrong sign in q shows. A visible case passes eps as a (C, 1) tensor of per-chain steps "
        "(as sample_mala does), so dividing by 2 eps after the sum over the last dim (shape (C, C)) fails."
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


def _chain_case(label, *, seed, device, dtype, n_chains, a, m, w_star, start, eps, nbeta, gamma, n_steps, values):
    """``n_chains`` chains on the diagonal quadratic (a, m), all started at ``start``; ``n_chains=None``:
    one chain, ``w0`` of shape ``(d,)``."""
    def t(v):
        return torch.as_tensor(v, dtype=dtype, device=device)

    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    w0 = t(start).clone() if n_chains is None else t(start).expand(n_chains, len(a)).clone()
    chains = f"one chain, w0 of shape ({len(a)},)" if n_chains is None else f"a batch of chains in {len(a)}-D"
    detail = (f", {n_steps} steps, eps = {eps:g}, nbeta = {nbeta:g}, gamma = {gamma:g}, quadratic L with curvatures "
              f"a = {a}" if values else ", a quadratic loss")
    return Case(
        f"{label}: {chains}{detail}, {_dtype_name(dtype)}",
        dict(grad_fn=QuadraticGrad(t(a), t(m)), w0=w0, w_star=t(w_star),
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
        ("a single chain", 13, F64,
         dict(n_chains=None, a=[2.0, 0.5, 1.0], m=[1.0, 0.0, -1.0], w_star=[0.0, 0.5, 0.0], start=[2.0, -2.0, 1.0],
              eps=0.05, nbeta=3.0, gamma=1.0, n_steps=40)),
    ],
    "hidden": [
        ("float32, far start", 101, F32,
         dict(n_chains=128, a=[0.5, 1.0, 3.0], m=[0.0, 1.0, -1.0], w_star=[1.0, 0.0, 0.0],
              start=[-4.0, 4.0, 2.0], eps=0.04, nbeta=10.0, gamma=4.0, n_steps=30)),
        ("a large step, far from w*", 102, F64,
         dict(n_chains=128, a=[1.0, 4.0], m=[0.0, 0.0], w_star=[2.0, -2.0], start=[-3.0, 3.0],
              eps=0.1, nbeta=2.0, gamma=2.0, n_steps=30)),
        ("one coordinate, strong tempering and localization", 103, F64,
         dict(n_chains=512, a=[0.1], m=[3.0], w_star=[0.0], start=[1.0],
              eps=0.01, nbeta=100.0, gamma=50.0, n_steps=30)),
    ],
}


def chain_cases(suite: str, device: torch.device, seed: int | None = None) -> list[Case]:
    """The cases of ``sgld_chain``; ``seed`` replaces the suite's fixed seeds (calibration tests)."""
    return [
        _chain_case(label, seed=s if seed is None else 1000 * seed + i, device=device, dtype=dtype,
                    values=suite == "visible", **kw)
        for i, (label, s, dtype, kw) in enumerate(_CHAIN_SPECS[suite])
    ]


def _f64(v) -> torch.Tensor:
    return torch.as_tensor(v).detach().to(device="cpu", dtype=F64)


def chain_residuals(case: Case, trajectory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``e_t = (w_t − ρ w_{t−1} − c)/√ε`` (float64, shape of the trajectory) and the states before each step."""
    kw = case.kwargs
    a, m, w_star = _f64(kw["grad_fn"].a), _f64(kw["grad_fn"].m), _f64(kw["w_star"])
    eps, nbeta, gamma = float(kw["eps"]), float(kw["nbeta"]), float(kw["gamma"])
    w = _f64(trajectory)
    prev = torch.cat([_f64(kw["w0"])[None], w[:-1]])
    rho = 1 - (eps / 2) * (nbeta * a + gamma)
    c = (eps / 2) * (nbeta * a * m + gamma * w_star)
    return (w - rho * prev - c) / math.sqrt(eps), prev


def chain_draws(case: Case) -> dict[str, torch.Tensor]:
    """The noise a correct chain draws from the case's generator, ``(T, *w0.shape)`` in float64, in
    each accepted order: one draw of ``w.shape`` per step (the lesson's), all steps at once, and
    chain by chain (each row's steps at once)."""
    kw = case.kwargs
    w0, T, state = kw["w0"], int(kw["n_steps"]), kw["generator"].get_state()

    def fresh():
        g = torch.Generator(device=kw["generator"].device)
        g.set_state(state)
        return g

    opts = dict(dtype=w0.dtype, device=w0.device)
    g = fresh()
    orders = {"one draw per step": torch.stack([torch.randn(w0.shape, generator=g, **opts) for _ in range(T)])}
    orders["all steps at once"] = torch.randn((T, *w0.shape), generator=fresh(), **opts)
    g = fresh()
    orders["chain by chain"] = torch.stack([torch.randn((T, *row.shape), generator=g, **opts) for row in w0], 1)
    return {k: _f64(v) for k, v in orders.items()}


def _two_sided_chi2(q: float, dof: int) -> float:
    return float(2 * min(special.chdtr(dof, q), special.chdtrc(dof, q)))


def chain_pvalues(case: Case, trajectory: torch.Tensor) -> tuple[dict[str, float], float]:
    """Five exact tests that the residuals are independent N(0, 1) draws (whatever generator drew
    them): their p-values, and the residuals' mean square."""
    kw = case.kwargs
    a, m, w_star, w0 = _f64(kw["grad_fn"].a), _f64(kw["grad_fn"].m), _f64(kw["w_star"]), _f64(kw["w0"])
    eps, nbeta, gamma, T = float(kw["eps"]), float(kw["nbeta"]), float(kw["gamma"]), int(kw["n_steps"])
    w = _f64(trajectory)
    rho = 1 - (eps / 2) * (nbeta * a + gamma)
    c = (eps / 2) * (nbeta * a * m + gamma * w_star)
    e, _ = chain_residuals(case, trajectory)  # (T, B, d), or (T, d) for one chain
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


def _near(x: float, target: float, rel: float = 1e-3) -> bool:
    return abs(x - target) <= rel * abs(target)


def _noise_hint(s: float, eps: float) -> str:
    """What a noise of ``s √ε · draw`` per step means (s = 1 is right)."""
    if _near(s, 1.0):
        return ""
    if _near(s, math.sqrt(eps)):
        return "the noise is scaled by eps instead of sqrt(eps)"
    if _near(s, math.sqrt(2)):
        return "the noise is scaled by sqrt(2 eps) (the other Langevin convention) instead of sqrt(eps)"
    return f"the noise of each step is {s:.4g} sqrt(eps) times the draw, not sqrt(eps) times it"


def _drift_hint(k_loss: float, k_loc: float, nbeta: float, gamma: float) -> str:
    """What a drift of ``−(ε/2)(k_loss nβ∇L + k_loc γ(w − w*))`` means (k_loss = k_loc = 1 is right)."""
    loc = gamma != 0
    if _near(k_loss, 1.0) and (not loc or _near(k_loc, 1.0)):
        return ""
    if _near(k_loss, 2.0) and (not loc or _near(k_loc, 2.0)):
        return "the drift is twice too large: the factor 1/2 is missing (the step is -(eps/2) grad U)"
    if _near(k_loss, -1.0) and (not loc or _near(k_loc, -1.0)):
        return "the drift goes uphill: the step is w - (eps/2)(...), gradient descent plus noise"
    parts = []
    if not _near(k_loss, 1.0):
        parts.append("nbeta is applied twice (grad is the gradient of L, not yet times nbeta)"
                     if _near(k_loss, nbeta) else f"the gradient term is {k_loss:.4g} times nbeta grad, not once")
    if loc and not _near(k_loc, 1.0):
        parts.append("the localization pushes away from w*: its term inside the bracket is +gamma (w - w*)"
                     if _near(k_loc, -1.0) else "nbeta multiplies the localization term too"
                     if _near(k_loc, nbeta) else f"the localization term is {k_loc:.4g} times gamma (w - w*), not once")
    return "; ".join(parts)


def _diagnose(case: Case, got: torch.Tensor, e: torch.Tensor, prev: torch.Tensor, draws: dict[str, torch.Tensor], tol: float) -> str:
    """A hint derived from how the residuals differ from the generator's draws."""
    kw = case.kwargs
    eps, nbeta, gamma = float(kw["eps"]), float(kw["nbeta"]), float(kw["gamma"])
    a, m, w_star = _f64(kw["grad_fn"].a), _f64(kw["grad_fn"].m), _f64(kw["w_star"])
    for xi in draws.values():  # the states before each step returned: e_{t+1} is draw t
        if (e[1:] - xi[:-1]).abs().max().item() <= tol:
            return ("Your trajectory is one step late: it starts with w0 and stops before the last step. Return the "
                    "states after each step, w_1 ... w_T.")
    # e = s ξ − (√ε/2)((k_loss − 1) nβ∇L + (k_loc − 1) γ(w − w*)) exactly for a linear step of this form
    half = math.sqrt(eps) / 2
    cols = [half * nbeta * a * (prev - m), half * gamma * (prev - w_star)]
    rows = (prev.abs() < 1e3).flatten()  # the fit on states that have not diverged (float32 rounding)
    best = None
    for order, xi in draws.items():
        X = torch.stack([xi.flatten()] + [c.flatten() for c in cols], 1)[rows]
        coef = torch.linalg.lstsq(X, e.flatten()[rows, None], driver="gelsd").solution.flatten()
        misfit = (e.flatten()[rows] - X @ coef).abs().max().item() / max(1.0, e.flatten()[rows].abs().max().item())
        if best is None or misfit < best[0]:
            best = (misfit, order, coef.tolist())
    misfit, order, (s, b_loss, b_loc) = best
    if int(rows.sum()) >= 10 and misfit <= 100 * tol and abs(s) > 0.01:
        hints = [h for h in (_noise_hint(s, eps), _drift_hint(1 - b_loss, 1 - b_loc, nbeta, gamma)) if h]
        if hints:
            return "Its steps are SGLD steps with this generator's noise except that " + "; and ".join(hints) + "."
    p, mean_square = chain_pvalues(case, got)
    failed = [k for k, v in p.items() if not v >= ALPHA]
    text = ("Its noise is not this generator's draws: draw each step's noise with torch.randn(w.shape, "
            "generator=generator, dtype=w.dtype, device=w.device), so that a chain is reproducible from its generator.")
    if not failed:
        return text + " (Otherwise the residuals look like independent N(0, 1) draws, as they should.)"
    text += (f"\n  Nor are the residuals independent N(0, 1) draws: failed {', '.join(failed)} (p-values "
             f"{', '.join(f'{p[k]:.2g}' for k in failed)}; each test has level {ALPHA:g}); their mean square is "
             f"{mean_square:.4g}")
    if _near(mean_square, eps, 0.1):
        text += f", about eps = {eps:g}: the noise looks scaled by eps instead of sqrt(eps)"
    elif _near(mean_square, 2.0, 0.1):
        text += ", about 2: the noise looks scaled by sqrt(2 eps) instead of sqrt(eps)"
    return text + "."


def judge_chain(case: Case, expected, got) -> str | None:
    """Shape, dtype and device as the reference's; then the residuals must be the generator's draws."""
    T = int(case.kwargs["n_steps"])
    if isinstance(got, torch.Tensor) and got.ndim == expected.ndim and got.shape[1:] == expected.shape[1:]:
        if got.shape[0] == T + 1:
            return (f"trajectory: {T + 1} states for n_steps = {T}: one too many. Return the states after each "
                    "step, w_1 ... w_T, without the start w0.")
        if got.shape[0] == T - 1:
            return f"trajectory: {T - 1} states for n_steps = {T}: one too few (run n_steps steps, keep each state)."
    msg = compare_tensors(expected, got, (math.inf, math.inf), name="trajectory")
    if msg:
        return msg
    if not bool(torch.isfinite(got).all()):
        return "trajectory: has NaN or infinite entries (is the step stable? check the signs)"
    tol = 1e-7 if got.dtype == F64 else 1e-3
    e, prev = chain_residuals(case, got)
    draws = chain_draws(case)
    if any((e - xi).abs().max().item() <= tol for xi in draws.values()):
        return None
    return (
        "trajectory: not the SGLD chain of this generator's noise. For a correct chain the residuals\n"
        "  (w_t - w_(t-1) + (eps/2)(nbeta grad + gamma (w_(t-1) - w*))) / sqrt(eps) are exactly the draws of "
        "torch.randn(w.shape, generator=generator, ...), one per step.\n  " + _diagnose(case, got, e, prev, draws, tol)
    )


register(Exercise(
    id="sgld.sgld_chain",
    reference=sgld.sgld_chain,
    cases=chain_cases,
    judge=judge_chain,
    notes=(
        "Exact: the residuals of the trajectory must equal the case generator's draws (one per step, as the lesson "
        "asks; all steps at once or chain by chain are accepted too) to 1e-7 (float64: round-off ~1e-14 on states "
        "<= 10 divided by sqrt(eps) >= 0.1) or 1e-3 (float32: ~1e-5 per residual), while distinct draws differ "
        "by O(1). No false failures. Hints come from the failure: a least-squares fit of the residuals on the draws "
        "and the two drift terms names a wrong noise scale or drift; a one-step shift, a wrong length, and a "
        "generator ignored (then the five statistical tests of chain_pvalues, each at level 5e-9, say whether the "
        "law is right besides) are recognised."
    ),
))


# ----------------------------------------------------------------------------- langevin_acceptance


class BananaPotential:
    """A non-Gaussian, non-separable test loss ``L(w) = Σ_i w_i⁴/4 + ½ (w_1 w_2 − 0.5)²`` on ``(C, d)``."""

    def __call__(self, W: torch.Tensor) -> torch.Tensor:
        return (W**4).sum(-1) / 4 + 0.5 * (W[:, 0] * W[:, 1] - 0.5) ** 2

    def __repr__(self) -> str:
        return "BananaPotential()"


def _acceptance_case(label, seed, device, n_chains, d, eps, nbeta, gamma, dtype=F64, spread=0.5, blown_up=0,
                     values=False):
    """Chains around w* (``blown_up`` of them moved to |w| = 1e80, where the proposal overflows to NaN)."""
    w_star = _randn((d,), seed, device, dtype, scale=0.3)
    target = potential_target(BananaPotential(), w_star)
    W = w_star + _randn((n_chains, d), seed + 1, device, dtype, scale=spread)
    if blown_up:
        W[:blown_up, 0] = 1e80
    detail = f", eps = {eps:g}, nbeta = {nbeta:g}, gamma = {gamma:g}" if values else ""
    chains = f"{n_chains} chains" if values else "a batch of chains"
    return Case(
        f"{label}: {chains} in {d}-D{detail}, {_dtype_name(dtype)}",
        dict(target=target, W=W, w_star=w_star,
             nbeta=nbeta, gamma=gamma, eps=eps, noise=_randn((n_chains, d), seed + 2, device, dtype)),
    )


def _acceptance_cases(suite, device):
    if suite == "visible":
        return [
            _acceptance_case("small step", 1, device, 6, 2, eps=1e-2, nbeta=20.0, gamma=5.0, values=True),
            _acceptance_case("larger step", 11, device, 6, 3, eps=5e-2, nbeta=20.0, gamma=5.0, values=True),
            _acceptance_case("two chains that have blown up (their proposals overflow: NaN counts as 0)", 16, device,
                             6, 2, eps=1e-2, nbeta=20.0, gamma=5.0, blown_up=2, values=True),
        ]
    return [
        _acceptance_case("a step size that rejects often", 21, device, 40, 2, eps=0.1, nbeta=30.0, gamma=1.0),
        _acceptance_case("nbeta = n/log n for a moderate n, chains near w*, strong localization", 31, device, 20, 5, eps=5e-3,
                         nbeta=1000 / math.log(1000), gamma=50.0, spread=0.1),
        _acceptance_case("float32", 41, device, 20, 4, eps=5e-2, nbeta=10.0, gamma=2.0, dtype=F32),
    ]


# Plausible mistakes, each a choice among ways of writing one part (the first is right).
_ACCEPTANCE_PARTS = {
    "proposal": {"w*": "", "gamma 0": "the proposal is not localized at w*: make it with "
                 "sgld.sgld_step(W, grad, w_star, eps, nbeta, gamma, noise), gamma included",
                 "at 0": "the proposal is not localized at w*: pass w_star to sgld.sgld_step (not zeros)"},
    "logp": {"with gamma": "", "value without gamma": "gamma is missing from log p: log p(w) = -nbeta L_n(w) - "
             "(gamma/2)|w - w*|^2 (mala.log_density includes it)", "without gamma": "gamma is missing from log p "
             "and its gradient: log p(w) = -nbeta L_n(w) - (gamma/2)|w - w*|^2 (mala.log_density includes it)"},
    "grad": {"L": "", "grad log p": "grad log p was passed as sgld_step's grad; that argument is grad L_n (the "
             "loss's gradient, before nbeta and without gamma): take it from target.loss_and_grad(W)",
             "-grad log p": "-grad log p = nbeta grad L + gamma (w - w*) was passed as sgld_step's grad; that "
             "argument is grad L_n alone (sgld_step multiplies by nbeta and adds gamma itself)"},
}


def _acceptance_with(kw, proposal, logp, grad):
    target, W, w_star = kw["target"], kw["W"], kw["w_star"]
    nbeta, gamma, eps = kw["nbeta"], kw["gamma"], kw["eps"]

    def log_density(X):
        loss, g = target.loss_and_grad(X)
        diff = X - w_star
        lp = -nbeta * loss - (0.0 if logp == "value without gamma" else gamma / 2) * (diff**2).sum(-1)
        if logp == "without gamma":
            lp = -nbeta * loss
        return lp, -(nbeta * g + (0.0 if logp == "without gamma" else gamma) * diff)

    lp, glp = log_density(W)
    g = {"L": target.loss_and_grad(W)[1], "grad log p": glp, "-grad log p": -glp}[grad]
    W_new = sgld.sgld_step(W, g, w_star if proposal != "at 0" else torch.zeros_like(w_star), eps, nbeta,
                           0.0 if proposal == "gamma 0" else gamma, kw["noise"])
    lp_new, glp_new = log_density(W_new)
    return torch.nan_to_num(mala.mala_log_accept_ratio(W, W_new, lp, lp_new, glp, glp_new, eps).exp(), nan=0.0)


_acceptance_close = tensor_close(rtol=1e-8, atol=1e-9, rtol32=1e-3, atol32=2e-3)


def judge_acceptance(case: Case, expected, got) -> str | None:
    """Entry by entry; a wrong answer is compared with the combinations of the plausible mistakes
    (``_ACCEPTANCE_PARTS``), and the fewest-mistakes combinations it matches are named. Probabilities
    that are all 0 or 1 match many mistakes at once: then only an all-rejected answer gets a hint,
    naming every mistake that rejects all here."""
    msg = _acceptance_close(case, expected, got)
    if msg is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return msg
    g = _f64(got)
    informative = bool(((g > 1e-6) & (g < 1 - 1e-6)).any())
    if not informative and not bool((g.abs() <= 1e-9).all()):
        return msg
    names = list(_ACCEPTANCE_PARTS)
    matches = []
    for choice in itertools.product(*(_ACCEPTANCE_PARTS[k] for k in names)):
        wrong = [_ACCEPTANCE_PARTS[k][c] for k, c in zip(names, choice) if _ACCEPTANCE_PARTS[k][c]]
        if wrong and _acceptance_close(case, _acceptance_with(case.kwargs, *choice), got) is None:
            matches.append(wrong)
    fewest = [m for m in matches if len(m) == min(map(len, matches))] if matches else []
    if not fewest:
        return msg
    if not informative:
        return msg + ("\n  Every proposal is rejected here. Mistakes that do that on this case: "
                      + "; or ".join("; and ".join(m) for m in fewest) + ".")
    if len(fewest) == 1:
        return msg + "\n  Your acceptance matches the right one except that " + "; and ".join(fewest[0]) + "."
    return msg + ("\n  Your acceptance matches the right one but for one of these: "
                  + "; or ".join("; and ".join(m) for m in fewest) + ".")


register(Exercise(
    id="sgld.langevin_acceptance",
    reference=sgld.langevin_acceptance,
    cases=_acceptance_cases,
    judge=judge_acceptance,
    notes=(
        "exp of a log-ratio of size <= 10^2 computed in float64 (round-off <= 1e-12); float32: the log-ratio is "
        "good to ~1e-4 absolute (terms <= 10^2 times 6e-8 times a few operations), and exp(.) <= 1 keeps that "
        "absolute. Each case mixes accepted and rejected proposals. A wrong answer is matched, with the same "
        "tolerance, against the 26 combinations of three plausible mistakes (a proposal without gamma or at 0 "
        "instead of w*, gamma missing from log p, grad log p passed as grad L); the hint names the fewest-mistakes "
        "match, and none is shown when nothing matches."
    ),
))


# ----------------------------------------------------------------------------- largest_step (reasoning)


def relative_bias(hessian_eigs, nbeta, gamma, eps) -> float:
    """λ̂(ε)/λ̂(0) − 1 on the quadratic of :func:`slt_lessons.sgld.largest_step` (inf past the stability limit)."""
    kappa = nbeta * _f64(hessian_eigs)
    a = kappa + gamma
    if not eps * a.max().item() < 4:
        return math.inf
    share = kappa / a
    return (share / (1 - eps * a / 4)).sum().item() / share.sum().item() - 1


def _largest_case(label, device, h, nbeta, gamma, tol, values=False):
    detail = f", nbeta = {nbeta:g}, gamma = {gamma:g}, tol = {tol:g}" if values else ""
    count = (f"{len(h)} Hessian eigenvalue{'s' if len(h) > 1 else ''}" if values else
             "many Hessian eigenvalues" if len(h) > 4 else "a few Hessian eigenvalues")
    return Case(f"{label}: {count}{detail}", dict(hessian_eigs=torch.tensor(h, dtype=F64, device=device), nbeta=nbeta, gamma=gamma,
                                   tol=tol))


def _largest_step_cases(suite, device):
    if suite == "visible":
        return [
            _largest_case("one direction", device, [2.0], 50.0, 10.0, 0.05, values=True),
            _largest_case("three directions of different curvature", device, [4.0, 1.0, 0.25], 100.0, 1.0, 0.02,
                          values=True),
            _largest_case("a flat direction and an unequal spectrum", device, [0.0, 1.0, 9.0], 10.0, 1.0, 0.05,
                          values=True),
        ]
    return [
        _largest_case("one stiff direction and many soft ones", device, [10.0] + [0.01] * 9, 20.0, 5.0, 0.05),
        _largest_case("flat (singular) directions, some Hessian eigenvalues zero", device, [0.0, 0.0, 2.0, 0.5], 200.0, 20.0,
                   0.03),
        _largest_case("no localization (gamma zero)", device, [3.0, 1.0], 10.0, 0.0, 0.1),
        _largest_case("localization stronger than the curvature", device, [0.5, 0.1], 10.0, 100.0, 0.02),
        _largest_case("nbeta = n/log n for a large n, a tight tolerance", device, [5.0, 2.0, 1.0, 0.5, 0.1],
                   1e4 / math.log(1e4), 100.0, 0.01),
        _largest_case("a loose tolerance, one stiff and one nearly flat direction", device, [1.0, 1e-3], 100.0, 1.0, 0.5),
        _largest_case("a very loose tolerance: a step near the stability limit", device, [2.0, 1.0], 5.0, 1.0, 4.0),
    ]


def _step_mistakes(h, nbeta, gamma, tol) -> dict[str, float]:
    """The answers of plausible wrong reasonings on one case, keyed by what each gets wrong (NaN: not defined)."""
    return {why: value for why, (_, value) in _step_mistake_table(h, nbeta, gamma, tol).items()}


# A question about the step that each wrong reasoning slips on (no formula: the learner works it out).
_GENERAL_QUESTION = ("Along one eigenvector, which 1-D chain of section 3 do you get, and what is its stationary "
                     "variance at step eps?\n  How does each direction's variance enter the average of "
                     "nbeta(L(w) - L(w*)), and where does that average's ratio to its eps -> 0 value reach 1 + tol?")


def _step_mistake_table(h, nbeta, gamma, tol) -> dict[str, tuple[str, float]]:
    """``{what the reasoning gets wrong: (a guiding question about that step, its answer on this case)}``."""
    h = _f64(h)
    a = nbeta * h + gamma
    answers = {
        "the curvature of nbeta*L is nbeta*h_i, not h_i": (
            "The chain samples exp(-nbeta L - localization): what is the curvature of the potential it feels "
            "along an eigenvector of L's Hessian?",
            lambda: sgld.largest_step(h, 1.0, gamma, tol)),
        "the localization adds gamma to every direction's curvature: a_i = nbeta*h_i + gamma": (
            "What does the localization term contribute to the curvature along each direction, and so to where a "
            "direction's variance blows up?",
            lambda: sgld.largest_step(h, nbeta, 0.0, tol)),
        "only the stiffest direction was used; the estimate sums over all directions, and the softer ones are "
        "biased less, so a larger step is still within tol": (
            "The estimate sums over all directions: how biased is a soft direction at the step where the stiffest "
            "one reaches 1 + tol, and what does that do to the sum?",
            lambda: 4 * tol / ((1 + tol) * a.max().item())),
        "1/(1 - eps a/4) was linearised to 1 + eps a/4; the exact factor is larger, so the exact answer is smaller": (
            "Is a first-order expansion of the variance's inflation accurate at this tol? What does the exact "
            "factor give?",
            lambda: 4 * tol * (nbeta * h / a).sum().item() / (nbeta * h).sum().item()),
        "the directions were weighted equally; each contributes kappa_i v_i / 2, so its weight is "
        "kappa_i/(kappa_i + gamma) (a flat direction contributes nothing)": (
            "Write nbeta(L(w) - L(w*)) in the eigenbasis: how much does each direction's variance count in it, "
            "and how much does a flat one count?",
            lambda: _weighted(torch.ones_like(a), a, tol)),
        "that is the bias of the variance sum_i v_i; the estimate nbeta(L(w) - L(w*)) = sum_i kappa_i w_i^2 / 2 "
        "weights direction i by kappa_i": (
            "The tolerance is on the average of nbeta(L(w) - L(w*)), not on the spread of w: what weight does "
            "each direction's variance carry in that average?",
            lambda: _weighted(1 / a, a, tol)),
        "your step stops at eps*a = 2 along the stiffest direction, the limit of gradient descent with step eps. "
        "Check your bracket: SGLD's stationary law exists for ε·a < 4 (v = 1/(a(1 - eps a/4)), section 3)": (
            "Up to which step does the stationary variance of section 3 stay finite, and does your root search "
            "cover that whole range?",
            lambda: 2 / a.max().item()),
    }
    out = {}
    for why, (question, answer) in answers.items():
        try:
            out[why] = (question, float(answer()))
        except (ValueError, ZeroDivisionError):
            out[why] = (question, math.nan)
    return out


def _weighted(weight, a, tol) -> float:
    """The largest ε with Σ weight/(1 − εa/4) ≤ (1 + tol) Σ weight."""
    def f(eps):
        return (weight / (1 - eps * a / 4)).sum().item() / weight.sum().item() - 1 - tol

    return brentq(f, 0, 4 / a.max().item())


def judge_largest_step(case: Case, expected, got) -> str | None:
    """A Python float within 1e-5 relative of the reference; a wrong one is told which wrong reasoning it matches
    (where one does) and asked a question about that step, without the formula."""
    if isinstance(got, torch.Tensor):
        return f"result: return a Python float (e.g. with .item()), got {describe(got)}"
    if not isinstance(got, float):
        return f"result: expected a Python float, got {describe(got)}"
    e = float(expected)
    if abs(got - e) <= 1e-5 * e:
        return None
    kw = case.kwargs
    h, nbeta, gamma, tol = kw["hessian_eigs"], float(kw["nbeta"]), float(kw["gamma"]), float(kw["tol"])
    a_max = (nbeta * _f64(h) + gamma).max().item()
    r = relative_bias(h, nbeta, gamma, got) if got > 0 else math.nan
    pct = f"tol = {100 * tol:g}%"
    if not got > 0:
        verdict = "a step must be positive."
    elif math.isinf(r):
        verdict = (f"at eps = {got:.6g} the chain diverges: eps * a >= 4 along the stiffest direction "
                   f"(a = nbeta*h + gamma = {a_max:.6g}).")
    elif r > tol:
        verdict = f"at eps = {got:.6g} the estimate is {100 * r:.4g}% above its eps -> 0 value, more than {pct}."
    else:
        verdict = (f"at eps = {got:.6g} the estimate is {100 * r:.4g}% above its eps -> 0 value, within {pct}, "
                   "but a larger step stays within it too.")
    known = [(why, question) for why, (question, v) in _step_mistake_table(h, nbeta, gamma, tol).items()
             if abs(got - v) <= 1e-4 * abs(v)]
    lines = [f"result: expected {e:.8g}, got {got:.8g} (allowed relative error 1e-5). {verdict[0].upper() + verdict[1:]}"]
    if known:
        lines.append("  Your answer matches this reasoning: " + known[0][0] + ".")
        lines.append("  Ask yourself: " + known[0][1])
    else:
        lines.append("  Ask yourself: " + _GENERAL_QUESTION)
    return "\n".join(lines)


register(Exercise(
    id="sgld.largest_step",
    reference=sgld.largest_step,
    cases=_largest_step_cases,
    judge=judge_largest_step,
    notes=(
        "A root of a smooth increasing function: brentq in float64 gets it to 2e-12 absolute (its default xtol), "
        "which is < 1e-6 relative since no case has eps* < 2e-6; bisection to 1e-8 relative does as well. Allowed: "
        "1e-5 relative (the bias moves by < 1e-5 * its own size). A wrong answer is matched against seven plausible "
        "wrong reasonings (nbeta or gamma left out, the stiffest direction alone, the linearised factor, equal "
        "weights, the variance's bias, a root search bracketed at eps*a = 2) to say which one it follows; every case's correct answer differs from each "
        "of them by more than 1e-3 relative where that mistake is visible."
    ),
))
