"""Lesson 1's prose against what its executed solution printed (solutions/l1_posteriors)."""

from pathlib import Path


from executed import numbers_after, printed

A = "l1_posteriors"
LESSON = Path(__file__).resolve().parents[1] / "course" / "lessons" / f"{A}.py"


def test_the_grid_posterior_matches_the_conjugate_closed_form():
    (diff,) = numbers_after(printed(A), "largest difference between grid and exact density")
    assert diff < 1e-8


def test_the_singular_posteriors_mass_near_the_origin_grows_with_n():
    """'the printed share of the mass in the central square, 1% of the box, grows with n'."""
    shares = numbers_after(printed(A), "|a|, |b| <= 0.2")
    assert len(shares) == 4 and all(a < b for a, b in zip(shares, shares[1:])), shares
    assert abs((2 * 0.2) ** 2 / 4**2 - 0.01) < 1e-12  # the square is 1% of the box [-2, 2]^2


def test_the_gaussian_fit_is_poor_as_the_text_says():
    """'its 90 % ellipse covers over five times the area of the posterior's 90 % region (the printed
    ratio), and still holds less than 90 % of the posterior's mass'."""
    text = printed(A)
    (inside,) = numbers_after(text, "posterior mass inside the Gaussian's 90% ellipse")
    (region,) = numbers_after(text, "area of the 90% region")
    (ellipse,) = numbers_after(text, "of the ellipse")
    (ratio,) = numbers_after(text, "the ellipse's area / the region's area:")
    assert inside < 0.9 and ellipse > 5 * region and ratio > 5 and abs(ratio - ellipse / region) < 0.1


def test_data_with_ab_positive_put_the_mass_where_ab_is_positive():
    """'for data with ab = 0.5 the mass must lie where ab > 0, half of it in the quadrant a, b > 0 and
    almost none in a > 0, b < 0' (a sign error in the cross term would swap the two numbers)."""
    text = printed(A)
    (same,) = numbers_after(text, "posterior mass where a > 0, b > 0:")
    (other,) = numbers_after(text, "where a > 0, b < 0:")
    assert 0.45 < same < 0.55 and other < 0.01, (same, other)


def test_the_conjugate_check_uses_sigma_s_and_beta_different_from_1():
    """So that σ used as a variance, or β applied to the prior, changes the printed difference."""
    src = LESSON.read_text()
    assert "n, sigma, s, beta = 20, 0.8, 0.4, 0.5" in src and "log_posterior_of(loglik_mu, logprior_mu, beta, lw_mu)" in src


def test_a_coarse_grid_puts_nearly_all_the_mass_in_one_cell():
    coarse, fine = numbers_after(printed(A), "effective cells =")
    assert coarse < 1.5 and fine > 10
    assert "n = 1000000, grid [-2.0, 2.0] with 121 points" in printed(A)  # the n and grid the text names


def test_the_coarse_grids_mean_is_an_artefact_of_the_grid():
    """'the true mean 0.31 lies between two grid points (0.3 and 0.333), and the coarse grid's posterior
    mean is the nearer grid point, off by about 0.01, several times the posterior's width σ/√n'."""
    text = printed(A)
    coarse, fine = numbers_after(text, "posterior mean =")
    (exact,) = numbers_after(text, "exact posterior mean (flat prior, the sample mean):")
    width = 1 / 1000  # σ/√n, σ = 1, n = 10⁶
    assert abs(coarse - 0.3) < 1e-4 and 0.008 < abs(coarse - exact) < 0.012 and abs(coarse - exact) > 3 * width
    assert abs(fine - exact) < 1e-4 and abs(exact - 0.31) < 3 * width


def test_measured_volume_exponents_agree_with_the_exponents_to_within_001():
    text = printed(A)
    measured = numbers_after(text, "measured -slope =")
    predicted = numbers_after(text, "your exponent =")
    assert len(measured) == len(predicted) == 5
    assert all(abs(m - p) < 0.01 for m, p in zip(measured, predicted)), (measured, predicted)


def test_demonstrations_use_the_learners_functions():
    src = LESSON.read_text()
    assert "grid_posterior(" not in src and ".credible_region(" not in src and ".sample(" not in src
    for name in ["gaussian_log_likelihood", "tempered_log_posterior", "product_log_likelihood", "credible_threshold",
                 "posterior_mean", "sample_grid", "normalize_log_density", "credible_volume_exponent"]:
        assert f"yours({name})" in src, name


