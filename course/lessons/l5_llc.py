# %% [markdown]
# # Lesson 5: Estimating the local learning coefficient
#
# Lesson 3 computed learning coefficients $\lambda$ exactly, for models small enough to integrate. Lesson 4
# built a sampler. This lesson puts them together: the **local learning coefficient** (LLC) of Lau, Furman,
# Wang, Murfet & Wei (2023, arXiv:2308.12108; AISTATS 2025), estimated with SGLD, first on models whose
# $\lambda$ we know exactly, then on a small neural network trained on real data. You will write
#
# * the temperature of the estimator and the estimate itself from SGLD loss traces;
# * the diagnostics that say how much an estimate is worth: autocovariance, effective sample size and
#   split $\hat R$.
#
# As before, each exercise is a function you write in the cell marked `# YOUR CODE HERE`, checked by the
# cell after it.

# %% [setup]
import math
import warnings

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from slt_lessons import diagnostics, llc, potentials, theory
from slt_lessons.checks import check
from slt_lessons.course import FAST
from slt_lessons.device import default_dtype, generator, get_device
from slt_lessons.validation import as_tensor, require_finite, require_ndim  # argument checks, as in the library

device = get_device()
dtype = default_dtype(device)
torch.set_default_dtype(dtype)
print("tensors live on", device, "| dtype:", dtype, "| fast mode:", FAST)

# %% [markdown]
# ## 1. From WBIC to the local learning coefficient
#
# Lesson 2's free energy expansion $F_n = nL_n(w_0) + \lambda\log n + O_p(\log\log n)$ has a cheap estimator:
# Watanabe's **WBIC** (2013, *JMLR* 14:867–897), the posterior mean of $nL_n$ at the inverse temperature
# $\beta^* = 1/\log n$,
#
# $$\mathrm{WBIC} = E^{\beta^*}_w[\,nL_n(w)\,] = nL_n(w_0) + \lambda\log n + O_p(\sqrt{\log n}) .$$
#
# Solving for $\lambda$: $\lambda \approx \big(\mathrm{WBIC} - nL_n(w_0)\big)/\log n = n\beta^*\big(E^{\beta^*}_w[L_n(w)] - L_n(w_0)\big)$.
# The LLC makes this **local**: replace $w_0$ by a point $w^*$ of interest (a trained network's parameters),
# and the posterior by the localized tempered posterior of lesson 4,
#
# $$\hat\lambda(w^*) = n\beta\,\Big(E_{w \mid w^*, \gamma}\big[L_n(w)\big] - L_n(w^*)\Big), \qquad
# p(w \mid w^*, \gamma) \propto \exp\!\Big(-n\beta L_n(w) - \frac\gamma2\lVert w - w^*\rVert^2\Big),$$
#
# with $n\beta = n/\log n$. It measures how fast the loss grows around $w^*$ *in volume*: a minimum where many
# directions are flat (a degenerate one) has small $\hat\lambda$, far below half the number of parameters.
#
# **Exercise 1.** Return the default $n\beta = n/\log n$ for a dataset of size `n` (an int $\ge 2$; the
# *dataset* size, never the minibatch size), as a Python float.

# %% [exercise] llc.default_nbeta points=1

# %% [markdown]
# ## 2. The loss, and the estimator step by step
#
# $L_n$ must be the **negative log-likelihood** per sample: that is what the free energy and WBIC are about.
# For regression with Gaussian noise of variance 1 it is, up to a constant that cancels in $\hat\lambda$,
#
# $$L_n(w) = \frac1n\sum_{i=1}^n \tfrac12\,\lVert y_i - f(x_i, w)\rVert^2 .$$
#
# A mean-squared error without the $\tfrac12$ is $2L_n$, and multiplying the loss by $c$ is the same as multiplying
# $n\beta$ by $c$: the limit $\lambda$ would not change, but every finite-$n$ estimate would. So say which loss you
# used, and scale $n\beta$ by $1/(2\sigma^2)$ for noise variance $\sigma^2$.
#
# **Exercise 2.** Return that loss for a batch: `output` and `y` of shape `(B, k)`; the squared norm sums over the
# `k` outputs and the result is the mean over the `B` samples (a 0-d tensor).

# %% [exercise] llc.gaussian_nll points=1

