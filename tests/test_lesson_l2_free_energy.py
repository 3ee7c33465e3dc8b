"""Every number lesson 2's prose states about an executed result, checked against the executed solution.

The lesson prints most of its numbers beside the prose; these tests hold the statements the prose
makes about them (a slope equal to lambda, a difference that keeps falling, a column that stays flat).
"""

from __future__ import annotations

import re

import pytest

from executed import cell_outputs, numbers_after, printed

A = "l2_free_energy"


@pytest.fixture(scope="module")
def out():
    return printed(A)


def _table(text, header):
    """The rows of numbers printed after the line that contains ``header``, up to the first blank or other line."""
    lines = text[text.index(header):].splitlines()[1:]
    rows = []
    for line in lines:
        nums = re.findall(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", line)
        if not nums or not re.match(r"\s*[\d.]", line):
            break
        rows.append([float(v) for v in nums])
    return rows


def test_grid_and_laplace_match_the_closed_form(out):
    """§1–2: 'Let's test it where the answer is known'; Laplace exact for the Gaussian mean, BIC off by a constant."""
    assert abs(numbers_after(out, "difference:")[0]) < 1e-8
    exact, laplace, bic = numbers_after(out, "exact F_n =")[0], numbers_after(out, "Laplace   =")[0], numbers_after(out, "BIC       =")[0]
    assert abs(exact - laplace) < 1e-5 and abs(exact - bic) > 0.1


def test_laplace_raises_on_the_singular_hessian(out):
    assert "ValueError: hessian is not positive definite" in out


def test_singular_penalties_table_says_what_the_prose_says(out):
    """§2: the exact penalty rises at every step, by 0.50, 0.54 and 1.04, about 0.30 per unit of log n; the
    Laplace column rises, below the exact one at 1e2, close at 1e3, above at 1e4, below at 1e5."""
    rows = _table(out, "exact F_n    Laplace")
    exact, laplace = [r[1] for r in rows], [r[2] for r in rows]
    assert len(rows) == 4
    assert [f"{b - a:.2f}" for a, b in zip(exact, exact[1:])] == ["0.50", "0.54", "1.04"]
    growth = (exact[-1] - exact[0]) / (2.302585 * 3)  # per unit of log n over n = 1e2 .. 1e5
    assert f"{growth:.2f}" == "0.30"
    assert all(b > a for a, b in zip(laplace, laplace[1:]))
    assert laplace[0] < exact[0] - 0.2 and abs(laplace[1] - exact[1]) < 0.05
    assert laplace[2] > exact[2] + 0.2 and laplace[3] < exact[3] - 0.2


def test_the_gaussian_demo_grid_shows_an_even_spacing_mistake():
    """§1: the demo's grid is uneven, so weights from the first spacing alone would show a large difference."""
    import math

    import torch

    a = 2.0
    grid = (-a + 2 * a * torch.linspace(0, 1, 4001, dtype=torch.float64) ** 2)
    gaps = grid.diff()
    assert abs(gaps[0].item() - 2.5e-7) < 1e-9 and abs(gaps[-1].item() - 2e-3) < 1e-6
    y = 0.4 + torch.randn(200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    nLn = 0.5 * ((y[None, :] - grid[:, None]) ** 2).sum(1)
    log_prior = torch.full_like(grid, -math.log(2 * a))
    v = torch.cat([gaps[:1], gaps[1:] + gaps[:-1], gaps[-1:]]) / 2
    even = torch.full_like(grid, gaps[0].item())
    even[0] = even[-1] = gaps[0].item() / 2
    right = -torch.logsumexp(log_prior - nLn + v.log(), 0)
    wrong = -torch.logsumexp(log_prior - nLn + even.log(), 0)
    assert (wrong - right).abs() > 1.0


def test_slopes_equal_lambda_when_m_is_1_and_fall_short_when_m_is_2(out):
    """§3: 'For m = 1 the slope is lambda to the digits printed. For w1^2 w2^2 (m = 2) it is visibly low'."""
    rows = {line.split("  ")[0].strip(): [float(v) for v in line.split()[-4:]]
            for line in out[out.index("model                       slope"):].splitlines()[1:5]}
    for name, (slope, lam, m, _) in rows.items():
        if m == 1:
            assert f"{slope:.4f}" == f"{lam:.4f}", name
        else:
            assert lam - slope > 0.03, name
    assert numbers_after(out, "largest |your 1-D grid - 2-D quadrature| over n = 1e1..1e12:")[0] < 1e-4


def test_m_needs_the_correction_term(out):
    """§3: 'Without that last term the fitted m is off'."""
    lam_with = numbers_after(out, "with the c/log n term:    lambda =")[0]
    m_with, m_without = numbers_after(out, "m =")[:2]  # the two fit lines, in order
    assert abs(m_with - 2) < 0.1 and abs(m_without - 2) > 2 * abs(m_with - 2)
    assert abs(lam_with - 0.5) < 0.005


def test_wbic_matches_the_gaussian_closed_form(out):
    wbic, exact = numbers_after(out, "WBIC =")[0], numbers_after(out, "nL_n(ybar) + log(n)/2 =")[0]
    assert abs(wbic - exact) < 1e-5


def test_wbic_spread_rates(out):
    """§4: regular SD*log n near sqrt(1/2) and mean near (1/2)(1 - 1/log n); singular SD*sqrt(log n)
    roughly constant while SD*log n climbs."""
    rows = _table(out, "   n |   mean     SD SD*sqrt(log n)")
    assert len(rows) == 6
    sing_sqrt = [r[3] for r in rows]
    sing_log = [r[4] for r in rows]
    reg_mean, reg_log = [r[5] for r in rows], [r[7] for r in rows]
    assert max(sing_sqrt) / min(sing_sqrt) < 1.35
    assert sing_log[-1] / sing_log[0] > 1.35
    # the SD of chi2_1 from N = 400 draws: relative SE sqrt((kurtosis - 1)/(4N)) = sqrt(14/1600) = 9.4%
    assert all(abs(v - 0.7071) < 2 * 0.094 * 0.7071 for v in reg_log)
    means_line = out[out.index("mean (1/2)(1 - 1/log n) ="):].splitlines()[0]
    theory = [float(v) for v in re.findall(r"0\.\d+", means_line)]
    assert all(abs(m - t) < 0.02 for m, t in zip(reg_mean, theory))


def test_model_selection_table(out):
    """§5: F2 - F1 settles when c = 0.3, keeps falling for c = 0 (-0.77 ... -2.07 over 1e2..1e12), while
    the WBIC difference changes ever more slowly (-0.907 at 1e6, -0.974 at 1e12: 0.07 over six decades,
    while F2 - F1 falls by 0.57, -1.496 -> -2.069)."""
    rows = _table(out, "c = 0.3: F2 - F1")
    assert len(rows) == 11
    c03 = [r[1] for r in rows]
    f0, w0 = [r[3] for r in rows], [r[4] for r in rows]
    assert max(c03[1:]) - min(c03[1:]) < 0.01
    assert all(b < a for a, b in zip(f0, f0[1:]))
    assert round(f0[0], 2) == -0.77 and round(f0[-1], 2) == -2.07
    assert abs(w0[-1] + 1) < 0.05 and abs(w0[-1] - w0[-2]) < 0.01 and f0[-2] - f0[-1] > 0.05
    assert (w0[4], w0[-1], f0[4], f0[-1]) == (-0.907, -0.974, -1.496, -2.069)  # the numbers the prose quotes
    assert round(w0[4] - w0[-1], 2) == 0.07 and round(f0[4] - f0[-1], 2) == 0.57
    steps = [a - b for a, b in zip(w0[4:], w0[5:])]
    assert all(s > 0 for s in steps) and all(b <= a for a, b in zip(steps, steps[1:]))  # ever more slowly


def test_phase_transition_prediction_agrees(out):
    """§6: the predicted basin is the one of larger exact probability at the sample sizes printed, and next to
    the switch the exact probability is far from 0 and 1."""
    assert "at 11 of 11 sample sizes" in out
    rows = _table(out, "P(basin w > 1)")
    probs = [r[1] for r in rows]
    switch = next(i for i, p in enumerate(probs) if p > 0.5)
    assert 0.1 < probs[switch - 1] < 0.9 and 0.1 < probs[switch] < 0.9


def test_the_solution_printed_its_outputs():
    assert len(cell_outputs(A)) > 10
