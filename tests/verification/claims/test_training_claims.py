"""The training claims: their analysis gives every verdict on constructed records; small real runs."""
import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims import REGISTRY
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.claims.training import (
    analyze_local_bound,
    analyze_performance,
    analyze_training_statistics,
    audit_reported_numbers,
    paired_test,
    rank_correlation,
)
from ibnorm_verify.verification.verdict import decide

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _verdict(out):
    return decide(out["checks"]).verdict.value


# ------------------------------------------------------------------------------- training statistics

def _stats_record(seed, var_slope, w_slope, end_var=4.0, acc=0.9, rng=None):
    rng = rng or np.random.default_rng(seed)
    t = np.arange(1, 101)
    nv = {f"n{j}": (end_var * np.exp(var_slope * (t - 100) / 100) * (1 + 0.01 * rng.standard_normal(100))).tolist()
          for j in range(3)}
    wn = {f"w{j}": (3.0 * np.exp(w_slope * t / 100)).tolist() for j in range(2)}
    return {"norm": "bn", "seed": seed, "steps": t.tolist(), "norm_var": nv, "norm_var_full": nv, "weight_norm": wn,
            "weight_norm_full": wn, "gamma_max": {f"n{j}": 1.0 for j in range(3)}, "test_acc": acc, "chance": 0.25}


def test_training_statistics_verdicts_on_constructed_records():
    grow = [_stats_record(s, 1.0, 0.5) for s in range(3)]
    assert _verdict(analyze_training_statistics(grow)) == "supported"
    shrink = [_stats_record(s, 1.0, -0.5) for s in range(3)]           # weight decay regime
    out = analyze_training_statistics(shrink)
    assert _verdict(out) == "refuted" and out["measured"]["weight-growth[bn]"]["estimate"] < 0
    small = [_stats_record(s, 1.0, 0.5, end_var=0.2) for s in range(3)]  # sigma < |gamma|: the converse regime
    assert _verdict(analyze_training_statistics(small)) == "refuted"
    mixed = [_stats_record(s, v, 0.5) for s, v in enumerate((1.0, -1.2, 0.1))]
    assert _verdict(analyze_training_statistics(mixed)) == "inconclusive"
    failed = [_stats_record(s, 1.0, 0.5, acc=0.26) for s in range(3)]   # did not learn -> precondition
    assert _verdict(analyze_training_statistics(failed)) == "inconclusive"
    arr = analyze_training_statistics(grow)["arrays"]
    assert np.asarray(arr["norm_var[bn]"]).shape == (3, 3, 100) and np.asarray(arr["weight_norm[bn]"]).shape == (3, 2, 100)


def test_training_statistics_real_run_flips_with_weight_decay():
    claim = REGISTRY["cap.training-statistics"]
    params = claim.resolve_params("tiny", {"steps": 25, "optimizer": "adamw", "lr": 0.01, "weight_decay": 20.0,
                                           "n_train": 64})
    ev = claim.run(Context(params=params, seeds=[0, 1], scale="tiny"))
    assert ev.seeds == [0, 1]
    wg = [c for c in ev.checks if c.name == "weight-growth[bn]"][0]
    assert wg.verdict.value == "refuted" and ev.verdict.value in ("refuted", "inconclusive")
    assert "norm_var[bn]" in ev.arrays and "steps[bn]" in ev.arrays


# ---------------------------------------------------------------------------------- local bound

def _bound_records(sign_norm, sign_corr, rng=np.random.default_rng(0)):
    recs = []
    for seed in range(3):
        for ln in (0.0, 0.3):
            for norm in ("none", "ln"):
                gap = 0.05 + ln + 0.01 * seed + (0.02 if norm == "none" else 0.0)
                b = 2.0 + sign_corr * 3.0 * gap + (0.0 if norm == "none" else sign_norm * 0.2) + 0.01 * rng.random()
                recs.append({"norm": norm, "seed": seed, "label_noise": ln, "gap": gap, "loss_gap": gap,
                             "train_err": 0.0, "test_err": gap, "bound": b, "bound_attained": b, "bartlett": b,
                             "pac_bayes": min(b / 10, 1), "lip_upper": math.exp(b), "lip_lower": math.exp(b) / 2,
                             "radius": 1.0})
    return recs


def test_local_bound_verdicts_on_constructed_records():
    assert _verdict(analyze_local_bound(_bound_records(-1, +1))) == "supported"
    out = analyze_local_bound(_bound_records(+1, +1))          # bound larger with normalization
    assert _verdict(out) == "refuted" and out["measured"]["log_bound_ratio[ln/none]"]["estimate"] > 0
    assert _verdict(analyze_local_bound(_bound_records(-1, -1))) == "refuted"  # anti-correlated with the gap
    assert _verdict(analyze_local_bound(_bound_records(-1, +1), validation_ok=False)) == "inconclusive"
    arr = analyze_local_bound(_bound_records(-1, +1))["arrays"]
    assert len(arr["points.bound"]) == len(arr["points.gap"]) == 12


