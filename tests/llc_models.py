"""The models of the LLC accuracy tests, shared by tests/test_llc_accuracy.py and scripts/llc_references.py.

Each is a population loss (a potential: no data noise, so the estimator's value at a given nβ and γ
is a property of the model alone), sampled at a stated point w*:

- ``dln``: deep linear network, widths (4, 3, 3, 4), true rank 1, at the true parameter; λ = 11/2, m = 3.
- ``rrr_origin``: reduced-rank regression (M, H, N) = (4, 3, 8), true rank 0, at the origin; λ = 6.
- ``rrr_local``: (M, H, N) = (5, 3, 5), true rank 0, at A = A0 of full row rank, B = 0: a point of W_0
  whose local λ = (NH + r(M − H))/2 = 7.5 exceeds the global λ = 6.5 (attained at the origin).
- ``rrr_stiff``: ``rrr_origin`` at n = 10⁵ (nβ ≈ 8686): curvatures 60 times those at n = 10³.
"""

from __future__ import annotations

import torch

from slt_lessons import llc, potentials

GAMMA = 1.0
N_CHAINS, N_STEPS = 8, 4000


def models():
    """name -> (potential, w_star, n, steps): the test runs ``steps`` with a quarter as burn-in (the stiff
    model mixes slower: its flat directions relax in ~1/(εγ) steps and its ε is 12 times smaller)."""
    dln = potentials.deep_linear_network(device="cpu")
    A0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    rrr_local_w = torch.cat([A0.reshape(-1), torch.zeros(15, dtype=torch.float64)])
    rrr = potentials.reduced_rank_regression(4, 3, 8, device="cpu")  # ½‖BA‖², sampled at the origin
    rrr_555 = potentials.reduced_rank_regression(5, 3, 5, device="cpu")
    return {
        "dln": (dln.model, dln.w_star, 1000, N_STEPS),
        "rrr_origin": (rrr.model, rrr.w_star, 1000, N_STEPS),
        "rrr_local": (rrr_555.model, rrr_local_w, 1000, N_STEPS),
        "rrr_stiff": (rrr.model, rrr.w_star, 100_000, 2 * N_STEPS),
    }


def nbeta_of(n):
    return llc.default_nbeta(n)


__all__ = ["models", "nbeta_of", "GAMMA", "N_CHAINS", "N_STEPS"]
