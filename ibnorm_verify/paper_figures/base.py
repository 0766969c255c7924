"""What every figure module shares: reading Evidence, failing loudly on missing data, plotting helpers.

A figure never computes a result: it reads the ``series`` / ``validation`` / ``checks`` of the
:class:`~ibnorm_verify.verification.evidence.Evidence` a claim produced (handed to it by the application,
from a run or a ``results.json``). When the data it needs is not there, :class:`FigureDataError` says
which claim and which series, rather than drawing an empty figure. The ``arrays`` helpers
(:func:`get_arrays`, :func:`columns`, :func:`grid`, :func:`slash_arrays`) serve figures of claims not
yet converted to :class:`~ibnorm_verify.verification.evidence.Series` and go once every claim is.
"""
from __future__ import annotations

import math
import sys
from types import ModuleType
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..verification.stats import mean_ci
from . import style

__all__ = ["FigureDataError", "evidence_index", "get_evidence", "require_series", "get_arrays", "as_array",
           "figure_main"]


class FigureDataError(LookupError):
    """The Evidence a figure needs is missing (claim not run, no arrays, a key absent or empty)."""


def evidence_index(evidence: Iterable) -> dict:
    """``[Evidence, ...]`` -> ``{claim_id: Evidence}`` (a dict passes through)."""
    if isinstance(evidence, Mapping):
        return dict(evidence)
    return {ev.claim_id: ev for ev in evidence}


def get_evidence(evidence_by_id: Mapping, claim_id: str, figure: str):
    ev = evidence_by_id.get(claim_id)
    if ev is None:
        raise FigureDataError(f"{figure}: no Evidence for claim {claim_id!r} "
                              f"(have: {', '.join(sorted(evidence_by_id)) or 'none'})")
    if not ev.ok:
        raise FigureDataError(f"{figure}: claim {claim_id!r} crashed: {ev.error}")
    return ev


def as_array(value, name: str = "array") -> np.ndarray:
    """A JSON list (with "nan"/"inf" strings from :func:`~ibnorm_verify.verification.evidence.to_jsonable`) -> float array."""
    def conv(v):
        if isinstance(v, str):
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(v, v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v
    try:
        return np.asarray(conv(value), dtype=float)
    except (TypeError, ValueError) as e:
        raise FigureDataError(f"{name} is not numeric: {e}") from None


def get_arrays(ev, keys: Sequence[str], figure: str, optional: Sequence[str] = ()) -> dict:
    """``{key: ev.arrays[key]}`` for the required ``keys`` (+ the ``optional`` ones present).

    Raises :class:`FigureDataError` naming the missing keys and the available ones when a required
    key is absent, ``None`` or empty.
    """
    arrays = ev.arrays or {}
    missing = [k for k in keys if k not in arrays or arrays[k] is None
               or (hasattr(arrays[k], "__len__") and len(arrays[k]) == 0)]
    if missing:
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r} has no usable arrays {missing} "
                              f"(available: {sorted(arrays) or 'none'})")
    out = {k: arrays[k] for k in keys}
    out.update({k: arrays[k] for k in optional if k in arrays and arrays[k] is not None})
    return out


def figure_main(module: ModuleType, argv: Sequence[str] | None = None) -> int:
    """Transitional: figure modules no longer run claims or read results themselves. Draw a finished
    run's figures with the application (``ibnorm-verify figures --results DIR --only NAME``)."""
    name = module.__name__.rpartition(".fig_")[2]
    print(f"{module.__name__} is a pure figure function; draw it with\n"
          f"    ibnorm-verify figures --results DIR --only {name} --out DIR", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------------- typed series
def require_series(ev, name: str, figure: str, dims: Sequence[str] | None = None):
    """``ev.series[name]`` (a :class:`~ibnorm_verify.verification.evidence.Series`), checked to have
    exactly ``dims`` (in order) when given. Raises :class:`FigureDataError` naming what is missing or
    different, never a wrong plot."""
    series = getattr(ev, "series", None) or {}
    if name not in series:
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r} has no series {name!r} "
                              f"(available: {sorted(series) or 'none'})")
    s = series[name]
    if dims is not None and tuple(s.dims) != tuple(dims):
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r}: series {name!r} has dims {s.dims}, "
                              f"expected {tuple(dims)}")
    if s.values.size == 0 or not np.isfinite(s.values).any():
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r}: series {name!r} has no finite values")
    return s


# ---------------------------------------------------------------------------- long-format helpers
def columns(ev, keys: Sequence[str], figure: str, optional: Sequence[str] = ()) -> dict:
    """Equal-length 1-D columns (long format: one entry per configuration x seed) from ``ev.arrays``.

    Numeric columns become float arrays, others (e.g. normalizer names) object arrays. Raises
    :class:`FigureDataError` when a key is missing or the lengths differ."""
    raw = get_arrays(ev, keys, figure, optional)
    out = {}
    for k, v in raw.items():
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, str) and x not in ("nan", "inf", "-inf")
                                                    for x in v):
            out[k] = np.asarray(v, dtype=object)
        else:
            out[k] = as_array(v, f"{figure}: {ev.claim_id}.arrays[{k!r}]")
    lengths = {k: len(v) for k, v in out.items() if np.ndim(v) == 1}
    if len(set(lengths.values())) > 1:
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r}: columns of different lengths {lengths}")
    return out


