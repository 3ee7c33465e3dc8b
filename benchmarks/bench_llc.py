"""Benchmark: slt_lessons' LLC estimator against devinterp 2.0.1 on four problems with known λ.

    python benchmarks/bench_llc.py                 # CPU: ours with 64 chains, devinterp with 4
    python benchmarks/bench_llc.py --device cuda --chains 512

For each problem it prints the exact λ, a reference value of the same estimator (same nβ, γ;
exact Gaussian formula, quadrature, or a long MALA run), each estimate ± its standard error,
wall time, chain-steps per second and the speed ratio. The loss is ½‖y − f(x)‖² per sample
(Gaussian NLL, σ = 1), nβ = n/log n with n = 1000. devinterp is optional (the ``bench``
extra; install it in a separate environment with torch already present); without it only our
side is printed.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
from scipy.integrate import trapezoid
import torch

from slt_lessons import diagnostics, llc, mala, potentials
from slt_lessons.targets import potential_target


def reference_value(pr, nbeta, gamma, device, mala_steps):
    """(value, SE) of E[nβ(L − L(w*))] under exp(−nβL − γ/2‖w − w*‖²), without SGLD."""
    if pr.name.startswith("linear"):
        x = pr.data[0]
        kappa = torch.linalg.eigvalsh(nbeta * x.T @ x / x.shape[0])
        return float(0.5 * (kappa / (kappa + gamma)).sum()), 0.0, "exact Gaussian"
    if pr.name.startswith("normal"):
        x = pr.data[0].cpu().numpy()
        c = nbeta * np.sum(x**2) / (2 * len(x))
        w = np.linspace(-3, 3, 400001)
        dens = np.exp(-c * w**4 - gamma * w**2 / 2)
        return float(trapezoid(c * w**4 * dens, w) / trapezoid(dens, w)), 0.0, "quadrature"
    target = potential_target(pr.model, pr.w_star.to(device), n=pr.n)
    run = mala.sample_mala(target, nbeta=nbeta, gamma=gamma, eps=1e-3, n_steps=mala_steps, n_chains=64,
                           adapt_steps=mala_steps // 5, seed=12345)
    y = nbeta * (run.losses[:, mala_steps // 4 :] - float(target.full_loss(target.w_star[None])[0]))
    ess = torch.stack([diagnostics.effective_sample_size(t) for t in y])
    se = float(torch.sqrt((y.var(1) / ess).sum()) / y.shape[0])
    return float(y.mean()), se, f"MALA ({mala_steps} steps × 64, acc {float(run.accept_rate.mean()):.2f})"


# Both libraries run SGLD at this fixed (γ, ε) for the speed ratio; "ours, defaults" leaves ε and the sampler
# to the library (MALA for these full-batch problems) at the same nβ and γ, for accuracy.
GAMMA, EPS = 1.0, 3e-4


def ours(pr, args, steps, device, seed=None, defaults=False):
    kw = pr.kwargs()
    if pr.w_star is not None:
        kw["w_star"] = pr.w_star.to(device)
    t0 = time.perf_counter()
    seed = args.seed if seed is None else seed
    step = {} if defaults else dict(eps=EPS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # flags are printed with the row
        res = llc.estimate_llc(**kw, nbeta=llc.default_nbeta(pr.n), gamma=GAMMA, n_chains=args.chains, n_steps=steps,
                               seed=seed, progress=False, theory=pr.lam, check_gamma=False, **step)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return res, dt


def devinterp_run(pr, args, steps, burn_in, gamma, eps, nbeta):
    """devinterp 2.0.1's own estimate (its compute_llc), same ε, γ, nβ, steps, burn-in."""
    from datasets import Dataset
    from devinterp.slt.llc import llc as di_llc

    n = pr.n
    dataset = Dataset.from_dict({"input_ids": [[i, i] for i in range(n)]}).with_format("torch")
    if pr.data is not None:
        x, y = (t.cpu() for t in pr.data)
        model = pr.model.cpu()

        def loss_fn(m, input_ids):
            i = input_ids[:, 0]
            return (0.5 * ((y[i] - m(x[i])) ** 2).sum(-1))[:, None]

        batch_size = n  # full batch, as ours
    else:
        class Flat(torch.nn.Module):
            def __init__(self, w):
                super().__init__()
                self.w = torch.nn.Parameter(w.clone().cpu())

        model, pot = Flat(pr.w_star), pr.model

        def loss_fn(m, input_ids):
            return pot(m.w[None]).expand(input_ids.shape[0])[:, None]

        batch_size = 1
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = di_llc(model, dataset, {}, lr=eps, n_beta=nbeta, localization=gamma, num_chains=args.di_chains,
                     num_draws=steps - burn_in, num_burnin_steps=burn_in, batch_size=batch_size, loss_fn=loss_fn,
                     device="cpu", init_seed=args.seed)
    dt = time.perf_counter() - t0
    trace = torch.as_tensor(np.asarray(out.loss_trace.values), dtype=torch.float64)
    init = float(out.init_loss)
    per_chain = torch.as_tensor(np.asarray(out.llc_per_chain.values), dtype=torch.float64)
    # SE the same way as ours, from its recorded trace after its burn-in (if the trace holds it)
    y = nbeta * (trace[:, -(steps - burn_in):] - init)
    ess = torch.stack([diagnostics.effective_sample_size(t) for t in y])
    se = float(torch.sqrt((y.var(1) / ess).sum()) / y.shape[0])
    return float(per_chain.mean()), se, dt, trace.shape[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--chains", type=int, default=64)
    p.add_argument("--di-chains", type=int, default=4)
    p.add_argument("--steps", type=int, default=None, help="steps per chain (default: per problem)")
    p.add_argument("--mala-steps", type=int, default=20000)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-devinterp", action="store_true")
    p.add_argument("--reruns", type=int, default=0,
                   help="rerun ours with this many other seeds and compare their scatter with the stated SE")
    p.add_argument("--only", default="", help="run only problems whose name contains this")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    try:
        if args.no_devinterp:
            raise ImportError
        import devinterp  # noqa: F401

        have_di = True
    except ImportError:
        have_di = False
    gamma, eps = GAMMA, EPS
    n = 1000
    nbeta = llc.default_nbeta(n)
    # steps per chain: enough draws for a ~1-2% SE with 64 chains (NC's loss trace is 2× its mean)
    problems = [
        (potentials.linear_regression(n=n, d=10, device=device), 4000),
        (potentials.normal_crossing(n=n, device=device), 8000),
        (potentials.deep_linear_network(n=n, device=device), 4000),
        (potentials.reduced_rank_regression(4, 3, 8, n=n, device=device), 4000),
    ]
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, nβ = {nbeta:.4g} (n = {n}), "
          f"γ = {gamma:g}, SGLD ε = {eps:g} for both libraries; burn-in = steps/4")
    print("devinterp 2.0.1: " + ("installed" if have_di else "NOT INSTALLED (pip install 'slt-lessons[bench]'); our side only"))
    rows = []
    for pr, steps in problems:
        if args.only not in pr.name:
            continue
        steps = args.steps or steps
        burn_in = steps // 4
        ref, ref_se, how = reference_value(pr, nbeta, gamma, device, args.mala_steps)
        res, dt = ours(pr, args, steps, device)
        rate = args.chains * steps / dt
        row = dict(name=pr.name, lam=pr.lam, ref=ref, ref_se=ref_se, how=how, steps=steps, llc=res.llc, se=res.se,
                   rhat=res.rhat, dt=dt, rate=rate, acc=float(res.acceptance.nanmean()), div=int(res.diverged.sum()),
                   flags=",".join(res.flags) or "none")
        auto, auto_dt = ours(pr, args, steps, device, defaults=True)
        row.update(auto=auto.llc, auto_se=auto.se, auto_dt=auto_dt, auto_how=f"{auto.sampler.upper()} ε = {auto.eps:.2g}",
                   auto_flags=",".join(auto.flags) or "none")
        if args.reruns:
            runs = [res] + [ours(pr, args, steps, device, seed=args.seed + k)[0] for k in range(1, args.reruns + 1)]
            est = torch.tensor([r.llc for r in runs])
            row.update(rerun_sd=float(est.std()), rerun_se=float(torch.tensor([r.se for r in runs]).mean()),
                       reruns=len(runs))
        if have_di:
            di, di_se, di_dt, T = devinterp_run(pr, args, steps, burn_in, gamma, eps, nbeta)
            row.update(di=di, di_se=di_se, di_dt=di_dt, di_rate=args.di_chains * steps / di_dt, di_T=T)
        rows.append(row)
        _print_row(row, args, have_di)


