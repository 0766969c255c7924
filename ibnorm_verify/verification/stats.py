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

__all__ = ["mean_ci", "linear_fit_ci", "t_quantile", "MeanCI", "mean_se_ci", "row_slopes", "BracketSlopes",
           "bracket_slopes"]


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


def row_slopes(x: Sequence[float], y) -> np.ndarray:
    """Least-squares slope of every row of ``y`` (R, P) on ``x`` (P,): one slope per replicate (R,)."""
    x = np.asarray(x, dtype=float)
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if y.shape[1] != x.size or x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"row_slopes needs >= 2 distinct x values matching y's columns, got x {x.shape}, y {y.shape}")
    c = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    return y @ c


@dataclass(frozen=True)
class BracketSlopes:
    """Slopes (on a common ``x``) of a quantity known at each point only as a bracket [lower, upper], one
    row per replicate (the unit of replication, e.g. the seed).

    Per replicate r: ``lower[r]`` / ``upper[r]`` are the least-squares slopes through the lower / upper
    ends, and the slope of the true values lies in ``[box_min[r], box_max[r]]`` (the least-squares slope
    is linear in y, so its extremes over the boxes take each y_i at an end: lower where the slope
    coefficient is positive, upper where it is negative, and the reverse). Two intervals over replicates:

    * :meth:`rate_interval`: the mean true slope, ``[CI low of box_min, CI high of box_max]`` (each end a
      Student-t interval over the replicates): a loose certificate widens it and can only make a value
      check inconclusive, never decide it;
    * :meth:`growth_interval`: whether the quantity grows or shrinks along ``x``, ``[CI low of lower, CI
      high of upper]``: the true values are >= the lower ends, so a lower-end slope above 0 shows
      growth at least that fast; they are <= the upper ends, so an upper-end slope below 0 shows
      decay. A lower bound of one side is compared with an upper bound of the other, never two upper
      bounds.

    A side with a non-finite end (no certified upper bound) is ``inf`` / ``-inf`` on that side.
    """

    lower: np.ndarray
    upper: np.ndarray
    box_min: np.ndarray
    box_max: np.ndarray
    level: float = 0.95

    @property
    def n(self) -> int:
        return int(self.lower.size)

    def _end(self, v: np.ndarray, side: int) -> float:
        if not np.all(np.isfinite(v)):
            bad = v[~np.isfinite(v)]
            return float(side) * math.inf if np.all(np.isnan(bad) | (np.sign(bad) == side)) else math.nan
        if v.size < 2:
            return math.nan
        m = mean_se_ci(v, self.level)
        return m.ci[0] if side < 0 else m.ci[1]

    @property
    def estimate(self) -> float:
        """Mean over replicates of the mid-slope (lower + upper) / 2; the mean lower-end slope (the attained
        side) when an upper end is not finite."""
        mid = (self.lower + self.upper) / 2
        return float(np.mean(mid if np.all(np.isfinite(mid)) else self.lower))

    def rate_interval(self) -> tuple[float, float]:
        return self._end(self.box_min, -1), self._end(self.box_max, +1)

    def growth_interval(self) -> tuple[float, float]:
        return self._end(self.lower, -1), self._end(self.upper, +1)

    def summary(self) -> dict:
        return {"slope_lower": self.lower.tolist(), "slope_upper": self.upper.tolist(),
                "box_min": self.box_min.tolist(), "box_max": self.box_max.tolist(),
                "rate_interval": list(self.rate_interval()), "growth_interval": list(self.growth_interval()),
                "replicates": self.n, "interval": f"{self.level:.0%} Student-t over replicates of each end"}


def bracket_slopes(x: Sequence[float], lower, upper, level: float = 0.95) -> BracketSlopes:
    """:class:`BracketSlopes` of ``lower`` / ``upper`` (R, P) on ``x`` (P,); ``lower <= upper`` required."""
    x = np.asarray(x, dtype=float)
    lo = np.atleast_2d(np.asarray(lower, dtype=float))
    hi = np.atleast_2d(np.asarray(upper, dtype=float))
    if lo.shape != hi.shape:
        raise ValueError(f"lower and upper have different shapes {lo.shape} and {hi.shape}")
    if np.any(lo > hi):
        raise ValueError("a lower end exceeds its upper end")
    c = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    with np.errstate(invalid="ignore"):
        s_lo, s_hi = row_slopes(x, lo), row_slopes(x, hi)
        pos, neg = np.where(c > 0, c, 0.0), np.where(c < 0, c, 0.0)
        box_min = _dot_ends(lo, pos) + _dot_ends(hi, neg)
        box_max = _dot_ends(hi, pos) + _dot_ends(lo, neg)
    return BracketSlopes(s_lo, s_hi, box_min, box_max, level)


def _dot_ends(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y @ w`` where a zero weight ignores its column (so an infinite end with weight 0 adds nothing)."""
    keep = w != 0
    return y[:, keep] @ w[keep]
