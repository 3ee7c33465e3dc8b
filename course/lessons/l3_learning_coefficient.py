# %% [markdown]
# # Lesson 3: degenerate models and the learning coefficient
#
# Lesson 2 measured the learning coefficient $\lambda$ as the slope of the free energy against
# $\log n$. This lesson says where $\lambda$ comes from: the **geometry of the set of true
# parameters**, and how the population loss $K(w)$ vanishes on it. You will
#
# * see where networks are singular: at their true parameters when they have more units than the
#   truth needs, because continuous families of parameters give the same function and make the Fisher
#   information degenerate (exercises 1, 2);
# * write $K(w)$ for reduced-rank regression (a two-layer linear network) and look at its zero set
#   (exercise 3);
# * measure $\lambda$ as a **volume-scaling exponent** (exercises 4, 5), and derive it for $w^4$;
# * compute $\lambda$ exactly for normal crossings (exercise 6), **derive** it for sums of independent
#   terms (exercise 7), and use the theorems for reduced-rank regression and deep linear networks
#   (exercises 8, 9), checking the numbers against estimates.
#
# The theory exercises return exact fractions (`fractions.Fraction`), judged by exact equality.
# The demonstrations after an exercise run **your** function (through `yours`); while it is not
# written yet they say so in one line and use the course's reference instead.

# %% [setup]
import math
from fractions import Fraction
from itertools import combinations

import matplotlib.pyplot as plt
import torch

from slt_lessons import degenerate, free_energy, theory, volume
from slt_lessons.checks import check, yours
from slt_lessons.course import FAST
from slt_lessons.device import get_device
from slt_lessons.validation import require_ndim, require_positive, require_same_length

device = get_device()
torch.set_default_dtype(torch.float64)
print("tensors live on", device, "| fast mode:", FAST)

# %% [markdown]
# ## 1. Where neural networks are singular
#
# Take a one-input network with $H$ tanh units, $f(x, w) = \sum_{h=1}^H a_h \tanh(b_h x)$, $w = (a, b)$.
# Many parameters give the **same function**:
#
# * permuting the units, or flipping the signs of $(a_h, b_h)$ together. These are *discrete*
#   symmetries: they map a parameter to finitely many others, so on their own they make $W_0$ a finite
#   set of points, each of which can be perfectly regular;
# * a **dead unit**: if $a_h = 0$, then $b_h$ can be anything;
# * two units with $b_h = b_{h'}$ act as one unit with weight $a_h + a_{h'}$: only the sum matters.
#
# The last two are *continuous* families: through such a parameter runs a whole curve of parameters with
# the same function, so the set of true parameters $W_0 = \{w : K(w) = 0\}$ has positive dimension
# there. Along such a curve $f$ does not change, and that direction is in the kernel of the **Fisher information**
#
# $$I(w) = E_x\bigl[\nabla_w f(x,w)\,\nabla_w f(x,w)^\top\bigr] \approx \frac1n J^\top J,
# \qquad J_{ij} = \frac{\partial f(x_i, w)}{\partial w_j},$$
#
# (Gaussian regression with unit noise), which is then **degenerate**. Only continuous families lower
# the Fisher rank; the permutations and sign flips do not. A model is *regular* if $W_0$ is a single point with $I$ positive definite there,
# and *singular* otherwise (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*, ch. 1).
#
# **Exercise 1.** Write `fisher_information(jacobian)`: $(1/n)J^\top J$ for an $(n, d)$ Jacobian.

# %% [exercise] degenerate.fisher_information points=1

# %% [markdown]
# "Degenerate" is a statement about zero eigenvalues, and in floating point nothing is exactly zero.
# The **numerical rank** counts singular values above a tolerance *relative to the largest*, so that
# it does not depend on the units.
#
# **Exercise 2.** Write `numerical_rank(matrix, rtol)`: the number of singular values
# (`torch.linalg.svdvals`) **strictly** larger than `rtol` times the largest, as a Python `int` (0 for
# the zero matrix and for an empty one). Raise a `ValueError` when `rtol` is not positive.

# %% [exercise] degenerate.numerical_rank points=1

# %% [markdown]
# The rank of the Fisher information of the $H = 3$ tanh network (6 parameters) at a generic point,
# at points with a dead unit or two merged units, and at two true parameters of the zero function
# ($a = 0$, with $b$ generic or $b = 0$), computed with **your** two functions:

# %%
H = 3
x = torch.linspace(-2, 2, 200)
fisher, rank = yours(fisher_information), yours(numerical_rank)


