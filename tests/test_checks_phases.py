"""Tests of the lesson-6 checks (slt_lessons/checks/phases.py and slt_lessons/checks/tms.py): the references
pass, correct variants written differently pass, plausible mistakes fail (each in a visible case), and the
judges' hints name a mistake where the output matches it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.special import lambertw

from checking import CPU, SUITES, failures, missed, passes, verdicts, wrong_visible

from slt_lessons import phases, tms
from slt_lessons.checks import check
from slt_lessons.checks import tms as tms_chk
from slt_lessons.checks.registry import get
from slt_lessons.checks.runner import collect, judge

REFERENCES = [
    ("phases.critical_n", phases.critical_n),
    ("phases.preferred_phase", phases.preferred_phase),
    ("phases.grid_basin_masses", phases.grid_basin_masses),
    ("phases.phase_sequence", phases.phase_sequence),
    ("tms.segment_integral", tms.segment_integral),
    ("tms.population_loss", tms.population_loss),
    ("tms.stage_boundaries", tms.stage_boundaries),
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


# ============================================================================ critical_n


def _validated_crossing(L1, lam1, L2, lam2, c1, c2):
    """The text's ValueErrors; returns (a, k) = (ΔL/Δλ, Δc/Δλ)."""
    if not L1 > L2 or not lam1 < lam2:
        raise ValueError("phase 1 must be the less accurate and the simpler one")
    a, k = (L1 - L2) / (lam2 - lam1), (c1 - c2) / (lam2 - lam1)
    if math.log(a) + k > -1:
        raise ValueError("no crossing")
    return a, k


