"""The local learning coefficient (LLC) estimator.

Lau, Furman, Wang, Murfet & Wei (2023, arXiv:2308.12108; AISTATS 2025) estimate the LLC at a
local minimum w* as

    λ̂(w*) = nβ (E[L_n(w)] − L_n(w*)),    nβ = n / log n by default (β* = 1/log n, as in WBIC,
                                           Watanabe 2013, JMLR 14),

the expectation over p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²), approximated by SGLD chains
(:mod:`slt_lessons.sgld`). Here n is the size of the dataset, never the minibatch size;
L_n(w*) is computed on the full data; the burn-in steps are left out of the average; the
standard error uses each chain's effective sample size; a chain that diverges is reported and
left out of the mean, never averaged in silently.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch

from slt_lessons import diagnostics, llc, sgld  # exercises call each other through their module
from slt_lessons.targets import Target, module_target, potential_target
from slt_lessons.validation import as_tensor, require_ndim

__all__ = [
    "default_nbeta",
    "llc_from_losses",
    "sgld_llc",
    "choose_eps",
    "run_verdict",
    "pilot_draws",
    "LLCResult",
    "make_target",
    "estimate_llc",
]

# Defaults for problems with n ≈ 10³ and O(1) weights (nβ ≈ 145): γ = 10 keeps chains near w*
# without swamping nβ·K; ε = 3e-4 keeps ε(κ_max + γ) ≲ 0.06 for curvatures κ_max ≲ 200 of nβ·L
# (discretisation bias ≲ 1.5% on a quadratic, see sgld.stationary_variance). Other scales:
# calibrate with slt_lessons.calibration.sweep_llc.
DEFAULTS = dict(gamma=10.0, eps=3e-4, n_chains=8, n_steps=2000)


def default_nbeta(n):
    """nβ = n / log n: the inverse temperature β* = 1/log n of WBIC, times the dataset size n."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2 (the dataset size), got {n!r}")
    return n / math.log(n)


def llc_from_losses(losses, init_loss, nbeta, burn_in):
    """Per-chain estimates nβ·(mean of losses[:, burn_in:] − init_loss), shape (C,), for losses (C, T)."""
    losses = require_ndim("losses", as_tensor("losses", losses), 2)
    if not 0 <= burn_in < losses.shape[1]:
        raise ValueError(f"burn_in must be in [0, {losses.shape[1]}), got {burn_in!r}")
    return nbeta * (losses[:, burn_in:].mean(1) - init_loss)


def sgld_llc(loss_fn, w_star, n, gamma, eps, n_chains, n_steps, burn_in, generator, step=sgld.sgld_step):
    """The LLC estimator end to end: returns ``(estimate, se, per_chain)``.

    ``loss_fn(W)`` maps chains ``W`` of shape ``(C, d)`` to their mean losses ``(C,)``, row by row;
    ``w_star`` is the point ``(d,)``; ``n`` the dataset size. In this order:

    1. nβ = ``llc.default_nbeta(n)``; all ``n_chains`` chains start at w*: ``W`` = w* repeated, ``(C, d)``.
    2. For t = 0, …, T−1: the losses ``loss_fn(W)`` and their gradient with respect to ``W`` (one
       backward pass of their sum serves all chains); record the losses as column t; draw
       ``noise = torch.randn(W.shape, generator=generator, dtype=W.dtype, device=W.device)``; then
       ``W = step(W, grad, w_star, eps, nbeta, gamma, noise)`` (lesson 4's SGLD step).
    3. ``per_chain = llc.llc_from_losses(losses, L(w*), nbeta, burn_in)``, L(w*) = ``loss_fn(w_star[None])[0]``.
    4. The estimate is the mean of ``per_chain``; with y_c = nβ(losses[c, burn_in:] − L(w*)), its
       standard error is √(Σ_c var(y_c)/ESS(y_c)) / C (``var`` unbiased, ESS by
       ``diagnostics.effective_sample_size``): the chains are independent, and the mean of
       chain c has variance ≈ var(y_c)/ESS(y_c).

    ``estimate`` and ``se`` are 0-d tensors, ``per_chain`` has shape ``(C,)``. Lau et al. (2023,
    arXiv:2308.12108), Algorithm 1, with the SE of Geyer (1992). :func:`estimate_llc` does the same
    with its own noise order, minibatches, divergence checks and diagnostics.
    """
    nbeta = llc.default_nbeta(n)
    W = w_star.expand(n_chains, -1).clone()
    losses = []
    for _ in range(n_steps):
        with torch.enable_grad():
            W_ = W.detach().requires_grad_(True)
            loss = loss_fn(W_)
            (grad,) = torch.autograd.grad(loss.sum(), W_)
        losses.append(loss.detach())
        noise = torch.randn(W.shape, generator=generator, dtype=W.dtype, device=W.device)
        W = step(W, grad, w_star, eps, nbeta, gamma, noise)
    losses = torch.stack(losses, 1)
    with torch.no_grad():
        init_loss = loss_fn(w_star[None]).squeeze()
    per_chain = llc.llc_from_losses(losses, init_loss, nbeta, burn_in)
    y = nbeta * losses[:, burn_in:]  # y_c up to the shift nβ·L(w*), which var and ESS ignore
    ess = torch.stack([diagnostics.effective_sample_size(yc) for yc in y])
    se = torch.sqrt((y.var(1) / ess).sum()) / n_chains
    return per_chain.mean(), se, per_chain


