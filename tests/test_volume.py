"""slt_lessons.volume: exact volumes and Monte Carlo estimates of λ with honest standard errors."""


import numpy as np
import pytest
import torch

from slt_lessons import degenerate as dg
from slt_lessons import volume as vo
from slt_lessons.device import generator


def test_volume_fraction_counts_strictly_below():
    K = torch.tensor([0.0, 0.1, 0.2, 0.2, 0.5], dtype=torch.float64)
    eps = torch.tensor([[0.0, 0.2], [0.21, 1.0]], dtype=torch.float64)
    V = vo.volume_fraction(K, eps)
    expected = torch.tensor([[sum(k < e for k in K.tolist()) / 5 for e in row] for row in eps.tolist()], dtype=torch.float64)
    assert V.shape == eps.shape and torch.equal(V, expected)
    with pytest.raises(ValueError, match="K_values"):
        vo.volume_fraction(K.reshape(5, 1), eps)


@pytest.mark.parametrize("lam, m", [(0.25, 1), (0.5, 2), (1.5, 3)])
def test_volume_exponent_is_exact_on_the_asymptotic_form(lam, m):
    eps = torch.logspace(-12, -2, 20, dtype=torch.float64)
    V = 0.7 * eps**lam * (-eps.log()) ** (m - 1)
    assert vo.volume_exponent(eps, V, m=m).item() == pytest.approx(lam, rel=1e-12)
    if m > 1:  # leaving out the log factor lowers the slope by about (m − 1)/(−log ε)
        naive = vo.volume_exponent(eps, V, m=1).item()
        assert lam - naive == pytest.approx((m - 1) / (-eps.log()).mean().item(), rel=0.2)
    with pytest.raises(ValueError, match="eps"):
        vo.volume_exponent(eps * 1e3, V, m=2)


def test_exact_volume_of_a_normal_crossing():
    # K = w1² w2² uniform on [−1, 1]²: V(ε) = √ε (1 − log √ε) exactly (ε <= 1); λ = 1/2, m = 2
    S = 400_000
    w = 2 * torch.rand(S, 2, generator=generator(0, "cpu"), dtype=torch.float64) - 1
    eps = torch.tensor([1e-4, 1e-2, 0.5], dtype=torch.float64)
    V = vo.volume_fraction(dg.normal_crossing_K(w, [1, 1]), eps)
    exact = eps.sqrt() * (1 - eps.sqrt().log())
    se = (exact * (1 - exact) / S).sqrt()
    assert ((V - exact).abs() < 5 * se).all()


CASES = [  # (k, λ, m, correction)
    ([1], 0.5, 1, False),
    ([2], 0.25, 1, False),
    ([1, 2], 0.25, 1, False),
    ([1, 1], 0.5, 2, True),
]


@pytest.mark.parametrize("k, lam, m, correction", CASES)
def test_monte_carlo_volume_recovers_lambda_within_three_standard_errors(k, lam, m, correction):
    fit = vo.volume_scaling_box(lambda w: dg.normal_crossing_K(w, k), [(-1.0, 1.0)] * len(k), 1_000_000,
                                generator(11, "cpu"), m=m, correction=correction)
    assert 0 < fit.lam_se < 0.05 and fit.counts[0] >= 100
    assert abs(fit.lam - lam) < 3 * fit.lam_se


def test_without_the_log_factor_the_m_2_estimate_is_biased():
    # w1² w2² with m = 1 assumed: slope too low by about 1/(−log ε), many standard errors
    fit = vo.volume_scaling_box(lambda w: dg.normal_crossing_K(w, [1, 1]), [(-1.0, 1.0)] * 2, 1_000_000,
                                generator(11, "cpu"), m=1)
    bias = 1 / (-fit.eps.log()).mean().item()
    assert 0.5 - fit.lam == pytest.approx(bias, rel=0.5) and 0.5 - fit.lam > 3 * fit.lam_se


def test_standard_errors_are_calibrated():
    # 30 independent estimates for K = w²: (λ̂ − λ)/se should have mean ≈ 0 and sd ≈ 1.
    # For 30 draws the sample mean has sd 0.18 and the sample sd about 0.13: bounds of 4 of those.
    z = []
    for seed in range(30):
        fit = vo.volume_scaling_box(lambda w: w[:, 0] ** 2, [(-1.0, 1.0)], 100_000, generator(100 + seed, "cpu"))
        z.append((fit.lam - 0.5) / fit.lam_se)
    z = np.array(z)
    assert abs(z.mean()) < 4 * 0.18 and 1 - 4 * 0.13 < z.std(ddof=1) < 1 + 4 * 0.13


def test_fitting_m_too():
    fit = vo.volume_scaling_box(lambda w: w[:, 0] ** 2, [(-1.0, 1.0)], 1_000_000, generator(12, "cpu"), m=None)
    assert abs(fit.m - 1) < 3 * fit.m_se and abs(fit.lam - 0.5) < 3 * fit.lam_se


def test_fit_volume_scaling_validates():
    K = torch.rand(10_000, generator=generator(3, "cpu"), dtype=torch.float64)
    with pytest.raises(ValueError, match="samples"):
        vo.fit_volume_scaling(K)  # too few samples for the default eps
    with pytest.raises(ValueError, match="eps"):
        vo.fit_volume_scaling(K, torch.tensor([0.5, 0.1]))
    with pytest.raises(ValueError, match="eps"):
        vo.fit_volume_scaling(K, torch.tensor([1e-9, 1e-3]))  # no sample below 1e-9
    with pytest.raises(ValueError, match="num_samples"):
        vo.volume_scaling_box(lambda w: w[:, 0], [(0.0, 1.0)], 0, generator(0, "cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_monte_carlo_volume_on_cuda():
    fit = vo.volume_scaling_box(lambda w: dg.normal_crossing_K(w, [1, 2]), [(-1.0, 1.0)] * 2, 4_000_000,
                                generator(11, "cuda"), m=1)
    assert abs(fit.lam - 0.25) < 3 * fit.lam_se
