# %% [markdown]
# # Lesson 2: the free energy, and why singular models are cheap
#
# Bayesian model selection compares models by their **evidence** (marginal likelihood), or equivalently
# by their **free energy** $F_n = -\log(\text{evidence})$. For a regular model with $d$ parameters,
# $F_n \approx nL_n(\hat w) + \frac d2 \log n$: that is the BIC, and the $\frac d2\log n$ is the price
# of the parameters. Singular learning theory says that for a singular model the price is
# $\lambda \log n$ with a **learning coefficient** $\lambda$ that can be far smaller than $d/2$.
#
# In this lesson you will
#
# * compute $F_n$ exactly on a grid, in log space (exercise 1);
# * write the Laplace approximation and the BIC, and see where they fail (exercises 2, 3);
# * measure $\lambda$ as the slope of $F_n$ against $\log n$, for regular and singular models, against
#   the theory lines $d/2$ and $\lambda$ (exercise 4);
# * compute WBIC, a free-energy estimate that needs only one posterior average (exercise 5);
# * see what this means for model selection, and decide which of several models the posterior prefers
#   at a given $n$ from their losses and learning coefficients (exercise 6).
#
# As in lesson 1, each exercise is a function: write it in the cell marked `# YOUR CODE HERE`; the cell
# after it checks it on seeded inputs (hidden tests with other inputs run when the notebook is graded;
# the command is in the last cell). **One rule for what you return, in every exercise: tensors in, a tensor
# out.** A function returns a torch tensor with the dtype and device of its tensor inputs: a single number is
# a 0-d tensor (not a Python float, which the checks reject), and float32 inputs give a float32 result. The
# one exception is exercise 6, whose answers are model indices: a `torch.long` tensor on the inputs' device.
# Counts such as `d` and `n` may come in as Python numbers. The demonstrations after an
# exercise run **your** function (wrapped by `yours`): until you have written it, they say so in one line
# and use the course's reference instead.

# %% [setup]
import math

import matplotlib.pyplot as plt
import torch

from slt_lessons import free_energy, posterior, theory
from slt_lessons.checks import check, yours
from slt_lessons.course import FAST
from slt_lessons.device import get_device
from slt_lessons.validation import require_increasing, require_positive, require_same_length

device = get_device()
torch.set_default_dtype(torch.float64)
print("tensors live on", device, "| fast mode:", FAST)

# %% [markdown]
# ## 1. The evidence and the free energy
#
# With data $D_n = \{(x_i, y_i)\}_{i=1}^n$, a model $p(y\mid x, w)$ and a prior $\varphi(w)$, the
# **evidence** is the normaliser of the posterior of lesson 1,
#
# $$Z_n = \int \varphi(w) \prod_{i=1}^n p(y_i\mid x_i, w)\,dw ,$$
#
# the probability the model assigned to the data before seeing them. Comparing two models by
# $Z_n^{(1)}/Z_n^{(2)}$ (the Bayes factor) rewards fit *and* penalises flexibility: a model that
# spreads its prior over many parameters that do not fit pays for it. The **free energy** is
#
# $$F_n = -\log Z_n = -\log\int \exp\bigl(\log\varphi(w) - nL_n(w)\bigr)\,dw,
# \qquad nL_n(w) = -\sum_{i=1}^n \log p(y_i\mid x_i,w).$$
#
# (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*; 2018, *Mathematical Theory of
# Bayesian Statistics*.) $nL_n$ grows linearly in $n$, so $e^{-nL_n}$ underflows at once: as in
# lesson 1, work with logarithms. On a grid $w_1 < \dots < w_G$ the trapezoid rule is
# $\int g \approx \sum_j g(w_j)\,v_j$ with $v_j = (w_{j+1} - w_{j-1})/2$ inside and half a cell at the
# two ends, and
#
# $$F \approx -\log\sum_j \exp\bigl(\log\varphi(w_j) - nL_n(w_j) + \log v_j\bigr)
# \quad(\texttt{torch.logsumexp}).$$
#
# **Exercise 1.** Write `free_energy_grid(nLn, log_prior, grid)`: all three are tensors of shape
# `(G,)`, the grid is increasing but **not necessarily evenly spaced**; return a 0-d tensor of the inputs'
# dtype and device. It must
# work when $nL_n \approx 5\times 10^5$ and when $nL_n \approx -3000$. Raise a `ValueError` when the
# grid is not strictly increasing (a node given twice counts as not strictly increasing) or when `nLn`
# and `grid` differ in length.

# %% [exercise] free_energy.free_energy_grid points=2

# %% [markdown]
# Let's test it where the answer is known. The Gaussian-mean model $y \sim N(w, 1)$ has
# $nL_n(w) = nL_n(\bar y) + \frac n2 (w - \bar y)^2$, so with a uniform prior on $[-a, a]$
#
# $$F_n = nL_n(\bar y) + \log(2a) - \tfrac12\log\frac{2\pi}{n}
#   - \log\Bigl[\Phi\bigl(\sqrt n(a - \bar y)\bigr) - \Phi\bigl(\sqrt n(-a - \bar y)\bigr)\Bigr].$$
#
# The grid is uneven on purpose, $w_j = -a + 2a\,(j/4000)^2$: its cells grow from about $2.5\times10^{-7}$
# wide at $-a$ to $2\times10^{-3}$ at $a$, so weights that assume even spacing would show here as a large
# difference.

