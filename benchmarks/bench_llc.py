"""Benchmark: slt_lessons' LLC estimator against devinterp 2.0.1.

Default (the speed comparison, on fixed terms): a deep linear network [4, 3, 3, 4] (rank-1 truth) as an
``nn.Module`` with n = 1000 generated samples and the Gaussian NLL loss, full batch and minibatch 100,
three ways in one run, all in float32 on the same thread count:

- ours: one *default* ``estimate_llc`` call (64 chains, 3,000 steps, 1,000 burn-in; ε, sampler, the
  γ/2 check and every other overhead left to the library), timed after an untimed warm-up call;
  the figure is 64 × 3,000 requested chain-steps over its wall time;
- devinterp 2.0.1 (``devinterp.slt.llc.llc``): 4 chains, SGLD, the same steps and burn-in;
- a hand-written batched torch SGLD loop (no vmap; parameters stacked ``(C, out, in)``, ``bmm`` per
  layer, autograd) with as many chains as ours.

    python benchmarks/bench_llc.py                        # CPU: the fixed terms
    python benchmarks/bench_llc.py --device cuda --chains 512 --no-devinterp
    python benchmarks/bench_llc.py --accuracy             # the four problems with known λ (below)

``--accuracy`` runs the earlier comparison: for four problems it prints the exact λ, a reference value
of the same estimator (same nβ, γ; exact Gaussian formula, quadrature, or a long MALA run), each
estimate ± its standard error, wall time, chain-steps per second and the speed ratio, both libraries
with SGLD at a fixed ε. The loss is ½‖y − f(x)‖² per sample (Gaussian NLL, σ = 1), nβ = n/log n with
n = 1000. devinterp is optional (the ``bench`` extra; install it in a separate environment with torch
already present); without it only our side is printed.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
import warnings

import numpy as np
import torch

from slt_lessons import diagnostics, llc, mala, potentials, targets
from slt_lessons.targets import potential_target


def reference_value(pr, nbeta, gamma, device, mala_steps):
    """(value, SE) of E[nβ(L − L(w*))] under exp(−nβL − γ/2‖w − w*‖²), without SGLD."""
    if pr.name.startswith("linear"):
        x = pr.data[0]
        kappa = torch.linalg.eigvalsh(nbeta * x.T @ x / x.shape[0])
        return float(0.5 * (kappa / (kappa + gamma)).sum()), 0.0, "exact Gaussian"
    if pr.name.startswith("normal"):
        from scipy.integrate import trapezoid  # here: the speed comparison runs without scipy

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


# ----------------------------------------------------------------------------- the fixed-terms speed comparison
# The issue's terms, fixed so that the comparison cannot drift: ours with 64 chains (--chains), devinterp with 4,
# both in float32, 3,000 steps per chain with 1,000 of burn-in, the same thread count (one process).
SPEED_STEPS, SPEED_BURN_IN, SPEED_BATCH, SPEED_N = 3000, 1000, 100, 1000
SPEED_EPS = 1e-3  # devinterp's and the hand-written loop's SGLD step (ours chooses its own); speed barely depends on it
DLN_SHAPES = [(3, 4), (3, 3), (4, 3)]  # (out, in) of the layers of the DLN [4, 3, 3, 4]


def dln_module(n=SPEED_N, seed=0, device="cpu", dtype=torch.float32):
    """The DLN [4, 3, 3, 4] of ``potentials.deep_linear_network`` (rank-1 truth) as an ``nn.Sequential`` of bias-free
    ``nn.Linear`` layers at that truth, with n samples x ~ N(0, I₄), y = f(x) + N(0, I₄) (generated on the CPU)."""
    w_star = potentials.deep_linear_network(n=n, device="cpu").w_star.to(dtype)
    model = torch.nn.Sequential(*[torch.nn.Linear(c, r, bias=False, dtype=dtype) for r, c in DLN_SHAPES])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer, M in zip(model, potentials._split(w_star[None], DLN_SHAPES)):
            layer.weight.copy_(M[0])
        x = torch.randn(n, DLN_SHAPES[0][1], generator=g, dtype=dtype)
        y = model(x) + torch.randn(n, DLN_SHAPES[-1][0], generator=g, dtype=dtype)
    return model.to(device), x.to(device), y.to(device)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _trace_estimate(trace, init, nbeta, burn_in):
    """(estimate, SE) from loss traces (C, T) as ours computes them: mean after burn-in, SE from each chain's ESS."""
    y = nbeta * (trace[:, burn_in:].double() - init)
    ess = torch.stack([diagnostics.effective_sample_size(t) for t in y.cpu()])
    return float(y.mean()), float(torch.sqrt((y.var(1).cpu() / ess).sum()) / y.shape[0])


