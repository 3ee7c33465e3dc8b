# %% [markdown]
# # Lesson 7: Generalisation, WAIC and the singular fluctuation
#
# Lesson 1 promised that the learning coefficient $\lambda$ governs how well a Bayesian model generalises. This lesson
# keeps the promise. The free energy (lessons 2–3) says which model the posterior prefers; the **generalisation
# loss** says how well the Bayes predictive distribution does on new data. Both are governed by $\lambda$, and
# the second is half of Watanabe's theory: the half that matters when a model is used to predict. You will
#
# * compute the Bayes training loss, the functional variance and **WAIC** from a matrix of pointwise
#   log-likelihoods;
# * compute the Bayes generalisation loss of a regression's predictive exactly, and measure $\lambda$ a third way:
#   as $n$ times the expected generalisation gap, on a regular and on a singular model;
# * check Watanabe's **equation of state**, which ties the gap between generalisation and training to the
#   singular fluctuation $\nu$;
# * compute leave-one-out cross-validation from the same draws, exactly on a grid and by importance sampling, and
#   see where it and WAIC part;
# * judge which criterion (AIC, BIC, WAIC, WBIC, the free energy) estimates what, where they disagree.
#
# All quantities are in the form of Watanabe (2010, "Asymptotic equivalence of Bayes cross validation and widely
# applicable information criterion in singular learning theory", *JMLR* 11:3571–3594) and *Mathematical Theory of
# Bayesian Statistics* (2018). As before, each exercise is a function you write in the cell marked
# `# YOUR CODE HERE`; the demonstrations after it run yours.

# %% [setup]
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

from slt_lessons import generalisation, llc, potentials
from slt_lessons.checks import check, yours
from slt_lessons.course import FAST, FULL
from slt_lessons.device import default_dtype, generator, get_device
from slt_lessons.validation import as_tensor, require_finite, require_ndim, require_positive  # argument checks

device = get_device()
dtype = default_dtype(device)
torch.set_default_dtype(dtype)
print("tensors live on", device, "| dtype:", dtype, "| fast mode:", FAST, "| full mode:", FULL)

# %% [markdown]
# ## 1. Training loss, functional variance, WAIC
#
# Data $X_1, \dots, X_n$ from a true distribution $q$; a model $p(x \mid w)$; the posterior at inverse temperature
# $\beta$, $p_\beta(w \mid X) \propto \varphi(w)\prod_i p(X_i \mid w)^\beta$ ($\beta = 1$ is the ordinary posterior), with
# expectation $E_w$. The **Bayes predictive** is $p^*(x) = E_w[p(x \mid w)]$, and
#
# * the **generalisation loss** $G_n = -E_{X \sim q}[\log p^*(X)]$: how well the predictive does on new data;
# * the **training loss** $T_n = -\frac1n\sum_i \log p^*(X_i)$: how well it does on the data it has seen;
# * the **functional variance** $V_n = \sum_i \mathrm{Var}_w[\log p(X_i \mid w)]$: how much the posterior's draws
#   disagree about each data point;
# * **WAIC** $W_n = T_n + \beta V_n/n$.
#
# **Theorem** (Watanabe 2010, Theorem 1; 2018, chapter 3; for a realisable model, regular or singular, under his
# fundamental conditions). $E[W_n] = E[G_n] + o(1/n)$: WAIC, computed from the training data alone, estimates the
# generalisation loss. In a realisable model at $\beta = 1$, $E[G_n] = L(w_0) + \lambda/n + o(1/n)$ (Watanabe 2009,
# *Algebraic Geometry and Statistical Learning Theory*, Theorem 1.2), with $L(w_0) = -E_q[\log q(X)]$, the entropy.
#
# In practice the posterior comes as $S$ draws $w_s$ (a sampler, equal weights) or as grid points with weights
# $\pi_s$. Everything above needs only the matrix of **pointwise log-likelihoods** `log_lik[s, i]` $= \log p(X_i \mid
# w_s)$, shape $(S, n)$, and the draws' log weights. Expectations over the posterior are weighted sums over the rows:
# $E_w[f] = \sum_s \pi_s f(w_s)$, $\pi_s = e^{\ell_s}/\sum_t e^{\ell_t}$ for the given `log_weights` $\ell_s$ (which may
# be off by a constant), and $\pi_s = 1/S$ without them. `generalisation.posterior_log_weights(log_lik, log_weights)`
# returns $\log\pi_s$, normalised, and checks the arguments: it raises a `ValueError` naming the argument for a
# `log_lik` that is not a finite 2-D tensor with at least two rows, or `log_weights` of the wrong length. Exercises 1
# and 2 call it first, and so raise the same errors.
#
# **Exercise 1.** Return $T_n$ (a 0-d tensor). $\log p^*(X_i) = \log\sum_s \pi_s\, p(X_i \mid w_s)$: take it in logs
# (`torch.logsumexp`), since a log-likelihood of $-800$ makes $p$ underflow to 0.

