"""The toy model of superposition (TMS): exact loss, k-gon critical points, their learning coefficients.

**Model and data** (Elhage et al. 2022, *Toy Models of Superposition*; the setting of Chen, Lau,
Mendel, Wei & Murfet 2023, arXiv:2310.06301): c features are stored in r = 2 dimensions,

    f_w(x) = ReLU(WᵀW x + b),    W ∈ R^{2×c},  b ∈ R^c,  w = (W row-major, b) ∈ R^{3c},

and an input is one feature at a time, x = μ e_i with i uniform on {1, …, c} and μ ~ U[0, 1].
The loss is the mean squared reconstruction error, **not halved** (as in Chen et al.):

    L(w) = E_{i,μ} ‖x − f_w(x)‖²                                     (:func:`population_loss`).

**Bayesian setup, and which "n L" we mean.** A sample is x ~ q as above; the model is the
Gaussian p(y | x, w) = N(y; f_w(x), σ² I_c) for the target y = x, with σ = 1, the library's
convention (:mod:`slt_lessons.potentials`). Its negative log-likelihood per sample is

    −log p(x | x, w) = ½ ‖x − f_w(x)‖² + (c/2) log 2π,

so the population NLL is ℓ(w) = L(w)/2 + const: **the n L_α in the free energy is n·L_α/2**
(``halved=True`` in :func:`free_energy_leading`, :func:`critical_n`; :func:`potential` returns
L/2 by default). The other common choice, σ² = ½, makes the NLL ‖x − f_w(x)‖² + const, i.e.
n·L_α itself (``halved=False``); λ is the same for both (scaling a loss does not change λ), but the
critical n at which the posterior switches between two k-gons moves (:func:`critical_n` derives
by how much: about a factor 2). Prior: a Gaussian N(0, 10² I) on w, or a uniform prior on any box
that contains the k-gons; it is positive and smooth at every k-gon, so it enters the local free
energy only through its O(1) term log φ(w_α) (with the size of the rotation orbit and the number of
copies of each k-gon under feature permutations and reflections), never at order n or log n.
Local free energy of the basin of a local minimum w_α (Watanabe 2009, Theorem 6.7, applied to a
neighbourhood; Chen et al. 2023, section on Bayesian phase transitions):

    F_α(n) = n ℓ(w_α) + λ_α log n − (m_α − 1) log log n + O_p(1),

with ℓ(w_α) = L_α/2 here, and m_α = 1 at all the minima below (their zero modes are exactly flat).

**k-gons** (:func:`kgon`). k columns of W at angles 2πj/k with a common length l and bias b; the
other c − k columns are zero ("dead") with bias ``dead_bias``. By the dihedral symmetry of the
configuration, the gradient in W_j points along W_j and is the same for every live column, so
the k-gon is a critical point of L in all 3c coordinates once ∂L/∂l = ∂L/∂b = 0 — which
:func:`kgon` solves numerically — provided its dead biases are critical (below).

**Dead columns** (W_d = 0). For every input the dead output is ReLU(b_d) = B, so column d adds
(1/c)[∫₀¹(μ − B)² dμ + (c − 1)B²] = (1/c)(1/3 − B + cB²) for B ≥ 0, and 1/(3c) for B ≤ 0. Hence:
B < 0 is a critical point, and the loss is *exactly constant* in (W_d, b_d) on a neighbourhood (all
ReLUs that involve column d stay off while the live biases are negative): 3 exactly flat
directions, contributing 0 to λ. B = 0 is **not** a critical point: the right derivative in b_d is
−1/c (autograd reports 0, the derivative of ReLU at 0). B = 1/(2c) is the only positive critical
value; we take it to be what "positive dead bias" means (our reading of Chen et al., not checked
against their text). It lowers the loss by exactly 1/(4c²) and, for the 5-gon, curves all three
of the dead column's directions (rank 14 → 17). The positive-bias k-gon is reached from the
negative one only by crossing B = 0, where the loss falls linearly: a k-gon (k < c) with negative
dead biases is a local minimum that is not strict, next to a lower one.

**λ from the Hessian.** rank(∇²L)/2 is a lower bound of the local learning coefficient, and equals
it (with m = 1) when the zero eigenvectors are tangent to a manifold of minima of dimension
d − rank (Morse–Bott: the Morse–Bott lemma gives coordinates with K = u₁² + … + u_rank², whose
λ = rank/2, m = 1 by the normal-crossing formula of Watanabe 2009, *Algebraic Geometry and
Statistical Learning Theory*). Here the manifold is swept by the rotation orbit
W ↦ R_θ W (one exact symmetry) and, with negative dead biases, the dead columns' exactly flat
coordinates; :func:`zero_modes` checks that these explain every zero mode. The rule does not apply
where L is not twice differentiable: at (A_ji, b_j) = (0, 0) for some i, j (:func:`population_loss`),
e.g. the 4-gon, whose optimum is l = 1, b = 0 with neighbouring columns orthogonal (A_ji = 0),
and dead columns with b_d = 0.

**Results for c = 6** (:func:`kgon_table`; tests/test_tms.py checks the ranks, the 4-gon's loss
and the 1/144; d = 18):

    k-gon                      l         b          L (not halved)         rank   λ = rank/2
    4-gon                      1         0          1/9 = 0.111111         (11)   rule does not apply
    5-gon (b_d < 0)            1.170460  −0.282297  0.0687436              14     7
    5-gon, dead bias 1/12      1.170460  −0.282297  0.0617991 (−1/144)     17     17/2
    6-gon                      1.320526  −0.618135  0.0481924              17     17/2

no negative eigenvalues, ‖∇L‖ ≤ 5e-16, the smallest nonzero eigenvalue ≥ 0.02 (max ≈ 1–2). With
σ = 1 (ℓ = L/2) the leading free energies put the switch from the 5-gon (λ = 7) to the 6-gon
(λ = 17/2) at n_c ≈ 1010 (≈ 445 with σ² = ½), and from the 5-gon to the 5-gon with positive dead
bias at ≈ 3530; that one never beats the 6-gon (same λ, higher loss). So as n grows the
posterior is predicted to move from the 5-gon to the 6-gon near n ≈ 10³, up to O(1) terms.
:func:`slt_lessons.llc.estimate_llc` on :func:`potential` (MALA, default γ, 16 chains × 4000
steps, ~7 s each on one CPU thread) gives 7.15 ± 0.05, 8.51 ± 0.08, 8.29 ± 0.08 at nβ = 10⁴
and 6.99 ± 0.05, 8.43 ± 0.06, 8.36 ± 0.08 at nβ = 10⁵ (5-gon, 5-gon with positive dead bias,
6-gon); γ alone lowers a quadratic direction of curvature h by nβh/(nβh + γ), which predicts
6.88, 8.36, 8.28 and 6.96, 8.46, 8.43 from the spectra. Localized chains stay in their basin at
nβ ≥ 10⁴; at nβ = 10³ (γ = 4.7) chains started at either 5-gon reach the 6-gon within 16,000
steps (the dead column grows to l ≈ 1.2 with b_d ≈ −0.5; check with :func:`live_columns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from slt_lessons import phases, tms  # exercises call each other through their module
from slt_lessons.device import default_dtype, get_device
from slt_lessons.validation import as_tensor, require_finite, require_ndim, require_positive

__all__ = [
    "pack",
    "unpack",
    "segment_integral",
    "population_loss",
    "potential",
    "rotate",
    "permute",
    "kgon",
    "optimal_dead_bias",
    "live_columns",
    "hessian",
    "hessian_spectrum",
    "rank",
    "zero_modes",
    "null_scaling",
    "KGonRow",
    "on_kink",
    "kgon_table",
    "free_energy_leading",
    "critical_n",
]


# ============================================================================ parameters


def _check_c(c) -> int:
    if isinstance(c, bool) or not isinstance(c, int) or c < 2:
        raise ValueError(f"c must be an int >= 2 (the number of features), got {c!r}")
    return c


def pack(W, b):
    """w = (W row-major, b): W ``(..., 2, c)`` and b ``(..., c)`` → w ``(..., 3c)``."""
    W, b = as_tensor("W", W), as_tensor("b", b)
    if W.ndim < 2 or W.shape[-2] != 2:
        raise ValueError(f"W must have shape (..., 2, c), got {tuple(W.shape)}")
    if b.shape != W.shape[:-2] + W.shape[-1:]:
        raise ValueError(f"b must have shape {tuple(W.shape[:-2] + W.shape[-1:])} to match W, got {tuple(b.shape)}")
    return torch.cat([W.flatten(-2), b.to(W)], dim=-1)


def unpack(w, c=6):
    """(W, b) from w ``(..., 3c)``: W ``(..., 2, c)`` (the first 2c entries, row-major), b ``(..., c)``."""
    c = _check_c(c)
    w = as_tensor("w", w)
    if w.ndim < 1 or w.shape[-1] != 3 * c:
        raise ValueError(f"w must have shape (..., {3 * c}) for c = {c} (d = 3c), got {tuple(w.shape)}")
    return w[..., : 2 * c].unflatten(-1, (2, c)), w[..., 2 * c:]


# ============================================================================ the exact loss


def segment_integral(delta, a, b):
    """I(δ, a, b) = ∫₀¹ (δμ − ReLU(aμ + b))² dμ in closed form, elementwise (shapes broadcast).

    ``a``, ``b`` tensors (any shape that broadcasts with ``delta``, a number or tensor, 0 or 1 in
    :func:`population_loss`); returns the broadcast shape, on their device and dtype, differentiable.
    aμ + b is positive on an interval S = [p, q] ⊆ [0, 1]: with the kink μ₀ = −b/a,

    * [μ₀, 1] if a > 0 and 0 < μ₀ < 1 (the ReLU switches on inside the segment),
    * [0, μ₀] if a < 0 and 0 < μ₀ < 1 (it switches off inside),
    * all of [0, 1] if b ≥ 0 and a + b ≥ 0, and empty otherwise.

    Off S the integrand is (δμ)², on S it is (δμ − aμ − b)², a polynomial; with the moments
    m_k = ∫_p^q μ^k dμ = (q^{k+1} − p^{k+1})/(k + 1),

        I = δ²/3 − 2δ (a m₂ + b m₁) + a² m₂ + 2ab m₁ + b² m₀.

    (δ²/3 = ∫₀¹ δ²μ² dμ; for δ ∈ {0, 1} it is δ/3.) Exact: no quadrature, so no error at the kink.
    """
    interior = (a * b < 0) & (b.abs() < a.abs())  # the kink μ₀ = −b/a lies in (0, 1)
    full = (b >= 0) & (a + b >= 0)  # aμ + b ≥ 0 on all of [0, 1]
    mu0 = -b / torch.where(interior, a, torch.ones_like(a))  # divide only where |a| > |b|
    zero, one = torch.zeros_like(mu0), torch.ones_like(mu0)
    p = torch.where(interior & (a > 0), mu0, zero)
    q = torch.where(interior & (a < 0), mu0, torch.where(full | interior, one, zero))
    m0, m1, m2 = q - p, (q**2 - p**2) / 2, (q**3 - p**3) / 3  # ∫_p^q μ^k dμ
    return delta**2 / 3 - 2 * delta * (a * m2 + b * m1) + a**2 * m2 + 2 * a * b * m1 + b**2 * m0


def population_loss(w, c=6):
    """The exact population loss L(w) = E_{i,μ} ‖x − ReLU(WᵀWx + b)‖², x = μ e_i, i ~ U{1..c}, μ ~ U[0, 1].

    ``w`` ``(..., 3c)`` → ``(...)``: batched over any leading dimensions (chains), differentiable by
    autograd, on w's device and dtype.

    Derivation. For input μ e_i the j-th output is ReLU(μ A_ji + b_j), A = WᵀW, and the target is
    μ δ_ij, so

        L(w) = (1/c) Σ_i Σ_j I(δ_ij, A_ji, b_j),   I(δ, a, b) = ∫₀¹ (δμ − ReLU(aμ + b))² dμ.

    with I in closed form (:func:`segment_integral`: on the interval of [0, 1] where the ReLU is on
    the integrand is one polynomial, off it another). ``c`` is an int ≥ 2 and w's last dimension 3c
    (:func:`unpack` checks both).

    I is C² except at (a, b) = (0, 0), where the kink sits at the end μ = 0 for every a: there
    ∫₀¹ReLU(aμ)² = a²/3 for a > 0 and 0 for a < 0, and ∫₀¹(μ − ReLU(b))² = 1/3 − b + b² for b > 0
    and 1/3 for b < 0 (not even C¹ in b). Chen, Lau, Mendel, Wei & Murfet (2023,
    arXiv:2310.06301) give a closed form of this loss; this derivation is ours.
    """
    W, b = tms.unpack(w, c)  # checks c and w's shape
    A = W.transpose(-1, -2) @ W  # A[..., j, i] = W_j · W_i (symmetric)
    delta = torch.eye(c, dtype=A.dtype, device=A.device)  # the target's j-th entry for input e_i is δ_ij
    # I[..., j, i] = I(δ_ij, A_ji, b_j): b_j is constant along i, hence b[..., :, None]
    return tms.segment_integral(delta, A, b[..., :, None]).sum((-2, -1)) / c


def potential(c=6, halved=True):
    """The potential ``(C, d) → (C,)`` for :func:`slt_lessons.llc.estimate_llc`: the population NLL.

    L(w)/2 (``halved=True``, the Gaussian NLL with σ = 1 less its constant: the module docstring)
    or L(w) (``halved=False``, σ² = ½). No data, so no data noise: λ̂ = nβ (E[ℓ] − ℓ(w*)) with
    ℓ this potential. Halving the loss is the same as halving nβ (notes, "Multiplying the loss").
    Use: ``estimate_llc(potential(), w_star=kgon(5)[0], nbeta=1e4)``.
    """
    c = _check_c(c)
    scale = 0.5 if halved else 1.0

    def nll(W):
        return scale * population_loss(W, c)

    return nll


# ============================================================================ symmetries


def rotate(w, theta, c=6):
    """R_θ W with b unchanged: L is invariant since (R_θ W)ᵀ(R_θ W) = WᵀW. ``theta`` a float or ``(...)``."""
    W, b = unpack(w, c)
    theta = as_tensor("theta", theta, dtype=W.dtype, device=W.device)
    cos, sin = torch.cos(theta)[..., None], torch.sin(theta)[..., None]
    W_rot = torch.stack([cos * W[..., 0, :] - sin * W[..., 1, :], sin * W[..., 0, :] + cos * W[..., 1, :]], dim=-2)
    return pack(W_rot, b)


def permute(w, perm, c=6):
    """Relabel the features: column and bias j become column and bias ``perm[j]``'s. L is invariant."""
    W, b = unpack(w, c)
    perm = torch.as_tensor(perm, device=W.device)
    if sorted(perm.tolist()) != list(range(c)):
        raise ValueError(f"perm must be a permutation of 0..{c - 1}, got {perm.tolist()}")
    return pack(W[..., perm], b[..., perm])


