"""The LLC estimator on two research-size models, called as a researcher new to the library would.

Two tanh MLPs, trained with Adam to a plateau, in float32: what a researcher would use, and on
the regression model float64 gave the same estimate within its SE and the same flags, at twice
the cost.

- ``regression``: 4-32-32-1 (d = 1,249) on n = 5,000 synthetic points, y = f(x) + 0.1·N(0, 1),
  loss ½·mean((out − y)²), the Gaussian NLL with σ = 1 up to a constant.
- ``digits``: 64-32-32-10 (d = 3,466) on all 1,797 points of scikit-learn's ``load_digits``,
  inputs /16, cross-entropy.

Each is estimated with the defaults (full batch: MALA, or HMC where MALA could not relax the flat
directions within max_steps) and with ``batch_size=256`` (SGLD with Leimkuhler–Matthews noise). The
issue's requirement: "Each gives no NaN and no flag on accuracy, and lands within 3 combined SE
plus the bias bound of a run at ε/2 with 4× the steps, at the same nβ and γ."

About an hour on one CPU thread (measured 2026-12-01: regression full batch ~44 min, of which the
default, HMC with its γ/2 run, takes ~7 and its reference the rest; batch 256 1.5 and 4 min; digits full
batch 3 and 7.5 min, batch 256 0.5 and 2 min): deselected by default, run with
``pytest -m research tests/test_llc_research.py -s`` to see the numbers. The reference run is
not required to be flag-free: it is the yardstick, and a gap to it is what the test measures.
"""

import math
import time

import pytest
import torch
from torch import nn

from slt_lessons import llc

pytestmark = [pytest.mark.slow, pytest.mark.research]

DTYPE = torch.float32
TRAIN_STEPS = 3000
# Flags that say the estimate is inaccurate. ``gamma`` is not among them: it says that γ defines
# the quantity being estimated (the localized LLC), not that the sampler estimated it badly.
ACCURACY_FLAGS = {"diverged", "implausible", "drift", "step", "stuck", "few_draws", "not_mixed", "not_minimum"}


def _mlp(widths, seed):
    torch.manual_seed(seed)  # nn.Linear draws its initial weights from the global generator
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1]).to(DTYPE)


