"""Degenerate (singular) models: their population losses K(w), data, Fisher information, true sets.

For Gaussian regression ``y = f(x, w) + N(0, σ²)`` with true function ``f_0`` the population
loss relative to the truth is ``K(w) = E_x (f(x, w) − f_0(x))² / (2σ²)`` (Watanabe 2009,
*Algebraic Geometry and Statistical Learning Theory*, Cambridge UP, ch. 1). In every model here
``σ = 1`` and the inputs have unit covariance, so ``K`` is half a mean squared distance.

A model is *singular* when the set of true parameters ``W_0 = {w : K(w) = 0}`` is not a single
point with a positive definite Fisher information there: then ``W_0`` has positive dimension
or ``K`` vanishes to higher than second order, and the Fisher rank drops.

- :func:`normal_crossing_K`, :func:`normal_crossing_model`  ``K = ∏ w_i^{2k_i}``
- :func:`reduced_rank_K`, :func:`reduced_rank_model`, :func:`reduced_rank_true_parameter`
- :func:`deep_linear_K`, :func:`deep_linear_model`
- :func:`tanh_network_K`, :func:`tanh_network_model`
- :func:`regression_data`                        ``(x, y)`` draws for any of the models
- :func:`output_jacobian`, :func:`fisher_information`, :func:`numerical_rank`
"""

from __future__ import annotations


import numpy as np
import torch

from slt_lessons.device import default_dtype, get_device
from slt_lessons.validation import as_tensor, require_ndim, require_positive

__all__ = [
    "normal_crossing_K",
    "normal_crossing_model",
    "reduced_rank_K",
    "reduced_rank_model",
    "reduced_rank_true_parameter",
    "deep_linear_K",
    "deep_linear_model",
    "tanh_network_K",
    "tanh_network_model",
    "regression_data",
    "output_jacobian",
    "fisher_information",
    "numerical_rank",
]


# ----------------------------------------------------------------------------- normal crossing


def _exponents(k, d: int) -> list[int]:
    """``k`` as a list of ``d`` non-negative ints, or a ValueError naming ``k``."""
    k = list(k)
    if len(k) != d or any(isinstance(ki, bool) or not isinstance(ki, int) or ki < 0 for ki in k):
        raise ValueError(f"k must be {d} non-negative ints (one per coordinate of w), got {k!r}")
    return k


def normal_crossing_K(w, k):
    """``K(w) = ∏_i w_i^{2 k_i}`` for ``w`` of shape ``(..., d)``; returns shape ``w.shape[:-1]``.

    The normal-crossing form to which resolution of singularities reduces every analytic
    ``K`` locally (Hironaka 1964, *Ann. of Math.* 79; Watanabe 2009, *Algebraic Geometry and
    Statistical Learning Theory*, Theorem 2.3); ``k`` holds ``d`` non-negative ints.
    Exact in any dtype up to the rounding of the powers (relative ``~ Σ 2k_i`` ulps).
    """
    if len(k) != w.shape[-1] or any(int(ki) != ki or ki < 0 for ki in k):
        raise ValueError(f"k must be {w.shape[-1]} non-negative ints (one per coordinate of w), got {k!r}")
    return torch.prod(w ** (2 * torch.as_tensor(k, device=w.device)), dim=-1)


def normal_crossing_model(x, w, k):
    """``f(x, w) = x ∏_i w_i^{k_i}``: with ``x ~ N(0, 1)`` and unit noise its ``K`` is ``½ ∏ w_i^{2k_i}``.

    ``x`` has shape ``(n,)``, ``w`` shape ``(d,)``; returns shape ``(n,)``.
    """
    k = _exponents(k, w.shape[-1])
    return x * torch.prod(w ** torch.tensor(k, device=w.device))


# ----------------------------------------------------------------------------- reduced-rank regression