def critical_n_brentq(L1, lam1, L2, lam2, *, c1=0.0, c2=0.0):
    """Correct, another method: Brent's method on x = log n, right of the minimum of g(x) = e^x ΔL + Δc − Δλ x."""
    _validated_crossing(L1, lam1, L2, lam2, c1, c2)
    dL, dlam, dc = L1 - L2, lam2 - lam1, c1 - c2

    def g(x):
        return math.exp(x) * dL + dc - dlam * x

    x_min = math.log(dlam / dL)  # g'(x) = e^x ΔL − Δλ = 0
    if g(x_min) >= 0:  # the branch point: the free energies only touch
        return math.exp(x_min)
    hi = x_min + 1.0
    while g(hi) <= 0:
        hi += 1.0
    return math.exp(brentq(g, x_min, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def critical_n_newton(L1, lam1, L2, lam2, *, c1=0.0, c2=0.0):
    """Correct, another method: Newton's method on n, from the right of the root (g convex, so it converges
    monotonically), returned as a 0-d tensor (the judge accepts one)."""
    _validated_crossing(L1, lam1, L2, lam2, c1, c2)
    dL, dlam, dc = L1 - L2, lam2 - lam1, c1 - c2
    n = 2 * dlam / dL
    while n * dL + dc - dlam * math.log(n) < 0:
        n *= 2
    for _ in range(200):
        step = (n * dL + dc - dlam * math.log(n)) / (dL - dlam / n)
        n -= step
        if abs(step) <= 1e-15 * n:
            break
    return torch.tensor(n, dtype=torch.float64)


def _critical_n_with(*, branch=-1, constants=True, validate=True, sign_c=1):
    def f(L1, lam1, L2, lam2, *, c1=0.0, c2=0.0):
        if not constants:
            c1 = c2 = 0.0
        if validate:
            a, k = _validated_crossing(L1, lam1, L2, lam2, c1, c2)
        else:
            a, k = (L1 - L2) / (lam2 - lam1), (c1 - c2) / (lam2 - lam1)
        k = sign_c * k
        return float(-lambertw(-a * math.exp(k), branch).real / a)

    return f


CRITICAL_N_MISTAKES = {
    "the smaller root (Lambert W branch 0)": _critical_n_with(branch=0),
    "c1, c2 ignored": _critical_n_with(constants=False),
    "the constants with the wrong sign (c2 - c1)": _critical_n_with(sign_c=-1),
    "no validation": _critical_n_with(validate=False),
}


@pytest.mark.parametrize("variant", [critical_n_brentq, critical_n_newton, _critical_n_with()])
def test_critical_n_variants_pass(variant):
    assert failures("phases.critical_n", variant) == []


@pytest.mark.parametrize("name", sorted(CRITICAL_N_MISTAKES))
def test_critical_n_mistakes_fail(name):
    wrong = CRITICAL_N_MISTAKES[name]
    assert wrong_visible("phases.critical_n", wrong), name
    if name == "no validation":
        return
    with_constants = {c.label for s in SUITES for c in get("phases.critical_n").cases(s, CPU)
                      if c.kwargs.get("c1", 0.0) != c.kwargs.get("c2", 0.0)}
    misses = missed("phases.critical_n", wrong, errors=False)
    if "c1" in name or "constants" in name:  # only the cases with constants can see it, and all of them do
        assert not with_constants & set(misses)
    else:
        assert misses == []


def test_critical_n_hints():
    smaller = wrong_visible("phases.critical_n", CRITICAL_N_MISTAKES["the smaller root (Lambert W branch 0)"])
    assert smaller and all("smaller root" in m and "W₋₁" in m for m in smaller if "must raise" not in m)
    no_c = wrong_visible("phases.critical_n", CRITICAL_N_MISTAKES["c1, c2 ignored"])
    assert any("without the constants c1, c2" in m for m in no_c)


# ============================================================================ preferred_phase


def preferred_loop(n, L, lam, c=None):
    """Correct: F of each phase by a loop, stacked along a last dimension."""
    c = torch.zeros_like(L) if c is None else c
    F = torch.stack([n * L[a] + lam[a] * torch.log(n) + c[a] for a in range(len(L))], dim=-1)
    return F.argmin(dim=-1)


def preferred_running_min(n, L, lam, c=None):
    """Correct: a running minimum over the phases, in float64, without argmin."""
    n64 = n.double()
    best = torch.zeros(n.shape, dtype=torch.long, device=n.device)
    best_F = torch.full(n.shape, math.inf, dtype=torch.float64, device=n.device)
    for a in range(len(L)):
        Fa = n64 * float(L[a]) + float(lam[a]) * n64.log() + (0.0 if c is None else float(c[a]))
        better = Fa < best_F
        best = torch.where(better, torch.full_like(best, a), best)
        best_F = torch.where(better, Fa, best_F)
    return best


def _F(n, L, lam, c):
    c = torch.zeros_like(L) if c is None else c
    return n[..., None] * L + lam * n.log()[..., None] + c


PREFERRED_MISTAKES = {
    "argmax (the largest F)": lambda n, L, lam, c=None: _F(n, L, lam, c).argmax(-1),
    "log10 n": lambda n, L, lam, c=None: (n[..., None] * L + lam * n.log10()[..., None]
                                          + (0 if c is None else c)).argmin(-1),
    "c dropped": lambda n, L, lam, c=None: _F(n, L, lam, None).argmin(-1),
    "L and lam swapped": lambda n, L, lam, c=None: _F(n, lam, L, c).argmin(-1),
    "a float tensor of indices": lambda n, L, lam, c=None: _F(n, L, lam, c).argmin(-1).double(),
    "n flattened": lambda n, L, lam, c=None: _F(n.reshape(-1), L, lam, c).argmin(-1),
}


@pytest.mark.parametrize("variant", [preferred_loop, preferred_running_min])
def test_preferred_phase_variants_pass(variant):
    assert failures("phases.preferred_phase", variant) == []


@pytest.mark.parametrize("name", sorted(PREFERRED_MISTAKES))
def test_preferred_phase_mistakes_fail(name):
    assert wrong_visible("phases.preferred_phase", PREFERRED_MISTAKES[name]), name


def test_preferred_phase_largest_F_hint():
    messages = wrong_visible("phases.preferred_phase", PREFERRED_MISTAKES["argmax (the largest F)"])
    assert sum("largest F" in m for m in messages) >= 3, messages
    # the hint names argmax only when the output is the largest F at every n: with two phases any wrong entry is
    # the largest F, so an entry alone does not tell argmax from another mistake
    for name in ("log10 n", "c dropped", "L and lam swapped"):
        assert not any("largest F" in m for m in wrong_visible("phases.preferred_phase", PREFERRED_MISTAKES[name]))


# ============================================================================ grid_basin_masses


def _left_of(w, boundary):
    left = w < boundary
    if not bool(left.any()) or bool(left.all()):
        raise ValueError("boundary must have grid points on both sides")
    return left


def masses_one_minus(w, loss, n, boundary):
    """Correct: column 1 as 1 − column 0."""
    left = _left_of(w, boundary)
    x = -n.to(loss)[:, None] * loss
    p0 = torch.exp(torch.logsumexp(x[:, left], 1) - torch.logsumexp(x, 1))
    return torch.stack([p0, 1 - p0], 1)


def masses_max_shift(w, loss, n, boundary):
    """Correct: the log-sum-exp by hand, shifting by the largest exponent of each row."""
    left = _left_of(w, boundary)
    x = -n.to(loss)[:, None] * loss
    x = x - x.max(dim=1, keepdim=True).values  # every row now has a 0, so no sum underflows to 0
    e = x.exp()
    total = e.sum(1)
    return torch.stack([e[:, left].sum(1) / total, e[:, ~left].sum(1) / total], 1)


def masses_loop_softmax(w, loss, n, boundary):
    """Correct: a softmax per n, in a loop, masked sums."""
    left = _left_of(w, boundary)
    rows = []
    for nk in n:
        p = torch.softmax(-nk * loss, dim=0)
        rows.append(torch.stack([p[left].sum(), p[~left].sum()]))
    return torch.stack(rows)


def _masses_with(*, logs=True, left_rule=lambda w, b: w < b, swap=False, validate=True):
    def f(w, loss, n, boundary):
        left = left_rule(w, boundary)
        if validate and (not bool(left.any()) or bool(left.all())):
            raise ValueError("boundary")
        x = -n.to(loss)[:, None] * loss
        if logs:
            total = torch.logsumexp(x, 1)
            m0, m1 = (torch.logsumexp(x[:, left], 1) - total).exp(), (torch.logsumexp(x[:, ~left], 1) - total).exp()
        else:
            e = x.exp()
            m0, m1 = e[:, left].sum(1) / e.sum(1), e[:, ~left].sum(1) / e.sum(1)
        return torch.stack([m1, m0] if swap else [m0, m1], 1)

    return f


MASSES_MISTAKES = {
    "no log-sum-exp (0/0 = NaN at large n)": _masses_with(logs=False),
    "the boundary point in the first basin (w <= boundary)": _masses_with(left_rule=lambda w, b: w <= b),
    "the columns swapped": _masses_with(swap=True),
    "no validation": _masses_with(validate=False),
}


def masses_min_loss_shift(w, loss, n, boundary):
    """Correct: plain sums of e^(−n (L − min L)). The largest exponent of every row is then 0 (the max-shift of the
    log-sum-exp, the same for every n), so nothing underflows to 0/0."""
    return _masses_with(logs=False)(w, loss - loss.min(), n, boundary)


@pytest.mark.parametrize("variant", [masses_one_minus, masses_max_shift, masses_loop_softmax,
                                     masses_min_loss_shift])
def test_grid_basin_masses_variants_pass(variant):
    assert failures("phases.grid_basin_masses", variant) == []


@pytest.mark.parametrize("name", sorted(MASSES_MISTAKES))
def test_grid_basin_masses_mistakes_fail(name):
    wrong = wrong_visible("phases.grid_basin_masses", MASSES_MISTAKES[name])
    assert wrong, name
    if name.startswith("no log-sum-exp"):
        assert any("nan" in m.lower() for m in wrong), wrong


# ============================================================================ phase_sequence


def _F_at(n, L, lam, a):
    return n * float(L[a]) + float(lam[a]) * math.log(n)


def sequence_grid(L, lam):
    """Correct, another method: preferred_phase on a dense log grid of n, each change of phase located by
    bisection down to a cell of 1e-6 relative (no two switches are that close), then Brent's method on log n."""
    L, lam = torch.as_tensor(L, dtype=torch.float64), torch.as_tensor(lam, dtype=torch.float64)
    grid = torch.logspace(math.log10(math.e), 16, 4000, dtype=torch.float64)
    pref = phases.preferred_phase(grid, L, lam).tolist()
    if pref[-1] != int(L.argmin()):
        raise RuntimeError("the grid ends before the most accurate phase is preferred")

    def phase_at(n):
        return int(phases.preferred_phase(torch.tensor(n, dtype=torch.float64), L, lam))

    def changes(n0, p0, n1, p1):
        if p0 == p1:
            return []
        if n1 / n0 - 1 > 1e-6:
            mid = math.sqrt(n0 * n1)
            pm = phase_at(mid)
            return changes(n0, p0, mid, pm) + changes(mid, pm, n1, p1)
        x = brentq(lambda x: _F_at(math.exp(x), L, lam, p0) - _F_at(math.exp(x), L, lam, p1), math.log(n0),
                   math.log(n1), xtol=1e-15, rtol=4 * np.finfo(float).eps)
        return [(math.exp(x), p1)]

    found = []
    for k in range(len(grid) - 1):
        found += changes(float(grid[k]), pref[k], float(grid[k + 1]), pref[k + 1])
    return [pref[0]] + [p for _, p in found], [n for n, _ in found]


def sequence_grid_brent(L, lam):
    """Correct, the plainest grid method: preferred_phase on 2000 points from e to 1e12, Brent's method between the
    phases on either side of each change (no two switches fall in one cell of these cases)."""
    grid = torch.logspace(math.log10(math.e), 12, 2000, dtype=torch.float64)
    pref = phases.preferred_phase(grid, L, lam).tolist()
    seq, switches = [pref[0]], []
    for k in range(len(grid) - 1):
        a, b = pref[k], pref[k + 1]
        if a != b:
            x = brentq(lambda x: _F_at(math.exp(x), L, lam, a) - _F_at(math.exp(x), L, lam, b),
                       math.log(grid[k]), math.log(grid[k + 1]), xtol=1e-14)
            seq.append(b)
            switches.append(math.exp(x))
    return seq, switches


def _n_of_t(t):
    """The larger n with n / log n = t (t > e): log n = −W₋₁(−1/t)."""
    return math.exp(-lambertw(-1 / t, -1).real)


def sequence_hull(L, lam):
    """Correct, another method: the lower convex hull of the points (L_α, λ_α) (Andrew's monotone chain), walked
    from the phase preferred at n = e towards smaller L; each edge's t = −slope gives n by n / log n = t."""
    pts = sorted((float(l), float(m), a) for a, (l, m) in enumerate(zip(L.tolist(), lam.tolist())))
    hull = []
    for p in pts:
        while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1])
                                  - (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0])) <= 0:
            hull.pop()
        hull.append(p)
    start = min(range(len(pts)), key=lambda i: math.e * pts[i][0] + pts[i][1])
    k = next(i for i, h in enumerate(hull) if h[2] == pts[start][2])
    seq, switches = [hull[k][2]], []
    for i in range(k, 0, -1):  # leftwards: smaller L, larger λ
        (l1, m1, _), (l0, m0, a0) = hull[i], hull[i - 1]
        seq.append(a0)
        switches.append(_n_of_t((m0 - m1) / (l1 - l0)))
    return seq, switches