# ============================================================================ k-gons


def optimal_dead_bias(c=6):
    """B = 1/(2c): the positive bias of a dead column (W_d = 0) that minimises its loss (1/c)(1/3 − B + cB²)."""
    return 1 / (2 * _check_c(c))


def live_columns(w, c=6, threshold=0.5):
    """The number of columns of W with ‖W_j‖ > ``threshold``, ``(...)`` for w ``(..., 3c)``: which
    k-gon basin a chain's state is in (the k-gons have l ≥ 1, dead columns l = 0)."""
    W, _ = unpack(w, c)
    return (W.norm(dim=-2) > threshold).sum(-1)


def _kgon_w(k, c, length, bias, dead_bias, dtype, device):
    angles = 2 * math.pi * torch.arange(k, dtype=dtype, device=device) / k
    W = torch.zeros(2, c, dtype=dtype, device=device)
    W[0, :k], W[1, :k] = length * torch.cos(angles), length * torch.sin(angles)
    b = torch.full((c,), float(dead_bias), dtype=dtype, device=device)
    b[:k] = bias
    return pack(W, b)


def kgon(k, c=6, length=None, bias=None, dead_bias=-1.0, device=None):
    """The k-gon: returns ``(w, length, bias)`` with w ``(3c,)``.

    Columns j < k of W are l·(cos 2πj/k, sin 2πj/k) with bias b; columns j ≥ k are zero with bias
    ``dead_bias`` (a float, or ``"optimal"`` for :func:`optimal_dead_bias` = 1/(2c)). A negative
    dead bias (any value < 0 gives the same loss) makes those columns exactly flat; 0 is not a
    critical point (module docstring). The default −1 keeps localized chains (nβ ≥ 10⁴, default γ)
    well away from b_d = 0, past which the loss falls toward the positive-bias k-gon. Where ``length`` or ``bias`` is None it is found
    numerically: L-BFGS-B (scipy) on L over the free ones of (l, b) from several starts, then
    Newton steps on the 2×2 problem until the gradient is at round-off. k-gons as critical points
    of TMS: Chen, Lau, Mendel, Wei & Murfet (2023, arXiv:2310.06301).
    """
    c = _check_c(c)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= c:
        raise ValueError(f"k must be an int in [1, c] = [1, {c}], got {k!r}")
    if isinstance(dead_bias, str):
        if dead_bias != "optimal":
            raise ValueError(f"dead_bias must be a number or 'optimal', got {dead_bias!r}")
        dead_bias = optimal_dead_bias(c)
    dead_bias = float(dead_bias)
    if not math.isfinite(dead_bias):
        raise ValueError(f"dead_bias must be finite, got {dead_bias!r}")
    device = get_device(device)
    dtype = default_dtype(device)
    if length is not None:
        length = require_positive("length", length)
    if bias is not None:
        bias = float(bias)
        if not math.isfinite(bias):
            raise ValueError(f"bias must be finite, got {bias!r}")
    free = [length is None, bias is None]

    def loss_of(theta):  # theta: the free entries of (l, b), as a tensor
        it = iter(theta)
        lb = [next(it) if f else torch.tensor(v, dtype=dtype, device=device) for f, v in zip(free, (length, bias))]
        return population_loss(_kgon_w(k, c, lb[0], lb[1], dead_bias, dtype, device), c)

    if any(free):
        def fun(x):
            t = torch.tensor(x, dtype=dtype, device=device, requires_grad=True)
            val = loss_of(t)
            (g,) = torch.autograd.grad(val, t)
            return float(val.detach()), g.detach().cpu().double().numpy()

        starts = [(l0, b0) for l0 in (0.8, 1.0, 1.2) for b0 in (-0.3, -0.1, 0.0)]
        best = None
        for l0, b0 in starts:
            x0 = np.array([v for f, v in zip(free, (l0, b0)) if f])
            res = minimize(fun, x0, jac=True, method="L-BFGS-B", options=dict(ftol=1e-15, gtol=1e-12, maxiter=500))
            if best is None or res.fun < best.fun - 1e-14:
                best = res
        x = torch.tensor(best.x, dtype=dtype, device=device)
        for _ in range(20):  # Newton polish: the 2×2 problem is smooth near a smooth optimum
            g = torch.autograd.functional.jacobian(loss_of, x)
            H = torch.autograd.functional.hessian(loss_of, x)
            if float(g.abs().max()) < 1e-15 or not bool((torch.linalg.eigvalsh(H) > 0).all()):
                break
            step = torch.linalg.solve(H, g)
            if float(loss_of(x - step)) > float(loss_of(x)) + 1e-15:
                break
            x = x - step
        it = iter(x.tolist())
        length, bias = (next(it) if f else v for f, v in zip(free, (length, bias)))
    return _kgon_w(k, c, length, bias, dead_bias, dtype, device), float(length), float(bias)


