"""The checks of lesson 2 accept the reference and correct variants, and reject plausible mistakes.

AUTHORING.md rule 4. A mistake must fail at least one suite (most fail the visible one already).
"""

from __future__ import annotations

import math

import pytest
import torch

from slt_lessons.checks import registry
from slt_lessons.checks.free_energy import _free_energies
from slt_lessons.checks.runner import collect, judge, passes

IDS = [
    "free_energy.free_energy_grid",
    "free_energy.laplace_free_energy",
    "free_energy.bic",
    "free_energy.wbic_grid",
    "free_energy.fit_slope",
    "free_energy.preferred_model",
]


def run(exercise_id, fn, suite):
    return judge(exercise_id, collect(exercise_id, fn, suite, device="cpu"), suite, device="cpu")


@pytest.mark.parametrize("suite", registry.SUITES)
@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_passes(exercise_id, suite):
    ex = registry.get(exercise_id)
    result = run(exercise_id, ex.reference, suite)
    assert result.passed, str(result)
    assert len(result.verdicts) >= 2


def test_cases_are_deterministic_and_fresh():
    for exercise_id in IDS:
        ex = registry.get(exercise_id)
        a, b = ex.cases("hidden", torch.device("cpu")), ex.cases("hidden", torch.device("cpu"))
        for ca, cb in zip(a, b):
            assert ca.label == cb.label
            for k, v in ca.kwargs.items():
                if isinstance(v, torch.Tensor):
                    assert torch.equal(v, cb.kwargs[k])


# ----------------------------------------------------------------------------- helpers for the variants


def trapezoid_log_weights(grid):
    """log of the trapezoid weights v_j, with an explicit loop (a different way from the library's)."""
    v = [0.0] * grid.numel()
    g = grid.tolist()
    for j in range(len(g) - 1):
        h = g[j + 1] - g[j]
        v[j] += h / 2
        v[j + 1] += h / 2
    return torch.log(torch.tensor(v, dtype=grid.dtype, device=grid.device))


def shifted_trapezoid(log_f, grid):
    """log ∫ exp(log_f) by torch.trapezoid on exp(log_f - max), then adding the max back."""
    top = log_f.max()
    return top + torch.log(torch.trapezoid(torch.exp(log_f - top), grid))


# ----------------------------------------------------------------------------- free_energy_grid


def validate(nLn, grid):
    """The text's requirements on the input, written another way than the library's validation."""
    if nLn.shape != grid.shape:
        raise ValueError("nLn and grid must have the same shape")
    if not bool((grid.diff() > 0).all()):
        raise ValueError("grid must be strictly increasing")


def fe_shifted(nLn, log_prior, grid):
    validate(nLn, grid)
    return -shifted_trapezoid(log_prior - nLn, grid)


def fe_loop_weights(nLn, log_prior, grid):
    validate(nLn, grid)
    return -torch.logsumexp(log_prior - nLn + trapezoid_log_weights(grid), dim=0)


def fe_wrong_sign(nLn, log_prior, grid):
    return -fe_shifted(nLn, log_prior, grid)


def fe_no_prior(nLn, log_prior, grid):
    return -shifted_trapezoid(-nLn, grid)


def fe_rectangles(nLn, log_prior, grid):
    dw = torch.diff(grid, append=grid[-1:] + (grid[-1] - grid[-2]))
    return -torch.logsumexp(log_prior - nLn + torch.log(dw), dim=0)


def fe_uniform_spacing(nLn, log_prior, grid):
    h = grid[1] - grid[0]
    log_v = torch.full_like(grid, math.log(float(h)))
    log_v[0] = log_v[-1] = math.log(float(h) / 2)
    return -torch.logsumexp(log_prior - nLn + log_v, dim=0)


def fe_no_log_space(nLn, log_prior, grid):
    return -torch.log(torch.trapezoid(torch.exp(log_prior - nLn), grid))


def fe_positive_nLn_sign(nLn, log_prior, grid):
    return -shifted_trapezoid(log_prior + nLn, grid)


