"""MALA: the acceptance ratio against Gaussian densities, and exact sampling where SGLD is biased."""

import math

import torch

from slt_lessons import mala, sgld
from slt_lessons.targets import potential_target


def test_log_accept_ratio_matches_normal_densities():
    g = torch.Generator().manual_seed(0)
    w, w_new, gl, gl_new = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(4))
    logp, logp_new = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    eps = 0.3
    fwd = torch.distributions.Normal(w + eps / 2 * gl, math.sqrt(eps)).log_prob(w_new).sum(-1)
    bwd = torch.distributions.Normal(w_new + eps / 2 * gl_new, math.sqrt(eps)).log_prob(w).sum(-1)
    want = torch.clamp(logp_new - logp + bwd - fwd, max=0.0)
    got = mala.mala_log_accept_ratio(w, w_new, logp, logp_new, gl, gl_new, eps)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert (got <= 0).all() and (got < 0).any() and (got == 0).any()


def test_mala_samples_a_gaussian_exactly_where_sgld_is_biased():
    # nβ L(w) = κ w²/2 with γ: a = κ + γ = 4, ε a = 1. SGLD's variance would be 4/3 of 1/a.
    # 4000 chains, final states after 150 steps (acceptance ~0.9, mixing in ~tens of steps) are
    # nearly independent: the sample variance has relative SD sqrt(2/4000) = 2.2%; allow 5 SD (11%).
    kappa, gamma, eps, C = 3.0, 1.0, 0.25, 4000
    target = potential_target(lambda W: kappa * (W**2).sum(-1) / 2, torch.zeros(1, dtype=torch.float64))
    run = mala.sample_mala(target, nbeta=1.0, gamma=gamma, eps=eps, n_steps=150, n_chains=C, seed=1)
    # the chains' loss κw²/2 at the last step: E = κ/(2a) exactly under the target
    mean_loss = float(run.losses[:, -1].mean())
    exact = kappa / (2 * (kappa + gamma))
    sd = exact * math.sqrt(2 / C)  # loss = (κ/2a) χ²_1: SD of its mean
    assert abs(mean_loss - exact) < 5 * sd
    biased = kappa / 2 * sgld.stationary_variance(kappa, gamma, eps)
    assert abs(mean_loss - biased) > 10 * sd
    assert 0.5 < float(run.accept_rate.mean()) < 1.0


def test_adaptation_moves_acceptance_toward_target():
    target = potential_target(lambda W: 50 * (W**2).sum(-1), torch.zeros(10, dtype=torch.float64))
    run = mala.sample_mala(target, nbeta=1.0, gamma=0.0, eps=0.5, n_steps=600, n_chains=8, adapt_steps=300, seed=0)
    assert 0.35 < float(run.accept_rate.mean()) < 0.8
    assert torch.isfinite(run.losses).all()