# %% [markdown]
# The estimator:
#
# 1. Start $C$ SGLD chains at $w^*$ (lesson 4), each running $T$ steps at $n\beta$, with localization $\gamma$.
# 2. Record the loss $L(w_t)$ at every step: `losses`, shape `(C, T)`.
# 3. Drop the first `burn_in` steps of each chain (it starts at $w^*$, the bottom of the basin, and needs time
#    to spread out).
# 4. Per chain: $\hat\lambda_c = n\beta\,\big(\overline{L}_c - L_n(w^*)\big)$, with $\overline L_c$ the chain's mean loss after
#    burn-in; the estimate is the mean over chains, its error comes from the chains' spread and their
#    autocorrelation (section 3).
#
# **Exercise 3.** Write step 4: return the per-chain estimates, shape `(C,)`, from `losses` `(C, T)`, the loss at
# $w^*$ `init_loss` (a number), `nbeta` and `burn_in` (steps $0, \dots,$ `burn_in`$-1$ are dropped).

# %% [exercise] llc.llc_from_losses points=2

# %% [markdown]
# The library's `llc.estimate_llc` runs all four steps (and the diagnostics below). Let us run it on the
# simplest singular model, $y = w^2x + \text{noise}$ at its true parameter $w^* = 0$, where $K_n(w) \propto w^4$ and
# $\lambda = 1/4$, and redo step 4 with your function:

# %%
problem = potentials.normal_crossing(n=1000)
n_steps, n_chains = (300, 4) if FAST else (3000, 8)
result = llc.estimate_llc(**problem.kwargs(), gamma=1.0, eps=1e-3, n_steps=n_steps, burn_in=n_steps // 4,
                          n_chains=n_chains, theory=problem.lam, progress=not FAST)
print(result)
mine = llc_from_losses(result.losses, result.init_loss, result.nbeta, result.burn_in)
print("per chain, your function:", [round(v, 3) for v in mine.tolist()])
print("per chain, the library's:", [round(v, 3) for v in result.per_chain.tolist()])
fig, ax = plt.subplots(figsize=(7, 4))
result.plot(ax=ax)  # the library's plot: traces, burn-in, estimate and exact value
plt.show()

# %% [markdown]
# ## 3. How much is an estimate worth?
#
# The draws of a chain are correlated, so $T$ draws carry less information than $T$ independent ones. With the
# **autocovariance** of a trace $x_1..x_N$,
#
# $$\hat\gamma_k = \frac1N\sum_{t=1}^{N-k}(x_t - \bar x)(x_{t+k} - \bar x), \qquad k = 0, \dots, N-1$$
#
# (divided by $N$, not $N-k$: this keeps the sequence positive semi-definite), the variance of the mean is about
# $\hat\gamma_0\,\tau/N$, with the **integrated autocorrelation time** $\tau = 1 + 2\sum_{k\ge1}\hat\gamma_k/\hat\gamma_0$; the
# **effective sample size** is $N/\tau$.
#
# Summing all $N-1$ estimated autocorrelations adds up pure noise at large lags. Geyer (1992, *Statistical
# Science* 7(4):473–483) noticed that for a reversible chain the sums of adjacent pairs
# $\Gamma_m = \hat\gamma_{2m} + \hat\gamma_{2m+1}$ are positive, and truncates at the first non-positive one: the
# **initial positive sequence** estimator
#
# $$\tau = -1 + \frac{2}{\hat\gamma_0}\sum_{m=0}^{M-1}\Gamma_m, \qquad M = \min\{m : \Gamma_m \le 0\}$$
#
# (or all pairs if none is $\le 0$). It equals $1 + 2\sum_{k \ge 1}\hat\gamma_k/\hat\gamma_0$ up to the truncation.
#
# **Exercise 4.** Return $N/\tau$ for a 1-D `trace` (a 0-d tensor), with the autocovariances $\hat\gamma_k$ above. For a
# constant trace ($\hat\gamma_0 = 0$) return $N$. A direct loop over lags is fine for a start; `torch.fft` with zero
# padding to length $2N$ is the fast way (the transform times its conjugate is the transform of the
# autocovariance).

# %% [exercise] llc.effective_sample_size points=2

# %% [markdown]
# For an AR(1) sequence $x_t = \rho x_{t-1} + \sqrt{1-\rho^2}\,\xi_t$ the exact answer is
# $\tau = (1+\rho)/(1-\rho)$; a check of your estimator on long traces:

# %%
N = 2000 if FAST else 20000
g = generator(7, "cpu")
for rho in [-0.5, 0.0, 0.5, 0.9]:
    x = torch.empty(N)
    xi = torch.randn(N, generator=g)
    x[0] = xi[0]
    for t in range(1, N):
        x[t] = rho * x[t - 1] + math.sqrt(1 - rho**2) * xi[t]
    print(f"rho = {rho:5.2f}: ESS/N = {float(effective_sample_size(x)) / N:.3f}   exact (1 - rho)/(1 + rho) = {(1 - rho) / (1 + rho):.3f}")

# %% [markdown]
# The chains of an LLC estimate should also agree with each other. Gelman & Rubin's **split $\hat R$**
# (Gelman et al., *Bayesian Data Analysis*, 3rd ed., 2013, §11.4) cuts each of $C$ chains into two halves (dropping
# the middle draw when $T$ is odd), so that there are $m = 2C$ sequences $\psi_{j,1..n}$ with $n = \lfloor T/2\rfloor$, and
# compares the variance between them with that within them:
#
# $$B = \frac{n}{m-1}\sum_j(\bar\psi_j - \bar\psi)^2,\quad W = \frac1m\sum_j s_j^2,\quad
# \widehat{\mathrm{var}}^+ = \frac{n-1}{n}W + \frac1n B,\quad \hat R = \sqrt{\widehat{\mathrm{var}}^+/W}$$
#
# ($s_j^2$ the unbiased variance of sequence $j$). $\hat R \approx 1$ when the chains are stationary and agree;
# splitting also catches a chain that is still drifting.
#
# **Exercise 5.** Return split $\hat R$ (a 0-d tensor) for `traces` of shape `(C, T)`.

# %% [exercise] llc.split_rhat points=2

# %% [markdown]
# ## 4. Estimates against exact learning coefficients
#
# Now the test that matters: models whose $\lambda$ lesson 3 computed exactly. For each, the population loss
# $K(w)$ is written as a potential (no data noise, so the target is exactly known), and $n$ only sets $n\beta$:
#
# * **regular**: $L(w) = \frac12\lVert w\rVert^2$ in $d = 10$ dimensions, $\lambda = d/2 = 5$;
# * **normal crossing**: $y = w^2 x$, $\lambda = 1/4$;
# * **reduced-rank regression** $y = BAx$ with $(M, H, N) = (4, 3, 8)$, true rank 0, at the origin:
#   $\lambda = 6$ (Aoyagi & Watanabe 2005);
# * **deep linear network** with widths $(4, 3, 3, 4)$ and a rank-1 truth: $\lambda = 11/2$, $m = 3$ (Aoyagi 2024).

# %%
n = 1000
d_reg = 10


def regular_loss(W):
    return 0.5 * (W**2).sum(-1)