@pytest.mark.parametrize("variant", [fe_shifted, fe_loop_weights])
def test_free_energy_grid_variants_pass(variant):
    assert passes("free_energy.free_energy_grid", variant)


@pytest.mark.parametrize(
    "mistake", [fe_wrong_sign, fe_no_prior, fe_rectangles, fe_uniform_spacing, fe_no_log_space, fe_positive_nLn_sign]
)
def test_free_energy_grid_mistakes_fail(mistake):
    assert not passes("free_energy.free_energy_grid", mistake)


def test_free_energy_grid_visible_catches_the_common_mistakes():
    for mistake in (fe_wrong_sign, fe_no_prior, fe_rectangles, fe_uniform_spacing, fe_no_log_space):
        assert not run("free_energy.free_energy_grid", mistake, "visible").passed, mistake.__name__


def _messages(exercise_id, fn, suite):
    return [v.message for v in run(exercise_id, fn, suite).verdicts if v.message]


def test_the_uneven_grid_mistake_fails_a_visible_case_with_its_hint():
    """Issue 9: the mistake the text warns about in bold must fail visibly, and say what it is."""
    result = run("free_energy.free_energy_grid", fe_uniform_spacing, "visible")
    wrong = [v for v in result.verdicts if v.message]
    assert any("uneven grid" in v.label for v in wrong)
    assert all("first spacing" in v.message for v in wrong if "uneven" in v.label)
    hidden = run("free_energy.free_energy_grid", fe_uniform_spacing, "hidden")
    assert all(("graded" in v.label or "non-uniform" in v.label) for v in hidden.verdicts if v.message)


def test_hints_are_derived_from_the_failure():
    """A hint appears only for the mistake it names, never on every failure."""
    for mistake, hint in [(fe_no_prior, "leaves out the prior"), (fe_rectangles, "rectangles"), (fe_wrong_sign, "wrong sign")]:
        messages = _messages("free_energy.free_energy_grid", mistake, "visible")
        assert messages and any(hint in m for m in messages), mistake.__name__
        assert not any("first spacing" in m for m in messages), mistake.__name__
    garbage = _messages("free_energy.free_energy_grid", lambda nLn, log_prior, grid: nLn.sum() * 0 + 1.0, "visible")
    assert garbage and not any("hint:" in m for m in garbage)


def fe_no_validation(nLn, log_prior, grid):
    dw = grid.diff()
    return -torch.logsumexp(log_prior - nLn + torch.log(torch.cat([dw[:1], dw[1:] + dw[:-1], dw[-1:]]) / 2), dim=0)


def test_free_energy_grid_must_reject_a_grid_that_is_not_increasing():
    result = run("free_energy.free_energy_grid", fe_no_validation, "visible")
    assert not result.passed
    assert any("not increasing" in v.label for v in result.verdicts if v.message)


def _reject_only_decreasing(fn):
    """The issue's mistake: `(d < 0).any()` lets a repeated node through."""
    def checked(nLn, log_prior, grid, **kw):
        if (grid.diff() < 0).any() or nLn.shape != grid.shape:
            raise ValueError("grid must be increasing")
        return fn(nLn, log_prior, grid, **kw)
    return checked


def test_free_energy_grid_a_repeated_grid_node_must_raise_visibly():
    def no_strict(nLn, log_prior, grid):
        dw = grid.diff()
        return -torch.logsumexp(log_prior - nLn + torch.log(torch.cat([dw[:1], dw[1:] + dw[:-1], dw[-1:]]) / 2), dim=0)

    wrong = [v.label for v in run("free_energy.free_energy_grid", _reject_only_decreasing(no_strict), "visible").verdicts if v.message]
    assert wrong and all("repeated grid node" in label for label in wrong)


def test_wbic_a_repeated_grid_node_must_raise_visibly():
    def no_strict(nLn, log_prior, grid, n):
        if not n > 1:
            raise ValueError("n must be larger than 1")
        logits = log_prior - nLn / math.log(n) + torch.log(torch.cat([grid.diff()[:1], grid.diff()[1:] + grid.diff()[:-1], grid.diff()[-1:]]) / 2)
        return (torch.softmax(logits, dim=0) * nLn).sum()

    result = run("free_energy.wbic_grid", _reject_only_decreasing(no_strict), "visible")
    wrong = [v.label for v in result.verdicts if v.message]
    assert wrong and all("repeated grid node" in label for label in wrong)


