"""scripts/mutate.py: the mutation test of the exercise references generates and judges mutants."""

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("slt_mutate", REPO / "scripts" / "mutate.py")
mutate = importlib.util.module_from_spec(_spec)
sys.modules["slt_mutate"] = mutate
_spec.loader.exec_module(mutate)


def _sample(x, n):
    """Docstring constants (2.0 + 1) and its text are never mutated."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n + 1}")
    y = (x * 2.0).sum() - x.max()
    return -y + n


def test_every_operator_kind_is_generated_and_ids_are_stable():
    ms = mutate.generate(_sample, "t.sample")
    kinds = {m.operator for m in ms}
    assert kinds == {"sign", "swap", "const", "drop", "reduce", "boundary", "scale"}
    assert len({m.id for m in ms}) == len(ms)
    assert [m.id for m in ms] == [m.id for m in mutate.generate(_sample, "t.sample")]
    afters = {m.operator: set() for m in ms}
    for m in ms:
        afters[m.operator].add(m.after)
    assert "y = (x * 2.0).mean() - x.max()" in afters["reduce"]
    assert "y = (x * 2.0).sum() - x.min()" in afters["reduce"]
    assert "if n <= 1:" in afters["boundary"]
    assert "y = (x * 2.0).sum() + x.max()" in afters["sign"]
    assert "return y + n" in afters["sign"]
    assert "y = (x / 2.0).sum() - x.max()" in afters["swap"]
    assert {"y = (x * 3.0).sum() - x.max()", "y = (x * 0.0).sum() - x.max()", "y = (x * 4.0).sum() - x.max()"} \
        <= afters["const"]
    assert "if n < 2:" in afters["const"] and "if n < 0:" in afters["const"]
    assert "return _scale(-y + n)" in afters["scale"]
    assert "pass" in afters["drop"]  # the validation dropped
    assert "return -y" in afters["drop"] and "return n" in afters["drop"]
    # the docstring and the error message are not mutated
    for m in ms:
        assert "Docstring" not in m.before + m.after
        assert not ("raise" in m.before and "raise" in m.after)


def test_mutants_compile_and_are_unique():
    ms = mutate.generate(_sample, "t.sample")
    sources = [ast.unparse(m.tree) for m in ms]
    assert len(set(sources)) == len(sources)
    reference = ast.unparse(mutate._function_tree(_sample))
    assert reference not in sources


def _twice(a):
    return a + a


def test_an_equivalent_rewrite_is_generated_once():
    drops = [m for m in mutate.generate(_twice, "t.twice") if m.operator == "drop"]
    assert [m.after for m in drops] == ["return a"]  # keep-left and keep-right give the same source


def test_bic_scaled_result_is_killed_and_library_unchanged():
    from slt_lessons import free_energy
    from slt_lessons.checks import runner

    ms = {m.id: m for m in mutate.mutants("free_energy.bic")}
    assert {m.operator for m in ms.values()} >= {"sign", "swap", "const", "drop", "scale"}
    scaled = ms["free_energy.bic:scale:0"]
    assert scaled.after == "return _scale(nLn_min + d / 2 * math.log(n))"
    fn = mutate.compile_mutant(scaled)
    assert fn.__name__ == "bic" and fn is not free_energy.bic
    assert fn(1.0, 2, 10) == pytest.approx(1.02 * free_energy.bic(1.0, 2, 10))
    assert not runner.passes("free_energy.bic", fn)
    assert "_scale" not in vars(free_energy)
    # judged in forked children: the scaled result is killed, a dropped term too
    dropped = ms["free_energy.bic:drop:1"]
    assert dropped.after == "return nLn_min"
    verdicts = mutate.judge_all([scaled, dropped], jobs=2, timeout=30)
    assert verdicts == {scaled.id: "killed", dropped.id: "killed"}


def test_a_survivor_survives_and_a_hang_is_killed_by_the_timeout():
    ms = {m.id: m for m in mutate.mutants("free_energy.bic")}
    ref = ms["free_energy.bic:scale:0"]
    same = mutate.Mutant("t:same:0", "free_energy.bic", "same", "", "",
                         ast.parse("def bic(nLn_min, d, n):\n    return d / 2 * math.log(n) + nLn_min\n"))
    hang = mutate.Mutant("t:hang:0", "free_energy.bic", "hang", "", "",
                         ast.parse("def bic(nLn_min, d, n):\n    while True:\n        pass\n"))
    verdicts = mutate.judge_all([same, hang, ref], jobs=2, timeout=2)
    assert verdicts == {"t:same:0": "survived", "t:hang:0": "killed (timeout)", ref.id: "killed"}
