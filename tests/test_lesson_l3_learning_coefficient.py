"""The numbers lesson 3's prose states about its executed results (issue 9, part 5).

Each test reads what the executed solution notebook printed (``solutions/``, kept current by
``slt-course build --check``) and asserts the statement the text makes about it.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from executed import numbers_after, printed

A = "l3_learning_coefficient"


@pytest.fixture(scope="module")
def out():
    return printed(A)


def test_fisher_ranks_and_the_global_lambda(out):
    """Section 1: generic point full rank; dead, merged, a = 0 and a = b = 0 lower it; the global lambda is 5/6."""
    ranks = [int(r) for r in re.findall(r"Fisher rank (\d+) of 6", out)]
    assert ranks == [6, 5, 4, 3, 0]
    assert "lambda = 5/6 = 0.833, m = 1" in out  # the prose: rank 3 at a = 0 (local 3/2) against 5/6


def test_volume_fits_are_near_not_on_the_exact_values(out):
    rows = re.findall(r"^(\S.*?)\s+(-?\d\.\d{3})\s+(\d\.\d{3})\s+(\d)$", out, flags=re.M)
    diffs = [abs(float(fit) - float(exact)) for _, fit, exact, _ in rows]
    assert len(diffs) == 5
    assert max(diffs) < 0.06 and max(diffs) > 0.005


def test_blow_up_volume_exponent(out):
    assert abs(numbers_after(out, "volume exponent")[0] - 0.5) < 0.02


def test_independent_sums_agree_with_the_free_energy_slope(out):
    rows = re.findall(r"^(w1\^\d (?:w2\^\d )?\+ w\d\^\d)\s+(\d\.\d+)\s+(\d+(?:/\d+)?)\s+(\d\.\d+)\s+(\d)$", out, flags=re.M)
    assert [r[0] for r in rows] == ["w1^2 + w2^4", "w1^4 + w2^6", "w1^2 w2^2 + w3^2"]
    assert rows[2][2:] == ("1", rows[2][3], "2")  # the row with a tie in a block: m = 2 (exercise 7's answer)
    for _, lam_fit, lam, m_fit, m in rows:
        assert abs(float(lam_fit) - float(Fraction(lam))) < 0.01 and abs(float(m_fit) - int(m)) < 0.1


def test_rrr_volume_estimate_close_to_three_halves_but_outside_its_se(out):
    """Section 5's prose: far from d/2 = 4, close to 3/2, but not within its standard error."""
    match = re.search(r"lambda = (\d\.\d+) \+- (\d\.\d+)", out)
    lam, se = float(match.group(1)), float(match.group(2))
    assert abs(lam - 1.5) < 0.15 and abs(lam - 1.5) > 2 * se and lam < 4 - 2


def test_two_layers_agree(out):
    assert "two layers agree with reduced-rank regression on all cases: True" in out


def test_free_energy_slopes(out):
    rows = re.findall(r"^(\S.*?)\s+(\d\.\d{3})\s+(\d\.\d{3})\s+(\d\.\d{2})\s+(\d)$", out, flags=re.M)
    assert len(rows) == 3
    for _, lam_fit, lam, m_fit, m in rows:
        assert abs(float(lam_fit) - float(lam)) < 0.01 and abs(float(m_fit) - int(m)) < 0.25


def test_every_check_passed(out):
    assert "FAILED" not in out