@pytest.mark.parametrize("exercise_id, mistake", [
    ("free_energy.free_energy_grid", lambda nLn, log_prior, grid: registry.get("free_energy.free_energy_grid").reference(nLn, torch.zeros_like(log_prior), grid)),
    ("free_energy.wbic_grid", lambda nLn, log_prior, grid, n: registry.get("free_energy.wbic_grid").reference(nLn, torch.zeros_like(log_prior), grid, n)),
])
def test_ignoring_a_non_uniform_prior_fails_a_visible_case(exercise_id, mistake):
    """The learner's report: ignoring log_prior passed every visible case of wbic_grid."""
    wrong = [v for v in run(exercise_id, mistake, "visible").verdicts if v.message]
    assert any("non-uniform prior" in v.label for v in wrong)


def test_free_energy_grid_cases_are_close_to_exact():
    """The reference on the Gaussian visible case is within grid error of the closed form."""
    case = registry.get("free_energy.free_energy_grid").cases("visible", torch.device("cpu"))[0]
    n, mu = 100, 0.3
    # ∫_{-3}^{3} exp(-n(w-mu)^2/2) dw / 6, the Gaussian's tails beyond ±3 are below e^{-370}
    exact = -math.log(math.sqrt(2 * math.pi / n) / 6.0)
    got = float(registry.get("free_energy.free_energy_grid").reference(**case.kwargs))
    assert abs(got - exact) < 1e-8


# ----------------------------------------------------------------------------- laplace_free_energy


def laplace_eigen(nLn_min, log_prior_min, hessian):
    d = hessian.shape[-1]
    eig = torch.linalg.eigvalsh(hessian)
    if not bool((eig > 0).all()):
        raise ValueError("hessian must be positive definite")
    return nLn_min - log_prior_min + 0.5 * torch.log(eig).sum() - 0.5 * d * math.log(2 * math.pi)


def laplace_slogdet(nLn_min, log_prior_min, hessian):
    d = hessian.shape[-1]
    if torch.linalg.cholesky_ex(hessian).info != 0:
        raise ValueError("hessian must be positive definite")
    sign, logdet = torch.linalg.slogdet(hessian)
    return nLn_min - log_prior_min + logdet / 2 + d / 2 * math.log(1 / (2 * math.pi))


def laplace_det_check(nLn_min, log_prior_min, hessian):
    """det H > 0 is not positive definiteness: a maximum in d = 2 has a positive determinant."""
    sign, logdet = torch.linalg.slogdet(hessian)
    if sign <= 0:
        raise ValueError("hessian must be positive definite")
    return nLn_min - log_prior_min + logdet / 2 - hessian.shape[-1] / 2 * math.log(2 * math.pi)


def test_laplace_checking_only_the_determinant_fails():
    result = run("free_energy.laplace_free_energy", laplace_det_check, "hidden")
    assert [v.label for v in result.verdicts if v.message] == [v.label for v in result.verdicts
                                                               if "negative definite" in v.label or "indefinite" in v.label]


def laplace_det_and_diagonal_check(nLn_min, log_prior_min, hessian):
    """Positive determinant and positive diagonal: enough in two dimensions, not in three."""
    sign, logdet = torch.linalg.slogdet(hessian)
    if sign <= 0 or (torch.diagonal(hessian) <= 0).any():
        raise ValueError("hessian is not positive definite")
    d = hessian.shape[-1]
    return nLn_min - log_prior_min + 0.5 * logdet - 0.5 * d * math.log(2 * math.pi)


def test_laplace_checking_the_determinant_and_the_diagonal_fails_on_a_saddle():
    """A learner's plausible test (found by an instructor trial): it passes every other case."""
    result = run("free_energy.laplace_free_energy", laplace_det_and_diagonal_check, "hidden")
    assert [v.label for v in result.verdicts if v.message] == [v.label for v in result.verdicts if "indefinite" in v.label]


