"""The one verdict function: each of the three outcomes from constructed statistics."""
import math

import pytest

from ibnorm_verify.verification.stats import linear_fit_ci, mean_ci
from ibnorm_verify.verification.verdict import (
    Verdict,
    check_direction,
    check_not_measured,
    check_precondition,
    check_value,
    decide,
)


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
    assert decide([ok, ok]).verdict is Verdict.SUPPORTED
    assert decide([ok, unsure]).verdict is Verdict.INCONCLUSIVE
    assert decide([ok, unsure, bad]).verdict is Verdict.REFUTED
    assert decide([]).verdict is Verdict.INCONCLUSIVE
    d = decide([check_not_measured()])
    assert (d.verdict, d.reason) == (Verdict.INCONCLUSIVE, "experiment: not yet measured")
    # a failed precondition can never make a claim refuted or supported
    assert decide([ok, check_precondition("estimator validated", False, "MAE 0.3 > 0.05")]).verdict is Verdict.INCONCLUSIVE


def test_mean_ci_and_fit():
    m, (lo, hi) = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi
    assert mean_ci([5.0]) == (5.0, (5.0, 5.0))
    fit = linear_fit_ci([1, 2, 3, 4, 5], [2.1, 3.9, 6.0, 8.1, 9.9])
    assert fit["ci"][0] < 2.0 < fit["ci"][1] and fit["r2"] > 0.99
    with pytest.raises(ValueError):
        linear_fit_ci([1, 2], [1, 2])


# ------------------------------------------------------------------- p-values, Holm, regimes, budgets

def test_pvalues_agree_with_the_interval_rule():
    """p_support < ALPHA exactly when the 95% interval clears the threshold (also for asymmetric intervals)."""
    from ibnorm_verify.verification.verdict import ALPHA
    for est, ci in ((1.0, (0.2, 1.5)), (1.0, (-0.1, 1.2)), (0.3, (0.01, 2.0)), (0.3, (-0.01, 2.0))):
        c = check_direction("d", est, ci, greater_than=0)
        assert (c.p_support < ALPHA) == (c.verdict is Verdict.SUPPORTED)
    c = check_direction("d", -1.0, (-1.5, -0.2), greater_than=0)
    assert c.verdict is Verdict.REFUTED and c.p_refute < ALPHA


def test_holm_adjustment_and_a_refutation_that_does_not_survive_it():
    from ibnorm_verify.verification.verdict import holm_adjust
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # one barely-refuted check among 20: raw refuted, not after Holm -> the claim is inconclusive
    weak = check_direction("weak", -1.0, (-1.99, -0.01), greater_than=0)
    assert weak.verdict is Verdict.REFUTED
    others = [check_direction(f"ok{i}", 1.0, (0.5, 1.5), greater_than=0) for i in range(19)]
    d = decide([weak] + others)
    assert d.verdict is Verdict.INCONCLUSIVE and "Holm" in d.reason
    # a decisive refutation survives
    strong = check_direction("strong", -1.0, (-1.1, -0.9), greater_than=0)
    assert decide([strong] + others).verdict is Verdict.REFUTED


def test_sanity_checks_are_not_evidence_and_failing_ones_block_support():
    from ibnorm_verify.verification.verdict import check_sanity
    ident = check_sanity(check_direction("identity", 1.0, (0.5, 1.5), greater_than=0))
    assert decide([ident]).verdict is Verdict.INCONCLUSIVE          # no evidence at all
    ok = check_direction("ok", 1.0, (0.5, 1.5), greater_than=0)
    assert decide([ident, ok]).verdict is Verdict.SUPPORTED
    broken = check_sanity(check_direction("identity", -1.0, (-1.5, -0.5), greater_than=0))
    assert decide([broken, ok]).verdict is Verdict.INCONCLUSIVE     # never refuted by a sanity check


