"""Models and data in every form estimate_llc takes (targets.py), and the errors for bad input."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from slt_lessons import llc
from slt_lessons.targets import evaluate_target

RUN = dict(gamma=1.0, eps=1e-4, n_steps=40, n_chains=2, check_gamma=False, progress=False, seed=3)


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    return x, y


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _estimate(*args, **kwargs):
    with pytest.warns(RuntimeWarning):  # so short a run is flagged; only the numbers matter here
        return llc.estimate_llc(*args, **{**RUN, **kwargs})


class _Dict(nn.Module):
    """A model whose forward takes a dict of two inputs."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)
        self.out = nn.Linear(2, 1)

    def forward(self, inputs):
        return self.out(torch.tanh(self.a(inputs["u"]) + self.b(inputs["v"])))


class _Two(_Dict):
    """The same model, its forward taking two tensors."""

    def forward(self, u, v):
        return super().forward({"u": u, "v": v})


# ---- data: tensors, numpy arrays, loaders, iterables


def test_loader_numpy_and_tensors_give_the_same_estimate():
    x, y = _data()
    model = _mlp()
    ref = _estimate(model, F.mse_loss, (x, y))
    loader = DataLoader(TensorDataset(x, y), batch_size=10)  # 5 batches, the last of 8 rows
    for data in (loader, (x.numpy(), y.numpy()), [(x[:20], y[:20]), (x[20:], y[20:])]):
        res = _estimate(model, F.mse_loss, data)
        torch.testing.assert_close(res.losses, ref.losses, rtol=1e-12, atol=1e-14)
        assert res.settings["n"] == len(x)


def test_numpy_floats_take_the_model_dtype_and_integers_stay_integer():
    x, y = _data()
    x32, labels = x.float().numpy(), (y[:, 0] > 0).long().numpy()
    model = nn.Sequential(nn.Linear(3, 2)).double()
    target = llc.make_target(model, F.cross_entropy, (x32, labels))
    direct = F.cross_entropy(model(torch.from_numpy(x32).double()), torch.from_numpy(labels))
    assert target.w_star.dtype == torch.float64
    torch.testing.assert_close(target.full_loss(target.w_star[None])[0], direct.detach(), rtol=1e-14, atol=0)


def test_n_comes_from_the_loader_or_sets_nbeta_when_given():
    x, y = _data()
    model = _mlp()
    res = _estimate(model, F.mse_loss, ((x[i : i + 16], y[i : i + 16]) for i in range(0, 48, 16)))  # no len
    assert res.settings["n"] == 48 and res.nbeta == pytest.approx(llc.default_nbeta(48))
    res = _estimate(model, F.mse_loss, (x, y), n=1000)
    assert res.settings["n"] == 48 and res.nbeta == pytest.approx(llc.default_nbeta(1000))


def test_a_loader_that_drops_rows_is_rejected():
    x, y = _data()
    with pytest.raises(ValueError, match=r"data: the loader gave 40 rows but len\(data.dataset\) = 48"):
        llc.estimate_llc(_mlp(), F.mse_loss, DataLoader(TensorDataset(x, y), batch_size=10, drop_last=True), **RUN)


# ---- evaluate(model, batch): dicts and several tensors


def test_evaluate_agrees_with_the_tensor_path():
    # The same chains, the same minibatches: to float round-off the same losses, full batch and minibatch.
    x, y = _data()
    model = _mlp()
    for batch_size in (None, 8):
        a = _estimate(model, F.mse_loss, (x, y), batch_size=batch_size)
        b = _estimate(model, data=(x, y), evaluate=lambda m, b: F.mse_loss(m(b[0]), b[1]), batch_size=batch_size)
        torch.testing.assert_close(b.losses, a.losses, rtol=1e-12, atol=1e-14)
        assert b.llc == pytest.approx(a.llc, rel=1e-10)


