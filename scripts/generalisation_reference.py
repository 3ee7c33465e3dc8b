"""Reference values for tests/test_generalisation_laws.py: Watanabe's generalisation laws by exact simulation.

For the regular (``a = w``) and singular (``a = w²``) regressions of slt_lessons.generalisation_sim, at
n = 10 … 10⁵: ``simulate`` over N_DATASETS data sets each, every data set's ``G_n − L(w₀)``,
``T_n − L_n(w₀)`` and ``V_n`` exact on an 801-point grid of its posterior, so the numbers differ from
the expectations only by Monte Carlo error (the standard errors printed). Prints a table and writes
scripts/generalisation_reference.json beside this script, with the theory it is compared with:
``λ``, ``d/2``, ``n·E[G_n − L]`` at each n by quadrature over the data's sufficient statistics
(``expected_kl``, no Monte Carlo, the prior's cut included), the regular model's finite-n closed forms
under a flat prior (``regular_exact``) and the singular model's ``2ν`` from its renormalised posterior
(``singular_limit``).

    .venv/bin/python scripts/generalisation_reference.py   # 214 s on 2 idle cores (~10 min on a busy machine)

Two worker processes of one torch thread each, not one process of two threads: on a shared machine OpenMP's
threads wait for each other and ran this 5x slower. Each (model, n) has its own seed, so the numbers do not
depend on which worker runs it.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slt_lessons import generalisation_sim as gs  # noqa: E402

NS = (10, 100, 1_000, 10_000, 100_000)
MODELS = ("regular", "singular")
N_DATASETS = 16_000
WORKERS = 2
SEED = 2026  # data sets of (model i, n j) use SEED + 10 i + j
GRID, C, ORDER, NODES = 801, 10.0, 40, "auto"  # nodes: gs.auto_nodes(n) points of the Gauss rule
OUT = Path(__file__).with_suffix(".json")


def seed_of(model, n):
    return SEED + 10 * MODELS.index(model) + NS.index(n)


def run_one(job):
    model, n = job
    torch.set_num_threads(1)
    return gs.simulate(model, n, N_DATASETS, seed_of(model, n), order=ORDER, grid=GRID, c=C, nodes=NODES).as_dict()


def main():
    t_all = time.perf_counter()
    limit = gs.singular_limit()
    jobs = sorted(((m, n) for m in MODELS for n in NS), key=lambda j: -j[1])  # the long ones first
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = dict(zip(jobs, pool.map(run_one, jobs)))
    rows = []
    head = (f"{'model':9s} {'n':>6s}  {'n·E[G−L]':>8s} {'±SE':>6s} {'(theory)':>8s}  {'n·E[T−Ln]':>9s} {'±SE':>6s}  "
            f"{'2ν̂':>6s} {'±SE':>6s}  {'E[V_n]':>6s} {'±SE':>6s}  {'λ':>4s} {'d/2':>4s} {'2ν':>6s} {'datasets':>8s} {'s':>5s}")
    print(head)
    for model in MODELS:
        for n in NS:
            row = done[(model, n)]
            row["expected_kl"] = ref_kl = gs.expected_kl(model, n)
            if model == "regular":
                row["exact"] = gs.regular_exact(n)
                two_nu = 1.0
            else:
                two_nu = limit["two_nu"]
            rows.append(row)
            print(f"{model:9s} {n:6d}  {row['kl']:8.4f} {row['kl_se']:6.4f} {ref_kl:8.4f}  {row['train']:9.4f} "
                  f"{row['train_se']:6.4f}  {row['two_nu']:6.4f} {row['two_nu_se']:6.4f}  {row['V']:6.4f} "
                  f"{row['V_se']:6.4f}  {row['lam']:4.2f} {row['d'] / 2:4.2f} {two_nu:6.4f} {row['n_datasets']:8d} "
                  f"{row['seconds']:5.0f}")
            assert all(math.isfinite(row[k]) for k in ("kl", "train", "V", "two_nu")), row
            # The grid holds the posterior: under 1e-4 of any data set's posterior lies beyond its ends (0 where
            # they are the prior's); cutting ε changes that data set's n(G − L) by ≲ ε·n·R²/2 (≤ 0.005 at the
            # regular n = 100, R = 1), the mean over data sets by ≪ 1e-6. The largest seen is 2e-6.
            assert row["cut_mass"] < 1e-4, row
    print("(theory): n·E[G−L] by quadrature (expected_kl). 2ν: regular d = 1; singular, singular_limit (n → ∞).")
    seconds = time.perf_counter() - t_all
    out = dict(
        about="Monte Carlo over data sets of exact grid computations, from scripts/generalisation_reference.py. "
              "kl = n E[G_n - L(w0)], train = n E[T_n - L_n(w0)], two_nu = n E[G_n - T_n] = kl - train, "
              "V = E[V_n], eos_gap = E[n(G_n - T_n) - V_n]; *_se their standard errors over data sets. "
              "expected_kl: n E[G_n - L(w0)] by quadrature (no Monte Carlo); exact: regular_exact(n), flat prior.",
        settings=dict(n_datasets=N_DATASETS, seed=SEED, grid=GRID, c=C, order=ORDER, nodes=NODES, workers=WORKERS, threads_per_worker=1,
                      nodes_at_n={str(n): gs.auto_nodes(n) for n in NS}, torch=torch.__version__,
                      python=platform.python_version(), seconds=round(seconds, 1)),
        theory=dict(regular=dict(lam=0.5, two_nu=1.0, d_half=0.5),
                    singular=dict(lam=0.25, two_nu=limit["two_nu"], d_half=0.5)),
        results=rows,
    )
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"total {seconds:.0f} s; wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
