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

__all__ = ["mean_ci", "linear_fit_ci", "t_quantile", "MeanCI", "mean_se_ci", "PairedTest", "paired_test",
           "rank_correlation", "MedianCI", "median_ci", "row_slopes", "BracketSlopes", "bracket_slopes"]


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
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.size < 3:
        raise ValueError("linear_fit_ci needs at least 3 paired points")
    res = stats.linregress(xa, ya)
    dof = xa.size - 2
    h = t_quantile(level, dof) * float(res.stderr)
    return {"slope": float(res.slope), "intercept": float(res.intercept), "ci": (res.slope - h, res.slope + h),
            "se": float(res.stderr), "r2": float(res.rvalue ** 2), "n": int(xa.size)}


# ------------------------------------------------------------------------------ paired comparisons

@dataclass(frozen=True)
class PairedTest:
    """Paired comparison of per-replicate values a - b (same seeds): the mean difference with its
    Student-t interval (paired t), standard error, degrees of freedom, the two-sided paired-t p-value
    and the exact two-sided sign-test p-value. ``check_kwargs()`` as :class:`MeanCI`."""

    estimate: float
    ci: tuple[float, float]
    se: float
    dof: int
    n: int
    t_p: float
    sign_p: float
    n_pos: int
    n_neg: int
    diffs: tuple[float, ...]

    def check_kwargs(self) -> dict:
        return {"se": self.se, "dof": self.dof, "replicates": self.n}

    def details(self) -> dict:
        return {"t_p": self.t_p, "sign_p": self.sign_p, "n_pos": self.n_pos, "n_neg": self.n_neg,
                "diffs": list(self.diffs)}


def paired_test(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> PairedTest:
    """Paired comparison of ``a`` vs ``b`` (equal length, one value per replicate); see :class:`PairedTest`.

    Fewer than two pairs give a NaN interval (a check built from it is inconclusive)."""
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_.shape != b_.shape or a_.ndim != 1 or a_.size == 0:
        raise ValueError(f"paired_test needs equal, non-empty 1-D arrays, got {a_.shape} and {b_.shape}")
    d = a_ - b_
    m = mean_se_ci(d, level)
    t_p = float(stats.ttest_rel(a_, b_).pvalue) if d.size > 1 and np.std(d) > 0 else math.nan
    npos, nneg = int((d > 0).sum()), int((d < 0).sum())
    sign_p = float(stats.binomtest(npos, npos + nneg, 0.5).pvalue) if npos + nneg else 1.0
    return PairedTest(m.estimate, m.ci, m.se, m.dof, m.n, t_p, sign_p, npos, nneg, tuple(float(x) for x in d))


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of (B, n) arrays (nan where a row is constant)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def rank_correlation(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, n_perm: int = 2000,
                     seed: int = 0) -> dict:
    """Spearman rho and Kendall tau of ``x`` vs ``y`` with a percentile bootstrap CI of rho (resampling
    the points; rho = Pearson correlation of average ranks, vectorized) and a one-sided permutation
    p-value for rho > 0 (``(1 + #{rho_perm >= rho}) / (1 + n_perm)``). Non-finite pairs are dropped;
    fewer than 4 points give NaN."""
    x_, y_ = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x_) & np.isfinite(y_)
    x_, y_ = x_[ok], y_[ok]
    if x_.size < 4:
        return {"rho": math.nan, "ci": (math.nan, math.nan), "tau": math.nan, "perm_p": math.nan, "n": int(x_.size)}
    rng = np.random.default_rng(seed)
    rho = float(stats.spearmanr(x_, y_).statistic)
    tau = float(stats.kendalltau(x_, y_).statistic)
    idx = rng.integers(0, x_.size, (n_boot, x_.size))
    boots = _pearson_rows(stats.rankdata(x_[idx], axis=1), stats.rankdata(y_[idx], axis=1))
    boots = boots[np.isfinite(boots)]
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size else (math.nan,) * 2
    rx, ry = stats.rankdata(x_), stats.rankdata(y_)
    perm = _pearson_rows(np.broadcast_to(rx, (n_perm, x_.size)), rng.permuted(np.tile(ry, (n_perm, 1)), axis=1))
    perm_p = float((1 + np.sum(perm >= rho - 1e-12)) / (1 + n_perm))
    return {"rho": rho, "ci": ci, "tau": tau, "perm_p": perm_p, "n": int(x_.size)}