def _sequence_with(*, start="e", hull=True, branch=-1):
    """The reference's walk (the earliest switch t = Δλ/ΔL to a phase of smaller L), with one thing changed. It
    works with t, not critical_n, which raises where a mistake asks for a switch that does not exist."""
    def f(L, lam):
        A = len(L)
        if start == "e":
            cur = int((math.e * L + lam).argmin())
        else:  # the simplest phase
            cur = int(lam.argmin())
        seq = [cur]
        if not hull:  # every phase with larger λ and smaller L, in order of λ
            for a in sorted(range(A), key=lambda a: float(lam[a])):
                if lam[a] > lam[seq[-1]] and L[a] < L[seq[-1]]:
                    seq.append(a)
        else:
            while True:
                a = seq[-1]
                cand = [(float((lam[b] - lam[a]) / (L[a] - L[b])), b) for b in range(A) if L[b] < L[a]]
                if not cand:
                    break
                seq.append(min(cand)[1])
        switches = []
        for a, b in zip(seq, seq[1:]):
            dL, dlam = float(L[a] - L[b]), float(lam[b] - lam[a])
            switches.append(float(-lambertw(-dL / dlam, branch).real * dlam / dL))
        return seq, switches

    return f


SEQUENCE_MISTAKES = {
    "starts at the smallest λ": _sequence_with(start="simplest"),
    "every phase with larger λ and smaller L (no convex hull)": _sequence_with(hull=False),
    "switches at the smaller root": _sequence_with(branch=0),
}


