"""Choosing the SGLD step size ε and the localization γ for LLC estimation, by a sweep.

:func:`slt_lessons.llc.estimate_llc` chooses ε itself; :func:`sweep_llc` is for seeing how the
estimate depends on (ε, γ), as Furman & Lau (2024, arXiv:2402.03698) calibrate it. Each row is a
short SGLD estimate with the estimator's trust flags. A row is *settled* when none of the flags that
judge the run fired (divergence, drift, R̂, too few effective draws, an implausible value, a stuck or
biased step); the MALA acceptance of its SGLD proposals must also be at least ``min_accept``. An
acceptance of 0.9 alone still allows about 10% step-size bias (lesson 5), so among the settled rows
at the smallest γ the sweep recommends the largest ε whose estimate agrees with that of the
smallest settled ε at the same γ, within 3 combined SE plus 2%: a step that mixes fastest without
moving the answer.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from slt_lessons import llc
from slt_lessons.chains import steps

__all__ = ["SweepRow", "SweepResult", "sweep_llc"]

RUN_FLAGS = ("diverged", "implausible", "drift", "not_mixed", "few_draws", "step", "stuck", "not_minimum")


@dataclass
class SweepRow:
    eps: float
    gamma: float
    llc: float
    se: float
    accept: float
    rhat: float
    n_diverged: int
    flags: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Settled: a finite estimate and none of the flags that judge the run."""
        return math.isfinite(self.llc) and not any(k in self.flags for k in RUN_FLAGS)


@dataclass
class SweepResult:
    rows: list[SweepRow]
    recommended: SweepRow | None
    min_accept: float
    d: int

    def __str__(self) -> str:
        lines = [f"{'eps':>9} {'gamma':>8} {'llc':>9} {'se':>8} {'accept':>7} {'rhat':>6} {'diverged':>8}  flags"]
        for r in self.rows:
            mark = "  <- recommended" if r is self.recommended else ""
            flags = ",".join(r.flags) or "-"
            lines.append(f"{r.eps:9.2e} {r.gamma:8.3g} {r.llc:9.4g} {r.se:8.2g} {r.accept:7.3f} {r.rhat:6.3f} "
                         f"{r.n_diverged:8d}  {flags}{mark}")
        if self.recommended is None:
            lines.append(f"no setting settled (no flag, acceptance ≥ {self.min_accept}): give more n_steps or smaller eps")
        return "\n".join(lines)

    def plot(self):
        """λ̂ ± SE and the mean acceptance against ε, one line per γ; flagged rows hollow.

        The λ̂ axis is set by the settled rows (or, if none, clipped to [−d, d]): a diverged or
        implausible row is drawn at the edge, never allowed to set the scale."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.5))
        ax_llc, ax_acc = fig.subplots(1, 2)
        good = [r for r in self.rows if r.ok]
        ref = good or [r for r in self.rows if math.isfinite(r.llc)]
        lo = min((r.llc - r.se for r in ref), default=-1.0)
        hi = max((r.llc + r.se for r in ref), default=1.0)
        lo, hi = max(lo, -self.d), min(hi, self.d)
        pad = 0.1 * (hi - lo) + 1e-9
        lo, hi = lo - pad, hi + pad
        for i, gamma in enumerate(sorted({r.gamma for r in self.rows})):
            rows = sorted((r for r in self.rows if r.gamma == gamma), key=lambda r: r.eps)
            e = [r.eps for r in rows]
            y = [min(max(r.llc, lo), hi) if math.isfinite(r.llc) else hi for r in rows]
            ax_llc.plot(e, y, color=f"C{i}", lw=1, label=f"γ = {gamma:g}")
            for r, yy in zip(rows, y):
                ax_llc.errorbar([r.eps], [yy], yerr=[r.se if r.ok else 0], marker="o", color=f"C{i}",
                                mfc=f"C{i}" if r.ok else "white")
            ax_acc.plot(e, [r.accept for r in rows], marker="o", color=f"C{i}")
        ax_llc.set_ylim(lo, hi)
        ax_acc.axhline(self.min_accept, color="k", ls=":", lw=1)
        if self.recommended is not None:
            ax_llc.plot([self.recommended.eps], [self.recommended.llc], "k*", ms=14, label="recommended")
        for ax, label in ((ax_llc, r"$\hat\lambda$ (hollow: flagged, clipped to the axis)"),
                          (ax_acc, "MALA acceptance of SGLD proposals")):
            ax.set_xscale("log")
            ax.set_xlabel(r"step size $\epsilon$")
            ax.set_ylabel(label)
        ax_llc.legend(fontsize=8)
        fig.tight_layout()
        return fig


def sweep_llc(model, loss_fn=None, data=None, *, eps_values, gamma_values, n_steps=1000, n_chains=4,
              acceptance_every=10, min_accept=0.9, progress=True, **kwargs) -> SweepResult:
    """Short SGLD :func:`llc.estimate_llc` runs for every (ε, γ), with their flags; ``kwargs`` pass through (w_star, n, ...)."""
    if not eps_values or not gamma_values:
        raise ValueError("eps_values and gamma_values must be non-empty sequences")
    grid = [(g, e) for g in gamma_values for e in sorted(eps_values)]
    rows, d = [], None
    for i in steps(len(grid), progress, "sweep"):
        gamma, eps = grid[i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the flags are recorded in the row
            r = llc.estimate_llc(model, loss_fn, data, eps=eps, gamma=gamma, sampler="sgld", n_steps=n_steps,
                                 n_chains=n_chains, acceptance_every=acceptance_every, progress=False,
                                 check_gamma=False, **kwargs)
        accept = float(r.acceptance.nanmean()) if r.acceptance is not None else math.nan
        rows.append(SweepRow(eps, gamma, r.llc, r.se, accept, r.rhat, int(r.diverged.sum()), dict(r.flags)))
        d = r.settings["d"]
    settled = [r for r in rows if r.ok and r.accept >= min_accept]
    best = None
    if settled:
        gamma = min(r.gamma for r in settled)
        at_gamma = sorted((r for r in settled if r.gamma == gamma), key=lambda r: r.eps)
        base = at_gamma[0]
        agree = [r for r in at_gamma
                 if abs(r.llc - base.llc) <= 3 * math.hypot(r.se, base.se) + llc.BIAS_TOL * abs(base.llc)]
        best = agree[-1]
    return SweepResult(rows, best, min_accept, d)
