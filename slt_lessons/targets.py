"""What a sampler samples: a loss on a batch of flat parameter vectors, one row per chain.

Both samplers (:mod:`slt_lessons.sgld`, :mod:`slt_lessons.mala`) and the LLC estimator
(:mod:`slt_lessons.llc`) work on a :class:`Target`: parameters stacked as a tensor ``W`` of
shape ``(C, d)`` (C chains, d parameters), and a function giving each chain's mean loss
``L(W[c])`` on a batch of data, or on no data at all for a potential such as a population
loss ``K(w)``. Chains never interact, so the gradient of ``loss(W).sum()`` with respect to
``W`` is, row by row, each chain's own gradient: one backward pass serves all chains.

An ``nn.Module`` becomes a target through ``torch.func.functional_call`` and ``torch.vmap``
over the stacked parameters (Lau et al. 2023 sample such models with SGLD; batching the
chains is ours). :func:`target_from_model` takes the other forms :func:`slt_lessons.llc.estimate_llc`
accepts (numpy arrays, DataLoaders, ``evaluate(model, batch)``, a subset of the parameters) and
checks the model, the data and the loss before anything is sampled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call

from slt_lessons.validation import as_tensor, require_finite, require_ndim

__all__ = [
    "Target",
    "module_target",
    "evaluate_target",
    "potential_target",
    "target_from_model",
    "collect_data",
    "sampled_names",
    "check_model",
    "check_loss",
    "check_device",
]


@dataclass
class Target:
    """A loss on stacked parameters.

    ``loss(W, idx)`` returns the ``(C,)`` mean losses of the chains ``W`` (shape ``(C, d)``)
    on the data rows ``idx`` (a ``(C, B)`` index tensor, one minibatch per chain), or on the
    full data when ``idx`` is None. ``n`` is the dataset size (None for a potential);
    ``has_data`` says whether minibatches can be drawn; ``w_star`` is the flat parameter the chains start from and are localized at.
    ``names``: the model's parameters that ``w_star`` stacks, in order (None for a potential).
    """

    loss: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    w_star: torch.Tensor
    n: int | None = None
    unflatten: Callable[[torch.Tensor], dict] | None = None
    has_data: bool = False
    names: list[str] | None = None
    loss_grad: Callable | None = None  # (W, idx) -> (losses, gradients) without autograd, where a target has it

    @property
    def d(self) -> int:
        return self.w_star.numel()

    def loss_and_grad(self, W: torch.Tensor, idx: torch.Tensor | None = None):
        """Per-chain losses ``(C,)`` and gradients ``(C, d)`` of the loss at ``W``."""
        if self.loss_grad is not None:
            return self.loss_grad(W.detach(), idx)
        with torch.enable_grad():
            W = W.detach().requires_grad_(True)
            losses = self.loss(W, idx)
            (grad,) = torch.autograd.grad(losses.sum(), W)
        return losses.detach(), grad

    def full_loss(self, W: torch.Tensor) -> torch.Tensor:
        """Per-chain losses on the full data, without gradients."""
        with torch.no_grad():
            return self.loss(W, None)


def potential_target(potential: Callable, w_star, *, n: int | None = None) -> Target:
    """A data-free target: ``potential(W)`` maps ``(C, d)`` to ``(C,)`` row by row."""
    w_star = require_finite("w_star", require_ndim("w_star", as_tensor("w_star", w_star), 1))

    def loss(W, idx=None):
        out = potential(W)
        if out.shape != W.shape[:1]:
            raise ValueError(f"potential must map (C, d) to (C,), got {tuple(out.shape)} for {tuple(W.shape)}")
        return out

    return Target(loss=loss, w_star=w_star, n=n)


def module_target(model: torch.nn.Module, loss_fn: Callable, data, *, device=None, dtype=None, params=None) -> Target:
    """A target from a model, ``loss_fn(model(x), y)`` (a mean over the batch) and ``data = (x, y)``.

    The model's current parameters are ``w*``; ``params`` chooses those sampled (:func:`sampled_names`),
    the rest are held at their values. Chains are evaluated with
    ``vmap(functional_call)`` over parameters stacked on a leading chain dimension, except a plain stack
    of layers (an ``nn.Linear``, or an ``nn.Sequential`` of ``nn.Linear`` layers and pointwise
    activations, on 2-D inputs x): all chains at once, one matrix product per layer along the data rows,
    and with a squared error (``potentials.gaussian_nll``, ``F.mse_loss``) and ReLU, Tanh or Sigmoid
    activations the gradient by hand, without autograd. The same values to float round-off, several
    times faster per step on the CPU.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ValueError("loss_fn must be callable as loss_fn(model(x), y)")
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError("data must be a pair (x, y) of tensors with the same first dimension")
    names = sampled_names(model, params)
    if not names:
        raise ValueError("model has no trainable parameters")
    params = dict(model.named_parameters())
    ref = params[names[0]]
    dtype = dtype or (ref.dtype if ref.is_floating_point() else torch.float64)
    device = device or ref.device
    x = torch.as_tensor(data[0]).to(device=device, dtype=dtype if data[0].is_floating_point() else None)
    y = torch.as_tensor(data[1]).to(device=device, dtype=dtype if data[1].is_floating_point() else None)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"data: x and y must have the same positive length, got {x.shape[0]} and {y.shape[0]}")
    w_star, unflatten = flat_parameters(params, names, device=device, dtype=dtype)
    buffers = held_tensors(model, names, device=device, dtype=dtype)  # the buffers and the parameters not sampled

    def one_chain(p, xb, yb):
        return loss_fn(functional_call(model, (p, buffers), (xb,)), yb)

    plan = _stack_plan(model, names, x)  # a plain stack of Linear layers and activations: evaluated without vmap
    scale = _squared_error(plan, loss_fn, y)  # and with a squared error: its gradient without autograd

    def rows(idx):  # the data, shared by the chains (idx None), or each chain's minibatch (C, B, ...)
        if idx is None:
            return x, y
        # index_select on the flat indices: much faster than x[idx] for a (C, B) index on the CPU
        flat = idx.reshape(-1)
        return (x.index_select(0, flat).reshape(*idx.shape, *x.shape[1:]),
                y.index_select(0, flat).reshape(*idx.shape, *y.shape[1:]))

    def loss(W, idx=None):
        xb, yb = rows(idx)
        if plan is not None:
            out = _stacked(plan, unflatten(W), buffers, xb, idx is not None)
            return torch.vmap(loss_fn, in_dims=(0, None if idx is None else 0))(out, yb)
        return torch.vmap(one_chain, in_dims=(0, None, None) if idx is None else (0, 0, 0))(unflatten(W), xb, yb)

    y_t = y.T.contiguous() if scale is not None else None  # (features, rows): the layout of _stacked's outputs
    work = _Workspace()
    first = None if scale is None else min(i for i, (m, w, b) in enumerate(plan) if w in names or b in names)

    def loss_grad(W, idx=None):
        xb, yb = rows(idx)
        yb = y_t if idx is None else yb.transpose(-1, -2)
        return _stacked_squared_error(plan, scale, names, unflatten(W), buffers, xb, yb, idx is not None, work, first)

    return Target(loss=loss, w_star=w_star, n=x.shape[0], unflatten=unflatten, has_data=True, names=names,
                  loss_grad=None if scale is None else loss_grad)