# ============================================================================ Hessian, rank and zero modes


def hessian(w, c=6):
    """The exact Hessian ∇²L(w), ``(3c, 3c)``, by autograd (torch.autograd.functional.hessian) on
    :func:`population_loss`, in w's dtype (float64 by default). Meaningful where L is C² (every
    (A_ji, b_j) ≠ (0, 0): :func:`population_loss`); elsewhere it is the Hessian of one branch."""
    c = _check_c(c)
    w = require_finite("w", require_ndim("w", as_tensor("w", w), 1))
    unpack(w, c)  # shape check
    return torch.autograd.functional.hessian(lambda v: population_loss(v, c), w.detach())


def hessian_spectrum(w, c=6):
    """The eigenvalues of :func:`hessian`, ascending, ``(3c,)``."""
    return torch.linalg.eigvalsh(hessian(w, c))


def _tol(eigs, rtol):
    return rtol * float(eigs.abs().max()) if eigs.numel() else 0.0


def rank(eigs, rtol=1e-8):
    """The number of eigenvalues with |e| > tol, tol = ``rtol``·max|e| (scale-aware: multiplying the
    loss by s multiplies every eigenvalue and tol by s, so the rank does not change).

    Why 1e-8: the zero modes of the k-gons are O(ε_mach·d·max|e|) ≈ 1e-15·max|e| from round-off,
    plus O(‖∇L‖·‖w‖) from the residual gradient of the numerically optimised (l, b) (a rotation
    is a symmetry, so at a non-critical point its second derivative is −∇L·J²w); :func:`kgon`
    leaves ‖∇L‖ ≈ 1e-16. The smallest nonzero eigenvalues are ≥ 1e-2·max|e| at these k-gons (see
    :func:`kgon_table`), so any rtol between ~1e-13 and ~1e-3 gives the same ranks.
    """
    eigs = as_tensor("eigs", eigs)
    return int((eigs.abs() > _tol(eigs, rtol)).sum())


