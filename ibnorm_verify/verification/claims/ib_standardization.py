"""``ib.standardization`` (arXiv 2510.25262, ``docs/papers/ibnorm.md``): before the affine, IBNorm's output
has zero mean and unit variance per group (up to eps), the compression is bounded as stated, and the
identity limit recovers LN/RMSNorm/BN/GN/IN.

**What is evidence here, and why.** Standardization is the definition of the operation, but the claim is
about the layer as implemented: the per-group moments of the actual output (mean 0; variance, RMS: mean
square, equal to v/(v+eps) with v that of the values the standardization saw) are a measurement of the
implementation; the ablation ``order=standardize_first`` (compress after standardizing) fails them, so
they can fail. Likewise the stated bounds of each registered compression (sup|f| <= bound(lam),
sup|f'| <= max_slope(lam)) are checked against the implemented functions on a grid reaching |u| = 1e307,
and the identity limits compare IBNorm with torch's op: the reference composite with the identity
compression (an independent implementation) must equal it; each lam -> 0 compression must approach it at
its Taylor order (:data:`LIMIT_ORDER`, per-seed log-log slopes, seed = unit); ``root`` at lam = 1 must
equal it. IBNorm with the identity compression dispatches to torch's op itself, so "IBNorm(identity) ==
torch op" would compare a function with itself: not measured.

Regime: grouping (``ibnorm.groupings``: layer, rms, batch, group, instance) x compression; lam and the
seeds are cases inside a cell (decided over every case: an envelope). Tolerance (fp64): :data:`TOL_VALUE`
= 1e-10 absolute (round-off of a mean/variance over n <= 1e3 values is <= 1e-13; the smallest effect the
checks must see, eps/(var+eps) with eps = 1e-5, is 1e-6 or more).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ibnorm.compression import COMPRESSIONS, ROOT_DELTA, get_compression
from ibnorm.functional import ib_standardize
from ibnorm.groupings import standardize
from ibnorm.nn import Order
from ibnorm_verify.theory.jacobians import group_matrix

from ..evidence import Series
from ..runtime import single_threaded, torch_generator
from ..stats import mean_se_ci
from ..verdict import check_direction, check_value
from ._compressions import lam_ok, resolve_compressions, smallest_valid_lam
from .base import Analysis, Claim, Param, SeriesSpec

__all__ = ["CLAIM", "Standardization", "TOL_VALUE", "GROUPINGS", "LIMIT_ORDER", "worker", "analyze",
           "MomentsItem", "LimitItem", "BoundItem"]

TOL_VALUE = 1e-10
DTYPE = torch.float64
GROUPINGS = ("layer", "rms", "batch", "group", "instance")
AXES = ("grouping", "compression")
#: Taylor order of ``||IB(x; lam) - LN(x)||`` as lam -> 0: tanh(lam u)/lam = u - lam^2 u^3/3 + ... (2);
#: sign(u) log(1 + lam|u|)/lam = u - lam u|u|/2 + ... (1); u/(1 + lam|u|) = u - lam u|u| + ... (1).
#: A newly registered lam -> 0 entry without an order here gets the weaker check "error -> 0".
LIMIT_ORDER = {"tanh": 2.0, "log": 1.0, "softsign": 1.0}
_GRID = np.concatenate([np.linspace(-50, 50, 2001), np.logspace(-300, 300, 61), -np.logspace(-300, 300, 61),
                        [0.0, 1e307, -1e307]])


@dataclass(frozen=True)
class MomentsItem:
    compression: str
    grouping: str
    lam: float
    seed: int
    dim: int
    eps: float
    order: Order
    scale: float


@dataclass(frozen=True)
class LimitItem:
    compression: str
    grouping: str
    lams: tuple
    seed: int
    dim: int
    eps: float
    scale: float


@dataclass(frozen=True)
class BoundItem:
    compression: str
    lams: tuple


def _input(grouping: str, dim: int, seed: int, scale: float, *tags) -> tuple[torch.Tensor, dict]:
    """Heavy-tailed input (Student-t, 3 dof, times ``scale``, plus an offset) shaped for ``grouping``."""
    shape = {"layer": (4, dim), "rms": (4, dim), "batch": (dim, 3), "group": (2, 4, dim), "instance": (2, 3, dim)}
    gen = torch_generator(seed, "standardization input", grouping, dim, *tags)
    normal = torch.randn(shape[grouping], dtype=DTYPE, generator=gen)
    chi2 = (torch.randn((3,) + shape[grouping], dtype=DTYPE, generator=gen) ** 2).sum(0)
    x = scale * normal / torch.sqrt(chi2 / 3) + 0.5 * torch.randn((), dtype=DTYPE, generator=gen)
    return x, ({"num_groups": 2} if grouping == "group" else {})


def _worst(values) -> float:
    v = np.asarray(values, dtype=float).ravel()
    return float(v[np.argmax(np.abs(v))])


def _moments(it: MomentsItem) -> dict:
    comp = get_compression(it.compression)
    x, kw = _input(it.grouping, it.dim, it.seed, it.scale, "moments")
    y = standardize(x, it.grouping, compression=comp.name, lam=it.lam, order=it.order, eps=it.eps, **kw)
    yg, xg = group_matrix(it.grouping, y, **kw), group_matrix(it.grouping, x, **kw)      # (G, n)
    center = it.grouping != "rms"
    if it.order == "compress_first":          # the values the standardization saw: f(u), u = x (- mean)
        xt = torch.from_numpy(xg)
        vg = comp.fn(xt - xt.mean(1, keepdim=True) if center else xt, it.lam).numpy()
    else:
        vg = xg
    stat_in = vg.var(1) if center else (vg * vg).mean(1)
    pred = stat_in / (stat_in + it.eps)
    stat_out = yg.var(1) if center else (yg * yg).mean(1)
    return {"kind": "moments", "compression": it.compression, "grouping": it.grouping, "lam": it.lam,
            "seed": it.seed, "mean_worst": _worst(yg.mean(1)) if center else 0.0,
            "second_moment_err": _worst(stat_out - pred), "eps_deflation": float((1 - pred).max())}


def _limit(it: LimitItem) -> dict:
    comp = get_compression(it.compression)
    x, kw = _input(it.grouping, it.dim, it.seed, it.scale, "limit")
    ref = standardize(x, it.grouping, compression="identity", eps=it.eps, **kw)       # torch's op
    out = {"kind": "limit", "compression": it.compression, "grouping": it.grouping, "seed": it.seed,
           "lams": list(it.lams), "error": [float((standardize(x, it.grouping, compression=comp.name, lam=lam,
                                                              eps=it.eps, **kw) - ref).abs().max()) for lam in it.lams]}
    if comp.is_identity:           # the reference composite is an implementation of its own
        g = {"group": 2, "instance": x.shape[1]}.get(it.grouping)
        dims = {"layer": (-1,), "rms": (-1,), "batch": (0,)}.get(it.grouping, (-1,))
        xin = x.reshape(x.shape[0], g, -1) if g else x
        y = ib_standardize(xin, dims, center=it.grouping != "rms", compression="identity", eps=it.eps)
        out["error"] = [float((y.reshape(x.shape) - ref).abs().max())]
    return out


def _bounds(it: BoundItem) -> dict:
    comp = get_compression(it.compression)
    u = torch.tensor(_GRID, dtype=DTYPE)
    rows = []
    for lam in it.lams:
        b, ms = comp.bound(lam), comp.max_slope(lam)
        sup_f, sup_d = float(comp.fn(u, lam).abs().max()), float(comp.deriv(u, lam).abs().max())
        rows.append({"lam": lam, "ratio_f": sup_f / b if math.isfinite(b) else math.nan,
                     "ratio_slope": sup_d / ms if math.isfinite(ms) else math.nan})
    return {"kind": "bounds", "compression": it.compression, "rows": rows}


@single_threaded
def worker(item) -> dict:
    """Module-level worker: dispatches on the item type."""
    if isinstance(item, MomentsItem):
        return _moments(item)
    if isinstance(item, LimitItem):
        return _limit(item)
    if isinstance(item, BoundItem):
        return _bounds(item)
    raise TypeError(f"unknown item {item!r}")


def _envelope(name: str, values, tol: float, cell: dict, part: str, **kw):
    v = np.asarray(values, dtype=float)
    c = check_value(name, _worst(v), (float(v.min()), float(v.max())), 0.0, abs_tol=tol, envelope=True, cell=cell,
                    part=part, replicates=int(v.size), unit="case", **kw)
    c.mde = tol          # an exact check sees any deviation beyond its tolerance
    return c


def analyze(records: list[dict], params: dict) -> Analysis:
    """Checks and series of the standardization sweep (pure)."""
    checks, measured, flat = [], {}, []
    moments = [r for r in records if r["kind"] == "moments"]
    for key in dict.fromkeys((r["grouping"], r["compression"]) for r in moments):
        cell = dict(zip(AXES, key))
        rs = [r for r in moments if (r["grouping"], r["compression"]) == key]
        label = f"{key[1]} x {key[0]}"
        det = {"lams": sorted({r["lam"] for r in rs}), "order": params.get("order")}
        if key[0] != "rms":
            checks.append(_envelope(f"{label}: per-group mean of the output = 0", [r["mean_worst"] for r in rs],
                                    TOL_VALUE, cell, "moments", details=det))
        checks.append(_envelope(f"{label}: per-group {'mean square' if key[0] == 'rms' else 'variance'} = v/(v+eps)",
                                [r["second_moment_err"] for r in rs], TOL_VALUE, cell, "moments", details=det))
        flat += [{**cell, "lam": r["lam"], "seed": r["seed"], "quantity": q, "v": abs(r[q])} for r in rs
                 for q in ("mean_worst", "second_moment_err", "eps_deflation")]
    if moments:
        measured["max |per-group mean|"] = max(abs(r["mean_worst"]) for r in moments)
        measured["max |second moment - v/(v+eps)|"] = max(abs(r["second_moment_err"]) for r in moments)
        measured["max eps deflation 1 - v/(v+eps)"] = max(r["eps_deflation"] for r in moments)
    for r in (r for r in records if r["kind"] == "bounds"):
        cell = {"grouping": "elementwise", "compression": r["compression"]}
        for q, what in (("ratio_f", "sup|f(u)|/bound(lam)"), ("ratio_slope", "sup|f'(u)|/max_slope(lam)")):
            vals = [row[q] for row in r["rows"] if math.isfinite(row[q])]
            if vals:
                c = check_direction(f"{r['compression']}: {what} <= 1", max(vals), (min(vals), max(vals)),
                                    less_than=1.0 + TOL_VALUE, envelope=True, cell=cell, part="bounded",
                                    replicates=len(_GRID) * len(vals), unit="grid point",
                                    details={"rows": r["rows"], "grid": "2,125 inputs, |u| up to 1e307"})
                c.mde = TOL_VALUE
                checks.append(c)
    limit_series = _limits(records, checks, measured)
    series = []
    if flat:
        series.append(Series.from_records("moments_error", flat, AXES + ("lam", "seed", "quantity"), "v",
                                          coords={"quantity": ["mean_worst", "second_moment_err", "eps_deflation"]}))
    series += limit_series
    return Analysis(checks=checks, measured=measured, series=series,
                    predicted={"moments": f"mean 0, variance (RMS: mean square) v/(v+eps), +- {TOL_VALUE:.0e}",
                               "identity limits": "composite(identity) == torch op; tanh/log/softsign -> torch op "
                                                  "as lam -> 0 at rate lam^k (k = 2, 1, 1); root(lam = 1) == torch op"})


def _limits(records: list[dict], checks: list, measured: dict) -> list[Series]:
    lim = [r for r in records if r["kind"] == "limit"]
    flat = []
    for key in dict.fromkeys((r["grouping"], r["compression"]) for r in lim):
        cell = dict(zip(AXES, key))
        rs = [r for r in lim if (r["grouping"], r["compression"]) == key]
        comp, label = COMPRESSIONS[key[1]], f"{key[1]} x {key[0]}"
        errs = np.array([r["error"] for r in rs])                        # (seeds, lams)
        lams = rs[0]["lams"]
        flat += [{**cell, "lam": lam, "seed": r["seed"], "v": e} for r in rs for lam, e in zip(lams, r["error"])]
        if comp.is_identity:
            checks.append(_envelope(f"{label}: reference composite == torch op", errs[:, 0], TOL_VALUE, cell, "limit"))
        elif comp.identity_lam is not None:
            checks.append(_envelope(f"{label}: IBNorm at lam={comp.identity_lam:g} == torch op", errs[:, 0],
                                    TOL_VALUE, cell, "limit"))
        else:
            lx = np.log(np.asarray(lams, dtype=float))
            slopes = [float(np.polyfit(lx, np.log(np.maximum(e, 1e-300)), 1)[0]) for e in errs]
            m = mean_se_ci(slopes)
            det = {"lams": lams, "per_seed_slopes": slopes}
            if key[1] in LIMIT_ORDER:
                checks.append(check_value(f"{label}: ||IB - torch op|| ~ lam^k as lam -> 0 (k = Taylor order)",
                                          m.estimate, m.ci, LIMIT_ORDER[key[1]], rel_tol=0.05, details=det, cell=cell,
                                          part="limit", unit="seed", **m.check_kwargs()))
            else:
                checks.append(check_direction(f"{label}: ||IB - torch op|| -> 0 as lam -> 0 (log-log slope)",
                                              m.estimate, m.ci, greater_than=0.0, details=det, cell=cell,
                                              part="limit", unit="seed", **m.check_kwargs()))
        measured[f"{label}: max |IB - torch op| at the smallest lam"] = float(errs[:, 0].max())
    if not flat:
        return []
    return [Series.from_records("limit_error", flat, AXES + ("lam", "seed"), "v")]


class Standardization(Claim):
    id = "ib.standardization"
    paper = "2510.25262"
    provenance = "paper"
    title = "IBNorm output is standardized, compression bounded, identity limit recovers LN/RMSNorm/BN"
    statement = ("Before the affine, IBNorm output has zero mean and unit variance per group (RMS grouping: unit mean "
                 "square), up to eps: variance = v/(v+eps) with v the variance of the values standardized; the "
                 "compression is bounded as stated (sup|f| <= bound(lam), sup|f'| <= max_slope(lam)); the identity "
                 "compression recovers LN/RMSNorm/BN/GN/IN and each compression tends to it in its identity limit. "
                 "The structure (compress, standardize, affine) is the paper's (via the reviews); the compression "
                 "formulas are our reconstruction (ibnorm.compression).")
    conditions = {"dtype": "float64", "input": "Student-t (3 dof) x input_scale + offset",
                  "bn_mode": "train (batch statistics)", "tolerance_abs": TOL_VALUE}
    axes = AXES
    condition = "order = compress_first (standardizing last); each compression's stated bound"
    primary_part = "moments"
    series = (SeriesSpec("moments_error", AXES + ("lam", "seed", "quantity"), "|per-group moment errors|"),
              SeriesSpec("limit_error", AXES + ("lam", "seed"), "max |IBNorm - torch op|"))
    params = (
        Param("compressions", ["all"], help="compressions ('all' = every registered one; regime axis)",
              choices=("all",) + tuple(sorted(COMPRESSIONS))),
        Param("groupings", list(GROUPINGS), help="groupings (ibnorm.groupings; regime axis)", choices=GROUPINGS),
        Param("lams", [0.5, 1.0, 4.0], help="lambdas (a compression skips those outside its domain)",
              exclusive_minimum=0.0),
        Param("dim", 16, 64, help="values per group (LN/RMS features, BN batch, GN/IN spatial length)", minimum=2),
        Param("eps", 1e-5, help="eps of the standardization (> 0: torch's batch_norm refuses 0 in training)",
              exclusive_minimum=0.0),
        Param("order", "compress_first", help="compress_first (the paper's) or standardize_first (the ablation)",
              choices=("compress_first", "standardize_first")),
        Param("input_scale", 3.0, help="scale of the heavy-tailed input", exclusive_minimum=0.0),
        Param("limit_lams", [1e-2, 1e-3, 1e-4, 1e-5], help="lambdas -> 0 for the identity limit",
              exclusive_minimum=0.0),
        Param("root_lam_offsets", [1e-1, 1e-2, 1e-3, 1e-4], help="lam - 1 for the root identity limit",
              exclusive_minimum=0.0),
    )
    worker = staticmethod(worker)

    def items(self, ctx) -> list:
        p = ctx.params
        comps = resolve_compressions(p["compressions"])          # ValueError for an unknown name
        dim, eps, scale = p["dim"], float(p["eps"]), float(p["input_scale"])
        out: list = []
        for c in comps:
            comp = COMPRESSIONS[c]
            lams = tuple(float(v) for v in p["lams"] if lam_ok(c, v)) or (smallest_valid_lam(comp),)
            out += [MomentsItem(c, g, lam, s, dim, eps, p["order"], scale) for g in p["groupings"] for lam in lams
                    for s in ctx.seeds]
            out.append(BoundItem(c, lams))
            if comp.is_identity:
                lim: tuple[float, ...] = (1.0,)
            elif comp.identity_lam is not None:
                lim = (comp.identity_lam,) + tuple(comp.identity_lam + float(o) for o in sorted(p["root_lam_offsets"]))
            elif comp.identity_as_lam_to_0:
                lim = tuple(sorted(float(v) for v in p["limit_lams"]))
            else:
                continue
            out += [LimitItem(c, g, lim, s, dim, eps, scale) for g in p["groupings"] for s in ctx.seeds]
        return out

    def analyze(self, records: list, params: dict) -> Analysis:
        a = analyze(records, params)
        a.notes.append(f"ROOT_DELTA = {ROOT_DELTA:g}: root(lam = 1) equals the identity up to round-off.")
        if params.get("order") == "standardize_first":
            a.notes.append("order=standardize_first: the compression acts after the standardization, so the "
                           "moments are not predicted to be standardized; the same checks apply.")
        return a


CLAIM = Standardization()