# Parameter-free layers that act element by element, whatever the layout of their input
_POINTWISE = (torch.nn.Identity, torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.GELU, torch.nn.SiLU,
              torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.Softplus, torch.nn.Mish)
_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def _stack_plan(model, names, x):
    """The layers of ``model`` as ``[(module, weight name, bias name)]`` (names None for an activation) when it is
    an ``nn.Linear`` or an ``nn.Sequential`` of ``nn.Linear`` layers and pointwise activations, without hooks, on
    floating 2-D inputs: then :func:`_stacked` evaluates every chain at once. None otherwise
    (``vmap(functional_call)``)."""
    glob = torch.nn.modules.module
    if (not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point()
            or any(getattr(glob, "_global" + h, None) for h in _HOOKS)):
        return None
    # every entry, as Sequential.forward runs them (named_children would list a layer used twice once)
    layers = list(model._modules.items()) if type(model) is torch.nn.Sequential else [("", model)]
    plan, covered, features = [], set(), x.shape[1]
    for prefix, m in layers:
        if m is None or any(getattr(m, h, None) for h in _HOOKS) or list(m.named_buffers()):
            return None
        key = prefix + "." if prefix else ""
        if type(m) is torch.nn.Linear:
            if m.in_features != features or any(m is other for other, _, _ in plan):  # misfit (functional_call says
                return None                                                          # so), or shared weights
            features = m.out_features
            bias = key + "bias" if m.bias is not None else None
            plan.append((m, key + "weight", bias))
            covered.update({key + "weight", bias})
        elif type(m) in _POINTWISE and not (getattr(m, "inplace", False) and not covered):  # never in place on x
            plan.append((m, None, None))
        else:
            return None
    if not plan or any(getattr(model, h, None) for h in _HOOKS) or not set(names) <= covered:
        return None
    return plan