def reduced_rank_K(A, B, C):
    """Population loss ``K = ½ ‖B A − C‖²_F`` of reduced-rank regression.

    ``y = B A x + N(0, I_N)`` with ``x ~ N(0, I_M)``, ``A`` of shape ``(..., H, M)``, ``B`` of shape
    ``(..., N, H)`` and true map ``C`` (``N×M``): ``E_x ‖(BA − C) x‖²/2 = ½ ‖BA − C‖²_F``
    (Aoyagi & Watanabe 2005, *Neural Networks* 18:924–933). Leading dimensions batch.
    """
    return 0.5 * ((B @ A - C) ** 2).sum(dim=(-2, -1))


def reduced_rank_model(x, A, B):
    """``f(x) = B A x`` for inputs ``x`` of shape ``(n, M)``; returns ``(n, N)``."""
    return x @ A.transpose(-2, -1) @ B.transpose(-2, -1)


def reduced_rank_true_parameter(C, H: int, generator: torch.Generator):
    """A random point ``(A, B)`` of ``W_0 = {(A, B) : B A = C}`` for hidden width ``H``.

    With ``C = U S Vᵀ`` of rank ``r`` (``r <= H``): ``A = [G S_r^{1/2} V_rᵀ ; A_1]`` and
    ``B = [U_r S_r^{1/2} G^{-1}, B_1]`` for a random invertible ``G`` (``r×r``), and for each
    of the ``H − r`` spare hidden units either its input row of ``A_1`` or its output column of
    ``B_1`` is zero (chosen at random, the other random): then ``B_1 A_1 = 0``. Different draws
    give different points: ``W_0`` is not a single point. Returns ``(A, B)``.
    """
    C = as_tensor("C", C)
    require_ndim("C", C, 2)
    N, M = C.shape
    U, S, Vh = torch.linalg.svd(C)
    r = int((S > S.max().clamp_min(1e-300) * max(M, N) * torch.finfo(C.dtype).eps).sum()) if S.numel() else 0
    if isinstance(H, bool) or not isinstance(H, int) or H < r:
        raise ValueError(f"H must be an int at least rank(C) = {r}, got {H!r}")
    opts = dict(generator=generator, dtype=C.dtype, device=C.device)
    G = torch.eye(r, dtype=C.dtype, device=C.device) + 0.3 * torch.randn(r, r, **opts)
    root = S[:r].sqrt()
    A0 = G @ (root[:, None] * Vh[:r])
    B0 = (U[:, :r] * root) @ torch.linalg.inv(G)
    A1 = torch.randn(H - r, M, **opts)
    B1 = torch.randn(N, H - r, **opts)
    dead_input = torch.rand(H - r, generator=generator, device=C.device) < 0.5
    A1[dead_input] = 0
    B1[:, ~dead_input] = 0
    return torch.cat([A0, A1]), torch.cat([B0, B1], dim=1)


# ----------------------------------------------------------------------------- deep linear networks


def deep_linear_model(x, weights):
    """``f(x) = W_L ⋯ W_1 x`` for inputs ``x`` of shape ``(n, H_1)``; ``weights = [W_1, ..., W_L]``."""
    for W in weights:
        x = x @ W.transpose(-2, -1)
    return x


def deep_linear_K(weights, C):
    """``K = ½ ‖W_L ⋯ W_1 − C‖²_F`` (unit input covariance and unit noise; Aoyagi 2024,
    *Neural Networks* 172:106132). ``weights = [W_1, ..., W_L]``, ``W_j`` of shape ``(H_{j+1}, H_j)``."""
    if len(weights) == 0:
        raise ValueError("weights must hold at least one matrix")
    product = weights[0]
    for W in weights[1:]:
        product = W @ product
    return 0.5 * ((product - C) ** 2).sum(dim=(-2, -1))


# ----------------------------------------------------------------------------- tanh network


def tanh_network_model(x, a, b):
    """``f(x) = Σ_h a_h tanh(b_h x)`` for scalar inputs ``x`` of shape ``(n,)``; returns ``(n,)``.

    ``a``, ``b`` have shape ``(..., H)``; leading dimensions batch (result ``(..., n)``).
    """
    return (a.unsqueeze(-2) * torch.tanh(b.unsqueeze(-2) * x.unsqueeze(-1))).sum(-1)


