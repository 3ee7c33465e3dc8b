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
# * see what this means for model selection.
#
# As in lesson 1, each exercise is a function: write it in the cell marked `# YOUR CODE HERE`; the cell
# after it checks it on seeded inputs (hidden tests with other inputs run when the notebook is graded,
# `slt-course check l2_free_energy.ipynb`). Keep the dtype and device of the inputs. The demonstration
# cells call the library's versions of your functions (`free_energy.free_energy_grid` and so on), so
# they run even before you have solved everything.

# %% [setup]
import math

import matplotlib.pyplot as plt
import torch

from slt_lessons import free_energy, posterior, theory
from slt_lessons.checks import check
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
# `(G,)`, the grid is increasing but **not necessarily evenly spaced**; return a 0-d tensor. It must
# work when $nL_n \approx 5\times 10^5$ and when $nL_n \approx -3000$.

# %% [exercise] free_energy.free_energy_grid points=2

# %% [markdown]
# Let's test it where the answer is known. The Gaussian-mean model $y \sim N(w, 1)$ has
# $nL_n(w) = nL_n(\bar y) + \frac n2 (w - \bar y)^2$, so with a uniform prior on $[-a, a]$
#
# $$F_n = nL_n(\bar y) + \log(2a) - \tfrac12\log\frac{2\pi}{n}
#   - \log\Bigl[\Phi\bigl(\sqrt n(a - \bar y)\bigr) - \Phi\bigl(\sqrt n(-a - \bar y)\bigr)\Bigr].$$

# %%
gen = torch.Generator().manual_seed(0)
n, a = 200, 2.0
y = 0.4 + torch.randn(n, generator=gen)
grid = torch.linspace(-a, a, 4001)
nLn = 0.5 * ((y[None, :] - grid[:, None]) ** 2).sum(1) + 0.5 * n * math.log(2 * math.pi)
log_prior = torch.full_like(grid, -math.log(2 * a))

ybar = y.mean().item()
nLn_min = 0.5 * ((y - ybar) ** 2).sum().item() + 0.5 * n * math.log(2 * math.pi)
Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
F_exact = (nLn_min + math.log(2 * a) - 0.5 * math.log(2 * math.pi / n)
           - math.log(Phi(math.sqrt(n) * (a - ybar)) - Phi(math.sqrt(n) * (-a - ybar))))
F_grid = free_energy.free_energy_grid(nLn, log_prior, grid).item()
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
# $d\times d$ tensor; return a 0-d tensor). Raise a `ValueError` when $H$ is not positive definite
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
# **Exercise 3.** Write `bic(nLn_min, d, n)`.

# %% [exercise] free_energy.bic points=1

# %% [markdown]
# For the Gaussian mean the Laplace approximation is exact up to the prior's truncation (here
# invisible), and BIC is off by a constant that does not grow with $n$:

# %%
F_laplace = free_energy.laplace_free_energy(torch.tensor(nLn_min), torch.tensor(-math.log(2 * a)),
                                            torch.tensor([[float(n)]])).item()
print(f"exact F_n = {F_exact:.6f}\nLaplace   = {F_laplace:.6f}\nBIC       = {free_energy.bic(nLn_min, 1, n):.6f}")

# %% [markdown]
# ### Where Laplace fails: a singular model
#
# Take instead the one-parameter model $y = w^2 x + \xi$ with data from $w_0 = 0$ (no signal). Its
# population loss is $K(w) = \frac12 E[x^2]\,w^4$: the true parameter is unique, but the Hessian there
# is **zero**. The Laplace approximation at the true parameter is undefined, and at the empirical
# minimiser it is defined but wrong, because $e^{-nL_n}$ is nothing like a Gaussian.

# %%
try:
    free_energy.laplace_free_energy(torch.tensor(0.0), torch.tensor(0.0), torch.zeros(1, 1))
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
    F_s = free_energy.free_energy_grid(singular_nLn(wgrid, x, y), flat, wgrid) - nL_min
    F_l = free_energy.laplace_free_energy(nL_min, torch.tensor(-math.log(2.0)), H) - nL_min
    print(f"{n_s:8d} {F_s.item():10.3f} {F_l.item():10.3f} {free_energy.bic(0.0, 1, n_s):10.3f} {math.log(n_s) / 4:10.3f}")

