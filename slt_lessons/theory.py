"""Exact learning coefficients: the theorems that the numerical lessons are checked against.

The learning coefficient ``λ`` (real log canonical threshold) and its multiplicity ``m``
describe the free energy ``F_n = n L_n(w_0) + λ log n − (m − 1) log log n + O_p(1)``
(Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP).
Every function here takes plain Python integers (or ``Fraction``) and returns exact
``fractions.Fraction`` values, so tests can compare with ``==``. Each is the answer to an
exercise, so each body stands alone (it imports ``Fraction`` itself).

- :func:`regular`                 ``d/2`` (returns ``λ``)
- :func:`normal_crossing`         ``K = ∏ w_i^{2k_i}``, prior ``∏ |w_i|^{h_i}`` (returns ``(λ, m)``)
- :func:`independent_sum`         ``K = Σ_j`` (a monomial in its own variables) (returns ``(λ, m)``)
- :func:`reduced_rank_regression` Aoyagi & Watanabe (2005) (returns ``(λ, m)``)
- :func:`deep_linear_network`     Aoyagi (2024) (returns ``(λ, m)``)
- :func:`tanh_network`            one-input tanh network with true function 0 (returns ``(λ, m)``)
"""

from __future__ import annotations

import math

__all__ = ["regular", "normal_crossing", "independent_sum", "reduced_rank_regression", "deep_linear_network", "tanh_network"]


def regular(d):
    """``λ = d/2`` (a ``Fraction``) for a regular model with ``d`` parameters (``m = 1``).

    A regular model has a positive definite Fisher information at its unique true parameter;
    the Laplace approximation then gives ``F_n = n L_n(ŵ) + (d/2) log n + O_p(1)``
    (Schwarz 1978, *Ann. Statist.* 6:461–464, the BIC).
    """
    from fractions import Fraction

    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int, got {d!r}")
    return Fraction(d, 2)


def normal_crossing(k, h=None):
    """``(λ, m)`` (a ``Fraction`` and an int) of ``K(w) = a(w) ∏_i w_i^{2k_i}`` (``a > 0``) with prior
    ``φ(w) ∝ ∏_i |w_i|^{h_i}``.

    ``λ = min_i (h_i + 1)/(2k_i)`` over the indices with ``k_i > 0``, and ``m`` is the number of
    indices attaining the minimum: the zeta function ``∫ K^z φ dw`` factorises into
    ``∏_i 1/(2k_i z + h_i + 1)`` (times a holomorphic function), whose largest pole is at
    ``z = −λ`` with order ``m`` (Watanabe 2009, *Algebraic Geometry and Statistical Learning
    Theory*, Cambridge UP, ch. 2 and ch. 6).

    ``k``: non-negative ints, not all zero. ``h``: non-negative ints or Fractions (default 0,
    a uniform prior), one per ``k``.
    """
    from fractions import Fraction

    k = list(k)
    h = [0] * len(k) if h is None else list(h)
    if not k or any(isinstance(ki, bool) or not isinstance(ki, int) or ki < 0 for ki in k) or max(k) == 0:
        raise ValueError(f"k must be non-negative ints, at least one positive, got {k!r}")
    if len(h) != len(k) or any(isinstance(hi, bool) or not isinstance(hi, (int, Fraction)) or hi < 0 for hi in h):
        raise ValueError(f"h must be {len(k)} non-negative ints or Fractions (one per k), got {h!r}")
    ratios = [Fraction(hi + 1, 2 * ki) for ki, hi in zip(k, h) if ki > 0]
    lam = min(ratios)
    return lam, ratios.count(lam)


def independent_sum(blocks, h=None):
    """``(λ, m)`` (a ``Fraction`` and an int) of a sum of monomials in separate variables.

    ``K(w) = Σ_j ∏_i w_{j,i}^{2 k_{j,i}}``: block ``j`` is a monomial in its own variables
    ``w_{j,1}, w_{j,2}, ...`` (no variable appears in two blocks), with the exponents
    ``blocks[j] = (k_{j,1}, k_{j,2}, ...)``, non-negative ints with at least one positive, and the prior
    ``φ(w) ∝ ∏_{j,i} |w_{j,i}|^{h_{j,i}}`` near 0 (``h=None``: uniform; else ``h[j]`` holds the
    exponents of block ``j``, or is None). Example: ``blocks = [(1,), (2,)]`` is ``K = w_1² + w_2⁴``.
    The derivation goes through the partition function ``Z_n = ∫ φ e^{−nK} dw`` (Watanabe 2009,
    *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP, ch. 4 and 6).
    """
    # Because the variables and the prior factorise over the blocks, so does Z_n = ∏_j Z_n^{(j)}, and
    # each block alone is a normal crossing with Z_n^{(j)} ≈ c_j n^{−λ_j} (log n)^{m_j − 1}. The product is
    # c n^{−Σλ_j} (log n)^{Σ(m_j − 1)}: λ = Σ_j λ_j and m − 1 = Σ_j (m_j − 1).
    from fractions import Fraction

    from slt_lessons import theory

    blocks = list(blocks)
    h = [None] * len(blocks) if h is None else list(h)
    if not blocks or len(h) != len(blocks):
        raise ValueError(f"blocks must be a non-empty list of exponent tuples and h one entry per block, got {blocks!r}, {h!r}")
    lam, m = Fraction(0), 1
    for k_j, h_j in zip(blocks, h):
        lam_j, m_j = theory.normal_crossing(k_j, h_j)
        lam += lam_j
        m += m_j - 1
    return lam, m


