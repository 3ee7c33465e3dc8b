"""The numbers lesson 7's prose states about its executed results (solutions/l7_generalisation)."""

import math
import re

from executed import cell_outputs, numbers_after

A = "l7_generalisation"


def _cell(marker):
    return next(t for t in cell_outputs(A) if marker in t)


def _table():
    text = _cell("data sets per row")
    rows = {}
    for m in re.finditer(r"^\s*(regular|singular)\s+(\d+)\s+([-\d.]+) ± ([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([-\d.]+)\s+"
                         r"([-\d.]+) ± ([\d.]+)\s+([-\d.]+) ± ([\d.]+)\s+([-\d.]+) ± ([\d.]+)$", text, re.M):
        g = m.groups()
        rows[g[0], int(g[1])] = dict(gap=float(g[2]), gap_se=float(g[3]), lam=float(g[4]), two_nu=float(g[7]),
                                     two_nu_se=float(g[8]), V=float(g[9]), V_se=float(g[10]), waic=float(g[11]),
                                     waic_se=float(g[12]))
    return rows


def test_the_table_has_both_models_at_three_n():
    rows = _table()
    assert {(m, n) for m in ("regular", "singular") for n in (10, 100, 1000)} <= set(rows)


def test_lambda_by_prediction():
    """"The regular model's n E[G_n − L(w0)] is within its noise of 1/2 at every n. The singular model's is within
    its noise of 1/4 from n = 100 on (at n = 10 it is lower ...), and far below d/2 = 1/2 at every n"."""
    rows = _table()
    for (model, n), r in rows.items():
        if model == "regular":
            assert abs(r["gap"] - 0.5) < 3 * r["gap_se"]
        else:
            assert r["gap"] < 0.5 - 5 * r["gap_se"]
            if n >= 100:
                assert abs(r["gap"] - 0.25) < 3 * r["gap_se"]
    assert rows["singular", 10]["gap"] < 0.25


def test_equation_of_state_and_waic():
    """"row by row they agree within three combined SEs ... from n = 100 on, n E[WAIC − Ln(w0)] agrees with
    n E[G_n − L(w0)] within their noise ...; at n = 10 the singular model's WAIC runs high"; the regular E[V_n] is
    close to d = 1; the singular one below both 1 and 1/2."""
    rows = _table()
    for (model, n), r in rows.items():
        assert abs(r["two_nu"] - r["V"]) < 3 * math.hypot(r["two_nu_se"], r["V_se"])
        if n >= 100:
            assert abs(r["waic"] - r["gap"]) < 3 * math.hypot(r["waic_se"], r["gap_se"])
        if model == "regular" and n >= 100:
            assert abs(r["V"] - 1) < 0.05
        if model == "singular":
            assert r["V"] < 0.5 - 3 * r["V_se"]
    assert rows["singular", 10]["waic"] > rows["singular", 10]["gap"]


def test_loo_section():
    text = _cell("exact LOO on the grid")
    assert abs(numbers_after(text, "difference")[0]) < 1e-10
    assert numbers_after(text, "Pareto k of the outlier")[0] > 0.7
    assert numbers_after(text, "largest k of the others")[0] < 0.5
    is_off, psis_off = numbers_after(text, "off by")[:2]
    waic_off = numbers_after(text, "off exact LOO by")[0]
    assert abs(psis_off) < abs(is_off) and min(abs(is_off), abs(psis_off)) > 1e-4
    assert abs(waic_off) > max(abs(is_off), abs(psis_off))


def test_criteria_section():
    text = _cell("regular, nested")
    picks = {(label.strip(), int(n)): dict(re.findall(r"(\w+) -> (\d)", rest))
             for label, n, rest in re.findall(r"^(.+?)\s+n =\s+(\d+): (.*)$", text, re.M)}
    for (label, n), p in picks.items():
        if label.startswith("regular, nested"):
            assert p["AIC"] == p["WAIC"] and p["BIC"] == p["F_n"]
    nested = {n: p for (label, n), p in picks.items() if label.startswith("regular, nested")}
    assert nested[1000]["G_n"] == "1" and nested[1000]["F_n"] == "0"
    sing = {n: p for (label, n), p in picks.items() if label.startswith("regular d = 4")}
    assert sing[1000]["WAIC"] == "1" and sing[1000]["AIC"] == "0"
    assert sing[5000]["F_n"] == "1" and sing[5000]["BIC"] == "0"
    assert len(set(sing[100000].values())) == 1


def test_llc_result_is_refused():
    assert _cell("TypeError: log_lik is an LLCResult")
