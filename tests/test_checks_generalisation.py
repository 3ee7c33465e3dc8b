"""Tests of the lesson-7 checks (slt_lessons/checks/generalisation.py): the references pass, correct variants written
differently pass, plausible mistakes fail (each on a visible case), and the LLCResult TypeError is enforced."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from checking import CPU, SUITES, failures, missed, passes, verdicts, wrong_labels, wrong_visible

from slt_lessons import generalisation
from slt_lessons.checks import check
from slt_lessons.checks.registry import get
from slt_lessons.checks.runner import collect, judge
from slt_lessons.validation import require_positive

REFERENCES = [
    ("generalisation.training_loss", generalisation.training_loss),
    ("generalisation.functional_variance", generalisation.functional_variance),
    ("generalisation.waic", generalisation.waic),
    ("generalisation.importance_loo", generalisation.importance_loo),
    ("generalisation.predictive_kl", generalisation.predictive_kl),
    ("generalisation.criterion_preferences", generalisation.criterion_preferences),
]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("exercise_id, fn", REFERENCES)
def test_reference_passes(exercise_id, fn, suite):
    assert check(exercise_id, fn, suite, device=CPU).passed


@pytest.mark.parametrize("exercise_id", [i for i, _ in REFERENCES])
def test_untouched_stub_fails(exercise_id):
    def stub(**kwargs):
        raise NotImplementedError()

    for suite in SUITES:
        result = judge(exercise_id, collect(exercise_id, stub, suite, CPU), suite, CPU)
        assert not result.passed and all(v.message for v in result.verdicts)
        assert "not implemented" in str(result)


# ============================================================================ shared pieces


def _log_pi(log_lik, log_weights):
    """The normalised log weights, by softmax (not logsumexp), after the course's argument checks."""
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights)
    if log_weights is None:
        return log_lik, torch.full((log_lik.shape[0],), -math.log(log_lik.shape[0]), dtype=log_lik.dtype)
    return log_lik, torch.log(torch.softmax(log_weights, 0))  # log 0 = −inf for a point of zero weight


def _pi(log_lik, log_weights):
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights)
    if log_weights is None:
        return log_lik, torch.full((log_lik.shape[0],), 1 / log_lik.shape[0], dtype=log_lik.dtype)
    return log_lik, torch.softmax(log_weights, 0)


# ============================================================================ training_loss


def training_loss_max_shift(log_lik, log_weights=None):
    """Correct: the log-sum-exp by hand, shifting each column by its largest exponent."""
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)
    x = log_pi[:, None] + log_lik
    m = x.max(dim=0).values  # finite: some weight is nonzero
    return -(m + (x - m).exp().sum(0).log()).mean()


def training_loss_softmax(log_lik, log_weights=None):
    """Correct: weights normalised by softmax, then log Σ_s π_s p_s with the shift by each column's max log p."""
    log_lik, pi = _pi(log_lik, log_weights)
    m = log_lik.max(dim=0).values
    return -(m + (pi[:, None] * (log_lik - m).exp()).sum(0).log()).mean()


def training_loss_loop(log_lik, log_weights=None):
    """Correct: one logsumexp per data point, in a loop."""
    log_lik, log_pi = _log_pi(log_lik, log_weights)
    n = log_lik.shape[1]
    return -sum(torch.logsumexp(log_pi + log_lik[:, i], 0) for i in range(n)) / n


def _training_with(*, logs=True, jensen=False, normalise=True):
    def f(log_lik, log_weights=None):
        log_lik, log_weights = generalisation.check_draws(log_lik, log_weights)
        if log_weights is None:
            log_w = torch.zeros(log_lik.shape[0], dtype=log_lik.dtype)
            if normalise:
                log_w = log_w - math.log(log_lik.shape[0])
        else:
            log_w = log_weights - torch.logsumexp(log_weights, 0) if normalise else log_weights
        if jensen:
            return -(log_w.exp()[:, None] * log_lik).sum(0).mean()
        if not logs:
            return -(log_w.exp()[:, None] * log_lik.exp()).sum(0).log().mean()
        return -torch.logsumexp(log_w[:, None] + log_lik, 0).mean()

    return f


TRAINING_MISTAKES = {
    "no log-sum-exp (p = exp(log p) underflows at -800)": _training_with(logs=False),
    "E_w[log p] in place of log E_w[p]": _training_with(jensen=True),
    "unnormalised weights": _training_with(normalise=False),
}


