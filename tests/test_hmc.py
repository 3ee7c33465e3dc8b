"""HMC on the localized posterior, and the estimator's choice of it for badly conditioned targets."""

import math
import warnings

import pytest
import torch

from slt_lessons import hmc, llc
from slt_lessons.llc import make_target

# A quadratic with condition number 10⁴ and flat directions: nβL = Σκ_i w_i²/2, κ from 0 to 10⁴.
# Localized at γ = 1, E[nβ(L − L*)] = ½ Σ κ_i/(κ_i + γ) exactly.
KAPPA = torch.cat([torch.zeros(20), torch.logspace(-1, 4, 60)]).double()
EXACT = 0.5 * float((KAPPA / (KAPPA + 1.0)).sum())


def _quadratic(W):
    return 0.5 * (KAPPA * W**2).sum(-1)


def _target():
    return make_target(_quadratic, w_star=torch.zeros(len(KAPPA), dtype=torch.float64))


def test_hmc_samples_a_stiff_quadratic_exactly():
    run = hmc.sample_hmc(_target(), nbeta=1.0, gamma=1.0, eps=0.01, n_steps=300, n_chains=8, adapt_steps=100)
    y = run.losses[:, 100:]
    est = float(y.mean())
    se = float(y.mean(1).std() / math.sqrt(8))  # chain means: independent
    assert abs(est - EXACT) < 4 * se + 0.01 * EXACT, (est, se, EXACT)
    assert 0.6 < float(run.accept_rate.mean()) < 0.95
    # the trajectory spans a quarter period of the flattest direction: ≈ (π/2)/(ε√γ) leapfrog steps each
    assert run.leapfrog / 300 == pytest.approx(hmc.quarter_period(1.0) / run.eps, rel=0.3)


def test_hmc_is_reproducible_and_resumes_the_same_chains():
    a = hmc.sample_hmc(_target(), nbeta=1.0, gamma=1.0, eps=0.01, n_steps=20, n_chains=3, adapt_steps=10, seed=4)
    b = hmc.sample_hmc(_target(), nbeta=1.0, gamma=1.0, eps=0.01, n_steps=20, n_chains=3, adapt_steps=10, seed=4)
    assert torch.equal(a.losses, b.losses) and a.eps == b.eps
    more = hmc.sample_hmc(_target(), nbeta=1.0, gamma=1.0, eps=a.eps, n_steps=5, chains=[0, 1, 2], resume=a)
    assert more.eps == a.eps and more.leapfrog > a.leapfrog  # no new adaptation; the count goes on


@pytest.mark.parametrize("bad", [dict(gamma=0.0), dict(eps=-1.0), dict(target_accept=1.0), dict(path_length=0.0)])
def test_hmc_rejects_bad_settings_by_name(bad):
    kwargs = dict(nbeta=1.0, gamma=1.0, eps=0.01, n_steps=5) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        hmc.sample_hmc(_target(), **kwargs)


def test_the_estimator_takes_hmc_where_mala_could_not_relax_the_flat_directions():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no trust flag
        r = llc.estimate_llc(_quadratic, w_star=torch.zeros(len(KAPPA), dtype=torch.float64), nbeta=1.0, gamma=1.0,
                             progress=False)
    assert r.sampler == "hmc" and r.bias_bound == 0 and not r.flags
    assert abs(r.llc - EXACT) < 3 * r.se + 0.02 * EXACT, (r.llc, r.se, EXACT)
    assert r.settings["gradients_per_chain"] > r.settings["n_steps"]  # a step is a trajectory
    assert "HMC" in str(r)
    # given n_steps, or a well-conditioned target: MALA, as before; here it cannot settle, and says so
    with pytest.warns(RuntimeWarning, match="not trusted"):
        given = llc.estimate_llc(_quadratic, w_star=torch.zeros(len(KAPPA), dtype=torch.float64), nbeta=1.0,
                                 gamma=1.0, n_steps=200, check_gamma=False, progress=False)
    assert given.sampler == "mala" and {"drift", "few_draws", "not_mixed"} & set(given.flags)
    mild = llc.estimate_llc(lambda W: 0.5 * (W**2).sum(-1), w_star=torch.zeros(10, dtype=torch.float64), nbeta=1.0,
                            gamma=1.0, check_gamma=False, progress=False)
    assert mild.sampler == "mala"