def _direct_loss(model, state, inputs, y, call):
    """The loss of a copy of ``model`` loaded with ``state``: no functional_call, no vmap."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    with torch.no_grad():
        return F.mse_loss(call(twin, inputs), y)


@pytest.mark.parametrize("kind", ["dict", "two tensors"])
def test_evaluate_gives_each_chain_its_own_parameters(kind):
    x, y = _data()
    inputs = {"u": x, "v": x.flip(1)}
    torch.manual_seed(1)
    if kind == "dict":
        model, data = _Dict().double(), {"u": x, "v": x.flip(1), "y": y}
        evaluate = lambda m, b: F.mse_loss(m({"u": b["u"], "v": b["v"]}), b["y"])  # noqa: E731
        call = lambda m, i: m(i)  # noqa: E731
    else:
        model, data = _Two().double(), (x, x.flip(1), y)
        evaluate = lambda m, b: F.mse_loss(m(b[0], b[1]), b[2])  # noqa: E731
        call = lambda m, i: m(i["u"], i["v"])  # noqa: E731
    target = evaluate_target(model, evaluate, data)
    W = target.w_star + 0.3 * torch.randn(3, target.d, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    got = target.full_loss(W)
    for c in range(3):
        state = {k: v[c] for k, v in target.unflatten(W).items()}
        assert float(got[c]) == pytest.approx(float(_direct_loss(model, state, inputs, y, call)), rel=1e-12)
    res = _estimate(model, data=data, evaluate=evaluate, batch_size=8)
    assert math.isfinite(res.llc) and res.settings["d"] == 3 * 2 + 2 + 3 * 2 + 2 + 2 + 1


class _Records(Dataset):
    """A dataset of dicts: a DataLoader collates them into dicts of tensors."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"u": self.x[i], "v": self.x[i].flip(0), "y": self.y[i]}


def test_evaluate_takes_a_loader_of_dicts():
    x, y = _data()
    model = _Dict().double()
    evaluate = lambda m, b: F.mse_loss(m(b), b["y"])  # noqa: E731
    ref = _estimate(model, data={"u": x, "v": x.flip(1), "y": y}, evaluate=evaluate)
    res = _estimate(model, data=DataLoader(_Records(x, y), batch_size=16), evaluate=evaluate)
    torch.testing.assert_close(res.losses, ref.losses, rtol=1e-12, atol=1e-14)


# ---- params: the LLC of some parameters


def test_params_samples_one_layer_and_records_it():
    x, y = _data()
    model = _mlp()
    first = ["0.weight", "0.bias"]
    for params in ("0.", first, lambda name: name.startswith("0.")):
        res = _estimate(model, F.mse_loss, (x, y), params=params)
        assert res.settings["params"] == first and res.settings["d"] == 3 * 4 + 4
    frozen = _mlp()
    frozen[2].requires_grad_(False)
    res = _estimate(frozen, F.mse_loss, (x, y))
    assert res.settings["params"] == first and res.settings["d"] == 16
    assert _estimate(model, F.mse_loss, (x, y)).settings["params"] == first + ["2.weight", "2.bias"]


def test_params_holds_the_rest_at_their_values():
    x, y = _data()
    model = _mlp()
    target = llc.make_target(model, F.mse_loss, (x, y), params="2.")
    W = target.w_star + 0.1
    state = {**model.state_dict(), **{k: v[0] for k, v in target.unflatten(W[None]).items()}}
    direct = _direct_loss(model, state, x, y, lambda m, i: m(i))
    assert float(target.full_loss(W[None])[0]) == pytest.approx(float(direct), rel=1e-12)


def test_bad_params_are_named():
    x, y = _data()
    with pytest.raises(ValueError, match="params: model has no parameter named '5.weight'"):
        llc.make_target(_mlp(), F.mse_loss, (x, y), params=["0.weight", "5.weight"])
    with pytest.raises(ValueError, match="params='5.' selects none"):
        llc.make_target(_mlp(), F.mse_loss, (x, y), params="5.")
    with pytest.raises(TypeError, match="params must be"):
        llc.make_target(_mlp(), F.mse_loss, (x, y), params=3)
    with pytest.raises(ValueError, match="evaluate and params apply to a model"):
        llc.make_target(lambda W: W.sum(1), w_star=torch.zeros(2), params="0.")


def test_an_integer_parameter_is_named_not_skipped():
    x, y = _data()
    model = _mlp()
    model.register_parameter("count", nn.Parameter(torch.tensor(3), requires_grad=False))
    with pytest.raises(ValueError, match="integer parameter 'count'.*params="):
        llc.estimate_llc(model, F.mse_loss, (x, y), **RUN)
    with pytest.raises(ValueError, match="params: 'count' is an integer parameter"):
        llc.estimate_llc(model, F.mse_loss, (x, y), params=["0.weight", "count"], **RUN)
    res = _estimate(model, F.mse_loss, (x, y), params=lambda name: name != "count")
    assert res.settings["d"] == 21


# ---- bad input: a clear error that names the argument


def test_a_loss_per_sample_is_rejected():
    x, y = _data()
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar.*reduction='none'"):
        llc.estimate_llc(_mlp(), lambda out, t: F.mse_loss(out, t, reduction="none"), (x, y), **RUN)


