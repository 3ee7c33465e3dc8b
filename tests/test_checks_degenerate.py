"""The checks of lesson 3 accept the reference and correct variants, and reject plausible mistakes.

AUTHORING.md rule 4. The theory exercises are also compared with independent implementations of
the published formulas written here (Aoyagi & Watanabe 2005; Aoyagi 2024), on every case.
"""

from __future__ import annotations

import itertools
import math
import re
from fractions import Fraction

import pytest
import torch

from slt_lessons import theory
from slt_lessons.checks import registry
from slt_lessons.checks.runner import collect, judge, passes

IDS = [
    "degenerate.fisher_information",
    "degenerate.numerical_rank",
    "degenerate.reduced_rank_K",
    "degenerate.volume_fraction",
    "degenerate.volume_exponent",
    "degenerate.normal_crossing",
    "degenerate.independent_sum",
    "degenerate.reduced_rank_regression",
    "degenerate.deep_linear_network",
]


def run(exercise_id, fn, suite):
    return judge(exercise_id, collect(exercise_id, fn, suite, device="cpu"), suite, device="cpu")


def value_failures(exercise_id, fn, suites=registry.SUITES):
    """The failed verdicts on cases whose answer is a value (not a ValueError).

    A mistake in the tests below must be caught by these: failing only because it lacks the input
    validation would not show that the checks see the mistake it is named after.
    """
    failed = []
    for suite in suites:
        raising = {c.label for c in registry.get(exercise_id).cases(suite, torch.device("cpu")) if c.raises}
        failed += [v for v in run(exercise_id, fn, suite).verdicts if v.message and v.label not in raising]
    return failed


@pytest.mark.parametrize("suite", registry.SUITES)
@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_passes(exercise_id, suite):
    result = run(exercise_id, registry.get(exercise_id).reference, suite)
    assert result.passed, str(result)
    assert len(result.verdicts) >= 2


# ----------------------------------------------------------------------------- fisher_information


def fisher_einsum(jacobian):
    return torch.einsum("ni,nj->ij", jacobian, jacobian) / jacobian.shape[0]


def fisher_loop(jacobian):
    rows = [torch.outer(j, j) for j in jacobian]
    return torch.stack(rows).mean(dim=0)


def fisher_outer_wrong(jacobian):
    return jacobian @ jacobian.T / jacobian.shape[0]


def fisher_no_mean(jacobian):
    return jacobian.T @ jacobian


def fisher_unbiased(jacobian):
    return jacobian.T @ jacobian / (jacobian.shape[0] - 1)


def fisher_covariance(jacobian):
    centred = jacobian - jacobian.mean(dim=0)
    return centred.T @ centred / jacobian.shape[0]


@pytest.mark.parametrize("variant", [fisher_einsum, fisher_loop])
def test_fisher_variants_pass(variant):
    assert passes("degenerate.fisher_information", variant)


@pytest.mark.parametrize("mistake", [fisher_outer_wrong, fisher_no_mean, fisher_unbiased, fisher_covariance])
def test_fisher_mistakes_fail_visible(mistake):
    assert not run("degenerate.fisher_information", mistake, "visible").passed


def test_tanh_fisher_case_is_singular():
    """The visible tanh case is a true parameter of a singular model: the Fisher information has rank 2 of 4."""
    case = registry.get("degenerate.fisher_information").cases("visible", torch.device("cpu"))[1]
    F = fisher_einsum(case.kwargs["jacobian"])
    s = torch.linalg.svdvals(F)
    assert s[1] > 1e-3 * s[0] and s[2] < 1e-14 * s[0]


# ----------------------------------------------------------------------------- numerical_rank


def rank_gram(matrix, rtol):
    if rtol <= 0:
        raise ValueError(f"rtol must be positive, got {rtol}")
    g = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    s = torch.sqrt(torch.clamp(torch.linalg.eigvalsh(g), min=0))
    return int((s > rtol * s.max()).sum()) if s.numel() else 0


def rank_matrix_rank(matrix, rtol):
    if not rtol > 0:
        raise ValueError("rtol must be > 0")
    return int(torch.linalg.matrix_rank(matrix, rtol=rtol))


