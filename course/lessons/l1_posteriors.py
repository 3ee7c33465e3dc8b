# %% [markdown]
# # Lesson 1: Bayesian posteriors, and where singular learning theory begins
#
# Singular learning theory (SLT) is about what Bayesian inference does when a model is *singular*: many
# parameters give the same distribution and, at the true parameters, the Fisher information matrix is
# degenerate, as in over-parameterised neural networks. Before the theory, we need the object it studies: the
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
# with other inputs run when your notebook is graded (the last cell says how to run them yourself).
# The demonstrations after an exercise use *your* function; while it is not written yet, they say so
# in one line and use the course's reference instead. Use `torch` throughout; keep the dtype and
# device of the inputs.

# %% [setup]
import math

import matplotlib.pyplot as plt
import torch

from slt_lessons import models, posterior
from slt_lessons.checks import check, yours
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
# two lines cross, the set of true parameters is not even locally a smooth curve. This is the simplest
# example of the degeneracy that neural networks have at the true parameters of an over-parameterised
# network: a hidden unit whose outgoing weight is zero (its incoming weights are then free, as $b$ is
# here when $a = 0$), two units that merge, or a continuous symmetry such as the $GL(H)$ invariance
# of a product of linear layers. Of a network's symmetries, only such continuous families make the
# Fisher information matrix degenerate. Discrete symmetries (permuting hidden units, flipping signs) do
# not: they only make the set of true parameters a finite set of points, where the Fisher matrix can
# have full rank (Watanabe 2009, *Algebraic Geometry and Statistical
# Learning Theory*, ch. 1).
#
# To draw a posterior we evaluate the log-likelihood $\sum_i \log p(y_i\mid x_i, a, b)$ on a whole grid of
# $(a, b)$ at once. **Exercise 2.** Write it for the product model. `a` and `b` broadcast against each
# other (e.g. shapes `(G, 1)` and `(1, G)` give a `(G, G)` grid); `x`, `y` have shape `(n,)`.
# *Hint:* $\sum_i (y_i - c x_i)^2 = \sum y_i^2 - 2c\sum x_i y_i + c^2\sum x_i^2$ needs only three sums,
# whatever n is. Use this form: the demonstrations below call your function on a $301 \times 301$ grid
# with n up to $10^4$, where broadcasting over the data builds a tensor of $301 \cdot 301 \cdot n$ entries
# (several gigabytes) and looping over the data takes minutes; both pass the checks, which use small n.

# %% [exercise] posterior.product_log_likelihood points=2

# %% [markdown]
# ## 3. Normalising on a grid, in log space
#
# On a grid $w_1, \dots, w_G$, an integral becomes a weighted sum, $\int g(w)\,dw \approx \sum_j g(w_j)\,v_j$,
# with the trapezoid weights $v_j$ (half a cell at the ends). We keep everything as logarithms: with
# $n = 10^6$ data points the log-likelihood is about $-10^6$, and `exp(-1e6)` is exactly `0.0` in
# floating point (with $\sigma = 1$ it is about $-1.4 \times 10^6$). The trick is the **log-sum-exp**:
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
# $\sigma$, the tempered posterior is Gaussian with precision $1/s^2 + \beta n/\sigma^2$ and mean
# $\frac{\beta\sum_i y_i/\sigma^2}{1/s^2 + \beta n/\sigma^2}$ (conjugacy; $\beta = 1$ is Bayes' posterior). The grid
# posterior below is built from your functions: exercise 1 gives the log-likelihood (and the Gaussian
# log-prior), exercise 4 the posterior. We take $\sigma$, $s$ and $\beta$ all different from 1, so that a
# mistake such as using $\sigma$ as the variance, or tempering the prior too, shows as a large difference.

# %%
log_normal = yours(gaussian_log_likelihood)
log_posterior_of = yours(tempered_log_posterior)
gen = torch.Generator().manual_seed(0)
n, sigma, s, beta = 20, 0.8, 0.4, 0.5
x, y = models.make_data(lambda x: 0.7 + 0 * x, n, sigma=sigma, generator=gen)
mu_grid = torch.linspace(-1, 2, 601)
lw_mu = posterior.grid_log_weights(mu_grid)
loglik_mu = log_normal(y[:, None], mu_grid[None, :], sigma).sum(0)  # sum over the data, for every mu
logprior_mu = log_normal(mu_grid, torch.zeros(()), s)  # the N(0, s^2) prior is a Gaussian log-density too
grid_density = torch.exp(log_posterior_of(loglik_mu, logprior_mu, beta, lw_mu))
prec = 1 / s**2 + beta * n / sigma**2
exact = torch.exp(-0.5 * prec * (mu_grid - beta * y.sum() / sigma**2 / prec) ** 2) * math.sqrt(prec / (2 * math.pi))
print("largest difference between grid and exact density:", (grid_density - exact).abs().max().item(),
      "| largest density:", exact.max().item())