def fisher_rank(a, b):
    w = torch.cat([torch.tensor(a), torch.tensor(b)])
    J = degenerate.output_jacobian(lambda w: degenerate.tanh_network_model(x, w[:H], w[H:]), w)
    return rank(fisher(J), 1e-9)


points = {
    "generic a = (1, -0.5, 0.8), b = (0.3, 1.2, -2)": ([1.0, -0.5, 0.8], [0.3, 1.2, -2.0]),
    "one dead unit: a_3 = 0": ([1.0, -0.5, 0.0], [0.3, 1.2, -2.0]),
    "two merged units: b_1 = b_2": ([1.0, -0.5, 0.8], [0.7, 0.7, -2.0]),
    "true parameter of f = 0: a = 0": ([0.0, 0.0, 0.0], [0.3, 1.2, -2.0]),
    "true parameter of f = 0: a = 0, b = 0": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
}
for label, (a, b) in points.items():
    print(f"{label:<48} Fisher rank {fisher_rank(a, b)} of {2 * H}")
lam_tanh, m_tanh = theory.tanh_network(H)
print(f"global learning coefficient of the H = {H} network for the truth f = 0: lambda = {lam_tanh}"
      f" = {float(lam_tanh):.3f}, m = {m_tanh}")

# %% [markdown]
# The generic point is regular (full rank), even though permuting its units and flipping their signs
# gives $3!\cdot 2^3 - 1 = 47$ other parameters with the same function. Every true parameter of a network with more units than the truth needs is a
# point like the last four: a dead or merged unit, so the Fisher information is singular there and the
# Laplace approximation of lesson 2 is undefined.
#
# **Local and global $\lambda$.** The Fisher rank says something about one point, $\lambda$ about the
# whole of $W_0$. At $a = 0$ with distinct nonzero $|b_h|$, $K$ is a positive definite quadratic form in
# the 3 coordinates of $a$ and exactly flat in the 3 of $b$ (every $b$ gives $f = 0$), so the volume
# near that point scales like $\varepsilon^{3/2}$: the *local* learning coefficient there is
# $\tfrac12\,\mathrm{rank} = 3/2$ (in general $\tfrac12\,\mathrm{rank}\,I(w)$ is only a lower bound for
# the local coefficient at $w$; here it is exact because the other directions are exactly flat).
# The *global* $\lambda$ printed above, $5/6$, is smaller: it is the smallest local coefficient over
# $W_0$, reached at the most singular true parameters, near $a = b = 0$, where the Fisher rank is 0
# (the theorem for this network: Watanabe 2009, ch. 7, after Aoyagi). The free energy, and
# everything in lessons 2 and 5 that measures $\lambda$ without saying where, sees the global value;
# a sampler localised at one point (lesson 5) sees that point's local value (Lau et al. 2023,
# arXiv:2308.12108).
#
# ## 2. The population loss and its zero set: reduced-rank regression
#
# The simplest model with these symmetries is the two-layer **linear** network (reduced-rank
# regression): $y = BAx + \xi$ with $x \in \mathbb R^M$, $A \in \mathbb R^{H\times M}$,
# $B \in \mathbb R^{N\times H}$, $x \sim N(0, I_M)$, $\xi \sim N(0, I_N)$ and true map
# $C \in \mathbb R^{N \times M}$. Its population loss is
#
# $$K(A, B) = E_x \tfrac12\lVert (BA - C)x\rVert^2 = \tfrac12\lVert BA - C\rVert_F^2 ,$$
#
# and $W_0 = \{(A, B): BA = C\}$ is invariant under $(A, B) \mapsto (GA, BG^{-1})$ for every invertible
# $G$: a whole manifold of true parameters, with singularities where $A$ or $B$ loses rank
# (Aoyagi & Watanabe 2005, *Neural Networks* 18:924–933).
#
# **Exercise 3.** Write `reduced_rank_K(A, B, C)`. `A` and `B` may carry leading batch dimensions
# (shapes `(..., H, M)` and `(..., N, H)`); return one value per batch entry (shape `A.shape[:-2]`).

# %% [exercise] degenerate.reduced_rank_K points=1

# %% [markdown]
# With $M = H = N = 1$, $K = \frac12(ab - c)^2$: level sets of $K$ for a true $c \neq 0$ (the hyperbola
# $ab = c$, smooth) and $c = 0$ (the cross $ab = 0$, singular at the origin), beside the normal
# crossing $K = w_1^2 w_2^4$ and the cusp $K = (w_1^2 - w_2^3)^2$. Near a singular point the region
# $\{K < \varepsilon\}$ is much larger than near a smooth point: that is what $\lambda$ measures.
# The first two panels are **your** `reduced_rank_K`, called once on a $301 \times 301$ batch of
# $1\times 1$ matrices $A = a$, $B = b$.

