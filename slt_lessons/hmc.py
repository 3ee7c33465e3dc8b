"""Hamiltonian Monte Carlo (HMC) on the localized tempered posterior, for badly conditioned targets.

HMC (Duane, Kennedy, Pendleton & Roweth 1987, Physics Letters B 195(2); Neal 2011, "MCMC using
Hamiltonian dynamics", Handbook of MCMC, ch. 5) draws a momentum p ~ N(0, I), follows the
Hamiltonian H(w, p) = U(w) + ½‖p‖², U = −log p, for L leapfrog steps of size ε, and accepts the
end point with probability min(1, exp(H(w, p) − H(w', p'))): an exact MCMC for p, like MALA.

Why here: with U = nβ L_n(w) + (γ/2)‖w − w*‖², a trained network's posterior is stiff in a few
directions (curvature a_max = nβ·h_max + γ) and held only by γ in many others. Any Langevin step
must stay below ~1/a_max, so MALA relaxes the γ-directions in ~a_max/γ·d^(1/3) steps (Roberts &
Rosenthal 1998). A leapfrog trajectory of length (π/2)/√γ, a quarter period of the slowest
direction, moves them to an independent position in one iteration, at a cost of
(π/2)/(ε√γ) gradients: ≈ √(a_max/γ) instead of a_max/γ (Neal 2011, §5.4.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from slt_lessons.chains import DualAveraging, chain_generators, chain_indices, positive_int, steps
from slt_lessons.mala import log_density
from slt_lessons.targets import Target
from slt_lessons.validation import require_positive

__all__ = ["HMCRun", "sample_hmc", "quarter_period"]

MAX_LEAPFROG = 2048  # a trajectory's steps, at most: a collapsed ε must not make an iteration endless
JITTER = 0.2  # each iteration's trajectory length is drawn from (1 ± JITTER) × the nominal one


def quarter_period(gamma: float) -> float:
    """(π/2)/√γ: the time in which the flattest directions of the localized posterior (curvature γ)
    turn from their starting position to an independent one."""
    return (math.pi / 2) / math.sqrt(require_positive("gamma", gamma))


@dataclass
class HMCRun:
    """Output of :func:`sample_hmc`: ``losses[c, t]`` = L_n at the state after iteration t;
    ``accept_rate[c]`` over the iterations after adaptation; ``eps`` the leapfrog step then (one for
    all chains); ``leapfrog`` the gradients each chain took, in all; ``final`` the last states
    ``(C, d)``; ``gens`` the chains' generators and ``jitter_gen`` the trajectories' (``resume=``
    a run continues it)."""

    losses: torch.Tensor
    accept_rate: torch.Tensor
    eps: float
    leapfrog: int
    final: torch.Tensor
    gens: list
    jitter_gen: torch.Generator


def sample_hmc(
    target: Target,
    *,
    nbeta: float,
    gamma: float,
    eps: float,
    n_steps: int,
    n_chains: int = 8,
    chains=None,
    seed: int = 0,
    adapt_steps: int = 0,
    target_accept: float = 0.8,
    path_length: float | None = None,
    resume: HMCRun | None = None,
    progress: bool = False,
) -> HMCRun:
    """Run ``n_steps`` HMC iterations per chain from ``target.w_star`` (full data), batched over chains.

    Each iteration follows a trajectory of length ``path_length`` (default :func:`quarter_period`
    of γ) times a factor drawn uniformly from 1 ± 0.2 (so that no direction's period resonates
    with it), in ⌈length/ε⌉ leapfrog steps (at most 2048). During the first ``adapt_steps``
    iterations ε is tuned toward the acceptance ``target_accept`` by dual averaging in two windows
    (:class:`slt_lessons.chains.DualAveraging`), on the mean acceptance over the chains (one ε for
    all, so the chains share their trajectories' step counts and run as one batch); afterwards ε is fixed and each chain is an exact
    MCMC for p. 0.8 is a common HMC target (Stan's default), above the asymptotic optimum 0.65
    (Beskos et al. 2013, Bernoulli 19(5)) for robustness on rough targets. Momenta and accept
    uniforms come from chain c's own generator; the trajectory lengths from one generator of the
    seed. A non-finite trajectory is rejected. ``resume`` continues a run without adapting.
    Discard at least the adaptation iterations as burn-in.
    """
    nbeta, eps0 = require_positive("nbeta", nbeta), require_positive("eps", eps)
    gamma = require_positive("gamma", gamma)  # without γ some directions are never held: no quarter period
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}")
    positive_int("n_steps", n_steps)
    path = quarter_period(gamma) if path_length is None else require_positive("path_length", path_length)
    chains = chain_indices(n_chains, chains)
    C, d, w_star = len(chains), target.d, target.w_star
    like = dict(dtype=w_star.dtype, device=w_star.device)
    if resume is None:
        gens = chain_generators(seed, chains, w_star.device)
        jitter_gen = torch.Generator().manual_seed(int(seed) + 7919)
        W, log_eps, leapfrog = w_star.expand(C, d).clone(), math.log(eps0), 0
    else:
        gens, jitter_gen, W = resume.gens, resume.jitter_gen, resume.final.clone()
        log_eps, leapfrog, adapt_steps = math.log(resume.eps), resume.leapfrog, 0
    adapt = DualAveraging(math.exp(log_eps), log_eps, adapt_steps, target_accept)
    logp, grad, loss = log_density(target, W, nbeta, gamma)
    losses = torch.empty(C, n_steps, **like)
    n_accepted = torch.zeros(C, **like)
    for t in steps(n_steps, progress, "HMC"):
        e = math.exp(log_eps)
        length = path * (1 + JITTER * (2 * float(torch.rand((), generator=jitter_gen)) - 1))
        L = max(1, min(MAX_LEAPFROG, math.ceil(length / e)))
        p = torch.stack([torch.randn(d, generator=g, **like) for g in gens])
        u = torch.stack([torch.rand((), generator=g, **like) for g in gens])
        W_new, p_new, g_new = W, p + (e / 2) * grad, grad
        for step in range(L):  # leapfrog: half momentum step, then L position and momentum steps
            W_new = W_new + e * p_new
            logp_new, g_new, loss_new = log_density(target, W_new, nbeta, gamma)
            p_new = p_new + (e if step < L - 1 else e / 2) * g_new
        leapfrog += L
        log_alpha = (logp_new - 0.5 * (p_new**2).sum(-1)) - (logp - 0.5 * (p**2).sum(-1))
        log_alpha = torch.nan_to_num(log_alpha, nan=-math.inf)  # a non-finite trajectory is rejected
        accept = torch.log(u) < log_alpha
        W = torch.where(accept[:, None], W_new, W)
        logp, loss = torch.where(accept, logp_new, logp), torch.where(accept, loss_new, loss)
        grad = torch.where(accept[:, None], g_new, grad)
        losses[:, t] = loss
        if t < adapt_steps:  # on the chains' mean acceptance probability
            adapt.update(t, float(log_alpha.clamp(max=0).exp().mean()))
            log_eps = adapt.log_eps
        else:
            n_accepted += accept
    rate = n_accepted / max(n_steps - adapt_steps, 1)
    return HMCRun(losses=losses, accept_rate=rate, eps=math.exp(log_eps), leapfrog=leapfrog, final=W, gens=gens,
                  jitter_gen=jitter_gen)