def tanh_network_K(a, b, nodes: int = 48):
    """``K(a, b) = ½ E_x f(x)²`` for the true function 0 and ``x`` uniform on ``[−1, 1]``.

    ``f`` is :func:`tanh_network_model`; the expectation is computed by Gauss–Legendre
    quadrature with ``nodes`` points (``f²`` is analytic on ``[−1, 1]`` with poles at distance
    ``π/(2|b|)``, so 48 nodes give float64 accuracy for ``|b| <= 5``). Returns shape ``a.shape[:-1]``.
    Its learning coefficient is :func:`slt_lessons.theory.tanh_network`.
    """
    x, wts = np.polynomial.legendre.leggauss(int(nodes))
    x = torch.as_tensor(x, dtype=a.dtype, device=a.device)
    wts = torch.as_tensor(wts / 2, dtype=a.dtype, device=a.device)
    return 0.5 * (tanh_network_model(x, a, b) ** 2 * wts).sum(-1)


# ----------------------------------------------------------------------------- data


def regression_data(f, n: int, input_dim: int | None, generator: torch.Generator, *, sigma: float = 1.0,
                    input_law: str = "normal", device=None, dtype=None):
    """``n`` draws ``(x, y)`` with ``y = f(x) + σ ξ``, ``ξ ~ N(0, I)``.

    ``f`` maps inputs of shape ``(n, input_dim)`` (or ``(n,)`` when ``input_dim`` is None) to
    outputs; ``input_law`` is ``"normal"`` (``N(0, I)``: unit covariance, as the ``K`` of
    reduced-rank and deep linear models assume) or ``"uniform"`` (``U[−1, 1]``, as
    :func:`tanh_network_K` assumes). Example, a rank-1 truth for reduced-rank regression::

        x, y = regression_data(lambda x: x @ C.T, 1000, C.shape[1], generator(0))
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    sigma = require_positive("sigma", sigma)
    if input_law not in ("normal", "uniform"):
        raise ValueError(f"input_law must be 'normal' or 'uniform', got {input_law!r}")
    device = get_device(device)
    dtype = dtype or default_dtype(device)
    shape = (n,) if input_dim is None else (n, int(input_dim))
    opts = dict(generator=generator, dtype=dtype, device=device)
    x = torch.randn(shape, **opts) if input_law == "normal" else 2 * torch.rand(shape, **opts) - 1
    fx = f(x)
    return x, fx + sigma * torch.randn(fx.shape, **opts)


# ----------------------------------------------------------------------------- Fisher information


def output_jacobian(f, w):
    """The Jacobian of the model outputs ``f(w)`` (any shape) with respect to ``w`` (shape ``(d,)``),
    flattened to ``(number of outputs, d)``: the ``J`` of :func:`fisher_information`."""
    J = torch.autograd.functional.jacobian(f, w)
    return J.reshape(-1, w.numel())


def fisher_information(jacobian):
    """``I(w) = (1/n) Jᵀ J``: the Fisher information of Gaussian regression with unit noise.

    ``J`` is the ``(n, d)`` Jacobian ``∂f(x_i, w)/∂w`` over ``n`` inputs. For ``y = f(x, w) + N(0, 1)``
    the score is ``(y − f) ∂f/∂w``, whose second moment is ``E_x[∂f ∂fᵀ]`` (Watanabe 2009,
    *Algebraic Geometry and Statistical Learning Theory*, §1.1). For a model with several
    outputs, stack one row per (input, output) pair and multiply the result by the number of
    outputs (``n`` here counts rows).
    """
    n = jacobian.shape[-2]
    return jacobian.transpose(-2, -1) @ jacobian / n


def numerical_rank(matrix, rtol: float):
    """The number of singular values ``σ_i`` of ``matrix`` with ``σ_i > rtol · max_j σ_j``, an ``int``.

    0 for the zero matrix (no ``σ_i`` exceeds ``rtol · 0``) and for an empty one; ``rtol > 0``.
    """
    rtol = require_positive("rtol", rtol)
    s = torch.linalg.svdvals(matrix)
    return int((s > rtol * s.max()).sum()) if s.numel() else 0
