"""The LLC along training: one estimate per checkpoint, the chains of many checkpoints run as one.

A model's development is read from its LLC at checkpoints along training (Hoogland et al. 2024,
"The developmental landscape of in-context learning", arXiv:2402.02364; lesson 6). Those numbers
are compared with each other, so :func:`estimate_llcs` estimates them all at the same nβ = n/log n
and, by default, the same γ and ε, chosen once: γ sets how far the chains may go from w* and ε
how much the step inflates the estimate (:func:`slt_lessons.llc.estimate_llc`), and a ratio of
two LLCs taken at different γ or ε mixes the change of the model with the change of the
estimator. This is also how devinterp users sweep checkpoints: one calibrated (ε, γ, nβ) for
the whole run.

With one ε and γ, the chains of K checkpoints can run as one batched SGLD computation: the
K × C chains are the rows of one ``(K·C, d)`` tensor, row k·C + c localized at its own w*_k
(a target whose ``w_star`` is ``(K·C, d)``, :func:`slt_lessons.sgld.sample_sgld`; a target that
centred each row instead, W = w*_k + u with one w* = 0, would need no change to the sampler, but
once a chain diverges the sampler evaluates only the rows still running, and such a target could
not tell whose they are). Row k·C + c draws from the generator of chain c, as chain c of an
estimate of checkpoint k alone does, so the batched estimate of each checkpoint is the
one-at-a-time estimate, to float round-off (bit for bit on the CPU, in tests/test_checkpoints.py); each
gets the same diagnostics and flags as :func:`~slt_lessons.llc.estimate_llc` gives
(``llc._Run.result``). How many checkpoints share a batch follows from a memory estimate
(:func:`checkpoints_per_batch`).
"""

from __future__ import annotations

import copy
import math
import warnings

import torch

from slt_lessons import llc, sgld
from slt_lessons.chains import block_steps, positive_int
from slt_lessons.targets import Target

__all__ = ["estimate_llcs", "checkpoints_per_batch", "MEMORY_BUDGET"]

MEMORY_BUDGET = 2 * 2**30  # bytes a batch may take on the CPU (on CUDA: half the free memory)


