"""Checks of lesson 6, part 1 and part 4 (internal model selection): the critical n where two
free energies cross, the preferred phase at each n, the posterior mass of each basin on a grid,
and the sequence of phases the posterior passes through as n grows.

``critical_n`` and ``phase_sequence`` return numbers that solve an equation; any method that
solves it to 1e-8 relative (Lambert W, Brent's method on log n, Newton) passes: the judges allow
1e-8 relative on n. ``preferred_phase`` and the phases of ``phase_sequence`` are integers, judged
exactly, on inputs built so that no two free energies are within 1e-6 relative (1e-3 in float32)
of each other at any n of a case, far beyond round-off. ``grid_basin_masses`` is a ratio of sums of
at most 10⁴ positive terms: float64 round-off ≲ 1e-12.
"""

from __future__ import annotations

import math

import torch

from slt_lessons import phases
from slt_lessons.checks.registry import Case, Exercise, describe, must_raise, register, tensor_close

F64, F32 = torch.float64, torch.float32
LOG_C_QUARTIC, LOG_C_QUADRATIC = phases.LOG_C_QUARTIC, phases.LOG_C_QUADRATIC
# c = 6 TMS k-gons (tms.kgon_table): the 5-gon, the 5-gon with positive dead bias, the 6-gon; L not halved
KGON_L, KGON_LAM = (0.0687436, 0.0617991, 0.0481924), (7.0, 8.5, 8.5)


def _float_judge(rtol):
    def judge(case, expected, got):
        if isinstance(got, bool) or not isinstance(got, (float, int)) and not (
                isinstance(got, torch.Tensor) and got.numel() == 1):
            return f"result: expected a number (a Python float), got {describe(got)}"
        g = float(got)
        if not math.isfinite(g) or abs(g - expected) > rtol * abs(expected):
            hint = ""
            small = _smaller_root(case.kwargs)
            if small is not None and math.isfinite(g) and abs(g - small) <= 1e-6 * abs(small):
                hint = (" That is the smaller root (the W₀ branch), near n = 1, where log n is not yet the leading "
                        "term of F: the transition is the larger root (W₋₁).")
            elif math.isfinite(g) and ("c1" in case.kwargs) and _without_constants(case.kwargs, g):
                hint = " That is the crossing without the constants c1, c2: they shift the crossing too."
            return f"result: expected n = {expected:.10g}, got {g:.10g} (allowed relative error {rtol:g}).{hint}"
        return None

    return judge


def _smaller_root(kw):
    from scipy.special import lambertw

    try:
        a = (kw["L1"] - kw["L2"]) / (kw["lam2"] - kw["lam1"])
        k = (kw.get("c1", 0.0) - kw.get("c2", 0.0)) / (kw["lam2"] - kw["lam1"])
        return -float(lambertw(-a * math.exp(k), 0).real) / a
    except (ZeroDivisionError, ValueError, OverflowError):
        return None


def _without_constants(kw, g):
    try:
        plain = phases.critical_n(kw["L1"], kw["lam1"], kw["L2"], kw["lam2"])
    except ValueError:
        return False
    return abs(g - plain) <= 1e-6 * plain and abs(kw.get("c1", 0.0) - kw.get("c2", 0.0)) > 0


# ----------------------------------------------------------------------------- critical_n


def _cn(label, L1, lam1, L2, lam2, **c):
    return Case(label, dict(L1=L1, lam1=lam1, L2=L2, lam2=lam2, **c))


