# %% [markdown]
# # Lesson 4: Sampling a singular posterior with SGLD
#
# Lessons 1–3 computed posteriors on grids. A grid is exact, but only in one or two dimensions: a
# network with $d = 10^4$ parameters needs another tool. This lesson builds the one that the local
# learning coefficient of lesson 5 runs on: **stochastic gradient Langevin dynamics** (SGLD,
# Welling & Teh 2011, *ICML*). You will
#
# * derive it from gradient descent, the Langevin diffusion and its Euler–Maruyama discretisation;
# * add the two knobs of SLT sampling, **tempering** ($n\beta$) and **localization** ($\gamma$);
# * check samples against the exact grid posterior of lesson 1;
# * compute *exactly* the bias a finite step size introduces, for a Gaussian target, and reason from the
#   curvature to the largest step that keeps it within a tolerance;
# * see what minibatches add, and how the Metropolis–Hastings correction (MALA) measures and removes
#   the bias;
# * read the diagnostics that tell a trustworthy run from a broken one.
#
# Each exercise is a function you write in the cell marked `# YOUR CODE HERE`; the cell after it checks
# it, and the demonstrations after it run *your* function (until it is written they say so in one line and
# use the course's reference). The chain is random, but all its randomness comes from the generator you are
# given, so it too is checked exactly.

# %% [setup]
import math

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from slt_lessons import diagnostics, llc, mala, posterior, sgld, targets
from slt_lessons.checks import check, yours
from slt_lessons.course import FAST
from slt_lessons.device import default_dtype, generator, get_device

device = get_device()
dtype = default_dtype(device)
print("tensors live on", device, "| dtype:", dtype, "| fast mode:", FAST)

# %% [markdown]
# ## 1. From gradient descent to SGLD
#
# The target is the **localized tempered posterior** at a point $w^*$ (Lau, Furman, Wang, Murfet & Wei
# 2023, arXiv:2308.12108):
#
# $$p(w) \propto \exp\!\Big(-n\beta\, L_n(w) - \frac{\gamma}{2}\,\lVert w - w^*\rVert^2\Big) = e^{-U(w)} .$$
#
# * $n\beta$ **tempers**: $\beta = 1$ is Bayes' posterior (with a flat prior), $\beta = 1/\log n$ is the
#   WBIC temperature of lesson 2, which lesson 5 uses.
# * $\gamma$ **localizes**: a Gaussian prior centred at $w^*$ keeps the sampler near $w^*$, so that what
#   it measures is a property of the neighbourhood of $w^*$, not of the whole parameter space.
#
# **Gradient descent** on $U$ moves downhill, $w \leftarrow w - \eta\nabla U(w)$, and stops at a minimum.
# To *sample* instead of optimise, add noise. The **Langevin diffusion**
#
# $$dw_t = -\tfrac12 \nabla U(w_t)\,dt + dB_t$$
#
# ($B_t$ a Brownian motion) has $p \propto e^{-U}$ as its stationary law: the Fokker–Planck equation
# $\partial_t \rho = \tfrac12\nabla\cdot(\rho\nabla U) + \tfrac12\Delta\rho$ vanishes at $\rho = e^{-U}$. Its
# **Euler–Maruyama** discretisation with time step $\varepsilon$ replaces $dB_t$ by $\sqrt{\varepsilon}\,\xi$,
# $\xi \sim N(0, I)$:
#
# $$w_{t+1} = w_t - \frac{\varepsilon}{2}\Big(n\beta\,\nabla L_n(w_t) + \gamma\,(w_t - w^*)\Big) + \sqrt{\varepsilon}\,\xi_t .$$
#
# It is gradient descent with step $\eta = \varepsilon/2$ plus noise of variance $\varepsilon = 2\eta$. SGLD
# (Welling & Teh 2011) uses this update with $\nabla L_n$ replaced by the gradient of the loss on a random
# minibatch, which is cheap and unbiased (section 4).
#
# **Exercise 1.** Write one step. `w`, `grad` ($=\nabla L(w)$, *not* multiplied by $n\beta$) and `noise`
# have the same shape (one chain `(d,)` or many `(C, d)`); `w_star` broadcasts against `w`; `eps`,
# `nbeta`, `gamma` are numbers. Watch the three classic mistakes: the factor $\tfrac12$, the noise scale
# $\sqrt\varepsilon$ (not $\varepsilon$), and the sign of the localization term (it pulls *towards* $w^*$).

