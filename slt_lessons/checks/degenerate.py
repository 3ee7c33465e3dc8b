"""Checks for lesson 3 (degenerate models and the learning coefficient).

Reference functions: :mod:`slt_lessons.degenerate` (K and the Fisher information),
:mod:`slt_lessons.volume` (volume scaling) and :mod:`slt_lessons.theory` (exact learning
coefficients). The theory exercises return exact numbers, ``(fractions.Fraction, int)``, and are
judged by exact equality over many cases that cover every branch of their theorems.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from numbers import Integral

import torch

from slt_lessons import degenerate, theory, volume
from slt_lessons.checks.registry import Case, Exercise, describe, must_raise, register, tensor_close

# ----------------------------------------------------------------------------- judges for exact answers


def _exact_int(expected, got, name):
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, Integral):
        return f"{name}: expected an int, got {describe(got)}"
    if int(got) != int(expected):
        return f"{name}: expected {int(expected)}, got {int(got)}"
    return None


def _exact_fraction(expected, got, name):
    if isinstance(got, bool) or not isinstance(got, (Fraction, Integral)):
        hint = " (use fractions.Fraction: a float like 1/3 is not exact)" if isinstance(got, float) else ""
        return f"{name}: expected an exact fractions.Fraction, got {describe(got)}{hint}"
    if Fraction(got) != Fraction(expected):
        return f"{name}: expected {Fraction(expected)} (= {float(expected):.6g}), got {Fraction(got)} (= {float(got):.6g})"
    return None


def exact_int(case, expected, got):
    """Judge an integer answer (an int, or a 0-d integer tensor) by equality."""
    return _exact_int(expected, got, "result")


def python_int(case, expected, got):
    """Judge an answer that the text asks to be a Python ``int`` (a tensor is not accepted)."""
    if isinstance(got, torch.Tensor):
        return f"result: expected a Python int, got {describe(got)} (convert with int(...))"
    return _exact_int(expected, got, "result")


def exact_lambda_m(case, expected, got):
    """Judge ``(λ, m)``: λ an exact Fraction (or int) equal to the reference, m an equal int."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"result: expected a tuple (lam, m) of a Fraction and an int, got {describe(got)}"
    return _exact_fraction(expected[0], got[0], "lam") or _exact_int(expected[1], got[1], "m")


# ----------------------------------------------------------------------------- fisher_information


def _randn(shape, seed, dtype=torch.float64, device=None, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype=dtype, device=device)


def _tanh_jacobian(a, b, x):
    """Jacobian of f(x) = sum_h a_h tanh(b_h x) with respect to (a, b): columns tanh(b_h x), a_h x sech^2(b_h x)."""
    t = torch.tanh(x[:, None] * b[None, :])
    return torch.cat([t, a[None, :] * x[:, None] * (1 - t**2)], dim=1)


def _fisher_cases(suite, device):
    f64 = torch.float64
    if suite == "visible":
        x = torch.linspace(-2, 2, 50, dtype=f64)
        return [
            Case("random Jacobian, n = 20 samples, d = 3 parameters", {"jacobian": _randn((20, 3), 0, device=device)}),
            Case("tanh network H = 2 at a true parameter a = (0, 0), b = (1, -0.5): n = 50 (rank 2 of 4)",
                 {"jacobian": _tanh_jacobian(torch.zeros(2, dtype=f64), torch.tensor([1.0, -0.5], dtype=f64), x).to(device=device)}),
        ]
    x = torch.linspace(-3, 3, 400, dtype=f64)
    return [
        Case("random Jacobian, many samples, several parameters", {"jacobian": _randn((1000, 8), 1, device=device)}),
        Case("more parameters than samples", {"jacobian": _randn((4, 10), 2, device=device)}),
        Case("a tanh network at a degenerate parameter (a zero output weight, two equal input weights), many samples",
             {"jacobian": _tanh_jacobian(torch.tensor([1.0, -1.0, 0.0], dtype=f64), torch.tensor([0.7, 0.7, 2.0], dtype=f64), x).to(device=device)}),
        Case("float32: random Jacobian, many samples, a few parameters", {"jacobian": _randn((500, 5), 3, dtype=torch.float32, device=device)}),
    ]


register(Exercise(
    id="degenerate.fisher_information",
    reference=degenerate.fisher_information,
    cases=_fisher_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-12, rtol32=1e-4, atol32=1e-4),
    notes=(
        "a sum of n products of O(1) entries, divided by n: float64 error <= n*1e-16 relative to the mean "
        "|J_ik J_il| (n <= 1000: ~1e-13) -> rtol 1e-10, atol 1e-12. float32, n = 500: <= 500*6e-8 = 3e-5 "
        "-> rtol, atol 1e-4. Mistakes (J J^T, no 1/n, 1/(n-1)) change entries by >= 0.1%, shapes, or both."
    ),
))


# ----------------------------------------------------------------------------- numerical_rank


def _low_rank(shape, rank, seed, scale=1.0):
    """A random matrix of exact rank ``rank``: a product (rows x rank)(rank x cols), singular values well above 1e-3*max."""
    g = torch.Generator().manual_seed(seed)
    rows, cols = shape
    u, _ = torch.linalg.qr(torch.randn(rows, max(rank, 1), generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, max(rank, 1), generator=g, dtype=torch.float64))
    s = torch.linspace(1.0, 0.1, max(rank, 1), dtype=torch.float64)[:rank]
    return scale * (u[:, :rank] * s) @ v[:, :rank].T