# %%
gen = torch.Generator().manual_seed(0)
n, a = 200, 2.0
y = 0.4 + torch.randn(n, generator=gen)
grid = -a + 2 * a * torch.linspace(0, 1, 4001) ** 2  # uneven: dense near -a, coarse near a
nLn = 0.5 * ((y[None, :] - grid[:, None]) ** 2).sum(1) + 0.5 * n * math.log(2 * math.pi)
log_prior = torch.full_like(grid, -math.log(2 * a))

ybar = y.mean().item()
nLn_min = 0.5 * ((y - ybar) ** 2).sum().item() + 0.5 * n * math.log(2 * math.pi)
Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
F_exact = (nLn_min + math.log(2 * a) - 0.5 * math.log(2 * math.pi / n)
           - math.log(Phi(math.sqrt(n) * (a - ybar)) - Phi(math.sqrt(n) * (-a - ybar))))
my_free_energy_grid = yours(free_energy_grid)
F_grid = my_free_energy_grid(nLn, log_prior, grid).item()
print(f"grid: {F_grid:.10f}   closed form: {F_exact:.10f}   difference: {F_grid - F_exact:.1e}")

# %% [markdown]
# ## 2. The Laplace approximation and the BIC
#
# Near its minimiser $\hat w$, $nL_n(w) \approx nL_n(\hat w) + \frac12 (w-\hat w)^\top H (w-\hat w)$ with
# $H = \nabla^2 nL_n(\hat w)$. Replacing $\varphi(w)$ by $\varphi(\hat w)$ and integrating the Gaussian
# (Laplace's method; Tierney & Kadane 1986, *JASA* 81) gives
#
# $$F_n \approx nL_n(\hat w) - \log\varphi(\hat w) + \tfrac12\log\det H - \tfrac d2 \log 2\pi .$$
#
# This needs $H$ **positive definite**; the Gaussian integral of a flat direction is infinite.
#
# **Exercise 2.** Write `laplace_free_energy(nLn_min, log_prior_min, hessian)` (0-d tensors and a
# $d\times d$ tensor; return a 0-d tensor of the inputs' dtype and device). Raise a `ValueError` when $H$ is not positive definite
# (`torch.linalg.cholesky_ex` reports it without raising; the log-determinant is twice the sum of the
# logs of the Cholesky factor's diagonal).

# %% [exercise] free_energy.laplace_free_energy points=2

# %% [markdown]
# For a regular model $H = n\,I(\hat w)$ with a positive definite Fisher information $I$, so
# $\frac12\log\det H = \frac d2\log n + \frac12\log\det I(\hat w)$. Keeping only the terms that grow with
# $n$ gives Schwarz's (1978, *Ann. Statist.* 6) **Bayesian information criterion**
#
# $$\mathrm{BIC} = nL_n(\hat w) + \frac d2 \log n .$$
#
# **Exercise 3.** Write `bic(nLn_min, d, n)`: `nLn_min` is a 0-d tensor, `d` and `n` are Python
# integers; return a 0-d tensor of `nLn_min`'s dtype and device (the lesson's rule: a Python float fails).

# %% [exercise] free_energy.bic points=1

# %% [markdown]
# For the Gaussian mean the Laplace approximation is exact up to the prior's truncation (here
# invisible), and BIC is off by a constant that does not grow with $n$:

# %%
my_laplace_free_energy, my_bic = yours(laplace_free_energy), yours(bic)
F_laplace = my_laplace_free_energy(torch.tensor(nLn_min), torch.tensor(-math.log(2 * a)), torch.tensor([[float(n)]])).item()
print(f"exact F_n = {F_exact:.6f}\nLaplace   = {F_laplace:.6f}\nBIC       = {float(my_bic(torch.tensor(nLn_min), 1, n)):.6f}")

# %% [markdown]
# ### Where Laplace fails: a singular model
#
# Take instead the one-parameter model $y = w^2 x + \xi$ with data from $w_0 = 0$ (no signal). Its
# population loss is $K(w) = \frac12 E[x^2]\,w^4$: the true parameter is unique, but the Hessian there
# is **zero**. The Laplace approximation at the true parameter is undefined, and at the empirical
# minimiser it is defined but wrong, because $e^{-nL_n}$ is nothing like a Gaussian.

# %%
try:
    value = my_laplace_free_energy(torch.tensor(0.0), torch.tensor(0.0), torch.zeros(1, 1))
    print(f"no error, the value {float(value)}: exercise 2 asks for a ValueError here")
except ValueError as err:
    print("ValueError:", err)


def singular_nLn(w, x, y):
    """nL_n(w) of y = w^2 x + N(0, 1), from three sums (n does not matter for the cost)."""
    sxx, sxy, syy = (x * x).sum(), (x * y).sum(), (y * y).sum()
    return 0.5 * (syy - 2 * w**2 * sxy + w**4 * sxx) + 0.5 * x.numel() * math.log(2 * math.pi)


wgrid = torch.cat([-torch.logspace(0, -8, 3000), torch.zeros(1), torch.logspace(-8, 0, 3000)])  # dense near 0
flat = torch.full_like(wgrid, -math.log(2.0))  # uniform prior on [-1, 1]
print("penalties above nL_n(w_hat), one data set per n:")
print(f"{'n':>8} {'exact F_n':>10} {'Laplace':>10} {'BIC':>10} {'log(n)/4':>10}")
for n_s in [10**2, 10**3, 10**4, 10**5]:
    gen = torch.Generator().manual_seed(n_s)
    x, y = torch.randn(n_s, generator=gen), torch.randn(n_s, generator=gen)
    sxx, sxy = (x * x).sum(), (x * y).sum()
    w_hat = torch.sqrt(torch.clamp(sxy / sxx, min=0.0))  # the minimiser of nL_n (one of two, +-w_hat)
    nL_min = singular_nLn(w_hat, x, y)
    H = (6 * w_hat**2 * sxx - 2 * sxy).reshape(1, 1)  # d^2 nL_n / dw^2 at w_hat
    F_s = my_free_energy_grid(singular_nLn(wgrid, x, y), flat, wgrid) - nL_min
    F_l = my_laplace_free_energy(nL_min, torch.tensor(-math.log(2.0)), H) - nL_min
    print(f"{n_s:8d} {F_s.item():10.3f} {F_l.item():10.3f} {float(my_bic(torch.tensor(0.0), 1, n_s)):10.3f} {math.log(n_s) / 4:10.3f}")