def choose_eps(loss_fn, w_star, nbeta, gamma, draws):
    """A step size ε for SGLD on exp(−nβ L(w) − (γ/2)‖w − w*‖²), to estimate the LLC of ``loss_fn`` at ``w_star``.

    ``loss_fn`` maps chains ``(C, d)`` to their losses ``(C,)``; ``nbeta`` and ``gamma`` are fixed;
    ``draws`` ``(K, d)`` are the final states of a pilot run, points where the chains go. Choose ε
    so that the step-size bias of the estimate stays small (a few percent) and the MALA acceptance
    of the SGLD proposals is at least 0.9, and no smaller than that needs: the chains must still
    mix in a fixed budget of steps. The criterion is the lesson's (section 6), from lesson 4's bias
    on a quadratic (:func:`slt_lessons.sgld.stationary_variance`); Furman & Lau (2024,
    arXiv:2402.03698) calibrate ε for LLC estimation. Returns a Python float.
    """
    # ε(κ_max + γ) = 0.1, κ_max the largest eigenvalue of nβ∇²L over w* and the draws: on a quadratic
    # with curvatures κ_i each variance is inflated by 1/(1 − ε(κ_i + γ)/4), so the bias stays ≤ 2.6%,
    # while the slowest direction relaxes within 1/(ε(κ_min + γ)) steps. At a singular w* the Hessian
    # is degenerate and the curvature grows away from w* (nβ·12cw² for L = cw⁴): measure it at the draws.
    points = torch.cat([w_star[None], draws])
    hess = torch.stack([torch.autograd.functional.hessian(lambda w: loss_fn(w[None]).squeeze(), p) for p in points])
    kappa_max = nbeta * float(torch.linalg.eigvalsh(hess).max())
    return 0.1 / (kappa_max + gamma)


def run_verdict(rhat, ess, acceptance, estimate, se, estimate_half, se_half):
    """Whether to trust an LLC estimate, from the diagnostics of its run.

    The run at step ε has split R̂ ``rhat`` over its chains, effective sample sizes ``ess`` (one
    per chain, shape ``(C,)``) and a mean MALA acceptance ``acceptance`` of its SGLD proposals; it
    gave ``estimate`` ± ``se``; the same run at ε/2 gave ``estimate_half`` ± ``se_half``. Returns
    one of ``"not mixed"``, ``"too few draws"``, ``"step too large"``, ``"step bias"``, ``"trust"``:
    the first of the lesson's four rules that fails, in the lesson's order, or ``"trust"``.

    Sources of the rules: split R̂ and its threshold, Gelman et al., *Bayesian Data Analysis*, 3rd
    ed. (2013), Section 11.4; effective draws per chain, Vehtari, Gelman, Simpson, Carpenter &
    Bürkner (2021, *Bayesian Analysis* 16(2):667–718); the MALA acceptance of SGLD proposals,
    Furman & Lau (2024, arXiv:2402.03698); halving the step, lesson 4's bias 1/(1 − ε(κ + γ)/4).
    """
    # Each rule passes at equality: R̂ ≤ 1.1; mean ESS per chain ≥ 100 (Vehtari et al.: the total
    # at least 100 times the number of chains); acceptance ≥ 0.9; |λ̂(ε) − λ̂(ε/2)| ≤ 3·√(SE² + SE_{ε/2}²).
    if rhat > 1.1:
        return "not mixed"
    if float(ess.mean()) < 100:
        return "too few draws"
    if acceptance < 0.9:
        return "step too large"
    if abs(estimate - estimate_half) > 3 * math.hypot(se, se_half):
        return "step bias"
    return "trust"