def _stacked(plan, p, held, xb, per_chain):
    """``model(x)`` of every chain, ``(C, rows, out)``, for a :func:`_stack_plan` stack; ``p`` the chains' parameters
    ``{name: (C, *shape)}``, ``held`` the others', ``xb`` the data ``(rows, in)`` shared by the chains, or one batch
    per chain ``(C, rows, in)`` when ``per_chain``. Activations are kept as ``(C, features, rows)``, so that every
    product runs along the rows (its longest side: ``bmm`` of tiny matrices is slow), and a first layer on shared data
    is one matrix product for all chains."""
    h, batched = xb.transpose(-1, -2), per_chain  # (in, rows), or (C, in, rows)
    for m, weight, bias in plan:
        if weight is None:
            h = m(h)
            continue
        w = p.get(weight)
        if w is not None and not batched:  # (C, out, in) on shared inputs: one product for all the chains
            h = (w.reshape(-1, w.shape[-1]) @ h).view(w.shape[0], w.shape[1], h.shape[-1])
        else:
            h = torch.matmul(held[weight] if w is None else w, h)
        batched = batched or w is not None
        if bias is not None:
            b = p.get(bias)
            batched = batched or b is not None
            h = h + (held[bias] if b is None else b).unsqueeze(-1)
    return _RowMajor.apply(h) if batched else h.transpose(-1, -2)


# Activations the gradient below differentiates by hand: (in place, out of place, backward from the output into g)
_AT = torch.ops.aten
_DERIVATIVES = {
    torch.nn.Identity: None,
    torch.nn.ReLU: (lambda h: h.clamp_(min=0), torch.relu,
                    lambda g, out: _AT.threshold_backward.grad_input(g, out, 0, grad_input=g)),
    torch.nn.Tanh: (torch.Tensor.tanh_, torch.tanh, lambda g, out: _AT.tanh_backward.grad_input(g, out, grad_input=g)),
    torch.nn.Sigmoid: (torch.Tensor.sigmoid_, torch.sigmoid,
                       lambda g, out: _AT.sigmoid_backward.grad_input(g, out, grad_input=g)),
}


def _squared_error(plan, loss_fn, y):
    """s when ``loss_fn(out, y)`` is s·Σ(out − y)²/rows, with out and y of the same shape (rows, features):
    ``potentials.gaussian_nll`` (s = ½) and the mean squared error (s = 1/features), on a :func:`_stack_plan` stack of
    activations :func:`_stacked_squared_error` differentiates. None otherwise (autograd)."""
    from slt_lessons.potentials import gaussian_nll  # here: potentials is not needed to build a target

    if plan is None or any(w is None and type(m) not in _DERIVATIVES for m, w, _ in plan):
        return None
    out = next(m.out_features for m, w, _ in reversed(plan) if w is not None)
    if not (isinstance(y, torch.Tensor) and y.is_floating_point() and y.dim() == 2 and y.shape[1] == out):
        return None
    mse = loss_fn is torch.nn.functional.mse_loss or (type(loss_fn) is torch.nn.MSELoss and loss_fn.reduction == "mean"
                                                      and not any(getattr(loss_fn, h) for h in _HOOKS))
    return 0.5 if loss_fn is gaussian_nll else 1 / out if mse else None