def _gram(J):
    return J.T @ J / J.shape[0]


def _rank_cases(suite, device):
    def case(label, m, rtol, dtype=torch.float64):
        return Case(label, {"matrix": m.to(dtype=dtype, device=device), "rtol": rtol})

    if suite == "visible":
        return [
            case("5 x 5 matrix of rank 3", _low_rank((5, 5), 3, 0), 1e-6),
            case("Fisher information of a tanh network at a true parameter (4 x 4, rank 2)",
                 _gram(_tanh_jacobian(torch.zeros(2, dtype=torch.float64),
                                               torch.tensor([1.0, -0.5], dtype=torch.float64),
                                               torch.linspace(-2, 2, 50, dtype=torch.float64))), 1e-6),
            case("rank 2 matrix scaled by 1e-9 (the threshold must be relative)", _low_rank((7, 7), 2, 2, scale=1e-9), 1e-6),
            case("the zero matrix (3 x 3): rank 0", torch.zeros(3, 3, dtype=torch.float64), 1e-6),
            case("an empty matrix (0 x 3): rank 0", torch.zeros(0, 3, dtype=torch.float64), 1e-6),
            case("a singular value exactly rtol times the largest is not counted (strictly larger): "
                 "diag(1, 0.5, 0.25) with rtol = 0.5", torch.diag(torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)), 0.5),
        ] + must_raise(("rtol = 0 (not positive): ValueError", {"matrix": torch.eye(2, dtype=torch.float64), "rtol": 0.0}))
    return must_raise(("rtol negative: ValueError", {"matrix": torch.eye(3, dtype=torch.float64), "rtol": -1e-6})) + [
        case("a tall matrix of full rank", _low_rank((6, 4), 4, 1), 1e-6),
        case("a rank-deficient matrix scaled by a huge factor (the threshold must be relative)",
             _low_rank((8, 8), 5, 3, scale=1e9), 1e-6),
        case("a wide matrix of very low rank", _low_rank((3, 9), 1, 4), 1e-6),
        case("rtol matters: a diagonal matrix whose singular values span many orders of magnitude, rtol between them",
             torch.diag(torch.tensor([1.0, 1e-3, 1e-6], dtype=torch.float64)), 1e-4),
        case("float32: a square rank-deficient matrix, a loose rtol", _low_rank((6, 6), 4, 5), 1e-2, dtype=torch.float32),
    ]


register(Exercise(
    id="degenerate.numerical_rank",
    reference=degenerate.numerical_rank,
    cases=_rank_cases,
    judge=python_int,
    notes=(
        "exact Python int (the text asks for an int). Every case but one has a gap: the kept singular values are >= 10 rtol times the largest, "
        "the dropped ones are zero up to round-off: ~1e-16 of the largest in float64 (rtol >= 1e-6) and "
        "~1e-7 in float32 (rtol = 1e-2), and still below rtol when computed as square roots of the "
        "eigenvalues of M^T M (~1e-8 and ~3e-4). So any SVD or eigenvalue method that compares with rtol "
        "times the largest gets the same count. An absolute threshold fails the scaled cases, and "
        "ignoring rtol (matrix_rank's default) fails the diag(1, 1e-3, 1e-6) case. The exception, "
        "diag(1, 0.5, 0.25) with rtol = 0.5, sits exactly on the threshold: the singular values of a diagonal "
        "matrix with entries that are powers of 2 are exact, so > and >= differ there and nowhere else."
    ),
))


# ----------------------------------------------------------------------------- reduced_rank_K


def _rrr_K_cases(suite, device):
    def case(label, M, H, N, seed, batch=(), dtype=torch.float64, true_rank=None):
        A = _randn((*batch, H, M), seed, dtype, device)
        B = _randn((*batch, N, H), seed + 100, dtype, device)
        if true_rank is None:
            C = _randn((N, M), seed + 200, dtype, device)
        else:  # C = B0 A0 of rank true_rank, and (A, B) a true parameter: B A = C exactly up to round-off
            C = (B[..., :, :true_rank] @ A[..., :true_rank, :])
            A = A.clone()
            A[..., true_rank:, :] = 0.0
        return Case(label, {"A": A, "B": B, "C": C})

    if suite == "visible":
        return [
            case("M = 3, H = 2, N = 4, random A, B, C", 3, 2, 4, 0),
            case("a true parameter: M = 4, H = 3, N = 2, C = B A (K = 0 up to round-off)", 4, 3, 2, 1, true_rank=2),
            case("batched: 5 pairs (A, B) of shapes (5, H, M) and (5, N, H), M = 3, H = 2, N = 2: one K each", 3, 2, 2, 6,
                 batch=(5,)),
        ]
    return [
        case("a batch of parameter pairs (A, B): shapes (batch, H, M) and (batch, N, H), M, H, N all different",
             5, 2, 3, 2, batch=(16,)),
        case("square: M = H = N (B A and A B have the same shape)", 6, 6, 6, 3),
        case("a 2-D batch of pairs (two batch dimensions), the smallest possible H", 2, 1, 2, 4, batch=(4, 3)),
        case("float32: larger matrices, H below M and N", 8, 4, 8, 5, dtype=torch.float32),
    ]