def estimate_llcs(
    model,
    checkpoints,
    loss_fn=None,
    data=None,
    *,
    evaluate=None,
    params=None,
    n: int | None = None,
    nbeta: float | None = None,
    gamma: float | str | None = None,
    eps: float | str | None = None,
    reference=-1,
    sampler: str = "lm",
    n_chains: int = llc.DEFAULTS["n_chains"],
    n_steps: int | None = None,
    max_steps: int = llc.DEFAULTS["max_steps"],
    burn_in: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    check_gamma: bool | None = None,
    acceptance_every: int = 100,
    divergence_drop: float | None = None,
    max_batch: int | None = None,
    memory_budget: int | None = None,
    progress: bool = True,
    device=None,
    dtype=None,
):
    """The LLC at each checkpoint: a list of :class:`~slt_lessons.llc.LLCResult` (a dict for a dict).

    ``checkpoints``: a list of state dicts of ``model`` (or a dict name → state dict), loaded
    into a copy of ``model`` in turn; for a potential (``model`` a callable), points w* ``(d,)``.
    ``loss_fn``, ``data``, ``evaluate``, ``params``, ``n``, ``batch_size``, ``seed``, ``n_chains``,
    ``n_steps``, ``max_steps``, ``burn_in``, ``check_gamma``, ``acceptance_every``,
    ``divergence_drop``, ``device`` and ``dtype`` mean what they mean for
    :func:`~slt_lessons.llc.estimate_llc`, and each result is the one ``estimate_llc`` gives
    that checkpoint at the same nβ, γ, ε and ``sampler``, to float round-off.

    - nβ = n/log n for all (``nbeta`` overrides).
    - γ and ε, the same for all: by default γ = ``llc.default_gamma`` at the ``reference``
      checkpoint (an index, or a name for a dict; default the last, the trained model), and ε
      that of ``estimate_llc`` for SGLD there (its bias on the local quadratic model is 2%).
      A number is used for all; ``"each"`` chooses that checkpoint's own (and then the
      checkpoints run one at a time). The bias of the shared ε is recomputed at each checkpoint
      and reported (``bias_bound``, flag ``step``): a checkpoint that needs a smaller step says so.
    - ``sampler``: ``"lm"`` (SGLD with Leimkuhler–Matthews noise, default) or ``"sgld"``.
    - ``max_batch``: the most checkpoints in one batch (1: one at a time); by default as many as
      :func:`checkpoints_per_batch` finds fit in ``memory_budget`` bytes (half the free memory
      on CUDA, :data:`MEMORY_BUDGET` = 2 GiB elsewhere). Checkpoints whose buffers (or parameters
      not sampled, see ``params``) differ run one at a time: a batch shares them.

    Left to the library (``n_steps=None``), each checkpoint's run is lengthened while it is
    unsettled, as ``estimate_llc`` does, the unsettled ones together. ``settings`` of each result
    adds ``checkpoint`` (its index or name) and ``batch`` (how many checkpoints ran beside it,
    itself included). One ``RuntimeWarning`` lists the checkpoints with flags.
    """
    names, points = _named(checkpoints)
    ref = _reference_index(reference, names, isinstance(checkpoints, dict))
    if sampler not in ("lm", "sgld"):
        raise ValueError(f"sampler must be 'lm' or 'sgld' (SGLD runs the checkpoints as one batch), got {sampler!r}")
    make = _target_maker(model, loss_fn, data, evaluate, params, n, device, dtype)
    _same_size(model, points)
    ref_target = make(points[ref])
    nbeta = llc.default_nbeta(_dataset_size(ref_target)) if nbeta is None else _number("nbeta", nbeta, positive=True)
    n_steps, burn_in, auto, auto_burn_in = llc._run_lengths(n_steps, burn_in, max_steps)
    chains = list(range(positive_int("n_chains", n_chains)))
    each_gamma, each_eps = _each("gamma", gamma), _each("eps", eps)
    if gamma is None:
        gamma = llc.default_gamma(nbeta, ref_target.w_star)
    elif not each_gamma:
        gamma = _number("gamma", gamma)
    if eps is None:  # chosen once, at the reference
        g = llc.default_gamma(nbeta, ref_target.w_star) if each_gamma else gamma
        eps = _Member(ref_target, nbeta, g, sampler, batch_size, burn_in, n_steps, seed, acceptance_every, False
                      ).prepare(None, chains)
    elif not each_eps:
        eps = _number("eps", eps, positive=True)
    if max_batch is not None:
        positive_int("max_batch", max_batch)
    per_batch = 1 if each_gamma or each_eps else min(max_batch or len(points), checkpoints_per_batch(
        ref_target, n_chains, batch_size=batch_size, acceptance_every=acceptance_every, max_steps=max_steps,
        budget=memory_budget))
    sampled = ref_target.names
    del ref_target
    cfg = dict(nbeta=nbeta, sampler=sampler, batch_size=batch_size, burn_in=burn_in, n_steps=n_steps, seed=seed,
               acceptance_every=acceptance_every, chains=chains, auto=auto, auto_burn_in=auto_burn_in,
               max_steps=max_steps, drop=divergence_drop, check_gamma=check_gamma, progress=progress)
    results = []
    for group in _groups(points, per_batch, sampled):
        targets = [make(points[k]) for k in group]
        gammas = [llc.default_gamma(nbeta, t.w_star) if each_gamma else gamma for t in targets]
        for k, res in zip(group, _estimate_group(targets, gammas, None if each_eps else eps, cfg)):
            res.settings.update(checkpoint=names[k], batch=len(group))
            results.append(res)
    _warn(names, results)
    return dict(zip(names, results)) if isinstance(checkpoints, dict) else results