def pilot_draws(loss_fn, w_star, nbeta, gamma, eps, n_chains=100, n_steps=1000, seed=0):
    """The final states ``(n_chains, d)`` of short SGLD chains from w* (:func:`sgld.sample_sgld`):
    points where the chains of an LLC estimate go, for :func:`choose_eps`. Take ``eps`` small."""
    target = potential_target(loss_fn, w_star)
    run = sgld.sample_sgld(target, nbeta=nbeta, gamma=gamma, eps=eps, n_steps=n_steps, n_chains=n_chains, seed=seed)
    return run.final


@dataclass
class LLCResult:
    """What :func:`estimate_llc` found.

    ``llc`` and ``se``: the mean over the chains that did not diverge, and its standard error
    √(Σ_c var_c/ESS_c)/C from each chain's trace variance and effective sample size.
    ``per_chain``, ``ess``: per chain. ``diverged``: a boolean mask; ``divergence``: why.
    ``losses``: the full (C, T) loss traces, burn-in included (it is excluded from the estimate).
    """

    llc: float
    se: float
    per_chain: torch.Tensor
    ess: torch.Tensor
    rhat: float
    diverged: torch.Tensor
    divergence: list[str]
    losses: torch.Tensor
    init_loss: float
    nbeta: float
    burn_in: int
    settings: dict = field(default_factory=dict)
    acceptance: torch.Tensor | None = None
    theory: float | None = None

    @property
    def traces(self) -> torch.Tensor:
        """nβ (L(w_t) − L_n(w*)), shape (C, T): what each chain's estimate averages after burn-in."""
        return self.nbeta * (self.losses - self.init_loss)

    def __str__(self) -> str:
        C = len(self.per_chain)
        lines = [f"LLC estimate {self.llc:.4g} ± {self.se:.2g} (SE) from {C - int(self.diverged.sum())} of {C} chains"]
        lines.append(f"  nβ = {self.nbeta:.5g}, burn-in {self.burn_in} steps excluded, split R̂ = {self.rhat:.3f}")
        if self.acceptance is not None and self.acceptance.numel():
            lines.append(f"  MALA acceptance of SGLD proposals: {float(self.acceptance.mean()):.3f}")
        if self.theory is not None:
            lines.append(f"  theory: {self.theory:.4g}")
        lines.extend(f"  DIVERGED: {msg}" for msg in self.divergence)
        return "\n".join(lines)

    def plot(self, ax=None):
        """Traces nβ(L − L(w*)) per chain, their mean, the burn-in, the estimate and the theory line."""
        from matplotlib.figure import Figure

        fig = ax.figure if ax is not None else Figure(figsize=(7, 4))
        ax = ax if ax is not None else fig.add_subplot()
        y = self.traces.detach().cpu()
        good = ~self.diverged.cpu()
        t = torch.arange(y.shape[1])
        for c in range(y.shape[0]):
            ax.plot(t, y[c], lw=0.5, alpha=0.35, color="C0" if good[c] else "C3")
        if good.any():
            ax.plot(t, y[good].mean(0), lw=1.5, color="C0", label="mean over chains")
        ax.axvspan(0, self.burn_in, color="0.85", label="burn-in (excluded)")
        ax.axhline(self.llc, color="k", ls="--", label=f"estimate {self.llc:.3g} ± {self.se:.2g}")
        if self.theory is not None:
            ax.axhline(self.theory, color="C2", ls=":", lw=2, label=f"theory {self.theory:.3g}")
        ax.set_xlabel("SGLD step")
        ax.set_ylabel(r"$n\beta\,(L(w_t) - L_n(w^*))$")
        ax.legend(loc="best", fontsize=8)
        return fig


def make_target(model, loss_fn=None, data=None, *, w_star=None, n=None, device=None, dtype=None) -> Target:
    """A :class:`Target` from a model with ``loss_fn`` and ``data = (x, y)``, or from a potential.

    A potential is any callable that is not an ``nn.Module``, mapping ``(C, d)`` to ``(C,)``
    losses; it needs ``w_star``.
    """
    if isinstance(model, torch.nn.Module):
        if loss_fn is None or data is None:
            raise ValueError("a model needs loss_fn and data=(x, y)")
        return module_target(model, loss_fn, data, device=device, dtype=dtype)
    if not callable(model):
        raise ValueError(f"model must be an nn.Module or a potential (a callable), got {type(model).__name__}")
    if w_star is None:
        raise ValueError("w_star is required with a potential: the point where the LLC is estimated")
    w_star = as_tensor("w_star", w_star, dtype=dtype, device=device)
    return potential_target(model, w_star, n=n)


