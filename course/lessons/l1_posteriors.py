# %% [markdown]
# # Lesson 1: Bayesian posteriors, and where singular learning theory begins
#
# Singular learning theory (SLT) is about what Bayesian inference does when a model's parameters are
# not identifiable, as in neural networks. Before the theory, we need the object it studies: the
# **posterior**. In this lesson you build, step by step, a posterior on a grid of parameters, and use it
# to see the contrast SLT starts from:
#
# * a **regular** model's posterior shrinks to a point and looks Gaussian;
# * a **singular** model's posterior concentrates on a *set* of parameters with a singularity in it, and
#   is nowhere near Gaussian.
#
# **How this notebook works.** Each exercise is a function you write in the cell marked
# `# YOUR CODE HERE`. The cell after it checks your function against the course's reference on seeded
# inputs and tells you what is wrong (which input, expected vs got, shape, dtype, device). Hidden tests
# with other inputs run when your notebook is graded (`slt-course check l1_posteriors.ipynb`).
# Use `torch` throughout; keep the dtype and device of the inputs.

# %% [setup]
import math

import matplotlib.pyplot as plt
import torch

from slt_lessons import models, posterior
from slt_lessons.checks import check
from slt_lessons.course import FAST
from slt_lessons.device import get_device

device = get_device()
torch.set_default_dtype(torch.float64)
print("tensors live on", device, "| fast mode:", FAST)

# %% [markdown]
# ## 1. Likelihood, prior, posterior
#
# A model says how likely the data are for each parameter $w$: here, regression with Gaussian noise,
# $y = f(x, w) + \sigma\xi$ with $\xi \sim N(0, 1)$, so
#
# $$\log p(y \mid x, w) = -\frac{(y - f(x,w))^2}{2\sigma^2} - \log\sigma - \tfrac12\log 2\pi .$$
#
# Given data $D_n = \{(x_i, y_i)\}_{i=1}^n$ and a prior $\varphi(w)$, Bayes' rule gives the posterior
#
# $$p(w \mid D_n) = \frac{\varphi(w)\prod_{i=1}^n p(y_i \mid x_i, w)}{Z_n}, \qquad Z_n = \int \varphi(w)\prod_i p(y_i\mid x_i,w)\,dw .$$
#
# **Exercise 1.** Write the Gaussian log-density, elementwise (`y` and `mean` may be tensors of any
# broadcastable shapes; `sigma` is a positive number).

# %% [exercise] posterior.gaussian_log_likelihood points=1

# %% [markdown]
# ## 2. A regular model and a singular one
#
# The **regular** model of this lesson is the Gaussian mean, $y = \mu + \sigma\xi$: one parameter, and
# each $\mu$ gives a different distribution. The **singular** model is
#
# $$y = a\,b\,x + \sigma\xi ,$$
#
# with two parameters $w = (a, b)$ that enter only through their product. If the data come from
# $ab = 0$ (no dependence of $y$ on $x$), every point of the cross $\{a = 0\} \cup \{b = 0\}$ is a true
# parameter: the map from parameters to distributions is not one-to-one, and at the origin, where the
# two lines cross, it is not even locally a smooth curve. This is the simplest example of the
# degeneracy that neural networks have everywhere (Watanabe 2009, *Algebraic Geometry and Statistical
# Learning Theory*, ch. 1).
#
# To draw a posterior we evaluate the log-likelihood $\sum_i \log p(y_i\mid x_i, a, b)$ on a whole grid of
# $(a, b)$ at once. **Exercise 2.** Write it for the product model. `a` and `b` broadcast against each
# other (e.g. shapes `(G, 1)` and `(1, G)` give a `(G, G)` grid); `x`, `y` have shape `(n,)`.
# *Hint:* $\sum_i (y_i - c x_i)^2 = \sum y_i^2 - 2c\sum x_i y_i + c^2\sum x_i^2$ needs only three sums,
# whatever n is; looping over the data works too, but is slower.

# %% [exercise] posterior.product_log_likelihood points=2

