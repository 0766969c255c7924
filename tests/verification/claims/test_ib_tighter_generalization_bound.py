"""ib.tighter-generalization-bound: the pure analysis on constructed per-network records (each verdict,
the weight-noise axis), and a tiny run through the suite's one trainer."""
import pytest

from ibnorm_verify.theory.bounds import gaussian_weight_channel_mi, kawaguchi_bound
from ibnorm_verify.verification.claims import ib_tighter_generalization_bound as mod
from ibnorm_verify.verification.claims._ib_estimators import AUTO, MIXTURE
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.evidence import ValidationRow, Verdict

PARAMS = dict(groupings=["layer"], compressions=["tanh"], lams=[2.0], noise_std=[1.0], weight_noise_std=[0.1, 1.0],
              n_train=500)
SEEDS = (0, 1, 2, 3)


def _records(cmi_base, cmi_ib, p_base, p_ib, mixture_ok=True):
    recs = [ValidationRow(MIXTURE, "gaussian-channel(s=1)", 2.0, 2.01 if mixture_ok else 1.5, mixture_ok,
                          "|error| <= 0.1", details={"noise": 1.0})]
    for seed in SEEDS:
        jit = 0.01 * (seed - 1.5)
        for comp, lam, cmi, p in (("identity", 1.0, cmi_base, p_base), ("tanh", 2.0, cmi_ib, p_ib)):
            recs.append({"grouping": "layer", "compression": comp, "lam": lam, "seed": seed, "train_err": 0.1,
                         "test_err": 0.15, "gap": 0.05, "weight_sq_change": [v + jit for v in p],
                         "cmi": {1.0: {"mixture": [v + jit for v in cmi], "gaussian": [v + 0.3 for v in cmi],
                                       "n_mc": [800] * 4}}})
    return recs


def _evidence(records):
    p = {**mod.CLAIM.resolve_params("tiny", PARAMS)}
    return mod.CLAIM.evidence_of(Context(params=p, seeds=list(SEEDS)), mod.analyze_bound(records, p))


def _by_part(ev):
    return {(c.part, c.cell.get("weight_noise")): c.verdict for c in ev.checks if c.role == "evidence"}


def test_smaller_representation_term_and_equal_weights_is_supported():
    ev = _evidence(_records([3.0, 2.0], [1.0, 0.8], [5.0, 9.0], [5.0, 9.0]))
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    assert ev.primary_check().part == "full bound"


def test_model_complexity_term_can_undo_a_smaller_representation_term():
    """The paper's reduced form improves; the full bound (with I(phi;S) <= P/2 sigma_w^2) is worse at
    sigma_w = 0.1 and better at sigma_w = 1: the weight-noise axis separates the regimes."""
    ev = _evidence(_records([3.0, 2.0], [1.0, 0.8], [5.0, 9.0], [6.0, 12.0]))
    parts = _by_part(ev)
    assert parts[("representation term", None)] is Verdict.SUPPORTED
    assert parts[("full bound", 0.1)] is Verdict.REFUTED and parts[("full bound", 1.0)] is Verdict.SUPPORTED
    assert ev.verdict is Verdict.REFUTED
    reduced = ev.series["reduced_bound"].sel(grouping="layer", noise=1.0)
    assert (reduced.sel(compression="tanh", lam=2.0).values < reduced.sel(compression="identity", lam=1.0).values).all()


def test_no_difference_is_inconclusive():
    assert _evidence(_records([3.0, 2.0], [3.0, 2.0], [5.0, 9.0], [5.0, 9.0])).verdict is Verdict.INCONCLUSIVE


def test_mixture_not_validated_at_the_claims_width_decides_nothing():
    ev = _evidence(_records([3.0, 2.0], [1.0, 0.8], [5.0, 9.0], [6.0, 12.0], mixture_ok=False))
    assert not [c for c in ev.checks if c.role == "evidence"]
    assert ev.verdict is Verdict.INCONCLUSIVE and "validation:mixture at s=1" in ev.reason
    assert all(c.verdict is Verdict.INCONCLUSIVE for c in ev.regimes.cells)


def test_the_default_estimator_can_measure_the_representation_term():
    """cmi_estimator=auto: the records carry the package default's estimates, validated as mi:auto."""
    recs = _records([3.0, 2.0], [1.0, 0.8], [5.0, 9.0], [5.0, 9.0])
    for r in recs[1:]:
        r["cmi"][1.0]["auto"] = r["cmi"][1.0].pop("mixture")
    recs[0] = ValidationRow(AUTO, "gaussian-channel(s=1)", 2.0, 2.02, True, "|error| <= 0.1", details={"noise": 1.0})
    p = {**mod.CLAIM.resolve_params("tiny", {**PARAMS, "cmi_estimator": "auto"})}
    ev = mod.CLAIM.evidence_of(Context(params=p, seeds=list(SEEDS)), mod.analyze_bound(recs, p))
    assert ev.verdict is Verdict.SUPPORTED and "auto" in ev.conditions["estimators"]["I(X;Z_l|Y)"]
    assert ev.series["cmi"].coords["estimator"] == ["auto", "gaussian"]


def test_full_bound_series_is_the_theory_formula():
    recs = _records([3.0, 2.0], [1.0, 0.8], [5.0, 9.0], [6.0, 12.0])
    ev = _evidence(recs)
    r = recs[1]
    phi = [gaussian_weight_channel_mi(p, 0.1 ** 2) for p in r["weight_sq_change"]]
    want = kawaguchi_bound(r["cmi"][1.0]["mixture"], phi, 500, delta=0.05).value
    got = ev.series["full_bound"].sel(grouping="layer", compression="identity", lam=1.0, noise=1.0, weight_noise=0.1,
                                      seed=0).item()
    assert got == pytest.approx(want)


def test_tiny_run_trains_with_the_shared_trainer_and_produces_the_declared_series():
    claim = mod.CLAIM
    p = claim.resolve_params("tiny", {"noise_std": "1.0"})
    ev = claim.run(Context(params=p, seeds=[0, 1], scale="tiny", claim_id=claim.id))
    assert ev.ok and {s.name: s.dims for s in claim.series} == {k: v.dims for k, v in ev.series.items()}
    w = ev.series["weight_sq_change"]
    assert w.dims == ("grouping", "compression", "lam", "layer", "seed") and w.coords["layer"] == [0, 1]
    for comp, lam in (("identity", 1.0), ("tanh", 2.0)):               # trained: every layer moved
        assert (w.sel(grouping="layer", compression=comp, lam=lam).values > 0).all()
    assert ev.conditions["weight_noise_std"] == [0.1, 1.0] and ev.validation
