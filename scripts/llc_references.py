"""Reference values for tests/test_llc_accuracy.py: long MALA runs of the LLC estimator's target.

For each model of tests/llc_models.py, at the tests' nβ = n/log n and γ: 32 MALA chains of 50,000
steps from w*, the step tuned by dual averaging over the first 5,000 and the first 10,000 left out;
the estimate is the mean of nβ(L − L(w*)) over the rest, its SE from each chain's effective sample
size (Geyer 1992). MALA samples the localized posterior exactly at any step, so these differ from the
estimator's expectation only by Monte Carlo error.

    .venv/bin/python scripts/llc_references.py   # about a minute on one core; rewrites tests/llc_references.json
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import llc_models  # noqa: E402

from slt_lessons import diagnostics, mala  # noqa: E402
from slt_lessons.targets import potential_target  # noqa: E402

CHAINS, STEPS, ADAPT, BURN_IN, SEED = 32, 50_000, 5_000, 10_000, 2026


def reference(potential, w_star, n):
    nbeta = llc_models.nbeta_of(n)
    target = potential_target(potential, w_star)
    run = mala.sample_mala(target, nbeta=nbeta, gamma=llc_models.GAMMA, eps=1e-3, n_steps=STEPS, n_chains=CHAINS,
                           seed=SEED, adapt_steps=ADAPT, target_accept=0.6)
    y = nbeta * (run.losses[:, BURN_IN:] - float(potential(w_star[None])[0]))
    ess = torch.stack([diagnostics.effective_sample_size(t) for t in y])
    se = float(torch.sqrt((y.var(1) / ess).sum()) / CHAINS)
    return dict(llc=float(y.mean()), se=se, nbeta=nbeta, gamma=llc_models.GAMMA, accept=float(run.accept_rate.mean()),
                eps=float(run.eps.median()), method=f"MALA {CHAINS} chains x {STEPS} steps, burn-in {BURN_IN}")


def main():
    torch.set_num_threads(1)
    out = {}
    for name, (potential, w_star, n, _) in llc_models.models().items():
        t = time.time()
        out[name] = reference(potential, w_star, n)
        print(f"{name:12s} {out[name]['llc']:.4f} ± {out[name]['se']:.4f}  ({time.time() - t:.0f} s)", flush=True)
        assert math.isfinite(out[name]["llc"])
    (ROOT / "tests" / "llc_references.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