register(Exercise(
    id="degenerate.reduced_rank_K",
    reference=degenerate.reduced_rank_K,
    cases=_rrr_K_cases,
    judge=tensor_close(rtol=1e-10, atol=1e-12, rtol32=1e-5, atol32=1e-5),
    notes=(
        "a sum of N*M squares of entries of B A - C, each a sum of H products: float64 relative error "
        "~(H + N*M)*1e-16 < 1e-13 -> rtol 1e-10, atol 1e-12 (the true-parameter case is ~1e-31). "
        "float32 (64 entries, H = 4): ~70*6e-8 = 4e-6 relative -> rtol, atol 1e-5. Mistakes (A B, no 1/2, "
        "the norm not squared, a mean, summing over the batch) change the value by >= 2x or the shape."
    ),
))


# ----------------------------------------------------------------------------- volume_fraction


def _volume_fraction_cases(suite, device):
    def case(label, K, eps, dtype=torch.float64):
        return Case(label, {"K_values": K.to(dtype=dtype, device=device), "eps": eps.to(dtype=dtype, device=device)})

    g = torch.Generator().manual_seed(0)
    f64 = torch.float64
    if suite == "visible":
        w = 2 * torch.rand(1000, generator=g, dtype=f64) - 1
        return [
            case("K = w^2 at 1000 uniform draws on [-1, 1]; eps = 1e-3, 1e-2, 1e-1, 1", w**2,
                 torch.tensor([1e-3, 1e-2, 1e-1, 1.0], dtype=f64)),
            case("10 values 0.05, 0.15, ..., 0.95; eps = 0.5", torch.arange(10, dtype=f64) / 10 + 0.05, torch.tensor([0.5], dtype=f64)),
            case("K equal to eps is not below eps (strict <): K = 0.25, 0.5, 0.5, 0.75; eps = 0.5, 0.75",
                 torch.tensor([0.25, 0.5, 0.5, 0.75], dtype=f64), torch.tensor([0.5, 0.75], dtype=f64)),
            case("eps of shape (2, 2): the result has eps's shape", torch.linspace(0, 1, 11, dtype=f64) ** 2,
                 torch.tensor([[0.01, 0.1], [0.3, 0.9]], dtype=f64)),
        ] + must_raise(("K_values 0-d (a single number, not one value per sample): ValueError",
                          {"K_values": torch.tensor(0.5, dtype=f64, device=device),
                           "eps": torch.tensor([0.1, 1.0], dtype=f64, device=device)}))
    w = 2 * torch.rand(20000, 2, generator=g, dtype=f64) - 1
    return [
        case("K a product of squares at many uniform draws in two dimensions; eps over many orders of magnitude, "
             "down to tiny values",
             (w[:, 0] * w[:, 1]) ** 2, torch.logspace(-8, 0, 12, dtype=f64)),
        case("eps given as a 2-D grid (the output has eps's shape)", torch.linspace(0, 1, 101, dtype=f64) ** 3,
             torch.tensor([[1e-4, 1e-3, 1e-2], [0.1, 0.5, 2.0]], dtype=f64)),
        case("eps below every K and eps above every K (the two extremes)", torch.linspace(0.1, 0.9, 9, dtype=f64),
             torch.tensor([0.01, 5.0], dtype=f64)),
        *must_raise(("K_values 2-D (several columns), not one value per sample: ValueError",
                       {"K_values": torch.rand(100, 2, generator=g, dtype=f64).to(device=device),
                        "eps": torch.tensor([0.1, 0.5], dtype=f64, device=device)})),
        case("float32: K a quartic at many draws", (2 * torch.rand(5000, generator=g, dtype=f64) - 1) ** 4,
             torch.logspace(-6, 0, 7, dtype=f64), dtype=torch.float32),
    ]


register(Exercise(
    id="degenerate.volume_fraction",
    reference=volume.volume_fraction,
    cases=_volume_fraction_cases,
    judge=tensor_close(rtol=1e-6, atol=1e-12, check_dtype=False),
    notes=(
        "a count divided by S <= 20000: exact up to the division's round-off (<= 6e-8 relative even in "
        "float32), while one sample more or less changes the fraction by >= 1/S relative (>= 5e-5). "
        "One visible case puts K exactly on eps (0.5 and 0.75 are exact binary fractions) because the text asks "
        "for a strict K < eps; elsewhere no K lies within 1e-12 of an eps. Any floating dtype is accepted."
    ),
))


# ----------------------------------------------------------------------------- volume_exponent


def _volume_curve(label, lam, m, c, eps, noise_sd, seed, dtype=torch.float64, device=None):
    g = torch.Generator().manual_seed(seed)
    log_eps = torch.log(eps)
    log_V = math.log(c) + lam * log_eps + ((m - 1) * torch.log(-log_eps) if m != 1 else 0.0)
    log_V = log_V + noise_sd * torch.randn(eps.shape, generator=g, dtype=torch.float64)
    return Case(label, {"eps": eps.to(dtype=dtype, device=device), "V": torch.exp(log_V).to(dtype=dtype, device=device), "m": m})


