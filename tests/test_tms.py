"""The toy model of superposition (slt_lessons.tms), against independent references:
quadrature and Monte Carlo for the loss, finite differences for its derivatives, the exact
symmetries, and closed forms for the dead columns and the critical sample size."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from slt_lessons import tms

C = 6


@pytest.fixture(scope="module")
def kgons():
    """The k-gons at their optimal (l, b): 4-gon, 5-gon (negative dead bias), 5-gon with the
    positive dead bias 1/(2c), 6-gon."""
    return {
        "4": tms.kgon(4, C, device="cpu"),
        "5": tms.kgon(5, C, device="cpu"),
        "5+": tms.kgon(5, C, dead_bias="optimal", device="cpu"),
        "6": tms.kgon(6, C, device="cpu"),
    }


@pytest.fixture(scope="module")
def table():
    return {row.name: row for row in tms.kgon_table(C, device="cpu")}


def random_w(gen, n=1, scale=0.7):
    return scale * torch.randn(n, 3 * C, generator=gen, dtype=torch.float64)


def loss_by_quadrature(w):
    """(1/c) Σ_i Σ_j ∫₀¹ (μ δ_ij − ReLU(μ A_ji + b_j))² dμ, each integral by scipy's quad."""
    W, b = w[: 2 * C].reshape(2, C).numpy(), w[2 * C:].numpy()
    A = W.T @ W
    total = 0.0
    for i in range(C):
        for j in range(C):
            a, bj, d = A[j, i], b[j], float(i == j)
            kink = -bj / a if a != 0 else None
            points = [kink] if kink is not None and 0 < kink < 1 else None
            total += quad(lambda m: (d * m - max(a * m + bj, 0.0)) ** 2, 0, 1, points=points,
                          epsabs=1e-13, epsrel=1e-13)[0]
    return total / C


def reconstruction_error(w, x):
    """‖x − ReLU(WᵀWx + b)‖² row by row, written directly from the model."""
    W, b = w[: 2 * C].reshape(2, C), w[2 * C:]
    return ((x - torch.relu(x @ W.T @ W + b)) ** 2).sum(1)


# ---------------------------------------------------------------- the loss


def test_loss_matches_quadrature(gen):
    ws = torch.cat([random_w(gen, 4), random_w(gen, 2, scale=1.5)])
    ws[0, [5, 11]] = 0.0  # a dead column (W_5 = 0) with a positive bias
    ws[0, 17] = 0.2
    ws[1, [5, 11]] = 0.0  # and one with a negative bias
    ws[1, 17] = -0.3
    got = tms.population_loss(ws, C)
    want = torch.tensor([loss_by_quadrature(w) for w in ws], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)


def test_loss_matches_monte_carlo(gen):
    w = random_w(gen)[0]
    N = 400_000
    i = torch.randint(0, C, (N,), generator=gen)
    mu = torch.rand(N, generator=gen, dtype=torch.float64)
    x = torch.zeros(N, C, dtype=torch.float64)
    x[torch.arange(N), i] = mu
    err = reconstruction_error(w, x)
    se = float(err.std()) / math.sqrt(N)
    assert abs(float(tms.population_loss(w, C)) - float(err.mean())) < 4 * se


def test_loss_is_batched_over_leading_dimensions(gen):
    ws = random_w(gen, 6)
    out = tms.population_loss(ws.reshape(2, 3, 3 * C), C)
    assert out.shape == (2, 3)
    torch.testing.assert_close(out.reshape(-1), torch.stack([tms.population_loss(w, C) for w in ws]))
    pot = tms.potential(C)
    torch.testing.assert_close(pot(ws), tms.population_loss(ws, C) / 2)
    torch.testing.assert_close(tms.potential(C, halved=False)(ws), tms.population_loss(ws, C))


def test_pack_unpack_round_trip(gen):
    w = random_w(gen, 3)
    W, b = tms.unpack(w, C)
    assert W.shape == (3, 2, C) and b.shape == (3, C)
    torch.testing.assert_close(tms.pack(W, b), w)
    assert torch.equal(W[0, 1], w[0, C: 2 * C])  # row-major: the second row of W is w[c:2c]