def test_local_bound_claim_runs_end_to_end():
    claim = REGISTRY["cap.local-generalization-bound"]
    params = claim.resolve_params("tiny", {"norms": "none,ln", "label_noise": "0.0", "steps": 15})
    ev = claim.run(Context(params=params, seeds=[0, 1], scale="tiny"))
    assert ev.verdict.value in ("supported", "refuted", "inconclusive")
    assert all(row["passed"] for row in ev.validation)
    assert len(ev.arrays["points.bound"]) == 4 and all(math.isfinite(b) for b in ev.arrays["points.bound"])
    assert {c.name for c in ev.checks} >= {"tighter[ln]", "tracks-gap", "estimator-validation"}


# ---------------------------------------------------------------------------------- performance

def _perf_records(delta, noise=0.0):
    rng = np.random.default_rng(1)
    recs = []
    for dom, methods in (("lm", ("ln", "rms", "ib-ln", "ib-rms")), ("vision", ("bn", "ln", "ib-bn", "ib-ln"))):
        for m in methods:
            for lr in (1e-3, 3e-3):
                for s in range(4):
                    good = delta if m.startswith("ib") else 0.0
                    e = noise * rng.standard_normal()
                    r = {"domain": dom, "method": m, "lr": lr, "seed": s, "lam": 1.0, "order": "compress_first",
                         "affine": True, "variant": "main", "val_loss": 1.0 + (lr == 1e-3) * 0.1,
                         "test_loss": 1.2, "test_acc": 0.7 + good + e + 0.01 * s, "oracle": 1.1,
                         "entropy_rate": 1.1, "excess": 0.1 - good + e + 0.001 * s}
                    recs.append(r)
        for variant, kw in (("order", {"order": "standardize_first"}), ("affine", {"affine": False})):
            for s in range(4):
                base = [r for r in recs if r["domain"] == dom and r["method"] == "ib-ln" and r["lr"] == 3e-3
                        and r["seed"] == s and r["variant"] == "main"][0]
                recs.append({**base, **kw, "variant": variant, "test_acc": base["test_acc"] - delta,
                             "excess": base["excess"] + delta})
    return recs


def test_performance_verdicts_on_constructed_records():
    out = analyze_performance(_perf_records(0.05))
    assert _verdict(out) == "supported"
    assert out["selected_lr"]["lm[ln]"] == 3e-3  # chosen on the validation loss
    assert _verdict(analyze_performance(_perf_records(-0.05))) == "refuted"
    assert _verdict(analyze_performance(_perf_records(0.002, noise=0.05))) == "inconclusive"
    arr = out["arrays"]
    assert len(arr["lm.per_seed[ib-ln]"]) == 4 and len(arr["vision.mean_ci[bn]"]) == 3 and len(arr["audit"]) == 4


def test_audit_of_reported_numbers():
    rows = {(r["ibnorm"].split()[0], r["baseline"].split()[0]): r for r in audit_reported_numbers()}
    assert rows[("text", "ln")]["recomputed_gain_pct"] == pytest.approx(6.84, abs=0.005)
    assert rows[("text", "ln")]["matches_quote"]
    assert rows[("text", "rms")]["recomputed_gain_pct"] == pytest.approx(6.47, abs=0.005)
    assert not rows[("text", "rms")]["matches_quote"]      # the quoted 9.51% is not reproduced
    assert rows[("table", "ln")]["recomputed_gain_pct"] == pytest.approx(5.64, abs=0.005)
    assert rows[("table", "rms")]["recomputed_gain_pct"] == pytest.approx(5.27, abs=0.005)


def test_performance_claim_runs_end_to_end(tmp_path):
    claim = REGISTRY["ib.empirical-performance"]
    params = claim.resolve_params("tiny", {"domains": "lm", "lm_methods": "ln,ib-ln", "lr_grid": "0.003",
                                           "steps": 8, "n_train": 32, "dim": 8, "checkpoint_dir": str(tmp_path)})
    ev = claim.run(Context(params=params, seeds=[0, 1], scale="tiny"))
    assert len(list(tmp_path.glob("*.pt"))) == 10  # one checkpoint per training run
    again = claim.run(Context(params=params, seeds=[0, 1], scale="tiny"))  # resumes from the final checkpoints
    assert again.measured["lm[ib-ln]"] == ev.measured["lm[ib-ln]"]
    names = {c.name for c in ev.checks}
    assert {"lm: ib-ln beats ln", "lm: compress_first beats standardize_first", "lm: affine beats no-affine"} <= names
    assert len(ev.arrays["lm.lambda_curve"]) == 2 and ev.measured["lm.entropy_rate"] > 0
    assert any("9.51" in n for n in ev.notes)


# --------------------------------------------------------------------------------- statistics

def test_paired_test_and_rank_correlation():
    pt = paired_test([2.0, 3.0, 4.0], [1.0, 1.5, 2.0])
    assert pt["mean_diff"] == pytest.approx(1.5) and pt["n_pos"] == 3 and pt["sign_p"] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        paired_test([1.0], [1.0, 2.0])
    x = np.arange(20.0)
    rc = rank_correlation(x, x ** 2, n_boot=200, n_perm=200)
    assert rc["rho"] == pytest.approx(1.0) and rc["perm_p"] < 0.01 and rc["ci"][0] > 0.9
    rc = rank_correlation(x, -x, n_boot=200, n_perm=200)
    assert rc["rho"] == pytest.approx(-1.0) and rc["perm_p"] > 0.9
