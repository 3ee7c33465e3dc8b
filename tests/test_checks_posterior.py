"""Lesson 1's checks: the reference and correct variants pass, plausible mistakes fail."""

import math

import pytest
import torch

from slt_lessons import models, posterior
from slt_lessons.checks import check, exercises
from slt_lessons.checks.runner import passes
from slt_lessons.checks.registry import get

IDS = [
    "posterior.gaussian_log_likelihood",
    "posterior.product_log_likelihood",
    "posterior.normalize_log_density",
    "posterior.tempered_log_posterior",
    "posterior.posterior_mean",
    "posterior.credible_threshold",
    "posterior.sample_grid",
    "posterior.credible_volume_exponent",
]




def test_all_lesson_1_exercises_are_registered():
    assert set(IDS) <= set(exercises())


@pytest.mark.parametrize("ex_id", IDS)
def test_reference_passes_both_suites(ex_id):
    assert passes(ex_id, get(ex_id).reference)


# ---------------------------------------------------------------- correct, written differently

def gll_via_torch_distributions(y, mean, sigma):
    return torch.distributions.Normal(mean, torch.as_tensor(sigma, dtype=y.dtype, device=y.device)).log_prob(y)


def pll_loop_over_data(a, b, x, y, sigma):
    total = torch.zeros(torch.broadcast_shapes(a.shape, b.shape), dtype=x.dtype, device=x.device)
    for xi, yi in zip(x, y):
        total = total + models.gaussian_log_likelihood(yi, a * b * xi, sigma)
    return total


def pll_broadcast(a, b, x, y, sigma):
    r = y - (a * b).unsqueeze(-1) * x
    return (-0.5 * (r / sigma) ** 2).sum(-1) - x.numel() * (math.log(sigma) + 0.5 * math.log(2 * math.pi))


def normalize_with_max_shift(log_density, log_weights):
    m = (log_density + log_weights).max()
    return log_density - (m + torch.log(torch.exp(log_density + log_weights - m).sum()))


def tempered_by_hand(log_likelihood, log_prior, beta, log_weights):
    u = log_prior + beta * log_likelihood
    return u - torch.logsumexp((u + log_weights).reshape(-1), 0)


def mean_with_loop(log_posterior, values, log_weights):
    total = torch.zeros((), dtype=values.dtype, device=values.device)
    for lp, v, lw in zip(log_posterior.flatten(), values.flatten(), log_weights.flatten()):
        total = total + v * torch.exp(lp + lw)
    return total


def threshold_by_sort(log_posterior, log_weights, level):
    lp = log_posterior.flatten()
    values, order = torch.sort(lp, descending=True)
    mass = torch.exp(lp + log_weights.flatten())[order]
    k = int((torch.cumsum(mass, 0) < level).sum())
    return values[min(k, lp.numel() - 1)]


def threshold_by_loop(log_posterior, log_weights, level):
    lp = log_posterior.flatten().tolist()
    lw = log_weights.flatten().tolist()
    total, last = 0.0, None
    for j in sorted(range(len(lp)), key=lambda j: -lp[j]):
        total, last = total + math.exp(lp[j] + lw[j]), lp[j]
        if total >= level:
            break
    return torch.tensor(last, dtype=log_posterior.dtype)


def volume_exponent_loop(powers, coefficients):
    lam = 0.0
    for p in powers:
        if p > 0:
            lam += 1.0 / p
    return lam


def volume_exponent_fraction(powers, coefficients):
    from fractions import Fraction

    return sum((Fraction(1, p) for p in powers if p), Fraction(0))


def volume_exponent_tensor(powers, coefficients):
    p = torch.tensor(powers, dtype=torch.float64)
    return torch.where(p > 0, 1 / p, torch.zeros_like(p)).sum()