# %% [exercise] sgld.sgld_step points=2

# %% [markdown]
# With the noise switched off, a step is a gradient-descent step of size $\varepsilon/2$ on $U$ (here with
# $w^* = (0.5, 0.5)$, so the localization term pulls towards a point other than the origin):

# %%
step = yours(sgld_step)
w = torch.tensor([1.0, -2.0], dtype=dtype, device=device)
w_star = torch.tensor([0.5, 0.5], dtype=dtype, device=device)
grad = 2 * w  # gradient of L(w) = |w|^2
no_noise = step(w, grad, w_star, eps=0.1, nbeta=3.0, gamma=0.5, noise=torch.zeros_like(w))
print("SGLD step without noise:      ", no_noise.tolist())
print("gradient descent, eta = eps/2:", (w - 0.05 * (3.0 * grad + 0.5 * (w - w_star))).tolist())

# %% [markdown]
# ## 2. A chain, checked against the exact posterior
#
# A chain repeats the step, drawing fresh noise each time. **Exercise 2.** Run `n_steps` steps from `w0`
# and return the states *after* each step, stacked: shape `(n_steps, *w0.shape)`. `grad_fn(w)` returns
# $\nabla L(w)$ (for a batch of chains, row by row; `w0` may also be a single chain `(d,)`). Draw the noise of
# each step, in step order, with `torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)`:
# all randomness from the given generator, so a run is reproducible. Call the library's step,
# `sgld.sgld_step` (exercise 1), so that this exercise is judged on its own.
#
# *How this is checked.* The check runs your chains on a quadratic loss, where one step is the linear
# recursion $w_t = \rho\, w_{t-1} + c + \sqrt\varepsilon\,\xi_t$. From your trajectory it recovers the
# residuals $(w_t - \rho\,w_{t-1} - c)/\sqrt\varepsilon$, which for a correct chain are *exactly* the draws of
# the generator. It compares them with those draws (drawing all steps' noise at once, or chain by chain, is
# accepted too). When they differ it works out how: a noise scale, a drift (factor ½, sign of $\gamma$,
# $n\beta$ applied twice), a chain one step off, or noise that is not the generator's.

# %% [exercise] sgld.sgld_chain points=3

# %% [markdown]
# Now a singular target. Take $L(w) = w^4$ in one dimension — the simplest singular loss (its Hessian
# vanishes at the minimum; learning coefficient $\lambda = 1/4$, lesson 3) — with $n\beta = 100$ and a weak
# localization $\gamma = 1$. Its posterior is far from Gaussian, and the grid of lesson 1 gives it exactly.
# We run many chains in parallel (one row each) from $w^* = 0$ with your `sgld_chain`, drop the first
# steps as **burn-in**, and average $w^2$ over the rest, one estimate per chain. The chains are independent,
# so the spread of these estimates gives the standard error (SE) of their mean, and $z$ = (SGLD − grid)/SE
# says how many standard errors apart the two are.

# %%
nbeta, gamma = 100.0, 1.0
w_star = torch.zeros(1, dtype=dtype, device=device)
grid = torch.linspace(-1.2, 1.2, 2401, dtype=dtype, device=device)
log_w = posterior.grid_log_weights(grid)
exact = posterior.normalize_log_density(-(nbeta * grid**4 + gamma / 2 * grid**2), log_w)
exact_m2 = posterior.posterior_mean(exact, grid**2, log_w).item()

chain = yours(sgld_chain)
n_chains, n_steps, burn_in = (200, 600, 200) if FAST else (1000, 4000, 500)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for eps in [5e-4, 1e-2]:
    traj = chain(lambda w: 4 * w**3, torch.zeros(n_chains, 1, dtype=dtype, device=device), w_star,
                      eps, nbeta, gamma, n_steps, generator(0, device))
    samples = traj[burn_in:, :, 0].cpu()  # (steps, chains)
    m2 = samples.pow(2).mean(0)  # one estimate per chain: the chains are independent
    axes[0].hist(samples.flatten(), bins=120, range=(-1.2, 1.2), density=True, histtype="step", lw=1.5,
                 label=f"SGLD, eps = {eps}")
    se = m2.std().item() / math.sqrt(n_chains)
    print(f"eps = {eps:6g}: E[w^2] SGLD = {m2.mean():.5f} ± {se:.5f} (SE)   exact (grid) = {exact_m2:.5f}"
          f"   relative error = {100 * (m2.mean().item() / exact_m2 - 1):+.2f}%   z = {(m2.mean().item() - exact_m2) / se:+.1f}")
