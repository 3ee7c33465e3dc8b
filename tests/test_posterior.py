"""The grid posterior against closed forms, at large n, in float32, and with bad input."""

import math

import pytest
import torch

from slt_lessons import models, posterior

F64 = torch.float64


def conjugate_gaussian_mean(y, sigma, s):
    """Posterior of mu for y_i ~ N(mu, sigma^2), prior N(0, s^2): (mean, sd)."""
    prec = 1 / s**2 + y.numel() / sigma**2
    return (y.sum() / sigma**2 / prec).item(), 1 / math.sqrt(prec)


@pytest.mark.parametrize("n", [1, 20, 1000])
def test_grid_posterior_matches_the_conjugate_closed_form(n, gen):
    sigma, s = 0.8, 1.5
    y = 0.4 + sigma * torch.randn(n, generator=gen, dtype=F64)
    m, sd = conjugate_gaussian_mean(y, sigma, s)
    g = torch.linspace(m - 12 * sd, m + 12 * sd, 4001, dtype=F64)
    post = posterior.grid_posterior(lambda mu: models.gaussian_mean_log_likelihood(mu, y, sigma), (g,),
                                    log_prior=lambda mu: posterior.log_normal_prior(mu, scale=s))
    exact = torch.exp(-0.5 * ((g - m) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    # trapezoid rule error for a Gaussian sampled at h = 24 sd / 4000 is ~ h^2/12 * max|f''| ~ 1e-6 relative
    assert torch.allclose(post.marginal(0), exact, rtol=0, atol=1e-5 * exact.max().item())
    assert post.mean().item() == pytest.approx(m, abs=1e-8 * sd + 1e-12)


def test_normalisation_is_exact_on_the_grid(gen):
    g = torch.linspace(-1, 2, 37, dtype=F64)
    lw = posterior.grid_log_weights(g, g)
    logd = torch.randn(37, 37, generator=gen, dtype=F64) * 30 - 5e5
    out = posterior.normalize_log_density(logd, lw)
    # subtracting a constant of size 5e5 costs ~5e5 * machine epsilon in each entry
    tol = 4 * 5e5 * torch.finfo(F64).eps
    assert torch.logsumexp((out + lw).flatten(), 0).item() == pytest.approx(0.0, abs=tol)


def test_trapezoid_weights_integrate_linear_functions_exactly():
    g = torch.tensor([0.0, 0.1, 0.35, 1.0], dtype=F64)
    v = posterior.grid_log_weights(g).exp()
    assert (v * g).sum().item() == pytest.approx(0.5, abs=1e-15)
    assert v.sum().item() == pytest.approx(1.0, abs=1e-15)


def test_stable_for_a_million_points():
    n = 10**6
    y = 0.3 + torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=F64)
    m, sd = y.mean().item(), 1 / math.sqrt(n)
    g = torch.linspace(m - 10 * sd, m + 10 * sd, 801, dtype=F64)
    post = posterior.grid_posterior(lambda mu: models.gaussian_mean_log_likelihood(mu, y), (g,))
    assert torch.isfinite(post.log_density).all()
    assert post.mean().item() == pytest.approx(m, abs=1e-3 * sd)
    # the posterior variance is 1/n (flat prior)
    var = posterior.posterior_mean(post.log_density, (g - m) ** 2, post.log_weights).item()
    assert var == pytest.approx(1 / n, rel=1e-4)


def test_a_coarse_grid_is_detected():
    y = 0.3 + torch.randn(10**6, generator=torch.Generator().manual_seed(0), dtype=F64)
    coarse = posterior.grid_posterior(lambda mu: models.gaussian_mean_log_likelihood(mu, y), (torch.linspace(-2, 2, 121, dtype=F64),))
    fine = posterior.grid_posterior(lambda mu: models.gaussian_mean_log_likelihood(mu, y), (torch.linspace(0.29, 0.31, 121, dtype=F64),))
    assert coarse.effective_cells() < 1.5
    assert fine.effective_cells() > 20


def test_float32_log_likelihood_sum_is_good_to_about_a_tenth():
    n = 10**6
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, generator=g, dtype=F64)
    y = 0.5 * x + torch.randn(n, generator=g, dtype=F64)
    a = torch.tensor([0.3, 1.0], dtype=F64)
    exact = models.product_log_likelihood(a, 0.5, x, y, 1.0)
    f32 = models.product_log_likelihood(a.float(), 0.5, x.float(), y.float(), 1.0)
    err = (f32.double() - exact).abs().max().item()
    assert err < 0.5  # documented: a float32 sum over 1e6 points is only good to about 0.1
    assert f32.dtype == torch.float32


def test_product_likelihood_matches_a_direct_sum(gen):
    x = torch.randn(200, generator=gen, dtype=F64)
    y = torch.randn(200, generator=gen, dtype=F64)
    a = torch.linspace(-1, 1, 5, dtype=F64).unsqueeze(1)
    b = torch.linspace(-2, 2, 4, dtype=F64)
    direct = models.gaussian_log_likelihood(y, (a * b).unsqueeze(-1) * x, 0.7).sum(-1)
    assert torch.allclose(models.product_log_likelihood(a, b, x, y, 0.7), direct, rtol=1e-12, atol=1e-9)


