"""cap.training-statistics: the pure analysis gives every verdict on constructed records; a tiny real run."""
import dataclasses

import numpy as np
import pytest

from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.claims.cap_training_statistics import CLAIM, StatsItem, analyze, worker
from ibnorm_verify.verification.verdict import decide

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _record(seed, var_growth=1.0, w_growth=0.5, sigma=2.0, acc=0.9, opt="sgd", grouping="batch", n_norm=3):
    steps = list(range(1, 21))
    return {"optimizer": opt, "grouping": grouping, "weight_decay": 0.0, "seed": seed, "steps": steps,
            "norm_var": [[1.0] * 20] * n_norm, "weight_norm": [[1.0] * 20] * 2, "train_loss": [1.0] * 20,
            "var_endpoints": [(sigma ** 2 / np.exp(var_growth), sigma ** 2)] * n_norm,
            "weight_endpoints": [(3.0, 3.0 * np.exp(w_growth + 0.01 * seed))] * 2,
            "gamma_max": [1.0] * n_norm, "plateau_drop": 0.01, "test_acc": acc, "chance": 0.1}


def _verdict(records, **params):
    return decide(analyze(records, params).checks).verdict.value


def test_verdicts_on_constructed_records():
    grow = [_record(s) for s in range(8)]
    assert _verdict(grow) == "supported"
    assert _verdict([_record(s, w_growth=-0.5) for s in range(8)]) == "refuted"       # weights shrink
    assert _verdict([_record(s, sigma=0.5) for s in range(8)]) == "refuted"           # sigma < |gamma|
    assert _verdict([_record(s, sigma=0.5) for s in range(6)]) == "inconclusive"      # 1/64 does not survive Holm
    assert _verdict([_record(s, acc=0.15) for s in range(8)]) == "inconclusive"       # did not learn
    assert _verdict([_record(s) for s in range(3)]) == "inconclusive"                 # 3 seeds: the median cannot decide
    bumpy = [dict(_record(s), plateau_drop=0.3) for s in range(8)]
    assert _verdict(bumpy) == "supported" and _verdict(bumpy, require_plateau=True) == "inconclusive"


def test_seed_is_the_unit_for_the_share():
    """One of three normalizers above |gamma| in every seed: refuted only with enough seeds (>= 6)."""
    def rec(seed):
        r = _record(seed)
        r["var_endpoints"] = [(1.0, 4.0), (1.0, 0.25), (1.0, 0.25)]
        return r
    a3 = analyze([rec(s) for s in range(3)], {})
    c3 = next(c for c in a3.checks if c.part == "sigma > |gamma|")
    assert c3.verdict.value == "inconclusive" and c3.ci == (0.0, 1.0) and c3.replicates == 3 and c3.unit == "seed"
    a8 = analyze([rec(s) for s in range(8)], {})
    c8 = next(c for c in a8.checks if c.part == "sigma > |gamma|")
    assert c8.verdict.value == "refuted" and c8.estimate == pytest.approx(1 / 3)
    assert c8.p_refute == pytest.approx(0.5 ** 8)     # exact sign test over the 8 seeds
    share = a8.series[0]
    assert share.name == "share_sigma_above_gamma" and share.values.shape == (1, 1, 1, 8)


def test_regime_map_has_a_cell_per_optimizer_and_grouping():
    recs = [_record(s, opt=o, grouping=g, sigma=2.0 if o == "sgd" else 0.5) for o in ("sgd", "adamw")
            for g in ("batch", "layer") for s in range(10)]
    a = analyze(recs, {})
    d = decide(a.checks, CLAIM.axes, CLAIM.condition, CLAIM.primary_part)
    cells = {(c.coords["optimizer"], c.coords["grouping"]): c.verdict.value for c in d.regimes.cells}
    assert cells == {("sgd", "batch"): "supported", ("sgd", "layer"): "supported",
                     ("adamw", "batch"): "refuted", ("adamw", "layer"): "refuted"}
    assert all(c.primary.startswith("sigma>|gamma|") for c in d.regimes.cells)
    assert all(c.mde is not None for c in a.checks if c.part in ("variance growth", "weight growth"))


def test_worker_and_tiny_run_extend_the_seeds(tmp_path):
    item = StatsItem("adamw", "batch", 0.0, 0, 0.01, steps=20, n_train=64, width=4)
    r = worker(item)
    assert len(r["var_endpoints"]) == 3 and len(r["weight_endpoints"]) == 4 and len(r["steps"]) == 20
    ck = worker(dataclasses.replace(item, checkpoint_dir=str(tmp_path)))
    assert ck["var_endpoints"] == r["var_endpoints"] and len(list(tmp_path.glob("*.pt"))) == 1
    params = CLAIM.resolve_params("tiny", {"steps": 20, "optimizers": "adamw", "max_seeds": 3})
    ev = CLAIM.run(Context(params=params, seeds=[0, 1], scale="tiny"))
    assert ev.seeds == [0, 1, 2] and ev.regimes is not None and ev.primary.startswith("sigma>|gamma|")
    assert set(ev.series) == {s.name for s in CLAIM.series}