axes[0].plot(grid.cpu(), exact.exp().cpu(), "k--", lw=1, label="exact (grid)")
axes[0].set_xlabel("w"); axes[0].set_title(r"$p(w) \propto e^{-100 w^4 - w^2/2}$"); axes[0].legend(fontsize=8)
axes[1].plot(traj[:, :5, 0].cpu(), lw=0.6)
axes[1].axvspan(0, burn_in, color="0.9"); axes[1].set_xlabel("step")
axes[1].set_title(f"5 chains, eps = {eps} (burn-in shaded)")
plt.tight_layout(); plt.show()

# %% [markdown]
# Read the printed $z$. The small step agrees with the grid to within about 1.1 %, less than three standard
# errors. The larger one is about 2 % too wide and many standard errors off: the discretised chain does not
# have $p$ as its stationary law. (Larger still, and the chain blows up: the curvature of $100w^4$ is
# $1200w^2$, and a step is stable only while $\varepsilon \times$ curvature $< 4$.) How wrong, exactly? For a
# Gaussian target we can compute it.
#
# ## 3. The step-size bias, exactly
#
# Take $n\beta L(w) = \kappa w^2/2$ in one dimension ($\kappa$ is the curvature *including* $n\beta$) and
# localize at $w^* = 0$. With $a = \kappa + \gamma$ the step is
#
# $$w_{t+1} = \rho\, w_t + \sqrt\varepsilon\,\xi_t,\qquad \rho = 1 - \frac{\varepsilon a}{2} .$$
#
# A Gaussian stays Gaussian, and the variance obeys $v_{t+1} = \rho^2 v_t + \varepsilon$. For $|\rho| < 1$
# (that is $0 < \varepsilon a < 4$) it converges to the fixed point
#
# $$v_\infty = \frac{\varepsilon}{1 - \rho^2} = \frac{1}{a\,(1 - \varepsilon a/4)}$$
#
# instead of the target's $1/a$: the chain is too wide by the factor $1/(1 - \varepsilon a/4) \approx 1 + \varepsilon a/4$,
# and it diverges for $\varepsilon a \ge 4$. This is exact, not an approximation: the recursion is linear, so
# nothing was neglected. A rule of thumb, $\varepsilon\,(\kappa_{\max} + \gamma) \le 0.1$, keeps the inflation
# of the stiffest direction's variance at or below $1/(1 - 0.025) - 1 \approx 2.6\,\%$.
#
# **Exercise 3.** Return $v_\infty$ for `kappa`, `gamma`, `eps` (numbers or broadcastable tensors).

# %% [exercise] sgld.stationary_variance points=1

# %% [markdown]
# Measured against computed: many chains of your `sgld_chain`, each run well past its relaxation time
# $1/(\varepsilon a)$ steps, for a range of step sizes, beside your `stationary_variance`.

# %%
chain, variance = yours(sgld_chain), yours(stationary_variance)
kappa, gamma = 10.0, 1.0
a = kappa + gamma
eps_grid = torch.tensor([0.005, 0.02, 0.05, 0.1, 0.2, 0.3], dtype=dtype)
C = 500 if FAST else 4000
measured = []
for eps in tqdm(eps_grid.tolist(), desc="step sizes"):
    T = int(8 / (eps * a)) + 20
    traj = chain(lambda w: kappa * w, torch.zeros(C, 1, dtype=dtype, device=device),
                      torch.zeros(1, dtype=dtype, device=device), eps, 1.0, gamma, T, generator(1, device))
    measured.append(traj[-1].var().item())
fine = torch.linspace(0.001, 0.33, 200, dtype=dtype)
plt.plot(fine * a, variance(kappa, gamma, fine) * a, label=r"exact: $1/(1-\varepsilon a/4)$")
plt.plot(eps_grid * a, torch.tensor(measured) * a, "o", label=f"SGLD, {C} chains")
plt.axhline(1.0, color="k", ls=":", label=r"target (continuous time)")
plt.xlabel(r"$\varepsilon a$"); plt.ylabel(r"variance $\times\, a$"); plt.legend(); plt.title("SGLD step-size bias"); plt.show()