def sample_by_inverse_cdf(log_posterior, log_weights, n_samples, generator):
    p = torch.exp(log_posterior + log_weights).flatten()
    cdf = torch.cumsum(p / p.sum(), 0)
    u = torch.rand(n_samples, generator=generator, dtype=p.dtype, device=p.device)
    return torch.clamp(torch.searchsorted(cdf, u), max=p.numel() - 1)


@pytest.mark.parametrize(
    "ex_id, fn",
    [
        ("posterior.gaussian_log_likelihood", gll_via_torch_distributions),
        ("posterior.product_log_likelihood", pll_loop_over_data),
        ("posterior.product_log_likelihood", pll_broadcast),
        ("posterior.normalize_log_density", normalize_with_max_shift),
        ("posterior.tempered_log_posterior", tempered_by_hand),
        ("posterior.posterior_mean", mean_with_loop),
        ("posterior.credible_threshold", threshold_by_sort),
        ("posterior.credible_threshold", threshold_by_loop),
        ("posterior.credible_volume_exponent", volume_exponent_loop),
        ("posterior.credible_volume_exponent", volume_exponent_fraction),
        ("posterior.credible_volume_exponent", volume_exponent_tensor),
        ("posterior.credible_volume_exponent", lambda powers, coefficients: __import__("numpy").float64(sum(1 / p for p in powers if p))),
        ("posterior.sample_grid", sample_by_inverse_cdf),
    ],
)
def test_correct_variants_pass(ex_id, fn):
    assert passes(ex_id, fn)


# ---------------------------------------------------------------- plausible mistakes

def _threshold_sorted_by(key, log_posterior, log_weights, level):
    order = torch.argsort(key.flatten(), descending=True)
    mass = torch.exp(log_posterior + log_weights).flatten()[order]
    k = min(int((torch.cumsum(mass, 0) < level).sum()), mass.numel() - 1)
    return log_posterior.flatten()[order][k]


def _threshold_offset(log_posterior, log_weights, level, offset):
    values, order = torch.sort(log_posterior.flatten(), descending=True)
    k = int((torch.cumsum(torch.exp(log_posterior + log_weights).flatten()[order], 0) < level).sum())
    return values[max(0, min(k + offset, values.numel() - 1))]


def _threshold_no_clamp(log_posterior, log_weights, level):
    values, order = torch.sort(log_posterior.flatten(), descending=True)
    return values[int((torch.cumsum(torch.exp(log_posterior + log_weights).flatten()[order], 0) < level).sum())]


def _sample_reseeded(log_posterior, log_weights, n_samples, generator):
    torch.manual_seed(0)
    return torch.multinomial(torch.exp(log_posterior + log_weights).flatten(), n_samples, replacement=True)


def _sample_numpy_global(log_posterior, log_weights, n_samples, generator):
    import numpy as np

    p = torch.exp(log_posterior + log_weights).flatten().double().cpu().numpy()
    return torch.from_numpy(np.random.choice(p.size, n_samples, p=p / p.sum())).to(log_posterior.device)


