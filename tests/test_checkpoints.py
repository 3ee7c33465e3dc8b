"""LLCs over checkpoints: batched against one at a time, along training, memory-sized batches."""

import copy
import math
import warnings

import pytest
import torch

from slt_lessons import checkpoints, llc

N_CHAINS, N_STEPS = 4, 600
STEPS = (0, 100, 1600)  # training steps of the checkpoints


@pytest.fixture(scope="module")
def training():
    """A 2-6-1 tanh MLP (d = 25) trained with Adam on y = sin(2x₁)·x₂ + noise, n = 256: (model, data, checkpoints)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g, dtype=torch.float64)
    y = torch.sin(2 * x[:, :1]) * x[:, 1:] + 0.1 * torch.randn(256, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    states = {}
    for step in range(STEPS[-1] + 1):
        if step in STEPS:
            states[step] = copy.deepcopy(model.state_dict())
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return model, (x, y), states


@pytest.fixture(scope="module")
def batched(training):
    model, data, states = training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # short runs: few_draws, not_mixed
        return checkpoints.estimate_llcs(model, states, torch.nn.functional.mse_loss, data, n_chains=N_CHAINS,
                                         n_steps=N_STEPS, progress=False)


def test_batched_equals_one_checkpoint_at_a_time(training, batched):
    # One batch of 3 × 4 chains, ε and γ chosen once at the last checkpoint, against estimate_llc on each
    # checkpoint alone at that ε, γ and nβ: the same chain streams, so the same numbers to round-off.
    model, data, states = training
    first = batched[STEPS[-1]]
    assert all(r.settings["batch"] == 3 for r in batched.values())
    assert {(r.eps, r.gamma, r.nbeta) for r in batched.values()} == {(first.eps, first.gamma, first.nbeta)}
    assert first.nbeta == pytest.approx(256 / math.log(256))
    for step, state in states.items():
        alone = copy.deepcopy(model)
        alone.load_state_dict(state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            one = llc.estimate_llc(alone, torch.nn.functional.mse_loss, data, eps=first.eps, gamma=first.gamma,
                                   nbeta=first.nbeta, sampler="lm", n_chains=N_CHAINS, n_steps=N_STEPS, progress=False)
        got = batched[step]
        torch.testing.assert_close(got.losses, one.losses, rtol=1e-12, atol=1e-12, equal_nan=True)
        assert got.llc == pytest.approx(one.llc, rel=1e-9, abs=1e-9) and got.se == pytest.approx(one.se, rel=1e-9)
        assert got.flags.keys() == one.flags.keys() and got.gamma_check is not None
        assert got.gamma_check["llc"] == pytest.approx(one.gamma_check["llc"], rel=1e-9, abs=1e-9)
        assert got.bias_bound == pytest.approx(one.bias_bound, rel=1e-9, nan_ok=True)
        assert {k: v for k, v in got.settings.items() if k not in ("checkpoint", "batch")} == one.settings
        assert got.settings["checkpoint"] == step


def test_the_llc_rises_along_training(batched):
    # At initialization the model is not at a minimum (the estimate comes out below zero); after 100
    # steps it has fitted part of the function; after 1600 more of it: measured -2.8, 2.8 and 5.9, each
    # gap more than 3 of its combined SEs.
    est = [batched[s] for s in STEPS]
    assert est[0].llc < est[1].llc < est[2].llc < 25 / 2
    for a, b in zip(est, est[1:]):
        assert b.llc - a.llc > 3 * math.hypot(a.se, b.se), (a.llc, a.se, b.llc, b.se)
    assert est[2].llc > 3 and "not_minimum" not in est[2].flags and "diverged" not in est[2].flags


def test_a_batch_where_one_checkpoint_diverges_matches_each_alone():
    # L(w) = Σw⁴ at w* = 0 and at w* = (3, 3): from 3 a step of ε = 0.2 overshoots (gradient 108) and
    # blows up, at 0 it does not. The diverging rows stop mid-batch; the others run on, as they would alone.
    pot = lambda W: (W**4).sum(-1)  # noqa: E731
    points = [torch.zeros(2, dtype=torch.float64), torch.full((2,), 3.0, dtype=torch.float64)]
    kw = dict(nbeta=1.0, gamma=1.0, eps=0.2, n_chains=3, n_steps=200, check_gamma=True, progress=False)
    with pytest.warns(RuntimeWarning, match=r"2 of 2 checkpoints: 0 \(few_draws\); 1 \(diverged\)"):
        both = checkpoints.estimate_llcs(pot, points, **kw)
    assert not both[0].diverged.any() and both[1].diverged.all()
    for point, got in zip(points, both):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            one = llc.estimate_llc(pot, w_star=point, sampler="lm", **kw)
        torch.testing.assert_close(got.losses, one.losses, rtol=1e-12, atol=0, equal_nan=True)
        assert str(got) == str(one) and got.flags.keys() == one.flags.keys()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # few_draws at max_steps
def test_each_checkpoint_is_lengthened_as_it_would_be_alone():
    # min(Σw⁴, 5Σ(w − 5)²): flat (quartic) at w* = 0, where the chains at this small ε have not settled after
    # 2000 steps and are run on to 4000; a quadratic well at w* = 5, settled at 2000. Only the first runs on.
    pot = lambda W: torch.minimum((W**4).sum(-1), 5 * ((W - 5) ** 2).sum(-1))  # noqa: E731
    points = [torch.zeros(3, dtype=torch.float64), torch.full((3,), 5.0, dtype=torch.float64)]
    kw = dict(nbeta=50.0, eps=5e-4, gamma=1.0, n_chains=4, max_steps=4000, check_gamma=False, progress=False)
    flat, well = checkpoints.estimate_llcs(pot, points, **kw)
    assert (flat.settings["n_steps"], flat.settings["burn_in"], flat.settings["lengthened"]) == (4000, 1000, True)
    assert (well.settings["n_steps"], well.settings["lengthened"]) == (2000, False)
    alone = llc.estimate_llc(pot, w_star=points[0], sampler="lm", **kw)
    torch.testing.assert_close(flat.losses, alone.losses, rtol=1e-12, atol=0)
    assert str(flat) == str(alone)


def test_each_chooses_gamma_and_eps_per_checkpoint():
    pot = lambda W: (W**4).sum(-1) + 0.5 * ((W - 1) ** 2).sum(-1)  # noqa: E731
    points = [torch.zeros(2, dtype=torch.float64), torch.full((2,), 3.0, dtype=torch.float64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rs = checkpoints.estimate_llcs(pot, points, n=1000, gamma="each", eps="each", n_chains=2, n_steps=100,
                                       check_gamma=False, progress=False)
        alone = [llc.estimate_llc(pot, w_star=p, n=1000, sampler="lm", n_chains=2, n_steps=100, check_gamma=False,
                                  progress=False) for p in points]
    assert [r.settings["batch"] for r in rs] == [1, 1] and rs[0].gamma != rs[1].gamma and rs[0].eps != rs[1].eps
    assert [(r.gamma, r.eps, r.llc) for r in rs] == [(r.gamma, r.eps, r.llc) for r in alone]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 100 steps: few_draws
def test_batches_follow_the_memory_budget_and_max_batch():
    pot = lambda W: ((W - 1) ** 2).sum(-1) + (W**4).sum(-1)  # noqa: E731
    points = [torch.full((3,), v, dtype=torch.float64) for v in (0.0, 0.2, 0.4, 0.6, 0.8)]
    kw = dict(nbeta=50.0, gamma=2.0, eps=0.01, n_chains=2, n_steps=100, progress=False)
    together = checkpoints.estimate_llcs(pot, points, **kw)
    assert [r.settings["batch"] for r in together] == [5] * 5
    for option in (dict(max_batch=2), dict(memory_budget=1)):
        apart = checkpoints.estimate_llcs(pot, points, **option, **kw)
        assert [r.settings["batch"] for r in apart] == ([2, 2, 2, 2, 1] if "max_batch" in option else [1] * 5)
        for a, b in zip(together, apart):
            torch.testing.assert_close(a.losses, b.losses, rtol=1e-12, atol=0)


def test_checkpoints_per_batch_measures_a_row(training):
    # A full-batch step of the MLP on n = 4096 rows saves its activations, 4096 rows × a few dozen float64
    # (about 1 MB per chain); a step on a minibatch of 16 rows, beside its noise block and loss trace, far less.
    model = training[0]
    x = torch.randn(4096, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    target = llc.make_target(model, torch.nn.functional.mse_loss, (x, x[:, :1]))
    k = checkpoints.checkpoints_per_batch(target, 8, budget=2**30)
    assert 2**30 // (8 * 4_000_000) < k < 2**30 // (8 * 400_000)
    assert checkpoints.checkpoints_per_batch(target, 8, budget=2**29) in (k // 2, k // 2 + 1)  # half the budget
    assert checkpoints.checkpoints_per_batch(target, 8, budget=1) == 1
    minibatch = checkpoints.checkpoints_per_batch(target, 8, budget=2**30, batch_size=16, acceptance_every=0)
    assert minibatch > 2 * k
    # the acceptance diagnostic evaluates full-batch proposals: then a minibatch run needs the full batch's memory
    assert checkpoints.checkpoints_per_batch(target, 8, budget=2**30, batch_size=16, acceptance_every=100) <= k


def test_arguments_are_checked(training):
    model, data, states = training
    loss = torch.nn.functional.mse_loss
    pot = lambda W: (W**2).sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="sampler"):
        checkpoints.estimate_llcs(model, states, loss, data, sampler="mala")
    with pytest.raises(ValueError, match="checkpoints is empty"):
        checkpoints.estimate_llcs(model, [], loss, data)
    with pytest.raises(ValueError, match="reference"):
        checkpoints.estimate_llcs(model, states, loss, data, reference=5)
    with pytest.raises(ValueError, match="max_batch"):
        checkpoints.estimate_llcs(pot, [torch.zeros(2)], nbeta=10.0, eps=0.01, gamma=1.0, max_batch=0)
    with pytest.raises(ValueError, match="different numbers of parameters"):
        checkpoints.estimate_llcs(pot, [torch.zeros(2), torch.zeros(3)], nbeta=10.0, eps=0.01, gamma=1.0,
                                  n_steps=20, progress=False)
    with pytest.raises(ValueError, match="eps"):
        checkpoints.estimate_llcs(pot, [torch.zeros(2)], nbeta=10.0, eps=-1.0)
