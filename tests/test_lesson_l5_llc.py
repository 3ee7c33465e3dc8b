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


def test_sweep_regular_row_at_3e3_keeps_acceptance_above_09_with_12_percent_bias():
    text = _cell("eps = 3.00e-03")
    row = next(r for r in _rows(text, "regular") if "eps = 3.00e-03" in r)
    assert numbers_after(row, "acceptance")[0] >= 0.9  # "its printed acceptance is still above 0.9"
    # the estimate shows the bias the prose computes (exact expectation 4.966 / (1 − 0.11) ≈ 5.57)
    assert numbers_after(row, "estimate")[0] == pytest.approx(4.966 / (1 - 3e-3 * 145.76 / 4), rel=0.05)


def test_sweep_halves_eps_from_each_value_to_the_next():
    text = _cell("eps = 3.00e-03")
    eps = [numbers_after(r, "eps =")[0] for r in _rows(text, "regular")]
    assert all(b == pytest.approx(2 * a) for a, b in zip(eps, eps[1:]))


def test_dln_estimate_rises_steadily_with_eps():
    text = _cell("eps = 3.00e-03")
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


def test_burn_in_blocks():
    """Section 2: "the first 25 steps are far below the rest, and from step 50 on the blocks agree with the estimate
    within their noise (under 2.5 of their SEs)"."""
    text = _cell("steps [")
    estimate = numbers_after(text, "LLC estimate")[0]
    blocks = re.findall(r"steps \[\s*(\d+),\s*(\d+)\): mean ([-\d.]+) ± ([\d.]+)", text)
    assert blocks and int(blocks[0][0]) == 0 and int(blocks[0][1]) == 25
    assert float(blocks[0][2]) < 0.1 * estimate
    later = [(float(m), float(se)) for a, _, m, se in blocks if int(a) >= 50]
    assert len(later) >= 3 and all(abs(m - estimate) < 2.5 * se for m, se in later)


def test_section2_run_has_about_35_effective_draws_and_your_rhat_is_the_library_s():
    text = _cell("section 2's run")
    assert 30 <= numbers_after(text, "mean ESS")[0] <= 40  # "the run above, with about 35, has too few"
    assert numbers_after(text, "split R-hat")[0] == numbers_after(text, "the library's")[0]


def test_choose_eps_on_the_dln_falls_short_with_too_few_draws():
    """"The acceptance is far above 0.9 and R̂ is below 1.1, yet the estimate falls short of the exact value by about
    three combined SEs, and the chains have a mean of fewer than 100 effective draws"."""
    row = _cell("your eps =")
    assert numbers_after(row, "acceptance")[0] >= 0.95 and numbers_after(row, "R-hat")[0] < 1.1
    assert -4.0 <= numbers_after(row, "combined SE")[0] <= -2.5
    assert numbers_after(row, "mean ESS")[0] < 100


def test_minibatch_uses_the_dataset_size():
    text = _cell("batch size 50")
    assert all(v == pytest.approx(144.8, abs=0.05) for v in numbers_after(text, "nβ ="))


def test_minibatch_estimate_agrees_with_full_batch_within_noise():
    """"the minibatch estimate differs from the full-batch one by less than two combined SEs"."""
    text = _cell("batch size 50")
    (full, full_se), = re.findall(r"batch size all:.*estimate ([-\d.]+) ± ([\d.]+)", text)
    (batch, batch_se), = re.findall(r"batch size 50:.*estimate ([-\d.]+) ± ([\d.]+)", text)
    combined = (float(full_se) ** 2 + float(batch_se) ** 2) ** 0.5
    assert abs(float(batch) - float(full)) < 2 * combined
    (in_se,) = re.findall(r"= ([-+][\d.]+) combined SEs", text)
    assert abs(float(in_se)) < 2