MISTAKES = [
    ("posterior.gaussian_log_likelihood", "sign", lambda y, mean, sigma: 0.5 * ((y - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)),
    ("posterior.gaussian_log_likelihood", "no log sigma", lambda y, mean, sigma: -0.5 * ((y - mean) / sigma) ** 2 - 0.5 * math.log(2 * math.pi)),
    ("posterior.gaussian_log_likelihood", "variance as sigma", lambda y, mean, sigma: -0.5 * (y - mean) ** 2 / sigma - math.log(sigma) - 0.5 * math.log(2 * math.pi)),
    ("posterior.gaussian_log_likelihood", "float64 output for float32 input", lambda y, mean, sigma: models.gaussian_log_likelihood(y.double(), mean.double(), sigma)),
    ("posterior.product_log_likelihood", "missing constant", lambda a, b, x, y, sigma: (-0.5 * ((y - (a * b).unsqueeze(-1) * x) / sigma) ** 2).sum(-1)),
    ("posterior.product_log_likelihood", "mean instead of sum", lambda a, b, x, y, sigma: models.product_log_likelihood(a, b, x, y, sigma) / x.numel()),
    ("posterior.product_log_likelihood", "a + b instead of a b", lambda a, b, x, y, sigma: models.product_log_likelihood(a + b, 1.0, x, y, sigma)),
    ("posterior.normalize_log_density", "naive exp", lambda log_density, log_weights: log_density - torch.log((torch.exp(log_density) * torch.exp(log_weights)).sum())),
    ("posterior.normalize_log_density", "naive exp, weights inside", lambda log_density, log_weights: log_density - torch.log(torch.exp(log_density + log_weights).sum())),
    ("posterior.normalize_log_density", "weights ignored", lambda log_density, log_weights: log_density - torch.logsumexp(log_density.flatten(), 0)),
    ("posterior.normalize_log_density", "normalised per row", lambda log_density, log_weights: log_density - torch.logsumexp(log_density + log_weights, dim=-1, keepdim=True)),
    ("posterior.tempered_log_posterior", "beta on the prior too", lambda log_likelihood, log_prior, beta, log_weights: posterior.normalize_log_density(beta * (log_prior + log_likelihood), log_weights)),
    ("posterior.tempered_log_posterior", "beta divides", lambda log_likelihood, log_prior, beta, log_weights: posterior.normalize_log_density(log_prior + log_likelihood / beta, log_weights)),
    ("posterior.tempered_log_posterior", "not normalised", lambda log_likelihood, log_prior, beta, log_weights: log_prior + beta * log_likelihood),
    ("posterior.posterior_mean", "weights ignored", lambda log_posterior, values, log_weights: (values * torch.exp(log_posterior)).sum()),
    ("posterior.posterior_mean", "plain average", lambda log_posterior, values, log_weights: values.mean()),
    ("posterior.posterior_mean", "a Python float", lambda log_posterior, values, log_weights: posterior.posterior_mean(log_posterior, values, log_weights).item()),
    ("posterior.posterior_mean", "shape (1,)", lambda log_posterior, values, log_weights: posterior.posterior_mean(log_posterior, values, log_weights).reshape(1)),
    ("posterior.posterior_mean", "float64 for float32 inputs", lambda log_posterior, values, log_weights: posterior.posterior_mean(log_posterior.double(), values.double(), log_weights.double())),
    ("posterior.credible_threshold", "a Python float", lambda log_posterior, log_weights, level: posterior.credible_threshold(log_posterior, log_weights, level).item()),
    ("posterior.credible_threshold", "float64 for float32 inputs", lambda log_posterior, log_weights, level: posterior.credible_threshold(log_posterior.double(), log_weights.double(), level)),
    ("posterior.credible_threshold", "ascending order", lambda log_posterior, log_weights, level: posterior.credible_threshold(-log_posterior, log_weights, level)),
    ("posterior.credible_threshold", "density instead of mass", lambda log_posterior, log_weights, level: posterior.credible_threshold(log_posterior, torch.zeros_like(log_weights), level)),
    ("posterior.credible_threshold", "1 - level", lambda log_posterior, log_weights, level: posterior.credible_threshold(log_posterior, log_weights, 1 - level)),
    ("posterior.credible_threshold", "sorted by mass", lambda log_posterior, log_weights, level: _threshold_sorted_by(log_posterior + log_weights, log_posterior, log_weights, level)),
    ("posterior.credible_threshold", "weights subtracted", lambda log_posterior, log_weights, level: posterior.credible_threshold(log_posterior, -log_weights, level)),
    ("posterior.credible_threshold", "cell before", lambda log_posterior, log_weights, level: _threshold_offset(log_posterior, log_weights, level, -1)),
    ("posterior.credible_threshold", "cell after", lambda log_posterior, log_weights, level: _threshold_offset(log_posterior, log_weights, level, +1)),
    ("posterior.credible_threshold", "a density", lambda log_posterior, log_weights, level: torch.exp(posterior.credible_threshold(log_posterior, log_weights, level))),
    ("posterior.credible_threshold", "runs off the end at level 1", _threshold_no_clamp),
    ("posterior.sample_grid", "generator ignored", lambda log_posterior, log_weights, n_samples, generator: posterior.sample_grid(log_posterior, log_weights, n_samples, None)),
    ("posterior.sample_grid", "global seed", _sample_reseeded),
    ("posterior.sample_grid", "own fixed-seed generator", lambda log_posterior, log_weights, n_samples, generator: posterior.sample_grid(log_posterior, log_weights, n_samples, torch.Generator(device=log_posterior.device).manual_seed(0))),
    ("posterior.sample_grid", "numpy's global random state", _sample_numpy_global),
    ("posterior.sample_grid", "weights ignored", lambda log_posterior, log_weights, n_samples, generator: torch.multinomial(torch.exp(log_posterior).flatten(), n_samples, replacement=True, generator=generator)),
    ("posterior.sample_grid", "uniform", lambda log_posterior, log_weights, n_samples, generator: torch.randint(0, log_posterior.numel(), (n_samples,), generator=generator, device=log_posterior.device)),
    ("posterior.sample_grid", "log-probabilities shifted as weights", lambda log_posterior, log_weights, n_samples, generator: torch.multinomial((log_posterior + log_weights - (log_posterior + log_weights).min()).flatten(), n_samples, replacement=True, generator=generator)),
    ("posterior.credible_volume_exponent", "d/2", lambda powers, coefficients: len(powers) / 2),
    ("posterior.credible_volume_exponent", "p/2", lambda powers, coefficients: sum(p / 2 for p in powers)),
    ("posterior.credible_volume_exponent", "1/(2p)", lambda powers, coefficients: sum(1 / (2 * p) for p in powers if p)),
    ("posterior.credible_volume_exponent", "largest term only", lambda powers, coefficients: max(1 / p for p in powers if p)),
    ("posterior.credible_volume_exponent", "smallest term only", lambda powers, coefficients: min(1 / p for p in powers if p)),
    ("posterior.credible_volume_exponent", "product", lambda powers, coefficients: math.prod(1 / p for p in powers if p)),
    ("posterior.credible_volume_exponent", "flat coordinate as 1/2", lambda powers, coefficients: sum(1 / p if p else 0.5 for p in powers)),
    ("posterior.credible_volume_exponent", "coefficients weigh", lambda powers, coefficients: sum(c / p for p, c in zip(powers, coefficients) if p)),
    ("posterior.credible_volume_exponent", "quartic or quadratic only", lambda powers, coefficients: sum({2: 0.5, 4: 0.25}.get(p, 0.0) for p in powers)),
    ("posterior.credible_volume_exponent", "zero division", lambda powers, coefficients: sum(1 / p for p in powers)),
    ("posterior.sample_grid", "without replacement when n_samples <= cells", lambda log_posterior, log_weights, n_samples, generator: torch.multinomial(torch.exp(log_posterior + log_weights).flatten(), n_samples, replacement=n_samples > log_posterior.numel(), generator=generator)),
    ("posterior.credible_volume_exponent", "a tensor of shape (1,)", lambda powers, coefficients: torch.tensor([posterior.credible_volume_exponent(powers, coefficients)])),
    ("posterior.credible_volume_exponent", "a list", lambda powers, coefficients: [posterior.credible_volume_exponent(powers, coefficients)]),
    ("posterior.sample_grid", "float indices", lambda log_posterior, log_weights, n_samples, generator: posterior.sample_grid(log_posterior, log_weights, n_samples, generator).double()),
]


@pytest.mark.parametrize("ex_id, what, fn", MISTAKES, ids=[f"{e}-{w}" for e, w, _ in MISTAKES])
def test_plausible_mistakes_fail(ex_id, what, fn):
    assert not passes(ex_id, fn), f"the check of {ex_id} accepted a mistake: {what}"


def test_verdict_names_the_input_and_the_numbers():
    wrong = lambda y, mean, sigma: models.gaussian_log_likelihood(y, mean, sigma) + 1.0
    result = check("posterior.gaussian_log_likelihood", wrong, raise_on_fail=False)
    text = str(result)
    assert "FAILED" in text and "10 points, sigma = 0.3" in text and "expected" in text and "got" in text


def test_exceptions_and_stubs_give_a_verdict_not_a_crash():
    def stub(y, mean, sigma):
        raise NotImplementedError()

    def buggy(y, mean, sigma):
        return y.undefined_attribute

    assert "not implemented" in str(check("posterior.gaussian_log_likelihood", stub, raise_on_fail=False))
    assert "AttributeError" in str(check("posterior.gaussian_log_likelihood", buggy, raise_on_fail=False))


def test_wrong_shape_and_type_are_named():
    r1 = check("posterior.posterior_mean", lambda log_posterior, values, log_weights: [1.0], raise_on_fail=False)
    assert "expected a 0-d tensor" in str(r1)
    r2 = check("posterior.normalize_log_density", lambda log_density, log_weights: log_density.flatten(), raise_on_fail=False)
    assert "wrong shape" in str(r2)


def test_a_function_that_modifies_its_inputs_fails_and_is_told_so():
    """The demonstrations reuse their tensors, so changing an input in place is a mistake (runner.py)."""
    def mutating(log_density, log_weights):
        out = posterior.normalize_log_density(log_density, log_weights)
        log_density.zero_()
        return out

    assert not passes("posterior.normalize_log_density", mutating)
    assert "changed its input `log_density` in place" in str(check("posterior.normalize_log_density", mutating, raise_on_fail=False))


def test_check_raises_an_assertion_error_with_the_verdict():
    with pytest.raises(AssertionError, match="posterior.posterior_mean"):
        check("posterior.posterior_mean", lambda log_posterior, values, log_weights: values.sum())


def test_unknown_exercise_id_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown exercise id"):
        check("posterior.nope", lambda: None)


def test_sampling_check_never_fails_a_correct_sampler_over_1000_seeds():
    """The stated false-failure rate (1e-7 per case) means 0 failures over 1000 seeds, w.p. > 0.9999.

    The judge looks only at the counts per cell (``judge_counts``), and every correct sampler's
    counts are Multinomial(N, p_j v_j) (N = the case's n_samples): we draw those counts directly (fast), for 1000 seeds and
    every case.
    """
    import numpy as np

    from slt_lessons.checks.posterior import _sample_cases, judge_counts

    cases = list(_sample_cases("visible", torch.device("cpu"))) + list(_sample_cases("hidden", torch.device("cpu")))
    rng = np.random.default_rng(2024)
    failures = 0
    for seed in range(1000):
        for case in cases:
            q = torch.exp(case.kwargs["log_posterior"] + case.kwargs["log_weights"]).flatten()
            counts = torch.from_numpy(rng.multinomial(case.kwargs["n_samples"], (q / q.sum()).numpy()))
            failures += judge_counts(q, counts) is not None
    assert failures == 0


@pytest.mark.parametrize("seed", range(10))
def test_real_samplers_pass_with_other_seeds(seed):
    from slt_lessons.checks.posterior import OTHER_SEED, _judge_samples, _sample_cases

    for sampler in (posterior.sample_grid, sample_by_inverse_cdf):
        for suite in ("visible", "hidden"):
            for case in _sample_cases(suite, torch.device("cpu")):  # in order: the last two compare with the first
                g = torch.Generator().manual_seed(500 + seed + 10_000 * (case.label == OTHER_SEED))
                assert _judge_samples(case, None, sampler(**dict(case.kwargs, generator=g))) is None


# ---------------------------------------------------------------- what the text requires has a visible case

VISIBLE_MISTAKES = [
    ("posterior.credible_threshold", "sorted by mass"),
    ("posterior.credible_threshold", "density instead of mass"),
    ("posterior.credible_threshold", "runs off the end at level 1"),
    ("posterior.sample_grid", "generator ignored"),
    ("posterior.sample_grid", "global seed"),
    ("posterior.credible_volume_exponent", "p/2"),
    ("posterior.credible_volume_exponent", "1/(2p)"),
    ("posterior.credible_volume_exponent", "largest term only"),
    ("posterior.credible_volume_exponent", "smallest term only"),
    ("posterior.credible_volume_exponent", "flat coordinate as 1/2"),
    ("posterior.credible_volume_exponent", "quartic or quadratic only"),
    ("posterior.gaussian_log_likelihood", "float64 output for float32 input"),
    ("posterior.normalize_log_density", "naive exp"),
    ("posterior.normalize_log_density", "naive exp, weights inside"),
    ("posterior.tempered_log_posterior", "beta divides"),
    ("posterior.posterior_mean", "a Python float"),
    ("posterior.posterior_mean", "shape (1,)"),
    ("posterior.posterior_mean", "float64 for float32 inputs"),
    ("posterior.credible_threshold", "a Python float"),
    ("posterior.credible_threshold", "float64 for float32 inputs"),
    ("posterior.sample_grid", "own fixed-seed generator"),
    ("posterior.sample_grid", "numpy's global random state"),
    ("posterior.sample_grid", "without replacement when n_samples <= cells"),
    ("posterior.credible_volume_exponent", "a tensor of shape (1,)"),
]


@pytest.mark.parametrize("ex_id, what", VISIBLE_MISTAKES, ids=[f"{e}-{w}" for e, w in VISIBLE_MISTAKES])
def test_mistakes_against_the_texts_requirements_fail_a_visible_case(ex_id, what):
    fn = next(f for e, w, f in MISTAKES if (e, w) == (ex_id, what))
    assert not passes(ex_id, fn, suites=("visible",)), f"{ex_id}: only the hidden suite catches: {what}"


def test_credible_cases_are_far_from_ties_so_any_correct_order_of_summation_agrees():
    from slt_lessons.checks.posterior import _cred_cases

    for suite in ("visible", "hidden"):
        for case in _cred_cases(suite, torch.device("cpu")):
            lp, lw, level = (case.kwargs[k] for k in ("log_posterior", "log_weights", "level"))
            lp, lw = lp.double(), lw.double()
            cum = torch.cumsum(torch.exp(lp + lw).flatten()[torch.argsort(lp.flatten(), descending=True)], 0)
            if level == 1.0:  # every cell holds far more mass than round-off: the answer is the last cell
                assert float(torch.exp(lp + lw).min()) > 1e-3 and float(cum[-1]) < 1.0  # the clamp is needed
            else:
                margin = 1e-4 if case.kwargs["log_posterior"].dtype == torch.float32 else 1e-9
                assert float((cum - level).abs().min()) > margin, case.label
            assert len(torch.unique(lp)) == lp.numel()  # no ties in density


def test_a_mass_sorted_threshold_is_told_to_sort_by_density():
    fn = next(f for e, w, f in MISTAKES if w == "sorted by mass")
    text = str(check("posterior.credible_threshold", fn, raise_on_fail=False))
    assert "ordered by their mass" in text and "densest cells first" in text
    off = next(f for e, w, f in MISTAKES if w == "cell before")
    assert "cell before the one where the running sum reaches" in str(check("posterior.credible_threshold", off, raise_on_fail=False))


def test_a_sampler_ignoring_the_generator_is_told_so():
    fn = next(f for e, w, f in MISTAKES if w == "generator ignored")
    assert "torch's global random state" in str(check("posterior.sample_grid", fn, raise_on_fail=False))
    assert "torch's global random state" in str(check("posterior.sample_grid", _sample_reseeded, raise_on_fail=False))
    own = next(f for e, w, f in MISTAKES if w == "own fixed-seed generator")
    # the runner names a sampler that leaves `generator` untouched; the judge's seed cases remain behind it
    for fn in (own, _sample_numpy_global):
        text = str(check("posterior.sample_grid", fn, raise_on_fail=False))
        assert "did not draw from `generator`" in text or "depend on `generator`" in text or "take all randomness from `generator`" in text, text


def test_volume_exponent_names_a_mistake_only_when_every_answer_matches_it():
    vol = lambda fn, suite="hidden": str(check("posterior.credible_volume_exponent", fn, suite=suite, raise_on_fail=False))
    largest = next(f for e, w, f in MISTAKES if w == "largest term only")
    text = vol(largest)
    assert "counts one coordinate only" in text and "expected" not in text
    # the learner's report: max(1/p) was told "that is Σ 1/(2p_i)", which coincides with it on K = w1^2 + w2^2 only
    visible = vol(largest, "visible")
    assert "1/(2 p_i)" not in visible and "counts one coordinate only" in visible
    assert "that is d/2" in vol(lambda powers, coefficients: len(powers) / 2)
    assert "does not depend on as if it were quadratic" in vol(next(f for e, w, f in MISTAKES if w == "flat coordinate as 1/2"))
    assert "constant factor" in vol(next(f for e, w, f in MISTAKES if w == "coefficients weigh"))
    # an answer that matches a listed mistake on some cases only gets questions, which do not state the result
    for fn in (lambda powers, coefficients: 0.5, lambda powers, coefficients: 1 / sum(powers)):
        for suite in ("visible", "hidden"):
            text = vol(fn, suite)
            assert "FAILED" in text and "; that" not in text and "1/p" not in text and "Σ" not in text, text
            assert "how wide is the region in w_i?" in text
    assert "expected 0.25, got 1" in vol(lambda powers, coefficients: 1.0, "visible")
    from slt_lessons.checks.posterior import _volume_cases

    labels = [c.label for c in _volume_cases("hidden", torch.device("cpu"))]
    assert len(labels) >= 5 and not any("^" in label or "=" in label for label in labels)  # kinds, not formulas


def test_volume_exponent_diagnosis_does_not_carry_over_between_checks():
    """A suite's record restarts with its first case: a right answer after a wrong one is not blamed."""
    largest = next(f for e, w, f in MISTAKES if w == "largest term only")
    check("posterior.credible_volume_exponent", largest, suite="hidden", raise_on_fail=False)
    assert passes("posterior.credible_volume_exponent", posterior.credible_volume_exponent)
    mixed = lambda powers, coefficients: 1.0 if powers == (6,) else max(1 / p for p in powers if p)
    assert "counts one coordinate only" not in str(
        check("posterior.credible_volume_exponent", mixed, suite="hidden", raise_on_fail=False))


def test_sampling_checks_judged_at_once_in_threads_do_not_mix_their_draws():
    """Grading judges several submissions at once, in threads: the cases that compare with a suite's
    first draws must compare with their own submission's."""
    from concurrent.futures import ThreadPoolExecutor

    from slt_lessons.checks.runner import collect, judge

    outcomes = [(s, collect("posterior.sample_grid", fn, s)) for fn in (posterior.sample_grid, sample_by_inverse_cdf)
                for s in ("visible", "hidden")]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            results = list(pool.map(lambda so: judge("posterior.sample_grid", so[1], so[0]).passed, outcomes * 4))
            assert all(results)


def test_volume_exponent_of_shape_1_and_sampling_without_replacement_are_told_why():
    shaped = next(f for e, w, f in MISTAKES if w == "a tensor of shape (1,)")
    assert "got a tensor of shape (1,)" in str(check("posterior.credible_volume_exponent", shaped, suite="visible", raise_on_fail=False))
    no_repl = next(f for e, w, f in MISTAKES if w == "without replacement when n_samples <= cells")
    assert "with replacement" in str(check("posterior.sample_grid", no_repl, suite="visible", raise_on_fail=False))