def _volume_exponent_cases(suite, device):
    f64 = torch.float64
    if suite == "visible":
        return [
            _volume_curve("exact V = 2 eps^(1/2), m = 1, eps = 1e-6..1e-1", 0.5, 1, 2.0, torch.logspace(-6, -1, 6, dtype=f64), 0.0, 0,
                          device=device),
            _volume_curve("V = 0.3 eps^(1/2) (-log eps), m = 2 (w1^2 w2^2), with 2% noise", 0.5, 2, 0.3,
                          torch.logspace(-8, -2, 10, dtype=f64), 0.02, 1, device=device),
            _volume_curve("m = 1 with eps up to 2 (allowed: no log factor when m = 1), 3% noise", 0.75, 1, 1.0,
                          torch.logspace(-5, 0.3, 6, dtype=f64), 0.03, 6, device=device),
        ] + must_raise(
            ("m = 2 with an eps equal to 1 (log(-log eps) does not exist): ValueError",
             {"eps": torch.tensor([1e-3, 1e-2, 1.0], dtype=f64, device=device),
              "V": torch.tensor([0.01, 0.05, 1.0], dtype=f64, device=device), "m": 2}),
            ("m = 2 with an eps equal to 0: ValueError",
             {"eps": torch.tensor([0.0, 1e-2, 1e-1], dtype=f64, device=device),
              "V": torch.tensor([1e-4, 0.05, 0.2], dtype=f64, device=device), "m": 2}),
            ("eps of length 3 and V of length 2: ValueError",
             {"eps": torch.tensor([1e-3, 1e-2, 1e-1], dtype=f64, device=device),
              "V": torch.tensor([0.01, 0.05], dtype=f64, device=device), "m": 1}))
    return must_raise(("m above one with an eps above one (log(-log eps) does not exist): ValueError",
                         {"eps": torch.tensor([1e-2, 0.5, 1.5], dtype=f64, device=device),
                          "V": torch.tensor([0.01, 0.2, 0.6], dtype=f64, device=device), "m": 3}),
                        ("eps longer than V, no log term: ValueError",
                         {"eps": torch.logspace(-4, -1, 4, dtype=f64, device=device),
                          "V": torch.tensor([0.01, 0.1, 0.3], dtype=f64, device=device), "m": 1})) + [
        _volume_curve("a log term with m above two, a large exponent (a deep linear network), many values of eps, noisy", 5.5, 3, 0.01,
                      torch.logspace(-10, -2, 15, dtype=f64), 0.05, 2, device=device),
        _volume_curve("no log term, a small exponent, a little noise, unevenly spaced eps", 0.25, 1, 1.3,
                      torch.tensor([1e-9, 3e-8, 1e-6, 2e-6, 5e-4, 1e-2], dtype=f64), 0.01, 3, device=device),
        _volume_curve("a log term, a small exponent (a product of quartics), only two values of eps, no noise", 0.25, 2, 0.5, torch.tensor([1e-6, 1e-3], dtype=f64), 0.0, 4,
                      device=device),
        _volume_curve("float32: a log term, some noise, several values of eps", 1.0, 2, 0.2, torch.logspace(-6, -1, 8, dtype=f64), 0.02, 5,
                      dtype=torch.float32, device=device),
    ]


_volume_exponent_close = tensor_close(rtol=1e-9, atol=1e-10, rtol32=1e-4, atol32=1e-4)


def _slope(x, y, intercept=True):
    """Least-squares slope of ``y`` against ``x`` (through the origin when ``intercept`` is False)."""
    if intercept:
        x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x * x).sum())


def volume_exponent_judge(case, expected, got):
    """Judge the slope; when it equals a fit with one term wrong, say which term (derived from the failure)."""
    message = _volume_exponent_close(case, expected, got)
    if message is None or not isinstance(got, torch.Tensor) or got.numel() != 1:
        return message
    eps, V, m = case.kwargs["eps"].double().cpu(), case.kwargs["V"].double().cpu(), case.kwargs["m"]
    x, y = torch.log(eps), torch.log(V)
    log_term = (m - 1) * torch.log(-x) if m != 1 else torch.zeros_like(x)
    wrong_fits = [
        (_slope(x, y + log_term), "hint: your slope is the fit with the (m-1) log(-log eps) term moved to the left "
                                  "with the wrong sign: log V - (m-1) log(-log eps) is the straight line in log eps"),
        (_slope(x, y), "hint: your slope is the fit without the (m-1) log(-log eps) term: with m > 1 it belongs in "
                       "the model, so subtract it from log V before fitting"),
        (_slope(x, y - log_term, intercept=False), "hint: your slope is a line through the origin: the model has an "
                                                   "intercept, log c, to be fitted too"),
    ]
    value, right = float(got.detach().double().cpu()), float(expected)
    for alt, hint in wrong_fits:
        close = 1e-4 * max(1.0, abs(alt))
        if abs(value - alt) <= close < abs(alt - right):
            return message + "\n" + hint
    return message