@pytest.mark.parametrize("variant", [training_loss_max_shift, training_loss_softmax, training_loss_loop,
                                     _training_with()])
def test_training_loss_variants_pass(variant):
    assert failures("generalisation.training_loss", variant) == []


@pytest.mark.parametrize("name", sorted(TRAINING_MISTAKES))
def test_training_loss_mistakes_fail(name):
    wrong = TRAINING_MISTAKES[name]
    assert wrong_visible("generalisation.training_loss", wrong), name
    misses = missed("generalisation.training_loss", wrong, errors=False)
    if name.startswith("E_w[log p]"):
        # log E[p] − E[log p] ≈ Var_w[log p]/2 per point: ~1e-6 where the draws nearly agree, below 1e-9 of
        # |T_n| ≈ 1e5
        assert misses == ["large, nearly equal log-likelihoods"], misses
    elif name.startswith("no log-sum-exp"):  # right wherever exp(log p) does not underflow: only those cases see it
        assert set(wrong_labels("generalisation.training_loss", wrong, "visible")
                   + wrong_labels("generalisation.training_loss", wrong, "hidden")) == {
            "log-likelihoods near -800 (exp underflows to 0: work in logs)", "large, nearly equal log-likelihoods"}
    else:
        assert misses == [], misses


# ============================================================================ functional_variance


def functional_variance_loop(log_lik, log_weights=None):
    """Correct: a loop over data points, each a weighted, centred variance."""
    log_lik, pi = _pi(log_lik, log_weights)
    total = torch.zeros((), dtype=log_lik.dtype)
    for i in range(log_lik.shape[1]):
        f = log_lik[:, i]
        mean = (pi * f).sum()
        total = total + (pi * (f - mean) ** 2).sum()
    return total


def functional_variance_cov(log_lik, log_weights=None):
    """Correct: torch.cov with the posterior weights as aweights and no correction (it centres), the diagonal."""
    log_lik, pi = _pi(log_lik, log_weights)
    if log_lik.shape[1] == 1:
        return torch.cov(log_lik.T, correction=0, aweights=pi).sum()  # 0-d for one variable
    return torch.cov(log_lik.T, correction=0, aweights=pi).diagonal().sum()


def functional_variance_compensated(log_lik, log_weights=None):
    """Correct: shifted by the values of the heaviest draw, then E[g²] − E[g]² of g = f − f_top (a shift does not
    change a variance; after it E[g] is of the order of the spread, so the subtraction loses no more than a digit)."""
    log_lik, pi = _pi(log_lik, log_weights)
    g = log_lik - log_lik[int(pi.argmax())]
    m = (pi[:, None] * g).sum(0)
    return ((pi[:, None] * g**2).sum(0) - m**2).sum()


def _variance_with(*, unbiased=False, raw_moments=False, mean_over_data=False):
    def f(log_lik, log_weights=None):
        log_lik, pi = _pi(log_lik, log_weights)
        p = pi[:, None]
        if raw_moments:
            var = (p * log_lik**2).sum(0) - (p * log_lik).sum(0) ** 2
        else:
            var = (p * (log_lik - (p * log_lik).sum(0)) ** 2).sum(0)
        if unbiased:  # Bessel's correction for reliability weights: S/(S − 1) with equal weights
            var = var / (1 - (pi**2).sum())
        return var.mean() if mean_over_data else var.sum()

    return f


VARIANCE_MISTAKES = {
    "the unbiased (S - 1) variance": _variance_with(unbiased=True),
    "E[f^2] - E[f]^2 (not centred)": _variance_with(raw_moments=True),
    "the mean over data points, not the sum": _variance_with(mean_over_data=True),
}


@pytest.mark.parametrize("variant", [functional_variance_loop, functional_variance_cov,
                                     functional_variance_compensated, _variance_with()])
def test_functional_variance_variants_pass(variant):
    assert failures("generalisation.functional_variance", variant) == []


@pytest.mark.parametrize("name", sorted(VARIANCE_MISTAKES))
def test_functional_variance_mistakes_fail(name):
    wrong = VARIANCE_MISTAKES[name]
    assert wrong_visible("generalisation.functional_variance", wrong), name


