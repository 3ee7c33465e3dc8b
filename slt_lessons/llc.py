"""The local learning coefficient (LLC) estimator.

Lau, Furman, Wang, Murfet & Wei (2023, arXiv:2308.12108; AISTATS 2025) estimate the LLC at a
local minimum w* as

    λ̂(w*) = nβ (E[L_n(w)] − L_n(w*)),    nβ = n / log n by default (β* = 1/log n, as in WBIC,
                                           Watanabe 2013, JMLR 14),

the expectation over p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²), approximated by chains of MALA
(:mod:`slt_lessons.mala`, exact), HMC (:mod:`slt_lessons.hmc`, exact, for badly conditioned
posteriors) or SGLD (:mod:`slt_lessons.sgld`, for minibatches, with Leimkuhler–Matthews noise and at a
step chosen for its bias). Here n is the size of the dataset, never the minibatch size; L_n(w*) is
computed on the full data; the burn-in steps are left out of the average; the standard error
uses each chain's effective sample size; a chain that diverges is stopped, reported and left out
of the mean, never averaged in silently; and every estimate carries the flags that argue
against trusting it (:func:`estimate_llc`).
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from dataclasses import MISSING, dataclass, field, fields

import numpy as np
import torch

from slt_lessons import diagnostics, hmc, llc, mala, sgld  # exercises call each other through their module
from slt_lessons.chains import positive_int
from slt_lessons.targets import Target, check_device, potential_target, target_from_model
from slt_lessons.validation import as_tensor, require_ndim

__all__ = [
    "default_nbeta",
    "llc_from_losses",
    "sgld_llc",
    "choose_eps",
    "run_verdict",
    "pilot_draws",
    "default_gamma",
    "LLCResult",
    "make_target",
    "estimate_llc",
]

DEFAULTS = dict(n_chains=8, n_steps=2000, max_steps=32_000)
SAMPLER_NAMES = {"mala": "MALA", "hmc": "HMC", "sgld": "SGLD", "lm": "SGLD (Leimkuhler–Matthews)"}
RESULT_FORMAT = "slt_lessons.LLCResult/1"  # the layout of LLCResult.to_dict()
UNSETTLED = ("drift", "few_draws", "not_mixed")  # the flags a longer run can lift
BIAS_TOL = 0.02  # the step-size bias the default ε allows, relative
GAMMA_SCALE = 0.15  # g in the default γ = g √nβ / s²: 5% bias in a quartic direction (default_gamma)
GAMMA_TOL = 0.10  # γ decides the answer if halving it moves the estimate by more than this (and 3 SE)
TARGET_ACCEPT = 0.65  # MALA's acceptance rate, tuned during the burn-in
HMC_STEPS, HMC_MAX_STEPS = 200, 800  # HMC trajectories: the first run's, and the most a lengthened run makes


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


def default_gamma(nbeta, w_star):
    """The default localization γ = g·√nβ / s², g = 0.15, s² = max(1, mean of w*²).

    γ must be weak enough not to decide the answer and strong enough to keep the chains in the
    basin of w*. In a quadratic direction of curvature h (nβh ≫ γ) it lowers that direction's
    share by the factor nβh/(nβh + γ). At a singular point some directions are higher order:
    along nβ c w⁴ the substitution u = (nβc)^{1/4} w turns the localized target into
    exp(−u⁴ − (g/2)u²) with g = γ/√(nβc), whose E[u⁴] falls below ¼ by 0.33·g (quadrature):
    the bias of γ in a quartic direction depends on γ/√nβ, not γ/nβ. Taking γ = 0.15·√nβ
    (c = 1) bounds it by 5% there and by 0.15/√nβ (≤ 1.3% for nβ ≥ 145) in directions of unit
    curvature, at every nβ. Both statements are for weights on the unit scale. A network whose
    weights are large is a function of w/s (s the RMS of w*), so its quartic coefficients scale
    as s⁻⁴ and γ scales as 1/s²; small weights do not make the basin narrower (near w = 0 the
    loss of a linear or tanh network is a polynomial with O(1) coefficients for standardized
    inputs), hence s ≥ 1. For nβ = 145 (n = 10³) this gives γ ≈ 1.8; the fixed γ = 10 used
    before lowered estimates by 22–30% on deep linear networks (0.33·10/√145 ≈ 27%).
    """
    w_star = as_tensor("w_star", w_star)
    s2 = max(1.0, float((w_star.detach().double() ** 2).mean())) if w_star.numel() else 1.0
    return GAMMA_SCALE * math.sqrt(nbeta) / s2


@dataclass
class LLCResult:
    """What :func:`estimate_llc` found, and whether to trust it.

    ``llc`` and ``se``: the mean over the chains that did not diverge, and its standard error:
    √(Σ_c var_c/ESS_c)/C from each chain's trace variance and effective sample size, or the SD of
    the chains' means over √C if that is larger (short runs of a singular posterior underestimate
    their autocorrelation; the chains' disagreement does not). ``per_chain``, ``ess``: per chain.
    ``diverged``: a boolean mask; ``divergence``: why. ``losses``: the full (C, T) loss traces, burn-in included (excluded from the estimate), NaN
    after a diverged chain stopped. ``sampler``, ``eps``, ``gamma``: what was run (``eps`` the
    median over chains for MALA, which tunes it per chain); ``bias_bound``: the relative
    step-size bias it allows (0 for MALA, which is exact). ``flags``: one message per reason
    not to trust the estimate (empty when none); ``gamma_check``: the run at γ/2, if made.

    :meth:`save` and :meth:`load` (or :meth:`to_dict` and :meth:`from_dict`) keep a result as plain
    data that ``torch.load(..., weights_only=True)`` reads; :meth:`to_csv` exports the traces.
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
    sampler: str = "sgld"
    eps: float = math.nan
    gamma: float = math.nan
    bias_bound: float = math.nan
    flags: dict = field(default_factory=dict)
    gamma_check: dict | None = None

    @property
    def trusted(self) -> bool:
        """True when no flag was raised."""
        return not self.flags

    @property
    def traces(self) -> torch.Tensor:
        """nβ (L(w_t) − L_n(w*)), shape (C, T): what each chain's estimate averages after burn-in."""
        return self.nbeta * (self.losses - self.init_loss)

    # ---- saving and exporting
    def to_dict(self) -> dict:
        """Every field as plain data, which ``torch.load(..., weights_only=True)`` reads back.

        Plain data: tensors (moved to the CPU), str, int, float, bool, None, and lists and dicts
        of those; ``"format"`` names the layout. A value that is none of these is converted where
        a plain form says the same (a tuple or set to a list, a numpy or other number to an int or
        float, a numpy array to a tensor, a ``torch.device``, dtype or path to its string) and is
        otherwise left out, its place and type listed in ``settings["not_saved"]``.
        """
        dropped = []
        out = {f.name: _plain(getattr(self, f.name), f.name, dropped) for f in fields(self)}
        out = {k: v for k, v in out.items() if v is not _DROPPED}
        if dropped:
            out["settings"] = {**out["settings"], "not_saved": out["settings"].get("not_saved", []) + dropped}
        return {"format": RESULT_FORMAT, **out}

    @classmethod
    def from_dict(cls, d: dict) -> LLCResult:
        """The result that :meth:`to_dict` gave ``d``."""
        if not isinstance(d, dict) or d.get("format") != RESULT_FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"d must be a dict from LLCResult.to_dict() (format {RESULT_FORMAT!r}), got {got!r}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [k for k in required if k not in d]
        if missing:
            raise ValueError(f"d lacks the fields {missing} of an LLCResult")
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def save(self, path) -> None:
        """Write :meth:`to_dict` to ``path`` with ``torch.save``; :meth:`load`, or
        ``torch.load(path, weights_only=True)``, reads it."""
        torch.save(self.to_dict(), path)

    @classmethod
    def load(cls, path, map_location=None) -> LLCResult:
        """The result :meth:`save` wrote to ``path`` (read with ``weights_only=True``: no code runs)."""
        return cls.from_dict(torch.load(path, map_location=map_location, weights_only=True))

    def to_csv(self, path) -> None:
        """The traces in long form, one row per chain and step: ``chain, step, loss, trace,
        burn_in, diverged``.

        ``loss`` is L(w_t) (the minibatch loss when minibatching), ``trace`` = nβ(L(w_t) − L_n(w*))
        (:attr:`traces`), ``burn_in`` 1 for the steps left out of the estimate, ``diverged`` 1 for
        every step of a chain that diverged (left out as well; its steps after it stopped are
        ``nan``). The estimate is the mean of ``trace`` over the rows with both 0, chain by chain,
        then over the chains. Loads with ``numpy.genfromtxt(path, delimiter=",", names=True)`` or
        ``pandas.read_csv``.
        """
        C, T = self.losses.shape
        chain, step = np.meshgrid(np.arange(C), np.arange(T), indexing="ij")
        columns = [chain, step, self.losses.detach().cpu().double().numpy(), self.traces.detach().cpu().double().numpy(),
                   step < self.burn_in, np.broadcast_to(self.diverged.cpu().numpy()[:, None], (C, T))]
        table = np.stack([np.asarray(c, dtype=np.float64).reshape(-1) for c in columns], 1)
        np.savetxt(path, table, delimiter=",", fmt=["%d", "%d", "%.17g", "%.17g", "%d", "%d"],
                   header="chain,step,loss,trace,burn_in,diverged", comments="")

    def __str__(self) -> str:
        C = len(self.per_chain)
        lines = [f"LLC estimate {self.llc:.4g} ± {self.se:.2g} (SE) from {C - int(self.diverged.sum())} of {C} chains"]
        lines.append(f"  {SAMPLER_NAMES.get(self.sampler, self.sampler)}, ε = {self.eps:.3g}, step-size bias ≤ {100 * self.bias_bound:.2g}%, "
                     f"γ = {self.gamma:.3g}, nβ = {self.nbeta:.5g}")
        more = " (lengthened: the run had not settled)" if self.settings.get("lengthened") else ""
        grads = self.settings.get("gradients_per_chain")
        what = (f"trajectories ({grads} gradients per chain)" if self.sampler == "hmc" and grads else "steps")
        lines.append(f"  {self.losses.shape[1]} {what}{more}, burn-in {self.burn_in} excluded, split R̂ = {self.rhat:.3f}")
        if self.acceptance is not None and self.acceptance.numel():
            what = {"mala": "MALA acceptance", "hmc": "HMC acceptance"}.get(
                self.sampler, "MALA acceptance of full-batch Langevin proposals at this ε")
            lines.append(f"  {what} (chains that did not diverge): {float(self.acceptance.nanmean()):.3f}")
        if self.gamma_check is not None:
            g = self.gamma_check
            lines.append(f"  at γ/2 = {g['gamma']:.3g}: {g['llc']:.4g} ± {g['se']:.2g}")
        if self.theory is not None:
            lines.append(f"  theory: {float(self.theory):.4g}")  # float: the exact λ may be a Fraction
        lines.extend(f"  DIVERGED: {msg}" for msg in self.divergence)
        lines.extend(f"  NOT TRUSTED ({key}): {msg}" for key, msg in self.flags.items())
        return "\n".join(lines)

    def plot(self, ax=None):
        """Traces nβ(L − L(w*)) per chain (diverged ones in red), their mean, the burn-in, the
        estimate and the theory line. The y-axis spans the chains that did not diverge
        (:func:`_plot_range`), so a chain that blew up to 1e37 or inf does not flatten the others."""
        from matplotlib.figure import Figure

        fig = ax.figure if ax is not None else Figure(figsize=(7, 4))
        ax = ax if ax is not None else fig.add_subplot()
        y = self.traces.detach().cpu().double()
        good = ~self.diverged.cpu()
        t = torch.arange(y.shape[1])
        for c in range(y.shape[0]):
            ax.plot(t, y[c], lw=0.5, alpha=0.35, color="C0" if good[c] else "C3")
        if good.any():
            ax.plot(t, y[good].mean(0), lw=1.5, color="C0", label="mean over chains")
        d = self.settings.get("d")
        span = _plot_range(y, good, 10 * max(d / 2, 10) if isinstance(d, int) else math.inf)
        if span is not None:
            lo, hi = span
            pad = 0.05 * (hi - lo) + 1e-12 * max(1.0, abs(lo), abs(hi))
            ax.set_ylim(lo - pad, hi + pad)
        ax.axvspan(0, self.burn_in, color="0.85", label="burn-in (excluded)")
        if math.isfinite(self.llc):
            ax.axhline(self.llc, color="k", ls="--", label=f"estimate {self.llc:.3g} ± {self.se:.2g}")
        if self.theory is not None:
            ax.axhline(float(self.theory), color="C2", ls=":", lw=2, label=f"theory {float(self.theory):.3g}")
        unit = "trajectory" if self.sampler == "hmc" else "step"
        ax.set_xlabel(f"{SAMPLER_NAMES.get(self.sampler, self.sampler)} {unit}")
        ax.set_ylabel(r"$n\beta\,(L(w_t) - L_n(w^*))$")
        ax.legend(loc="best", fontsize=8)
        return fig


