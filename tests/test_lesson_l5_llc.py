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
    """"its estimate rises steadily with ε" (over the rows that have one)."""
    text = _cell("eps = 3.00e-03")
    est = [numbers_after(r, "estimate")[0] for r in _rows(text, "DLN") if "estimate" in r]
    assert est == sorted(est) and len(est) == 4


def test_dln_chains_diverge_from_1_5e3_on():
    """"From ε = 1.5·10⁻³ on, its chains also diverge ... (165 for d = 33, about thirty times the estimate at the
    smallest step) ... Half of the chains stop at 1.5·10⁻³, all but one at 3·10⁻³, and all of them at 6·10⁻³"."""
    rows = _rows(_cell("eps = 3.00e-03"), "DLN")
    assert [r.split(":")[0].split("eps = ")[1] for r in rows] == ["3.75e-04", "7.50e-04", "1.50e-03", "3.00e-03", "6.00e-03"]
    assert "diverged" not in rows[0] and "diverged" not in rows[1]
    assert "4 of 8 chains diverged (stopped)" in rows[2]
    assert "7 of 8 chains diverged (stopped)" in rows[3]
    assert "all 8 chains diverged (stopped)" in rows[4] and "estimate" not in rows[4]
    assert 10 * max(33 / 2, 10) == 165
    assert 25 < 165 / numbers_after(rows[0], "estimate")[0] < 35


_DIGITS_ROW = re.compile(r"gamma =\s*(\d+), eps = ([\d.e-]+): LLC\s+([-\d.]+) ± ([\d.]+)\s+R-hat ([\d.]+).*"
                         r"at gamma/2\s+([-\d.]+) ± ([\d.]+)\s+flags (\S+)")


def _digits_rows():
    text = _cell("h = 8")
    return text, [(int(g), float(e), float(v), float(se), float(rh), float(half), float(half_se), set(fl.split(",")) - {"-"})
                  for g, e, v, se, rh, half, half_se, fl in _DIGITS_ROW.findall(text)]


def test_digits_claims():
    text, rows = _digits_rows()
    widths = re.findall(r"h = (\d+): d = (\d+)", text)
    assert len(rows) == 8
    llcs, ses, rhats = [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]
    d_half = [int(d) / 2 for _, d in widths]
    assert all(v < d / 10 for v, d in zip(llcs, [d_half[0]] * 4 + [d_half[1]] * 4))  # far below d/2
    for k in (0, 4):  # per width: γ = 10 vs 100 differ several-fold; at γ = 10 halving ε moves it by several SE
        g10, g10_half, g100 = llcs[k], llcs[k + 1], llcs[k + 2]
        assert g10 / g100 > 2
        assert abs(g10 - g10_half) > 3 * max(ses[k], ses[k + 1])
        assert rhats[k] > 1.2  # "R̂ is far above 1" at γ = 10


def test_digits_flags():
    """"no row is free of them. Every run at γ = 10 is flagged drift ..., not_mixed and few_draws. At γ = 100 the run at
    γ/2 raises every estimate by more than 40%, by more than 3 combined SEs in three of the four runs, which are flagged
    gamma ... No run is flagged not_minimum"."""
    _, rows = _digits_rows()
    assert all(flags for *_, flags in rows)
    assert all({"drift", "not_mixed", "few_draws"} <= flags for g, *_, flags in rows if g == 10)
    g100 = [(v, se, half, half_se, flags) for g, _, v, se, _, half, half_se, flags in rows if g == 100]
    assert len(g100) == 4 and all(half > 1.4 * v for v, _, half, _, _ in g100)
    assert sum("gamma" in flags for *_, flags in g100) == 3
    beyond = [half - v > 3 * (se**2 + half_se**2) ** 0.5 for v, se, half, half_se, _ in g100]
    assert sum(beyond) == 3  # "by more than 3 combined SEs in three of the four runs"
    assert not any("not_minimum" in flags for *_, flags in rows)


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
    three combined SEs, and the chains have a mean of fewer than 100 effective draws: ... the library's flag
    few_draws already does"."""
    row = _cell("your eps =")
    assert numbers_after(row, "acceptance")[0] >= 0.95 and numbers_after(row, "R-hat")[0] < 1.1
    assert -4.0 <= numbers_after(row, "combined SE")[0] <= -2.5
    assert numbers_after(row, "mean ESS")[0] < 100
    assert "the library's trust flags on this run: few_draws" in row


def test_library_default_is_mala_and_agrees_with_the_reference():
    """"Without eps, a full-batch estimate runs MALA ... (the printed bound is 0%) ... Here it settled more than ten
    times above your ε, and the estimate agrees with section 5's MALA reference within one combined SE"."""
    text = _cell("no eps given")
    assert "MALA, ε =" in text and "step-size bias ≤ 0%" in text
    assert "no eps given: MALA at its tuned" in text
    (ratio,) = re.findall(r"\((\d+) times your eps\)", text)
    assert int(ratio) > 10
    assert abs(numbers_after(text, "difference")[0]) < 1


def test_section2_result_carries_the_few_draws_flag():
    """Section 2: "the library's printout already says so in its NOT TRUSTED (few_draws) line"."""
    assert "NOT TRUSTED (few_draws)" in _cell("steps [")


def test_minibatch_uses_the_dataset_size():
    text = _cell("batch size 50")
    assert all(v == pytest.approx(144.8, abs=0.05) for v in numbers_after(text, "nβ ="))


