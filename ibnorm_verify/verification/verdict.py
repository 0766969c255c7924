"""The one place where verdicts are decided: from statistics, never by hand.

A claim turns its measurements into :class:`Check` objects with one of the constructors below, and
:func:`decide` combines them. The three outcomes:

* ``supported``: every check's interval lies inside the region the prediction allows;
* ``refuted``: at least one check's interval lies entirely outside it;
* ``inconclusive``: anything else (an interval straddles the boundary, the measurement is not
  finite, an estimator did not pass its validation, or nothing was measured), with the reason.

The tests are the standard ones: an *equivalence* test in the TOST sense (:func:`check_value`: is
the whole confidence interval within ``predicted +- tolerance``?) and a *one-sided* test
(:func:`check_direction`: is the whole interval above / below a threshold?).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

__all__ = [
    "Verdict", "Check", "check_value", "check_direction", "check_not_measured", "check_precondition",
    "decide", "mean_ci", "linear_fit_ci",
]


class Verdict(str, Enum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:  # "supported", not "Verdict.SUPPORTED"
        return self.value


@dataclass
class Check:
    """One statistical comparison of a measurement with a prediction (JSON-serializable)."""

    name: str
    kind: str                       # "value" | "direction" | "precondition" | "not-measured"
    estimate: float | None
    ci: tuple[float, float] | None  # confidence interval of the estimate
    predicted: str                  # the prediction in words/numbers, e.g. "log(2)=0.693 +- 0.05"
    verdict: Verdict
    reason: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        d["ci"] = None if self.ci is None else [float(self.ci[0]), float(self.ci[1])]
        return d


def _finite(*xs: float | None) -> bool:
    return all(x is not None and math.isfinite(float(x)) for x in xs)


def check_value(name: str, estimate: float, ci: tuple[float, float], predicted: float, *,
                rel_tol: float = 0.0, abs_tol: float = 0.0, details: dict | None = None) -> Check:
    """Equivalence test: is ``estimate`` (with interval ``ci``) equal to ``predicted`` within tolerance?

    ``tol = abs_tol + rel_tol*|predicted|``. Supported when ``ci`` is inside ``[predicted-tol,
    predicted+tol]``; refuted when the two intervals do not intersect; inconclusive otherwise.
    """
    tol = abs_tol + rel_tol * abs(predicted)
    pred_s = f"{predicted:.6g} +- {tol:.3g}"
    if not _finite(estimate, predicted, *(ci or (None, None))):
        return Check(name, "value", _f(estimate), _fci(ci), pred_s, Verdict.INCONCLUSIVE,
                     "measurement or prediction is not finite", details or {})
    lo, hi = float(min(ci)), float(max(ci))
    a, b = predicted - tol, predicted + tol
    if a <= lo and hi <= b:
        v, why = Verdict.SUPPORTED, f"CI [{lo:.4g}, {hi:.4g}] lies within [{a:.4g}, {b:.4g}]"
    elif hi < a or lo > b:
        v, why = Verdict.REFUTED, f"CI [{lo:.4g}, {hi:.4g}] lies outside [{a:.4g}, {b:.4g}]"
    else:
        v, why = Verdict.INCONCLUSIVE, f"CI [{lo:.4g}, {hi:.4g}] straddles the tolerance band [{a:.4g}, {b:.4g}]"
    return Check(name, "value", float(estimate), (lo, hi), pred_s, v, why, details or {})


def check_direction(name: str, estimate: float, ci: tuple[float, float], *, greater_than: float | None = None,
                    less_than: float | None = None, details: dict | None = None) -> Check:
    """One-sided test: is the whole interval above ``greater_than`` (or below ``less_than``)?

    Supported when it is; refuted when the whole interval is on the other side; inconclusive when
    the interval contains the threshold.
    """
    if (greater_than is None) == (less_than is None):
        raise ValueError("give exactly one of greater_than / less_than")
    thr = greater_than if greater_than is not None else less_than
    rel = ">" if greater_than is not None else "<"
    pred_s = f"{rel} {thr:.6g}"
    if not _finite(estimate, thr, *(ci or (None, None))):
        return Check(name, "direction", _f(estimate), _fci(ci), pred_s, Verdict.INCONCLUSIVE,
                     "measurement is not finite", details or {})
    lo, hi = float(min(ci)), float(max(ci))
    ok, bad = (lo > thr, hi < thr) if rel == ">" else (hi < thr, lo > thr)
    if ok:
        v, why = Verdict.SUPPORTED, f"CI [{lo:.4g}, {hi:.4g}] is entirely {rel} {thr:.4g}"
    elif bad:
        v, why = Verdict.REFUTED, f"CI [{lo:.4g}, {hi:.4g}] is entirely on the wrong side of {thr:.4g}"
    else:
        v, why = Verdict.INCONCLUSIVE, f"CI [{lo:.4g}, {hi:.4g}] contains {thr:.4g}"
    return Check(name, "direction", float(estimate), (lo, hi), pred_s, v, why, details or {})


def check_precondition(name: str, ok: bool, reason: str, details: dict | None = None) -> Check:
    """A condition the measurement needs (e.g. "the estimator passed its ground-truth validation").

    A failed precondition makes the claim inconclusive (the measurement cannot be trusted), never refuted.
    """
    v = Verdict.SUPPORTED if ok else Verdict.INCONCLUSIVE
    return Check(name, "precondition", None, None, "holds", v, reason, details or {})


def check_not_measured(name: str = "experiment", reason: str = "not yet measured") -> Check:
    return Check(name, "not-measured", None, None, "-", Verdict.INCONCLUSIVE, reason)


def decide(checks: Sequence[Check]) -> tuple[Verdict, str]:
    """Combine checks: any refuted -> refuted; all supported -> supported; else inconclusive."""
    checks = list(checks)
    if not checks:
        return Verdict.INCONCLUSIVE, "not yet measured"
    refuted = [c for c in checks if c.verdict is Verdict.REFUTED]
    open_ = [c for c in checks if c.verdict is Verdict.INCONCLUSIVE]
    if refuted:
        return Verdict.REFUTED, "; ".join(f"{c.name}: {c.reason}" for c in refuted)
    if open_:
        return Verdict.INCONCLUSIVE, "; ".join(f"{c.name}: {c.reason}" for c in open_)
    return Verdict.SUPPORTED, f"all {len(checks)} checks passed"


# ------------------------------------------------------------------------------------- statistics

def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean and Student-t confidence interval over seeds. One value gives a degenerate interval."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, (math.nan, math.nan)
    m = float(v.mean())
    if v.size < 2:
        return m, (m, m)
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    h = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * se
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
    h = float(stats.t.ppf(0.5 + level / 2, dof)) * float(res.stderr)
    return {"slope": float(res.slope), "intercept": float(res.intercept), "ci": (res.slope - h, res.slope + h),
            "se": float(res.stderr), "r2": float(res.rvalue ** 2), "n": int(x.size)}


def _f(x):
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def _fci(ci):
    return None if ci is None else (_f(ci[0]), _f(ci[1]))