class _Workspace(dict):
    """The large intermediate tensors of :func:`_stacked_squared_error`, kept from one step to the next: a fresh
    megabyte-sized tensor per step costs the CPU its page faults (the allocator returns it to the system) and took
    about as long as the products themselves."""

    def buffer(self, key, shape, like):
        key = (key, tuple(shape), like.dtype, like.device)
        t = super().get(key)
        if t is None:
            if len(self) > 64:
                self.clear()
            t = self[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return t


def _stacked_squared_error(plan, scale, names, p, held, xb, yb, per_chain, work, first):
    """Losses ``(C,)`` and gradients ``(C, d)`` (in the order of ``names``) of a squared error
    ``scale·Σ(out − y)²/rows`` (:func:`_squared_error`) for every chain, ``yb`` given as ``(out, rows)`` or
    ``(C, out, rows)``, by hand: the products of :func:`_stacked` forward, then backward through the same layout,
    one product per weight gradient (on shared data the first layer's is one for all chains), no autograd, no
    vmap, the large intermediates in ``work`` (a :class:`_Workspace`); ``first``: the first layer with sampled
    parameters, where the backward pass stops. The same arithmetic as autograd's, in another order: equal to
    float round-off."""
    with torch.no_grad():
        h, batched, own, kept = xb.transpose(-1, -2), per_chain, False, []
        for i, (m, weight, bias) in enumerate(plan):
            if weight is None:
                act = _DERIVATIVES[type(m)]
                if act is not None:  # in place on a product of ours, which no one else keeps
                    h, own = act[0](h) if own else act[1](h), False
                kept.append(h)
                continue
            kept.append((h, batched))
            w = p.get(weight)
            if w is not None and not batched:  # (C, out, in) on shared inputs: one product for all the chains
                C, o, k = w.shape
                h = torch.mm(w.reshape(C * o, k), h, out=work.buffer(("h", i), (C * o, h.shape[-1]), h)).view(C, o, -1)
            elif w is not None and h.dim() == 3:
                h = torch.bmm(w, h, out=work.buffer(("h", i), (h.shape[0], w.shape[1], h.shape[-1]), h))
            else:
                h = torch.matmul(held[weight] if w is None else w, h)
            own, batched = True, batched or w is not None or (bias is not None and bias in p)
            if bias is not None:
                b = (p[bias] if bias in p else held[bias]).unsqueeze(-1)
                h = h.add_(b) if h.shape == torch.broadcast_shapes(h.shape, b.shape) else h + b
        C, rows = h.shape[0], h.shape[-1]
        # the residual (C, out, rows), and ∂loss/∂out up to the factor 2·scale/rows
        g = h.sub_(yb) if own else torch.sub(h, yb, out=work.buffer("r", h.shape, h))
        flat = g.reshape(C, 1, -1)
        loss = torch.bmm(flat, flat.transpose(1, 2)).view(C) * (scale / rows)
        grads = {}
        for i in range(len(plan) - 1, first - 1, -1):
            m, weight, bias = plan[i]
            if weight is None:
                act = _DERIVATIVES[type(m)]
                if act is not None:
                    g = act[2](g, kept[i])  # in place: g is ours
                continue
            inp, inp_batched = kept[i]
            w = p.get(weight)
            if w is not None:
                grads[weight] = (torch.bmm(g, inp.transpose(-1, -2)) if inp_batched
                                 else (g.reshape(-1, rows) @ inp.transpose(-1, -2)).view(w.shape))
            if bias is not None and bias in p:
                grads[bias] = g.sum(-1)
            if i > first:
                wt = (held[weight] if w is None else w).transpose(-1, -2)
                g = torch.matmul(wt, g, out=work.buffer(("g", i), (C, wt.shape[-2], rows), g))
        grad = torch.cat([grads[k].reshape(C, -1) for k in names], 1).mul_(2 * scale / rows)
    return loss, grad


class _RowMajor(torch.autograd.Function):
    """``h.transpose(-1, -2)``, copied to a contiguous tensor, with a gradient made contiguous the same way: ``bmm``
    on a transposed-contiguous gradient is many times slower than on a contiguous one. Twice differentiable."""

    @staticmethod
    def forward(ctx, h):
        return h.transpose(-1, -2).contiguous()

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(-1, -2).contiguous()


# ---- models and data in other forms (estimate_llc's make_target): parameters, batches, checks


def target_from_model(model, loss_fn=None, data=None, *, evaluate=None, params=None, device=None, dtype=None) -> Target:
    """A target from a model, checked before anything is sampled.

    Give ``loss_fn`` with data (x, y) (:func:`module_target`), or ``evaluate(model, batch) -> mean
    loss`` with data of any structure (:func:`evaluate_target`); ``data`` in any form
    :func:`collect_data` takes; ``params`` as in :func:`sampled_names`. :func:`check_model` and
    :func:`check_loss` raise a ValueError naming the culprit for a model that cannot be sampled.
    """
    if (loss_fn is None) == (evaluate is None):
        raise ValueError("a model needs one of loss_fn (loss_fn(model(x), y), with data (x, y)) or "
                         "evaluate (evaluate(model, batch) -> mean loss), not both and not neither")
    if data is None:
        raise ValueError("a model needs data: tensors or numpy arrays (x, y), or a DataLoader of batches")
    check_model(model)
    names = sampled_names(model, params)
    data = collect_data(data)
    if evaluate is not None:
        target = evaluate_target(model, evaluate, data, device=device, dtype=dtype, params=names)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        target = module_target(model, loss_fn, data, device=device, dtype=dtype, params=names)
    else:
        raise ValueError(f"data: loss_fn(model(x), y) needs batches (x, y), got {_describe(data)}; for a model that "
                         f"takes dicts or several tensors, give evaluate(model, batch) -> mean loss instead of loss_fn")
    check_loss(target, data, "loss_fn" if evaluate is None else "evaluate")
    return target


class _Evaluated(torch.nn.Module):
    """``evaluate(model, batch)`` as a module that holds ``model``: ``functional_call`` on it gives the
    model one chain's parameters (named ``model.<name>``), whatever ``evaluate`` does with the model."""

    def __init__(self, model, evaluate):
        super().__init__()
        self.model, self.evaluate = model, evaluate

    def forward(self, batch):
        return self.evaluate(self.model, batch)


def evaluate_target(model: torch.nn.Module, evaluate: Callable, data, *, device=None, dtype=None, params=None) -> Target:
    """A target from ``evaluate(model, batch) -> mean loss``, for models whose forward takes dicts or several tensors.

    ``data`` is taken as :func:`collect_data` says (a tensor, a tuple, list or dict of tensors, or a
    DataLoader of them); floating fields are converted to ``dtype`` (default: the model's), integer
    ones kept. ``batch`` has the same structure as one batch of the data, with the rows of one
    minibatch (or all rows). ``evaluate`` must return the per-sample mean loss over the batch as a
    scalar, computed with the ``model`` it is given: it runs under ``torch.vmap``, with that model's
    parameters replaced by one chain's through ``functional_call``, so it must use torch operations
    only (no ``.item()``, no Python branching on tensor values). ``params`` as in :func:`sampled_names`.
    """
    if not callable(evaluate):
        raise TypeError(f"evaluate must be a function evaluate(model, batch) -> mean loss, got {type(evaluate).__name__}")
    names = sampled_names(model, params)
    every = dict(model.named_parameters())
    dtype, device = dtype or every[names[0]].dtype, device or every[names[0]].device
    data = _map(lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None), collect_data(data))
    w_star, unflatten = flat_parameters(every, names, device=device, dtype=dtype)
    wrapped = _Evaluated(model, evaluate)
    held = {f"model.{k}": t for k, t in held_tensors(model, names, device=device, dtype=dtype).items()}

    def one_chain(p, batch):
        return functional_call(wrapped, ({f"model.{k}": v for k, v in p.items()}, held), (batch,))

    def loss(W, idx=None):
        if idx is None:
            return torch.vmap(one_chain, in_dims=(0, None))(unflatten(W), data)
        return torch.vmap(one_chain, in_dims=(0, 0))(unflatten(W), _map(lambda t: _rows_at(t, idx), data))

    return Target(loss=loss, w_star=w_star, n=_n_rows(data), unflatten=unflatten, has_data=True, names=names)


