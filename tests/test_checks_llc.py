"""Tests of the lesson-5 checks (slt_lessons/checks/llc.py): the reference passes, correct
variants written differently pass, plausible mistakes fail."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from checking import CPU, SUITES, missed, passes, verdicts, wrong_visible

from slt_lessons import diagnostics, llc, potentials, sgld
from slt_lessons.checks import check
from slt_lessons.checks import llc as chk
from slt_lessons.checks.runner import collect, judge

REFERENCES = [
    ("llc.default_nbeta", llc.default_nbeta),
    ("llc.llc_from_losses", llc.llc_from_losses),
    ("llc.gaussian_nll", potentials.gaussian_nll),
    ("llc.effective_sample_size", diagnostics.effective_sample_size),
    ("llc.split_rhat", diagnostics.split_rhat),
    ("llc.sgld_llc", llc.sgld_llc),
    ("llc.choose_eps", llc.choose_eps),
    ("llc.run_verdict", llc.run_verdict),
]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("exercise_id, fn", REFERENCES)
def test_reference_passes(exercise_id, fn, suite):
    assert check(exercise_id, fn, suite, device=CPU).passed


def test_untouched_stubs_fail():
    def stub(**kwargs):
        raise NotImplementedError()

    for exercise_id, _ in REFERENCES:
        result = judge(exercise_id, collect(exercise_id, stub, "visible", CPU), "visible", CPU)
        assert not result.passed and "not implemented" in str(result)


# ----------------------------------------------------------------------------- default_nbeta


def _checked_n(f):
    """``f`` behind the validation the text asks for: a ValueError for an n that is not an int >= 2."""
    def g(n):
        if type(n) is not int or n < 2:
            raise ValueError(f"n must be an int >= 2, got {n!r}")
        return f(n)
    return g


def test_default_nbeta():
    assert passes("llc.default_nbeta", _checked_n(lambda n: n * (1 / math.log(n))))
    assert passes("llc.default_nbeta", _checked_n(lambda n: float(torch.tensor(n / math.log(n), dtype=torch.float64))))
    for wrong in (lambda n: n * math.log(n), lambda n: n / math.log10(n), lambda n: 1 / math.log(n),
                  lambda n: n / math.log2(n)):
        assert missed("llc.default_nbeta", _checked_n(wrong), errors=False) == []


@pytest.mark.parametrize("name, wrong", [
    ("no validation", lambda n: n / math.log(n)),
    ("n >= 1 allowed", lambda n: n / math.log(n) if n >= 1 else (_ for _ in ()).throw(ValueError("n"))),
    ("floats allowed", lambda n: float(n / math.log(n)) if n >= 2 else (_ for _ in ()).throw(ValueError("n"))),
])
def test_default_nbeta_validation_mistakes_fail_a_visible_case(name, wrong):
    assert any("must raise ValueError" in m for m in wrong_visible("llc.default_nbeta", wrong)), name


def test_default_nbeta_rejecting_n_2_fails_a_visible_case():
    """n = 2 is allowed (log 2 > 0); a rule written as n > 2 rejects it."""
    too_strict = lambda n: n / math.log(n) if type(n) is int and n > 2 else (_ for _ in ()).throw(ValueError("n"))  # noqa: E731
    assert [v for v in verdicts("llc.default_nbeta", too_strict, "visible") if v.message and "n = 2" == v.label]


# ----------------------------------------------------------------------------- llc_from_losses


def losses_variant(losses, init_loss, nbeta, burn_in):
    """Correct: a loop over chains, summing the kept draws explicitly."""
    if losses.dim() != 2 or not (0 <= burn_in < losses.shape[1]):
        raise ValueError("losses must be (C, T) and 0 <= burn_in < T")
    kept = losses.shape[1] - burn_in
    return torch.stack([nbeta * (row[burn_in:].sum() / kept - init_loss) for row in losses])


LOSSES_MISTAKES = {
    "burn-in ignored": lambda losses, init_loss, nbeta, burn_in: nbeta * (losses.mean(1) - init_loss),
    "burn-in off by one": lambda losses, init_loss, nbeta, burn_in:
        nbeta * (losses[:, burn_in + 1:].mean(1) - init_loss) if burn_in + 1 < losses.shape[1]
        else nbeta * (losses[:, burn_in - 1:].mean(1) - init_loss),
    "burn-in cut from the end": lambda losses, init_loss, nbeta, burn_in:
        nbeta * (losses[:, : losses.shape[1] - burn_in].mean(1) - init_loss),
    "n instead of n beta": lambda losses, init_loss, nbeta, burn_in:
        nbeta * math.log(nbeta) * (losses[:, burn_in:].mean(1) - init_loss),
    "averaged over the chains too": lambda losses, init_loss, nbeta, burn_in:
        nbeta * (losses[:, burn_in:].mean() - init_loss),
    "init loss not subtracted": lambda losses, init_loss, nbeta, burn_in: nbeta * losses[:, burn_in:].mean(1),
}


def test_losses_variant_passes():
    assert passes("llc.llc_from_losses", losses_variant)


LOSSES_VALIDATION_MISTAKES = {
    "no validation": lambda losses, init_loss, nbeta, burn_in: nbeta * (losses[:, burn_in:].mean(1) - init_loss),
    "burn_in = T allowed": lambda losses, init_loss, nbeta, burn_in:
        nbeta * (losses[:, burn_in:].mean(1) - init_loss) if losses.dim() == 2 and 0 <= burn_in <= losses.shape[1]
        else (_ for _ in ()).throw(ValueError("bad")),
    "negative burn_in allowed": lambda losses, init_loss, nbeta, burn_in:
        nbeta * (losses[:, burn_in:].mean(1) - init_loss) if losses.dim() == 2 and burn_in < losses.shape[1]
        else (_ for _ in ()).throw(ValueError("bad")),
    "1-D losses not rejected": lambda losses, init_loss, nbeta, burn_in:
        nbeta * (losses[..., burn_in:].mean(-1) - init_loss) if 0 <= burn_in < losses.shape[-1]
        else (_ for _ in ()).throw(ValueError("bad")),
}


@pytest.mark.parametrize("name", sorted(LOSSES_VALIDATION_MISTAKES))
def test_losses_validation_mistakes_fail_a_visible_case(name):
    assert any("must raise ValueError" in m for m in wrong_visible("llc.llc_from_losses", LOSSES_VALIDATION_MISTAKES[name]))


@pytest.mark.parametrize("name", sorted(LOSSES_MISTAKES))
def test_losses_mistakes_fail(name):
    blind = {
        # no burn-in: ignoring it changes nothing; the float32 case cannot resolve one draw's worth
        "burn-in ignored": ("no burn-in",),
        "burn-in off by one": ("float32",),
        "burn-in cut from the end": ("no burn-in",),
        "averaged over the chains too": ("one chain",),
    }.get(name, ())
    for label in missed("llc.llc_from_losses", LOSSES_MISTAKES[name]):
        assert label.startswith(blind), label


# ----------------------------------------------------------------------------- gaussian_nll


def nll_variant(output, y):
    """Correct: a loop over samples."""
    return torch.stack([0.5 * ((yi - oi) ** 2).sum() for oi, yi in zip(output, y)]).mean()


NLL_MISTAKES = {
    "mean squared error (no 1/2)": lambda output, y: ((y - output) ** 2).sum(-1).mean(),
    "mean over the outputs too": lambda output, y: 0.5 * ((y - output) ** 2).mean(),
    "sum over the batch": lambda output, y: 0.5 * ((y - output) ** 2).sum(),
}


def test_nll_variant_passes():
    assert passes("llc.gaussian_nll", nll_variant)


@pytest.mark.parametrize("name", sorted(NLL_MISTAKES))
def test_nll_mistakes_fail(name):
    # one output: a mean over outputs changes nothing; one sample: a sum over the batch neither
    blind = {"mean over the outputs too": ("5 samples, 1 output",), "sum over the batch": ("one sample",)}.get(name, ())
    for label in missed("llc.gaussian_nll", NLL_MISTAKES[name]):
        assert label.startswith(blind), label


# ----------------------------------------------------------------------------- autocovariance (helper for ESS)


def acov_variant(trace):
    """Direct sums, lag by lag: γ_k = (1/N) Σ (x_t − x̄)(x_{t+k} − x̄)."""
    N = trace.shape[-1]
    y = trace - trace.mean(-1, keepdim=True)
    return torch.stack([(y[..., : N - k] * y[..., k:]).sum(-1) / N for k in range(N)], -1)


def acov_unbiased(trace):
    N = trace.shape[-1]
    return acov_variant(trace) * N / (N - torch.arange(N, dtype=trace.dtype))


# ----------------------------------------------------------------------------- effective_sample_size


def _ess(trace, *, rule="pairs", acov=acov_variant, minus_one=True, inverse=False, validate=True, constant=True,
         max_pairs=None):
    if validate and (trace.dim() != 1 or trace.shape[0] < 4 or not bool(torch.isfinite(trace).all())):
        raise ValueError("trace must be 1-D, finite, with at least 4 entries")
    N = trace.shape[0]
    g = acov(trace.to(torch.float64))
    if constant and g[0] == 0:
        return torch.as_tensor(float(N), dtype=trace.dtype)
    rho = g / g[0]
    if rule == "pairs":  # Geyer's initial positive sequence, by a loop
        tau = -1.0 if minus_one else 0.0
        for m in range(N // 2 if max_pairs is None else max_pairs(N)):
            pair = rho[2 * m] + rho[2 * m + 1]
            if pair <= 0:
                break
            tau += 2 * pair
    elif rule == "single lags":  # stop at the first negative autocorrelation
        tau = 1.0
        for k in range(1, N):
            if rho[k] <= 0:
                break
            tau += 2 * rho[k]
    else:  # no truncation at all
        tau = -1 + 2 * rho[: 2 * (N // 2)].sum()
    out = tau if inverse else N / tau
    return torch.as_tensor(out, dtype=trace.dtype)


ESS_MISTAKES = {
    "truncated at the first negative single lag": lambda trace: _ess(trace, rule="single lags"),
    "no truncation": lambda trace: _ess(trace, rule="sum all"),
    "missing the -1 in tau": lambda trace: _ess(trace, minus_one=False),
    "returns tau instead of N / tau": lambda trace: _ess(trace, inverse=True),
    "autocovariance with 1/(N - k)": lambda trace: _ess(trace, acov=acov_unbiased),
}
ESS_VISIBLE_MISTAKES = {  # each against a sentence of the text: the first visible case that shows it
    "no validation": lambda trace: _ess(trace, validate=False),
    "a constant trace not handled (0/0)": lambda trace: _ess(trace, constant=False),
    "a constant trace returns 1": lambda trace: _ess(trace) if trace.std() > 0 else torch.ones((), dtype=trace.dtype),
    "4 entries rejected": lambda trace: _ess(trace) if trace.shape[-1] > 4 else (_ for _ in ()).throw(ValueError("N")),
}


def test_ess_variant_passes():
    assert passes("llc.effective_sample_size", _ess)


@pytest.mark.parametrize("name", sorted(ESS_MISTAKES))
def test_ess_mistakes_fail(name):
    # the single-lag rule can stop near the same place as the pair rule: it need not differ beyond the
    # float32 tolerance, nor for white noise or a negatively correlated trace; the other cases see it
    blind = ("white noise", "negatively", "float32") if name == "truncated at the first negative single lag" else ()
    if name == "no truncation":  # where no pair is <= 0, summing every pair is the rule itself
        blind = ("no pair sum",)
    misses = [label for label in missed("llc.effective_sample_size", ESS_MISTAKES[name], errors=False)
              if not label.startswith(("a constant trace", "the shortest"))]  # no formula there
    assert all(label.startswith(blind) for label in misses) and len(misses) <= 3, misses


@pytest.mark.parametrize("name", sorted(ESS_VISIBLE_MISTAKES))
def test_ess_stated_requirements_fail_a_visible_case(name):
    assert wrong_visible("llc.effective_sample_size", ESS_VISIBLE_MISTAKES[name]), name


@pytest.mark.parametrize("cap", [lambda N: N // 4, lambda N: N // 3])
def test_ess_lag_cap_fails_the_late_truncation_case(cap):
    """Summing fewer pairs than ⌊N/2⌋ (lags up to N/2 or 2N/3) differs only where the first pair <= 0 comes late."""
    misses = missed("llc.effective_sample_size", lambda trace: _ess(trace, max_pairs=cap))
    assert not any(label.startswith("short and strongly anticorrelated") for label in misses)


def test_ess_one_pair_short_fails_a_visible_case():
    """Summing pairs only up to ⌊N/2⌋ − 2 (``range(N // 2 - 1)``) differs only where no pair is <= 0."""
    wrong = [v.label for v in verdicts("llc.effective_sample_size",
                                       lambda trace: _ess(trace, max_pairs=lambda N: N // 2 - 1), "visible")
             if v.message]
    assert any(label.startswith("no pair sum") for label in wrong), wrong


def test_phase_slip_has_every_pair_positive():
    for N in (9, 15):
        for slip in (1, N - 1):
            M, P = chk._first_nonpositive_pair(chk.phase_slip(N, slip))
            assert M == P  # no pair <= 0


def test_ess_truncation_guard():
    """The cases keep the deciding pair sums clear of zero (else round-off could flip the truncation)."""
    for suite in SUITES:
        for case in chk._ess_cases(suite, CPU):
            trace = case.kwargs["trace"]
            if case.raises is not None or bool((trace == trace[0]).all()):
                continue  # a ValueError, or a constant trace: no truncation to decide
            margin = 1e-6 if trace.dtype == torch.float64 else 1e-3
            assert chk._pairs_clear_of_zero(trace, margin)


# ----------------------------------------------------------------------------- split_rhat


def _check_traces(traces, min_draws=4):
    if traces.dim() != 2 or traces.shape[1] < min_draws or not bool(torch.isfinite(traces).all()):
        raise ValueError("traces must be (C, T), finite, with T >= 4")


def rhat_variant(traces):
    """Correct: BDA3's formulas written out with explicit sums, halves built by a loop."""
    _check_traces(traces)
    C, T = traces.shape
    n = T // 2
    seqs = [row[:n] for row in traces] + [row[T - n:] for row in traces]
    m = len(seqs)
    means = torch.stack([s.sum() / n for s in seqs])
    grand = means.sum() / m
    B = n / (m - 1) * ((means - grand) ** 2).sum()
    W = torch.stack([((s - mu) ** 2).sum() / (n - 1) for s, mu in zip(seqs, means)]).sum() / m
    return torch.sqrt(((n - 1) / n * W + B / n) / W)


def _rhat_with(*, split=True, unbiased=True, shrink=True, root=True, keep_middle=False, validate=True, min_draws=4):
    def f(traces):
        if validate:
            _check_traces(traces, min_draws)
        C, T = traces.shape
        if split:
            n = T // 2
            seqs = torch.cat([traces[:, :n], traces[:, n:2 * n] if keep_middle else traces[:, T - n:]])
        else:
            n, seqs = T, traces
        B = n * seqs.mean(1).var(unbiased=True)
        W = seqs.var(1, unbiased=unbiased).mean()
        v = ((n - 1) / n * W if shrink else W) + B / n
        return torch.sqrt(v / W) if root else v / W
    return f


RHAT_MISTAKES = {
    "chains not split": _rhat_with(split=False),
    "biased within-chain variances": _rhat_with(unbiased=False),
    "missing (n - 1)/n": _rhat_with(shrink=False),
    "no square root": _rhat_with(root=False),
    "middle draw kept in the first half (odd T)": _rhat_with(keep_middle=True),
}


def test_rhat_variant_passes():
    assert passes("llc.split_rhat", rhat_variant)


@pytest.mark.parametrize("name", sorted(RHAT_MISTAKES))
def test_rhat_mistakes_fail(name):
    misses = missed("llc.split_rhat", RHAT_MISTAKES[name], errors=False)
    if name.startswith("middle draw"):  # only the odd-length cases can see it, one of them visible
        assert not any("odd number" in label for label in misses)
        assert wrong_visible("llc.split_rhat", RHAT_MISTAKES[name])
    else:
        assert misses == []


@pytest.mark.parametrize("name, wrong", [
    ("no validation", _rhat_with(validate=False)),
    ("4 draws rejected", _rhat_with(min_draws=5)),
    ("3 draws allowed", _rhat_with(min_draws=3)),
])
def test_rhat_validation_mistakes_fail_a_visible_case(name, wrong):
    assert wrong_visible("llc.split_rhat", wrong), name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_references_pass_on_cuda():
    for exercise_id, fn in REFERENCES:
        for suite in SUITES:
            assert check(exercise_id, fn, suite, device="cuda").passed


# ----------------------------------------------------------------------------- default_nbeta: a Python float


def test_default_nbeta_must_be_a_python_float_in_a_visible_case():
    as_tensor = lambda n: torch.tensor(n / math.log(n), dtype=torch.float64)  # noqa: E731
    wrong = [v for v in verdicts("llc.default_nbeta", as_tensor, "visible") if v.message]
    assert wrong and "Python float" in wrong[0].message


# ----------------------------------------------------------------------------- sgld_llc (exact)


def sgld_llc_variant(loss_fn, w_star, n, gamma, eps, n_chains, n_steps, burn_in, generator, step=sgld.sgld_step):
    """Correct, written differently: torch.func for the gradients, a preallocated trace, ESS and SE by hand."""
    nbeta = n / math.log(n)
    W = w_star.repeat(n_chains, 1)
    losses = torch.empty(n_chains, n_steps, dtype=w_star.dtype, device=w_star.device)
    grad_fn = torch.func.grad_and_value(lambda W: loss_fn(W).sum())
    for t in range(n_steps):
        per = loss_fn(W)
        grad, _ = grad_fn(W)
        losses[:, t] = per.detach()
        W = step(W, grad, w_star, eps, nbeta, gamma, torch.randn(W.shape, generator=generator, dtype=W.dtype,
                                                                   device=W.device))
    init = loss_fn(w_star.unsqueeze(0)).squeeze(0)
    y = nbeta * (losses[:, burn_in:] - init)
    per_chain = y.mean(1)
    var = ((y - y.mean(1, keepdim=True)) ** 2).sum(1) / (y.shape[1] - 1)
    ess = torch.stack([diagnostics.effective_sample_size(row) for row in y])
    return float(per_chain.mean()), float(((var / ess).sum()).sqrt() / n_chains), per_chain


def _sgld_llc_with(*, nbeta_of_n=None, burn=True, per_chain_noise=False, record_after=False, se="ess",
                   own_step=False, global_rng=False):
    def f(loss_fn, w_star, n, gamma, eps, n_chains, n_steps, burn_in, generator, step=sgld.sgld_step):
        nbeta = nbeta_of_n(n) if nbeta_of_n else llc.default_nbeta(n)
        stepper = sgld.sgld_step if own_step else step
        W = w_star.expand(n_chains, -1).clone()
        rows = []
        if per_chain_noise:  # all the noise drawn up front, chain by chain: another order than the text's
            upfront = torch.randn((n_chains, n_steps, W.shape[1]), generator=generator, dtype=W.dtype)
        for t in range(n_steps):
            Wg = W.detach().requires_grad_(True)
            loss = loss_fn(Wg)
            (grad,) = torch.autograd.grad(loss.sum(), Wg)
            if global_rng:
                noise = torch.randn(W.shape, dtype=W.dtype, device=W.device)
            elif per_chain_noise:
                noise = upfront[:, t]
            else:
                noise = torch.randn(W.shape, generator=generator, dtype=W.dtype, device=W.device)
            W = stepper(W, grad, w_star, eps, nbeta, gamma, noise)
            rows.append(loss_fn(W).detach() if record_after else loss.detach())
        losses = torch.stack(rows, 1)
        init = loss_fn(w_star[None])[0].detach()
        b = burn_in if burn else 0
        y = nbeta * (losses[:, b:] - init)
        per_chain = y.mean(1)
        if se == "ess":
            ess = torch.stack([diagnostics.effective_sample_size(r) for r in y])
            s = torch.sqrt((y.var(1) / ess).sum()) / n_chains
        elif se == "biased var":
            ess = torch.stack([diagnostics.effective_sample_size(r) for r in y])
            s = torch.sqrt((y.var(1, unbiased=False) / ess).sum()) / n_chains
        elif se == "no ESS":
            s = torch.sqrt((y.var(1) / y.shape[1]).sum()) / n_chains
        else:  # spread of the chains
            s = per_chain.std() / math.sqrt(n_chains)
        return per_chain.mean(), s, per_chain
    return f


SGLD_LLC_MISTAKES = {
    "n instead of n beta": _sgld_llc_with(nbeta_of_n=lambda n: float(n)),
    "burn-in not dropped": _sgld_llc_with(burn=False),
    "noise drawn up front, chain by chain": _sgld_llc_with(per_chain_noise=True),
    "loss recorded after the step": _sgld_llc_with(record_after=True),
    "SE with biased variances": _sgld_llc_with(se="biased var"),
    "SE ignores autocorrelation": _sgld_llc_with(se="no ESS"),
    "SE from the spread of the chains": _sgld_llc_with(se="spread"),
    "the step argument ignored": _sgld_llc_with(own_step=True),
    "the global RNG instead of the generator": _sgld_llc_with(global_rng=True),
}


def test_sgld_llc_reference_and_variant_pass():
    assert passes("llc.sgld_llc", llc.sgld_llc)
    assert passes("llc.sgld_llc", sgld_llc_variant)
    assert passes("llc.sgld_llc", _sgld_llc_with())  # the mistakes' scaffold, with no mistake


@pytest.mark.parametrize("name", sorted(SGLD_LLC_MISTAKES))
def test_sgld_llc_mistakes_fail_a_visible_case(name):
    wrong = [v for v in verdicts("llc.sgld_llc", SGLD_LLC_MISTAKES[name], "visible") if v.message]
    assert wrong, name


def test_sgld_llc_hint_names_the_temperature():
    wrong = [v for v in verdicts("llc.sgld_llc", SGLD_LLC_MISTAKES["n instead of n beta"], "visible") if v.message]
    assert "n / log n" in wrong[0].message


# ----------------------------------------------------------------------------- choose_eps (outcome)


def _hessian_max(loss_fn, points):
    return max(float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(lambda w: loss_fn(w[None])[0], p)).max())
               for p in points)


def eps_mean_curvature(loss_fn, w_star, nbeta, gamma, draws):
    """Also right: the mean over the draws of the largest curvature, with ε(κ + γ) = 0.05."""
    kappa = nbeta * sum(_hessian_max(loss_fn, [p]) for p in draws) / len(draws)
    return 0.05 / (kappa + gamma)


EPS_MISTAKES = {
    "the Hessian at w* alone": lambda loss_fn, w_star, nbeta, gamma, draws:
        0.1 / (nbeta * _hessian_max(loss_fn, [w_star]) + gamma),
    "the curvature of L, not of n beta L": lambda loss_fn, w_star, nbeta, gamma, draws:
        0.1 / (_hessian_max(loss_fn, torch.cat([w_star[None], draws])) + gamma),
    "the stability bound eps (kappa + gamma) = 1": lambda loss_fn, w_star, nbeta, gamma, draws:
        1.0 / (nbeta * _hessian_max(loss_fn, torch.cat([w_star[None], draws])) + gamma),
    "far too small (1e-6)": lambda loss_fn, w_star, nbeta, gamma, draws: 1e-6,
    "gamma left out of the curvature": lambda loss_fn, w_star, nbeta, gamma, draws:
        0.1 / (nbeta * _hessian_max(loss_fn, torch.cat([w_star[None], draws]))),
    "a 0-d tensor": lambda loss_fn, w_star, nbeta, gamma, draws: torch.tensor(llc.choose_eps(loss_fn, w_star, nbeta, gamma, draws)),
}


def test_choose_eps_reference_and_variant_pass():
    assert passes("llc.choose_eps", llc.choose_eps)
    assert passes("llc.choose_eps", eps_mean_curvature)


@pytest.mark.parametrize("name", sorted(EPS_MISTAKES))
def test_choose_eps_mistakes_fail_a_visible_case(name):
    wrong = [v for v in verdicts("llc.choose_eps", EPS_MISTAKES[name], "visible") if v.message]
    assert wrong, name


def test_choose_eps_feedback_explains_the_singular_hessian():
    wrong = [v for v in verdicts("llc.choose_eps", EPS_MISTAKES["the Hessian at w* alone"], "visible") if v.message]
    assert any("singular" in v.message and "draws" in v.message for v in wrong)


def test_choose_eps_feedback_blames_the_hessian_at_w_star_only_for_that_rule():
    other = lambda loss_fn, w_star, nbeta, gamma, draws: 3 * llc.choose_eps(loss_fn, w_star, nbeta, gamma, draws)
    wrong = [v for v in verdicts("llc.choose_eps", other, "visible") if v.message]
    assert wrong and not any("Hessian at w* alone" in v.message for v in wrong)
    # a rule 3 times too large: the feedback names the product it makes and both ways to get there, not only one
    assert any("ε(κ_max + γ) = 0.3 with the largest curvature the chains meet" in v.message
               and "the product you aim for" in v.message for v in wrong)


def test_choose_eps_false_failure_rate():
    """The check's run at the reference's ε on its worst case (the visible quartic, largest SE relative to the exact
    value), repeated R = 300 times as one batched run of 300 x 512 chains with the analytic gradient (the verdict's
    law does not depend on how the noise is ordered). A failure needs |z| > margin = 3 + 5%·exact/SE, with
    z = (estimate − exact)/SE. z is a mean over 512 independent chains divided by its SE, Gaussian to good accuracy,
    so with its mean μ and spread σ over the repeats the failure probability is ≈ Φ(−(margin − |μ|)/σ) (the other
    tail is farther). Asserted: no failure; (margin − |μ|)/σ ≥ 4 (≤ 3e-5 per run, the notes' figure); and ≥ 3.4
    (≤ 3e-4) with μ and σ moved to the far ends of their 2-SE ranges (μ ± 2/√R, σ·(1 ± 2/√(2R))). Measured:
    μ ≈ 0.32, σ ≈ 1.01, margin ≥ 4.53. This bounds the rate far more tightly than 0 failures in 1000 repeats
    (≤ 3e-3 at 95%), at under a third of the cost."""
    case = chk._eps_cases("visible", CPU)[1]
    pr = chk._eps_problems("visible")[1]
    kw = case.kwargs
    eps, nbeta, gamma = llc.choose_eps(**kw), kw["nbeta"], kw["gamma"]
    R, C = 300, chk.OUTCOME_CHAINS
    g = torch.Generator().manual_seed(2024)
    w = torch.zeros(R * C, dtype=torch.float64)
    kept = torch.zeros(R * C, dtype=torch.float64)
    for t in range(chk.OUTCOME_STEPS):  # L = w⁴/2: ∇L = 2w³
        if t >= chk.OUTCOME_BURN_IN:
            kept += 0.5 * w**4
        w = w - (eps / 2) * (nbeta * 2 * w**3 + gamma * w) + math.sqrt(eps) * torch.randn(R * C, generator=g, dtype=torch.float64)
    per_chain = (nbeta * kept / (chk.OUTCOME_STEPS - chk.OUTCOME_BURN_IN)).reshape(R, C)
    est, se = per_chain.mean(1), per_chain.std(1) / math.sqrt(C)
    fails = (est - pr.reference).abs() > chk.REL_TOL * pr.reference + chk.N_SE * se
    assert int(fails.sum()) == 0
    z = (est - pr.reference) / se
    margin = float((chk.N_SE + chk.REL_TOL * pr.reference / se).min())
    mu, sigma = float(z.mean()), float(z.std())
    assert (margin - abs(mu)) / sigma >= 4.0, (margin, mu, sigma)
    assert (margin - abs(mu) - 2 / math.sqrt(R)) / (sigma * (1 + 2 / math.sqrt(2 * R))) >= 3.4, (margin, mu, sigma)


def test_choose_eps_gamma_left_out_fails_the_strong_localization_case():
    wrong = [v for v in verdicts("llc.choose_eps", EPS_MISTAKES["gamma left out of the curvature"], "visible") if v.message]
    assert [v.label for v in wrong] == [c.label for c in chk._eps_cases("visible", CPU) if "strong localization" in c.label]
    assert "too large" in wrong[0].message


# ----------------------------------------------------------------------------- run_verdict (reasoning)


def verdict_variant(rhat, ess, acceptance, estimate, se, estimate_half, se_half):
    """Correct, written differently: a table of (rule holds, verdict if not), squares instead of a root, the total ESS."""
    rules = [
        (not rhat > 1.1, "not mixed"),
        (float(ess.sum()) >= 100 * len(ess), "too few draws"),
        (acceptance >= 0.9, "step too large"),
        ((estimate - estimate_half) ** 2 <= 9 * (se**2 + se_half**2), "step bias"),
    ]
    return next((name for ok, name in rules if not ok), "trust")


def _verdict_with(*, rhat_max=1.1, ess_of=lambda e: float(e.mean()), ess_min=100, acc_min=0.9, k=3.0,
                  se_of=math.hypot, one_sided=False, order=("rhat", "ess", "acc", "bias"), strict=False,
                  strict_rules=()):
    def f(rhat, ess, acceptance, estimate, se, estimate_half, se_half):
        change = (estimate - estimate_half) if one_sided else abs(estimate - estimate_half)
        fails = {
            "rhat": rhat >= rhat_max if "rhat" in strict_rules else rhat > rhat_max,
            "ess": ess_of(ess) <= ess_min if strict else ess_of(ess) < ess_min,
            "acc": acceptance <= acc_min if "acc" in strict_rules else acceptance < acc_min,
            "bias": change >= k * se_of(se, se_half) if strict else change > k * se_of(se, se_half),
        }
        names = {"rhat": "not mixed", "ess": "too few draws", "acc": "step too large", "bias": "step bias"}
        return next((names[r] for r in order if fails[r]), "trust")
    return f


VERDICT_MISTAKES = {
    "the smallest chain's ESS, not the mean": _verdict_with(ess_of=lambda e: float(e.min())),
    "the largest chain's ESS": _verdict_with(ess_of=lambda e: float(e.max())),
    "the total ESS against 100": _verdict_with(ess_of=lambda e: float(e.sum())),
    "one SE, not the combined SE": _verdict_with(se_of=lambda a, b: a),
    "the sum of the SEs": _verdict_with(se_of=lambda a, b: a + b),
    "2 SEs instead of 3": _verdict_with(k=2.0),
    "a one-sided halving test": _verdict_with(one_sided=True),
    "R-hat threshold 1.01": _verdict_with(rhat_max=1.01),
    "R-hat threshold 1.2": _verdict_with(rhat_max=1.2),
    "acceptance bound 0.8": _verdict_with(acc_min=0.8),
    "acceptance checked first": _verdict_with(order=("acc", "rhat", "ess", "bias")),
    "halving checked before the acceptance": _verdict_with(order=("rhat", "ess", "bias", "acc")),
    "ESS checked before R-hat": _verdict_with(order=("ess", "rhat", "acc", "bias")),
    "strict inequalities (equality fails)": _verdict_with(strict=True),
    "R-hat fails at equality (rhat >= 1.1)": _verdict_with(strict_rules=("rhat",)),
    "acceptance fails at equality (acceptance <= 0.9)": _verdict_with(strict_rules=("acc",)),
}


@pytest.mark.parametrize("name", ["R-hat fails at equality (rhat >= 1.1)",
                                  "acceptance fails at equality (acceptance <= 0.9)"])
def test_run_verdict_equality_mistakes_fail_a_visible_and_a_hidden_case(name):
    """The text: each rule passes at equality (R̂ ≤ 1.1, acceptance ≥ 0.9), with the literals 1.1 and 0.9."""
    for s in SUITES:
        assert [v for v in verdicts("llc.run_verdict", VERDICT_MISTAKES[name], s) if v.message], (name, s)


@pytest.mark.parametrize("order", [o for o in itertools.permutations(("rhat", "ess", "acc", "bias"))
                                   if o != ("rhat", "ess", "acc", "bias")])
def test_run_verdict_any_other_order_fails_a_visible_case(order):
    """Every pair of rules fails together in a visible case, so any other order of the rules is caught there."""
    assert wrong_visible("llc.run_verdict", _verdict_with(order=order)), order


def test_run_verdict_variant_passes():
    assert passes("llc.run_verdict", verdict_variant)


@pytest.mark.parametrize("name", sorted(VERDICT_MISTAKES))
def test_run_verdict_mistakes_fail(name):
    wrong = [v for s in SUITES for v in verdicts("llc.run_verdict", VERDICT_MISTAKES[name], s) if v.message]
    assert wrong, name


def test_run_verdict_hidden_suite_has_enough_cases_covering_every_verdict():
    hidden = chk._verdict_cases("hidden", CPU)
    assert len(hidden) >= 10
    assert {llc.run_verdict(**c.kwargs) for c in hidden} == set(chk.VERDICTS)


def test_run_verdict_feedback_explains_the_deciding_rule():
    msgs = {name: " ".join(v.message for s in SUITES for v in verdicts("llc.run_verdict", VERDICT_MISTAKES[name], s)
                           if v.message) for name in VERDICT_MISTAKES}
    assert "not on the smallest chain" in msgs["the smallest chain's ESS, not the mean"]
    assert "combined SEs" in msgs["one SE, not the combined SE"]
    assert "comes first" in msgs["acceptance checked first"]
    assert "passes here" in msgs["R-hat threshold 1.01"]
    answer_string = [v.message for v in verdicts("llc.run_verdict", lambda **kw: "ok", "visible") if v.message]
    assert answer_string and "expected one of" in answer_string[0]


def test_run_verdict_cases_are_clear_of_the_thresholds():
    """Every case's quantities keep clear of the thresholds, but for the two exact boundary cases."""
    for s in SUITES:
        for c in chk._verdict_cases(s, CPU):
            kw = c.kwargs
            if "exactly" in c.label:
                continue
            change = abs(kw["estimate"] - kw["estimate_half"]) / math.hypot(kw["se"], kw["se_half"])
            assert abs(kw["rhat"] - 1.1) >= 0.005 and abs(kw["acceptance"] - 0.9) >= 0.005
            assert abs(float(kw["ess"].mean()) - 100) >= 0.2 and abs(change - 3) >= 0.1, c.label