def _generators(w, c, dead_tol=0.0):
    """Tangents of the known exact symmetries and flat directions at w, as rows ``(G, 3c)``:
    the rotation J·W (J the 90° rotation), and for each dead column (W_d = 0) with b_d < 0 its three
    coordinates (the loss is constant on a neighbourhood there while the live biases are < 0)."""
    W, b = unpack(w, c)
    rot = pack(torch.stack([-W[1], W[0]]), torch.zeros_like(b))
    gens = [rot / rot.norm()] if float(rot.norm()) > 0 else []
    eye = torch.eye(3 * c, dtype=w.dtype, device=w.device)
    for d in range(c):
        if float(W[:, d].abs().max()) <= dead_tol and float(b[d]) < 0:
            gens += [eye[d], eye[c + d], eye[2 * c + d]]
    return torch.stack(gens) if gens else torch.zeros(0, 3 * c, dtype=w.dtype, device=w.device)


def null_scaling(w, v, c=6, ts=(1e-1, 1e-2)):
    """ΔL(t) = L(w + t v) − L(w) at each t in ``ts``, and the exponent p of ΔL ∝ t^p from the first
    two (NaN where either |ΔL| is at round-off, 64·ε_mach·|L(w)|: flat, or too small to tell; at
    t = 1e-3 a quartic C·t⁴ with C ≲ 1e-3, as along mixtures of the rotation and flat modes, is
    already below it, hence the default ``ts``). Along a straight line tangent to the rotation orbit
    p = 4 (the line leaves the orbit by O(t²)); along a flat direction ΔL = 0; p ≤ 3
    along a null eigenvector would mean a cubic (not a minimum) term. Note p = 4 cannot tell an
    orbit from a genuinely quartic direction (λ contribution 1/4): :func:`zero_modes` decides."""
    w, v = as_tensor("w", w), as_tensor("v", v).to(w)
    v = v / v.norm()
    L0 = float(population_loss(w, c))
    dL = [float(population_loss(w + t * v, c)) - L0 for t in ts]
    floor = 64 * torch.finfo(w.dtype).eps * max(abs(L0), 1e-300)
    p = math.log(abs(dL[0]) / abs(dL[1])) / math.log(ts[0] / ts[1]) if min(abs(dL[0]), abs(dL[1])) > floor else math.nan
    return dL, p