_DROPPED = object()  # what _plain returns for a value it cannot keep


def _plain(value, where, dropped):
    """``value`` as data ``torch.load(weights_only=True)`` reads (see :meth:`LLCResult.to_dict`), or
    ``_DROPPED``, with ``"where: type"`` appended to ``dropped``."""
    if value is None or type(value) in (str, bool, int, float):
        return value
    if isinstance(value, (str, bool, np.bool_)):  # a subclass of str, a numpy bool
        return str(value) if isinstance(value, str) else bool(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()  # a copy: a view would save the whole storage it views
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):  # numpy floats, Fractions (the exact λ of slt_lessons.theory)
        return float(value)
    if isinstance(value, (torch.device, torch.dtype, os.PathLike)):
        return str(value)
    if isinstance(value, dict):
        out = {k if isinstance(k, (str, int)) else str(k): _plain(v, f"{where}[{k!r}]", dropped) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _DROPPED}
    if isinstance(value, (list, tuple, set, frozenset)):
        out = [_plain(v, f"{where}[{i}]", dropped) for i, v in enumerate(value)]
        return [v for v in out if v is not _DROPPED]
    dropped.append(f"{where}: {type(value).__name__}")
    return _DROPPED


def _plot_range(y, good, ceiling=math.inf):
    """(lo, hi) of the traces ``y`` (C, T) that should set the y-axis, or None if no value is finite.

    The finite values of the chains that did not diverge (``good``). If every chain diverged,
    each chain's values before it blew up: before its first value that is not finite or above
    ``ceiling`` (the estimator's divergence threshold, when the result knows d), or else before
    its last finite value (where the estimator stopped it: NaN follows); then less the outliers
    beyond the quartiles ± 3 interquartile ranges.
    """
    if good.any():
        v = y[good]
        v = v[torch.isfinite(v)]
    else:
        v = torch.cat([_before_blow_up(row, ceiling) for row in y])
        if v.numel() >= 4:
            q1, q3 = torch.quantile(v, torch.tensor([0.25, 0.75], dtype=v.dtype))
            v = v[(v >= q1 - 3 * (q3 - q1)) & (v <= q3 + 3 * (q3 - q1))]
    return (float(v.min()), float(v.max())) if v.numel() else None