# %% [exercise] generalisation.training_loss points=1

# %% [markdown]
# **Exercise 2.** Return $V_n$ (a 0-d tensor). $\mathrm{Var}_w$ is the posterior's variance, weighted by $\pi_s$ and
# divided by nothing else (not the unbiased $S - 1$ form: Watanabe's definition). Compute it centred,
# $\sum_s \pi_s (f_s - \bar f)^2$ with $\bar f = \sum_s \pi_s f_s$: the form $E[f^2] - E[f]^2$ loses every digit when the
# log-likelihoods are large and nearly equal.

# %% [exercise] generalisation.functional_variance points=2

# %% [markdown]
# **Exercise 3.** Return WAIC $= T_n + \beta V_n/n$ (a 0-d tensor). First call
# `log_lik, log_weights = generalisation.check_draws(log_lik, log_weights, localised)`: it checks the arguments and
# returns them as tensors, refuses the result of an LLC estimate with a `TypeError` and warns when `localised=True`
# (both explained in section 5). Call your earlier
# functions through their module (`generalisation.training_loss`, `generalisation.functional_variance`: the course's
# versions, so that this exercise is graded on its own).

# %% [exercise] generalisation.waic points=1

# %% [markdown]
# ## 2. Measuring $\lambda$ a third way
#
# Two models of a regression, one parameter $w$ with a uniform prior on $[-2, 2]$, inputs $x \sim N(0, 1)$ and noise of
# variance 1:
#
# * the **regular** model $y = w x + \varepsilon$: $K(w) = w^2/2$, $\lambda = 1/2 = d/2$;
# * the **singular** model $y = w^2 x + \varepsilon$: $K(w) = w^4/2$, $\lambda = 1/4$, multiplicity $m = 1$, while $d/2 = 1/2$.
#
# The data come from $w_0 = 0$: $y = \varepsilon$. Writing $a = w$ or $w^2$, the posterior on a grid of $w$ has
# log weights $a\,S_{xy} - a^2 S_{xx}/2$ with $S_{xx} = \sum_i x_i^2$, $S_{xy} = \sum_i x_i y_i$, and the predictive at
# input $x$ is the mixture $p^*(y \mid x) = \sum_s \pi_s N(y; a_s x, 1)$. Its generalisation gap is the
# Kullback–Leibler divergence of the predictive from the truth:
#
# $$G_n - L(w_0) = E_{x, y}\big[\log q(y \mid x) - \log p^*(y \mid x)\big]
#   = -E_{x, y}\Big[\log \sum_s \pi_s\, e^{a_s x y - a_s^2 x^2/2}\Big], \qquad x, y \sim N(0, 1)\ \text{independent}.$$
#
# One expectation over two standard normals: a **Gauss–Hermite** rule computes it to many digits.
# `numpy.polynomial.hermite_e.hermegauss(order)` gives nodes $z_k$ and weights $v_k$ for $\int f(z) e^{-z^2/2}dz$, so
# $E[f(Z)] \approx \sum_k (v_k/\sqrt{2\pi}) f(z_k)$; with the same rule in $x$ and in $y$ the double expectation is
# $\sum_{k,l} \tilde v_k \tilde v_l\, f(z_k, z_l)$.
#
# **Exercise 4.** Return $G_n - L(w_0)$ (a 0-d tensor in `a`'s dtype) for the posterior on the points `a` (1-D) with
# log weights `log_weights` (1-D, the same length, unnormalised, possibly $-\infty$), by that rule with `order` nodes in
# each variable. Raise a `ValueError` when the lengths differ.

