"""LLCResult: saved and loaded (torch.load(weights_only=True)), traces exported, plotted without diverged chains."""

import dataclasses
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

from slt_lessons import llc


@pytest.fixture(scope="module")
def result():
    """A real estimate with a diverged chain, a γ/2 run, acceptances and a settings value that is not plain data."""
    pot = lambda W: (W**4).sum(-1) + 0.5 * (W**2).sum(-1)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = llc.estimate_llc(pot, w_star=torch.zeros(2, dtype=torch.float64), nbeta=20.0, gamma=1.0, eps=0.02,
                             n_chains=4, n_steps=200, check_gamma=True, acceptance_every=20, progress=False,
                             theory=Fraction(1, 2))
    r.losses[2, 150] = math.inf  # as a chain that blew up there: stopped and left out
    r.losses[2, 151:] = math.nan
    r.diverged[2] = True
    r.divergence.append("chain 2: diverged at step 150")
    r.settings.update(loss=pot, shape=(2, 3), scale=np.float64(0.5), where=torch.device("cpu"))
    return r


def _assert_same(a, b):
    for f in dataclasses.fields(llc.LLCResult):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            torch.testing.assert_close(y, x.cpu(), rtol=0, atol=0, equal_nan=True)
            assert y.dtype == x.dtype, f.name
        elif isinstance(x, float) and math.isnan(x):
            assert math.isnan(y), f.name
        else:
            assert y == x, f.name


def test_a_saved_result_loads_back_field_for_field(result, tmp_path):
    path = tmp_path / "r.pt"
    result.save(path)
    raw = torch.load(path, weights_only=True)  # plain data: no pickled code runs
    assert raw["format"] == llc.RESULT_FORMAT and raw["llc"] == result.llc
    back = llc.LLCResult.load(path)
    assert str(back) == str(result)
    assert back.theory == 0.5 and isinstance(back.theory, float)  # a Fraction is saved as its float
    s = dict(back.settings)
    assert s.pop("shape") == [2, 3] and s.pop("scale") == 0.5 and s.pop("where") == "cpu"
    assert s.pop("not_saved") == ["settings['loss']: function"]
    assert s == {k: v for k, v in result.settings.items() if k not in ("loss", "shape", "scale", "where")}
    plain = dataclasses.replace(result, settings=back.settings, theory=0.5)
    _assert_same(plain, back)
    _assert_same(plain, llc.LLCResult.from_dict(plain.to_dict()))


def test_from_dict_names_what_is_wrong(result):
    with pytest.raises(ValueError, match="to_dict"):
        llc.LLCResult.from_dict({"llc": 1.0})
    d = result.to_dict()
    del d["losses"]
    with pytest.raises(ValueError, match="losses"):
        llc.LLCResult.from_dict(d)


def test_traces_export_to_csv_and_give_back_the_estimate(result, tmp_path):
    path = tmp_path / "traces.csv"
    result.to_csv(path)
    table = np.genfromtxt(path, delimiter=",", names=True)
    C, T = result.losses.shape
    assert table.dtype.names == ("chain", "step", "loss", "trace", "burn_in", "diverged") and len(table) == C * T
    np.testing.assert_array_equal(table["trace"].reshape(C, T), result.traces.numpy())
    assert table["burn_in"].sum() == C * result.burn_in and table["diverged"].sum() == T
    kept = (table["burn_in"] == 0) & (table["diverged"] == 0)
    per_chain = [table["trace"][kept & (table["chain"] == c)].mean() for c in range(C) if not result.diverged[c]]
    assert np.mean(per_chain) == pytest.approx(float(result.per_chain[~result.diverged].mean()), rel=1e-12)


def _synthetic(traces, diverged, sampler="lm"):
    traces = torch.as_tensor(traces, dtype=torch.float64)
    diverged = torch.as_tensor(diverged)
    good = traces[~diverged, 50:]
    est = float(good.mean()) if len(good) else math.nan
    return llc.LLCResult(llc=est, se=0.1, per_chain=traces[:, 50:].mean(1), ess=torch.full((len(traces),), 50.0),
                         rhat=1.0, diverged=diverged, divergence=[], losses=traces / 100.0, init_loss=0.0, nbeta=100.0,
                         burn_in=50, sampler=sampler)


def _noisy(C, T, seed=0):
    return 2.0 + 0.5 * torch.randn(C, T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_a_diverged_chain_does_not_set_the_axis():
    y = _noisy(4, 200)
    y[3, 80:] = 1e37  # a chain that blew up and was not stopped
    y[1, 190] = math.nan
    fig = _synthetic(y, [False, False, False, True]).plot()
    lo, hi = fig.axes[0].get_ylim()
    good = y[:3].nan_to_num(2.0)
    assert float(good.min()) - 1 < lo <= float(good.min()) and float(good.max()) <= hi < float(good.max()) + 1
    assert fig.axes[0].get_xlabel() == "SGLD (Leimkuhler–Matthews) step"
    assert _synthetic(y, [False] * 3 + [True], sampler="hmc").plot().axes[0].get_xlabel() == "HMC trajectory"


def test_when_every_chain_diverged_the_axis_shows_them_before_they_blew_up():
    y = _noisy(3, 200, seed=1)
    for c, t in enumerate((60, 90, 120)):  # each stopped there: its blow-up value, then NaN
        y[c, t], y[c, t + 1:] = (1e37, math.inf, -1e30)[c], math.nan
    fig = _synthetic(y, [True, True, True]).plot()
    lo, hi = fig.axes[0].get_ylim()
    assert -1 < lo < 2 < hi < 5, (lo, hi)
    y[:, 60:] = 1e37  # chains stuck at a huge value, most of the run: above the estimator's threshold for d = 4
    y[:, 150:] = math.nan
    stuck = _synthetic(y, [True, True, True])
    stuck.settings["d"] = 4
    lo, hi = stuck.plot().axes[0].get_ylim()
    assert -1 < lo < 2 < hi < 5, (lo, hi)
