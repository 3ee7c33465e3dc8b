"""Lesson 6, part 3 (development): SGD on the TMS passes through k-gons; the LLC along training.

Trains the toy model of superposition (c = 6 features in 2 dimensions) with minibatch SGD
(:func:`slt_lessons.tms.train`), finds the stage boundaries from the loss curve
(:func:`slt_lessons.tms.stage_boundaries`), estimates the LLC at a dozen checkpoints with one
nβ, γ and ε for all (:func:`slt_lessons.checkpoints.estimate_llcs` on the population NLL
:func:`slt_lessons.tms.potential`, i.e. L/2), and compares each stage's λ̂ with the learning
coefficient of the k-gon it sits at (part 2, :func:`slt_lessons.tms.kgon_table`: rank/2 = 7 for
the 5-gon with negative dead bias, 17/2 for the 6-gon). nβ = 10⁴: at 10³ the chains can leave
a 5-gon's basin for the 6-gon's (tms module docstring), and then λ̂ is not local.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/tms_development.py [--plot tms_development.png]
"""

from __future__ import annotations

import argparse
import time

import torch

from slt_lessons import checkpoints, tms

C = 6
TRAIN = dict(c=C, steps=50_000, lr=0.05, batch_size=4, init_scale=0.5, seed=6)


def kgon_losses(c=C):
    """(name, k, L) for the k-gons of part 2 (:func:`tms.kgon_table`), plus the (c − 2)-gon with one
    and two positive dead biases (each lowers L by 1/(4c²): tms module docstring) and the 3- and
    2-gons (:func:`tms.kgon`), which SGD also passes or stops at."""
    rows = [(r.name, r.k, r.loss) for r in tms.kgon_table(c, device="cpu")]
    four = next(L for name, k, L in rows if k == c - 2)
    for j in (1, 2):
        rows.append((f"{c - 2}-gon, {j} positive dead bias{'es' if j > 1 else ''}", c - 2, four - j / (4 * c * c)))
    for k in (2, 3):
        w, _, _ = tms.kgon(k, c, device="cpu")
        rows.append((f"{k}-gon", k, float(tms.population_loss(w, c))))
    return rows