# %% [exercise] generalisation.predictive_kl points=2

# %% [markdown]
# Now simulate. For many data sets of size $n$ from the truth, compute the grid posterior, your exact $G_n - L(w_0)$,
# and, from the pointwise log-likelihoods, your $T_n$, $V_n$ and WAIC. Watanabe's theorem says
# $n\,E[G_n - L(w_0)] \to \lambda$: $1/2$ for the regular model, $1/4$ for the singular one, although both have one
# parameter. The grid follows the posterior's width ($n^{-1/2}$ regular, $n^{-1/4}$ singular) so that it resolves it
# at every $n$.

# %%
kl_fn, T_fn, V_fn, waic_fn = yours(predictive_kl), yours(training_loss), yours(functional_variance), yours(waic)
ns = [10, 100, 1000] + ([10000] if FULL else [])
n_sets = 40 if FAST else (2000 if FULL else 200)
models = {"regular": (lambda w: w, 0.5, -0.5), "singular": (lambda w: w**2, 0.25, -0.25)}
rows = {}
for name, (a_of, lam, width_power) in models.items():
    for n in ns:
        g = generator(100 + n, "cpu")
        R = min(2.0, 10 * n**width_power)
        w = torch.linspace(-R, R, 401)
        a = a_of(w)
        gap, train, var, wa = [], [], [], []
        for _ in range(n_sets):
            x, y = torch.randn(n, generator=g), torch.randn(n, generator=g)
            log_lik = -0.5 * (y[None, :] - a[:, None] * x[None, :]) ** 2 - 0.5 * math.log(2 * math.pi)  # (S, n)
            log_w = log_lik.sum(1)  # uniform prior: the log posterior, up to a constant
            Ln_w0 = float((0.5 * y**2 + 0.5 * math.log(2 * math.pi)).mean())  # the training loss at the truth
            gap.append(n * float(kl_fn(a, log_w, 40)))
            train.append(n * (float(T_fn(log_lik, log_w)) - Ln_w0))
            var.append(float(V_fn(log_lik, log_w)))
            wa.append(n * (float(waic_fn(log_lik, log_w)) - Ln_w0))
        gap, train, var, wa = (torch.tensor(v) for v in (gap, train, var, wa))
        se = lambda t: float(t.std() / math.sqrt(len(t)))  # noqa: E731
        rows[name, n] = dict(gap=float(gap.mean()), gap_se=se(gap), train=float(train.mean()),
                             two_nu=float((gap - train).mean()), two_nu_se=se(gap - train),
                             V=float(var.mean()), V_se=se(var), waic=float(wa.mean()), waic_se=se(wa), lam=lam)
print(f"{n_sets} data sets per row; n·E[...] ± its SE over the data sets (L = L(w0) the entropy, Ln(w0) the training "
      "loss at the truth)")
print(f"{'model':>9} {'n':>6} {'n E[G - L]':>14} {'lambda':>7} {'d/2':>5} {'n E[T - Ln(w0)]':>16} "
      f"{'n E[G - T]':>14} {'E[V_n]':>14} {'n E[WAIC - Ln(w0)]':>19}")
for (name, n), r in rows.items():
    print(f"{name:>9} {n:6d} {r['gap']:8.3f} ± {r['gap_se']:.3f} {r['lam']:7.2f} {0.5:5.2f} {r['train']:16.3f} "
          f"{r['two_nu']:8.3f} ± {r['two_nu_se']:.3f} {r['V']:8.3f} ± {r['V_se']:.3f} {r['waic']:12.3f} ± {r['waic_se']:.3f}")
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, color in (("regular", "C0"), ("singular", "C1")):
    ax.errorbar(ns, [rows[name, n]["gap"] for n in ns], yerr=[2 * rows[name, n]["gap_se"] for n in ns], fmt="o-",
                color=color, label=f"{name}: n E[G_n - L(w0)]")
    ax.axhline(models[name][1], color=color, ls=":", label=f"{name}: λ = {models[name][1]}")