@pytest.mark.parametrize("variant", [sequence_grid, sequence_grid_brent, sequence_hull,
                                     _sequence_with()])
def test_phase_sequence_variants_pass(variant):
    assert failures("phases.phase_sequence", variant) == []


@pytest.mark.parametrize("name", sorted(SEQUENCE_MISTAKES))
def test_phase_sequence_mistakes_fail(name):
    assert wrong_visible("phases.phase_sequence", SEQUENCE_MISTAKES[name]), name


def test_phase_sequence_starting_at_the_simplest_phase_with_critical_n_fails():
    """Written with critical_n, that mistake asks for a switch with no crossing: the ValueError is the verdict."""
    def simplest_first(L, lam):
        seq, switches = [int(lam.argmin())], []
        while True:
            cand = [(phases.critical_n(float(L[seq[-1]]), float(lam[seq[-1]]), float(L[b]), float(lam[b])), b)
                    for b in range(len(L)) if L[b] < L[seq[-1]]]
            if not cand:
                return seq, switches
            n, b = min(cand)
            seq.append(b)
            switches.append(n)

    assert any("no crossing" in m for m in wrong_visible("phases.phase_sequence", simplest_first))


def test_phase_sequence_hints():
    first = wrong_visible("phases.phase_sequence", SEQUENCE_MISTAKES["starts at the smallest λ"])
    assert any("preferred at n = e" in m for m in first), first
    never = wrong_visible("phases.phase_sequence",
                          SEQUENCE_MISTAKES["every phase with larger λ and smaller L (no convex hull)"])
    assert any("is never preferred" in m for m in never), never
    small = wrong_visible("phases.phase_sequence", SEQUENCE_MISTAKES["switches at the smaller root"])
    assert small and all(m.startswith("switches:") and "the larger root" in m for m in small), small


