"""ib.higher-ib-value: the per-cell verdict on constructed records (every verdict, the estimator as a
regime axis), the declared series of a tiny run, and a regime where the prediction fails."""
import numpy as np
import pytest

from ibnorm_verify.verification.claims import ib_higher_ib_value as mod
from ibnorm_verify.verification.claims._ib_estimators import MIXTURE
from ibnorm_verify.verification.claims._ib_validation import KSG, MIXED_KSG
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.evidence import ValidationRow, Verdict
from ibnorm_verify.verification.stats import mean_se_ci

PARAMS = dict(groupings=["batch"], compressions=["log"], lams=[1.0], betas=[0.01, 0.1], noise_std=[0.3])
SEEDS = (0, 1, 2, 3, 4)


def _rows(knn_ok=True):
    return [ValidationRow(est, "case", 1.0, 1.0 if (knn_ok or est == MIXTURE) else 2.0, knn_ok or est == MIXTURE,
                          "|error| <= 0.1") for est in (MIXTURE, KSG, MIXED_KSG)]


def _records(d_iy: float, d_ix: float, knn_sign: float = 1.0, knn_ok: bool = True):
    """I_Y, I_X of the baseline and one variant per seed; the variant adds (d_iy, d_ix) (+ jitter); and
    validation rows (the kNN estimator's pass or fail)."""
    recs = _rows(knn_ok)
    for est in ("mixture", "knn"):
        for seed in SEEDS:
            jit = 0.001 * (seed - 2)
            for comp, lam in (("identity", 1.0), ("log", 1.0)):
                ib = comp != "identity"
                for q, b, d in (("I_Y", 0.3, d_iy), ("I_X", 3.0, d_ix)):
                    v = b + (d * (knn_sign if est == "knn" else 1.0) + jit if ib else 0.0)
                    recs.append({"quantity": q, "estimator": est, "grouping": "batch", "compression": comp,
                                 "lam": lam, "noise": 0.3, "seed": seed, "value": v})
    return recs


def _evidence(records, **kw):
    p = {**mod.CLAIM.resolve_params("tiny", PARAMS), **kw}
    return mod.CLAIM.evidence_of(Context(params=p, seeds=list(SEEDS)), mod.analyze_ib_value(records, p))


def _cells(ev):
    return {(c.coords["beta"], c.coords["estimator"]): c.verdict for c in ev.regimes.cells if "beta" in c.coords}


def test_beta_separates_supported_from_refuted():
    """I(Y;T) rises by 0.02 while I(X;T) rises by 1.7: higher IB value at beta 0.01, lower at 0.1."""
    ev = _evidence(_records(0.02, 1.7))
    assert _cells(ev) == {(0.01, "mixture"): Verdict.SUPPORTED, (0.01, "knn"): Verdict.SUPPORTED,
                          (0.1, "mixture"): Verdict.REFUTED, (0.1, "knn"): Verdict.REFUTED}
    assert ev.verdict is Verdict.REFUTED and "Supported in 2 of 4" in ev.headline


def test_supported_everywhere_and_inconclusive_at_no_effect():
    assert _evidence(_records(0.05, -0.5)).verdict is Verdict.SUPPORTED
    assert _evidence(_records(0.0, 0.0)).verdict is Verdict.INCONCLUSIVE


def test_estimators_that_disagree_show_in_the_map():
    ev = _evidence(_records(0.05, -0.5, knn_sign=-1.0))
    cells = _cells(ev)
    assert cells[(0.01, "mixture")] is Verdict.SUPPORTED and cells[(0.01, "knn")] is Verdict.REFUTED


def test_an_estimator_that_fails_its_validation_decides_nothing():
    """kNN fails where the claim uses it: its cells are not measured, the mixture's still decide, and
    the claim cannot be supported with one validated estimator."""
    ev = _evidence(_records(0.02, 1.7, knn_ok=False))
    knn = [c for c in ev.checks if c.cell.get("estimator") == "knn"]
    assert knn and all(c.role == "precondition" and c.verdict is Verdict.INCONCLUSIVE for c in knn)
    assert sum(c.role == "evidence" for c in ev.checks) == 2                   # only the mixture's checks
    assert ev.series["ib_value_change"].sel(estimator="knn").values.size       # its numbers stay in the series
    cells = _cells(ev)
    assert cells[(0.1, "mixture")] is Verdict.REFUTED and cells[(0.1, "knn")] is Verdict.INCONCLUSIVE
    assert ev.verdict is Verdict.REFUTED
    assert _evidence(_records(0.05, -0.5, knn_ok=False)).verdict is Verdict.INCONCLUSIVE


def test_change_series_is_the_checks_statistic():
    ev = _evidence(_records(0.02, 1.7))
    s = ev.series["ib_value_change"]
    for c in (c for c in ev.checks if c.role == "evidence"):
        m = mean_se_ci(s.sel(**c.cell).values)
        assert m.ci == pytest.approx(c.ci) and m.estimate == pytest.approx(c.estimate)


def _run(seeds=(0, 1, 2), **over):
    claim = mod.CLAIM
    p = claim.resolve_params("tiny", over)
    return claim.run(Context(params=p, seeds=list(seeds), scale="tiny", claim_id=claim.id))


def test_tiny_run_produces_the_declared_series():
    ev = _run()
    assert ev.ok and {s.name: s.dims for s in mod.CLAIM.series} == {k: v.dims for k, v in ev.series.items()}
    assert {c.cell["estimator"] for c in ev.checks if c.cell} == {"mixture", "knn"}
    measured = [c for c in ev.checks if c.role == "evidence" and c.kind == "direction"]
    assert measured and all(c.mde is not None and c.replicates == 3 for c in measured)
    # KSG is more than a nat low on I(X; T_s) in 4+4 dims: the kNN cells hold only that failed validation
    knn_cells = [c for c in ev.regimes.cells if c.coords.get("estimator") == "knn"]
    assert knn_cells and all(c.verdict is Verdict.INCONCLUSIVE and "validation" in c.reason for c in knn_cells)
    assert "n_mc" in ev.conditions["estimators"]["mixture"]


def test_batch_tanh_lowers_the_ib_value():
    """The regime where Theorem 1 fails: BN grouping, tanh at lambda 2, s = 0.3, beta = 0.01."""
    ev = _run(range(5), groupings="batch", compressions="tanh", lams="2", betas="0.01", noise_std="0.3",
              estimators="mixture", n=1000, max_seeds=5)
    assert ev.verdict is Verdict.REFUTED, ev.reason


def test_lambda_below_one_is_rejected():
    with pytest.raises(ValueError):
        mod.CLAIM.resolve_params("quick", {"lams": "0.5"})
    assert np.isfinite(mod.CLAIM.resolve_params("full")["mc_halfwidth"])


def test_crossover_beta_is_reported():
    ev = _evidence(_records(0.02, 1.7))
    star = ev.measured["IB-BN(log, lam=1), s=0.3, mixture: beta* (IB unchanged)"]
    assert star["beta_star"] == pytest.approx(0.02 / 1.7, rel=1e-6) and star["reading"] == "rises for beta < beta*"