def _before_blow_up(row, ceiling):
    """A diverged chain's trace up to its blow-up (see :func:`_plot_range`)."""
    bad = (~torch.isfinite(row) | (row > ceiling)).nonzero()
    head = row[: int(bad[0])] if len(bad) else row
    return head if math.isfinite(ceiling) else head[:-1]


def make_target(model, loss_fn=None, data=None, *, evaluate=None, params=None, w_star=None, n=None, device=None,
                dtype=None) -> Target:
    """A :class:`Target` from a model and its data, or from a potential.

    A model (an ``nn.Module``) comes with ``loss_fn`` and data (x, y), or with ``evaluate(model,
    batch) -> mean loss`` and data of any structure; data may be tensors, numpy arrays or a
    DataLoader; ``params`` chooses the parameters sampled. It is checked before anything is
    sampled: :func:`slt_lessons.targets.target_from_model`. A potential is any callable that is not
    an ``nn.Module``, mapping ``(C, d)`` to ``(C,)`` losses; it needs ``w_star``.
    """
    device = check_device(device)
    if isinstance(model, torch.nn.Module):
        return target_from_model(model, loss_fn, data, evaluate=evaluate, params=params, device=device, dtype=dtype)
    if not callable(model):
        raise ValueError(f"model must be an nn.Module or a potential (a callable), got {type(model).__name__}")
    if evaluate is not None or params is not None:
        raise ValueError("evaluate and params apply to a model (an nn.Module), not to a potential")
    if w_star is None:
        raise ValueError("w_star is required with a potential: the point where the LLC is estimated")
    w_star = as_tensor("w_star", w_star, dtype=dtype, device=device)
    return potential_target(model, w_star, n=n)


