"""Statistics shared by the claims: confidence intervals over seeds and least-squares fits.

A claim turns its replicates (the unit of replication is the seed unless a claim says otherwise) into
an estimate and an interval here, then into a :class:`~ibnorm_verify.verification.evidence.Check` with
a constructor of :mod:`~ibnorm_verify.verification.verdict`.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "linear_fit_ci", "t_quantile"]


def t_quantile(level: float, dof: int | None) -> float:
    """Two-sided Student-t (``dof``) or normal (``dof=None``) quantile for a ``level`` interval."""
    q = 0.5 + level / 2
    return float(stats.norm.ppf(q)) if dof is None else float(stats.t.ppf(q, dof))


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean and Student-t confidence interval over seeds. One value gives a degenerate interval."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, (math.nan, math.nan)
    m = float(v.mean())
    if v.size < 2:
        return m, (m, m)
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    h = t_quantile(level, v.size - 1) * se
    return m, (m - h, m + h)


def linear_fit_ci(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> dict:
    """Least-squares slope of ``y`` on ``x`` with its Student-t confidence interval.

    Returns ``{"slope", "intercept", "ci": (lo, hi), "se", "r2", "n"}``. Used for log-Lipschitz vs
    depth fits (pool every seed's points; the CI then reflects seed-to-seed scatter).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 3:
        raise ValueError("linear_fit_ci needs at least 3 paired points")
    res = stats.linregress(x, y)
    dof = x.size - 2
    h = t_quantile(level, dof) * float(res.stderr)
    return {"slope": float(res.slope), "intercept": float(res.intercept), "ci": (res.slope - h, res.slope + h),
            "se": float(res.stderr), "r2": float(res.rvalue ** 2), "n": int(x.size)}
