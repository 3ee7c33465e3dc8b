"""The Metropolis-adjusted Langevin algorithm (MALA) on the localized tempered posterior.

MALA (Roberts & Tweedie 1996, Bernoulli 2(4), "Exponential convergence of Langevin
distributions and their discrete approximations") proposes the Langevin step

    w' = w + (ε/2) ∇log p(w) + √ε ξ,    ξ ~ N(0, I)

and accepts it with probability min(1, p(w') q(w | w') / (p(w) q(w' | w))), where
q(b | a) = N(b; a + (ε/2)∇log p(a), ε I). Unlike SGLD it samples p exactly, whatever ε, so it
gives reference values for the SGLD-based estimator. Here log p(w) = −nβ L_n(w) − (γ/2)‖w − w*‖².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from slt_lessons.chains import (DualAveraging, block_steps, chain_generators, chain_indices, draw_block, positive_int,
                                steps)
from slt_lessons.targets import Target
from slt_lessons.validation import require_positive

__all__ = ["mala_log_accept_ratio", "log_density", "MALARun", "sample_mala"]


def mala_log_accept_ratio(w, w_new, logp, logp_new, grad_logp, grad_logp_new, eps):
    """log min(1, p(w')q(w|w') / (p(w)q(w'|w))) for a Langevin proposal with step ε.

    log q(b | a) = −‖b − a − (ε/2)∇log p(a)‖² / (2ε) + const. Batched over leading dims:
    the squared norms sum over the last dim (ε may be a number or broadcast against w).
    """
    log_q_forward = -((w_new - w - (eps / 2) * grad_logp) ** 2 / (2 * eps)).sum(-1)
    log_q_backward = -((w - w_new - (eps / 2) * grad_logp_new) ** 2 / (2 * eps)).sum(-1)
    log_ratio = logp_new - logp + log_q_backward - log_q_forward
    return torch.clamp(log_ratio, max=0.0)


def log_density(target: Target, W, nbeta, gamma):
    """log p(W) = −nβ L_n(W) − (γ/2)‖W − w*‖² and its gradient, per chain (full data)."""
    loss, grad = target.loss_and_grad(W)
    diff = W - target.w_star
    logp = -nbeta * loss - (gamma / 2) * (diff**2).sum(-1)
    return logp, -(nbeta * grad + gamma * diff), loss


@dataclass
class MALARun:
    """Output of :func:`sample_mala`: ``losses[c, t]`` = L_n at the state after step t;
    ``accept_rate[c]`` over the steps after adaptation; ``eps[c]`` the step size used then;
    ``final`` the last states ``(C, d)``; ``gens`` the chains' generators, where they stopped
    (``resume=`` a run continues it)."""

    losses: torch.Tensor
    accept_rate: torch.Tensor
    eps: torch.Tensor
    final: torch.Tensor
    gens: list


def sample_mala(
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
    target_accept: float = 0.574,
    pool: bool = False,
    resume: MALARun | None = None,
    progress: bool = False,
) -> MALARun:
    """Run MALA chains from ``target.w_star`` (full data), batched over chains.

    During the first ``adapt_steps`` steps each chain tunes its own ε toward the acceptance
    rate ``target_accept`` by dual averaging in two windows (:class:`slt_lessons.chains.DualAveraging`,
    started at ``eps``); afterwards ε is fixed at the second window's averaged iterate, so each chain is an exact MCMC for p, and
    chain c's draws depend only on (seed, c); ``chains`` picks the indices, as in
    :func:`slt_lessons.sgld.sample_sgld`. With ``pool`` every chain ends the adaptation at the
    median of the chains' steps: a chain that tuned its step in a flatter region than it goes on
    to explore does not get stuck (its draws then depend on the other chains through ε).
    ``resume`` continues an earlier run for ``n_steps`` more steps, from its states, generators
    and (tuned) steps, without adapting: together the two runs are one longer run. 0.574 is
    optimal for MALA in high dimensions (Roberts & Rosenthal 1998, JRSS B 60(1)). Discard at
    least the adaptation steps as burn-in.
    """
    nbeta, eps0 = require_positive("nbeta", nbeta), require_positive("eps", eps)
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a non-negative finite number, got {gamma!r}")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}")
    positive_int("n_steps", n_steps)
    chains = chain_indices(n_chains, chains)
    C, d, w_star = len(chains), target.d, target.w_star
    gens = chain_generators(seed, chains, w_star.device) if resume is None else resume.gens
    W = w_star.expand(C, d).clone() if resume is None else resume.final.clone()
    like = dict(dtype=w_star.dtype, device=w_star.device)
    log_eps = torch.full((C,), math.log(eps0), **like) if resume is None else resume.eps.log()
    adapt_steps = adapt_steps if resume is None else 0
    adapt = DualAveraging(eps0, log_eps, adapt_steps, target_accept)
    logp, grad, loss = log_density(target, W, nbeta, gamma)
    losses = torch.empty(C, n_steps, **like)
    n_accepted = torch.zeros(C, **like)
    k = block_steps(d)
    step = None  # (log ε, ε, ε/2, √ε), computed again only when ε moves: after the adaptation, never
    for t in steps(n_steps, progress, "MALA"):
        if t % k == 0:  # k steps of noise and uniforms per chain at once, from the chain's generator
            noises, _ = draw_block(gens, k, d, None, None, w_star.dtype, w_star.device)
            uniforms = torch.stack([torch.rand(k, generator=g, **like) for g in gens], 1)
        if step is None or step[0] is not log_eps:
            e = log_eps.exp()[:, None]
            step = (log_eps, e, e / 2, e.sqrt())
        _, e, half, root = step
        noise, u = noises[t % k], uniforms[t % k]
        W_new = W + half * grad + root * noise
        logp_new, grad_new, loss_new = log_density(target, W_new, nbeta, gamma)
        log_alpha = mala_log_accept_ratio(W, W_new, logp, logp_new, grad, grad_new, e)
        log_alpha = torch.nan_to_num(log_alpha, nan=-math.inf)  # a non-finite proposal is rejected
        accept = torch.log(u) < log_alpha
        rows = accept[:, None]
        W, grad = torch.where(rows, W_new, W), torch.where(rows, grad_new, grad)
        logp, loss = torch.where(accept, logp_new, logp), torch.where(accept, loss_new, loss)
        losses[:, t] = loss
        if t < adapt_steps:
            adapt.update(t, log_alpha.exp())
            if pool and t == adapt_steps - 1:
                adapt.log_eps = adapt.log_eps.median().expand(C).clone()
            log_eps = adapt.log_eps
        else:
            n_accepted += accept
    rate = n_accepted / max(n_steps - adapt_steps, 1)
    return MALARun(losses=losses, accept_rate=rate, eps=log_eps.exp(), final=W, gens=gens)
