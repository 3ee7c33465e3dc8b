"""slt_lessons.generalisation against closed forms, direct sums on a grid, quadrature and ArviZ.

The reference model throughout is the Gaussian location model ``x_i ~ N(μ, 1)``, whose posterior
(flat prior, or a conjugate ``N(0, τ²)`` prior, at any β) is ``N(m, s²)``, so every quantity has a
closed form:

* ``E_μ[p(x | μ)] = N(x; m, 1 + s²)`` (a Gaussian convolution), so ``T_n = −(1/n) Σ log N(x_i; m, 1 + s²)``;
* ``log p(x | μ) = −½ log 2π − u²/2`` with ``u = μ − x ~ N(m − x, s²)``, and
  ``Var[u²] = 4 (m − x)² s² + 2 s⁴``, so ``Var_μ[log p(x | μ)] = (x − m)² s² + s⁴/2``;
* without ``x_i``, under a flat prior at β, the posterior is ``N(x̄_{−i}, 1/(β(n − 1)))`` and the
  predictive ``p(x_i | x_{−i}) = N(x_i; x̄_{−i}, 1 + 1/(β(n − 1)))``.
"""

import math
import warnings

import arviz as az
import numpy as np
import pytest
import torch
from scipy import integrate, special
from scipy.special import logsumexp

from slt_lessons import generalisation as gen
from slt_lessons import llc

LOG_2PI = math.log(2 * math.pi)


def _f64(x):
    return torch.as_tensor(x, dtype=torch.float64)


def _log_normal(x, mean, var):
    return -0.5 * np.log(2 * np.pi * var) - (x - mean) ** 2 / (2 * var)


def _loglik(x, mu):
    """(S, n): log N(x_i; μ_s, 1)."""
    return -0.5 * LOG_2PI - 0.5 * (np.asarray(x)[None, :] - np.asarray(mu)[:, None]) ** 2


def _data(n, seed=0, outlier=None):
    x = np.random.default_rng(seed).normal(0.3, 1.0, size=n)
    if outlier is not None:
        x[-1] = outlier
    return x


def _posterior(x, beta=1.0, tau2=None):
    """Mean and variance of p_β(μ | x) ∝ N(μ; 0, τ²) Π N(x_i; μ, 1)^β (flat prior for τ² = None)."""
    prec = beta * len(x) + (0.0 if tau2 is None else 1 / tau2)
    return beta * x.sum() / prec, 1 / prec


def _closed_T_V(x, m, s2):
    T = -np.mean(_log_normal(x, m, 1 + s2))
    V = np.sum((x - m) ** 2 * s2 + s2**2 / 2)
    return T, V


def _closed_loo(x, beta=1.0):
    """Exact LOO under a flat prior at β: −(1/n) Σ log N(x_i; x̄_{−i}, 1 + 1/(β(n − 1)))."""
    n = len(x)
    mean_minus = (x.sum() - x) / (n - 1)
    return -np.mean(_log_normal(x, mean_minus, 1 + 1 / (beta * (n - 1))))


def _grid(x, half_width=3.0, points=4001):
    """A uniform grid around x̄, wide enough for every leave-one-out posterior (sd ≈ 1/√n ≪ half_width)."""
    return np.linspace(x.mean() - half_width, x.mean() + half_width, points)


# ---------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("tau2", [None, 4.0])
def test_T_V_waic_match_the_closed_forms_with_gauss_hermite_weights(tau2):
    """Gauss–Hermite nodes μ_k = m + s z_k with weights w_k, passed as a weighted posterior.

    log p(x | μ) is quadratic in μ, so V_n (degree 4) is exact for any rule of ≥ 3 nodes; p(x | μ) is
    a Gaussian in z of width 1/s ≫ 1, which a 40-node rule integrates to round-off. Hence 1e-12."""
    x = _data(25, seed=1)
    m, s2 = _posterior(x, tau2=tau2)
    z, w = np.polynomial.hermite_e.hermegauss(40)
    ll, log_w = _f64(_loglik(x, m + math.sqrt(s2) * z)), _f64(np.log(w))
    T, V = _closed_T_V(x, m, s2)
    assert float(gen.training_loss(ll, log_w)) == pytest.approx(T, rel=1e-12)
    assert float(gen.functional_variance(ll, log_w)) == pytest.approx(V, rel=1e-12)
    assert float(gen.waic(ll, log_w)) == pytest.approx(T + V / len(x), rel=1e-12)
    # the weights are normalised inside: any additive constant gives the same answer
    assert float(gen.waic(ll, log_w + 123.4)) == pytest.approx(T + V / len(x), rel=1e-12)


