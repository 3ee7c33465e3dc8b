"""Is a sampler run trustworthy? Effective sample size, split R̂ and the MALA acceptance of SGLD.

- :func:`effective_sample_size`: Geyer's initial positive sequence estimator (Geyer 1992,
  "Practical Markov chain Monte Carlo", Statistical Science 7(4):473–483).
- :func:`split_rhat`: the split potential scale reduction factor of Gelman, Carlin, Stern,
  Dunson, Vehtari & Rubin, *Bayesian Data Analysis*, 3rd ed. (2013), Section 11.4 — the
  plain BDA3 version, without the rank normalisation of Vehtari et al. (2021).
- :func:`langevin_acceptance`: the Metropolis–Hastings acceptance probability of an SGLD
  (Langevin) proposal; Furman & Lau (2024, arXiv:2402.03698) use it to calibrate the step
  size of SGLD for LLC estimation, their calibrated runs sitting around 0.9.
"""

from __future__ import annotations

import torch

from slt_lessons import mala, sgld
from slt_lessons.validation import as_tensor, require_finite, require_ndim

__all__ = ["effective_sample_size", "split_rhat", "langevin_acceptance"]


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
