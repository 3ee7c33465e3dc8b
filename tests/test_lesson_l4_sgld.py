"""The numbers lesson 4's prose states about its executed results, asserted against the executed solution
(``solutions/l4_sgld/l4_sgld.ipynb``, which ``slt-course build`` writes and ``build --check`` keeps current)."""

from __future__ import annotations

import math
import re

import pytest

from executed import printed
from slt_lessons import sgld

A = "l4_sgld"


@pytest.fixture(scope="module")
def out() -> str:
    return printed(A)


def _rows(pattern: str, text: str) -> list[tuple[float, ...]]:
    return [tuple(float(x) for x in m) for m in re.findall(pattern, text)]


def test_quartic_target_small_step_agrees_large_step_is_too_wide(out):
    """Section 2: "The small step agrees with the grid to within about 1.1 %, less than three standard errors.
    The larger one is about 2 % too wide and many standard errors off"."""
    rows = _rows(r"eps =\s*([\d.e-]+): E\[w\^2\].*relative error = ([-+\d.]+)%\s+z = ([-+\d.]+)", out)
    assert [r[0] for r in rows] == [5e-4, 0.01]
    (_, rel_small, z_small), (_, rel_large, z_large) = rows
    assert round(abs(rel_small), 1) == 1.1 and abs(z_small) < 3
    assert 1.5 < rel_large < 2.5 and z_large > 5


def test_rule_of_thumb_inflation():
    """Section 3: eps * a = 0.1 inflates the variance by 1/(1 - 0.025) - 1 ≈ 2.6 %."""
    assert sgld.stationary_variance(0.1, 0.0, 1.0) * 0.1 - 1 == pytest.approx(0.0256, abs=5e-5)


def test_largest_step_demo_hits_the_tolerance(out):
    """Section 3: the step from largest_step puts the bias at the tolerance (within three standard errors);
    the stiffest-direction step is smaller and biased less."""
    rows = dict((name.strip(), (float(e), float(b), float(se), float(t))) for name, e, b, se, t in re.findall(
        r"^\s*(largest_step|stiffest direction alone): eps = ([\d.]+)\s+measured bias =\s*([-\d.]+)% ± ([\d.]+)% "
        r"\(SE\)\s+tol = ([\d.]+)%", out, re.M))
    eps, bias, se, tol = rows["largest_step"]
    assert abs(bias - tol) < 3 * se
    eps_s, bias_s, se_s, _ = rows["stiffest direction alone"]
    assert eps_s < eps and bias_s < tol - 3 * se_s


def test_minibatch_variances(out):
    """Section 4: measured variances close to exact (a few per cent); batch 10 more than a third too large,
    batch 1 more than four times; the full batch's exact value exceeds 1/nbeta by the factor 1/(1 - eps*a/4)."""
    rows = re.findall(r"batch\s+(\w+): variance ([\d.e+-]+)\s+exact ([\d.e+-]+)\s+ratio to the target 1/nbeta = "
                      r"([\d.]+)", out)
    assert [r[0] for r in rows] == ["full", "100", "10", "1"]
    for _, var, exact, _ in rows:
        assert abs(float(var) / float(exact) - 1) < 0.06
    ratio = {b: float(r) for b, _, _, r in rows}
    assert ratio["10"] > 4 / 3 and ratio["1"] > 4
    nbeta = float(re.search(r"n = \d+, nbeta = ([\d.]+), eps", out).group(1))
    full_exact = float(rows[0][2])
    assert full_exact * nbeta == pytest.approx(1 / (1 - 0.1 / 4), rel=2e-3)  # eps * kappa = 0.1


def test_mala_table(out):
    """Section 5: MALA's variance*a is 1 within three times the printed Monte Carlo error; SGLD's grows;
    the acceptance falls as eps*a grows."""
    mc = float(re.search(r"about sqrt\(2/C\) = ([\d.]+)", out).group(1))
    rows = _rows(r"(?m)^\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", out.split("eps*a   SGLD")[1].split("\n\n")[0])
    assert len(rows) == 3
    for _, sgld_var, mala_var, _ in rows:
        assert abs(mala_var - 1) < 3 * mc
    assert [r[1] for r in rows] == sorted(r[1] for r in rows) and rows[-1][1] > 2
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)


def test_diagnostics_section(out):
    """Section 6: the acceptance falls as eps grows; R-hat near 1."""
    acc = _rows(r"eps = ([\d.e-]+): mean acceptance after burn-in = ([\d.]+)", out)
    assert [a[0] for a in acc] == [1e-3, 3e-3, 1e-2]
    assert [a[1] for a in acc] == sorted((a[1] for a in acc), reverse=True)
    assert acc[0][1] > 0.9  # the smallest step meets the empirical guide
    rhat = float(re.search(r"split R-hat = ([\d.]+)", out).group(1))
    assert abs(rhat - 1) < 0.05


def test_step_demo_matches_gradient_descent_with_a_nonzero_w_star(out):
    """Section 1: with w* = (0.5, 0.5) the noiseless step printed equals the gradient-descent step printed."""
    sgld_line = re.search(r"SGLD step without noise:\s*(\[.*\])", out).group(1)
    gd_line = re.search(r"gradient descent, eta = eps/2:\s*(\[.*\])", out).group(1)
    assert sgld_line == gd_line == "[0.6875, -1.3375]"


def test_library_default_step_keeps_the_bias_near_two_percent_like_largest_step(out):
    """Section 3, the library's step: "Both hold the bias at the 2% tolerance: the exact bias at the library's step is
    within a few tenths of a per cent of 2% ..., at yours it is 2% to round-off"."""
    rows = _rows(r"(?m)^\s*\[[\d., ]+\]\s+([\d.e+-]+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.e+-]+)\s+([\d.]+)%", out)
    assert len(rows) == 3
    for lib_eps, bound, lib_exact, mine, mine_exact in rows:
        assert abs(lib_exact - 2) < 0.5 and mine_exact == 2.0
        assert lib_eps == pytest.approx(mine, rel=0.1)  # the two rules give nearly the same step on a quadratic