register(Exercise(
    id="degenerate.volume_exponent",
    reference=volume.volume_exponent,
    cases=_volume_exponent_cases,
    judge=volume_exponent_judge,
    notes=(
        "a two-parameter least-squares fit (the known (m-1) log(-log eps) moved to the left-hand side) in "
        "log eps in [-23, 0]: well conditioned, float64 error ~1e-13 -> rtol 1e-9. float32: log V and "
        "log eps are good to ~6e-8 relative of |log| <= 25, ~1.5e-6, spread over 8 points -> ~1e-5 on lam "
        "(rtol, atol 1e-4). Ignoring m, fitting log V against eps or eps against V miss by >= 0.05. A failed "
        "case whose output equals (to 1e-4) the fit with the log term's sign flipped, without the log term, or "
        "through the origin gets a hint naming that term."
    ),
))


# ----------------------------------------------------------------------------- normal_crossing (theory)


def _nc_kind(k, h, hidden=False):
    """What kind of input ``(k, h)`` is, in words. ``hidden``: no numbers at all (neither the number of
    coordinates nor m, which is part of the answer)."""
    lam, m = theory.normal_crossing(k, h)
    if hidden:
        words = ["one coordinate" if len(k) == 1 else "several coordinates"]
    else:
        words = [f"{len(k)} coordinate{'s' if len(k) > 1 else ''}"]
    if 0 in k:
        words.append("a zero exponent")
    words.append("uniform prior" if h is None else "prior exponents h")
    if hidden:
        words.append("a tie" if m > 1 else "no tie")
    else:
        words.append(f"a tie: m = {m}" if m > 1 else "no tie")
    return ", ".join(words)


def _nc_cases(suite, device):
    if suite == "visible":
        def case(k, h=None):
            return Case(f"k = {k}" + ("" if h is None else f", h = {h}") + f" ({_nc_kind(k, h)})", {"k": k, "h": h})

        return [case((2,)), case((1, 1)), case((1, 2)), case((2, 0, 1)), case((1, 1), h=(0, 2)),
                case((2, 1), h=(Fraction(1, 2), 0))] + must_raise(
            ("k = (0, 0): no positive exponent: ValueError", {"k": (0, 0), "h": None}),
            ("k = (2.0,): a float is not an int here, even with an integer value: ValueError", {"k": (2.0,), "h": None}),
            ("k = (1, 2), h = (0,): h needs one entry per k: ValueError", {"k": (1, 2), "h": (0,)}),
            ("k = (1, True): a bool is not an int here: ValueError", {"k": (1, True), "h": None}),
        )

    def case(i, k, h=None):
        return Case(f"hidden case {i}: {_nc_kind(k, h, hidden=True)}", {"k": k, "h": h})

    params = [((1,), None), ((3,), None), ((2, 2), None), ((1, 2, 1), None), ((0, 3), None), ((2, 0, 4), None),
              ((1, 1, 1, 1), None), ((3, 6, 2), None), ((1, 1), (0, 2)), ((2, 1), (1, 0)), ((1, 2), (1, 3)),
              ((2, 4, 6), (1, 3, 5)), ((1, 3), (2, 2)), ((0, 1), (5, 1))]
    return [case(i, k, h) for i, (k, h) in enumerate(params, 1)] + must_raise(
        ("k empty (no exponents): ValueError", {"k": (), "h": None}),
        ("a negative exponent in k: ValueError", {"k": (1, -1), "h": None}),
        ("a non-integer exponent in k: ValueError", {"k": (1.5, 1), "h": None}),
        ("a bool in k (not an int here): ValueError", {"k": (True, 1), "h": None}),
        ("a negative prior exponent in h: ValueError", {"k": (1, 1), "h": (0, -1)}),
        ("a float prior exponent in h (use a Fraction): ValueError", {"k": (1, 1), "h": (0, 0.5)}),
    )


register(Exercise(
    id="degenerate.normal_crossing",
    reference=theory.normal_crossing,
    cases=_nc_cases,
    judge=exact_lambda_m,
    notes="exact: lam a Fraction equal to the reference, m an equal int, on cases covering ties (m > 1), k_i = 0 and priors h.",
))


# ----------------------------------------------------------------------------- independent_sum (theory, reasoning)


def _sum_parts(blocks, h):
    return [theory.normal_crossing(k, hj) for k, hj in zip(blocks, h or [None] * len(blocks))]


def _sum_kind(blocks, h):
    """The kind of a hidden case, in words only (no counts, no m_j: those are part of the answer)."""
    parts = _sum_parts(blocks, h)
    sizes = {len(k) > 1 for k in blocks}
    if len(blocks) == 1:
        words = ["a single block of several variables" if sizes == {True} else "a single block of one variable"]
    else:
        words = ["several blocks", {frozenset({False}): "one variable per block",
                                    frozenset({True}): "several variables in every block"}.get(
                                        frozenset(sizes), "blocks of one and of several variables")]
    if any(m > 2 for _, m in parts):
        words.append("three or more tied exponents inside a block")
    elif any(m > 1 for _, m in parts):
        words.append("a tie inside a block")
    if any(0 in k for k in blocks):
        words.append("a zero exponent")
    words.append("uniform prior" if h is None else "prior exponents h")
    return ", ".join(words)