def estimate_llc(
    model,
    loss_fn=None,
    data=None,
    *,
    w_star=None,
    n: int | None = None,
    nbeta: float | None = None,
    gamma: float = DEFAULTS["gamma"],
    eps: float = DEFAULTS["eps"],
    n_chains: int = DEFAULTS["n_chains"],
    n_steps: int = DEFAULTS["n_steps"],
    burn_in: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    acceptance_every: int = 100,
    theory: float | None = None,
    divergence_drop: float | None = None,
    progress: bool = True,
    device=None,
    dtype=None,
) -> LLCResult:
    """Estimate the LLC at w* (the model's parameters, or ``w_star`` for a potential).

    nβ defaults to n/log n with n the dataset size (for a potential, give ``n`` or ``nbeta``).
    Every chain starts at w* and runs ``n_steps`` SGLD steps; the first ``burn_in`` (default
    n_steps // 4) are left out. A chain diverged if its loss or state became NaN/inf, or if nβ(L − L_n(w*)) fell below
    −``divergence_drop`` (default max(10, d/2); at a local minimum it cannot go below 0, and
    noise in w* or the minibatch moves it by less) — judged on the chain's mean when
    minibatching, on every full-batch draw otherwise. Diverged chains are excluded from the
    mean, listed in ``result.divergence``, and a warning is raised.
    """
    target = make_target(model, loss_fn, data, w_star=w_star, n=n, device=device, dtype=dtype)
    if nbeta is None:
        if target.n is None:
            raise ValueError("a potential has no dataset: give n (the dataset size) or nbeta")
        nbeta = default_nbeta(target.n)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 5:
        raise ValueError(f"n_steps must be an int >= 5, got {n_steps!r}")
    burn_in = n_steps // 4 if burn_in is None else burn_in
    if not isinstance(burn_in, int) or not 0 <= burn_in < n_steps - 3:
        raise ValueError(f"burn_in must be an int in [0, n_steps − 4], got {burn_in!r}")
    run = sgld.sample_sgld(
        target, nbeta=nbeta, gamma=gamma, eps=eps, n_steps=n_steps, n_chains=n_chains, seed=seed,
        batch_size=batch_size, acceptance_every=acceptance_every, progress=progress,
    )
    init_loss = float(target.full_loss(target.w_star[None])[0])
    per_chain = llc_from_losses(run.losses, init_loss, nbeta, burn_in)
    y = nbeta * (run.losses[:, burn_in:] - init_loss)
    drop = divergence_drop if divergence_drop is not None else max(10.0, target.d / 2)
    diverged, why = _divergence(y, run, drop, minibatch=batch_size is not None)
    if why:
        warnings.warn("LLC: " + "; ".join(why), RuntimeWarning, stacklevel=2)
    ess = torch.stack([diagnostics.effective_sample_size(yc) if ok else yc.new_tensor(math.nan) for yc, ok in zip(y, ~diverged)])
    good = ~diverged
    k = int(good.sum())
    if k:
        var = y[good].var(1)
        llc_mean = float(per_chain[good].mean())
        se = float(torch.sqrt((var / ess[good]).sum()) / k)
        rhat = float(diagnostics.split_rhat(y[good])) if k > 1 else math.nan
    else:
        llc_mean = se = rhat = math.nan
    settings = dict(gamma=gamma, eps=eps, n_chains=n_chains, n_steps=n_steps, batch_size=batch_size, seed=seed, n=target.n)
    return LLCResult(
        llc=llc_mean, se=se, per_chain=per_chain, ess=ess, rhat=rhat, diverged=diverged, divergence=why,
        losses=run.losses, init_loss=init_loss, nbeta=nbeta, burn_in=burn_in, settings=settings,
        acceptance=run.acceptance if acceptance_every else None, theory=theory,
    )


def _divergence(y, run, drop, minibatch):
    """Mask (C,) of diverged chains and one message per diverged chain."""
    nonfinite = ~torch.isfinite(run.losses).all(1) | ~torch.isfinite(run.final).all(1)
    low = y.mean(1) if minibatch else y.nan_to_num(nan=math.inf).amin(1)
    fell = (low < -drop) & ~nonfinite
    why = [f"chain {run.chains[c]}: loss or parameters became NaN/inf" for c in nonfinite.nonzero().flatten().tolist()]
    why += [
        f"chain {run.chains[c]}: nβ(L − L(w*)) fell to {float(low[c]):.3g} < −{drop:g} (left the basin of w*?)"
        for c in fell.nonzero().flatten().tolist()
    ]
    return nonfinite | fell, why