def ours_speed(model, x, y, args, device, batch_size, vmap=False):
    """One default ``estimate_llc`` call on the fixed terms, after an untimed warm-up call: (result, seconds).
    ``vmap``: with the model evaluated by ``vmap(functional_call)`` for every model, as before 2026-12-02."""
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # flags are printed with the row
            return llc.estimate_llc(model, potentials.gaussian_nll, (x, y), n_chains=args.chains, n_steps=args.steps,
                                    burn_in=args.burn_in, dtype=torch.float32, batch_size=batch_size)
    plan = targets._stack_plan
    if vmap:
        targets._stack_plan = lambda *a: None  # no model is a plain stack of layers: vmap(functional_call) for all
    try:
        call()  # warm-up: first-call costs (imports, caches), untimed
        _sync(device)
        t0 = time.perf_counter()
        res = call()
        _sync(device)
    finally:
        targets._stack_plan = plan
    return res, time.perf_counter() - t0


def handwritten_sgld(model, x, y, C, steps, eps, nbeta, gamma, batch_size, seed=0):
    """A hand-written batched torch SGLD loop, vmap-free: each layer's weights stacked ``(C, out, in)``, activations
    ``(C, rows, features)``, one ``bmm`` per layer, autograd for the gradient. Returns the loss traces ``(C, steps)``."""
    device = x.device
    w0 = [layer.weight.detach().expand(C, *layer.weight.shape).clone() for layer in model]
    W = [w.clone() for w in w0]
    n = x.shape[0]
    x_all = x.expand(C, *x.shape).contiguous()  # full batch: every chain's copy of the data, made once
    g = torch.Generator(device=device).manual_seed(seed)
    losses = torch.empty(C, steps, dtype=x.dtype, device=device)
    sq = math.sqrt(eps)
    for t in range(steps):
        if batch_size is None:
            xb, yb = x_all, y
        else:
            idx = torch.randint(n, (C, batch_size), generator=g, device=device)
            xb, yb = x[idx], y[idx]
        params = [w.requires_grad_(True) for w in W]
        h = xb
        for w in params:
            h = torch.bmm(h, w.transpose(1, 2))
        loss = 0.5 * ((yb - h) ** 2).sum(-1).mean(-1)  # (C,): each chain's Gaussian NLL
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            W = [w - (eps / 2) * (nbeta * gr + gamma * (w - w_0)) + sq * torch.randn(w.shape, generator=g, dtype=w.dtype,
                                                                                      device=device)
                 for w, gr, w_0 in zip(params, grads, w0)]
        losses[:, t] = loss.detach()
    return losses


def devinterp_speed(model, x, y, args, nbeta, gamma, batch_size, steps):
    """devinterp 2.0.1's ``llc`` (SGLD) on the same model and data: (per-chain-mean estimate, SE, seconds)."""
    from datasets import Dataset
    from devinterp.slt.llc import llc as di_llc

    n = x.shape[0]
    model = copy.deepcopy(model)
    dataset = Dataset.from_dict({"input_ids": [[i, i] for i in range(n)]}).with_format("torch")

    def loss_fn(m, input_ids):  # per sample ½‖y − f(x)‖², shape (batch, 1): devinterp averages it
        i = input_ids[:, 0].to(x.device)
        return (0.5 * ((y[i] - m(x[i])) ** 2).sum(-1))[:, None]

    def call(steps, burn_in):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return di_llc(model, dataset, {}, lr=SPEED_EPS, n_beta=nbeta, localization=gamma, num_chains=args.di_chains,
                          num_draws=steps - burn_in, num_burnin_steps=burn_in, batch_size=batch_size or n,
                          loss_fn=loss_fn, device=str(x.device), init_seed=args.seed)
    call(20, 10)  # warm-up, as for the others
    t0 = time.perf_counter()
    out = call(steps, args.burn_in)
    dt = time.perf_counter() - t0
    trace = torch.as_tensor(np.asarray(out.loss_trace.values), dtype=torch.float64)
    est, se = _trace_estimate(trace, float(out.init_loss), nbeta, trace.shape[1] - (steps - args.burn_in))
    return est, se, dt