def test_tanh_and_linear_regression_match_direct_sums(gen):
    x = torch.randn(300, generator=gen, dtype=F64)
    y = torch.randn(300, generator=gen, dtype=F64)
    a, b = torch.meshgrid(torch.linspace(-1, 1, 6, dtype=F64), torch.linspace(-2, 2, 5, dtype=F64), indexing="ij")
    direct = models.gaussian_log_likelihood(y, a.unsqueeze(-1) * torch.tanh(b.unsqueeze(-1) * x), 1.3).sum(-1)
    assert torch.allclose(models.tanh_log_likelihood(a, b, x, y, 1.3, chunk=64), direct, rtol=1e-12, atol=1e-9)
    X = torch.randn(300, 2, generator=gen, dtype=F64)
    w = torch.randn(7, 2, generator=gen, dtype=F64)
    direct = models.gaussian_log_likelihood(y, w @ X.T, 0.5).sum(-1)
    assert torch.allclose(models.linear_regression_log_likelihood(w, X, y, 0.5), direct, rtol=1e-12, atol=1e-9)


def test_tempering_scales_the_log_likelihood(gen):
    g = torch.linspace(-1, 1, 51, dtype=F64)
    y = torch.randn(30, generator=gen, dtype=F64)
    ll = lambda mu: models.gaussian_mean_log_likelihood(mu, y)
    p_half = posterior.grid_posterior(ll, (g,), beta=0.5)
    p_scaled = posterior.grid_posterior(lambda mu: 0.5 * ll(mu), (g,), beta=1.0)
    assert torch.allclose(p_half.log_density, p_scaled.log_density, atol=1e-12)


def test_credible_region_holds_its_level_and_sampling_follows_the_mass(gen):
    g = torch.linspace(-3, 3, 301, dtype=F64)
    post = posterior.grid_posterior(-0.5 * g**2 * 4, (g,))
    region = post.credible_region(0.9)
    mass = post.mass()
    assert mass[region].sum().item() >= 0.9
    assert mass[region].sum().item() - mass[region].min().item() < 0.9  # smallest such set
    s = post.sample(100_000, gen)
    assert s.shape == (100_000, 1)
    assert s.mean().item() == pytest.approx(0.0, abs=5 * 0.5 / math.sqrt(1e5))
    assert s.std().item() == pytest.approx(0.5, rel=0.02)


def test_predictive_of_a_point_mass_is_the_model_with_noise_variance():
    g = torch.linspace(-1, 1, 201, dtype=F64)
    post = posterior.grid_posterior(-1e6 * (g - 0.5) ** 2, (g,))
    mean, var = post.predictive(torch.tensor([0.0, 2.0], dtype=F64), lambda x, w: w * x, sigma=0.3)
    assert torch.allclose(mean, torch.tensor([0.0, 1.0], dtype=F64), atol=1e-3)
    assert torch.allclose(var, torch.tensor([0.09, 0.09], dtype=F64), atol=1e-3)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda g: posterior.grid_posterior(torch.zeros(5), (torch.tensor([0.0, 2, 1, 3, 4]),)), "grids"),
        (lambda g: posterior.grid_posterior(torch.zeros(5), (torch.linspace(0, 1, 5),), beta=0), "beta"),
        (lambda g: posterior.grid_posterior(torch.zeros(5), (torch.linspace(0, 1, 5),), beta=-1), "beta"),
        (lambda g: posterior.grid_posterior(torch.zeros(4), (torch.linspace(0, 1, 5),)), "log_likelihood"),
        (lambda g: posterior.grid_posterior(torch.full((5,), float("nan")), (torch.linspace(0, 1, 5),)), "log_likelihood"),
        (lambda g: posterior.grid_posterior(torch.zeros(5), (torch.tensor([0.0, float("nan"), 1, 2, 3]),)), "grids"),
        (lambda g: models.gaussian_mean_log_likelihood(0.0, torch.tensor([])), "y"),
        (lambda g: models.gaussian_mean_log_likelihood(0.0, torch.tensor([1.0, float("nan")])), "y"),
        (lambda g: models.gaussian_mean_log_likelihood(0.0, torch.ones(3), sigma=0), "sigma"),
        (lambda g: models.linear_regression_log_likelihood(torch.zeros(3), torch.ones(4, 2), torch.ones(4)), "w"),
        (lambda g: models.linear_regression_log_likelihood(torch.zeros(2), torch.ones(4, 2), torch.ones(5)), "x and y"),
        (lambda g: models.tanh_log_likelihood(0.0, 0.0, torch.ones(2, 2), torch.ones(2)), "x"),
        (lambda g: posterior.grid_log_weights(torch.tensor([1.0])), "grids"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call(None)