# %% [markdown]
# What the table shows (one data set per $n$, so each row has its own noise): the exact penalty rises at
# every step, by 0.50, 0.54 and 1.04, in all about 0.30 per unit of $\log n$, which is near the $\frac14$
# that the theory of section 3 predicts for this model ($\lambda = 1/4$) and far from BIC's $\frac12$. The
# Laplace column rises too, but does not follow the exact one: it is below it at $n = 100$, close at
# $10^3$, above at $10^4$ and below again at $10^5$. Its Hessian at $\hat w$ is $4\sum_i x_i y_i$ (or
# $-2\sum_i x_iy_i$ when $\hat w = 0$), a random number of order $\sqrt n$ rather than $n$, so the Laplace
# value follows that one sum of the data, not the shape of $e^{-nL_n}$: where it lands near the exact
# value, it does so by accident of the data.

# %% [markdown]
# ## 3. The learning coefficient as a slope
#
# Watanabe's main formula (2009, Theorem 6.7; the *free energy asymptotics*) holds for regular and
# singular models alike:
#
# $$F_n = nL_n(w_0) + \lambda\log n - (m-1)\log\log n + O_p(1),$$
#
# where $\lambda$ (the **learning coefficient**, or real log canonical threshold) and $m$ (its
# multiplicity) are determined by how the population loss $K(w) = L(w) - L(w_0)$ vanishes on the set of
# true parameters (lesson 3). Regular models have $\lambda = d/2$, $m = 1$: BIC. In general
# $\lambda \le d/2$, strictly when the Fisher information $I(w_0)$ is degenerate (an isolated true
# parameter with a positive definite $I(w_0)$ has $\lambda = d/2$, as in a regular model).
#
# To see $\lambda$ without data noise, use the **normalised** free energy with the population loss,
# $F^0_n = -\log \int \varphi(w)\, e^{-nK(w)}\,dw$ (the fluctuating part $nL_n - nK$ only adds
# $O_p(1)$). Its slope against $\log n$ is $\lambda$, exactly in the limit; in fact
# $\frac{dF^0_n}{d\log n} = E_n[nK]$, the posterior mean of $nK$ (differentiate under the integral).
#
# **Exercise 4.** Write `fit_slope(log_n, F)`: the least-squares slope of $F$ against $\log n$,
# $\sum_i (x_i - \bar x)(F_i - \bar F) / \sum_i (x_i - \bar x)^2$ with $x_i = \log n_i$ (a 0-d tensor of
# the inputs' dtype and device).
# Raise a `ValueError` when `log_n` and `F` differ in length.

# %% [exercise] free_energy.fit_slope points=1

# %% [markdown]
# Four models with a uniform prior on $[-1,1]^d$: a regular one, $K = w^2/2$ ($d = 1$, $\lambda = 1/2$);
# $K = w^4$ and $K = w^6$ ($d = 1$, $\lambda = 1/4$ and $1/6$); and the two-parameter
# $K = w_1^2 w_2^2$, the population loss of lesson 1's $y = abx$ at $ab = 0$ ($d = 2$, $\lambda = 1/2$,
# $m = 2$); the exact $(\lambda, m)$ come from `theory` (lesson 3). Your `free_energy_grid` computes all
# four on grids that are geometric towards 0 (uneven, as exercise 1 allows), from $n = 10$ to $10^{12}$.
#
# The two-parameter model needs only a 1-D grid: $K$ depends on $w$ through $s = w_1 w_2$ alone, so
# $\int \varphi(w)\,e^{-nK(w)}\,dw = \int \psi(s)\,e^{-ns^2}\,ds$ with $\psi$ the density of $s$ when
# $w$ is drawn from the prior. For $w$ uniform on $[-1,1]^2$, $\psi(s) = \frac12\log(1/|s|)$ on
# $[-1, 1]$ (integrate $\frac14\,\delta(s - w_1w_2)$ over $w_2$: $\frac14\int_{|w_1|\ge|s|} dw_1/|w_1|$).
# It is **infinite at the singularity** $s = 0$: the prior puts far more mass near $K = 0$ than a
# regular parametrisation would, and that extra $\log$ is what the $-(m-1)\log\log n$ term counts.

# %%
ns = torch.logspace(1, 12, 8 if FAST else 23)
half = torch.logspace(-16, 0, 3000)  # geometric towards 0: resolves e^{-nK} at every scale up to n = 1e12
w_axis = torch.cat([-half.flip(0), torch.zeros(1), half])
s_axis = torch.cat([-half.flip(0), half])  # no node at s = 0, where psi is infinite
flat1 = torch.full_like(w_axis, -math.log(2.0))
log_psi = torch.log(0.5 * torch.log(1 / s_axis.abs()))
models_K = {  # name: (nK(n) on its grid, log prior, grid, (lambda, m), d)
    "w^2/2 (regular, d = 1)": (lambda n: n * w_axis**2 / 2, flat1, w_axis, theory.normal_crossing([1]), 1),
    "w^4 (d = 1)": (lambda n: n * w_axis**4, flat1, w_axis, theory.normal_crossing([2]), 1),
    "w^6 (d = 1)": (lambda n: n * w_axis**6, flat1, w_axis, theory.normal_crossing([3]), 1),
    "w1^2 w2^2 (d = 2)": (lambda n: n * s_axis**2, log_psi, s_axis, theory.normal_crossing([1, 1]), 2),
}
F0 = {name: torch.stack([my_free_energy_grid(nK(float(n_i)), lp, g) for n_i in ns])
      for name, (nK, lp, g, _, _) in models_K.items()}