def sampled_names(model: torch.nn.Module, params=None) -> list[str]:
    """The names of the parameters of ``model`` to sample; the others are held at their values.

    ``params`` None: those with ``requires_grad=True`` (``layer.requires_grad_(False)`` leaves a
    layer out). A string: the names that start with it, a prefix such as ``"0."`` (the first layer
    of an ``nn.Sequential``) or ``"encoder."`` (a submodule). A list, tuple or set of names: those.
    A callable: the names for which ``params(name)`` is true. Only floating-point parameters can be
    sampled: an integer parameter must be left out through ``params``, never skipped in silence.
    """
    every = dict(model.named_parameters())
    if params is None:
        ints = [k for k, p in every.items() if not p.is_floating_point()]
        if ints:
            raise ValueError(f"model has an integer parameter {ints[0]!r} ({every[ints[0]].dtype}), which cannot be "
                             f"sampled: choose the parameters to sample with params=, e.g. "
                             f"params=lambda name: name != {ints[0]!r}")
        names = [k for k, p in every.items() if p.requires_grad]
        if not names:
            raise ValueError("model has no trainable parameters (requires_grad=True) to sample; or choose them with params=")
        return names
    if isinstance(params, str):
        names = [k for k in every if k.startswith(params)]
    elif isinstance(params, (list, tuple, set, frozenset)):
        unknown = [k for k in params if k not in every]
        if unknown:
            raise ValueError(f"params: model has no parameter named {unknown[0]!r}; its parameters are {_some(every)}")
        names = [k for k in every if k in set(params)]
    elif callable(params):
        names = [k for k in every if params(k)]
    else:
        raise TypeError(f"params must be a name prefix (str), a list of parameter names, or a function "
                        f"name -> bool, got {type(params).__name__}")
    if not names:
        raise ValueError(f"params={params!r} selects none of the model's parameters {_some(every)}")
    ints = [k for k in names if not every[k].is_floating_point()]
    if ints:
        raise ValueError(f"params: {ints[0]!r} is an integer parameter ({every[ints[0]].dtype}) and cannot be sampled; "
                         f"leave it out of params")
    return names


