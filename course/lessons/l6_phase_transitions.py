# %% [markdown]
# # Lesson 6: Phase transitions and development
#
# Lessons 1–5 measured one thing about one minimum: its learning coefficient $\lambda$. This lesson asks what
# $\lambda$ *does*. Daniel Murfet's case for SLT in interpretability and alignment (AXRP podcast, episode 31,
# "Singular Learning Theory with Daniel Murfet", 7 May 2024) is that a model's posterior and loss landscape
# reflect the structure the model has learnt, and that the LLC detects when new structure forms: as the data
# grow (**Bayesian phase transitions**) and along training (**development**). You will
#
# * derive where two basins trade places in the posterior, and watch it happen on an exact 1-D example;
# * compute the exact loss of the **toy model of superposition** (Elhage et al. 2022), find its critical points
#   (the $k$-gons), their Hessians and learning coefficients, and estimate the LLC of each;
# * predict which $k$-gon the posterior prefers as $n$ grows;
# * train the model with SGD, find the stages of its development from the loss curve, estimate the LLC along
#   training, and compare the stages with the critical points;
# * sort what these results show from what they do not.
#
# As before, each exercise is a function you write in the cell marked `# YOUR CODE HERE`; the cell after it
# checks it, and the demonstrations after it run *your* function (until it is written they say so in one line
# and use the course's reference). Where this lesson estimates an LLC it calls the library's `llc.estimate_llc`,
# the estimator you built the equivalent of in lesson 5, on a loss *you* write.

# %% [setup]
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import brentq
from scipy.special import lambertw

from slt_lessons import checkpoints, llc, phases, tms
from slt_lessons.checks import check, yours
from slt_lessons.course import FAST, FULL
from slt_lessons.device import default_dtype, get_device
from slt_lessons.validation import (as_tensor, require_finite, require_ndim, require_nonempty, require_number,
                                   require_same_length)  # argument checks, as in the library

device = get_device()
dtype = default_dtype(device)
torch.set_default_dtype(dtype)
print("tensors live on", device, "| dtype:", dtype, "| fast mode:", FAST, "| full mode:", FULL)

# %% [markdown]
# ## 1. Internal model selection
#
# A posterior over a parameter space with several basins weighs each basin $\alpha$ by its **local free energy**
#
# $$F_\alpha(n) = -\log \int_{\text{basin } \alpha} \varphi(w)\, e^{-nL(w)}\, dw
#   = nL_\alpha + \lambda_\alpha \log n + c_\alpha + o(1),$$
#
# with $L_\alpha$ the basin's lowest loss, $\lambda_\alpha$ its learning coefficient and $c_\alpha$ a constant
# (lesson 2's expansion, applied to each basin: Watanabe 2009, *Algebraic Geometry and Statistical Learning
# Theory*, Theorem 6.7; a $-(m_\alpha - 1)\log\log n$ term joins it when the multiplicity $m_\alpha > 1$). The
# posterior mass of basin $\alpha$ is $e^{-F_\alpha}/\sum_\beta e^{-F_\beta}$. This is a *theorem* about each basin
# separately, as $n \to \infty$; that it describes the competition at moderate $n$ is what this section tests.
#
# Take two basins: a **simple** one (small $\lambda_1$) that is less accurate ($L_1 > L_2$), and an **accurate** one
# with $\lambda_2 > \lambda_1$. At small $n$ the $\lambda\log n$ term decides and the simple basin wins; at large
# $n$ the $nL$ term decides and the accurate one wins. The switch is where $F_1 = F_2$:
#
# $$n\,\Delta L + \Delta c = \Delta\lambda \log n, \qquad \Delta L = L_1 - L_2 > 0,\quad \Delta\lambda = \lambda_2 - \lambda_1 > 0,\quad \Delta c = c_1 - c_2 .$$
#
# A line against a logarithm: it has two roots or none. The smaller is near $n = 1$ (for $\Delta c = 0$, below
# $n = e$), where $\log n$ is not yet the leading term and the expansion means nothing. The **larger** root is the
# phase transition. With $a = \Delta L/\Delta\lambda$ and $k = \Delta c/\Delta\lambda$, substituting $y = \log n - k$
# turns the equation into $(-y)e^{-y} = -a e^k$, which is Lambert's $W$ function ($W(z)e^{W(z)} = z$):
#
# $$n_c = -\frac{W(z)}{a}, \qquad z = -\frac{\Delta L}{\Delta\lambda}\, e^{\Delta c/\Delta\lambda}.$$
#
# For $-1/e < z < 0$, $W$ has two real branches: $W_0(z) \in (-1, 0)$ gives the smaller root, $W_{-1}(z) \le -1$
# the larger (`scipy.special.lambertw(z, -1)`; take `.real`). For $z < -1/e$ there is no real root: the accurate
# basin wins at every $n$.
#
# **Exercise 1.** Return the larger root $n_c$ (a Python float) for phase 1 `(L1, lam1)`, phase 2 `(L2, lam2)` and
# the constants `c1`, `c2` (default 0). Raise a `ValueError` when phase 1 is not the less accurate one
# (`L1 <= L2`), when it is not the simpler one (`lam1 >= lam2`), and when there is no crossing ($z < -1/e$). At
# $z = -1/e$ exactly the free energies only touch, at $n = 1/a$; no check asks for that case. Any method that
# finds the root to 8 significant digits passes (Lambert $W$, or a root finder on $\log n$).

# %% [exercise] phases.critical_n points=2

# %% [markdown]
# With more than two phases, the posterior prefers the one of smallest $F_\alpha(n)$ at each $n$.
#
# **Exercise 2.** Return, for each entry of `n` (a tensor of any shape, $n > 0$), the index $\alpha$ of the phase
# with the smallest $F_\alpha(n) = nL_\alpha + \lambda_\alpha\log n + c_\alpha$: a tensor of integers of `n`'s
# shape. `L`, `lam` and `c` (default: zeros) are 1-D, one entry per phase.