plt.plot(mu_grid, grid_density, label="grid posterior")
plt.plot(mu_grid, exact, "--", label="closed form (conjugate)")
plt.xlabel(r"$\mu$"); plt.legend(); plt.title(f"Gaussian mean, n = {n}, σ = {sigma}, s = {s}, β = {beta}"); plt.show()

# %% [markdown]
# ## 5. How posteriors concentrate: regular vs singular
#
# Now the contrast. We draw data from the regular model $y = 0.5 + \xi$ and from the singular model with
# true product $ab = 0$ and watch both posteriors (flat prior on the box) as $n$ grows. The regular one is
# a shrinking ellipse (here we use the two-parameter regular model $y = w_1 + w_2 x + \xi$, linear
# regression, for a fair 2-D comparison); the singular one collapses onto the cross $ab = 0$.

# %%
product_log_lik = yours(product_log_likelihood)
grid = torch.linspace(-2, 2, 121 if FAST else 301)
lw = posterior.grid_log_weights(grid, grid)
A, B = torch.meshgrid(grid, grid, indexing="ij")
flat_prior = torch.zeros_like(lw)  # a flat prior on the box: a constant log-prior (normalising removes it)
centre = (A.abs() <= 0.2) & (B.abs() <= 0.2)  # 1% of the box's area
ns = [10, 100, 1000] if FAST else [10, 100, 1000, 10000]
fig, axes = plt.subplots(2, len(ns), figsize=(3.2 * len(ns), 6.6), constrained_layout=True)
gen = torch.Generator().manual_seed(1)
x_all = torch.randn(max(ns), generator=gen)
noise = torch.randn(max(ns), generator=gen)
for k, n in enumerate(ns):
    x, e = x_all[:n], noise[:n]
    X = torch.stack([torch.ones(n), x], 1)
    reg = log_posterior_of(models.linear_regression_log_likelihood(torch.stack([A, B], -1), X, 0.5 + e), flat_prior, 1.0, lw)
    sing = log_posterior_of(product_log_lik(grid[:, None], grid[None, :], x, e, 1.0), flat_prior, 1.0, lw)
    print(f"n = {n:5d}: singular posterior mass in the central square |a|, |b| <= 0.2: "
          f"{torch.exp(sing + lw)[centre].sum().item():.2f}")
    for row, lp in enumerate([reg, sing]):
        ax = axes[row, k]
        mass = torch.exp(lp + lw)
        filled = ax.contourf(grid, grid, (mass / mass.max()).T, levels=torch.linspace(0, 1, 21), cmap="viridis")
        ax.set_title(("regular $y = w_1 + w_2 x$" if row == 0 else "singular $y = abx$") + f", n = {n}", fontsize=9)
        ax.set_xlabel("$w_1$" if row == 0 else "$a$"); ax.set_ylabel("$w_2$" if row == 0 else "$b$")
        ax.set_aspect("equal")
fig.colorbar(filled, ax=axes, shrink=0.8, label="posterior mass of a cell / the largest cell's mass")
plt.show()
# the cross is symmetric under b -> -b; data with ab = 0.5 are not: the mass must sit where ab > 0
tilted = log_posterior_of(product_log_lik(grid[:, None], grid[None, :], x_all[:100], 0.5 * x_all[:100] + noise[:100], 1.0),
                          flat_prior, 1.0, lw)
mass = torch.exp(tilted + lw)
print(f"data with true ab = 0.5, n = 100: posterior mass where a > 0, b > 0: {mass[(A > 0) & (B > 0)].sum().item():.3f}; "
      f"where a > 0, b < 0: {mass[(A > 0) & (B < 0)].sum().item():.3f}")