def zero_modes(w, c=6, rtol=1e-8):
    """Are the Hessian's zero modes at w exact symmetries or exactly flat directions?

    Returns a dict: ``nullity`` (eigenvalues with |e| ≤ tol, as in :func:`rank`); ``unexplained``,
    the norm of the part of the null space outside the span of the known generators
    (rotation orbit, flat dead columns: ``_generators``) — largest over an orthonormal basis of the
    null space, 0 when all are explained; ``generators_in_null``, max ‖H g‖/max|e| over the
    generators; ``orbit_change``, max |L(R_θ w) − L(w)| over θ ∈ {0.1, 1, π/3}; ``flat_change``,
    max |L(w + t e) − L(w)| over the flat dead coordinates e, t ∈ {±0.01}; ``exponents``, the
    :func:`null_scaling` exponents along the null eigenvectors; and ``exact``: every zero mode is
    explained, and the loss is constant (to 1e-14) along the orbit and the flat coordinates. Then
    L is Morse–Bott at w with a critical manifold of dimension = nullity, and λ = rank/2, m = 1.
    """
    w = require_finite("w", require_ndim("w", as_tensor("w", w), 1)).detach()
    H = hessian(w, c)
    eigs, vecs = torch.linalg.eigh(H)
    tol = _tol(eigs, rtol)
    null = vecs[:, eigs.abs() <= tol]  # (d, nullity)
    G = _generators(w, c)
    if G.shape[0]:
        Q = torch.linalg.qr(G.T).Q  # orthonormal basis of the generators' span
        resid = null - Q @ (Q.T @ null)
    else:
        resid = null
    unexplained = float(torch.linalg.matrix_norm(resid, ord=2)) if null.shape[1] else 0.0
    in_null = float((G @ H).norm(dim=1).max()) / float(eigs.abs().max()) if G.shape[0] else 0.0
    L0 = float(population_loss(w, c))
    orbit = max(abs(float(population_loss(rotate(w, th, c), c)) - L0) for th in (0.1, 1.0, math.pi / 3))
    flat_rows = G[1:] if G.shape[0] > 1 else G[:0]
    flat = max([abs(float(population_loss(w + t * e, c)) - L0) for e in flat_rows for t in (0.01, -0.01)],
               default=0.0)
    exps = [null_scaling(w, null[:, j], c)[1] for j in range(null.shape[1])]
    exact = unexplained < 1e-6 and in_null <= rtol * 10 and orbit < 1e-14 and flat < 1e-14
    return dict(nullity=null.shape[1], unexplained=unexplained, generators_in_null=in_null, orbit_change=orbit,
                flat_change=flat, exponents=exps, exact=exact)