def nearest_kgon(loss, live, table):
    """The k-gon with as many live columns whose loss is nearest, and the relative gap."""
    same = [row for row in table if row[1] == int(live)] or table
    name, _, L = min(same, key=lambda row: abs(row[2] - loss))
    return name, (loss - L) / L


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nbeta", type=float, default=1e4)
    parser.add_argument("--checkpoints", type=int, default=6, help="how many checkpoints get an LLC estimate")
    parser.add_argument("--plot", default=None, help="save a figure of loss and λ̂ against the step here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()

    run = tms.train(**TRAIN)
    print(f"SGD on the TMS, {TRAIN}: {time.time() - t0:.1f} s")
    bounds = tms.stage_boundaries(run.steps, run.loss)
    # LLC checkpoints: log-spaced from step ~100 (past the initial transient) to the end, and each
    # boundary's neighbours
    K = len(run.steps)
    first = int((run.steps >= 90).nonzero()[0])
    pick = set(torch.linspace(first, K - 1, args.checkpoints).round().long().tolist())
    pick |= {j for b in bounds for j in (b - 1, b) if first <= j < K}
    pick = sorted(pick)
    # each checkpoint, and the bottom of its basin: exact gradient descent (tms.descend)
    raw = run.w[pick]
    low, grad = tms.descend(raw, C)
    L_raw, L_low = tms.population_loss(raw, C), tms.population_loss(low, C)
    t1 = time.time()
    # one nβ, γ, ε for all (chosen at the last descended point, a 5-gon): raw checkpoints, then descended
    res = checkpoints.estimate_llcs(tms.potential(C), list(raw) + list(low), nbeta=args.nbeta, progress=False)
    res_raw, res_low = res[: len(pick)], res[len(pick):]
    print(f"LLC at {len(pick)} checkpoints and their descended points, nβ = {args.nbeta:g}, γ = {res[0].gamma:.3g}, "
          f"ε = {res[0].eps:.3g}: {time.time() - t1:.1f} s\n")

    table = kgon_losses()
    print("checkpoint: step, loss L, live columns, nearest k-gon (same live columns, nearest L), λ̂ ± SE;")
    print("descended (tms.descend, exact GD): its L, live columns, ‖Δw‖ moved, ‖∇L‖ at the end, λ̂ ± SE;")
    print("shift = nβ (L_ckpt − L_desc)/2, what the checkpoint's λ̂ should lose to its height above the basin")
    print(f"{'step':>6} {'L':>8} {'live':>4} {'nearest k-gon':<30} {'λ̂ ckpt':>14} | {'L desc':>8} {'live':>4} "
          f"{'‖Δw‖':>5} {'‖∇L‖':>7} {'λ̂ desc':>14} {'shift':>7}  flags (ckpt / desc)")
    for n_, j in enumerate(pick):
        name, _ = nearest_kgon(float(L_raw[n_]), run.live[j], table)
        r0, r1 = res_raw[n_], res_low[n_]
        shift = args.nbeta * float(L_raw[n_] - L_low[n_]) / 2
        mark = "  <- boundary" if j in bounds else ""
        print(f"{int(run.steps[j]):>6} {float(L_raw[n_]):8.5f} {int(run.live[j]):>4} {name:<30} "
              f"{r0.llc:7.2f} ± {r0.se:4.2f} | {float(L_low[n_]):8.5f} {int(tms.live_columns(low[n_], C)):>4} "
              f"{float((low[n_] - raw[n_]).norm()):5.2f} {float(grad[n_]):7.1e} {r1.llc:7.2f} ± {r1.se:4.2f} "
              f"{shift:7.2f}  {','.join(r0.flags) or '-'} / {','.join(r1.flags) or '-'}{mark}")
    print(f"\nstage boundaries (tms.stage_boundaries): steps {[int(run.steps[b]) for b in bounds]}")

    # stages: between boundaries; compare the λ̂ of each stage's checkpoints with the k-gon's rank/2
    lam = {row.name: (row.lam_hessian if row.rule_applies else None) for row in tms.kgon_table(C, device="cpu")}
    edges = [0] + bounds + [K]
    print("\nstage: its descended points that stayed in the stage (as many live columns as the checkpoint);")
    print("minimum? 'no' where the chains found lower loss there (flag not_minimum): a saddle, or a kink of L,")
    print("where λ̂ is no learning coefficient")
    print(f"stage     steps            L at end  {'nearest k-gon':<32} L desc  minimum?  mean λ̂ desc  rank/2")
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        stay = [n_ for n_, j in enumerate(pick) if a <= j < b and int(tms.live_columns(low[n_], C)) == int(run.live[j])]
        name, _ = nearest_kgon(float(run.loss[b - 1]), run.live[b - 1], table)
        ref = lam.get(name)
        if stay:
            neg = "no" if any("not_minimum" in res_low[n_].flags for n_ in stay) else "yes"
            mean = sum(res_low[n_].llc for n_ in stay) / len(stay)
            cols = f"{float(L_low[stay[-1]]):8.5f} {neg:>8}  {mean:11.2f}"
        else:
            cols = f"{'-':>8} {'-':>8}  {'-':>11}"
        print(f"{s:>5} {int(run.steps[a]):>7}–{int(run.steps[b - 1]):<7} {float(run.loss[b - 1]):8.5f}  {name:<32} "
              f"{cols}  {'-' if ref is None else f'{ref:g}'}")

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
        x = run.steps.double() + 1
        ax1.plot(x, run.loss, "k.-", label="population loss L")
        for name, k, L in table:
            if k >= C - 2:
                ax1.axhline(L, color="grey", lw=0.5, ls=":")
                ax1.text(x[-1], L, " " + name, fontsize=6, va="center")
        ax1.set(xscale="log", yscale="log", ylabel="L (not halved)")
        steps = torch.tensor([float(run.steps[j]) + 1 for j in pick])
        for rs, fmt, label in ((res_low, "o-", "λ̂ at the descended point"), (res_raw, "s--", "λ̂ at the checkpoint")):
            ax2.errorbar(steps, [r.llc for r in rs], yerr=[2 * r.se for r in rs], fmt=fmt, label=label)
        ax2.legend(fontsize=7)
        for v in (7, 8.5):
            ax2.axhline(v, color="grey", lw=0.5, ls=":")
        ax2.set(xscale="log", xlabel="1 + SGD step", ylabel=f"λ̂, nβ = {args.nbeta:g}", ylim=(-5, 12))
        for b in bounds:
            for ax in (ax1, ax2):
                ax.axvline(float(x[b]), color="C3", lw=0.8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"\nfigure: {args.plot}")
    print(f"\ntotal {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