def _critical_n_cases(suite, device):
    if suite == "visible":
        return [
            _cn("L1 = 0.05, lam1 = 1, L2 = 0.01, lam2 = 2", 0.05, 1.0, 0.01, 2.0),
            _cn("the quartic and the quadratic basin of section 1, delta = 0.02", 0.02, 0.25, 0.0, 0.5),
            _cn("the same with the constants c1 = -log(2 Gamma(5/4)), c2 = -log(sqrt(pi))", 0.02, 0.25, 0.0, 0.5,
                c1=-LOG_C_QUARTIC, c2=-LOG_C_QUADRATIC),
        ] + must_raise(
            ("L1 <= L2 (phase 1 not the less accurate): ValueError", dict(L1=0.01, lam1=1.0, L2=0.05, lam2=2.0)),
            ("lam1 >= lam2 (phase 1 not the simpler): ValueError", dict(L1=0.05, lam1=2.0, L2=0.01, lam2=1.0)),
            ("lam1 = lam2: ValueError", dict(L1=0.05, lam1=1.0, L2=0.01, lam2=1.0)),
            ("no crossing, (L1 - L2)/(lam2 - lam1) = 0.5 > 1/e: ValueError",
             dict(L1=1.0, lam1=1.0, L2=0.5, lam2=2.0)),
        )
    s = 0.5  # the halved TMS loss of part 2
    return [
        _cn("two k-gons of the toy model of superposition, halved losses", s * KGON_L[0], KGON_LAM[0],
            s * KGON_L[2], KGON_LAM[2]),
        _cn("a tiny loss gap: a very late transition", 1e-6, 1.0, 0.0, 3.5),
        _cn("a gap close to the largest that still crosses", 0.3, 1.0, 0.0, 2.0),
        _cn("negative losses (a shifted log-likelihood)", -1.2, 0.5, -1.5, 4.0),
        _cn("with constants that favour the accurate phase", 0.01, 0.25, 0.0, 0.5, c1=0.3, c2=0.0),
        _cn("with constants that favour the simple phase", 0.001, 2.0, 0.0, 2.5, c1=-3.0, c2=1.0),
    ] + must_raise(("constants that remove the crossing: ValueError",
                    dict(L1=0.3, lam1=1.0, L2=0.0, lam2=2.0, c1=1.0, c2=0.0)))


register(Exercise(
    id="phases.critical_n",
    reference=phases.critical_n,
    cases=_critical_n_cases,
    judge=_float_judge(1e-8),
    notes=("The root of n ΔL + Δc = Δλ log n: Lambert W (scipy, ~1e-15 relative) or a bracketing solver to its "
           "default tolerance (brentq: 2e-12 absolute in log n) both land within 1e-8 relative. The smaller root "
           "(W₀) is off by a factor > 2 on every case, and dropping c1, c2 by more than 1%."),
))


# ----------------------------------------------------------------------------- preferred_phase


def _F(n, L, lam, c):
    return n[..., None] * L + lam * n.log()[..., None] + c


def _clear_of_ties(n, L, lam, c, margin):
    """Keep the entries of n where the best F is more than margin·(1 + |F|) below the second best."""
    F = _F(n.double(), L.double(), lam.double(), c.double()).sort(dim=-1).values
    gap = (F[..., 1] - F[..., 0]) / (1 + F[..., 0].abs())
    return n[gap > margin]


def _pp(label, n, L, lam, c=None, *, device, dtype=F64, keep_shape=False):
    n = torch.as_tensor(n, dtype=F64)
    L, lam = torch.as_tensor(L, dtype=F64), torch.as_tensor(lam, dtype=F64)
    cc = torch.zeros_like(L) if c is None else torch.as_tensor(c, dtype=F64)
    if not keep_shape:
        n = _clear_of_ties(n.flatten(), L, lam, cc, 1e-6 if dtype == F64 else 1e-3)
    kw = dict(n=n.to(device=device, dtype=dtype), L=L.to(device=device, dtype=dtype),
              lam=lam.to(device=device, dtype=dtype))
    if c is not None:
        kw["c"] = cc.to(device=device, dtype=dtype)
    return Case(label, kw)


def _random_phases(g, A):
    L = torch.rand(A, generator=g, dtype=F64) * 0.5
    lam = 0.5 + torch.rand(A, generator=g, dtype=F64) * 10
    return L, lam


