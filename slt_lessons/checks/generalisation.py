"""Checks of lesson 7 (generalisation): the Bayes training loss, the functional variance, WAIC,
importance-sampling LOO, the generalisation gap of a regression's predictive by quadrature, and
which model each criterion prefers.

The first five are deterministic functions of their inputs, judged entry by entry against the
reference. Each is a log-sum-exp or a weighted mean over ≤ 4000 draws and ≤ 200 data points of
terms ≲ 10³: float64 round-off ≲ 1e-12 relative; the judges allow 1e-9 relative (1e-4 in float32,
where a sum over S draws errs by ~S·6e-8 relative). ``criterion_preferences`` is judged exactly
(indices), on settings where no two models' values of any criterion are within 1e-9 relative.
"""

from __future__ import annotations

import math

import torch

from slt_lessons import generalisation, llc, potentials
from slt_lessons.checks.registry import Case, Exercise, describe, must_raise, register, tensor_close

F64, F32 = torch.float64, torch.float32
CLOSE = tensor_close(rtol=1e-9, atol=1e-12, rtol32=1e-4, atol32=1e-5)


def _gaussian_draws(seed, S, n, *, outlier=None, offset=0.0, spread=1.0):
    """Pointwise log-likelihoods log N(x_i; μ_s, 1) for data x ~ N(0, 1) (with an outlier if given) and
    draws μ_s from the posterior N(x̄, 1/n) (scaled by ``spread``), plus ``offset``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=F64)
    if outlier is not None:
        x[0] = outlier
    mu = x.mean() + spread * torch.randn(S, generator=g, dtype=F64) / math.sqrt(n)
    return -0.5 * (x[None, :] - mu[:, None]) ** 2 - 0.5 * math.log(2 * math.pi) + offset


def _grid(seed, n, G=201, beta=1.0, *, offset=0.0):
    """A grid posterior of μ on [−1.5, 1.5] (uniform prior) for x ~ N(0, 1): (log_lik (G, n), log weights (G,))
    at inverse temperature β; the log weights are left unnormalised (a constant off)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=F64)
    mu = torch.linspace(-1.5, 1.5, G, dtype=F64)
    ll = -0.5 * (x[None, :] - mu[:, None]) ** 2 - 0.5 * math.log(2 * math.pi) + offset
    return ll, beta * ll.sum(1) + 7.0


