"""MI estimators against closed forms, invariances, independence, input routing and clear errors.

Tolerances follow n: at n = 5000 the KSG standard deviation on the held-out tasks is ~0.01 nats (the
subsample uncertainty reports it), so 0.05 mean / 0.10 worst leave room for the estimator's bias only;
at n = 2000 the standard deviation is ~0.02. The trained estimators run with few steps on small n here
(their accuracy at n = 5000 is the benchmark's, docs/benchmarks/information.md); their checks are the
bound properties, which hold at any training length.
"""
import math
import warnings

import numpy as np
import pytest

from ibnorm_verify.verification.estimators.information import (
    DEFAULT_METHOD,
    FUNCTION_LABEL_TASKS,
    HELDOUT_TASKS,
    LABEL_TASKS,
    METHODS,
    MIEstimate,
    UnboundedMIError,
    estimator,
    is_discrete,
    mutual_information,
    noisy_channel_mi,
    paired_gaussian_task,
    route,
    summarize_validation,
    task_by_name,
    validate,
    validate_estimator,
)
from ibnorm_verify.verification.estimators.information.discrete import classifier_bound
from ibnorm_verify.verification.evidence import ValidationRow

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST_NEURAL = {"steps": 120, "batch": 64, "hidden": 32}


def test_ksg_meets_accuracy_on_heldout_tasks():
    """KSG (k = 5, copula) at n = 5000 on the held-out closed-form tasks: mean |err| <= 0.05, worst <= 0.10."""
    rows = validate_estimator(estimator("ksg", uncertainty="none"), HELDOUT_TASKS, 5000, [11], "ksg")
    summ = summarize_validation(rows, 0.05, 0.10)
    assert summ["passed"], rows
    assert {r["family"] for r in rows} >= {"gaussian", "student", "transformed-gaussian", "transformed-student"}


def test_estimate_record_uncertainty_is_finite_and_covers_the_bias_band():
    x, y = task_by_name("normal-1x1-0.75").sample(2000, seed=1)
    r = mutual_information(x, y)
    assert isinstance(r, MIEstimate) and r.method == "auto" and r.picked == "ksg" and r.n == 2000
    assert r.settings["k"] == 5 and r.settings["copula"] is True and r.settings["uncertainty"] == "subsample"
    assert 0.003 < r.statistical < 0.06
    assert r.uncertainty == pytest.approx(math.hypot(r.statistical, r.bias_band))
    assert abs(r.value - 0.4133) < 4 * r.uncertainty + 0.03
    none = mutual_information(x, y, method="ksg", uncertainty="none")
    assert none.statistical == 0.0 and math.isfinite(none.uncertainty) and none.value == pytest.approx(r.value)
    with pytest.raises(ValueError, match="finite"):
        MIEstimate(0.1, float("nan"), "x")


@pytest.mark.parametrize("method", ["ksg", "gaussian_copula"])
@pytest.mark.parametrize("fx", [np.arcsinh, np.exp, lambda v: v ** 3])
def test_copula_methods_are_invariant_under_monotone_marginal_maps(method, fx):
    x, y = task_by_name("normal-2x2-pair-0.6").sample(1500, seed=2)
    a = mutual_information(x, y, method=method, uncertainty="none").value
    b = mutual_information(fx(x), fx(y), method=method, uncertainty="none").value
    assert a == pytest.approx(b, abs=1e-9)


@pytest.mark.parametrize("method", ["ksg", "gaussian_copula"])
def test_independent_samples_give_zero_within_uncertainty(method):
    for seed in (0, 1):
        x, y = task_by_name("independent-2x2").sample(2000, seed=seed)
        r = mutual_information(x, y, method=method)
        assert abs(r.value) <= 3 * r.statistical + 0.01