def laplace_no_half(nLn_min, log_prior_min, hessian):
    d = hessian.shape[-1]
    return nLn_min - log_prior_min + torch.logdet(hessian) - 0.5 * d * math.log(2 * math.pi)


def laplace_plus_2pi(nLn_min, log_prior_min, hessian):
    d = hessian.shape[-1]
    return nLn_min - log_prior_min + 0.5 * torch.logdet(hessian) + 0.5 * d * math.log(2 * math.pi)


def laplace_inverse(nLn_min, log_prior_min, hessian):
    d = hessian.shape[-1]
    return nLn_min - log_prior_min - 0.5 * torch.logdet(hessian) - 0.5 * d * math.log(2 * math.pi)


def laplace_prior_sign(nLn_min, log_prior_min, hessian):
    d = hessian.shape[-1]
    return nLn_min + log_prior_min + 0.5 * torch.logdet(hessian) - 0.5 * d * math.log(2 * math.pi)


def laplace_no_2pi(nLn_min, log_prior_min, hessian):
    return nLn_min - log_prior_min + 0.5 * torch.logdet(hessian)


@pytest.mark.parametrize("variant", [laplace_eigen, laplace_slogdet])
def test_laplace_variants_pass(variant):
    assert passes("free_energy.laplace_free_energy", variant)


@pytest.mark.parametrize(
    "mistake, hint", [(laplace_no_half, "log det H where"), (laplace_plus_2pi, "adds (d/2) log 2*pi"),
                      (laplace_inverse, "-(1/2) log det H"), (laplace_prior_sign, "adds log phi"), (laplace_no_2pi, "leaves out")]
)
def test_laplace_mistakes_fail_visible(mistake, hint):
    result = run("free_energy.laplace_free_energy", mistake, "visible")
    assert not result.passed
    assert any(hint in (v.message or "") for v in result.verdicts)


def test_laplace_without_the_valueerror_fails_visible():
    """Issue 9: full marks went to an answer without the required ValueError."""

    def laplace_no_check(nLn_min, log_prior_min, hessian):
        chol = torch.linalg.cholesky_ex(hessian)[0]
        return nLn_min - log_prior_min + chol.diagonal().log().sum() - hessian.shape[-1] / 2 * math.log(2 * math.pi)

    result = run("free_energy.laplace_free_energy", laplace_no_check, "visible")
    assert not result.passed
    assert [v.label for v in result.verdicts if v.message] == [v.label for v in result.verdicts if "must raise" in v.label]


def test_laplace_is_exact_for_a_gaussian():
    """Independent check of the case design: for nL_n = n(w-mu)^2/2 and a flat prior on [-3, 3]
    Laplace equals the exact free energy up to the Gaussian tails (e^{-370})."""
    ref = registry.get("free_energy.laplace_free_energy").reference
    n = 100.0
    got = float(ref(nLn_min=torch.tensor(0.0, dtype=torch.float64), log_prior_min=torch.tensor(-math.log(6.0), dtype=torch.float64),
                    hessian=torch.tensor([[n]], dtype=torch.float64)))
    assert abs(got - (-math.log(math.sqrt(2 * math.pi / n) / 6.0))) < 1e-12


# ----------------------------------------------------------------------------- bic


def bic_math(nLn_min, d, n):
    return nLn_min + 0.5 * d * torch.log(torch.tensor(float(n), dtype=nLn_min.dtype, device=nLn_min.device))


def bic_python_float(nLn_min, d, n):
    return float(nLn_min) + 0.5 * d * math.log(n)


def bic_float64(nLn_min, d, n):
    return nLn_min.double() + 0.5 * d * math.log(n)


def bic_no_half(nLn_min, d, n):
    return nLn_min + d * math.log(n)


def bic_log10(nLn_min, d, n):
    return nLn_min + d / 2 * math.log10(n)


def bic_penalty_only(nLn_min, d, n):
    return d / 2 * math.log(n)


def bic_sign(nLn_min, d, n):
    return nLn_min - d / 2 * math.log(n)


