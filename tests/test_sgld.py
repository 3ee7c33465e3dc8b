"""SGLD: the update rule, its exact stationary variance, and batched chains = chains one by one."""

import math

import pytest
import torch

from slt_lessons import potentials, sgld
from slt_lessons.chains import block_steps
from slt_lessons.targets import module_target, potential_target


def test_sgld_step_matches_the_formula_entry_by_entry():
    g = torch.Generator().manual_seed(0)
    w, grad, w_star, noise = (torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(4))
    eps, nbeta, gamma = 0.01, 50.0, 3.0
    got = sgld.sgld_step(w, grad, w_star, eps, nbeta, gamma, noise)
    for c in range(3):
        for i in range(4):
            drift = nbeta * grad[c, i] + gamma * (w[c, i] - w_star[c, i])
            want = w[c, i] - eps / 2 * drift + math.sqrt(eps) * noise[c, i]
            assert abs(float(got[c, i] - want)) < 1e-14


def test_stationary_variance_includes_the_discretisation():
    # eps*(kappa+gamma) = 1: the continuous-time variance 1/a is inflated by 1/(1 - 1/4) = 4/3.
    kappa, gamma, eps = 3.0, 1.0, 0.25
    v = sgld.stationary_variance(kappa, gamma, eps)
    assert v == pytest.approx(1 / 4 / 0.75, rel=1e-12)
    # Independent check: the AR(1) w' = r w + sqrt(eps) xi has variance eps / (1 - r^2).
    r = 1 - eps * (kappa + gamma) / 2
    assert v == pytest.approx(eps / (1 - r**2), rel=1e-12)


def test_empirical_stationary_variance_matches_closed_form():
    # 20000 independent chains of w' = r w + sqrt(eps) xi with r = 0.5; after 60 steps the
    # start is forgotten (r^60 ~ 1e-18), so the final states are i.i.d. draws of the stationary law.
    # The sample variance of C i.i.d. Gaussians has relative SD sqrt(2/C) = 1.0%; allow 5 SD.
    # The discretisation-free value 1/a is 25% off, far outside.
    kappa, gamma, eps, C = 3.0, 1.0, 0.25, 20000
    g = torch.Generator().manual_seed(1)
    w0 = torch.zeros(C, 1, dtype=torch.float64)
    states = sgld.sgld_chain(lambda w: kappa * w, w0, 0.0, eps, 1.0, gamma, 60, g)
    var = float(states[-1].var())
    want = sgld.stationary_variance(kappa, gamma, eps)
    assert abs(var / want - 1) < 5 * math.sqrt(2 / C)
    assert abs(var * (kappa + gamma) - 1) > 0.2


def _quadratic_target(kappa):
    return potential_target(lambda w: 0.5 * kappa * (w**2).sum(-1), torch.zeros(1, dtype=torch.float64), n=1)


def test_leimkuhler_matthews_samples_a_quadratic_exactly_where_euler_is_four_times_too_wide():
    # U = a w²/2 with a = κ + γ = 4 and ε = 0.75: εa = 3, where Euler's variance is 1/(a(1 − 3/4)) = 4/a.
    # LM's x_{t+1} = c x_t + √ε(ξ_t + ξ_{t+1})/2 with c = 1 − εa/2 has variance (ε/2)(1 + c)/(1 − c²) = 1/a
    # exactly. 20,000 chains for 60 steps (|c|⁶⁰ = 2⁻⁶⁰: the start is forgotten): their final states are
    # i.i.d. draws, whose sample variance has relative SD √(2/C) = 1.0%; allow 5 SD.
    kappa, gamma, eps, C = 3.0, 1.0, 0.75, 20000
    kw = dict(nbeta=1.0, gamma=gamma, eps=eps, n_steps=60, n_chains=C, seed=2)
    lm = sgld.sample_sgld(_quadratic_target(kappa), scheme="lm", **kw)
    euler = sgld.sample_sgld(_quadratic_target(kappa), **kw)
    a = kappa + gamma
    assert abs(float(lm.final.var()) * a - 1) < 5 * math.sqrt(2 / C)
    assert abs(float(euler.final.var()) / sgld.stationary_variance(kappa, gamma, eps) - 1) < 5 * math.sqrt(2 / C)


def test_leimkuhler_matthews_resumed_equals_one_run():
    # The noise a step averages with is carried over: two parts are the same run, draw for draw (split at a
    # block of draws, chains.block_steps, as a resumed run draws its next block afresh).
    target = _module_target()
    kw = dict(nbeta=100.0, gamma=10.0, eps=1e-3, n_chains=3, seed=4, batch_size=16, scheme="lm")
    k = block_steps(target.d)
    whole = sgld.sample_sgld(target, n_steps=k + 30, **kw)
    first = sgld.sample_sgld(target, n_steps=k, **kw)
    second = sgld.sample_sgld(target, n_steps=30, resume=first, **kw)
    torch.testing.assert_close(torch.cat([first.losses, second.losses], 1), whole.losses, rtol=0, atol=0)
    torch.testing.assert_close(second.final, whole.final, rtol=0, atol=0)
    euler = sgld.sample_sgld(target, n_steps=k + 30, **(kw | dict(scheme="euler")))
    assert not torch.equal(euler.losses, whole.losses)