# --------------------------------------------------------------------- distribution-free medians

@dataclass(frozen=True)
class MedianCI:
    """The median of replicates with a distribution-free (order-statistic) interval.

    ``ci = (x_(k), x_(n+1-k))`` with the largest k whose coverage ``1 - 2 P(Bin(n, 1/2) < k)`` is at least
    the level; with too few replicates for any such k (n < 6 at 95%) the interval is the support
    ``(lower, upper)`` given by the caller: the data cannot decide. ``p_above(t)`` / ``p_below(t)`` are the
    exact one-sided sign-test p-values of "median > t" / "median < t" (ties dropped).
    """

    estimate: float
    ci: tuple[float, float]
    coverage: float
    n: int
    values: tuple[float, ...]

    def p_above(self, t: float) -> float:
        v = np.asarray(self.values)
        k, m = int((v > t).sum()), int((v != t).sum())
        return float(stats.binomtest(k, m, 0.5, alternative="greater").pvalue) if m else 1.0

    def p_below(self, t: float) -> float:
        v = np.asarray(self.values)
        k, m = int((v < t).sum()), int((v != t).sum())
        return float(stats.binomtest(k, m, 0.5, alternative="greater").pvalue) if m else 1.0


def median_ci(values: Iterable[float], level: float = 0.95, support: tuple[float, float] = (-math.inf, math.inf)
              ) -> MedianCI:
    """Median and its distribution-free order-statistic interval over replicates (see :class:`MedianCI`).

    For a bounded, discrete per-replicate statistic (a share of layers, say) a Student-t interval is
    degenerate when every replicate agrees; this one is exact whatever the distribution."""
    v = np.sort(np.asarray([float(x) for x in values if math.isfinite(float(x))]))
    n = int(v.size)
    if n == 0:
        return MedianCI(math.nan, (math.nan, math.nan), 0.0, 0, ())
    best_k, cov = 0, 0.0
    for k in range(1, n // 2 + 1):
        c = 1.0 - 2.0 * float(stats.binom.cdf(k - 1, n, 0.5))
        if c >= level:
            best_k, cov = k, c
    ci = (float(v[best_k - 1]), float(v[n - best_k])) if best_k else (float(support[0]), float(support[1]))
    return MedianCI(float(np.median(v)), ci, cov if best_k else 1.0, n, tuple(float(x) for x in v))


def row_slopes(x: Sequence[float] | np.ndarray, y) -> np.ndarray:
    """Least-squares slope of every row of ``y`` (R, P) on ``x`` (P,): one slope per replicate (R,)."""
    xa = np.asarray(x, dtype=float)
    ya = np.atleast_2d(np.asarray(y, dtype=float))
    if ya.shape[1] != xa.size or xa.size < 2 or np.ptp(xa) == 0:
        raise ValueError(f"row_slopes needs >= 2 distinct x values matching y's columns, got x {xa.shape}, y {ya.shape}")
    c = (xa - xa.mean()) / ((xa - xa.mean()) ** 2).sum()
    return ya @ c


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
    xa = np.asarray(x, dtype=float)
    lo = np.atleast_2d(np.asarray(lower, dtype=float))
    hi = np.atleast_2d(np.asarray(upper, dtype=float))
    if lo.shape != hi.shape:
        raise ValueError(f"lower and upper have different shapes {lo.shape} and {hi.shape}")
    if np.any(lo > hi):
        raise ValueError("a lower end exceeds its upper end")
    c = (xa - xa.mean()) / ((xa - xa.mean()) ** 2).sum()
    with np.errstate(invalid="ignore"):
        s_lo, s_hi = row_slopes(xa, lo), row_slopes(xa, hi)
        pos, neg = np.where(c > 0, c, 0.0), np.where(c < 0, c, 0.0)
        box_min = _dot_ends(lo, pos) + _dot_ends(hi, neg)
        box_max = _dot_ends(hi, pos) + _dot_ends(lo, neg)
    return BracketSlopes(s_lo, s_hi, box_min, box_max, level)


def _dot_ends(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y @ w`` where a zero weight ignores its column (so an infinite end with weight 0 adds nothing)."""
    keep = w != 0
    return y[:, keep] @ w[keep]