_MB_ROW = r"batch size {}:.*; (MALA|SGLD) at ε = ([\d.e+-]+), step-size bias ≤ ([\d.]+)%: estimate ([-\d.]+) ± ([\d.]+)"


def test_minibatch_estimate_agrees_with_full_batch_within_noise():
    """"The full batch ran MALA; the minibatches ran SGLD, at a much smaller step ... MALA's step is several times
    full-batch SGLD's ... Full-batch SGLD's step is a few times the minibatch one ... bias at 2% ... The minibatch SE is
    several times the full batch's ... many more effective draws per chain than full-batch SGLD's ... less than one
    combined SE"."""
    text = _cell("batch size 50")
    (full_s, full_eps, full_bound, full, full_se), (sgld_s, sgld_eps, _, _, _) = re.findall(_MB_ROW.format("all"), text)
    (batch_s, batch_eps, batch_bound, batch, batch_se), = re.findall(_MB_ROW.format("50"), text)
    assert (full_s, sgld_s, batch_s) == ("MALA", "SGLD", "SGLD") and float(full_bound) == 0
    mala_over_sgld, sgld_over_batch = numbers_after(text, "full-batch SGLD =")[0], numbers_after(text, "batch-50 SGLD =")[0]
    assert 5 <= mala_over_sgld < 50 and 2 <= sgld_over_batch < 10  # "several times", "a few times"
    assert float(full_eps) / float(sgld_eps) == pytest.approx(mala_over_sgld, rel=0.05)
    assert float(batch_bound) == pytest.approx(2.0, abs=0.1)
    assert float(batch_se) > 3 * float(full_se)
    # "the printed SD of the recorded nβ(L − L(w*)) per step is many times the estimate itself, against less than the
    # estimate for the full batch"; the minibatch trace shows more effective draws than full-batch SGLD's
    full_sd, sgld_sd, batch_sd = numbers_after(text, "per step:")
    assert batch_sd > 5 * float(batch) and full_sd < float(full)
    _, ess_sgld, ess_batch = numbers_after(text, "effective draws per chain")
    assert ess_batch > 3 * ess_sgld
    combined = (float(full_se) ** 2 + float(batch_se) ** 2) ** 0.5
    assert abs(float(batch) - float(full)) < combined
    (in_se,) = re.findall(r"= ([-+][\d.]+) combined SEs", text)
    assert abs(float(in_se)) < 1


def _verdicts():
    return [line for line in _cell("library flags").splitlines() if "library flags" in line]


def test_verdicts_on_the_regular_sweep():
    """Section 8: "at ε = 3·10⁻³ the acceptance passes its bound and halving the step still moves the estimate by more
    than 3 SEs ... At 1.5·10⁻³ the verdict is "trust", yet the exact expectation printed beside it is 6% above the
    step-free value 4.966 of section 5: halving moved the estimate by about one SE ... The library's step flag does
    see it"."""
    rows = {r.split("eps = ")[1][:8]: r for r in _verdicts() if r.startswith("regular")}
    r3 = rows["3.00e-03"]
    assert " step bias " in r3 and numbers_after(r3, "acceptance")[0] >= 0.9 and numbers_after(r3, "moved it")[0] > 3
    r15 = rows["1.50e-03"]
    assert " trust " in r15 and "step" in r15.split("library flags")[1]
    assert numbers_after(r15, "exact")[0] / 4.966 == pytest.approx(1.06, abs=0.006)
    assert 0.5 <= numbers_after(r15, "moved it")[0] <= 1.5
    assert "4.966" in _cell("same estimator, exact")


def test_verdicts_on_the_dln_sweep():
    """"No deep linear network run earns "trust": the acceptance is below 0.9 from 7.5·10⁻⁴ up ... At 1.5·10⁻³ and
    3·10⁻³ your verdict judges only the chains that did not diverge (4 and 1 of 8) ... the library's diverged flag
    does; at 6·10⁻³ no chain is left to judge"."""
    rows = [r for r in _verdicts() if r.startswith("DLN")]
    assert len(rows) == 4 and not any(" trust " in r for r in rows)
    assert all(numbers_after(r, "acceptance")[0] < 0.9 for r in rows[:3])
    assert "4 of 8 chains diverged" in rows[1] and "7 of 8 chains diverged" in rows[2]
    assert all("diverged" in r.split("library flags")[1] for r in rows[1:])
    assert "all chains diverged (stopped): nothing to judge" in rows[3]


def test_verdicts_on_the_digits_runs():
    """"None of the digits runs earns "trust" either: three have chains that disagree, and the fourth (h = 8,
    γ = 100) has about 20 effective draws per chain; the library's flags agree, and add gamma at γ = 100"."""
    rows = [r for r in _verdicts() if r.startswith("digits")]
    assert len(rows) == 4 and sum(" not mixed " in r for r in rows) == 3
    (fourth,) = [r for r in rows if " not mixed " not in r]
    assert "h =  8, gamma = 100" in fourth and " too few draws " in fourth
    assert 15 <= numbers_after(fourth, "mean ESS")[0] <= 25
    for r in rows:
        flags = r.split("library flags")[1]
        assert ("gamma" in flags) == ("gamma = 100" in r)
        assert ("not_mixed" in flags) == (" not mixed " in r) and "few_draws" in flags
