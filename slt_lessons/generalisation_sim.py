"""Generalisation laws by exact simulation: ``E[G_n]``, ``E[T_n]`` and ``E[V_n]`` for a regular and a singular model.

Two one-parameter regressions ``y = a(w)·x + ε`` with ``x, ε ~ N(0, 1)``, a uniform prior on
``w ∈ [−2, 2]`` and the truth ``w₀ = 0`` (so ``a = 0`` and ``y = ε``):

* **regular**, ``a(w) = w``: ``K(w) = w²/2``, ``λ = ν = d/2 = 1/2``;
* **singular**, ``a(w) = w²``: ``K(w) = w⁴/2``, ``λ = 1/4`` (multiplicity 1) while ``d/2 = 1/2``.

For one data set ``(x_i, y_i)``, ``i = 1..n``, the log-likelihood ratio to the truth is

    log p(y_i | x_i, w) − log q(y_i | x_i) = a(w) x_i y_i − a(w)² x_i²/2,

so the posterior is ``∝ exp(a S_xy − a² S_xx/2)`` on the prior's support, ``S_xx = Σ x_i²``,
``S_xy = Σ x_i y_i``. It is computed on a grid of ``w`` (:func:`grid_for`) and the three random
variables of Watanabe's theory follow exactly from it, data set by data set:

* ``G_n − L(w₀)`` (``L(w₀) = −E_q log q``): the Kullback–Leibler divergence of the Bayes predictive
  from the truth, :func:`slt_lessons.generalisation.predictive_kl` (a Gauss–Hermite rule in ``x, y``);
* ``T_n − L_n(w₀) = −(1/n) Σ_i log E_w[p(y_i | x_i, w)/q(y_i | x_i)]``, the Bayes training loss minus
  the training loss of the truth ``L_n(w₀) = −(1/n) Σ_i log N(y_i; 0, 1)`` (whose expectation is
  ``L(w₀)``), :func:`slt_lessons.generalisation.training_loss`;
* ``V_n = Σ_i Var_w[log p(y_i | x_i, w)]``, :func:`slt_lessons.generalisation.functional_variance`.

Watanabe's laws (2009, *Algebraic Geometry and Statistical Learning Theory*, Theorem 1.2 and
chapter 6; 2010, *JMLR* 11:3571–3594, Theorem 1 and the equation of state; 2018, *Mathematical
Theory of Bayesian Statistics*, chapters 3 and 8), at ``β = 1``:

    n·E[G_n − L(w₀)] → λ,    n·E[T_n − L_n(w₀)] → λ − 2ν,
    n·E[G_n − T_n] → 2ν,     E[V_n] → 2ν      (the equation of state: E[G_n] = E[T_n + V_n/n] + o(1/n)).

:func:`simulate` estimates the four expectations by Monte Carlo over data sets, each one exact
on its grid. The references it is checked against: :func:`expected_kl`, ``n·E[G_n − L(w₀)]`` by
quadrature over the data's sufficient statistics (both models, any ``n``, no Monte Carlo);
:func:`regular_exact`, the regular model's finite-``n`` expectations in closed form (flat prior); and
:func:`singular_limit`, the singular model's ``λ`` and ``2ν`` as integrals over its renormalised
posterior.

**Speed.** ``T_n`` needs ``log E_w`` of every data point: ``S·n`` exponentials per data set on an
``S``-point grid, too many at ``n = 10⁵``. Every quantity depends on the posterior only through the
distribution of ``a = a(w)``, and the integrands ``exp(a x y − a² x²/2)`` are entire in ``a``: the
``S``-point grid posterior of ``a`` is replaced by its ``k``-point Gauss quadrature rule
(:func:`gauss_rule`: exact for polynomials in ``a`` of degree ``< 2k``; Golub & Welsch 1969,
*Math. Comp.* 23:221–230; Gautschi 2004, *Orthogonal Polynomials: Computation and Approximation*,
chapters 2–3), which reproduces the grid's ``G_n`` and ``T_n`` to round-off with the ``k`` of :func:`auto_nodes`
(tests/test_generalisation_laws.py compares them). ``V_n`` is a polynomial of degree 4 in ``a``
and is taken from the grid's moments of ``a``, exactly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from slt_lessons.validation import require_positive

__all__ = [
    "ModelSpec",
    "MODELS",
    "GeneralisationStats",
    "grid_for",
    "grid_log_posterior",
    "gauss_rule",
    "normal_rule",
    "predictive_kl_batch",
    "training_excess_batch",
    "functional_variance_batch",
    "simulate",
    "auto_nodes",
    "expected_kl",
    "regular_exact",
    "singular_limit",
]

PRIOR_RADIUS = 2.0  # the uniform prior's support is [−2, 2]


@dataclass(frozen=True)
class ModelSpec:
    """One model ``y = a(w) x + ε``: its map ``a`` and derivative ``da``, its ``λ``, ``ν`` (``None``: not in closed
    form), ``d`` and the exponent ``e`` of its posterior's width ``n^(−e)`` in ``w`` (``1/(2·(power of w in a))``)."""

    name: str
    a: Callable[[torch.Tensor], torch.Tensor]
    da: Callable[[torch.Tensor], torch.Tensor]
    lam: float
    nu: float | None
    d: int
    width_exponent: float