# ============================================================================ segment_integral


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(3)  # exact for polynomials of degree <= 5


def segment_gauss(delta, a, b):
    """Correct: Gauss–Legendre on each polynomial piece, [0, k] and [k, 1], k the kink clamped to [0, 1]."""
    a, b = torch.broadcast_tensors(a, b)
    safe = torch.where(a == 0, torch.ones_like(a), a)
    k = torch.where(a == 0, torch.zeros_like(a), (-b / safe).clamp(0, 1))
    nodes = torch.as_tensor(_GL_NODES, dtype=a.dtype, device=a.device)
    weights = torch.as_tensor(_GL_WEIGHTS, dtype=a.dtype, device=a.device)
    total = 0
    for lo, hi in ((torch.zeros_like(k), k), (k, torch.ones_like(k))):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        for x, wt in zip(nodes, weights):
            mu = mid + half * x
            total = total + wt * half * (delta * mu - torch.relu(a * mu + b)) ** 2
    return total


def segment_loop(delta, a, b):
    """Correct: a loop over the entries, with the on-interval by cases and the antiderivative evaluated at its ends."""
    delta_t = torch.as_tensor(delta, dtype=a.dtype, device=a.device)
    d, a_b, b_b = torch.broadcast_tensors(delta_t, a, b)
    out = torch.empty(a_b.shape, dtype=a.dtype, device=a.device)
    for idx in np.ndindex(*a_b.shape):
        dd, aa, bb = float(d[idx]), float(a_b[idx]), float(b_b[idx])
        if bb >= 0 and aa + bb >= 0:
            p, q = 0.0, 1.0
        elif bb < 0 < aa + bb:
            p, q = -bb / aa, 1.0
        elif bb > 0 > aa + bb:
            p, q = 0.0, -bb / aa
        else:
            p, q = 0.0, 0.0

        def on(m):  # ∫ ((δ − a)μ − b)² − (δμ)² dμ, the on-part's excess over the off integrand
            s = dd - aa
            return s * s * m**3 / 3 - s * bb * m * m + bb * bb * m - dd * dd * m**3 / 3

        out[idx] = dd * dd / 3 + on(q) - on(p)
    return out


