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
# * compute *exactly* the bias a finite step size introduces, for a Gaussian target;
# * see what minibatches add, and how the Metropolis–Hastings correction (MALA) measures and removes
#   the bias;
# * read the diagnostics that tell a trustworthy run from a broken one.
#
# Each exercise is a function you write in the cell marked `# YOUR CODE HERE`; the cell after it checks
# it. Several exercises are random: their checks are **statistical tests**, built so that a correct
# function fails with probability below $10^{-6}$ (the check says why a wrong one fails).

# %% [setup]
import math

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from slt_lessons import diagnostics, mala, posterior, sgld, targets
from slt_lessons.checks import check
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
# With the noise switched off, a step is a gradient-descent step of size $\varepsilon/2$ on $U$:

# %%
w = torch.tensor([1.0, -2.0], dtype=dtype, device=device)
grad = 2 * w  # gradient of L(w) = |w|^2
no_noise = sgld_step(w, grad, torch.zeros_like(w), eps=0.1, nbeta=3.0, gamma=0.5, noise=torch.zeros_like(w))
print("SGLD step without noise:", no_noise.tolist())
print("gradient descent, eta = eps/2:", (w - 0.05 * (3.0 * grad + 0.5 * w)).tolist())

# %% [markdown]
# ## 2. A chain, checked against the exact posterior
#
# A chain repeats the step, drawing fresh noise each time. **Exercise 2.** Run `n_steps` steps from `w0`
# and return the states *after* each step, stacked: shape `(n_steps, *w0.shape)`. `grad_fn(w)` returns
# $\nabla L(w)$ (for a batch of chains, row by row). Draw the noise of each step with
# `torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)` — all randomness from the
# given generator, so a run is reproducible. Call the library's step, `sgld.sgld_step` (exercise 1),
# so that this exercise is judged on its own.
#
# *How this is checked.* The check runs your chains on a quadratic loss, where one step is the linear
# recursion $w_t = \rho\, w_{t-1} + c + \sqrt\varepsilon\,\xi_t$. From your trajectory it recovers the
# residuals $(w_t - \rho\,w_{t-1} - c)/\sqrt\varepsilon$, which for a correct chain are *exactly* your noise
# draws: independent $N(0,1)$. It tests their mean ($N(0,1)$), their sum of squares ($\chi^2$), their
# independence over steps and between chains, and the exact Gaussian law of the last state, each at level
# $5\cdot10^{-9}$. So a correct chain fails with probability $< 10^{-7}$, while a wrong one (noise scale,
# factor ½, sign of $\gamma$, $n\beta$ applied twice, noise reused) fails by many orders of magnitude.

# %% [exercise] sgld.sgld_chain points=3

# %% [markdown]
# Now a singular target. Take $L(w) = w^4$ in one dimension — the simplest singular loss (its Hessian
# vanishes at the minimum; learning coefficient $\lambda = 1/4$, lesson 3) — with $n\beta = 100$ and a weak
# localization $\gamma = 1$. Its posterior is far from Gaussian, and the grid of lesson 1 gives it exactly.
# We run many short chains in parallel (one row each) from $w^* = 0$, drop the first steps as
# **burn-in**, and pool the rest.

# %%
nbeta, gamma = 100.0, 1.0
w_star = torch.zeros(1, dtype=dtype, device=device)
grid = torch.linspace(-1.2, 1.2, 2401, dtype=dtype, device=device)
log_w = posterior.grid_log_weights(grid)
exact = posterior.normalize_log_density(-(nbeta * grid**4 + gamma / 2 * grid**2), log_w)
exact_m2 = posterior.posterior_mean(exact, grid**2, log_w).item()

n_chains, n_steps, burn_in = (200, 600, 200) if FAST else (1000, 4000, 500)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for eps in [5e-4, 1e-2]:
    traj = sgld_chain(lambda w: 4 * w**3, torch.zeros(n_chains, 1, dtype=dtype, device=device), w_star,
                      eps, nbeta, gamma, n_steps, generator(0, device))
    samples = traj[burn_in:, :, 0].cpu()  # (steps, chains)
    m2 = samples.pow(2).mean(0)  # one estimate per chain: the chains are independent
    axes[0].hist(samples.flatten(), bins=120, range=(-1.2, 1.2), density=True, histtype="step", lw=1.5,
                 label=f"SGLD, eps = {eps}")
    print(f"eps = {eps:6g}: E[w^2] SGLD = {m2.mean():.5f} ± {m2.std() / math.sqrt(n_chains):.5f} (SE)"
          f"   exact (grid) = {exact_m2:.5f}")