def estimate_llc(
    model,
    loss_fn=None,
    data=None,
    *,
    evaluate=None,
    params=None,
    w_star=None,
    n: int | None = None,
    nbeta: float | None = None,
    gamma: float | None = None,
    eps: float | None = None,
    sampler: str = "auto",
    n_chains: int = DEFAULTS["n_chains"],
    n_steps: int | None = None,
    max_steps: int = DEFAULTS["max_steps"],
    burn_in: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    check_gamma: bool | None = None,
    acceptance_every: int = 100,
    theory: float | None = None,
    divergence_drop: float | None = None,
    progress: bool = True,
    device=None,
    dtype=None,
) -> LLCResult:
    """Estimate the LLC at w* (the model's parameters, or ``w_star`` for a potential), and say whether to trust it.

    **Data and models.** ``data`` is held in memory, as tensors: (x, y) tensors; numpy arrays
    (floating ones converted to the model's dtype, integer ones kept integer); or a
    ``DataLoader`` or any iterable of batches, iterated once and each field concatenated, with n
    = ``len(loader.dataset)`` (the rows must match: no ``drop_last``) or the rows collected. An
    ``n`` given with data sets only nβ = n/log n; the loss stays the mean over the rows of
    ``data``. ``loss_fn(model(x), y)`` must be a per-sample mean (a vector or a sum is rejected). A
    model whose forward takes dicts or several tensors takes ``evaluate(model, batch) -> mean
    loss`` instead of ``loss_fn``: ``batch`` has the structure of one batch of the data (a tuple,
    list, dict or tensor) with a minibatch's rows, and ``model`` has one chain's parameters
    (``functional_call`` under ``vmap``: torch operations only). ``params`` restricts the LLC to
    some parameters, the rest held at their values: a name prefix (``"0."``, ``"encoder."``), a
    list of names, or a function name -> bool (default: those with ``requires_grad``);
    ``settings["params"]`` records the names sampled (:func:`slt_lessons.targets.sampled_names`).
    Before sampling, a ValueError names the argument at fault for: NaN in the weights or the data;
    dropout or batch norm in training mode (call ``model.eval()``); an integer parameter not left
    out by ``params``; integer inputs to a float layer (convert x with ``x.float()``; integers
    into ``nn.Embedding`` are fine); ``device="cuda"`` without CUDA; and non-numbers for ``nbeta``,
    ``gamma``, ``eps`` or ``n``.

    **Temperature and localization.** nβ defaults to n/log n with n the size of the full dataset,
    also when minibatching (for a potential, give ``n`` or ``nbeta``); γ defaults to
    :func:`default_gamma` (γ = 0.15·√nβ/s², s the RMS of w*, at least 1), whose docstring
    derives it. devinterp (2.0.1) defaults instead to nβ = B/log B with B the DataLoader's batch
    size (times its gradient-accumulation steps: ``devinterp.utils.default_nbeta(loader)``), so
    its estimate changes with the batch size; ours, as in Lau et al. (2023), does not. Since
    λ̂ = nβ(E[L] − L(w*)) is taken at the nβ that is sampled, the two agree only at the same nβ:
    to reproduce a devinterp run here pass ``nbeta=B / math.log(B)``; to get ours in devinterp
    pass ``nbeta=n / math.log(n)`` (its ``lr`` and ``localization`` are our ε and γ).

    **Device.** The chains run where w* is: on the device of the model's parameters (the data is
    moved there), or of ``w_star`` for a potential, unless ``device`` says otherwise.
    ``SLT_DEVICE`` does not move them: it only chooses where the library creates tensors of its
    own (:func:`slt_lessons.device.get_device`: the lessons' data and potentials), so a model on
    the CPU is sampled on the CPU even with ``SLT_DEVICE=cuda``; pass ``device="cuda"`` or move
    the model first.

    **Sampler and step.** With ``sampler="auto"`` and no ``eps``, a full-batch estimate uses
    MALA (:func:`slt_lessons.mala.sample_mala`): it tunes its step during the burn-in to an
    acceptance of 0.65 and then samples the localized posterior exactly, so it has no step-size
    bias (``bias_bound = 0``). Where MALA would need more than a quarter of ``max_steps`` to relax
    the flattest directions (κ·d^(1/3) steps, κ = (nβ·h_max + γ)/γ the condition number at w*: see
    ``_mala_relaxation``), and ``n_steps`` is left to the library, it uses HMC instead
    (:func:`slt_lessons.hmc.sample_hmc`, also exact): trajectories of a quarter period of the
    flattest direction, (π/2)/√γ, cross them at a cost of ≈ √κ gradients instead of MALA's ≈ κ.
    For HMC a step is a trajectory: the run starts at 200 of them and is lengthened up to 800,
    and ``settings["gradients_per_chain"]`` gives the cost. ``sampler="hmc"`` asks for it.

    With ``batch_size`` (and no ``eps``) it uses SGLD with Leimkuhler–Matthews noise
    (``sampler="lm"``: :func:`slt_lessons.sgld.sample_sgld` with ``scheme="lm"``): each step adds
    the mean of its own Gaussian noise and the next step's. On the local quadratic model that
    scheme samples exactly at any stable step, where plain SGLD (Euler) is inflated by lesson 4's
    1/(1 − εa/4); what is left of its first-order bias is the minibatch gradient's noise. Its step
    is the one whose bias on that model is 2%: ε·T/(8λ̂)/(1 − ε·a_max/4) = 0.02 with
    T = nβ² tr Cov(∇L_B), and ε·a_max ≤ 2 (half the stability limit, where its own O(ε²) bias,
    Leimkuhler, Matthews & Stoltz 2016, is not bounded by the quadratic model). A larger step
    than Euler's ε·a_max ≤ 1/2 relaxes the flattest directions four times sooner: on the
    research regression MLP (tests/test_llc_research.py, batch 256) Euler still drifted at
    32,000 steps, 46.2 ± 0.7 against 49.1 ± 0.8 for a run at ε/2 with 4× the steps, and
    Leimkuhler–Matthews settled with no flag at 50.1 ± 0.4, against 50.3 ± 0.4 at ε/2 with 4×
    the steps and 49.2–49.8 ± 0.3 on the full batch (HMC). ``sampler="sgld"`` is plain SGLD (lesson 4),
    at the step whose first-order bias is 2%: ε = 8·0.02·λ̂₀/T with T = tr nβ∇²L_n +
    nβ² tr Cov(∇L_B), and ε·a_max ≤ 1/2. For both, the traces are averaged over w* and where
    short MALA pilot chains go (Hutchinson's estimator), λ̂₀ is the pilot's estimate and a_max =
    nβ·(largest Hessian eigenvalue) + γ (``_Run._bias_terms`` derives the terms); the same bias,
    ε·T/(8λ̂)/(1 − ε·a_max/4), is recomputed at the chains' final states and reported as
    ``bias_bound``. An explicit ``eps`` is always used as given (with plain SGLD unless
    ``sampler`` says otherwise), and its bound is reported the same way.
    A smaller ε mixes more slowly. An ``n_steps`` you give is honoured: a run too short to settle
    at its ε is flagged (``drift``, ``few_draws``, ``not_mixed``) and never lengthened. Left to the
    library, ``n_steps`` starts at 2000 and the same chains run on, doubling the run, while one
    of those flags stands, up to ``max_steps`` (32,000); the burn-in stays a quarter of the run
    (unless given), ``settings["n_steps"]`` and ``settings["lengthened"]`` report what was done,
    and a run still unsettled at ``max_steps`` keeps its flags.

    **Minibatches.** Each chain draws its own minibatch of ``batch_size`` rows per step; the
    minibatch gradient's variance enters the step's bias as nβ²·tr Cov(∇L_B) (beside the Hessian
    trace, for plain SGLD), so the default ε shrinks as nβ²/B grows. Measured on linear
    regression (n = 2000, d = 10, batch 100, 32 chains × 16,000 steps against 32 full-batch MALA
    chains): the default minibatch estimate is +1.8% ± 1.0% above the full-batch one, within its
    reported bound of 1.9% (plain SGLD: +1.7% ± 1.1%, bound 2.0%); tests/test_llc_accuracy.py
    checks the same comparison with 8 chains.

    **Biases, by direction.** γ lowers the estimate (it confines the directions the loss barely
    curves); ε raises it for SGLD (the stationary law of a discretised Langevin step is wider
    than the target: lesson 4's 1/(1 − εa/4)); a run too short to explore flat directions lowers
    it; and at finite nβ an estimate of λ with multiplicity m sits near λ − (m − 1)/log nβ
    (:mod:`slt_lessons.theory`), below λ, whatever the sampler.

    **Trust flags**, in ``result.flags``; any flag raises one ``RuntimeWarning``:

    - ``diverged``: a chain's loss or state became NaN/inf, or nβ(L − L_n(w*)) exceeded
      10·max(d/2, 10) (plus ten minibatch-noise SDs when minibatching): the chain stops there
      and is left out of the mean.
    - ``implausible``: the estimate exceeds d/2 by more than 3 SE plus the bias bound: no local
      minimum has an LLC above d/2.
    - ``drift``: the mean over chains of the last third of the kept draws differs from the first
      third by more than 3 SE and 2% (the SE from each chain's detrended ESS): the traces are
      still rising or falling, which R̂ does not see when all chains drift together.
    - ``gamma``: the run at γ/2 moved the estimate by more than 3 combined SE and 10%: γ decides
      the answer. Made by default where cheap (a potential, or full batch with n·d ≤ 10⁷; half
      the chains, same steps), or with ``check_gamma=True``.
    - ``not_minimum``: nβ(L − L_n(w*)) fell below −``divergence_drop`` (default max(10, d/2);
      judged on each chain's mean when minibatching, on every draw otherwise): sampling found
      losses far below L_n(w*), so w* is not a local minimum; or the estimate is negative by more
      than 3 SE (at a local minimum L ≥ L_n(w*) wherever the localized chains go, so only noise
      can make it negative). The (negative) estimate is still reported, as at a checkpoint early
      in training.
    - ``step``: an SGLD step whose bias at the chains' final states exceeds 3% (1.5 times the
      default's 2%: the estimate of the bias is itself noisy), or is past the stability limit.
    - ``stuck``: more than a quarter of the MALA or HMC chains accept under 10% of their moves after
      tuning (the step was tuned where they no longer are).
    - ``few_draws``: fewer than 400 effective draws over all chains (Vehtari et al. 2021, Bayesian
      Analysis 16(2)): too short a run to mix at this ε, or to trust its SE.
    - ``not_mixed``: split R̂ above 1.1 (Gelman et al., BDA3, 11.4): the chains disagree.

    The standard error is the larger of the ESS-based one and the spread of the chains' means
    over √C (:class:`LLCResult`).
    """
    for name, value in (("nbeta", nbeta), ("gamma", gamma), ("eps", eps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                                  or value < 0 or (name != "gamma" and value == 0)):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'gamma' else 'positive'} finite number, "
                             f"got {value!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2):
        raise ValueError(f"n must be an int >= 2 (the dataset size), got {n!r}")
    target = make_target(model, loss_fn, data, evaluate=evaluate, params=params, w_star=w_star, n=n, device=device,
                         dtype=dtype)
    if nbeta is None:
        if target.n is None:
            raise ValueError("a potential has no dataset: give n (the dataset size) or nbeta")
        nbeta = default_nbeta(int(n if n is not None else target.n))  # an n given with data sets nβ only
    n_steps, burn_in, auto_length, auto_burn_in = _run_lengths(n_steps, burn_in, max_steps)
    if sampler not in ("auto", "sgld", "lm", "mala", "hmc"):
        raise ValueError(f"sampler must be 'auto', 'sgld', 'lm', 'mala' or 'hmc', got {sampler!r}")
    if sampler in ("mala", "hmc") and batch_size is not None:
        raise ValueError(f"sampler={sampler!r} needs the full batch: leave batch_size None, or use sampler='lm' "
                         f"or 'sgld'")
    gamma = default_gamma(nbeta, target.w_star) if gamma is None else gamma
    if sampler == "auto":
        sampler = "sgld" if eps is not None else "lm" if batch_size is not None else "mala"
        if sampler == "mala" and auto_length and gamma > 0 and _mala_relaxation(target, nbeta, gamma) > max_steps / 4:
            sampler = "hmc"
    if sampler == "hmc" and auto_length:
        n_steps, max_steps = HMC_STEPS, HMC_MAX_STEPS
        burn_in = n_steps // 4 if auto_burn_in else burn_in
        if not burn_in < n_steps - 3:
            raise ValueError(f"burn_in must be below {n_steps - 3} with HMC, whose run starts at {n_steps} trajectories "
                             f"(give n_steps too, or leave burn_in to the library), got {burn_in!r}")
    positive_int("n_chains", n_chains)
    run = _Run(target, nbeta, gamma, sampler, batch_size, burn_in, n_steps, seed, acceptance_every, progress)
    run.sample(eps, list(range(n_chains)))
    res = run.result(divergence_drop, theory)
    while auto_length and set(res.flags) & set(UNSETTLED) and 2 * run.n_steps <= max_steps:
        run.extend(run.n_steps)  # double the run: the same chains go on
        run.burn_in = run.n_steps // 4 if auto_burn_in else run.burn_in
        res = run.result(divergence_drop, theory)
    check_gamma = _cheap_gamma_check(target, batch_size) if check_gamma is None else check_gamma
    if check_gamma and math.isfinite(res.llc):
        half = _Run(target, nbeta, gamma / 2, sampler, batch_size, run.burn_in, run.n_steps, seed, acceptance_every, False)
        half.sample(res.eps if sampler in ("sgld", "lm") else None, _gamma_chains(n_chains))
        _judge_gamma(res, half.result(divergence_drop, None), gamma / 2)
    res.settings = run.settings(n_chains, n_steps, check_gamma)
    if res.flags:
        warnings.warn("LLC estimate not trusted: " + "; ".join(f"{k}: {v}" for k, v in res.flags.items()),
                      RuntimeWarning, stacklevel=2)
    return res


