"""Checks of lesson 6, parts 2 and 3 (the toy model of superposition): the closed-form segment
integral, the exact population loss, and the stage boundaries of a training run.

``segment_integral`` and ``population_loss`` are closed forms: sums of at most 3c² ≤ 300 terms of
size ≲ 10, float64 round-off ≲ 1e-13; the judges allow 1e-10 relative and 1e-12 absolute. float32:
each term errs by ~1e-7 of its size (cancellations between terms of size up to ~4), so 1e-4
relative and 1e-5 absolute. A quadrature that is exact on each polynomial piece also passes; one
that straddles the kink does not reach 1e-10.

``stage_boundaries`` is graded by its outcome, not by one rule: on synthetic loss curves whose
stages are known (plateaus joined by drops, with multiplicative noise), the boundaries must be
one per drop, each within 2 checkpoints of the middle of the drop.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from slt_lessons import tms
from slt_lessons.checks.registry import Case, Exercise, describe, must_raise, register, tensor_close

F64, F32 = torch.float64, torch.float32


# ----------------------------------------------------------------------------- segment_integral


def _si(label, delta, a, b, *, device, dtype=F64):
    """A case of ``segment_integral``; a tensor ``delta`` goes to the case's device and dtype, as ``a`` and ``b``."""
    to = lambda t: torch.as_tensor(t, dtype=F64).to(device=device, dtype=dtype)  # noqa: E731
    return Case(label, dict(delta=to(delta) if isinstance(delta, torch.Tensor) else delta, a=to(a), b=to(b)))


def _segment_cases(suite, device):
    si = lambda *a, **k: _si(*a, device=device, **k)  # noqa: E731
    # one entry per regime: kink inside with a > 0 (on from mu0 to 1), kink inside with a < 0 (on from 0 to mu0),
    # on everywhere, off everywhere
    a4, b4 = [1.5, -1.2, 0.7, -0.4], [-0.6, 0.9, 0.2, -0.3]
    if suite == "visible":
        return [
            si("delta = 1, one entry per regime: switches on inside, switches off inside, always on, always off",
               1.0, a4, b4),
            si("delta = 0 (an output whose target is 0), the same four regimes", 0.0, a4, b4),
            si("on everywhere although a < 0 (b >= 0 and a + b >= 0), and a fractional delta = 0.5", 0.5,
               [-0.3, -0.8, 1.1], [0.5, 0.8, -0.5]),
            si("the edges: b = 0, a = 0, a + b = 0 (either sign of a), the kink at mu = 1", 1.0,
               [0.8, 0.0, 0.5, 0.6, -0.6, -0.6], [0.0, 0.3, -0.5, -0.6, 0.0, 0.6]),
            si("a of shape (3, 3), b of shape (3, 1): broadcast", 1.0, [[1.0, -0.5, 0.2], [0.3, 1.2, -0.9],
                                                                         [-0.1, 0.4, 2.0]], [[-0.2], [0.1], [0.0]]),
        ]
    g = torch.Generator().manual_seed(62)
    a = 3 * torch.randn(40, 40, generator=g, dtype=F64)
    b = torch.randn(40, 1, generator=g, dtype=F64)
    return [
        si("many random entries, a feature's own output", 1.0, a, b),
        si("many random entries, another feature's output", 0.0, a, b),
        si("delta a tensor of zeros and ones that broadcasts", torch.eye(6, dtype=F64), a[:6, :6], b[:6]),
        si("float32, random entries", 1.0, a[:10], b[:10], dtype=F32),
        si("large values", 1.0, 50 * a[:5, :5], 10 * b[:5]),
        si("a fractional delta", 0.37, a[:8, :8], b[:8]),
    ]


register(Exercise(
    id="tms.segment_integral",
    reference=tms.segment_integral,
    cases=_segment_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-12, rtol32=1e-4, atol32=1e-5),
    notes=("A closed form of a few terms: float64 round-off ≲ 1e-14 relative of the largest term (≲ 2500 in the "
           "large-values case, cancellation to a result ≳ 1e-2 nowhere worse than 1e-10 relative); float32 ~1e-7 "
           "of terms of size ≲ 10, allowed 1e-4 relative and 1e-5 absolute. Ignoring the ReLU, or taking the wrong "
           "side of the kink, is off by ≥ 1e-2 in the first visible case."),
))


# ----------------------------------------------------------------------------- population_loss


def _pl(label, w, c, *, device, dtype=F64):
    return Case(label, dict(w=torch.as_tensor(w, dtype=F64).to(device=device, dtype=dtype), c=c))