MODELS = {
    "regular": ModelSpec("regular", lambda w: w, torch.ones_like, lam=0.5, nu=0.5, d=1, width_exponent=0.5),
    "singular": ModelSpec("singular", lambda w: w**2, lambda w: 2 * w, lam=0.25, nu=None, d=1, width_exponent=0.25),
}


def _model(model) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)} or a ModelSpec, got {model!r}")
    return MODELS[model]


def grid_for(model, n, grid=801, c=10.0, dtype=torch.float64):
    """The grid of ``w`` for sample size ``n``: ``(w, log_prior)``, each ``(grid,)``.

    ``w`` is uniform on ``[−R, R]``, ``R = min(2, c·n^(−e))`` with ``n^(−e)`` the posterior's width
    (``e = 1/2`` regular, ``1/4`` singular), so that at every ``n`` the posterior is resolved by a
    fixed number of points and ``c = 10`` widths leave the ends with negligible mass (the data set's
    ``S_xy/√S_xx ~ N(0, 1)`` puts the posterior's centre within ``~4.5`` widths in 16,000 data sets;
    :func:`simulate` reports a bound on the mass beyond the grid, ``cut_mass``). Where ``R = 2`` the
    grid ends at the prior's boundary. ``log_prior`` holds the trapezoid rule's weights (half at both
    ends), up to a constant: the uniform prior times the cell width.
    """
    spec = _model(model)
    n = require_positive("n", n)
    c = require_positive("c", c)
    if int(grid) < 3:
        raise ValueError(f"grid must be an integer >= 3, got {grid!r}")
    radius = min(PRIOR_RADIUS, c * n ** (-spec.width_exponent))
    w = torch.linspace(-radius, radius, int(grid), dtype=dtype)
    log_prior = torch.zeros(int(grid), dtype=dtype)
    log_prior[[0, -1]] = math.log(0.5)
    return w, log_prior


def grid_log_posterior(a, log_prior, Sxx, Sxy):
    """Normalised log posterior weights ``(B, S)`` on the grid: ``log π_s ∝ log φ_s + a_s S_xy − a_s² S_xx/2``.

    ``a`` ``(S,)`` the grid's ``a(w_s)``, ``log_prior`` ``(S,)``, ``Sxx``, ``Sxy`` ``(B,)`` one entry per data set.
    """
    logits = log_prior + a * Sxy[:, None] - a**2 * Sxx[:, None] / 2
    return logits - torch.logsumexp(logits, dim=1, keepdim=True)