def test_bic_variant_passes():
    assert passes("free_energy.bic", bic_math)


@pytest.mark.parametrize("mistake", [bic_no_half, bic_log10, bic_penalty_only, bic_sign, bic_python_float, bic_float64])
def test_bic_mistakes_fail_visible(mistake):
    assert not run("free_energy.bic", mistake, "visible").passed


# ----------------------------------------------------------------------------- wbic_grid


def wbic_with(beta_of_n, *, scale=1.0, use_prior=True):
    def wbic(nLn, log_prior, grid, n):
        validate(nLn, grid)
        if n <= 1:
            raise ValueError("n must be larger than 1")
        beta = beta_of_n(n)
        log_post = (log_prior if use_prior else 0.0) - beta * nLn
        # normalised posterior on the grid with torch.trapezoid on shifted values
        top = log_post.max()
        f = torch.exp(log_post - top)
        return torch.trapezoid(f * nLn, grid) / torch.trapezoid(f, grid) / scale

    return wbic


def wbic_loop(nLn, log_prior, grid, n):
    validate(nLn, grid)
    if not n > 1:
        raise ValueError("n must be larger than 1")
    logits = log_prior - nLn / math.log(n) + trapezoid_log_weights(grid)
    p = torch.exp(logits - torch.logsumexp(logits, dim=0))
    return (p * nLn).sum()


def test_wbic_without_the_n_check_fails_visible():
    def wbic_no_check(nLn, log_prior, grid, n):
        logits = log_prior - nLn / math.log(n) + trapezoid_log_weights(grid)
        return (torch.softmax(logits, dim=0) * nLn).sum()

    result = run("free_energy.wbic_grid", wbic_no_check, "visible")
    assert any("n = 1" in v.label for v in result.verdicts if v.message)


def test_wbic_uneven_grid_mistake_fails_visible_with_its_hint():
    def wbic_even(nLn, log_prior, grid, n):
        validate(nLn, grid)
        if not n > 1:
            raise ValueError("n must be larger than 1")
        h = float(grid[1] - grid[0])
        log_v = torch.full_like(grid, math.log(h))
        log_v[0] = log_v[-1] = math.log(h / 2)
        return (torch.softmax(log_prior - nLn / math.log(n) + log_v, dim=0) * nLn).sum()

    result = run("free_energy.wbic_grid", wbic_even, "visible")
    wrong = [v for v in result.verdicts if v.message]
    assert wrong and all("first spacing" in v.message for v in wrong) and any("uneven grid" in v.label for v in wrong)


@pytest.mark.parametrize("variant", [wbic_with(lambda n: 1 / math.log(n)), wbic_loop])
def test_wbic_variants_pass(variant):
    assert passes("free_energy.wbic_grid", variant)


@pytest.mark.parametrize(
    "mistake",
    [
        wbic_with(lambda n: 1.0),  # the ordinary posterior (beta = 1)
        wbic_with(lambda n: 1 / n),  # beta = 1/n
        wbic_with(lambda n: math.log(n)),  # beta = log n
        wbic_with(lambda n: 1 / math.log10(n)),  # log base 10
        wbic_with(lambda n: 1 / math.log(n), use_prior=False),  # no prior
    ],
)
def test_wbic_mistakes_fail(mistake):
    assert not passes("free_energy.wbic_grid", mistake)


def test_wbic_mean_of_Ln_instead_of_nLn_fails():
    def wbic_Ln(nLn, log_prior, grid, n):
        return wbic_loop(nLn, log_prior, grid, n) / n

    assert not run("free_energy.wbic_grid", wbic_Ln, "visible").passed


def test_wbic_gaussian_case_matches_its_closed_form():
    """For nL_n = n(w-0.3)^2/2 and a flat prior, the tempered posterior is N(0.3, log n / n) and
    E[nL_n] = (1/2) log n exactly (up to grid error and the e^{-370} tails). Independent of the reference."""
    case = registry.get("free_energy.wbic_grid").cases("visible", torch.device("cpu"))[0]
    got = float(registry.get("free_energy.wbic_grid").reference(**case.kwargs))
    assert abs(got - 0.5 * math.log(100)) < 1e-6