def test_T_V_waic_from_exact_posterior_draws_within_five_standard_errors():
    """S = 20 000 exact draws from the conjugate posterior (flat prior).

    The tolerance is 5 Monte Carlo standard errors, each from the draws by the delta method:
    T̂_n − T_n ≈ −(1/n) Σ_i (p̄_i − E p_i)/E p_i, so SE(T̂) = sd_s[(1/n) Σ_i p_is/p̄_i]/√S; V̂_n is a mean
    over draws of g_s = Σ_i (f_is − f̄_i)², so SE(V̂) = sd_s(g)/√S; WAIC combines the two per draw."""
    x = _data(20, seed=2)
    n, S = len(x), 20_000
    m, s2 = _posterior(x)
    mu = np.random.default_rng(3).normal(m, math.sqrt(s2), size=S)
    ll = _loglik(x, mu)
    T, V = _closed_T_V(x, m, s2)

    p = np.exp(ll)
    t_s = -(p / p.mean(0)).mean(1)  # linearised T per draw
    g_s = ((ll - ll.mean(0)) ** 2).sum(1)  # V per draw
    se_T, se_V, se_W = (np.std(v) / math.sqrt(S) for v in (t_s, g_s, t_s + g_s / n))
    assert se_T < 1e-3 * T and se_V < 0.05 * V  # the check is sharp

    ll_t = _f64(ll)
    assert abs(float(gen.training_loss(ll_t)) - T) < 5 * se_T
    assert abs(float(gen.functional_variance(ll_t)) - V) < 5 * se_V
    assert abs(float(gen.waic(ll_t)) - (T + V / n)) < 5 * se_W
    # for a regular 1-parameter model V_n → d = 1
    assert V == pytest.approx(1.0, abs=0.3)


def test_exact_loo_on_a_grid_matches_the_closed_form():
    """Flat prior on a uniform grid of 4001 points over x̄ ± 3 (the posteriors have sd ≈ 0.23).

    The rectangle rule is spectrally accurate for a smooth integrand that vanishes at both ends
    (e^{−85} there), so the only error is round-off: 1e-10. importance_loo with the grid posterior's
    weights is the same ratio Z_n/Z_{n−i} reorganised, so it matches too."""
    x = _data(20, seed=4)
    mu = _grid(x)
    ll = _f64(_loglik(x, mu))
    log_prior = torch.zeros(len(mu), dtype=torch.float64)
    ref = _closed_loo(x)
    exact = float(gen.exact_loo_grid(log_prior, ll))
    is_loo = float(gen.importance_loo(ll, log_prior + ll.sum(1)))
    assert exact == pytest.approx(ref, abs=1e-10)
    assert is_loo == pytest.approx(ref, abs=1e-10)
    assert is_loo == pytest.approx(exact, abs=1e-12)
    # and LOO is not WAIC, nor T_n: they differ by O(1/n²) and O(1/n)
    assert float(gen.training_loss(ll, log_prior + ll.sum(1))) < ref - 0.5 / len(x)


def test_psis_loo_from_exact_draws_matches_the_closed_form_within_five_standard_errors():
    """PSIS-LOO from S = 8000 exact posterior draws, flat prior, n = 20.

    The raw ratios r_is = 1/p(x_i | μ_s) have finite variance (E e^{(x−μ)²} < ∞ for Var μ = 1/n < ½),
    so k̂ < 0.5 and smoothing changes little. Delta method: Ĉ − C ≈ (1/n) Σ_i (r̄_i − E r_i)/E r_i,
    SE = sd_s[(1/n) Σ_i r_is/r̄_i]/√S. Tolerance 5 SE."""
    x = _data(20, seed=5)
    m, s2 = _posterior(x)
    S = 8000
    mu = np.random.default_rng(6).normal(m, math.sqrt(s2), size=S)
    ll = _loglik(x, mu)
    r = np.exp(-ll)
    se = np.std((r / r.mean(0)).mean(1)) / math.sqrt(S)
    ref = _closed_loo(x)
    loo, k = gen.psis_loo(_f64(ll))
    assert float(k.max()) < 0.5
    assert 0 < se < 1e-3
    assert abs(float(loo) - ref) < 5 * se
    pointwise, _ = gen.psis_loo(_f64(ll), pointwise=True)
    assert pointwise.shape == (len(x),)
    assert float(pointwise.mean()) == pytest.approx(float(loo), rel=1e-14)


