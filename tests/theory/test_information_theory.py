"""Closed forms of ibnorm_verify.theory.information: Gaussian / Student-t MI, the benchmark's correlation
matrices, the additive-uniform MI, the plug-in Gaussian MI's exact sample bias, label MI, entropy under
monotone maps, the Gaussian channel. (The samplers that carry these ground truths are tested in
tests/verification/estimators/test_information_tasks.py.)"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from ibnorm_verify.theory.information import (
    additive_uniform_mi,
    compression_log_deriv,
    dense_correlation,
    entropy_after_monotone_map,
    entropy_gaussian,
    gaussian_channel_mi,
    gaussian_mi,
    gaussian_mi_sample_bias,
    label_gaussian_mi,
    paired_correlation,
    sparse_lvm_correlation,
    student_t_mi,
    student_t_mi_correction,
    wishart_logdet_bias,
)


def test_gaussian_mi_paired_closed_form():
    for rho in (0.0, 0.3, 0.9):
        assert gaussian_mi(paired_correlation(3, 3, rho, 2), 3) == pytest.approx(-math.log(1 - rho ** 2), abs=1e-12)


def test_benchmark_correlations_have_the_published_mi():
    """bmi's dense tasks: I = log(1 + d) - 1/2 log(1 + 2d); its 2-pair tasks: rho = 4/5, I = -log(0.36)."""
    for d in (2, 3, 5, 25, 50):
        assert gaussian_mi(dense_correlation(d, d), d) == pytest.approx(math.log(1 + d) - 0.5 * math.log(1 + 2 * d))
    for d in (2, 3, 5, 25):
        assert gaussian_mi(sparse_lvm_correlation(d, d), d) == pytest.approx(-math.log(0.36))
    assert student_t_mi(np.eye(4), 2, 1) == pytest.approx(student_t_mi_correction(1, 2, 2))
    with pytest.raises(ValueError):
        paired_correlation(2, 2, 0.5, 3)
    with pytest.raises(ValueError):
        gaussian_mi(np.eye(2), 2)


def test_additive_uniform_mi_matches_quadrature():
    """I = h(Y) - h(N), Y = X + N with X ~ U(0,1), N ~ U(-e, e): the density of Y is a trapezoid."""
    for e in (0.1, 0.75):
        def p(v):
            return max(0.0, min(v + e, 1.0) - max(v - e, 0.0)) / (2 * e)
        h_y = integrate.quad(lambda v: -p(v) * math.log(p(v)) if p(v) > 0 else 0.0, -e, 1 + e,
                             points=[e, 1 - e, -e + 1, e - 1 + 1e-12], limit=200)[0]
        assert additive_uniform_mi(e) == pytest.approx(h_y - math.log(2 * e), abs=1e-6)
    with pytest.raises(ValueError):
        additive_uniform_mi(0.0)


def test_wishart_logdet_bias_matches_monte_carlo():
    """E[log det S] - log det Sigma over 4000 draws of n = 30 Gaussian points in 5 dims (s.e. ~0.004)."""
    rng = np.random.default_rng(0)
    vals = [np.linalg.slogdet(np.cov(rng.standard_normal((30, 5)), rowvar=False))[1] for _ in range(4000)]
    se = np.std(vals) / math.sqrt(len(vals))
    assert np.mean(vals) == pytest.approx(wishart_logdet_bias(30, 5), abs=4 * se)
    assert gaussian_mi_sample_bias(5000, 50, 50) == pytest.approx(50 * 50 / (2 * 5000), rel=0.05)
    with pytest.raises(ValueError):
        wishart_logdet_bias(5, 5)


def test_student_correction_vanishes_for_large_df_and_is_positive():
    assert student_t_mi_correction(1e7, 2, 3) == pytest.approx(0.0, abs=1e-5)
    for df in (1.0, 2.0, 5.0):
        assert student_t_mi_correction(df, 1, 1) > 0


def test_label_gaussian_mi_limits():
    assert label_gaussian_mi(3, 0.0, 1.0) == pytest.approx(0.0, abs=1e-7)
    assert label_gaussian_mi(4, 40.0, 1.0) == pytest.approx(math.log(4), abs=1e-6)
    assert 0 < label_gaussian_mi(2, 2.0, 1.0) < math.log(2)


@pytest.mark.parametrize("name,lam", [("tanh", 1.0), ("log", 2.0), ("softsign", 1.0), ("root", 2.0)])
def test_entropy_change_matches_monte_carlo(name, lam):
    import torch

    from ibnorm.compression import get_compression
    x = np.random.default_rng(0).standard_normal(400_000)
    mc = np.mean(np.log(get_compression(name).deriv(torch.tensor(x), lam).numpy()))
    r = entropy_after_monotone_map(compression_log_deriv(name, lam))
    assert r["e_log_deriv"] == pytest.approx(mc, abs=5e-3)
    assert r["h_x"] == pytest.approx(entropy_gaussian(1.0))


@settings(max_examples=6, deadline=None)
@given(lam=st.floats(0.1, 8.0), scale=st.floats(0.2, 5.0), name=st.sampled_from(["tanh", "log", "softsign"]))
def test_one_lipschitz_compressions_never_increase_entropy(lam, scale, name):
    r = entropy_after_monotone_map(compression_log_deriv(name, lam), scale=scale)
    assert r["h_fx"] <= r["h_x"] + 1e-9


def test_entropy_change_errors():
    with pytest.raises(ValueError):
        entropy_after_monotone_map(lambda u: 0.0, dist="cauchy")
    with pytest.raises(ValueError):
        entropy_after_monotone_map(lambda u: 0.0, scale=-1.0)
    with pytest.raises(ValueError):
        entropy_after_monotone_map(lambda u: -math.inf)


def test_gaussian_channel_scalar_case():
    r = gaussian_channel_mi([[2.0]], [[1.0]], 0.5, cov_x_given_y=[[0.25]])
    assert r["I_XT"] == pytest.approx(0.5 * math.log(1 + 4.0 / 0.5))
    assert r["I_YT"] == pytest.approx(0.5 * math.log(4.5) - 0.5 * math.log(1.5))
    with pytest.raises(ValueError):
        gaussian_channel_mi([[1.0]], [[1.0]], 0.0)