def mean_ci_by(x, y, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group ``y`` by the distinct values of ``x`` (e.g. over seeds): ``(xs, mean, lo, hi)`` with a
    Student-t interval (:func:`ibnorm_verify.verification.verdict.mean_ci`). Non-finite ``y`` are dropped."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xs = np.unique(x[np.isfinite(x)])
    m, lo, hi = [], [], []
    for v in xs:
        sel = y[(x == v) & np.isfinite(y)]
        mu, (a, b) = mean_ci(sel.tolist(), level)
        m.append(mu), lo.append(a), hi.append(b)
    return xs, np.asarray(m), np.asarray(lo), np.asarray(hi)


def plot_mean_ci(ax, x, y, *, label: str, i: int | str = 0, style_index: int = 0, fill: bool = True, **kw):
    """Mean over repeats at each x with a 95% CI band (or error bars when ``fill=False``)."""
    xs, m, lo, hi = mean_ci_by(x, y)
    if xs.size == 0:
        raise FigureDataError(f"no finite values for {label!r}")
    c = style.color(i)
    kw = {"marker": style.marker(style_index), "linestyle": style.linestyle(style_index), **kw}
    ax.plot(xs, m, color=c, label=label, **kw)
    if fill:
        ax.fill_between(xs, lo, hi, color=c, alpha=0.18, linewidth=0)
    else:
        ax.errorbar(xs, m, yerr=[m - lo, hi - m], fmt="none", ecolor=c, capsize=2, linewidth=1)
    return xs, m


def groups(col) -> list:
    """The distinct values of a column, in first-seen order (numbers sorted)."""
    vals = list(dict.fromkeys(np.asarray(col).tolist()))
    try:
        return sorted(vals)
    except TypeError:
        return vals


# ---------------------------------------------------------------------------- nested ("wide") arrays
def grid(ev, key: str, figure: str, shape: tuple | None = None) -> np.ndarray:
    """``ev.arrays[key]`` as a float array, checked against ``shape`` (``None`` entries match any size).

    The claims store sweeps as nested lists, e.g. ``log_lip_lower[gain][seed][depth]``; a shape
    mismatch (a claim changed its layout) raises :class:`FigureDataError` instead of a wrong plot."""
    a = as_array(get_arrays(ev, [key], figure)[key], f"{figure}: {ev.claim_id}.arrays[{key!r}]")
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
            raise FigureDataError(f"{figure}: claim {ev.claim_id!r}: arrays[{key!r}] has shape {a.shape}, "
                                  f"expected {tuple('*' if s is None else s for s in shape)}")
    return a


def seed_stats(mat, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of a (seeds, points) matrix: mean and Student-t CI over the seeds (finite values only)."""
    mat = np.atleast_2d(np.asarray(mat, dtype=float))
    out = [mean_ci(col[np.isfinite(col)].tolist(), level) for col in mat.T]
    return (np.asarray([m for m, _ in out]), np.asarray([ci[0] for _, ci in out]),
            np.asarray([ci[1] for _, ci in out]))


def plot_seeds(ax, x, mat, *, label: str, i: int | str = 0, style_index: int = 0, band=None, **kw):
    """Mean over seeds (rows of ``mat``) against ``x`` with a shaded 95% CI; ``band=(lo_mat, hi_mat)``
    shades instead the range over seeds from the smallest lower bound to the largest upper bound (for
    quantities known as a bracket [lower, upper])."""
    m, lo, hi = seed_stats(mat)
    if not np.isfinite(m).any():
        raise FigureDataError(f"no finite values for {label!r}")
    if band is not None:
        lo = np.nanmin(np.atleast_2d(np.asarray(band[0], dtype=float)), axis=0)
        hi = np.nanmax(np.atleast_2d(np.asarray(band[1], dtype=float)), axis=0)
    c = style.color(i)
    kw = {"marker": style.marker(style_index), "linestyle": style.linestyle(style_index), **kw}
    ax.plot(x, m, color=c, label=label, **kw)
    ax.fill_between(x, lo, hi, color=c, alpha=0.18, linewidth=0)
    return m


# ---------------------------------------------------------------------------- "grouping/variant/quantity" arrays
def slash_arrays(ev, figure: str, quantity_prefix: str = "") -> dict:
    """The ``ib.*`` claims' layout: ``arrays["<grouping>/<compression>@<lambda>/<quantity>"] = [value per
    seed]`` (``identity@1`` is the variance-centric baseline). Returns ``{(grouping, compression, lam,
    quantity): float array over seeds}`` for the quantities starting with ``quantity_prefix``."""
    out = {}
    for key, vals in (ev.arrays or {}).items():
        parts = key.split("/", 2)
        if len(parts) != 3 or "@" not in parts[1] or not parts[2].startswith(quantity_prefix):
            continue
        comp, _, lam = parts[1].partition("@")
        try:
            lam_f = float(lam)
            arr = as_array(vals, f"{figure}: {ev.claim_id}.arrays[{key!r}]")
        except (ValueError, FigureDataError):
            continue
        if arr.ndim == 1:
            out[(parts[0], comp, lam_f, parts[2])] = arr
    if not out:
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r} has no 'grouping/compression@lambda/"
                              f"{quantity_prefix}...' arrays (available: {sorted(ev.arrays or {})[:8] or 'none'})")
    return out


GROUPING_NAMES = {"ln": "LayerNorm", "rms": "RMSNorm", "bn": "BatchNorm", "gn": "GroupNorm"}


def variant_label(grouping: str, comp: str, lam: float) -> str:
    """``("ln", "tanh", 2.0)`` -> ``"IB-LayerNorm tanh, lambda=2"``; the identity is the plain normalizer."""
    name = GROUPING_NAMES.get(grouping, grouping)
    return name if comp == "identity" else f"IB-{name} {comp}, λ={lam:g}"