def _uncentred_einsum(log_lik, log_weights=None):
    log_lik, pi = _pi(log_lik, log_weights)
    return (torch.einsum("s,si->i", pi, log_lik**2) - torch.einsum("s,si->i", pi, log_lik) ** 2).sum()


def _uncentred_means(log_lik, log_weights=None):
    log_lik, pi = _pi(log_lik, log_weights)
    if log_weights is None:
        return ((log_lik**2).mean(0) - log_lik.mean(0) ** 2).sum()
    return ((pi[:, None] * log_lik**2).sum(0) - (pi[:, None] * log_lik).sum(0) ** 2).sum()


def _uncentred_loop(log_lik, log_weights=None):
    log_lik, pi = _pi(log_lik, log_weights)
    return sum(pi @ (log_lik[:, i] ** 2) - (pi @ log_lik[:, i]) ** 2 for i in range(log_lik.shape[1]))


UNCENTRED = [VARIANCE_MISTAKES["E[f^2] - E[f]^2 (not centred)"], _uncentred_einsum, _uncentred_means, _uncentred_loop]


@pytest.mark.parametrize("wrong", UNCENTRED)
def test_functional_variance_uncentred_fails_the_nearly_equal_cases(wrong):
    """E[f²] − E[f]² in any order of summation: wrong on the visible case near −1e4 (by a few percent) and the
    hidden one near −1e5. Near −800 it errs by only ~1e-9 relative, which some orders of summation stay within:
    without the case near −1e4 the visible suite would not reliably see the mistake."""
    assert "log-likelihoods near -1e4 that nearly agree (E[f^2] - E[f]^2 cancels: compute centred)" in wrong_labels(
        "generalisation.functional_variance", wrong, "visible")
    assert "large, nearly equal log-likelihoods" in wrong_labels("generalisation.functional_variance", wrong, "hidden")


# ============================================================================ waic


def waic_composed(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Correct: the course's check, then this file's own T_n (softmax weights) and V_n (a loop over data points)."""
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
    beta = require_positive("beta", beta)
    return (training_loss_softmax(log_lik, log_weights)
            + beta * functional_variance_loop(log_lik, log_weights) / log_lik.shape[1])


def waic_inline(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Correct: everything in one place, T_n and V_n from the same normalised weights."""
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)[:, None]
    pi = log_pi.exp()
    T = -torch.logsumexp(log_pi + log_lik, 0).mean()
    centred = log_lik - (pi * log_lik).sum(0)
    return T + beta * (pi * centred**2).sum() / log_lik.shape[1]


def _waic_with(*, per_n=True, use_beta=True, check=True):
    def f(log_lik, log_weights=None, beta=1.0, *, localised=False):
        if check:
            log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
        n = log_lik.shape[1]  # without the check, an LLCResult has no shape: AttributeError
        T = generalisation.training_loss(log_lik, log_weights)
        V = generalisation.functional_variance(log_lik, log_weights)
        return T + (beta if use_beta else 1.0) * V / (n if per_n else 1)

    return f