def flat_parameters(params: dict, names, *, device, dtype):
    """(w*, unflatten): the parameters ``names`` of ``params`` stacked into one flat ``(d,)`` vector
    on ``device`` in ``dtype``, and the map from chains ``(C, d)`` back to ``{name: (C, *shape)}``."""
    shapes, sizes = [params[k].shape for k in names], [params[k].numel() for k in names]
    w_star = torch.cat([params[k].detach().reshape(-1) for k in names]).to(device=device, dtype=dtype)

    def unflatten(w):
        parts = torch.split(w, sizes, dim=-1)
        return {k: p.reshape(*w.shape[:-1], *s) for k, p, s in zip(names, parts, shapes)}

    return w_star, unflatten


def held_tensors(model: torch.nn.Module, names, *, device, dtype) -> dict:
    """What ``functional_call`` takes from outside the chains: the buffers and the parameters not in
    ``names``, detached, on ``device``, floating ones in ``dtype``."""
    sampled = set(names)
    held = {k: p for k, p in model.named_parameters() if k not in sampled}
    held.update(model.named_buffers())
    return {k: t.detach().to(device=device, dtype=dtype if t.is_floating_point() else None) for k, t in held.items()}


def collect_data(data):
    """The data in memory, as one batch of all its rows: a tensor, or a tuple, list or dict of tensors.

    ``data`` may be that already, with numpy arrays in place of tensors (converted by
    ``torch.as_tensor`` with their dtype: the target then converts floating fields to the model's
    dtype and keeps integer ones integer), or a ``torch.utils.data.DataLoader`` or any other
    iterable of such batches, iterated once and each field concatenated over the batches (a
    random transform is drawn once). A loader's rows must number ``len(loader.dataset)`` where the
    dataset has a length. Every field needs the same number of rows, and floating ones must be finite.
    """
    if _is_batch(data):
        batch = _map(torch.as_tensor, data)
    else:
        batch = _concatenate(_batches(data))
        size = _dataset_size(data)
        if size is not None and size != _n_rows(batch):
            raise ValueError(f"data: the loader gave {_n_rows(batch)} rows but len(data.dataset) = {size}: it must give "
                             f"every row once (drop_last=False; for a subset, a loader over torch.utils.data.Subset)")
    _n_rows(batch)
    for name, t in _fields(batch):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(f"data must be finite, but {name} has {bad} NaN or infinite entries")
    return batch


