"""Choosing the SGLD step size ε and the localization γ for LLC estimation.

:func:`sweep_llc` runs short LLC estimates over a grid of (ε, γ) and recommends, following
Furman & Lau (2024, arXiv:2402.03698), settings whose SGLD proposals a Metropolis–Hastings
test would mostly accept (mean MALA acceptance ≥ ``min_accept``, 0.9 by default), whose chains
agree (split R̂ below ``max_rhat``) and none of which diverged: among them the smallest γ
(the least distortion of the posterior), and for it the largest ε (the fastest mixing).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from slt_lessons import llc

__all__ = ["SweepRow", "SweepResult", "sweep_llc"]


@dataclass
class SweepRow:
    eps: float
    gamma: float
    llc: float
    se: float
    accept: float
    rhat: float
    n_diverged: int

    @property
    def ok(self) -> bool:
        return self.n_diverged == 0 and math.isfinite(self.llc)


@dataclass
class SweepResult:
    rows: list[SweepRow]
    recommended: SweepRow | None
    min_accept: float
    max_rhat: float

    def __str__(self) -> str:
        lines = [f"{'eps':>9} {'gamma':>8} {'llc':>9} {'se':>8} {'accept':>7} {'rhat':>6} diverged"]
        for r in self.rows:
            mark = "  <- recommended" if r is self.recommended else ""
            lines.append(f"{r.eps:9.2e} {r.gamma:8.3g} {r.llc:9.4g} {r.se:8.2g} {r.accept:7.3f} {r.rhat:6.3f} {r.n_diverged:8d}{mark}")
        if self.recommended is None:
            lines.append(f"no setting met acceptance ≥ {self.min_accept}, R̂ < {self.max_rhat} without divergence")
        return "\n".join(lines)

    def plot(self):
        """λ̂ ± SE and the mean acceptance against ε, one line per γ."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.5))
        ax_llc, ax_acc = fig.subplots(1, 2)
        for i, gamma in enumerate(sorted({r.gamma for r in self.rows})):
            rows = sorted((r for r in self.rows if r.gamma == gamma), key=lambda r: r.eps)
            e = [r.eps for r in rows]
            ax_llc.errorbar(e, [r.llc for r in rows], yerr=[r.se for r in rows], marker="o", color=f"C{i}", label=f"γ = {gamma:g}")
            ax_acc.plot(e, [r.accept for r in rows], marker="o", color=f"C{i}")
        ax_acc.axhline(self.min_accept, color="k", ls=":", lw=1)
        if self.recommended is not None:
            ax_llc.plot([self.recommended.eps], [self.recommended.llc], "k*", ms=14, label="recommended")
        for ax, label in ((ax_llc, r"$\hat\lambda$"), (ax_acc, "MALA acceptance of SGLD proposals")):
            ax.set_xscale("log")
            ax.set_xlabel(r"step size $\epsilon$")
            ax.set_ylabel(label)
        ax_llc.legend(fontsize=8)
        fig.tight_layout()
        return fig


def sweep_llc(model, loss_fn=None, data=None, *, eps_values, gamma_values, n_steps=500, n_chains=4,
              acceptance_every=10, min_accept=0.9, max_rhat=1.1, **kwargs) -> SweepResult:
    """Short :func:`llc.estimate_llc` runs for every (ε, γ); ``kwargs`` pass through (w_star, n, ...)."""
    if not eps_values or not gamma_values:
        raise ValueError("eps_values and gamma_values must be non-empty sequences")
    rows = []
    for gamma in gamma_values:
        for eps in eps_values:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # divergence is recorded in the row
                r = llc.estimate_llc(model, loss_fn, data, eps=eps, gamma=gamma, n_steps=n_steps, n_chains=n_chains,
                                     acceptance_every=acceptance_every, progress=False, **kwargs)
            accept = float(r.acceptance.mean()) if r.acceptance is not None else math.nan
            rows.append(SweepRow(eps, gamma, r.llc, r.se, accept, r.rhat, int(r.diverged.sum())))
    good = [r for r in rows if r.ok and r.accept >= min_accept and r.rhat < max_rhat]
    best = min(good, key=lambda r: (r.gamma, -r.eps)) if good else None
    return SweepResult(rows, best, min_accept, max_rhat)