def _preferred_cases(suite, device):
    pp = lambda *a, **k: _pp(*a, device=device, **k)  # noqa: E731
    ns = torch.logspace(0.5, 6, 60, dtype=F64)
    if suite == "visible":
        return [
            pp("two phases, n a 0-d tensor (n = 1000)", torch.tensor(1000.0), [0.05, 0.01], [1.0, 2.0],
               keep_shape=True),
            pp("two phases, 60 values of n from 3 to 1e6", ns, [0.05, 0.01], [1.0, 2.0]),
            pp("the three k-gons of part 2, halved losses, n from 3 to 1e6", ns, [x / 2 for x in KGON_L], KGON_LAM),
            pp("three phases with constants c", ns, [0.03, 0.02, 0.001], [1.0, 1.5, 3.0], c=[2.0, 0.0, -1.0]),
            pp("n of shape (2, 3): the output has n's shape", torch.tensor([[3.0, 30.0, 300.0], [3e3, 3e4, 3e5]]),
               [0.05, 0.01], [1.0, 2.0], keep_shape=True),
        ]
    g = torch.Generator().manual_seed(606)
    cases = []
    for k, A in enumerate((4, 6, 8, 5, 7)):
        L, lam = _random_phases(g, A)
        label = ["several phases", "many phases", "many phases, some never preferred",
                 "several phases with constants", "several phases, float32"][k]
        c = torch.randn(A, generator=g, dtype=F64) if k == 3 else None
        cases.append(pp(f"{label}, n over many decades", torch.logspace(0.45, 7, 80, dtype=F64), L, lam, c=c,
                        dtype=F32 if k == 4 else F64))
    cases.append(pp("one phase", torch.logspace(0.5, 4, 10, dtype=F64), [0.2], [3.0], keep_shape=True))
    return cases