# %% [exercise] phases.preferred_phase points=2

# %% [markdown]
# ### An exact example
#
# One parameter, a uniform prior on $[-1, 3]$, and the loss
#
# $$L(w) = \min\big(w^4 + \delta,\ (w - 2)^2\big):$$
#
# a **quartic** basin at $w = 0$ ($L_1 = \delta$, and $\int e^{-nw^4}dw \propto n^{-1/4}$, so $\lambda_1 = 1/4$) and a
# **quadratic** one at $w = 2$ ($L_2 = 0$, $\lambda_2 = 1/2$). The quartic basin is simpler and worse by $\delta$.
# One parameter is few enough to compute the posterior on a grid, as in lesson 1.
#
# **Exercise 3.** Return the posterior mass of each basin for several $n$: `w` a uniform grid (1-D, increasing),
# `loss` the loss at each grid point, `n` a 1-D tensor of sample sizes, `boundary` the point that separates
# the basins. Under a uniform prior each grid point has the same weight, so the mass of basin 1 is
# $\sum_{w_i < b} e^{-nL_i} / \sum_i e^{-nL_i}$; basin 2 is the rest (grid points at or right of the
# boundary). Return shape `(len(n), 2)`: column 0 basin 1, column 1 basin 2. At large $n$ every $e^{-nL_i}$
# underflows to 0 ($e^{-746}$ is 0 in float64), and 0/0 is NaN; take the sums in logs (`torch.logsumexp`)
# so that it works at any $n$, and for losses that do not reach 0. Raise a `ValueError` when the boundary
# does not have grid points on both sides.

# %% [exercise] phases.grid_basin_masses points=2

# %% [markdown]
# Your masses against $n$, for $\delta = 0.02$, and the leading-order crossing from your `critical_n`:

# %%
masses_fn, critical_fn, preferred_fn = yours(grid_basin_masses), yours(critical_n), yours(preferred_phase)
grid_w = torch.linspace(-1.0, 3.0, 40001 if FULL else 4001)
ns = torch.logspace(-1, 4, 400 if FULL else 150)


def grid_crossing(delta):
    """The larger n where your grid masses cross 1/2: past the quartic basin's largest mass, the first n where
    the quadratic one holds more, refined by Brent's method on log n."""
    loss = phases.two_basin_potential(delta)(grid_w)
    b = phases.basin_boundary(delta)
    log_odds = lambda t: float(torch.log(masses_fn(grid_w, loss, torch.tensor([math.exp(t)]), b)[0]).diff())
    m = masses_fn(grid_w, loss, ns, b)[:, 0]
    peak = int(m.argmax())
    after = peak + int((m[peak:] < 0.5).int().argmax())
    return math.exp(brentq(log_odds, math.log(float(ns[after - 1])), math.log(float(ns[after])), xtol=1e-10))


delta = 0.02
loss_grid = phases.two_basin_potential(delta)(grid_w)
m = masses_fn(grid_w, loss_grid, ns, phases.basin_boundary(delta))
n_lead = critical_fn(delta, 0.25, 0.0, 0.5)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(ns, m[:, 0], label="quartic basin (λ = 1/4, L = δ)")
ax.plot(ns, m[:, 1], label="quadratic basin (λ = 1/2, L = 0)")
ax.axvline(n_lead, color="k", ls=":", label=f"leading-order crossing, n = {n_lead:.1f}")
ax.set(xscale="log", xlabel="n", ylabel="posterior mass", title=f"δ = {delta}: your grid masses")
ax.legend(fontsize=8)
plt.show()
prior = masses_fn(grid_w, loss_grid, torch.tensor([0.0]), phases.basin_boundary(delta))[0]
print(f"delta = {delta}: at n = 0 (the prior) the masses are {float(prior[0]):.4f} and {float(prior[1]):.4f}; "
      f"the quartic basin's largest mass is {float(m[:, 0].max()):.3f}, at n = {float(ns[m[:, 0].argmax()]):.1f}")

# %% [markdown]
# The quartic basin holds the larger mass only between two values of $n$. At $n = 0$ the masses are the prior's, and
# the quadratic basin's interval is only a little longer (printed); already at small $n$ (left of the plot) the
# simple basin takes over; then the accurate one wins for good. How good is the leading-order prediction? The table puts the crossing of your grid masses beside your
# `critical_n` without constants (leading order), your `critical_n` with the constants, and the library's exact
# crossing (adaptive quadrature, no grid). The constants are $c_\alpha = -\log(\varphi C_\alpha)$ with
# $\int_{\mathbb R} e^{-nw^4}dw = 2\Gamma(5/4)\,n^{-1/4}$ and $\int_{\mathbb R} e^{-nu^2}du = \sqrt\pi\, n^{-1/2}$, so
# $C_1 = 2\Gamma(5/4)$, $C_2 = \sqrt\pi$; the prior density $\varphi$ cancels in the difference.

# %%
c1, c2 = -math.log(2 * math.gamma(1.25)), -math.log(math.sqrt(math.pi))
print(f"{'delta':>6} {'grid (yours)':>13} {'exact':>10} {'leading order':>14} {'error':>7} {'with constants':>15} {'error':>9}")
for d in (0.01, 0.02, 0.05):
    exact = phases.exact_critical_n(d)
    lead, const = critical_fn(d, 0.25, 0.0, 0.5), critical_fn(d, 0.25, 0.0, 0.5, c1=c1, c2=c2)
    print(f"{d:6.2f} {grid_crossing(d):13.3f} {exact:10.3f} {lead:14.3f} {(lead - exact) / exact:7.1%} "
          f"{const:15.3f} {(const - exact) / exact:9.1e}")