def gauss_rule(a, log_pi, k=16):
    """The ``k``-point Gauss quadrature rule of each grid posterior of ``a``: ``(nodes, log_weights)``, each ``(B, k)``.

    ``a`` ``(S,)`` or ``(B, S)``, ``log_pi`` ``(B, S)`` normalised. The rule integrates every polynomial
    in ``a`` of degree ``< 2k`` exactly against the discrete measure ``Σ_s π_s δ(a − a_s)``. It is found
    by the Lanczos process (Stieltjes' procedure with orthonormal polynomials, here with full
    re-orthogonalisation) on ``z = (a − E a)/sd(a)``, which builds the Jacobi matrix of the measure's
    recurrence coefficients; its eigenvalues are the nodes and the squared first components of its
    eigenvectors the weights (Golub & Welsch 1969; Gautschi 2004, chapter 2). The measure needs more
    than ``k`` points of non-negligible weight (:func:`grid_for`'s grids give every posterior 85 or more distinct
    values of ``a`` within 1e-16 of its largest weight, at ``|S_xy|/√S_xx ≤ 6``).
    """
    B, S = log_pi.shape
    pi = log_pi.exp()
    a = a.expand(B, S)
    mean = (pi * a).sum(1, keepdim=True)
    sd = (pi * (a - mean) ** 2).sum(1, keepdim=True).sqrt().clamp_min(torch.finfo(a.dtype).tiny)
    z = (a - mean) / sd
    Q = torch.zeros(B, k, S, dtype=a.dtype)  # the orthonormal polynomials at the points
    Q[:, 0] = 1.0
    alpha, beta = [], []
    for j in range(k):
        r = z * Q[:, j]
        alpha.append((pi * Q[:, j] * r).sum(1))
        r = r - alpha[j][:, None] * Q[:, j] - (beta[j - 1][:, None] * Q[:, j - 1] if j else 0.0)
        if j == k - 1:
            break
        Qj = Q[:, :j + 1]
        for _ in range(2):  # re-orthogonalise twice ("twice is enough")
            r = r - torch.bmm(torch.bmm(Qj, (pi * r)[:, :, None]).transpose(1, 2), Qj)[:, 0]
        b = (pi * r * r).sum(1).sqrt()
        beta.append(b)
        Q[:, j + 1] = r / b.clamp_min(1e-300)[:, None]
    J = torch.diag_embed(torch.stack(alpha, 1))
    if k > 1:
        off = torch.stack(beta, 1)
        J = J + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    theta, vec = torch.linalg.eigh(J)
    weights = vec[:, 0, :] ** 2
    return mean + sd * theta, torch.log(weights / weights.sum(1, keepdim=True))


