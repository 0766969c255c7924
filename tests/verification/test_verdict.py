"""The one verdict function: each of the three outcomes from constructed statistics."""
import math

import pytest

from ibnorm_verify.verification.verdict import (Verdict, check_direction, check_not_measured, check_precondition, check_value,
                                  decide, linear_fit_ci, mean_ci)


def test_value_check_three_outcomes():
    assert check_value("v", 0.69, (0.68, 0.70), math.log(2), abs_tol=0.05).verdict is Verdict.SUPPORTED
    assert check_value("v", 1.50, (1.40, 1.60), math.log(2), abs_tol=0.05).verdict is Verdict.REFUTED
    # an interval that straddles the tolerance edge is neither
    assert check_value("v", 0.70, (0.60, 0.80), math.log(2), abs_tol=0.05).verdict is Verdict.INCONCLUSIVE


def test_value_check_relative_tolerance_and_nonfinite():
    assert check_value("v", 101.0, (100.5, 101.5), 100.0, rel_tol=0.02).verdict is Verdict.SUPPORTED
    assert check_value("v", math.inf, (1, math.inf), 1.0, abs_tol=1).verdict is Verdict.INCONCLUSIVE
    assert check_value("v", math.nan, (math.nan, math.nan), 1.0).verdict is Verdict.INCONCLUSIVE


def test_direction_check_three_outcomes():
    assert check_direction("d", 0.3, (0.1, 0.5), greater_than=0).verdict is Verdict.SUPPORTED
    assert check_direction("d", -0.3, (-0.5, -0.1), greater_than=0).verdict is Verdict.REFUTED
    assert check_direction("d", 0.1, (-0.1, 0.3), greater_than=0).verdict is Verdict.INCONCLUSIVE
    assert check_direction("d", -0.3, (-0.5, -0.1), less_than=0).verdict is Verdict.SUPPORTED
    with pytest.raises(ValueError):
        check_direction("d", 0.0, (0, 0))


def test_decide_combines():
    ok = check_direction("a", 1, (0.5, 1.5), greater_than=0)
    bad = check_direction("b", -1, (-1.5, -0.5), greater_than=0)
    unsure = check_direction("c", 0, (-1, 1), greater_than=0)
    assert decide([ok, ok])[0] is Verdict.SUPPORTED
    assert decide([ok, unsure])[0] is Verdict.INCONCLUSIVE
    assert decide([ok, unsure, bad])[0] is Verdict.REFUTED
    assert decide([])[0] is Verdict.INCONCLUSIVE
    assert decide([check_not_measured()]) == (Verdict.INCONCLUSIVE, "experiment: not yet measured")
    # a failed precondition can never make a claim refuted or supported
    assert decide([ok, check_precondition("estimator validated", False, "MAE 0.3 > 0.05")])[0] is Verdict.INCONCLUSIVE


def test_mean_ci_and_fit():
    m, (lo, hi) = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi
    assert mean_ci([5.0]) == (5.0, (5.0, 5.0))
    fit = linear_fit_ci([1, 2, 3, 4, 5], [2.1, 3.9, 6.0, 8.1, 9.9])
    assert fit["ci"][0] < 2.0 < fit["ci"][1] and fit["r2"] > 0.99
    with pytest.raises(ValueError):
        linear_fit_ci([1, 2], [1, 2])