# %% [markdown]
# The singular posterior is not shrinking to a point. It spreads along the whole cross, with extra mass
# near the origin, where the two lines meet: the printed share of the mass in the central square, 1% of
# the box, grows with $n$. (The cross looks the same if the sign of $ab$ is flipped, so the figure cannot
# show a sign error in exercise 2; the last printed line can: for data with $ab = 0.5$ the mass must lie
# where $ab > 0$, half of it in the quadrant $a, b > 0$ and almost none in $a > 0, b < 0$.) Near the origin more parameters are "almost true" than anywhere else.
# SLT makes this precise (Watanabe 2009): the prior volume of the almost-true parameters,
# $\{w : K(w) < \varepsilon\}$ with $K$ the Kullback–Leibler divergence from the truth, scales like
# $\varepsilon^{\lambda}$ (times a power of $\log(1/\varepsilon)$) as $\varepsilon \to 0$. The exponent
# $\lambda$ is the **learning coefficient**. It is at most $d/2$, half the number of parameters, with
# equality for a regular model; at a singularity like this one it is smaller (here $\lambda = 1/2$
# against $d/2 = 1$). Section 10 derives $\lambda$ for simple potentials. Two theorems say why it
# matters: the free energy $-\log Z_n$ grows like $nL_n(w_0) + \lambda \log n$ (Watanabe 2009; lesson 2
# measures it), and the Bayes generalisation error $G_n$, the expected negative log-likelihood of a new
# data point under the predictive distribution of section 9 (with $\beta = 1$), has
# $E[G_n] = L(w_0) + \lambda/n + o(1/n)$, where $L(w_0)$ is the smallest expected negative log-likelihood
# any parameter attains (Watanabe 2010, *JMLR* 11:3571–3594). This course states the second theorem
# but does not test it.
#
# ## 6. Summaries: posterior mean and credible regions
#
# **Exercise 5.** The posterior expectation of a function $g$ on a grid is
# $E[g(w)] = \sum_j g(w_j)\, p(w_j)\, v_j$. Given the normalised log-posterior, the table of values
# $g(w_j)$ and the log-weights, return it as a 0-d tensor of the inputs' dtype (what `.sum()` gives; not
# a Python float from `.item()`, and not shape `(1,)`: the demonstrations do tensor arithmetic with it).

# %% [exercise] posterior.posterior_mean points=1

# %% [markdown]
# A **highest-density credible region** of level $\alpha$ is the smallest set holding probability
# $\alpha$: all $w$ with $p(w) \ge t$ for the right threshold $t$. On a grid: sort the cells by density
# $p_j$, largest first, add up their masses $p_j v_j$ until the sum reaches $\alpha$; the threshold is the
# log-density of the last cell you needed (the first at which the sum is $\ge \alpha$).
#
# **Exercise 6.** Return that log-density threshold (a 0-d tensor of the inputs' dtype, not a Python
# float) for a normalised log-posterior of any shape. The checks use **uneven** grids, where density and mass order the cells differently:
# a wide cell of low density can hold more mass than a narrow dense one, and the region takes the
# dense one first. If round-off leaves the total mass just below $\alpha$ (it can, for $\alpha = 1$),
# take the last cell.

# %% [exercise] posterior.credible_threshold points=2

# %% [markdown]
# For a regular model the posterior becomes Gaussian as $n$ grows (the Bernstein–von Mises theorem), so
# its 90 % region approaches an ellipse, which the Laplace (Gaussian) approximation describes. For the
# singular model the region is a cross. Compare it with the best Gaussian (same mean and covariance,
# computed with your `posterior_mean`), whose 90 % region is the ellipse drawn in black.

# %%
threshold_of, mean_of = yours(credible_threshold), yours(posterior_mean)
x, e = x_all[:1000], noise[:1000]
sing = log_posterior_of(product_log_lik(grid[:, None], grid[None, :], x, e, 1.0), flat_prior, 1.0, lw)
region = sing >= threshold_of(sing, lw, 0.9)
m = torch.stack([mean_of(sing, A, lw), mean_of(sing, B, lw)])
d = torch.stack([A - m[0], B - m[1]], -1)
cov = torch.stack([torch.stack([mean_of(sing, d[..., i] * d[..., j], lw) for j in range(2)]) for i in range(2)])
maha = torch.einsum("...i,ij,...j->...", d, torch.linalg.inv(cov), d)
ellipse = maha <= -2 * math.log(0.1)  # the Gaussian's 90% region
cell = torch.exp(lw)
print(f"posterior mass inside the Gaussian's 90% ellipse: {torch.exp(sing + lw)[ellipse].sum().item():.2f}")
print(f"area of the 90% region: {cell[region].sum().item():.3f}; of the ellipse: {cell[ellipse].sum().item():.3f}; "
      f"of their overlap: {cell[region & ellipse].sum().item():.3f}")