def check_model(model: torch.nn.Module) -> None:
    """Raise a ValueError naming ``model`` for a NaN or infinite parameter, or for a layer whose
    output depends on the training mode (dropout, batch norm, ...) while it is in training mode."""
    for name, p in model.named_parameters():
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            bad = int((~torch.isfinite(p)).sum())
            raise ValueError(f"model must have finite parameters (they are w*), but {name} has {bad} NaN or infinite entries")
    training = [f"layer {name or 'model'!r} ({type(m).__name__})" for name, m in model.named_modules()
                if m.training and _depends_on_mode(m)]
    if training:
        raise ValueError(f"model is in training mode, where {', '.join(training[:3])} behaves differently from "
                         f"evaluation: call model.eval() before estimating the LLC")


def _depends_on_mode(m: torch.nn.Module) -> bool:
    """Whether ``m``'s output changes with ``train()``/``eval()``: dropout (random in training),
    batch norm (batch statistics in training), instance norm that tracks running statistics, and
    attention or recurrent layers with dropout."""
    nn = torch.nn.modules
    if isinstance(m, (nn.dropout._DropoutNd, nn.batchnorm._BatchNorm)):  # Dropout*, AlphaDropout, BatchNorm*
        return True
    if isinstance(m, nn.instancenorm._InstanceNorm):
        return m.track_running_stats
    if isinstance(m, (torch.nn.MultiheadAttention, torch.nn.RNNBase)):
        return m.dropout > 0
    return False


def check_loss(target: Target, data, what: str = "loss_fn") -> None:
    """Evaluate a model's target at w* once before sampling: raise a ValueError naming ``what``
    (``"loss_fn"`` or ``"evaluate"``) unless the loss is a finite scalar per-sample mean, or naming
    ``data`` when integer data meets a layer that expects floats."""
    L = _loss_at_w_star(target, data)
    if L.shape != (1,):
        raise ValueError(f"{what} must return a scalar, the mean loss over the batch's rows; it returned shape "
                         f"{tuple(L.shape[1:])} (one loss per sample, as with reduction='none'?): take the mean")
    if not bool(torch.isfinite(L).all()):
        raise ValueError(f"{what} gave {float(L[0])} at w* (the model's parameters): the loss must be finite there")
    if _adds_rows(target):
        raise ValueError(f"{what} must return the per-sample mean of the loss over the batch, but it adds the rows' "
                         f"losses (as with reduction='sum'): use reduction='mean', or divide by the batch size")


def _loss_at_w_star(target: Target, data) -> torch.Tensor:
    """The full-data loss at w*, with a ValueError naming ``data`` for integer inputs to a float layer."""
    try:
        return target.full_loss(target.w_star[None])
    except RuntimeError as exc:
        ints = [f"{name} ({t.dtype})" for name, t in _fields(data) if not t.is_floating_point()]
        if ints and re.search("dtype|scalar type|not implemented for", str(exc)):
            raise ValueError(f"data: evaluating the model at w* failed ({exc}); {', '.join(ints)} holds integers, and a "
                             f"layer that expects floats needs float inputs: convert x first (e.g. x.float()). Integer "
                             f"inputs suit layers such as nn.Embedding") from exc
        raise


def _adds_rows(target: Target, m: int = 8) -> bool:
    """Whether the loss adds the losses of a batch's rows where it should average them.

    A per-sample mean over a batch S is the mean of the losses of its rows taken one at a time,
    L(S) = mean_i L({i}); a sum is their total, L(S) = Σ_i L({i}). Both are computed on the first
    m rows at w*: the loss adds when L(S) matches the total and not the mean, within 0.1% of
    Σ|L({i})|. When the rows' losses share a sign, total and mean differ by at least half of that
    (m ≥ 2), so the test does not depend on the loss's scale, which alone could not tell a sum from
    a large mean; a loss that is neither (a penalty added to a sum) or is 0 at every row is let through.
    """
    m = min(target.n, m)
    if m < 2:
        return False
    W, rows = target.w_star[None], torch.arange(m, device=target.w_star.device)
    try:
        with torch.no_grad():
            each = torch.cat([target.loss(W, rows[i : i + 1][None]) for i in range(m)])
            together = float(target.loss(W, rows[None])[0])
    except (RuntimeError, ValueError):  # a loss undefined on a single row (a variance, say): no verdict
        return False
    scale = float(each.abs().sum())
    near_total = abs(together - float(each.sum())) <= 1e-3 * scale
    near_mean = abs(together - float(each.mean())) <= 1e-3 * scale
    return scale > 0 and near_total and not near_mean


