"""Generalisation: the Bayes generalisation and training losses, WAIC, leave-one-out cross-validation.

Everything here is in the form of Watanabe (2010, "Asymptotic equivalence of Bayes cross validation
and widely applicable information criterion in singular learning theory", *JMLR* 11:3571–3594;
and *Mathematical Theory of Bayesian Statistics*, 2018, chapters 3 and 8). For a sample
``X_1..X_n`` and the posterior at inverse temperature ``β``,
``p_β(w | X) ∝ φ(w) Π_i p(X_i | w)^β`` (``β = 1``: the ordinary posterior), write ``E_w`` for its
expectation. Then

* the **Bayes generalisation loss** ``G_n = −E_X[log E_w p(X | w)]``: the expected −log of the
  predictive density on new data; ``E[G_n] = L(w₀) + λ/n + o(1/n)`` in a realisable model at
  ``β = 1`` (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*, Theorem 1.2);
* the **Bayes training loss** ``T_n = −(1/n) Σ_i log E_w p(X_i | w)`` (:func:`training_loss`);
* the **functional variance** ``V_n = Σ_i Var_w[log p(X_i | w)]`` (:func:`functional_variance`);
* **WAIC** ``W_n = T_n + β V_n / n`` (:func:`waic`), with ``E[W_n] = E[G_n] + o(1/n)`` whether or
  not the model is regular (Watanabe 2010, Theorem 1);
* the **equation of state** ``E[G_n] − E[T_n] = 2ν/n + o(1/n)`` at ``β = 1``, ``ν`` the *singular
  fluctuation*, ``ν = λ = d/2`` in a regular model (where WAIC reduces to AIC, ``T_n + d/n``);
* **leave-one-out cross-validation** ``C_n = −(1/n) Σ_i log p(X_i | X_{−i})``, from the same draws by
  importance sampling (:func:`importance_loo`), Pareto-smoothed (:func:`psis_loo`; Vehtari,
  Gelman & Gabry 2017, *Statistics and Computing* 27:1413–1432; Vehtari, Simpson, Gelman, Yao &
  Gabry 2024, *JMLR* 25(72)), or exactly on a grid.

**Inputs.** A matrix ``log_lik`` of pointwise log-likelihoods, shape ``(S, n)``: row ``s`` is
``log p(X_i | w_s)`` for draw (or grid point) ``w_s``. Draws from a sampler carry equal weights;
a grid posterior passes ``log_weights`` ``(S,)``, the log of each point's posterior weight (any
constant: they are normalised here). All losses are per sample, in nats, with Watanabe's sign:
ArviZ's ``elpd_waic``/``elpd_loo`` are ``−n`` times :func:`waic`/:func:`psis_loo`.

**Not for LLC draws.** The LLC machinery samples a *tempered* (``nβ = n/log n``) and *localised*
(``γ``) posterior, with SGLD, whose step size inflates ``V_n``. WAIC and LOO need draws of the
posterior at the ``β`` you pass, without localisation: an exact grid, or a Metropolis-adjusted
sampler (MALA, HMC) at that ``β``. The functions refuse an :class:`~slt_lessons.llc.LLCResult` and
warn when told the draws are localised.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from slt_lessons import generalisation  # exercises call each other through their module
from slt_lessons.validation import as_tensor, require_finite, require_ndim, require_positive

__all__ = [
    "check_draws",
    "check_log_weights",
    "posterior_log_weights",
    "training_loss",
    "functional_variance",
    "waic",
    "importance_loo",
    "psis_loo",
    "pareto_smooth",
    "exact_loo_grid",
    "predictive_kl",
    "criterion_preferences",
    "CRITERIA",
]


def check_draws(log_lik, log_weights, localised=False):
    """``(log_lik, log_weights)`` checked: ``log_lik`` a finite ``(S, n)`` tensor (``S >= 2``), ``log_weights``
    None or :func:`check_log_weights`. Refuses an LLC result (TypeError, with the reason) and warns
    (RuntimeWarning) when ``localised`` says the draws come from a localised posterior."""
    if type(log_lik).__name__ == "LLCResult":
        raise TypeError(
            "log_lik is an LLCResult: its draws come from the localised (gamma), tempered (nbeta = n/log n) "
            "posterior of the LLC estimator, sampled by SGLD, and hold no pointwise log-likelihoods. WAIC and "
            "LOO need log p(X_i | w_s) for draws of the posterior at the beta you pass, without localisation: "
            "an exact grid, or MALA/HMC at that beta")
    if localised:
        warnings.warn("the draws are localised (a gamma term pulls them to w*): WAIC and LOO assume draws of the "
                      "whole posterior at the given beta, so the values are biased", RuntimeWarning, stacklevel=3)
    log_lik = require_finite("log_lik", require_ndim("log_lik", as_tensor("log_lik", log_lik), 2))
    if log_lik.shape[0] < 2 or log_lik.shape[1] < 1:
        raise ValueError(f"log_lik must have shape (S, n) with S >= 2 draws and n >= 1 data points, "
                         f"got {tuple(log_lik.shape)}")
    if log_weights is not None:
        log_weights = generalisation.check_log_weights("log_weights", log_weights, log_lik, "row of log_lik")
    return log_lik, log_weights


def check_log_weights(name, value, like, per):
    """A 1-D vector of log weights, one per ``like.shape[0]`` (``per`` says of what), finite or −inf
    (a point of zero weight), with at least one finite entry (else every normalised weight is NaN)."""
    t = require_ndim(name, as_tensor(name, value, dtype=like.dtype, device=like.device), 1)
    if t.shape[0] != like.shape[0]:
        raise ValueError(f"{name} must have one entry per {per} ({like.shape[0]}), got {t.shape[0]}")
    if bool(torch.isnan(t).any()) or bool((t == math.inf).any()):
        raise ValueError(f"{name} must be finite or -inf (a point of zero weight)")
    if not bool(torch.isfinite(t).any()):
        raise ValueError(f"{name} must have a finite entry: all {t.shape[0]} points have zero weight")
    return t


def posterior_log_weights(log_lik, log_weights=None):
    """The normalised log weights ``log π_s`` of the draws, ``(S,)``: ``−log S`` each without ``log_weights``."""
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights)
    S = log_lik.shape[0]
    if log_weights is None:
        return torch.full((S,), -math.log(S), dtype=log_lik.dtype, device=log_lik.device)
    return log_weights - torch.logsumexp(log_weights, 0)


def training_loss(log_lik, log_weights=None):
    """The Bayes training loss ``T_n = −(1/n) Σ_i log E_w[p(X_i | w)]`` (a 0-d tensor).

    ``E_w[p(X_i | w)] = Σ_s π_s p(X_i | w_s)`` with the draws' weights ``π_s`` (equal for draws of a
    sampler, the grid posterior's for a grid); in logs, ``log Σ_s exp(log π_s + log p(X_i | w_s))``
    (``torch.logsumexp``: a log-likelihood of −800 underflows ``exp``). Watanabe (2010, eq. 3).
    """
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)
    log_lik = as_tensor("log_lik", log_lik).to(log_pi)
    return -torch.logsumexp(log_pi[:, None] + log_lik, dim=0).mean()


def functional_variance(log_lik, log_weights=None):
    """The functional variance ``V_n = Σ_i Var_w[log p(X_i | w)]`` (a 0-d tensor).

    ``Var_w[f] = E_w[f²] − E_w[f]² = E_w[(f − E_w f)²]`` under the draws' weights ``π_s`` (the
    posterior's variance, not the unbiased sample variance: Watanabe's definition, and ArviZ's
    ``p_waic``), computed centred, which is exact where ``E[f²] − E[f]²`` cancels.
    Watanabe (2010, eq. 4).
    """
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)
    log_lik = as_tensor("log_lik", log_lik).to(log_pi)
    pi = log_pi.exp()[:, None]
    mean = (pi * log_lik).sum(0)
    return (pi * (log_lik - mean) ** 2).sum(0).sum()


def waic(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """WAIC ``W_n = T_n + β V_n / n`` (a 0-d tensor), per sample, for draws of the posterior at ``β``.

    ``T_n`` = :func:`training_loss`, ``V_n`` = :func:`functional_variance`. ``E[W_n] = E[G_n] + o(1/n)``
    for the Bayes generalisation loss ``G_n``, regular or singular (Watanabe 2010, Theorem 1;
    the ``β`` form is his eq. 8). In a regular model ``V_n → d`` and WAIC is AIC. ``localised=True``
    says the draws come from a localised posterior, and warns. ArviZ's ``elpd_waic`` is ``−n W_n``
    (at ``β = 1``).
    """
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
    beta = require_positive("beta", beta)
    n = log_lik.shape[1]
    return (generalisation.training_loss(log_lik, log_weights)
            + beta * generalisation.functional_variance(log_lik, log_weights) / n)


def importance_loo(log_lik, log_weights=None, beta=1.0, *, localised=False):
    """Leave-one-out cross-validation by importance sampling from the full posterior (a 0-d tensor).

    ``C_n = −(1/n) Σ_i log p(X_i | X_{−i})``. The posterior without ``X_i`` is the full one reweighted by
    ``p(X_i | w)^{−β}``, so (Watanabe 2010, eq. 7)

        p(X_i | X_{−i}) = E_w[p(X_i | w)^{1−β}] / E_w[p(X_i | w)^{−β}],

    at ``β = 1`` the harmonic mean ``1 / E_w[1/p(X_i | w)]``. Each expectation is a ``logsumexp`` over
    the draws. On a grid (``log_weights`` the grid posterior's) this is exact LOO to round-off; from
    sampler draws its variance can be infinite (the weights ``1/p`` are heavy-tailed where one
    point is influential): :func:`psis_loo` smooths them.
    """
    log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)
    beta = require_positive("beta", beta)
    log_pi = generalisation.posterior_log_weights(log_lik, log_weights)[:, None]
    log_num = torch.logsumexp(log_pi + (1 - beta) * log_lik, dim=0)
    log_den = torch.logsumexp(log_pi - beta * log_lik, dim=0)
    return -(log_num - log_den).mean()


def _gpd_fit(x):
    """Generalized Pareto fit to exceedances ``x > 0`` (1-D, sorted ascending), ``(k, σ)``.

    Zhang & Stephens (2009, *Technometrics* 51:316–325): the profile likelihood of ``θ = −k/σ``
    averaged over a grid of ``m = 30 + ⌊√N⌋`` quantile-based candidates, weighted by their
    likelihoods; then ``k = mean log(1 − θ x)`` and ``σ = −k/θ``, and ``k`` is shrunk towards ½ by a
    weak prior worth 10 observations (Vehtari et al. 2024, Appendix C). Float64, numpy.
    """
    N = len(x)
    m = 30 + int(math.sqrt(N))
    j = np.arange(1, m + 1, dtype=float)
    quartile = x[int(N / 4 + 0.5) - 1]
    theta = 1 / x[-1] + (1 - np.sqrt(m / (j - 0.5))) / (3 * quartile)
    k = np.mean(np.log1p(-np.outer(theta, x)), axis=1)  # profile k for each θ
    log_lik = N * (np.log(-theta / k) - k - 1)
    w = 1 / np.exp(log_lik[None, :] - log_lik[:, None]).sum(axis=1)  # normalised likelihood weights
    keep = w >= 10 * np.finfo(float).eps
    theta, w = theta[keep], w[keep] / w[keep].sum()
    theta_hat = float(np.sum(theta * w))
    k_hat = float(np.mean(np.log1p(-theta_hat * x)))
    sigma = -k_hat / theta_hat
    return (N * k_hat + 10 * 0.5) / (N + 10), sigma


def pareto_smooth(log_ratios):
    """Pareto-smoothed log importance ratios and the shape ``k̂``, for one 1-D vector of ``S`` ratios.

    Vehtari et al. (2024, *JMLR* 25(72), Algorithm 1): the ``M = ⌈min(S/5, 3√S)⌉`` largest ratios are
    replaced by the expected order statistics of a generalized Pareto distribution fitted to their
    exceedances over the ``(M + 1)``-th largest (:func:`_gpd_fit`), then every ratio is truncated at
    the largest raw one. ``k̂ > 0.7`` says the importance sampling is unreliable (``k̂`` estimates how
    many moments the ratios have: ``1/k̂``). Returns ``(smoothed log ratios, k̂)``, unnormalised
    (shifted by the largest raw log ratio); with 4 or fewer tail points, no smoothing and ``k̂ = ∞``.
    """
    r = np.asarray(log_ratios, dtype=float).copy()
    S = r.size
    r -= r.max()
    order = np.argsort(r)
    M = int(math.ceil(min(S / 5.0, 3 * math.sqrt(S))))
    cut = max(r[order[-M - 1]], math.log(np.finfo(float).tiny))
    tail = np.nonzero(r > cut)[0]
    if len(tail) <= 4:
        return r, math.inf
    tail = tail[np.argsort(r[tail])]
    k, sigma = _gpd_fit(np.exp(r[tail]) - math.exp(cut))
    if math.isfinite(k) and sigma > 0:
        p = (np.arange(len(tail)) + 0.5) / len(tail)
        q = -np.log1p(-p) if abs(k) < np.finfo(float).eps else np.expm1(-k * np.log1p(-p)) / k
        r[tail] = np.log(sigma * q + math.exp(cut))
        r = np.minimum(r, 0.0)
    return r, k


def psis_loo(log_lik, *, pointwise=False, localised=False):
    """Pareto-smoothed importance-sampling LOO (PSIS-LOO) from equally weighted draws at ``β = 1``.

    For each ``i`` the raw log ratios are ``−log p(X_i | w_s)`` (the LOO weights of
    :func:`importance_loo`), smoothed by :func:`pareto_smooth`; then
    ``log p(X_i | X_{−i}) ≈ log Σ_s w̃_s p(X_i | w_s)`` with the normalised smoothed weights. Returns
    ``(C_n, k̂)``: the LOO loss per sample (a 0-d tensor; ``pointwise=True``: the ``(n,)`` terms
    ``−log p(X_i | X_{−i})``) and the ``(n,)`` Pareto shapes. ArviZ's ``az.loo`` (0.x) implements the
    same algorithm; its ``elpd_loo`` is ``−n C_n`` (tests/test_generalisation.py compares them on
    one matrix). For a grid posterior use :func:`importance_loo` with its weights: that is exact.
    """
    log_lik, _ = generalisation.check_draws(log_lik, None, localised)
    ll = log_lik.detach().cpu().double().numpy()
    terms, ks = np.empty(ll.shape[1]), np.empty(ll.shape[1])
    for i in range(ll.shape[1]):
        lw, ks[i] = pareto_smooth(-ll[:, i])
        lw -= np.logaddexp.reduce(lw)
        terms[i] = -np.logaddexp.reduce(lw + ll[:, i])
    terms_t = torch.as_tensor(terms, dtype=log_lik.dtype, device=log_lik.device)
    return (terms_t if pointwise else terms_t.mean()), torch.as_tensor(ks, dtype=log_lik.dtype)


def exact_loo_grid(log_prior, log_lik):
    """Exact LOO on a grid: ``C_n = −(1/n) Σ_i log p(X_i | X_{−i})`` for the posterior ``∝ φ Π p``.

    ``log_prior`` ``(S,)`` the log prior weight of each grid point (with the cell volume),
    ``log_lik`` ``(S, n)``. ``p(X_i | X_{−i}) = Z_n / Z_{n−i}`` with ``Z_{n−i} = Σ_s φ_s Π_{j≠i} p(X_j | w_s)``:
    one ``logsumexp`` per left-out point, the reference :func:`importance_loo` must match on a grid.
    """
    log_lik = require_finite("log_lik", require_ndim("log_lik", as_tensor("log_lik", log_lik), 2))
    log_prior = generalisation.check_log_weights("log_prior", log_prior, log_lik, "row of log_lik")
    total = log_prior + log_lik.sum(1)  # (S,)
    log_Z = torch.logsumexp(total, 0)
    log_Z_minus = torch.logsumexp(total[:, None] - log_lik, 0)  # (n,)
    return -(log_Z - log_Z_minus).mean()


def predictive_kl(a, log_weights, order=60):
    """``G_n − L(w₀)`` for the regression ``y = a(w)·x + ε``, ``x, ε ~ N(0, 1)``, when the truth is ``a = 0``.

    The posterior is given on points ``a_s = a(w_s)`` (``a`` ``(S,)``) with log weights ``log_weights``
    ``(S,)`` (any constant). The Bayes predictive is the mixture ``p*(y | x) = Σ_s π_s N(y; a_s x, 1)``,
    the truth ``q(y | x) = N(y; 0, 1)``, so

        G_n − L(w₀) = E_{x,y~q}[log q(y|x) − log p*(y|x)] = −E_{x,y}[log Σ_s π_s exp(a_s x y − a_s² x²/2)],

    the Kullback–Leibler divergence of the predictive from the truth. The expectation over two
    independent standard normals is a Gauss–Hermite rule (probabilists', ``order`` nodes in each of
    ``x`` and ``y``: ``numpy.polynomial.hermite_e.hermegauss``, weights divided by √(2π)), exact for
    polynomials of degree ``2·order − 1`` in each. Returns a 0-d tensor in ``a``'s dtype.
    """
    a = require_finite("a", require_ndim("a", as_tensor("a", a), 1))
    log_w = generalisation.check_log_weights("log_weights", log_weights, a, "point of a")
    log_pi = log_w - torch.logsumexp(log_w, 0)
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    z = torch.as_tensor(nodes, dtype=a.dtype, device=a.device)
    v = torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=a.dtype, device=a.device)
    x, y = z[:, None], z[None, :]  # (K, 1), (1, K)
    expo = a * (x * y)[..., None] - a**2 * (x**2)[..., None] / 2  # (K, K, S)
    log_mix = torch.logsumexp(log_pi + expo, dim=-1)  # (K, K)
    return -(v[:, None] * v[None, :] * log_mix).sum()


CRITERIA = ("G_n", "WAIC", "AIC", "F_n", "WBIC", "BIC")


def criterion_preferences(n, L, lam, nu, d):
    """Which model each criterion prefers, to leading order in ``1/n``, from each model's ``(L, λ, ν, d)``.

    ``L`` ``(M,)`` the models' smallest losses ``L(w₀)`` (per sample), ``lam`` their learning
    coefficients, ``nu`` their singular fluctuations, ``d`` their numbers of parameters; ``n`` the
    sample size. Each criterion's expected value, per sample (Watanabe 2010; 2018, chapter 8):

    * ``G_n`` (the Bayes generalisation loss, what predicting new data needs): ``L + λ/n``;
    * ``WAIC``: ``E[T_n] + 2ν/n`` with ``E[T_n] = L + (λ − 2ν)/n``, i.e. ``L + λ/n``, the same as ``G_n``;
    * ``AIC`` (the regular formula on the Bayes training loss, ``T_n + d/n``): ``L + (λ − 2ν + d)/n``;
    * ``F_n`` (the free energy, divided by ``n``; for finding the model that generated the data):
      ``L + λ log n / n``; ``WBIC`` estimates ``F_n``: the same;
    * ``BIC``: ``L + (d/2) log n / n``.

    Returns a tuple of six ints, one per criterion in the order of :data:`CRITERIA`
    (``G_n, WAIC, AIC, F_n, WBIC, BIC``): the index of the model with the smallest value. In a regular model ``λ = ν = d/2`` and AIC = WAIC, BIC = F_n; in a singular one they differ.
    """
    n = require_positive("n", n)
    L, lam, nu, d = (require_finite(k, require_ndim(k, as_tensor(k, v, dtype=torch.float64), 1))
                     for k, v in (("L", L), ("lam", lam), ("nu", nu), ("d", d)))
    if not L.shape == lam.shape == nu.shape == d.shape:
        raise ValueError("L, lam, nu and d must have one entry per model each")
    values = {
        "G_n": L + lam / n,
        "WAIC": L + lam / n,
        "AIC": L + (lam - 2 * nu + d) / n,
        "F_n": L + lam * math.log(n) / n,
        "WBIC": L + lam * math.log(n) / n,
        "BIC": L + d / 2 * math.log(n) / n,
    }
    return tuple(int(values[name].argmin()) for name in generalisation.CRITERIA)