# ----------------------------------------------------------------------------- fit_slope


def slope_lstsq(log_n, F):
    if log_n.shape != F.shape:
        raise ValueError("log_n and F must have the same length")
    X = torch.stack([torch.ones_like(log_n), log_n], dim=1)
    return torch.linalg.lstsq(X, F[:, None]).solution[1, 0]


def slope_normal_equations(log_n, F):
    if len(log_n) != len(F):
        raise ValueError("log_n and F must have the same length")
    k = log_n.numel()
    sx, sy, sxx, sxy = log_n.sum(), F.sum(), (log_n**2).sum(), (log_n * F).sum()
    return (k * sxy - sx * sy) / (k * sxx - sx**2)


def slope_inverted(log_n, F):
    return slope_normal_equations(F, log_n)


def slope_endpoints(log_n, F):
    return (F[-1] - F[0]) / (log_n[-1] - log_n[0])


def slope_intercept(log_n, F):
    X = torch.stack([torch.ones_like(log_n), log_n], dim=1)
    return torch.linalg.lstsq(X, F[:, None]).solution[0, 0]


def slope_through_origin(log_n, F):
    return (log_n * F).sum() / (log_n**2).sum()


def slope_both_coefficients(log_n, F):
    X = torch.stack([log_n, torch.ones_like(log_n)], dim=1)
    return torch.linalg.lstsq(X, F[:, None]).solution[:, 0]


@pytest.mark.parametrize("variant", [slope_lstsq, slope_normal_equations])
def test_fit_slope_variants_pass(variant):
    assert passes("free_energy.fit_slope", variant)


@pytest.mark.parametrize(
    "mistake", [slope_inverted, slope_endpoints, slope_intercept, slope_through_origin, slope_both_coefficients]
)
def test_fit_slope_mistakes_fail_visible(mistake):
    assert not run("free_energy.fit_slope", mistake, "visible").passed


# ----------------------------------------------------------------------------- float32 inputs stay float32


@pytest.mark.parametrize("exercise_id", ["free_energy.free_energy_grid", "free_energy.wbic_grid", "free_energy.fit_slope"])
def test_a_float64_answer_to_a_float32_case_is_reported(exercise_id):
    """A function that silently upcasts returns the wrong dtype; the judge says so (dtype rule)."""
    ref = registry.get(exercise_id).reference

    def upcast(**kwargs):
        return ref(**{k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()})

    result = run(exercise_id, lambda **kw: upcast(**kw), "hidden")
    assert not result.passed
    assert any("dtype" in (v.message or "") for v in result.verdicts)


# ----------------------------------------------------------------------------- preferred_model


def preferred_loop(n, L, lam, m):
    """One n at a time, one model at a time, in plain Python floats."""
    out = []
    for nv in n.tolist():
        F = [nv * La + la * math.log(nv) - (ma - 1) * math.log(math.log(nv)) for La, la, ma in zip(L.tolist(), lam.tolist(), m.tolist())]
        out.append(min(range(len(F)), key=F.__getitem__))
    return torch.tensor(out, dtype=torch.long, device=n.device)


def preferred_relative(n, L, lam, m):
    """Losses measured from the smallest one, and probabilities instead of free energies."""
    F = n[:, None] * (L - L.min()) + lam * n.log()[:, None] - (m - 1) * n.log().log()[:, None]
    return torch.softmax(-F, dim=1).argmax(dim=1)


@pytest.mark.parametrize("variant", [preferred_loop, preferred_relative])
def test_preferred_model_variants_pass(variant):
    assert passes("free_energy.preferred_model", variant)


def _pref_mistake(**kw):
    return lambda n, L, lam, m: _free_energies(n.double(), L.double(), lam.double(), m.double(), **kw).argmin(1)