def check_device(device):
    """``device`` as a ``torch.device`` (None stays None), or a ValueError naming ``device`` when it
    is not a device or this machine does not have it."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but CUDA is not available on this machine (torch.cuda.is_available() "
                         f"is False): use device='cpu', or leave device=None to choose")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r}, but Apple's MPS is not available on this machine: use device='cpu'")
    return dev


# ---- batches: a tensor, or a tuple, list or dict of tensors with one row per sample


def _is_batch(data) -> bool:
    arrays = (torch.Tensor, np.ndarray)
    if isinstance(data, dict):
        return bool(data) and all(isinstance(v, arrays) for v in data.values())
    if isinstance(data, (tuple, list)):
        return bool(data) and all(isinstance(v, arrays) for v in data)
    return isinstance(data, arrays)


def _fields(batch) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for each field, the name as a user would index it: ``data[0]``, ``data['x']``."""
    if isinstance(batch, dict):
        return [(f"data[{k!r}]", v) for k, v in batch.items()]
    if isinstance(batch, (tuple, list)):
        return [(f"data[{i}]", v) for i, v in enumerate(batch)]
    return [("data", batch)]


def _map(fn, batch):
    """``fn`` applied to each field; a tuple stays a tuple, a list a list, a dict a dict."""
    if isinstance(batch, dict):
        return {k: fn(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return (tuple if isinstance(batch, tuple) else list)(fn(v) for v in batch)
    return fn(batch)


def _n_rows(batch) -> int:
    """The number of rows, the same in every field, or a ValueError naming ``data``."""
    rows = {name: (t.shape[0] if t.ndim else None) for name, t in _fields(batch)}
    if len(set(rows.values())) != 1 or None in rows.values() or 0 in rows.values():
        raise ValueError(f"data: every field must have the same positive number of rows (its first dimension), got {rows}")
    return next(iter(rows.values()))


def _rows_at(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The rows of ``t`` at a ``(C, B)`` index, shape ``(C, B, ...)``: index_select on the flat index."""
    return t.index_select(0, idx.reshape(-1)).reshape(*idx.shape, *t.shape[1:])


def _describe(batch) -> str:
    if isinstance(batch, dict):
        return f"a dict with keys {list(batch)}"
    if isinstance(batch, (tuple, list)):
        return f"a {type(batch).__name__} of {len(batch)} fields"
    return f"a {type(batch).__name__}"


def _some(names, k: int = 8) -> str:
    names = list(names)
    return str(names[:k])[:-1] + (f", … ({len(names)} in all)]" if len(names) > k else "]")


def _batches(data) -> list:
    """Each batch of an iterable, with numpy arrays as tensors, or a TypeError/ValueError naming ``data``."""
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"data must be tensors or numpy arrays (x, y), or a DataLoader or other iterable of batches, "
                        f"got {type(data).__name__}")
    batches = []
    for batch in data:
        if not _is_batch(batch):
            raise ValueError(f"data: each batch must be a tensor, or a tuple, list or dict of tensors, got "
                             f"{type(batch).__name__}")
        batches.append(_map(torch.as_tensor, batch))
    if not batches:
        raise ValueError("data gave no batches")
    return batches


def _concatenate(batches: list):
    """One batch of all rows: each field concatenated along dim 0 over ``batches`` (same fields in each)."""
    first = [name for name, _ in _fields(batches[0])]
    for batch in batches[1:]:
        if [name for name, _ in _fields(batch)] != first:
            raise ValueError(f"data: every batch must have the same fields, got {first} and "
                             f"{[name for name, _ in _fields(batch)]}")
    for batch in batches:
        _n_rows(batch)
    head = batches[0]  # a plain tuple, list, dict or tensor (_batches maps each batch)
    if isinstance(head, dict):
        return {k: torch.cat([b[k] for b in batches]) for k in head}
    if isinstance(head, (tuple, list)):
        return type(head)(torch.cat([b[i] for b in batches]) for i in range(len(head)))
    return torch.cat(batches)


def _dataset_size(data) -> int | None:
    """``len(data.dataset)`` for a DataLoader over a dataset with a length, else None."""
    try:
        return len(data.dataset)
    except (AttributeError, TypeError):
        return None