# %%
g = torch.linspace(-1.5, 1.5, 301)
W1, W2 = torch.meshgrid(g, g, indexing="ij")
K_rrr_yours = yours(reduced_rank_K)


def K_rrr(A, B, C):
    """Your reduced_rank_K, with a clear message when it does not return one value per batch entry."""
    K = K_rrr_yours(A, B, C)
    if not isinstance(K, torch.Tensor) or K.shape != A.shape[:-2]:
        shape = tuple(K.shape) if isinstance(K, torch.Tensor) else type(K).__name__
        raise ValueError(f"your reduced_rank_K returned shape {shape}, expected {tuple(A.shape[:-2])}: "
                         "it must be batched, see exercise 3")
    return K


ab = lambda c: K_rrr(W1[..., None, None], W2[..., None, None], torch.tensor([[c]]))  # noqa: E731
surfaces = {
    r"$\frac{1}{2}(ab - 0.5)^2$": ab(0.5),
    r"$\frac{1}{2}(ab)^2$": ab(0.0),
    r"$w_1^2 w_2^4$": degenerate.normal_crossing_K(torch.stack([W1, W2], -1), [1, 2]),
    r"$(w_1^2 - w_2^3)^2$": (W1**2 - W2**3) ** 2,
}
fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
for ax, (title, K) in zip(axes, surfaces.items()):
    ax.contour(g, g, K.T.log10(), levels=torch.arange(-6.0, 1.0, 1.0).tolist(), cmap="viridis")
    ax.contourf(g, g, (K.T < 1e-3).double(), levels=[0.5, 1.5], colors=["tab:orange"], alpha=0.5)
    ax.set_title(title + r", orange: $K < 10^{-3}$", fontsize=9); ax.set_aspect("equal")
axes[0].set_ylabel("second parameter"); plt.tight_layout(); plt.show()

# %% [markdown]
# ## 3. The learning coefficient as a volume-scaling exponent
#
# Let $V(\varepsilon) = \int_{K(w) < \varepsilon}\varphi(w)\,dw$, the prior mass of almost-true
# parameters. As $\varepsilon \to 0$,
#
# $$V(\varepsilon) = c\,\varepsilon^{\lambda}(-\log\varepsilon)^{m-1}\,(1 + o(1)),$$
#
# with the same $(\lambda, m)$ as the free energy: the largest pole $z = -\lambda$ (of order $m$) of the
# zeta function $\zeta(z) = \int K(w)^z\varphi(w)\,dw$, the Mellin transform of $V$ (Watanabe 2009,
# §6.2). For a regular model $K \approx \frac12 (w - w_0)^\top I (w - w_0)$, the region is an ellipsoid
# of volume $\propto \varepsilon^{d/2}$: $\lambda = d/2$. A singular model has more volume near $W_0$,
# so a smaller exponent. And $\lambda$ enters the free energy because
# $Z_n = \int \varphi e^{-nK} = \int_0^\infty e^{-nt}\,dV(t)$: small $t$ dominate, and
# $V(t)\propto t^\lambda$ gives $Z_n \propto n^{-\lambda}$.
#
# **Deriving $\lambda$ for $w^4$.** Take $d = 1$, $K(w) = w^4$ and the uniform prior on $[-1, 1]$
# ($\varphi = \tfrac12$). The normalised partition function is
# $Z_n = \tfrac12\int_{-1}^{1} e^{-n w^4}\,dw$. Substitute $w = n^{-1/4}u$, which makes the exponent
# $n w^4 = u^4$ free of $n$: $dw = n^{-1/4}du$ and
#
# $$Z_n = n^{-1/4}\cdot\tfrac12\int_{-n^{1/4}}^{n^{1/4}} e^{-u^4}\,du \;\longrightarrow\; n^{-1/4}\cdot\tfrac12\int_{-\infty}^{\infty} e^{-u^4}\,du ,$$
#
# so $F_n = -\log Z_n = \tfrac14\log n + O(1)$: $\lambda = 1/4$. For the regular $K = w^2$ the
# substitution that frees the exponent of $n$ is $w = n^{-1/2}u$, and it gives $\lambda = 1/2 = d/2$.
# The volume says the same: $\{w^4 < \varepsilon\}$ is
# $|w| < \varepsilon^{1/4}$, of prior mass $V(\varepsilon) = \varepsilon^{1/4}$. The recipe: find the
# power of $n$ that the substitution pulls out of $Z_n$.
#
# Monte Carlo: draw $w_1, \dots, w_S$ from the prior and count.
#
# **Exercise 4.** Write `volume_fraction(K_values, eps)`: for each $\varepsilon$ (a tensor of any shape)
# the fraction of the samples with $K(w_s) < \varepsilon$ (strictly below), as a tensor of the shape of `eps`.
# `K_values` holds one value per sample, shape `(S,)`: raise a `ValueError` for any other number of dimensions.

