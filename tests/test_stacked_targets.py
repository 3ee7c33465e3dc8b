"""module_target's fast paths for plain stacks of layers agree with vmap(functional_call) and autograd."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from slt_lessons import llc, potentials, targets


def _data(n=30, out=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randn(n, out, generator=g, dtype=torch.float64))


def _pair(model, loss_fn, data, params=None, monkeypatch=None):
    """The target as built, and the same target through vmap(functional_call) and autograd (the general path)."""
    fast = targets.module_target(model, loss_fn, data, params=params)
    with monkeypatch.context() as m:
        m.setattr(targets, "_stack_plan", lambda *a: None)
        general = targets.module_target(model, loss_fn, data, params=params)
    return fast, general


CASES = [  # model, loss, params, by hand (no autograd)?
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 4, bias=False), nn.Tanh(),
                           nn.Linear(4, 2)), potentials.gaussian_nll, None, True),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.ReLU(), nn.Identity(), nn.Linear(4, 2), nn.Tanh()),
     F.mse_loss, None, True),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Linear(4, 2)), nn.MSELoss(),
     ["0.bias", "2.weight"], True),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Linear(4, 2)), potentials.gaussian_nll,
     "3.", True),
    (lambda: nn.Sequential(nn.Tanh(), nn.Linear(3, 2)), potentials.gaussian_nll, None, True),
    (lambda: nn.Linear(3, 2), F.mse_loss, None, True),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)), potentials.gaussian_nll, None, False),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1), nn.Linear(4, 2)), F.mse_loss, None, False),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), lambda o, t: F.mse_loss(o, t), None, False),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fast_paths_agree_with_vmap_and_autograd(case, monkeypatch):
    make, loss_fn, params, by_hand = CASES[case]
    torch.manual_seed(case)
    model = make().double()
    fast, general = _pair(model, loss_fn, _data(), params, monkeypatch)
    assert (fast.loss_grad is not None) == by_hand
    g = torch.Generator().manual_seed(1)
    W = fast.w_star + 0.3 * torch.randn(5, fast.d, generator=g, dtype=torch.float64)
    v = torch.randn(5, fast.d, generator=g, dtype=torch.float64)
    for idx in (None, torch.randint(30, (5, 7), generator=g)):
        (l1, g1), (l2, g2) = fast.loss_and_grad(W, idx), general.loss_and_grad(W, idx)
        torch.testing.assert_close(l1, l2, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(g1, g2, rtol=1e-11, atol=1e-13)
        torch.testing.assert_close(fast.loss(W, idx), l2, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(llc._hvp(fast, W, v), llc._hvp(general, W, v), rtol=1e-10, atol=1e-12)


def test_other_models_keep_vmap():
    x, y = _data()
    for model in (nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)),  # not pointwise
                  nn.Sequential(nn.Sequential(nn.Linear(3, 2))),  # nested
                  nn.Sequential(nn.Linear(5, 2))):  # does not fit x: functional_call says so
        assert targets._stack_plan(model.double(), [k for k, _ in model.named_parameters()], x) is None
    shared = nn.Linear(3, 3)
    for model in (nn.Sequential(shared, nn.Tanh(), shared),):  # one layer twice: its parameters once
        assert targets._stack_plan(model.double(), [k for k, _ in model.named_parameters()], x) is None
    model = nn.Sequential(nn.Linear(3, 2)).double()
    model[0].register_forward_hook(lambda *a: None)
    assert targets._stack_plan(model, ["0.weight", "0.bias"], x) is None


def test_kept_buffers_never_leak_into_results():
    x, y = _data()
    torch.manual_seed(0)
    target = targets.module_target(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double(),
                                   potentials.gaussian_nll, (x, y))
    W = target.w_star + 0.3 * torch.randn(4, target.d, dtype=torch.float64)
    loss, grad = target.loss_and_grad(W)
    kept = loss.clone(), grad.clone()
    target.loss_and_grad(W + 1)
    target.loss_and_grad(W - 1, torch.randint(30, (4, 5)))
    assert torch.equal(loss, kept[0]) and torch.equal(grad, kept[1])


def test_float32_model_agrees_with_float64():
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    t64 = targets.module_target(model, potentials.gaussian_nll, (x, y))
    t32 = targets.module_target(model, potentials.gaussian_nll, (x, y), dtype=torch.float32)
    W = t64.w_star + 0.3 * torch.randn(6, t64.d, dtype=torch.float64)
    (l64, g64), (l32, g32) = t64.loss_and_grad(W), t32.loss_and_grad(W.float())
    torch.testing.assert_close(l32.double(), l64, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-5)