for d in (0.1, 0.2):
    try:
        critical_fn(d, 0.25, 0.0, 0.5)
        lead = "a crossing"
    except ValueError:
        lead = "no crossing"
    try:
        exact = f"n = {phases.exact_critical_n(d):.2f}"
    except ValueError:
        exact = "none: the quartic basin never holds more mass"
    print(f"delta = {d}: leading order {lead} (needs delta <= 1/(4e) = {1 / (4 * math.e):.4f}); exact {exact}")

# %% [markdown]
# What the table shows. Your grid crossing agrees with the exact one to the digits printed: a grid of spacing
# $10^{-3}$ resolves both basins at these $n$. The leading-order crossing is **low** by a few percent, more
# at larger $\delta$, because it drops the constants: $2\Gamma(5/4) \approx 1.813 > \sqrt\pi \approx 1.772$, so
# the quartic basin holds a little more volume than its $\lambda$ alone says, and keeps the posterior a little
# longer. With the constants the expansion is exact here up to exponentially small tails cut off by the prior and
# the boundary (each branch of $L$ is exactly a power): the printed error is below $10^{-6}$. The leading-order formula has no crossing once
# $\Delta L/\Delta\lambda = 4\delta > 1/e$; the exact posterior still has one at $\delta = 0.1$, at a small $n$
# where the expansion was never meant to hold, and none at $\delta = 0.2$.
#
# In a real model the constants are not known, and the $o(1)$ term need not be small: the leading-order
# crossing is a prediction of the *order of magnitude* of $n_c$, and where the $\log\log n$ terms differ
# (multiplicities $m_\alpha \neq 1$) it can move further.
#
# ## 2. The toy model of superposition
#
# Elhage et al. (2022, *Toy Models of Superposition*, Transformer Circuits Thread) store $c$ sparse features in
# fewer dimensions. In the setting of Chen, Lau, Mendel, Wei & Murfet (2023, "Dynamical versus Bayesian phase
# transitions in a toy model of superposition", arXiv:2310.06301), $c = 6$ features live in $2$ dimensions:
#
# $$f_w(x) = \mathrm{ReLU}(W^\top W x + b), \qquad W \in \mathbb R^{2\times c},\ b \in \mathbb R^c,\ d = 3c = 18,$$
#
# and an input is one feature at a time, $x = \mu e_i$, with $i$ uniform on $\{1, \dots, c\}$ and $\mu \sim U[0, 1]$.
# The loss is the mean squared reconstruction error, **not halved**, as in that paper:
# $L(w) = E_{i,\mu}\lVert x - f_w(x)\rVert^2$.
#
# **Likelihood and prior.** The Bayesian part needs a likelihood. We use $p(y \mid x, w) = N(y; f_w(x), \sigma^2 I_c)$
# with $\sigma = 1$ and target $y = x$ (the library's convention since lesson 5), whose negative log-likelihood per
# sample is $\tfrac12\lVert x - f_w(x)\rVert^2 + \text{const}$: **the $nL_\alpha$ of the free energy is
# $n L_\alpha/2$**. With $\sigma^2 = \tfrac12$ it would be $nL_\alpha$ itself. The learning coefficient is the same for
# both (scaling a loss does not change $\lambda$), but the critical $n$ moves: section 2's prediction prints both.
# The prior is a wide Gaussian ($N(0, 10^2 I)$); it is smooth and positive at every $k$-gon, so it changes
# $F_\alpha$ only through $c_\alpha$.
#
# ### The exact loss
#
# For input $\mu e_i$ the $j$-th output is $\mathrm{ReLU}(\mu A_{ji} + b_j)$, $A = W^\top W$, and the target is
# $\mu\,\delta_{ij}$, so
#
# $$L(w) = \frac1c \sum_{i=1}^c \sum_{j=1}^c I(\delta_{ij}, A_{ji}, b_j), \qquad
#   I(\delta, a, b) = \int_0^1 \big(\delta\mu - \mathrm{ReLU}(a\mu + b)\big)^2 d\mu .$$
#
# $I$ has a closed form. The ReLU is on where $a\mu + b > 0$: an interval $[p, q] \subseteq [0, 1]$, which depends on the
# sign of $a$ and on where the kink $\mu_0 = -b/a$ falls. Off it the integrand is $(\delta\mu)^2$, on it the
# polynomial $(\delta\mu - a\mu - b)^2$.
#
# **Exercise 4.** Return $I(\delta, a, b)$ elementwise, exactly: `a` and `b` are tensors whose shapes broadcast
# (the result has the broadcast shape), `delta` a number or a tensor that broadcasts with them. Work out $[p, q]$ in
# each case (the kink inside $(0, 1)$ with $a > 0$; inside with $a < 0$; the ReLU on everywhere; off everywhere),
# then integrate the polynomials: with $m_k = \int_p^q \mu^k d\mu$,
# $I = \delta^2/3 - 2\delta(a m_2 + b m_1) + a^2 m_2 + 2ab\,m_1 + b^2 m_0$. Use `torch.where`, not Python `if`s,
# so that it works on whole tensors.

# %% [exercise] tms.segment_integral points=2

# %% [markdown]
# **Exercise 5.** Return the population loss $L(w)$ for `w` of shape `(..., 3c)`: one loss per row, shape `(...)`.
# `w` holds $W$ row by row, then $b$: `W, b = tms.unpack(w, c)` gives $W$ `(..., 2, c)` and $b$ `(..., c)`, and
# raises the `ValueError` for a `w` whose last dimension is not $3c$. Call the integral as `tms.segment_integral`,
# the course's version of exercise 4: each exercise is graded on its own, so a wrong integral does not cost
# `population_loss` its points. The identity matrix is the $\delta_{ij}$.

