"""ib.nuisance-suppression: the pure analysis on constructed records gives each verdict; the tiny run
produces its declared series; a regime where the prediction fails comes out refuted."""
import numpy as np
import pytest

from ibnorm_verify.verification.claims import ib_nuisance_suppression as mod
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.evidence import ValidationRow, Verdict
from ibnorm_verify.verification.stats import mean_se_ci

PARAMS = dict(groupings=["layer"], compressions=["tanh"], lams=[2.0], noise_std=[0.1], label_keep=0.9)
SEEDS = (0, 1, 2, 3)
GOOD = {"kurtosis": -1.0, "entropy_step": -5.0, "entropy": -0.3, "nuisance_info": -0.05, "label_info": 0.0}


def _records(delta=GOOD, step=None):
    """Baseline and one IBNorm variant (layer, tanh, 2); the variant differs by ``delta`` (+ seed jitter)."""
    base = {"kurtosis": 5.0, "entropy_step": 0.0, "entropy": 2.0, "nuisance_info": 0.4, "label_info": 0.5}
    recs = []
    for seed in SEEDS:
        jit = 0.01 * (seed - 1.5)
        for comp, lam in (("identity", 1.0), ("tanh", 2.0)):
            for q, b in base.items():
                noise = 0.0 if q in ("kurtosis", "entropy_step") else 0.1
                v = b if comp == "identity" else (step if (q == "entropy_step" and step is not None)
                                                  else b + delta[q] + jit)
                recs.append({"quantity": q, "grouping": "layer", "compression": comp, "lam": lam, "noise": noise,
                             "seed": seed, "value": v})
    return recs


def _params(**kw):
    return {**mod.CLAIM.resolve_params("tiny", PARAMS), **kw}


def _verdict(records, **kw):
    a = mod.analyze_nuisance(records, _params(**kw))
    return mod.CLAIM.evidence_of(Context(params=_params(**kw), seeds=list(SEEDS)), a)


def test_supported_when_every_part_holds():
    ev = _verdict(_records())
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    parts = {c.part for c in ev.checks if c.role == "evidence"}
    assert parts == {"tails", "entropy, layer output", "nuisance information", "label information"}
    sanity = [c for c in ev.checks if c.role == "sanity"]
    assert [c.part for c in sanity] == [mod.SANITY_PART]               # the compression-step entropy is not evidence
    assert {tuple(sorted(c.coords.items())) for c in ev.regimes.cells} >= {
        (("compression", "tanh"), ("grouping", "layer"), ("lam", 2.0), ("noise", 0.0))}
    assert ev.primary_check().part == "nuisance information"


def test_refuted_part_and_cell_when_nuisance_information_rises():
    ev = _verdict(_records({**GOOD, "nuisance_info": +0.2}))
    assert ev.verdict is Verdict.REFUTED
    bad = [c for c in ev.checks if c.verdict is Verdict.REFUTED]
    assert [c.part for c in bad] == ["nuisance information"] and bad[0].p_refute_holm <= 0.025
    cells = {c.coords["noise"]: c.verdict for c in ev.regimes.cells}
    assert cells == {0.0: Verdict.SUPPORTED, 0.1: Verdict.REFUTED}


def test_label_information_lost_refutes():
    ev = _verdict(_records({**GOOD, "label_info": -0.25}))            # ratio 0.5 < 0.9
    assert ev.verdict is Verdict.REFUTED and "label information" in ev.reason


def test_identity_compression_step_is_inconclusive():
    """A compression with f' = 1 (root at lambda 1) changes nothing: the sanity check cannot pass."""
    ev = _verdict(_records(step=0.0))
    assert ev.verdict is Verdict.INCONCLUSIVE and "sanity" in ev.reason


def test_failed_validation_makes_it_inconclusive():
    bad = ValidationRow("ksg", "normal", 0.5, 0.9, False, "|error| <= 0.1")
    ev = _verdict(_records() + [bad])
    assert ev.verdict is Verdict.INCONCLUSIVE and "validation" in ev.reason


def test_effect_series_is_the_checks_statistic():
    ev = _verdict(_records())
    eff = ev.series["effect"]
    for c in ev.checks:
        if c.role != "evidence":
            continue
        vals = eff.sel(part=c.part, **c.cell).values
        m = mean_se_ci(vals[np.isfinite(vals)])
        assert m.estimate == pytest.approx(c.estimate) and m.ci == pytest.approx(c.ci)


def _run(scale="tiny", **over):
    claim = mod.CLAIM
    p = claim.resolve_params(scale, over)
    return claim.run(Context(params=p, seeds=[0, 1, 2], scale=scale, claim_id=claim.id))


def test_tiny_run_produces_the_declared_series():
    ev = _run()
    assert ev.ok and {s.name: s.dims for s in mod.CLAIM.series} == {k: v.dims for k, v in ev.series.items()}
    assert ev.validation and all(isinstance(r, ValidationRow) for r in ev.validation)
    assert "mixture" in str(ev.conditions["estimators"]) and ev.regimes is not None


def test_rms_log_raises_nuisance_information_at_small_noise():
    """The regime where the prediction fails: RMS grouping, log compression, s = 0.1."""
    ev = _run(groupings="rms", compressions="log", noise_std="0.1", max_seeds=3)
    assert ev.verdict is Verdict.REFUTED, ev.reason
    assert any(c.part == "nuisance information" and c.verdict is Verdict.REFUTED for c in ev.checks)


def test_parameters_refuse_old_names_and_bad_values():
    with pytest.raises(ValueError, match="not one of"):
        mod.CLAIM.resolve_params("quick", {"groupings": "ln"})
    with pytest.raises(ValueError, match="maximum"):
        mod.CLAIM.resolve_params("quick", {"label_keep": "1.5"})