problems = [
    ("regular d=10", dict(model=regular_loss, w_star=torch.zeros(d_reg, device=device), n=n), theory.regular(d_reg)),
    ("normal crossing w²x", potentials.normal_crossing(n=n, device=device).kwargs(), theory.normal_crossing([2])[0]),
    ("RRR (4,3,8), r=0", potentials.reduced_rank_regression(4, 3, 8, n=n, device=device).kwargs(),
     theory.reduced_rank_regression(4, 3, 8, 0)[0]),
    ("DLN (4,3,3,4), r=1", potentials.deep_linear_network((4, 3, 3, 4), 1, n=n, device=device).kwargs(),
     theory.deep_linear_network([4, 3, 3, 4], 1)[0]),
]
settings = dict(gamma=1.0, eps=3e-4, n_steps=300 if FAST else 3000, n_chains=4 if FAST else 8, progress=False)
settings["burn_in"] = settings["n_steps"] // 4
estimates = []
for name, kwargs, lam in tqdm(problems, desc="models"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divergences are reported in the result
        r = llc.estimate_llc(**kwargs, **settings)
    estimates.append(r)
    print(f"{name:22s} exact {float(lam):5.3f}   estimate {r.llc:6.3f} ± {r.se:.3f}   "
          f"R-hat {r.rhat:.3f}   acceptance {float(r.acceptance.mean()):.2f}")
xs = torch.arange(len(problems))
plt.bar(xs - 0.2, [float(lam) for _, _, lam in problems], 0.4, label=r"exact $\lambda$")
plt.bar(xs + 0.2, [r.llc for r in estimates], 0.4, yerr=[2 * r.se for r in estimates], label=r"$\hat\lambda$ ± 2 SE")
plt.xticks(xs, [p[0] for p in problems], fontsize=8); plt.legend(); plt.title(f"LLC estimates, n = {n}"); plt.show()

# %% [markdown]
# The estimates land near the exact values. Where they miss by more than a few standard errors, remember that
# the SE measures only Monte Carlo noise; the rest is **bias**, from sources we can name:
#
# * **finite $n\beta$**: $\lambda$ is the limit $n\beta \to \infty$; at $n\beta = 145$ higher-order terms of $K$ still matter;
# * **localization**: $\gamma$ confines the chain and lowers the estimate (by the factor $\kappa/(\kappa+\gamma)$ for a
#   quadratic);
# * **step size**: raises it (by $1/(1-\varepsilon a/4)$ for a quadratic, lesson 4);
# * **mixing**: a chain that has not explored the slow, flat directions of a singular loss in $T$ steps lowers it
#   (watch $\hat R$).
#
# ## 5. Calibration
#
# For the regular model all three are exact: each of the $d$ coordinates is the 1-D quadratic of lesson 4 with
# $\kappa = n\beta$, so $E[\hat\lambda] = \frac d2\cdot\frac{\kappa}{\kappa+\gamma}\cdot\frac{1}{1 - \varepsilon(\kappa+\gamma)/4}$. A sweep over $\varepsilon$,
# measured against that formula, and the same sweep on the deep linear network, with the acceptance diagnostic of
# lesson 4:

# %%
nbeta = llc.default_nbeta(n)
eps_grid = [1e-4, 3e-4, 1e-3, 3e-3, 6e-3] if not FAST else [3e-4, 3e-3]
sweep = dict(gamma=1.0, n_steps=200 if FAST else 2000, n_chains=4 if FAST else 8, progress=False)
sweep["burn_in"] = sweep["n_steps"] // 4
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, (name, kwargs, lam) in zip(axes, [problems[0], problems[3]]):
    rs = []
    for eps in tqdm(eps_grid, desc=name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rs.append(llc.estimate_llc(**kwargs, eps=eps, **sweep))
    ax.errorbar(eps_grid, [r.llc for r in rs], yerr=[2 * r.se for r in rs], fmt="o", label=r"$\hat\lambda$ ± 2 SE")
    ax.axhline(float(lam), color="k", ls=":", label=r"exact $\lambda$")
    for eps, r in zip(eps_grid, rs):
        ax.annotate(f"{float(r.acceptance.mean()):.2f}", (eps, r.llc), textcoords="offset points", xytext=(4, -12), fontsize=7)
    if name.startswith("regular"):
        fine = torch.logspace(-4.2, math.log10(eps_grid[-1]), 100)
        a = nbeta + sweep["gamma"]
        ax.plot(fine, d_reg / 2 * nbeta / a / (1 - fine * a / 4), label="exact expectation of the estimator")
    ax.set_xscale("log"); ax.set_xlabel(r"step size $\varepsilon$ (acceptance annotated)"); ax.set_title(name); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# Reading the sweep. For the regular model the measured estimates follow the exact expectation of the
# estimator: the step-size bias is real and predictable, and the Langevin acceptance falls below ~0.9 just
# where it becomes visible. The deep linear network has no such formula and shows both failure modes: at
# the smallest steps the chains have not explored the flat directions in $T$ steps (the estimate is low and
# would creep up with longer runs), at the largest the discretisation bias dominates (the estimate climbs far
# above $\lambda$ and the acceptance collapses). Between them there is a window, near $\varepsilon = 3\cdot10^{-4}$ to
# $10^{-3}$ here, where the acceptance is ≳ 0.9 and $\hat R \approx 1$ — that is how Lau et al. and Furman & Lau
# (2024, arXiv:2402.03698) choose $\varepsilon$ and $\gamma$. An estimate is only as good as that window is flat:
# report the settings and the sweep with the number.
#
# ## 6. The LLC of a network trained on real data
#
# scikit-learn ships the 8×8 handwritten **digits** (1797 images, no download). We train one-hidden-layer tanh
# networks of several widths $h$ with the cross-entropy (the negative log-likelihood of a softmax classifier, so
# $L_n$ is a genuine mean NLL) on 1347 images, and estimate the LLC at the trained parameters on those same images.
# The networks are written as batched potentials (all chains in one batched matrix product) to be fast on a CPU.

# %%
from sklearn.datasets import load_digits

X, Y = load_digits(return_X_y=True)
perm = torch.randperm(len(Y), generator=generator(8, "cpu"))
x_all = torch.tensor(X / 16.0, dtype=dtype)[perm].to(device)
y_all = torch.tensor(Y)[perm].to(device)
x_train, y_train, x_test, y_test = x_all[:1347], y_all[:1347], x_all[1347:], y_all[1347:]


def mlp_logits(W, x, h):
    """Logits of C networks 64 -> h (tanh) -> 10, parameters stacked in W (C, d)."""
    sizes = [64 * h, h, h * 10, 10]
    A, a, B, b = torch.split(W, sizes, dim=-1)
    C = W.shape[0]
    z = torch.tanh(x @ A.reshape(C, 64, h) + a[:, None])  # (C, n, h)
    return z @ B.reshape(C, h, 10) + b[:, None]


def mlp_loss(W, h):
    logits = mlp_logits(W, x_train, h)
    C, n_train = logits.shape[:2]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, 10), y_train.repeat(C), reduction="none")
    return nll.reshape(C, n_train).mean(1)