def _segment_with(*, relu=True, side="right", square=True):
    def f(delta, a, b):
        d2 = delta**2 if square else delta
        if not relu:
            return d2 / 3 - 2 * delta * (a / 3 + b / 2) + a**2 / 3 + a * b + b**2
        interior = (a * b < 0) & (b.abs() < a.abs())
        full = (b >= 0) & (a + b >= 0)
        mu0 = -b / torch.where(interior, a, torch.ones_like(a))
        zero, one = torch.zeros_like(mu0), torch.ones_like(mu0)
        if side == "right":
            p = torch.where(interior & (a > 0), mu0, zero)
            q = torch.where(interior & (a < 0), mu0, torch.where(full | interior, one, zero))
        else:  # always [mu0, 1] where the kink is inside, whatever the sign of a
            p = torch.where(interior, mu0, zero)
            q = torch.where(full | interior, one, zero)
        m0, m1, m2 = q - p, (q**2 - p**2) / 2, (q**3 - p**3) / 3
        return d2 / 3 - 2 * delta * (a * m2 + b * m1) + a**2 * m2 + 2 * a * b * m1 + b**2 * m0

    return f


SEGMENT_MISTAKES = {
    "the ReLU ignored": _segment_with(relu=False),
    "the on-part on [mu0, 1] also when a < 0": _segment_with(side="wrong"),
}


@pytest.mark.parametrize("variant", [segment_gauss, segment_loop, _segment_with()])
def test_segment_integral_variants_pass(variant):
    assert failures("tms.segment_integral", variant) == []


@pytest.mark.parametrize("name", sorted(SEGMENT_MISTAKES))
def test_segment_integral_mistakes_fail(name):
    assert wrong_visible("tms.segment_integral", SEGMENT_MISTAKES[name]), name
    # the edges case and the on-everywhere case have no entry with a < 0 and the kink inside: the wrong side
    # cannot show there
    blind = ("the edges", "on everywhere although a < 0") if name.startswith("the on-part") else ()
    assert all(label.startswith(blind) for label in missed("tms.segment_integral", SEGMENT_MISTAKES[name]))


def test_segment_integral_delta_instead_of_delta_squared_fails_the_fractional_case():
    """δ/3 for δ²/3 is right for δ ∈ {0, 1} and wrong for a fractional δ: a visible case and a hidden one."""
    misses = missed("tms.segment_integral", _segment_with(square=False))
    assert "a fractional delta" not in misses
    assert wrong_visible("tms.segment_integral", _segment_with(square=False))


def test_segment_integral_quadrature_across_the_kink_fails():
    """One Gauss–Legendre rule on all of [0, 1] (straddling the kink) is not exact: the notes say it fails."""
    def straddling(delta, a, b):
        mu = torch.as_tensor((_GL_NODES + 1) / 2, dtype=a.dtype)
        wts = torch.as_tensor(_GL_WEIGHTS / 2, dtype=a.dtype)
        return sum(w * (delta * m - torch.relu(a * m + b)) ** 2 for m, w in zip(mu, wts))

    assert wrong_visible("tms.segment_integral", straddling)


# ============================================================================ population_loss


def _check_w(w, c):
    if w.ndim < 1 or w.shape[-1] != 3 * c:
        raise ValueError(f"w must have shape (..., {3 * c})")


def population_loops(w, c=6):
    """Correct: explicit loops over rows, i and j, tms.segment_integral on 0-d tensors."""
    _check_w(w, c)
    rows = w.reshape(-1, 3 * c)
    out = []
    for row in rows:
        W, b = row[: 2 * c].reshape(2, c), row[2 * c:]
        total = torch.zeros((), dtype=w.dtype, device=w.device)
        for i in range(c):
            for j in range(c):
                total = total + tms.segment_integral(1.0 if i == j else 0.0, W[:, j] @ W[:, i], b[j])
        out.append(total / c)
    return torch.stack(out).reshape(w.shape[:-1])