def _sum_diagnosis(blocks, h, lam, m, got_lam, got_m):
    """Which step of the text's derivation (steps 1-3 of exercise 7) this wrong answer missed.

    The hints point to the step and ask the question that step answers; they never state the rule.
    """
    parts = _sum_parts(blocks, h)
    lams, ms = [p[0] for p in parts], [p[1] for p in parts]
    per_variable = sum(Fraction((0 if h is None else hj[i]) + 1, 2 * ki)
                       for k, hj in zip(blocks, h or [None] * len(blocks)) for i, ki in enumerate(k) if ki > 0)
    if h is not None and any(hj is not None and any(hj) for hj in h):
        uniform = theory.independent_sum(blocks, None)
        if (got_lam, got_m) == uniform or got_lam == uniform[0] != lam:
            return ("lam, m: your answer is right for a uniform prior, but this case has prior exponents h. Look again "
                    "at step 2: each factor Z_n^(j) integrates that block's own prior phi_j, which is not uniform here; "
                    "which (lam_j, m_j) does exercise 6 give for the block's k and h_j?")
    why = []
    if got_lam != lam:
        if len(lams) > 1 and got_lam in lams:
            why.append("lam: your lam is one block's lam_j. Exercise 6's min rule is for ONE monomial, a PRODUCT of "
                       "powers, which is small as soon as one factor is; a SUM of blocks is small only when every "
                       "block is. Look again at steps 1 and 3: Z_n has one factor per block; what power of n does "
                       "the product of all the factors carry?")
        elif got_lam == per_variable and per_variable != lam:
            why.append("lam: you treated every variable as its own block. Look again at step 2: inside a block the "
                       "variables MULTIPLY (w1^2 w2^2 is one monomial), so Fubini gives one factor per block, not per "
                       "variable; which (lam_j, m_j) does exercise 6 give for the whole block?")
        else:
            why.append("lam: look again at steps 2 and 3: write each block's factor Z_n^(j) for large n in the form "
                       "c_j n^(-lam_j) (log n)^(m_j - 1), multiply the factors, and read off the power of n.")
    if got_m != m:
        ties = [mj for mj in ms if mj > 1]
        if got_m == sum(ms):
            counted = " (your m looks like a count of the m_j themselves: in step 2 the log factor has power m_j - 1)"
        elif got_m == 1 + len(ties):
            counted = (" (your m grows by one for each block with a tie, as if every such factor carried exactly one "
                       "power of log n: in step 2, how many powers of log n does a block with m_j = 3 carry?)")
        elif ties and got_m == max(ties) + len(ties) - 1:
            counted = (" (your m takes all the log powers of the block with the largest m_j but only one from each "
                       "other block with a tie: in step 2, each factor carries its own (log n)^(m_j - 1))")
        else:
            counted = ""
        why.append("m: look again at step 3: m - 1 is the power of log n in the product of the factors "
                   f"c_j n^(-lam_j) (log n)^(m_j - 1); what power of log n does that product carry?{counted}")
    return "\n".join(why)


def sum_judge(case, expected, got):
    """Judge ``(λ, m)`` exactly; on a wrong answer explain the reasoning, derived from what was wrong."""
    message = exact_lambda_m(case, expected, got)
    if message is None or not isinstance(got, (tuple, list)) or len(got) != 2:
        return message
    try:
        got_lam, got_m = Fraction(got[0]), int(got[1])
    except (TypeError, ValueError):
        return message
    hint = _sum_diagnosis(case.kwargs["blocks"], case.kwargs["h"], *expected, got_lam, got_m)
    return message + ("\n" + hint if hint else "")


def _sum_cases(suite, device):
    if suite == "visible":
        def case(text, blocks, h=None):
            return Case(f"{text}: blocks = {blocks}" + ("" if h is None else f", h = {h}"), {"blocks": blocks, "h": h})

        return [case("K = w1^2 + w2^2 (a regular model, lam = d/2)", [(1,), (1,)]),
                case("K = w1^2 + w2^4", [(1,), (2,)]),
                case("K = w1^2 w2^2 + w3^2 w4^2", [(1, 1), (1, 1)]),
                case("K = w1^2 w2^2 w3^2 + w4^4 w5^4 w6^4 (three tied exponents in each block)", [(1, 1, 1), (2, 2, 2)])] + must_raise(
            ("no blocks: ValueError", {"blocks": [], "h": None}),
            ("a block with no positive exponent: ValueError", {"blocks": [(1,), (0, 0)], "h": None}))
    # generated parameter sets: 2-4 blocks of 1-3 variables, exponents 0-4, some with prior exponents
    g = torch.Generator().manual_seed(2024)
    params = []
    while len(params) < 10:
        n_blocks = int(torch.randint(2, 5, (1,), generator=g))
        blocks = []
        for _ in range(n_blocks):
            k = torch.randint(0, 5, (int(torch.randint(1, 4, (1,), generator=g)),), generator=g).tolist()
            blocks.append(tuple(k) if max(k) > 0 else tuple(k[:-1]) + (1 + int(torch.randint(0, 4, (1,), generator=g)),))
        h = None
        if len(params) % 3 == 2:
            h = [tuple(torch.randint(0, 3, (len(k),), generator=g).tolist()) for k in blocks]
        params.append((blocks, h))
    params += [([(1, 1), (2, 2), (3,)], None),         # ties in two blocks
               ([(2,), (2,), (2,), (2,)], None),        # four equal blocks
               ([(0, 2), (1, 0, 1)], [(3, 0), (0, 5, 0)]),  # zero exponents and a prior
               ([(1, 1, 1)], None),                     # one block with m_j = 3
               ([(1, 1, 1), (2,)], None),               # m_j = 3 next to m_j = 1
               ([(1, 1, 1), (1, 1, 1)], None),          # two blocks with m_j = 3
               ([(2, 2, 2, 2), (1, 1, 1), (1, 1)], None)]  # m_j = 4, 3 and 2
    cases = [Case(f"hidden case {i}: {_sum_kind(b, h)}", {"blocks": b, "h": h}) for i, (b, h) in enumerate(params, 1)]
    return cases + must_raise(("h with a different number of blocks: ValueError", {"blocks": [(1,), (2,)], "h": [(0,)]}))


