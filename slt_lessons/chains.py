"""Batched chains: one row of a ``(C, d)`` tensor per chain, each with its own random stream.

The samplers (:mod:`slt_lessons.sgld`, :mod:`slt_lessons.mala`) share this plumbing, so that
neither imports the other's internals: chain c always draws from the generator
``chain_generators(seed, [c])``, whichever chains run beside it, and draws its noise (and its
minibatches) a block of steps at a time.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["chain_indices", "chain_generators", "block_steps", "draw_block", "positive_int", "steps", "DualAveraging"]


def chain_indices(n_chains, chains=None) -> list[int]:
    """The chain indices a sampler runs: ``chains`` if given (non-negative ints), else ``range(n_chains)``."""
    chains = list(range(positive_int("n_chains", n_chains))) if chains is None else list(chains)
    if not chains or any(not isinstance(c, int) or c < 0 for c in chains):
        raise ValueError(f"chains must be non-negative ints, got {chains!r}")
    return chains


def chain_generators(seed: int, chains, device) -> list[torch.Generator]:
    """One generator per chain index; chain c's stream depends only on (seed, c).

    Seeds come from ``numpy.random.SeedSequence(seed).spawn``, whose children are
    independent streams identified by their index.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    chains = list(chains)
    children = np.random.SeedSequence(int(seed)).spawn(max(chains) + 1)
    gens = []
    for c in chains:
        g = torch.Generator(device=device)
        g.manual_seed(int(children[c].generate_state(1, dtype=np.uint64)[0] >> 1))
        gens.append(g)
    return gens


def block_steps(d: int) -> int:
    """How many steps of noise each chain draws at once (depends on d only, never on C)."""
    return max(1, min(64, 2**16 // max(d, 1)))


def draw_block(gens, k: int, d: int, n: int | None, batch_size: int | None, dtype, device):
    """Noise ``(k, C, d)`` and minibatch indices ``(k, C, B)`` (or None), chain by chain."""
    noise = torch.stack([torch.randn((k, d), generator=g, dtype=dtype, device=device) for g in gens], 1)
    if batch_size is None:
        return noise, None
    idx = torch.stack([torch.randint(n, (k, batch_size), generator=g, device=device) for g in gens], 1)
    return noise, idx


def positive_int(name, value):
    """``value`` if it is a positive int, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def steps(n_steps: int, progress: bool, desc: str = "SGLD"):
    """``range(n_steps)``, behind a progress bar when ``progress``."""
    if not progress:
        return range(n_steps)
    from tqdm.auto import tqdm  # imported here: no terminal needed unless a bar is asked for

    return tqdm(range(n_steps), desc=desc, leave=False)


class DualAveraging:
    """Tunes log ε toward an acceptance rate ``target`` during the first ``adapt_steps`` steps.

    Dual averaging (Hoffman & Gelman 2014, JMLR 15, "The No-U-Turn Sampler", Algorithm 5, with
    their constants γ = 0.05, t₀ = 10, κ = 0.75, started at ``eps0``), in two windows, the second
    restarted from the first's averaged step (as Stan does), since the average over one short
    window still remembers the large early steps. ``log_eps`` is a float (one ε for all chains) or
    a tensor (one per chain); after the last step of a window it is that window's averaged iterate.
    """

    def __init__(self, eps0: float, log_eps, adapt_steps: int, target: float):
        like = (lambda v: torch.full_like(log_eps, v)) if isinstance(log_eps, torch.Tensor) else float
        self.log_eps, self.adapt_steps, self.target = log_eps, adapt_steps, target
        self.mu, self.h_bar, self.log_eps_bar, self._zero = like(math.log(10 * eps0)), like(0.0), like(0.0), like(0.0)

    def update(self, t: int, accept_prob) -> None:
        """Step ``t`` (< ``adapt_steps``) had acceptance probability ``accept_prob``: move log ε."""
        half = self.adapt_steps // 2
        window = half if t < half else self.adapt_steps - half
        m = t + 1 if t < half else t + 1 - half
        self.h_bar = (1 - 1 / (m + 10)) * self.h_bar + (self.target - accept_prob) / (m + 10)
        self.log_eps = self.mu - math.sqrt(m) / 0.05 * self.h_bar
        eta = m**-0.75
        self.log_eps_bar = eta * self.log_eps + (1 - eta) * self.log_eps_bar
        if m == window:  # end of a window: restart from its averaged step
            self.log_eps, self.mu = self.log_eps_bar, self.log_eps_bar + math.log(2)
            self.h_bar, self.log_eps_bar = self._zero, self._zero