# %% [markdown]
# ## 3. Normalising on a grid, in log space
#
# On a grid $w_1, \dots, w_G$, an integral becomes a weighted sum, $\int g(w)\,dw \approx \sum_j g(w_j)\,v_j$,
# with the trapezoid weights $v_j$ (half a cell at the ends). We keep everything as logarithms: with
# $n = 10^6$ data points the log-likelihood is about $-10^6$, and `exp(-1e6)` is exactly `0.0` in
# floating point. The trick is the **log-sum-exp**:
#
# $$\log \sum_j e^{\ell_j} = M + \log\sum_j e^{\ell_j - M}, \quad M = \max_j \ell_j ,$$
#
# which `torch.logsumexp` computes for you. See the problem first:

# %%
big = torch.tensor([-1e6, -1e6 + 1.0, -1e6 + 2.0])
print("naive:    ", torch.log(torch.exp(big).sum()).item())
print("logsumexp:", torch.logsumexp(big, 0).item())

# %% [markdown]
# **Exercise 3.** Given a log-density $\ell_j$ (any shape: a 1-D or 2-D grid) and the log-weights
# $\log v_j$ (same shape), return the normalised log-density $\ell_j - \log\sum_k e^{\ell_k}v_k$, so that
# $\sum_j e^{\text{out}_j}v_j = 1$. It must work for $\ell \approx -10^6$ and for $\ell \approx +800$.

# %% [exercise] posterior.normalize_log_density points=2

# %% [markdown]
# ## 4. Tempering
#
# The **tempered posterior** raises the likelihood to a power $\beta > 0$, an inverse temperature:
#
# $$p_\beta(w\mid D_n) = \frac{\varphi(w) \prod_i p(y_i\mid x_i,w)^\beta}{Z_n(\beta)} .$$
#
# $\beta = 1$ is Bayes' posterior; $\beta < 1$ flattens it (the data count for less), $\beta > 1 $ sharpens
# it. Tempering matters later: WBIC (lesson 2) and the local learning coefficient (lesson 5) use
# $\beta = 1/\log n$. **Exercise 4.** Return the normalised tempered log-posterior on a grid
# from the log-likelihood table, the log-prior table, $\beta$ and the log-weights. You may use
# `posterior.normalize_log_density` (the library's version of exercise 3) or your own.

# %% [exercise] posterior.tempered_log_posterior points=2

# %% [markdown]
# Let's check the grid against a closed form. For the Gaussian mean with prior $N(0, s^2)$ and known
# $\sigma$, the posterior is Gaussian with precision $1/s^2 + n/\sigma^2$ and mean
# $\frac{\sum_i y_i/\sigma^2}{1/s^2 + n/\sigma^2}$ (conjugacy). The library's `posterior.grid_posterior`
# assembles exactly the steps you just wrote.

# %%
gen = torch.Generator().manual_seed(0)
n, sigma, s = 50, 1.0, 1.0
x, y = models.make_data(lambda x: 0.7 + 0 * x, n, sigma=sigma, generator=gen)
mu_grid = torch.linspace(-1, 2, 601)
post = posterior.grid_posterior(lambda mu: models.gaussian_mean_log_likelihood(mu, y, sigma), (mu_grid,),
                                log_prior=lambda mu: posterior.log_normal_prior(mu, scale=s))
prec = 1 / s**2 + n / sigma**2
exact = torch.exp(-0.5 * prec * (mu_grid - y.sum() / sigma**2 / prec) ** 2) * math.sqrt(prec / (2 * math.pi))
print("largest difference between grid and exact density:", (post.marginal(0) - exact).abs().max().item())
plt.plot(mu_grid, post.marginal(0), label="grid posterior")
plt.plot(mu_grid, exact, "--", label="closed form (conjugate)")
plt.xlabel(r"$\mu$"); plt.legend(); plt.title(f"Gaussian mean, n = {n}"); plt.show()