widths = [4, 16] if FAST else [4, 8, 16, 32]
train_steps = 100 if FAST else 500
digit_settings = dict(gamma=100.0, eps=5e-4, n_steps=100 if FAST else 600, n_chains=2 if FAST else 4, progress=False)
digit_settings["burn_in"] = digit_settings["n_steps"] // 4
rows = []
for h in tqdm(widths, desc="widths"):
    d = 64 * h + h + 10 * h + 10
    W = (0.3 * torch.randn(1, d, generator=generator(9, "cpu"), dtype=dtype)).to(device).requires_grad_()
    opt = torch.optim.Adam([W], lr=0.02)
    for _ in range(train_steps):
        opt.zero_grad()
        loss = mlp_loss(W, h)[0]
        loss.backward()
        opt.step()
    with torch.no_grad():
        test_acc = (mlp_logits(W, x_test, h)[0].argmax(-1) == y_test).double().mean().item()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = llc.estimate_llc(lambda V: mlp_loss(V, h), w_star=W.detach()[0], n=len(y_train), **digit_settings)
    rows.append((h, d, loss.item(), test_acc, r))
    print(f"h = {h:3d}: d = {d:5d} (d/2 = {d / 2:6.0f})   train NLL {loss.item():.4f}   test accuracy {test_acc:.3f}   "
          f"LLC {r.llc:6.2f} ± {r.se:.2f}   acceptance {float(r.acceptance.mean()):.2f}")

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.errorbar([row[0] for row in rows], [row[4].llc for row in rows], yerr=[2 * row[4].se for row in rows], fmt="o-")
ax.set_xscale("log", base=2); ax.set_xlabel("hidden width h"); ax.set_ylabel(r"$\hat\lambda$ at the trained parameters")
ax.set_title("digits, one hidden layer"); plt.show()

# %% [markdown]
# What it says. Half the number of parameters, $d/2$, is what a regular model of this size would have; the
# estimates are orders of magnitude below it, and they do **not** grow with the width: a wider network fits the
# training set better and sits in a *flatter*, more degenerate basin, so its effective complexity, measured by
# volume, is smaller. That is the singular learning theory answer to "why do over-parameterised networks not
# overfit as badly as their parameter count suggests".
#
# Caveats, to go with any such number: the trained parameters are not an exact minimum (training stopped), so
# $\gamma$ must keep the chains near $w^*$ and the estimate depends on it; the comparison across widths is at
# fixed $n\beta$, $\gamma$ and $\varepsilon$, and should be repeated over a grid of those (section 5) before
# it is trusted; and the loss here is a mean NLL — with a mean-squared error instead, $n\beta$ would have to be
# rescaled by the noise variance.
#
# ## Summary
#
# * $\hat\lambda(w^*) = n\beta\,(E[L_n] - L_n(w^*))$ at $n\beta = n/\log n$, from WBIC, localized with $\gamma$.
# * Burn-in, ESS and split $\hat R$ decide how much a run is worth; the SE covers Monte Carlo noise only.
# * Against exact $\lambda$: close, with biases from finite $n\beta$, $\gamma$, $\varepsilon$ and mixing, which a sweep
#   exposes (and the quadratic case computes exactly).
# * On real networks the LLC is far below $d/2$: the degeneracy that singular learning theory is about.
#
# Check your whole notebook: `slt-course check l5_llc.ipynb`.