# %% [markdown]
# The exact penalty grows like $\frac14\log n$ (plus a constant), BIC's like $\frac12\log n$, and the
# Laplace penalty jumps around with the data: its Hessian at $\hat w$ is $4\sum_i x_i y_i$ (or
# $-2\sum_i x_iy_i$ when $\hat w = 0$), a random number of order $\sqrt n$ rather than $n$: where it lands near
# the exact value, it does so by accident of the data.

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
# true parameters (lesson 3). Regular models have $\lambda = d/2$, $m = 1$: BIC. For singular models
# $\lambda < d/2$.
#
# To see $\lambda$ without data noise, use the **normalised** free energy with the population loss,
# $F^0_n = -\log \int \varphi(w)\, e^{-nK(w)}\,dw$ (the fluctuating part $nL_n - nK$ only adds
# $O_p(1)$). Its slope against $\log n$ is $\lambda$, exactly in the limit; in fact
# $\frac{dF^0_n}{d\log n} = E_n[nK]$, the posterior mean of $nK$ (differentiate under the integral).
#
# **Exercise 4.** Write `fit_slope(log_n, F)`: the least-squares slope of $F$ against $\log n$,
# $\sum_i (x_i - \bar x)(F_i - \bar F) / \sum_i (x_i - \bar x)^2$ with $x_i = \log n_i$ (a 0-d tensor).

# %% [exercise] free_energy.fit_slope points=1

# %% [markdown]
# Four models with a uniform prior on $[-1,1]^d$: a regular one, $K = w^2/2$ ($d = 1$, $\lambda = 1/2$);
# $K = w^4$ and $K = w^6$ ($d = 1$, $\lambda = 1/4$ and $1/6$); and the two-parameter
# $K = w_1^2 w_2^2$, the population loss of lesson 1's $y = abx$ at $ab = 0$ ($d = 2$, $\lambda = 1/2$,
# $m = 2$). The library's `free_energy.free_energy_quad` integrates $e^{-nK}$ accurately up to
# $n = 10^{14}$ (graded Gauss–Legendre quadrature); the exact $(\lambda, m)$ come from `theory`
# (lesson 3).

# %%
ns = torch.logspace(1, 12, 8 if FAST else 23)
models_K = {
    "w^2/2 (regular, d = 1)": (lambda w: w[:, 0] ** 2 / 2, [(-1, 1)], theory.normal_crossing([1]), 1),
    "w^4 (d = 1)": (lambda w: w[:, 0] ** 4, [(-1, 1)], theory.normal_crossing([2]), 1),
    "w^6 (d = 1)": (lambda w: w[:, 0] ** 6, [(-1, 1)], theory.normal_crossing([3]), 1),
    "w1^2 w2^2 (d = 2)": (lambda w: (w[:, 0] * w[:, 1]) ** 2, [(-1, 1), (-1, 1)], theory.normal_crossing([1, 1]), 2),
}
F0 = {name: free_energy.free_energy_quad(K, ns, bounds, order=8, device=device).cpu()
      for name, (K, bounds, _, _) in models_K.items()}

fig, axes = plt.subplots(1, len(models_K), figsize=(15, 3.6), sharey=False)
for ax, (name, (_, _, (lam, m), d)) in zip(axes, models_K.items()):
    logn = ns.log()
    ax.plot(logn, F0[name], "o", ms=4, label="$F^0_n$ (quadrature)")
    ax.plot(logn, float(lam) * logn + (F0[name][-1] - float(lam) * logn[-1]), "-", label=rf"slope $\lambda$ = {lam}")
    ax.plot(logn, d / 2 * logn + (F0[name][-1] - d / 2 * logn[-1]), "--", label=f"slope d/2 = {d / 2:g} (BIC)")
    ax.set_title(name, fontsize=10); ax.set_xlabel(r"$\log n$"); ax.legend(fontsize=8)
axes[0].set_ylabel(r"$F^0_n = -\log\int\varphi\, e^{-nK}$")
plt.tight_layout(); plt.show()

# %% [markdown]
# The singular curves run well below the BIC line. Now measure the slopes over $n \in [10^6, 10^{12}]$:

# %%
big = ns >= 1e6
print(f"{'model':<24} {'slope':>8} {'lambda':>8} {'m':>3} {'d/2':>5}")
for name, (_, _, (lam, m), d) in models_K.items():
    slope = free_energy.fit_slope(ns[big].log(), F0[name][big]).item()
    print(f"{name:<24} {slope:8.4f} {float(lam):8.4f} {m:3d} {d / 2:5.1f}")