# %% [exercise] degenerate.volume_fraction points=1

# %% [markdown]
# **Exercise 5.** Write `volume_exponent(eps, V, m=1)`, returning the least-squares $\lambda$ in
# $\log V = \log c + \lambda\log\varepsilon + (m-1)\log(-\log\varepsilon)$ with $m$ given, as a 0-d tensor:
# move the known $(m-1)\log(-\log\varepsilon)$ to the left, fit a straight line to it as a function of
# $\log\varepsilon$, and return the line's slope. When
# $m \ne 1$ that term needs $0 < \varepsilon < 1$: raise a `ValueError` if some $\varepsilon$ is outside.
# When $m = 1$ there is no such term, and any $\varepsilon > 0$ (1 and above included) must work. Raise a
# `ValueError` too when `eps` and `V` differ in length.

# %% [exercise] degenerate.volume_exponent points=1

# %% [markdown]
# Volume against $\varepsilon$ on log-log axes, uniform prior on $[-1, 1]^d$, measured with **your**
# exercises 4 and 5, with the theory's slope:

# %%
S = 200_000 if FAST else 2_000_000
gen = torch.Generator().manual_seed(0)
fraction, exponent = yours(volume_fraction), yours(volume_exponent)
cases = {
    "w^2 (regular)": (lambda w: w[:, 0] ** 2, 1, theory.normal_crossing([1])),
    "w^4": (lambda w: w[:, 0] ** 4, 1, theory.normal_crossing([2])),
    "w1^2 w2^2": (lambda w: (w[:, 0] * w[:, 1]) ** 2, 2, theory.normal_crossing([1, 1])),
    "w1^2 + w2^2 (regular)": (lambda w: w[:, 0] ** 2 + w[:, 1] ** 2, 2, (Fraction(1), 1)),
    "(w1^2 - w2^3)^2 (cusp)": (lambda w: (w[:, 0] ** 2 - w[:, 1] ** 3) ** 2, 2, (Fraction(5, 12), 1)),
}
eps = torch.logspace(-6, -1, 11)
fig, ax = plt.subplots(figsize=(6.5, 4.5))
rows = []
for label, (K, d, (lam, m)) in cases.items():
    Kv = K(2 * torch.rand(S, d, generator=gen) - 1)
    V = fraction(Kv, eps)
    ok = V * S >= 50  # enough samples below eps for a usable estimate
    lam_hat = exponent(eps[ok], V[ok], m=m).item()
    rows.append(f"{label:<28} {lam_hat:14.3f} {float(lam):8.3f} {m:3d}")
    line = ax.loglog(eps[ok], V[ok], "o", ms=4, label=f"{label}: fit {lam_hat:.3f}, exact {lam}")
    e0 = eps[ok][-1]
    ax.loglog(eps[ok], V[ok][-1] * (eps[ok] / e0) ** float(lam) * ((-eps[ok].log()) / (-e0.log())) ** (m - 1), "-",
              color=line[0].get_color(), lw=0.8)
print(f"{'K':<28} {'fit (m given)':>14} {'lambda':>8} {'m':>3}", *rows, sep="\n")
ax.set_xlabel(r"$\varepsilon$"); ax.set_ylabel(r"$V(\varepsilon)$"); ax.legend(fontsize=7)
ax.set_title(r"volume of $\{K < \varepsilon\}$; lines: $\varepsilon^\lambda(-\log\varepsilon)^{m-1}$"); plt.show()

