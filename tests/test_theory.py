"""slt_lessons.theory against published values and independent derivations."""

from fractions import Fraction
from itertools import product

import pytest

from slt_lessons import theory


def test_regular_is_half_the_dimension():
    assert theory.regular(1) == Fraction(1, 2)
    assert theory.regular(7) == Fraction(7, 2)
    for bad in (0, -3, 1.5, True, "2"):
        with pytest.raises(ValueError, match="d"):
            theory.regular(bad)


@pytest.mark.parametrize(
    "k, h, expected",
    [
        # Watanabe (2009), ch. 2 examples with the uniform prior
        ([1], None, (Fraction(1, 2), 1)),
        ([3], None, (Fraction(1, 6), 1)),
        ([1, 1], None, (Fraction(1, 2), 2)),
        ([1, 2], None, (Fraction(1, 4), 1)),
        ([2, 2], None, (Fraction(1, 4), 2)),
        ([0, 2], None, (Fraction(1, 4), 1)),  # a coordinate K does not depend on plays no part
        # non-uniform priors |w_i|^{h_i}
        ([1, 1], [1, 0], (Fraction(1, 2), 1)),
        ([1, 2], [0, 1], (Fraction(1, 2), 2)),
        ([1], [Fraction(1, 2)], (Fraction(3, 4), 1)),
    ],
)
def test_normal_crossing_values(k, h, expected):
    lam, m = theory.normal_crossing(k, h)
    assert (lam, m) == expected and isinstance(lam, Fraction) and isinstance(m, int)


@pytest.mark.parametrize(
    "k, h, match",
    [([], None, "k"), ([1, -1], None, "k"), ([0, 0], None, "k"), ([1.5], None, "k"), ([1, 1], [0], "h"), ([1], [-1], "h")],
)
def test_normal_crossing_rejects_bad_input(k, h, match):
    with pytest.raises(ValueError, match=match):
        theory.normal_crossing(k, h)


def test_reduced_rank_regression_published_value():
    # (M, H, N) = (5, 3, 5), r = 0: the odd case of Aoyagi & Watanabe's (2005) theorem, by hand:
    # [2·3·10 − 0 − 9 + 1]/8 = 13/2 with m = 2 (the global λ of the local-vs-global example).
    assert theory.reduced_rank_regression(5, 3, 5, 0) == (Fraction(13, 2), 2)


@pytest.mark.parametrize("M, N", list(product(range(1, 9), repeat=2)))
def test_reduced_rank_one_hidden_unit_is_a_normal_crossing(M, N):
    # H = 1, r = 0: K = ½|a|²|b|². In polar coordinates (radii ρ_a, ρ_b) K = ½ρ_a²ρ_b² with prior
    # density ∝ ρ_a^{M−1} ρ_b^{N−1}: a normal crossing with k = (1, 1), h = (M − 1, N − 1).
    assert theory.reduced_rank_regression(M, 1, N, 0) == theory.normal_crossing([1, 1], [M - 1, N - 1])


@pytest.mark.parametrize("M, N", list(product(range(1, 9), repeat=2)))
def test_reduced_rank_full_rank_truth_is_regular_modulo_symmetry(M, N):
    # r = H <= min(M, N): W_0 is a smooth GL(H)-orbit and K is non-degenerate across it, so
    # λ = (dim of the image of (A, B) ↦ BA)/2 = H(M + N − H)/2 and m = 1.
    for H in range(1, min(M, N) + 1):
        assert theory.reduced_rank_regression(M, H, N, H) == (Fraction(H * (M + N - H), 2), 1)


@pytest.mark.parametrize("args", [(0, 1, 1, 0), (2, 1, 2, 2), (3, 2, 1, 2), (2, 2, 2, -1), (2.0, 1, 1, 0)])
def test_reduced_rank_rejects_bad_input(args):
    with pytest.raises(ValueError):
        theory.reduced_rank_regression(*args)


def test_deep_linear_agrees_with_reduced_rank_for_two_layers_up_to_width_8():
    for M, H, N in product(range(1, 9), repeat=3):
        for r in range(min(M, H, N) + 1):
            assert theory.deep_linear_network([M, H, N], r) == theory.reduced_rank_regression(M, H, N, r), (M, H, N, r)


def test_deep_linear_one_layer_is_regular():
    for M, N in product(range(1, 9), repeat=2):
        for r in range(min(M, N) + 1):
            assert theory.deep_linear_network([M, N], r) == (theory.regular(M * N), 1)


@pytest.mark.parametrize("L", range(1, 7))
def test_deep_linear_scalar_chain(L):
    # all widths 1: K = ½(w_1 ⋯ w_L − c)². With c = 0 a normal crossing with L factors
    # (λ = 1/2, m = L); with c ≠ 0 a smooth hypersurface of W_0 with a non-degenerate normal direction.
    assert theory.deep_linear_network([1] * (L + 1), 0) == theory.normal_crossing([1] * L)
    assert theory.deep_linear_network([1] * (L + 1), 1) == (Fraction(1, 2), 1)


def test_deep_linear_is_at_most_half_the_dimension():
    # λ <= d/2 for any model with d parameters (Watanabe 2009, ch. 7); checked over all depth-3 and 4 networks of widths <= 4
    for L in (3, 4):
        for widths in product(range(1, 5), repeat=L + 1):
            d = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
            for r in range(min(widths) + 1):
                lam, m = theory.deep_linear_network(widths, r)
                assert 0 < lam <= Fraction(d, 2) and m >= 1


@pytest.mark.parametrize("widths, r", [([3], 0), ([2, 0, 2], 0), ([2, 3, 2], 3), ([2, 2], -1), ([2, 2.0], 1)])
def test_deep_linear_rejects_bad_input(widths, r):
    with pytest.raises(ValueError):
        theory.deep_linear_network(widths, r)


def test_tanh_network_published_values():
    # Watanabe (2009): H = 1, 2, 3 give 1/2, 2/3, 5/6; H = 1 and 4 are squares (m = 2)
    assert [theory.tanh_network(H) for H in (1, 2, 3, 4)] == [
        (Fraction(1, 2), 2), (Fraction(2, 3), 1), (Fraction(5, 6), 1), (Fraction(1), 2)]
    with pytest.raises(ValueError, match="H"):
        theory.tanh_network(0)
