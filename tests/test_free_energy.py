"""slt_lessons.free_energy against closed forms, exact quadrature and exact identities."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from slt_lessons import degenerate as dg
from slt_lessons import free_energy as fe
from slt_lessons.device import generator

BOX1, BOX2 = [(-1.0, 1.0)], [(-1.0, 1.0), (-1.0, 1.0)]
N_RANGE = np.logspace(0, 14, 15)  # n = 1, 10, ..., 1e14


def _f64(x):
    return torch.as_tensor(x, dtype=torch.float64)


# ---------------------------------------------------------------------------- exact references


def exact_F_power(n, k, h=0):
    """K = w^{2k}, prior (h+1)/2 |w|^h on [−1, 1]: Z = (h+1)/(2k) n^{−a} γ(a, n), a = (h+1)/(2k)."""
    a = (h + 1) / (2 * k)
    return -np.log((h + 1) / (2 * k) * special.gamma(a) * special.gammainc(a, n) * n ** (-a))


def exact_lambda_eff_power(t, k):
    """E_t[tK] = λ P(λ+1, t)/P(λ, t) for K = w^{2k}, uniform prior, λ = 1/(2k)."""
    lam = 1 / (2 * k)
    return lam * special.gammainc(lam + 1, t) / special.gammainc(lam, t)


def exact_F_w1sq_w2sq(n):
    """K = w1²w2², uniform on [−1, 1]²: Z = (√π/(2√n)) ∫_0^{√n} erf(s)/s ds (adaptive quadrature)."""
    integral = integrate.quad(lambda s: special.erf(s) / s, 0, math.sqrt(n), limit=500, epsabs=0, epsrel=1e-13)[0]
    return -math.log(math.sqrt(math.pi) / (2 * math.sqrt(n)) * integral)


def exact_F_w1sq_w2four(n):
    """K = w1²w2⁴, uniform on [−1, 1]²: integrating w1 out and by parts in s = √n w2²,
    Z = ½ Γ(1/4) P(1/4, n) n^{−1/4} − (√π/2) n^{−1/2} erf(√n)."""
    return -np.log(0.5 * special.gamma(0.25) * special.gammainc(0.25, n) * n**-0.25
                   - math.sqrt(math.pi) / 2 * n**-0.5 * special.erf(np.sqrt(n)))


# ---------------------------------------------------------------------------- exercises


def test_free_energy_grid_on_a_gaussian_is_exact_and_stable_for_huge_n():
    # nL_n = c0 + n w²/2, uniform prior 1/20 on [−10, 10]: F = c0 + log 20 − ½ log(2π/n)
    for n, G in [(10.0, 2001), (1e14, 2001)]:
        width = 12 / math.sqrt(n)
        grid = torch.linspace(-width, width, G, dtype=torch.float64)
        c0 = 1e16 if n > 1e6 else 3.0
        nLn = c0 + n * grid**2 / 2
        F = fe.free_energy_grid(nLn, torch.full_like(grid, -math.log(20)), grid)
        exact = c0 + math.log(20) - 0.5 * math.log(2 * math.pi / n)
        assert F.shape == () and math.isfinite(F.item())
        # trapezoid on a Gaussian sampled at spacing h = 24/(G−1) standard deviations: error ~ e^{−2π²/h²}
        assert F.item() == pytest.approx(exact, rel=1e-14, abs=1e-12)


def test_free_energy_grid_float32_and_nonuniform_grid():
    grid = torch.linspace(-1, 1, 401, dtype=torch.float64) ** 3  # non-uniform, denser near 0
    nLn, log_prior = 50 * grid**2, torch.full_like(grid, -math.log(2))
    F64 = fe.free_energy_grid(nLn, log_prior, grid)
    exact = exact_F_power(50.0, 1)
    assert F64.item() == pytest.approx(exact, rel=1e-4)  # trapezoid rule O(h²) on this grid
    F32 = fe.free_energy_grid(nLn.float(), log_prior.float(), grid.float())
    assert F32.dtype == torch.float32 and F32.item() == pytest.approx(F64.item(), rel=1e-5)
    with pytest.raises(ValueError, match="grid"):
        fe.free_energy_grid(nLn, log_prior, grid.flip(0))


def test_laplace_is_exact_for_a_gaussian_and_undefined_at_a_singular_point():
    # nL_n = c0 + ½ wᵀHw on R²: ∫ φ0 e^{−nL_n} = φ0 e^{−c0} 2π/√det H exactly
    H = _f64([[3.0, 1.0], [1.0, 2.0]])
    F = fe.laplace_free_energy(_f64(4.0), _f64(-1.5), H)
    exact = 4.0 + 1.5 - math.log(2 * math.pi / math.sqrt(5.0))
    assert F.shape == () and F.item() == pytest.approx(exact, rel=1e-14)
    with pytest.raises(ValueError, match="singular"):
        fe.laplace_free_energy(_f64(0.0), _f64(0.0), _f64([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="singular"):
        fe.laplace_free_energy(_f64(0.0), _f64(0.0), _f64([[1.0, 2.0], [2.0, 1.0]]))


def test_laplace_with_autograd_hessian_matches_grid_quadrature_for_a_regular_model():
    # 1-D Gaussian mean model, n = 400: nL_n(w) = Σ (y_i − w)²/2 + const, prior N(0, 1)
    y = torch.randn(400, dtype=torch.float64, generator=generator(0, "cpu")) + 0.3
    nLn = lambda w: 0.5 * ((y - w) ** 2).sum() + 0.5 * len(y) * math.log(2 * math.pi)
    log_prior = lambda w: (-0.5 * w**2 - 0.5 * math.log(2 * math.pi)).sum()
    w_hat = y.mean().reshape(1)
    F_lap = fe.laplace_free_energy_at(nLn, log_prior, w_hat)
    grid = torch.linspace(-1, 2, 20001, dtype=torch.float64)
    F_grid = fe.free_energy_grid(torch.stack([nLn(w) for w in grid]), -0.5 * grid**2 - 0.5 * math.log(2 * math.pi), grid)
    # the log prior is quadratic, so the only error is the prior's curvature 1 against n = 400: O(1/n)
    assert F_lap.item() == pytest.approx(F_grid.item(), abs=2.0 / 400)


def test_bic_differs_from_laplace_by_the_order_one_terms():
    H, n = _f64([[3.0, 1.0], [1.0, 2.0]]) * 1000, 1000.0
    lap = fe.laplace_free_energy(_f64(7.0), _f64(-0.25), H)
    b = fe.bic(_f64(7.0), 2, n)
    expected = 0.25 + 0.5 * math.log(5.0) - math.log(2 * math.pi)  # −log φ + ½ log det(H/n) − (d/2) log 2π
    assert (lap - b).item() == pytest.approx(expected, rel=1e-12)
    assert fe.bic(3.0, 4, math.e**2) == pytest.approx(7.0, rel=1e-15)
    with pytest.raises(ValueError, match="n"):
        fe.bic(1.0, 1, 0)


def test_wbic_grid_on_a_gaussian_is_half_log_n():
    # nL_n = c0 + n w²/2: at β = 1/log n the posterior is N(0, log n / n), E[n w²/2] = (log n)/2
    for n in (100.0, 1e12):
        width = 15 * math.sqrt(math.log(n) / n)
        grid = torch.linspace(-width, width, 3001, dtype=torch.float64)
        nLn = 2.0 + n * grid**2 / 2
        W = fe.wbic_grid(nLn, torch.zeros_like(grid), grid, n)
        assert W.shape == () and W.item() == pytest.approx(2.0 + math.log(n) / 2, rel=1e-10)
    with pytest.raises(ValueError, match="n"):
        fe.wbic_grid(nLn, torch.zeros_like(grid), grid, 1.0)


def test_fit_slope_matches_polyfit():
    rng = np.random.default_rng(0)
    x, y = np.sort(rng.uniform(0, 30, 12)), rng.normal(size=12)
    assert fe.fit_slope(_f64(x), _f64(y)).item() == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-12)


# ---------------------------------------------------------------------------- quadrature for K(w)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_free_energy_quad_1d_matches_incomplete_gamma(k):
    F = fe.free_energy_quad(lambda w: w[:, 0] ** (2 * k), N_RANGE, BOX1, device="cpu")
    np.testing.assert_allclose(F.numpy(), exact_F_power(N_RANGE, k), rtol=1e-8, atol=0)


def test_free_energy_quad_1d_with_a_non_uniform_prior():
    # prior |w| on [−1, 1] (h = 1, normalised): λ = (h+1)/2 = 1 for K = w²
    log_prior = lambda w: torch.log(w[:, 0].abs())
    F = fe.free_energy_quad(lambda w: w[:, 0] ** 2, N_RANGE, BOX1, log_prior=log_prior, device="cpu")
    np.testing.assert_allclose(F.numpy(), exact_F_power(N_RANGE, 1, h=1), rtol=1e-8, atol=0)


def test_free_energy_quad_2d_matches_exact_forms():
    F = fe.free_energy_quad(lambda w: dg.normal_crossing_K(w, [1, 1]), N_RANGE, BOX2, device="cpu")
    np.testing.assert_allclose(F.numpy(), [exact_F_w1sq_w2sq(n) for n in N_RANGE], rtol=1e-8, atol=0)
    F = fe.free_energy_quad(lambda w: dg.normal_crossing_K(w, [1, 2]), N_RANGE, BOX2, device="cpu")
    np.testing.assert_allclose(F.numpy(), exact_F_w1sq_w2four(N_RANGE), rtol=1e-8, atol=0)


def test_free_energy_quad_handles_negative_empirical_losses_at_huge_n():
    # K_n = K − δ dips below 0 (as L_n − L_n(w0) does): F_n(K − δ) = F_n(K) − nδ exactly
    n = np.array([1e3, 1e14])
    F = fe.free_energy_quad(lambda w: w[:, 0] ** 2 - 1e-3, n, BOX1, device="cpu")
    np.testing.assert_allclose(F.numpy(), exact_F_power(n, 1) - 1e-3 * n, rtol=1e-12)


def test_lambda_eff_is_the_derivative_of_F():
    t = np.logspace(0, 14, 8)
    for k in (1, 2):
        got = fe.lambda_eff_quad(lambda w: w[:, 0] ** (2 * k), t, BOX1, device="cpu")
        np.testing.assert_allclose(got.numpy(), exact_lambda_eff_power(t, k), rtol=1e-9)
    # 2-D: central difference of the exact F in log n, step h: error (h²/6) F''' ~ 2e-9 relative
    h, n = 1e-4, np.array([1e2, 1e8, 1e14])
    fd = (exact_F_w1sq_w2four(n * math.exp(h)) - exact_F_w1sq_w2four(n * math.exp(-h))) / (2 * h)
    got = fe.lambda_eff_quad(lambda w: dg.normal_crossing_K(w, [1, 2]), n, BOX2, device="cpu")
    np.testing.assert_allclose(got.numpy(), fd, rtol=1e-6)


def test_wbic_quad_is_log_n_times_lambda_eff_at_n_over_log_n():
    n = np.array([10.0, 1e4, 1e10])
    got = fe.wbic_quad(lambda w: w[:, 0] ** 4, n, BOX1, device="cpu")
    np.testing.assert_allclose(got.numpy(), np.log(n) * exact_lambda_eff_power(n / np.log(n), 2), rtol=1e-9)
    with pytest.raises(ValueError, match="n"):
        fe.wbic_quad(lambda w: w[:, 0] ** 4, [1.0], BOX1, device="cpu")


@pytest.mark.parametrize("bounds", [[], [(1.0, -1.0)], [(0, 1)] * 3, [(0.0, math.inf)]])
def test_quadrature_mesh_rejects_bad_bounds(bounds):
    with pytest.raises(ValueError, match="bounds"):
        fe.quadrature_mesh(bounds)


def test_quadrature_rejects_bad_n_and_bad_K():
    with pytest.raises(ValueError, match="n"):
        fe.free_energy_quad(lambda w: w[:, 0] ** 2, [-1.0], BOX1, device="cpu")
    with pytest.raises(ValueError, match="K"):
        fe.free_energy_quad(lambda w: w**2, [10.0], BOX1, device="cpu")  # shape (G, 1), not (G,)


# ---------------------------------------------------------------------------- recovering λ and m


@pytest.mark.parametrize("k, bounds, lam", [([1], BOX1, 0.5), ([2], BOX1, 0.25), ([1, 2], BOX2, 0.25), ([1, 3], BOX2, 1 / 6)])
def test_slope_recovers_lambda_within_one_percent_when_m_is_1(k, bounds, lam):
    n = np.logspace(6, 14, 17)
    F = fe.free_energy_quad(lambda w: dg.normal_crossing_K(w, k), n, bounds, device="cpu")
    assert fe.fit_slope(_f64(np.log(n)), F).item() == pytest.approx(lam, rel=0.01)


def test_second_pole_bends_the_slope_at_moderate_n():
    # w1²w2⁴ (poles 1/4 and 1/2): the slope over n = 1e2..1e10 is 0.243, not 1/4
    n = np.logspace(2, 10, 17)
    F = fe.free_energy_quad(lambda w: dg.normal_crossing_K(w, [1, 2]), n, BOX2, device="cpu")
    assert fe.fit_slope(_f64(np.log(n)), F).item() == pytest.approx(0.243, abs=5e-4)


@pytest.mark.parametrize("k, lam", [([1, 1], 0.5), ([2, 2], 0.25)])
def test_fit_with_correction_recovers_lambda_and_m_when_m_is_2(k, lam):
    n = np.logspace(6, 14, 17)
    K = lambda w: dg.normal_crossing_K(w, k)
    F = fe.free_energy_quad(K, n, BOX2, device="cpu")
    fit = fe.fit_learning_coefficient(n, F)
    assert fit.lam == pytest.approx(lam, rel=0.02) and fit.m == pytest.approx(2, abs=0.1)
    # the naive slope is far off: λ_eff(n) = λ − (m − 1)/log n + ...
    assert fe.fit_slope(_f64(np.log(n)), F).item() < 0.95 * lam
    # with m known, λ alone
    assert fe.fit_learning_coefficient(n, F, m=2).lam == pytest.approx(lam, rel=0.02)


def test_without_the_correction_m_is_biased():
    # w1²w2² over n = 1e2..1e14: m ≈ 1.7 without the c/log n term; λ_eff(1e8) ≈ 0.45 against 0.5
    n = np.logspace(2, 14, 25)
    K = lambda w: dg.normal_crossing_K(w, [1, 1])
    F = fe.free_energy_quad(K, n, BOX2, device="cpu")
    assert fe.fit_learning_coefficient(n, F, correction=False).m == pytest.approx(1.7, abs=0.1)
    assert fe.fit_learning_coefficient(n, F).m == pytest.approx(2, abs=0.1)
    assert fe.lambda_eff_quad(K, [1e8], BOX2, device="cpu").item() == pytest.approx(0.45, abs=0.005)


def test_fit_learning_coefficient_is_exact_on_its_own_model_and_validates():
    n = np.logspace(1, 12, 12)
    L = np.log(n)
    F = 0.3 + 0.75 * L - 2 * np.log(L) - 1.5 / L
    fit = fe.fit_learning_coefficient(n, F)
    assert (fit.lam, fit.m, fit.c, fit.a) == pytest.approx((0.75, 3.0, 1.5, 0.3), rel=1e-9)
    with pytest.raises(ValueError, match="n"):
        fe.fit_learning_coefficient([1.0, 10.0, 100.0, 1000.0], [0.0] * 4)
    with pytest.raises(ValueError, match="values of n"):
        fe.fit_learning_coefficient([10.0, 100.0], [0.0, 1.0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_quadrature_on_cuda_matches_the_closed_form():
    F = fe.free_energy_quad(lambda w: dg.normal_crossing_K(w, [1, 2]), N_RANGE, BOX2, device="cuda")
    assert F.device.type == "cuda"
    np.testing.assert_allclose(F.cpu().numpy(), exact_F_w1sq_w2four(N_RANGE), rtol=1e-8, atol=0)