axes[0].plot(grid.cpu(), exact.exp().cpu(), "k--", lw=1, label="exact (grid)")
axes[0].set_xlabel("w"); axes[0].set_title(r"$p(w) \propto e^{-100 w^4 - w^2/2}$"); axes[0].legend(fontsize=8)
axes[1].plot(traj[:, :5, 0].cpu(), lw=0.6)
axes[1].axvspan(0, burn_in, color="0.9"); axes[1].set_xlabel("step")
axes[1].set_title(f"5 chains, eps = {eps} (burn-in shaded)")
plt.tight_layout(); plt.show()

# %% [markdown]
# The small step matches the grid within its standard error. The larger one is measurably too wide: the
# discretised chain does not have $p$ as its stationary law. (Larger still, and the chain blows up: the
# curvature of $100w^4$ grows like $1200w^2$, and a step is stable only while $\varepsilon \times$ curvature $< 4$.)
# How wrong, exactly? For a Gaussian target we can compute it.
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
# and it diverges for $\varepsilon a \ge 4$. The rule of thumb $\varepsilon\,(\kappa_{\max} + \gamma) \lesssim 0.1$ keeps
# the bias under 2.5 %.
#
# **Exercise 3.** Return $v_\infty$ for `kappa`, `gamma`, `eps` (numbers or broadcastable tensors).

# %% [exercise] sgld.stationary_variance points=1

# %% [markdown]
# Measured against computed: many chains, each run well past its relaxation time $1/(\varepsilon a)$ steps,
# for a range of step sizes.

# %%
kappa, gamma = 10.0, 1.0
a = kappa + gamma
eps_grid = torch.tensor([0.005, 0.02, 0.05, 0.1, 0.2, 0.3], dtype=dtype)
C = 500 if FAST else 4000
measured = []
for eps in tqdm(eps_grid.tolist(), desc="step sizes"):
    T = int(8 / (eps * a)) + 20
    traj = sgld_chain(lambda w: kappa * w, torch.zeros(C, 1, dtype=dtype, device=device),
                      torch.zeros(1, dtype=dtype, device=device), eps, 1.0, gamma, T, generator(1, device))
    measured.append(traj[-1].var().item())
fine = torch.linspace(0.001, 0.33, 200, dtype=dtype)
plt.plot(fine * a, stationary_variance(kappa, gamma, fine) * a, label=r"exact: $1/(1-\varepsilon a/4)$")
plt.plot(eps_grid * a, torch.tensor(measured) * a, "o", label=f"SGLD, {C} chains")
plt.axhline(1.0, color="k", ls=":", label=r"target (continuous time)")
plt.xlabel(r"$\varepsilon a$"); plt.ylabel(r"variance $\times\, a$"); plt.legend(); plt.title("SGLD step-size bias"); plt.show()

# %% [markdown]
# This bias feeds straight into lesson 5. The LLC estimator averages $n\beta\,(L(w) - L(w^*))$ over the
# chain. For this quadratic that is $\tfrac{\kappa}{2}v_\infty = \tfrac12 \cdot \frac{\kappa}{\kappa + \gamma}\cdot
# \frac{1}{1 - \varepsilon(\kappa+\gamma)/4}$ instead of the true $\lambda = \tfrac12$: the localization biases
# it down, the step size up — both exactly computable here, which is how lesson 5 calibrates.
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

# %%
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
        w = sgld_step(w, w - xb, torch.zeros(1, dtype=dtype, device=device), eps, nbeta, gamma, noise)
        if t >= T // 3:
            keep.append(w)
    extra = 0.0 if b is None else (eps * nbeta / 2) ** 2 * s2 / b
    print(f"batch {'full' if b is None else b:>4}: variance {torch.cat(keep).var().item():.3e}   "
          f"exact {(eps + extra) / (1 - rho**2):.3e}")

# %% [markdown]
# (No localization here: $\gamma = 0$.) With batches of 10 the variance is a third too large, with
# batches of 1 more than four times. The lesson: at the temperatures of LLC estimation, minibatch noise is a real bias unless $\varepsilon$
# is small; it shrinks in proportion to $\varepsilon\, (n\beta)^2 s^2/b$.
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
# **Exercise 4.** Return $\log\alpha$ for a batch of proposals: `w`, `w_new` and the gradients of $\log p$ at
# both have shape `(..., d)`; `logp`, `logp_new` have shape `(...)`; the squared norms in $\log q$ sum over
# the last dimension. ($\log q(b\mid a) = -\lVert b - a - \frac\varepsilon2\nabla\log p(a)\rVert^2/(2\varepsilon)$ + a
# constant that cancels.)

# %% [exercise] sgld.mala_log_accept_ratio points=2

# %% [markdown]
# MALA on the Gaussian target of section 3, at step sizes where SGLD is badly biased:

# %%
kappa, gamma = 10.0, 1.0
a = kappa + gamma
C, T = (500, 300) if FAST else (2000, 800)
g = generator(4, device)
print("eps*a   SGLD variance*a   MALA variance*a   acceptance")
for eps in [0.05, 0.2, 0.33]:
    w = torch.zeros(C, 1, dtype=dtype, device=device)
    logp = lambda w: -(a / 2) * (w**2).sum(-1)  # noqa: E731
    grad_logp = lambda w: -a * w  # noqa: E731
    accepted = 0.0
    for t in range(T):
        w_new = sgld_step(w, kappa * w, torch.zeros(1, dtype=dtype, device=device), eps, 1.0, gamma,
                          torch.randn(w.shape, generator=g, dtype=dtype, device=device))
        log_alpha = mala_log_accept_ratio(w, w_new, logp(w), logp(w_new), grad_logp(w), grad_logp(w_new), eps)
        accept = torch.rand(C, generator=g, dtype=dtype, device=device).log() < log_alpha
        w = torch.where(accept[:, None], w_new, w)
        accepted += accept.double().mean().item() / T
    print(f"{eps * a:5.2f}   {stationary_variance(kappa, gamma, eps) * a:15.3f}   {w.var().item() * a:15.3f}   {accepted:10.3f}")

# %% [markdown]
# The corrected chain has variance $1/a$ (up to Monte Carlo error, ~$\sqrt{2/C}$) at every step size. Its price:
# a full-batch $\log p$ per step, and rejections. MALA gives the reference values against which lesson 5
# tests SGLD-based estimates.
#
# ## 6. Reading diagnostics
#
# The acceptance probability is also a **diagnostic** for plain SGLD: if a Langevin proposal from the chain's
# current state would often be rejected, the step size is too large for the local curvature. Furman & Lau
# (2024, arXiv:2402.03698) calibrate SGLD for LLC estimation this way, their good runs sitting near 0.9.
#
# **Exercise 5.** For a `target` (a `slt_lessons.targets.Target`: `target.loss_and_grad(W)` returns the
# per-chain losses `(C,)` and gradients `(C, d)`), chains at `W` `(C, d)`, and given noise, make the full-batch
# SGLD proposal from each chain and return its MALA acceptance probability, shape `(C,)`. Use the library's
# `mala.log_density(target, W, nbeta, gamma)` (it returns $\log p$, $\nabla \log p$ and the loss, localized at
# `target.w_star`), `sgld.sgld_step` and `mala.mala_log_accept_ratio`, or your own. A NaN probability (an
# overflowing proposal) counts as 0.

# %% [exercise] sgld.langevin_acceptance points=2

# %% [markdown]
# A two-dimensional singular loss, $L(w) = w_1^2 w_2^2$ (the cross of lesson 1), localized at $w^* = (0.5, 0)$.
# Chains start away from $w^*$ to show a burn-in. For several step sizes we record the acceptance diagnostic
# along the way, and for the last one the two standard convergence diagnostics (lesson 5 asks you to write
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


C, T, burn_in = (8, 400, 100) if FAST else (8, 4000, 500)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for eps in [1e-3, 3e-3, 1e-2]:
    W0 = w_star + torch.tensor([0.0, 0.4], dtype=dtype, device=device).expand(C, 2)
    traj = sgld_chain(cross_grad, W0, w_star, eps, nbeta, gamma, T, generator(5, device))
    states = traj[burn_in::max(1, T // 50)].reshape(-1, 2)
    acc = langevin_acceptance(target, states, w_star, nbeta, gamma, eps,
                              torch.randn(states.shape, generator=generator(6, device), dtype=dtype, device=device))
    loss_trace = nbeta * cross_loss(traj.reshape(-1, 2)).reshape(T, C).T  # (C, T)
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
# the acceptance of the Langevin proposal should stay high (≳ 0.9), and falls as $\varepsilon$ grows past the
# local curvature; $\hat R$ near 1; an ESS far below the number of draws means strongly correlated
# draws, so the Monte Carlo error is larger than the number of draws suggests (lesson 5 uses the ESS for
# the standard error of the LLC).
#
# ## Summary
#
# * SGLD is the Euler–Maruyama discretisation of the Langevin diffusion for
#   $U = n\beta L_n + \frac\gamma2\lVert w-w^*\rVert^2$: $w \leftarrow w - \frac\varepsilon2\nabla U + \sqrt\varepsilon\,\xi$.
# * Its stationary law is not $e^{-U}$: for a Gaussian target the variance is exactly
#   $1/(a(1-\varepsilon a/4))$. Keep $\varepsilon(\kappa_{\max}+\gamma)$ small.
# * Minibatches add a variance $\propto \varepsilon^2 (n\beta)^2/b$ per step, which matters at large $n\beta$.
# * MALA's accept/reject step makes the chain exact; its acceptance probability diagnoses SGLD's step size.
# * Check a run: burn-in, acceptance, $\hat R$, ESS. Then, in lesson 5, estimate the LLC.
#
# Check your whole notebook: `slt-course check l4_sgld.ipynb`.