def population_einsum(w, c=6):
    """Correct: A by einsum, the target's δ_ij by broadcasting a Python float per diagonal."""
    _check_w(w, c)
    W = w[..., : 2 * c].reshape(*w.shape[:-1], 2, c)
    b = w[..., 2 * c:]
    A = torch.einsum("...rj,...ri->...ji", W, W)
    off = tms.segment_integral(0.0, A, b.unsqueeze(-1).expand_as(A))
    diag = tms.segment_integral(1.0, A.diagonal(dim1=-2, dim2=-1), b)
    return (off.sum((-2, -1)) - off.diagonal(dim1=-2, dim2=-1).sum(-1) + diag.sum(-1)) / c


def _population_with(*, per_c=True, pair="j", reduce="sum", validate=True, target="eye", gram="WtW"):
    def f(w, c=6):
        if validate:
            _check_w(w, c)
        W = w[..., : 2 * c].unflatten(-1, (2, c))
        b = w[..., 2 * c:]
        A = W.transpose(-1, -2) @ W if gram == "WtW" else W @ W.transpose(-1, -2)
        delta = (torch.eye if target == "eye" else lambda c, **k: torch.ones(c, c, **k))(c, dtype=w.dtype,
                                                                                         device=w.device)
        bb = b[..., :, None] if pair == "j" else b[..., None, :]
        I = tms.segment_integral(delta, A, bb)
        if reduce == "diagonal":
            total = I.diagonal(dim1=-2, dim2=-1).sum(-1)
        else:
            total = I.sum((-2, -1)) if reduce == "sum" else I.mean((-2, -1))
        return total / c if per_c else total

    return f


POPULATION_MISTAKES = {
    "1/c forgotten": _population_with(per_c=False),
    "a mean over i and j instead of the sum": _population_with(per_c=False, reduce="mean"),
    "a mean over i and j, then 1/c": _population_with(reduce="mean"),
    "a target of 1 for every output": _population_with(target="ones"),
    "only the outputs j = i": _population_with(reduce="diagonal"),
    "W Wᵀ instead of Wᵀ W": _population_with(gram="WWt"),
    "no validation": _population_with(validate=False),
}


@pytest.mark.parametrize("variant", [population_loops, population_einsum, _population_with()])
def test_population_loss_variants_pass(variant):
    assert failures("tms.population_loss", variant) == []


def test_population_loss_pairing_b_i_is_the_same_loss():
    """I(δ_ij, A_ji, b_i) for I(δ_ij, A_ji, b_j): A and δ are symmetric, so swapping the names i, j turns one double
    sum into the other. Not a mistake (the check's notes say so); it must pass."""
    assert failures("tms.population_loss", _population_with(pair="i")) == []


@pytest.mark.parametrize("name", sorted(POPULATION_MISTAKES))
def test_population_loss_mistakes_fail(name):
    wrong = POPULATION_MISTAKES[name]
    assert wrong_visible("tms.population_loss", wrong), name
    if name != "no validation":
        # the 4-gon's outputs j != i are all off (A_ji <= 0, b = 0): dropping them changes nothing there
        blind = ("a point on a ReLU kink",) if name == "only the outputs j = i" else ()
        assert all(label.startswith(blind) for label in missed("tms.population_loss", wrong, errors=False))


# ============================================================================ stage_boundaries


def _validated(steps, losses):
    t = np.asarray(torch.as_tensor(steps, dtype=torch.float64))
    L = np.asarray(torch.as_tensor(losses, dtype=torch.float64))
    if t.ndim != 1 or L.shape != t.shape or not np.all(np.diff(t) > 0) or t[0] < 0 or not np.all(L > 0):
        raise ValueError("steps must increase from 0 or more, and losses be positive")
    return t, L


def _runs(moving):
    """(start, end) of each run of consecutive True entries, end inclusive."""
    out, k = [], 0
    while k < len(moving):
        if moving[k]:
            end = k
            while end + 1 < len(moving) and moving[end + 1]:
                end += 1
            out.append((k, end))
            k = end + 1
        else:
            k += 1
    return out


def stages_smoothed_rate(steps, losses):
    """Correct, another rule: the derivative of log L against log(1 + t), smoothed by a (1, 2, 1)/4 filter,
    thresholded at 0.1; a run is a drop if the loss falls by more than 10% over it; the boundary is after the
    interval of largest smoothed rate."""
    t, L = _validated(steps, losses)
    rate = -np.diff(np.log(L)) / np.diff(np.log1p(t))
    padded = np.concatenate([rate[:1], rate, rate[-1:]])
    smooth = (padded[:-2] + 2 * padded[1:-1] + padded[2:]) / 4
    return [int(s + np.argmax(smooth[s:e + 1]) + 1) for s, e in _runs(smooth > 0.1) if L[e + 1] < 0.9 * L[s]]