# %% [exercise] tms.population_loss points=2

# %% [markdown]
# Your loss against a Monte Carlo average of $\lVert x - f_w(x)\rVert^2$ over random inputs, at a random $w$:

# %%
loss_fn = yours(population_loss)
g = torch.Generator().manual_seed(60)
w_test = 0.7 * torch.randn(18, generator=g)
W_test, b_test = tms.unpack(w_test, 6)
M = 200_000 if FAST else 2_000_000
i, mu = torch.randint(0, 6, (M,), generator=g), torch.rand(M, generator=g)
x = mu[:, None] * torch.eye(6)[i]
err = ((x - torch.relu(x @ W_test.T @ W_test + b_test)) ** 2).sum(1)
print(f"your exact loss {float(loss_fn(w_test, 6)):.5f}; Monte Carlo over {M} inputs "
      f"{float(err.mean()):.5f} ± {float(err.std() / math.sqrt(M)):.5f}")

# %% [markdown]
# ### The k-gons, their Hessians and their learning coefficients
#
# Gradient descent on this loss stops at **$k$-gons**: $k$ columns of $W$ at the corners of a regular $k$-gon (length
# $l$, angles $2\pi j/k$) with a common bias $b$, and $c - k$ "dead" columns $W_j = 0$ (Elhage et al. 2022; Chen et
# al. 2023). The symmetry of the configuration makes every live column's gradient point along the column, so a
# $k$-gon is a critical point once $\partial L/\partial l = \partial L/\partial b = 0$: two equations, solved
# numerically (`tms.kgon`). A dead column $d$ outputs $\mathrm{ReLU}(b_d)$ for every input. With $b_d < 0$ it outputs 0,
# and the loss is *exactly constant* in its three coordinates nearby: three flat directions. The only positive
# critical value is $b_d = 1/(2c)$ (it minimises the dead column's loss $(1/c)(1/3 - b_d + c\,b_d^2)$); $b_d = 0$ is
# not critical.
#
# **From the Hessian to $\lambda$.** At a minimum where the loss is twice differentiable, $\lambda \ge
# \mathrm{rank}(\nabla^2 L)/2$, with equality when every zero eigenvector is tangent to a manifold of minima
# (the Morse–Bott case: near such a point coordinates exist in which $L - L_\alpha = u_1^2 + \dots + u_r^2$, whose
# $\lambda = r/2$ with $m = 1$, lesson 3). Here the zero modes are the rotation $W \mapsto R_\theta W$, an exact
# symmetry of $W^\top W$, and the flat coordinates of dead columns with negative bias; `tms.zero_modes` checks that
# these explain every zero eigenvalue. The rule does **not** apply where $L$ is not twice differentiable: at
# $(A_{ji}, b_j) = (0, 0)$ the ReLU's kink sits at the end of the segment $[0, 1]$ for every $a$ (exercise 4), and
# the 4-gon sits there ($b = 0$, neighbouring columns orthogonal).
#
# The table: each $k$-gon's $(l, b)$ from `tms.kgon`, its loss by *your* `population_loss`, the Hessian of *your* loss
# by autograd, its rank (eigenvalues above $10^{-8}$ of the largest) and rank/2.

# %%
kgons = [("4-gon", 4, -1.0), ("5-gon", 5, -1.0), ("5-gon, dead bias 1/12", 5, "optimal"), ("6-gon", 6, -1.0)]
table = {}
print(f"{'k-gon':<22} {'l':>8} {'b':>9} {'L (yours)':>10} {'|grad L|':>9} {'min eig':>9} {'smallest > 0':>12} {'rank':>5} "
      f"{'rank/2':>7}  note")
for name, k, dead in kgons:
    w_k, l_k, b_k = tms.kgon(k, 6, dead_bias=dead, device=device)
    w_g = w_k.clone().requires_grad_(True)
    L_k = loss_fn(w_g, 6)
    (grad_k,) = torch.autograd.grad(L_k, w_g)
    L_k = L_k.detach()
    H = torch.autograd.functional.hessian(lambda v: loss_fn(v, 6), w_k)
    eigs = torch.linalg.eigvalsh(H)
    r = tms.rank(eigs)  # eigenvalues above 1e-8 of the largest
    smallest = float(eigs.abs().sort().values[len(eigs) - r])  # the smallest of those
    kink = tms.on_kink(w_k, 6, tol=1e-9)
    exact = tms.zero_modes(w_k, 6)["exact"]
    note = ("ReLU kink: L is not C², rank/2 is not λ" if kink else
            "zero modes exact (rotation, flat dead columns): λ = rank/2" if exact else "zero modes not explained")
    table[name] = dict(w=w_k, L=float(L_k), rank=r, lam=None if kink or not exact else r / 2, eigs=eigs)
    print(f"{name:<22} {l_k:8.5f} {b_k:9.5f} {float(L_k):10.7f} {float(grad_k.norm()):9.1e} {float(eigs.min()):9.1e} "
          f"{smallest:12.4f} {r:5d} {r / 2:7.1f}  {note}")
fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
for ax, (name, k, dead) in zip(axes, kgons):
    W_k, b_vec = tms.unpack(table[name]["w"].cpu(), 6)
    for j in range(6):
        ax.plot([0, float(W_k[0, j])], [0, float(W_k[1, j])], "o-" if j < k else "x", color=f"C{j}")
    ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect="equal", title=name, xticks=[], yticks=[])
plt.suptitle("the columns of W at each k-gon (× marks a dead column at 0)", fontsize=9)
plt.show()