# %% [markdown]
# ### How large a step? Reasoning from the curvature
#
# This bias feeds straight into lesson 5. The LLC estimator there averages $n\beta\,(L(w) - L(w^*))$ over the
# chain, $w^*$ a minimum of $L$, and reads the learning coefficient off that average. Near a minimum a loss is
# close to quadratic, $L(w) - L(w^*) \approx \frac12 (w - w^*)^\top H (w - w^*)$, so the quadratic is where the
# step-size bias can be worked out exactly. Three facts do it; derive each before you use it.
#
# 1. **Directions decouple.** Write $w - w^*$ in the eigenbasis of the Hessian $H$ (eigenvalues $h_i \ge 0$).
#    $\nabla U$ then acts on each coordinate separately, and the noise $\xi$ is independent across coordinates,
#    so each coordinate of the chain is the one-dimensional chain above, with its own curvature. Which
#    curvature? Remember that $\kappa$ above is the curvature of $n\beta L$, and that $\gamma$ adds to it.
# 2. **What the estimator averages.** $n\beta\,(L(w) - L(w^*))$ is a weighted sum of the $w_i^2$; its average
#    under the stationary law follows from exercise 3, direction by direction. Which directions carry much
#    weight, and which (for instance flat, *singular* directions with $h_i = 0$) carry none?
# 3. **How it grows with $\varepsilon$.** Each direction's variance is inflated by $1/(1 - \varepsilon a_i/4)$, which
#    rises from 1 at $\varepsilon = 0$ to $\infty$ at $\varepsilon a_i = 4$. So the average's ratio to its
#    $\varepsilon \to 0$ value rises monotonically, and the stiffest direction sets where it blows up. It does not
#    alone set the ratio: the directions are averaged.
#
# **Exercise 4.** Given the Hessian's eigenvalues `hessian_eigs` (a tensor `(d,)`), `nbeta`, `gamma` and a
# tolerance `tol`, return (as a Python float) the largest step $\varepsilon$ at which the stationary average of
# $n\beta\,(L(w) - L(w^*))$ exceeds its $\varepsilon \to 0$ value by at most the fraction `tol`. There is no
# closed form once the directions differ: find the root numerically (bisection, or `scipy.optimize.brentq`
# imported inside your function) to a relative accuracy of $10^{-6}$ or better; the check allows $10^{-5}$.
# You may call `sgld.stationary_variance` (the library's exercise 3). The hidden cases are other spectra
# (flat directions, no localization, $n\beta = n/\log n$, a step near the stability limit, ...), and a wrong
# answer is told how far its bias is from `tol` and, where it can tell, which step of the reasoning slipped,
# with a question about that step.

# %% [exercise] sgld.largest_step points=2

# %% [markdown]
# Your answer against simulation: SGLD chains (your `sgld_chain`) on a quadratic with one stiff, one soft and
# one flat direction, at the step your `largest_step` allows for a 10 % tolerance and at the step the
# stiffest direction alone would allow. The measured bias of the average of $n\beta\,(L(w) - L(w^*))$ is printed
# with its standard error (one estimate per chain; the chains are independent).

# %%
step_for, chain, variance = yours(largest_step), yours(sgld_chain), yours(stationary_variance)
hessian_eigs = torch.tensor([4.0, 0.5, 0.0], dtype=dtype, device=device)
nbeta, gamma, tol = 10.0, 2.0, 0.1
kappa = nbeta * hessian_eigs
lam0 = float((kappa * variance(kappa, gamma, 0.0)).sum() / 2)  # the eps -> 0 value of the average
steps = {"largest_step": step_for(hessian_eigs, nbeta, gamma, tol),
         "stiffest direction alone": step_for(hessian_eigs[:1], nbeta, gamma, tol)}
C, T, burn_in = (400, 300, 100) if FAST else (4000, 600, 200)
for label, eps in steps.items():
    traj = chain(lambda w: hessian_eigs * w, torch.zeros(C, 3, dtype=dtype, device=device),
                 torch.zeros(3, dtype=dtype, device=device), eps, nbeta, gamma, T, generator(7, device))
    lam = (kappa * traj[burn_in:] ** 2).sum(-1).mean(0) / 2  # one estimate per chain
    bias, se = lam.mean().item() / lam0 - 1, lam.std().item() / math.sqrt(C) / lam0
    print(f"{label:>24}: eps = {eps:.5f}   measured bias = {100 * bias:5.2f}% ± {100 * se:.2f}% (SE)   tol = {100 * tol:g}%")