def normal_rule(order, dtype=torch.float64):
    """The ``order``-point Gauss rule for ``E[f(Z)]``, ``Z ~ N(0, 1)``: nodes and weights summing to 1.

    The probabilists' Gauss–Hermite rule (``numpy.polynomial.hermite_e.hermegauss``, weight ``e^{−z²/2}``)
    with its weights divided by √(2π); exact for polynomials of degree ``2·order − 1``.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(int(order))
    return (torch.as_tensor(nodes, dtype=dtype), torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=dtype))


def predictive_kl_batch(a, log_pi, order=40):
    """``G_n − L(w₀)`` for each data set ``(B,)``: :func:`slt_lessons.generalisation.predictive_kl`, batched.

    ``a`` ``(S,)`` or ``(B, S)`` the points, ``log_pi`` ``(B, S)`` their normalised log weights:

        G_n − L(w₀) = −E_{x,y ~ N(0,1)}[log Σ_s π_s exp(a_s x y − a_s² x²/2)],

    the expectation by the ``order × order`` probabilists' Gauss–Hermite rule, as there.
    """
    B, S = log_pi.shape
    z, v = normal_rule(order, log_pi.dtype)
    xy, xx = (z[:, None] * z[None, :]).reshape(-1), (z[:, None] ** 2).expand(-1, len(z)).reshape(-1)
    vv = (v[:, None] * v[None, :]).reshape(-1)
    a = a.expand(B, S)
    chunk = max(1, 2**20 // (len(xy) * S))  # 8 MB work tensors
    out = []
    for i in range(0, B, chunk):
        ab, lp = a[i:i + chunk, None, :], log_pi[i:i + chunk, None, :]  # (b, 1, S)
        expo = lp + ab * xy[None, :, None] - ab**2 * xx[None, :, None] / 2  # (b, K², S)
        out.append(-(vv * torch.logsumexp(expo, dim=2)).sum(1))
    return torch.cat(out)


def training_excess_batch(a, log_pi, x, y):
    """``T_n − L_n(w₀) = −(1/n) Σ_i log Σ_s π_s exp(a_s x_i y_i − a_s² x_i²/2)`` for each data set ``(B,)``.

    ``a`` ``(S,)`` or ``(B, S)``, ``log_pi`` ``(B, S)``, ``x``, ``y`` ``(B, n)``: the Bayes training loss
    (:func:`slt_lessons.generalisation.training_loss`, Watanabe 2010, eq. 3) minus that of the truth,
    ``L_n(w₀) = −(1/n) Σ_i log N(y_i; 0, 1)``, the ``−y_i²/2 − ½ log 2π`` of every term cancelling.
    """
    B, S = log_pi.shape
    n = x.shape[1]
    a = a.expand(B, S)
    c1, c2 = x * y, x * x / 2
    chunk = max(1, 2**20 // (S * B))  # 8 MB work tensors: twice as fast as 64 MB ones (cache)
    a, a2, lp = a[:, :, None], (a * a)[:, :, None], log_pi[:, :, None]
    total = torch.zeros(B, dtype=log_pi.dtype)
    for i in range(0, n, chunk):  # a logsumexp over s, in place: the (B, S, chunk) tensor is the memory
        expo = a * c1[:, None, i:i + chunk]
        expo.addcmul_(a2, c2[:, None, i:i + chunk], value=-1).add_(lp)
        top = expo.amax(1, keepdim=True)
        total += (expo.sub_(top).exp_().sum(1).log_() + top[:, 0]).sum(1)
    return -total / n


def functional_variance_batch(a, log_pi, x, y):
    """``V_n = Σ_i Var_w[log p(y_i | x_i, w)]`` for each data set ``(B,)``, exactly from the moments of ``a``.

    ``log p(y_i | x_i, w) = a c₁ᵢ − a² c₂ᵢ + (terms without w)``, ``c₁ᵢ = x_i y_i``, ``c₂ᵢ = x_i²/2``, so with
    ``u = a − E a`` and ``v = a² − E a²`` under the posterior (Watanabe 2010, eq. 4),

        V_n = Var(a) Σ c₁ᵢ² − 2 Cov(a, a²) Σ c₁ᵢc₂ᵢ + Var(a²) Σ c₂ᵢ²,

    each (co)variance taken centred (no cancellation). Equal to
    :func:`slt_lessons.generalisation.functional_variance` of the ``(S, n)`` log-likelihood matrix.
    """
    B, S = log_pi.shape
    pi = log_pi.exp()
    a = a.expand(B, S)
    u = a - (pi * a).sum(1, keepdim=True)
    v = a**2 - (pi * a**2).sum(1, keepdim=True)
    c1, c2 = x * y, x * x / 2
    return ((pi * u * u).sum(1) * (c1 * c1).sum(1) - 2 * (pi * u * v).sum(1) * (c1 * c2).sum(1)
            + (pi * v * v).sum(1) * (c2 * c2).sum(1))


def auto_nodes(n):
    """The Gauss rule's size :func:`simulate` uses at sample size ``n``: 24 (``n < 100``), 12 (``n < 1000``), 8.

    The rule's error for ``E_a exp(a c₁ − a² c₂)`` is ``~ (|c₁| sd(a))^(2k)/(2k)!`` with ``sd(a) ~ n^(−1/2)``
    (``c₁ = x y``, up to ~25 in 10⁵ points). Measured against the 801-point grid on 100 data sets (the
    largest difference in ``n·(T_n − L_n)`` and ``n·(G_n − L)``): at ``n = 10`` ``k = 16`` leaves 4e-10 and
    ``k = 24`` 1e-14; at ``n = 100`` ``k = 12`` 1e-13; at ``n = 1000`` ``k = 6`` already round-off (1e-12).
    """
    return 24 if n < 100 else 12 if n < 1000 else 8


@dataclass(frozen=True)
class GeneralisationStats:
    """Means over data sets, with their standard errors (sample sd / √n_datasets), of one :func:`simulate` run.

    ``kl`` = n·E[G_n − L(w₀)] (→ λ); ``train`` = n·E[T_n − L_n(w₀)] (→ λ − 2ν); ``V`` = E[V_n] (→ 2ν);
    ``two_nu`` = n·E[G_n − T_n] = kl − train, the equation of state's estimate of 2ν (its SE from the
    per-data-set differences); ``eos_gap`` = E[n(G_n − T_n) − V_n] (→ 0), paired. ``edge_mass``: the
    largest posterior mass, over the data sets, in the outer tenth of the grid; ``cut_mass``: the largest
    bound, over the data sets, on the posterior mass beyond the grid's ends, where the prior goes on
    (both 0 where the grid ends at the prior's boundary). Beyond ``|w| = R`` both models' log posteriors
    ``ℓ(w) = a S_xy − a² S_xx/2`` are concave (``ℓ'' = −S_xx`` regular, ``2S_xy − 6w²S_xx < 0`` singular)
    and decreasing outward, so the mass beyond an end is at most ``f(R)/|ℓ'(R)|``, ``f`` the normalised
    density (the end's trapezoid weight is ``h f(R)/2``); ``inf`` if ``ℓ`` rises at an end.
    """

    model: str
    n: int
    n_datasets: int
    seed: int
    kl: float
    kl_se: float
    train: float
    train_se: float
    V: float
    V_se: float
    two_nu: float
    two_nu_se: float
    eos_gap: float
    eos_gap_se: float
    lam: float
    nu: float | None
    d: int
    radius: float
    grid: int
    order: int
    nodes: int | None
    edge_mass: float
    cut_mass: float
    seconds: float

    def as_dict(self):
        return dataclasses.asdict(self)


def _mean_se(t):
    t = t.double()
    return float(t.mean()), float(t.std(unbiased=True) / math.sqrt(t.numel())) if t.numel() > 1 else math.nan


def simulate(model, n, n_datasets, seed, order=40, grid=801, c=10.0, nodes="auto", batch=None):
    """Simulate ``n_datasets`` data sets of size ``n`` from the truth and return :class:`GeneralisationStats`.

    Per data set ``x, ε ~ N(0, 1)`` (``y = ε``), float64, from ``torch.Generator().manual_seed(seed)``
    in batches of ``batch`` data sets (default: sized so that the process peaks near 0.5 GB at any ``n``;
    the numbers depend on ``seed`` and ``batch``). The grid posterior
    (:func:`grid_for`, ``grid`` points, ``c`` widths) gives exactly ``G_n − L(w₀)``
    (:func:`predictive_kl_batch`, Gauss–Hermite ``order``), ``T_n − L_n(w₀)``
    (:func:`training_excess_batch`) and ``V_n`` (:func:`functional_variance_batch`); ``nodes = k``
    evaluates the first two on the posterior's ``k``-point Gauss rule (:func:`gauss_rule`; ``"auto"``:
    :func:`auto_nodes`), ``None`` on the whole grid (slow: ``grid·n`` exponentials per data set for ``T_n``).
    """
    spec = _model(model)
    if int(n) != n or n < 1 or int(n_datasets) != n_datasets or n_datasets < 2:
        raise ValueError(f"n must be an integer >= 1 and n_datasets an integer >= 2, got {n!r}, {n_datasets!r}")
    n, n_datasets = int(n), int(n_datasets)
    t0 = time.perf_counter()
    w, log_prior = grid_for(spec, n, grid, c)
    a_grid = spec.a(w)
    outer = w.abs() > 0.9 * w.abs().max()
    at_prior_edge = w.abs().max() >= PRIOR_RADIUS
    if nodes == "auto":
        nodes = auto_nodes(n)
    k = grid if nodes is None else int(nodes)
    if batch is None:  # x, y and their products (B, n); the rule's (B, k, grid); the Gauss–Hermite (B, order², k)
        batch = max(1, min(n_datasets, 2**22 // n, 2**23 // (grid * k), 2**22 // (order * order * k)))
    gen = torch.Generator().manual_seed(int(seed))
    # Results go into tensors allocated up front: small tensors kept between the loop's large temporaries
    # pin glibc's heap, which then grew to 2–8 GB over 16,000 data sets.
    kl, train, V = (torch.empty(n_datasets, dtype=torch.float64) for _ in range(3))
    edge = cut = 0.0
    h = float(w[1] - w[0])
    ends, outward = torch.tensor([0, len(w) - 1]), torch.tensor([-1.0, 1.0], dtype=torch.float64)
    for start in range(0, n_datasets, batch):
        B = min(batch, n_datasets - start)
        done = slice(start, start + B)
        x = torch.randn(B, n, generator=gen, dtype=torch.float64)
        y = torch.randn(B, n, generator=gen, dtype=torch.float64)
        Sxx, Sxy = (x * x).sum(1), (x * y).sum(1)
        log_pi = grid_log_posterior(a_grid, log_prior, Sxx, Sxy)
        if not at_prior_edge:
            decay = -outward * spec.da(w[ends]) * (Sxy[:, None] - a_grid[ends] * Sxx[:, None])  # −ℓ' outward (B, 2)
            bound = torch.where(decay > 0, 2 * log_pi[:, ends].exp() / (h * decay), torch.inf)
            cut = max(cut, float(bound.sum(1).max()))
            edge = max(edge, float(log_pi[:, outer].exp().sum(1).max()))
        V[done] = functional_variance_batch(a_grid, log_pi, x, y)
        pts, lw = (a_grid, log_pi) if nodes is None else gauss_rule(a_grid, log_pi, k)
        kl[done] = predictive_kl_batch(pts, lw, order)
        train[done] = training_excess_batch(pts, lw, x, y)
    kl, train = n * kl, n * train
    (m_kl, s_kl), (m_tr, s_tr), (m_v, s_v) = _mean_se(kl), _mean_se(train), _mean_se(V)
    (m_nu, s_nu), (m_gap, s_gap) = _mean_se(kl - train), _mean_se(kl - train - V)
    return GeneralisationStats(
        model=spec.name, n=n, n_datasets=n_datasets, seed=int(seed), kl=m_kl, kl_se=s_kl, train=m_tr, train_se=s_tr,
        V=m_v, V_se=s_v, two_nu=m_nu, two_nu_se=s_nu, eos_gap=m_gap, eos_gap_se=s_gap, lam=spec.lam, nu=spec.nu,
        d=spec.d, radius=float(w.max()), grid=int(grid), order=int(order), nodes=nodes, edge_mass=edge, cut_mass=cut,
        seconds=time.perf_counter() - t0)


def expected_kl(model, n, z_order=40, s_order=20, grid=801, c=10.0, order=40):
    """``n·E[G_n − L(w₀)]`` at sample size ``n`` by quadrature, without Monte Carlo: a float.

    ``G_n`` depends on the data only through ``(S_xx, S_xy)`` (the posterior does), and ``S_xx ~ χ²_n``
    independent of ``Z = S_xy/√S_xx ~ N(0, 1)`` (given ``x``, ``S_xy ~ N(0, S_xx)``). So
    ``E[G_n − L] = E_{S_xx} E_Z[KL(S_xx, Z)]``, the inner ``KL`` exactly as :func:`simulate` computes it (the
    same grid and prior, so the prior's cut at ``|w| = 2`` counts), the outer expectations by Gauss rules:
    Gauss–Hermite of ``z_order`` in ``Z``, and the ``s_order``-point Gauss rule of ``χ²_n`` (:func:`gauss_rule`
    on its density, tabulated at 4001 points over ``n ± 15√(2n)``). Derived here; the defaults agree with
    ``(60, 40)`` to ~1e-9 (tests/test_generalisation_laws.py).
    """
    spec = _model(model)
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    n = int(n)
    half = 15 * math.sqrt(2 * n)
    s = torch.linspace(max(0.0, n - half), n + half, 4001, dtype=torch.float64)
    log_dens = torch.xlogy(torch.tensor(n / 2 - 1, dtype=torch.float64), s) - s / 2
    log_dens[[0, -1]] += math.log(0.5)
    s_nodes, s_logw = gauss_rule(s, (log_dens - torch.logsumexp(log_dens, 0))[None], int(s_order))
    z, wz = normal_rule(z_order)
    Sxx = s_nodes[0][:, None].expand(-1, len(z)).reshape(-1)
    Z = z[None, :].expand(len(s_nodes[0]), -1).reshape(-1)
    weight = (s_logw[0].exp()[:, None] * wz[None, :]).reshape(-1)
    w, log_prior = grid_for(spec, n, grid, c)
    a = spec.a(w)
    log_pi = grid_log_posterior(a, log_prior, Sxx, Z * Sxx.sqrt())
    pts, lw = gauss_rule(a, log_pi, auto_nodes(n))
    return float(n * (weight * predictive_kl_batch(pts, lw, order)).sum())


def regular_exact(n):
    """The regular model's expectations at sample size ``n``, in closed form under a flat prior on ``a``.

    The posterior is ``N(m, v)``, ``m = S_xy/S_xx``, ``v = 1/S_xx`` (the prior ``[−2, 2]`` cuts it
    negligibly for ``n ≥ 10``), the predictive ``N(m x, 1 + v x²)``. Derived here:

    * ``G_n − L(w₀) = E_x KL(N(0,1) ‖ N(mx, 1 + vx²)) = ½ E_x[log(1 + vx²) + (1 + m²x²)/(1 + vx²) − 1]``;
      given ``x``, ``E[m²] = v``, so ``E[G_n − L] = ½ E log(1 + x²/S_xx) = −½ E log(1 − B')``,
      ``B' = x²/(x² + S_xx) ~ Beta(½, n/2)``, and ``n E[G_n − L] = (n/2)(ψ((n+1)/2) − ψ(n/2)) = ½ + 1/(4n) + …``;
    * ``n(T_n − L_n(w₀)) = Σ_i [½ log(1 + u_i) + r_i²/(2(1 + u_i)) − y_i²/2]``, ``u_i = x_i²/S_xx``,
      ``r = y − m x`` with ``E[r_i² | x] = 1 − u_i``: ``n E[T_n − L_n] = n E[½ log(1 + B) − B/(1 + B)]``,
      ``B ~ Beta(½, (n−1)/2)`` (``→ −½``);
    * ``Var_a[a c₁ − a² c₂] = (c₁ − 2m c₂)² v + 2c₂² v² = u_i r_i² + u_i²/2``, so
      ``E[V_n] = 1 − (n/2) E[B²] = 1 − 3/(2(n + 2))``.

    Returns ``dict(kl, train, two_nu = kl − train, V)`` (``kl`` = n·E[G_n − L(w₀)], etc.).
    """
    from scipy import integrate, special

    n = int(require_positive("n", n))
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    kl = n / 2 * (special.digamma((n + 1) / 2) - special.digamma(n / 2))
    # E f(B), B = s² ~ Beta(½, β): density ∝ (1 − s²)^(β−1) in s ∈ [0, 1], smooth; cut where it is < e^-144.
    beta = (n - 1) / 2
    top = min(1.0, 12 / math.sqrt(max(beta - 1, 1e-12)))
    dens = (lambda s: math.exp((beta - 1) * math.log1p(-s * s))) if beta != 1 else (lambda s: 1.0)
    f = lambda s: 0.5 * math.log1p(s * s) - s * s / (1 + s * s)  # noqa: E731
    opts = dict(epsabs=0.0, epsrel=1e-13, limit=200)
    num = integrate.quad(lambda s: f(s) * dens(s), 0, top, **opts)[0]
    den = integrate.quad(dens, 0, top, **opts)[0]
    train = n * num / den
    return dict(kl=kl, train=train, two_nu=kl - train, V=1 - 3 / (2 * (n + 2)))


def singular_limit(order=100, points=20001, s_max=8.0):
    """The singular model's ``λ`` and ``2ν`` from its renormalised posterior (the ``n → ∞`` limit).

    With ``t = √S_xx·a`` and ``Z = S_xy/√S_xx ~ N(0, 1)`` the posterior of ``a = w²`` is, exactly,
    ``∝ t^(−1/2) exp(Z t − t²/2)`` on ``t ≥ 0`` (Watanabe 2009, chapter 6: the posterior in the
    coordinates where ``K`` is normal crossing, ``K = w⁴/2``). To leading order,
    ``n(G_n − L) → ½ (E_t t)²`` and ``V_n → Var_t(t)`` (derived here), so

        λ = ½ E_Z[(E_t t)²] (= 1/4),    2ν = E_Z[Var_t t] = E_Z[Z E_t t] (Stein's identity),

    computed with ``t = s²`` (density ``∝ exp(Z s² − s⁴/2)``, even and smooth in ``s``: the trapezoid
    rule on ``[0, s_max]`` is spectrally accurate) and a Gauss–Hermite rule of ``order`` in ``Z``.
    Returns ``dict(lam, two_nu)``; ``2ν = 0.3459465…``.
    """
    z, wz = (t.numpy() for t in normal_rule(order))
    s = np.linspace(0.0, s_max, int(points))
    t = s**2
    lp = z[:, None] * t[None, :] - t[None, :] ** 2 / 2
    p = np.exp(lp - lp.max(1, keepdims=True))
    p[:, 0] /= 2
    p /= p.sum(1, keepdims=True)
    mean = (p * t).sum(1)
    var = (p * (t - mean[:, None]) ** 2).sum(1)
    return dict(lam=float((wz * mean**2).sum() / 2), two_nu=float((wz * var).sum()))