# %% [markdown]
# Read the table (its printed rows are the numbers). Every $k$-gon is a critical point (the gradient is at
# round-off) with no negative eigenvalue. The 5-gon has rank 14: of its 18 directions, one is the rotation and
# three are the dead column's flat coordinates, so $\lambda = 7$. Giving the dead column its positive bias $1/12$
# lowers the loss by exactly $1/(4c^2) = 1/144$ and curves all three of its directions: rank 17, $\lambda = 17/2$.
# The 6-gon has no dead column, only the rotation: rank 17, $\lambda = 17/2$, and the lowest loss. The 4-gon's
# Hessian has a rank, but it is the Hessian of one branch of a function with a kink, and rank/2 is not its
# $\lambda$.
#
# Now the LLC of each minimum, estimated with `llc.estimate_llc` on *your* loss, halved (the NLL above), at its
# default settings, against rank/2. The chains are localised at each $k$-gon, at $n\beta = 10^4$ (10⁵ in full mode).

# %%
nbeta_k = 1e5 if FULL else 1e4
nll = lambda W: 0.5 * loss_fn(W, 6)  # the Gaussian NLL with σ = 1, less its constant
for name in ("5-gon", "5-gon, dead bias 1/12", "6-gon"):
    res = llc.estimate_llc(nll, w_star=table[name]["w"], nbeta=nbeta_k, n_chains=16 if FULL else 8,
                           n_steps=4000 if FULL else (300 if FAST else 2000), check_gamma=False, progress=False)
    table[name]["llc"] = res
    h = table[name]["eigs"].clamp(min=0) / 2  # the NLL's curvatures: half the loss's
    h = h[h > 1e-8 * h.max()]
    gamma_only = float((0.5 * nbeta_k * h / (nbeta_k * h + res.gamma)).sum())
    print(f"{name:<22} LLC {res.llc:6.2f} ± {res.se:.2f}   rank/2 = {table[name]['rank'] / 2:4.1f}   "
          f"(gamma = {res.gamma:.3g} alone predicts {gamma_only:.2f})   flags: {','.join(res.flags) or '-'}")

# %% [markdown]
# The estimates land within a few tenths of rank/2 (printed above, with their SEs), and they see the extra
# $\tfrac32$ that the positive dead bias adds. They are not rank/2 exactly, nor should they be: this is the
# estimator at $n\beta = 10^4$ and the library's $\gamma$, not $\lambda$. The localisation alone would pull each
# quadratic direction of curvature $h$ down from $\tfrac12$ to $\tfrac12\,n\beta h/(n\beta h + \gamma)$ (lesson 5,
# section 5), which predicts the printed "alone predicts", below rank/2: the smallest nonzero curvatures are a few
# hundredths (the table's "smallest > 0"; the NLL's are half of them). The estimates come out *above* that
# prediction, by one to three SEs: what is left is the loss's higher-order terms, which the chains reach at this
# $n\beta$, and Monte Carlo error. Larger $n\beta$ and longer chains (full mode) shrink both the localisation's
# pull and the SEs.
#
# **Which $k$-gon does the posterior prefer?** From the free energies $F_\alpha(n) \approx n L_\alpha/2 + \lambda_\alpha\log n$,
# your `preferred_phase` and `critical_n` predict it, with $\lambda$ exact (rank/2) or estimated:

# %%
names = ["5-gon", "5-gon, dead bias 1/12", "6-gon"]
L_half = torch.tensor([table[k]["L"] / 2 for k in names])
lam_exact = torch.tensor([table[k]["lam"] for k in names])
lam_est = torch.tensor([table[k]["llc"].llc for k in names])
n_grid = torch.tensor([10.0, 100.0, 500.0, 1000.0, 2000.0, 10**4, 10**5])
for label, lam in (("exact λ = rank/2", lam_exact), ("estimated λ", lam_est)):
    picks = preferred_fn(n_grid, L_half, lam)
    print(f"{label:>18}: " + ", ".join(f"n = {int(n)}: {names[int(p)]}" for n, p in zip(n_grid, picks)))
n_c_half = critical_fn(table["5-gon"]["L"] / 2, 7.0, table["6-gon"]["L"] / 2, 8.5)
n_c_full = critical_fn(table["5-gon"]["L"], 7.0, table["6-gon"]["L"], 8.5)
n_c_est = critical_fn(table["5-gon"]["L"] / 2, float(lam_est[0]), table["6-gon"]["L"] / 2, float(lam_est[2]))
print(f"5-gon -> 6-gon: n_c = {n_c_half:.0f} with the NLL L/2 (sigma = 1), {n_c_full:.0f} with L itself "
      f"(sigma^2 = 1/2): ratio {n_c_half / n_c_full:.2f}")
print(f"with the estimated lambdas (NLL L/2): n_c = {n_c_est:.0f}, from Delta lambda = {float(lam_est[2] - lam_est[0]):.2f} "
      f"in place of 1.5")
try:
    critical_fn(table["5-gon, dead bias 1/12"]["L"] / 2, 8.5, table["6-gon"]["L"] / 2, 8.5)
except ValueError as e:
    print("5-gon with dead bias 1/12 -> 6-gon:", str(e).split(",")[0])