def rank_absolute(matrix, rtol):
    return int((torch.linalg.svdvals(matrix) > rtol).sum())


def rank_default_tolerance(matrix, rtol):
    return int(torch.linalg.matrix_rank(matrix))


def rank_as_float(matrix, rtol):
    s = torch.linalg.svdvals(matrix)
    return float((s > rtol * s.max()).sum())


def rank_relative_to_sum(matrix, rtol):
    s = torch.linalg.svdvals(matrix)
    return int((s / s.sum() > 10 * rtol).sum())


@pytest.mark.parametrize("variant", [rank_gram, rank_matrix_rank])
def test_rank_variants_pass(variant):
    assert passes("degenerate.numerical_rank", variant)


@pytest.mark.parametrize("mistake", [rank_absolute, rank_default_tolerance, rank_as_float])
def test_rank_mistakes_fail(mistake):
    assert value_failures("degenerate.numerical_rank", mistake)


def test_rank_cases_have_the_gap_the_notes_promise():
    for suite in registry.SUITES:
        for case in registry.get("degenerate.numerical_rank").cases(suite, torch.device("cpu")):
            if "exactly" in case.label or "zero matrix" in case.label or "empty" in case.label or "ValueError" in case.label:
                continue  # the case on the threshold (see the notes), and the cases with no threshold
            s = torch.linalg.svdvals(case.kwargs["matrix"].double())
            rel = s / s[0]
            rtol = case.kwargs["rtol"]
            kept, dropped = rel[rel > rtol], rel[rel <= rtol]
            assert kept.min() >= 10 * rtol, case.label
            if dropped.numel():
                assert dropped.max() <= rtol / 100, case.label


# ----------------------------------------------------------------------------- reduced_rank_K


def rrr_K_norm(A, B, C):
    return 0.5 * torch.linalg.matrix_norm(torch.matmul(B, A) - C) ** 2


def rrr_K_expanded(A, B, C):
    """½(tr(AᵀBᵀBA) − 2 tr(CᵀBA) + tr(CᵀC)), written out."""
    BA = B @ A
    return 0.5 * ((BA * BA).sum((-2, -1)) - 2 * (C * BA).sum((-2, -1)) + (C * C).sum((-2, -1)))


def rrr_K_no_half(A, B, C):
    return ((B @ A - C) ** 2).sum((-2, -1))


def rrr_K_not_squared(A, B, C):
    return 0.5 * torch.linalg.matrix_norm(B @ A - C)


def rrr_K_mean(A, B, C):
    return 0.5 * ((B @ A - C) ** 2).mean((-2, -1))


def rrr_K_flat_sum(A, B, C):
    return 0.5 * ((B @ A - C) ** 2).sum()


def rrr_K_AB(A, B, C):
    return 0.5 * ((A @ B - C) ** 2).sum((-2, -1))


@pytest.mark.parametrize("variant", [rrr_K_norm])
def test_rrr_K_variants_pass(variant):
    assert passes("degenerate.reduced_rank_K", variant)


def test_rrr_K_expanded_form_passes():
    """The expanded form cancels at a true parameter (~1e-15 instead of ~1e-31): within atol 1e-12."""
    assert passes("degenerate.reduced_rank_K", rrr_K_expanded)


@pytest.mark.parametrize("mistake", [rrr_K_no_half, rrr_K_not_squared, rrr_K_mean, rrr_K_flat_sum, rrr_K_AB])
def test_rrr_K_mistakes_fail(mistake):
    assert value_failures("degenerate.reduced_rank_K", mistake)


# ----------------------------------------------------------------------------- volume_fraction


def vf_loop(K_values, eps):
    if K_values.ndim != 1:
        raise ValueError(f"K_values must be 1-D, got shape {tuple(K_values.shape)}")
    flat = [float((K_values < e).sum()) / K_values.numel() for e in eps.flatten()]
    return torch.tensor(flat, dtype=K_values.dtype, device=K_values.device).reshape(eps.shape)


def vf_sorted(K_values, eps):
    if K_values.dim() != 1:
        raise ValueError("K_values: one value per sample, shape (S,)")
    k_sorted = torch.sort(K_values).values
    return torch.searchsorted(k_sorted, eps, right=False).to(torch.float64) / K_values.numel()