def checkpoints_per_batch(target: Target, n_chains: int, *, batch_size=None, acceptance_every=100,
                          max_steps=llc.DEFAULTS["max_steps"], budget=None) -> int:
    """How many checkpoints' chains fit in one batched SGLD run: ⌊budget / (n_chains · bytes per row)⌋, at least 1.

    Bytes per row (one chain), roughly: what autograd saves for one row's backward pass,
    measured on the data a step evaluates (the full data when there is no minibatching or when
    the acceptance diagnostic runs, whose full-batch proposals then set the peak; else one
    minibatch), plus its noise block (``chains.block_steps(d)`` steps of d numbers), a dozen
    d-vectors of state, its minibatch indices and its loss trace of ``max_steps``. ``budget``:
    bytes, by default half the free memory on CUDA and :data:`MEMORY_BUDGET` elsewhere.
    """
    w = target.w_star
    if budget is None:
        budget = torch.cuda.mem_get_info(w.device)[0] // 2 if w.device.type == "cuda" else MEMORY_BUDGET
    saved = 0

    def pack(t):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    full = batch_size is None or bool(acceptance_every)
    idx = None if full else torch.zeros(1, batch_size, dtype=torch.long, device=w.device)
    W = w[None].detach().requires_grad_(True)  # through autograd, even where the target has a faster gradient:
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):  # it keeps as much
        torch.autograd.grad(target.loss(W, idx).sum(), W)
    k, size = block_steps(target.d), w.element_size()
    row = saved + size * target.d * (k + 12) + 8 * k * (batch_size or 0) + size * max_steps
    return max(1, int(budget // (positive_int("n_chains", n_chains) * row)))


class _Rows(Target):
    """The target of a batch: the loss of its checkpoints (which share it), and one w* per row, ``(R, d)``."""

    @property
    def d(self) -> int:
        return self.w_star.shape[-1]


class _Member(llc._Run):
    """One checkpoint's run, whose chains are rows of a batched computation: the batch samples
    (:func:`_sample_together`) and the run keeps its rows, so that ``_Run.sample``, ``extend`` and
    ``result`` do the rest as for an estimate on its own."""

    part = None  # this checkpoint's rows of the batch's last run (sgld.SGLDRun)

    def prepare(self, eps, chains):
        """What the batch needs before it runs: L_n(w*), the step (``eps``, or the default if None) and
        the divergence threshold; returns the step."""
        self.chains, self.init_loss = chains, float(self.target.full_loss(self.target.w_star[None])[0])
        self.used_eps = super()._langevin_eps(eps, chains)
        return self.used_eps

    def _langevin_eps(self, eps, chains):
        return self.used_eps  # prepared

    def _sgld(self, resume, n_steps):
        return self.part  # sampled by the batch


def _estimate_group(targets, gammas, eps, cfg):
    """The results of the checkpoints ``targets``, sampled together: as ``estimate_llc`` does for one."""
    members = [_member(t, g, cfg, cfg["burn_in"], cfg["n_steps"]) for t, g in zip(targets, gammas)]
    for m in members:
        m.prepare(eps, cfg["chains"])
    _sample_together(members, cfg["n_steps"], resume=False, progress=cfg["progress"])
    for m in members:
        m.sample(m.used_eps, cfg["chains"])
    results = [m.result(cfg["drop"], None) for m in members]
    while cfg["auto"]:  # lengthen the unsettled runs, together: each doubles as it would alone
        late = [i for i, (m, r) in enumerate(zip(members, results))
                if set(r.flags) & set(llc.UNSETTLED) and 2 * m.n_steps <= cfg["max_steps"]]
        if not late:
            break
        more = members[late[0]].n_steps
        _sample_together([members[i] for i in late], more, resume=True, progress=cfg["progress"])
        for i in late:
            members[i].extend(more)
            members[i].burn_in = members[i].n_steps // 4 if cfg["auto_burn_in"] else members[i].burn_in
            results[i] = members[i].result(cfg["drop"], None)
    _check_gamma(members, results, cfg)
    for m, r in zip(members, results):
        r.settings = m.settings(len(cfg["chains"]), cfg["n_steps"], _checks_gamma(m, cfg))
    return results


def _check_gamma(members, results, cfg):
    """The run at γ/2 of each finite estimate (``estimate_llc``'s ``gamma`` flag), batched by run length."""
    todo = [i for i, (m, r) in enumerate(zip(members, results)) if math.isfinite(r.llc) and _checks_gamma(m, cfg)]
    for length in sorted({(members[i].n_steps, members[i].burn_in) for i in todo}):
        group = [i for i in todo if (members[i].n_steps, members[i].burn_in) == length]
        chains = llc._gamma_chains(len(cfg["chains"]))
        halves = [_member(members[i].target, members[i].gamma / 2, cfg, length[1], length[0]) for i in group]
        for i, h in zip(group, halves):
            h.prepare(results[i].eps, chains)
        _sample_together(halves, length[0], resume=False, progress=False)
        for i, h in zip(group, halves):
            h.sample(h.used_eps, chains)
            llc._judge_gamma(results[i], h.result(cfg["drop"], None), members[i].gamma / 2)


def _checks_gamma(member, cfg) -> bool:
    check = cfg["check_gamma"]
    return llc._cheap_gamma_check(member.target, cfg["batch_size"]) if check is None else bool(check)


def _member(target, gamma, cfg, burn_in, n_steps):
    return _Member(target, cfg["nbeta"], gamma, cfg["sampler"], cfg["batch_size"], burn_in, n_steps, cfg["seed"],
                   cfg["acceptance_every"], False)


def _sample_together(members, n_steps, *, resume, progress):
    """Run the chains of ``members`` (prepared, same γ and ε) as one SGLD computation, ``n_steps``
    more steps if ``resume``; each member's rows go to its ``part``."""
    first, C = members[0], len(members[0].chains)
    assert all(m.gamma == first.gamma and m.used_eps == first.used_eps for m in members)
    w_star = torch.cat([m.target.w_star.expand(C, -1) for m in members])
    rows = _Rows(**{**vars(first.target), "w_star": w_star})
    stop = torch.tensor([m._stop_above() for m in members], dtype=w_star.dtype, device=w_star.device)
    run = sgld.sample_sgld(rows, nbeta=first.nbeta, gamma=first.gamma, eps=first.used_eps, n_steps=n_steps,
                           chains=first.chains * len(members), seed=first.seed, batch_size=first.batch_size,
                           acceptance_every=first.acceptance_every, stop_above=stop.repeat_interleave(C),
                           resume=_stack([m.run for m in members]) if resume else None, progress=progress,
                           scheme="lm" if first.sampler == "lm" else "euler")
    for k, m in enumerate(members):
        m.part = _rows(run, slice(k * C, (k + 1) * C))


def _stack(runs):
    """One :class:`sgld.SGLDRun` of the rows of ``runs``, in order (to resume them together)."""
    cat = lambda name: torch.cat([getattr(r, name) for r in runs])  # noqa: E731
    return sgld.SGLDRun(losses=cat("losses"), final=cat("final"), acceptance=cat("acceptance"),
                        chains=sum((r.chains for r in runs), []), stopped=cat("stopped"),
                        gens=sum((r.gens for r in runs), []), pending=None if runs[0].pending is None else cat("pending"))


def _rows(run, sl):
    """The rows ``sl`` of a :class:`sgld.SGLDRun`."""
    return sgld.SGLDRun(losses=run.losses[sl], final=run.final[sl], acceptance=run.acceptance[sl],
                        chains=run.chains[sl], stopped=run.stopped[sl], gens=run.gens[sl],
                        pending=None if run.pending is None else run.pending[sl])


# ---- arguments


def _named(checkpoints):
    """(names, points): a list's indices, or a dict's keys, and the checkpoints."""
    if isinstance(checkpoints, dict):
        names, points = list(checkpoints), list(checkpoints.values())
    elif isinstance(checkpoints, (list, tuple)):
        names, points = list(range(len(checkpoints))), list(checkpoints)
    else:
        raise ValueError(f"checkpoints must be a list of state dicts (or points w*), or a dict name -> state dict, "
                         f"got {type(checkpoints).__name__}")
    if not points:
        raise ValueError("checkpoints is empty")
    return names, points


def _reference_index(reference, names, by_name) -> int:
    """The index of the reference checkpoint: a dict's key (tried first), or an index into the checkpoints."""
    if by_name and reference in names:
        return names.index(reference)
    if isinstance(reference, int) and not isinstance(reference, bool) and -len(names) <= reference < len(names):
        return reference % len(names)
    raise ValueError(f"reference must be a checkpoint's index in [-{len(names)}, {len(names)})"
                     f"{' or its name' if by_name else ''}, got {reference!r}")


def _target_maker(model, loss_fn, data, evaluate, params, n, device, dtype):
    """checkpoint -> the :class:`Target` of ``model`` there (a state dict), or of a potential at a point w*."""
    if isinstance(model, torch.nn.Module):
        def make(state):
            if not isinstance(state, dict):
                raise ValueError(f"with a model, each checkpoint must be a state dict, got {type(state).__name__}")
            at = copy.deepcopy(model)
            at.load_state_dict(state)
            return llc.make_target(at, loss_fn, data, evaluate=evaluate, params=params, device=device, dtype=dtype)
    else:
        def make(point):
            return llc.make_target(model, w_star=point, n=n, device=device, dtype=dtype)
    return make


def _dataset_size(target) -> int:
    if target.n is None:
        raise ValueError("a potential has no dataset: give n (the dataset size) or nbeta")
    return target.n


def _each(name, value) -> bool:
    """Whether ``value`` is ``"each"`` (chosen at each checkpoint); another string is an error."""
    if isinstance(value, str) and value != "each":
        raise ValueError(f"{name} must be a number, None (chosen once) or 'each', got {value!r}")
    return isinstance(value, str)


def _number(name, value, positive=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (
            positive and value == 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number, or None "
                         f"(chosen once) or 'each', got {value!r}")
    return float(value)


def _groups(points, per_batch, sampled):
    """The checkpoints' indices in batches of ``per_batch``, or of one where what they hold fixed differs."""
    if sampled is not None and not _same_held(points, set(sampled)):
        per_batch = 1
    return [list(range(i, min(i + per_batch, len(points)))) for i in range(0, len(points), per_batch)]


def _same_held(states, sampled) -> bool:
    """Whether the state dicts agree on all but the ``sampled`` parameters (on buffers, and parameters held fixed)."""
    held = [k for k in states[0] if k not in sampled]
    return all(k in s and torch.equal(s[k].cpu(), states[0][k].cpu()) for s in states[1:] for k in held)


def _same_size(model, points):
    """Points w* of a potential must have one size (a model's state dicts are checked as they load)."""
    if not isinstance(model, torch.nn.Module):
        d = {torch.as_tensor(p).numel() for p in points}
        if len(d) > 1:
            raise ValueError(f"the checkpoints (points w*) have different numbers of parameters {sorted(d)}")


def _warn(names, results):
    flagged = [f"{name} ({', '.join(r.flags)})" for name, r in zip(names, results) if r.flags]
    if flagged:
        warnings.warn(f"LLC estimates not trusted at {len(flagged)} of {len(results)} checkpoints: "
                      f"{'; '.join(flagged)}; see each result's flags", RuntimeWarning, stacklevel=3)
