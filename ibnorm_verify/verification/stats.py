"""Statistics shared by the claims: confidence intervals over seeds and least-squares fits.

A claim turns its replicates (the unit of replication is the seed unless a claim says otherwise) into
an estimate and an interval here, then into a :class:`~ibnorm_verify.verification.evidence.Check` with
a constructor of :mod:`~ibnorm_verify.verification.verdict`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "linear_fit_ci", "t_quantile", "MeanCI", "mean_se_ci"]


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


@dataclass(frozen=True)
class MeanCI:
    """A mean over replicates with its Student-t interval, standard error and degrees of freedom.

    ``check_kwargs()`` gives the keywords the check constructors of
    :mod:`~ibnorm_verify.verification.verdict` take (``se``, ``dof``, ``replicates``), so a check's
    p-values and minimum detectable effect come from the same standard error as its interval.
    """

    estimate: float
    ci: tuple[float, float]
    se: float
    dof: int
    n: int

    def check_kwargs(self) -> dict:
        return {"se": self.se, "dof": self.dof, "replicates": self.n}


def mean_se_ci(values: Iterable[float], level: float = 0.95) -> MeanCI:
    """Mean, Student-t interval and standard error over replicates (the unit: one value per replicate).

    Unlike :func:`mean_ci`, fewer than two values give a NaN interval and standard error (a check built
    from them is inconclusive), never a degenerate interval that would decide.
    """
    v = np.asarray(list(values), dtype=float)
    if v.size < 2:
        m = float(v.mean()) if v.size else math.nan
        return MeanCI(m, (math.nan, math.nan), math.nan, 0, int(v.size))
    m = float(v.mean())
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    h = t_quantile(level, v.size - 1) * se
    return MeanCI(m, (m - h, m + h), se, int(v.size - 1), int(v.size))


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