fig, axes = plt.subplots(1, len(models_K), figsize=(15, 3.6), sharey=False)
for ax, (name, (_, _, _, (lam, m), d)) in zip(axes, models_K.items()):
    logn = ns.log()
    ax.plot(logn, F0[name], "o", ms=4, label="$F^0_n$ (your grid)")
    ax.plot(logn, float(lam) * logn + (F0[name][-1] - float(lam) * logn[-1]), "-", label=rf"slope $\lambda$ = {lam}")
    ax.plot(logn, d / 2 * logn + (F0[name][-1] - d / 2 * logn[-1]), "--", label=f"slope d/2 = {d / 2:g} (BIC)")
    ax.set_title(name, fontsize=10); ax.set_xlabel(r"$\log n$"); ax.legend(fontsize=8)
axes[0].set_ylabel(r"$F^0_n = -\log\int\varphi\, e^{-nK}$")
plt.tight_layout(); plt.show()

# the same free energy by the library's 2-D quadrature (no change of variables), as a cross-check
F0_2d = free_energy.free_energy_quad(lambda w: (w[:, 0] * w[:, 1]) ** 2, ns, [(-1, 1), (-1, 1)], order=8, device=device).cpu()
print(f"w1^2 w2^2: largest |your 1-D grid - 2-D quadrature| over n = 1e1..1e12: {(F0['w1^2 w2^2 (d = 2)'] - F0_2d).abs().max().item():.1e}")

# %% [markdown]
# In the three singular panels the dots are much flatter than the dashed BIC line of slope $d/2$ (both
# lines are drawn through the last point, so to its left the dots lie above the dashed line). For $w^4$ and
# $w^6$ they follow the solid line of slope $\lambda$; for $w_1^2w_2^2$ ($m = 2$) they lie above it at small
# $n$ and bend towards it (the reason follows the table below). Now measure the slopes over $n \in [10^6, 10^{12}]$
# with your `fit_slope`:

# %%
my_fit_slope = yours(fit_slope)
big = ns >= 1e6
print(f"{'model':<24} {'slope':>8} {'lambda':>8} {'m':>3} {'d/2':>5}")
for name, (_, _, _, (lam, m), d) in models_K.items():
    slope = float(my_fit_slope(ns[big].log(), F0[name][big]))
    print(f"{name:<24} {slope:8.4f} {float(lam):8.4f} {m:3d} {d / 2:5.1f}")

# %% [markdown]
# For $m = 1$ the slope is $\lambda$ to the digits printed. For $w_1^2 w_2^2$ ($m = 2$) it is visibly
# low: the $-(m-1)\log\log n$ term bends the curve, and the local slope is
# $E_n[nK] = \lambda - (m-1)/\log n + O(1/\log^2 n)$, which approaches $\lambda$ only logarithmically.
# To read $m$ from the curve, fit the correction terms as well: `free_energy.fit_learning_coefficient`
# fits $a + \lambda\log n - (m-1)\log\log n - c/\log n$ (the last term is the $1/\log^2 n$ term of the
# slope). Without that last term the fitted $m$ is off, as the second line shows:

# %%
name = "w1^2 w2^2 (d = 2)"
fit = free_energy.fit_learning_coefficient(ns[ns >= 1e3], F0[name][ns >= 1e3])
fit_nc = free_energy.fit_learning_coefficient(ns[ns >= 1e3], F0[name][ns >= 1e3], correction=False)
print(f"{name}, with the c/log n term:    lambda = {fit.lam:.4f} (exact 1/2), m = {fit.m:.3f} (exact 2)")
print(f"{name}, without the c/log n term: lambda = {fit_nc.lam:.4f} (exact 1/2), m = {fit_nc.m:.3f} (exact 2)")
lam_eff = free_energy.lambda_eff_quad(lambda w: (w[:, 0] * w[:, 1]) ** 2, ns, [(-1, 1), (-1, 1)], order=8, device=device).cpu()
plt.semilogx(ns, lam_eff, "o-", ms=3, label=r"local slope $dF^0_n/d\log n = E_n[nK]$")
plt.semilogx(ns, 0.5 - 1 / ns.log(), "--", label=r"$\lambda - (m-1)/\log n$")
plt.axhline(0.5, color="tab:green", ls="--", lw=1.2, label=r"$\lambda = 1/2$")
plt.axhline(1.0, color="gray", ls=":", label="d/2 = 1")
plt.xlabel("n"); plt.legend(); plt.title(r"$K = w_1^2 w_2^2$: the slope creeps up to $\lambda$"); plt.show()