# %% [markdown]
# The fits land near the exact values, not on them: at the $\varepsilon$ that a few million samples
# reach, the $o(1)$ correction still bends the curves (the next terms of the expansion of $V$), and for $m = 2$ the $\log$ factor must be in the fit, or the slope
# is off by about $(m-1)/(-\log\varepsilon)$. Estimating $\lambda$ numerically is hard; the theorems
# below are what we check estimates against.
#
# ## 4. Normal crossings and resolution of singularities
#
# When $K$ is a monomial, $K(w) = \prod_i w_i^{2k_i}$, with a prior $\varphi(w) \propto \prod_i |w_i|^{h_i}$
# near the origin, everything is explicit: the zeta function factorises,
#
# $$\zeta(z) = \int_{[0,1]^d} \prod_i w_i^{2k_i z + h_i}\,dw = \prod_i \frac{1}{2k_i z + h_i + 1},$$
#
# so its poles are at $z = -(h_i + 1)/(2k_i)$, and
#
# $$\lambda = \min_{i:\,k_i > 0}\frac{h_i + 1}{2k_i}, \qquad m = \#\{i : \text{the minimum is attained}\}.$$
#
# This is the whole story because of **Hironaka's theorem** (resolution of singularities, 1964): for any
# analytic $K$ there is a change of variables $w = g(u)$ after which, locally, $K(g(u))$ is a monomial
# $\prod u_i^{2k_i}$ times a positive function and the Jacobian $|g'(u)|$ is a monomial $\prod |u_i|^{h_i}$
# (Watanabe 2009, Theorem 2.3 and ch. 6). For example, the *blow-up* $w_1 = u$, $w_2 = uv$ turns
# $K = (w_1^2 + w_2^2)^2$ into $u^4(1 + v^2)^2$ with Jacobian $|u|$: $k = (2, 0)$, $h = (1, 0)$, so
# $\lambda = 2/4 = 1/2$, while the regular $K = w_1^2 + w_2^2$ becomes $u^2(1 + v^2)$: $\lambda = 2/2 = 1$.
#
# **Exercise 6.** Write `normal_crossing(k, h=None)`: `k` holds non-negative ints, at least one
# positive; `h` one non-negative int or `Fraction` per entry of `k` (`h=None` means all zeros, a uniform
# prior); return `(lam, m)` with `lam` a `fractions.Fraction`. Indices with $k_i = 0$ do not constrain
# $\lambda$. Raise a `ValueError` for any other `k` or `h` (empty, all zero, negative, not ints — a
# `bool` is not an int here —, or `h` of the wrong length).

# %% [exercise] degenerate.normal_crossing points=2

# %% [markdown]
# The blow-up argument, checked by counting volumes (the prior $|u|^{h}$ is what the change of
# variables leaves behind):

# %%
Kv = ((2 * torch.rand(S, 2, generator=gen) - 1) ** 2).sum(1) ** 2  # (w1^2 + w2^2)^2
V = fraction(Kv, eps)
ok = V * S >= 50
lam_hat = exponent(eps[ok], V[ok]).item()
lam_nc, m_nc = yours(normal_crossing)([2, 0], [1, 0])
print(f"(w1^2 + w2^2)^2: volume exponent {lam_hat:.3f}; blow-up + normal crossing: lambda = {lam_nc}, m = {m_nc}")

# %% [markdown]
# ### Sums of independent terms: derive $\lambda$ and $m$
#
# Often $K$ is a sum of terms in **separate** variables, e.g. one term per layer or per unit that does
# not interact with the others: $K(w) = K_1(w^{(1)}) + K_2(w^{(2)}) + \dots$, where no variable appears in
# two terms, and the prior is a product $\varphi(w) = \varphi_1(w^{(1)})\varphi_2(w^{(2)})\cdots$. The
# normal-crossing rule does **not** apply to the sum as written ($K$ is not a monomial), but you can
# derive its $(\lambda, m)$ the way we derived $\lambda$ for $w^4$ above, from the partition function:
#
# 1. $e^{-nK} = e^{-nK_1}e^{-nK_2}\cdots$, so $Z_n = \int\varphi\, e^{-nK}\,dw$ **factorises** into one
#    integral per term: $Z_n = Z_n^{(1)} Z_n^{(2)}\cdots$ (Fubini).
# 2. Each factor is the partition function of a smaller model. Lesson 2's expansion of the free energy,
#    $F_n = -\log Z_n = \lambda\log n - (m - 1)\log\log n + O(1)$, says
#    $Z_n^{(j)} \approx c_j\, n^{-\lambda_j}(\log n)^{m_j - 1}$, with $(\lambda_j, m_j)$ from the
#    normal-crossing rule when the term is a monomial.
# 3. Multiply the factors and read the result in the same form, $c\,n^{-\lambda}(\log n)^{m-1}$: that
#    gives $\lambda$ and $m$ of the sum.
#
# Check yourself on the smallest case before you code: what does this give for $K = w_1^2 + w_2^2$
# (a regular model, so you know the answer from lesson 2)?
#
# **Exercise 7 (reasoning).** Write `independent_sum(blocks, h=None)`: $K$ is a sum of monomials, one per
# block, each in its own variables: `blocks[j]` holds the exponents $(k_{j,1}, k_{j,2}, \dots)$ of
# $\prod_i w_{j,i}^{2k_{j,i}}$, so `[(1,), (2,)]` is $K = w_1^2 + w_2^4$ and `[(1, 1), (3,)]` is
# $K = w_1^2w_2^2 + w_3^6$. `h` is None (uniform prior) or holds one entry per block: that block's prior
# exponents (as in exercise 6), or None. Return `(lam, m)` with `lam` a `Fraction`. You may call
# `theory.normal_crossing` (the course's exercise 6) for each block. Raise a `ValueError` when `blocks`
# is empty, `h` does not have one entry per block, or a block is not a valid `k` of exercise 6. The hidden checks use parameter sets you have not
# seen; a wrong answer's message says which step of the derivation it missed.