# ============================================================================ the table


@dataclass
class KGonRow:
    """One k-gon of :func:`kgon_table`: its configuration, loss, critical-point and minimum checks, and λ."""

    name: str
    k: int
    dead_bias: float
    length: float
    bias: float
    loss: float
    grad_norm: float
    n_negative: int
    rank: int
    lam_hessian: float  # rank/2
    zero_modes_exact: bool
    rule_applies: bool  # λ = rank/2 holds: L is C² at w and every zero mode is exact (zero_modes)
    smallest_positive: float  # the spectral gap above the zero modes
    note: str
    w: torch.Tensor


def on_kink(w, c=6, tol=1e-12):
    """Whether some (A_ji, b_j) is (0, 0) at w to ``tol``: where L is not twice differentiable
    (:func:`population_loss`), so rank(∇²L)/2 says nothing about λ (the 4-gon)."""
    W, b = unpack(w, c)
    A = W.T @ W
    return bool(((A.abs() <= tol) & (b[:, None].abs() <= tol)).any())


def kgon_table(c=6, rtol=1e-8, device=None):
    """The k-gons of TMS with c features in 2 dimensions, as a list of :class:`KGonRow`:

    the 4-gon, the 5-gon, the 5-gon with positive dead bias 1/(2c) and the 6-gon (for c = 6; in
    general k = c − 2, c − 1 (both dead-bias signs) and c, k ≥ 3), each at its optimal (l, b)
    (:func:`kgon`). Columns: loss L (not halved), ‖∇L‖ (critical point), the number of
    eigenvalues below −tol (saddle if > 0), rank(∇²L) (:func:`rank`), rank/2, whether the zero
    modes are exactly flat (:func:`zero_modes`), and whether λ = rank/2 applies: only where L is C²
    at w and the zero modes are exact. It does not at the 4-gon (b = 0 and A_ji = 0 for
    neighbouring columns: a ReLU kink, module docstring), whatever its Hessian says. Chen, Lau,
    Mendel, Wei & Murfet (2023, arXiv:2310.06301) study these critical points.
    """
    c = _check_c(c)
    specs = [(f"{c - 2}-gon", c - 2, -1.0), (f"{c - 1}-gon", c - 1, -1.0),
             (f"{c - 1}-gon, positive dead bias", c - 1, "optimal"), (f"{c}-gon", c, -1.0)]
    rows = []
    for name, k, dead in [s for s in specs if s[1] >= 3]:
        w, l, b = kgon(k, c, dead_bias=dead, device=device)
        wg = w.clone().requires_grad_(True)
        val = population_loss(wg, c)
        (g,) = torch.autograd.grad(val, wg)
        val = val.detach()
        eigs = hessian_spectrum(w, c)
        tol = _tol(eigs, rtol)
        r = rank(eigs, rtol)
        kink = on_kink(w, c, tol=1e-9)
        zm = zero_modes(w, c, rtol)
        applies = zm["exact"] and not kink
        pos = eigs[eigs > tol]
        note = ("ReLU kink: some (A_ji, b_j) = (0, 0); L is not C², rank/2 is not λ" if kink
                else "Morse–Bott: λ = rank/2, m = 1" if applies
                else "zero modes not all explained: rank/2 only bounds λ below")
        rows.append(KGonRow(name, k, float(w[-1]) if k < c else math.nan, l, b, float(val), float(g.norm()),
                            int((eigs < -tol).sum()), r, r / 2, zm["exact"], applies,
                            float(pos.min()) if pos.numel() else math.nan, note, w))
    return rows


# ============================================================================ free energy and the phase transition


def free_energy_leading(n, loss, lam, halved=True):
    """F_α(n) ≈ n·s·L_α + λ_α log n, s = ½ (``halved=True``) or 1; ``n``, ``loss``, ``lam`` broadcast.

    The local free energy of the basin of the k-gon α to order log n (Watanabe 2009, Theorem 6.7;
    m_α = 1 here, so no log log n term), with L_α the population loss of :func:`population_loss`
    (not halved) and s·L_α the population NLL per sample: s = ½ for the Gaussian likelihood with
    σ = 1 (this module's convention), s = 1 for σ² = ½ (NLL = ‖x − f(x)‖²). The O(1) terms (prior,
    orbit volume, number of symmetric copies) are left out. The posterior prefers the α of smallest
    F_α: ``F.argmin`` over α (as :func:`slt_lessons.phases.preferred_phase` with L = s·L_α).
    """
    n = as_tensor("n", n, dtype=torch.float64)
    if bool((n <= 1).any()):
        raise ValueError("n must be > 1 (a sample size)")
    s = 0.5 if halved else 1.0
    return n * s * as_tensor("loss", loss).to(n) + as_tensor("lam", lam).to(n) * torch.log(n)


