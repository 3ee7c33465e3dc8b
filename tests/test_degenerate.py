"""slt_lessons.degenerate: losses against independent computations, Fisher ranks against closed forms."""

import itertools
import math

import pytest
import torch
from scipy import integrate

from slt_lessons import degenerate as dg
from slt_lessons.device import generator


def test_normal_crossing_K_matches_the_product():
    w = torch.tensor([[0.5, -2.0, 3.0], [1.5, 0.1, -1.0]], dtype=torch.float64)
    K = dg.normal_crossing_K(w, [1, 0, 2])
    expected = torch.tensor([0.5**2 * 3.0**4, 1.5**2 * 1.0], dtype=torch.float64)
    assert K.shape == (2,) and torch.allclose(K, expected, rtol=1e-15, atol=0)
    K32 = dg.normal_crossing_K(w.float(), [1, 0, 2])
    assert K32.dtype == torch.float32 and torch.allclose(K32.double(), expected, rtol=1e-6)
    batched = dg.normal_crossing_K(torch.ones(4, 5, 2), [1, 1])
    assert batched.shape == (4, 5)


@pytest.mark.parametrize("k", [[1, 1, 1], [1, -1], [1.5, 1]])
def test_normal_crossing_K_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k"):
        dg.normal_crossing_K(torch.ones(3, 2), k)


def test_normal_crossing_model_gives_half_K_as_population_loss():
    # E_x (x ∏w^k)²/2 = ½ ∏ w^{2k} E x²; with the exact design x = ±1 (E x² = 1)
    w = torch.tensor([0.7, -1.3], dtype=torch.float64)
    x = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    loss = 0.5 * (dg.normal_crossing_model(x, w, [1, 2]) ** 2).mean()
    assert math.isclose(loss.item(), 0.5 * dg.normal_crossing_K(w, [1, 2]).item(), rel_tol=1e-14)


def _sign_design(M):
    """All 2^M sign vectors: their second moment matrix is exactly the identity."""
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=M)), dtype=torch.float64)


def test_reduced_rank_K_is_the_population_squared_error():
    g = generator(0, "cpu")
    M, H, N = 4, 2, 3
    A, B = torch.randn(H, M, generator=g, dtype=torch.float64), torch.randn(N, H, generator=g, dtype=torch.float64)
    C = torch.randn(N, M, generator=g, dtype=torch.float64)
    x = _sign_design(M)
    exact = 0.5 * ((dg.reduced_rank_model(x, A, B) - x @ C.T) ** 2).sum(1).mean()
    assert torch.allclose(dg.reduced_rank_K(A, B, C), exact, rtol=1e-13)
    batched = dg.reduced_rank_K(torch.stack([A, 2 * A]), torch.stack([B, B]), C)
    assert batched.shape == (2,) and torch.allclose(batched[0], exact, rtol=1e-13)


def test_deep_linear_K_reduces_to_reduced_rank_and_to_a_single_layer():
    g = generator(1, "cpu")
    A, B, C = (torch.randn(s, generator=g, dtype=torch.float64) for s in [(2, 4), (3, 2), (3, 4)])
    assert torch.allclose(dg.deep_linear_K([A, B], C), dg.reduced_rank_K(A, B, C), rtol=1e-14)
    assert torch.allclose(dg.deep_linear_K([C], C), torch.zeros((), dtype=torch.float64))
    x = _sign_design(4)
    W3 = torch.randn(3, 3, generator=g, dtype=torch.float64)
    exact = 0.5 * ((dg.deep_linear_model(x, [A, B, W3]) - x @ C.T) ** 2).sum(1).mean()
    assert torch.allclose(dg.deep_linear_K([A, B, W3], C), exact, rtol=1e-13)
    with pytest.raises(ValueError, match="weights"):
        dg.deep_linear_K([], C)


def test_tanh_network_K_matches_adaptive_quadrature():
    a = torch.tensor([0.8, -1.1, 0.3], dtype=torch.float64)
    b = torch.tensor([1.7, 0.4, -2.5], dtype=torch.float64)
    f = lambda x: sum(ai * math.tanh(bi * x) for ai, bi in zip(a.tolist(), b.tolist()))
    exact = 0.5 * integrate.quad(lambda x: f(x) ** 2 / 2, -1, 1, epsabs=0, epsrel=1e-13)[0]
    assert math.isclose(dg.tanh_network_K(a, b).item(), exact, rel_tol=1e-12)
    # true parameters: the whole union {a_h = 0 or b_h = 0 for each h} (here with H = 1)
    for a0, b0 in [(0.0, 3.0), (2.0, 0.0)]:
        assert dg.tanh_network_K(torch.tensor([a0]), torch.tensor([b0])).item() == 0.0


