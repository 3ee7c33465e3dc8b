"""Likelihoods of the course's regression models, with Gaussian noise.

Every model here is ``y = f(x, w) + σ·ξ`` with ``ξ ~ N(0, 1)``, so

    log p(y | x, w) = −(y − f(x, w))² / (2σ²) − log σ − ½ log 2π.

- regular: the Gaussian mean ``f = μ`` and linear regression ``f = w·x``;
- singular: the product model ``f = a·b·x`` (true ``ab = 0``: the true set is a cross) and the
  one-hidden-unit tanh network ``f = a·tanh(b·x)`` (Watanabe 2009, *Algebraic Geometry and
  Statistical Learning Theory*, ch. 1 and 7).

The ``*_log_likelihood`` functions evaluate the total log-likelihood ``Σ_i log p(y_i|x_i,w)`` for
a whole grid of parameters at once, broadcasting over the parameter tensors. Sums over the data
are formed from sufficient statistics where the model allows it, so n = 10⁶ costs no more than
n = 10. Accuracy: float64 to round-off; in float32 a sum over 10⁶ points is good to about 0.1.
"""

from __future__ import annotations

import math

import torch

from slt_lessons.device import default_dtype, get_device
from slt_lessons.validation import (
    as_tensor,
    require_finite,
    require_ndim,
    require_nonempty,
    require_positive,
    require_same_length,
)

__all__ = [
    "gaussian_log_likelihood",
    "product_log_likelihood",
    "gaussian_mean_log_likelihood",
    "linear_regression_log_likelihood",
    "tanh_log_likelihood",
    "make_data",
]

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_likelihood(y, mean, sigma):
    """Elementwise ``log N(y | mean, σ²) = −(y − mean)²/(2σ²) − log σ − ½ log 2π``."""
    return -0.5 * ((y - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def product_log_likelihood(a, b, x, y, sigma):
    """Total log-likelihood of the singular model ``y = a·b·x + σξ`` at every (a, b).

    ``Σ_i log N(y_i | a b x_i, σ²)``, from the sufficient statistics Σx², Σxy, Σy²:
    ``Σ (y_i − c x_i)² = Σy² − 2c Σxy + c² Σx²`` with ``c = a·b``. ``a`` and ``b`` broadcast
    (e.g. a grid made with ``torch.meshgrid``); ``x`` and ``y`` are 1-D of length n.
    """
    c = a * b
    n = x.numel()
    sxx, sxy, syy = (x * x).sum(), (x * y).sum(), (y * y).sum()
    sum_sq = syy - 2 * c * sxy + c * c * sxx
    return -0.5 * sum_sq / sigma**2 - n * (math.log(sigma) + 0.5 * math.log(2 * math.pi))


def _data(x, y, *, x_ndim=(1,)):
    x = require_nonempty("x", require_finite("x", as_tensor("x", x)))
    y = require_nonempty("y", require_finite("y", as_tensor("y", y, device=x.device)))
    require_ndim("x", x, x_ndim)
    require_ndim("y", y, 1)
    require_same_length(("x", "y"), x, y)
    return x, y.to(x.dtype)


def gaussian_mean_log_likelihood(mu, y, sigma=1.0):
    """Total log-likelihood of the regular model ``y = μ + σξ`` at every μ (any shape)."""
    sigma = require_positive("sigma", sigma)
    y = require_nonempty("y", require_finite("y", as_tensor("y", y)))
    require_ndim("y", y, 1)
    mu = as_tensor("mu", mu, dtype=y.dtype, device=y.device)
    n, s1, s2 = y.shape[0], y.sum(), (y * y).sum()
    sum_sq = s2 - 2 * mu * s1 + n * mu * mu
    return -0.5 * sum_sq / sigma**2 - n * (math.log(sigma) + 0.5 * math.log(2 * math.pi))


def linear_regression_log_likelihood(w, x, y, sigma=1.0):
    """Total log-likelihood of ``y = w·x + σξ`` at every ``w`` of shape (..., d); x is (n, d).

    Uses ``Σ (y − w·x)² = Σy² − 2 w·Σxy + wᵀ(XᵀX)w``.
    """
    sigma = require_positive("sigma", sigma)
    x, y = _data(x, y, x_ndim=(2,))
    w = as_tensor("w", w, dtype=x.dtype, device=x.device)
    if w.shape[-1] != x.shape[1]:
        raise ValueError(f"w must have last dimension {x.shape[1]} (the columns of x), got shape {tuple(w.shape)}")
    xtx, xty, syy = x.T @ x, x.T @ y, (y * y).sum()
    sum_sq = syy - 2 * (w @ xty) + torch.einsum("...i,ij,...j->...", w, xtx, w)
    return -0.5 * sum_sq / sigma**2 - x.shape[0] * (math.log(sigma) + 0.5 * LOG_2PI)


def tanh_log_likelihood(a, b, x, y, sigma=1.0, *, chunk: int = 4096):
    """Total log-likelihood of the one-hidden-unit network ``y = a·tanh(b·x) + σξ``.

    ``Σ (y − a t)² = Σy² − 2a Σ y t + a² Σ t²`` with ``t = tanh(b x)``: the two sums over the data
    depend on b only and are accumulated in chunks of the data to bound memory.
    """
    sigma = require_positive("sigma", sigma)
    x, y = _data(x, y)
    a = as_tensor("a", a, dtype=x.dtype, device=x.device)
    b = as_tensor("b", b, dtype=x.dtype, device=x.device)
    a, b = torch.broadcast_tensors(a, b)
    syt = torch.zeros_like(b)
    stt = torch.zeros_like(b)
    for start in range(0, x.shape[0], chunk):
        t = torch.tanh(b.unsqueeze(-1) * x[start : start + chunk])
        syt += (t * y[start : start + chunk]).sum(-1)
        stt += (t * t).sum(-1)
    sum_sq = (y * y).sum() - 2 * a * syt + a * a * stt
    return -0.5 * sum_sq / sigma**2 - x.shape[0] * (math.log(sigma) + 0.5 * LOG_2PI)


def make_data(f, n: int, *, sigma: float = 1.0, x_scale: float = 1.0, d: int | None = None,
              generator: torch.Generator | None = None, device=None, dtype=None):
    """Draw a data set ``x ~ N(0, x_scale²)``, ``y = f(x) + σξ``.

    ``f`` maps x (shape (n,) or (n, d) when ``d`` is given) to the true mean. Returns ``(x, y)``.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    sigma = require_positive("sigma", sigma)
    device = get_device(device) if generator is None else generator.device
    dtype = dtype or default_dtype(device)
    shape = (n,) if d is None else (n, d)
    x = x_scale * torch.randn(shape, generator=generator, device=device, dtype=dtype)
    y = f(x) + sigma * torch.randn(n, generator=generator, device=device, dtype=dtype)
    return x, y
