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
#   split $\hat R$;
# * the whole estimator, end to end: batched SGLD chains, burn-in, per-chain estimates and their standard error;
# * the choice of the step size $\varepsilon$, judged by the estimate it produces on models whose answer is known;
# * the verdict on a run: whether its diagnostics let you trust its estimate, and if not, what is wrong.
#
# As before, each exercise is a function you write in the cell marked `# YOUR CODE HERE`, checked by the
# cell after it.

# %% [setup]
import math
import warnings

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from slt_lessons import diagnostics, llc, mala, potentials, sgld, theory
from slt_lessons.checks import check, yours
from slt_lessons.targets import potential_target
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
# *dataset* size, never the minibatch size), as a Python float. Raise a `ValueError` naming `n` for anything else
# (an `n` below 2, or one that is not an int).

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
# $w^*$ `init_loss` (a number), `nbeta` and `burn_in` (steps $0, \dots,$ `burn_in`$-1$ are dropped). Raise a
# `ValueError` when `losses` is not 2-D or `burn_in` is outside $0 \le$ `burn_in` $< T$ (at least one draw must be kept).

# %% [exercise] llc.llc_from_losses points=2

# %% [markdown]
# The library's `llc.estimate_llc` runs all four steps (and the diagnostics below); you will write it yourself in
# section 4. Let us run it, at your $n\beta$, on the
# simplest singular model, $y = w^2x + \text{noise}$ at its true parameter $w^* = 0$, where $K_n(w) \propto w^4$ and
# $\lambda = 1/4$, and redo step 4 with your function:

# %%
problem = potentials.normal_crossing(n=1000)
n_steps, n_chains = (300, 4) if FAST else (1500, 8)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # its trust flags are printed with the result
    result = llc.estimate_llc(**problem.kwargs(), nbeta=yours(default_nbeta)(problem.n), gamma=1.0, eps=1e-3,
                              n_steps=n_steps, burn_in=n_steps // 4,
                              n_chains=n_chains, theory=problem.lam, check_gamma=False, progress=not FAST)
print(result)
mine = yours(llc_from_losses)(result.losses, result.init_loss, result.nbeta, result.burn_in)
if isinstance(mine, torch.Tensor) and mine.shape == result.per_chain.shape:
    print("per chain, your function:", [round(v, 3) for v in mine.tolist()])
else:
    print(f"your llc_from_losses returned {mine!r}, not one estimate per chain (a tensor of shape "
          f"{tuple(result.per_chain.shape)}): average over the steps only, dim 1 (exercise 3)")
