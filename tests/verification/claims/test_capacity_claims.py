"""The four cap.* claims: computed verdicts, regime flips, arrays, and the validation precondition."""
from __future__ import annotations

import numpy as np
import pytest

from ibnorm_verify.verification.claims import REGISTRY
from ibnorm_verify.verification.claims import capacity as cap
from ibnorm_verify.verification.claims.base import Context


def _run(cid, seeds=(0, 1), **over):
    claim = REGISTRY[cid]
    return claim.run(Context(params=claim.resolve_params("tiny", over), seeds=list(seeds), scale="tiny",
                             claim_id=cid))


def test_reduction_flips_between_the_two_regimes():
    hi = _run("cap.normalization-exponential-reduction", gain=2.0)
    lo = _run("cap.normalization-exponential-reduction", gain=0.5)
    assert hi.verdict.value == "supported", hi.reason
    assert lo.verdict.value != "supported" and lo.verdict.value == "refuted", lo.reason
    assert hi.conditions["regime"] == "reduces" and lo.conditions["regime"] == "amplifies"
    # the product law itself holds in both regimes: only the direction check flips
    rate = {e.conditions["gain"]: [c for c in e.checks if c.name.startswith("rate")][0] for e in (hi, lo)}
    assert rate[2.0].verdict.value == "supported" and rate[0.5].verdict.value == "supported"
    k = hi.arrays["K"]
    for key in ("log_reduction_lower", "log_reduction_upper", "log_reduction_pred"):
        assert np.asarray(hi.arrays[key]).shape == (2, len(k))
    assert np.asarray(hi.arrays["phase_log_reduction"]).shape == (len(hi.arrays["phase_gains"]), len(k))
    lo_b, up_b = np.asarray(hi.arrays["log_reduction_lower"]), np.asarray(hi.arrays["log_reduction_upper"])
    assert np.all(lo_b <= up_b + 1e-12)


def test_input_growth_supported_above_one_and_refuted_below():
    ev = _run("cap.unnormalized-exponential-input", gains=[1.5])
    assert ev.verdict.value == "supported", ev.reason
    assert ev.measured["slope g=1.5"]["estimate"] == pytest.approx(np.log(1.5), rel=1e-6)
    assert np.asarray(ev.arrays["log_lip_lower"]).shape == (1, 2, 3)
    assert np.asarray(ev.arrays["log_lip_norm_upper"]).shape == (1, 2, 3)
    bad = _run("cap.unnormalized-exponential-input", gains=[0.8])
    assert bad.verdict.value == "refuted", bad.reason


def test_params_growth_matches_the_exact_linear_chain_law():
    ev = _run("cap.unnormalized-exponential-params", gains=[2.0], seeds=(0,))
    assert ev.verdict.value == "supported", ev.reason
    assert ev.measured["slope g=2"]["estimate"] == pytest.approx(np.log(2.0), rel=1e-6)


def test_relu_only_claims_the_product_bound_rate():
    ev = _run("cap.unnormalized-exponential-input", gains=[2.0], activation="relu", seeds=(0,))
    names = [c.name for c in ev.checks]
    assert any("slope <= log g" in n for n in names) and not any("slope = log g" in n for n in names)


def test_smoothness_flips_between_regimes():
    hi = _run("cap.loss-smoothness", gain=2.0)
    lo = _run("cap.loss-smoothness", gain=0.5, seeds=(0,))
    assert hi.verdict.value == "supported", hi.reason
    assert lo.verdict.value != "supported", lo.reason
    assert np.asarray(hi.arrays["log_hessian_norm_unnorm"]).shape == (2, len(hi.arrays["K"]))


def test_failed_estimator_validation_makes_the_claim_inconclusive(monkeypatch):
    rows = [{"estimator": "lipschitz", "case": "forced failure", "exact": 1.0, "lower": 0.5, "upper": 2.0,
             "passed": False}]
    monkeypatch.setattr(cap, "lipschitz_validation", lambda seed=0: rows)
    ev = _run("cap.normalization-exponential-reduction", gain=2.0)
    assert ev.verdict.value == "inconclusive" and "forced failure" in ev.reason
    assert ev.validation == rows


def test_too_few_sweep_points_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3"):
        _run("cap.normalization-exponential-reduction", K=[1, 2])


def test_bracket_fit_contains_both_fits():
    x = np.array([1, 2, 3, 4.0])
    f = cap.bracket_fit(x, 0.5 * x, 0.5 * x + np.array([0.0, 0.1, 0.0, 0.1]))
    assert f["ci"][0] <= f["fit_lower"]["slope"] <= f["ci"][1]
    assert f["ci"][0] <= f["fit_upper"]["slope"] <= f["ci"][1]
    assert f["box"][0] < 0.5 < f["box"][1]
