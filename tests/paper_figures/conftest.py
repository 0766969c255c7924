"""Synthetic Evidence with the array keys the claims produce, for the figure unit tests.

The numbers are made up (the tests check the figure code, not the claims); the *keys and layout*
must match what the claim modules write into ``Evidence.arrays`` / ``Evidence.validation``.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from verification.evidence import Evidence
from verification.verdict import Verdict


def _ev(claim_id: str, arrays: dict, validation: list | None = None) -> Evidence:
    return Evidence(claim_id=claim_id, paper="test", title=f"synthetic {claim_id}", statement="synthetic",
                    provenance="reconstructed", verdict=Verdict.SUPPORTED, reason="synthetic", seeds=[0, 1],
                    scale="tiny", arrays=arrays, validation=validation or [])


def _long(**axes):
    """Cartesian product of the named axes -> dict of equal-length lists."""
    names = list(axes)
    rows = list(itertools.product(*axes.values()))
    return {n: [r[i] for r in rows] for i, n in enumerate(names)}


def synthetic_evidence() -> dict:
    rng = np.random.default_rng(0)
    ev = {}
    d = _long(depth=[2, 4, 6, 8], gain=[1.5, 2.0], normalized=[0, 1], seed=[0, 1])
    d["log_lip"] = [L * math.log(g) * (0.2 if n else 1.0) + 0.1 * rng.standard_normal()
                    for L, g, n in zip(d["depth"], d["gain"], d["normalized"])]
    ev["cap.unnormalized-exponential-input"] = _ev("cap.unnormalized-exponential-input", d)
    ev["cap.unnormalized-exponential-params"] = _ev("cap.unnormalized-exponential-params", dict(d))
    r = _long(regime=["large-variance", "small-variance"], K=[0, 1, 2, 3], seed=[0, 1])
    r["log_predicted"] = [k * (1.0 if reg.startswith("large") else -0.5) for reg, k in zip(r["regime"], r["K"])]
    r["log_reduction"] = [p + 0.05 * rng.standard_normal() for p in r["log_predicted"]]
    g = _long(grid_gain=[0.5, 1.0, 2.0], grid_K=[1, 2, 3], seed=[0, 1])
    g["grid_log_reduction"] = [k * math.log(gg) for gg, k in zip(g["grid_gain"], g["grid_K"])]
    ev["cap.normalization-exponential-reduction"] = _ev("cap.normalization-exponential-reduction", {**r, **g})
    s = _long(K=[0, 1, 2, 3], seed=[0, 1])
    s["log_grad_norm"] = [3 - k + 0.1 * rng.standard_normal() for k in s["K"]]
    s["log_hessian_norm"] = [5 - 2 * k + 0.1 * rng.standard_normal() for k in s["K"]]
    ev["cap.loss-smoothness"] = _ev("cap.loss-smoothness", s)
    t = _long(step=[0, 10, 20, 40], layer=[1, 2], seed=[0, 1])
    t["input_var"] = [1 + 0.05 * st * l for st, l in zip(t["step"], t["layer"])]
    t["weight_norm"] = [5 + 0.02 * st for st in t["step"]]
    ev["cap.training-statistics"] = _ev("cap.training-statistics", t)
    b = _long(config=["none", "layer", "batch"], seed=[0, 1, 2])
    b["gap"] = [0.1 * (i % 3 + 1) + 0.01 * rng.standard_normal() for i in range(len(b["config"]))]
    b["bound"] = [10 ** (1 + x) for x in b["gap"]]
    ev["cap.local-generalization-bound"] = _ev("cap.local-generalization-bound", b)
    mi_validation = [{"estimator": "ksg", "task": f"gaussian rho={rho}", "true": -0.5 * math.log(1 - rho ** 2),
                      "estimate": -0.5 * math.log(1 - rho ** 2) + 0.01, "ok": True} for rho in (0.3, 0.6, 0.9)]
    mi_validation += [{"estimator": "binning", "task": "student-t", "true": 0.2, "estimate": 0.35, "ok": False}]
    p = _long(plane_normalizer=["layer", "ib_layer"], plane_layer=[1, 2, 3], seed=[0, 1])
    p["plane_i_prev"] = [2.0 / l + (0 if n == "layer" else -0.3) for n, l in zip(p["plane_normalizer"], p["plane_layer"])]
    p["plane_i_y"] = [0.6 - 0.05 * l for l in p["plane_layer"]]
    lam = _long(lam=[0.5, 1.0, 2.0, 4.0], estimator=["ksg", "gaussian"], seed=[0, 1])
    lam["ib_value"] = [0.2 + 0.05 * math.log(x) for x in lam["lam"]]
    base = _long(baseline_normalizer=["layer", "rms"], baseline_estimator=["ksg", "gaussian"], seed=[0, 1])
    base["baseline_ib_value"] = [0.15] * len(base["seed"])
    base.pop("seed")
    ev["ib.higher-ib-value"] = _ev("ib.higher-ib-value", {**p, **{k: v for k, v in lam.items() if k != "seed"}, **base},
                                   mi_validation)
    n = _long(lam=[0.0, 0.5, 1.0, 2.0], seed=[0, 1])
    n["mi_nuisance"] = [1.0 / (1 + x) for x in n["lam"]]
    n["mi_label"] = [0.6] * len(n["lam"])
    ev["ib.nuisance-suppression"] = _ev("ib.nuisance-suppression", n, mi_validation)
    a = _long(task=["lm", "vision"], normalizer=["layer", "rms", "ib_layer"], seed=[0, 1, 2])
    a["accuracy"] = [0.7 + 0.02 * (nm == "ib_layer") + 0.01 * rng.standard_normal() for nm in a["normalizer"]]
    la = _long(lam=[0.5, 1.0, 2.0], seed=[0, 1, 2])
    a.update({"lam": la["lam"], "lam_accuracy": [0.7 + 0.01 * x for x in la["lam"]]})
    ev["ib.empirical-performance"] = _ev("ib.empirical-performance", a)
    j = _long(normalizer=["layer", "batch", "rms"], sample=list(range(5)))
    j["predicted"] = [float(x) for x in rng.uniform(0.1, 3.0, len(j["sample"]))]
    j["measured"] = list(j["predicted"])
    ev["cap.norm-jacobian"] = _ev("cap.norm-jacobian", j)
    return ev


@pytest.fixture
def synthetic():
    return synthetic_evidence()
