"""Ground-truth validation of the MI estimators.

* :func:`validate`: ``validate(method, tasks, n, seeds) -> list[ValidationRow]`` (the suite's one
  validation type, :class:`ibnorm_verify.verification.evidence.ValidationRow`), one row per task with the
  estimate averaged over seeds, the criterion |error| <= ``tol`` (default: the n-dependent tolerance
  :func:`default_tolerance`).
* :func:`validate_estimator` / :func:`summarize_validation` (from :mod:`.ground_truth`, re-exported): the dict rows the claims use (task, family, true, estimate, error, abs_error, uncertainty,
  n, seeds, method) and their mean / worst summary (which also takes ValidationRows).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...evidence import ValidationRow
from .api import estimator
from .benchmark_tasks import BENCHMARK_TASKS
from .ground_truth import GroundTruthTask, summarize_validation, validate_estimator

__all__ = ["validate", "validate_estimator", "summarize_validation", "default_tolerance"]


def default_tolerance(n: int) -> float:
    """0.05 nats at n = 5000, growing as 1/sqrt(n) below (the sampling spread of the validated estimators
    scales as n^-1/2; 0.05 leaves room for about 3 standard deviations plus the bias at n = 5000)."""
    return 0.05 * math.sqrt(max(1.0, 5000.0 / n))


def validate(method: str = "auto", tasks: Sequence[GroundTruthTask] | None = None, n: int = 5000,
             seeds: Sequence[int] = (0,), tol: float | None = None, **settings) -> list[ValidationRow]:
    """Ground-truth rows for ``method`` (default tasks: the 40 "Beyond Normal" tasks). ``passed`` is
    |mean error over seeds| <= ``tol`` (default :func:`default_tolerance` (n)); ``details`` holds the
    per-seed values, the spread, the route ``auto`` took and the seeds."""
    tasks = BENCHMARK_TASKS if tasks is None else tasks
    tol = default_tolerance(n) if tol is None else float(tol)
    f = estimator(method, uncertainty="none", **settings)
    out = []
    for task in tasks:
        ests = [f(*task.sample(n, seed=int(s))) for s in seeds]
        vals = [e.value for e in ests]
        est = float(np.mean(vals))
        out.append(ValidationRow(
            estimator=f"mi:{method}", case=task.name, truth=float(task.mutual_information), estimate=est,
            passed=bool(abs(est - task.mutual_information) <= tol), criterion=f"|error| <= {tol:.3f} nats",
            lower=None, upper=None, family=task.family, unit="nats", n=int(n),
            details={"values": vals, "spread": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                     "picked": sorted({e.picked for e in ests}), "seeds": [int(s) for s in seeds]}))
    return out