register(Exercise(
    id="degenerate.independent_sum",
    reference=theory.independent_sum,
    cases=_sum_cases,
    judge=sum_judge,
    notes=("exact: lam a Fraction, m an int. 17 hidden parameter sets (10 generated from a seeded generator: 2-4 "
           "blocks of 1-3 variables, exponents 0-4, a third with prior exponents; 7 chosen for ties, blocks with "
           "m_j >= 3 (so that a rule built from blocks with m_j = 2 only fails) and zero "
           "exponents), labelled by kind only. A wrong answer's message names the step of the text's derivation it "
           "missed (one block's lam, every variable its own block, the prior h ignored, the log-power of m) "
           "without stating the rule."),
))


# ----------------------------------------------------------------------------- reduced_rank_regression (theory)


def _rrr_regime(M, H, N, r):
    """Which branch of Aoyagi & Watanabe (2005) applies (used to pick cases that cover them all)."""
    if M + H < N + r:
        return "M+H < N+r"
    if N + H < M + r:
        return "N+H < M+r"
    if M + N < H + r:
        return "M+N < H+r"
    return "main, M+H+N+r " + ("even" if (M + H + N + r) % 2 == 0 else "odd")


def _rrr_cases(suite, device):
    if suite == "visible":
        def case(M, H, N, r):
            return Case(f"M = {M}, H = {H}, N = {N}, r = {r} ({_rrr_regime(M, H, N, r)})", {"M": M, "H": H, "N": N, "r": r})

        return [case(3, 2, 3, 1), case(4, 3, 8, 0), case(2, 2, 3, 0), case(2, 5, 3, 1)] + must_raise(
            ("r = 3 > min(M, H, N) = 2: ValueError", {"M": 3, "H": 2, "N": 3, "r": 3}),
            ("M = True: a bool is not an int here: ValueError", {"M": True, "H": 2, "N": 3, "r": 0}),
            ("M = 0 (not a positive int): ValueError", {"M": 0, "H": 2, "N": 3, "r": 0}),
            ("r = True: a bool is not an int here: ValueError", {"M": 3, "H": 2, "N": 3, "r": True}))
    count = {}

    def case(M, H, N, r, kind=""):
        regime = _rrr_regime(M, H, N, r)
        count[regime] = count.get(regime, 0) + 1
        return Case(f"regime {regime}{kind}, case {count[regime]}", {"M": M, "H": H, "N": N, "r": r})

    # every branch several times: all (M, H, N, r) with sizes <= 6, r <= min(M, H, N), taking the first
    # four of each branch in a fixed shuffled order, plus published and large cases
    chosen, seen = [], {}
    order = list(itertools.product(range(1, 7), range(1, 7), range(1, 7), range(0, 7)))
    perm = torch.randperm(len(order), generator=torch.Generator().manual_seed(7)).tolist()
    for i in perm:
        M, H, N, r = order[i]
        if r > min(M, H, N):
            continue
        regime = _rrr_regime(M, H, N, r)
        if seen.get(regime, 0) < 4:
            seen[regime] = seen.get(regime, 0) + 1
            chosen.append(case(M, H, N, r))
    boundaries = [  # exactly on a boundary of the theorem's conditions, and one step inside each branch
        case(2, 2, 3, 1, ", on the boundary M+H = N+r"), case(2, 2, 4, 1, ", one past M+H = N+r"),
        case(3, 2, 2, 1, ", on the boundary N+H = M+r"), case(4, 2, 2, 1, ", one past N+H = M+r"),
        case(2, 3, 2, 1, ", on the boundary M+N = H+r"), case(2, 4, 2, 1, ", one past M+N = H+r"),
    ]
    errors = must_raise(
        ("r negative: ValueError", {"M": 3, "H": 3, "N": 3, "r": -1}),
        ("H a float with an integer value: ValueError", {"M": 3, "H": 2.0, "N": 3, "r": 1}),
        ("N a bool (not an int here): ValueError", {"M": 3, "H": 2, "N": True, "r": 0}),
        ("r a float with an integer value: ValueError", {"M": 3, "H": 2, "N": 3, "r": 1.0}),
        ("r a bool (not an int here): ValueError", {"M": 3, "H": 2, "N": 3, "r": True}),
        ("r above min(M, H, N), below max(M, H, N): ValueError", {"M": 5, "H": 3, "N": 4, "r": 4}))
    return chosen + boundaries + [case(5, 3, 5, 0), case(10, 10, 10, 10), case(30, 7, 20, 3), case(1, 1, 1, 1)] + errors


