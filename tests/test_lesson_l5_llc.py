"""The numbers lesson 5's prose states about its executed results (solutions/l5_llc)."""

import re

import pytest

from executed import cell_outputs, numbers_after, printed

A = "l5_llc"


def _cell(marker):
    return next(t for t in cell_outputs(A) if marker in t)


def _rows(text, name):
    return [line for line in text.splitlines() if line.startswith(name)]


def test_same_estimator_reference_and_multiplicity_term_are_printed():
    text = _cell("same estimator, exact")
    dln = _rows(text, "DLN")[0]
    assert numbers_after(dln, "λ − (m−1)/log nβ")[0] == pytest.approx(5.5 - 0.40, abs=0.01)  # "−0.40 for the DLN"


def test_sweep_regular_row_at_3e3_keeps_acceptance_near_09_with_12_percent_bias():
    text = _cell("eps = 3e-03")
    row = next(r for r in _rows(text, "regular") if "eps = 3e-03" in r)
    assert numbers_after(row, "acceptance")[0] >= 0.85
    # the estimate shows the bias the prose computes (exact expectation 4.966 / (1 − 0.11) ≈ 5.57)
    assert numbers_after(row, "estimate")[0] == pytest.approx(4.966 / (1 - 3e-3 * 145.76 / 4), rel=0.05)


def test_dln_estimate_rises_steadily_with_eps():
    text = _cell("eps = 3e-03")
    est = [numbers_after(r, "estimate")[0] for r in _rows(text, "DLN")]
    assert est == sorted(est) and len(est) == 5


def test_digits_claims():
    text = _cell("h = 8")
    rows = re.findall(r"h = (\d+): d = (\d+)", text)
    llcs = numbers_after(text, "LLC")
    rhats = numbers_after(text, "R-hat")
    assert len(llcs) == 8
    d_half = [int(d) / 2 for _, d in rows]
    assert all(v < d / 10 for v, d in zip(llcs, [d_half[0]] * 4 + [d_half[1]] * 4))  # far below d/2
    for k in (0, 4):  # per width: γ = 10 vs 100 differ several-fold; at γ = 10 halving ε moves it by several SE
        g10, g10_half, g100 = llcs[k], llcs[k + 1], llcs[k + 2]
        assert g10 / g100 > 2
        ses = numbers_after(text, "±")
        assert abs(g10 - g10_half) > 3 * max(ses[k], ses[k + 1])
        assert rhats[k] > 1.2  # "R̂ is far above 1" at γ = 10


def test_minibatch_uses_the_dataset_size():
    text = _cell("batch size 50")
    assert all(v == pytest.approx(144.8, abs=0.05) for v in numbers_after(text, "nβ ="))


def test_last_cell_names_the_check_command():
    import nbformat
    from executed import SOLUTIONS

    nb = nbformat.read(SOLUTIONS / A / f"{A}.ipynb", as_version=4)
    assert "`.venv/bin/slt-course check my-work/l5_llc/l5_llc.ipynb`" in nb.cells[-1].source
