"""The LLC estimator with only ε and the sampler left to it, against long exact-sampler references.

Each model of tests/llc_models.py is estimated as a library user would call estimate_llc, passing nβ, γ,
the chains, the steps and the burn-in, and compared with a long MALA run of the same target
(tests/llc_references.json, from scripts/llc_references.py): within 5%, and within 3 combined SE plus the
2% step-size bias the default allows; and no trust flag fires. The step-size choice itself is tested on
quadratics, where SGLD's bias is exact (lesson 4), and the minibatch-noise bias against the full batch.
"""

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

import llc_models
from slt_lessons import llc, potentials, sgld

REFERENCES = json.loads((Path(__file__).parent / "llc_references.json").read_text())


@pytest.mark.parametrize("name", sorted(llc_models.models()))
def test_default_step_and_sampler_match_the_exact_sampler(name):
    potential, w_star, n, steps = llc_models.models()[name]
    ref = REFERENCES[name]
    nbeta = llc_models.nbeta_of(n)
    assert ref["nbeta"] == pytest.approx(nbeta) and ref["gamma"] == llc_models.GAMMA
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a trust flag would warn: none may fire here
        r = llc.estimate_llc(potential, w_star=w_star, nbeta=nbeta, gamma=llc_models.GAMMA, n_chains=llc_models.N_CHAINS,
                             n_steps=steps, burn_in=steps // 4, progress=False)
    assert r.flags == {} and r.trusted
    diff = abs(r.llc - ref["llc"])
    assert diff < 0.05 * ref["llc"], (r.llc, ref)
    assert diff < 3 * math.hypot(r.se, ref["se"]) + llc.BIAS_TOL * ref["llc"], (r.llc, r.se, ref)
    assert r.sampler == "mala" and r.bias_bound == 0 and r.eps > 0 and r.settings["eps"] == r.eps


def _quadratic(kappa):
    return lambda W: 0.5 * (kappa * W**2).sum(-1)


def _sgld_expectation(kappa, gamma, eps):
    """E[λ̂] of SGLD at step ε on nβL = Σκ_i w_i²/2 (nβ = 1): ½Σκ_i v_i, v_i lesson 4's stationary variance."""
    return float(0.5 * (kappa * sgld.stationary_variance(kappa, gamma, eps)).sum())


@pytest.mark.parametrize("spectrum", ["isotropic", "spread", "one stiff direction"])
def test_default_sgld_step_keeps_the_exact_bias_within_two_percent(spectrum):
    # On a quadratic the estimator's expectation at step ε is exact: the step the library picks must keep it
    # within 2% of its ε → 0 limit (second-order terms allowed: 2.5%), and the bias it reports must be an
    # estimate of that (within a factor 2).
    kappa = {"isotropic": torch.full((6,), 50.0), "spread": torch.logspace(0, 3, 6),
             "one stiff direction": torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 5e3])}[spectrum].double()
    gamma = 1.0
    r = llc.estimate_llc(_quadratic(kappa), w_star=torch.zeros(6, dtype=torch.float64), nbeta=1.0, gamma=gamma,
                         sampler="sgld", n_chains=4, n_steps=400, progress=False, check_gamma=False)
    exact_bias = _sgld_expectation(kappa, gamma, r.eps) / _sgld_expectation(kappa, gamma, 0.0) - 1
    assert 0 < exact_bias < 0.025, (spectrum, r.eps, exact_bias)
    assert exact_bias / 2 < r.bias_bound < 2 * exact_bias + 0.01, (r.bias_bound, exact_bias)


def test_leimkuhler_matthews_takes_half_the_stability_limit_and_is_unbiased_on_a_quadratic():
    # Full batch, no minibatch noise: LM's first-order bias is 0 on a quadratic, so its step is the cap
    # ε·a_max = 2 (four times Euler's 1/2), and at that step the estimate still matches ½Σκ_i/(κ_i + γ), where
    # Euler at the same step would be inflated by 1/(1 − εa/4) = 2 in the stiffest direction.
    kappa, gamma = torch.logspace(0, 3, 6).double(), 1.0
    r = llc.estimate_llc(_quadratic(kappa), w_star=torch.zeros(6, dtype=torch.float64), nbeta=1.0, gamma=gamma,
                         sampler="lm", n_chains=8, n_steps=16000, progress=False, check_gamma=False)
    assert r.sampler == "lm" and r.bias_bound == 0 and not r.flags
    assert r.eps * (float(kappa.max()) + gamma) == pytest.approx(2, rel=1e-3)
    exact = _sgld_expectation(kappa, gamma, 0.0)
    assert abs(r.llc - exact) < 4 * r.se, (r.llc, r.se, exact)
    assert _sgld_expectation(kappa, gamma, r.eps) > exact + 8 * r.se  # what Euler would give at this step (+23%)


def test_an_explicit_step_is_used_as_given_and_its_bias_reported():
    kappa = torch.tensor([20.0, 60.0], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="step"):
        r = llc.estimate_llc(_quadratic(kappa), w_star=torch.zeros(2, dtype=torch.float64), nbeta=1.0, gamma=1.0,
                             eps=0.02, n_chains=4, n_steps=2000, progress=False, check_gamma=False)
    assert r.eps == 0.02 and r.sampler == "sgld" and "step" in r.flags
    exact_bias = _sgld_expectation(kappa, 1.0, 0.02) / _sgld_expectation(kappa, 1.0, 0.0) - 1  # 27%
    assert exact_bias / 2 < r.bias_bound < 2 * exact_bias, (r.bias_bound, exact_bias)
    r = llc.estimate_llc(_quadratic(kappa), w_star=torch.zeros(2, dtype=torch.float64), nbeta=1.0, gamma=1.0,
                         eps=0.02, sampler="mala", n_chains=4, n_steps=200, progress=False, check_gamma=False)
    assert r.eps == 0.02 and r.sampler == "mala" and r.bias_bound == 0


def test_minibatch_noise_bias_against_the_full_batch():
    # Linear regression, n = 2000, d = 10, batch 100, nβ = n/log n of the full data. The default minibatch step
    # (SGLD with Leimkuhler–Matthews noise)
    # accounts for the minibatch gradient's variance (nβ² tr Cov ∇L_B), so the minibatch estimate must agree
    # with the full-batch (MALA, exact) one within 3 combined SE plus its 2% bound. Measured on this model with
    # 32 chains × 16,000 steps (the figure in estimate_llc's docstring): see the note there.
    pr = potentials.linear_regression(n=2000, d=10, seed=0, device="cpu")
    full = llc.estimate_llc(**pr.kwargs(), n_steps=2000, progress=False, check_gamma=False)
    mini = llc.estimate_llc(**pr.kwargs(), batch_size=100, n_steps=8000, progress=False)
    assert mini.nbeta == full.nbeta == pytest.approx(2000 / math.log(2000))
    assert mini.sampler == "lm" and full.sampler == "mala" and mini.gamma == full.gamma
    assert mini.bias_bound <= 1.5 * llc.BIAS_TOL and not mini.flags and not full.flags
    tol = 3 * math.hypot(mini.se, full.se) + mini.bias_bound * full.llc
    assert abs(mini.llc - full.llc) < tol, (mini.llc, mini.se, full.llc, full.se)