# %% [markdown]
# The step from `largest_step` puts the bias at the tolerance (within three printed standard errors); the
# stiffest-direction rule is safe but gives away part of the step, because the soft direction is biased less
# and the flat one not at all. Against the true $\lambda = \tfrac12$ per direction of a quadratic, the
# localization biases the average down (by the factor $\kappa/(\kappa+\gamma)$ as $\varepsilon \to 0$) and the step
# size up. Lesson 5 chooses $\varepsilon$ for models that are not quadratic, where this exact computation is not
# available; the mechanism, curvature times $\varepsilon$, is the same.

# %% [markdown]
# The library's LLC estimator (lesson 5) picks its SGLD step by a rule of the same kind. Asked for SGLD with no
# $\varepsilon$, `llc.estimate_llc` runs short pilot chains, measures the trace of $n\beta\nabla^2 L$ where they go and
# a first estimate $\hat\lambda$, and takes the $\varepsilon$ at which the *first-order* bias of fact 3,
# $\varepsilon\,\mathrm{tr}(n\beta\nabla^2 L)/(8\hat\lambda)$, is 2% (`r.eps`). `r.bias_bound` is that bias recomputed
# at the run's own estimate and final states, divided by $1 - \varepsilon a_{\max}/4$ to err on the safe side. Beside
# it, your `largest_step` with `tol = 0.02`, and the exact bias of the average at each step from your
# `stationary_variance`, on quadratics with several spectra ($n\beta = 1$, $\gamma = 1$):

# %%
import warnings

step_for, variance = yours(largest_step), yours(stationary_variance)
nbeta, gamma, tol = 1.0, 1.0, 0.02
T = 500 if FAST else 2000


def exact_bias(kappa, eps):
    """The stationary average of nbeta (L(w) - L(w*)) at step eps over its eps -> 0 value, minus 1."""
    return float((kappa * variance(kappa, gamma, eps)).sum() / (kappa * variance(kappa, gamma, 0.0)).sum()) - 1