def critical_n(loss_a, lam_a, loss_b, lam_b, halved=True):
    """The sample size n_c at which F_a(n) = F_b(n) (:func:`free_energy_leading`), for a simple
    k-gon a (λ_a < λ_b) of higher loss (L_a > L_b): a is preferred below n_c, b above.

    :func:`slt_lessons.phases.critical_n` on the NLLs s·L_a, s·L_b (it solves s n ΔL = Δλ log n with
    Lambert's W₋₁, and raises ``ValueError`` where there is no transition). How n_c moves with the
    normalisation: with κ = Δλ/(sΔL), ΔL = L_a − L_b, Δλ = λ_b − λ_a, the crossing is
    n_c = κ log n_c. Going from σ = 1 (s = ½) to σ² = ½ (s = 1) halves κ, so
    n_c(σ = 1)/n_c(σ² = ½) = 2 log n_c(σ = 1)/log n_c(σ² = ½) ≈ 2 (1 + log 2/log n_c(σ² = ½)):
    a little more than twice as many samples with the halved loss (5-gon → 6-gon, c = 6: 1010
    against 445, ratio 2.27).
    """
    s = 0.5 if halved else 1.0
    return phases.critical_n(s * float(loss_a), lam_a, s * float(loss_b), lam_b)


# ============================================================================ development: training through the k-gons


@dataclass
class TrainingRun:
    """What :func:`train` returns: ``w`` ``(K, 3c)`` the checkpoints, ``steps`` ``(K,)`` the SGD
    steps at which they were taken, ``loss`` ``(K,)`` the population loss L (not halved) at each,
    ``live`` ``(K,)`` the number of live columns (:func:`live_columns`) at each, and ``settings``."""

    w: torch.Tensor
    steps: torch.Tensor
    loss: torch.Tensor
    live: torch.Tensor
    settings: dict


def _sample_inputs(rng, c, size):
    """``size`` inputs x = μ e_i (i ~ U{0..c−1}, μ ~ U[0, 1]), as the pair (i, μ) of arrays."""
    return rng.integers(c, size=size), rng.random(size)


def _minibatch_grad(W, b, i, mu):
    """The gradient of the minibatch loss (1/B) Σ_β ‖μ_β e_{i_β} − ReLU(μ_β A[:, i_β] + b)‖², A = WᵀW.

    By hand (numpy), as a learner would write it: with z_βj = μ_β A_{j i_β} + b_j and the residual
    r_βj = ReLU(z_βj) − μ_β δ_{j i_β}, let g_βj = (2/B) r_βj 1[z_βj > 0]. Then ∂/∂b_j = Σ_β g_βj,
    ∂/∂A_ji = G_ji = Σ_{β: i_β = i} g_βj μ_β, and since A = WᵀW, ∂/∂W = W (G + Gᵀ).
    (A ReLU at exactly 0 gets derivative 0, as in autograd.)
    """
    B, c = len(i), W.shape[1]
    z = mu[:, None] * (W.T @ W)[:, i].T + b  # (B, c)
    r = np.maximum(z, 0.0)
    r[np.arange(B), i] -= mu
    g = (2.0 / B) * r * (z > 0)
    onehot_mu = np.zeros((B, c))
    onehot_mu[np.arange(B), i] = mu
    G = g.T @ onehot_mu  # G[j, i]
    return W @ (G + G.T), g.sum(0)


def train(c=6, steps=20_000, lr=0.05, batch_size=4, init_scale=0.5, seed=0, n=None, n_checkpoints=60):
    """Minibatch SGD on the TMS, w ← w − lr ∇L_B(w), with checkpoints on a log-spaced grid of steps.

    Each step draws ``batch_size`` inputs x = μ e_i (fresh ones, i.e. online SGD on the
    population, when ``n`` is None; else a minibatch of a training set of ``n`` inputs drawn once,
    as in Chen et al. 2023) and takes one step of plain SGD on their mean loss
    (:func:`_minibatch_grad`). The initial w is ``init_scale`` · N(0, I). Plain SGD, not Adam:
    SGD's noise, set by lr/batch_size, is what moves w off a plateau (a saddle or a shallow
    local minimum of L: part 2's k-gons), and its step is not rescaled per coordinate, so the
    time spent near a critical point reflects the loss landscape there. Exact gradient descent
    on :func:`population_loss` instead stops for good at the first k-gon it reaches (often the
    3- or 4-gon): every k-gon is a local minimum, so without noise there is no development to see.

    Checkpoints at ``n_checkpoints`` steps spaced evenly in log(1 + step), from 0 to ``steps``
    (development is slow at the end: log time shows its stages as plateaus of similar width).
    Runs in numpy (float64), about 1 s per 20,000 steps at batch size 4; returns a
    :class:`TrainingRun` with torch tensors (float64, CPU). Chen, Lau, Mendel, Wei & Murfet
    (2023, arXiv:2310.06301) observe SGD on this model moving between k-gons.
    """
    c = _check_c(c)
    for name, v in (("steps", steps), ("batch_size", batch_size), ("n_checkpoints", n_checkpoints)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    lr, init_scale = require_positive("lr", lr), require_positive("init_scale", init_scale)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < batch_size):
        raise ValueError(f"n must be None or an int >= batch_size, got {n!r}")
    rng = np.random.default_rng(seed)
    w = init_scale * rng.standard_normal(3 * c)
    W, b = w[: 2 * c].reshape(2, c).copy(), w[2 * c:].copy()
    data = _sample_inputs(rng, c, n) if n is not None else None
    grid = np.unique(np.round(np.expm1(np.linspace(0, np.log1p(steps), n_checkpoints))).astype(int))
    saved, k = [], 0
    for t in range(steps + 1):
        if k < len(grid) and t == grid[k]:
            saved.append(np.concatenate([W.ravel(), b]))
            k += 1
        if t == steps:
            break
        if data is None:
            i, mu = _sample_inputs(rng, c, batch_size)
        else:
            idx = rng.integers(n, size=batch_size)
            i, mu = data[0][idx], data[1][idx]
        gW, gb = _minibatch_grad(W, b, i, mu)
        W -= lr * gW
        b -= lr * gb
    ws = torch.tensor(np.array(saved), dtype=torch.float64)
    return TrainingRun(ws, torch.tensor(grid), population_loss(ws, c), live_columns(ws, c),
                       dict(c=c, steps=steps, lr=lr, batch_size=batch_size, init_scale=init_scale, seed=seed, n=n,
                            optimizer="SGD"))