# %% [markdown]
# For $m = 1$ the slope is $\lambda$ to three digits. For $w_1^2 w_2^2$ ($m = 2$) it is visibly low: the
# $-(m-1)\log\log n$ term bends the curve, and the local slope is
# $E_n[nK] \approx \lambda - (m-1)/\log n$, which approaches $\lambda$ only logarithmically. Fitting the
# correction terms as well (`free_energy.fit_learning_coefficient` fits
# $a + \lambda\log n - (m-1)\log\log n - c/\log n$) recovers both numbers:

# %%
name = "w1^2 w2^2 (d = 2)"
fit = free_energy.fit_learning_coefficient(ns[ns >= 1e3], F0[name][ns >= 1e3])
print(f"{name}: lambda = {fit.lam:.4f} (exact 1/2), m = {fit.m:.3f} (exact 2)")
lam_eff = free_energy.lambda_eff_quad(models_K[name][0], ns, models_K[name][1], order=8, device=device).cpu()
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
#   {\int \varphi(w)\,e^{-\beta nL_n(w)}\,dw} = nL_n(w_0) + \lambda\log n + O_p(\sqrt{\log n}),$$
#
# for regular and singular models. Why: $\frac{d}{d\beta}\bigl(-\log Z_n(\beta)\bigr) = E^\beta[nL_n]$, so
# $F_n = \int_0^1 E^\beta[nL_n]\,d\beta$, and the mean-value theorem puts the whole integral at one
# $\beta$, which Watanabe proved is $1/\log n$ to leading order. It is the idea behind the local
# learning coefficient estimator of lesson 5.
#
# **Exercise 5.** Write `wbic_grid(nLn, log_prior, grid, n)`: the tempered posterior mean of `nLn` at
# $\beta = 1/\log n$ on a 1-D grid (trapezoid weights as in exercise 1), as a 0-d tensor. Scale the
# weights by their largest value before exponentiating (or use a softmax).

# %% [exercise] free_energy.wbic_grid points=2

# %% [markdown]
# For the Gaussian mean the tempered posterior is $N(\bar y, \log n / n)$, so WBIC is exactly
# $nL_n(\bar y) + \frac12\log n$ (up to the prior's truncation):

# %%
gen = torch.Generator().manual_seed(0)
y = 0.4 + torch.randn(200, generator=gen)
nLn = 0.5 * ((y[None, :] - grid[:, None]) ** 2).sum(1) + 100 * math.log(2 * math.pi)
print(f"WBIC = {free_energy.wbic_grid(nLn, log_prior, grid, 200).item():.6f},  "
      f"nL_n(ybar) + log(n)/2 = {nLn_min + 0.5 * math.log(200):.6f}")

# %% [markdown]
# On the singular model $y = w^2x + \xi$ (true $w_0 = 0$, $\lambda = 1/4$), WBIC tracks the free energy,
# and $\hat\lambda = (\mathrm{WBIC} - nL_n(w_0))/\log n$ scatters around $\lambda$ from data set to data
# set (its standard deviation is of order $\sqrt\lambda/\log n$); BIC charges $d/2 = 1/2$.

# %%
n_list = [10**2, 10**3, 10**4, 10**5]
reps = 5 if FAST else 20
lam_hat = torch.zeros(len(n_list), reps)
F_minus, W_minus = torch.zeros(len(n_list), reps), torch.zeros(len(n_list), reps)
for i, n_s in enumerate(n_list):
    for r in range(reps):
        gen = torch.Generator().manual_seed(1000 * i + r)
        x, y = torch.randn(n_s, generator=gen), torch.randn(n_s, generator=gen)
        nL = singular_nLn(wgrid, x, y)
        nL0 = singular_nLn(torch.tensor(0.0), x, y)  # nL_n at the true parameter
        W = free_energy.wbic_grid(nL, flat, wgrid, n_s)
        F_minus[i, r] = free_energy.free_energy_grid(nL, flat, wgrid) - nL0
        W_minus[i, r] = W - nL0
        lam_hat[i, r] = (W - nL0) / math.log(n_s)
