"""cap.unnormalized-exponential-input / -params (and their shared module _depth_sweep): the pure analysis on
constructed records, and tiny runs where the prediction holds and where it fails."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims import cap_unnormalized_exponential_input as inp
from ibnorm_verify.verification.claims import cap_unnormalized_exponential_params as par
from ibnorm_verify.verification.claims._depth_sweep import AXES, analyze_depth_sweep
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.verdict import Verdict, decide

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CELL = dict(activation="relu", init="gaussian", architecture="mlp", gain=2.0, state="init")


def _records(lower_slope, upper_slope, cell=CELL, depths=(2, 4, 6), seeds=(0, 1, 2), noise=0.01):
    rng = np.random.default_rng(0)
    out = []
    for s in seeds:
        e = noise * rng.standard_normal()
        for d in depths:
            lo, hi = lower_slope * d + e, max(upper_slope * d + e, lower_slope * d + e)
            out.append({**cell, "depth": d, "seed": s, "lower": math.exp(lo), "upper": math.exp(hi),
                        "upper_reason": "", "x_norm": 4.0})
    return out


def _verdict(analysis):
    return decide(analysis.checks, AXES).verdict


@pytest.mark.parametrize("lower,upper,want", [(0.5, 0.7, Verdict.SUPPORTED), (-0.6, -0.4, Verdict.REFUTED),
                                              (-0.1, 0.3, Verdict.INCONCLUSIVE)])
def test_growth_is_decided_by_the_lower_side_for_support_and_the_upper_side_for_refutation(lower, upper, want):
    a = analyze_depth_sweep(_records(lower, upper), "input")
    growth = [c for c in a.checks if c.part == "growth"]
    assert len(growth) == 1 and growth[0].cell == CELL and growth[0].replicates == 3 and growth[0].unit == "seed"
    assert growth[0].mde is not None and growth[0].mde > 0
    assert _verdict(a) is want


def test_a_loose_certificate_cannot_refute_growth():
    """Lower ends fall with depth, certified upper ends rise: the truth is unknown, so undecided."""
    a = analyze_depth_sweep(_records(-0.3, 0.8), "input")
    assert _verdict(a) is Verdict.INCONCLUSIVE
    assert a.measured[next(iter(a.measured))]["certificate_gap_log"] > 3


def test_linear_orthogonal_chain_is_a_sanity_check_not_evidence():
    cell = dict(CELL, activation="identity", init="orthogonal")
    a = analyze_depth_sweep(_records(math.log(2), math.log(2), cell=cell, noise=0.0), "input")
    assert [c.role for c in a.checks] == ["sanity"] and a.checks[0].cell == {}
    assert a.checks[0].verdict is Verdict.SUPPORTED
    broken = analyze_depth_sweep(_records(0.5, 0.5, cell=cell, noise=0.0) + _records(0.5, 0.7), "input")
    assert _verdict(broken) is Verdict.INCONCLUSIVE          # the identity fails: the setup is broken


def test_no_finite_upper_bound_is_a_failed_precondition():
    recs = _records(0.5, 0.7)
    for r in recs:
        r["upper"], r["upper_reason"] = math.inf, "no rule for attention"
    a = analyze_depth_sweep(recs, "input")
    d = decide(a.checks, AXES)
    assert d.verdict is Verdict.INCONCLUSIVE and "no rule for attention" in d.reason


def test_series_and_too_few_depths():
    a = analyze_depth_sweep(_records(0.5, 0.7), "params")
    s = {x.name: x for x in a.series}
    assert s["log_lipschitz"].dims == AXES + ("depth", "seed", "bound")
    assert s["slope"].sel(**CELL, end="growth_low").item() > 0
    with pytest.raises(ValueError, match="at least 3"):
        analyze_depth_sweep(_records(0.5, 0.7, depths=(2, 4)), "input")


def _run(claim, seeds=(0, 1, 2), **over):
    return claim.run(Context(params=claim.resolve_params("tiny", over), seeds=list(seeds), scale="tiny",
                             claim_id=claim.id))


def test_tiny_run_supports_growth_above_the_critical_gain_and_refutes_it_below():
    ev = _run(inp.CLAIM, activations=["identity"])
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    assert any(c.role == "sanity" for c in ev.checks) and ev.regimes is not None and len(ev.regimes.axes) >= 2
    assert ev.primary and ev.check(ev.primary).part == "growth"
    assert set(ev.series) == {s.name for s in inp.CLAIM.series}
    bad = _run(inp.CLAIM, activations=["identity"], gains=[0.5])
    assert bad.verdict is Verdict.REFUTED, bad.reason


def test_tiny_params_run_and_its_linear_chain_law():
    ev = _run(par.CLAIM, activations=["identity"], seeds=(0, 1))
    sanity = [c for c in ev.checks if c.role == "sanity"]
    assert sanity and all(c.verdict is Verdict.SUPPORTED for c in sanity)
    assert sanity[0].estimate == pytest.approx(math.log(2.0), rel=1e-6)
    assert ev.validation and all(r.passed for r in ev.validation)


def test_a_failed_estimator_validation_makes_every_cell_inconclusive():
    from ibnorm_verify.verification.evidence import ValidationRow

    row = ValidationRow("lipschitz", "forced failure", 1.0, 0.5, False, "forced", lower=0.5, upper=2.0)
    a = analyze_depth_sweep([{"kind": "validation", "rows": [row.to_dict()]}] + _records(0.5, 0.7), "input")
    d = decide(a.checks, AXES)
    assert d.verdict is Verdict.INCONCLUSIVE and "forced failure" in d.reason
    assert a.validation == [row]
