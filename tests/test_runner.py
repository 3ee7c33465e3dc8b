"""The check runner as a learner meets it: `yours` in demonstrations, a report printed once, cases that
must raise, inputs changed in place, randomness not taken from the `generator` given."""

import pytest
import torch

from slt_lessons import free_energy
from slt_lessons.checks import CheckFailed, check, yours


def test_uses_the_learners_function_when_written(capsys):
    def bic(nLn_min, d, n):
        return torch.as_tensor(nLn_min) * 0 + 7.0

    assert float(yours(bic)(nLn_min=torch.tensor(1.0), d=2, n=10)) == 7.0
    assert capsys.readouterr().out == ""


def test_falls_back_to_the_reference_once_with_one_line(capsys):
    def bic(nLn_min, d, n):
        raise NotImplementedError()

    f = yours(bic)
    args = dict(nLn_min=torch.tensor(10.0), d=2, n=100)
    assert float(f(**args)) == float(free_energy.bic(**args))
    assert float(f(**args)) == float(free_energy.bic(**args))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "`bic` is not written yet" in lines[0] and "slt_lessons.free_energy.bic" in lines[0]


def test_other_errors_are_the_learners_to_see():
    def bic(nLn_min, d, n):
        raise ZeroDivisionError("mine")

    with pytest.raises(ZeroDivisionError, match="mine"):
        yours(bic)(nLn_min=torch.tensor(1.0), d=2, n=10)


def test_not_an_exercise_function_is_a_clear_error():
    def helper():
        pass

    with pytest.raises(ValueError, match="no single exercise has a function named 'helper'"):
        yours(helper)
    with pytest.raises(ValueError, match="takes an exercise function"):
        yours(3)


def test_a_failed_check_prints_its_report_once(capsys):
    with pytest.raises(CheckFailed) as info:
        check("free_energy.bic", lambda nLn_min, d, n: 1.0)
    out = capsys.readouterr().out
    wrong = out.count("WRONG")
    assert wrong >= 2 and "WRONG" not in str(info.value)
    assert f"{wrong} of {out.count('  ok') + wrong} visible cases wrong" in str(info.value)


def test_a_check_as_a_cells_last_line_shows_its_report_once():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import torch\nfrom slt_lessons import free_energy\nfrom slt_lessons.checks import check\n"
        "check('free_energy.bic', free_energy.bic)")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    shown = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in nb.cells[0].outputs)
    assert shown.count("PASSED free_energy.bic") == 1


def test_a_case_may_expect_an_error(monkeypatch):
    from slt_lessons.checks import registry, runner

    def ref(x):
        if x < 0:
            raise ValueError(f"x must be >= 0, got {x}")
        return float(x)

    case = registry.Case("a negative x (must raise ValueError)", {"x": -1.0}, raises=ValueError)
    monkeypatch.setitem(registry._REGISTRY, "t.ref", registry.Exercise(
        "t.ref", ref, cases=lambda suite, device: [case], judge=registry.scalar_close(0, 0)))

    def verdict(fn):
        return runner.judge("t.ref", runner.collect("t.ref", fn)).verdicts[0].message

    class MyError(ValueError):
        pass

    def subclass(x):
        raise MyError("mine")

    assert verdict(ref) is None
    assert verdict(subclass) is None
    assert "must raise ValueError" in verdict(lambda x: float(x)) and "returned float" in verdict(lambda x: float(x))
    assert "raised TypeError" in verdict(lambda x: x + "a")


def test_a_function_that_changes_its_input_in_place_fails():
    import math

    from slt_lessons.checks import runner

    def in_place_step(w, grad, w_star, eps, nbeta, gamma, noise):
        w.sub_(0.5 * eps * (nbeta * grad + gamma * (w - w_star)))
        return w.add_(math.sqrt(eps) * noise)

    result = runner.judge("sgld.sgld_step", runner.collect("sgld.sgld_step", in_place_step))
    assert not result.passed
    assert all("changed its input `w` in place" in v.message for v in result.verdicts)


def test_a_function_given_a_generator_that_uses_the_global_random_state_fails():
    from slt_lessons.checks import runner

    def reseeds(log_posterior, log_weights, n_samples, generator):
        torch.manual_seed(generator.initial_seed())  # same draws for the same seed, but global state
        return torch.multinomial(torch.exp(log_posterior + log_weights).flatten(), n_samples, replacement=True)

    result = runner.judge("posterior.sample_grid", runner.collect("posterior.sample_grid", reseeds))
    assert not result.passed
    assert "used (or reseeded) torch's global random state" in result.verdicts[0].message


def test_a_function_that_draws_from_a_copy_of_its_generator_fails():
    from slt_lessons.checks import runner

    def copies(log_posterior, log_weights, n_samples, generator):
        p = torch.exp(log_posterior + log_weights).flatten()
        g = torch.Generator(device=p.device)
        g.set_state(generator.get_state())  # same draws for the same seed, but `generator` never advances
        return torch.multinomial(p, n_samples, replacement=True, generator=g)

    result = runner.judge("posterior.sample_grid", runner.collect("posterior.sample_grid", copies))
    assert not result.passed
    assert "did not draw from `generator`" in result.verdicts[0].message
