"""The numbers lesson 6's prose states about its executed results (solutions/l6_phase_transitions)."""

import re

import pytest

from executed import cell_outputs, numbers_after

A = "l6_phase_transitions"


def _cell(marker):
    return next(t for t in cell_outputs(A) if marker in t)


def _crossing_rows():
    text = _cell("grid (yours)")
    rows = re.findall(r"^\s*(0\.\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([-\d.]+)%\s+([\d.]+)\s+([-\d.e+]+)$", text, re.M)
    return text, [tuple(map(float, r)) for r in rows]


def test_grid_crossing_matches_exact_and_leading_order_is_a_few_percent_low():
    """"Your grid crossing agrees with the exact one to the digits printed ... The leading-order crossing is low by a
    few percent, more at larger δ ... the printed error is below 1e-6"."""
    text, rows = _crossing_rows()
    assert [r[0] for r in rows] == [0.01, 0.02, 0.05]
    for delta, grid, exact, lead, err_pct, const, err in rows:
        assert grid == exact
        assert -6 < err_pct < -2
        assert abs(err) < 1e-6
    assert [r[4] for r in rows] == sorted([r[4] for r in rows], reverse=True)  # more negative at larger δ
    # the leading order needs δ <= 1/(4e); the exact posterior still has a crossing at 0.1, none at 0.2
    assert "delta = 0.1: leading order no crossing" in text and "exact n = 3.19" in text
    assert "delta = 0.2: leading order no crossing" in text and "exact none" in text


def test_the_quartic_basin_holds_the_larger_mass_only_in_between():
    """"At n = 0 the masses are the prior's, and the quadratic basin's interval is only a little longer"."""
    text = _cell("largest mass")
    assert numbers_after(text, "largest mass is")[0] > 0.5
    quartic, quadratic = map(float, re.findall(r"the masses are ([\d.]+) and ([\d.]+)", text)[0])
    assert quartic < quadratic < quartic + 0.01


def test_exact_loss_agrees_with_monte_carlo():
    text = _cell("Monte Carlo over")
    exact = numbers_after(text, "your exact loss")[0]
    mc, se = re.findall(r"inputs ([\d.]+) ± ([\d.]+)", text)[0]
    assert abs(exact - float(mc)) < 3 * float(se)


def test_kgon_table():
    """"The 5-gon has rank 14 ... λ = 7 ... rank 17, λ = 17/2 ... The 6-gon ... rank 17 ... the lowest loss", the
    dead bias lowers the loss by exactly 1/144, the gradients are at round-off, no negative eigenvalue."""
    text = _cell("rank/2  note")
    rows = {name.strip(): vals for name, vals in re.findall(r"^(\d-gon(?:, dead bias 1/12)?)\s+(.*)$", text, re.M)}
    parsed = {}
    for name, vals in rows.items():
        nums = vals.split()
        parsed[name] = dict(L=float(nums[2]), grad=float(nums[3]), min_eig=float(nums[4]), smallest=float(nums[5]),
                            rank=int(nums[6]), note=" ".join(nums[8:]))
    assert parsed["5-gon"]["rank"] == 14 and parsed["5-gon, dead bias 1/12"]["rank"] == 17
    assert parsed["6-gon"]["rank"] == 17
    assert parsed["5-gon"]["L"] - parsed["5-gon, dead bias 1/12"]["L"] == pytest.approx(1 / 144, abs=2e-7)
    assert min(p["L"] for p in parsed.values()) == parsed["6-gon"]["L"]
    assert all(p["grad"] < 1e-12 and p["min_eig"] > -1e-12 for p in parsed.values())
    assert "kink" in parsed["4-gon"]["note"]
    # "the smallest nonzero curvatures are a few hundredths"
    assert all(0.01 < parsed[k]["smallest"] < 0.1 for k in ("5-gon", "5-gon, dead bias 1/12", "6-gon"))
    assert all("λ = rank/2" in parsed[k]["note"] for k in ("5-gon", "5-gon, dead bias 1/12", "6-gon"))


def _llc_rows():
    text = _cell("alone predicts")
    return {m[0].strip(): (float(m[1]), float(m[2]), float(m[3]), float(m[4]), m[5])
            for m in re.findall(r"^(.+?)\s+LLC\s+([-\d.]+) ± ([\d.]+)\s+rank/2 =\s+([\d.]+).*alone predicts ([\d.]+)\)"
                                r"\s+flags: (\S+)", text, re.M)}