# %% [markdown]
# ## 5. How posteriors concentrate: regular vs singular
#
# Now the contrast. We draw data from the regular model $y = 0.5 + \xi$ and from the singular model with
# true product $ab = 0$ and watch both posteriors (flat prior on the box) as $n$ grows. The regular one is
# a shrinking ellipse (here we use the two-parameter regular model $y = w_1 + w_2 x + \xi$, linear
# regression, for a fair 2-D comparison); the singular one collapses onto the cross $ab = 0$.

# %%
grid = torch.linspace(-2, 2, 121 if FAST else 301)
ns = [10, 100, 1000] if FAST else [10, 100, 1000, 10000]
fig, axes = plt.subplots(2, len(ns), figsize=(3.2 * len(ns), 6.2))
gen = torch.Generator().manual_seed(1)
x_all = torch.randn(max(ns), generator=gen)
noise = torch.randn(max(ns), generator=gen)
for k, n in enumerate(ns):
    x, e = x_all[:n], noise[:n]
    X = torch.stack([torch.ones(n), x], 1)
    reg = posterior.grid_posterior(lambda w1, w2: models.linear_regression_log_likelihood(torch.stack([w1, w2], -1), X, 0.5 + e), (grid, grid))
    sing = posterior.grid_posterior(lambda a, b: models.product_log_likelihood(a, b, x, e, 1.0), (grid, grid))
    for row, p in enumerate([reg, sing]):
        ax = axes[row, k]
        ax.contourf(grid, grid, p.mass().T, levels=20, cmap="viridis")
        ax.set_title(("regular" if row == 0 else "singular $y = abx$") + f", n = {n}", fontsize=9)
        ax.set_aspect("equal")
plt.tight_layout(); plt.show()

# %% [markdown]
# The singular posterior is not shrinking to a point. It spreads along the whole cross, with extra mass
# near the origin, where the two lines meet: there, more parameters are "almost true" than anywhere
# else. SLT makes this precise: the volume of almost-true parameters near a singularity scales like
# $\varepsilon^{\lambda}$ with a **learning coefficient** $\lambda$ smaller than half the number of
# parameters, and that $\lambda$ governs the free energy and generalisation error (lessons 2–3).
#
# ## 6. Summaries: posterior mean and credible regions
#
# **Exercise 5.** The posterior expectation of a function $g$ on a grid is
# $E[g(w)] = \sum_j g(w_j)\, p(w_j)\, v_j$. Given the normalised log-posterior, the table of values
# $g(w_j)$ and the log-weights, return it (a 0-d tensor).

# %% [exercise] posterior.posterior_mean points=1

# %% [markdown]
# A **highest-density credible region** of level $\alpha$ is the smallest set holding probability
# $\alpha$: all $w$ with $p(w) \ge t$ for the right threshold $t$. On a grid: sort the cells by density,
# largest first, add up their masses $p_j v_j$ until the sum reaches $\alpha$; the threshold is the
# log-density of the last cell you needed.
#
# **Exercise 6.** Return that log-density threshold (a 0-d tensor) for a normalised log-posterior of
# any shape.

# %% [exercise] posterior.credible_threshold points=2

# %% [markdown]
# For a regular model the 90 % region is (nearly) an ellipse, and the Laplace (Gaussian) approximation
# describes it well. For the singular model it is a cross, which no Gaussian can describe: compare the
# region with the best Gaussian (same mean and covariance).

# %%

x, e = x_all[:1000], noise[:1000]
sing = posterior.grid_posterior(lambda a, b: models.product_log_likelihood(a, b, x, e, 1.0), (grid, grid))
region = sing.credible_region(0.9)
A, B = sing.mesh
m = sing.mean()
mass = sing.mass()
cov = torch.stack([torch.stack([(mass * (A - m[0]) * (A - m[0])).sum(), (mass * (A - m[0]) * (B - m[1])).sum()]),
                   torch.stack([(mass * (B - m[1]) * (A - m[0])).sum(), (mass * (B - m[1]) * (B - m[1])).sum()])])