print("per chain, the library's:", [round(v, 3) for v in result.per_chain.tolist()])
# Is the burn-in over? nβ(L(w_t) − L(w*)) averaged over blocks of steps, ± the SE from the spread of the chains:
blocks = sorted({0, 25, 50, n_steps // 8, n_steps // 4, n_steps // 2, n_steps})
for a, b in zip(blocks, blocks[1:]):
    block = result.traces[:, a:b].mean(1)
    print(f"steps [{a:4d}, {b:4d}): mean {float(block.mean()):.3f} ± {float(block.std() / math.sqrt(n_chains)):.3f}")
fig, ax = plt.subplots(figsize=(7, 4))
result.plot(ax=ax)  # the library's plot: traces, burn-in, estimate and exact value
plt.show()

# %% [markdown]
# **The settings are choices.** $T$, the burn-in, the number of chains $C$ and $\gamma$ are yours to choose, and
# each has a diagnostic. *Burn-in*: the chains start at the bottom of the basin, so the trace rises and levels off;
# the burn-in must cover the rise. The block means printed above are that check: the first 25 steps are far below
# the rest, and from step 50 on the blocks agree with the estimate within their noise (under 2.5 of their SEs), so
# here the rise is over long before the default burn-in of $T/4$ steps. Split $\hat R$ (section 3) also sees a rise
# left inside the kept draws, because it compares the halves of each chain. *$T$ and $C$*: enough steps for the
# chains to have at least 100 effective draws each on average (section 3's ESS; section 8's rule 2: the run above,
# with about 35 (printed after exercise 5), has too few, and the library's printout already says so in its
# `NOT TRUSTED (few_draws)` line: each result carries such trust flags, `result.flags`, listed in section 8), and
# several chains, so that $\hat R$ can compare them. *$\gamma$* trades bias
# against mixing: a larger $\gamma$ keeps the chains near $w^*$ and makes the slowest direction relax faster (in
# about $1/(\varepsilon(\kappa_{\min}+\gamma))$ steps, section 6), but pulls the estimate down (for a quadratic of
# curvature $\kappa$, each direction gives $\frac12\kappa/(\kappa+\gamma)$ instead of $\frac12$; section 5 prints
# this). At a trained network that is not at a minimum, $\gamma$ decides the number (section 7).
#
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
# constant trace ($\hat\gamma_0 = 0$) return $N$. Raise a `ValueError` when `trace` is not 1-D, has fewer than 4
# entries, or holds a NaN or an infinity. A direct loop over lags is fine for a start; `torch.fft` with zero
# padding to length $2N$ is the fast way (the transform times its conjugate is the transform of the
# autocovariance).

# %% [exercise] llc.effective_sample_size points=2

# %% [markdown]
# For an AR(1) sequence $x_t = \rho x_{t-1} + \sqrt{1-\rho^2}\,\xi_t$ the exact answer is
# $\tau = (1+\rho)/(1-\rho)$; a check of your estimator on long traces:

# %%
N = 2000 if FAST else 20000
g = generator(7, "cpu")
ess = yours(effective_sample_size)
for rho in [-0.5, 0.0, 0.5, 0.9]:
    x = torch.empty(N)
    xi = torch.randn(N, generator=g)
    x[0] = xi[0]
    for t in range(1, N):
        x[t] = rho * x[t - 1] + math.sqrt(1 - rho**2) * xi[t]
    print(f"rho = {rho:5.2f}: ESS/N = {float(ess(x)) / N:.3f}   exact (1 - rho)/(1 + rho) = {(1 - rho) / (1 + rho):.3f}")

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
# **Exercise 5.** Return split $\hat R$ (a 0-d tensor) for `traces` of shape `(C, T)`. Raise a `ValueError` when
# `traces` is not 2-D, has fewer than 4 draws per chain, or holds a NaN or an infinity.

# %% [exercise] llc.split_rhat points=2

# %% [markdown]
# From here on, the R̂ and ESS that the demonstrations print are computed with *your* `split_rhat` and
# `effective_sample_size`, from each run's kept traces. On the run of section 2:

# %%
my_rhat, my_ess = yours(split_rhat), yours(effective_sample_size)


def kept(r):
    """Run r's traces after burn-in, of its chains that did not diverge (a diverged chain stopped: NaN after)."""
    return r.traces[~r.diverged, r.burn_in:]


def rhat_of(r):
    """Split R̂ of run r's kept traces, by your split_rhat (NaN if every chain diverged)."""
    return float(my_rhat(kept(r))) if len(kept(r)) else math.nan


def ess_of(r):
    """The effective sample size of each kept trace of run r, by your function (NaN if every chain diverged)."""
    if not len(kept(r)):
        return torch.full((1,), math.nan)
    return torch.stack([torch.as_tensor(my_ess(y)) for y in kept(r)])


def acceptance_of(r):
    """Run r's mean MALA acceptance of its SGLD proposals, over the chains that did not diverge (theirs are NaN)."""
    return float(r.acceptance.nanmean())


print(f"section 2's run: split R-hat {rhat_of(result):.4f} (the library's {result.rhat:.4f}), "
      f"mean ESS {float(ess_of(result).mean()):.1f} (the library's {float(result.ess.mean()):.1f}) of "
      f"{n_steps - result.burn_in} draws per chain")

# %% [markdown]
# ## 4. The estimator, end to end
#
# Everything is in place to write `estimate_llc` yourself. One chain per row of a tensor `W` of shape $(C, d)$: a
# loss function that maps $(C, d)$ to the $C$ per-chain losses, row by row, gives all $C$ gradients in one
# backward pass of the *sum* of the losses (the chains do not interact). The noise comes from the generator you
# are given, in a fixed order, so that your chains are exactly the course's:
#
# 1. $n\beta$ = `llc.default_nbeta(n)`, $n$ the dataset size; `W` = $w^*$ repeated $C$ times.
# 2. For $t = 0, \dots, T-1$: the losses `loss_fn(W)` and their gradient; record the losses as column $t$ (so
#    column 0 is $L(w^*)$); draw `noise = torch.randn(W.shape, generator=generator, dtype=W.dtype, device=W.device)`
#    (one draw per step for all chains); then `W = step(W, grad, w_star, eps, nbeta, gamma, noise)`.
# 3. The per-chain estimates from the losses after burn-in, with $L(w^*)$ = `loss_fn(w_star[None])[0]`.
# 4. The estimate is their mean. Its standard error: chain $c$'s kept trace $y_c = n\beta(L(w_t) - L(w^*))$ has mean
#    with variance $\approx \mathrm{var}(y_c)/\mathrm{ESS}(y_c)$, and the chains are independent, so
#    $\mathrm{SE} = \sqrt{\sum_c \mathrm{var}(y_c)/\mathrm{ESS}(y_c)}\,/\,C$ (unbiased variances).
#
# **Exercise 6.** Write it. `step` is lesson 4's SGLD step (the library's, by default); call the earlier exercises
# through their modules (`llc.default_nbeta`, `llc.llc_from_losses`, `diagnostics.effective_sample_size`). Return
# `(estimate, se, per_chain)`: two 0-d tensors (or Python floats) and the $(C,)$ per-chain estimates. The check
# compares your chains with the course's to round-off, on the same generator.

# %% [exercise] llc.sgld_llc points=3

# %% [markdown]
# Your estimator and the library's draw their noise in different orders, so their numbers differ, but only by
# Monte Carlo error (the test suite checks this over many seeds). On the normal-crossing model of section 2:

# %%
my_llc = yours(sgld_llc)
w1 = problem.data[0]
c_nc = float((w1**2).sum() / (2 * len(w1)))  # K_n(w) = c w⁴ exactly for this data (lesson 3)
est, se, per_chain = my_llc(lambda W: c_nc * W[:, 0] ** 4, torch.zeros(1, device=device), problem.n, 1.0, 1e-3, n_chains, n_steps,
                            n_steps // 4, generator(3, device))
print(f"your estimator: {float(est):.3f} ± {float(se):.3f}   the library's: {result.llc:.3f} ± {result.se:.3f}   "
      f"difference in combined SEs: {abs(float(est) - result.llc) / math.hypot(float(se), result.se):.2f}")

# %% [markdown]
# ## 5. Estimates against exact learning coefficients
#
# Now the test that matters: models whose $\lambda$ lesson 3 computed exactly. For each, the population loss
# $K(w)$ is written as a potential (no data noise, so the target is exactly known), and $n$ only sets $n\beta$:
#
# * **regular**: $L(w) = \frac12\lVert w\rVert^2$ in $d = 10$ dimensions, $\lambda = d/2 = 5$;
# * **normal crossing**: $y = w^2 x$, $\lambda = 1/4$;
# * **reduced-rank regression** $y = BAx$ with $(M, H, N) = (4, 3, 8)$, true rank 0, at the origin:
#   $\lambda = 6$, $m = 1$ (Aoyagi & Watanabe 2005);
# * **deep linear network** with widths $(4, 3, 3, 4)$ and a rank-1 truth: $\lambda = 11/2$, $m = 3$ (Aoyagi 2024).
#
# $\lambda$ is the limit $n\beta\to\infty$. At finite $n\beta$ (and $\gamma = 0$) the estimator's target is
# $E[n\beta K]$, the slope of the free energy in $\log n\beta$ that lesson 2 expanded: $\lambda - (m-1)/\log(n\beta) + \dots$
# (a theorem for the limit; the dots are smaller terms). So a multiplicity $m > 1$ pulls finite-$n\beta$ values
# below $\lambda$ (for the DLN, $-2/\log 145 = -0.40$), and the localization $\gamma$ lowers them further. So each row below prints, beside $\lambda$ and that leading
# correction, the **same estimator's exact value** at this $n\beta$ and $\gamma$ without SGLD: in closed form
# ($\frac12\sum_i \kappa_i/(\kappa_i+\gamma)$) for the regular model, by quadrature for the normal crossing, and by a
# MALA run (exact whatever its step; its SE printed) for the other two. The SGLD estimates, with your estimator, are
# judged against *that*.

# %%
n = 1000
d_reg = 10
nbeta = yours(default_nbeta)(n)
gamma5 = 1.0


def regular_loss(W):
    return 0.5 * (W**2).sum(-1)


def nc_reference(c, nbeta, gamma):
    """E[nβ c w⁴] under exp(−nβ c w⁴ − γw²/2), by the trapezoid rule."""
    w = torch.linspace(-3, 3, 200001, dtype=torch.float64)
    dens = torch.exp(-nbeta * c * w**4 - gamma * w**2 / 2)
    return float(torch.trapezoid(nbeta * c * w**4 * dens, w) / torch.trapezoid(dens, w)), 0.0


def mala_reference(loss, w_star, nbeta, gamma, steps):
    """E[nβ(L − L(w*))] by MALA (exact whatever ε; adapted for 1/5 of the run): mean and SE."""
    run = mala.sample_mala(potential_target(loss, w_star), nbeta=nbeta, gamma=gamma, eps=1e-3, n_steps=steps,
                           n_chains=32, adapt_steps=steps // 5, seed=1)
    y = nbeta * (run.losses[:, steps // 4:] - float(loss(w_star[None])[0]))
    ess = torch.stack([diagnostics.effective_sample_size(t) for t in y])
    return float(y.mean()), float(torch.sqrt((y.var(1) / ess).sum()) / y.shape[0])


rrr = potentials.reduced_rank_regression(4, 3, 8, n=n, device=device)
dln = potentials.deep_linear_network((4, 3, 3, 4), 1, n=n, device=device)
mala_steps = 500 if FAST else 2000
problems = [  # name, potential, w*, (λ, m), same-estimator reference at (nβ, γ)
    ("regular d=10", regular_loss, torch.zeros(d_reg, device=device), (d_reg / 2, 1),
     (d_reg / 2 * nbeta / (nbeta + gamma5), 0.0)),
    ("normal crossing w²x", lambda W: c_nc * W[:, 0] ** 4, torch.zeros(1, device=device), (0.25, 1),
     nc_reference(c_nc, nbeta, gamma5)),
    ("RRR (4,3,8), r=0", rrr.model, rrr.w_star, (rrr.lam, rrr.m), mala_reference(rrr.model, rrr.w_star, nbeta, gamma5, mala_steps)),
    ("DLN (4,3,3,4), r=1", dln.model, dln.w_star, (dln.lam, dln.m), mala_reference(dln.model, dln.w_star, nbeta, gamma5, mala_steps)),
]
T5, C5 = (300, 4) if FAST else (1500, 8)
estimates = []
for k, (name, loss, w_star, (lam, m), (ref, ref_se)) in enumerate(tqdm(problems, desc="models")):
    est, se, _ = my_llc(loss, w_star, n, gamma5, 3e-4, C5, T5, T5 // 4, generator(10 + k, device))
    estimates.append((float(est), float(se)))
    print(f"{name:20s} λ {lam:5.3f}   λ − (m−1)/log nβ {lam - (m - 1) / math.log(nbeta):5.3f}   "
          f"same estimator, exact {ref:5.3f} ± {ref_se:.3f}   SGLD {float(est):6.3f} ± {float(se):.3f}   "
          f"(SGLD − exact)/SE {(float(est) - ref) / math.hypot(float(se), ref_se):+5.1f}")
xs = torch.arange(len(problems))
plt.bar(xs - 0.27, [p[3][0] for p in problems], 0.27, label=r"exact $\lambda$")
plt.bar(xs, [p[4][0] for p in problems], 0.27, label=r"same estimator, exact at this $n\beta, \gamma$")
plt.bar(xs + 0.27, [e for e, _ in estimates], 0.27, yerr=[2 * s for _, s in estimates], label=r"SGLD $\hat\lambda$ ± 2 SE")
plt.xticks(xs, [p[0] for p in problems], fontsize=8); plt.legend(fontsize=8)
plt.title(f"LLC estimates, n = {n}, γ = {gamma5:g}, ε = 3e-4"); plt.show()

# %% [markdown]
# Read the columns from left to right. The gap between $\lambda$ and the same-estimator value is not an error of
# the sampler: it is what $\hat\lambda$ *means* at $n\beta = 145$ and $\gamma = 1$ (higher-order terms of $K$, the
# multiplicity term, the localization). The SE measures only Monte Carlo noise; what is left between the SGLD
# estimate and the same-estimator value is the sampler's **bias**, from sources we can name:
#
# * **step size**: raises it (by $1/(1-\varepsilon a/4)$ for a quadratic of curvature $a$, lesson 4);
# * **mixing**: a chain that has not explored the slow, flat directions of a singular loss in $T$ steps lowers it
#   (watch $\hat R$).
#
# ## 6. Calibration: choosing the step size
#
# For the regular model all is exact: each of the $d$ coordinates is the 1-D quadratic of lesson 4 with
# $\kappa = n\beta$, so $E[\hat\lambda] = \frac d2\cdot\frac{\kappa}{\kappa+\gamma}\cdot\frac{1}{1 - \varepsilon(\kappa+\gamma)/4}$. A sweep over $\varepsilon$,
# halving it from each value to the next, measured against that formula, and the same sweep on the deep linear
# network, with the acceptance diagnostic of lesson 4, split $\hat R$ and the chains' mean ESS. Each run is given its
# `eps`, so the library runs SGLD at that step, bias and all:

# %%
eps_grid = [3.75e-4, 7.5e-4, 1.5e-3, 3e-3, 6e-3] if not FAST else [1.5e-3, 3e-3]
sweep = dict(gamma=gamma5, n_steps=200 if FAST else 3000, n_chains=4 if FAST else 8, check_gamma=False, progress=False)
sweep["burn_in"] = sweep["n_steps"] // 4
sweep_runs = {}  # name -> the runs, one per eps (section 8 judges them)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, (name, loss, w_star, (lam, m), (ref, ref_se)) in zip(axes, [problems[0], problems[3]]):
    rs = []
    for eps in tqdm(eps_grid, desc=name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rs.append(llc.estimate_llc(loss, w_star=w_star, n=n, eps=eps, **sweep))
    sweep_runs[name] = rs
    for eps, r in zip(eps_grid, rs):
        C, k = len(r.diverged), int((~r.diverged).sum())  # chains, and those that did not diverge
        if k == 0:
            print(f"{name:20s} eps = {eps:.2e}: all {C} chains diverged (stopped)")
            continue
        print(f"{name:20s} eps = {eps:.2e}: estimate {r.llc:6.3f} ± {r.se:.3f}   acceptance {acceptance_of(r):.3f}"
              f"   R-hat {rhat_of(r):.3f}   mean ESS {float(ess_of(r).mean()):5.0f}"
              + (f"   {C - k} of {C} chains diverged (stopped)" if k < C else ""))
    ok = [(eps, r) for eps, r in zip(eps_grid, rs) if math.isfinite(r.llc)]  # a run whose chains all diverged has no estimate
    ax.errorbar([e for e, _ in ok], [r.llc for _, r in ok], yerr=[2 * r.se for _, r in ok], fmt="o", label=r"$\hat\lambda$ ± 2 SE")
    ax.axhline(lam, color="k", ls=":", label=r"exact $\lambda$")
    ax.axhline(ref, color="C2", ls="--", label="same estimator, exact")
    for eps, r in ok:
        ax.annotate(f"{acceptance_of(r):.2f}", (eps, r.llc), textcoords="offset points", xytext=(4, -12), fontsize=7)
    if name.startswith("regular"):
        fine = torch.logspace(-4.2, math.log10(eps_grid[-1]), 100)
        a = nbeta + gamma5
        ax.plot(fine, d_reg / 2 * nbeta / a / (1 - fine * a / 4), label="exact expectation of the estimator")
    ax.set_xscale("log"); ax.set_xlabel(r"step size $\varepsilon$ (acceptance annotated)"); ax.set_title(name); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# Reading the sweep (the printed rows are the numbers). For the regular model the estimates follow the exact
# expectation of the estimator (the curve in the left panel): the step-size bias is real and predictable. The deep
# linear network has no such formula, and its estimate rises steadily with $\varepsilon$: there is no flat window in
# this sweep. From $\varepsilon = 1.5\cdot10^{-3}$ on, its chains also **diverge**: the library stops a chain whose
# $n\beta(L - L(w^*))$ passes $10\max(d/2, 10)$ (165 for $d = 33$, about thirty times the estimate at the smallest
# step) or becomes NaN, and leaves it out. Half of the chains stop at $1.5\cdot10^{-3}$, all but one at
# $3\cdot10^{-3}$, and all of them at $6\cdot10^{-3}$, where there is no estimate at all. The rows with survivors
# describe the survivors only: the chains that happened to stay where the step is stable, a selected sample, so
# their estimate, acceptance and $\hat R$ are not those of the run.
#
# An acceptance of 0.9 or more is *necessary*, not sufficient: on the regular model the row at
# $\varepsilon = 3\cdot10^{-3}$ has $\varepsilon(\kappa+\gamma) = 0.44$, an exact bias of $1/(1 - 0.11) - 1 = 12\%$, and its
# printed acceptance is still above 0.9. The acceptance measures one step's error; the bias accumulates over the chain.
#
# So choose $\varepsilon$ from the curvature. On a quadratic with curvatures $\kappa_i$ (the eigenvalues of
# $n\beta\nabla^2 L$), the bias factor is $1/(1-\varepsilon(\kappa_i+\gamma)/4)$ per direction, and the slowest
# direction relaxes in about $1/(\varepsilon(\kappa_{\min}+\gamma))$ steps. So make $\varepsilon(\kappa_{\max}+\gamma)$
# small enough for the bias you accept (≈ 0.1 gives 2.6%), and no smaller than needed: the chains must still mix in
# your budget of steps. This is lesson 4's mechanism: what matters is the product of the step and the curvature,
# never $\varepsilon$ alone. Which curvature? The largest one *the chain meets*. At a regular minimum the Hessian
# at $w^*$ gives it (it barely changes nearby). At a *singular* $w^*$ it does not: $K = w^4$ has zero curvature at 0,
# but the chain does not stay at 0, and the curvature $12w^2$ grows where it goes. So measure the curvature where
# the chains go, not only at $w^*$.
#
# **Exercise 7.** Return a step size $\varepsilon$ (a Python float) for estimating the LLC of `loss_fn` at `w_star`
# with SGLD at `nbeta` and the fixed `gamma`. You are given `draws`, shape $(K, d)$: the final states of a short
# pilot run, i.e. points where the chains go. The check runs 512 chains × 1000 steps (burn-in 300) with your
# $\varepsilon$ on several models, regular and singular, one of them with a $\gamma$ far above the curvatures of
# $n\beta L$, and passes it when the estimate is within 5% + 3 SE of the
# exact value at that $\gamma$ and the MALA acceptance of the SGLD proposals is at least 0.9. Its feedback says
# whether your $\varepsilon$ was too large or too small, and why. The exercise is graded by the estimate your
# $\varepsilon$ gives, not by a formula: any $\varepsilon$ that meets this criterion on every model passes (on these
# models, a rule built on the mean or median curvature over the draws may pass too; the largest curvature the
# chains meet is the safe choice in general). (`torch.autograd.functional.hessian` gives a
# Hessian; `loss_fn` takes a batch of chains, so use `lambda w: loss_fn(w[None])[0]`.)

# %% [exercise] llc.choose_eps points=3

# %% [markdown]
# Your rule on the deep linear network, with draws from a pilot run at a small step:

# %%
draws = llc.pilot_draws(dln.model, dln.w_star, nbeta, gamma5, eps=1e-4, n_chains=50 if FAST else 100,
                        n_steps=200 if FAST else 1000, seed=4)
eps_dln = yours(choose_eps)(dln.model, dln.w_star, nbeta, gamma5, draws)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # its trust flags are printed below
    r = llc.estimate_llc(dln.model, w_star=dln.w_star, n=n, eps=eps_dln, **sweep)
ref_dln, ref_dln_se = problems[3][4]
print(f"your eps = {eps_dln:.2e} ({sweep['n_steps']} steps): estimate {r.llc:.3f} ± {r.se:.3f}, "
      f"acceptance {acceptance_of(r):.3f}, R-hat {rhat_of(r):.3f}, mean ESS {float(ess_of(r).mean()):.0f}; "
      f"same estimator, exact (MALA): {ref_dln:.3f} ± {ref_dln_se:.3f}; "
      f"(SGLD − exact)/combined SE {(r.llc - ref_dln) / math.hypot(r.se, ref_dln_se):+.1f}")
print(f"the library's trust flags on this run: {', '.join(r.flags) or 'none'}")

# %% [markdown]
# Read the printed lines. The acceptance is far above 0.9 and $\hat R$ is below 1.1, yet the estimate falls short of
# the exact value by about three combined SEs, and the chains have a mean of fewer than 100 effective draws: section 8's
# rule 2 will call such a run `"too few draws"`, and the library's flag `few_draws` already does. The rule's
# $\varepsilon$ is safe for the bias but small, because the largest curvature over the draws is a conservative $\kappa_{\max}$, and the slow, flat directions of a singular
# model relax only in about $1/(\varepsilon(\kappa_{\min}+\gamma))$ steps. At this step the deep linear network needs far
# more than these steps; run longer, rather than raise $\varepsilon$ past the bias bound.
#
# **Leave $\varepsilon$ to the library.** Called without `eps`, `llc.estimate_llc` chooses the sampler and the step
# itself. On the deep linear network, with the same $\gamma$, steps and burn-in as your run:

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # the trust flags are printed with the result
    r_auto = llc.estimate_llc(dln.model, w_star=dln.w_star, n=n, gamma=gamma5, n_steps=sweep["n_steps"],
                              burn_in=sweep["burn_in"], n_chains=sweep["n_chains"], check_gamma=False, progress=False)
print(r_auto)
print(f"no eps given: {r_auto.sampler.upper()} at its tuned ε = {r_auto.eps:.2e} ({r_auto.eps / eps_dln:.0f} times your eps), "
      f"estimate {r_auto.llc:.3f} ± {r_auto.se:.3f}; same estimator, exact (MALA, section 5): {ref_dln:.3f} ± {ref_dln_se:.3f}; "
      f"difference {(r_auto.llc - ref_dln) / math.hypot(r_auto.se, ref_dln_se):+.1f} combined SEs")

# %% [markdown]
# Without `eps`, a full-batch estimate runs **MALA** (lesson 4, section 5). Each Langevin step is only a proposal,
# and the Metropolis–Hastings test accepts it with the probability that makes the localized posterior the chain's
# stationary law *exactly*, at any step size: there is no step-size bias to control (the printed bound is 0%), and
# the step only sets how fast the chains move, so the library tunes it during the burn-in. Here it settled more than
# ten times above your $\varepsilon$, and the estimate agrees with section 5's MALA reference within one combined SE
# (printed). The library runs SGLD only where that test is not available, with minibatches (`batch_size`), at the
# step whose first-order bias is 2% (lesson 4's rule, with the Hessian's trace and the minibatch gradient's variance
# measured where pilot chains go); an explicit `eps`, as in the sweep above, is SGLD at that step. (Left to itself,
# a minibatch estimate runs a variant, `sampler="lm"`, whose noise is the mean of two consecutive draws: on a
# quadratic it has no $1/(1-\varepsilon a/4)$ inflation at all (Leimkuhler & Matthews 2013), so it can take larger
# steps. Below we name `sampler="sgld"` to see plain SGLD, the sampler you built.)
#
# **Minibatches.** With data, each SGLD step may use a minibatch of size $B$ instead of all $n$ samples: the
# gradient of the minibatch *mean* loss is an unbiased estimate of $\nabla L_n$. The temperature stays
# $n\beta = n/\log n$ with $n$ the dataset size: the posterior is about all $n$ samples, the minibatch only
# estimates its gradient. Using $B$ there would estimate the LLC of a different (much hotter) posterior. The
# minibatch noise adds to the Langevin noise, so a minibatch run is a different sampler whose estimate need not
# equal the full-batch one; compare the two, as here. Linear regression ($d = 4$, $\lambda = 2$), full batch
# against minibatches of 50, both with $\varepsilon$ left to the library:

# %%
lin = potentials.linear_regression(n=1000, d=4, seed=0, device=device)
mb = dict(gamma=gamma5, n_steps=300 if FAST else 1000, n_chains=4 if FAST else 8, check_gamma=False, progress=False)
nll = yours(gaussian_nll)  # the loss is your gaussian_nll (exercise 2)
runs = {}
for batch_size, sampler in [(None, "auto"), (None, "sgld"), (50, "sgld")]:  # no eps: the library chooses it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the trust flags are printed in the row
        r = runs[batch_size, sampler] = llc.estimate_llc(lin.model, nll, lin.data, batch_size=batch_size,
                                                         sampler=sampler, **mb)
    print(f"batch size {batch_size or 'all'}: nβ = {r.nbeta:.1f} (n / log n, n = {lin.n}; the batch would give "
          f"{50 / math.log(50):.1f}); {r.sampler.upper()} at ε = {r.eps:.2e}, step-size bias ≤ {100 * r.bias_bound:.1f}%: "
          f"estimate {r.llc:.3f} ± {r.se:.3f}, λ = {lin.lam}, flags: {', '.join(r.flags) or 'none'}")
    print(f"   SD of its recorded nβ(L(w_t) − L(w*)) per step: {float(r.traces[:, r.burn_in:].std(1).mean()):.2f}; "
          f"effective draws per chain {float(r.ess.nanmean()):.0f} of {r.losses.shape[1] - r.burn_in}")
mala_full, sgld_full, sgld_50 = runs[None, "auto"], runs[None, "sgld"], runs[50, "sgld"]
print(f"steps: MALA / full-batch SGLD = {mala_full.eps / sgld_full.eps:.0f} (the Metropolis test); "
      f"full-batch / batch-50 SGLD = {sgld_full.eps / sgld_50.eps:.1f} (the minibatch gradient's noise)")
diff = sgld_50.llc - mala_full.llc
print(f"batch 50 minus full batch (MALA): {diff:+.3f} = {diff / math.hypot(sgld_50.se, mala_full.se):+.2f} combined SEs")

# %% [markdown]
# The full batch ran MALA; the minibatches ran SGLD, at a much smaller step (all printed). Two factors make up the
# gap, and the middle row separates them. MALA's step is several times full-batch SGLD's (first ratio printed): the
# Metropolis test lets it take steps whose bias SGLD could not afford. Full-batch SGLD's step is a few times the
# minibatch one (second ratio): the minibatch gradient's noise adds to the step-size bias like extra curvature
# (lesson 4, section 4: the excess variance it causes is proportional to $\varepsilon(n\beta)^2 s^2/b$), so the step
# that keeps the first-order bias at 2% (`bias_bound`, printed) must be smaller still. The minibatch SE is several
# times the full batch's, for another reason: each step records the minibatch loss, an unbiased but noisy estimate
# of $L_n$, and the printed SD of the recorded $n\beta(L - L(w^*))$ per step is many times the estimate itself,
# against less than the estimate for the full batch. That noise is nearly independent from step to step, so the
# minibatch trace shows many more effective draws per chain than full-batch SGLD's at its larger step (printed):
# on minibatch traces the ESS, $\hat R$ and the `few_draws` flag say little about whether the chains have mixed.
# Compare with a full-batch run, as here. The minibatch estimate differs from the full-batch one by less than one
# combined SE (the last printed line): the two runs agree within their noise, and a bias of the minibatch run smaller
# than that noise would not show.

# %% [markdown]
# ## 7. The LLC of a network trained on real data
#
# scikit-learn ships the 8×8 handwritten **digits** (1797 images, no download). We train one-hidden-layer tanh
# networks of two widths $h$ with the cross-entropy (the negative log-likelihood of a softmax classifier, so
# $L_n$ is a genuine mean NLL) on 1347 images, and estimate the LLC at the trained parameters on those same images.
# The networks are written as batched potentials (all chains in one batched matrix product) to be fast on a CPU.
#
# A caution before the numbers. The trained $w^*$ is **not a critical point**: the training set is separable, and
# the cross-entropy on separable data has no minimum (scaling up the weights keeps lowering it); training just
# stopped. So nothing but $\gamma$ holds the chains back along the directions in which the loss keeps falling: the
# "LLC" here depends on $\gamma$, and we must show how much. We run a small grid: $\gamma \in \{10, 100\}$ and
# $\varepsilon$ and $\varepsilon/2$, with $\hat R$, and ask the library for its check of $\gamma$ too
# (`check_gamma=True`: a second run at $\gamma/2$, printed as "at gamma/2") and its trust flags.

# %%
from sklearn.datasets import load_digits

X, Y = load_digits(return_X_y=True)
perm = torch.randperm(len(Y), generator=generator(8, "cpu"))
# float32: on a CPU about ten times faster than float64 here, and its round-off (~1e-7 of losses ~0.1) is far
# below the Monte Carlo error of the estimates
f32 = torch.float32
x_all = torch.tensor(X / 16.0, dtype=f32)[perm].to(device)
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


widths = [8, 32]
train_steps = 100 if FAST else 300
grid = [(10.0, 5e-4), (10.0, 2.5e-4), (100.0, 5e-4), (100.0, 2.5e-4)]
digit_steps, digit_chains = (60, 2) if FAST else (200, 4)
rows = []
for h in widths:
    d = 64 * h + h + 10 * h + 10
    W = (0.3 * torch.randn(1, d, generator=generator(9, "cpu"), dtype=f32)).to(device).requires_grad_()
    opt = torch.optim.Adam([W], lr=0.02)
    for _ in range(train_steps):
        opt.zero_grad()
        loss = mlp_loss(W, h)[0]
        loss.backward()
        opt.step()
    with torch.no_grad():
        test_acc = (mlp_logits(W, x_test, h)[0].argmax(-1) == y_test).double().mean().item()
    print(f"h = {h}: d = {d} (d/2 = {d / 2:.0f}), train NLL {loss.item():.4f}, test accuracy {test_acc:.3f}")
    for gamma_d, eps_d in tqdm(grid, desc=f"h = {h}"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = llc.estimate_llc(lambda V: mlp_loss(V, h), w_star=W.detach()[0], n=len(y_train), gamma=gamma_d,
                                 eps=eps_d, n_steps=digit_steps, burn_in=digit_steps // 4, n_chains=digit_chains,
                                 acceptance_every=50, check_gamma=True, progress=False)  # check_gamma: a run at γ/2
        rows.append((h, gamma_d, eps_d, r))
        half = f"{r.gamma_check['llc']:6.2f} ± {r.gamma_check['se']:.2f}" if r.gamma_check else "     -"
        print(f"   gamma = {gamma_d:5.0f}, eps = {eps_d:.1e}: LLC {r.llc:7.2f} ± {r.se:.2f}   R-hat {rhat_of(r):.2f}   "
              f"acceptance {acceptance_of(r):.2f}   mean ESS {float(ess_of(r).mean()):4.0f}   at gamma/2 {half}   "
              f"flags {','.join(r.flags) or '-'}")

fig, ax = plt.subplots(figsize=(6, 3.6))
for (gamma_d, eps_d) in grid:
    pts = [(h, r) for h, g_, e_, r in rows if (g_, e_) == (gamma_d, eps_d)]
    ax.errorbar([h for h, _ in pts], [r.llc for _, r in pts], yerr=[2 * r.se for _, r in pts], fmt="o-",
                label=f"γ = {gamma_d:g}, ε = {eps_d:.1e}")
ax.set_xscale("log", base=2); ax.set_xlabel("hidden width h"); ax.set_ylabel(r"$\hat\lambda$ at the trained parameters")
ax.set_title("digits, one hidden layer"); ax.legend(fontsize=7); plt.show()

# %% [markdown]
# What the grid shows (the printed rows are the numbers). The estimates are far below $d/2$ at every setting. Beyond
# that, they are **not** settled: changing $\gamma$ from 100 to 10 changes them several-fold; at $\gamma = 10$ halving
# $\varepsilon$ changes them by several standard errors and $\hat R$ is far above 1. The SE does not see any of this:
# it measures only the Monte Carlo noise of one setting. The library's flags do: no row is free of them. Every run at
# $\gamma = 10$ is flagged `drift` (its traces still move between the first and last third of the kept draws),
# `not_mixed` and `few_draws`. At $\gamma = 100$ the run at $\gamma/2$ raises every estimate by more than 40%, by more
# than 3 combined SEs in three of the four runs, which are flagged `gamma`: $\gamma$ decides the answer. No run is
# flagged `not_minimum`: that flag fires only when the chains find losses far below $L(w^*)$
# (by $\max(10, d/2)/n\beta$), and these short, localized runs find none, so the flags cannot tell this $w^*$ from a
# minimum; the argument above (separable data) does. With $w^*$ not a critical point, there is no $\gamma$ at which the number is
# "the" LLC: the chains spread along the directions in which the loss falls until the localization stops them.
# Whatever ordering of the two widths a row shows holds at that $(\gamma, \varepsilon)$ and with this little training;
# it is an empirical observation about these runs, not a property of the networks. In particular it says nothing, on
# its own, about overfitting: Watanabe's $E[G_n] = L(w_0) + \lambda/n$ is about the *Bayes predictive distribution* at
# a true parameter, not about a point trained by Adam. To make such a comparison, train to (near) a critical point,
# e.g. with weight decay, and show that the estimates are stable under halving $\varepsilon$ and changing $\gamma$,
# with $\hat R$ near 1.
#
# ## 8. Is a run trustworthy?
#
# Every run in this lesson printed its diagnostics. Together they give four rules, checked in this order; the first
# rule that fails says what is wrong with the run, and what to do:
#
# 1. **The chains agree: split $\hat R \le 1.1$**, the threshold of Gelman et al. (2013, §11.4) for the $\hat R$ you
#    wrote. (Vehtari, Gelman, Simpson, Carpenter & Bürkner, 2021, *Bayesian Analysis* 16(2):667–718, ask for 1.01 with
#    their rank-normalised $\hat R$: a stricter standard.) Chains that disagree give an estimate that depends on where
#    they started and how long they ran, and the SE, which assumes stationary chains, means nothing then. Verdict
#    `"not mixed"`: run longer, or, at a trained network, ask whether $w^*$ is a minimum at all (the digits chains at
#    $\gamma = 10$ in section 7).
# 2. **Enough draws: the mean effective sample size per chain is at least 100**, i.e. a total of at least 100 × the
#    number of chains (Vehtari et al. 2021 ask for 100 per chain). The SE divides each chain's variance by its ESS,
#    and $\hat R$ compares means of halves: with a few dozen effective draws per chain both are themselves noisy.
#    Verdict `"too few draws"`: run longer.
# 3. **One step is accurate: the mean MALA acceptance of the SGLD proposals is at least 0.9** (lesson 4; Furman &
#    Lau 2024, arXiv:2402.03698). Verdict `"step too large"`: lower $\varepsilon$. (This is about SGLD, which keeps
#    every proposal: the acceptance it *would* have measures its error. A MALA run, like the library's default above,
#    rejects the proposals the test refuses, so it has no such error, and it is tuned on purpose to accept about
#    half to two thirds of them: larger steps mix faster.)
# 4. **The chain is accurate: halving $\varepsilon$ moves the estimate by at most 3 combined standard errors,
#    $3\sqrt{\mathrm{SE}_\varepsilon^2 + \mathrm{SE}_{\varepsilon/2}^2}$.** Section 6 showed that the acceptance is
#    necessary, not sufficient. To first order the bias is proportional to $\varepsilon$ (lesson 4:
#    $1/(1 - \varepsilon(\kappa+\gamma)/4) \approx 1 + \varepsilon(\kappa+\gamma)/4$), so halving $\varepsilon$ halves it: a
#    change larger than the noise of the two estimates is the bias showing. Verdict `"step bias"`: use the smaller
#    step, and halve again.
#
# Each rule passes at equality. If all four pass, the verdict is `"trust"`. Why this order: rules 3 and 4 compare
# estimates and their SEs, which mean something only for chains that agree and have enough draws; and the
# acceptance comes before the halving because it needs no second run. `"trust"` is narrower than it sounds: these
# diagnostics see no problem *at this precision*. The estimate is still the same estimator's value at this $n\beta$
# and $\gamma$ (section 5), not $\lambda$, and a bias below 3 combined SEs can remain.
#
# The library applies rules of this kind to every estimate it returns, in `result.flags` (printed as `NOT TRUSTED`
# lines, with a warning): `not_mixed` is rule 1, `few_draws` rule 2 (with Vehtari et al.'s total of 400 effective
# draws over all chains, a looser bar than rule 2's 100 per chain when there are more than 4 chains), and in place of rules 3 and 4 it computes the step-size bias from the curvature where the chains end (`step`,
# above 3%); it adds `diverged`, `drift` (traces still moving), `implausible` (an estimate above $d/2$, which no
# minimum has), `gamma` (halving $\gamma$ moves the estimate) and `not_minimum`. The table below prints them beside your
# verdicts.
#
# **Exercise 8.** Return the verdict on a run at step $\varepsilon$: one of the strings `"not mixed"`,
# `"too few draws"`, `"step too large"`, `"step bias"`, `"trust"`. The run's split $\hat R$ is `rhat` (a float), its
# chains' effective sample sizes `ess` (a tensor of shape `(C,)`), its mean acceptance `acceptance`, its estimate
# `estimate` ± `se`; the same run at $\varepsilon/2$ gave `estimate_half` ± `se_half` (floats). The visible cases let
# each pair of rules fail together (the order decides); the hidden cases also put each diagnostic near its
# threshold. A wrong verdict's feedback goes through the rules.

# %% [exercise] llc.run_verdict points=2

# %% [markdown]
# Your verdicts on the runs printed above: each run of the section 6 sweep judged with the run at half its step, and
# each digits run at $\varepsilon = 5\cdot10^{-4}$ with the run at $2.5\cdot10^{-4}$. For the regular model the exact
# expectation of the estimator (section 6) is printed beside it.

# %%
verdict = yours(run_verdict)


def judge_run(r, r_half):
    """The verdict on run r (its chains that did not diverge), with r_half the same run at half the step."""
    return verdict(rhat_of(r), ess_of(r), acceptance_of(r), r.llc, r.se, r_half.llc, r_half.se)


def flags_of(r):
    return "library flags " + (",".join(r.flags) or "-")


a_reg = nbeta + gamma5
for name, rs in sweep_runs.items():
    for k in range(1, len(eps_grid)):
        r, r_half = rs[k], rs[k - 1]
        lead = f"{name:20s} eps = {eps_grid[k]:.2e}:"
        C, k_ok = len(r.diverged), int((~r.diverged).sum())
        if k_ok == 0 or r_half.diverged.all():
            print(f"{lead} {'all chains diverged (stopped)' if k_ok == 0 else 'all chains at half the step diverged'}: "
                  f"nothing to judge   {flags_of(r)}")
            continue
        exact = f"   exact {d_reg / 2 * nbeta / a_reg / (1 - eps_grid[k] * a_reg / 4):.3f}" if name.startswith("regular") else ""
        lost = f"   {C - k_ok} of {C} chains diverged" if k_ok < C else ""
        print(f"{lead} {judge_run(r, r_half):15s} estimate {r.llc:6.3f} ± {r.se:.3f}{exact}   "
              f"R-hat {rhat_of(r):.3f}   mean ESS {float(ess_of(r).mean()):5.0f}   acceptance {acceptance_of(r):.3f}   "
              f"halving moved it {abs(r.llc - r_half.llc) / math.hypot(r.se, r_half.se):4.1f} SE{lost}   {flags_of(r)}")
for h in widths:
    for gamma_d in sorted({g_ for _, g_, _, _ in rows}):
        (r, r_half) = [r_ for h_, g_, e_, r_ in sorted(rows, key=lambda row: -row[2]) if (h_, g_) == (h, gamma_d)]
        print(f"digits h = {h:2d}, gamma = {gamma_d:3.0f}, eps = 5.0e-04: {judge_run(r, r_half):15s} R-hat {rhat_of(r):.2f}   "
              f"mean ESS {float(ess_of(r).mean()):4.0f}   acceptance {acceptance_of(r):.2f}   "
              f"halving moved it {abs(r.llc - r_half.llc) / math.hypot(r.se, r_half.se):4.1f} SE   {flags_of(r)}")

# %% [markdown]
# Read the verdicts against the rows (the printed rows are the numbers). On the regular model, at
# $\varepsilon = 3\cdot10^{-3}$ the acceptance passes its bound and halving the step still moves the estimate by more
# than 3 SEs: rule 4 sees the bias that rule 3 misses. At $1.5\cdot10^{-3}$ the verdict is `"trust"`, yet the exact
# expectation printed beside it is 6% above the step-free value 4.966 of section 5: halving moved the estimate by
# about one SE, too little to resolve that bias at this precision. That is what `"trust"` means. The library's `step`
# flag does see it, because it computes the bias from the curvature instead of waiting for halving to resolve it. No
# deep linear network run earns `"trust"`: the acceptance is below 0.9 from $7.5\cdot10^{-4}$ up, and the smallest step
# has no half-step run to compare with. At $1.5\cdot10^{-3}$ and $3\cdot10^{-3}$ your verdict judges only the chains that
# did not diverge (4 and 1 of 8): the four rules do not look at divergence, the library's `diverged` flag does; at
# $6\cdot10^{-3}$ no chain is left to judge. None of the digits runs earns `"trust"` either: three have chains that
# disagree, and the fourth ($h = 8$, $\gamma = 100$) has about 20 effective draws per chain; the library's flags agree,
# and add `gamma` at $\gamma = 100$.

# %% [markdown]
# ## Summary
#
# * $\hat\lambda(w^*) = n\beta\,(E[L_n] - L_n(w^*))$ at $n\beta = n/\log n$, from WBIC, localized with $\gamma$; $n$ is the
#   dataset size, also with minibatches.
# * You wrote the estimator: batched chains, burn-in, per-chain estimates, the SE from each chain's ESS.
# * Against exact values: compare with the same estimator's exact value at your $n\beta$ and $\gamma$, not only with
#   $\lambda$ (multiplicity term $-(m-1)/\log n\beta$, localization); the rest is sampler bias.
# * Choose $\varepsilon$ from the curvature the chains meet, $\varepsilon(\kappa_{\max}+\gamma) \approx 0.1$; an
#   acceptance ≥ 0.9 is necessary, not sufficient; sweep $\varepsilon$ and $\gamma$ and report $\hat R$. Or leave
#   $\varepsilon$ to the library: full batch, MALA (exact at any step), or HMC (also exact) where the posterior is too
#   badly conditioned for MALA to relax in time; minibatches, SGLD at a step of 2% first-order bias.
# * On a trained network, an estimate is only as good as its stability under those sweeps.
# * Trust a run only when its chains agree ($\hat R \le 1.1$), have enough draws (mean ESS ≥ 100), its step passes
#   the acceptance bound (≥ 0.9) and halving the step moves the estimate by at most 3 combined SEs; the library's
#   `result.flags` check every estimate for these and more (divergence, drift, values above $d/2$, $\gamma$).

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l5_llc/l5_llc.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l5_llc.ipynb` in this folder works too).