def _train(model, loss_fn, x, y, steps=TRAIN_STEPS, lr=1e-2):
    """Full-batch Adam with a cosine-decayed learning rate, so the loss settles instead of jittering."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 1e-3)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
    # The LLC is defined at a local minimum: a checkpoint still descending is another question.
    tail = history[-steps // 10:]
    assert abs(tail[0] - tail[-1]) <= 0.01 * tail[-1], f"training has not plateaued: {tail[0]} -> {tail[-1]}"
    return history[-1]


def _d(model):
    return sum(p.numel() for p in model.parameters())


def _half_mse(out, y):
    return 0.5 * ((out - y) ** 2).mean()


@pytest.fixture(scope="module")
def regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 4, generator=g)
    f = torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * torch.tanh(x[:, 3]) * x[:, 0]
    y = (f + 0.1 * torch.randn(5000, generator=g))[:, None]
    model = _mlp([4, 32, 32, 1], seed=0)
    t = time.perf_counter()
    final = _train(model, _half_mse, x, y)
    print(f"\nregression: d = {_d(model)}, trained in {time.perf_counter() - t:.1f} s to loss {final:.5g} "
          f"(noise floor 0.005)")
    return model, _half_mse, (x, y)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=DTYPE) / 16
    y = torch.tensor(data.target)
    model = _mlp([64, 32, 32, 10], seed=0)
    loss_fn = torch.nn.functional.cross_entropy
    t = time.perf_counter()
    final = _train(model, loss_fn, x, y)
    acc = float((model(x).argmax(1) == y).float().mean())
    print(f"\ndigits: d = {_d(model)}, trained in {time.perf_counter() - t:.1f} s to loss {final:.3g}, "
          f"train accuracy {acc:.3f}")
    return model, loss_fn, (x, y)


def _timed(**kwargs):
    t = time.perf_counter()
    res = llc.estimate_llc(progress=False, **kwargs)
    return res, time.perf_counter() - t


def _describe(label, res, wall):
    check = res.gamma_check
    gamma_check = "not made" if check is None else f"at γ/2 = {check['gamma']:.3g}: {check['llc']:.4g} ± {check['se']:.2g}"
    return (f"  {label}: λ̂ = {res.llc:.4g} ± {res.se:.2g}, {res.sampler}, ε = {res.eps:.3g}, γ = {res.gamma:.3g}, "
            f"nβ = {res.nbeta:.4g}, bias bound = {res.bias_bound:.3g}, R̂ = {res.rhat:.3f}, "
            f"ESS = {float(res.ess.nansum()):.0f}, {res.settings['n_steps']} steps, {wall:.1f} s\n"
            f"    gamma check: {gamma_check}\n"
            f"    flags: {sorted(res.flags) or 'none'}")


# On the regression MLP (nβ·h_max ≈ 3.8e4 against γ ≈ 3.6: a condition number of ~10⁴) MALA reached
# max_steps = 32,000 still flagged few_draws (256 effective draws), so the full batch now takes HMC
# (measured 2026-12-01: 50.13 ± 0.28, ESS 588, R̂ 1.006, 200 trajectories, 434 s with the γ/2 run, against
# MALA's 4×-longer 49.37 ± 0.42). With batch 256, plain SGLD (ε·a_max ≤ 1/2) still drifted at 32,000 steps
# (46.16 ± 0.71 against 49.12 ± 0.84 at ε/2 and 4× the steps); Leimkuhler–Matthews, at ε·a_max = 2, settled
# within max_steps: 50.09 ± 0.38, no flag, against 50.25 ± 0.40 (measured 2026-12-01, 81 s and 243 s).


@pytest.mark.parametrize("problem, batch_size", [("regression", None), ("regression", 256),
                                                 ("digits", None), ("digits", 256)],
                         ids=["regression-full", "regression-batch256", "digits-full", "digits-batch256"])
def test_research_model_estimate_agrees_with_a_finer_longer_run(request, problem, batch_size):
    model, loss_fn, data = request.getfixturevalue(problem)
    d = _d(model)
    res, wall = _timed(model=model, loss_fn=loss_fn, data=data, batch_size=batch_size)
    print(f"\n{problem}, batch_size={batch_size}, before its reference run:\n" + _describe("default    ", res, wall), flush=True)

    # The reference: same nβ, γ and sampler, half the step and four times the steps (so twice the
    # Langevin time at a quarter of SGLD's step-size bias); for HMC four times the gradients, i.e. twice
    # the trajectories at half the step. Its own seed, so that the two runs' errors are independent,
    # as the combined SE assumes.
    n_steps = (2 if res.sampler == "hmc" else 4) * res.settings["n_steps"]
    ref, wall_ref = _timed(model=model, loss_fn=loss_fn, data=data, batch_size=batch_size, nbeta=res.nbeta,
                           gamma=res.gamma, eps=res.eps / 2, sampler=res.sampler, n_steps=n_steps,
                           burn_in=n_steps // 4, check_gamma=False, seed=1)

    print(f"\n{problem}, batch_size={batch_size} (d = {d}, d/2 = {d / 2:g}):")
    print(_describe("default    ", res, wall))
    print(_describe("ε/2, 4×steps", ref, wall_ref))

    # Every failure is collected, so that one run reports all that went wrong with it.
    failures = []
    for label, r in (("default", res), ("reference", ref)):
        if not (math.isfinite(r.llc) and math.isfinite(r.se)):
            failures.append(f"{label}: non-finite estimate {r.llc} ± {r.se}")
        if r.llc > d / 2:
            failures.append(f"{label}: λ̂ = {r.llc:.4g} above d/2 = {d / 2:g}")
        # An infinite (unstable step) or NaN (λ̂ ≤ 0) bound would make the tolerance below meaningless.
        if not math.isfinite(r.bias_bound):
            failures.append(f"{label}: bias bound {r.bias_bound}")
    accuracy = ACCURACY_FLAGS & set(res.flags)
    if accuracy:
        failures.append(f"default: accuracy flags {sorted(accuracy)}")
    # The bias bound is relative; either run's step may be the coarser one for the bound computed
    # at its final states, so allow the larger, relative to the reference value.
    bias = max(res.bias_bound, ref.bias_bound) * abs(ref.llc)
    allowed = 3 * math.hypot(res.se, ref.se) + bias
    gap = abs(res.llc - ref.llc)
    print(f"  |Δλ̂| = {gap:.3g}, allowed {allowed:.3g} (3 combined SE {3 * math.hypot(res.se, ref.se):.3g} "
          f"+ bias {bias:.3g}): {'ok' if gap <= allowed else 'FAIL'}")
    if not gap <= allowed:
        failures.append(f"|{res.llc:.4g} − {ref.llc:.4g}| = {gap:.3g} > {allowed:.3g} (3 combined SE + bias bound)")
    assert not failures, "; ".join(failures)