d = torch.stack([A - m[0], B - m[1]], -1)
maha = torch.einsum("...i,ij,...j->...", d, torch.linalg.inv(cov), d)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.contourf(grid, grid, region.T.double(), levels=[0.5, 1.5], colors=["tab:orange"])
ax.contour(grid, grid, maha.T, levels=[-2 * math.log(0.1)], colors="k")  # 90% ellipse of the Gaussian
ax.set_title("90% region (orange) vs Gaussian fit (black), n = 1000"); ax.set_xlabel("a"); ax.set_ylabel("b")
plt.show()

# %% [markdown]
# ## 7. Sampling from a grid posterior
#
# Later lessons compare samplers (SGLD) against the exact grid posterior, so we need exact samples from
# it. Picking a cell with probability $p_j v_j$ is sampling from a categorical distribution.
#
# **Exercise 7.** Return `n_samples` flat cell indices (into `log_posterior.flatten()`), drawn
# independently with probabilities $p_j v_j$, using the given `torch.Generator` for all randomness
# (`torch.multinomial` does this). The check is statistical: it compares each cell's frequency with its
# mass, and fails a correct sampler with probability below $10^{-7}$.

# %% [exercise] posterior.sample_grid points=2

# %%
samples = sing.sample(3000, torch.Generator().manual_seed(2))
plt.figure(figsize=(4.5, 4.5))
plt.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4)
plt.xlim(-2, 2); plt.ylim(-2, 2); plt.gca().set_aspect("equal")
plt.title("3000 exact posterior samples, singular model"); plt.show()

# %% [markdown]
# ## 8. When the grid is too coarse
#
# A grid only shows a posterior that spans many of its cells. At $n = 10^6$ the regular posterior has
# width $\sigma/\sqrt n = 10^{-3}$: a grid with spacing $0.03$ puts essentially all the mass into one cell,
# and every summary computed from it is an artefact of the grid. `effective_cells` (the exponential of
# the entropy of the cell masses) detects it; the cure is a finer grid around the mode.

# %%
n_big = 10**5 if FAST else 10**6
y_big = 0.3 + torch.randn(n_big, generator=torch.Generator().manual_seed(3))
for lo, hi, G in [(-2.0, 2.0, 121), (0.29, 0.31, 121)]:
    g = torch.linspace(lo, hi, G)
    p = posterior.grid_posterior(lambda mu: models.gaussian_mean_log_likelihood(mu, y_big), (g,))
    print(f"grid [{lo}, {hi}] with {G} points: effective cells = {p.effective_cells():6.2f}, "
          f"posterior mean = {p.mean().item():.5f}")
print("exact posterior mean (flat prior):", y_big.mean().item())

# %% [markdown]
# ## 9. The posterior predictive
#
# What the posterior says about a new $y$ at input $x$ is the **predictive distribution**
# $p(y\mid x, D_n) = \int p(y\mid x, w)\, p(w\mid D_n)\, dw$. For Gaussian noise its mean is the posterior
# mean of $f(x, w)$ and its variance is $\sigma^2 + \mathrm{Var}_w[f(x,w)]$.

# %%
xs = torch.linspace(-3, 3, 61)
mean, var = sing.predictive(xs, lambda x, a, b: a * b * x, sigma=1.0)
plt.fill_between(xs, mean - 2 * var.sqrt(), mean + 2 * var.sqrt(), alpha=0.3, label="±2 sd")
plt.plot(xs, mean, label="predictive mean")
plt.scatter(x[:200], e[:200], s=4, c="k", label="data")
plt.legend(); plt.title("posterior predictive of y = abx (true ab = 0)"); plt.show()

# %% [markdown]
# ## Summary
#
# * The posterior is the prior times the likelihood, normalised; on a grid, normalise in log space.
# * Tempering with $\beta$ scales the data's weight; $\beta = 1/\log n$ will matter later.
# * A regular posterior contracts to a point at rate $n^{-1/2}$ and looks Gaussian.
# * A singular posterior concentrates on the set of true parameters, here the cross $ab = 0$, and
#   piles up near its singular point. No Gaussian describes it; the rest of the course measures *how*
#   it concentrates, through the learning coefficient $\lambda$.
#
# Check your whole notebook: `slt-course check l1_posteriors.ipynb`.