def _population_cases(suite, device):
    pl = lambda *a, **k: _pl(*a, device=device, **k)  # noqa: E731
    g = torch.Generator().manual_seed(63 if suite == "visible" else 630)
    six = tms._kgon_w(6, 6, 1.320526, -0.618135, -1.0, F64, "cpu")
    if suite == "visible":
        return [
            pl("the 6-gon of c = 6 (L = 0.0481924)", six, 6),
            pl("a random w, c = 6", 0.7 * torch.randn(18, generator=g, dtype=F64), 6),
            pl("w of shape (2, 3, 9), c = 3: one loss per row, shape (2, 3)",
               0.7 * torch.randn(2, 3, 9, generator=g, dtype=F64), 3),
        ] + must_raise(("w of length 17 for c = 6 (not 3c = 18): ValueError",
                        dict(w=torch.zeros(17, dtype=F64, device=device), c=6)))
    four = tms._kgon_w(4, 6, 1.0, 0.0, -1.0, F64, "cpu")
    return [
        pl("many random w, many features", 0.6 * torch.randn(64, 30, generator=g, dtype=F64), 10),
        pl("random w, float32", 0.7 * torch.randn(16, 18, generator=g, dtype=F64), 6, dtype=F32),
        pl("a point on a ReLU kink", four, 6),
        pl("large weights and biases", 3 * torch.randn(5, 12, generator=g, dtype=F64), 4),
        pl("a w with dead columns and positive biases",
           torch.cat([0.8 * torch.randn(4, generator=g, dtype=F64), torch.zeros(2, dtype=F64),
                      0.8 * torch.randn(4, generator=g, dtype=F64), torch.zeros(2, dtype=F64),
                      torch.tensor([-0.2, -0.1, 0.05, -0.3, 0.1, 1 / 12], dtype=F64)]), 6),
        pl("the fewest features", 0.9 * torch.randn(7, 6, generator=g, dtype=F64), 2),
    ] + must_raise(("w whose last dimension does not match c: ValueError",
                    dict(w=torch.zeros(3, 18, dtype=F64, device=device), c=5)))


register(Exercise(
    id="tms.population_loss",
    reference=tms.population_loss,
    cases=_population_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-12, rtol32=1e-4, atol32=1e-5),
    notes=("(1/c) times a sum of c² closed-form integrals: float64 round-off ≲ 1e-14 relative; float32 ≲ 1e-6 "
           "relative, allowed 1e-4. Forgetting 1/c, a target of 1 for every output, or only the outputs j = i "
           "changes the first two visible cases by more than 1e-2 (W Wᵀ is 2 × 2 and does not broadcast). Pairing "
           "A_ji with b_i instead of b_j is not a mistake: A and the target δ_ij are symmetric, so renaming i ↔ j "
           "turns one double sum into the other (the single terms differ, the loss does not)."),
))


# ----------------------------------------------------------------------------- stage_boundaries (by outcome)


def synthetic_run(levels, drops, seed, *, steps=50_000, K=60, width=0.15, noise=0.01, drift=0.0):
    """A loss curve on ``K`` checkpoints log-spaced in 1 + t up to ``steps`` (as :func:`tms.train` saves
    them): plateaus at ``levels`` joined by drops centred at the log10(1 + t) values ``drops`` (a logistic
    of ``width`` decades), times (1 + AR(1) noise of relative size ``noise``) and (1 + t)^(−drift).
    Returns (steps, losses, true boundaries): each boundary is the first checkpoint past the middle
    of its drop."""
    grid = np.unique(np.round(np.expm1(np.linspace(0, np.log1p(steps), K))).astype(int))
    x = np.log10(1 + grid)
    logL = np.full(len(grid), math.log(levels[0]))
    for (hi, lo), mid in zip(zip(levels, levels[1:]), drops):
        logL += (math.log(lo) - math.log(hi)) / (1 + np.exp(-(x - mid) / (width / 4)))
    rng = np.random.default_rng(seed)
    e = np.zeros(len(grid))
    for k in range(len(grid)):
        e[k] = (0.5 * e[k - 1] if k else 0.0) + noise * rng.standard_normal()
    losses = np.exp(logL) * (1 + e) * (1 + grid) ** (-drift)
    truth = [int(np.argmax(x > mid)) for mid in drops]
    return grid.tolist(), losses.tolist(), truth