def reduced_rank_regression(M, H, N, r):
    """``(λ, m)`` (a ``Fraction`` and an int) of reduced-rank regression ``y = B A x + noise``.

    ``x ∈ R^M``, ``A`` is ``H×M``, ``B`` is ``N×H``, ``y ∈ R^N``; the true map has rank ``r``
    (``0 <= r <= min(M, H, N)``). Main theorem of Aoyagi & Watanabe (2005), "Stochastic
    complexities of reduced rank regression in Bayesian estimation", *Neural Networks*
    18(7):924–933:

    - if ``N+r <= M+H``, ``M+r <= N+H`` and ``H+r <= M+N``:
      ``λ = [2(H+r)(M+N) − (M−N)² − (H+r)²]/8`` and ``m = 1`` when ``M+H+N+r`` is even,
      ``λ = [2(H+r)(M+N) − (M−N)² − (H+r)² + 1]/8`` and ``m = 2`` when it is odd;
    - if ``M+H < N+r``: ``λ = (HM − Hr + Nr)/2``;
    - if ``N+H < M+r``: ``λ = (HN − Hr + Mr)/2``;
    - if ``M+N < H+r``: ``λ = MN/2``  (``m = 1`` in these three cases).
    """
    from fractions import Fraction

    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (M, H, N)):
        raise ValueError(f"M, H and N must be positive ints, got {(M, H, N)!r}")
    if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= min(M, H, N):
        raise ValueError(f"r must be an int in [0, min(M, H, N) = {min(M, H, N)}], got {r!r}")
    if M + H < N + r:
        return Fraction(H * M - H * r + N * r, 2), 1
    if N + H < M + r:
        return Fraction(H * N - H * r + M * r, 2), 1
    if M + N < H + r:
        return Fraction(M * N, 2), 1
    numerator = 2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2
    s = numerator % 2  # the numerator has the parity of M + H + N + r
    return Fraction(numerator + s, 8), 1 + s


def deep_linear_network(widths, r):
    """``(λ, m)`` (a ``Fraction`` and an int) of the deep linear network ``x ↦ W_L ⋯ W_1 x``.

    ``widths = (H_1, ..., H_{L+1})`` from input to output (``W_j`` is ``H_{j+1}×H_j``); the true
    product has rank ``r``, ``0 <= r <= min(widths)``. Aoyagi (2024), "Consideration on the
    learning efficiency of multiple-layered neural networks with linear units", *Neural
    Networks* 172:106132, Theorem 1: with ``M_j = H_j − r``, take the index set Σ with
    ``|Σ| = ℓ + 1 >= 2``, ``max_Σ M < min_{not Σ} M``, ``Σ_Σ M >= ℓ max_Σ M`` and
    ``Σ_Σ M < ℓ min_{not Σ} M`` (only the sets of the ``ℓ + 1`` smallest ``M_j`` can qualify,
    and exactly one does: the smallest such set that meets the third condition meets the other
    two, since the set one smaller failed it); with ``S = Σ_Σ M_σ``, ``𝓜 = ⌈S/ℓ⌉``, ``a = S − (𝓜 − 1)ℓ``::

        λ = [−r² + r(H_1 + H_{L+1})]/2 + a(ℓ − a)/(4ℓ) − ℓ(ℓ − 1)/4 · (S/ℓ)² + ½ Σ_{σ<σ'∈Σ} M_σ M_σ'
        m = a(ℓ − a) + 1

    One layer gives ``H_1 H_2 / 2`` (a regular model) and two layers give
    :func:`reduced_rank_regression`.
    """
    from fractions import Fraction

    widths = list(widths)
    if len(widths) < 2 or not all(isinstance(H, int) and not isinstance(H, bool) and H >= 1 for H in widths):
        raise ValueError(f"widths must be at least two positive ints (input, ..., output), got {widths!r}")
    if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= min(widths):
        raise ValueError(f"r must be an int in [0, min(widths) = {min(widths)}], got {r!r}")
    Ms = sorted(H - r for H in widths)
    for size in range(2, len(Ms) + 1):  # Σ = the `size` smallest M_j, ℓ = size − 1
        ell, S = size - 1, sum(Ms[:size])
        if size == len(Ms) or S < ell * Ms[size]:  # the first such Σ also has max_Σ M < min_rest M <= S/ℓ
            break
    a = S - (-(-S // ell) - 1) * ell
    pairs = (S * S - sum(x * x for x in Ms[:size])) // 2  # Σ_{σ<σ'} M_σ M_σ'
    lam = (Fraction(-r * r + r * (widths[0] + widths[-1]), 2) + Fraction(a * (ell - a), 4 * ell)
           - Fraction(ell * (ell - 1), 4) * Fraction(S, ell) ** 2 + Fraction(pairs, 2))
    return lam, a * (ell - a) + 1


def tanh_network(H):
    """``(λ, m)`` (a ``Fraction`` and an int) of ``f(x) = Σ_{h=1}^H a_h tanh(b_h x)`` (one input)
    when the true function is 0.

    With ``i = ⌊√H⌋``: ``λ = (H + i² + i)/(4i + 2)``, and ``m = 2`` if ``i² = H`` else ``1``
    (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP, ch. 7,
    after Aoyagi's resolution of this model). ``H = 1, 2, 3`` give ``1/2, 2/3, 5/6``.
    """
    from fractions import Fraction

    if isinstance(H, bool) or not isinstance(H, int) or H < 1:
        raise ValueError(f"H must be a positive int, got {H!r}")
    i = math.isqrt(H)
    return Fraction(H + i * i + i, 4 * i + 2), 2 if i * i == H else 1