# %% [exercise] degenerate.independent_sum points=3

# %% [markdown]
# Your answer against an independent measurement: the slope of the free energy $F_n = -\log Z_n$ against
# $\log n$, by quadrature over $[-1, 1]^2$ (lesson 2's `free_energy_quad` and `fit_learning_coefficient`,
# which fits $m$ too, as in section 7). The three-variable $K = w_1^2w_2^2 + w_3^2$, whose first block has a
# tie, is measured with step 1: its $F_n$ is the sum of the free energies of $w_1^2w_2^2$ on $[-1, 1]^2$ and
# $w_3^2$ on $[-1, 1]$, each by quadrature.

# %%
ns = torch.logspace(2, 12, 8 if FAST else 16)
sums = {  # K: (its terms in separate variables, each with its number of variables), blocks
    "w1^2 + w2^4": ([(lambda w: w[:, 0] ** 2 + w[:, 1] ** 4, 2)], [(1,), (2,)]),
    "w1^4 + w2^6": ([(lambda w: w[:, 0] ** 4 + w[:, 1] ** 6, 2)], [(2,), (3,)]),
    "w1^2 w2^2 + w3^2": ([(lambda w: (w[:, 0] * w[:, 1]) ** 2, 2), (lambda w: w[:, 0] ** 2, 1)], [(1, 1), (1,)]),
}
lam_sum = yours(independent_sum)
answers = {label: lam_sum(blocks) for label, (terms, blocks) in sums.items()}  # first, so a fallback note comes before the table
print(f"{'K':<18} {'lambda fit':>10} {'yours':>6} {'m fit':>6} {'yours':>6}")
for label, (terms, blocks) in sums.items():
    lam, m = answers[label]
    F = sum(free_energy.free_energy_quad(K, ns, [(-1, 1)] * d, order=8, device=device).cpu() for K, d in terms)
    fit = free_energy.fit_learning_coefficient(ns, F)
    print(f"{label:<18} {fit.lam:10.3f} {str(lam):>6} {fit.m:6.2f} {m:6d}")

# %% [markdown]
# ## 5. Reduced-rank regression: the exact $\lambda$
#
# Aoyagi & Watanabe (2005) resolved the singularities of $K = \frac12\lVert BA - C\rVert_F^2$ for every
# $(M, H, N)$ and true rank $r$. With $d = H(M + N)$ parameters:
#
# * if $N + r \le M + H$, $M + r \le N + H$ and $H + r \le M + N$:
#   $\lambda = \frac{2(H + r)(M + N) - (M - N)^2 - (H + r)^2 + s}{8}$, where $s = 0, m = 1$ if
#   $M + H + N + r$ is even and $s = 1, m = 2$ if it is odd;
# * if $M + H < N + r$: $\lambda = \frac{HM - Hr + Nr}{2}$;
# * if $N + H < M + r$: $\lambda = \frac{HN - Hr + Mr}{2}$;
# * if $M + N < H + r$: $\lambda = \frac{MN}{2}$ (in these three cases $m = 1$).
#
# **Exercise 8.** Write `reduced_rank_regression(M, H, N, r)` returning `(lam, m)` with `lam` a
# `Fraction`. Raise a `ValueError` when $M$, $H$ or $N$ is not a positive int, or $r$ is not an int
# with $0 \le r \le \min(M, H, N)$ (a `bool` is not an int here).

# %% [exercise] degenerate.reduced_rank_regression points=1

# %% [markdown]
# How far below $d/2$ is it (your exercise 8)? And does the volume agree? For $(M, H, N) = (2, 2, 2)$
# and $r = 0$ ($d = 8$) we sample $A, B$ uniformly from $[-1, 1]^8$ and evaluate your `reduced_rank_K`:

# %%
rrr_lam = yours(reduced_rank_regression)
for M_, H_, N_ in [(2, 2, 2), (3, 2, 3), (5, 3, 5), (4, 3, 8), (10, 5, 10)]:
    lams = [rrr_lam(M_, H_, N_, r) for r in range(min(M_, H_, N_) + 1)]
    print(f"(M, H, N) = {(M_, H_, N_)}, d/2 = {H_ * (M_ + N_) / 2:5.1f}:  "
          + ", ".join(f"r={r}: {float(lam):.3g} (m={m})" for r, (lam, m) in enumerate(lams)))


def rrr_K(w, M=2, H=2, N=2):
    A, B = w[:, : H * M].reshape(-1, H, M), w[:, H * M:].reshape(-1, N, H)
    return K_rrr(A, B, torch.zeros(N, M))


fit = volume.volume_scaling_box(rrr_K, [(-1, 1)] * 8, S, gen)
print(f"\nvolume estimate for (2, 2, 2), r = 0: lambda = {fit.lam:.3f} +- {fit.lam_se:.3f} over eps in "
      f"[{fit.eps[0]:.1e}, {fit.eps[-1]:.1e}]; theorem: {rrr_lam(2, 2, 2, 0)[0]}; d/2 = 4")

# %% [markdown]
# The Monte Carlo exponent is far from $d/2 = 4$ and close to $3/2$, but not within its standard
# error: the standard error covers the counting noise only, and at the values of $\varepsilon$ that two
# million samples can reach the $o(1)$ term of the asymptotics still bends the curve. Pushing
# $\varepsilon$ down costs samples like $\varepsilon^{-\lambda}$; this is why lessons 4–5 turn to
# sampling the posterior near $W_0$ instead.
#
# ## 6. Deep linear networks
#
# A deep linear network $x \mapsto W_L\cdots W_1 x$ with widths $H_1$ (input), $H_2, \dots, H_{L+1}$
# (output) and a true product of rank $r$ has its $\lambda$ from Aoyagi (2024, *Neural Networks*
# 172:106132, Theorem 1). Let $M_j = H_j - r$. Sort the $M_j$; take the first $\ell + 1 \ge 2$ of them as
# the index set $\Sigma$, with the smallest $\ell$ such that
# $\max_{\Sigma} M < \min_{\text{not }\Sigma} M$, $\sum_\Sigma M \ge \ell\max_\Sigma M$ and
# $\sum_\Sigma M < \ell\min_{\text{not }\Sigma} M$ (conditions on an empty complement hold). With
# $S = \sum_{\Sigma} M_\sigma$, $\mathcal M = \lceil S/\ell\rceil$ and $a = S - (\mathcal M - 1)\ell$:
#
# $$\lambda = \frac{-r^2 + r(H_1 + H_{L+1})}{2} + \frac{a(\ell - a)}{4\ell} - \frac{\ell(\ell-1)}{4}\Bigl(\frac S\ell\Bigr)^2
#   + \frac12\sum_{\sigma < \sigma' \in \Sigma} M_\sigma M_{\sigma'}, \qquad m = a(\ell - a) + 1 .$$
#
# One layer gives $H_1H_2/2$ (a regular model); two layers give exercise 8.
#
# **Exercise 9.** Write `deep_linear_network(widths, r)` returning `(lam, m)`. Raise a `ValueError` when
# `widths` is not at least two positive ints or $r$ is not an int with $0 \le r \le \min$(widths)
# (a `bool` is not an int here).

# %% [exercise] degenerate.deep_linear_network points=1

# %% [markdown]
# Check your exercise 9 against your exercise 8 on every two-layer case with widths up to 6, then look at
# how $\lambda$ grows with depth compared with the parameter count:

# %%
dln_lam = yours(deep_linear_network)
agree = all(dln_lam([M_, H_, N_], r) == rrr_lam(M_, H_, N_, r)
            for M_ in range(1, 7) for H_ in range(1, 7) for N_ in range(1, 7) for r in range(min(M_, H_, N_) + 1))
print("two layers agree with reduced-rank regression on all cases:", agree)

depths = range(1, 9)
for width, r in [(4, 1), (4, 0)]:
    lam = [float(dln_lam([width] * (L + 1), r)[0]) for L in depths]
    d_half = [L * width * width / 2 for L in depths]
    plt.plot(list(depths), lam, "o-", label=rf"$\lambda$, width {width}, r = {r}")
plt.plot(list(depths), d_half, "k--", label="d/2 (width 4)")
plt.yscale("log"); plt.xlabel("number of layers L"); plt.ylabel("learning coefficient")
plt.legend(); plt.title("deep linear networks: $\\lambda$ stays far below d/2"); plt.show()