ax.set(xscale="log", xlabel="n", ylabel="n E[G_n − L(w0)]", ylim=(0, 0.8), title="λ a third way (both models: d = 1)")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Read the table (its rows are the numbers; the error bars are twice the SE). The regular model's $n\,E[G_n - L(w_0)]$
# is within its noise of $1/2$ at every $n$. The singular model's is within its noise of $1/4$ from $n = 100$ on (at
# $n = 10$ it is lower: the $o(1/n)$ terms), and far below $d/2 = 1/2$ at every $n$: the learning coefficient, not the
# number of parameters, sets how fast the Bayes predictive approaches the truth. This is the same $\lambda$ that
# lessons 2–3 read off the free energy and lesson 5 estimated with SGLD, measured a third way: by prediction.
#
# The other columns are the **equation of state** (Watanabe 2010; 2018, chapter 3): at $\beta = 1$,
# $E[G_n] - E[T_n] = 2\nu/n + o(1/n)$ and $E[V_n] \to 2\nu$, with $\nu$ the **singular fluctuation**. So
# $n\,E[G_n - T_n]$ and $E[V_n]$ estimate the same $2\nu$: row by row they agree within three combined SEs. And WAIC,
# $T_n + V_n/n$, adds back what training underestimates: from $n = 100$ on, $n\,E[\mathrm{WAIC} - L_n(w_0)]$ agrees with
# $n\,E[G_n - L(w_0)]$ within three combined SEs (the training loss at the truth, $L_n(w_0)$, has expectation $L(w_0)$); at
# $n = 10$ the singular model's WAIC runs high. In a regular model $\nu = \lambda = d/2$, so $2\nu = d$, and WAIC is
# AIC ($T_n + d/n$ with the Bayes training loss): from $n = 100$ on, the regular rows' $E[V_n]$ is close to $d = 1$
# (at $n = 10$ it is lower). In the singular
# model $E[V_n]$ is below both $d = 1$ and $2\lambda = 1/2$: $\nu$ is an invariant of its own (Watanabe 2010), which here
# we only measure.
#
# A caution on the singular model: with multiplicity $m > 1$ (not this model) $n\,E[G_n - L(w_0)]$ falls short of
# $\lambda$ by about $(m - 1)/\log n$ at reachable $n$; with $m = 1$ the approach is faster.
#
# ## 3. Leave-one-out cross-validation
#
# Cross-validation estimates $G_n$ too: leave $X_i$ out, predict it from the rest, average:
# $C_n = -\frac1n\sum_i \log p(X_i \mid X_{-i})$. It needs no refitting: the posterior without $X_i$ is the full one
# reweighted by $p(X_i \mid w)^{-\beta}$, so
#
# $$p(X_i \mid X_{-i}) = \frac{E_w\big[p(X_i \mid w)^{1-\beta}\big]}{E_w\big[p(X_i \mid w)^{-\beta}\big]}$$
#
# (Watanabe 2010, eq. 7); at $\beta = 1$, $1/E_w[1/p(X_i \mid w)]$, the harmonic mean. On a grid, with the grid
# posterior's weights, this is *exact* LOO. From a sampler's draws it is importance sampling, and its weights
# $1/p(X_i \mid w_s)$ can be heavy-tailed where one data point pulls on the posterior: its variance can be infinite.
# **Pareto-smoothed importance sampling** (PSIS; Vehtari, Gelman & Gabry 2017, *Statistics and Computing*
# 27:1413–1432; Vehtari et al. 2024, *JMLR* 25(72)) fits a generalised Pareto distribution to the largest weights and
# replaces them by its quantiles; its shape $\hat k$ says how far to trust each term ($\hat k > 0.7$: not at all).
#
# **Exercise 5.** Return $C_n$ (a 0-d tensor) by the formula above, at inverse temperature `beta`, with each expectation
# a `torch.logsumexp` over the rows. Call `generalisation.check_draws(log_lik, log_weights, localised)` first.

# %% [exercise] generalisation.importance_loo points=2

# %% [markdown]
# One data set of the regular model at $n = 20$ with an influential outlier ($x_1 = 2.5$, $y_1 = 5$), three ways: exactly on the grid
# (the library's `exact_loo_grid`, from the prior and the likelihood: no importance weights), by your importance
# sampling with the grid's weights (it must agree to round-off), and from 4000 i.i.d. draws of the grid posterior,
# by your importance sampling and by the library's PSIS. Beside them WAIC, and the generalisation loss itself:

# %%
loo_fn = yours(importance_loo)
g = generator(7, "cpu")
n = 20
x, y = torch.randn(n, generator=g), torch.randn(n, generator=g)
x[0], y[0] = 2.5, 5.0
w = torch.linspace(-2, 2, 2001)
a = w
log_lik = -0.5 * (y[None, :] - a[:, None] * x[None, :]) ** 2 - 0.5 * math.log(2 * math.pi)
log_prior = torch.full_like(w, -math.log(len(w)))
log_w = log_prior + log_lik.sum(1)
exact = float(generalisation.exact_loo_grid(log_prior, log_lik))
on_grid = float(loo_fn(log_lik, log_w))
idx = torch.multinomial(torch.softmax(log_w, 0), 4000, replacement=True, generator=g)
draws = log_lik[idx]
is_draws = float(loo_fn(draws, None))
psis, k_hat = generalisation.psis_loo(draws)
L_true = 0.5 * (1 + math.log(2 * math.pi))  # the entropy of N(0, 1): L(w0) for y = noise
G = L_true + float(kl_fn(a, log_w, 60))  # the outlier is in the data, not in the truth
print(f"exact LOO on the grid {exact:.6f}; your importance LOO with the grid's weights {on_grid:.6f} "
      f"(difference {on_grid - exact:.1e})")
print(f"from 4000 draws: your importance LOO {is_draws:.6f} (off by {is_draws - exact:+.1e}), PSIS-LOO {float(psis):.6f} "
      f"(off by {float(psis) - exact:+.1e}); Pareto k of the outlier {float(k_hat[0]):.2f}, "
      f"largest k of the others {float(k_hat[1:].max()):.2f}")
waic_grid = float(waic_fn(log_lik, log_w))
print(f"WAIC {waic_grid:.6f} (on the grid; off exact LOO by {waic_grid - exact:+.1e}); generalisation loss "
      f"G_n = {G:.6f} (the entropy L(w0) = {L_true:.6f} plus your KL)")

# %% [markdown]
# What the numbers show. On the grid your importance LOO *is* exact LOO, to round-off. From draws, the outlier's term
# rests on the few draws that fit it: its Pareto $\hat k$ is above 0.7 and the others' are well below (printed), so
# importance sampling is unreliable for that one term, and both estimates from draws are off exact LOO by more than
# round-off (PSIS a little less here). WAIC and LOO estimate the same $E[G_n]$ and agree asymptotically (Watanabe
# 2010, Theorem 2), but at small $n$ with an influential point they differ: here by more than either draw-based LOO
# does. And none of them equals this data set's $G_n$: they estimate its *expectation* over data sets, and this data
# set's outlier is not in the truth (the printed $G_n$ is the loss on new data from the truth, which has no
# outliers).
#
# ## 4. Which criterion estimates what
#
# Each criterion is an estimate of something, and in a singular model they come apart. To leading order, per sample,
# for a model whose best loss is $L$ (with $\lambda$, $\nu$ and $d$ parameters):
#
# | criterion | expected value per sample | estimates | use it to |
# |---|---|---|---|
# | $G_n$ | $L + \lambda/n$ | itself | predict new data |
# | WAIC | $E[T_n] + 2\nu/n = L + \lambda/n$ | $E[G_n]$ (theorem) | predict new data |
# | AIC $= T_n + d/n$ | $L + (\lambda - 2\nu + d)/n$ | $E[G_n]$ if regular | (regular models only) |
# | $F_n/n$ | $L + \lambda \log n/n$ | the free energy | find the model that generated the data |
# | WBIC $/n$ | $L + \lambda\log n/n$ | $F_n$ (theorem; Watanabe 2013) | find the model that generated the data |
# | BIC $/n$ | $L + (d/2)\log n/n$ | $F_n$ if regular | (regular models only) |
#
# Prediction and identification are different questions: for prediction a slightly wrong but simple model can be
# better at small $n$; for identification the free energy is consistent (it picks the true model, the simplest that
# realises $q$, as $n \to \infty$), while WAIC need not be.
#
# **Exercise 6.** Return the index of the model each criterion prefers (the smallest expected value in the table),
# for models with losses `L`, learning coefficients `lam`, singular fluctuations `nu` and parameter counts `d` (1-D
# tensors, one entry per model) at sample size `n`: a tuple of six ints in the order `generalisation.CRITERIA` =
# (G_n, WAIC, AIC, F_n, WBIC, BIC). Note that $\log n$ is the natural log. Ties go to the model listed first (as
# `argmin` does); the checks have none.