def stages_halfway(steps, losses):
    """Correct, another rule: a drop is a run of intervals falling faster than 0.1 per unit of log(1 + t) that
    loses more than 10%; its boundary is the first checkpoint whose log loss is past the halfway point."""
    t, L = _validated(steps, losses)
    logL = np.log(L)
    rate = -np.diff(logL) / np.diff(np.log1p(t))
    out = []
    for s, e in _runs(rate > 0.1):
        if L[e + 1] < 0.9 * L[s]:
            half = (logL[s] + logL[e + 1]) / 2
            out.append(int(s + np.argmax(logL[s:e + 2] < half)))
    return out


def stages_per_decade(steps, losses):
    """Correct, in decades: the fall of log10 L per decade of 1 + t above 0.1 (0.043 per e-fold), more than 10%."""
    t, L = _validated(steps, losses)
    rate = -np.diff(np.log10(L)) / np.diff(np.log10(1 + t))
    return [int(s + np.argmax(rate[s:e + 1]) + 1) for s, e in _runs(rate > 0.1) if L[e + 1] < 0.9 * L[s]]


def _stages_with(*, time="log", min_drop=0.1, every_fall=False, validate=True):
    def f(steps, losses):
        if validate:
            t, L = _validated(steps, losses)
        else:
            t, L = np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)
        if every_fall:
            return [k + 1 for k in range(len(L) - 1) if L[k + 1] < L[k]]
        x = np.log1p(t) if time == "log" else t
        with np.errstate(divide="ignore", invalid="ignore"):  # log 0 without the validation
            rate = -np.diff(np.log(L)) / np.diff(x)
        return [int(s + np.argmax(rate[s:e + 1]) + 1) for s, e in _runs(rate > 0.1)
                if L[e + 1] < (1 - min_drop) * L[s]]

    return f


STAGE_MISTAKES = {
    "every interval whose loss falls": _stages_with(every_fall=True),
    "linear time": _stages_with(time="linear"),
    "no minimum drop (noise counts)": _stages_with(min_drop=0.0),
    "no validation": _stages_with(validate=False),
}


@pytest.mark.parametrize("variant", [stages_smoothed_rate, stages_halfway, stages_per_decade,
                                     _stages_with()])
def test_stage_boundaries_variants_pass(variant):
    assert failures("tms.stage_boundaries", variant) == []


@pytest.mark.parametrize("name", sorted(STAGE_MISTAKES))
def test_stage_boundaries_mistakes_fail(name):
    assert wrong_visible("tms.stage_boundaries", STAGE_MISTAKES[name]), name


@pytest.mark.parametrize("min_rate, min_drop", [(0.05, 0.1), (0.2, 0.1), (0.1, 0.2), (0.3, 0.15)])
def test_stage_boundaries_other_thresholds_pass(min_rate, min_drop):
    """Graded by outcome: the reference's rule with other reasonable thresholds passes too."""
    assert passes("tms.stage_boundaries",
                  lambda steps, losses: tms.stage_boundaries(steps, losses, min_drop=min_drop, min_rate=min_rate))


def test_stage_boundaries_noise_hint():
    messages = wrong_visible("tms.stage_boundaries", STAGE_MISTAKES["no minimum drop (noise counts)"])
    assert any("a wiggle of the noise" in m for m in messages), messages


def test_stage_boundaries_truth_is_past_the_middle_of_each_drop():
    """The synthetic runs' boundaries: the first checkpoint whose log10(1 + t) is past the drop's centre."""
    steps, losses, truth = tms_chk.synthetic_run((0.11, 0.069), (2.5,), 1)
    x = np.log10(1 + np.asarray(steps))
    assert len(truth) == 1 and x[truth[0]] > 2.5 >= x[truth[0] - 1]
    assert tms.stage_boundaries(steps, losses) == truth


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_references_pass_on_cuda():
    for exercise_id, fn in REFERENCES:
        for suite in SUITES:
            assert check(exercise_id, fn, suite, device="cuda").passed