# %% [markdown]
# ## 4. WBIC: the free energy from one posterior average
#
# Computing $F_n$ needs the normalising constant of the posterior, which samplers cannot give. Watanabe
# (2013, *JMLR* 14:867–897) showed that one **tempered** posterior average does the job: with
# $\beta = 1/\log n$,
#
# $$\mathrm{WBIC} = E^{\beta}_w[nL_n(w)] = \frac{\int nL_n(w)\,\varphi(w)\,e^{-\beta nL_n(w)}\,dw}
#   {\int \varphi(w)\,e^{-\beta nL_n(w)}\,dw} = nL_n(w_0) + \lambda\log n + U_n\sqrt{\lambda\log n/2} + O_p(1)$$
#
# for regular and singular models (a theorem of that paper), where $U_n$ is a random variable that
# converges in law to a Gaussian. Why: $\frac{d}{d\beta}\bigl(-\log Z_n(\beta)\bigr) = E^\beta[nL_n]$, so
# $F_n = \int_0^1 E^\beta[nL_n]\,d\beta$, and the mean-value theorem puts the whole integral at one
# $\beta$, which Watanabe proved is $1/\log n$ to leading order. It is the idea behind the local
# learning coefficient estimator of lesson 5.
#
# **Exercise 5.** Write `wbic_grid(nLn, log_prior, grid, n)`: the tempered posterior mean of `nLn` at
# $\beta = 1/\log n$ on a 1-D grid (trapezoid weights as in exercise 1), as a 0-d tensor of the inputs'
# dtype and device. Scale the
# weights by their largest value before exponentiating (or use a softmax). Raise a `ValueError` when
# $n \le 1$ ($\beta$ would be undefined or negative) and, as in exercise 1, when the grid is not
# strictly increasing (a repeated node included) or `nLn` and `grid` differ in length.

# %% [exercise] free_energy.wbic_grid points=2

# %% [markdown]
# For the Gaussian mean the tempered posterior is $N(\bar y, \log n / n)$, so WBIC is exactly
# $nL_n(\bar y) + \frac12\log n$ (up to the prior's truncation):

# %%
gen = torch.Generator().manual_seed(0)
y = 0.4 + torch.randn(200, generator=gen)
nLn = 0.5 * ((y[None, :] - grid[:, None]) ** 2).sum(1) + 100 * math.log(2 * math.pi)
my_wbic_grid = yours(wbic_grid)
print(f"WBIC = {my_wbic_grid(nLn, log_prior, grid, 200).item():.6f},  "
      f"nL_n(ybar) + log(n)/2 = {nLn_min + 0.5 * math.log(200):.6f}")

# %% [markdown]
# On the singular model $y = w^2x + \xi$ (true $w_0 = 0$, $\lambda = 1/4$), WBIC tracks the free energy,
# and $\hat\lambda = (\mathrm{WBIC} - nL_n(w_0))/\log n$ scatters around $\lambda$ from data set to data
# set; BIC charges $d/2 = 1/2$. How much it scatters depends on the model:
#
# * **regular model, at the true parameter (an exact computation).** Here $nL_n(w) - nL_n(w_0)$ is exactly quadratic (for the
#   regular $y = wx + \xi$) or quadratic to leading order, the tempered posterior is Gaussian, and a
#   short computation gives $\hat\lambda = d/2 - \chi^2_d/(2\log n)$: its standard deviation is
#   $\sqrt{2d}/(2\log n) = \sqrt{\lambda}/\log n$. There is no random term of order $\sqrt{\log n}$
#   ($U_n \to 0$): the only randomness is the $O_p(1)$ term $\chi^2_d/2$.
# * **singular model (Watanabe's theorem above).** The random term $U_n\sqrt{\lambda\log n/2}$ is present, and dividing by $\log n$
#   leaves a spread of order $\sqrt{\lambda/\log n}$: it shrinks far more slowly.
#
# The cell below measures both. To reach large $n$ with many data sets it uses a fixed design,
# $x_i = \pm 1$ (half each), and pure-noise $y$, so $w_0 = 0$ in both models and the data enter only
# through $\sum_i x_iy_i = \sqrt n\,z$ with $z \sim N(0, 1)$ exactly:
# $nL_n(w) - nL_n(0) = -w^2\sqrt n\,z + nw^4/2$ (singular) and $-w\sqrt n\,z + nw^2/2$ (regular).
# It prints the mean of $\hat\lambda$ and its standard deviation over the data sets, times $\log n$ and
# times $\sqrt{\log n}$: the column that stays constant as $n$ grows shows the rate.

# %%
n_list = [10**2, 10**3, 10**4, 10**5, 10**6, 10**7]
reps = 50 if FAST else 400
z = torch.randn(len(n_list), reps, generator=torch.Generator().manual_seed(2013))
lam_hat, lam_hat_reg = torch.zeros(len(n_list), reps), torch.zeros(len(n_list), reps)
F_minus, W_minus = torch.zeros(len(n_list), reps), torch.zeros(len(n_list), reps)
for i, n_s in enumerate(n_list):
    for r in range(reps):
        root_n_z = math.sqrt(n_s) * z[i, r]
        nK_sing = -wgrid**2 * root_n_z + n_s * wgrid**4 / 2  # nL_n(w) - nL_n(w_0)
        nK_reg = -wgrid * root_n_z + n_s * wgrid**2 / 2
        W_minus[i, r] = my_wbic_grid(nK_sing, flat, wgrid, n_s)
        F_minus[i, r] = my_free_energy_grid(nK_sing, flat, wgrid)
        lam_hat[i, r] = W_minus[i, r] / math.log(n_s)
        lam_hat_reg[i, r] = my_wbic_grid(nK_reg, flat, wgrid, n_s) / math.log(n_s)