print(f"the ellipse's area / the region's area: {(cell[ellipse].sum() / cell[region].sum()).item():.1f}")
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.contourf(grid, grid, region.T.double(), levels=[0.5, 1.5], colors=["tab:orange"])
ax.contour(grid, grid, maha.T, levels=[-2 * math.log(0.1)], colors="k")
ax.set_title("90% region (orange) vs Gaussian fit (black), n = 1000", fontsize=10)
ax.set_xlabel("a"); ax.set_ylabel("b")
plt.show()

# %% [markdown]
# The printed numbers say how badly the Gaussian fits: its 90 % ellipse covers over five times the
# area of the posterior's 90 % region (the printed ratio), and still holds less than 90 % of the
# posterior's mass.

# %% [markdown]
# ## 7. Sampling from a grid posterior
#
# Later lessons compare samplers (SGLD) against the exact grid posterior, so we need exact samples from
# it. Picking a cell with probability $p_j v_j$ is sampling from a categorical distribution.
#
# **Exercise 7.** Return `n_samples` flat cell indices (into `log_posterior.flatten()`, an integer
# tensor), drawn independently with probabilities $p_j v_j$ (with replacement: a cell can come up many
# times, also when `n_samples` is smaller than the number of cells), using the given `torch.Generator` for all
# randomness (`torch.multinomial` does this): the same generator seed must give the same draws, and
# another seed other draws. The check is statistical: it compares each cell's frequency with its mass,
# and fails a correct sampler on a case with probability below $10^{-7}$.

# %% [exercise] posterior.sample_grid points=2

# %% [markdown]
# Your sampler picks cells; a point uniformly within the picked cell (the grid is even, with spacing
# $h$) turns the picks into samples of $(a, b)$ that are not stuck on grid points.

# %%
draw_cells = yours(sample_grid)
gen = torch.Generator().manual_seed(2)
flat_index = draw_cells(sing, lw, 3000, gen)
i, j = torch.unravel_index(flat_index, sing.shape)
h = (grid[1] - grid[0]).item()
jitter = (torch.rand(2, 3000, generator=gen) - 0.5) * h
a_s, b_s = (grid[i] + jitter[0]).clamp(-2, 2), (grid[j] + jitter[1]).clamp(-2, 2)
plt.figure(figsize=(4.5, 4.5))
plt.scatter(a_s, b_s, s=2, alpha=0.4)
plt.xlim(-2, 2); plt.ylim(-2, 2); plt.gca().set_aspect("equal"); plt.xlabel("a"); plt.ylabel("b")
plt.title("3000 exact posterior samples, singular model, n = 1000", fontsize=10); plt.show()

# %% [markdown]
# ## 8. When the grid is too coarse
#
# A grid only shows a posterior that spans many of its cells. At $n = 10^6$ the regular posterior has
# width $\sigma/\sqrt n = 10^{-3}$: a grid on $[-2, 2]$ with 121 points (spacing $1/30 \approx 0.033$) puts
# nearly all the mass into one cell, and every summary computed from it is an artefact of the grid: below,
# the true mean $0.31$ lies between two grid points ($0.3$ and $0.333$), and the coarse grid's posterior
# mean is the nearer grid point, off by about $0.01$, several times the posterior's width $\sigma/\sqrt n$.
# `posterior.effective_cells` (the exponential of the entropy of the cell masses) detects it; the cure is
# a finer grid around the mode.

# %%
normalize = yours(normalize_log_density)
n_big = 10**5 if FAST else 10**6
y_big = 0.31 + torch.randn(n_big, generator=torch.Generator().manual_seed(3))
for lo, hi, G in [(-2.0, 2.0, 121), (0.30, 0.32, 121)]:
    g = torch.linspace(lo, hi, G)
    lw_g = posterior.grid_log_weights(g)
    lp_g = normalize(models.gaussian_mean_log_likelihood(g, y_big), lw_g)  # flat prior
    print(f"n = {n_big}, grid [{lo}, {hi}] with {G} points: effective cells = {posterior.effective_cells(lp_g, lw_g):6.2f}, "
          f"posterior mean = {mean_of(lp_g, g, lw_g).item():.5f}")
