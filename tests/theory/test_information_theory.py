"""Closed forms of ibnorm_verify.theory.information: Gaussian / Student-t MI, transforms, label MI, entropy under
monotone maps, the Gaussian channel, and the validation helpers."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ibnorm_verify.theory.information import (
    DEV_TASKS,
    HELDOUT_TASKS,
    LABEL_TASKS,
    compression_log_deriv,
    entropy_after_monotone_map,
    entropy_gaussian,
    gaussian_channel_mi,
    label_gaussian_mi,
    paired_gaussian_task,
    student_t_mi_correction,
    student_t_task,
    summarize_validation,
    task_by_name,
    transformed_task,
    validate_estimator,
)


def test_gaussian_mi_paired_closed_form():
    for rho in (0.0, 0.3, 0.9):
        task = paired_gaussian_task("t", 3, rho, n_pairs=2)
        assert task.mutual_information == pytest.approx(-math.log(1 - rho ** 2), abs=1e-12)


def test_student_correction_vanishes_for_large_df_and_is_positive():
    assert student_t_mi_correction(1e7, 2, 3) == pytest.approx(0.0, abs=1e-5)
    for df in (1.0, 2.0, 5.0):
        assert student_t_mi_correction(df, 1, 1) > 0


def test_student_t_mi_matches_monte_carlo_of_log_densities():
    """I = E[log p(x,y) - log p(x) - log p(y)] by Monte Carlo with scipy's multivariate_t densities."""
    cov = np.array([[1.0, 0.0, 0.6, 0.0], [0.0, 1.0, 0.0, 0.6], [0.6, 0.0, 1.0, 0.0], [0.0, 0.6, 0.0, 1.0]])
    df = 3.0
    task = student_t_task("t", cov, 2, df)
    x, y = task.sample(40000, seed=3)
    lj = stats.multivariate_t(shape=cov, df=df).logpdf(np.hstack([x, y]))
    lx = stats.multivariate_t(shape=cov[:2, :2], df=df).logpdf(x)
    ly = stats.multivariate_t(shape=cov[2:, 2:], df=df).logpdf(y)
    v = lj - lx - ly
    se = v.std() / math.sqrt(v.size)
    assert abs(v.mean() - task.mutual_information) < 4 * se + 1e-3


def test_transformed_task_keeps_mi_and_applies_map():
    base = paired_gaussian_task("b", 1, 0.5)
    t = transformed_task(base, "cube")
    assert t.mutual_information == base.mutual_information
    xb, _ = base.sample(10, seed=1)
    xt, _ = t.sample(10, seed=1)
    np.testing.assert_allclose(xt, xb ** 3)
    with pytest.raises(ValueError):
        transformed_task(base, "nope")


def test_task_sets_are_disjoint_and_named():
    names = [t.name for t in DEV_TASKS + HELDOUT_TASKS + LABEL_TASKS]
    assert len(names) == len(set(names))
    assert task_by_name("independent-2x2").mutual_information == 0.0
    with pytest.raises(ValueError):
        task_by_name("missing")
    with pytest.raises(ValueError):
        DEV_TASKS[0].sample(0)


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


def test_validate_estimator_rows_and_summary():
    rows = validate_estimator(lambda x, y: 0.1, DEV_TASKS[:2], 50, [0, 1], method="const")
    assert [r["task"] for r in rows] == [t.name for t in DEV_TASKS[:2]]
    assert rows[0]["abs_error"] == pytest.approx(abs(0.1 - DEV_TASKS[0].mutual_information))
    summ = summarize_validation(rows, 0.05, 0.1)
    assert summ["passed"] is False and summ["n_tasks"] == 2
    assert summarize_validation([{"abs_error": 0.01}], 0.05, 0.1)["passed"] is True
    assert summarize_validation([{"abs_error": float("nan")}], 0.05, 0.1)["passed"] is False
