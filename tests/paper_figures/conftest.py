"""Synthetic Evidence with the array keys the claims produce, for the figure unit tests.

The numbers are made up (the tests check the figure code, not the claims); the *keys and layout*
must match what the claim modules write into ``Evidence.series`` / ``Evidence.validation``: every claim
gets its Evidence from its own pure ``analyze`` on constructed records.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims import _ib_estimators as ib_estimators
from ibnorm_verify.verification.claims import _ib_validation as ib_validation
from ibnorm_verify.verification.claims import cap_local_generalization_bound as local_bound
from ibnorm_verify.verification.claims import cap_loss_smoothness as smoothness
from ibnorm_verify.verification.claims import cap_norm_jacobian as norm_jacobian
from ibnorm_verify.verification.claims import cap_normalization_exponential_reduction as reduction
from ibnorm_verify.verification.claims import cap_training_statistics as training_statistics
from ibnorm_verify.verification.claims import cap_unnormalized_exponential_input as growth_input
from ibnorm_verify.verification.claims import cap_unnormalized_exponential_params as growth_params
from ibnorm_verify.verification.claims import ib_empirical_performance as performance
from ibnorm_verify.verification.claims import ib_higher_ib_value as ib_value
from ibnorm_verify.verification.claims import ib_nuisance_suppression as nuisance
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.evidence import Evidence, ValidationRow


def synthetic_evidence() -> dict:
    rng = np.random.default_rng(0)
    ev = {}
    # the capacity claims of C1 (growth, reduction, smoothness, norm-Jacobian): their own analyze() on
    # constructed records
    ev.update(_capacity_evidence(rng))
    # cap.training-statistics and cap.local-generalization-bound: Evidence from the claims' own analyze()
    ev["cap.training-statistics"] = _training_statistics_evidence(rng)
    ev["cap.local-generalization-bound"] = _local_bound_evidence(rng)
    # ib.nuisance-suppression and ib.higher-ib-value: Evidence from the claims' own analyze()
    ev["ib.nuisance-suppression"] = _nuisance_evidence(rng)
    ev["ib.higher-ib-value"] = _ib_value_evidence(rng)
    ev["ib.empirical-performance"] = _performance_evidence(rng)
    return ev


_IB_VARIANTS = (("identity", 1.0), ("tanh", 1.0), ("tanh", 2.0), ("log", 1.0), ("log", 2.0))
_IB_VALIDATION = [ValidationRow(est, f"normal-1x1-{rho}", -0.5 * math.log(1 - rho ** 2),
                                -0.5 * math.log(1 - rho ** 2) + 0.01, True, "|error| <= 0.1 nats", family="normal")
                  for rho in (0.3, 0.6, 0.9) for est in (ib_validation.KSG, ib_validation.MIXED_KSG, ib_estimators.MIXTURE)]


def _nuisance_evidence(rng) -> Evidence:
    """ib.nuisance-suppression from its analyze(): two groupings, three variants, two noise levels, 3 seeds."""
    recs = []
    for g in ("layer", "batch"):
        for c, lam in _IB_VARIANTS:
            shrink = 1.0 if c == "identity" else 1.0 / (1 + lam)
            for seed in range(3):
                def rec(q, v, noise=0.0):
                    return {"quantity": q, "grouping": g, "compression": c, "lam": lam, "noise": noise, "seed": seed,
                            "value": v}
                recs += [rec("kurtosis", (200.0 if g == "batch" else 5.0) * shrink + rng.standard_normal()),
                         rec("entropy_step", -lam * (c != "identity") + 0.1 * rng.standard_normal())]
                for s_ in (0.1, 0.5):
                    recs += [rec("entropy", 2.0 * shrink + 0.05 * rng.standard_normal(), s_),
                             rec("nuisance_info", 0.3 * shrink + 0.01 * rng.standard_normal(), s_),
                             rec("label_info", 0.5 + 0.01 * rng.standard_normal(), s_)]
    params = nuisance.CLAIM.resolve_params("tiny", dict(groupings=["layer", "batch"], compressions=["tanh", "log"],
                                                        lams=[1.0, 2.0], noise_std=[0.1, 0.5]))
    return _from_analysis(nuisance.CLAIM, nuisance.analyze_nuisance(recs + _IB_VALIDATION, params), params)


def _ib_value_evidence(rng) -> Evidence:
    """ib.higher-ib-value from its analyze(): I_X, I_Y per estimator, grouping, variant, noise and seed."""
    recs = []
    for est in ("mixture", "knn"):
        for g in ("layer", "batch"):
            for c, lam in _IB_VARIANTS:
                for s_ in (0.3, 1.0):
                    for seed in range(3):
                        shift = 0.0 if c == "identity" else 0.1 * lam
                        for q, v in (("I_X", 2.0 / s_ + shift), ("I_Y", 0.3 + 0.01 * lam * (c != "identity"))):
                            recs.append({"quantity": q, "estimator": est, "grouping": g, "compression": c, "lam": lam,
                                         "noise": s_, "seed": seed, "value": v + 0.005 * rng.standard_normal()})
    params = ib_value.CLAIM.resolve_params("tiny", dict(groupings=["layer", "batch"], compressions=["tanh", "log"],
                                                        lams=[1.0, 2.0], betas=[0.01, 0.1], noise_std=[0.3, 1.0]))
    return _from_analysis(ib_value.CLAIM, ib_value.analyze_ib_value(recs + _IB_VALIDATION, params), params)


def _from_analysis(claim, analysis, params: dict | None = None) -> Evidence:
    ctx = Context(params=params or {}, seeds=[0, 1], scale="tiny")
    return claim.evidence_of(ctx, analysis)


_CAP_CELLS = [dict(activation="identity", init="orthogonal", architecture="mlp", gain=2.0, state="init"),
              dict(activation="relu", init="gaussian", architecture="mlp", gain=2.0, state="init"),
              dict(activation="tanh", init="gaussian", architecture="mlp", gain=2.0, state="init"),
              dict(activation="relu", init="gaussian", architecture="resnet", gain=2.0, state="init")]


def _capacity_evidence(rng) -> dict:
    """C1's claims: Evidence from each claim's own analyze() on constructed records (made-up numbers)."""
    out = {}
    depth = []
    for cell in _CAP_CELLS:
        rate = math.log(cell["gain"]) * (1.0 if cell["activation"] == "identity" else 0.7)
        for s in range(3):
            e = 0.02 * rng.standard_normal()
            for d in (2, 4, 6):
                lo = math.exp(rate * d + e)
                hi = math.inf if cell["architecture"] == "resnet" else lo * math.exp(0.05 * d * (cell["init"] != "orthogonal"))
                depth.append({**cell, "depth": d, "seed": s, "lower": lo, "upper": hi, "x_norm": 4.0,
                              "upper_reason": "no certified bound" if math.isinf(hi) else ""})
    for mod in (growth_input, growth_params):
        out[mod.CLAIM.id] = _from_analysis(mod.CLAIM, mod.CLAIM.analyze(depth, {}))
    red, sm = [], []
    for cell in _CAP_CELLS[:3]:
        for gain in (2.0, 0.5, 1.0):
            c = {**cell, "grouping": "layer", "gain": gain}
            law = math.log(gain)
            for s in range(3):
                e = 0.02 * rng.standard_normal()
                for k in (1, 2, 3):
                    un, nm = math.exp(2 * k + e), math.exp(2 * k - law * k)
                    red.append({**c, "units": k, "K": k, "seed": s, "in_map": gain != 1.0,
                                "in_phase": cell["activation"] == "relu", "lower_norm": nm,
                                "upper_norm": nm * math.exp(0.1 * k), "lower_unnorm": un, "upper_unnorm": un * 1.01,
                                "product_law": law * k + e, "sigma_vs_gamma": "reduces" if law > 0 else "amplifies",
                                "upper_reason": ""})
                    if gain != 1.0:
                        sm.append({**c, "units": k, "K": k, "seed": s, "grad_norm": 1.0, "hessian_norm": 1.0,
                                   "grad_unnorm": math.exp((law + e) * k), "hessian_unnorm": math.exp(2 * (law + e) * k),
                                   "converged_norm": True, "converged_unnorm": True, "iterations_norm": 9,
                                   "iterations_unnorm": 9})
    out[reduction.CLAIM.id] = _from_analysis(reduction.CLAIM, reduction.analyze_reduction(red, {"rel_tol": 0.1}))
    out[smoothness.CLAIM.id] = _from_analysis(smoothness.CLAIM, smoothness.analyze_smoothness(sm, {"tol": 1e-3}))
    jac = [{"kind": "formula", "grouping": g, "implementation": impl, "eps": eps, "gamma_mode": "scalar", "seed": s,
            "measured": v * (1 + 1e-15), "predicted": v, "rel_error": 1e-15}
           for g in ("layer", "rms", "batch") for impl in ("torch", "composite") for eps in (1e-5, 1.0) for s in range(2)
           for v in [float(rng.uniform(0.1, 3.0))]]
    sig = [1e-4, 1e-2, 1.0]
    jac += [{"kind": "curve", "eps": eps, "seed": s, "cs": [0.1, 1.0, 10.0], "sigmas": sig,
             "ratio": [10.0, 1.0, 0.1] if eps == 0 else [3.0, 1.0, 0.2], "ratio_predicted": [10.0, 1.0, 0.1] if eps == 0
             else [3.0, 1.0, 0.2], "norm": [1 / math.sqrt(x * x + eps) for x in sig],
             "norm_predicted": [1 / math.sqrt(x * x + eps) for x in sig]} for eps in (0.0, 1e-5) for s in range(2)]
    jac.append({"kind": "validation", "rows": []})
    out[norm_jacobian.CLAIM.id] = _from_analysis(norm_jacobian.CLAIM, norm_jacobian.analyze(jac, {}))
    return out


def _training_statistics_evidence(rng) -> Evidence:
    steps = list(range(0, 40, 4))
    recs = []
    for opt in ("sgd", "adamw"):
        for g in ("batch", "layer"):
            for seed in range(6):
                end = [4.0, 0.5 if opt == "adamw" else 2.0, 0.25]
                recs.append({"optimizer": opt, "grouping": g, "weight_decay": 0.0, "seed": seed, "steps": steps,
                             "norm_var": [[1 + 0.05 * st * (j + 1) for st in steps] for j in range(3)],
                             "weight_norm": [[5 + 0.02 * st for st in steps] for _ in range(4)],
                             "train_loss": [2.0 / (1 + st) for st in steps], "var_endpoints": [(1.0, e) for e in end],
                             "weight_endpoints": [(5.0, 5.5 + 0.1 * rng.random()) for _ in range(4)],
                             "gamma_max": [1.0, 1.0, 1.0], "plateau_drop": 0.01, "test_acc": 0.9, "chance": 0.1})
    return _from_analysis(training_statistics.CLAIM, training_statistics.analyze(recs, {}))


def _local_bound_evidence(rng) -> Evidence:
    recs = []
    for seed in range(3):
        for ln in (0.0, 0.3):
            for g, comp, f in (("none", "identity", 1.0), ("layer", "identity", 0.9), ("layer", "tanh", 1.1)):
                gap = 0.05 + ln + 0.01 * rng.standard_normal()
                lo = 8.0 * f * (1 + gap)
                recs.append({"grouping": g, "compression": comp, "label_noise": ln, "seed": seed, "gap": gap,
                             "local_lower": lo, "local_upper": lo * 1.1, "lip_lower": 10.0, "lip_upper": 30.0,
                             "bartlett": 50 * lo, "pac_bayes": 0.5 + gap, "plateau_drop": 0.01})
    return _from_analysis(local_bound.CLAIM, local_bound.analyze(recs, {}))


def _performance_evidence(rng) -> Evidence:
    recs = []
    for task, groupings in (("markov", ("layer", "rms")), ("digits", ("batch", "layer"))):
        for g in groupings:
            for comp, extra in (("identity", (0.0, 0.01)), ("tanh", (0.5, 2.0))):
                for x in extra:
                    for s in range(4):
                        score = 0.7 + (0.02 if comp == "tanh" else 0.0) + 0.01 * rng.standard_normal() \
                            - (0.05 if x == extra[1] else 0.0)
                        recs.append({"task": task, "grouping": g, "compression": comp,
                                     "lam": x if comp == "tanh" else 1.0, "lr": 3e-3,
                                     "weight_decay": x if comp == "identity" else 0.0, "seed": s, "variant": "main",
                                     "val_loss": 1 - score, "score": score, "test_loss": 1 - score, "test_acc": score,
                                     "oracle": float("nan"), "plateau_drop": 0.01})
        for variant in ("order", "affine"):
            for s in range(4):
                base = next(r for r in recs if r["task"] == task and r["grouping"] == "layer"
                            and r["compression"] == "tanh" and r["lam"] == 0.5 and r["seed"] == s)
                recs.append({**base, "variant": variant, "score": base["score"] - 0.01})
    return _from_analysis(performance.CLAIM, performance.analyze(recs, {}))


@pytest.fixture
def synthetic():
    return synthetic_evidence()


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """``<session tmp>/tiny-run``, shared with tests/notebooks: the tiny claims run once per session."""
    d = tmp_path_factory.getbasetemp() / "tiny-run"
    d.mkdir(exist_ok=True)
    return d