# %% [markdown]
# The prediction: the 5-gon below $n_c$, the 6-gon above it; the 5-gon with positive dead bias is never preferred
# (it has the 6-gon's $\lambda$ and a higher loss, so your `critical_n` refuses it: `lam1 >= lam2`). Note how
# sensitive $n_c$ is to $\Delta\lambda$: $n_c \approx (\Delta\lambda/\Delta L)\log n_c$ is proportional to it, so the
# estimated $\lambda$'s, each within a few tenths of the truth, move $n_c$ by a large fraction (printed). To predict a
# transition from estimates, estimate $\Delta\lambda$ to a few percent. The normalisation
# moves $n_c$ by a little more than a factor 2. With $\kappa = \Delta\lambda/(s\,\Delta L)$ for a loss scaled by $s$,
# the crossing solves $n_c = \kappa\log n_c$, and halving the loss doubles $\kappa$: the printed ratio is
# $2\log n_c(\tfrac12)/\log n_c(1)$. This is a *prediction to leading order*: the $c_\alpha$ (the volume of the
# rotation orbit, the $6!$ relabellings of the features, the prior) are left out, and so are the $o(1)$ terms.
#
# What the prediction is **not**: it is not "which basin the chains sit in". The LLC chains above were localised at
# one $k$-gon and stayed near it (at $n\beta \ge 10^4$ they do not cross between basins in a run this long), so they
# say nothing about the relative mass of the basins. Comparing basins needs their free energies, and the LLC
# enters them only through $\lambda_\alpha\log n$.
#
# ## 3. Development: SGD through the k-gons
#
# Training is not sampling. Minibatch SGD on this model (Chen et al. 2023 observe it) passes through plateaus and
# jumps between them: it stalls near one critical point until its noise carries it off, then falls to the next.
# The library's `tms.train` runs plain minibatch SGD (batch size 4, learning rate 0.05, fresh inputs each step)
# and saves checkpoints spaced evenly in $\log(1 + t)$: development slows down as it goes, and in log time its
# stages are plateaus of similar width.
#
# **Exercise 6.** Return the **stage boundaries** of a run from its loss curve: a list of checkpoint indices, one
# per stage boundary, each the first checkpoint of the new stage. `steps` and `losses` are sequences (or 1-D
# tensors) of the same length; steps strictly increasing and $\ge 0$, losses positive; raise a `ValueError`
# otherwise. Judge the curve in log time, $\log(1 + t)$, and in $\log L$. What counts as a stage boundary is a
# **drop**: the loss falls by more than 10% within a fast stretch (a rate
# $-\Delta\log L/\Delta\log(1 + t)$ above about 0.1, faster than the drifts and wiggles of a plateau). Each drop gives one
# boundary, in its middle (for instance the checkpoint just after its fastest interval). The check grades the outcome on synthetic loss curves whose stages are known: one
# boundary per drop, within 2 checkpoints of its middle, and none for noise or a slow drift.

# %% [exercise] tms.stage_boundaries points=2

# %% [markdown]
# A training run, its stages by *your* `stage_boundaries`, and the LLC along it. An SGD checkpoint hovers *above*
# the critical point it is near (by SGD's noise), and the LLC estimator assumes $w^*$ is a minimum: at a point
# $\Delta L$ above one, its chains slide down and $\hat\lambda$ falls by about $n\beta\,\Delta L/2$ (the NLL is
# $L/2$). So each checkpoint is estimated twice: as it is, and after exact gradient descent to the bottom of its
# basin (`tms.descend`). All estimates share one $n\beta = 10^4$, one $\gamma$ and one $\varepsilon$
# (`checkpoints.estimate_llcs`, the library's batched estimator over checkpoints), on *your* loss.

# %%
train_steps = 200_000 if FULL else (5000 if FAST else 50_000)
run = tms.train(c=6, steps=train_steps, lr=0.05, batch_size=4, init_scale=0.5, seed=6,
                n_checkpoints=80 if FULL else 60)
bounds = [int(k) for k in yours(stage_boundaries)(run.steps.tolist(), run.loss.tolist())]
print("stage boundaries (your function): checkpoints", bounds, "at steps", [int(run.steps[k]) for k in bounds])
K = len(run.steps)
first = int((run.steps >= 90).nonzero()[0])
pick = sorted(set(torch.linspace(first, K - 1, 12 if FULL else (3 if FAST else 6)).round().long().tolist())
              | {j for b in bounds for j in (b - 1, b) if first <= j < K})
raw = run.w[pick].to(device=device, dtype=dtype)
low, _ = tms.descend(raw, 6, steps=300 if FAST else 3000)
with torch.no_grad():
    L_raw, L_low = loss_fn(raw, 6), loss_fn(low, 6)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # each estimate's trust flags are printed in the table
    res = checkpoints.estimate_llcs(nll, list(raw) + list(low), nbeta=1e4, n_chains=8 if FULL else 4,
                                    n_steps=4000 if FULL else (200 if FAST else 2000), progress=False)
res_raw, res_low = res[: len(pick)], res[len(pick):]
kgon_levels = {"4-gon, one dead bias 1/12": 1 / 9 - 1 / 144, **{k: table[k]["L"] for k in names}}
print(f"one nbeta = {res[0].nbeta:g}, gamma = {res[0].gamma:.3g}, eps = {res[0].eps:.3g} for all")
print("shift = nbeta (L - L descended)/2: what a checkpoint's LLC should lose to its height above the basin's bottom")
print(f"{'step':>6} {'L':>8} {'live':>4} {'LLC at checkpoint':>18} {'L descended':>12} {'live':>4} "
      f"{'LLC descended':>15} {'shift':>7}  flags (checkpoint / descended)")
for n_, j in enumerate(pick):
    r0, r1 = res_raw[n_], res_low[n_]
    mark = "  <- boundary" if j in bounds else ""
    shift = res[0].nbeta * float(L_raw[n_] - L_low[n_]) / 2
    print(f"{int(run.steps[j]):>6} {float(L_raw[n_]):8.5f} {int(run.live[j]):>4} {r0.llc:10.2f} ± {r0.se:5.2f} "
          f"{float(L_low[n_]):12.5f} {int(tms.live_columns(low[n_], 6)):>4} {r1.llc:7.2f} ± {r1.se:5.2f} {shift:7.2f}  "
          f"{','.join(r0.flags) or '-'} / {','.join(r1.flags) or '-'}{mark}")