def test_llc_estimates_within_a_few_tenths_of_rank_over_2_and_see_the_dead_bias():
    rows = _llc_rows()
    assert len(rows) == 3
    for llc_, se, half_rank, gamma_only, flags in rows.values():
        assert abs(llc_ - half_rank) < 0.5  # "within a few tenths of rank/2"
        assert gamma_only < half_rank  # "the localisation alone would pull ... below rank/2"
        assert se < llc_ - gamma_only < 3 * se  # "above that prediction, by one to three SEs"
        assert flags == "-"
    extra = rows["5-gon, dead bias 1/12"][0] - rows["5-gon"][0]
    assert extra == pytest.approx(1.5, abs=0.5)  # "they see the extra 3/2"


def test_predicted_transition_and_normalisation():
    """"the 5-gon below n_c, the 6-gon above it ... moves n_c by a little more than a factor 2 ... the estimated λ's
    ... move n_c by a large fraction"; the 5-gon with dead bias is refused."""
    text = _cell("5-gon -> 6-gon")
    n_half, n_est = numbers_after(text, "n_c =")
    n_full = float(re.findall(r"(\d+) with L itself", text)[0])
    assert n_half == pytest.approx(1010, abs=1) and n_full == pytest.approx(445, abs=1)
    assert 2 < numbers_after(text, "ratio")[0] < 2.5
    assert abs(n_est - n_half) / n_half > 0.1
    assert "lam1 must be smaller than lam2" in text
    exact_line = next(line for line in text.splitlines() if "exact λ = rank/2" in line)
    assert "n = 500: 5-gon" in exact_line and "n = 2000: 6-gon" in exact_line


def _development_rows():
    text = _cell("LLC at checkpoint")
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+([\d.]+)\s+(\d)\s+([-\d.]+) ±\s*([\d.]+)\s+([\d.]+)\s+(\d)\s+([-\d.]+) ±\s*([\d.]+)\s+"
                     r"([-\d.]+)\s+(\S+) / (\S+)", line)
        if m:
            g = m.groups()
            rows.append(dict(step=int(g[0]), L=float(g[1]), live=int(g[2]), llc=float(g[3]), L_low=float(g[5]),
                             live_low=int(g[6]), llc_low=float(g[7]), se_low=float(g[8]), shift=float(g[9]),
                             flags=g[10], flags_low=g[11], boundary="boundary" in line))
    return text, rows


def test_development_stages():
    """The stages of section 3, as the prose reads them off the printed rows."""
    text, rows = _development_rows()
    assert rows and sum(r["boundary"] for r in rows) >= 2
    four = [r for r in rows if r["live"] == 4 and r["live_low"] == 4]
    assert four and all(r["L_low"] == pytest.approx(1 / 9 - 1 / 144, abs=1e-5) for r in four)
    # "On the 4-column plateau every estimate is flagged not_minimum, and is negative"
    # "After the first drop ... a stage with 3 live columns ...; its checkpoints descend to the next plateau"
    three = [r for r in rows if r["live"] == 3]
    assert three and rows[0] in three and all(r["live_low"] == 4 for r in three)
    plateau4 = [r for r in rows if r["live"] == 4]
    assert all("not_minimum" in r["flags"] and r["llc"] < 0 for r in plateau4)
    assert all("not_minimum" in r["flags_low"] and r["llc_low"] < 0 for r in four)
    # "The checkpoints just before the last boundary ... descend to the 5-gon"
    leaving = [r for r in rows if r["live"] == 4 and r["live_low"] == 5]
    assert leaving
    # "On the 5-gon plateau the estimates at the checkpoints read low, by about the printed shift ... After descent
    # they are close to the 5-gon's rank/2 = 7"
    five = [r for r in rows if r["live"] == 5 and "not_minimum" not in r["flags"]]
    assert len(five) >= 2
    for r in five:
        assert r["llc"] < r["llc_low"]
        assert (r["llc_low"] - r["llc"]) == pytest.approx(r["shift"], abs=3 * r["se_low"] + 0.1)
        assert abs(r["llc_low"] - 7) < 3 * r["se_low"]
        assert r["L_low"] == pytest.approx(0.0687436, abs=1e-5)
    # "The run ends at the 5-gon"
    assert rows[-1]["live"] == 5


def test_phase_sequence_demo():
    text = _cell("made-up phases")
    assert "5-gon -> 6-gon | switches at n = [1010]" in text
    assert "visited: [0, 1, 3, 4]" in text and "never preferred: [2]" in text


def test_sgd_five_gon_has_a_small_dead_column_with_negative_bias():
    """"Its dead column is small but not zero, with a negative bias (printed last)"."""
    text = _cell("smallest column")
    norm, bias = numbers_after(text, "norm")[0], numbers_after(text, "bias")[0]
    assert 0 < norm < 0.3 and bias < 0
    # inside the flat region: the dead column's ReLU is off for every input, |W_d|·|W_j| < |b_d|
    assert norm * numbers_after(text, "live columns have norm")[0] < -bias
