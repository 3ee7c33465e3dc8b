"""The sampler and the estimator on CUDA (skipped without a GPU).

Runs under the GPU machine's own Python and torch; install the project there without
dependencies (``pip install --no-deps -e .``).
"""

import math

import pytest
import torch

from slt_lessons import llc, potentials, sgld
from slt_lessons.targets import potential_target

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_batched_chains_equal_chains_one_by_one_on_cuda():
    pr = potentials.deep_linear_network(device="cuda")
    target = potential_target(pr.model, pr.w_star, n=pr.n)
    kw = dict(nbeta=100.0, gamma=10.0, eps=1e-3, n_steps=100, seed=4)
    batched = sgld.sample_sgld(target, chains=[0, 1, 2], **kw)
    assert batched.losses.device.type == "cuda"
    for c in range(3):
        alone = sgld.sample_sgld(target, chains=[c], **kw)
        torch.testing.assert_close(alone.losses[0], batched.losses[c], rtol=1e-9, atol=1e-11)


def test_estimator_on_cuda_matches_the_regular_closed_form():
    # Linear regression d = 4 on CUDA, a model with data (vmap + functional_call on the GPU),
    # against E[λ̂] = ½ Σ κ_i stationary_variance(κ_i, γ, ε), as in tests/test_llc.py.
    pr = potentials.linear_regression(n=1000, d=4, seed=0, device="cuda")
    nbeta, gamma, eps = llc.default_nbeta(1000), 1.0, 5e-4
    res = llc.estimate_llc(**pr.kwargs(), gamma=gamma, eps=eps, n_chains=256, n_steps=1500, progress=False)
    x = pr.data[0]
    kappa = torch.linalg.eigvalsh(nbeta * x.T @ x / x.shape[0])
    exact = float(0.5 * (kappa * sgld.stationary_variance(kappa, gamma, eps)).sum())
    assert res.losses.device.type == "cuda" and not res.diverged.any()
    assert abs(res.llc - exact) < 4 * res.se and math.isfinite(res.rhat)


def test_minibatch_and_float32_on_cuda():
    pr = potentials.linear_regression(n=2000, d=3, seed=1, device="cuda")
    res = llc.estimate_llc(**pr.kwargs(), batch_size=100, n_chains=64, n_steps=200, progress=False, dtype=torch.float32)
    assert res.losses.dtype == torch.float32 and math.isfinite(res.llc)
    assert res.nbeta == pytest.approx(2000 / math.log(2000))