def test_gaussian_copula_removes_the_plugin_bias():
    """Independent 10 + 10 Gaussians at n = 400: the plug-in is biased up by ~dx dy / (2n) = 0.125 nats; the
    corrected estimate averages to 0 (s.d. of the mean over 8 draws ~0.01)."""
    plug, corr = [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((400, 10)), rng.standard_normal((400, 10))
        plug.append(mutual_information(x, y, method="gaussian", uncertainty="none").value)
        corr.append(mutual_information(x, y, method="gaussian_copula", uncertainty="none").value)
    assert np.mean(plug) > 0.09
    assert abs(np.mean(corr)) < 0.03


def test_gaussian_method_is_blind_to_nonlinear_dependence_and_ksg_is_not():
    x = np.random.default_rng(3).standard_normal(3000)
    y = x ** 2 + 0.3 * np.random.default_rng(4).standard_normal(3000)
    assert mutual_information(x, y, method="gaussian", uncertainty="none").value < 0.01
    assert mutual_information(x, y, method="ksg", uncertainty="none").value > 0.5


def test_mixed_ksg_on_label_tasks():
    rows = validate_estimator(estimator("mixed_ksg", uncertainty="none"), LABEL_TASKS, 2000, [4], "mixed_ksg")
    assert summarize_validation(rows, 0.05, 0.10)["passed"], rows


def test_mixed_ksg_uses_float64_distances():
    """1-D label task at n = 8000 (s.d. ~0.008): float32 squared distances made mixed_ksg 0.03-0.07 low here."""
    t = LABEL_TASKS[0]
    x, y = t.sample(8000, seed=5)
    assert abs(mutual_information(x, y, method="mixed_ksg", uncertainty="none").value - t.mutual_information) < 0.02


# ------------------------------------------------------------------------------ routing of discrete data

def test_discrete_detection_and_routing():
    rng = np.random.default_rng(0)
    xc = rng.standard_normal((500, 3))
    assert is_discrete(rng.integers(0, 3, 500)) and is_discrete(np.repeat([0.5, 1.5], 250))
    assert not is_discrete(xc) and not is_discrete(rng.standard_normal(500))
    assert route(xc, rng.integers(0, 2, 500))[0] == "mixed_ksg"
    assert route(rng.standard_normal((500, 8)), rng.integers(0, 2, 500))[0] == "classifier"
    assert route(rng.integers(0, 2, 500), rng.integers(0, 4, 500))[0] == "plugin"
    assert route(xc[:, 0], xc[:, 1])[0] == "ksg"
    assert route(xc, xc[:, :2])[0] == "hybrid"


def test_plugin_on_discrete_pairs():
    """y = x mod 3 with x uniform on 0..5: I = H(Y) = log 3 (n = 6000; Miller-Madow bias ~1e-3)."""
    x = np.random.default_rng(1).integers(0, 6, 6000)
    r = mutual_information(x, x % 3)
    assert r.picked == "plugin" and r.value == pytest.approx(math.log(3), abs=0.01)
    ind = mutual_information(x, np.random.default_rng(2).integers(0, 3, 6000))
    assert abs(ind.value) < 0.01


def test_labels_routed_from_either_side():
    t = LABEL_TASKS[0]
    x, y = t.sample(2000, seed=6)
    a, b = mutual_information(x, y), mutual_information(y, x)
    assert a.picked == b.picked == "mixed_ksg" and a.value == pytest.approx(b.value)
    assert abs(a.value - t.mutual_information) < 0.05


def test_binary_label_function_of_16_dims_is_log2_within_005():
    """The must-show case: y = [w.x > 0] on 16-dim Gaussian features, I = log 2 exactly. n = 4000: the
    classifier bracket's lower end has s.e. ~0.005; its bias (classifier error) was 0.026 at n = 5000."""
    t = FUNCTION_LABEL_TASKS[0]
    x, y = t.sample(4000, seed=7)
    r = mutual_information(x, y)
    assert r.picked == "classifier" and r.lower <= r.upper
    assert abs(r.value - math.log(2)) < 0.05 and r.upper == pytest.approx(math.log(2), abs=0.01)
    assert math.isfinite(r.uncertainty)


@pytest.mark.parametrize("method", ["ksg", "gaussian_copula", "infonce", "hybrid"])
def test_continuous_methods_refuse_discrete_data_naming_the_remedy(method):
    x = np.random.default_rng(0).standard_normal((2000, 2))
    with pytest.raises(ValueError, match="looks discrete.*method='auto'"):
        mutual_information(x, np.random.default_rng(1).integers(0, 3, 2000), method=method)


# -------------------------------------------------------------------------------- unbounded MI

def test_exact_functional_dependence_is_reported_unbounded():
    x = np.random.default_rng(0).standard_normal((3000, 1))
    for y in (x.copy(), x ** 3 + 2.0):
        with pytest.raises(UnboundedMIError, match="unbounded"):
            mutual_information(x, y)
    with pytest.raises(UnboundedMIError, match="singular"):
        mutual_information(x, 2 * x + 1, method="gaussian_copula")
    x4 = np.random.default_rng(1).standard_normal((2000, 4))
    with pytest.raises(UnboundedMIError):
        mutual_information(x4, np.tanh(x4 @ np.random.default_rng(2).standard_normal((4, 4))), method="ksg")


def test_repeated_points_and_ties_are_refused():
    x = np.random.default_rng(0).standard_normal((1000, 2))
    x[500:] = x[:500]
    with pytest.raises(UnboundedMIError, match="repeat exactly"):
        mutual_information(x, x[:, ::-1] + 1.0, method="ksg")
    y = np.random.default_rng(1).standard_normal(1000)
    z = np.maximum(y, 0.0)               # half the values tied at 0 (a ReLU)
    with pytest.raises(ValueError, match="repeated values"):
        mutual_information(y + 0.1 * np.random.default_rng(2).standard_normal(1000), z, method="ksg")


def test_binning_warns_beyond_two_dimensions():
    x, y = task_by_name("normal-2x2-pair-0.6").sample(500, seed=1)
    with pytest.warns(UserWarning, match="beyond 2 dimensions"):
        mutual_information(x, y, method="binning", uncertainty="none")


def test_binning_and_renyi_are_comparison_only_but_ordered():
    lo = paired_gaussian_task("lo", 1, 0.3).sample(800, seed=6)
    hi = paired_gaussian_task("hi", 1, 0.9).sample(800, seed=6)
    for m in ("binning", "renyi"):
        assert mutual_information(*hi, method=m, uncertainty="none").value > \
            mutual_information(*lo, method=m, uncertainty="none").value


# ---------------------------------------------------------------------------------- trained estimators

@pytest.mark.parametrize("method", ["infonce", "nwj", "dv", "smile"])
def test_neural_bounds_are_lower_bounds_with_finite_uncertainty(method):
    x, y = task_by_name("normal-1x1-0.75").sample(1500, seed=7)
    r = mutual_information(x, y, method=method, lr=3e-3, **FAST_NEURAL)
    assert math.isfinite(r.uncertainty) and r.statistical > 0
    assert r.value < 0.4133 + 4 * r.statistical + 0.05
    assert r.value > 0.4133 - 0.25


def test_infonce_refuses_near_its_log_n_cap():
    x = np.random.default_rng(8).standard_normal((1200, 2))
    y = x + 1e-3 * np.random.default_rng(9).standard_normal((1200, 2))
    with pytest.raises(UnboundedMIError, match="log\\(n_test\\)"):
        mutual_information(x, y, method="infonce", steps=300, batch=64, hidden=32, lr=3e-3)


def test_hybrid_on_a_sparse_benchmark_task():
    """2-pair 3 + 3 Gaussian (I = 1.02) at n = 3000: the Gaussian copula is exact in expectation (s.d. ~0.02)
    and is one of the hybrid's candidates, so the largest candidate is at least as close from below."""
    t = task_by_name("multinormal-sparse-3-3-2-2.0")
    x, y = t.sample(3000, seed=8)
    r = mutual_information(x, y, **FAST_NEURAL)
    assert r.picked.startswith("hybrid:") and "candidates" in r.notes[0]
    assert abs(r.value - t.mutual_information) < 0.08


def test_no_method_returns_a_nan_uncertainty():
    x, y = task_by_name("normal-2x2-pair-0.6").sample(1200, seed=3)
    labels = (x[:, 0] > 0).astype(int)
    for m in METHODS:
        kind = METHODS[m].kind
        if kind == "discrete":
            a, b = labels, (x[:, 1] > 0).astype(int)
        elif kind == "label":
            a, b = x, labels
        else:
            a, b = x, y
        extra = {k: v for k, v in FAST_NEURAL.items() if k in METHODS[m].defaults}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # binning's beyond-2-dimensions warning
            r = mutual_information(a, b, method=m, **extra)
        assert math.isfinite(r.uncertainty) and math.isfinite(r.value), m


# ------------------------------------------------------------------------------------ noisy channel

@pytest.mark.parametrize("s", [0.5, 1.0])
def test_noisy_channel_matches_gaussian_channel_closed_form(s):
    from ibnorm_verify.theory.information import gaussian_channel_mi
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3)) / math.sqrt(3)
    x = rng.standard_normal((2000, 3))
    true = gaussian_channel_mi(A, np.eye(3), s * s)["I_XT"]
    r = noisy_channel_mi(x @ A.T, s, n_mc=1000)
    assert abs(r.value - true) < 0.1 and math.isfinite(r.uncertainty)
    assert r.value <= math.log(2000) + 4 * r.uncertainty