logn = torch.tensor([math.log(v) for v in n_list])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.plot(logn, F_minus.mean(1), "o-", label=r"$F_n - nL_n(w_0)$ (grid)")
ax1.plot(logn, W_minus.mean(1), "s-", label=r"WBIC $- nL_n(w_0)$")
ax1.plot(logn, 0.25 * logn, "k-", lw=0.8, label=r"$\lambda\log n$, $\lambda = 1/4$")
ax1.plot(logn, 0.5 * logn, "k--", lw=0.8, label=r"BIC penalty $\frac{d}{2}\log n$")
ax1.set_xlabel(r"$\log n$"); ax1.legend(fontsize=8); ax1.set_title(f"mean over {reps} data sets")
ax2.boxplot(lam_hat.T.numpy(), positions=range(len(n_list)))
ax2.set_xticks(range(len(n_list)), [f"1e{round(math.log10(v))}" for v in n_list])
ax2.axhline(0.25, color="k", lw=0.8); ax2.set_xlabel("n")
ax2.set_title(r"$\hat\lambda = (\mathrm{WBIC} - nL_n(w_0))/\log n$ per data set")
plt.tight_layout(); plt.show()

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
# $m = 2$: the singularity makes $\mathcal M_2$ *cheaper* than the one-parameter model by $\log\log n$.
# We compute both free energies exactly on grids (prior uniform on $[-2, 2]$ per parameter) and plot
# $F^{(2)}_n - F^{(1)}_n$: BIC predicts it grows like $\frac12\log n$.

# %%
G = 401 if FAST else 1201
g = torch.linspace(-2, 2, G)
A, B = torch.meshgrid(g, g, indexing="ij")
log_w2 = posterior.grid_log_weights(g, g)  # log trapezoid weights of the 2-D grid
n_sel = [10, 30, 100, 300, 1000, 3000] + ([] if FAST else [10000, 30000])
diff = {}
for c in (0.3, 0.0):
    diff[c] = []
    for n_s in n_sel:
        gen = torch.Generator().manual_seed(n_s)
        x = torch.randn(n_s, generator=gen)
        y = c * x + torch.randn(n_s, generator=gen)
        sxx, sxy, syy = (x * x).sum(), (x * y).sum(), (y * y).sum()
        nL = lambda s: 0.5 * (syy - 2 * s * sxy + s**2 * sxx) + 0.5 * n_s * math.log(2 * math.pi)  # noqa: E731
        F1 = free_energy.free_energy_grid(nL(g), torch.full_like(g, -math.log(4.0)), g)
        F2 = -torch.logsumexp((-nL(A * B) - math.log(16.0) + log_w2).flatten(), 0)
        diff[c].append((F2 - F1).item())
logn = torch.tensor([math.log(v) for v in n_sel])
for c, marker in ((0.3, "o-"), (0.0, "s-")):
    plt.plot(logn, diff[c], marker, label=rf"$F^{{(2)}} - F^{{(1)}}$, true $c$ = {c}")
plt.plot(logn, 0.5 * logn + diff[0.3][0] - 0.5 * logn[0], "k--", lw=0.8, label=r"BIC: $\frac{1}{2}\log n$ + const")
plt.xlabel(r"$\log n$"); plt.ylabel("free energy difference"); plt.legend(fontsize=8)
plt.title("the two-parameter singular model is not penalised as two parameters"); plt.show()

# %% [markdown]
# The difference stays bounded when $c = 0.3$ (both models pay $\frac12\log n$) and *decreases* when
# $c = 0$, where the singular model is preferred. Parameter counting (BIC, AIC) gets this wrong; the
# Bayesian free energy, and WBIC, get it right, because they measure $\lambda$, not $d$. Neural networks
# are singular everywhere, which is one reason why counting their parameters says little about how
# they generalise (Watanabe 2009, ch. 7).
#
# ## Explore (ungraded)
#
# * Change $K$ to $w^8$, or to $w_1^2 w_2^4$ (exact $\lambda = 1/4$), and compare the slope over
#   $[10^2, 10^6]$ with that over $[10^8, 10^{14}]$: a second pole bends the curve at moderate $n$.
# * In section 5, use a true $c$ of $0.05$: for which $n$ does $\mathcal M_2$ stop being preferred?

# %%
# your experiments here

# %% [markdown]
# ## Summary
#
# * $F_n = -\log Z_n$; compute it in log space. On a grid: `logsumexp` with trapezoid log-weights.
# * Laplace and BIC assume a positive definite Hessian, i.e. a regular model; they charge $\frac d2\log n$.
# * In general $F_n = nL_n(w_0) + \lambda\log n - (m-1)\log\log n + O_p(1)$; the slope of $F_n$ against
#   $\log n$ measures $\lambda$ (slowly when $m > 1$).
# * WBIC, one tempered posterior mean at $\beta = 1/\log n$, estimates $F_n$ without a normalising constant.
# * Singular models are cheaper than their parameter count: $\lambda < d/2$.
#
# References: Schwarz (1978), *Ann. Statist.* 6:461–464; Tierney & Kadane (1986), *JASA* 81:82–86;
# Watanabe (2009), *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP; Watanabe (2013),
# "A widely applicable Bayesian information criterion", *JMLR* 14:867–897.
