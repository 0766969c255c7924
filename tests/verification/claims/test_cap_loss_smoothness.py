"""cap.loss-smoothness: per-seed slopes on constructed records, the convergence precondition, a tiny run."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibnorm_verify.verification.claims import cap_loss_smoothness as sm
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.verdict import Verdict, decide

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CELL = dict(activation="relu", init="gaussian", architecture="mlp", grouping="layer", gain=2.0, state="init")


def _records(rate, noise=0.05, converged=True, seeds=(0, 1, 2, 3)):
    rng = np.random.default_rng(2)
    out = []
    for s in seeds:
        r = rate + noise * rng.standard_normal()
        for k in (1, 2, 3):
            out.append({**CELL, "units": k, "K": k, "seed": s, "grad_norm": 1.0, "hessian_norm": 1.0,
                        "grad_unnorm": math.exp(r * k), "hessian_unnorm": math.exp(2 * r * k),
                        "converged_norm": converged, "converged_unnorm": True, "iterations_norm": 10,
                        "iterations_unnorm": 10})
    return out


@pytest.mark.parametrize("rate,want", [(0.8, Verdict.SUPPORTED), (-0.8, Verdict.REFUTED), (0.0, Verdict.INCONCLUSIVE)])
def test_verdict_follows_the_per_seed_slopes(rate, want):
    a = sm.analyze_smoothness(_records(rate), {"tol": 1e-3})
    ev = [c for c in a.checks if c.role == "evidence"]
    assert {c.part for c in ev} == {"gradient", "hessian"}
    assert all(c.replicates == 4 and c.unit == "seed" and c.mde > 0 for c in ev)
    assert decide(a.checks, sm.AXES).verdict is want


def test_unconverged_power_iteration_makes_the_cell_inconclusive():
    a = sm.analyze_smoothness(_records(0.8, converged=False), {"tol": 1e-3})
    d = decide(a.checks, sm.AXES)
    assert d.verdict is Verdict.INCONCLUSIVE and "max_iter" in d.reason


def test_tiny_run():
    c = sm.CLAIM
    ev = c.run(Context(params=c.resolve_params("tiny", {"gains": "2.0", "activations": "identity"}), seeds=[0, 1, 2], scale="tiny",
                       claim_id=c.id))
    assert ev.validation and all(r.passed for r in ev.validation)
    assert ev.primary and ev.check(ev.primary).part == "hessian"
    assert {s.name for s in c.series} == set(ev.series)
    grad = [x for x in ev.checks if x.part == "gradient"]
    assert grad and grad[0].verdict is Verdict.SUPPORTED, grad[0].reason
