"""ESS, split R̂ and the Langevin acceptance against independent computations."""

import math

import numpy as np
import pytest
import torch

from slt_lessons import diagnostics, mala, sgld
from slt_lessons.targets import potential_target


def _ar1(rho, N, seed):
    g = torch.Generator().manual_seed(seed)
    xi = torch.randn(N, generator=g, dtype=torch.float64)
    x = torch.empty(N, dtype=torch.float64)
    x[0] = xi[0] / math.sqrt(1 - rho**2)
    for t in range(1, N):
        x[t] = rho * x[t - 1] + xi[t]
    return x


def test_ess_matches_geyer_by_direct_sums():
    # The same estimator written the slow way: autocovariances by explicit sums, pairs summed
    # in a loop until the first non-positive one.
    x = _ar1(0.7, 400, 0).numpy()
    N, xc = len(x), x - x.mean()
    acov = [np.dot(xc[: N - k], xc[k:]) / N for k in range(N)]
    tau, m = -1.0, 0
    while 2 * m + 1 < N and acov[2 * m] + acov[2 * m + 1] > 0:
        tau += 2 * (acov[2 * m] + acov[2 * m + 1]) / acov[0]
        m += 1
    assert float(diagnostics.effective_sample_size(torch.tensor(x))) == pytest.approx(N / tau, rel=1e-9)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_ess_of_ar1_matches_theory(rho):
    # ESS = N (1 − ρ)/(1 + ρ) for AR(1). The estimate's relative SD at N = 40000 is a few
    # percent for these ρ (Geyer 1992); allow 15%.
    N = 40000
    ess = float(diagnostics.effective_sample_size(_ar1(rho, N, 1)))
    assert ess == pytest.approx(N * (1 - rho) / (1 + rho), rel=0.15)


def test_split_rhat_matches_bda3_formula_by_hand():
    g = np.random.default_rng(0)
    traces = g.normal(size=(4, 101)) + np.array([[0.0], [0.1], [0.0], [0.3]])
    n = 50
    seqs = [t[:n] for t in traces] + [t[-n:] for t in traces]
    means = np.array([s.mean() for s in seqs])
    B = n * np.sum((means - means.mean()) ** 2) / (len(seqs) - 1)
    W = np.mean([np.sum((s - s.mean()) ** 2) / (n - 1) for s in seqs])
    want = math.sqrt(((n - 1) / n * W + B / n) / W)
    assert float(diagnostics.split_rhat(torch.tensor(traces))) == pytest.approx(want, rel=1e-12)


def test_split_rhat_near_one_for_mixed_and_large_for_stuck_chains():
    g = torch.Generator().manual_seed(0)
    mixed = torch.randn(8, 2000, generator=g, dtype=torch.float64)
    assert float(diagnostics.split_rhat(mixed)) < 1.01
    stuck = mixed + torch.arange(8, dtype=torch.float64)[:, None]
    assert float(diagnostics.split_rhat(stuck)) > 2
    drifting = mixed + torch.linspace(0, 3, 2000, dtype=torch.float64)  # non-stationary: split catches it
    assert float(diagnostics.split_rhat(drifting)) > 1.1


def test_langevin_acceptance_against_gaussian_closed_form():
    # log p = −a w²/2 (nβ = 1, L = κw²/2, γ): compute the MH ratio with explicit normal densities.
    kappa, gamma, eps = 3.0, 1.0, 0.2
    a = kappa + gamma
    target = potential_target(lambda W: kappa * (W**2).sum(-1) / 2, torch.zeros(1, dtype=torch.float64))
    W = torch.tensor([[0.5], [-1.2], [2.0]], dtype=torch.float64)
    noise = torch.tensor([[0.3], [-0.7], [1.5]], dtype=torch.float64)
    got = sgld.langevin_acceptance(target, W, target.w_star, 1.0, gamma, eps, noise)
    w = W[:, 0]
    w_new = w - eps / 2 * a * w + math.sqrt(eps) * noise[:, 0]
    normal = torch.distributions.Normal
    log_r = (-a * w_new**2 / 2 + normal(w_new - eps / 2 * a * w_new, math.sqrt(eps)).log_prob(w)) - (
        -a * w**2 / 2 + normal(w - eps / 2 * a * w, math.sqrt(eps)).log_prob(w_new)
    )
    torch.testing.assert_close(got, torch.clamp(log_r, max=0).exp(), rtol=1e-12, atol=1e-12)
    tiny = sgld.langevin_acceptance(target, W, target.w_star, 1.0, gamma, 1e-8, noise)
    assert (tiny > 0.9999).all()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="trace"):
        diagnostics.effective_sample_size(torch.ones(2, 5))
    with pytest.raises(ValueError, match="traces"):
        diagnostics.split_rhat(torch.tensor([[1.0, float("nan"), 2.0, 3.0]]))


def test_sweep_recommends_a_settled_step_that_does_not_move_the_answer():
    # nβL = ½ Σ κ_i w_i² with κ = (50, 200), γ = 1, λ̂(ε → 0) = 0.988: ε = 0.05 is unstable (ε(κ_max + γ) > 4) and
    # diverges; at ε = 3e-3 proposals are still accepted ≥ 0.9 of the time but the estimate is 10% high
    # (lesson 4's 1/(1 − εa/4), averaged over the two directions), and at 1e-3 still 3.3%. The sweep must
    # recommend 3e-4 (bias 1%): settled, unflagged, where acceptance alone would pick 3e-3.
    from slt_lessons import calibration

    kappa = torch.tensor([50.0, 200.0], dtype=torch.float64)
    sweep = calibration.sweep_llc(lambda W: 0.5 * (kappa * W**2).sum(-1), w_star=torch.zeros(2, dtype=torch.float64),
                                  nbeta=1.0, eps_values=[1e-4, 3e-4, 1e-3, 3e-3, 0.05], gamma_values=[1.0],
                                  n_steps=8000, n_chains=8, progress=False)
    by_eps = {r.eps: r for r in sweep.rows}
    assert by_eps[0.05].n_diverged > 0 and "diverged" in by_eps[0.05].flags and not by_eps[0.05].ok
    assert by_eps[3e-3].accept >= 0.9 and "step" in by_eps[3e-3].flags, by_eps[3e-3]
    assert sweep.recommended is by_eps[3e-4], str(sweep)
    assert "recommended" in str(sweep) and "diverged" in str(sweep)
    fig = sweep.plot()
    lo, hi = fig.axes[0].get_ylim()
    assert hi < 2, (lo, hi)  # the diverged row does not set the axis