def stage_boundaries(steps, losses, min_drop=0.1, min_rate=0.1):
    """The stage boundaries of a training run, from its loss curve: indices into ``steps``.

    The rule, for checkpoints at steps t_0 < t_1 < … with losses L_k > 0:

    1. the rate of each interval is how fast the loss falls per unit of log time,
       r_k = −Δ log L / Δ log(1 + t) = (log L_k − log L_{k+1}) / (log(1 + t_{k+1}) − log(1 + t_k));
    2. an interval with r_k > ``min_rate`` is *moving*, the others are on a plateau;
    3. a run of consecutive moving intervals is a *drop* if the loss falls by more than the fraction
       ``min_drop`` over it (L_end < (1 − min_drop) L_start): small wiggles are not stages;
    4. each drop gives one boundary: the checkpoint k + 1 just after its fastest interval k (the
       first checkpoint of the new stage).

    Log time because development slows down as it goes: a plateau from step 300 to 3,000 and one
    from 3,000 to 30,000 are equally long stages (Hoogland et al. 2024, arXiv:2402.02364, also
    plot against log steps). A drop from the initialisation counts as a boundary too (the
    first stage is then the initial transient). The defaults suit SGD's noisy loss curves on a
    log grid of ~60 checkpoints (:func:`train`): on a plateau the loss wiggles at rates ≲ 0.1, and a
    10% fall separates the k-gons' losses (1/9, 0.104, 0.0687, 0.0618, 0.0482 for c = 6).
    ``steps`` and ``losses``: sequences or 1-d
    tensors of the same length, steps strictly increasing, losses positive. Returns a list of ints.
    """
    t = np.asarray(torch.as_tensor(steps, dtype=torch.float64).cpu(), dtype=float)
    L = np.asarray(torch.as_tensor(losses, dtype=torch.float64).cpu(), dtype=float)
    if t.ndim != 1 or L.shape != t.shape or len(t) < 2:
        raise ValueError(f"steps and losses must be 1-d of the same length >= 2, got {t.shape} and {L.shape}")
    if not (np.all(np.isfinite(L)) and np.all(L > 0)) or not np.all(np.diff(t) > 0) or t[0] < 0:
        raise ValueError("losses must be finite and positive, steps non-negative and strictly increasing")
    rate = -np.diff(np.log(L)) / np.diff(np.log1p(t))
    boundaries, k = [], 0
    while k < len(rate):
        if rate[k] <= min_rate:
            k += 1
            continue
        end = k
        while end + 1 < len(rate) and rate[end + 1] > min_rate:
            end += 1  # the drop is intervals k..end, checkpoints k..end+1
        if L[end + 1] < (1 - min_drop) * L[k]:
            boundaries.append(int(k + np.argmax(rate[k:end + 1]) + 1))
        k = end + 1
    return boundaries


def descend(w, c=6, steps=3000, lr=0.5):
    """Gradient descent on the exact loss, w ← w − lr ∇L(w), ``steps`` times: the bottom of the basin w is in.

    ``w`` ``(..., 3c)``, batched (each row descends on its own: the rows' losses are summed, and
    each row's gradient is its own). Returns ``(w_end, grad_norm)``, ``grad_norm`` ``(...)`` the
    final ‖∇L‖. Use: an SGD checkpoint sits above the k-gon it hovers around by SGD's noise (of
    order lr/batch_size of the training); the LLC estimator assumes w* is a local minimum, and at a
    point ΔL above one its chains descend and λ̂ falls by about nβ·ΔL/2 (with ``potential``'s L/2).
    Descending first estimates the LLC of the critical point the checkpoint is near; check that w
    moved little (it may cross a saddle where a checkpoint is between stages). lr = 0.5 is stable
    for the k-gons' Hessians (largest eigenvalue ≈ 1–2) and, with the smallest nonzero ≈ 0.02,
    contracts by ≈ e⁻³⁰ in 3000 steps.
    """
    c = _check_c(c)
    w = require_finite("w", as_tensor("w", w)).detach().clone()
    unpack(w, c)  # shape check
    for _ in range(steps):
        w.requires_grad_(True)
        (g,) = torch.autograd.grad(population_loss(w, c).sum(), w)
        w = (w - lr * g).detach()
    w.requires_grad_(True)
    (g,) = torch.autograd.grad(population_loss(w, c).sum(), w)
    return w.detach(), g.norm(dim=-1)


__all__ += ["TrainingRun", "train", "stage_boundaries", "descend"]