def _run_lengths(n_steps, burn_in, max_steps):
    """(n_steps, burn_in, whether the library lengthens the run, whether the burn-in stays a quarter of it),
    checked: the defaults for None, a ValueError naming the argument otherwise."""
    auto_length, auto_burn_in = n_steps is None, burn_in is None
    n_steps = DEFAULTS["n_steps"] if auto_length else n_steps
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 5:
        raise ValueError(f"n_steps must be an int >= 5, got {n_steps!r}")
    if auto_length and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < n_steps):
        raise ValueError(f"max_steps must be an int >= {n_steps} (the first run's steps), got {max_steps!r}")
    burn_in = n_steps // 4 if burn_in is None else burn_in
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or not 0 <= burn_in < n_steps - 3:
        raise ValueError(f"burn_in must be an int in [0, n_steps − 4], got {burn_in!r}")
    return n_steps, burn_in, auto_length, auto_burn_in


def _cheap_gamma_check(target, batch_size) -> bool:
    """Whether the run at γ/2 is made by default: for a potential with d ≤ 10⁴, or on the full batch
    with n·d ≤ 10⁷."""
    if target.n is None or not target.has_data:
        return target.d <= 10_000
    return batch_size is None and target.n * target.d <= 10**7


def _gamma_chains(n_chains) -> list[int]:
    """The chains of the run at γ/2: half as many (at least 2), numbered after the run's own."""
    return list(range(n_chains + 8, n_chains + 8 + max(2, n_chains // 2)))


def _judge_gamma(res, other, half_gamma) -> None:
    """Record the run at γ/2 (``other``) in ``res.gamma_check``, and flag ``gamma`` in ``res`` if it
    moved the estimate by more than 3 combined SE and 10% (``GAMMA_TOL``)."""
    move = other.llc - res.llc
    res.gamma_check = dict(gamma=half_gamma, llc=other.llc, se=other.se, move=move)
    if abs(move) > 3 * math.hypot(res.se, other.se) and abs(move) > GAMMA_TOL * abs(res.llc):
        res.flags["gamma"] = (f"halving γ moved the estimate from {res.llc:.4g} to {other.llc:.4g} "
                              f"({100 * move / abs(res.llc):+.0f}%): γ decides the answer; report the estimate "
                              f"with its γ, or compare models at the same γ")


class _Run:
    """One estimate at fixed (nβ, γ, sampler): choose the step, sample, diagnose."""

    def __init__(self, target, nbeta, gamma, sampler, batch_size, burn_in, n_steps, seed, acceptance_every, progress):
        self.target, self.nbeta, self.gamma, self.sampler = target, nbeta, gamma, sampler
        self.batch_size, self.burn_in, self.n_steps, self.seed = batch_size, burn_in, n_steps, seed
        self.acceptance_every, self.progress = acceptance_every, progress
        self.loss_sd = 0.0
        self.langevin = sampler in ("sgld", "lm")  # an unadjusted step, with a step-size bias

    # ---- what SGLD's step-size bias depends on
    def _bias_terms(self, W):
        """Over the (finite) rows of W: what the Langevin step's first-order bias is made of, and a_max.

        On a quadratic with curvatures κ_i of nβL (localized: a_i = κ_i + γ), the Euler step
        (``sampler="sgld"``) inflates the stationary variance in direction i by
        (1 + εnβ²σ_i²/4)/(1 − εa_i/4) (lesson 4, plus the minibatch gradient's variance σ_i² along
        i), and direction i carries the share κ_i/(2a_i) of λ̂. To first order in ε the estimate is
        inflated by ε·(Σκ_i + nβ²Σσ_i²·κ_i/a_i)/(8λ̂) ≤ ε·(tr nβ∇²L + nβ² tr Cov(∇L_B))/(8λ̂): the
        traces, not the largest eigenvalue, set it. Leimkuhler–Matthews (``sampler="lm"``) samples
        the quadratic exactly, so only the noise term remains: its variance is inflated by
        εnβ²σ_i²/(4 − εa_i), the same to first order. Returns (tr nβ∇²L, nβ² tr Cov(∇L_B), a_max),
        a_max = nβ·(largest Hessian eigenvalue) + γ; the noise term is 0 for the full batch.
        """
        W = W[torch.isfinite(W).all(1)]
        if not len(W):
            return math.inf, math.inf, math.inf
        hess, noise = self.nbeta * float(_hessian_trace(self.target, W).mean()), 0.0
        if self.batch_size is not None:
            tr_cov, loss_sd = _minibatch_noise(self.target, W, self.batch_size, self.seed)
            noise = self.nbeta**2 * float(tr_cov.mean())
            self.loss_sd = max(self.loss_sd, float(loss_sd.max()))
        a_max = self.nbeta * float(_top_curvature(self.target, W).max()) + self.gamma
        return max(hess, 0.0), noise, a_max

    def _first_order(self, hess, noise):
        """The trace that multiplies ε/(8λ̂) in this sampler's first-order bias (see ``_bias_terms``)."""
        return noise if self.sampler == "lm" else hess + noise

    def _sgld_eps(self, chains):
        """The step whose bias is 2% of λ̂ on the local quadratic model, from where the chains go.

        Where they go, and a first λ̂, come from a short full-batch MALA pilot (4 chains, as long
        as the burn-in and at least 200 steps): MALA tunes its own step, so the pilot reaches the
        typical set whatever the curvature at w*, where a singular w* (curvature 0) would mislead.
        Euler: ε = 0.16·λ̂/T (T the first-order trace), and ε·a_max ≤ 1/2, so that no direction is
        near its stability limit ε·a = 4 where the first order fails. Leimkuhler–Matthews: the ε
        at which the bound ε·T/(8λ̂)/(1 − εa_max/4) reported for it equals 2%, and ε·a_max ≤ 2,
        which keeps its O(ε²) bias away from the stability limit.
        """
        steps = max(200, self.burn_in)
        pilot = mala.sample_mala(self.target, nbeta=self.nbeta, gamma=self.gamma, eps=self._mala_eps0(),
                                 n_steps=steps, chains=[c + 1000 for c in chains[:4]], seed=self.seed,
                                 adapt_steps=steps // 2, target_accept=TARGET_ACCEPT)
        lam = self.nbeta * float((pilot.losses[:, steps // 2:] - self.init_loss).mean())
        hess, noise, a_max = self._bias_terms(pilot.final)
        trace = self._first_order(hess, noise)
        if self.sampler == "lm":
            eps = 2 / a_max
            if lam > 0 and trace > 0:
                eps = min(eps, 1 / (trace / (8 * BIAS_TOL * lam) + a_max / 4))
            return eps
        eps = 0.5 / a_max
        if lam > 0 and trace > 0:
            eps = min(eps, 8 * BIAS_TOL * lam / trace)
        return eps

    def _mala_eps0(self):
        """MALA's first step: 1/(curvature of the localized target at w*)."""
        return 1 / _a_max_at_w_star(self.target, self.nbeta, self.gamma)

    def sample(self, eps, chains):
        """Choose the step (if ``eps`` is None) and run the chains for ``self.n_steps`` steps."""
        target, nbeta, gamma = self.target, self.nbeta, self.gamma
        self.chains, self.init_loss = chains, float(target.full_loss(target.w_star[None])[0])
        if self.sampler == "hmc":
            eps0 = 1 / math.sqrt(_a_max_at_w_star(target, nbeta, gamma))  # leapfrog is stable below 2/√a_max
            self.run = hmc.sample_hmc(target, nbeta=nbeta, gamma=gamma, n_steps=self.n_steps, chains=chains,
                                      eps=eps if eps is not None else eps0, seed=self.seed,
                                      adapt_steps=self.burn_in if eps is None else 0, progress=self.progress)
            self.adapted = self.burn_in if eps is None else 0
            self.accepted = self.run.accept_rate * (self.n_steps - self.adapted)
            self.used_eps = float(self.run.eps)
        elif self.sampler == "mala":
            self.run = mala.sample_mala(target, nbeta=nbeta, gamma=gamma, n_steps=self.n_steps, chains=chains,
                                        eps=eps if eps is not None else self._mala_eps0(), seed=self.seed,
                                        adapt_steps=self.burn_in if eps is None else 0, target_accept=TARGET_ACCEPT,
                                        pool=True, progress=self.progress)
            self.adapted = self.burn_in if eps is None else 0
            self.accepted = self.run.accept_rate * (self.n_steps - self.adapted)
            self.used_eps = float(self.run.eps.median())
        else:
            self.used_eps = self._langevin_eps(eps, chains)
            self.run = self._sgld(None, self.n_steps)
        self.losses = self.run.losses
        self.stopped = self.run.stopped if self.langevin else None
        self.acceptance = self.run.acceptance if self.langevin else None

    def _langevin_eps(self, eps, chains):
        """SGLD's step: ``eps`` as given (measuring the minibatch loss's SD at w* for the divergence
        threshold), or the default of :meth:`_sgld_eps` if None. Needs ``self.init_loss``."""
        if eps is None:
            return self._sgld_eps(chains)
        if self.batch_size is not None:
            loss_sd = _minibatch_noise(self.target, self.target.w_star[None], self.batch_size, self.seed)[1]
            self.loss_sd = float(loss_sd.max())
        return float(eps)

    def _stop_above(self):
        """The loss above which a chain has diverged: nβ(L − L_n(w*)) > 10·max(d/2, 10) + 10·nβ·(SD of the
        minibatch loss)."""
        blowup = 10 * max(self.target.d / 2, 10) + 10 * self.nbeta * self.loss_sd
        return self.init_loss + blowup / self.nbeta

    def _sgld(self, resume, n_steps):
        return sgld.sample_sgld(self.target, nbeta=self.nbeta, gamma=self.gamma, eps=self.used_eps, n_steps=n_steps,
                                chains=self.chains, seed=self.seed, batch_size=self.batch_size,
                                acceptance_every=self.acceptance_every, stop_above=self._stop_above(),
                                resume=resume, progress=self.progress,
                                scheme="lm" if self.sampler == "lm" else "euler")

    def extend(self, more):
        """Continue the same chains for ``more`` steps (one longer run: no new adaptation, same ε)."""
        T = self.losses.shape[1]
        if self.sampler == "hmc":
            self.run = hmc.sample_hmc(self.target, nbeta=self.nbeta, gamma=self.gamma, eps=self.used_eps,
                                      n_steps=more, chains=self.chains, resume=self.run, progress=self.progress)
            self.accepted = self.accepted + self.run.accept_rate * more
        elif self.sampler == "mala":
            self.run = mala.sample_mala(self.target, nbeta=self.nbeta, gamma=self.gamma, eps=self.used_eps,
                                        n_steps=more, chains=self.chains, resume=self.run, progress=self.progress)
            self.accepted = self.accepted + self.run.accept_rate * more
        else:
            self.run = self._sgld(self.run, more)
            self.stopped = torch.where(self.stopped < T, self.stopped, self.run.stopped + T)
            if self.acceptance is not None and self.acceptance_every:
                self.acceptance = torch.cat([self.acceptance, self.run.acceptance], 1)
        self.losses = torch.cat([self.losses, self.run.losses], 1)
        self.n_steps = T + more

    def settings(self, n_chains, first_n_steps, check_gamma) -> dict:
        """What was done, for ``LLCResult.settings`` (``first_n_steps``: the run's length before any lengthening)."""
        return dict(gamma=self.gamma, eps=self.used_eps, sampler=self.sampler, n_chains=n_chains, n_steps=self.n_steps,
                    lengthened=self.n_steps > first_n_steps, burn_in=self.burn_in, batch_size=self.batch_size,
                    seed=self.seed, n=self.target.n, d=self.target.d, nbeta=self.nbeta, check_gamma=bool(check_gamma),
                    gradients_per_chain=self.gradients(), params=self.target.names)

    def gradients(self) -> int:
        """Gradient evaluations per chain so far (an HMC step is a trajectory of many)."""
        return int(self.run.leapfrog) if self.sampler == "hmc" else self.n_steps

    def result(self, drop, theory) -> LLCResult:
        """The estimate of the run so far, its diagnostics and its flags."""
        target, nbeta, gamma, burn_in, chains = self.target, self.nbeta, self.gamma, self.burn_in, self.chains
        init_loss, losses, final, used_eps = self.init_loss, self.losses, self.run.final, self.used_eps
        d, C, T = target.d, len(chains), self.losses.shape[1]
        if self.sampler in ("mala", "hmc"):
            bias = 0.0
            acceptance = (self.accepted / max(T - self.adapted, 1))[:, None]
            stopped = torch.where(torch.isfinite(losses).all(1), T, 0)
        else:
            stopped, acceptance = self.stopped, self.acceptance if self.acceptance_every else None
            hess, noise, a_max = self._bias_terms(final[stopped == T])
            curv = self._first_order(hess, noise)

        y = nbeta * (losses[:, burn_in:] - init_loss)
        per_chain = llc_from_losses(losses, init_loss, nbeta, burn_in)  # NaN for a stopped chain
        diverged = stopped < T
        divergence = [f"chain {chains[c]}: diverged at step {int(stopped[c])} (NaN/inf, or nβ(L − L(w*)) above "
                      f"{10 * max(d / 2, 10):.3g}); stopped and left out" for c in diverged.nonzero().flatten().tolist()]
        good = ~diverged
        ess = torch.full((C,), math.nan, dtype=y.dtype, device=y.device)
        k = int(good.sum())
        if k:
            ess[good] = torch.stack([diagnostics.effective_sample_size(yc) for yc in y[good]])
            llc_mean = float(per_chain[good].mean())
            se = float(torch.sqrt((y[good].var(1) / ess[good]).sum()) / k)
            if k > 1:  # chains that disagree more than their ESS says: the spread of their means is the honest SE
                se = max(se, float(per_chain[good].std() / math.sqrt(k)))
            rhat = float(diagnostics.split_rhat(y[good])) if k > 1 else math.nan
        else:
            llc_mean = se = rhat = math.nan
        if self.langevin:  # first order in ε, relative to the estimate; ÷(1 − εa_max/4) errs on the safe side
            if used_eps * a_max >= 4:
                bias = math.inf  # beyond SGLD's stability limit in the stiffest direction
            elif llc_mean > 0:
                bias = used_eps * curv / (8 * llc_mean) / (1 - used_eps * a_max / 4)
            else:
                bias = math.nan  # no relative bias of an estimate ≤ 0 (not at a minimum: flagged below)
        if acceptance is not None and acceptance.numel():
            acceptance = torch.where(good[:, None], acceptance, acceptance.new_tensor(math.nan))

        flags = {}
        if divergence:
            flags["diverged"] = (f"{len(divergence)} of {C} chains diverged and were left out; take a smaller eps "
                                 f"(this run's was {used_eps:.3g}), or leave eps to the library")
        if k:
            drop = drop if drop is not None else max(10.0, d / 2)
            low = y[good].mean(1) if self.batch_size is not None else y[good].amin(1)
            if bool((low < -drop).any()):
                flags["not_minimum"] = (f"nβ(L − L(w*)) fell to {float(low.min()):.4g} < −{drop:g}: sampling finds "
                                        f"losses far below L(w*), so w* is not a local minimum (the estimate is "
                                        f"reported anyway)")
            elif llc_mean < -3 * se:  # at a local minimum E[L] ≥ L(w*) under the localized posterior, up to noise
                flags["not_minimum"] = (f"the estimate {llc_mean:.4g} ± {se:.2g} is negative beyond 3 SE: on average "
                                        f"the chains find losses below L(w*), so w* is not a local minimum (the "
                                        f"estimate is reported anyway)")
            if llc_mean > d / 2 + 3 * se + bias * d / 2:
                flags["implausible"] = (f"{llc_mean:.4g} ± {se:.2g} is above d/2 = {d / 2:g}, which no local minimum "
                                        f"exceeds: the chains are not sampling the basin of w*")
            drift = _drift(y[good])
            if drift is not None:
                D, se_D = drift
                if abs(D) > 3 * se_D and abs(D) > BIAS_TOL * abs(llc_mean):
                    flags["drift"] = (f"the traces moved by {D:+.3g} (SE {se_D:.2g}) between the first and last third of "
                                      f"the kept draws: the run has not settled at ε = {used_eps:.3g}; give more n_steps")
        if self.langevin and k and not bias <= BIAS_TOL * 1.5 and not math.isnan(bias):
            flags["step"] = (f"at the chains' final states the step-size bias is about {100 * bias:.2g}% "
                             f"(ε = {used_eps:.3g}): take a smaller eps, or leave it to the library")
        if k > 1 and rhat > 1.1:
            flags["not_mixed"] = (f"split R̂ = {rhat:.3f} > 1.1 (Gelman et al., BDA3, 11.4): the chains disagree; "
                                  f"give more n_steps")
        if k and float(ess[good].sum()) < 400:
            flags["few_draws"] = (f"{float(ess[good].sum()):.0f} effective draws in all (Vehtari et al. 2021 ask for "
                                  f"400 before trusting the SE): the run is too short to mix at ε = {used_eps:.3g}; "
                                  f"give more n_steps")
        stuck = int((acceptance[:, 0] < 0.1).sum()) if self.sampler in ("mala", "hmc") else 0
        if stuck > C / 4:  # one sticky chain among many only widens the SE, which its ESS already says
            flags["stuck"] = (f"{stuck} of {C} {self.sampler.upper()} chains accepted under 10% of their moves after tuning: they barely "
                              f"move (the step tuned in the burn-in is too large where they went); give more burn_in")
        return LLCResult(
            llc=llc_mean, se=se, per_chain=per_chain, ess=ess, rhat=rhat, diverged=diverged, divergence=divergence,
            losses=losses, init_loss=init_loss, nbeta=nbeta, burn_in=burn_in, acceptance=acceptance, theory=theory,
            sampler=self.sampler, eps=used_eps, gamma=gamma, bias_bound=bias, flags=flags,
        )


def _mala_relaxation(target, nbeta, gamma) -> float:
    """How many steps MALA needs to relax the flattest directions of the localized posterior, to
    order of magnitude: κ·d^(1/3), κ = a_max/γ its condition number at w*.

    A tuned MALA step is ε ≈ 2.7·d^(−1/3)/a_max (Roberts & Rosenthal 1998, JRSS B 60(1): optimal
    proposal variance ℓ² d^(−1/3) with ℓ ≈ 1.65, in units of the stiffest direction), and a Langevin
    step contracts a direction of curvature γ by 1 − εγ/2, so relaxing it takes ≈ 2/(εγ) ≈ 0.74·κ·d^(1/3)
    steps. At a singular w* (no curvature) κ = 1: MALA is fine there, whatever the curvature further out.
    """
    return _a_max_at_w_star(target, nbeta, gamma) / gamma * target.d ** (1 / 3)


def _a_max_at_w_star(target, nbeta, gamma) -> float:
    """The largest curvature of the localized target at w*: nβ·(top Hessian eigenvalue of L_n) + γ."""
    return nbeta * float(_top_curvature(target, target.w_star[None]).max()) + gamma


def _hvp(target, W, v):
    """∇²L_n(W[c]) v[c] for every chain c, ``(C, d)``; None for a loss that is linear in w."""
    with torch.enable_grad():
        Wg = W.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(target.loss(Wg, None).sum(), Wg, create_graph=True)
        if not grad.requires_grad:
            return None
        (hv,) = torch.autograd.grad((grad * v).sum(), Wg, allow_unused=True)
    return None if hv is None else hv.detach()


def _top_curvature(target, W, iters=20):
    """|largest eigenvalue| of ∇²L_n at each row of W, ``(C,)``: power iteration on Hessian-vector products."""
    g = torch.Generator(device=W.device).manual_seed(0)
    v = torch.randn(W.shape, generator=g, dtype=W.dtype, device=W.device)
    v = v / v.norm(dim=-1, keepdim=True)
    norm = torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    for _ in range(iters):
        hv = _hvp(target, W, v)
        if hv is None:  # a loss that is linear in w
            return norm
        hv = hv.nan_to_num(0)
        norm = hv.norm(dim=-1)
        v = hv / norm.clamp_min(torch.finfo(W.dtype).tiny)[:, None]
    return norm


def _hessian_trace(target, W, probes=8):
    """tr ∇²L_n at each row of W, ``(C,)``: Hutchinson's estimator E[vᵀ∇²L v], v with ±1 entries."""
    g = torch.Generator(device=W.device).manual_seed(1)
    total = torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    for _ in range(probes):
        v = torch.randint(0, 2, W.shape, generator=g, device=W.device).to(W.dtype) * 2 - 1
        hv = _hvp(target, W, v)
        if hv is not None:
            total += (hv * v).sum(-1)
    return total / probes


def _minibatch_noise(target, W, batch_size, seed, k=16):
    """Per row of W: the trace of the minibatch gradient's covariance, and the minibatch loss's SD."""
    g = torch.Generator(device=W.device).manual_seed(seed + 7919)
    idx = torch.randint(target.n, (k, W.shape[0], batch_size), generator=g, device=W.device)
    out = [target.loss_and_grad(W, idx[j]) for j in range(k)]
    losses, grads = torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])  # (k, C), (k, C, d)
    return grads.var(0).sum(-1), losses.std(0)


def _drift(y):
    """(D, SE of D): the mean over chains of (last third − first third) of the traces ``(k, T)``.

    Each chain's SE comes from its variance and ESS after removing a straight line, so that a
    trend does not inflate its own error bar (an ESS of the raw trace would take the trend for
    slow mixing and hide it)."""
    k, T = y.shape
    third = T // 3
    if third < 4:
        return None
    t = torch.arange(T, dtype=y.dtype, device=y.device)
    tc = t - t.mean()
    slope = ((y - y.mean(1, keepdim=True)) * tc).sum(1) / (tc**2).sum()
    resid = y - y.mean(1, keepdim=True) - slope[:, None] * tc
    ess = torch.stack([diagnostics.effective_sample_size(r) for r in resid]).clamp(min=3.0)
    var_d = 2 * resid.var(1) / (ess / 3)
    D = float((y[:, -third:].mean(1) - y[:, :third].mean(1)).mean())
    return D, float(var_d.sum().sqrt() / k)