W_end, b_end = tms.unpack(low[-1], 6)
dead = int(W_end.norm(dim=0).argmin())
print(f"the last checkpoint, descended: its smallest column has norm {float(W_end[:, dead].norm()):.3f} and bias "
      f"{float(b_end[dead]):.3f}; the live columns have norm {float(W_end.norm(dim=0).max()):.3f}")

fig, ax1 = plt.subplots(figsize=(8, 4.2))
t1 = run.steps.double() + 1
ax1.plot(t1, run.loss, "k.-", lw=1, label="population loss L (left)")
for name, level in kgon_levels.items():
    ax1.axhline(level, color="grey", lw=0.6, ls=":")
    ax1.text(float(t1[0]), level, name, fontsize=7, va="bottom")
for b in bounds:
    ax1.axvline(float(t1[b]), color="C3", lw=0.8, ls="--")
ax1.set(xscale="log", yscale="log", xlabel="training step + 1", ylabel="L (not halved)")
ax2 = ax1.twinx()
x_pick = [float(t1[j]) for j in pick]
ok = lambda r: "not_minimum" not in r.flags  # noqa: E731
ax2.errorbar([x for x, r in zip(x_pick, res_low) if ok(r)], [r.llc for r in res_low if ok(r)],
             yerr=[2 * r.se for r in res_low if ok(r)], fmt="o", color="C0", label="LLC, descended (right)")
ax2.errorbar([x for x, r in zip(x_pick, res_raw) if ok(r)], [r.llc for r in res_raw if ok(r)],
             yerr=[2 * r.se for r in res_raw if ok(r)], fmt="s", mfc="none", color="C1",
             label="LLC at the checkpoint (right)")
for name in ("5-gon", "6-gon"):
    ax2.axhline(table[name]["lam"], color="C0", lw=0.6, ls="-.")
ax2.set(ylabel="LLC estimate", ylim=(0, 10))
fig.legend(loc="upper center", fontsize=7, ncol=3, bbox_to_anchor=(0.5, 0.0))
plt.title("loss and LLC along training (dashed: your stage boundaries; points flagged not_minimum left out)",
          fontsize=9)
plt.show()

# %% [markdown]
# Read the run against part 2 (the printed rows are the numbers). The loss falls in drops separated by plateaus, and
# your boundaries sit at the drops. The live columns and the loss name each stage. After the first drop (from the
# random start) comes a stage with 3 live columns whose loss keeps falling; its checkpoints descend to the next
# plateau, one with 4 live columns at $L = 1/9 - 1/144$: the 4-gon with one dead column at its positive bias $1/12$
# (each such bias lowers the loss by $1/144$). Then the 5-gon.
#
# * On the 4-column plateau every estimate is flagged `not_minimum`, and is negative: the chains found a lower loss.
#   That plateau is a saddle, or the 4-gon's kink, where $\hat\lambda$ is no learning coefficient.
# * The checkpoints just before the last boundary are already on their way out: they descend to the 5-gon (5 live
#   columns after descent).
# * On the 5-gon plateau the estimates at the checkpoints read low, by about the printed shift
#   $n\beta\,\Delta L/2$ for a checkpoint $\Delta L$ above its basin's bottom. After descent they are close to
#   the 5-gon's rank/2 = 7.
#
# SGD's 5-gon is not quite part 2's. Its dead column is small but not zero, with a negative bias (printed last):
# a point inside the region where the dead column's ReLU is off for every input, so the loss is exactly flat in its
# three coordinates. The region ends where the bias crosses 0, and beyond it the loss falls toward the 5-gon with
# positive dead bias. So this minimum is not strict: chains that wander far enough along the flat directions would
# find lower losses, and the estimator's `not_minimum` flag would fire. These runs, localised and 2000 steps long,
# stay inside the flat region (no flag), and what they measure is close to the 5-gon's rank/2.
#
# The run ends at the 5-gon, and it cannot get further by gradient steps: a dead column with negative bias has its
# ReLU off for every input, so it gets no gradient at all. The posterior of part 2 moves to the 6-gon once $n$
# passes about a thousand. **Development and Bayesian learning need not visit the same critical points**: the
# contrast in the title of Chen et al. (2023), "Dynamical versus Bayesian phase transitions". What they report (an
# *empirical finding*, for this model) is that the same $k$-gon critical points govern both SGD training and the
# Bayesian posterior, and that both journey from regions of high loss and low complexity to regions of low loss and
# high complexity; our run shows that journey, stopped at the 5-gon.
#
# ## 4. What this does and does not tell us
#
# * **Theorem** (Watanabe 2009, Theorem 6.7, under his fundamental conditions: among them a compact parameter set,
#   a prior positive at the minima, and a log-likelihood ratio that is analytic in $w$). $F_n = nL_n(w_0) + \lambda\log n -
#   (m - 1)\log\log n + O_p(1)$, and applied to each basin it gives the local free energies of section 1. The TMS's
#   ReLU makes its loss only piecewise analytic; the expansion at the $k$-gons where $L$ is smooth is what we used.
# * **Theorem** (section 1's algebra). To leading order the posterior switches from a phase to one of lower loss and
#   larger $\lambda$ at the larger root of $n\Delta L = \Delta\lambda\log n$; it never moves to a phase of higher
#   loss, and a phase that is both simpler and more accurate than another makes that one irrelevant.
# * **Exact, in one example.** On $\min(w^4 + \delta, (w - 2)^2)$ the exact posterior switches where the expansion
#   with its constants says (to better than $10^{-6}$); without them the leading order is a few percent low.
# * **Computation, in one model.** The 5-gon's and 6-gon's learning coefficients are rank/2 = 7 and 17/2 (Morse–Bott,
#   checked: every zero mode is a symmetry or exactly flat), and the estimator agrees within its localisation bias.
# * **Empirical finding** (Chen et al. 2023, for the TMS; Hoogland et al. 2024, arXiv:2402.02364, for a small
#   transformer learning in-context linear regression). Training passes through stages that show up as changes of
#   the LLC, and the stages correspond to changes of the model's internal structure. In our run: a drop in the loss
#   and a change of the LLC where a column is born.
# * **Hypothesis** (the program Murfet describes). Structure in the weights shows up in the geometry of the loss,
#   and the LLC counts the *effective* complexity of that structure, so that tracking the LLC, and its refinements,
#   along training finds when a network learns something new, in models too large to inspect by hand. It is
#   supported by the findings above, in small models; it is not a theorem, and whether it scales is open.
#
# Open problems. The local free energy's $O(1)$ terms, which decide $n_c$ to better than an order of magnitude, are
# not computable in general. Whether stages of training in large models are Bayesian phase transitions, or neither,
# is open; so is how to read *what* structure formed from a change of one number. SGD is not a sampler, and the LLC
# at a point that is not a minimum depends on $\gamma$ (lesson 5, section 7).
#
# Further reading: Watanabe, *Algebraic Geometry and Statistical Learning Theory* (2009) and *Mathematical Theory of
# Bayesian Statistics* (2018); Lau, Furman, Wang, Murfet & Wei (2023, arXiv:2308.12108), the LLC; Chen, Lau, Mendel,
# Wei & Murfet (2023, arXiv:2310.06301), this lesson's model; Hoogland, Wang, Farrugia-Roberts, Carroll, Wei &
# Murfet (2024, arXiv:2402.02364), the developmental landscape of in-context learning.
#
# ### Reasoning with $(L, \lambda)$
#
# Dividing $F_\alpha(n)$ by $\log n$: the posterior prefers the smallest $\lambda_\alpha + t\,L_\alpha$ with
# $t = n/\log n$, which grows with $n$ from $n = e$ on (below $e$ the expansion means nothing). So, from the phase
# preferred at $n = e$, the posterior can only move to phases of smaller loss, each switch at the larger root of
# $F_\alpha = F_\beta$, and from each phase to the one whose switch comes **first**. Some phases are never preferred
# at all.
#
# **Exercise 7.** Return the phases the posterior passes through as $n$ grows from $e$, in order, and the $n$ of each
# switch: a pair `(phases, switches)`, `phases` a list of indices into `L` starting with the phase preferred at
# $n = e$, `switches` a list of floats one shorter, increasing. `L` and `lam` are 1-D tensors, one entry per phase.
# Call the earlier exercises' functions through their module, `phases.preferred_phase` and `phases.critical_n` (the
# course's versions, so that this exercise is graded on its own).