def test_envelope_checks_are_decided_exactly():
    c = check_value("env", 0.5, (0.2, 0.9), 0.0, abs_tol=0.1, envelope=True)
    assert c.verdict is Verdict.REFUTED and c.p_refute == 0.0 and c.mde is None
    many = [check_direction(f"ok{i}", 1.0, (0.5, 1.5), greater_than=0) for i in range(30)]
    assert decide([c] + many).verdict is Verdict.REFUTED


def test_regime_map_gives_a_verdict_per_cell():
    from ibnorm_verify.verification.verdict import headline
    checks = [check_direction("a", 1.0, (0.9, 1.1), greater_than=0, cell={"act": "relu"}, part="slope"),
              check_direction("b", -1.0, (-1.1, -0.9), greater_than=0, cell={"act": "tanh"}, part="slope"),
              check_direction("c", 0.0, (-1, 1), greater_than=0, cell={"act": "id"}, part="slope"),
              check_precondition("validated", True, "ok")]
    d = decide(checks, axes=("act",), primary_part="slope")
    cells = {c.coords["act"]: c for c in d.regimes.cells}
    assert cells["relu"].verdict is Verdict.SUPPORTED and cells["relu"].primary == "a"
    assert cells["tanh"].verdict is Verdict.REFUTED and cells["id"].verdict is Verdict.INCONCLUSIVE
    assert d.verdict is Verdict.REFUTED
    h = headline(d)
    assert "supported in 1 of 3" in h.lower() and "refuted in 1 of 3" in h and "undecided in 1 of 3" in h


def test_replicates_to_decide_scales_with_the_interval():
    from ibnorm_verify.verification.verdict import replicates_to_decide
    c = check_direction("d", 0.1, (-0.1, 0.3), greater_than=0, se=0.1, dof=None, replicates=4)
    assert c.verdict is Verdict.INCONCLUSIVE
    n = replicates_to_decide(c)
    # (1.96 + 0.84) * 0.1 / 0.1 = 2.8 -> 4 * 2.8^2 = 31.4 -> 32
    assert n == 32


def test_a_failed_precondition_blocks_the_refutations_it_guards():
    bad = check_direction("bad", -1.0, (-1.1, -0.9), greater_than=0, cell={"net": "a"})
    assert decide([bad]).verdict is Verdict.REFUTED
    # the precondition of bad's own cell fails: the claim cannot be refuted by it
    d = decide([bad, check_precondition("plateau", False, "not trained", cell={"net": "a"})], axes=("net",))
    assert d.verdict is Verdict.INCONCLUSIVE and "plateau" in d.reason
    # a precondition of another cell does not protect it
    other = check_precondition("plateau", False, "not trained", cell={"net": "b"})
    d = decide([bad, other, check_direction("ok", 1.0, (0.9, 1.1), greater_than=0, cell={"net": "b"})], axes=("net",))
    assert d.verdict is Verdict.REFUTED
    cells = {c.coords["net"]: c.verdict for c in d.regimes.cells}
    assert cells == {"a": Verdict.REFUTED, "b": Verdict.INCONCLUSIVE}
    # a claim-wide failed precondition guards every check
    assert decide([bad, check_precondition("validated", False, "MAE too large")]).verdict is Verdict.INCONCLUSIVE


def test_check_validation_needs_every_row_and_at_least_one():
    from ibnorm_verify.verification.evidence import ValidationRow
    from ibnorm_verify.verification.verdict import check_validation
    ok = ValidationRow("est", "a", 1.0, 1.0, True, "exact")
    bad = ValidationRow("est", "b", 1.0, 2.0, False, "exact")
    assert check_validation("est", [ok]).verdict is Verdict.SUPPORTED
    c = check_validation("est", [ok, bad])
    assert c.verdict is Verdict.INCONCLUSIVE and "b" in c.reason and c.role == "precondition"
    assert check_validation("est", []).verdict is Verdict.INCONCLUSIVE