# %% [markdown]
# ## 7. Estimating $\lambda$ from the free energy, and checking the theorems
#
# Finally, close the loop with lesson 2: the slope of the normalised free energy
# $F^0_n = -\log\int\varphi\,e^{-nK}$ against $\log n$, for the two-dimensional models of this lesson,
# against the exact values from your exercises 6 and 8 (`free_energy.fit_learning_coefficient`
# includes the $\log\log n$ correction, so it estimates $m$ too).

# %%
nc = yours(normal_crossing)
checks = {
    "(ab)^2/2 (RRR 1,1,1, r=0)": (lambda w: 0.5 * (w[:, 0] * w[:, 1]) ** 2, rrr_lam(1, 1, 1, 0)),
    "w1^2 w2^4": (lambda w: w[:, 0] ** 2 * w[:, 1] ** 4, nc([1, 2])),
    "w1^4 w2^4": (lambda w: w[:, 0] ** 4 * w[:, 1] ** 4, nc([2, 2])),
}
print(f"{'K':<36} {'lambda fit':>10} {'exact':>6} {'m fit':>6} {'exact':>6}")
for label, (K, (lam, m)) in checks.items():
    F0 = free_energy.free_energy_quad(K, ns, [(-1, 1), (-1, 1)], order=8, device=device).cpu()
    fit = free_energy.fit_learning_coefficient(ns, F0)
    print(f"{label:<36} {fit.lam:10.3f} {float(lam):6.3f} {fit.m:6.2f} {m:6d}")

# %% [markdown]
# ## Explore (ungraded)
#
# * Fisher rank of the $H = 3$ tanh network at true parameters of the function $f = \tanh(x)$ (not the
#   zero function of section 1), e.g. $a = (1, 0, 0)$, $b = (1, 0.5, -2)$ (two dead units), or
#   $a = (0.5, 0.5, 0)$, $b = (1, 1, 0.3)$ (merged units): how many directions are flat? $\frac12\,$rank
#   is a lower bound for the *local* learning coefficient at that point. `theory.tanh_network` is the
#   *global* $\lambda$ for the truth $f = 0$ only, so it is no reference here; which true parameter of
#   $\tanh(x)$ do you expect to have the smallest local coefficient?
# * The prior matters: `normal_crossing([1, 1], [2, 0])`: what prior does $h = (2, 0)$ mean, and
#   why is $m$ now 1?
# * Derive $(\lambda, m)$ of $K = w_1^2 w_2^2 + w_3^4$ with exercise 7's reasoning, then check it by counting
#   volumes in three dimensions with your exercises 4 and 5.

# %%
# your experiments here

# %% [markdown]
# ## Summary
#
# * Continuous families of parameters with the same function (dead and merged units, the
#   $G$-invariance of linear layers) make $W_0$ a set of positive dimension with singularities, and the
#   Fisher information is degenerate on it. Permutations and sign flips only multiply the true
#   parameters into finitely many copies.
# * $\tfrac12\,$rank of the Fisher information bounds the *local* learning coefficient at a point from
#   below; the global $\lambda$ is the smallest local one over $W_0$ (3/2 at $a = 0$ against 5/6 for the
#   $H = 3$ tanh network).
# * $\lambda$ is the exponent of the volume of almost-true parameters, $V(\varepsilon)\sim\varepsilon^\lambda
#   (-\log\varepsilon)^{m-1}$, and the pole of $\int K^z\varphi$; resolution of singularities reduces it to
#   normal crossings, where $\lambda = \min (h_i + 1)/(2k_i)$. The substitution $w = n^{-1/(2k)}u$ in $Z_n$
#   derives it for one variable, and $Z_n$ factorises over terms in separate variables.
# * Exact values are known for reduced-rank regression and deep linear networks; they are far below
#   $d/2$, and numerical estimates (volume, free-energy slope) approach them slowly when $m > 1$.
#
# References: Hironaka (1964), *Ann. of Math.* 79:109–326; Aoyagi & Watanabe (2005), *Neural Networks*
# 18:924–933; Watanabe (2009), *Algebraic Geometry and Statistical Learning Theory*, Cambridge UP;
# Aoyagi (2024), *Neural Networks* 172:106132.

# %% [markdown]
# Check your whole notebook, hidden tests included, from the repository root: `.venv/bin/slt-course check my-work/l3_learning_coefficient/l3_learning_coefficient.ipynb`
# (that is where the README's set-up puts your copy; with the environment activated, `slt-course check l3_learning_coefficient.ipynb` in this folder works too).
