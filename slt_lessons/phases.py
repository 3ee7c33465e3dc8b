"""Internal model selection: which basin of a loss landscape the posterior prefers as ``n`` grows.

A posterior over a parameter space with several basins ``α`` weighs each by its local free
energy ``F_α(n) = −log ∫_{basin α} φ(w) e^{−nL(w)} dw``. To leading order (Watanabe 2009,
*Algebraic Geometry and Statistical Learning Theory*, Theorem 6.7, applied to each basin; lesson 2
of this course)

    F_α(n) ≈ n L_α + λ_α log n + c_α,

``L_α`` the basin's smallest loss, ``λ_α`` its (local) learning coefficient, ``c_α`` a constant.
The posterior mass of basin ``α`` is ``e^{−F_α} / Σ_β e^{−F_β}``. At small ``n`` the ``λ log n``
term decides and the simple basin (small ``λ``) wins; at large ``n`` the ``nL`` term decides and the
accurate basin (small ``L``) wins. The switch is a Bayesian phase transition (Chen, Lau, Mendel,
Wei, Murfet 2023, "Dynamical versus Bayesian phase transitions in a toy model of superposition",
arXiv:2310.06301; Watanabe 2018, *Mathematical Theory of Bayesian Statistics*, on phase transitions
of the posterior).

Exercises (short, for a learner to write):

- :func:`critical_n`        the larger ``n`` where two free energies cross (Lambert W)
- :func:`preferred_phase`   the basin of smallest ``F_α(n)`` at each ``n``, from ``(L, λ)``

An exact 1-D example, ``L(w) = min(w⁴ + δ, (w − 2)²)`` with a uniform prior on ``[−1, 3]``:
a quartic basin at ``w = 0`` (``L_1 = δ``, ``λ_1 = 1/4``) and a quadratic one at ``w = 2``
(``L_2 = 0``, ``λ_2 = 1/2``):

- :func:`two_basin_potential`, :func:`basin_boundary`
- :func:`basin_free_energies`, :func:`basin_masses`   exact, by graded Gauss–Legendre quadrature
- :func:`exact_critical_n`, :func:`leading_order_critical_n`, :func:`next_order_critical_n`
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.special import lambertw

from slt_lessons import phases  # exercises call each other through their module
from slt_lessons.device import default_dtype, get_device
from slt_lessons.free_energy import quadrature_mesh
from slt_lessons.validation import (
    as_tensor, require_finite, require_ndim, require_nonempty, require_number, require_same_length,
)

__all__ = [
    "critical_n",
    "preferred_phase",
    "grid_basin_masses",
    "phase_sequence",
    "two_basin_potential",
    "basin_boundary",
    "basin_free_energies",
    "basin_masses",
    "exact_critical_n",
    "leading_order_critical_n",
    "next_order_critical_n",
    "LAMBDA_QUARTIC",
    "LAMBDA_QUADRATIC",
    "LOG_C_QUARTIC",
    "LOG_C_QUADRATIC",
]


# ============================================================================ exercises


def critical_n(L1, lam1, L2, lam2, *, c1=0.0, c2=0.0) -> float:
    """The larger ``n`` where ``F_1(n) = F_2(n)``, ``F_α(n) = n L_α + λ_α log n + c_α``.

    Phase 1 is the simple one, phase 2 the accurate one: ``λ_1 < λ_2`` and ``L_1 > L_2``. With
    ``ΔL = L_1 − L_2 > 0``, ``Δλ = λ_2 − λ_1 > 0``, ``Δc = c_1 − c_2``, the crossing solves
    ``n ΔL + Δc = Δλ log n``. Put ``a = ΔL/Δλ``, ``k = Δc/Δλ`` and ``y = log n − k``: then
    ``a e^{y + k} = y``, i.e. ``(−y) e^{−y} = −a e^k``, so ``−y = W(z)`` with ``z = −a e^k`` and
    ``W`` the Lambert function (``W(z) e^{W(z)} = z``). Since ``e^{−W(z)} = W(z)/z``,

        n = e^{k − W(z)} = −W(z)/a,   z = −(ΔL/Δλ) e^{Δc/Δλ}.

    For ``−1/e < z < 0``, ``W`` has two real branches: ``W_0(z) ∈ (−1, 0)`` gives the smaller
    root (``n < e`` when ``Δc = 0``, where ``log n`` is not yet the leading term of ``F``:
    meaningless), ``W_{−1}(z) ≤ −1`` the larger one, the phase transition returned here. For
    ``n`` between the two roots phase 1 has the smaller free energy, beyond the larger root phase 2.
    Real roots exist iff ``z ≥ −1/e``, i.e. ``(ΔL/Δλ) e^{Δc/Δλ} ≤ 1/e`` (``ΔL/Δλ ≤ 1/e`` for
    ``Δc = 0``): otherwise ``nΔL + Δc − Δλ log n > 0`` for every ``n > 0`` (its minimum, at
    ``n = 1/a``, is ``Δλ(1 + k + log a)``) and phase 2 is always preferred; at ``z = −1/e`` the
    free energies only touch, at ``n = 1/a``. Raises ``ValueError`` when there is no crossing.
    Watanabe (2009, Theorem 6.7) for the free energy; Chen et al. (2023, arXiv:2310.06301) for
    Bayesian phase transitions between such phases.
    """
    L1, lam1, L2, lam2 = (require_number(k, v) for k, v in (("L1", L1), ("lam1", lam1), ("L2", L2), ("lam2", lam2)))
    c1, c2 = require_number("c1", c1), require_number("c2", c2)
    if not L1 > L2:
        raise ValueError(f"L1 must be larger than L2 (phase 1 is the less accurate one; otherwise there is "
                         f"no transition), got L1={L1!r}, L2={L2!r}")
    if not lam1 < lam2:
        raise ValueError(f"lam1 must be smaller than lam2 (phase 1 is the simpler one; otherwise there is "
                         f"no transition), got lam1={lam1!r}, lam2={lam2!r}")
    a = (L1 - L2) / (lam2 - lam1)
    k = (c1 - c2) / (lam2 - lam1)
    if math.log(a) + k > -1:  # z = −a e^k < −1/e, compared in logs (e^k may overflow)
        raise ValueError(f"no crossing: (L1 − L2)/(lam2 − lam1) · exp((c1 − c2)/(lam2 − lam1)) = "
                         f"{math.exp(min(math.log(a) + k, 700)):.6g} > 1/e, so phase 2 has the smaller free energy "
                         f"at every n (L1, lam1, L2, lam2, c1, c2 = {L1!r}, {lam1!r}, {L2!r}, {lam2!r}, {c1!r}, {c2!r})")
    z = -a * math.exp(k)
    # lambertw returns nan at the branch point itself (and just past it by rounding), where W = −1
    W = -1.0 if z <= -math.exp(-1) else float(lambertw(z, -1).real)
    return -W / a


def preferred_phase(n, L, lam, c=None) -> torch.Tensor:
    """The index ``α`` of the smallest ``F_α(n) = n L_α + λ_α log n + c_α`` at each ``n``.

    ``L``, ``lam`` (and ``c``, default 0) have shape ``(A,)``: one entry per phase (basin).
    ``n > 0`` may have any shape; returns a long tensor of that shape. Ties (equal ``F_α`` to the
    last bit) go to the phase listed first, ``torch.argmin``'s rule. This is the leading-order
    prediction of internal model selection (Watanabe 2009, Theorem 6.7, applied to each basin;
    Chen et al. 2023, arXiv:2310.06301). :func:`slt_lessons.free_energy.preferred_model` is the
    same choice between models, with the multiplicities ``m_α`` and ``n > e``.
    """
    n = as_tensor("n", n)
    require_finite("n", n)
    if not bool((n > 0).all()):
        raise ValueError("n must be positive (F contains log n)")
    L = require_nonempty("L", require_ndim("L", as_tensor("L", L, dtype=n.dtype, device=n.device), 1))
    lam = require_ndim("lam", as_tensor("lam", lam, dtype=n.dtype, device=n.device), 1)
    require_same_length(("L", "lam"), L, lam)
    c = torch.zeros_like(L) if c is None else require_ndim("c", as_tensor("c", c, dtype=n.dtype, device=n.device), 1)
    require_same_length(("L", "c"), L, c)
    for name, t in (("L", L), ("lam", lam), ("c", c)):
        require_finite(name, t)
    F = n[..., None] * L + lam * n.log()[..., None] + c  # shape (*n.shape, A)
    return F.argmin(dim=-1)


def grid_basin_masses(w, loss, n, boundary) -> torch.Tensor:
    """The posterior mass of each of two basins, on a grid: ``(N, 2)`` for ``N`` sample sizes.

    The posterior at sample size ``n`` is ``p(w | n) ∝ φ(w) e^{−n L(w)}``. On a uniform grid
    ``w_1 < … < w_G`` under a uniform prior every point carries the same weight ``φ(w_i) Δw``,
    which cancels, so the mass of the basin ``B_1 = {w_i < boundary}`` is the Riemann sum

        P(B_1 | n) = Σ_{w_i < boundary} e^{−n L_i} / Σ_i e^{−n L_i},   P(B_2 | n) = 1 − P(B_1 | n),

    ``L_i`` = ``loss[i]``. Column 0 is ``B_1`` (left of ``boundary``), column 1 ``B_2`` (at or right of it).
    At large ``n`` every ``e^{−n L_i}`` underflows (``e^{−746}`` is 0 in float64), so the sums are
    taken in logs: ``log Σ_i e^{x_i} = m + log Σ_i e^{x_i − m}``, ``m = max_i x_i``
    (``torch.logsumexp``), and the masses are ``exp`` of the difference of two such logs.

    ``w`` and ``loss`` are 1-d of the same length (``w`` increasing, with points on both sides of
    ``boundary``); ``n`` a 1-d tensor of sample sizes ``≥ 0``; ``boundary`` a number. Returns the
    masses in ``loss``'s dtype, on its device.
    """
    w = require_ndim("w", as_tensor("w", w), 1)
    loss = require_ndim("loss", as_tensor("loss", loss), 1)
    require_same_length(("w", "loss"), w, loss)
    n = require_ndim("n", as_tensor("n", n, dtype=loss.dtype, device=loss.device), 1)
    left = w < boundary
    if not bool(left.any()) or bool(left.all()):
        raise ValueError(f"boundary must have grid points on both sides, got boundary={boundary!r} "
                         f"for w in [{float(w.min())}, {float(w.max())}]")
    log_p = -n[:, None] * loss  # (N, G): log of the unnormalised posterior at each grid point
    log_total = torch.logsumexp(log_p, dim=1)
    log_left = torch.logsumexp(log_p[:, left], dim=1)
    log_right = torch.logsumexp(log_p[:, ~left], dim=1)
    return torch.stack([torch.exp(log_left - log_total), torch.exp(log_right - log_total)], dim=1)


def phase_sequence(L, lam):
    """The phases the posterior prefers as ``n`` grows, in order, and the ``n`` at each switch.

    To leading order the posterior prefers the phase of smallest ``F_α(n) = n L_α + λ_α log n``
    (:func:`preferred_phase`). Divided by ``log n > 0``: the smallest ``λ_α + t L_α`` with
    ``t = n/log n``, which grows with ``n`` for ``n > e`` (below ``e``, ``log n`` is not yet the
    leading term and the formula means nothing; ``n = e`` is where ``t`` is smallest, ``t = e``).
    So, starting from the phase preferred at ``n = e``:

    * the posterior can only move to a phase of **smaller loss** (and larger ``λ``): a phase that is
      both simpler and more accurate would already be preferred;
    * from the current phase ``α`` to ``β`` (``L_β < L_α``), the switch is where ``F_α = F_β``: at
      ``t = (λ_β − λ_α)/(L_α − L_β)``, i.e. ``n`` = :func:`critical_n` ``(L_α, λ_α, L_β, λ_β)``,
      the larger root;
    * the next phase is the ``β`` with the **earliest** such switch: the others still lose to ``α``
      there, hence to ``β`` just after. Repeat until no phase has a smaller loss.

    The phases visited are the lower convex hull of the points ``(L_α, λ_α)``, walked from the
    simple end to the accurate one; a phase above the hull is never preferred. ``L``, ``lam``: 1-d,
    the same length ``A ≥ 1``, finite. Returns ``(phases, switches)``: a list of ints (indices into
    ``L``, starting with the phase preferred at ``n = e``) and a list of floats one shorter (the
    ``n`` where each switch happens, increasing). Ties (two phases with equal ``F`` at ``n = e``, or
    two switches at the same ``n``) are not resolved. Chen et al. (2023, arXiv:2310.06301) on
    Bayesian phase transitions between k-gons; Watanabe (2009, Theorem 6.7) for ``F_α``.
    """
    L = require_nonempty("L", require_ndim("L", as_tensor("L", L, dtype=torch.float64), 1))
    lam = require_ndim("lam", as_tensor("lam", lam, dtype=torch.float64), 1)
    require_same_length(("L", "lam"), L, lam)
    require_finite("L", L)
    require_finite("lam", lam)
    current = int(phases.preferred_phase(torch.tensor(math.e, dtype=torch.float64), L, lam))
    sequence, switches = [current], []
    while True:
        candidates = [(phases.critical_n(float(L[current]), float(lam[current]), float(L[b]), float(lam[b])), b)
                      for b in range(len(L)) if L[b] < L[current]]
        if not candidates:
            return sequence, switches
        n_switch, current = min(candidates)
        sequence.append(current)
        switches.append(n_switch)


# ============================================================================ the exact 1-D example

LAMBDA_QUARTIC = 0.25  # λ of w⁴: ∫ e^{−n w⁴} dw ∝ n^{−1/4}
LAMBDA_QUADRATIC = 0.5  # λ of (w − 2)²: ∫ e^{−n u²} du ∝ n^{−1/2}
LOG_C_QUARTIC = math.log(2 * math.gamma(1.25))  # ∫_R e^{−n w⁴} dw = 2Γ(5/4) n^{−1/4}
LOG_C_QUADRATIC = 0.5 * math.log(math.pi)  # ∫_R e^{−n u²} du = √π n^{−1/2}


def _check_delta(delta, *, positive=False) -> float:
    d = require_number("delta", delta)
    if positive and d == 0:
        raise ValueError("delta must be positive here: at delta = 0 both basins are equally accurate, "
                         "and the quartic one wins at every n (no transition)")
    if not 0 <= d < 4:
        raise ValueError(f"delta must satisfy 0 <= delta < 4 (w = 0 must be the bottom of the quartic basin), "
                         f"got {delta!r}")
    return d


def two_basin_potential(delta):
    """``L(w) = min(w⁴ + δ, (w − 2)²)``: a quartic basin at 0 (loss ``δ``) and a quadratic one at 2 (loss 0).

    Returns a function of a tensor ``w`` (any shape). ``0 <= δ < 4``. The quartic basin is simple
    (``λ = 1/4``) but worse by ``δ``; the quadratic one is accurate (``L = 0``) but ``λ = 1/2``.
    """
    d = _check_delta(delta)

    def L(w):
        return torch.minimum(w**4 + d, (w - 2) ** 2)

    return L


def basin_boundary(delta) -> float:
    """The point ``b ∈ (0, 1]`` where ``w⁴ + δ = (w − 2)²``: basin 1 is ``w < b``, basin 2 ``w > b``.

    ``h(w) = (w − 2)² − w⁴`` decreases strictly on ``[−1, 2]`` from 8 to −16 (both terms of
    ``h'(w) = −2(2 − w) − 4w³`` are negative there but for ``w < 0``, where ``|4w³| ≤ 4 < 2(2 − w)``),
    and ``h < 0`` on ``[2, 3]``; so for ``0 <= δ < 4`` the root of ``h = δ`` in ``[−1, 3]`` is unique
    and lies in ``(0, 1]`` (``b = 1`` at ``δ = 0``). Found by Brent's method.
    """
    d = _check_delta(delta)
    return brentq(lambda w: (w - 2) ** 2 - w**4 - d, 0.0, 2.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)


def _check_prior(prior) -> tuple[float, float]:
    try:
        lo, hi = (float(p) for p in prior)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"prior must be a pair (lo, hi), got {prior!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and -1 <= lo < 0 and 2 < hi):
        raise ValueError(f"prior must be an interval (lo, hi) with -1 <= lo < 0 and 2 < hi < inf, containing both "
                         f"minima and no third region where the quadratic branch is the minimum, got {prior!r}")
    return lo, hi


def basin_free_energies(n, delta, *, prior=(-1.0, 3.0), order: int = 20, device=None) -> torch.Tensor:
    """The local free energies ``F_α(n) = −log ∫_{basin α} φ(w) e^{−nL(w)} dw`` of :func:`two_basin_potential`.

    ``φ = 1/(hi − lo)`` is the uniform prior on ``prior = (lo, hi)``; basin 1 is ``[lo, b)``,
    basin 2 ``(b, hi]``, ``b`` = :func:`basin_boundary`. Returns shape ``(*n.shape, 2)``.
    Each basin gets its own graded Gauss–Legendre mesh (:func:`slt_lessons.free_energy.quadrature_mesh`,
    ``order`` nodes per panel, panels halving towards the minimum down to ``1e−24``), so the
    integrand's kink at ``b`` is a panel end and the widths ``n^{−1/4}`` (quartic) and
    ``n^{−1/2}`` (quadratic) are resolved at every ``n``; sums are ``logsumexp``, so nothing
    underflows. About 5300 nodes in all. Measured against ``scipy.integrate.quad`` and ``mpmath``:
    ``F_α`` agrees to ``1e−12`` absolute or ``1e−15`` relative, whichever is larger, for ``n`` in
    ``[0, 1e8]``.

    Since each branch is exactly a power, ``F_α = n L_α + λ_α log n − log(φ C_α) + O(e^{−εn})``
    with ``C_1 = 2Γ(5/4)``, ``C_2 = √π``: the only corrections come from cutting the integrals at
    ``lo``, ``b`` and ``hi`` (``ε = min(lo⁴, b⁴, (b − 2)², (hi − 2)²)`` less the basin's ``L_α``).
    """
    d = _check_delta(delta)
    lo, hi = _check_prior(prior)
    device = get_device(device)
    n = as_tensor("n", n, dtype=default_dtype(device), device=device)
    require_finite("n", n)
    if not bool((n >= 0).all()):
        raise ValueError("n must be non-negative")
    b = basin_boundary(d)
    L = two_basin_potential(d)
    log_phi = -math.log(hi - lo)
    F = []
    for bounds, minimum in (((lo, b), 0.0), ((b, hi), 2.0)):
        w, log_weights = quadrature_mesh([bounds], [[minimum]], order=order, device=device)
        Lw = L(w[:, 0])
        F.append(-torch.logsumexp(log_phi + log_weights - n[..., None] * Lw, dim=-1))
    return torch.stack(F, dim=-1)


def basin_masses(n, delta, *, prior=(-1.0, 3.0), order: int = 20, device=None) -> torch.Tensor:
    """The posterior mass of each basin: ``P(basin α | n) = e^{−F_α} / (e^{−F_1} + e^{−F_2})``.

    The posterior is ``∝ φ(w) e^{−nL(w)}``, ``L`` = :func:`two_basin_potential`, ``φ`` uniform on
    ``prior``; ``F_α`` from :func:`basin_free_energies` (a softmax of ``−F``, so stable at any ``n``;
    a mass below ``1e−308`` underflows to 0: compare ``F_α`` there). Shape ``(*n.shape, 2)``: column 0
    the quartic (simple) basin, column 1 the quadratic (accurate) one. At ``n = 0`` they are the
    prior masses ``(b − lo)/(hi − lo)`` and ``(hi − b)/(hi − lo)``.
    """
    return torch.softmax(-basin_free_energies(n, delta, prior=prior, order=order, device=device), dim=-1)


def exact_critical_n(delta, *, prior=(-1.0, 3.0)) -> float:
    """The larger ``n`` where the two basins of :func:`two_basin_potential` have equal posterior mass.

    Root of the log-odds ``r(t) = F_2 − F_1`` at ``n = e^t`` (:func:`basin_free_energies`, exact).
    ``r`` is negative at ``n → 0`` (basin 2 is the longer interval when ``δ > 0``) and at large ``n``
    (``r ≈ −nδ``); basin 1 wins in between if at all. ``r`` is scanned on 200 values of
    ``log n`` from ``n = 1e−2`` to ``100/δ`` (where ``r ≈ −100``); past its largest value the first
    sign change is refined by Brent's method to ``1e−12`` in ``log n``. Raises ``ValueError`` when
    ``r <= 0`` on the whole scan: then basin 1 never holds the larger mass (the case for ``δ``
    above about 0.115 on ``[−1, 3]``).
    """
    d = _check_delta(delta, positive=True)
    lo, hi = _check_prior(prior)
    device = torch.device("cpu")
    b = basin_boundary(d)
    L = two_basin_potential(d)
    meshes = []
    for bounds, minimum in (((lo, b), 0.0), ((b, hi), 2.0)):
        w, log_weights = quadrature_mesh([bounds], [[minimum]], device=device)
        meshes.append((log_weights, L(w[:, 0])))

    def log_odds(t):  # log mass 1 − log mass 2 = F_2 − F_1 at n = e^t (the prior density cancels)
        n = torch.as_tensor(np.exp(t), dtype=torch.float64)[..., None]
        (lw1, L1), (lw2, L2) = meshes
        return (torch.logsumexp(lw1 - n * L1, dim=-1) - torch.logsumexp(lw2 - n * L2, dim=-1)).numpy()

    t = np.linspace(math.log(1e-2), math.log(100 / d), 200)
    r = log_odds(t)
    i = int(np.argmax(r))
    if not r[i] > 0:
        raise ValueError(f"no crossing for delta={delta!r}: the quartic basin never holds more posterior mass "
                         f"than the quadratic one (largest log-odds {r[i]:.3g} at n = {math.exp(t[i]):.3g})")
    j = i + int(np.argmax(r[i:] < 0))  # the first scan point past the maximum where basin 2 wins again
    return math.exp(brentq(lambda s: float(log_odds(np.array(s))), t[j - 1], t[j], xtol=1e-12))


def leading_order_critical_n(delta) -> float:
    """:func:`critical_n` for :func:`two_basin_potential`: ``L_1 = δ, λ_1 = 1/4, L_2 = 0, λ_2 = 1/2``.

    ``n_c = −W_{−1}(−4δ)/(4δ)``; it exists only for ``4δ ≤ 1/e``
    (``δ ≤ 1/(4e) ≈ 0.092``). It drops the ``O(1)`` terms ``c_α = −log(φ C_α)`` of the free
    energies (see :func:`next_order_critical_n`); the prior density ``φ`` cancels in the
    difference, but ``C_1 = 2Γ(5/4) ≈ 1.813 ≠ C_2 = √π ≈ 1.772`` does not. Against
    :func:`exact_critical_n` it is low by 2.3%, 3.0%, 5.4% and 22% at ``δ`` = 0.01, 0.02, 0.05, 0.09,
    and at ``δ = 0.1`` it finds no crossing where the exact posterior has one at ``n ≈ 3.19``.
    """
    d = _check_delta(delta, positive=True)
    return critical_n(d, LAMBDA_QUARTIC, 0.0, LAMBDA_QUADRATIC)


def next_order_critical_n(delta) -> float:
    """:func:`critical_n` with the constant terms: ``F_α ≈ n L_α + λ_α log n − log(φ C_α)``.

    ``∫_R e^{−n w⁴} dw = 2Γ(5/4) n^{−1/4}`` and ``∫_R e^{−n u²} du = √π n^{−1/2}``, so the basins'
    integrals are ``φ C_α n^{−λ_α} e^{−n L_α}`` with ``C_1 = 2Γ(5/4)``, ``C_2 = √π`` up to the
    exponentially small tails cut off by the prior and the basin boundary. Then ``Δc/Δλ =
    −4 log(2Γ(5/4)/√π) ≈ −0.0902`` and ``n_c = −W_{−1}(z)/(4δ)``, ``z = −4δ e^{−0.0902}``: a
    crossing exists for ``δ`` up to about 0.1007. The prior density ``φ`` cancels. Against
    :func:`exact_critical_n`: relative error below ``1e−6`` for ``δ <= 0.05`` (``n_c >= 13``, tails
    ``≈ e^{−0.85 n_c}``), 1.2% at ``δ = 0.09`` and 12% at ``δ = 0.1`` (``n_c ≈ 3``).
    """
    d = _check_delta(delta, positive=True)
    return critical_n(d, LAMBDA_QUARTIC, 0.0, LAMBDA_QUADRATIC, c1=-LOG_C_QUARTIC, c2=-LOG_C_QUADRATIC)