def vf_count(K_values, eps):
    return (K_values[None, :] < eps.reshape(-1, 1)).sum(1).reshape(eps.shape).to(K_values.dtype)


def vf_complement(K_values, eps):
    return (K_values[None, :] > eps.reshape(-1, 1)).to(K_values.dtype).mean(1).reshape(eps.shape)


def vf_flat(K_values, eps):
    return (K_values[None, :] < eps.reshape(-1, 1)).to(K_values.dtype).mean(1)


@pytest.mark.parametrize("variant", [vf_loop, vf_sorted])
def test_volume_fraction_variants_pass(variant):
    assert passes("degenerate.volume_fraction", variant)


@pytest.mark.parametrize("mistake", [vf_count, vf_complement, vf_flat])
def test_volume_fraction_mistakes_fail(mistake):
    assert value_failures("degenerate.volume_fraction", mistake)


# ----------------------------------------------------------------------------- volume_exponent


def vexp_lstsq(eps, V, m=1):
    if eps.shape != V.shape:
        raise ValueError("eps and V must have the same length")
    if m != 1 and not bool(((eps > 0) & (eps < 1)).all()):
        raise ValueError("with m != 1 every eps must lie in (0, 1)")
    x = torch.log(eps)
    X = torch.stack([torch.ones_like(x), x], dim=1)
    y = torch.log(V) - ((m - 1) * torch.log(-x) if m != 1 else 0)
    return torch.linalg.lstsq(X, y[:, None]).solution[1, 0]


def vexp_ignore_m(eps, V, m=1):
    return vexp_lstsq(eps, V, 1)


def vexp_linear_eps(eps, V, m=1):
    x = eps
    y = torch.log(V) - (m - 1) * torch.log(-torch.log(eps))
    xc = x - x.mean()
    return (xc * (y - y.mean())).sum() / (xc**2).sum()


def vexp_inverted(eps, V, m=1):
    y = torch.log(eps)
    x = torch.log(V) - (m - 1) * torch.log(-y)
    xc = x - x.mean()
    return (xc * (y - y.mean())).sum() / (xc**2).sum()


def vexp_log_log_term_sign(eps, V, m=1):
    x = torch.log(eps)
    y = torch.log(V) + (m - 1) * torch.log(-x)
    xc = x - x.mean()
    return (xc * (y - y.mean())).sum() / (xc**2).sum()


def test_volume_exponent_variant_passes():
    assert passes("degenerate.volume_exponent", vexp_lstsq)


@pytest.mark.parametrize("mistake", [vexp_ignore_m, vexp_linear_eps, vexp_inverted, vexp_log_log_term_sign])
def test_volume_exponent_mistakes_fail_visible(mistake):
    assert value_failures("degenerate.volume_exponent", mistake, ["visible"])


# ----------------------------------------------------------------------------- theory: independent formulas


def nc_independent(k, h=None):
    """λ = min over k_i > 0 of (h_i + 1)/(2 k_i), m = how many attain it (Watanabe 2009, normal crossing)."""
    def whole(x):
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    k = list(k)
    h = [0] * len(k) if h is None else list(h)
    if not k or not all(whole(x) for x in k) or max(k) == 0:
        raise ValueError(f"k must be non-negative ints, at least one positive; got {k}")
    if len(h) != len(k) or not all(whole(x) or isinstance(x, Fraction) and x >= 0 for x in h):
        raise ValueError(f"h must hold one non-negative int or Fraction per entry of k; got {h}")
    ratios = {i: Fraction(h[i] + 1, 2 * k[i]) for i in range(len(k)) if k[i] > 0}
    lam = min(ratios.values())
    return lam, sum(1 for v in ratios.values() if v == lam)