def waic_own_validation(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Wrong: its own argument checks in place of check_draws; an LLCResult then becomes a ValueError (not a
    tensor), where the text asks for the TypeError check_draws raises."""
    from slt_lessons.validation import as_tensor, require_ndim

    log_lik = require_ndim("log_lik", as_tensor("log_lik", log_lik), 2)
    return waic_composed(log_lik, log_weights, beta, localised=localised)


WAIC_MISTAKES = {
    "V_n not divided by n": _waic_with(per_n=False),
    "no beta (V_n/n at every beta)": _waic_with(use_beta=False),
    "check_draws skipped (log_lik.shape first)": _waic_with(check=False),
    "check_draws replaced by its own checks": waic_own_validation,
}


@pytest.mark.parametrize("variant", [waic_composed, waic_inline, _waic_with()])
def test_waic_variants_pass(variant):
    assert failures("generalisation.waic", variant) == []


@pytest.mark.parametrize("name", sorted(WAIC_MISTAKES))
def test_waic_mistakes_fail(name):
    wrong = WAIC_MISTAKES[name]
    assert wrong_visible("generalisation.waic", wrong), name
    labels = wrong_labels("generalisation.waic", wrong, "visible")
    if name.startswith("no beta"):  # right at beta = 1: the beta cases see it, and all of them
        beta_cases = {c.label for s in SUITES for c in get("generalisation.waic").cases(s, CPU)
                      if c.raises is None and c.kwargs.get("beta", 1.0) != 1.0}
        assert not beta_cases & set(missed("generalisation.waic", wrong))
    elif name.startswith("check_draws"):
        assert [label for label in labels if "LLCResult" in label], labels
    else:  # V_n/n and V_n agree at n = 1; where the draws nearly agree, V_n ~ 1e-4 is below 1e-9 of |W_n| ~ 1e5
        assert missed("generalisation.waic", wrong, errors=False) == ["one data point",
                                                                       "large, nearly equal log-likelihoods"]


# ============================================================================ LLCResult
# The case checks the class of the raised exception only (runner._case_verdict): a function that skips check_draws
# but whose first use of log_lik raises a TypeError of its own (len(log_lik), torch.logsumexp(log_lik, 0),
# (1 - beta) * log_lik) passes it, with an unhelpful message. Going through generalisation.posterior_log_weights
# first is right: it calls check_draws.


def test_the_llc_result_case_is_visible():
    for exercise_id in ("generalisation.waic", "generalisation.importance_loo"):
        cases = [c for c in get(exercise_id).cases("visible", CPU) if c.raises is TypeError]
        assert len(cases) == 1 and type(cases[0].kwargs["log_lik"]).__name__ == "LLCResult", exercise_id


# ============================================================================ importance_loo


def importance_loo_harmonic(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Correct: at beta = 1 with equal weights, −log of the harmonic mean, log p(X_i | X_−i) = −log mean_s e^(−ℓ_si);
    otherwise the general ratio."""
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
    beta = require_positive("beta", beta)
    S = log_lik.shape[0]
    if beta == 1.0 and log_weights is None:
        return (torch.logsumexp(-log_lik, 0) - math.log(S)).mean()
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)[:, None]
    return -(torch.logsumexp(log_pi + (1 - beta) * log_lik, 0) - torch.logsumexp(log_pi - beta * log_lik, 0)).mean()