def test_a_summed_loss_is_rejected():
    x, y = _data()
    with pytest.raises(ValueError, match=r"loss_fn must return the per-sample mean.*reduction='sum'"):
        llc.estimate_llc(_mlp(), lambda out, t: F.mse_loss(out, t, reduction="sum"), (x, y), **RUN)
    with pytest.raises(ValueError, match=r"evaluate must return the per-sample mean"):
        llc.estimate_llc(_mlp(), data=(x, y), evaluate=lambda m, b: ((m(b[0]) - b[1]) ** 2).sum(), **RUN)
    # a large mean is still a mean, and a mean plus a penalty on the weights passes too
    _estimate(_mlp(), lambda out, t: 1e6 * F.mse_loss(out, t), (x, y), eps=1e-10)
    model = _mlp()
    _estimate(model, data=(x, y), evaluate=lambda m, b: F.mse_loss(m(b[0]), b[1]) + (m[0].weight ** 2).sum())


def test_integer_inputs_to_a_float_layer_say_to_convert_x():
    x, y = _data()
    with pytest.raises(ValueError, match=r"data: .*holds integers.*x\.float\(\)"):
        llc.estimate_llc(_mlp(), F.mse_loss, (x.round().long(), y), **RUN)
    torch.manual_seed(0)
    embed = nn.Sequential(nn.Embedding(5, 2), nn.Flatten(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(0)
    tokens, labels = torch.randint(0, 5, (48, 3), generator=g), torch.randint(0, 3, (48,), generator=g)
    assert math.isfinite(_estimate(embed, F.cross_entropy, (tokens, labels)).llc)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_names_device():
    x, y = _data()
    with pytest.raises(ValueError, match=r"device='cuda', but CUDA is not available"):
        llc.estimate_llc(_mlp(), F.mse_loss, (x, y), device="cuda", **RUN)


def test_nan_in_weights_or_data_is_caught_before_sampling():
    x, y = _data()
    model = _mlp()
    with torch.no_grad():
        model[0].weight[1, 2] = math.nan
    with pytest.raises(ValueError, match="model must have finite parameters.*0.weight has 1 NaN"):
        llc.estimate_llc(model, F.mse_loss, (x, y), **RUN)
    x[5, 0] = math.nan
    with pytest.raises(ValueError, match=r"data must be finite, but data\[0\] has 1 NaN"):
        llc.estimate_llc(_mlp(), F.mse_loss, (x, y), **RUN)
    with pytest.raises(ValueError, match="w_star must be finite"):
        llc.estimate_llc(lambda W: (W**2).sum(1), w_star=torch.tensor([0.0, math.nan]), n=100, **RUN)


@pytest.mark.parametrize("name, value", [("nbeta", "100"), ("gamma", "10"), ("eps", "1e-3"), ("n", "100"),
                                         ("nbeta", True), ("eps", 0.0)])
def test_settings_must_be_numbers(name, value):
    x, y = _data()
    with pytest.raises(ValueError, match=f"{name} must be"):
        llc.estimate_llc(_mlp(), F.mse_loss, (x, y), **{**RUN, name: value})


@pytest.mark.parametrize("layer", [nn.Dropout(0.1), nn.AlphaDropout(0.1), nn.BatchNorm1d(2),
                                   nn.InstanceNorm1d(2, track_running_stats=True)])
def test_training_mode_layers_say_to_call_eval(layer):
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Unflatten(1, (2, 2)), layer, nn.Flatten(), nn.Linear(4, 1)).double()
    with pytest.raises(ValueError, match=r"model is in training mode, where layer '2'.*model\.eval\(\)"):
        llc.estimate_llc(model, F.mse_loss, (x, y), **RUN)
    assert math.isfinite(_estimate(model.eval(), F.mse_loss, (x, y)).llc)


def test_a_model_in_training_mode_without_such_layers_is_accepted():
    x, y = _data()
    model = _mlp()
    assert model.training
    assert math.isfinite(_estimate(model, F.mse_loss, (x, y)).llc)


def test_data_of_the_wrong_shape_is_named():
    x, y = _data()
    with pytest.raises(ValueError, match=r"data: loss_fn\(model\(x\), y\) needs batches \(x, y\).*evaluate"):
        llc.estimate_llc(_mlp(), F.mse_loss, {"x": x, "y": y}, **RUN)
    with pytest.raises(ValueError, match="same positive number of rows"):
        llc.estimate_llc(_mlp(), F.mse_loss, (x, y[:10]), **RUN)
    with pytest.raises(TypeError, match="data must be tensors"):
        llc.estimate_llc(_mlp(), F.mse_loss, 5, **RUN)
    with pytest.raises(ValueError, match="not both"):
        llc.estimate_llc(_mlp(), F.mse_loss, (x, y), evaluate=lambda m, b: F.mse_loss(m(b[0]), b[1]), **RUN)
