"""Stochastic gradient Langevin dynamics (SGLD) on a localized tempered posterior.

Target (Lau, Furman, Wang, Murfet, Wei 2023, "Quantifying degeneracy in singular models via
the learning coefficient", arXiv:2308.12108; AISTATS 2025)::

    p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²)

Update (Welling & Teh 2011, ICML, "Bayesian learning via stochastic gradient Langevin
dynamics", with the localization term of Lau et al.)::

    w ← w − (ε/2)(nβ ∇L_B(w) + γ(w − w*)) + √ε ξ,    ξ ~ N(0, I)

with L_B the mean loss on a minibatch (the full data when there is no minibatching).

The first five functions are lesson 4's exercises (:func:`langevin_acceptance`, the MALA
acceptance of an SGLD proposal, is the diagnostic Furman & Lau 2024, arXiv:2402.03698, use to
calibrate ε); :func:`sample_sgld` runs many chains as one batched computation (rows of a
``(C, d)`` tensor), each chain with its own ``torch.Generator`` (:mod:`slt_lessons.chains`),
so a chain's draws do not depend on which other chains run beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from slt_lessons import mala, sgld  # the exercises call each other through their module, as in the lessons
from slt_lessons.chains import block_steps, chain_generators, chain_indices, draw_block, positive_int, steps
from slt_lessons.targets import Target
from slt_lessons.validation import require_positive

__all__ = [
    "sgld_step",
    "stationary_variance",
    "sgld_chain",
    "largest_step",
    "langevin_acceptance",
    "SGLDRun",
    "sample_sgld",
]


def sgld_step(w, grad, w_star, eps, nbeta, gamma, noise):
    """One SGLD step: ``w − (ε/2)(nβ·grad + γ(w − w*)) + √ε·noise``.

    ``grad`` is ∇L_B(w), the gradient of the mean minibatch loss; ``noise`` ~ N(0, I) has the
    shape of ``w``. Works for any shape, e.g. a batch of chains ``(C, d)``.
    """
    return w - (eps / 2) * (nbeta * grad + gamma * (w - w_star)) + math.sqrt(eps) * noise


def stationary_variance(kappa, gamma, eps):
    """Exact stationary variance of SGLD on nβ·L(w) = κw²/2, localized at w* = 0 with γ.

    The step is w ← (1 − εa/2) w + √ε ξ with a = κ + γ, so the variance v solves
    v = (1 − εa/2)² v + ε, giving ``v = 1 / (a (1 − εa/4))``: the target's 1/a, inflated by
    the discretisation. Stable for 0 < εa < 4.
    """
    a = kappa + gamma
    return 1 / (a * (1 - eps * a / 4))


def sgld_chain(grad_fn, w0, w_star, eps, nbeta, gamma, n_steps, generator):
    """Run ``n_steps`` SGLD steps from ``w0``; return the states after each step, ``(n_steps, *w0.shape)``.

    ``grad_fn(w)`` gives ∇L at ``w`` (row by row when ``w0`` is a batch of chains ``(C, d)``).
    The noise is drawn once per step with ``torch.randn(w.shape, generator=generator, ...)``.
    """
    w = w0
    states = []
    for _ in range(n_steps):
        noise = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
        w = sgld.sgld_step(w, grad_fn(w), w_star, eps, nbeta, gamma, noise)
        states.append(w)
    return torch.stack(states)


def largest_step(hessian_eigs, nbeta, gamma, tol):
    """The largest SGLD step ε whose step-size bias of the LLC-type estimate stays within ``tol``.

    The target is a quadratic loss at its minimum w*, with Hessian eigenvalues ``hessian_eigs``
    (a tensor ``(d,)``, each h_i ≥ 0, at least one > 0), tempered by ``nbeta`` and localized at w*
    with ``gamma`` (> 0 if some h_i = 0): in the Hessian's eigenbasis

        U(w) = nβ Σ_i h_i (w_i − w*_i)² / 2 + (γ/2) ‖w − w*‖².

    λ̂ = E_ε[nβ (L(w) − L(w*))] is the estimate's expectation under the stationary law of SGLD with
    step ε (Welling & Teh 2011, ICML; the discretisation bias of that law: Vollmer, Zygalakis &
    Teh 2016, JMLR 17(159)). Returns, as a Python float, the largest ε with

        λ̂(ε) ≤ (1 + tol) · lim_{ε→0} λ̂(ε).
    """
    from scipy.optimize import brentq  # here, so that the lesson's answer cell runs with the set-up imports

    kappa = nbeta * hessian_eigs  # curvature of nβL along each eigenvector
    a = kappa + gamma  # curvature of U: each coordinate is the AR(1) chain of stationary_variance
    share = kappa / a  # 2 × each coordinate's part of λ̂(0), as κ v / 2 with v = 1/a

    def excess(eps):  # λ̂(ε)/λ̂(0) − 1 − tol, with v = 1/(a(1 − εa/4)) per coordinate
        return (share / (1 - eps * a / 4)).sum().item() / share.sum().item() - 1 - tol

    # excess rises from −tol at ε = 0 to +∞ at the stability limit ε = 4/max(a): one root between
    return brentq(excess, 0, 4 / a.max().item())


def langevin_acceptance(target, W, w_star, nbeta, gamma, eps, noise):
    """MALA acceptance probability of the full-batch SGLD proposal from each chain of ``W``.

    The proposal is ``sgld.sgld_step(W, ∇L_n(W), w*, ε, nβ, γ, noise)``, i.e. the Langevin
    step W + (ε/2)∇log p(W) + √ε·noise for log p = −nβ L_n − (γ/2)‖w − w*‖²; returns
    ``exp(mala.mala_log_accept_ratio(...))``, shape ``(C,)``. Costs two full-batch
    gradient evaluations.
    """
    logp, grad_logp, _ = mala.log_density(target, W, nbeta, gamma)
    grad_loss = -(grad_logp + gamma * (W - w_star)) / nbeta
    W_new = sgld.sgld_step(W, grad_loss, w_star, eps, nbeta, gamma, noise)
    logp_new, grad_logp_new, _ = mala.log_density(target, W_new, nbeta, gamma)
    log_alpha = mala.mala_log_accept_ratio(W, W_new, logp, logp_new, grad_logp, grad_logp_new, eps)
    return torch.nan_to_num(log_alpha.exp(), nan=0.0)


# ----------------------------------------------------------------------------- batched chains


@dataclass
class SGLDRun:
    """Output of :func:`sample_sgld`.

    ``losses[c, t]`` is L_B at chain c's state w_t, t = 0..T−1 (w_0 = w*): the minibatch loss
    when minibatching (an unbiased estimate of L_n(w_t)), else L_n(w_t); NaN after the chain
    stopped. ``acceptance[c, j]`` is the MALA acceptance probability of a full-batch Langevin
    proposal from w_t at the j-th diagnostic step (empty when the diagnostic is off; NaN after
    the chain stopped). ``stopped[c]`` is the step at which chain c diverged and stopped, or
    T if it ran to the end; ``final`` holds each chain's last state, ``gens`` its generator
    where it stopped (``resume=`` a run continues it).
    """

    losses: torch.Tensor
    final: torch.Tensor
    acceptance: torch.Tensor
    chains: list[int]
    stopped: torch.Tensor
    gens: list
    pending: torch.Tensor | None = None  # scheme="lm": the noise each chain's next step averages with its own


def sample_sgld(
    target: Target,
    *,
    nbeta: float,
    gamma: float,
    eps: float,
    n_steps: int,
    n_chains: int = 8,
    chains=None,
    seed: int = 0,
    batch_size: int | None = None,
    acceptance_every: int = 0,
    stop_above: float = math.inf,
    resume: SGLDRun | None = None,
    progress: bool = False,
    scheme: str = "euler",
) -> SGLDRun:
    """Run SGLD chains started at ``target.w_star``, all chains as one batched computation.

    ``chains`` (default ``range(n_chains)``) picks chain indices: chain c always uses the
    generator ``chain_generators(seed, [c])``, so running chains one by one reproduces the
    batched run. ``batch_size`` None means full batch; otherwise each chain draws its own
    minibatch (with replacement) from its generator. Every ``acceptance_every`` steps (0: never)
    the MALA acceptance of a full-batch proposal is recorded (:func:`langevin_acceptance`); it
    costs two full-batch evaluations. A chain whose loss or state stops being finite, or whose
    loss exceeds ``stop_above``, has diverged: it stops there and the others run on (the run
    ends early if none is left). ``resume`` continues an earlier run of the same chains for
    ``n_steps`` more steps (its stopped chains stay stopped, at step −1 of the new run).

    ``scheme="euler"`` is the update above (Euler–Maruyama). ``scheme="lm"`` is Leimkuhler and
    Matthews' (2013, AMRX 2013(1), "Rational construction of stochastic numerical methods for
    molecular sampling"; the high-friction limit of BAOAB) at the same cost: step t adds
    √ε·(ξ_t + ξ_{t+1})/2 instead of √ε·ξ_t, the mean of its own noise and the next step's. On a
    quadratic its stationary variance is exactly the target's 1/a at every stable step (εa < 4),
    where Euler's is 1/(a(1 − εa/4)) (:func:`stationary_variance`), and on a smooth target its
    bias is O(ε²) (Leimkuhler, Matthews & Stoltz 2016, IMA J. Numer. Anal. 36(1)). A minibatch
    gradient's noise still widens it, as it does Euler's. The first step averages with zero.

    A target whose ``w_star`` is ``(C, d)`` (with a ``d`` of its own) gives each chain its own w*,
    and then ``stop_above`` is a ``(C,)`` tensor: :mod:`slt_lessons.checkpoints` runs the chains of
    several checkpoints as one computation so.
    """
    nbeta, eps = require_positive("nbeta", nbeta), require_positive("eps", eps)
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a non-negative finite number, got {gamma!r}")
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    chains = chain_indices(n_chains, chains)
    if scheme not in ("euler", "lm"):
        raise ValueError(f"scheme must be 'euler' or 'lm', got {scheme!r}")
    if batch_size is not None:
        if not target.has_data:
            raise ValueError("batch_size needs data; this target is a potential")
        positive_int("batch_size", batch_size)
    w_star, (C, d) = target.w_star, (len(chains), target.d)
    like = dict(dtype=w_star.dtype, device=w_star.device)
    gens = chain_generators(seed, chains, w_star.device) if resume is None else resume.gens
    W = w_star.expand(C, d).clone() if resume is None else resume.final.clone()
    losses = torch.full((C, n_steps), math.nan, **like)
    stopped = torch.full((C,), n_steps, dtype=torch.long, device=w_star.device)
    live = torch.arange(C, device=w_star.device)  # the chains still running
    pending = None if scheme == "euler" else (torch.zeros(C, d, **like) if resume is None or resume.pending is None
                                              else resume.pending.clone())
    if resume is not None:
        done = resume.stopped < resume.losses.shape[1]
        stopped[done], live = -1, live[~done]
        if not len(live):
            return SGLDRun(losses=losses, final=W, acceptance=torch.empty(C, 0, **like), chains=chains,
                           stopped=stopped, gens=gens, pending=pending)
    accept, k = [], block_steps(d)
    for t in steps(n_steps, progress):
        if t % k == 0:  # every chain draws its block, stopped or not: its stream never depends on the others
            noise, idx = draw_block(gens, k, d, target.n, batch_size, w_star.dtype, w_star.device)
        all_live = len(live) == C
        Wl, xi = (W, noise[t % k]) if all_live else (W[live], noise[t % k][live])
        batch = None if idx is None else (idx[t % k] if all_live else idx[t % k][live])
        tl, cap = (target, stop_above) if all_live or w_star.ndim == 1 else (  # one w* and stop_above per chain
            replace(target, w_star=w_star[live]), stop_above[live])
        loss, grad = tl.loss_and_grad(Wl, batch)
        if all_live:  # (no index: the same values, without indexing's cost on every step)
            losses[:, t] = loss
        else:
            losses[live, t] = loss.to(losses.dtype)
        if acceptance_every and t % acceptance_every == 0:
            a = torch.full((C,), math.nan, **like)
            a[live] = sgld.langevin_acceptance(tl, Wl, tl.w_star, nbeta, gamma, eps, xi).to(a.dtype)
            accept.append(a)
        if pending is None:
            Wl = sgld_step(Wl, grad, tl.w_star, eps, nbeta, gamma, xi)
        elif all_live:
            Wl = sgld_step(Wl, grad, tl.w_star, eps, nbeta, gamma, (pending + xi) / 2)
            pending.copy_(xi)
        else:
            Wl = sgld_step(Wl, grad, tl.w_star, eps, nbeta, gamma, (pending[live] + xi) / 2)
            pending[live] = xi
        bad = ~torch.isfinite(loss) | ~torch.isfinite(Wl).all(1)
        if not (isinstance(cap, float) and cap == math.inf):  # nothing exceeds +inf
            bad |= loss > cap
        if all_live:
            W = Wl
        else:
            W[live] = Wl
        if bad.any():
            stopped[live[bad]] = t
            live = live[~bad]
            if not len(live):
                break
    acc = torch.stack(accept, 1) if accept else torch.empty(C, 0, **like)
    return SGLDRun(losses=losses, final=W, acceptance=acc, chains=chains, stopped=stopped, gens=gens, pending=pending)
