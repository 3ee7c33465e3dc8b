"""Is a sampler run trustworthy? Effective sample size and split R̂ of its traces.

- :func:`effective_sample_size`: Geyer's initial positive sequence estimator (Geyer 1992,
  "Practical Markov chain Monte Carlo", Statistical Science 7(4):473–483).
- :func:`split_rhat`: the split potential scale reduction factor of Gelman, Carlin, Stern,
  Dunson, Vehtari & Rubin, *Bayesian Data Analysis*, 3rd ed. (2013), Section 11.4 — the
  plain BDA3 version, without the rank normalisation of Vehtari et al. (2021).

The MALA acceptance of SGLD proposals, lesson 4's diagnostic of the step size, is
:func:`slt_lessons.sgld.langevin_acceptance`; the estimator's trust flags are in
:mod:`slt_lessons.llc`.
"""

from __future__ import annotations

import torch

from slt_lessons.validation import as_tensor, require_finite, require_ndim

__all__ = ["effective_sample_size", "split_rhat"]


def effective_sample_size(trace):
    """ESS = N / τ of a 1-D trace, τ = −1 + 2 Σ_{m=0}^{M−1} Γ_m / γ_0, Γ_m = γ_{2m} + γ_{2m+1}.

    γ_k = (1/N) Σ_{t} (x_t − x̄)(x_{t+k} − x̄). Geyer's initial positive sequence: M is the first m
    with Γ_m ≤ 0, so the sum stops just before it (all ⌊N/2⌋ pairs if none is ≤ 0) (Geyer 1992,
    Statistical Science 7(4), Section 3.3). A constant trace returns N. Raises ``ValueError`` for a
    trace that is not 1-D, not finite, or shorter than 4.
    """
    trace = require_finite("trace", require_ndim("trace", as_tensor("trace", trace), 1))
    N = len(trace)
    if N < 4:
        raise ValueError(f"trace must have at least 4 entries, got {N}")
    x = trace - trace.mean()
    f = torch.fft.rfft(x, 2 * N)  # zero-padded to 2N: no wrap-around
    acov = torch.fft.irfft(f * f.conj(), 2 * N)[:N]  # N·γ_k: the factor N cancels in τ
    if acov[0] <= 0:
        return trace.new_tensor(float(N))
    pairs = acov[: 2 * (N // 2)].reshape(-1, 2).sum(1)
    nonpositive = (pairs <= 0).nonzero()
    M = int(nonpositive[0]) if len(nonpositive) else len(pairs)
    tau = -1 + 2 * pairs[:M].sum() / acov[0]
    return N / tau


def split_rhat(traces):
    """Split R̂ of traces ``(C, T)`` (BDA3, Section 11.4).

    Each chain is cut into halves (the middle draw dropped when T is odd), giving m = 2C
    sequences of length n. With B = n/(m−1) Σ_j (ψ̄_j − ψ̄)², W the mean within-sequence
    variance (unbiased) and var⁺ = (n−1)/n · W + B/n: R̂ = √(var⁺ / W). Raises ``ValueError``
    for traces that are not 2-D, not finite, or shorter than 4 draws per chain.
    """
    traces = require_finite("traces", require_ndim("traces", as_tensor("traces", traces), 2))
    C, T = traces.shape
    if T < 4:
        raise ValueError(f"traces must have at least 4 draws per chain, got {T}")
    n = T // 2
    halves = torch.cat([traces[:, :n], traces[:, T - n :]])
    B = n * halves.mean(1).var()  # torch's var is unbiased
    W = halves.var(1).mean()
    var_plus = (n - 1) / n * W + B / n
    return torch.sqrt(var_plus / W)
