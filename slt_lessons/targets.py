"""What a sampler samples: a loss on a batch of flat parameter vectors, one row per chain.

Both samplers (:mod:`slt_lessons.sgld`, :mod:`slt_lessons.mala`) and the LLC estimator
(:mod:`slt_lessons.llc`) work on a :class:`Target`: parameters stacked as a tensor ``W`` of
shape ``(C, d)`` (C chains, d parameters), and a function giving each chain's mean loss
``L(W[c])`` on a batch of data, or on no data at all for a potential such as a population
loss ``K(w)``. Chains never interact, so the gradient of ``loss(W).sum()`` with respect to
``W`` is, row by row, each chain's own gradient: one backward pass serves all chains.

An ``nn.Module`` becomes a target through ``torch.func.functional_call`` and ``torch.vmap``
over the stacked parameters (Lau et al. 2023 sample such models with SGLD; batching the
chains is ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.func import functional_call

from slt_lessons.validation import as_tensor, require_finite, require_ndim

__all__ = ["Target", "module_target", "potential_target"]


@dataclass
class Target:
    """A loss on stacked parameters.

    ``loss(W, idx)`` returns the ``(C,)`` mean losses of the chains ``W`` (shape ``(C, d)``)
    on the data rows ``idx`` (a ``(C, B)`` index tensor, one minibatch per chain), or on the
    full data when ``idx`` is None. ``n`` is the dataset size (None for a potential);
    ``has_data`` says whether minibatches can be drawn; ``w_star`` is the flat parameter the chains start from and are localized at.
    """

    loss: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    w_star: torch.Tensor
    n: int | None = None
    unflatten: Callable[[torch.Tensor], dict] | None = None
    has_data: bool = False

    @property
    def d(self) -> int:
        return self.w_star.numel()

    def loss_and_grad(self, W: torch.Tensor, idx: torch.Tensor | None = None):
        """Per-chain losses ``(C,)`` and gradients ``(C, d)`` of the loss at ``W``."""
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


def module_target(model: torch.nn.Module, loss_fn: Callable, data, *, device=None, dtype=None) -> Target:
    """A target from a model, ``loss_fn(model(x), y)`` (a mean over the batch) and ``data = (x, y)``.

    The model's current parameters are ``w*``. Chains are evaluated with
    ``vmap(functional_call)`` over parameters stacked on a leading chain dimension.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ValueError("loss_fn must be callable as loss_fn(model(x), y)")
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError("data must be a pair (x, y) of tensors with the same first dimension")
    names = [name for name, p in model.named_parameters() if p.requires_grad]
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
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]
    w_star = torch.cat([params[k].detach().reshape(-1) for k in names]).to(device=device, dtype=dtype)
    buffers = {k: b.to(device) for k, b in model.named_buffers()}

    def unflatten(w):  # (C, d) -> {name: (C, *shape)}
        parts = torch.split(w, sizes, dim=-1)
        return {k: p.reshape(*w.shape[:-1], *s) for k, p, s in zip(names, parts, shapes)}

    def one_chain(p, xb, yb):
        return loss_fn(functional_call(model, (p, buffers), (xb,)), yb)

    def loss(W, idx=None):
        if idx is None:
            return torch.vmap(one_chain, in_dims=(0, None, None))(unflatten(W), x, y)
        # index_select on the flat indices: much faster than x[idx] for a (C, B) index on the CPU
        flat = idx.reshape(-1)
        xb = x.index_select(0, flat).reshape(*idx.shape, *x.shape[1:])
        yb = y.index_select(0, flat).reshape(*idx.shape, *y.shape[1:])
        return torch.vmap(one_chain, in_dims=(0, 0, 0))(unflatten(W), xb, yb)

    return Target(loss=loss, w_star=w_star, n=x.shape[0], unflatten=unflatten, has_data=True)