def rrr_independent(M, H, N, r):
    """Aoyagi & Watanabe (2005), written from the paper's case list."""
    def is_int(x):
        return type(x) is int

    if not all(is_int(x) and x > 0 for x in (M, H, N)):
        raise ValueError(f"M, H, N must be positive ints, got {M!r}, {H!r}, {N!r}")
    if not is_int(r) or not 0 <= r <= min(M, H, N):
        raise ValueError(f"r must be an int in [0, min(M, H, N)], got {r!r}")
    if N + r <= M + H and M + r <= N + H and H + r <= M + N:
        odd = (M + H + N + r) % 2
        return Fraction(2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2 + odd, 8), 1 + odd
    if M + H < N + r:
        return Fraction(H * M - H * r + N * r, 2), 1
    if N + H < M + r:
        return Fraction(H * N - H * r + M * r, 2), 1
    return Fraction(M * N, 2), 1


def dln_independent(widths, r):
    """Aoyagi (2024), Theorem 1: search the index set Σ among prefixes of the sorted M_j = H_j − r."""
    if len(widths) < 2 or not all(type(w) is int and w > 0 for w in widths):  # a bool is not an int here
        raise ValueError(f"widths must be at least two positive ints, got {widths!r}")
    if type(r) is not int or r < 0 or r > min(widths):
        raise ValueError(f"r must be an int with 0 <= r <= min(widths), got {r!r}")
    M = sorted(w - r for w in widths)
    for ell in range(1, len(M)):
        sigma, rest = M[: ell + 1], M[ell + 1 :]
        S = sum(sigma)
        bound = rest[0] if rest else math.inf
        if max(sigma) < bound and S >= ell * max(sigma) and S < ell * bound:
            break
    else:  # pragma: no cover - the theorem guarantees a Σ
        raise AssertionError(f"no index set for {widths}, r = {r}")
    big_m = -(-S // ell)
    a = S - (big_m - 1) * ell
    cross = sum(x * y for x, y in itertools.combinations(sigma, 2))
    lam = (
        Fraction(-r * r + r * (widths[0] + widths[-1]), 2)
        + Fraction(a * (ell - a), 4 * ell)
        - Fraction(ell * (ell - 1), 4) * Fraction(S, ell) ** 2
        + Fraction(cross, 2)
    )
    return lam, a * (ell - a) + 1


@pytest.mark.parametrize(
    ("exercise_id", "variant"),
    [
        ("degenerate.normal_crossing", nc_independent),
        ("degenerate.reduced_rank_regression", rrr_independent),
        ("degenerate.deep_linear_network", dln_independent),
    ],
)
def test_theory_independent_implementations_pass(exercise_id, variant):
    assert passes(exercise_id, variant)


def test_theory_published_values():
    """Values quoted in the literature (see slt-math.md's sources), independent of any code."""
    assert nc_independent((1, 1)) == (Fraction(1, 2), 2)
    assert nc_independent((1, 2)) == (Fraction(1, 4), 1)
    assert rrr_independent(5, 3, 5, 0)[0] == Fraction(13, 2)  # M+H+N+r = 13 is odd: m = 2
    assert rrr_independent(4, 3, 8, 0) == (6, 1)
    assert dln_independent([4, 3, 3, 4], 1) == (Fraction(11, 2), 3)
    for M, H, N, r in itertools.product(range(1, 6), range(1, 6), range(1, 6), range(0, 6)):
        if r <= min(M, H, N):
            assert dln_independent([M, H, N], r) == rrr_independent(M, H, N, r)


def test_rrr_hidden_cases_cover_every_branch():
    labels = [c.label for c in registry.get("degenerate.reduced_rank_regression").cases("hidden", torch.device("cpu"))]
    for branch in ("M+H < N+r", "N+H < M+r", "M+N < H+r", "even", "odd"):
        assert sum(branch in label for label in labels) >= 4, branch


def test_dln_cases_include_multiplicity_above_one():
    ex = registry.get("degenerate.deep_linear_network")
    ms = [dln_independent(**c.kwargs)[1] for s in registry.SUITES for c in ex.cases(s, torch.device("cpu")) if not c.raises]
    assert max(ms) >= 3 and ms.count(1) >= 3


def nc_ignores_h(k, h=None):
    return nc_independent(k)


def nc_m_always_one(k, h=None):
    return nc_independent(k, h)[0], 1


def nc_float(k, h=None):
    lam, m = nc_independent(k, h)
    return float(lam), m


def nc_max(k, h=None):
    h = [0] * len(k) if h is None else list(h)
    vals = [Fraction(h[i] + 1, 2 * k[i]) for i in range(len(k)) if k[i] > 0]
    return max(vals), vals.count(max(vals))


def nc_m_counts_nonzero(k, h=None):
    return nc_independent(k, h)[0], sum(1 for x in k if x > 0)


def rrr_no_parity(M, H, N, r):
    lam, m = rrr_independent(M, H, N, r)
    if N + r <= M + H and M + r <= N + H and H + r <= M + N:
        return Fraction(2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2, 8), 1
    return lam, m


def rrr_swapped_branches(M, H, N, r):
    if M + H < N + r:
        return Fraction(H * N - H * r + M * r, 2), 1
    if N + H < M + r:
        return Fraction(H * M - H * r + N * r, 2), 1
    return rrr_independent(M, H, N, r)


def rrr_half_d(M, H, N, r):
    return Fraction(H * (M + N), 2), 1


def rrr_main_formula_everywhere(M, H, N, r):
    odd = (M + H + N + r) % 2
    return Fraction(2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2 + odd, 8), 1 + odd


def dln_m_always_one(widths, r):
    return dln_independent(widths, r)[0], 1


def dln_unsorted(widths, r):
    """Takes Σ as a prefix of the widths in their given order (forgets to sort)."""
    M = [w - r for w in widths]
    for ell in range(1, len(M)):
        sigma, rest = M[: ell + 1], M[ell + 1 :]
        S = sum(sigma)
        bound = min(rest) if rest else math.inf
        if max(sigma) < bound and S >= ell * max(sigma) and S < ell * bound:
            break
    big_m = -(-S // ell)
    a = S - (big_m - 1) * ell
    cross = sum(x * y for x, y in itertools.combinations(sigma, 2))
    lam = (Fraction(-r * r + r * (widths[0] + widths[-1]), 2) + Fraction(a * (ell - a), 4 * ell)
           - Fraction(ell * (ell - 1), 4) * Fraction(S, ell) ** 2 + Fraction(cross, 2))
    return lam, a * (ell - a) + 1


def dln_half_d(widths, r):
    return Fraction(sum(a * b for a, b in zip(widths, widths[1:])), 2), 1


@pytest.mark.parametrize("mistake", [nc_ignores_h, nc_m_always_one, nc_float, nc_max, nc_m_counts_nonzero])
def test_normal_crossing_mistakes_fail(mistake):
    assert value_failures("degenerate.normal_crossing", mistake)


@pytest.mark.parametrize("mistake", [nc_m_always_one, nc_float, nc_max])
def test_normal_crossing_visible_catches(mistake):
    assert value_failures("degenerate.normal_crossing", mistake, ["visible"])


@pytest.mark.parametrize("mistake", [rrr_no_parity, rrr_swapped_branches, rrr_half_d, rrr_main_formula_everywhere])
def test_rrr_mistakes_fail(mistake):
    assert value_failures("degenerate.reduced_rank_regression", mistake)


@pytest.mark.parametrize("mistake", [dln_m_always_one, dln_unsorted, dln_half_d])
def test_dln_mistakes_fail(mistake):
    assert value_failures("degenerate.deep_linear_network", mistake)


def test_exact_judge_messages():
    ex = registry.get("degenerate.normal_crossing")
    case = ex.cases("visible", torch.device("cpu"))[0]
    assert "Fraction" in ex.judge(case, (Fraction(1, 4), 1), (0.25, 1))
    assert ex.judge(case, (Fraction(1, 4), 1), (Fraction(1, 4), 1)) is None
    assert ex.judge(case, (Fraction(1, 2), 1), (1, 1)) is not None
    assert "m" in ex.judge(case, (Fraction(1, 2), 2), (Fraction(1, 2), 1))
    assert ex.judge(case, (Fraction(1, 2), 2), (Fraction(1, 2), True)) is not None
    assert ex.judge(case, (Fraction(1, 2), 2), Fraction(1, 2)) is not None
    assert ex.judge(case, (Fraction(3), 1), (3, torch.tensor(1))) is None


# ----------------------------------------------------------------------------- issue 9, part 4: stated requirements are visible


def rrr_K_unbatched(A, B, C):
    """Right for one pair (A, B), wrong for a batch: sums over every axis."""
    return 0.5 * torch.sum((B @ A - C) ** 2)


def rank_ge(matrix, rtol):
    if rtol <= 0:
        raise ValueError("rtol")
    s = torch.linalg.svdvals(matrix)
    return int((s >= rtol * s.max()).sum()) if s.numel() else 0


def rank_tensor(matrix, rtol):
    if rtol <= 0:
        raise ValueError("rtol")
    s = torch.linalg.svdvals(matrix)
    return (s > rtol * s.max()).sum() if s.numel() else torch.tensor(0)


def vf_le(K_values, eps):
    return (K_values <= eps.unsqueeze(-1)).to(K_values.dtype).mean(-1)


def vexp_always_log_term(eps, V, m=1):
    x = torch.log(eps)
    y = torch.log(V) - (m - 1) * torch.log(-x)
    xc = x - x.mean()
    return (xc * y).sum() / (xc * xc).sum()


@pytest.mark.parametrize(("exercise_id", "mistake"), [
    ("degenerate.reduced_rank_K", rrr_K_unbatched),
    ("degenerate.numerical_rank", rank_ge),
    ("degenerate.numerical_rank", rank_tensor),
    ("degenerate.volume_fraction", vf_le),
    ("degenerate.volume_exponent", vexp_always_log_term),
])
def test_stated_requirements_fail_a_visible_case(exercise_id, mistake):
    assert value_failures(exercise_id, mistake, ["visible"])


def test_hidden_theory_labels_do_not_show_the_values():
    for exercise_id in ("degenerate.normal_crossing", "degenerate.independent_sum",
                        "degenerate.reduced_rank_regression", "degenerate.deep_linear_network"):
        for case in registry.get(exercise_id).cases("hidden", torch.device("cpu")):
            assert "=" not in case.label.replace("M+H = N+r", "").replace("N+H = M+r", "").replace(
                "M+N = H+r", "").replace("m = ", "").replace("r = 0", "").replace("sum_Σ M = ℓ", ""), case.label


def test_error_cases_are_errors_of_the_reference():
    """Every case that must raise ValueError does raise it in the reference."""
    n = 0
    for exercise_id in IDS + ["degenerate.independent_sum"]:
        ex = registry.get(exercise_id)
        for suite in registry.SUITES:
            for case in ex.cases(suite, torch.device("cpu")):
                if case.raises is ValueError:
                    n += 1
                    with pytest.raises(ValueError):
                        ex.reference(**case.kwargs)
    assert n >= 20


@pytest.mark.parametrize("exercise_id", [i for i in IDS + ["degenerate.independent_sum"] if i != "degenerate.fisher_information"
                                         and i != "degenerate.reduced_rank_K"])
def test_stated_errors_have_visible_cases(exercise_id):
    """The text of these exercises asks for a ValueError: a function right on every value but raising nothing fails
    a visible case, and only the error cases."""
    reference = registry.get(exercise_id).reference

    def no_validation(**kwargs):
        try:
            return reference(**kwargs)
        except ValueError:
            return None

    result = run(exercise_id, no_validation, "visible")
    assert not result.passed and not value_failures(exercise_id, no_validation, ["visible"])


def rrr_no_value_error(M, H, N, r):
    return rrr_independent(M, H, N, min(max(int(r), 0), min(M, H, N))) if M > 0 else (Fraction(0), 1)


def test_rrr_without_value_error_fails_visible():
    assert not run("degenerate.reduced_rank_regression", rrr_no_value_error, "visible").passed


# ----------------------------------------------------------------------------- independent_sum (reasoning)


def sum_via_partition_function(blocks, h=None):
    """Independent: multiply Z_n^(j) ~ n^(-lam_j) (log n)^(m_j - 1) by adding exponents."""
    if not blocks or (h is not None and len(h) != len(blocks)):
        raise ValueError("blocks")
    power_n, power_log = Fraction(0), 0
    for j, k in enumerate(blocks):
        lam_j, m_j = nc_independent(k, None if h is None or h[j] is None else h[j])
        if not any(k):
            raise ValueError("block")
        power_n += lam_j
        power_log += m_j - 1
    return power_n, power_log + 1


def sum_min(blocks, h=None):
    parts = [nc_independent(k, None if h is None else h[j]) for j, k in enumerate(blocks)]
    lam = min(p[0] for p in parts)
    return lam, sum(p[1] for p in parts if p[0] == lam)


def sum_m_adds(blocks, h=None):
    lam, _ = sum_via_partition_function(blocks, h)
    return lam, sum(nc_independent(k, None if h is None else h[j])[1] for j, k in enumerate(blocks))


def sum_m_one(blocks, h=None):
    return sum_via_partition_function(blocks, h)[0], 1


def sum_per_variable(blocks, h=None):
    flat_k = [ki for k in blocks for ki in k]
    flat_h = [0] * len(flat_k) if h is None else [hi for hj, k in zip(h, blocks) for hi in (hj or [0] * len(k))]
    lam = sum(Fraction(hi + 1, 2 * ki) for ki, hi in zip(flat_k, flat_h) if ki > 0)
    return lam, sum_via_partition_function(blocks, h)[1]


def sum_ignores_h(blocks, h=None):
    return sum_via_partition_function(blocks)


def test_independent_sum_variant_passes():
    assert passes("degenerate.independent_sum", sum_via_partition_function)


@pytest.mark.parametrize("mistake", [sum_min, sum_m_adds, sum_m_one, sum_per_variable, sum_ignores_h])
def test_independent_sum_mistakes_fail_hidden_on_several_cases(mistake):
    assert len(value_failures("degenerate.independent_sum", mistake, ["hidden"])) >= 3


@pytest.mark.parametrize(("mistake", "phrase", "suite"), [
    (sum_min, "PRODUCT", "visible"), (sum_per_variable, "MULTIPLY", "visible"), (sum_m_adds, "power of log n", "visible"),
    (sum_m_one, "power of log n", "visible"), (sum_ignores_h, "prior exponents h", "hidden"),
])
def test_independent_sum_feedback_names_the_missed_step(mistake, phrase, suite):
    result = run("degenerate.independent_sum", mistake, suite)
    messages = [v.message for v in result.verdicts if v.message and "ValueError" not in v.label]
    assert messages and any(phrase in m for m in messages)
    # every wrong value's message points to a step of the text's derivation
    assert all("step" in m for m in messages), messages


@pytest.mark.parametrize("mistake", [sum_min, sum_per_variable, sum_m_adds, sum_m_one, sum_ignores_h])
def test_independent_sum_feedback_does_not_state_the_rule(mistake):
    """Issue 9 (learner report): a hint that states the rule is the answer after one wrong try."""
    messages = [v.message for s in registry.SUITES for v in run("degenerate.independent_sum", mistake, s).verdicts
                if v.message and "ValueError" not in v.label]
    assert messages
    for m in messages:  # e.g. "the powers add", "lam = lam_1 + lam_2", "the sum of the lam_j"
        assert not re.search(r"\badd|\bsum of the|\+", m, re.IGNORECASE), m


def dln_accepts_bools(widths, r):
    """Right on every value, but takes True/False as 1/0 (the text says a bool is not an int here)."""
    return dln_independent([int(w) for w in widths], int(r))


def test_dln_bool_fails_a_visible_case():
    result = run("degenerate.deep_linear_network", dln_accepts_bools, "visible")
    assert not result.passed and any("bool" in v.label for v in result.verdicts if v.message)


def test_independent_sum_hidden_cases_are_many_and_varied():
    cases = [c for c in registry.get("degenerate.independent_sum").cases("hidden", torch.device("cpu")) if not c.raises]
    values = {theory.independent_sum(**c.kwargs) for c in cases}
    assert len(cases) >= 5 and len(values) >= 5
    assert any(m > 1 for _, m in values) and any(c.kwargs["h"] is not None for c in cases)


def test_independent_sum_matches_volume_scaling():
    """Independent of the derivation: K = w1^2 + w2^4 has lam = 3/4, by counting volumes (Monte Carlo)."""
    from slt_lessons import volume

    fit = volume.volume_scaling_box(lambda w: w[:, 0] ** 2 + w[:, 1] ** 4, [(-1, 1)] * 2, 400_000,
                                    torch.Generator().manual_seed(0))
    assert abs(fit.lam - 0.75) < 0.05 + 4 * fit.lam_se


# ----------------------------------------------------------------------------- second learner trial of lesson 3


def sum_m_counts_tied_blocks(blocks, h=None):
    """Wrong: m = 1 + the number of blocks with a tie (right only while every m_j <= 2)."""
    parts = [nc_independent(k, None if h is None or h[j] is None else h[j]) for j, k in enumerate(blocks)]
    return sum_via_partition_function(blocks, h)[0], 1 + sum(1 for _, m in parts if m > 1)


def sum_m_max_plus_ties(blocks, h=None):
    """Wrong: m = max(m_j) + (number of blocks with m_j > 1) - 1."""
    parts = [nc_independent(k, None if h is None or h[j] is None else h[j]) for j, k in enumerate(blocks)]
    ties = [m for _, m in parts if m > 1]
    return sum_via_partition_function(blocks, h)[0], (max(ties) + len(ties) - 1) if ties else 1


@pytest.mark.parametrize(("mistake", "phrase"), [(sum_m_counts_tied_blocks, "m_j = 3"),
                                                 (sum_m_max_plus_ties, "its own (log n)^(m_j - 1)")])
def test_independent_sum_m_rules_from_m_j_2_fail(mistake, phrase):
    assert len(value_failures("degenerate.independent_sum", mistake, ["hidden"])) >= 2
    result = run("degenerate.independent_sum", mistake, "visible")
    messages = [v.message for v in result.verdicts if v.message]
    assert messages and all("step 2" in m and phrase in m for m in messages), messages
    for m in messages:
        assert not re.search(r"\badd|\bsum of the|\+", m, re.IGNORECASE), m


def nc_accepts_float_k(k, h=None):
    return nc_independent([int(x) if isinstance(x, float) and x.is_integer() else x for x in k], h)


def nc_rejects_fraction_h(k, h=None):
    if h is not None and any(isinstance(x, Fraction) for x in h):
        raise ValueError("h must hold ints")
    return nc_independent(k, h)


@pytest.mark.parametrize("mistake", [nc_accepts_float_k, nc_rejects_fraction_h])
def test_normal_crossing_stated_types_are_visible(mistake):
    assert not run("degenerate.normal_crossing", mistake, "visible").passed


def rrr_accepts_bool_M(M, H, N, r):
    return rrr_independent(int(M), H, N, r)


def rrr_main_formula_for_M_N_small(M, H, N, r):
    """Right everywhere but the M+N < H+r branch."""
    if M + N < H + r and not (M + H < N + r or N + H < M + r):
        return rrr_main_formula_everywhere(M, H, N, r)
    return rrr_independent(M, H, N, r)


@pytest.mark.parametrize("mistake", [rrr_accepts_bool_M, rrr_main_formula_for_M_N_small])
def test_rrr_visible_catches(mistake):
    assert not run("degenerate.reduced_rank_regression", mistake, "visible").passed


def test_rank_absolute_tolerance_fails_visible():
    assert value_failures("degenerate.numerical_rank", rank_absolute, ["visible"])


def vexp_through_origin(eps, V, m=1):
    x = torch.log(eps)
    y = torch.log(V) - ((m - 1) * torch.log(-x) if m != 1 else 0)
    return (x * y).sum() / (x * x).sum()


@pytest.mark.parametrize(("mistake", "phrase"), [(vexp_log_log_term_sign, "wrong sign"), (vexp_ignore_m, "without the"),
                                                 (vexp_through_origin, "through the origin")])
def test_volume_exponent_hint_names_the_wrong_term(mistake, phrase):
    messages = [v.message for v in run("degenerate.volume_exponent", mistake, "visible").verdicts if v.message]
    assert any(phrase in m for m in messages), messages


def test_volume_exponent_no_hint_for_other_mistakes():
    messages = [v.message for v in run("degenerate.volume_exponent", vexp_linear_eps, "visible").verdicts if v.message]
    assert messages and not any("hint" in m for m in messages), messages
