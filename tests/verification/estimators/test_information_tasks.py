"""The ported "Beyond Normal" tasks and the suite's closed-form tasks: names, ground truth, samplers, and a
fast accuracy subset.

Tolerances follow n. At n = 5000 the Gaussian-copula estimate of a 2-pair task (rho = 0.8) has a
standard deviation of about sqrt(2) * 0.8 / sqrt(5000) = 0.016 nats and KSG on 1-D pairs about 0.01-0.02
(the subsample spreads the estimators report), so |error| <= 0.05 leaves ~3 standard deviations for
sampling noise: a bias of a few hundredths fails it.
"""
import math

import numpy as np
import pytest
from scipy import stats

from ibnorm_verify.theory.information import student_t_mi_correction
from ibnorm_verify.verification.estimators.information import (
    BENCHMARK_FAMILIES,
    BENCHMARK_TASKS,
    DEV_TASKS,
    FUNCTION_LABEL_TASKS,
    HELDOUT_TASKS,
    LABEL_TASKS,
    mutual_information,
    paired_gaussian_task,
    student_t_task,
    task_by_name,
    transformed_task,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_forty_tasks_with_bmi_ids_families_and_ground_truth():
    assert len(BENCHMARK_TASKS) == 40 and len({t.name for t in BENCHMARK_TASKS}) == 40
    counts = {f: sum(t.family == f for t in BENCHMARK_TASKS) for f in BENCHMARK_FAMILIES}
    assert counts == {"1d": 9, "embedding": 1, "dense": 5, "sparse": 4, "sparse-transformed": 6, "spiral": 6,
                      "student": 9}
    truth = {t.name: t.mutual_information for t in BENCHMARK_TASKS}
    # values of bmi's closed forms (benchmark-mi 0.1.x, task.mutual_information)
    assert truth["1v1-normal-0.75"] == pytest.approx(-0.5 * math.log(1 - 0.75 ** 2))
    assert truth["1v1-additive-0.1"] == pytest.approx(0.1 - math.log(0.2))
    assert truth["1v1-additive-0.75"] == pytest.approx(1 / 3)
    assert truth["multinormal-dense-50-50-0.5"] == pytest.approx(1.6242654)
    assert truth["spiral-normal_cdf-multinormal-sparse-25-25-2-2.0"] == pytest.approx(-math.log(0.36))
    assert truth["student-identity-5-5-2"] == pytest.approx(student_t_mi_correction(2, 5, 5))
    assert truth["swissroll_x-normal_cdf-1v1-normal-0.75"] == truth["1v1-normal-0.75"]
    for t in BENCHMARK_TASKS:
        x, y = t.sample(50, seed=1)
        assert x.shape == (50, t.dim_x) and y.shape == (50, t.dim_y) and np.all(np.isfinite(x))


def test_samplers_are_the_published_maps():
    base = task_by_name("multinormal-sparse-5-5-2-2.0")
    xb, yb = base.sample(200, seed=3)
    xs, ys = task_by_name("spiral-multinormal-sparse-5-5-2-2.0").sample(200, seed=3)
    # the spiral rotates the (0, 1) plane of x and the (1, 2) plane of y by speed |v|^2 / dim: norms kept
    np.testing.assert_allclose(np.linalg.norm(xs, axis=1), np.linalg.norm(xb, axis=1))
    np.testing.assert_allclose(xs[:, 2:], xb[:, 2:])
    np.testing.assert_allclose(ys[:, [0, 3, 4]], yb[:, [0, 3, 4]])
    theta = np.sum(xb * xb, 1) / 5
    np.testing.assert_allclose(xs[:, 0], np.cos(theta) * xb[:, 0] - np.sin(theta) * xb[:, 1])
    xc, _ = task_by_name("normal_cdf-multinormal-sparse-5-5-2-2.0").sample(200, seed=3)
    np.testing.assert_allclose(xc, stats.norm.cdf(xb))
    xh, _ = task_by_name("half_cube-multinormal-sparse-5-5-2-2.0").sample(200, seed=3)
    np.testing.assert_allclose(xh, xb * np.sqrt(np.abs(xb)))
    # bimodal: the inverse CDF of 0.3 N(0,1) + 0.7 N(5,1) applied to the uniform marginal
    xu, _ = task_by_name("normal_cdf-1v1-normal-0.75").sample(300, seed=4)
    xm, _ = task_by_name("1v1-bimodal-0.75").sample(300, seed=4)
    np.testing.assert_allclose(0.3 * stats.norm.cdf(xm) + 0.7 * stats.norm.cdf(xm - 5), xu, atol=1e-9)
    xr, _ = task_by_name("swissroll_x-normal_cdf-1v1-normal-0.75").sample(300, seed=4)
    t = 1.5 * math.pi * (1 + 2 * xu[:, 0])
    np.testing.assert_allclose(xr, np.stack([t * np.cos(t), t * np.sin(t)], 1) / 21)


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
    assert abs(v.mean() - task.mutual_information) < 4 * v.std() / math.sqrt(v.size) + 1e-3


def test_transformed_task_keeps_mi_and_applies_map_and_names():
    base = paired_gaussian_task("b", 1, 0.5)
    t = transformed_task(base, "cube")
    assert t.mutual_information == base.mutual_information and t.name == "cube(b)"
    np.testing.assert_allclose(t.sample(10, seed=1)[0], base.sample(10, seed=1)[0] ** 3)
    with pytest.raises(ValueError):
        transformed_task(base, "nope")
    names = [t.name for t in DEV_TASKS + HELDOUT_TASKS + LABEL_TASKS + FUNCTION_LABEL_TASKS + BENCHMARK_TASKS]
    assert len(names) == len(set(names))
    assert task_by_name("independent-2x2").mutual_information == 0.0
    with pytest.raises(ValueError, match="unknown task"):
        task_by_name("missing")
    with pytest.raises(ValueError):
        DEV_TASKS[0].sample(0)
    x, y = FUNCTION_LABEL_TASKS[0].sample(100, seed=0)
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}


GAUSSIAN_COPULA_TASKS = [t.name for t in BENCHMARK_TASKS if t.family in ("dense", "sparse", "sparse-transformed")]


@pytest.mark.parametrize("name", GAUSSIAN_COPULA_TASKS)
def test_gaussian_copula_on_the_latent_gaussian_benchmark_tasks(name):
    """Every dense / sparse / normal-CDF / half-cube task is latent-Gaussian: the bias-corrected
    Gaussian copula is exact in expectation (tolerance: module docstring)."""
    t = task_by_name(name)
    x, y = t.sample(5000, seed=101)
    r = mutual_information(x, y, method="gaussian_copula", uncertainty="none")
    assert abs(r.value - t.mutual_information) <= 0.05


@pytest.mark.parametrize("name", [t.name for t in BENCHMARK_TASKS if t.family == "1d"])
def test_ksg_on_the_one_dimensional_benchmark_tasks(name):
    t = task_by_name(name)
    x, y = t.sample(5000, seed=102)
    r = mutual_information(x, y, method="ksg", uncertainty="none")
    assert abs(r.value - t.mutual_information) <= 0.05
