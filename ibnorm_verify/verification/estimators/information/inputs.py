"""Input checks and input-type detection for the MI estimators.

* :func:`as_2d` / :func:`as_labels`: array-likes or tensors -> float64 (n, d) / int64 codes (n,), with
  clear errors for bad shapes, non-finite values, empty input and non-numeric data.
* :func:`is_discrete`: integer or boolean dtype, or few distinct rows (at most
  ``max(DISCRETE_MAX_LEVELS, ...)``): such data has ties that kNN and density estimators cannot
  handle, and its MI is a sum over atoms (plug-in) rather than an integral.
* :func:`duplicate_fraction`: the share of rows that repeat an earlier row: continuous data has none;
  repeated (x, y) points give zero neighbour distances, for which kNN estimates are unbounded.
* :class:`UnboundedMIError`: raised where the data say I(X;Y) = +inf (exact functional dependence of
  continuous variables; Goldfeld et al. 2019): no estimate exists without a noise model.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

Array = np.ndarray
#: at most this many distinct rows (and at most 5% of n) makes float data "discrete"
DISCRETE_MAX_LEVELS = 32


class UnboundedMIError(ValueError):
    """I(X;Y) is infinite (or beyond what n samples can resolve) for these data without a noise model."""


def _to_numpy(a: Any) -> Any:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"expected an array of numbers, got {type(a).__name__}")
    return a


def as_2d(a: Any, name: str) -> Array:
    """(n,) or (n, d) array-like or tensor -> float64 (n, d); raises on bad shape / non-finite values."""
    a = _to_numpy(a)
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def as_labels(y: Any, name: str = "y") -> Array:
    """Discrete values (n,) or (n, d) -> int64 codes (n,) of the distinct rows (0..K-1)."""
    arr = np.asarray(_to_numpy(y))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"discrete {name} must be a non-empty (n,) or (n, d) array of labels, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains non-finite values")
        if not np.all(arr == np.round(arr)):
            raise TypeError(f"discrete methods need integer labels {name}; use a continuous method for real-valued "
                            f"{name}")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"labels must be integers, got dtype {arr.dtype}")
    return np.unique(arr, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def n_distinct_rows(a: Array) -> int:
    return int(np.unique(a, axis=0).shape[0])


def is_discrete(a: Any) -> bool:
    """Integer/boolean dtype, or at most max(2, min(DISCRETE_MAX_LEVELS, n/20)) distinct rows."""
    arr = np.asarray(_to_numpy(a))
    if arr.dtype.kind in "iub":
        return True
    arr = arr.reshape(arr.shape[0], -1) if arr.ndim else arr.reshape(1, 1)
    n = arr.shape[0]
    return n_distinct_rows(arr) <= max(2, min(DISCRETE_MAX_LEVELS, n // 20))


def duplicate_fraction(a: Array) -> float:
    """Fraction of rows equal to another row (0 for continuous data)."""
    return 1.0 - n_distinct_rows(a) / a.shape[0]


def max_tie_fraction(a: Array) -> float:
    """Largest share, over columns, of entries equal to a neighbour in sorted order (repeated values)."""
    s = np.sort(a, axis=0)
    return float((np.diff(s, axis=0) == 0).sum(0).max() / a.shape[0]) if a.shape[0] > 1 else 0.0


def check_not_constant(arr: Array, name: str) -> None:
    const = np.flatnonzero(np.ptp(arr, axis=0) == 0)
    if const.size:
        raise ValueError(f"{name} has constant column(s) {const.tolist()}: MI of a constant is 0 and "
                         "kNN/covariance estimators are undefined there; drop them first")


def positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def normal_scores(a: Array) -> Array:
    """Rank-based copula transform of every column to standard-normal scores (ties get average ranks)."""
    n = a.shape[0]
    r = stats.rankdata(a, axis=0)
    return special.ndtri((r - 0.5) / n)


def standardize(a: Array) -> Array:
    return (a - a.mean(0)) / a.std(0)