# ---------------------------------------------------------------------------- ArviZ


def _arviz_case(name):
    """A shared (S, n) log-likelihood matrix from exact draws of the flat-prior posterior."""
    if name == "benign":
        x, S = _data(30, seed=7), 2000
    elif name == "outlier":  # one point 8 sd out with n = 10: its LOO weights are very heavy-tailed
        x, S = _data(10, seed=0, outlier=8.0), 2000
    elif name == "few draws":  # S = 20: a tail of M = 4 points, too few to fit, k̂ = ∞ and no smoothing
        x, S = _data(6, seed=8), 20
    m, s2 = _posterior(x)
    mu = np.random.default_rng(9).normal(m, math.sqrt(s2), size=S)
    return mu, _loglik(x, mu)


@pytest.mark.parametrize("case", ["benign", "outlier", "few draws"])
def test_waic_psis_loo_and_pareto_k_equal_arviz(case):
    """ArviZ 0.23 (one chain, so reff = 1) on the same matrix: elpd_waic = −n W_n, p_waic = V_n,
    elpd_loo = −n C_n, and the same k̂, pointwise terms and smoothed weights. Both run the same float64
    algorithm (Zhang–Stephens fit, prior on k̂, truncation), so only round-off separates them: 1e-12
    relative for WAIC, 1e-10 for PSIS."""
    mu, ll = _arviz_case(case)
    n = ll.shape[1]
    data = az.from_dict(posterior={"mu": mu[None]}, log_likelihood={"y": ll[None]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns about large k̂ and p_waic > 0.4
        ref_waic = az.waic(data, pointwise=True)
        ref_loo = az.loo(data, pointwise=True)
        ref_lw, ref_k = az.psislw(-ll.T.copy(), reff=1.0)

    ll_t = _f64(ll)
    assert float(gen.waic(ll_t)) == pytest.approx(-ref_waic.elpd_waic / n, rel=1e-12)
    assert float(gen.functional_variance(ll_t)) == pytest.approx(ref_waic.p_waic, rel=1e-12)

    loo, k = gen.psis_loo(ll_t)
    pointwise, _ = gen.psis_loo(ll_t, pointwise=True)
    assert float(loo) == pytest.approx(-ref_loo.elpd_loo / n, rel=1e-10)
    np.testing.assert_allclose(pointwise.numpy(), -ref_loo.loo_i.values, rtol=1e-10, atol=0)
    np.testing.assert_allclose(k.numpy(), ref_loo.pareto_k.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(k.numpy(), ref_k, rtol=0, atol=1e-10)
    for i in range(n):
        lw, _ = gen.pareto_smooth(-ll[:, i])
        np.testing.assert_allclose(lw - logsumexp(lw), ref_lw[i], rtol=0, atol=1e-10)

    if case == "outlier":
        assert k[-1] > 0.7 and (k[:-1] < 0.7).all()  # the outlier, and only it, is flagged
    if case == "few draws":
        assert torch.isinf(k).all()
    if case == "benign":
        assert (k < 0.5).all()


# ---------------------------------------------------------------------------- β forms


def test_importance_loo_at_beta_one_is_the_harmonic_mean():
    """p(x_i | x_{−i}) = 1/E_w[1/p(x_i | w)]: checked with equal weights (draws) and grid weights,
    computed here in numpy; the same sums in another order, so 1e-12."""
    x = _data(15, seed=10)
    m, s2 = _posterior(x)
    mu = np.random.default_rng(11).normal(m, math.sqrt(s2), size=3000)
    ll = _loglik(x, mu)
    harmonic = np.mean(logsumexp(-ll, axis=0) - math.log(len(mu)))  # −(1/n) Σ log [1/mean_s(1/p)]
    assert float(gen.importance_loo(_f64(ll))) == pytest.approx(harmonic, rel=1e-12)

    mu = _grid(x, points=801)
    ll = _loglik(x, mu)
    log_pi = ll.sum(1) - logsumexp(ll.sum(1))
    harmonic = np.mean(logsumexp(log_pi[:, None] - ll, axis=0))
    assert float(gen.importance_loo(_f64(ll), _f64(ll.sum(1)))) == pytest.approx(harmonic, rel=1e-12)


@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_importance_loo_at_beta_is_exact_loo_of_the_tempered_posterior(beta):
    """On a grid (flat prior) the tempered posterior is ∝ Π_j p_j^β. Directly: the posterior without
    point i, ∝ Π_{j≠i} p_j^β, and its predictive E[p(x_i | w)]; in closed form, N(x_i; x̄_{−i},
    1 + 1/(β(n − 1))). importance_loo(log_lik, β Σ_j log p_j, β) must give both; exact sums on the
    grid and a rectangle rule accurate to round-off, so 1e-10. The grid is x̄ ± 5: at β = 0.3 the
    posteriors have sd 1/√(0.3 · 19) ≈ 0.42, so its ends are 12 sd out (at ± 3, the truncation, e^{−25},
    would show at 1e-12)."""
    x = _data(20, seed=12)
    mu = _grid(x, half_width=5.0)
    ll = _loglik(x, mu)
    total = beta * ll.sum(1)
    direct = []
    for i in range(len(x)):
        log_post = total - beta * ll[:, i]
        log_post = log_post - logsumexp(log_post)
        direct.append(-logsumexp(log_post + ll[:, i]))
    direct = np.mean(direct)
    got = float(gen.importance_loo(_f64(ll), _f64(total), beta))
    assert got == pytest.approx(direct, abs=1e-10)
    assert got == pytest.approx(_closed_loo(x, beta), abs=1e-10)
    if beta != 1.0:  # the β = 1 formula on a tempered posterior is not LOO
        assert abs(float(gen.importance_loo(_f64(ll), _f64(total))) - direct) > 1e-4


@pytest.mark.parametrize("beta", [0.25, 1.0, 4.0])
def test_waic_at_beta_adds_beta_times_the_functional_variance(beta):
    """W_n = T_n + β V_n / n, with T_n, V_n of the tempered posterior N(m_β, s_β²) (conjugate prior,
    s_β² = 1/(βn + 1/τ²)), on Gauss–Hermite weights (exact, as above: 1e-12)."""
    x = _data(25, seed=13)
    n = len(x)
    m, s2 = _posterior(x, beta=beta, tau2=4.0)
    z, w = np.polynomial.hermite_e.hermegauss(40)
    ll, log_w = _f64(_loglik(x, m + math.sqrt(s2) * z)), _f64(np.log(w))
    T, V = _closed_T_V(x, m, s2)
    W = float(gen.waic(ll, log_w, beta))
    assert W == pytest.approx(T + beta * V / n, rel=1e-12)
    # the penalty is linear in the β passed, on the same draws
    T_hat = float(gen.training_loss(ll, log_w))
    for b in (0.5, 2.0, 8.0):
        assert float(gen.waic(ll, log_w, b)) - T_hat == pytest.approx(b / beta * (W - T_hat), rel=1e-12)


# ---------------------------------------------------------------------------- predictive_kl


@pytest.mark.parametrize("a", [0.0, 0.5, 1.0, 3.0])
def test_predictive_kl_of_a_point_mass_is_a_squared_over_two(a):
    """A posterior at one point a predicts N(a x, 1); KL(N(0,1) ‖ N(ax,1)) = a²x²/2, E_x = a²/2.
    The log-mixture a x y − a²x²/2 is a polynomial of degree 2, exact for Gauss–Hermite: 1e-12."""
    kl = gen.predictive_kl(_f64([a]), _f64([0.0]))
    assert kl.dtype == torch.float64
    assert float(kl) == pytest.approx(a * a / 2, rel=1e-12, abs=1e-15)
    # repeated points, any weights, and points of zero weight change nothing
    kl = gen.predictive_kl(_f64([a, a, a, 7.0]), _f64([0.3, -2.0, 1.0, -math.inf]))
    assert float(kl) == pytest.approx(a * a / 2, rel=1e-12, abs=1e-15)


def test_predictive_kl_is_below_the_average_of_the_components_kls():
    """KL(q ‖ Σ π_s p_s) ≤ Σ π_s KL(q ‖ p_s) = Σ π_s a_s²/2 (convexity of KL in its second argument),
    strictly when the a_s differ; and ≥ 0. Checked for random posteriors."""
    rng = np.random.default_rng(14)
    for _ in range(10):
        a = rng.normal(0, 0.7, size=8)
        log_w = rng.normal(size=8)
        pi = np.exp(log_w - logsumexp(log_w))
        kl = float(gen.predictive_kl(_f64(a), _f64(log_w)))
        assert 0 < kl < np.sum(pi * a**2 / 2)


@pytest.mark.parametrize("a", [0.5, 1.0])
def test_predictive_kl_converges_in_order_to_quadrature(a):
    """A posterior at ±a with equal weights: p*(y | x) = N(y; 0, 1) e^{−a²x²/2} cosh(a x y), so
    KL = a²/2 − E[log cosh(a Z)] with Z = XY, whose density is K₀(|z|)/π; that expectation by
    scipy.integrate.quad (1e-13). log cosh(axy) is not a polynomial, so the Gauss–Hermite error falls
    with the order: it must fall at each step, below 1e-8 (a = ½) or 1e-5 (a = 1) at order 60, the default."""
    def f(z):
        return (a * z + np.log1p(np.exp(-2 * a * z)) - math.log(2)) * special.k0(z) / math.pi

    parts = [integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0] for lo, hi in ((0, 1), (1, np.inf))]
    ref = a * a / 2 - 2 * sum(parts)
    errors = [abs(float(gen.predictive_kl(_f64([a, -a]), _f64([0.0, 0.0]), order=k)) - ref) for k in (10, 20, 40, 60, 100)]
    assert all(e1 < e0 for e0, e1 in zip(errors, errors[1:]))
    assert errors[3] < (1e-8 if a == 0.5 else 1e-5)
    assert float(gen.predictive_kl(_f64([a, -a]), _f64([0.0, 0.0]))) == pytest.approx(ref, abs=errors[3] * 1.001)


# ---------------------------------------------------------------------------- criterion_preferences


def _prefs(*args, **kwargs):
    """criterion_preferences as a dict, criterion name -> model index (it returns them in CRITERIA's order)."""
    return dict(zip(gen.CRITERIA, gen.criterion_preferences(*args, **kwargs)))



def test_regular_models_make_aic_waic_and_bic_free_energy_agree():
    """Model 0: L = 0.1, d = 2; model 1: L = 0.0985, d = 4; regular, λ = ν = d/2; n = 1000.
    By hand: G_n = WAIC = L + λ/n = 0.1010 vs 0.1005 → 1; AIC = L + (λ − 2ν + d)/n = L + d/(2n), the
    same → 1. F_n = WBIC = L + λ log n/n = 0.1 + 0.00691 = 0.10691 vs 0.0985 + 0.01382 = 0.11232 → 0;
    BIC = L + (d/2) log n/n, the same → 0."""
    n, L, d = 1000, [0.1, 0.0985], [2.0, 4.0]
    lam = [k / 2 for k in d]
    assert 0.1 + 1 / n > 0.0985 + 2 / n and 0.1 + math.log(n) / n < 0.0985 + 2 * math.log(n) / n
    got = _prefs(n, L, lam, lam, d)
    assert got == {"G_n": 1, "WAIC": 1, "AIC": 1, "F_n": 0, "WBIC": 0, "BIC": 0}
    assert set(got) == set(gen.CRITERIA)


def test_random_regular_models_always_pair_aic_with_waic_and_bic_with_free_energy():
    """With λ = ν = d/2 the AIC value is L + d/(2n) = the WAIC value and BIC is F_n, for any models."""
    rng = np.random.default_rng(15)
    for _ in range(200):
        M = int(rng.integers(2, 6))
        d = rng.integers(1, 20, size=M).astype(float)
        L = rng.uniform(0, 0.05, size=M)
        n = float(rng.choice([50, 500, 5000, 50000]))
        got = _prefs(n, L, d / 2, d / 2, d)
        assert got["AIC"] == got["WAIC"] == got["G_n"] and got["BIC"] == got["F_n"] == got["WBIC"]
        assert got["G_n"] == int(np.argmin(L + d / (2 * n))) and got["F_n"] == int(np.argmin(L + d / 2 * math.log(n) / n))


def test_a_singular_model_separates_aic_from_waic_and_bic_from_free_energy():
    """Model 0 regular: L = 0.1, d = 2, λ = ν = 1. Model 1 singular: L = 0.095, d = 10, λ = 1.5, ν = 1.
    n = 1000, log n / n = 0.0069078. By hand:
    G_n = WAIC: 0.1 + 0.001 = 0.1010 vs 0.095 + 0.0015 = 0.0965 → 1;
    AIC: 0.1 + (1 − 2 + 2)/n = 0.1010 vs 0.095 + (1.5 − 2 + 10)/n = 0.1045 → 0 (d overcounts);
    F_n = WBIC: 0.1 + 0.0069078 = 0.10691 vs 0.095 + 1.5 · 0.0069078 = 0.10536 → 1;
    BIC: 0.10691 vs 0.095 + 5 · 0.0069078 = 0.12954 → 0 (d/2 overcounts)."""
    n = 1000
    r = math.log(n) / n
    assert 0.095 + 0.0015 < 0.101 < 0.095 + 9.5 / n and 0.095 + 1.5 * r < 0.1 + r < 0.095 + 5 * r
    got = _prefs(n, [0.1, 0.095], [1.0, 1.5], [1.0, 1.0], [2, 10])
    assert got == {"G_n": 1, "WAIC": 1, "AIC": 0, "F_n": 1, "WBIC": 1, "BIC": 0}


def test_generalisation_and_model_selection_can_prefer_different_models():
    """Model 0: L = 0.1, λ = ν = 1 (d = 2); model 1: L = 0.099, λ = ν = 1.5 (d = 3, regular).
    G_n: 0.101 vs 0.1005 → 1; F_n at n = 1000: 0.10691 vs 0.099 + 0.01036 = 0.10936 → 0. At n = 10⁶ the
    smaller L wins both: G_n 0.100001 vs 0.0990015, F_n 0.1000138 vs 0.0990207 → 1."""
    args = ([0.1, 0.099], [1.0, 1.5], [1.0, 1.5], [2, 3])
    got = _prefs(1000, *args)
    assert (got["G_n"], got["F_n"]) == (1, 0)
    got = _prefs(10**6, *args)
    assert set(got.values()) == {1}


# ---------------------------------------------------------------------------- errors and warnings


@pytest.fixture(scope="module")
def llc_result():
    """A tiny real LLCResult: SGLD on the 1-D potential w², 2 chains of 50 steps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return llc.estimate_llc(lambda W: (W**2).sum(-1), w_star=torch.zeros(1, dtype=torch.float64), nbeta=10.0,
                                gamma=1.0, eps=0.01, sampler="sgld", n_chains=2, n_steps=50, check_gamma=False,
                                progress=False)


@pytest.mark.parametrize("fn", [gen.waic, gen.importance_loo, gen.psis_loo, gen.training_loss,
                                gen.functional_variance, gen.posterior_log_weights])
def test_an_llc_result_is_refused_with_the_reason(fn, llc_result):
    assert isinstance(llc_result, llc.LLCResult)
    with pytest.raises(TypeError, match=r"LLCResult.*localised.*tempered"):
        fn(llc_result)


@pytest.mark.parametrize("fn", [gen.waic, gen.importance_loo, gen.psis_loo])
def test_localised_draws_warn_at_the_callers_line_and_change_nothing(fn):
    ll = _f64(_loglik(_data(5), np.random.default_rng(16).normal(size=50)))
    with pytest.warns(RuntimeWarning, match="localised") as record:
        got = fn(ll, localised=True)
    assert record[0].filename == __file__
    expected = fn(ll)
    if fn is gen.psis_loo:
        got, expected = got[0], expected[0]
    assert float(got) == float(expected)


_LL = np.random.default_rng(17).normal(size=(6, 4))
_NAN_LL = _LL.copy()
_NAN_LL[2, 1] = np.nan
_INF_LL = _LL.copy()
_INF_LL[0, 0] = math.inf


@pytest.mark.parametrize("fn", [gen.waic, gen.importance_loo, gen.training_loss, gen.functional_variance,
                                gen.posterior_log_weights, lambda ll, *a: gen.psis_loo(ll)])
@pytest.mark.parametrize(
    "args, match",
    [((np.zeros(5),), r"log_lik must be 2-D"),
     ((np.zeros((5, 3, 1)),), r"log_lik must be 2-D"),
     ((np.zeros((1, 3)),), r"log_lik must have shape \(S, n\) with S >= 2"),
     ((np.zeros((5, 0)),), r"log_lik must have shape"),
     ((_NAN_LL,), r"log_lik must be finite"),
     ((_INF_LL,), r"log_lik must be finite"),
     (("draws",), r"log_lik must be array-like")],
)
def test_bad_log_lik_raises_naming_it(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


@pytest.mark.parametrize("fn", [gen.waic, gen.importance_loo, gen.training_loss, gen.functional_variance,
                                gen.posterior_log_weights])
@pytest.mark.parametrize(
    "log_weights, match",
    [(np.zeros(5), r"log_weights must have one entry per row of log_lik \(6\), got 5"),
     (np.zeros((6, 1)), r"log_weights must be 1-D"),
     (np.array([0, 0, np.nan, 0, 0, 0]), r"log_weights must be finite or -inf"),
     (np.array([0, 0, np.inf, 0, 0, 0]), r"log_weights must be finite or -inf"),
     (np.full(6, -np.inf), r"log_weights must have a finite entry")],
)
def test_bad_log_weights_raise_naming_them(fn, log_weights, match):
    with pytest.raises(ValueError, match=match):
        fn(_LL, log_weights)


@pytest.mark.parametrize("fn", [gen.waic, gen.importance_loo])
@pytest.mark.parametrize("beta", [0.0, -1.0, math.nan, math.inf, "one"])
def test_bad_beta_raises_naming_it(fn, beta):
    with pytest.raises(ValueError, match="beta must be a positive finite number"):
        fn(_LL, None, beta)


def test_zero_weight_grid_points_are_allowed():
    """A log weight of −inf is a grid point of zero posterior weight: the same as dropping the row."""
    w = np.array([0.0, -math.inf, 0.5, 1.0, -0.2, 0.1])
    keep = np.isfinite(w)
    for fn in (gen.waic, gen.importance_loo, gen.training_loss, gen.functional_variance):
        assert float(fn(_LL, w)) == pytest.approx(float(fn(_LL[keep], w[keep])), rel=1e-13)


@pytest.mark.parametrize(
    "log_prior, log_lik, match",
    [(np.zeros(6), np.zeros(6), r"log_lik must be 2-D"),
     (np.zeros(5), _LL, r"log_prior must have one entry per row of log_lik \(6\), got 5"),
     (np.zeros((6, 1)), _LL, r"log_prior must be 1-D"),
     (np.zeros(6), _NAN_LL, r"log_lik must be finite"),
     (np.array([0, np.nan, 0, 0, 0, 0]), _LL, r"log_prior must be finite or -inf"),
     (np.full(6, -np.inf), _LL, r"log_prior must have a finite entry")],
)
def test_exact_loo_grid_bad_input_raises_naming_it(log_prior, log_lik, match):
    with pytest.raises(ValueError, match=match):
        gen.exact_loo_grid(log_prior, log_lik)


@pytest.mark.parametrize(
    "a, log_weights, match",
    [(np.zeros((2, 2)), np.zeros(2), r"a must be 1-D"),
     (np.array([0.1, np.nan]), np.zeros(2), r"a must be finite"),
     (np.zeros(3), np.zeros(2), r"log_weights must have one entry per point of a \(3\), got 2"),
     (np.zeros(2), np.zeros((2, 1)), r"log_weights must be 1-D"),
     (np.zeros(2), np.array([0.0, np.nan]), r"log_weights must be finite or -inf"),
     (np.zeros(2), np.full(2, -np.inf), r"log_weights must have a finite entry")],
)
def test_predictive_kl_bad_input_raises_naming_it(a, log_weights, match):
    with pytest.raises(ValueError, match=match):
        gen.predictive_kl(a, log_weights)


@pytest.mark.parametrize(
    "args, match",
    [((0, [0.1, 0.2], [1, 1], [1, 1], [2, 2]), r"n must be a positive finite number"),
     ((100, [0.1, 0.2], [1, 1], [1, 1], [2, 2, 3]), r"L, lam, nu and d must have one entry per model"),
     ((100, [[0.1, 0.2]], [1, 1], [1, 1], [2, 2]), r"L must be 1-D"),
     ((100, [0.1, np.nan], [1, 1], [1, 1], [2, 2]), r"L must be finite"),
     ((100, [0.1, 0.2], [1, np.nan], [1, 1], [2, 2]), r"lam must be finite"),
     ((100, [0.1, 0.2], [1, 1], [np.inf, 1], [2, 2]), r"nu must be finite")],
)
def test_criterion_preferences_bad_input_raises_naming_it(args, match):
    with pytest.raises(ValueError, match=match):
        _prefs(*args)