# %% [exercise] phases.phase_sequence points=2

# %% [markdown]
# On the phases of this lesson, and on a made-up family where you can see a phase skipped:

# %%
sequence_fn = yours(phase_sequence)
seq, sw = sequence_fn(L_half, lam_exact)
print("k-gons (NLL L/2, lambda = rank/2):", " -> ".join(names[p] for p in seq), "| switches at n =",
      [round(s) for s in sw])
L_toy, lam_toy = torch.tensor([0.30, 0.20, 0.12, 0.10, 0.02]), torch.tensor([1.0, 1.5, 3.0, 2.5, 6.0])
seq, sw = sequence_fn(L_toy, lam_toy)
print("made-up phases (L, lambda):", [(float(a), float(b)) for a, b in zip(L_toy, lam_toy)])
print("  visited:", seq, "| switches at n =", [round(s, 1) for s in sw],
      "| never preferred:", sorted(set(range(len(L_toy))) - set(seq)))
fig, ax = plt.subplots(figsize=(4.5, 3.5))
ax.plot(L_toy, lam_toy, "o")
for k, (a, b) in enumerate(zip(L_toy, lam_toy)):
    ax.annotate(str(k), (float(a), float(b)), textcoords="offset points", xytext=(4, 4))
ax.plot(L_toy[seq], lam_toy[seq], "k--", lw=0.8, label="the phases visited")
ax.set(xlabel="L", ylabel="λ", title="phases in the (L, λ) plane")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The phases visited lie on the lower convex hull of the points $(L_\alpha, \lambda_\alpha)$, walked from the simple
# end to the accurate one; a phase above the hull (phase 2 here: between phases 1 and 3 it costs too much $\lambda$
# for its loss) is never preferred at any $n$. So which phase wins at a given $n$ is a question of the *shape* of the
# set of $(L, \lambda)$, not of any one phase: the trade-off between accuracy and complexity that the free energy
# makes.
#
# ## Summary
#
# * The posterior weighs basins by $F_\alpha \approx nL_\alpha + \lambda_\alpha\log n$: simple basins first, accurate
#   ones later; the switch is the larger root of $n\Delta L = \Delta\lambda\log n$, by Lambert's $W_{-1}$.
# * On an exact example the leading order is a few percent low; the constants fix it.
# * The TMS: the exact loss in closed form; its $k$-gons are critical points; $\lambda$ = rank/2 where every zero
#   mode is a symmetry or exactly flat, not at a kink; the LLC estimator agrees within its localisation bias.
# * The critical $n$ depends on the normalisation of the loss; $\lambda$ does not.
# * SGD develops in stages; find them in log time; estimate the LLC at the bottom of each basin, and flag the
#   points that are not minima. SGD and the posterior need not visit the same critical points.

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l6_phase_transitions/l6_phase_transitions.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l6_phase_transitions.ipynb` in this folder works too).