def test_noisy_channel_saturates_at_log_n_for_tiny_noise():
    t = np.random.default_rng(0).standard_normal((500, 4))
    assert noisy_channel_mi(t, 1e-3, n_mc=500).value == pytest.approx(math.log(500), abs=0.05)


# --------------------------------------------------------------------------------------- validation

def test_validate_returns_validation_rows():
    rows = validate("gaussian_copula", [task_by_name("multinormal-sparse-5-5-2-2.0"), HELDOUT_TASKS[0]], n=3000,
                    seeds=(0, 1))
    assert all(isinstance(r, ValidationRow) for r in rows) and len(rows) == 2
    r = rows[0]
    assert r.unit == "nats" and r.n == 3000 and r.family == "sparse" and r.estimator == "mi:gaussian_copula"
    assert r.passed and abs(r.error) <= 0.05 * math.sqrt(5000 / 3000) and len(r.details["values"]) == 2
    assert summarize_validation(rows, 0.1, 0.2)["n_tasks"] == 2


def test_validate_estimator_rows_and_summary():
    rows = validate_estimator(lambda x, y: 0.1, HELDOUT_TASKS[:2], 50, [0, 1], method="const")
    assert [r["task"] for r in rows] == [t.name for t in HELDOUT_TASKS[:2]]
    assert rows[0]["abs_error"] == pytest.approx(abs(0.1 - HELDOUT_TASKS[0].mutual_information))
    summ = summarize_validation(rows, 0.05, 0.1)
    assert summ["passed"] is False and summ["n_tasks"] == 2
    assert summarize_validation([{"abs_error": 0.01}], 0.05, 0.1)["passed"] is True
    assert summarize_validation([{"abs_error": float("nan")}], 0.05, 0.1)["passed"] is False


