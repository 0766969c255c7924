"""cap.normalization-exponential-reduction: bracket logic on constructed records, the converse regime, the
sanity anchor and a tiny run."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims import cap_normalization_exponential_reduction as red
from ibnorm_verify.verification.claims._validation import ValidationItem
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.verdict import Verdict, decide

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CELL = dict(activation="relu", init="gaussian", architecture="mlp", grouping="layer", gain=2.0, state="init")
PARAMS = {"rel_tol": 0.1}


def _records(rate, law, gap=0.01, cell=CELL, ks=(1, 2, 3), seeds=(0, 1, 2), in_phase=False):
    """Unnormalized Lip = e^(2k), normalized = e^(2k - rate k); both bracketed with a relative gap ``gap``."""
    rng = np.random.default_rng(1)
    out = []
    for s in seeds:
        e = 0.01 * rng.standard_normal()
        for k in ks:
            un, nm = math.exp(2 * k + e), math.exp(2 * k - rate * k)
            out.append({**cell, "units": k, "K": k, "seed": s, "in_map": True, "in_phase": in_phase,
                        "lower_unnorm": un, "upper_unnorm": un * math.exp(gap), "lower_norm": nm,
                        "upper_norm": nm * math.exp(gap * k), "product_law": law * k + e,
                        "sigma_vs_gamma": "reduces" if law > 0 else "amplifies", "upper_reason": ""})
    return out


def _decide(a):
    return decide(a.checks, red.AXES)


def test_reduction_at_the_product_law_is_supported():
    a = red.analyze_reduction(_records(1.0, 1.0), PARAMS)
    parts = {c.part: c for c in a.checks}
    assert parts["reduction"].verdict is Verdict.SUPPORTED and parts["product law"].verdict is Verdict.SUPPORTED
    assert _decide(a).verdict is Verdict.SUPPORTED


def test_converse_regime_is_refuted_and_a_wrong_law_is_refuted():
    assert _decide(red.analyze_reduction(_records(-1.0, -1.0), PARAMS)).verdict is Verdict.REFUTED
    wrong = red.analyze_reduction(_records(1.0, 2.0), PARAMS)
    assert {c.part: c.verdict for c in wrong.checks}["product law"] is Verdict.REFUTED


def test_a_loose_certificate_of_the_normalized_net_leaves_the_reduction_undecided():
    """The unnormalized net's lower bound against the normalized net's upper bound: a gap growing like 2k
    swamps a rate of 1, so the cell is undecided (it would be 'supported' from two upper bounds)."""
    a = red.analyze_reduction(_records(1.0, 1.0, gap=2.0), PARAMS)
    assert {c.part: c.verdict for c in a.checks}["reduction"] is Verdict.INCONCLUSIVE


def test_anchor_cell_is_sanity_and_phase_only_points_are_not_checked():
    anchor = dict(CELL, activation="identity", init="orthogonal")
    recs = _records(1.0, 1.0, cell=anchor) + _records(0.5, 0.5, cell=dict(CELL, gain=1.0), in_phase=True)
    for r in recs[9:]:
        r["in_map"] = False
    a = red.analyze_reduction(recs, PARAMS)
    assert all(c.role == "sanity" and c.cell == {} for c in a.checks)
    phase = {s.name: s for s in a.series}["phase"]
    assert phase.coords["gain"] == [1.0] and phase.sel(gain=1.0, K=2, quantity="product_law").item() == \
        pytest.approx(1.0, abs=0.05)


def _run(**over):
    c = red.CLAIM
    return c.run(Context(params=c.resolve_params("tiny", over), seeds=[0, 1, 2], scale="tiny", claim_id=c.id))


def test_tiny_run_regime_map_and_converse_cell():
    ev = _run()
    assert ev.regimes is not None and len(ev.regimes.axes) >= 2
    cells = {c.coords["gain"]: c.verdict for c in ev.regimes.cells}
    assert cells[0.5] is not Verdict.SUPPORTED                    # the converse regime is never supported
    sanity = [c for c in ev.checks if c.role == "sanity"]
    assert sanity and all(c.verdict is Verdict.SUPPORTED for c in sanity)
    assert {s.name for s in red.CLAIM.series} == set(ev.series)
    gaps = [m["certificate_gap_log_at_max_K"] for m in ev.measured.values()]
    assert all(math.isfinite(g) for g in gaps)


def test_items_and_params():
    c = red.CLAIM
    ctx = Context(params=c.resolve_params("quick", {}), seeds=[0, 1, 2])
    items = c.items(ctx)
    assert items[0] == ValidationItem("lipschitz", 0)     # the estimator's ground truth, once (no seed)
    items = items[1:]
    archs = {i.regime.architecture for i in items if i.in_map}
    assert {"mlp", "conv", "resnet", "transformer"} <= archs
    assert any(not i.in_map and i.in_phase for i in items)
    with pytest.raises(ValueError, match="at least 3"):
        c.items(Context(params=c.resolve_params("quick", {"K": "1,2"}), seeds=[0]))
    with pytest.raises(ValueError):
        c.resolve_params("quick", {"groupings": "layer,ln"})
