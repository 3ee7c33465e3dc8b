"""slt_lessons.phases against root-finding on the defining equations and adaptive quadrature."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special

from slt_lessons import phases as ph


def _f64(x):
    return torch.as_tensor(x, dtype=torch.float64)


def _gap(n, L1, lam1, L2, lam2, c1=0.0, c2=0.0):
    """F_1 − F_2 with F_α = n L_α + λ_α log n + c_α."""
    return n * (L1 - L2) + (lam1 - lam2) * math.log(n) + c1 - c2


# ---------------------------------------------------------------------------- reference by quadrature


def quad_free_energies(n, delta, lo=-1.0, hi=3.0):
    """−log ∫_basin (1/(hi − lo)) e^{−nL} by scipy.integrate.quad, cut at the minimum and at ±5 widths.

    The constant nL_α is taken out of the integrand (e^{−nδ} underflows at large n)."""
    b = optimize.brentq(lambda w: (w - 2) ** 2 - w**4 - delta, 0.0, 2.0, xtol=1e-15)

    def integral(f, a, c, m, width):
        cuts = [m - 5 * width, m, m + 5 * width] if n > 0 else [m]
        pts = [a] + [p for p in cuts if a < p < c] + [c]
        return sum(integrate.quad(f, p, q, epsabs=0, epsrel=1e-13, limit=200)[0] for p, q in zip(pts[:-1], pts[1:]))

    Z1 = integral(lambda w: math.exp(-n * w**4), lo, b, 0.0, n ** -0.25 if n > 0 else 1)
    Z2 = integral(lambda w: math.exp(-n * (w - 2) ** 2), b, hi, 2.0, n ** -0.5 if n > 0 else 1)
    return np.array([n * delta - math.log(Z1), -math.log(Z2)]) + math.log(hi - lo)


# ---------------------------------------------------------------------------- critical_n


@pytest.mark.parametrize(
    "L1, lam1, L2, lam2, c1, c2",
    [(0.05, 0.25, 0.0, 0.5, 0.0, 0.0), (1.3, 2.0, 1.0, 7.0, 0.0, 0.0), (1e-4, 0.5, 0.0, 1.5, 0.0, 0.0),
     (0.05, 0.25, 0.0, 0.5, 0.1, 0.05), (0.2, 1.0, 0.1, 3.0, -1.0, 2.0)],
)
def test_critical_n_solves_the_crossing_equation_at_its_larger_root(L1, lam1, L2, lam2, c1, c2):
    nc = ph.critical_n(L1, lam1, L2, lam2, c1=c1, c2=c2)
    gap = lambda n: _gap(n, L1, lam1, L2, lam2, c1, c2)  # noqa: E731
    # independent: F_1 − F_2 is convex in n with its minimum at n* = Δλ/ΔL; the larger root is past n*
    n_star = (lam2 - lam1) / (L1 - L2)
    assert gap(n_star) < 0
    hi = n_star
    while gap(hi) <= 0:
        hi *= 2
    ref = optimize.brentq(gap, n_star, hi, xtol=1e-14, rtol=1e-14)
    assert nc == pytest.approx(ref, rel=1e-10)
    assert nc > n_star and gap(0.99 * nc) < 0 < gap(1.01 * nc)  # phase 1 before n_c, phase 2 after


def test_critical_n_lambert_condition():
    # n ΔL = Δλ log n has real roots iff ΔL/Δλ <= 1/e; at equality they merge at n = e
    assert ph.critical_n(math.exp(-1), 0.0, 0.0, 1.0) == pytest.approx(math.e)
    nc = ph.critical_n(math.exp(-1) * (1 - 1e-6), 0.0, 0.0, 1.0)
    assert math.e < nc < math.e * 1.01
    with pytest.raises(ValueError, match="no crossing"):
        ph.critical_n(math.exp(-1) * (1 + 1e-9), 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="no crossing"):
        ph.critical_n(0.1, 0.25, 0.0, 0.5)  # ΔL/Δλ = 0.4 > 1/e: the minimum of F_1 − F_2 is 0.25(1 + log 0.4) > 0
    # the constants shift the condition to (ΔL/Δλ) e^{Δc/Δλ} <= 1/e
    assert ph.critical_n(0.1, 0.25, 0.0, 0.5, c1=-0.1) > 0  # 0.4 e^{−0.4} < 1/e
    with pytest.raises(ValueError, match="no crossing"):
        ph.critical_n(0.05, 0.25, 0.0, 0.5, c1=0.5)  # 0.2 e^2 > 1/e


@pytest.mark.parametrize(
    "args, kwargs, match",
    [((0.0, 0.25, 0.0, 0.5), {}, "L1 must be larger than L2"),
     ((-0.1, 0.25, 0.0, 0.5), {}, "L1 must be larger than L2"),
     ((0.05, 0.5, 0.0, 0.5), {}, "lam1 must be smaller than lam2"),
     ((0.05, 0.75, 0.0, 0.5), {}, "lam1 must be smaller than lam2"),
     ((float("nan"), 0.25, 0.0, 0.5), {}, "L1"),
     ((0.05, float("inf"), 0.0, 0.5), {}, "lam1"),
     ((0.05, 0.25, "x", 0.5), {}, "L2"),
     ((0.05, 0.25, 0.0, 0.5), {"c2": float("nan")}, "c2")],
)
def test_critical_n_rejects_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ph.critical_n(*args, **kwargs)


# ---------------------------------------------------------------------------- preferred_phase


def test_preferred_phase_switches_at_the_two_roots():
    L, lam = [0.05, 0.0], [0.25, 0.5]
    nc = ph.critical_n(L[0], lam[0], L[1], lam[1])
    n_small = math.exp(-float(special.lambertw(-0.2, 0).real))  # the smaller root, in (1, e)
    n = _f64([[1.0, 0.5 * (n_small + math.e)], [0.9 * nc, 1.1 * nc]])
    assert ph.preferred_phase(n, L, lam).tolist() == [[1, 0], [0, 1]]
    # three phases, vectorised: the simplest wins first, then the middle one, then the most accurate
    L3, lam3 = [0.1, 0.01, 0.0], [0.5, 1.0, 5.0]
    n = torch.logspace(0, 6, 200, dtype=torch.float64)
    F = n[:, None] * _f64(L3) + _f64(lam3) * n.log()[:, None]
    assert torch.equal(ph.preferred_phase(n, L3, lam3), F.argmin(dim=1))
    assert set(ph.preferred_phase(n, L3, lam3).tolist()) == {0, 1, 2}


def test_preferred_phase_ties_go_to_the_first_listed_and_c_shifts():
    assert ph.preferred_phase(_f64([10.0]), [0.1, 0.1], [1.0, 1.0]).tolist() == [0]
    assert ph.preferred_phase(_f64(10.0), [0.1, 0.1], [1.0, 1.0], c=[0.0, -1e-3]).item() == 1


@pytest.mark.parametrize(
    "n, L, lam, c, match",
    [([0.0, 1.0], [0, 1], [1, 0], None, "n must be positive"), ([float("nan")], [0, 1], [1, 0], None, "n"),
     ([1.0], [[0, 1]], [1, 0], None, "L must be 1-D"), ([1.0], [], [], None, "L must not be empty"),
     ([1.0], [0, 1], [1, 0, 2], None, "L and lam"), ([1.0], [0, 1], [1, 0], [0.0], "L and c"),
     ([1.0], [0, float("inf")], [1, 0], None, "L must be finite")],
)
def test_preferred_phase_rejects_bad_input(n, L, lam, c, match):
    with pytest.raises(ValueError, match=match):
        ph.preferred_phase(_f64(n), L, lam, c)


# ---------------------------------------------------------------------------- the two-basin potential


def test_potential_and_basin_boundary():
    for delta in [0.0, 0.05, 0.2, 3.9]:
        b = ph.basin_boundary(delta)
        assert 0 < b <= 1 and b**4 + delta == pytest.approx((b - 2) ** 2, abs=1e-13)
        L = ph.two_basin_potential(delta)
        w = _f64([-1.0, 0.0, b - 1e-6, b + 1e-6, 2.0, 3.0])
        expected = [min(x**4 + delta, (x - 2) ** 2) for x in w.tolist()]
        assert L(w).tolist() == pytest.approx(expected, abs=1e-15)
        assert L(_f64(0.0)).item() == delta and L(_f64(2.0)).item() == 0.0
    assert ph.basin_boundary(0.0) == pytest.approx(1.0, abs=1e-14)  # w⁴ = (2 − w)²  ⟺  w² = 2 − w


@pytest.mark.parametrize("delta", [0.01, 0.05, 0.2])
def test_basin_free_energies_match_adaptive_quadrature(delta):
    n = [0.0, 1e-3, 0.3, 1.0, 3.0, 10.0, 50.0, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7]
    F = ph.basin_free_energies(_f64(n), delta, device="cpu").numpy()
    ref = np.array([quad_free_energies(x, delta) for x in n])
    np.testing.assert_allclose(F, ref, rtol=1e-13, atol=1e-10)


def test_basin_free_energies_on_another_prior_and_shape():
    n = _f64([[0.0, 2.0, 40.0], [1e3, 1e5, 1e6]])
    F = ph.basin_free_energies(n, 0.0, prior=(-0.5, 2.5), device="cpu")
    assert F.shape == (2, 3, 2) and F.dtype == torch.float64
    ref = np.array([quad_free_energies(x, 0.0, -0.5, 2.5) for x in n.reshape(-1).tolist()]).reshape(2, 3, 2)
    np.testing.assert_allclose(F.numpy(), ref, rtol=1e-13, atol=1e-10)


def test_basin_free_energies_approach_the_next_order_formula():
    # ∫_R e^{−n w⁴} = 2Γ(5/4) n^{−1/4}, ∫_R e^{−n u²} = √π n^{−1/2} (checked by quad, independent of
    # the module's constants); the cut-off tails are e^{−n·O(1)}, so at n = 100 nothing else is left.
    for n in [0.5, 7.0]:
        assert integrate.quad(lambda w: math.exp(-n * w**4), -np.inf, np.inf, epsrel=1e-13)[0] == pytest.approx(
            2 * math.gamma(1.25) * n**-0.25, rel=1e-11)
        assert integrate.quad(lambda u: math.exp(-n * u * u), -np.inf, np.inf, epsrel=1e-13)[0] == pytest.approx(
            math.sqrt(math.pi / n), rel=1e-11)
    delta, n = 0.05, 100.0
    F = ph.basin_free_energies(_f64(n), delta, device="cpu").tolist()
    phi = 1 / 4
    assert F[0] == pytest.approx(n * delta + 0.25 * math.log(n) - math.log(phi * 2 * math.gamma(1.25)), abs=1e-12)
    assert F[1] == pytest.approx(0.5 * math.log(n) - math.log(phi * math.sqrt(math.pi)), abs=1e-12)


@pytest.mark.parametrize("delta", [0.01, 0.05])
def test_basin_masses_move_from_the_simple_to_the_accurate_basin(delta):
    b = ph.basin_boundary(delta)
    n = torch.logspace(-2, 6, 400, dtype=torch.float64)
    m = ph.basin_masses(n, delta, device="cpu")
    torch.testing.assert_close(m.sum(-1), torch.ones_like(n), rtol=0, atol=1e-15)
    m0 = ph.basin_masses(_f64(0.0), delta, device="cpu")  # n = 0: the prior masses of [−1, b) and (b, 3]
    torch.testing.assert_close(m0, _f64([(b + 1) / 4, (3 - b) / 4]), rtol=1e-14, atol=0)
    assert m0[0] < 0.5  # basin 2 is the longer interval: at small n it wins
    # the simple basin wins around n = 1/(4δ), where −nδ + ¼ log n is largest; the accurate one at large n
    # (leading order: F_2 − F_1 = −nδ + ¼ log n is largest at n = Δλ/ΔL = 1/(4δ))
    i = int(m[:, 0].argmax())
    assert m[i, 0] > 0.54 and abs(math.log(n[i].item() * 4 * delta)) < 0.05
    assert (m[n > 20 / delta, 1] > 1 - 1e-6).all()
    # one switch each way: basin 1 holds the majority on one interval of n only
    wins = (m[:, 0] > 0.5).int()
    assert int((wins[1:] != wins[:-1]).sum()) == 2


# ---------------------------------------------------------------------------- critical n: exact against the formulas


@pytest.mark.parametrize("delta", [0.01, 0.02, 0.05, 0.09, 0.1])
def test_exact_critical_n_is_where_the_masses_are_equal(delta):
    nc = ph.exact_critical_n(delta)
    m = ph.basin_masses(_f64([nc, 0.95 * nc, 1.05 * nc]), delta, device="cpu")
    assert m[0, 0].item() == pytest.approx(0.5, abs=1e-11)
    assert m[1, 0] > 0.5 > m[2, 0]  # the larger root: basin 1 before it, basin 2 after


# leading order (n_c without the O(1) terms) is low by these fractions; next order within these
LEADING_ORDER_ERROR = {0.01: (0.020, 0.026), 0.02: (0.027, 0.033), 0.05: (0.050, 0.058)}


@pytest.mark.parametrize("delta", sorted(LEADING_ORDER_ERROR))
def test_next_order_critical_n_is_far_closer_than_the_leading_order(delta):
    exact = ph.exact_critical_n(delta)
    lead, nxt = ph.leading_order_critical_n(delta), ph.next_order_critical_n(delta)
    lo, hi = LEADING_ORDER_ERROR[delta]
    assert lo < (exact - lead) / exact < hi
    assert abs(nxt - exact) / exact < 1e-5  # the neglected tails are e^{−O(n_c)}
    # independent: the leading order solves nδ = ¼ log n, the next order the same with log(C1/C2)
    assert _gap(lead, delta, 0.25, 0.0, 0.5) == pytest.approx(0, abs=1e-12)
    assert _gap(nxt, delta, 0.25, 0.0, 0.5, -math.log(2 * math.gamma(1.25)), -0.5 * math.log(math.pi)) == pytest.approx(
        0, abs=1e-12)


def test_where_the_formulas_break_down():
    # δ > 1/(4e) ≈ 0.092: leading order sees no crossing, though the exact posterior has one at δ = 0.1
    with pytest.raises(ValueError, match="no crossing"):
        ph.leading_order_critical_n(0.1)
    exact = ph.exact_critical_n(0.1)
    assert abs(ph.next_order_critical_n(0.1) - exact) / exact < 0.15  # n_c ≈ 3: the tails e^{−O(n)} matter
    # δ = 0.2: the quartic basin never wins, at any n
    for f in (ph.leading_order_critical_n, ph.next_order_critical_n, ph.exact_critical_n):
        with pytest.raises(ValueError, match="no crossing"):
            f(0.2)
    assert (ph.basin_masses(torch.logspace(-2, 4, 300, dtype=torch.float64), 0.2, device="cpu")[:, 0] < 0.5).all()


def test_next_order_phase_prediction_matches_the_exact_posterior():
    delta = 0.02
    nc = ph.exact_critical_n(delta)
    n = torch.logspace(math.log10(2.0), 4, 100, dtype=torch.float64)
    n = n[((n / nc).log().abs() > 0.01)]  # away from the crossing itself
    winner = ph.basin_masses(n, delta, device="cpu").argmax(dim=-1)
    c = [-math.log(2 * math.gamma(1.25)), -0.5 * math.log(math.pi)]
    predicted = ph.preferred_phase(n, [delta, 0.0], [0.25, 0.5], c)
    small = n < 5  # below the small root the prior's unequal basin widths decide, not the asymptotics
    assert torch.equal(predicted[~small], winner[~small])


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("delta", [-0.1, 4.0, float("nan"), "a"])
def test_delta_is_checked(delta):
    with pytest.raises(ValueError, match="delta"):
        ph.two_basin_potential(delta)
    with pytest.raises(ValueError, match="delta"):
        ph.basin_masses(_f64([1.0]), delta)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="delta"):
        ph.exact_critical_n(0.0)  # equal losses: no transition
    with pytest.raises(ValueError, match="delta"):
        ph.leading_order_critical_n(0.0)
    with pytest.raises(ValueError, match="n must be non-negative"):
        ph.basin_masses(_f64([-1.0]), 0.05)
    with pytest.raises(ValueError, match="n must be finite"):
        ph.basin_masses(_f64([float("inf")]), 0.05)
    for prior in [(-2.0, 3.0), (0.5, 3.0), (-1.0, 1.5), (-1.0,), "ab", (-1.0, float("inf"))]:
        with pytest.raises(ValueError, match="prior"):
            ph.basin_masses(_f64([1.0]), 0.05, prior=prior)