print("exact posterior mean (flat prior, the sample mean):", y_big.mean().item())

# %% [markdown]
# ## 9. The posterior predictive
#
# What the posterior says about a new $y$ at input $x$ is the **predictive distribution**
# $p(y\mid x, D_n) = \int p(y\mid x, w)\, p(w\mid D_n)\, dw$. For Gaussian noise its mean is the posterior
# mean of $f(x, w)$ and its variance is $\sigma^2 + \mathrm{Var}_w[f(x,w)]$. For $f = abx$ both need only
# two posterior means, $E[ab]$ and $E[(ab)^2]$, which your `posterior_mean` computes.

# %%
xs = torch.linspace(-3, 3, 61)
E_ab, E_ab2 = mean_of(sing, A * B, lw), mean_of(sing, (A * B) ** 2, lw)
mean, var = E_ab * xs, 1.0 + (E_ab2 - E_ab**2) * xs**2
plt.fill_between(xs, mean - 2 * var.sqrt(), mean + 2 * var.sqrt(), alpha=0.3, label="±2 sd")
plt.plot(xs, mean, label="predictive mean")
plt.scatter(x[:200], e[:200], s=4, c="k", label="data")
plt.xlabel("x"); plt.ylabel("y")
plt.legend(); plt.title("posterior predictive of y = abx (true ab = 0), n = 1000"); plt.show()

# %% [markdown]
# ## 10. How fast does a posterior shrink? A first learning coefficient
#
# The log-likelihood is $-nK_n(w)$ plus a constant that does not depend on $w$, where
# $K_n(w) = \frac1n\sum_i \log\frac{q(y_i\mid x_i)}{p(y_i\mid x_i, w)}$ compares the model with the truth $q$.
# As $n$ grows, $K_n(w)$ tends to $K(w) \ge 0$, the Kullback–Leibler divergence from the truth, which is
# $0$ exactly at the true parameters. For the product model, $K(a, b) = (ab)^2 E[x^2]/(2\sigma^2)$. So
# how fast the posterior $\propto \varphi(w)\,e^{-nK(w)}$ shrinks depends on how $K$ rises away from
# its zeros. Here we use $e^{-nK(w)}$ itself, with a flat prior on a box around $0$, for potentials $K$
# made of powers.
#
# **A worked example: $K(w) = w^4$**, one coordinate, $w \in [-1, 1]$. Substitute $w = n^{-1/4}u$:
# then $nK(w) = u^4$ and $dw = n^{-1/4}du$, so
#
# $$p(w)\,dw \;\propto\; e^{-u^4}\,du, \qquad u \in [-n^{1/4}, n^{1/4}] .$$
#
# In $u$ the posterior no longer depends on $n$, except through the ends of the box, which move out to
# where $e^{-u^4}$ is negligible. So the 90 % highest-density region is a fixed interval
# $|u| \le u_{0.9}$, and in $w$ it is $|w| \le n^{-1/4}u_{0.9}$: its width shrinks like $n^{-1/4}$, far
# more slowly than the $n^{-1/2}$ of a quadratic $K$ (the regular case). We write: the volume of a
# credible region (of any fixed level) is proportional to $n^{-\lambda}$; here $\lambda = 1/4$. This
# exponent is the learning coefficient of section 5: the region is $\{nK(w) \le \text{const}\}$, so its
# volume is the volume $\propto \varepsilon^\lambda$ of $\{K < \varepsilon\}$ at $\varepsilon \propto 1/n$.
#
# **Exercise 8.** Return $\lambda$ (a number: a Python float, or a 0-d tensor; not a tensor of shape `(1,)`) for $K(w) = \sum_i c_i w_i^{p_i}$: `powers[i]` $= p_i$ is a
# positive even integer, or $0$ when $K$ does not depend on $w_i$; `coefficients[i]` $= c_i > 0$. Work it
# out on paper before you write code, using the substitution above:
# * take one term $c\,w^{p}$ on its own and redo the worked example's substitution for it: what does
#   it tell you about the width of the region along $w$?
# * how does $e^{-nK}$ factor when $K$ is a sum of terms in different coordinates, and how does the
#   volume of a (roughly box-shaped) region follow from its widths along the coordinates?
# * along a coordinate that $K$ does not depend on, what limits the region?
#
# The hidden tests ask about potentials of several kinds; when an answer is wrong, the feedback names the
# mistake when your answers match a common one on every test, and otherwise asks a question about the
# step that kind of potential needs.

