"""cap.local-generalization-bound: bracket logic on constructed records (no verdict from two upper bounds)."""
import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.claims.cap_local_generalization_bound import CLAIM, analyze
from ibnorm_verify.verification.verdict import decide

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _records(norm_lo, norm_hi, none_lo=1.0, none_hi=1.2, corr=+1):
    """Per seed and label noise, a 'none' and a 'layer' network with bound brackets [lo, hi] (x a scale
    that grows with the gap when corr > 0)."""
    rng = np.random.default_rng(0)
    recs = []
    for seed in range(4):
        for ln in (0.0, 0.3):
            for g, lo, hi in (("none", none_lo, none_hi), ("layer", norm_lo, norm_hi)):
                gap = 0.05 + ln + 0.01 * seed
                s = math.exp(corr * gap) * (1 + 0.001 * rng.random())
                recs.append({"grouping": g, "compression": "identity", "label_noise": ln, "seed": seed, "gap": gap,
                             "local_lower": lo * s, "local_upper": hi * s, "lip_lower": 10.0, "lip_upper": 10.0 * hi / lo,
                             "bartlett": 5.0 * s, "pac_bayes": 0.5, "plateau_drop": 0.0})
    return recs


def _check(a, name):
    return next(c for c in a.checks if c.name.startswith(name))


def test_bracket_logic():
    # certified bound with normalization below the attained bound without: supported
    sup = analyze(_records(0.5, 0.8), {})
    assert _check(sup, "tighter[layer/identity/noise=0]").verdict.value == "supported"
    assert decide(sup.checks).verdict.value == "supported"
    # attained bound with normalization above the certified bound without: refuted
    ref = analyze(_records(1.5, 2.0), {})
    assert _check(ref, "tighter[layer").verdict.value == "refuted" and decide(ref.checks).verdict.value == "refuted"
    # the old logic would refute here (upper 3.0 > upper 1.2), but the brackets overlap: inconclusive,
    # with the certificate gaps in the details
    loose = analyze(_records(0.9, 3.0), {})
    c = _check(loose, "tighter[layer/identity/noise=0]")
    assert c.verdict.value == "inconclusive" and decide(loose.checks).verdict.value == "inconclusive"
    assert c.details["certificate gap (upper/lower L), normalized"] == pytest.approx(3.0 / 0.9)
    # the bound anti-correlated with the gap: refuted
    anti = analyze(_records(0.99, 1.0, none_lo=0.99, none_hi=1.0, corr=-1), {})
    assert _check(anti, "tracks-gap").verdict.value == "refuted" and decide(anti.checks).verdict.value == "refuted"
    # failed estimator validation: inconclusive
    assert decide(analyze(_records(0.5, 0.8), {}, validation_ok=False).checks).verdict.value == "inconclusive"


def test_regime_map_and_series():
    a = analyze(_records(0.5, 0.8), {})
    d = decide(a.checks, CLAIM.axes, CLAIM.condition, CLAIM.primary_part)
    labels = {c.label() for c in d.regimes.cells}
    assert "grouping=layer, compression=identity, label_noise=0.0" in labels and len(d.regimes.cells) == 3
    s = {x.name: x for x in a.series}
    assert s["bounds"].dims == ("grouping", "compression", "label_noise", "seed", "bound")
    assert s["bounds"].values.shape == (2, 1, 2, 4, 4)


def test_tiny_run_end_to_end():
    params = CLAIM.resolve_params("tiny", {"label_noise": "0.0", "steps": 15, "ib_groupings": "layer"})
    ev = CLAIM.run(Context(params=params, seeds=[0, 1], scale="tiny"))
    assert ev.validation and all(r.passed for r in ev.validation)
    assert {c.name for c in ev.checks} >= {"tighter[layer/identity/noise=0]", "tracks-gap", "estimator-validation"}
    b = ev.series["bounds"]
    lo, hi = b.sel(bound="local_lower").values, b.sel(bound="local_upper").values
    measured = np.isfinite(lo)
    assert measured.sum() == 6 and np.all(lo[measured] <= hi[measured])     # (none, layer, IB-layer) x 2 seeds


def test_plateau_is_a_precondition_per_cell():
    recs = _records(0.5, 0.8)
    for r in recs:
        if r["grouping"] == "layer" and r["label_noise"] == 0.3 and r["seed"] == 1:
            r["plateau_drop"] = 0.2                     # one network still learning
    a = analyze(recs, {"require_plateau": True, "plateau_tol": 0.05})
    d = decide(a.checks, CLAIM.axes, CLAIM.condition, CLAIM.primary_part)
    cells = {(c.coords["grouping"], c.coords["label_noise"]): c.verdict.value for c in d.regimes.cells}
    assert cells[("layer", 0.0)] == "supported" and cells[("layer", 0.3)] == "inconclusive"
    assert cells[("all", "all")] == "inconclusive"