def _agree(est, se, ref, ref_se):
    s = math.hypot(se, ref_se)
    ok = abs(est - ref) <= 3 * s and abs(est - ref) <= 0.05 * abs(ref)
    return f"{(est - ref) / s:+.1f} SE, {100 * (est - ref) / ref:+.1f}% {'ok' if ok else 'MISS'}"


def _print_row(r, args, have_di):
    print(f"\n== {r['name']}: exact λ = {r['lam']:g}; reference {r['ref']:.4f} ± {r['ref_se']:.4f} ({r['how']}); {r['steps']} steps/chain")
    print(f"   ours      ({args.chains:4d} chains): {r['llc']:.4f} ± {r['se']:.4f}  [{_agree(r['llc'], r['se'], r['ref'], r['ref_se'])}]"
          f"  R̂ {r['rhat']:.3f}, accept {r['acc']:.3f}, diverged {r['div']}, flags {r['flags']};  {r['dt']:.2f} s, {r['rate']:,.0f} chain-steps/s")
    print(f"   ours, defaults ({r['auto_how']}): {r['auto']:.4f} ± {r['auto_se']:.4f}  "
          f"[{_agree(r['auto'], r['auto_se'], r['ref'], r['ref_se'])}]  flags {r['auto_flags']};  {r['auto_dt']:.2f} s")
    if "reruns" in r:
        print(f"   ours over {r['reruns']} seeds: estimates scatter with SD {r['rerun_sd']:.4f}; stated SE {r['rerun_se']:.4f} "
              f"(ratio {r['rerun_sd'] / r['rerun_se']:.2f}; an honest SE gives about 1, within ±{1 / math.sqrt(2 * (r['reruns'] - 1)):.2f})")
    if have_di:
        print(f"   devinterp ({args.di_chains:4d} chains): {r['di']:.4f} ± {r['di_se']:.4f}  [{_agree(r['di'], r['di_se'], r['ref'], r['ref_se'])}]"
              f"  (its average includes its burn-in; {r['di_T']} steps recorded);  {r['di_dt']:.2f} s, {r['di_rate']:,.0f} chain-steps/s")
        print(f"   speed ratio (chain-steps/s, ours / devinterp): {r['rate'] / r['di_rate']:.1f}×")


if __name__ == "__main__":
    main()