def _index_judge(case, expected, got):
    if not isinstance(got, torch.Tensor):
        return f"result: expected a tensor of phase indices, got {describe(got)}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"result: wrong shape: expected {tuple(expected.shape)} (n's shape), got {tuple(got.shape)}"
    if got.dtype.is_floating_point or got.dtype.is_complex or got.dtype == torch.bool:
        return f"result: expected integer indices (e.g. from argmin), got dtype {got.dtype}"
    if got.device.type != expected.device.type:
        return f"result: wrong device: expected {expected.device.type}, got {got.device.type}"
    bad = (got.cpu().long() != expected.cpu()).flatten()
    if not bool(bad.any()):
        return None
    i = int(bad.nonzero()[0])
    n = case.kwargs["n"].flatten()[i].item()
    e, gv = int(expected.flatten()[i]), int(got.flatten()[i])
    L, lam = case.kwargs["L"].double().cpu(), case.kwargs["lam"].double().cpu()
    c = case.kwargs.get("c", torch.zeros_like(L)).double().cpu()
    F = n * L + lam * math.log(n) + c
    hint = ""
    if _is_largest_F(case, got):
        hint = " That phase has the largest F: the posterior prefers the smallest (e^{-F} is the mass)."
    return (f"result: {int(bad.sum())} of {bad.numel()} entries differ; first at n = {n:.6g}: expected phase {e} "
            f"(F = {float(F[e]):.6g}), got {gv} (F = {float(F[gv]) if 0 <= gv < len(F) else math.nan:.6g}).{hint}")


def _is_largest_F(case, got):
    """Whether ``got`` is the phase of largest F at every n of the case (argmax for argmin), where that says
    more than "wrong": with two phases and one n, any wrong answer is the largest F, so no hint there."""
    n = case.kwargs["n"].double().cpu()
    L, lam = case.kwargs["L"].double().cpu(), case.kwargs["lam"].double().cpu()
    c = case.kwargs.get("c", torch.zeros_like(L)).double().cpu()
    if len(L) <= 2 and n.numel() <= 1:
        return False
    return torch.equal(got.cpu().long(), _F(n, L, lam, c).argmax(dim=-1))


register(Exercise(
    id="phases.preferred_phase",
    reference=phases.preferred_phase,
    cases=_preferred_cases,
    judge=_index_judge,
    notes=("Exact (integers). Every n in a case has its best F more than 1e-6·(1 + |F|) (float32: 1e-3) below the "
           "second best, so round-off and the order of the additions cannot change the argmin."),
))


# ----------------------------------------------------------------------------- grid_basin_masses


def _gm(label, w, loss, n, boundary, *, device, dtype=F64):
    return Case(label, dict(w=torch.as_tensor(w, dtype=F64).to(device=device, dtype=dtype),
                            loss=torch.as_tensor(loss, dtype=F64).to(device=device, dtype=dtype),
                            n=torch.as_tensor(n, dtype=F64).to(device=device, dtype=dtype), boundary=boundary))


def _two_basin(delta, G, offset=0.0):
    w = torch.linspace(-1.0, 3.0, G, dtype=F64)
    return w, phases.two_basin_potential(delta)(w) + offset


def _grid_cases(suite, device):
    gm = lambda *a, **k: _gm(*a, device=device, **k)  # noqa: E731
    if suite == "visible":
        w = torch.arange(-4, 5, dtype=F64) / 4  # -1, -0.75, ..., 1: exact in binary
        w2, L2 = _two_basin(0.02, 2001)
        w3, L3 = _two_basin(0.02, 2001, offset=1.0)
        return [
            gm("9 grid points, two basins, n = 0, 1, 10", w, (w**2 - 0.25) ** 2, [0.0, 1.0, 10.0], 0.0),
            gm("the two-basin potential of section 1 (delta = 0.02) on 2001 points, n from 0 to 1e4", w2, L2,
               [0.0, 10.0, 48.0, 100.0, 1e4], phases.basin_boundary(0.02)),
            gm("the same loss plus 1 (a constant offset), n up to 1e5: e^(-nL) underflows to 0 unless the sums "
               "are taken in logs", w3, L3, [10.0, 1e3, 1e5], phases.basin_boundary(0.02)),
            gm("the boundary exactly on a grid point (-0.25): that point belongs to the second basin", w,
               (w + 0.25) ** 2, [0.0, 2.0], -0.25),
        ] + must_raise(("the boundary left of every grid point: ValueError",
                        dict(w=w.to(device), loss=(w**2).to(device), n=torch.tensor([1.0], device=device),
                             boundary=-2.0)))
    w4, L4 = _two_basin(0.01, 8001, offset=3.0)
    w5, L5 = _two_basin(0.05, 501)
    g = torch.Generator().manual_seed(61)
    w6 = torch.linspace(0.0, 1.0, 300, dtype=F64)
    L6 = torch.rand(300, generator=g, dtype=F64)
    return [
        gm("a fine grid, a large offset, n over many decades", w4, L4, torch.logspace(0, 7, 30, dtype=F64),
           phases.basin_boundary(0.01)),
        gm("a coarse grid, float32", w5, L5, [0.0, 5.0, 13.0, 100.0, 1e4], phases.basin_boundary(0.05), dtype=F32),
        gm("a rough random loss, the boundary near one end", w6, L6, [0.0, 3.0, 50.0, 1e6], 0.05),
        gm("one value of n", w5, L5, [25.0], phases.basin_boundary(0.05)),
    ] + must_raise(("the boundary right of every grid point: ValueError",
                    dict(w=w6.to(device), loss=L6.to(device), n=torch.tensor([1.0], device=device), boundary=1.5)))


register(Exercise(
    id="phases.grid_basin_masses",
    reference=phases.grid_basin_masses,
    cases=_grid_cases,
    judge=tensor_close(rtol=1e-9, atol=1e-12, rtol32=1e-4, atol32=1e-6),
    notes=("A ratio of sums of ≤ 8001 positive terms, in logs: float64 round-off ≲ 1e-13 relative; a mass computed "
           "as 1 − the other errs by ≤ 1e-16 absolute, inside atol. float32: ~1e-6 relative per logsumexp over "
           "8001 terms; allowed 1e-4 relative, 1e-6 absolute. Without logs, e^(−nL) underflows and 0/0 gives NaN: "
           "the offset cases catch it."),
))


# ----------------------------------------------------------------------------- phase_sequence


def _ps(label, L, lam):
    return Case(label, dict(L=torch.as_tensor(L, dtype=F64), lam=torch.as_tensor(lam, dtype=F64)))


def _sequence_cases(suite, device):
    if suite == "visible":
        return [
            _ps("two phases: simple then accurate", [0.05, 0.01], [1.0, 2.0]),
            _ps("three phases, the middle one above the line from the first to the last (never preferred)",
                [0.05, 0.03, 0.01], [1.0, 2.5, 3.0]),
            _ps("a phase both simpler and more accurate than another (which is never preferred)",
                [0.02, 0.05], [1.0, 2.0]),
            _ps("the three k-gons of part 2, halved losses", [x / 2 for x in KGON_L], KGON_LAM),
            _ps("the simplest phase is so inaccurate that another is already preferred at n = e",
                [1.0, 0.1, 0.01], [0.5, 0.6, 2.0]),
        ]
    g = torch.Generator().manual_seed(6060)
    cases = []
    labels = ["several phases", "many phases", "many phases, most never preferred", "phases listed in random order",
              "phases with negative losses"]
    for k, A in enumerate((4, 7, 9, 6, 5)):
        while True:
            L, lam = _random_phases(g, A)
            if k == 4:
                L = L - 1.0
            if _well_separated(L, lam):
                break
        cases.append(_ps(labels[k], L, lam))
    cases.append(_ps("one phase", [0.3], [2.0]))
    return cases


def _well_separated(L, lam):
    """No near-tie at n = e, and no two candidate switches within 1e-4 relative of each other."""
    F = (math.e * L + lam).sort().values
    if float(F[1] - F[0]) < 1e-3:
        return False
    seq, switches = phases.phase_sequence(L, lam)
    for a in range(len(L)):
        ts = sorted(float((lam[b] - lam[a]) / (L[a] - L[b])) for b in range(len(L)) if L[b] < L[a])
        if any(t2 - t1 < 1e-4 * t1 for t1, t2 in zip(ts, ts[1:])):
            return False
    return len(seq) >= 2


def _sequence_judge(case, expected, got):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"result: expected a pair (phases, switches), got {describe(got)}"
    phases_got, switches_got = got
    try:
        phases_got = [int(p) for p in phases_got]
        switches_got = [float(s) for s in switches_got]
    except (TypeError, ValueError):
        return f"result: expected a list of ints and a list of floats, got {describe(got)}"
    exp_phases, exp_switches = expected
    L, lam = case.kwargs["L"], case.kwargs["lam"]
    if phases_got != exp_phases:
        hint = ""
        if phases_got and exp_phases and phases_got[0] != exp_phases[0]:
            hint = (f" The first phase is the one preferred at n = e (the smallest e·L + λ), here {exp_phases[0]}: "
                    "the simplest phase is not always preferred there.")
        else:
            extra = [p for p in phases_got if p not in exp_phases]
            if extra:
                hint = (f" Phase {extra[0]} is never preferred: at every n some other phase has a smaller F "
                        "(it lies above the line joining its neighbours in the (L, λ) plane).")
        return f"phases: expected {exp_phases}, got {phases_got}.{hint}"
    if len(switches_got) != len(exp_switches):
        return f"switches: expected {len(exp_switches)} values of n (one per switch), got {len(switches_got)}"
    for k, (e, s) in enumerate(zip(exp_switches, switches_got)):
        if not math.isfinite(s) or abs(s - e) > 1e-8 * e:
            a, b = exp_phases[k], exp_phases[k + 1]
            return (f"switches: the switch from phase {a} to {b} is at n = {e:.10g} (where n L_a + λ_a log n = "
                    f"n L_b + λ_b log n, the larger root), got {s:.10g}")
    return None


register(Exercise(
    id="phases.phase_sequence",
    reference=phases.phase_sequence,
    cases=_sequence_cases,
    judge=_sequence_judge,
    notes=("Phases exact (lists of ints); switches within 1e-8 relative (a root of n ΔL = Δλ log n, as for "
           "critical_n). The hidden cases are drawn so that no two phases are within 1e-3 in e·L + λ at n = e, and "
           "no two candidate switches from one phase are within 1e-4 relative: a dense-grid search refined by a "
           "root finder also passes. The lists may be tuples; a 0-d tensor is accepted for each number."),
))