print(f"{'curvatures':>26}  {'library eps':>11} {'bias_bound':>10} {'exact bias':>10}   {'largest_step':>12} {'exact bias':>10}   flags")
for curvatures in [[10.0], [100.0, 10.0, 1.0, 0.0], [1000.0, 100.0, 10.0, 1.0]]:
    kappa = torch.tensor(curvatures, dtype=dtype, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the run's trust flags are printed in the row instead
        r = llc.estimate_llc(lambda W: 0.5 * (kappa * W**2).sum(-1), w_star=torch.zeros_like(kappa), nbeta=nbeta,
                             gamma=gamma, sampler="sgld", n_steps=T, check_gamma=False, progress=False)
    mine = step_for(kappa, nbeta, gamma, tol)
    print(f"{str(curvatures):>26}  {r.eps:11.3e} {100 * r.bias_bound:9.2f}% {100 * exact_bias(kappa, r.eps):9.2f}%   "
          f"{mine:12.3e} {100 * exact_bias(kappa, mine):9.2f}%   {','.join(r.flags) or '-'}")

# %% [markdown]
# The library's rule is first order and weights the directions by their curvature through the trace, with $\hat\lambda$
# from pilot chains; your `largest_step` solves the exact equation of the quadratic, direction by direction. Both hold
# the bias at the 2% tolerance: the exact bias at the library's step is within a few tenths of a per cent of 2%
# (its $\hat\lambda$ and trace are Monte Carlo estimates), at yours it is 2% to round-off. The first-order rule needs no
# eigenvalues and no quadratic, which is why the library can use it on any model.
#
# ## 4. Minibatch noise
#
# SGLD's second approximation: the gradient of the full loss $L_n$ is replaced by that of a minibatch
# $L_B$. It is unbiased, $E[\nabla L_B] = \nabla L_n$, but it adds noise to each step: the drift term
# $\frac{\varepsilon}{2}n\beta\,\nabla L_B$ carries variance $\big(\frac{\varepsilon n\beta}{2}\big)^2\mathrm{Var}(\nabla L_B)$, of
# order $\varepsilon^2$ against the injected $\varepsilon$. Welling & Teh's argument: as $\varepsilon \to 0$ the
# injected noise dominates. But $n\beta$ is large, so the constant matters.
#
# For the Gaussian-mean model $L_n(w) = \frac{1}{2n}\sum_i (w - x_i)^2$, $\nabla L_B(w) = w - \bar x_B$, and a
# batch of $b$ indices drawn with replacement has $\mathrm{Var}(\bar x_B) = s^2/b$ ($s^2$ the data's variance).
# The recursion is still linear, so the stationary variance is exact again:
#
# $$v_\infty = \frac{\varepsilon + (\varepsilon n\beta/2)^2 s^2/b}{1 - \rho^2} .$$
#
# The chains below use your `sgld_step`.

# %%
step = yours(sgld_step)
n = 1000
x = torch.randn(n, generator=generator(2, "cpu"), dtype=dtype).to(device)
nbeta, gamma = n / math.log(n), 0.0
eps = 0.1 / nbeta  # eps * kappa = 0.1 with kappa = nbeta
rho = 1 - eps * nbeta / 2
s2 = x.var(unbiased=False).item()
C, T = (200, 400) if FAST else (500, 1000)
g = generator(3, device)
print(f"n = {n}, nbeta = {nbeta:.1f}, eps = {eps:.2e}; full-batch target variance 1/nbeta = {1 / nbeta:.3e}")
for b in [None, 100, 10, 1]:
    w = torch.full((C, 1), x.mean().item(), dtype=dtype, device=device)
    keep = []
    for t in range(T):
        if b is None:
            xb = x.mean()
        else:
            idx = torch.randint(n, (C * b,), generator=g, device=device)
            xb = x.index_select(0, idx).view(C, b).mean(1, keepdim=True)  # each chain its own batch
        noise = torch.randn(w.shape, generator=g, dtype=dtype, device=device)
        w = step(w, w - xb, torch.zeros(1, dtype=dtype, device=device), eps, nbeta, gamma, noise)
        if t >= T // 3:
            keep.append(w)
    extra = 0.0 if b is None else (eps * nbeta / 2) ** 2 * s2 / b
    var = torch.cat(keep).var().item()
    print(f"batch {'full' if b is None else b:>4}: variance {var:.3e}   exact {(eps + extra) / (1 - rho**2):.3e}   "
          f"ratio to the target 1/nbeta = {var * nbeta:.2f}")

# %% [markdown]
# (No localization here: $\gamma = 0$.) Each measured variance is close to its exact value (the chains are
# correlated, so the Monte Carlo error is a few per cent). Read the ratios: with batches of 10 the variance is
# more than a third too large, with batches of 1 more than four times, while the full batch's exact value
# exceeds the target only by the step-size factor of section 3. The lesson: at the temperatures of LLC
# estimation, minibatch noise is a real bias unless $\varepsilon$ is small; it shrinks in proportion to
# $\varepsilon\, (n\beta)^2 s^2/b$.
#
# ## 5. The Metropolis–Hastings correction (MALA)
#
# The Metropolis-adjusted Langevin algorithm (Roberts & Tweedie 1996, *Bernoulli* 2(4)) treats the Langevin
# step $w' = w + \frac{\varepsilon}{2}\nabla\log p(w) + \sqrt\varepsilon\,\xi$ as a *proposal* with density
# $q(w'\mid w) = N\big(w';\, w + \frac\varepsilon2\nabla\log p(w),\ \varepsilon I\big)$, and accepts it with probability
#
# $$\alpha = \min\Big(1,\ \frac{p(w')\,q(w\mid w')}{p(w)\,q(w'\mid w)}\Big) ,$$
#
# otherwise stays at $w$. The accepted chain has $p$ as its stationary law *exactly*, whatever $\varepsilon$.
#
# **Exercise 5.** Return $\log\alpha$ for a batch of proposals: `w`, `w_new` and the gradients of $\log p$ at
# both have shape `(..., d)`; `logp`, `logp_new` have shape `(...)`; the squared norms in $\log q$ sum over
# the last dimension. `eps` is a number or a tensor that broadcasts against `w`, such as one step size per
# chain of shape `(C, 1)` (as `mala.sample_mala` uses); the result has the shape of `logp` either way. ($\log q(b\mid a) = -\lVert b - a - \frac\varepsilon2\nabla\log p(a)\rVert^2/(2\varepsilon)$ + a
# constant that cancels.)

# %% [exercise] sgld.mala_log_accept_ratio points=2

# %% [markdown]
# MALA on the Gaussian target of section 3, at step sizes where SGLD is badly biased, built from your
# `sgld_step` (the proposal) and your `mala_log_accept_ratio`. The SGLD column is not a simulation: it is
# the exact stationary variance of section 3 (your `stationary_variance`), beside MALA's simulated one.

# %%
step, log_accept, variance = yours(sgld_step), yours(mala_log_accept_ratio), yours(stationary_variance)
kappa, gamma = 10.0, 1.0
a = kappa + gamma
C, T = (500, 300) if FAST else (2000, 800)
g = generator(4, device)
print(f"Monte Carlo error of a variance*a from {C} chains: about sqrt(2/C) = {math.sqrt(2 / C):.3f}")
print("eps*a   SGLD variance*a (exact, section 3)   MALA variance*a (simulated)   acceptance")
for eps in [0.05, 0.2, 0.33]:
    w = torch.zeros(C, 1, dtype=dtype, device=device)
    logp = lambda w: -(a / 2) * (w**2).sum(-1)  # noqa: E731
    grad_logp = lambda w: -a * w  # noqa: E731
    accepted = 0.0
    for t in range(T):
        w_new = step(w, kappa * w, torch.zeros(1, dtype=dtype, device=device), eps, 1.0, gamma,
                     torch.randn(w.shape, generator=g, dtype=dtype, device=device))
        log_alpha = log_accept(w, w_new, logp(w), logp(w_new), grad_logp(w), grad_logp(w_new), eps)
        accept = torch.rand(C, generator=g, dtype=dtype, device=device).log() < log_alpha
        w = torch.where(accept[:, None], w_new, w)
        accepted += accept.double().mean().item() / T
    print(f"{eps * a:5.2f}   {variance(kappa, gamma, eps) * a:34.3f}   {w.var().item() * a:27.3f}   {accepted:10.3f}")

# %% [markdown]
# The corrected chain has variance $1/a$ at every step size, up to the printed Monte Carlo error (within three
# times it), while SGLD's grows as section 3 computed. Its price: a full-batch $\log p$ per step, and
# rejections; the acceptance falls as $\varepsilon a$ grows. MALA gives the reference values against which
# lesson 5 tests SGLD-based estimates.
#
# ## 6. Reading diagnostics
#
# The acceptance probability is also a **diagnostic** for plain SGLD: if a Langevin proposal from the chain's
# current state would often be rejected, the step size is too large for the local curvature. Furman & Lau
# (2024, arXiv:2402.03698) calibrate SGLD for LLC estimation this way; their well-behaved runs sat near an
# acceptance of 0.9 (an empirical finding on their models, not a theorem).
#
# **Exercise 6.** For a `target` (a `slt_lessons.targets.Target`: `target.loss_and_grad(W)` returns the
# per-chain losses `(C,)` and gradients `(C, d)`), chains at `W` `(C, d)`, and given noise `(C, d)`, make the
# full-batch SGLD proposal `sgld.sgld_step(W, grad, w_star, eps, nbeta, gamma, noise)` from each chain and
# return its MALA acceptance probability, shape `(C,)`. Localize at `w_star`: it is the same point as
# `target.w_star` in every call. You may use the library's `mala.log_density(target, W, nbeta, gamma)`, which
# returns three tensors in this order: $\log p$ `(C,)`, $\nabla \log p$ `(C, d)` and the loss $L_n$ `(C,)`
# (localized at `target.w_star`), with `sgld.sgld_step` and `mala.mala_log_accept_ratio`, or your own
# functions. A NaN probability (an overflowing proposal, e.g. from a chain that has blown up) counts as 0.

# %% [exercise] sgld.langevin_acceptance points=2

# %% [markdown]
# A two-dimensional singular loss, $L(w) = w_1^2 w_2^2$ (the cross of lesson 1), localized at $w^* = (0.5, 0)$.
# Chains (your `sgld_chain`) start away from $w^*$ to show a burn-in. For several step sizes we record the
# acceptance diagnostic (your `langevin_acceptance`) along the way, and for the last one the two standard convergence diagnostics (lesson 5 asks you to write
# them): the **effective sample size** of a trace (how many independent draws it is worth) and the split
# $\hat R$ across chains (near 1 when all chains sample the same law; above 1.01 is suspicious).

# %%
def cross_loss(W):
    return (W[:, 0] * W[:, 1]) ** 2


nbeta, gamma = 100.0, 20.0
w_star = torch.tensor([0.5, 0.0], dtype=dtype, device=device)
target = targets.potential_target(cross_loss, w_star)


def cross_grad(W):
    return torch.stack([2 * W[:, 0] * W[:, 1] ** 2, 2 * W[:, 1] * W[:, 0] ** 2], -1)


chain, acceptance = yours(sgld_chain), yours(langevin_acceptance)
C, T, burn_in = (8, 400, 100) if FAST else (8, 4000, 500)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for eps in [1e-3, 3e-3, 1e-2]:
    W0 = w_star + torch.tensor([0.0, 0.4], dtype=dtype, device=device).expand(C, 2)
    traj = chain(cross_grad, W0, w_star, eps, nbeta, gamma, T, generator(5, device))
    states = traj[burn_in::max(1, T // 50)].reshape(-1, 2)
    acc = acceptance(target, states, w_star, nbeta, gamma, eps,
                     torch.randn(states.shape, generator=generator(6, device), dtype=dtype, device=device))
    loss_trace = nbeta * cross_loss(traj.reshape(-1, 2)).reshape(T, C).T  # (C, T)
    print(f"eps = {eps:g}: mean acceptance after burn-in = {acc.mean():.3f}")
    axes[0].plot(loss_trace.mean(0).cpu(), lw=0.8, label=f"eps = {eps:g}, acceptance {acc.mean():.2f}")
kept = loss_trace[:, burn_in:]
print(f"eps = {eps:g}: split R-hat = {diagnostics.split_rhat(kept):.3f}, "
      f"ESS per chain = {[round(float(diagnostics.effective_sample_size(c))) for c in kept]} of {kept.shape[1]} draws")
axes[0].axvspan(0, burn_in, color="0.9"); axes[0].set_yscale("log"); axes[0].set_xlabel("step")
axes[0].set_ylabel(r"$n\beta L(w_t)$, mean over chains"); axes[0].legend(fontsize=8)
axes[1].scatter(traj[burn_in:, :, 0].flatten().cpu(), traj[burn_in:, :, 1].flatten().cpu(), s=1, alpha=0.2)
axes[1].set_xlabel("$w_1$"); axes[1].set_ylabel("$w_2$"); axes[1].set_title(f"samples, eps = {eps:g}")
plt.tight_layout(); plt.show()

# %% [markdown]
# What to look for: the loss trace must flatten out before the burn-in ends (else burn-in is too short);
# the acceptance of the Langevin proposal should stay high (≳ 0.9, the empirical guide above), and it falls
# as $\varepsilon \times$ (local curvature) grows, as the printed acceptances do here; $\hat R$ near 1 (it is
# printed); an ESS far below the number of draws means strongly correlated draws, so the Monte Carlo error
# is larger than the number of draws suggests (lesson 5 uses the ESS for the standard error of the LLC).
#
# ## Summary
#
# * SGLD is the Euler–Maruyama discretisation of the Langevin diffusion for
#   $U = n\beta L_n + \frac\gamma2\lVert w-w^*\rVert^2$: $w \leftarrow w - \frac\varepsilon2\nabla U + \sqrt\varepsilon\,\xi$.
# * Its stationary law is not $e^{-U}$: for a Gaussian target the variance is exactly
#   $1/(a(1-\varepsilon a/4))$. The estimator's bias is an average of these inflations over the directions,
#   weighted by their curvature; the stiffest direction sets the stability limit $\varepsilon a < 4$.
# * Minibatches add a variance $\propto \varepsilon^2 (n\beta)^2/b$ per step, which matters at large $n\beta$.
# * MALA's accept/reject step makes the chain exact; its acceptance probability diagnoses SGLD's step size.
# * Check a run: burn-in, acceptance, $\hat R$, ESS. Then, in lesson 5, estimate the LLC.

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l4_sgld/l4_sgld.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l4_sgld.ipynb` in this folder works too).