# ------------------------------------------------------------------------------------------- errors

def test_clear_errors():
    x = np.random.default_rng(0).standard_normal((50, 2))
    with pytest.raises(ValueError, match="same number of samples"):
        mutual_information(x, x[:40], method="ksg")
    with pytest.raises(ValueError, match="same number of samples"):
        mutual_information(x, x[:40])
    with pytest.raises(ValueError, match="at least"):
        mutual_information(x[:5], x[:5] + 1, method="ksg", k=5)
    c = x.copy()
    c[:, 1] = 3.0
    with pytest.raises(ValueError, match="constant"):
        mutual_information(c, x, method="ksg")
    for bad in (np.nan, np.inf):
        b = x.copy()
        b[3, 0] = bad
        with pytest.raises(ValueError, match="non-finite"):
            mutual_information(b, x, method="ksg")
    with pytest.raises(ValueError, match="empty"):
        mutual_information(np.empty((0, 2)), np.empty((0, 2)), method="ksg")
    with pytest.raises(ValueError, match="unknown method"):
        mutual_information(x, x, method="kde")
    with pytest.raises(ValueError, match="no setting"):
        mutual_information(x, x, method="ksg", bins=4)
    with pytest.raises(ValueError, match="no setting"):
        mutual_information(x, x, nonsense=4)
    with pytest.raises(ValueError, match="k must be"):
        mutual_information(x, x, method="ksg", k=0)
    with pytest.raises(ValueError, match="shape"):
        mutual_information(np.zeros((2, 2, 2)), x, method="ksg")
    with pytest.raises(TypeError):
        mutual_information("abc", x, method="ksg")
    with pytest.raises(TypeError, match="integer labels"):
        mutual_information(x, np.linspace(0, 1, 50), method="mixed_ksg")
    with pytest.raises(ValueError, match="more than k"):
        mutual_information(x, np.r_[np.zeros(47, int), np.ones(3, int)], method="mixed_ksg")
    with pytest.raises(ValueError, match="noise_std"):
        noisy_channel_mi(x, 0.0)
    with pytest.raises(ValueError, match="uncertainty"):
        mutual_information(x, x, uncertainty="bootstrap")


def test_registry_lists_every_method():
    assert set(METHODS) == {"ksg", "gaussian", "gaussian_copula", "binning", "renyi", "infonce", "nwj", "dv",
                            "smile", "neural_ksg", "hybrid", "mixed_ksg", "classifier", "plugin"}
    assert DEFAULT_METHOD == "auto"


def test_classifier_bound_with_nan_features_is_a_clear_error():
    x = np.random.default_rng(0).standard_normal((400, 3))
    y = (x[:, 0] > 0).astype(int)
    x[5, 1] = np.nan  # every classifier's validation cross-entropy is NaN
    with pytest.raises(ValueError, match="NaN for every classifier"):
        classifier_bound(x, y, steps=25)