def main_speed(args, device, have_di):
    args.steps = args.steps or SPEED_STEPS
    args.burn_in = min(SPEED_BURN_IN, args.steps // 3) if args.steps != SPEED_STEPS else SPEED_BURN_IN
    fixed = args.steps == SPEED_STEPS and args.di_chains == 4
    model, x, y = dln_module(device=device)
    n, nbeta = x.shape[0], llc.default_nbeta(x.shape[0])
    w_star = torch.cat([layer.weight.detach().reshape(-1) for layer in model])
    gamma = llc.default_gamma(nbeta, w_star)  # ours' default γ, given to the other two as well
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, float32; "
          f"DLN [4, 3, 3, 4] (rank-1 truth) as an nn.Module, n = {n}, Gaussian NLL, nβ = {nbeta:.4g}, γ = {gamma:.3g}")
    print(f"{args.steps} steps per chain, burn-in {args.burn_in}; ours: {args.chains} chains, one default estimate_llc "
          f"call after an untimed warm-up call, {args.chains} × {args.steps} requested chain-steps over its wall time; "
          f"hand-written loop: {args.chains} chains; devinterp: {args.di_chains} chains; SGLD ε = {SPEED_EPS:g} for "
          f"devinterp and the hand-written loop" + ("" if fixed else "   [NOT the issue's fixed terms]"))
    print("devinterp 2.0.1: " + ("installed" if have_di else "NOT INSTALLED (or --no-devinterp); no ratio against it"))
    summary = []
    for name, batch_size in (("full batch", None), (f"batch {SPEED_BATCH}", SPEED_BATCH)):
        if args.only and args.only not in name:
            continue
        print(f"\n== {name}")
        res, dt = ours_speed(model, x, y, args, device, batch_size)
        rate = args.chains * args.steps / dt
        s = res.settings
        how = (f"{llc.SAMPLER_NAMES.get(res.sampler, res.sampler)} ε = {res.eps:.2g}, {s['n_steps']} steps"
               + (", lengthened" if s.get("lengthened") else "")
               + (f", γ/2 check ({max(2, args.chains // 2)} chains)" if res.gamma_check is not None else ""))
        print(f"   ours            ({args.chains:4d} chains; {how}): {res.llc:.4f} ± {res.se:.4f}, "
              f"flags {','.join(res.flags) or 'none'};  {dt:.2f} s, {rate:,.0f} chain-steps/s")
        if args.vmap:
            old, old_dt = ours_speed(model, x, y, args, device, batch_size, vmap=True)
            print(f"   ours, vmap      ({args.chains:4d} chains; the same call, the model through vmap(functional_call) as "
                  f"before 2026-12-02): {old.llc:.4f} ± {old.se:.4f};  {old_dt:.2f} s, "
                  f"{args.chains * args.steps / old_dt:,.0f} chain-steps/s ({old_dt / dt:.1f}× the time)")
        handwritten_sgld(model, x, y, args.chains, 50, SPEED_EPS, nbeta, gamma, batch_size)  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        tr = handwritten_sgld(model, x, y, args.chains, args.steps, SPEED_EPS, nbeta, gamma, batch_size)
        _sync(device)
        hw_dt = time.perf_counter() - t0
        hw_rate = args.chains * args.steps / hw_dt
        with torch.no_grad():
            init = float(potentials.gaussian_nll(model(x), y))
        est, se = _trace_estimate(tr, init, nbeta, args.burn_in)
        print(f"   hand-written    ({args.chains:4d} chains; bmm SGLD loop, ε = {SPEED_EPS:g}): {est:.4f} ± {se:.4f};  "
              f"{hw_dt:.2f} s, {hw_rate:,.0f} chain-steps/s")
        line = f"{name}: ours {rate:,.0f} chain-steps/s; ours / hand-written {rate / hw_rate:.2f}×"
        if have_di:
            di, di_se, di_dt = devinterp_speed(model, x, y, args, nbeta, gamma, batch_size, args.steps)
            di_rate = args.di_chains * args.steps / di_dt
            print(f"   devinterp 2.0.1 ({args.di_chains:4d} chains; SGLD, ε = {SPEED_EPS:g}): {di:.4f} ± {di_se:.4f};  "
                  f"{di_dt:.2f} s, {di_rate:,.0f} chain-steps/s")
            line += f"; ours / devinterp 2.0.1 {rate / di_rate:.1f}× ({'≥' if rate >= 20 * di_rate else 'BELOW'} 20×)"
        print("   " + line.split(": ", 1)[1])
        summary.append(line)
    print("\nsummary (chain-steps/s):")
    for line in summary:
        print("   " + line)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accuracy", action="store_true",
                   help="the four problems with known λ at a fixed SGLD ε, instead of the fixed-terms speed comparison")
    p.add_argument("--device", default="cpu")
    p.add_argument("--chains", type=int, default=64, help="our chains (and the hand-written loop's)")
    p.add_argument("--di-chains", type=int, default=4)
    p.add_argument("--steps", type=int, default=None,
                   help="steps per chain (default: 3000 for the speed comparison, per problem for --accuracy)")
    p.add_argument("--mala-steps", type=int, default=20000)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-devinterp", action="store_true")
    p.add_argument("--reruns", type=int, default=0,
                   help="rerun ours with this many other seeds and compare their scatter with the stated SE")
    p.add_argument("--only", default="", help="run only problems (variants: 'full', 'batch') whose name contains this")
    p.add_argument("--vmap", action="store_true",
                   help="also time our call with every model evaluated through vmap(functional_call), as before 2026-12-02")
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
    if args.accuracy:
        main_accuracy(args, device, have_di)
    else:
        main_speed(args, device, have_di)


def main_accuracy(args, device, have_di):
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