def test_true_parameters_of_reduced_rank_are_not_a_single_point():
    g = generator(2, "cpu")
    M, H, N, r = 5, 3, 4, 1
    C = torch.randn(N, r, generator=g, dtype=torch.float64) @ torch.randn(r, M, generator=g, dtype=torch.float64)
    points = [dg.reduced_rank_true_parameter(C, H, g) for _ in range(3)]
    for A, B in points:
        assert A.shape == (H, M) and B.shape == (N, H)
        assert dg.reduced_rank_K(A, B, C).item() < 1e-24 * (C**2).sum().item() + 1e-28
    assert not torch.allclose(points[0][0], points[1][0])
    with pytest.raises(ValueError, match="H"):
        dg.reduced_rank_true_parameter(C @ torch.zeros(M, M, dtype=torch.float64) + torch.eye(N, M, dtype=torch.float64), 2, g)


def _rrr_fisher(A, B, n=None):
    """Population Fisher information of y = BAx + N(0, I), x ~ N(0, I): J^T J with J = ∂vec(BA)/∂(A, B)."""
    H, M = A.shape
    w = torch.cat([A.reshape(-1), B.reshape(-1)])
    J = dg.output_jacobian(lambda w: w[H * M:].reshape(-1, H) @ w[: H * M].reshape(H, M), w)
    return dg.fisher_information(J) * J.shape[0]


def test_fisher_rank_of_reduced_rank_regression():
    # The image of d(BA) = dB A + B dA has dimension N rank(A) + M rank(B) − rank(A) rank(B)
    # (matrices XA + BY; the overlap has row space in row(A) and column space in col(B)).
    g = generator(3, "cpu")
    M, H, N = 5, 3, 4
    d = H * (M + N)
    C1 = torch.randn(N, 1, generator=g, dtype=torch.float64) @ torch.randn(1, M, generator=g, dtype=torch.float64)
    cases = [
        (torch.randn(H, M, generator=g, dtype=torch.float64), torch.randn(N, H, generator=g, dtype=torch.float64)),
        (torch.zeros(H, M, dtype=torch.float64), torch.zeros(N, H, dtype=torch.float64)),
        *[dg.reduced_rank_true_parameter(C1, H, g) for _ in range(4)],
    ]
    for A, B in cases:
        rA, rB = int(torch.linalg.matrix_rank(A)), int(torch.linalg.matrix_rank(B))
        assert dg.numerical_rank(_rrr_fisher(A, B), rtol=1e-10) == N * rA + M * rB - rA * rB
    assert dg.numerical_rank(_rrr_fisher(*cases[0]), rtol=1e-10) == H * (M + N - H) < d  # singular even there


def test_fisher_from_data_has_the_population_rank():
    # tanh network at a generic point: rank 2H; at a = 0 only the a-directions survive (rank H);
    # at a = b = 0 the Fisher information vanishes. x from the data generator, 500 inputs.
    # (With more units the functions tanh(b_h x), x tanh'(b_h x) are nearly dependent on [−1, 1]:
    # H = 2 keeps the smallest non-zero singular value far above round-off.)
    g = generator(4, "cpu")
    H = 2
    x, _ = dg.regression_data(lambda x: torch.zeros_like(x), 500, None, g, input_law="uniform", device="cpu")
    f = lambda w: dg.tanh_network_model(x, w[:H], w[H:])
    for w, rank in [(torch.tensor([0.5, -1.0, 0.7, -2.0]), 2 * H),
                    (torch.tensor([0.0, 0.0, 0.7, -2.0]), H),
                    (torch.zeros(2 * H), 0)]:
        I = dg.fisher_information(dg.output_jacobian(f, w.double()))
        assert I.shape == (2 * H, 2 * H)
        assert dg.numerical_rank(I, rtol=1e-8) == rank


def test_numerical_rank():
    assert dg.numerical_rank(torch.diag(torch.tensor([1.0, 1e-3, 1e-12])), rtol=1e-9) == 2
    assert dg.numerical_rank(torch.zeros(3, 3), rtol=1e-9) == 0
    with pytest.raises(ValueError, match="rtol"):
        dg.numerical_rank(torch.eye(2), rtol=-1)


def test_regression_data_noise_level():
    # residual variance vs σ²: its standard error is σ² √(2/n); allow 5 of them
    g = generator(5, "cpu")
    n, sigma = 20000, 0.5
    C = torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, -1.0]], dtype=torch.float64)
    x, y = dg.regression_data(lambda x: x @ C.T, n, 2, g, sigma=sigma, device="cpu")
    assert x.shape == (n, 2) and y.shape == (n, 3) and x.dtype == torch.float64
    var = ((y - x @ C.T) ** 2).mean().item()
    assert abs(var - sigma**2) < 5 * sigma**2 * math.sqrt(2 / (3 * n))
    xu, _ = dg.regression_data(lambda x: x, 1000, None, g, input_law="uniform", device="cpu")
    assert xu.shape == (1000,) and xu.abs().max() <= 1
    for bad in [dict(n=0), dict(sigma=0.0), dict(input_law="cauchy")]:
        kw = dict(n=10, sigma=1.0, input_law="normal") | bad
        with pytest.raises(ValueError, match=next(iter(bad))):
            dg.regression_data(lambda x: x, kw["n"], None, g, sigma=kw["sigma"], input_law=kw["input_law"], device="cpu")
