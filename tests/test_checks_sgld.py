"""Tests of the lesson-4 checks (slt_lessons/checks/sgld.py): the reference passes, correct
variants pass, plausible mistakes fail, and the statistical check of the chain is calibrated."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from scipy import stats

from slt_lessons import diagnostics, mala, sgld
from slt_lessons.checks import check
from slt_lessons.checks import sgld as chk
from slt_lessons.checks.runner import collect, judge

CPU = torch.device("cpu")
SUITES = ("visible", "hidden")


def passes(exercise_id, fn, suite):
    return judge(exercise_id, collect(exercise_id, fn, suite, CPU), suite, CPU).passed


def fails_everywhere(exercise_id, fn):
    """Every case of both suites is judged wrong."""
    for suite in SUITES:
        result = judge(exercise_id, collect(exercise_id, fn, suite, CPU), suite, CPU)
        bad = [v.label for v in result.verdicts if v.message is None]
        assert not bad, f"{exercise_id}: mistake not caught on {bad}"


# ----------------------------------------------------------------------------- references


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize(
    "exercise_id, fn",
    [("sgld.sgld_step", sgld.sgld_step), ("sgld.stationary_variance", sgld.stationary_variance),
     ("sgld.mala_log_accept_ratio", mala.mala_log_accept_ratio), ("sgld.sgld_chain", sgld.sgld_chain),
     ("sgld.langevin_acceptance", sgld.langevin_acceptance), ("sgld.largest_step", sgld.largest_step)],
)
def test_reference_passes(exercise_id, fn, suite):
    assert check(exercise_id, fn, suite, device=CPU).passed


def test_untouched_stub_fails_without_crashing():
    def stub(**kwargs):
        raise NotImplementedError()

    for exercise_id in ("sgld.sgld_step", "sgld.stationary_variance", "sgld.mala_log_accept_ratio", "sgld.sgld_chain",
                        "sgld.langevin_acceptance", "sgld.largest_step"):
        result = judge(exercise_id, collect(exercise_id, stub, "visible", CPU), "visible", CPU)
        assert not result.passed and "not implemented" in str(result)


# ----------------------------------------------------------------------------- sgld_step


def step_variant(w, grad, w_star, eps, nbeta, gamma, noise):
    """Correct, written as gradient descent with step eta = eps/2 plus noise sqrt(2 eta)."""
    eta = eps / 2
    drift = nbeta * grad + gamma * w - gamma * w_star
    return (w - eta * drift) + (2 * eta) ** 0.5 * noise


STEP_MISTAKES = {
    "noise scaled by eps": lambda w, grad, w_star, eps, nbeta, gamma, noise:
        w - (eps / 2) * (nbeta * grad + gamma * (w - w_star)) + eps * noise,
    "missing factor 1/2": lambda w, grad, w_star, eps, nbeta, gamma, noise:
        w - eps * (nbeta * grad + gamma * (w - w_star)) + math.sqrt(eps) * noise,
    "wrong sign of the localization": lambda w, grad, w_star, eps, nbeta, gamma, noise:
        w - (eps / 2) * (nbeta * grad - gamma * (w - w_star)) + math.sqrt(eps) * noise,
    "tempering applied twice": lambda w, grad, w_star, eps, nbeta, gamma, noise:
        w - (eps / 2) * (nbeta**2 * grad + gamma * (w - w_star)) + math.sqrt(eps) * noise,
    "gradient ascent": lambda w, grad, w_star, eps, nbeta, gamma, noise:
        w + (eps / 2) * (nbeta * grad + gamma * (w - w_star)) + math.sqrt(eps) * noise,
}


@pytest.mark.parametrize("suite", SUITES)
def test_step_variant_passes(suite):
    assert passes("sgld.sgld_step", step_variant, suite)


# cases that cannot see a mistake by design: no noise, no localization
STEP_BLIND = {"noise scaled by eps": "no noise", "wrong sign of the localization": "no localization"}


@pytest.mark.parametrize("name", sorted(STEP_MISTAKES))
def test_step_mistakes_fail(name):
    for suite in SUITES:
        result = judge("sgld.sgld_step", collect("sgld.sgld_step", STEP_MISTAKES[name], suite, CPU), suite, CPU)
        missed = [v.label for v in result.verdicts if v.message is None]
        assert all(label.startswith(STEP_BLIND.get(name, "-")) for label in missed), missed


# ----------------------------------------------------------------------------- stationary_variance


def variance_variant(kappa, gamma, eps):
    """Correct, via the fixed point v = rho² v + eps of the AR(1) recursion."""
    rho = 1 - eps * (kappa + gamma) / 2
    return eps / (1 - rho**2)


VARIANCE_MISTAKES = {
    "continuous-time variance": lambda kappa, gamma, eps: 1 / (kappa + gamma) + 0 * eps,
    "eps a / 2 instead of / 4": lambda kappa, gamma, eps: 1 / ((kappa + gamma) * (1 - eps * (kappa + gamma) / 2)),
    "gamma forgotten": lambda kappa, gamma, eps: 1 / (kappa * (1 - eps * kappa / 4)) + 0 * gamma,
    "deflated instead of inflated": lambda kappa, gamma, eps: (1 - eps * (kappa + gamma) / 4) / (kappa + gamma),
}


@pytest.mark.parametrize("suite", SUITES)
def test_variance_variant_passes(suite):
    assert passes("sgld.stationary_variance", variance_variant, suite)


@pytest.mark.parametrize("name", sorted(VARIANCE_MISTAKES))
def test_variance_mistakes_fail(name):
    for suite in SUITES:
        assert not passes("sgld.stationary_variance", VARIANCE_MISTAKES[name], suite)


# ----------------------------------------------------------------------------- mala_log_accept_ratio


def mala_variant(w, w_new, logp, logp_new, grad_logp, grad_logp_new, eps):
    """Correct, via normal log-densities of both proposal moves and an explicit minimum."""
    sd = torch.as_tensor(eps, dtype=w.dtype, device=w.device).sqrt()  # eps: a number or per chain (C, 1)
    fwd = torch.distributions.Normal(w + eps / 2 * grad_logp, sd).log_prob(w_new).sum(-1)
    bwd = torch.distributions.Normal(w_new + eps / 2 * grad_logp_new, sd).log_prob(w).sum(-1)
    return torch.minimum(logp_new + bwd - logp - fwd, torch.zeros_like(logp))


def _mala_with(backward_sign=1.0, denom=2.0, clamp=True, correction=True, reduce=True):
    def f(w, w_new, logp, logp_new, grad_logp, grad_logp_new, eps):
        s = (lambda x: x.sum(-1)) if reduce else (lambda x: x)
        fwd = -s((w_new - w - eps / 2 * grad_logp) ** 2) / (denom * eps)
        bwd = -s((w - w_new - backward_sign * eps / 2 * grad_logp_new) ** 2) / (denom * eps)
        r = logp_new - logp + ((bwd - fwd) if correction else 0)
        return torch.clamp(r, max=0.0) if clamp else r
    return f


MALA_MISTAKES = {
    "no min(1, .)": _mala_with(clamp=False),
    "no proposal correction (random-walk Metropolis ratio)": _mala_with(correction=False),
    "wrong sign of the gradient in the reverse move": _mala_with(backward_sign=-1.0),
    "variance eps/2 in the proposal density": _mala_with(denom=1.0),
}


@pytest.mark.parametrize("suite", SUITES)
def test_mala_variant_passes(suite):
    assert passes("sgld.mala_log_accept_ratio", mala_variant, suite)


@pytest.mark.parametrize("name", sorted(MALA_MISTAKES))
def test_mala_mistakes_fail(name):
    if name != "no min(1, .)":
        fails_everywhere("sgld.mala_log_accept_ratio", MALA_MISTAKES[name])
    else:  # the one-chain case is a rejected proposal, where min(1, .) changes nothing
        for suite in SUITES:
            result = judge("sgld.mala_log_accept_ratio", collect("sgld.mala_log_accept_ratio",
                           MALA_MISTAKES[name], suite, CPU), suite, CPU)
            missed = [v.label for v in result.verdicts if v.message is None]
            assert all(label.startswith("one chain") for label in missed), missed


def test_mala_unsummed_fails():
    assert not passes("sgld.mala_log_accept_ratio", _mala_with(reduce=False), "visible")


# ----------------------------------------------------------------------------- sgld_chain


def chain_from_step(step):
    """A chain in the reference's draw order, built from a given step (correct or not)."""
    def chain(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
        w, out = w0, []
        for _ in range(n_steps):
            noise = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
            w = step(w, grad_fn(w), w_star, eps, nbeta, gamma, noise)
            out.append(w)
        return torch.stack(out)
    return chain


def chain_loop_over_chains(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    """Correct: one chain at a time, each drawing all its noise up front (another draw order)."""
    if w0.ndim == 1:  # a single chain
        return chain_loop_over_chains(grad_fn, w0[None], w_star, eps, nbeta, gamma, n_steps, generator)[:, 0]
    rows = []
    for w in w0:
        noise = torch.randn((n_steps, *w.shape), generator=generator, dtype=w.dtype, device=w.device)
        states = []
        for t in range(n_steps):
            w = w - (eps / 2) * (nbeta * grad_fn(w) + gamma * (w - w_star)) + math.sqrt(eps) * noise[t]
            states.append(w)
        rows.append(torch.stack(states))
    return torch.stack(rows, 1)


def chain_in_float64(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    """Correct: draws the noise in the input dtype, computes in float64, casts back at the end."""
    w, out = w0.double(), []
    for _ in range(n_steps):
        noise = torch.randn(w.shape, generator=generator, dtype=w0.dtype, device=w.device).double()
        grad = grad_fn(w.to(w0.dtype)).double()
        w = w - (eps / 2) * (nbeta * grad + gamma * (w - w_star.double())) + math.sqrt(eps) * noise
        out.append(w)
    return torch.stack(out).to(w0.dtype)


@pytest.mark.parametrize("variant", [chain_loop_over_chains, chain_in_float64, chain_from_step(step_variant)])
def test_chain_variants_pass(variant):
    for suite in SUITES:
        assert passes("sgld.sgld_chain", variant, suite)


def chain_reusing_noise(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    noise = torch.randn(w0.shape, generator=generator, dtype=w0.dtype, device=w0.device)
    return chain_from_step(lambda w, g, ws, e, nb, ga, _: sgld.sgld_step(w, g, ws, e, nb, ga, noise))(
        grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator)


def chain_sharing_noise_between_chains(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    step = lambda w, g, ws, e, nb, ga, z: sgld.sgld_step(w, g, ws, e, nb, ga, z[:1].expand_as(z))  # noqa: E731
    return chain_from_step(step)(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator)


CHAIN_MISTAKES = {
    "noise scaled by eps": chain_from_step(STEP_MISTAKES["noise scaled by eps"]),
    "missing factor 1/2": chain_from_step(STEP_MISTAKES["missing factor 1/2"]),
    "wrong sign of the localization": chain_from_step(STEP_MISTAKES["wrong sign of the localization"]),
    "tempering applied twice": chain_from_step(STEP_MISTAKES["tempering applied twice"]),
    "noise sqrt(2 eps) (the other Langevin convention, half applied)": chain_from_step(
        lambda w, g, ws, e, nb, ga, z: w - (e / 2) * (nb * g + ga * (w - ws)) + math.sqrt(2 * e) * z),
    "nbeta multiplies the localization too": chain_from_step(
        lambda w, g, ws, e, nb, ga, z: w - (e / 2) * nb * (g + ga * (w - ws)) + math.sqrt(e) * z),
    "the same noise at every step": chain_reusing_noise,
    "one noise draw shared by all chains": chain_sharing_noise_between_chains,
}


@pytest.mark.parametrize("name", sorted(CHAIN_MISTAKES))
def test_chain_mistakes_fail(name):
    fails_everywhere("sgld.sgld_chain", CHAIN_MISTAKES[name])


def test_chain_wrong_shape_fails():
    def with_start(grad_fn, w0, **kw):
        return torch.cat([w0[None], sgld.sgld_chain(grad_fn, w0, **kw)])
    assert not passes("sgld.sgld_chain", with_start, "visible")


def chain_ignoring_generator(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    """The law is right, but the noise comes from torch's global generator."""
    w, out = w0, []
    for _ in range(n_steps):
        w = sgld.sgld_step(w, grad_fn(w), w_star, eps, nbeta, gamma, torch.randn(w.shape, dtype=w.dtype))
        out.append(w)
    return torch.stack(out)


def chain_states_before_steps(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    """Off by one: returns w_0 ... w_(T-1), the states before each step."""
    full = sgld.sgld_chain(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator)
    return torch.cat([w0[None], full[:-1]])


def chain_with_start(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    """Off by one: w_0 ... w_T, one state too many."""
    return torch.cat([w0[None], sgld.sgld_chain(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator)])


def chain_one_step_short(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    return sgld.sgld_chain(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps - 1, generator)


# the hint each mistake must get (and the mistakes for which the eps hint must not appear)
CHAIN_HINTS = {
    "noise scaled by eps": "noise is scaled by eps instead of sqrt(eps)",
    "missing factor 1/2": "the factor 1/2 is missing",
    "wrong sign of the localization": "pushes away from w*",
    "tempering applied twice": "nbeta is applied twice",
    "noise sqrt(2 eps) (the other Langevin convention, half applied)": "sqrt(2 eps)",
    "nbeta multiplies the localization too": "nbeta multiplies the localization term too",
    "the same noise at every step": "Nor are the residuals independent N(0, 1) draws",
    "one noise draw shared by all chains": "not this generator's draws",
    "the generator ignored": "generator=generator",
    "the states before each step": "one step late",
    "w0 included": "one too many",
    "one step short": "one too few",
}
CHAIN_MISTAKES.update({
    "the generator ignored": chain_ignoring_generator,
    "the states before each step": chain_states_before_steps,
    "w0 included": chain_with_start,
    "one step short": chain_one_step_short,
})


@pytest.mark.parametrize("name", sorted(CHAIN_HINTS))
def test_chain_hint_derived_from_the_failure(name):
    """Each mistake fails every visible case with its own hint, and only a noise scaled by eps is told so."""
    result = judge("sgld.sgld_chain", collect("sgld.sgld_chain", CHAIN_MISTAKES[name], "visible", CPU), "visible", CPU)
    for v in result.verdicts:
        assert v.message is not None and CHAIN_HINTS[name] in v.message, (v.label, v.message)
        assert ("eps instead of sqrt(eps)" in v.message) == (name == "noise scaled by eps"), v.message


REQUIRED = ("noise scaled by eps", "missing factor 1/2", "wrong sign of the localization", "tempering applied twice",
            "the generator ignored")


@pytest.mark.parametrize("name", REQUIRED)
def test_chain_mistakes_fail_with_their_hint_over_seeds(name):
    """Not by luck of the fixed seeds: over 20 other seeds every case judges each required mistake wrong
    and names it."""
    for suite in SUITES:
        for seed in range(20):
            for case in chk.chain_cases(suite, CPU, seed=seed):
                out = CHAIN_MISTAKES[name](**copy.deepcopy(case.kwargs))
                msg = chk.judge_chain(case, sgld.sgld_chain(**copy.deepcopy(case.kwargs)), out)
                if not bool(torch.isfinite(out).all()):
                    assert msg is not None
                    continue
                assert msg is not None and CHAIN_HINTS[name] in msg, (name, suite, seed, case.label, msg)


def test_chain_statistical_tests_reject_the_required_mistakes():
    """The five tests used for hints when the generator is ignored: each required law mistake is far below the level."""
    for name in REQUIRED[:4]:
        for suite in SUITES:
            for seed in range(5):
                for case in chk.chain_cases(suite, CPU, seed=seed):
                    if case.kwargs["w0"].ndim == 1:
                        continue  # 40 residuals of one chain: too few for this margin
                    out = CHAIN_MISTAKES[name](**{k: (v.clone() if isinstance(v, torch.Tensor) else v)
                                                  for k, v in case.kwargs.items()})
                    if bool(torch.isfinite(out).all()):
                        p, _ = chk.chain_pvalues(case, out)
                        assert min(p.values()) < chk.ALPHA / 10, (name, suite, seed, case.label, p)


def test_chain_check_calibrated_over_1000_seeds():
    """The reference fails no case over 1000 seeds, and each test's p-values are uniform (KS)."""
    failures, pvalues = [], {}
    for seed in range(1000):
        for suite in SUITES:
            for case in chk.chain_cases(suite, CPU, seed=seed):
                out = sgld.sgld_chain(**copy.deepcopy(case.kwargs))  # the case keeps its generator
                if seed == 0:  # the judge itself (shape, dtype, device, then the tests below)
                    assert chk.judge_chain(case, out, out) is None
                p, _ = chk.chain_pvalues(case, out)
                if min(p.values()) < chk.ALPHA:  # exactly the judge's rule
                    failures.append((seed, case.label))
                for name, v in p.items():
                    pvalues.setdefault(name, []).append(v)
    assert failures == []
    for name, ps in pvalues.items():
        assert len(ps) == 6000
        # a two-sided p-value of a continuous statistic is uniform under the null: KS at level 1e-6
        assert stats.kstest(ps, "uniform").pvalue > 1e-6, name


# ----------------------------------------------------------------------------- langevin_acceptance


def acceptance_variant(target, W, w_star, nbeta, gamma, eps, noise):
    """Correct, from the loss gradient directly and the normal densities of both moves."""
    loss, grad = target.loss_and_grad(W)
    W_new = W - (eps / 2) * (nbeta * grad + gamma * (W - w_star)) + math.sqrt(eps) * noise
    loss_new, grad_new = target.loss_and_grad(W_new)

    def log_p(w, l):
        return -nbeta * l - gamma / 2 * ((w - w_star) ** 2).sum(-1)

    def drift(w, g):
        return w - (eps / 2) * (nbeta * g + gamma * (w - w_star))

    normal = torch.distributions.Normal
    log_fwd = normal(drift(W, grad), math.sqrt(eps)).log_prob(W_new).sum(-1)
    log_bwd = normal(drift(W_new, grad_new), math.sqrt(eps)).log_prob(W).sum(-1)
    prob = torch.exp(torch.clamp(log_p(W_new, loss_new) + log_bwd - log_p(W, loss) - log_fwd, max=0))
    return torch.where(torch.isnan(prob), torch.zeros_like(prob), prob)  # an overflowing proposal counts as 0


def _acceptance_with(*, exp=True, clamp=True, noise_scale=math.sqrt, loc_sign=1.0, nan=0.0):
    def f(target, W, w_star, nbeta, gamma, eps, noise):
        loss, grad = target.loss_and_grad(W)
        W_new = W - (eps / 2) * (nbeta * grad + loc_sign * gamma * (W - w_star)) + noise_scale(eps) * noise
        loss_new, grad_new = target.loss_and_grad(W_new)
        lp = lambda w, l: -nbeta * l - gamma / 2 * ((w - w_star) ** 2).sum(-1)  # noqa: E731
        glp = lambda w, g: -(nbeta * g + gamma * (w - w_star))  # noqa: E731
        r = mala.mala_log_accept_ratio(W, W_new, lp(W, loss), lp(W_new, loss_new), glp(W, grad), glp(W_new, grad_new), eps)
        if not clamp:  # the same log-ratio without min(0, .)
            fwd = -((W_new - W - eps / 2 * glp(W, grad)) ** 2).sum(-1) / (2 * eps)
            bwd = -((W - W_new - eps / 2 * glp(W_new, grad_new)) ** 2).sum(-1) / (2 * eps)
            r = lp(W_new, loss_new) - lp(W, loss) + bwd - fwd
        out = r.exp() if exp else r
        return torch.nan_to_num(out, nan=nan) if nan is not None else out
    return f


ACCEPTANCE_MISTAKES = {
    "log-probability returned": _acceptance_with(exp=False),
    "probability not capped at 1": _acceptance_with(clamp=False),
    "proposal with noise eps instead of sqrt(eps)": _acceptance_with(noise_scale=lambda eps: eps),
    "proposal with the wrong sign of the localization": _acceptance_with(loc_sign=-1.0),
    "NaN left in": _acceptance_with(nan=None),
    "NaN counted as accepted": _acceptance_with(nan=1.0),
}
# mistakes that only the case with overflowing proposals can see
ACCEPTANCE_NAN_ONLY = {"NaN left in", "NaN counted as accepted"}


@pytest.mark.parametrize("suite", SUITES)
def test_acceptance_variant_passes(suite):
    assert passes("sgld.langevin_acceptance", acceptance_variant, suite)


@pytest.mark.parametrize("name", sorted(ACCEPTANCE_MISTAKES))
def test_acceptance_mistakes_fail(name):
    if name not in ACCEPTANCE_NAN_ONLY:
        fails_everywhere("sgld.langevin_acceptance", ACCEPTANCE_MISTAKES[name])
    else:  # a visible case shows it
        assert not passes("sgld.langevin_acceptance", ACCEPTANCE_MISTAKES[name], "visible")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_references_pass_on_cuda():
    """Cases are built on the device (generators included), and judged there."""
    for exercise_id, fn in [("sgld.sgld_step", sgld.sgld_step), ("sgld.stationary_variance", sgld.stationary_variance),
                            ("sgld.mala_log_accept_ratio", mala.mala_log_accept_ratio),
                            ("sgld.sgld_chain", sgld.sgld_chain),
                            ("sgld.langevin_acceptance", sgld.langevin_acceptance),
                            ("sgld.largest_step", sgld.largest_step)]:
        for suite in SUITES:
            assert check(exercise_id, fn, suite, device="cuda").passed


# ----------------------------------------------------------------------------- largest_step (reasoning)


def largest_step_bisection(hessian_eigs, nbeta, gamma, tol):
    """Correct, by bisection on the relative bias written with stationary_variance."""
    kappa = nbeta * hessian_eigs

    def lam(eps):  # E[nbeta (L - L(w*))] = sum kappa v / 2
        return (kappa * sgld.stationary_variance(kappa, gamma, eps)).sum() / 2

    lo, hi = 0.0, 4 / (kappa + gamma).max().item()
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if lam(mid) <= (1 + tol) * lam(0.0) else (lo, mid)
    return lo


def largest_step_scipy_bisect(hessian_eigs, nbeta, gamma, tol):
    """Correct, with numpy and scipy's bisection on the ratio written out per direction."""
    from scipy.optimize import bisect

    h = hessian_eigs.cpu().numpy()
    kappa, a = nbeta * h, nbeta * h + gamma
    ratio = lambda eps: (kappa / (2 * a * (1 - eps * a / 4))).sum() / (kappa / (2 * a)).sum()  # noqa: E731
    return float(bisect(lambda eps: ratio(eps) - 1 - tol, 0.0, 4 / a.max() * (1 - 1e-15), xtol=1e-15))


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("variant", [largest_step_bisection, largest_step_scipy_bisect])
def test_largest_step_variants_pass(variant, suite):
    assert passes("sgld.largest_step", variant, suite)


def _mistake(name):
    def f(hessian_eigs, nbeta, gamma, tol):
        return chk._step_mistakes(hessian_eigs, nbeta, gamma, tol)[name]
    return f


STEP_REASONING_MISTAKES = {why[:40]: why for why in chk._step_mistakes(torch.ones(2, dtype=torch.float64), 1.0, 1.0, 0.1)}


@pytest.mark.parametrize("short", sorted(STEP_REASONING_MISTAKES))
def test_largest_step_wrong_reasonings_fail_with_their_explanation(short):
    """Each wrong reasoning fails a visible case and a hidden one, and the feedback names it (where it is
    distinguishable) with a question about that step, never the full reasoning."""
    why = STEP_REASONING_MISTAKES[short]
    for suite in SUITES:
        result = judge("sgld.largest_step", collect("sgld.largest_step", _mistake(why), suite, CPU), suite, CPU)
        wrong = [v for v in result.verdicts if v.message is not None]
        assert wrong, (suite, why)
        for v in wrong:
            assert "Ask yourself: " in v.message and "The reasoning:" not in v.message, v.message
            if why in v.message:
                question = chk._step_mistake_table(torch.ones(2, dtype=torch.float64), 1.0, 1.0, 0.1)[why][0]
                assert question in v.message, v.message
            elif "nan" not in v.message:
                raise AssertionError(v.message)


def test_largest_step_unmatched_answer_gets_the_general_question_only():
    result = judge("sgld.largest_step", collect("sgld.largest_step", lambda **kw: 1e-7, "visible", CPU), "visible", CPU)
    wrong = [v.message for v in result.verdicts if v.message is not None]
    assert wrong and all(chk._GENERAL_QUESTION in m and "matches this reasoning" not in m for m in wrong)


def test_largest_step_visible_case_separates_reasonings_equal_in_one_dimension():
    """The visible flat, unequal-spectrum case: every wrong reasoning that is defined there misses by > 1 %."""
    case = [c for c in chk._largest_step_cases("visible", CPU) if "flat direction" in c.label]
    assert len(case) == 1 and 0.0 in case[0].kwargs["hessian_eigs"].tolist()
    e = sgld.largest_step(**case[0].kwargs)
    kw = case[0].kwargs
    for why, v in chk._step_mistakes(kw["hessian_eigs"], kw["nbeta"], kw["gamma"], kw["tol"]).items():
        assert math.isnan(v) or abs(v / e - 1) > 0.01, why


def test_largest_step_hidden_has_five_cases_and_flipping_cannot_pass():
    """At least five hidden cases, and a constant answer or a visible-case lookup fails them."""
    assert len(chk._largest_step_cases("hidden", CPU)) >= 5
    visible = [sgld.largest_step(**c.kwargs) for c in chk._largest_step_cases("visible", CPU)]
    for guess in visible + [1e-3, 1e-4]:
        result = judge("sgld.largest_step", collect("sgld.largest_step", lambda **kw: guess, "hidden", CPU), "hidden", CPU)
        assert result.n_passed == 0, guess


def test_largest_step_requires_a_python_float():
    def as_tensor(**kw):
        return torch.tensor(sgld.largest_step(**kw))
    result = judge("sgld.largest_step", collect("sgld.largest_step", as_tensor, "visible", CPU), "visible", CPU)
    assert not result.passed and "Python float" in str(result)


@pytest.mark.parametrize("suite", SUITES)
def test_largest_step_meets_the_tolerance_exactly(suite):
    """The reference's answer has relative bias tol, checked independently by simulation-free algebra."""
    for case in chk._largest_step_cases(suite, CPU):
        eps = sgld.largest_step(**case.kwargs)
        kw = case.kwargs
        assert chk.relative_bias(kw["hessian_eigs"], kw["nbeta"], kw["gamma"], eps) == pytest.approx(kw["tol"], rel=1e-6)


def test_largest_step_matches_simulated_sgld():
    """Independent of the algebra: SGLD on a 2-D quadratic at the reference's eps has the predicted bias
    (4000 chains, 400 steps past burn-in; tolerance 5 standard errors)."""
    h, nbeta, gamma, tol = torch.tensor([4.0, 0.5], dtype=torch.float64), 10.0, 2.0, 0.2
    eps = sgld.largest_step(h, nbeta, gamma, tol)
    kappa = nbeta * h
    g = torch.Generator().manual_seed(0)
    traj = sgld.sgld_chain(lambda w: h * w, torch.zeros(4000, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64),
                           eps, nbeta, gamma, 600, g)[200:]
    lam = (kappa * traj**2).sum(-1).mean(0) / 2  # per chain
    exact0 = (kappa / (kappa + gamma)).sum().item() / 2
    assert abs(lam.mean().item() - (1 + tol) * exact0) < 5 * lam.std().item() / math.sqrt(4000)


def test_chain_exact_judge_passes_the_reference_and_a_float64_variant_over_seeds():
    """No false failure: the exact judge accepts the reference, and a float32 chain computed in float64
    (within the float32 tolerance), over 50 seeds of every case."""
    for seed in range(50):
        for suite in SUITES:
            for case in chk.chain_cases(suite, CPU, seed=seed):
                ref = sgld.sgld_chain(**copy.deepcopy(case.kwargs))
                assert chk.judge_chain(case, ref, ref) is None, (seed, case.label)
                assert chk.judge_chain(case, ref, chain_in_float64(**copy.deepcopy(case.kwargs))) is None


# ----------------------------------------------------------------------------- hints derived from the failure


def _messages(exercise_id, fn, suite):
    result = judge(exercise_id, collect(exercise_id, fn, suite, CPU), suite, CPU)
    return [v.message for v in result.verdicts if v.message is not None]


def _step(half=1.0, noise=math.sqrt, loc_sign=1.0, use_w_star=True, nbeta_power=1, nbeta_gamma=False):
    def f(w, grad, w_star, eps, nbeta, gamma, noise_):
        loc = w - w_star if use_w_star else w
        loc = nbeta * loc if nbeta_gamma else loc
        return w - half * (eps / 2) * (nbeta**nbeta_power * grad + loc_sign * gamma * loc) + noise(eps) * noise_
    return lambda w, grad, w_star, eps, nbeta, gamma, noise: f(w, grad, w_star, eps, nbeta, gamma, noise)


STEP_HINTS = {  # a mistake the learner makes: (the step, words of the hint it must get)
    "missing factor 1/2": (_step(half=2.0), "the factor 1/2 is missing"),
    "noise scaled by eps": (_step(noise=lambda e: e), "scaled by eps instead of sqrt(eps)"),
    "sign of gamma": (_step(loc_sign=-1.0), "pushes away from w*"),
    "w* ignored": (_step(use_w_star=False), "w* is ignored"),
    "nbeta missing": (_step(nbeta_power=0), "nbeta is missing"),
    "nbeta twice": (_step(nbeta_power=2), "nbeta is applied twice"),
    "nbeta on the gamma term": (_step(nbeta_gamma=True), "nbeta is applied to the gamma term too"),
}
ALL_STEP_HINTS = [h for _, h in STEP_HINTS.values()] + ["goes uphill", "sqrt(2 eps)"]


@pytest.mark.parametrize("name", sorted(STEP_HINTS))
def test_step_mistake_gets_its_own_hint_only(name):
    """Each mistake fails both suites with its hint, and no other mistake's hint."""
    fn, hint = STEP_HINTS[name]
    for suite in SUITES:
        msgs = _messages("sgld.sgld_step", fn, suite)
        assert msgs, (name, suite)
        for m in msgs:
            assert hint in m, m
            assert not [h for h in ALL_STEP_HINTS if h != hint and h in m], m


def test_step_two_mistakes_get_both_hints():
    def f(w, grad, w_star, eps, nbeta, gamma, noise):
        return w - eps * (nbeta * grad + gamma * w) + math.sqrt(eps) * noise
    msgs = _messages("sgld.sgld_step", f, "visible")
    assert len(msgs) == 2 and all("factor 1/2" in m and "w* is ignored" in m for m in msgs)


def test_step_unrelated_error_gets_no_hint():
    def f(w, grad, w_star, eps, nbeta, gamma, noise):
        return sgld.sgld_step(w, grad, w_star, eps, nbeta, gamma, noise) + 0.01
    for m in _messages("sgld.sgld_step", f, "visible"):
        assert "except that" not in m and not [h for h in ALL_STEP_HINTS if h in m], m


def test_in_place_step_fails():
    """A step that updates w in place (w.add_) is judged wrong: it changes the caller's tensor."""
    def in_place(w, grad, w_star, eps, nbeta, gamma, noise):
        return w.sub_((eps / 2) * (nbeta * grad + gamma * (w - w_star))).add_(math.sqrt(eps) * noise)
    for suite in SUITES:
        result = judge("sgld.sgld_step", collect("sgld.sgld_step", in_place, suite, CPU), suite, CPU)
        assert result.n_passed == 0 and "in place" in str(result)


def test_mala_dividing_after_the_sum_fails_the_per_chain_step_case():
    """eps of shape (C, 1): dividing the summed norms by 2 eps broadcasts to (C, C)."""
    def after_sum(w, w_new, logp, logp_new, grad_logp, grad_logp_new, eps):
        fwd = -((w_new - w - eps / 2 * grad_logp) ** 2).sum(-1) / (2 * eps)
        bwd = -((w - w_new - eps / 2 * grad_logp_new) ** 2).sum(-1) / (2 * eps)
        return torch.clamp(logp_new - logp + bwd - fwd, max=0.0)
    result = judge("sgld.mala_log_accept_ratio", collect("sgld.mala_log_accept_ratio", after_sum, "visible", CPU),
                   "visible", CPU)
    wrong = [v for v in result.verdicts if v.message is not None]
    assert [v.label.startswith("one step size per chain") for v in wrong] == [True]


def _acceptance_mistake(proposal="w*", logp="with gamma", grad="L"):
    def f(target, W, w_star, nbeta, gamma, eps, noise):
        kw = dict(target=target, W=W, w_star=w_star, nbeta=nbeta, gamma=gamma, eps=eps, noise=noise)
        return chk._acceptance_with(kw, proposal, logp, grad)
    return f


def acceptance_from_log_density_with_grad_logp(target, W, w_star, nbeta, gamma, eps, noise):
    """The learner's mistake as written: mala.log_density's gradient of log p handed to sgld_step."""
    logp, grad_logp, _ = mala.log_density(target, W, nbeta, gamma)
    W_new = sgld.sgld_step(W, grad_logp, w_star, eps, nbeta, gamma, noise)
    logp_new, grad_logp_new, _ = mala.log_density(target, W_new, nbeta, gamma)
    return torch.nan_to_num(mala.mala_log_accept_ratio(W, W_new, logp, logp_new, grad_logp, grad_logp_new, eps).exp(),
                            nan=0.0)


def acceptance_logp_without_gamma(target, W, w_star, nbeta, gamma, eps, noise):
    """The learner's mistake as written: log p = -nbeta L, its gradient -nbeta grad L."""
    loss, grad = target.loss_and_grad(W)
    W_new = sgld.sgld_step(W, grad, w_star, eps, nbeta, gamma, noise)
    loss_new, grad_new = target.loss_and_grad(W_new)
    r = mala.mala_log_accept_ratio(W, W_new, -nbeta * loss, -nbeta * loss_new, -nbeta * grad, -nbeta * grad_new, eps)
    return torch.nan_to_num(r.exp(), nan=0.0)


ACCEPTANCE_HINTS = {
    "proposal without gamma": (_acceptance_mistake(proposal="gamma 0"), "not localized at w*"),
    "proposal at 0": (_acceptance_mistake(proposal="at 0"), "not localized at w*"),
    "gamma missing from log p": (acceptance_logp_without_gamma, "gamma is missing from log p"),
    "gamma missing from the value of log p": (_acceptance_mistake(logp="value without gamma"),
                                              "gamma is missing from log p"),
    "grad log p passed as grad": (acceptance_from_log_density_with_grad_logp, "grad log p was passed"),
    "-grad log p passed as grad": (_acceptance_mistake(grad="-grad log p"), "-grad log p = nbeta grad L"),
}


@pytest.mark.parametrize("name", sorted(ACCEPTANCE_HINTS))
def test_acceptance_mistake_gets_its_hint(name):
    """Fails every case but at most one, with its hint on at least one case, and another mistake's hint only
    where both give the same answer (listed as alternatives)."""
    fn, hint = ACCEPTANCE_HINTS[name]
    others = {h for _, h in ACCEPTANCE_HINTS.values()} - {hint}
    for suite in SUITES:
        msgs = _messages("sgld.langevin_acceptance", fn, suite)
        assert len(msgs) >= len(chk._acceptance_cases(suite, CPU)) - 1, (name, suite)
        hinted = [m for m in msgs if hint in m]
        assert hinted, (name, suite)
        for m in hinted:  # another mistake is named only where it gives the same answer, as a listed alternative
            assert "one of these" in m or "Every proposal is rejected" in m or not [
                h for h in others if h in m and h not in hint], m


def test_acceptance_other_mistakes_get_no_false_hint():
    for fn in ACCEPTANCE_MISTAKES.values():
        for m in _messages("sgld.langevin_acceptance", fn, "visible"):
            assert "except that" not in m, m


def test_largest_step_bracket_stopping_at_the_gradient_descent_limit():
    """A bisection on [0, 2/max a] passes where the answer is below 2/max a and fails the case near the
    stability limit, with the bracket hint."""
    def bracket_two(hessian_eigs, nbeta, gamma, tol):
        a = nbeta * hessian_eigs + gamma
        lo, hi = 0.0, 2 / a.max().item()
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if chk.relative_bias(hessian_eigs, nbeta, gamma, mid) <= tol else (lo, mid)
        return lo
    assert passes("sgld.largest_step", bracket_two, "visible")
    msgs = _messages("sgld.largest_step", bracket_two, "hidden")
    assert len(msgs) == 1 and "Check your bracket: SGLD's stationary law exists for ε·a < 4" in msgs[0], msgs


def test_hidden_labels_name_kinds_not_values():
    """No hidden label states a parameter's value (eps, nbeta, tol, kappa, a list, a decimal)."""
    import re

    from slt_lessons.checks.registry import get
    for ex in ("sgld.sgld_step", "sgld.stationary_variance", "sgld.mala_log_accept_ratio", "sgld.sgld_chain",
               "sgld.langevin_acceptance", "sgld.largest_step"):
        for case in get(ex).cases("hidden", CPU):
            assert not re.search(r"\d\.\d|\[|(eps|nbeta|tol|kappa)\s*=\s*\d", case.label), case.label