logn = torch.tensor([math.log(v) for v in n_list])
sd_sing, sd_reg = lam_hat.std(1), lam_hat_reg.std(1)
print(f"{reps} data sets per n; lambda_hat = (WBIC - nL_n(w_0)) / log n")
print(f"{'':8} | {'singular y = w^2 x, lambda = 1/4':^40} | {'regular y = w x, lambda = 1/2':^33}")
print(f"{'n':>8} | {'mean':>6} {'SD':>6} {'SD*sqrt(log n)':>14} {'SD*log n':>10} | {'mean':>6} {'SD*sqrt(log n)':>14} {'SD*log n':>10}")
for i, n_s in enumerate(n_list):
    print(f"{n_s:8.0e} | {lam_hat[i].mean():6.3f} {sd_sing[i]:6.3f} {sd_sing[i] * logn[i].sqrt():14.3f} {sd_sing[i] * logn[i]:10.3f} | "
          f"{lam_hat_reg[i].mean():6.3f} {sd_reg[i] * logn[i].sqrt():14.3f} {sd_reg[i] * logn[i]:10.3f}")
print(f"regular model, theory: SD*log n = sqrt(lambda) = {math.sqrt(0.5):.3f}; "
      f"mean (1/2)(1 - 1/log n) = {', '.join(f'{0.5 * (1 - 1 / v):.3f}' for v in logn.tolist())}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.plot(logn, F_minus.mean(1), "o-", label=r"$F_n - nL_n(w_0)$ (grid)")
ax1.plot(logn, W_minus.mean(1), "s-", label=r"WBIC $- nL_n(w_0)$")
ax1.plot(logn, 0.25 * logn, "k-", lw=0.8, label=r"$\lambda\log n$, $\lambda = 1/4$")
ax1.plot(logn, 0.5 * logn, "k--", lw=0.8, label=r"BIC penalty $\frac{d}{2}\log n$")
ax1.set_xlabel(r"$\log n$"); ax1.legend(fontsize=8); ax1.set_title(f"singular model, mean over {reps} data sets")
ax2.boxplot(lam_hat.T.numpy(), positions=range(len(n_list)))
ax2.set_xticks(range(len(n_list)), [f"1e{round(math.log10(v))}" for v in n_list])
ax2.axhline(0.25, color="k", lw=0.8); ax2.set_xlabel("n")
ax2.set_title(r"singular model: $\hat\lambda$ per data set")
plt.tight_layout(); plt.show()

# %% [markdown]
# Measured (an empirical check of both statements): for the regular model $\mathrm{SD}\cdot\log n$ stays
# near $\sqrt{\lambda}$, within two standard errors of an SD estimated from 400 draws of a $\chi^2_1$
# (one standard error is about 9% of it, the $\chi^2$ having heavy tails), and the mean follows
# $\frac12(1 - 1/\log n)$, as the exact computation says. For the singular model it is
# $\mathrm{SD}\cdot\sqrt{\log n}$ that stays roughly constant, while $\mathrm{SD}\cdot\log n$ climbs: one
# WBIC on a singular model estimates $\lambda$ only to $\pm$ a multiple of $\sqrt{\lambda/\log n}$.

# %% [markdown]
# ## 5. Model selection: a singular model is cheaper than its parameter count
#
# Compare two models for data $y = c\,x + \xi$:
#
# * $\mathcal M_1$: $y = a x + \xi$, one parameter, regular: $\lambda = 1/2$;
# * $\mathcal M_2$: $y = a b x + \xi$, two parameters, singular (lesson 1): BIC charges it $\log n$.
#
# Both have the same predictions; only the parametrisation differs. When $c \neq 0$ the true parameters
# of $\mathcal M_2$ form the hyperbola $ab = c$: a smooth curve, so one direction is flat and
# $\lambda = 1/2$, not $d/2 = 1$. When $c = 0$ they form the cross $ab = 0$, with $\lambda = 1/2$ and
# $m = 2$. Watanabe's free energy asymptotics (a theorem) then give $\mathcal M_2$ the extra term
# $-(m-1)\log\log n = -\log\log n$, so the singularity makes $\mathcal M_2$ *cheaper* than the
# one-parameter model, by an amount that keeps growing with $n$; the table below shows how much.
#
# To see the asymptotics without data noise, use the population loss ($E[x^2] = 1$):
# $nK_1(a) = n(a - c)^2/2$ and $nK_2(a, b) = n(ab - c)^2/2$, priors uniform on $[-2, 2]$ per parameter.
# As in section 3, $\mathcal M_2$ needs only a 1-D grid in $s = ab$, with the prior density of $s$,
# $\psi(s) = \frac18\log(4/|s|)$ on $[-4, 4]$. Your `free_energy_grid` and `wbic_grid` give both
# models' free energies and WBICs from $n = 10^2$ to $10^{12}$; BIC predicts $F^{(2)} - F^{(1)}$ to grow
# like $\frac12\log n$.

# %%
def graded_axis(lo, hi, centres, per_side=1500):
    """An increasing grid on [lo, hi], geometric towards each centre (no node at a centre)."""
    d = torch.logspace(-15, 0, per_side)
    nodes = torch.cat([torch.tensor([lo, hi])] + [torch.cat([c - d * (c - lo), c + d * (hi - c)]) for c in centres])
    return torch.unique(nodes.clamp(lo, hi))


n_sel = [10.0**k for k in range(2, 13)]
sel = {}
for c in (0.3, 0.0):
    a_axis = graded_axis(-2.0, 2.0, {0.0, c})
    s_ab = graded_axis(-4.0, 4.0, {0.0, c})
    s_ab = s_ab[s_ab != 0]
    lp1 = torch.full_like(a_axis, -math.log(4.0))
    lp2 = torch.log(torch.log(4 / s_ab.abs()) / 8)
    rows = []
    for n_s in n_sel:
        F1 = my_free_energy_grid(n_s * (a_axis - c) ** 2 / 2, lp1, a_axis)
        F2 = my_free_energy_grid(n_s * (s_ab - c) ** 2 / 2, lp2, s_ab)
        W1 = my_wbic_grid(n_s * (a_axis - c) ** 2 / 2, lp1, a_axis, n_s)
        W2 = my_wbic_grid(n_s * (s_ab - c) ** 2 / 2, lp2, s_ab, n_s)
        rows.append(((F2 - F1).item(), (W2 - W1).item()))
    sel[c] = torch.tensor(rows)
print(f"{'n':>7} {'c = 0.3: F2 - F1':>17} {'WBIC2 - WBIC1':>14} {'c = 0: F2 - F1':>15} {'WBIC2 - WBIC1':>14}")
for k, n_s in enumerate(n_sel):
    print(f"{n_s:7.0e} {sel[0.3][k, 0]:17.3f} {sel[0.3][k, 1]:14.3f} {sel[0.0][k, 0]:15.3f} {sel[0.0][k, 1]:14.3f}")
logn = torch.tensor(n_sel).log()
for c, marker in ((0.3, "o-"), (0.0, "s-")):
    plt.plot(logn, sel[c][:, 0], marker, label=rf"$F^{{(2)}} - F^{{(1)}}$, true $c$ = {c}")
plt.plot(logn, sel[0.0][:, 1], "s:", label=r"WBIC$^{(2)}$ - WBIC$^{(1)}$, true $c$ = 0")
plt.plot(logn, 0.5 * logn + sel[0.3][0, 0] - 0.5 * logn[0], "k--", lw=0.8, label=r"BIC: $\frac{1}{2}\log n$ + const")
plt.xlabel(r"$\log n$"); plt.ylabel("difference"); plt.legend(fontsize=8)
plt.title("the two-parameter singular model is not penalised as two parameters"); plt.show()

# %% [markdown]
# The free energy difference settles to a constant when $c = 0.3$ (both models pay $\frac12\log n$)
# and keeps *decreasing* when $c = 0$, where the singular model is preferred: more and more slowly, as
# the multiplicity term $-(m-1)\log\log n$ with $m = 2$ predicts (up to terms that vanish as $n$ grows). Parameter counting (BIC, AIC) gets this wrong; the Bayesian free
# energy gets it right, because it measures $\lambda$ and $m$, not $d$.
#
# WBIC gets the first comparison right but not the second: its expansion has $\lambda\log n$ and no
# $-(m-1)\log\log n$ term, and for $c = 0$ its difference changes ever more slowly: $-0.907$ at
# $n = 10^6$, $-0.974$ at $n = 10^{12}$ in the table (a change of $0.07$ over six decades), while
# $F^{(2)} - F^{(1)}$ falls by $0.57$ over the same range ($-1.496 \to -2.069$). WBIC estimates
# $\lambda$, not $m$.
#
# Is this about neural networks? A network is singular at the true parameters of an
# over-parameterised network: where a unit is dead, two units merge, or a continuous family of
# parameters (such as $W_2W_1 = W_2 G^{-1} G W_1$ in a linear layer) gives the same function. Such
# continuous families lower the rank of the Fisher information. Discrete symmetries (permuting hidden
# units, flipping signs) do not: they only make the set of true parameters a finite set of points, each
# of which can be regular (lesson 3 shows a generic network with a full-rank Fisher matrix). Where the
# true parameter is singular, counting parameters overstates the price of the model
# (Watanabe 2009, ch. 7).

# %% [markdown]
# ## 6. Which model does the posterior prefer?
#
# Put a prior over a few models $\mathcal M_\alpha$ (or over a few regions of one model's parameter
# space, such as two basins of its loss), the same prior probability for each. By Bayes' rule the
# posterior probability of $\mathcal M_\alpha$ is proportional to its evidence $Z_\alpha = e^{-F_\alpha}$.
# Which model wins is for you to work out from there; this section says what the free energy of each
# model is made of.
#
# Describe model $\alpha$ by three numbers: $L_\alpha$, the smallest value of its population loss per
# sample (with the population loss, $nL_n(w_0)$ of section 3 becomes $nL_\alpha$), its learning
# coefficient $\lambda_\alpha$ and its multiplicity $m_\alpha$. The expansion of section 3 (a theorem of
# Watanabe 2009) then has one term for each of them, and each term matters at a different scale of $n$:
#
# * $nL_\alpha$, the loss of $n$ samples at the best parameter, is the **accuracy** term. It grows linearly
#   in $n$, faster than every other term: two models whose $L$ differ by $\delta$ are $n\delta$ apart in it,
#   and no difference in the other terms keeps up with that for ever.
# * $\lambda_\alpha\log n$ is the **volume** term: the prior mass of the parameters whose loss is within
#   $1/n$ of the best shrinks like $n^{-\lambda}$, and the free energy pays its logarithm. It grows like
#   $\log n$: it is what separates models while $n\delta$ is still small next to
#   $|\lambda_\alpha - \lambda_\beta|\log n$.
# * $-(m_\alpha - 1)\log\log n$ grows more slowly still: it separates models only where the two terms
#   above are equal, or nearly so (the $c = 0$ comparison of section 5). Writing $-m_\alpha\log\log n$
#   for every model instead would shift every $F_\alpha$ by the same $\log\log n$: free energies change,
#   comparisons between models do not.
# * The remainder $O(1)$ does not grow with $n$; an asymptotic comparison leaves it out (the example after
#   the exercise shows what that costs near a switch).
#
# Before you write code, answer for yourself: for two models with $L_1 < L_2$ and $\lambda_1 > \lambda_2$,
# which is preferred at small $n$, which at large $n$, and roughly where is the switch? The switch is a
# **Bayesian phase transition** (Chen, Lau, Mendel, Wei & Murfet 2023).
#
# **Exercise 6.** Write `preferred_model(n, L, lam, m)`: `L`, `lam`, `m` (shape `(A,)`) give each
# model's smallest population loss per sample, learning coefficient and multiplicity, `n` (shape `(N,)`,
# every entry larger than $e$) the sample sizes. Return, for each $n$, the index (from 0) of the model
# the posterior prefers according to the terms above that grow with $n$, as a `torch.long` tensor of
# shape `(N,)` on the inputs' device. The cases have no ties: at every $n$ the best model is ahead of the
# next by at least $10^{-3}$ in those terms. The hidden tests use other models; their feedback names the
# wrong $n$ only by rank.

# %% [exercise] free_energy.preferred_model points=3

# %% [markdown]
# Test the reasoning on an exact computation. The loss $L(w) = \min\bigl(w^4 + \delta,\ (w - 2)^2\bigr)$
# on $[-1, 3]$, with a uniform prior, has two basins: near $w = 0$ the loss is $\delta$ higher, but
# flat like $w^4$ ($\lambda = 1/4$); near $w = 2$ it is lower, and regular ($\lambda = 1/2$). The cell
# computes, with your `free_energy_grid`, the exact posterior probability of the basin $w > 1$ for the
# population loss, and compares it with the basin your `preferred_model` predicts.

# %%
my_preferred_model = yours(preferred_model)
delta = 1e-3
w_pt = torch.cat([graded_axis(-1.0, 1.0, {0.0}), graded_axis(1.0, 3.0, {2.0})[1:]])
loss_pt = torch.minimum(w_pt**4 + delta, (w_pt - 2) ** 2)
left, right = w_pt <= 1, w_pt >= 1
n_pt = torch.logspace(1, 6, 11)
predicted = my_preferred_model(n_pt, torch.tensor([delta, 0.0]), torch.tensor([0.25, 0.5]), torch.tensor([1.0, 1.0]))
print(f"{'n':>9} {'P(basin w > 1)':>15} {'predicted basin':>16}")
agree = 0
for n_s, pred in zip(n_pt.tolist(), predicted.tolist()):
    F_left = my_free_energy_grid(n_s * loss_pt[left], torch.full_like(w_pt[left], -math.log(4.0)), w_pt[left])
    F_right = my_free_energy_grid(n_s * loss_pt[right], torch.full_like(w_pt[right], -math.log(4.0)), w_pt[right])
    p_right = torch.sigmoid(F_left - F_right).item()  # Z_right / (Z_left + Z_right)
    print(f"{n_s:9.3g} {p_right:15.3f} {'w > 1' if pred == 1 else 'w < 1':>16}")
    agree += int((p_right > 0.5) == (pred == 1))
print(f"the predicted basin is the one of larger exact posterior probability at {agree} of {len(n_pt)} sample sizes")

# %% [markdown]
# On this table the prediction from $(L, \lambda, m)$ alone picks the basin of larger exact posterior
# probability at the sample sizes printed. Next to the switch the exact probability is still far from
# 0 and 1: there the $O(1)$ terms of the two free energies, which the asymptotic comparison leaves out,
# decide exactly where it crosses 1/2.
#
# ## Explore (ungraded)
#
# * Change $K$ to $w^8$, or to $w_1^2 w_2^4$ (exact $\lambda = 1/4$), and compare the slope over
#   $[10^2, 10^6]$ with that over $[10^8, 10^{14}]$: a second pole bends the curve at moderate $n$.
# * In section 5, use a true $c$ of $0.05$: for which $n$ does $\mathcal M_2$ stop being preferred?
# * In section 6, make $\delta$ ten times smaller: where does the transition move, and why?

# %%
# your experiments here

# %% [markdown]
# ## Summary
#
# * $F_n = -\log Z_n$; compute it in log space. On a grid: `logsumexp` with trapezoid log-weights.
# * Laplace and BIC assume a positive definite Hessian, i.e. a regular model; they charge $\frac d2\log n$.
# * In general $F_n = nL_n(w_0) + \lambda\log n - (m-1)\log\log n + O_p(1)$; the slope of $F_n$ against
#   $\log n$ measures $\lambda$ (slowly when $m > 1$, and $m$ needs the next correction term).
# * WBIC, one tempered posterior mean at $\beta = 1/\log n$, estimates $F_n$ without a normalising
#   constant, up to a random term of order $\sqrt{\log n}$ on singular models, and without the
#   $-(m-1)\log\log n$ term.
# * $\lambda \le d/2$, strictly when the Fisher information at the true parameter is degenerate: such
#   models are cheaper than their parameter count.
# * Between models, the posterior odds are $e^{-(F_\alpha - F_\beta)}$: at small $n$ the learning coefficient
#   decides, at large $n$ the loss.
#
# References: Schwarz (1978), *Ann. Statist.* 6:461–464; Tierney & Kadane (1986), *JASA* 81:82–86;
# Watanabe (2009), *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP; Watanabe (2013),
# "A widely applicable Bayesian information criterion", *JMLR* 14:867–897; Chen, Lau, Mendel, Wei &
# Murfet (2023), "Dynamical versus Bayesian phase transitions in a toy model of superposition",
# arXiv:2310.06301.

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l2_free_energy/l2_free_energy.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l2_free_energy.ipynb` in this folder works too).