def _llc_result():
    """A tiny LLCResult (a few SGLD steps on a 1-D quadratic): what WAIC must refuse."""
    problem = potentials.normal_crossing(n=100) if hasattr(potentials, "normal_crossing") else None
    kwargs = problem.kwargs() if problem is not None else {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return llc.estimate_llc(**kwargs, nbeta=20.0, gamma=1.0, eps=1e-3, n_steps=8, burn_in=2, n_chains=2,
                                check_gamma=False, progress=False)


def _ll_cases(suite, device, *, beta_cases=False, loo=False, centring=False):
    to = lambda t, dtype=F64: t.to(device=device, dtype=dtype)  # noqa: E731
    if suite == "visible":
        ll_g, lw_g = _grid(2, 12)
        cases = [
            Case("5 equally weighted draws, 3 data points", dict(log_lik=to(_gaussian_draws(1, 5, 3)))),
            Case("a grid posterior: 201 points with unnormalised log_weights, 12 data points",
                 dict(log_lik=to(ll_g), log_weights=to(lw_g))),
            Case("log-likelihoods near -800 (exp underflows to 0: work in logs)",
                 dict(log_lik=to(_gaussian_draws(3, 50, 10, offset=-800.0)))),
        ]
        if centring:  # the text asks for the centred form: one visible case where E[f²] − E[f]² loses its digits
            cases.append(Case("log-likelihoods near -1e4 that nearly agree (E[f^2] - E[f]^2 cancels: compute centred)",
                              dict(log_lik=to(_gaussian_draws(6, 20, 4, offset=-1e4, spread=0.01)))))
        if beta_cases:
            ll_b, lw_b = _grid(4, 15, beta=0.5)
            cases.append(Case("a grid posterior at beta = 0.5, 15 data points",
                              dict(log_lik=to(ll_b), log_weights=to(lw_b), beta=0.5)))
        cases += must_raise(("log_lik 1-D (one draw's values, not (S, n)): ValueError",
                             dict(log_lik=to(_gaussian_draws(5, 4, 6))[0])))
        if beta_cases:
            cases += must_raise(("an LLCResult (draws of the localised, tempered posterior): TypeError",
                                 dict(log_lik=_llc_result())), error=TypeError)
        return cases
    ll_w, lw_w = _grid(12, 40, G=301)
    lw_w[:50] = -math.inf  # points of zero weight
    cases = [
        Case("many draws, many data points", dict(log_lik=to(_gaussian_draws(11, 4000, 200)))),
        Case("a grid posterior with points of zero weight", dict(log_lik=to(ll_w), log_weights=to(lw_w))),
        Case("an outlier in the data", dict(log_lik=to(_gaussian_draws(13, 1000, 30, outlier=6.0)))),
        Case("one data point", dict(log_lik=to(_gaussian_draws(14, 100, 1)))),
        Case("float32", dict(log_lik=to(_gaussian_draws(15, 500, 20), F32))),
        Case("large, nearly equal log-likelihoods", dict(log_lik=to(_gaussian_draws(16, 200, 20, offset=-1e5,
                                                                                 spread=0.01)))),
    ]
    if beta_cases:
        ll_b, lw_b = _grid(17, 25, beta=2.0)
        cases += [Case("a grid posterior at a large beta", dict(log_lik=to(ll_b), log_weights=to(lw_b), beta=2.0)),
                  Case("a grid posterior at a small beta", dict(log_lik=to(_grid(18, 25, beta=0.2)[0]),
                                                                log_weights=to(_grid(18, 25, beta=0.2)[1]),
                                                                beta=0.2))]
    return cases


register(Exercise(
    id="generalisation.training_loss",
    reference=generalisation.training_loss,
    cases=lambda suite, device: _ll_cases(suite, device),
    judge=CLOSE,
    notes=("A mean over n of log-sum-exps over S ≤ 4000 draws: float64 round-off ≲ 1e-13 relative; allowed 1e-9. "
           "Without logs, the −800 case gives log(0) = −inf. Unnormalised grid weights off by e^7 shift the "
           "result by 7 when not normalised."),
))

register(Exercise(
    id="generalisation.functional_variance",
    reference=generalisation.functional_variance,
    cases=lambda suite, device: _ll_cases(suite, device, centring=True),
    judge=CLOSE,
    notes=("A weighted variance per data point, summed: computed centred, round-off ≲ 1e-12 relative even for "
           "log-likelihoods near −1e5 with a spread of 1e-2 (the hidden case), where E[f²] − E[f]² loses every "
           "digit (1e10 against a difference of ~1e-3); the visible case near −1e4 (spread 1e-2) costs that form "
           "a few percent, while near −800 it errs by only ~1e-9 relative, caught or not by the order of its sums. "
           "The unbiased (S − 1) variance differs by 1/(S − 1): 25% on the first visible case."),
))

register(Exercise(
    id="generalisation.waic",
    reference=generalisation.waic,
    cases=lambda suite, device: _ll_cases(suite, device, beta_cases=True),
    judge=CLOSE,
    notes="T_n + β V_n/n from the two references: the tolerances of training_loss and functional_variance.",
))

register(Exercise(
    id="generalisation.importance_loo",
    reference=generalisation.importance_loo,
    cases=lambda suite, device: _ll_cases(suite, device, beta_cases=True),
    judge=CLOSE,
    notes=("Two log-sum-exps per data point: round-off ≲ 1e-12 relative. At β ≠ 1 the numerator E[p^(1−β)] "
           "matters: dropping it (the β = 1 formula) moves the β = 0.5 case by ≥ 1e-2."),
))


# ----------------------------------------------------------------------------- predictive_kl


def _kl_cases(suite, device):
    to = lambda t, dtype=F64: torch.as_tensor(t, dtype=F64).to(device=device, dtype=dtype)  # noqa: E731
    w = torch.linspace(-2, 2, 401, dtype=F64)
    if suite == "visible":
        g = torch.Generator().manual_seed(71)
        x, e = torch.randn(20, generator=g, dtype=F64), torch.randn(20, generator=g, dtype=F64)
        Sxx, Sxy = float((x * x).sum()), float((x * e).sum())
        return [
            Case("a point mass at a = 0.5 (KL = a^2/2 = 0.125), order 30", dict(a=to([0.5]), log_weights=to([0.0]),
                                                                             order=30)),
            Case("two points, a = -0.5 and 1.0, unequal unnormalised weights, order 40",
                 dict(a=to([-0.5, 1.0]), log_weights=to([3.0, 2.0]), order=40)),
            Case("the singular model a = w^2: a grid posterior of 20 data points, order 60",
                 dict(a=to(w**2), log_weights=to(w**2 * Sxy - w**4 * Sxx / 2), order=60)),
        ] + must_raise(("log_weights of another length than a: ValueError",
                        dict(a=to([0.1, 0.2]), log_weights=to([0.0]), order=10)))
    g = torch.Generator().manual_seed(710)
    cases = []
    for k, (n, model) in enumerate(((5, "w"), (200, "w"), (1000, "w2"), (50, "w2"))):
        x, e = torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
        a = w if model == "w" else w**2
        lw = a * float((x * e).sum()) - a**2 * float((x * x).sum()) / 2
        label = ["a broad posterior of the regular model", "a concentrated posterior of the regular model",
                 "a concentrated posterior of the singular model", "the singular model at moderate n"][k]
        cases.append(Case(label, dict(a=to(a), log_weights=to(lw), order=60)))
    lw = torch.zeros(401, dtype=F64)
    lw[::2] = -math.inf
    cases.append(Case("points of zero weight, a low order", dict(a=to(w / 2), log_weights=to(lw), order=12)))
    cases.append(Case("float32", dict(a=to([0.3, -0.2, 0.1], F32), log_weights=to([0.0, 0.5, -0.5], F32), order=40)))
    return cases


register(Exercise(
    id="generalisation.predictive_kl",
    reference=generalisation.predictive_kl,
    cases=_kl_cases,
    judge=CLOSE,
    notes=("A fixed Gauss–Hermite rule of order² nodes, each a log-sum-exp over ≤ 401 points: round-off ≲ 1e-13 "
           "relative; allowed 1e-9. Any other rule (physicists' nodes without the change of variable, another "
           "order, Monte Carlo) is off by far more: the text fixes the rule."),
))


# ----------------------------------------------------------------------------- criterion_preferences


def _criterion_case(label, n, L, lam, nu, d):
    return Case(label, dict(n=n, L=torch.tensor(L, dtype=F64), lam=torch.tensor(lam, dtype=F64),
                            nu=torch.tensor(nu, dtype=F64), d=torch.tensor(d, dtype=F64)))


def _values(kw):
    n, L, lam, nu, d = kw["n"], kw["L"], kw["lam"], kw["nu"], kw["d"]
    return {
        "G_n": L + lam / n, "WAIC": L + lam / n, "AIC": L + (lam - 2 * nu + d) / n,
        "F_n": L + lam * math.log(n) / n, "WBIC": L + lam * math.log(n) / n, "BIC": L + d / 2 * math.log(n) / n,
    }


def _separated(kw, margin=1e-9):
    for v in _values(kw).values():
        s = v.sort().values
        if len(s) > 1 and float(s[1] - s[0]) <= margin * (1 + float(s[0].abs())):
            return False
    return True


def _criterion_cases(suite, device):
    if suite == "visible":
        return [
            _criterion_case("two regular models (lambda = nu = d/2), n = 100: AIC agrees with WAIC, BIC with F_n",
                            100, [0.50, 0.47], [1.0, 3.0], [1.0, 3.0], [2, 6]),
            _criterion_case("a singular model (lambda = 1.5, nu = 2, d = 10) against a regular one, n = 200",
                            200, [0.40, 0.38], [1.0, 1.5], [1.0, 2.0], [2, 10]),
            _criterion_case("the same at n = 10000", 10000, [0.40, 0.38], [1.0, 1.5], [1.0, 2.0], [2, 10]),
            _criterion_case("two models that both contain the truth (equal L), n = 1000", 1000, [0.3, 0.3],
                            [0.75, 2.0], [0.9, 2.0], [6, 4]),
            # one case for each part of the table a formula can get wrong without the cases above noticing
            _criterion_case("two regular models where the size of log n decides F_n (the natural log), n = 1000",
                            1000, [0.300, 0.296], [1.0, 2.0], [1.0, 2.0], [2, 4]),
            _criterion_case("two regular models where BIC's penalty per parameter decides, n = 1000",
                            1000, [0.300, 0.290], [1.0, 2.0], [1.0, 2.0], [2, 4]),
            _criterion_case("the less accurate model simpler by lambda but with the larger nu, n = 500",
                            500, [0.3005, 0.3], [1.0, 1.5], [2.0, 1.2], [4, 6]),
        ]
    g = torch.Generator().manual_seed(77)
    cases, k = [], 0
    labels = ["three models, small n", "three models, large n", "four models, moderate n",
              "five models, large n", "two singular models, moderate n", "six models, small n"]
    shapes = [(3, 30), (3, 10**5), (4, 500), (5, 10**4), (2, 300), (6, 50)]
    while len(cases) < len(shapes):
        M, n = shapes[len(cases)]
        d = torch.randint(1, 20, (M,), generator=g).double()
        lam = d / 2 * (0.2 + 0.8 * torch.rand(M, generator=g, dtype=F64))
        nu = lam * (0.6 + 0.8 * torch.rand(M, generator=g, dtype=F64))
        L = 0.3 + torch.rand(M, generator=g, dtype=F64) * 10 / n
        kw = dict(n=n, L=L, lam=lam, nu=nu, d=d)
        k += 1
        if _separated(kw) and len(set(generalisation.criterion_preferences(**kw))) > 1:
            cases.append(_criterion_case(labels[len(cases)], n, L.tolist(), lam.tolist(), nu.tolist(), d.tolist()))
    return cases


def _criterion_judge(case, expected, got):
    names = generalisation.CRITERIA
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        return (f"result: expected a tuple of {len(names)} model indices, one per criterion in the order "
                f"{', '.join(names)}; got {describe(got)}")
    values = _values(case.kwargs)
    wrong = []
    for name, e, gv in zip(names, expected, got):
        try:
            gv = int(gv)
        except (TypeError, ValueError):
            return f"result: the entry for {name} should be a model index (an int), got {describe(gv)}"
        if gv != e:
            v = ", ".join(f"{float(x):.6g}" for x in values[name])
            wrong.append(f"{name}: expected model {e}, got {gv} (its expected value per sample, model by model: {v})")
    return None if not wrong else "result: " + "; ".join(wrong)


register(Exercise(
    id="generalisation.criterion_preferences",
    reference=generalisation.criterion_preferences,
    cases=_criterion_cases,
    judge=_criterion_judge,
    notes=("Exact: indices. Every case is drawn so that no criterion has two models within 1e-9·(1 + |value|) of "
           "each other, and so that the criteria do not all agree; the feedback prints each criterion's value "
           "per model for a wrong entry. The last three visible cases are chosen so that log10 n (F_n, WBIC), "
           "d in place of d/2 (BIC), and ν in place of λ or L alone (G_n, WAIC) each change a preference."),
))