def test_gradient_matches_finite_differences(gen):
    w = random_w(gen)[0].requires_grad_(True)
    (grad,) = torch.autograd.grad(tms.population_loss(w, C), w)
    h, eye = 1e-6, torch.eye(3 * C, dtype=torch.float64)
    with torch.no_grad():
        fd = torch.stack([(tms.population_loss(w + h * e, C) - tms.population_loss(w - h * e, C)) / (2 * h)
                          for e in eye])
    torch.testing.assert_close(grad, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("where", ["random", "6-gon"])
def test_hessian_matches_finite_differences_of_the_gradient(gen, kgons, where):
    w = random_w(gen)[0] if where == "random" else kgons["6"][0]

    def grad(v):
        v = v.clone().requires_grad_(True)
        return torch.autograd.grad(tms.population_loss(v, C), v)[0]

    h, eye = 1e-5, torch.eye(3 * C, dtype=torch.float64)
    fd = torch.stack([(grad(w + h * e) - grad(w - h * e)) / (2 * h) for e in eye])
    torch.testing.assert_close(tms.hessian(w, C), fd, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- symmetries


def test_rotation_and_permutation_leave_the_loss_unchanged(gen, kgons):
    perm = torch.randperm(C, generator=gen)
    for w in [random_w(gen)[0], kgons["5"][0], kgons["6"][0]]:
        L0 = tms.population_loss(w, C)
        for theta in torch.rand(3, generator=gen, dtype=torch.float64) * 2 * math.pi:
            torch.testing.assert_close(tms.population_loss(tms.rotate(w, theta, C), C), L0, rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(tms.population_loss(tms.permute(w, perm, C), C), L0, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------- k-gons, dead columns, λ


def test_kgons_are_critical_points(kgons):
    for name in ("5", "5+", "6"):
        w = kgons[name][0].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(tms.population_loss(w, C), w)
        assert float(g.norm()) < 1e-10, name


def test_kgon_geometry(kgons):
    w, l, b = kgons["5"]
    W, bias = tms.unpack(w, C)
    torch.testing.assert_close(W[:, :5].norm(dim=0), torch.full((5,), l, dtype=torch.float64))
    angles = torch.atan2(W[1, :5], W[0, :5]) % (2 * math.pi)
    torch.testing.assert_close(angles, 2 * math.pi * torch.arange(5, dtype=torch.float64) / 5, atol=1e-12, rtol=0)
    assert float(W[:, 5].abs().max()) == 0.0 and float(bias[5]) < 0
    assert tms.live_columns(torch.stack([kgons[k][0] for k in ("4", "5", "6")]), C).tolist() == [4, 5, 6]


def test_dead_column_bias_closed_form(kgons):
    """A dead column adds (1/c)(1/3 − B + cB²) for B ≥ 0 and 1/(3c) for B ≤ 0 (W_d = 0)."""
    w5, w5p = kgons["5"][0], kgons["5+"][0]
    L5, L5p = float(tms.population_loss(w5, C)), float(tms.population_loss(w5p, C))
    assert L5p - L5 == pytest.approx(-1 / (4 * C**2), abs=1e-13)
    assert float(w5p[-1]) == pytest.approx(1 / (2 * C))
    at = lambda B: float(tms.population_loss(torch.cat([w5[:-1], torch.tensor([B], dtype=torch.float64)]), C))
    h = 1e-6
    assert (at(h) - at(0.0)) / h == pytest.approx(-1 / C, rel=1e-4)  # b_d = 0: not a critical point
    assert at(-h) == at(0.0) == at(-0.5)  # b_d < 0: exactly flat
    # the 4-gon with l = 1, b = 0 reconstructs its 4 features exactly: only the 2 dead ones are lost
    assert float(tms.population_loss(kgons["4"][0], C)) == pytest.approx((C - 4) / (3 * C), abs=1e-12)


def test_ranks_give_the_learning_coefficients(table):
    """5-gon: λ = 7; 5-gon with positive dead bias and 6-gon: λ = 17/2 (d = 18)."""
    for name, rank in (("5-gon", 14), ("5-gon, positive dead bias", 17), ("6-gon", 17)):
        row = table[name]
        assert row.n_negative == 0, name  # local minima
        assert row.grad_norm < 1e-10, name
        assert row.rank == rank and row.lam_hessian == rank / 2, name
        assert row.zero_modes_exact and row.rule_applies, name
        assert row.smallest_positive > 1e-3, name  # a clear gap above the zero modes


def test_zero_modes_are_the_rotation_and_the_flat_dead_column(kgons):
    zm = tms.zero_modes(kgons["5"][0], C)
    assert zm["nullity"] == 4 and zm["unexplained"] < 1e-10 and zm["exact"]
    assert zm["orbit_change"] < 1e-15 and zm["flat_change"] == 0.0
    zm6 = tms.zero_modes(kgons["6"][0], C)
    assert zm6["nullity"] == 1 and zm6["exact"]
    # a straight line tangent to the rotation orbit leaves it by O(t²): the loss grows as t⁴
    assert zm6["exponents"][0] == pytest.approx(4.0, abs=0.01)


def test_the_4gon_sits_on_a_relu_kink(table, kgons):
    row = table["4-gon"]
    assert not row.rule_applies and "kink" in row.note
    _, l, b = kgons["4"]
    assert l == pytest.approx(1.0, abs=1e-6) and b == pytest.approx(0.0, abs=1e-6)
    # one-sided second differences in the bias b_0 of a live column: for b_0 > 0 its output is
    # ReLU(b_0) = b_0 for the two orthogonal neighbours and the two dead inputs (A = 0), so
    # ∂²L = (2/c)(1 + 4) on the right and (2/c)·1 on the left (own input only): L is not C²
    w = tms.kgon(4, C, length=1.0, bias=0.0, device="cpu")[0]
    e = torch.zeros(3 * C, dtype=torch.float64)
    e[2 * C] = 1.0
    f = lambda t: float(tms.population_loss(w + t * e, C))
    t = 1e-4
    right, left = (f(2 * t) - 2 * f(t) + f(0)) / t**2, (f(-2 * t) - 2 * f(-t) + f(0)) / t**2
    assert right == pytest.approx(10 / C, rel=1e-3) and left == pytest.approx(2 / C, rel=1e-3)


def test_llc_estimates_approach_rank_over_two(kgons):
    """A short estimate_llc run (≈1.5 s each) at nβ = 1e5 on the population NLL L/2. The default γ
    lowers a quadratic direction of curvature h by nβh/(nβh + γ): −0.04 (5-gon) and −0.07 (6-gon)
    in all here (from the Hessian spectra); the allowance 0.15 covers that and higher orders."""
    import warnings

    from slt_lessons.llc import estimate_llc

    for name, lam in (("5", 7.0), ("6", 8.5)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any trust flag fails the test
            res = estimate_llc(tms.potential(C), w_star=kgons[name][0], nbeta=1e5, n_chains=8, n_steps=1500,
                               check_gamma=False, progress=False)
        assert abs(res.llc - lam) < 4 * res.se + 0.15, (name, res.llc, res.se)


# ---------------------------------------------------------------- free energy


def test_critical_n_solves_the_balance_and_moves_with_the_normalisation(table):
    L5, L6 = table["5-gon"].loss, table["6-gon"].loss
    for halved in (True, False):
        s = 0.5 if halved else 1.0
        n_c = tms.critical_n(L5, 7.0, L6, 8.5, halved=halved)
        assert s * n_c * (L5 - L6) == pytest.approx(1.5 * math.log(n_c), rel=1e-10)
        n = torch.tensor([n_c / 2, 2 * n_c])
        F = tms.free_energy_leading(n, torch.tensor([[L5], [L6]]), torch.tensor([[7.0], [8.5]]), halved=halved)
        assert F.argmin(0).tolist() == [0, 1]  # the 5-gon below n_c, the 6-gon above
    n_half, n_full = tms.critical_n(L5, 7.0, L6, 8.5), tms.critical_n(L5, 7.0, L6, 8.5, halved=False)
    assert n_half / n_full == pytest.approx(2 * math.log(n_half) / math.log(n_full), rel=1e-10)
    with pytest.raises(ValueError):  # higher loss and higher λ: never preferred, no transition
        tms.critical_n(L6, 8.5, L5, 7.0)


# ---------------------------------------------------------------- argument checks


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="w must have shape"):
        tms.population_loss(torch.zeros(17), C)
    with pytest.raises(ValueError, match="c must be"):
        tms.population_loss(torch.zeros(18), 1)
    with pytest.raises(ValueError, match="k must be"):
        tms.kgon(7, C)
    with pytest.raises(ValueError, match="dead_bias"):
        tms.kgon(5, C, dead_bias="positive")
    with pytest.raises(ValueError, match="perm"):
        tms.permute(torch.zeros(18), [0, 0, 1, 2, 3, 4], C)
    with pytest.raises(ValueError, match="n must be"):
        tms.free_energy_leading(1.0, 0.1, 7.0)


# ============================================================================ development: SGD through the k-gons


def test_minibatch_grad_matches_autograd():
    rng = np.random.default_rng(3)
    w = 0.7 * rng.standard_normal(3 * C)
    W, b = w[: 2 * C].reshape(2, C), w[2 * C:]
    i, mu = rng.integers(C, size=9), rng.random(9)
    gW, gb = tms._minibatch_grad(W, b, i, mu)
    wt = torch.tensor(w, requires_grad=True)
    Wt, bt = tms.unpack(wt, C)
    z = torch.tensor(mu)[:, None] * (Wt.T @ Wt)[:, torch.tensor(i)].T + bt
    x = torch.zeros(9, C, dtype=torch.float64)
    x[torch.arange(9), torch.tensor(i)] = torch.tensor(mu)
    ((torch.relu(z) - x) ** 2).sum(1).mean().backward()
    assert np.allclose(np.concatenate([gW.ravel(), gb]), wt.grad.numpy(), atol=1e-14)


def test_minibatch_loss_is_unbiased_for_population_loss():
    """The minibatch loss's mean over many inputs (the gradient's integrand) is the exact loss."""
    rng = np.random.default_rng(4)
    w = torch.tensor(0.7 * rng.standard_normal(3 * C))
    W, b = (t.numpy() for t in tms.unpack(w, C))
    i, mu = tms._sample_inputs(rng, C, 400_000)
    z = mu[:, None] * (W.T @ W)[:, i].T + b
    r = np.maximum(z, 0)
    r[np.arange(len(i)), i] -= mu
    per = (r**2).sum(1)
    assert abs(per.mean() - float(tms.population_loss(w, C))) < 4 * per.std() / math.sqrt(len(i))


@pytest.fixture(scope="module")
def short_run():
    """Seed 6 of the lesson's run, cut at 8,000 steps: the 4-gon plateau and the jump to the 5-gon."""
    return tms.train(C, steps=8000, lr=0.05, batch_size=4, init_scale=0.5, seed=6)


def test_train_is_reproducible(short_run):
    again = tms.train(C, steps=8000, lr=0.05, batch_size=4, init_scale=0.5, seed=6)
    assert torch.equal(again.w, short_run.w) and torch.equal(again.steps, short_run.steps)
    other = tms.train(C, steps=8000, lr=0.05, batch_size=4, init_scale=0.5, seed=7)
    assert not torch.equal(other.w, short_run.w)
    assert short_run.w.shape == (len(short_run.steps), 3 * C) and short_run.steps[-1] == 8000


def test_train_passes_the_4gon_and_ends_at_the_5gon(short_run, kgons):
    steps, loss, live = short_run.steps, short_run.loss, short_run.live
    L5 = float(tms.population_loss(kgons["5"][0], C))
    L4plus = 1 / 9 - 1 / (4 * C * C)  # the 4-gon with one positive dead bias 1/(2c)
    # a plateau with 4 live columns for steps 500-2000, its loss between the 4-gon's 1/9 (+1%, SGD's
    # noise) and the 4-gon's with one positive dead bias (where exact descent from it goes)
    plateau = (steps >= 500) & (steps <= 2000)
    assert bool((live[plateau] == 4).all())
    assert bool(((loss[plateau] >= L4plus) & (loss[plateau] <= 1.01 / 9)).all())
    # then the 5-gon, to SGD's noise (L sits ~0.5% above the minimum at lr/B = 0.0125)
    end = steps >= 4000
    assert bool((live[end] == 5).all()) and bool(((loss[end] - L5) / L5 < 0.02).all()) and bool((loss[end] >= L5).all())
    # non-increasing-ish: from step 50 on, never up by more than 3% between checkpoints
    later = loss[steps >= 50]
    assert bool((later[1:] <= 1.03 * later[:-1]).all())
    # descending from the end reaches the 5-gon exactly
    w, g = tms.descend(short_run.w[-1], C, steps=2000)
    assert abs(float(tms.population_loss(w, C)) - L5) < 1e-10 and float(g) < 1e-8


def test_stage_boundaries_of_a_synthetic_two_plateau_curve():
    """Two plateaus after an initial fall, with smooth sigmoidal drops in log time and small noise:
    each boundary is the checkpoint just after the fastest fall."""
    t = np.unique(np.round(np.expm1(np.linspace(0, math.log1p(1e5), 80)))).astype(float)
    s = np.log1p(t)
    L = 0.05 + 0.05 / (1 + np.exp((s - s[30]) * 8)) + 1.0 / (1 + np.exp((s - s[5]) * 8))
    # the fastest falls are the intervals around the midpoints s[5] and s[30]: boundary = 6 or 31
    rate = -np.diff(np.log(L)) / np.diff(s)
    expect = [int(np.argmax(rate[:15])) + 1, int(15 + np.argmax(rate[15:])) + 1]
    assert expect[1] in (30, 31)
    assert tms.stage_boundaries(t, L) == expect
    noisy = L * (1 + 0.002 * np.random.default_rng(0).standard_normal(len(L)))
    assert tms.stage_boundaries(t, noisy) == expect
    # a piecewise-constant curve: the boundaries are exactly the first checkpoints of each new level
    steps = np.arange(30)
    step_curve = np.where(steps < 10, 0.1, np.where(steps < 20, 0.07, 0.05))
    assert tms.stage_boundaries(steps, step_curve) == [10, 20]
    assert tms.stage_boundaries(steps, np.full(30, 0.1)) == []
    with pytest.raises(ValueError):
        tms.stage_boundaries([0, 2, 1], [0.3, 0.2, 0.1])


def test_stage_boundaries_of_the_run(short_run):
    b = tms.stage_boundaries(short_run.steps, short_run.loss)
    jump = [int(short_run.steps[k]) for k in b if short_run.live[k - 1] == 4 and short_run.live[k] == 5]
    assert len(jump) == 1 and 2000 < jump[0] < 4000