_RUNS = {  # label: (levels, drop centres in log10(1 + t), seed, options)
    "visible": [
        ("two stages: one drop in the middle", (0.11, 0.069), (2.5,), 1, {}),
        ("three stages, little noise", (0.16, 0.11, 0.069), (1.2, 3.3), 2, dict(noise=0.003)),
        ("one plateau, noise of 2% and no drop: no boundary", (0.07,), (), 3, dict(noise=0.02)),
        ("a slow drift (15% over the run) and no drop: no boundary", (0.08,), (), 4, dict(drift=0.015)),
    ],
    "hidden": [
        ("several stages with noise", (0.3, 0.16, 0.11, 0.069, 0.048), (0.6, 1.6, 2.6, 3.8), 11, dict(noise=0.015)),
        ("a drop right after the start", (0.4, 0.11), (0.35,), 12, dict(noise=0.01)),
        ("a drop near the end", (0.069, 0.048), (4.3,), 13, dict(noise=0.01)),
        ("two close drops", (0.2, 0.11, 0.06), (2.0, 2.9), 14, dict(noise=0.005)),
        ("a noisy plateau between two drops, a slow drift throughout", (0.15, 0.1, 0.06), (1.0, 3.5), 15,
         dict(noise=0.02, drift=0.01)),
        ("a sharp drop", (0.12, 0.07), (2.2,), 16, dict(width=0.05)),
        ("a broad drop", (0.12, 0.06), (2.5,), 17, dict(width=0.5)),
        ("a drop still under way when the run ends", (0.1, 0.05), (4.55,), 18, dict(noise=0.003, width=0.3)),
    ],
}


def _stage_cases(suite, device):
    cases = []
    for label, levels, drops, seed, opts in _RUNS[suite]:
        steps, losses, truth = synthetic_run(levels, drops, seed, **opts)
        cases.append(Case(label, dict(steps=steps, losses=losses)))
    if suite == "visible":
        cases += must_raise(("steps not increasing: ValueError", dict(steps=[0, 5, 3, 9], losses=[1.0, 0.9, 0.8, 0.7])),
                            ("a step repeated (not strictly increasing): ValueError",
                             dict(steps=[0, 5, 5, 9], losses=[1.0, 0.9, 0.8, 0.7])),
                            ("a negative step: ValueError", dict(steps=[-1, 0, 1], losses=[1.0, 0.9, 0.8])),
                            ("a loss that is not positive: ValueError", dict(steps=[0, 1, 2], losses=[1.0, 0.0, 0.5])))
    return cases


def _truth(case):
    for suite in ("visible", "hidden"):
        for label, levels, drops, seed, opts in _RUNS[suite]:
            if label == case.label:
                return synthetic_run(levels, drops, seed, **opts)[2]
    raise KeyError(case.label)


def _stage_judge(case, expected, got):
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    if not isinstance(got, (list, tuple)):
        return f"result: expected a list of checkpoint indices, got {describe(got)}"
    try:
        found = sorted(int(k) for k in got)
    except (TypeError, ValueError):
        return f"result: expected a list of ints (indices into steps), got {describe(got)}"
    truth = _truth(case)
    steps = case.kwargs["steps"]
    where = ", ".join(f"index {k} (step {steps[k]})" for k in truth) or "none"
    if len(found) != len(truth):
        extra = ("; a wiggle of the noise or a slow drift is not a stage: ask for a fall of more than 10% of the "
                 "loss, fast in log time" if len(found) > len(truth) else "")
        return (f"result: expected {len(truth)} boundar{'y' if len(truth) == 1 else 'ies'} (the middle of each "
                f"drop: {where}), got {len(found)}: {found}{extra}")
    off = [(t, f) for t, f in zip(truth, found) if abs(t - f) > 2]
    if off:
        t, f = off[0]
        return (f"result: a boundary at index {f} (step {steps[f] if 0 <= f < len(steps) else '?'}) where the drop's "
                f"middle is at index {t} (step {steps[t]}): allowed 2 checkpoints either way")
    return None


register(Exercise(
    id="tms.stage_boundaries",
    reference=tms.stage_boundaries,
    cases=_stage_cases,
    judge=_stage_judge,
    notes=("By outcome: one boundary per drop, each within 2 checkpoints of the first checkpoint past the drop's "
           "middle; no boundary for noise (AR(1), up to 2% relative) or a slow drift (a power (1 + t)^(−0.015), 15% "
           "over the run). The drops fall by ≥ 30% within about 0.3 decades of log time, so a rule on the loss "
           "against linear time (where the late drops are spread over thousands of steps and the early ones "
           "over a handful) and a rule that counts each moving interval as a boundary both fail."),
))