PREFERENCE_MISTAKES = [
    (lambda n, L, lam, m: _free_energies(n, L, lam, m.double()).argmax(1), "LARGEST free energy"),
    (lambda n, L, lam, m: _free_energies(n, L, lam, m.double()).argmin(1) + 1, "one too large"),
    (_pref_mistake(multiplicity=0.0), "left out -(m - 1) log log n"),
    (_pref_mistake(multiplicity=-1.0), "wrong sign"),
    (_pref_mistake(loss=False), "left out the loss term"),
    (_pref_mistake(penalty=False), "left out lambda log n"),
    (_pref_mistake(n_times_L=False), "not n L"),
    (_pref_mistake(log=torch.log10), "log10"),
    (_pref_mistake(loglog=False), "-(m - 1) log n;"),
]


@pytest.mark.parametrize("mistake, hint", PREFERENCE_MISTAKES)
def test_preferred_model_mistakes_fail_with_their_hint_only_when_unambiguous(mistake, hint):
    """A hint only where the wrong answer is that mistake's at every n and no other listed mistake's."""
    visible = run("free_energy.preferred_model", mistake, "visible")
    hidden = run("free_energy.preferred_model", mistake, "hidden")
    assert not visible.passed and not hidden.passed
    wrong = [v.message for v in visible.verdicts + hidden.verdicts if v.message]
    assert any(hint in m for m in wrong), wrong
    for m in wrong:
        assert m.count("hint:") == 1
        others = [h for _, h in PREFERENCE_MISTAKES if h != hint and h in m]
        assert not others, (hint, m)


def test_preferred_model_hint_needs_a_unique_match():
    """The learner's report: one wrong answer printed three hypotheses at once. Where two listed mistakes give
    the same answer, the feedback is neutral."""
    from slt_lessons.checks.free_energy import _preference_judge

    case = registry.get("free_energy.preferred_model").cases("visible", torch.device("cpu"))[1]  # c = 0: m decides
    no_m = _pref_mistake(multiplicity=0.0)(**case.kwargs)
    wrong_sign = _pref_mistake(multiplicity=-1.0)(**case.kwargs)
    assert torch.equal(no_m, wrong_sign)  # both pick model 0 at every n (a tie broken by argmin, or m = 1 wins)
    message = _preference_judge(case, free_energy_ref(case), no_m)
    assert "left out" not in message and "wrong sign" not in message and "which model has the smallest" in message


def test_preferred_model_feedback_never_spells_out_the_formula():
    """Neither hidden nor visible feedback prints per-model terms or the formula of F_n."""
    garbage = lambda n, L, lam, m: (n.log() * 7).long() % L.numel()  # noqa: E731
    for suite in registry.SUITES:
        for fn in (_pref_mistake(loss=False), garbage):
            for v in run("free_energy.preferred_model", fn, suite).verdicts:
                if v.message:
                    assert "n L =" not in v.message and "lambda log n =" not in v.message and "model 0:" not in v.message
                    if suite == "hidden":
                        assert "expected model" not in v.message and "smallest n of this case" in v.message


def test_preferred_model_checks_the_type():
    floats = lambda n, L, lam, m: preferred_loop(n, L, lam, m).double()  # noqa: E731
    assert not run("free_energy.preferred_model", floats, "visible").passed
    assert not passes("free_energy.preferred_model", lambda n, L, lam, m: preferred_loop(n, L, lam, m)[:-1])


def test_preferred_model_cannot_be_found_by_flipping():
    """Answers that never depend on the inputs (always 0, always the lowest loss, always the lowest lambda)
    fail, and the hidden cases are at least five, with model switches inside their ranges of n."""
    cases = registry.get("free_energy.preferred_model").cases("hidden", torch.device("cpu"))
    assert len(cases) >= 5
    switching = [c for c in cases if len(set(free_energy_ref(c).tolist())) > 1]
    assert len(switching) >= 4
    for guess in (lambda n, L, lam, m: torch.zeros_like(n, dtype=torch.long),
                  lambda n, L, lam, m: L.argmin().expand(n.shape).clone(),
                  lambda n, L, lam, m: lam.argmin().expand(n.shape).clone()):
        assert not run("free_energy.preferred_model", guess, "hidden").passed


def free_energy_ref(case):
    return registry.get("free_energy.preferred_model").reference(**case.kwargs)


