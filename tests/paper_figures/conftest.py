"""Synthetic Evidence with the array keys the claims produce, for the figure unit tests.

The numbers are made up (the tests check the figure code, not the claims); the *keys and layout*
must match what the claim modules write into ``Evidence.arrays`` / ``Evidence.validation``. Claims
converted to ``Series`` get their Evidence from their own pure ``analyze`` on constructed records.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims import cap_local_generalization_bound as local_bound
from ibnorm_verify.verification.claims import cap_training_statistics as training_statistics
from ibnorm_verify.verification.claims import ib_empirical_performance as performance
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.evidence import Evidence
from ibnorm_verify.verification.verdict import Verdict


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
    # cap.unnormalized-exponential-*: (gain, seed, depth) nested lists, lower/upper bound brackets
    gains, depths, seeds = [1.5, 2.0], [2, 3, 4], [0, 1]
    lo = [[[L * math.log(g) + 0.01 * rng.standard_normal() for L in depths] for _ in seeds] for g in gains]
    hi = [[[v + 0.05 for v in row] for row in m] for m in lo]
    nlo = [[[0.1 * v for v in row] for row in m] for m in lo]
    depth_arrays = {"gains": gains, "depths": depths, "seeds": seeds, "log_lip_lower": lo, "log_lip_upper": hi,
                    "log_lip_norm_lower": nlo, "log_lip_norm_upper": nlo}
    for cid in ("cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params"):
        ev[cid] = _ev(cid, depth_arrays)
        ev[cid].predicted = {f"slope g={g:g}": math.log(g) for g in gains}
    # cap.normalization-exponential-reduction: (seed, K) brackets + (phase gain, K) grid
    ks, pg = [1, 2, 3], [0.5, 1.0, 2.0]
    pred = [[k * math.log(2.0) for k in ks] for _ in seeds]
    ev["cap.normalization-exponential-reduction"] = _ev("cap.normalization-exponential-reduction", {
        "K": ks, "seeds": seeds, "log_reduction_lower": [[v - 0.1 for v in r] for r in pred],
        "log_reduction_upper": [[v + 0.1 for v in r] for r in pred], "log_reduction_pred": pred,
        "phase_gains": pg, "phase_log_reduction": [[k * math.log(g) for k in ks] for g in pg],
        "phase_log_reduction_pred": [[k * math.log(g) * 1.1 for k in ks] for g in pg]})
    ev["cap.normalization-exponential-reduction"].conditions = {"gain": 2.0, "norm": "ln", "every": 2}
    # cap.loss-smoothness: (seed, K)
    sm = {"K": ks, "seeds": seeds}
    for q, base in (("grad", 3.0), ("hessian", 5.0)):
        sm[f"log_{q}_norm"] = [[base - k + 0.1 * rng.standard_normal() for k in ks] for _ in seeds]
        sm[f"log_{q}_norm_unnorm"] = [[base + k for k in ks] for _ in seeds]
    ev["cap.loss-smoothness"] = _ev("cap.loss-smoothness", sm)
    # cap.training-statistics and cap.local-generalization-bound: Evidence from the claims' own analyze()
    ev["cap.training-statistics"] = _training_statistics_evidence(rng)
    ev["cap.local-generalization-bound"] = _local_bound_evidence(rng)
    # ib.* claims: arrays["<grouping>/<compression>@<lambda>/<quantity>"] = [value per seed]
    mi_validation = [{"task": f"normal-1x1-{rho}", "family": "normal", "true": -0.5 * math.log(1 - rho ** 2),
                      "estimate": -0.5 * math.log(1 - rho ** 2) + 0.01, "error": 0.01, "method": "ksg(k=5, copula)"}
                     for rho in (0.3, 0.6, 0.9)]
    mi_validation += [{"task": "label-2class-sep2(s=0.5)", "true": 0.4, "estimate": 0.38, "method": "noisy_channel"}]
    variants = [("identity", 1.0), ("tanh", 1.0), ("tanh", 2.0), ("root", 1.0), ("root", 2.0)]
    nu, ib = {}, {}
    for g in ("ln", "bn"):
        for c, lam in variants:
            k = f"{g}/{c}@{lam:g}"
            shrink = 1.0 if c == "identity" else 1.0 / (1 + lam)
            nu[f"{k}/kurtosis"] = [20 * shrink + rng.standard_normal() for _ in seeds]
            nu[f"{k}/entropy_change"] = [-lam * (c != "identity") for _ in seeds]
            for s_ in (0.1, 0.5):
                nu[f"{k}/nuisance_info@{s_:g}"] = [0.3 * shrink + 0.01 * rng.standard_normal() for _ in seeds]
                nu[f"{k}/label_info@{s_:g}"] = [0.5 + 0.01 * rng.standard_normal() for _ in seeds]
            for est in ("mixture", "knn"):
                for s_ in (0.3, 1.0):
                    ib[f"{k}/{est}/IX@{s_:g}"] = [2.0 * shrink / s_ + 0.01 * rng.standard_normal() for _ in seeds]
                    ib[f"{k}/{est}/IY@{s_:g}"] = [0.6 - 0.1 * s_ + 0.01 * rng.standard_normal() for _ in seeds]
    ev["ib.nuisance-suppression"] = _ev("ib.nuisance-suppression", nu, mi_validation)
    ev["ib.higher-ib-value"] = _ev("ib.higher-ib-value", ib, mi_validation)
    ev["ib.higher-ib-value"].conditions = {"betas": [0.01, 0.1], "noise_std": [0.3, 1.0]}
    ev["cap.loss-smoothness"].validation = [
        {"estimator": "smoothness", "case": "quadratic", "exact": 2.0, "estimate": 2.0, "passed": True}]
    ev["cap.unnormalized-exponential-input"].validation = [
        {"estimator": "lipschitz", "case": "W=2Q", "exact": 2.0, "lower": 1.99, "upper": 2.5, "passed": True}]
    ev["ib.empirical-performance"] = _performance_evidence(rng)
    # cap.norm-jacobian: long-format formula rows + blow-up curves
    jac = _long(formula_kind=["ln", "bn", "rms"], formula_source=["torch", "ibnorm"], formula_eps=[1e-5], seed=seeds)
    jac["formula_predicted"] = [float(x) for x in rng.uniform(0.1, 3.0, len(jac["seed"]))]
    jac["formula_measured"] = list(jac["formula_predicted"])
    sig = [1e-3, 1e-2, 1e-1, 1.0]
    jac.update({"blowup_sigma": sig, "blowup_norm_eps0": [1 / x for x in sig], "blowup_predicted_eps0": [1 / x for x in sig],
                "blowup_norm_eps": [1 / math.sqrt(x * x + 1e-4) for x in sig],
                "blowup_predicted_eps": [1 / math.sqrt(x * x + 1e-4) for x in sig], "blowup_bound_eps": 100.0,
                "scaling_eps": [0.0, 1e-4]})
    ev["cap.norm-jacobian"] = _ev("cap.norm-jacobian", jac)
    return ev


def _from_analysis(claim, analysis, params: dict | None = None) -> Evidence:
    ctx = Context(params=params or {}, seeds=[0, 1], scale="tiny")
    return claim.evidence_of(ctx, analysis)


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