def test_sgld_chain_draws_noise_once_per_step_from_the_generator():
    w0 = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    out = sgld.sgld_chain(lambda w: 2 * w, w0, torch.zeros(2, dtype=torch.float64), 0.01, 10.0, 1.0, 5, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    w = w0
    for t in range(5):
        noise = torch.randn(w.shape, generator=g, dtype=w.dtype)
        w = sgld.sgld_step(w, 2 * w, 0.0, 0.01, 10.0, 1.0, noise)
        torch.testing.assert_close(out[t], w, rtol=0, atol=0)
    assert out.shape == (5, 1, 2)


def _dln_target():
    pr = potentials.deep_linear_network(device="cpu")
    return potential_target(pr.model, pr.w_star, n=pr.n)


def _module_target(seed=0):
    pr = potentials.linear_regression(n=200, d=3, seed=seed, device="cpu")
    return module_target(pr.model, pr.loss_fn, pr.data)


@pytest.mark.parametrize("make, batch_size", [(_dln_target, None), (_module_target, None), (_module_target, 16)])
def test_batched_chains_equal_the_same_chains_run_one_by_one(make, batch_size):
    target = make()
    kw = dict(nbeta=100.0, gamma=10.0, eps=1e-3, n_steps=150, seed=3, batch_size=batch_size)
    batched = sgld.sample_sgld(target, chains=[0, 1, 2, 3], **kw)
    for c in range(4):
        alone = sgld.sample_sgld(target, chains=[c], **kw)
        # same draws, same arithmetic up to batched-vs-single kernels: float64 round-off only
        torch.testing.assert_close(alone.losses[0], batched.losses[c], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(alone.final[0], batched.final[c], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(batched.losses[0], batched.losses[1])  # chains really differ


def test_same_seed_same_run_other_seed_other_run():
    target = _dln_target()
    kw = dict(nbeta=100.0, gamma=10.0, eps=1e-3, n_steps=50, n_chains=3)
    a, b, c = sgld.sample_sgld(target, seed=5, **kw), sgld.sample_sgld(target, seed=5, **kw), sgld.sample_sgld(target, seed=6, **kw)
    assert torch.equal(a.losses, b.losses)
    assert not torch.allclose(a.losses, c.losses)


def test_float32_runs_and_stays_float32():
    pr = potentials.deep_linear_network(device="cpu")
    target = potential_target(pr.model, pr.w_star.float(), n=pr.n)
    run = sgld.sample_sgld(target, nbeta=100.0, gamma=10.0, eps=1e-3, n_steps=20, n_chains=2, progress=True)
    assert run.losses.dtype == torch.float32 and torch.isfinite(run.losses).all()


@pytest.mark.parametrize("bad, name", [(dict(eps=-1.0), "eps"), (dict(nbeta=0.0), "nbeta"), (dict(gamma=-2.0), "gamma"),
                                       (dict(n_steps=0), "n_steps"), (dict(n_chains=0), "n_chains"), (dict(seed=-1), "seed"),
                                       (dict(scheme="baoab"), "scheme")])
def test_bad_arguments_raise_naming_the_argument(bad, name):
    kw = dict(nbeta=100.0, gamma=10.0, eps=1e-3, n_steps=5, n_chains=2) | bad
    with pytest.raises(ValueError, match=name):
        sgld.sample_sgld(_dln_target(), **kw)


def test_minibatch_needs_data():
    with pytest.raises(ValueError, match="batch_size"):
        sgld.sample_sgld(_dln_target(), nbeta=1.0, gamma=1.0, eps=1e-3, n_steps=5, batch_size=10)


def test_sampler_modules_import_without_a_circle():
    # chains <- mala <- sgld <- llc; diagnostics imports no sampler. Read from the source, so an import
    # placed inside a function counts too.
    import ast
    import pathlib

    import slt_lessons

    root = pathlib.Path(slt_lessons.__file__).parent
    mods = ("chains", "diagnostics", "mala", "sgld", "llc", "calibration")

    def imports(m):
        found = set()
        for node in ast.walk(ast.parse((root / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "slt_lessons":
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("slt_lessons."):
                found.add(node.module.split(".")[1])
        return (found & set(mods)) - {m}

    graph = {m: imports(m) for m in mods}
    assert graph["chains"] == set() and graph["diagnostics"] == set() and graph["mala"] == {"chains"}

    def reaches(a, b, seen=()):
        return any(x == b or (x not in seen and reaches(x, b, seen + (x,))) for x in graph[a])

    assert not [m for m in mods if reaches(m, m)], graph