# %% [exercise] posterior.credible_volume_exponent points=3

# %% [markdown]
# Now measure it. For each potential, the cell below builds the posterior $e^{-nK}$ with your
# `tempered_log_posterior` on an **uneven** grid, fine near $0$ where the posterior concentrates (the
# trapezoid weights take care of the uneven cells), finds the 90 % region with your
# `credible_threshold`, adds up the weights $v_j$ of its cells, and fits the slope of
# $\log(\text{volume})$ against $\log n$. Compare $-$slope with your exponent.

# %%
exponent_of = yours(credible_volume_exponent)
ns_fit = [1e2, 1e3, 1e4] if FAST else [1e2, 1e3, 1e4, 1e5, 1e6]
uneven = lambda G: torch.sinh(6 * torch.linspace(-1, 1, G)) / math.sinh(6)  # spacing ~1e-4 near 0 at G = 601
g1, g2 = uneven(801 if FAST else 4001), uneven(201 if FAST else 601)
potentials = [((2,), (1.0,)), ((4,), (1.0,)), ((2, 4), (1.0, 1.0)), ((4, 4), (1.0, 2.0)), ((2, 0), (1.0, 1.0))]
fig, ax = plt.subplots(figsize=(5.5, 4))
for powers, coefficients in potentials:
    grids = (g1,) if len(powers) == 1 else (g2, g2)
    lw_k = posterior.grid_log_weights(*grids)
    mesh = torch.meshgrid(*grids, indexing="ij")
    K = sum(c * w**p for w, p, c in zip(mesh, powers, coefficients))
    volumes = []
    for n in ns_fit:
        lp = log_posterior_of(-n * K, torch.zeros_like(lw_k), 1.0, lw_k)
        volumes.append(torch.exp(lw_k)[lp >= threshold_of(lp, lw_k, 0.9)].sum().item())
    log_n, log_v = torch.log(torch.tensor(ns_fit)), torch.log(torch.tensor(volumes))
    slope = (((log_n - log_n.mean()) * (log_v - log_v.mean())).sum() / ((log_n - log_n.mean()) ** 2).sum()).item()
    name = " + ".join(f"{c:g} w{i + 1}^{p}" for i, (p, c) in enumerate(zip(powers, coefficients)) if p)
    name += "".join(f", w{i + 1} free" for i, p in enumerate(powers) if p == 0)
    print(f"K = {name:22s}: measured -slope = {-slope:.3f}, your exponent = {float(exponent_of(powers, coefficients)):.3f}")
    ax.loglog(ns_fit, volumes, "o-", label=f"K = {name}")
ax.set_xlabel("n"); ax.set_ylabel("volume of the 90% credible region"); ax.legend(fontsize=8)
ax.set_title("credible regions shrink like $n^{-\\lambda}$", fontsize=10); plt.show()

# %% [markdown]
# The measured slopes agree with the exponents to within $0.01$ (with the course's reference for
# exercise 8; compare your column). Higher powers shrink more slowly, and a coordinate that $K$ ignores
# does not shrink at all. The
# product model's $K \propto (ab)^2$ is not a sum over coordinates: its $\lambda$ is $1/2$, with a
# $\log n$ correction from the crossing of two lines (lesson 3's normal crossings compute such cases).
# Lesson 2 finds the same $\lambda$ in the free energy, and lesson 5 estimates it for models whose
# $K$ we cannot write down.
#
# ## Summary
#
# * The posterior is the prior times the likelihood, normalised; on a grid, normalise in log space.
# * Tempering with $\beta$ scales the data's weight; $\beta = 1/\log n$ will matter later.
# * A regular posterior contracts to a point, each coordinate at rate $n^{-1/2}$, and becomes Gaussian.
# * A singular posterior concentrates on the set of true parameters, here the cross $ab = 0$, and
#   piles up near its singular point. No Gaussian describes it.
# * How fast a posterior's credible regions shrink, volume $\propto n^{-\lambda}$, is set by how $K$
#   rises away from its zeros: the learning coefficient $\lambda$, which the rest of the course measures.

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l1_posteriors/l1_posteriors.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l1_posteriors.ipynb` in this folder works too).