# %% [exercise] generalisation.criterion_preferences points=2

# %% [markdown]
# Two made-up settings, by your function: a regular pair of nested models, and a singular model with many parameters
# ($d = 40$, but $\lambda = 4$ and $\nu = 5$) against a small regular one ($d = 4$) that fits a little worse:

# %%
prefs = yours(criterion_preferences)
settings = {
    "regular, nested (d = 2 vs 6)": dict(L=[0.50, 0.497], lam=[1.0, 3.0], nu=[1.0, 3.0], d=[2.0, 6.0]),
    "regular d = 4 vs singular d = 40": dict(L=[0.500, 0.495], lam=[2.0, 4.0], nu=[2.0, 5.0], d=[4.0, 40.0]),
}
for label, s in settings.items():
    for n in (100, 1000, 5000, 100000):
        picks = prefs(n, *(torch.tensor(s[k], dtype=torch.float64) for k in ("L", "lam", "nu", "d")))
        print(f"{label:35s} n = {n:6d}: " + ", ".join(f"{c} -> {p}" for c, p in zip(generalisation.CRITERIA, picks)))

# %% [markdown]
# In the regular pair AIC agrees with WAIC and BIC with $F_n$, at every $n$: in a regular model they are the same
# criteria. Prediction and identification still part there: at $n = 1000$ the larger model predicts better, while
# the free energy still prefers the smaller one. In the singular setting AIC and BIC part from WAIC and $F_n$: they
# charge the singular model for all $d = 40$ parameters, while its price is $\lambda$ (to predict) or $\lambda\log n$
# (to identify). At $n = 1000$ WAIC already picks it and AIC does not; at $n = 5000$ the free energy picks it and BIC
# does not; by $n = 10^5$ all agree.
#
# ## 5. Which draws: never the LLC's
#
# WAIC and LOO are about the posterior at the $\beta$ you pass, *whole*. The LLC machinery of lesson 5 samples
# something else: a tempered posterior at $n\beta = n/\log n$, *localised* by $\gamma$ at $w^*$, with SGLD, whose step
# size inflates the posterior variance, and so $V_n$ (lesson 4's stationary variance). So:
#
# * compute WAIC and LOO from an exact grid posterior, or from a Metropolis-adjusted sampler (MALA, HMC: exact at any
#   step) at the $\beta$ you pass, without localisation;
# * pass the same $\beta$ to `waic` and `importance_loo` (the formulas above have it);
# * `check_draws` refuses an LLC result outright, and warns when told `localised=True`:

# %%
problem = potentials.normal_crossing(n=100)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    r = llc.estimate_llc(**problem.kwargs(), nbeta=20.0, gamma=1.0, eps=1e-3, n_steps=20, burn_in=5, n_chains=2,
                         check_gamma=False, progress=False)
try:
    yours(waic)(r)
except TypeError as e:
    print("TypeError:", str(e)[:160], "...")

# %% [markdown]
# ## Summary
#
# * From pointwise log-likelihoods: $T_n$, $V_n$, WAIC $= T_n + \beta V_n/n$, and importance-sampling LOO; all are
#   weighted sums over draws, taken in logs.
# * $E[G_n] = L(w_0) + \lambda/n$: $\lambda$, not $d/2$, sets how fast the Bayes predictive generalises; you measured
#   it by prediction, on a regular and a singular model.
# * The equation of state $E[G_n] - E[T_n] = 2\nu/n$, $E[V_n] \to 2\nu$: WAIC adds back what training misses; regular
#   models have $\nu = \lambda = d/2$ and WAIC is AIC.
# * LOO from the same draws: exact on a grid; from draws, smooth the weights (PSIS) and read $\hat k$.
# * To predict, use $G_n$'s estimates (WAIC, LOO); to identify the model, the free energy (or WBIC); AIC and BIC
#   count parameters, which in a singular model is the wrong price.

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l7_generalisation/l7_generalisation.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l7_generalisation.ipynb` in this folder works too).
