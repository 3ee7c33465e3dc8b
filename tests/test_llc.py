"""The LLC estimator: λ on the regular and normal-crossing cases, burn-in, nβ, divergence, SE."""

import math
import warnings

import numpy as np
from scipy.integrate import trapezoid
import pytest
import torch

from slt_lessons import llc, potentials, sgld


def test_default_nbeta_is_n_over_log_n():
    assert llc.default_nbeta(1000) == pytest.approx(1000 / math.log(1000), rel=1e-15)
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="n"):
            llc.default_nbeta(bad)


def test_llc_from_losses_excludes_burn_in():
    losses = torch.tensor([[100.0, 100.0, 1.0, 3.0], [-50.0, 7.0, 2.0, 2.0]], dtype=torch.float64)
    got = llc.llc_from_losses(losses, 1.0, 10.0, 2)
    torch.testing.assert_close(got, torch.tensor([10.0, 10.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="burn_in"):
        llc.llc_from_losses(losses, 1.0, 10.0, 4)


def _regular_exact(problem, nbeta, gamma, eps):
    """E[λ̂] of SGLD on the quadratic L_n around the least-squares fit, eigen-direction by
    eigen-direction: ½ Σ κ_i v_i, v_i = sgld.stationary_variance(κ_i, γ, ε), κ = eig(nβ XᵀX/n)."""
    x = problem.data[0]
    kappa = torch.linalg.eigvalsh(nbeta * x.T @ x / x.shape[0])
    return float(0.5 * (kappa * sgld.stationary_variance(kappa, gamma, eps)).sum())


def test_regular_model_recovers_d_over_2():
    # Linear regression d = 4 at the least-squares fit: λ = 2. With γ = 1 ≪ κ ≈ nβ the exact
    # expectation of the estimator is within 2% of λ; the estimate must match that expectation
    # within 4 of its own standard errors.
    pr = potentials.linear_regression(n=1000, d=4, seed=0, device="cpu")
    nbeta, gamma, eps = llc.default_nbeta(1000), 1.0, 5e-4
    res = llc.estimate_llc(**pr.kwargs(), gamma=gamma, eps=eps, n_chains=32, n_steps=1500, progress=False, theory=pr.lam)
    exact = _regular_exact(pr, nbeta, gamma, eps)
    assert exact == pytest.approx(2.0, rel=0.02)
    assert abs(res.llc - exact) < 4 * res.se, (res.llc, res.se, exact)
    assert res.se < 0.05 * exact
    assert not res.diverged.any() and res.nbeta == nbeta and res.burn_in == 1500 // 4


def _normal_crossing_quadrature(problem, nbeta, gamma):
    """E[nβ K_n(w)] under exp(−nβ K_n(w) − γw²/2), K_n = w⁴ Σx²/(2n), by the trapezoid rule."""
    x = problem.data[0].numpy()
    c = nbeta * np.sum(x**2) / (2 * len(x))
    w = np.linspace(-3, 3, 200001)
    dens = np.exp(-c * w**4 - gamma * w**2 / 2)
    return float(trapezoid(c * w**4 * dens, w) / trapezoid(dens, w))


def test_normal_crossing_recovers_one_quarter():
    # f(x) = w²x with the noise orthogonal to x: K_n(w) = w⁴Σx²/(2n) exactly, λ = 1/4. With a
    # flat prior the tempered expectation of nβK_n is exactly 1/4 at every n; γ = 0.1 lowers it
    # by under 2% (quadrature). ε·(curvature of nβL at w² ≈ 0.2) ≈ 0.05: small discretisation bias.
    # The model itself is checked against its potential (the two losses differ by L_n(0)); the
    # long run uses the potential, which is faster than the model's vmap for one weight.
    pr = potentials.normal_crossing(n=1000, seed=0, device="cpu")
    nbeta, gamma = llc.default_nbeta(1000), 0.1
    x, y = pr.data
    c = float((x**2).sum() / (2 * len(x)))
    w = torch.linspace(-1, 1, 7, dtype=torch.float64)
    with torch.no_grad():
        model_loss = torch.stack([pr.loss_fn(potentials.SquareWeight(float(v))(x), y) for v in w])
    torch.testing.assert_close(model_loss - model_loss[3], c * w**4, rtol=1e-10, atol=1e-12)
    res = llc.estimate_llc(lambda W: c * W[:, 0] ** 4, w_star=torch.zeros(1, dtype=torch.float64), n=1000,
                           gamma=gamma, eps=1e-3, n_chains=64, n_steps=2500, progress=False)
    exact = _normal_crossing_quadrature(pr, nbeta, gamma)
    assert exact == pytest.approx(0.25, rel=0.02)
    assert abs(res.llc - exact) < 4 * res.se, (res.llc, res.se, exact)
    assert res.se < 0.06 * exact


def test_standard_error_is_honest_across_seeds():
    # A 2-D quadratic potential, E[λ̂] known exactly. Over 30 seeds, z = (λ̂ − E)/SE should be
    # ~N(0, 1): mean z² = χ²_30/30 lies in [0.42, 1.9] with probability 0.998; an SE that ignored
    # autocorrelation (the chains here have τ ≈ 10) would give mean z² ≈ 10.
    kappa = torch.tensor([20.0, 60.0], dtype=torch.float64)
    pot = lambda W: 0.5 * (kappa * W**2).sum(-1)  # noqa: E731  (nβ = 1)
    gamma, eps = 1.0, 0.01
    exact = float(0.5 * (kappa * sgld.stationary_variance(kappa, gamma, eps)).sum())
    z = []
    for seed in range(30):
        r = llc.estimate_llc(pot, w_star=torch.zeros(2, dtype=torch.float64), nbeta=1.0, gamma=gamma, eps=eps,
                             n_chains=4, n_steps=600, seed=seed, progress=False, acceptance_every=0)
        z.append((r.llc - exact) / r.se)
    mz2 = float(np.mean(np.square(z)))
    assert 0.42 < mz2 < 1.9, mz2


def test_nbeta_comes_from_the_dataset_size_not_the_batch():
    pr = potentials.linear_regression(n=500, d=2, seed=1, device="cpu")
    res = llc.estimate_llc(**pr.kwargs(), batch_size=50, n_chains=2, n_steps=40, progress=False)
    assert res.nbeta == pytest.approx(500 / math.log(500))
    assert res.init_loss == pytest.approx(float(pr.loss_fn(pr.model(pr.data[0]), pr.data[1]).detach()), rel=1e-12)


def test_defaults_run_on_a_model_and_on_a_potential():
    pr = potentials.linear_regression(n=300, d=2, seed=2, device="cpu")
    res = llc.estimate_llc(pr.model, pr.loss_fn, pr.data, progress=False)
    assert math.isfinite(res.llc) and math.isfinite(res.se) and res.acceptance.numel() > 0
    dln = potentials.deep_linear_network(device="cpu")
    res = llc.estimate_llc(dln.model, w_star=dln.w_star, n=dln.n, progress=False, theory=dln.lam)
    assert math.isfinite(res.llc) and "LLC estimate" in str(res)
    fig = res.plot()
    assert fig.axes and len(fig.axes[0].lines) >= res.per_chain.numel() + 2


def test_potential_needs_w_star_and_n():
    pot = lambda W: (W**2).sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="w_star"):
        llc.estimate_llc(pot, n=100)
    with pytest.raises(ValueError, match="nbeta"):
        llc.estimate_llc(pot, w_star=torch.zeros(2))


def test_a_point_that_is_not_a_minimum_gets_a_flagged_number():
    # w* = 0 is not a minimum of L(w) = −w: the localized posterior is N(nβ/γ, 1/γ), so the estimator's value
    # is exactly −nβ²/γ = −10⁴. A checkpoint early in training gives such a number: reported, and flagged.
    with pytest.warns(RuntimeWarning, match="not_minimum"):
        res = llc.estimate_llc(lambda W: -W.sum(-1), w_star=torch.zeros(1, dtype=torch.float64), nbeta=100.0,
                               gamma=1.0, n_chains=4, n_steps=1000, progress=False)
    assert not res.diverged.any() and "not_minimum" in res.flags and "NOT TRUSTED" in str(res)
    assert res.llc == pytest.approx(-1e4, rel=0.01)


def test_a_point_just_off_a_minimum_is_flagged_by_its_negative_estimate():
    # L(w) = (w − 1)²/2 at w* = 0, nβ = 1, γ = 1: the localized posterior is N(1/2, 1/2), so the estimator's value
    # is E[(w − 1)²]/2 − 1/2 = −1/8 exactly, while no draw falls below −1/2 (far above −divergence_drop = −10):
    # only the sign of the mean, beyond 3 SE, says that w* is not a minimum.
    with pytest.warns(RuntimeWarning, match="not_minimum"):
        res = llc.estimate_llc(lambda W: 0.5 * ((W - 1) ** 2).sum(-1), w_star=torch.zeros(1, dtype=torch.float64),
                               nbeta=1.0, gamma=1.0, n_chains=4, n_steps=4000, progress=False, check_gamma=False)
    assert "negative beyond 3 SE" in res.flags["not_minimum"]
    assert abs(res.llc + 0.125) < 4 * res.se


def test_a_blow_up_stops_the_chain_early_and_is_flagged():
    # SGLD on κw²/2 with εκ/2 = 2.5: each step multiplies w by −1.5, so the loss grows ×2.25 per step. The
    # chains stop when nβ(L − L(w*)) passes 10·max(d/2, 10) = 100, long before the 2000 steps (the issue's
    # chains instead blew up to 1e9 and came back, counted as converged).
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = llc.estimate_llc(lambda W: 50 * (W**2).sum(-1), w_star=torch.zeros(1, dtype=torch.float64), nbeta=1.0,
                               gamma=0.0, eps=0.05, n_chains=3, n_steps=2000, progress=False)
    assert res.diverged.all() and math.isnan(res.llc) and "diverged" in res.flags and "eps" in res.flags["diverged"]
    last = [int(torch.isfinite(row).nonzero().max()) for row in res.losses]
    assert max(last) < 50, last
    assert float(res.traces.nan_to_num(0).max()) < 100 * 2.25


def test_an_estimate_above_d_over_2_is_implausible():
    # SGLD at εa/4 = 0.75 on a 4-D quadratic inflates every variance 4× (lesson 4): λ̂ ≈ 8 > d/2 = 2.
    with pytest.warns(RuntimeWarning, match="implausible"):
        res = llc.estimate_llc(lambda W: 50 * (W**2).sum(-1), w_star=torch.zeros(4, dtype=torch.float64), nbeta=1.0,
                               gamma=0.0, eps=0.03, n_chains=4, n_steps=2000, progress=False, check_gamma=False)
    assert {"implausible", "step"} <= set(res.flags) and res.llc > 6


def test_a_shared_drift_is_flagged_where_rhat_sees_none():
    # 50 coordinates of curvature 1 relax in 1/ε = 1000 steps: all chains rise together from 0 toward d/2 = 25
    # over the whole run, so they agree (split R̂ compares halves within each chain too, but the rise is smooth).
    with pytest.warns(RuntimeWarning, match="drift"):
        res = llc.estimate_llc(lambda W: 0.5 * (W**2).sum(-1), w_star=torch.zeros(50, dtype=torch.float64), nbeta=1.0,
                               gamma=0.0, eps=1e-3, n_chains=4, n_steps=2000, progress=False, check_gamma=False)
    assert "drift" in res.flags


def test_gamma_that_decides_the_answer_is_flagged():
    # nβL = 0.5 Σ w²/2 in 4-D, γ = 2: λ̂ = 2 · 0.5/2.5 = 0.4 exactly; at γ/2 it is 2 · 0.5/1.5 = 0.67 (+67%).
    with pytest.warns(RuntimeWarning, match="gamma"):
        res = llc.estimate_llc(lambda W: 0.25 * (W**2).sum(-1), w_star=torch.zeros(4, dtype=torch.float64), nbeta=1.0,
                               gamma=2.0, n_chains=8, n_steps=2000, progress=False)
    assert "gamma" in res.flags and res.gamma_check["gamma"] == 1.0
    assert res.llc == pytest.approx(0.4, rel=0.1) and res.gamma_check["llc"] == pytest.approx(2 / 3, rel=0.1)


def test_gamma_sensitivity_is_quiet_on_a_curved_model():
    # A regular model with nβh ≫ γ: halving γ moves λ̂ by well under 10%, so the check runs and stays quiet.
    pr = potentials.linear_regression(n=1000, d=4, seed=3, device="cpu")
    res = llc.estimate_llc(**pr.kwargs(), progress=False)
    assert res.gamma_check is not None and res.flags == {}, res.flags
    assert res.gamma == pytest.approx(llc.default_gamma(res.nbeta, pr.model.weight.detach().reshape(-1)))


def test_default_gamma_scales_with_root_nbeta_and_the_weights():
    zero = torch.zeros(5, dtype=torch.float64)
    assert llc.default_gamma(144.0, zero) == pytest.approx(0.15 * 12)
    assert llc.default_gamma(4 * 144.0, zero) == pytest.approx(2 * 0.15 * 12)
    assert llc.default_gamma(144.0, torch.full((5,), 0.3)) == pytest.approx(0.15 * 12)  # small weights: s = 1
    assert llc.default_gamma(144.0, torch.full((5,), 3.0)) == pytest.approx(0.15 * 12 / 9)


def test_nan_chains_are_reported_and_only_the_others_averaged():
    # L = w²/2 − w⁴ has a barrier of height 1/16 at |w| = 1/2 and runs off to −∞ beyond it: with
    # nβ = 80 (barrier 5 in units of the temperature) some chains of this seed cross and blow up.
    pot = lambda W: (0.5 * W**2 - W**4).sum(-1)  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = llc.estimate_llc(pot, w_star=torch.zeros(1, dtype=torch.float64), nbeta=80.0, gamma=0.0, eps=0.01,
                               n_chains=16, n_steps=400, seed=0, progress=False)
    assert res.diverged.any() and not res.diverged.all(), res.diverged
    assert any("LLC" in str(w.message) for w in caught)
    kept = res.per_chain[~res.diverged]
    assert res.llc == pytest.approx(float(kept.mean()), rel=1e-12)
    assert math.isfinite(res.llc)
    # the printed acceptance counts only the chains that did not diverge
    assert torch.isnan(res.acceptance[res.diverged]).all() and torch.isfinite(res.acceptance[~res.diverged]).all()
    assert f"{float(res.acceptance[~res.diverged].mean()):.3f}" in str(res)


def test_sgld_llc_agrees_with_estimate_llc_statistically():
    # The exercise's estimator (noise drawn step by step from one generator) and estimate_llc (noise drawn per
    # chain, in blocks) sample the same chains in law. On a 2-D quadratic (E[λ̂] exact) both must match the exact
    # expectation and each other within 4 combined SEs, over 5 seeds (probability of a false failure ≲ 3e-4).
    kappa = torch.tensor([20.0, 60.0], dtype=torch.float64)
    pot = lambda W: 0.5 * (kappa * W**2).sum(-1)  # noqa: E731
    n, gamma, eps = 1000, 1.0, 0.01 / llc.default_nbeta(1000)
    nbeta = llc.default_nbeta(n)
    exact = float(0.5 * (nbeta * kappa * sgld.stationary_variance(nbeta * kappa, gamma, eps)).sum())
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        est, se, per_chain = llc.sgld_llc(pot, torch.zeros(2, dtype=torch.float64), n, gamma, eps, 16, 1500, 300, g)
        r = llc.estimate_llc(pot, w_star=torch.zeros(2, dtype=torch.float64), n=n, gamma=gamma, eps=eps, n_chains=16,
                             n_steps=1500, burn_in=300, seed=seed, progress=False, acceptance_every=0)
        assert abs(float(est) - exact) < 4 * float(se), (float(est), float(se), exact)
        assert abs(float(est) - r.llc) < 4 * math.hypot(float(se), r.se)
        assert per_chain.shape == (16,)


def test_the_library_lengthens_a_run_it_sized_itself_and_says_so():
    # 50 coordinates of curvature 1 at ε = 1e-2: nβL decorrelates in ~2/ε = 200 steps, so 8 chains × 1500 kept draws
    # give ~60 effective draws, too few. Left to the library, the same chains run on (2000 → 4000 → ...) until no
    # drift, few-draws or R̂ flag stands; a given n_steps is honoured instead (the drift test above).
    res = llc.estimate_llc(lambda W: 0.5 * (W**2).sum(-1), w_star=torch.zeros(50, dtype=torch.float64), nbeta=1.0,
                           gamma=0.0, eps=1e-2, progress=False, check_gamma=False)
    assert res.settings["lengthened"] and res.settings["n_steps"] > 2000 and res.losses.shape[1] == res.settings["n_steps"]
    assert res.burn_in == res.settings["n_steps"] // 4 and "lengthened" in str(res)
    assert not set(res.flags) & set(llc.UNSETTLED), res.flags
    assert res.llc == pytest.approx(25 / (1 - 1e-2 / 4), rel=0.05)  # lesson 4's stationary variance, exact