@pytest.mark.parametrize("suite", registry.SUITES)
def test_preferred_model_cases_keep_a_margin(suite):
    """The notes' claim: the two smallest free energies are at least 1e-3 apart at every n."""
    for case in registry.get("free_energy.preferred_model").cases(suite, torch.device("cpu")):
        F = _free_energies(*(case.kwargs[k].double() for k in ("n", "L", "lam", "m")))
        top2 = F.sort(dim=1).values[:, :2]
        assert float((top2[:, 1] - top2[:, 0]).min()) > 1e-3, case.label


# ----------------------------------------------------------------------------- second trial (issue 9, follow-up)


def test_preferred_model_multiplicity_times_log_n_fails_visible_with_its_hint():
    mistake = _pref_mistake(loglog=False)
    visible = run("free_energy.preferred_model", mistake, "visible")
    failed = [v for v in visible.verdicts if v.message]
    assert any("multiplicity 1, the other 3" in v.label for v in failed)
    assert any("-(m - 1) log n;" in v.message for v in failed)
    assert not any("left out lambda log n" in v.message for v in failed)


def test_preferred_model_two_model_rule_gets_no_misattributed_hint():
    """'Compare only the lowest-loss and lowest-lambda models' is not a named mistake: never a hint of one."""

    def two_models(n, L, lam, m):
        F = _free_energies(n.double(), L.double(), lam.double(), m.double())
        pair = torch.tensor(sorted({int(L.argmin()), int(lam.argmin())}))
        return pair[F[:, pair].argmin(1)]

    for suite in registry.SUITES:
        for v in run("free_energy.preferred_model", two_models, suite).verdicts:
            if v.message:
                assert "which model has the smallest" in v.message and "left out" not in v.message, v.message
    assert not passes("free_energy.preferred_model", two_models)


def test_ordinals():
    from slt_lessons.checks.free_energy import _ordinal

    assert [_ordinal(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th"]


def test_laplace_determinant_test_fails_a_visible_case():
    failed = [v.label for v in run("free_energy.laplace_free_energy", laplace_det_check, "visible").verdicts if v.message]
    assert failed and all("negative definite" in label for label in failed)


def test_laplace_diagonal_logdet_gets_its_hint():
    def laplace_diag(nLn_min, log_prior_min, hessian):
        torch.linalg.cholesky(hessian)
        return nLn_min - log_prior_min + hessian.diagonal().log().sum() / 2 - hessian.shape[-1] / 2 * math.log(2 * math.pi)

    result = run("free_energy.laplace_free_energy", laplace_diag, "visible")
    assert not result.passed
    assert any("diagonal entries" in (v.message or "") for v in result.verdicts)


def test_bic_integer_division_gets_its_hint():
    result = run("free_energy.bic", lambda nLn_min, d, n: nLn_min + (d // 2) * math.log(n), "visible")
    assert not result.passed
    messages = [v.message for v in result.verdicts if v.message]
    assert messages and all("integer division" in m for m in messages)


def test_wbic_tempered_mean_of_beta_nL_is_told_apart():
    """E_beta[beta nL_n] equals the beta = 1 posterior mean on a quadratic loss with a flat prior: no hint there,
    its own hint where the two differ, never the beta = 1 hint on a case where they coincide."""
    from slt_lessons.free_energy import wbic_grid

    mistake = lambda nLn, log_prior, grid, n: wbic_grid(nLn, log_prior, grid, n) / math.log(n)  # noqa: E731
    messages = [v.message for s in registry.SUITES for v in run("free_energy.wbic_grid", mistake, s).verdicts if v.message]
    assert messages
    assert any("tempered mean of beta nL_n" in m for m in messages)
    assert not any("posterior mean at beta = 1" in m for m in messages)


def test_fit_slope_inverse_regression_gets_its_hint():
    inverse = lambda log_n, F: ((F - F.mean()) ** 2).sum() / ((F - F.mean()) * log_n).sum()  # noqa: E731
    result = run("free_energy.fit_slope", inverse, "visible")
    assert not result.passed
    assert any("inverse regression" in (v.message or "") for v in result.verdicts)