def importance_loo_softmax(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Correct: the leave-one-out posterior's weights by softmax, π_s p_si^(−β) normalised over s, and then
    log p(X_i | X_−i) = log Σ_s w_si p_si (the same ratio)."""
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
    beta = require_positive("beta", beta)
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)[:, None]
    log_w = torch.log_softmax(log_pi - beta * log_lik, dim=0)  # (S, n): each column the posterior without X_i
    return -torch.logsumexp(log_w + log_lik, 0).mean()


def importance_loo_loop(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Correct: one data point at a time, the weights normalised by softmax."""
    log_lik, log_pi = _log_pi(generalisation.check_draws(log_lik, log_weights, localised)[0], log_weights)
    beta = require_positive("beta", beta)
    terms = [torch.logsumexp(log_pi + (1 - beta) * log_lik[:, i], 0)
             - torch.logsumexp(log_pi - beta * log_lik[:, i], 0) for i in range(log_lik.shape[1])]
    return -torch.stack(terms).mean()


def _loo_with(*, numerator=True, harmonic_at_every_beta=False, arithmetic=False):
    def f(log_lik, log_weights=None, beta=1.0, *, localised=False):
        log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
        log_pi = generalisation.posterior_log_weights(log_lik, log_weights)[:, None]
        if arithmetic:  # log E_w[p]: the training loss
            return -torch.logsumexp(log_pi + log_lik, 0).mean()
        b = 1.0 if harmonic_at_every_beta else beta
        log_num = torch.logsumexp(log_pi + (1 - b) * log_lik, 0) if numerator else 0.0
        return -(log_num - torch.logsumexp(log_pi - b * log_lik, 0)).mean()

    return f


def loo_own_validation(log_lik, log_weights=None, beta=1.0, *, localised=False):
    from slt_lessons.validation import as_tensor, require_ndim

    log_lik = require_ndim("log_lik", as_tensor("log_lik", log_lik), 2)
    return importance_loo_softmax(log_lik, log_weights, beta, localised=localised)


def loo_no_check(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Wrong: no check_draws; equal weights built from log_lik.shape (AttributeError on an LLCResult)."""
    S = log_lik.shape[0]
    log_pi = (torch.full((S,), -math.log(S), dtype=log_lik.dtype) if log_weights is None
              else log_weights - torch.logsumexp(log_weights, 0))[:, None]
    return -(torch.logsumexp(log_pi + (1 - beta) * log_lik, 0) - torch.logsumexp(log_pi - beta * log_lik, 0)).mean()


LOO_MISTAKES = {
    "the beta = 1 formula at every beta (numerator dropped)": _loo_with(numerator=False),
    "the harmonic mean at every beta (beta ignored)": _loo_with(harmonic_at_every_beta=True),
    "the arithmetic mean of p (log E_w[p])": _loo_with(arithmetic=True),
    "check_draws skipped (log_lik.shape first)": loo_no_check,
    "check_draws replaced by its own checks": loo_own_validation,
}


@pytest.mark.parametrize("variant", [importance_loo_harmonic, importance_loo_softmax, importance_loo_loop,
                                     _loo_with()])
def test_importance_loo_variants_pass(variant):
    assert failures("generalisation.importance_loo", variant) == []


@pytest.mark.parametrize("name", sorted(LOO_MISTAKES))
def test_importance_loo_mistakes_fail(name):
    wrong = LOO_MISTAKES[name]
    assert wrong_visible("generalisation.importance_loo", wrong), name
    labels = wrong_labels("generalisation.importance_loo", wrong, "visible")
    beta_cases = {c.label for s in SUITES for c in get("generalisation.importance_loo").cases(s, CPU)
                  if c.raises is None and c.kwargs.get("beta", 1.0) != 1.0}
    if "every beta" in name:  # the beta = 1 formula is right at beta = 1: the beta cases see it, and all of them
        assert any(label in beta_cases for label in labels), labels
        assert not beta_cases & set(missed("generalisation.importance_loo", wrong))
    elif name.startswith("check_draws"):
        assert [label for label in labels if "LLCResult" in label], labels
    else:  # log E_w[p] is off LOO by ~V_n/n: ~1e-5 where the draws nearly agree, below 1e-9 of |C_n| ~ 1e5
        assert missed("generalisation.importance_loo", wrong, errors=False) == ["large, nearly equal log-likelihoods"]


def test_importance_loo_harmonic_form_only_at_beta_1():
    """The harmonic mean is the formula at beta = 1 only: used at every beta it fails exactly the beta cases."""
    def harmonic_everywhere(log_lik, log_weights=None, beta=1.0, *, localised=False):
        return importance_loo_harmonic(log_lik, log_weights, 1.0, localised=localised)

    beta_cases = {c.label for s in SUITES for c in get("generalisation.importance_loo").cases(s, CPU)
                  if c.raises is None and c.kwargs.get("beta", 1.0) != 1.0}
    wrong = {label for s in SUITES for label in wrong_labels("generalisation.importance_loo", harmonic_everywhere, s)}
    assert wrong == beta_cases


# ============================================================================ predictive_kl


def _kl_inputs(a, log_weights):
    a = torch.as_tensor(a)
    log_weights = torch.as_tensor(log_weights, dtype=a.dtype)
    if a.ndim != 1 or log_weights.shape != a.shape:
        raise ValueError("a and log_weights must be 1-D tensors of the same length")
    return a, log_weights - torch.logsumexp(log_weights, 0)


def predictive_kl_loop(a, log_weights, order=60):
    """Correct: an explicit double loop over the nodes, the inner expectation one logsumexp per node pair."""
    a, log_pi = _kl_inputs(a, log_weights)
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / math.sqrt(2 * math.pi)
    total = torch.zeros((), dtype=a.dtype)
    for zx, vx in zip(nodes.tolist(), weights.tolist()):
        for zy, vy in zip(nodes.tolist(), weights.tolist()):
            total = total + vx * vy * torch.logsumexp(log_pi + a * (zx * zy) - a**2 * (zx * zx) / 2, 0)
    return -total


def predictive_kl_physicists(a, log_weights, order=60):
    """Correct: the physicists' rule (weight e^(−t²)) after z = √2 t: E f(Z) = Σ_k (u_k/√π) f(√2 t_k). By the
    uniqueness of the Gauss rule of `order` nodes for the weight e^(−z²/2), these are the probabilists' nodes and
    weights (to round-off): the same quadrature."""
    a, log_pi = _kl_inputs(a, log_weights)
    t, u = np.polynomial.hermite.hermgauss(order)
    z = torch.as_tensor(math.sqrt(2) * t, dtype=a.dtype)
    v = torch.as_tensor(u / math.sqrt(math.pi), dtype=a.dtype)
    x, y = z[:, None, None], z[None, :, None]
    log_mix = torch.logsumexp(log_pi + a * x * y - a**2 * x**2 / 2, dim=-1)
    return -(v[:, None] * v[None, :] * log_mix).sum()


def predictive_kl_symmetric(a, log_weights, order=60):
    """Correct, written otherwise: the weights' outer product as a matrix product, softmax-normalised weights."""
    if torch.as_tensor(a).shape != torch.as_tensor(log_weights).shape:
        raise ValueError("one log weight per point of a")
    pi = torch.softmax(log_weights.to(a.dtype), 0)
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    z = torch.as_tensor(nodes, dtype=a.dtype)
    v = torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=a.dtype)
    expo = a * (z[:, None] * z[None, :])[..., None] - a**2 * (z**2)[:, None, None] / 2
    log_mix = torch.logsumexp(torch.log(pi) + expo, dim=-1)  # log 0 = −inf for a point of zero weight
    return -(v @ log_mix @ v)


def _kl_with(*, divide=True, normalise=True, sign=1, physicists_raw=False, validate=True):
    def f(a, log_weights, order=60):
        if validate and a.shape != log_weights.shape:
            raise ValueError("lengths")
        log_pi = log_weights - torch.logsumexp(log_weights, 0) if normalise else log_weights
        if physicists_raw:  # hermgauss's nodes and weights as if they were for N(0, 1)
            nodes, weights = np.polynomial.hermite.hermgauss(order)
            weights = weights / math.sqrt(math.pi)
        else:
            nodes, weights = np.polynomial.hermite_e.hermegauss(order)
            weights = weights / math.sqrt(2 * math.pi) if divide else weights
        z = torch.as_tensor(nodes, dtype=a.dtype)
        v = torch.as_tensor(weights, dtype=a.dtype)
        expo = a * (z[:, None] * z[None, :])[..., None] - a**2 * (z**2)[:, None, None] / 2
        return -sign * (v[:, None] * v[None, :] * torch.logsumexp(log_pi + expo, -1)).sum()

    return f


KL_MISTAKES = {
    "Hermite weights not divided by sqrt(2 pi)": _kl_with(divide=False),
    "log weights not normalised": _kl_with(normalise=False),
    "the sign flipped (E[log p*/q])": _kl_with(sign=-1),
    "physicists' nodes without the change of variable": _kl_with(physicists_raw=True),
    "no length check": _kl_with(validate=False),
}


@pytest.mark.parametrize("variant", [predictive_kl_loop, predictive_kl_physicists, predictive_kl_symmetric,
                                     _kl_with()])
def test_predictive_kl_variants_pass(variant):
    assert failures("generalisation.predictive_kl", variant) == []


def test_physicists_rule_is_the_probabilists_rule():
    for order in (12, 30, 60):
        t, u = np.polynomial.hermite.hermgauss(order)
        z, v = np.polynomial.hermite_e.hermegauss(order)
        assert np.allclose(math.sqrt(2) * t, z, rtol=1e-13, atol=1e-13)
        assert np.allclose(u / math.sqrt(math.pi), v / math.sqrt(2 * math.pi), rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("name", sorted(KL_MISTAKES))
def test_predictive_kl_mistakes_fail(name):
    wrong = KL_MISTAKES[name]
    assert wrong_visible("generalisation.predictive_kl", wrong), name
    if name == "no length check":
        return
    misses = missed("generalisation.predictive_kl", wrong, errors=False)
    if name == "log weights not normalised":  # right where the given log weights happen to be normalised
        assert "a point mass at a = 0.5 (KL = a^2/2 = 0.125), order 30" in misses
        assert len(misses) == 1, misses
    else:
        assert misses == [], misses


# ============================================================================ criterion_preferences


def preferences_explicit(n, L, lam, nu, d):
    """Correct: each criterion's formula written out, model by model, in Python floats; the first smallest."""
    log_n = math.log(n)
    rows = list(zip(L.tolist(), lam.tolist(), nu.tolist(), d.tolist()))
    formulas = {
        "G_n": lambda L_, lam_, nu_, d_: L_ + lam_ / n,
        "WAIC": lambda L_, lam_, nu_, d_: (L_ + (lam_ - 2 * nu_) / n) + 2 * nu_ / n,
        "AIC": lambda L_, lam_, nu_, d_: (L_ + (lam_ - 2 * nu_) / n) + d_ / n,
        "F_n": lambda L_, lam_, nu_, d_: L_ + lam_ * log_n / n,
        "WBIC": lambda L_, lam_, nu_, d_: L_ + lam_ * log_n / n,
        "BIC": lambda L_, lam_, nu_, d_: L_ + 0.5 * d_ * log_n / n,
    }
    picks = []
    for name in generalisation.CRITERIA:
        values = [formulas[name](*row) for row in rows]
        picks.append(min(range(len(values)), key=values.__getitem__))
    return tuple(picks)


def preferences_times_n(n, L, lam, nu, d):
    """Correct: the criteria times n (the same order), as a list of 0-d tensors."""
    log_n = torch.log(torch.tensor(float(n), dtype=torch.float64))
    values = [n * L + lam, n * L + lam, n * L + lam - 2 * nu + d, n * L + lam * log_n, n * L + lam * log_n,
              n * L + d / 2 * log_n]
    return [v.argmin() for v in values]


def _preferences_with(*, log=math.log, bic_d=0.5, waic_nu=False, aic_plain=False, pick=torch.argmin, lam_n=1.0):
    def f(n, L, lam, nu, d):
        values = [
            L + lam_n * lam / n,
            L + (nu if waic_nu else lam_n * lam) / n,
            L + (d if aic_plain else lam - 2 * nu + d) / n,
            L + lam * log(n) / n,
            L + lam * log(n) / n,
            L + bic_d * d * log(n) / n,
        ]
        return tuple(int(pick(v)) for v in values)

    return f


PREFERENCE_MISTAKES = {
    "log10 n": _preferences_with(log=math.log10),
    "d in BIC, not d/2": _preferences_with(bic_d=1.0),
    "nu in place of lambda in WAIC": _preferences_with(waic_nu=True),
    "AIC as L + d/n (the training loss's (lambda - 2 nu)/n dropped)": _preferences_with(aic_plain=True),
    "argmax": _preferences_with(pick=torch.argmax),
    "G_n and WAIC as L alone (lambda/n dropped)": _preferences_with(lam_n=0.0),
}


@pytest.mark.parametrize("variant", [preferences_explicit, preferences_times_n, _preferences_with()])
def test_criterion_preferences_variants_pass(variant):
    assert failures("generalisation.criterion_preferences", variant) == []


@pytest.mark.parametrize("name", sorted(PREFERENCE_MISTAKES))
def test_criterion_preferences_mistakes_fail(name):
    assert wrong_visible("generalisation.criterion_preferences", PREFERENCE_MISTAKES[name]), name


def test_criterion_preferences_cases_are_separated():
    """No criterion has two models within 1e-9 relative on any case, visible ones included: the indices are exact."""
    from slt_lessons.checks.generalisation import _separated

    for suite in SUITES:
        for case in get("generalisation.criterion_preferences").cases(suite, CPU):
            assert _separated(case.kwargs), case.label


@pytest.mark.parametrize("name", ["log10 n", "d in BIC, not d/2", "nu in place of lambda in WAIC",
                                  "G_n and WAIC as L alone (lambda/n dropped)"])
def test_criterion_preferences_each_formula_has_its_visible_case(name):
    """log10, d for d/2, ν for λ and L alone agree with the reference on the first four visible cases: a case of
    their own shows each."""
    wrong = wrong_labels("generalisation.criterion_preferences", PREFERENCE_MISTAKES[name], "visible")
    assert len(wrong) == 1, wrong


def test_importance_loo_through_posterior_log_weights_refuses_an_llc_result():
    """Without its own check_draws call the reference still passes: posterior_log_weights calls check_draws, so the
    TypeError comes from there (the behaviour the text asks for)."""
    def no_explicit_check(log_lik, log_weights=None, beta=1.0, *, localised=False):
        log_pi = generalisation.posterior_log_weights(log_lik, log_weights)[:, None]
        return -(torch.logsumexp(log_pi + (1 - beta) * log_lik, 0)
                 - torch.logsumexp(log_pi - beta * log_lik, 0)).mean()

    assert passes("generalisation.importance_loo", no_explicit_check)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_references_pass_on_cuda():
    for exercise_id, fn in REFERENCES:
        for suite in SUITES:
            assert check(exercise_id, fn, suite, device="cuda").passed