register(Exercise(
    id="degenerate.reduced_rank_regression",
    reference=theory.reduced_rank_regression,
    cases=_rrr_cases,
    judge=exact_lambda_m,
    notes=("exact: Fractions and ints; the hidden cases cover each of the five branches (three boundary regimes, main "
           "case with even and odd M+H+N+r) at least four times, and each boundary of the conditions exactly (where "
           "the formulas of the two sides agree: the theorem is continuous there) and one step past it."),
))


# ----------------------------------------------------------------------------- deep_linear_network (theory)


def _dln_kind(widths, r, hidden=False):
    lam, m = theory.deep_linear_network(widths, r)
    Ms = sorted(H - r for H in widths)
    size = next(k for k in range(2, len(Ms) + 1) if k == len(Ms) or sum(Ms[:k]) < (k - 1) * Ms[k])
    if hidden:  # words only: no counts, and not m (part of the answer)
        layers = {1: "one layer", 2: "two layers"}.get(len(widths) - 1,
                                                       "several layers" if len(widths) <= 5 else "many layers")
        index_set = ("an index set of every width" if size == len(widths) else
                     "the smallest index set" if size == 2 else "an index set of some of the widths")
        return f"{layers}, " + ("r zero" if r == 0 else "r positive") + f", {index_set}"
    return (f"{len(widths) - 1} layer{'s' if len(widths) > 2 else ''}, " + ("r = 0" if r == 0 else "r > 0")
            + f", index set of {size} of {len(widths)} widths" + (f", m = {m}" if m > 1 else ", m = 1"))


def _dln_cases(suite, device):
    if suite == "visible":
        def case(widths, r):
            return Case(f"widths = {list(widths)}, r = {r} ({_dln_kind(widths, r)})", {"widths": list(widths), "r": r})

        return [case([3, 4], 0), case([4, 3, 8], 0), case([4, 3, 3, 4], 1)] + must_raise(
            ("one width only: ValueError", {"widths": [3], "r": 0}),
            ("r = 3 > min(widths) = 2: ValueError", {"widths": [4, 2, 5], "r": 3}),
            ("r = True: a bool is not an int here: ValueError", {"widths": [3, 2, 3], "r": True}))
    count = [0]

    def case(widths, r, kind=""):
        count[0] += 1
        return Case(f"hidden case {count[0]}: {_dln_kind(widths, r, hidden=True)}{kind}", {"widths": list(widths), "r": r})

    g = torch.Generator().manual_seed(11)
    random_cases = []
    for layers in (3, 4, 5, 6):
        for _ in range(3):
            widths = (1 + torch.randint(0, 8, (layers + 1,), generator=g)).tolist()
            r = int(torch.randint(0, min(widths) + 1, (1,), generator=g))
            random_cases.append(case(widths, r))
    return [
        case([5, 2], 2), case([3, 2, 3], 1), case([5, 3, 5], 0), case([2, 6, 6, 2], 0), case([6, 1, 6], 1),
        case([3, 3, 3, 3, 3], 0), case([3, 3, 3, 3, 3], 3), case([10, 2, 10, 2, 10], 1),
        # on the boundaries of the index-set conditions: a tie between the largest M in Σ and the smallest
        # outside (Σ must grow past it), sum_Σ M exactly equal to ℓ times the next M (Σ must grow), and
        # sum_Σ M exactly ℓ max_Σ M
        case([1, 1, 2], 1, " (sum_Σ M = ℓ max_Σ M)"), case([2, 4, 4, 6], 0, " (a tie at the edge of Σ)"),
        case([2, 3, 5], 0, " (sum_Σ M = ℓ × the next M)"), case([3, 3, 3, 9], 0, " (sum_Σ M = ℓ × the next M)"),
    ] + random_cases + must_raise(
        ("no widths: ValueError", {"widths": [], "r": 0}),
        ("a zero width (not positive): ValueError", {"widths": [3, 0, 3], "r": 0}),
        ("a float width with an integer value: ValueError", {"widths": [3, 2.0, 3], "r": 0}),
        ("a bool width (not an int here): ValueError", {"widths": [3, True, 3], "r": 0}),
        ("r a bool (not an int here): ValueError", {"widths": [3, 2, 3], "r": False}),
        ("r negative: ValueError", {"widths": [3, 2, 3], "r": -1}),
        ("r a float with an integer value: ValueError", {"widths": [3, 2, 3], "r": 1.0}),
        ("r above min(widths), below max(widths): ValueError", {"widths": [5, 2, 6], "r": 3}))


register(Exercise(
    id="degenerate.deep_linear_network",
    reference=theory.deep_linear_network,
    cases=_dln_cases,
    judge=exact_lambda_m,
    notes="exact: Fractions and ints, on one-layer, two-layer (reduced-rank regression) and deeper networks, including m > 1.",
))
