"""Evidence: the typed contract between a claim and everything downstream (reports, figures, notebooks).

This module is the bottom of the suite: it imports nothing from it. It defines

* :class:`Verdict` and :class:`Check`: one statistical comparison of a measurement with a prediction
  (the verdict of a check is computed by :mod:`ibnorm_verify.verification.verdict`, never here);
* :class:`Series`: a named-axis array (name, dims, coords, values, unit), the only way a claim hands
  arrays to a figure: no string keys to parse back;
* :class:`ValidationRow`: one ground-truth check of an estimator, the same type for every estimator;
* :class:`RegimeCell` / :class:`RegimeMap`: a verdict per cell of the regime a claim sweeps;
* :class:`Evidence`: everything one claim run produced, with an explicit ``status`` ("ok" or
  "crashed") and ``error``.

Everything round-trips through JSON (``to_dict`` / ``from_dict``); non-finite floats are written as the
strings ``"nan"``, ``"inf"``, ``"-inf"``.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "SCHEMA_VERSION", "Verdict", "Check", "CheckKind", "CheckRole", "Series", "ValidationRow", "RegimeCell",
    "RegimeMap", "Evidence", "Status", "to_jsonable", "from_jsonable_float",
]

#: version of the ``results.json`` layout written by :meth:`Evidence.to_dict` (bump on a breaking change)
SCHEMA_VERSION = 2

Status = Literal["ok", "crashed"]
CheckKind = Literal["value", "direction", "precondition", "not-measured"]
#: "evidence": counts for the claim; "sanity": holds by construction of the setup (reported, never counted
#: as evidence); "precondition": must hold for the measurement to be trusted (failing -> inconclusive)
CheckRole = Literal["evidence", "sanity", "precondition"]


def from_jsonable_float(v: Any) -> Any:
    """Inverse of the non-finite encoding of :func:`to_jsonable` for one value."""
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, tuples, enums and objects with ``to_dict`` to JSON types.

    Non-finite floats become the strings "nan", "inf", "-inf" (JSON has no such numbers).
    """
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(obj, np.integer):
        return int(obj)
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return obj


def _jsonable_dict(obj: Any) -> dict[str, Any]:
    out = to_jsonable(obj)
    assert isinstance(out, dict)
    return out


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    return from_jsonable_float(obj)


# ------------------------------------------------------------------------------------ verdicts

class Verdict(str, Enum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:  # "supported", not "Verdict.SUPPORTED"
        return self.value


@dataclass
class Check:
    """One statistical comparison of a measurement with a prediction (JSON-serializable).

    Built by the constructors of :mod:`~ibnorm_verify.verification.verdict`, which set ``verdict``
    (the check's own, unadjusted decision), the one-sided p-values and the minimum detectable effect.

    Attributes:
        name: unique within the claim.
        kind: "value" (equivalence test), "direction" (one-sided test), "precondition", "not-measured".
        estimate, ci: the measurement and its confidence interval.
        predicted: the prediction in words and numbers, e.g. "0.693 +- 0.05" or "> 0".
        verdict, reason: the check's decision at the suite's level, and why.
        role: see :data:`CheckRole`.
        part: which part of the claim the check tests (e.g. "tails", "nuisance information").
        cell: the regime coordinates of the check (axis -> value); empty when the claim has one regime.
        p_support: p-value of the test whose rejection supports the prediction (None when not defined).
        p_refute: p-value of the test whose rejection refutes it.
        p_refute_holm: ``p_refute`` after Holm's step-down adjustment over the claim's evidence checks.
        mde: minimum detectable effect at the budget used (same unit as ``estimate``).
        replicates: the number of units of replication behind ``ci``; unit: what one unit is ("seed").
        details: free-form numbers.
    """

    name: str
    kind: CheckKind
    estimate: float | None
    ci: tuple[float, float] | None
    predicted: str
    verdict: Verdict
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    role: CheckRole = "evidence"
    part: str = ""
    cell: dict[str, Any] = field(default_factory=dict)
    p_support: float | None = None
    p_refute: float | None = None
    p_refute_holm: float | None = None
    mde: float | None = None
    replicates: int | None = None
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["verdict"] = self.verdict.value
        d["ci"] = None if self.ci is None else [self.ci[0], self.ci[1]]
        return _jsonable_dict(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Check":
        d = _decode(dict(d))
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        kw["verdict"] = Verdict(d["verdict"])
        kw["ci"] = None if d.get("ci") is None else (d["ci"][0], d["ci"][1])
        return cls(**kw)


# -------------------------------------------------------------------------------------- series

@dataclass
class Series:
    """A named-axis array: ``values`` has one axis per name in ``dims``, labelled by ``coords[dim]``.

    Example: ``Series("log_lipschitz", ("gain", "depth", "seed", "bound"), {"gain": [1.5, 2.0], "depth":
    [2, 4, 6], "seed": [0, 1, 2], "bound": ["lower", "upper"]}, values, unit="nats")``. Values are
    floats (NaN marks a point that was not measured).
    """

    name: str
    dims: tuple[str, ...]
    coords: dict[str, list[Any]]
    values: np.ndarray
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        self.dims = tuple(self.dims)
        self.coords = {d: list(self.coords[d]) for d in self.dims} if set(self.coords) >= set(self.dims) else \
            self._missing_coords()
        self.values = np.asarray(self.values, dtype=float)
        expected = tuple(len(self.coords[d]) for d in self.dims)
        if self.values.shape != expected:
            raise ValueError(f"series {self.name!r}: values have shape {self.values.shape}, but the coords of "
                             f"{self.dims} give {expected}")
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"series {self.name!r}: repeated dims {self.dims}")

    def _missing_coords(self) -> dict[str, Any]:
        missing = [d for d in self.dims if d not in self.coords]
        raise ValueError(f"series {self.name!r}: no coords for dims {missing}")

    def index(self, dim: str, label: Any) -> int:
        """Position of ``label`` on axis ``dim`` (floats compare with a relative tolerance of 1e-9)."""
        if dim not in self.dims:
            raise KeyError(f"series {self.name!r} has no dim {dim!r} (dims: {self.dims})")
        for i, c in enumerate(self.coords[dim]):
            if c == label or (isinstance(c, (int, float)) and isinstance(label, (int, float))
                              and not isinstance(c, bool) and math.isclose(c, label, rel_tol=1e-9)):
                return i
        raise KeyError(f"series {self.name!r}: {label!r} is not a coordinate of {dim!r} ({self.coords[dim]})")

    def sel(self, **labels: Any) -> "Series":
        """The sub-series at the given coordinate labels (each selected dim is dropped)."""
        idx: list[Any] = []
        for d in self.dims:
            idx.append(self.index(d, labels[d]) if d in labels else slice(None))
        unknown = set(labels) - set(self.dims)
        if unknown:
            raise KeyError(f"series {self.name!r} has no dims {sorted(unknown)} (dims: {self.dims})")
        dims = tuple(d for d in self.dims if d not in labels)
        return Series(self.name, dims, {d: self.coords[d] for d in dims}, self.values[tuple(idx)], self.unit,
                      self.description)

    def item(self) -> float:
        if self.values.size != 1:
            raise ValueError(f"series {self.name!r} has {self.values.size} values, not one")
        return float(self.values.reshape(()))

    def axis(self, dim: str) -> int:
        return self.dims.index(dim)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable_dict({"name": self.name, "dims": list(self.dims), "coords": self.coords,
                            "values": self.values, "unit": self.unit, "description": self.description})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Series":
        coords = _decode(d["coords"])
        values = np.asarray(_decode(d["values"]), dtype=float)
        dims = tuple(d["dims"])
        if values.size == 0:
            values = values.reshape(tuple(len(coords[k]) for k in dims))
        return cls(d["name"], dims, coords, values, d.get("unit", ""), d.get("description", ""))

    @classmethod
    def from_records(cls, name: str, records: Iterable[Mapping[str, Any]], dims: Sequence[str], value: str, *,
                     coords: Mapping[str, Sequence[Any]] | None = None, unit: str = "", description: str = "") -> "Series":
        """Build a series from flat records (``{dim: label, ..., value: number}``); unmeasured cells are NaN.

        ``coords`` fixes the order of the labels (default: order of first appearance).
        """
        records = list(records)
        cs: dict[str, list[Any]] = {}
        for d in dims:
            if coords is not None and d in coords:
                cs[d] = list(coords[d])
            else:
                cs[d] = list(dict.fromkeys(r[d] for r in records))
        values = np.full(tuple(len(cs[d]) for d in dims), np.nan)
        s = cls(name, tuple(dims), cs, values, unit, description)
        for r in records:
            s.values[tuple(s.index(d, r[d]) for d in dims)] = float(r[value])
        return s


# ---------------------------------------------------------------------------------- validation

@dataclass
class ValidationRow:
    """One ground-truth check of an estimator (every estimator's ``validate()`` returns these).

    ``truth`` is the exact value. A point estimator fills ``estimate``; a bracketing estimator fills
    ``lower`` and ``upper`` (and ``estimate`` with its best point). ``error`` is ``estimate - truth``
    (absolute, signed). ``criterion`` says in words what passing means (e.g. "|error| <= 0.05 nats",
    "lower <= truth <= upper, lower >= 0.99 truth"), ``passed`` whether it did.
    """

    estimator: str
    case: str
    truth: float
    estimate: float | None
    passed: bool
    criterion: str
    lower: float | None = None
    upper: float | None = None
    family: str = ""
    unit: str = ""
    n: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> float:
        if self.estimate is None:
            return math.nan
        return float(self.estimate) - float(self.truth)

    @property
    def rel_error(self) -> float:
        t = float(self.truth)
        return self.error / abs(t) if t != 0 and math.isfinite(t) else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["error"] = self.error
        return _jsonable_dict(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ValidationRow":
        d = _decode(dict(d))
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


# ------------------------------------------------------------------------------------- regimes

@dataclass
class RegimeCell:
    """The verdict of one cell of a claim's regime map (e.g. activation=relu, init=gaussian)."""

    coords: dict[str, Any]
    verdict: Verdict
    reason: str
    checks: list[Any] = field(default_factory=list)      # names of the evidence checks in the cell
    primary: str = ""                               # name of the cell's primary check ("" if none)

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.coords.items()) or "(all)"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable_dict({"coords": self.coords, "verdict": self.verdict, "reason": self.reason,
                            "checks": self.checks, "primary": self.primary})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RegimeCell":
        return cls(dict(d["coords"]), Verdict(d["verdict"]), d["reason"], list(d.get("checks", [])),
                   d.get("primary", ""))


@dataclass
class RegimeMap:
    """A verdict per cell of the regime axes a claim sweeps, and the condition that separates them."""

    axes: tuple[str, ...]
    cells: list[RegimeCell] = field(default_factory=list)
    condition: str = ""          # e.g. "sigma > |gamma|": what separates the supported cells from the others

    def by_verdict(self, verdict: Verdict) -> list[RegimeCell]:
        return [c for c in self.cells if c.verdict is verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"axes": list(self.axes), "cells": [c.to_dict() for c in self.cells], "condition": self.condition}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RegimeMap":
        return cls(tuple(d.get("axes", ())), [RegimeCell.from_dict(c) for c in d.get("cells", [])],
                   d.get("condition", ""))


# ------------------------------------------------------------------------------------ evidence

@dataclass
class Evidence:
    """The result of running one claim.

    Attributes:
        claim_id, paper, title, statement, provenance: copied from the claim.
        status: "ok", or "crashed" (then ``error`` says why and ``verdict`` is inconclusive).
        verdict, reason: from :func:`ibnorm_verify.verification.verdict.decide` over ``checks``.
        headline: one sentence: where the claim is supported, refuted and undecided.
        primary: the name of the claim's primary check.
        measured: headline numbers (name -> number or {"estimate", "ci"}).
        predicted: the theory's predictions (name -> number or description).
        checks: every statistical comparison (evidence, sanity checks and preconditions).
        regimes: the verdict per regime cell.
        series: the named-axis arrays the figures read.
        validation: ground-truth checks of the estimators this claim used.
        conditions, params, seeds, scale, device: the regime and the run's settings.
        notes: remarks (caveats, what the numbers mean); runtime_s, cached: bookkeeping.
    """

    claim_id: str
    paper: str
    title: str
    statement: str
    provenance: str
    verdict: Verdict
    reason: str
    status: Status = "ok"
    error: str | None = None
    headline: str = ""
    primary: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    predicted: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    regimes: RegimeMap | None = None
    series: dict[str, Series] = field(default_factory=dict)
    validation: list[ValidationRow] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    seeds: list[Any] = field(default_factory=list)
    scale: str = "quick"
    device: str = "cpu"
    notes: list[Any] = field(default_factory=list)
    runtime_s: float = 0.0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"claim {self.claim_id!r} has no check {name!r}")

    def primary_check(self) -> Check | None:
        return next((c for c in self.checks if c.name == self.primary), None) if self.primary else None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable_dict({
            "schema_version": SCHEMA_VERSION,
            "id": self.claim_id, "paper": self.paper, "title": self.title, "statement": self.statement,
            "provenance": self.provenance, "status": self.status, "error": self.error,
            "verdict": self.verdict.value, "reason": self.reason, "headline": self.headline,
            "primary": self.primary, "measured": self.measured, "predicted": self.predicted,
            "checks": [c.to_dict() for c in self.checks],
            "regimes": None if self.regimes is None else self.regimes.to_dict(),
            "series": {k: s.to_dict() for k, s in self.series.items()},
            "validation": [r.to_dict() for r in self.validation],
            "conditions": self.conditions, "params": self.params, "seeds": self.seeds, "scale": self.scale,
            "device": self.device, "notes": self.notes, "runtime_s": self.runtime_s, "cached": self.cached,
        })

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Evidence":
        version = d.get("schema_version", 1)
        if version > SCHEMA_VERSION:
            raise ValueError(f"results written with schema version {version}; this code reads <= {SCHEMA_VERSION}")
        return cls(
            claim_id=d["id"], paper=d["paper"], title=d["title"], statement=d["statement"],
            provenance=d["provenance"], verdict=Verdict(d["verdict"]), reason=d["reason"],
            status=d.get("status", "ok"), error=d.get("error"), headline=d.get("headline", ""),
            primary=d.get("primary", ""), measured=_decode(d.get("measured", {})),
            predicted=_decode(d.get("predicted", {})),
            checks=[Check.from_dict(c) for c in d.get("checks", [])],
            regimes=None if d.get("regimes") is None else RegimeMap.from_dict(d["regimes"]),
            series={k: Series.from_dict(s) for k, s in (d.get("series") or {}).items()},
            validation=[ValidationRow.from_dict(r) for r in d.get("validation", [])],
            conditions=d.get("conditions", {}), params=d.get("params", {}), seeds=d.get("seeds", []),
            scale=d.get("scale", "quick"), device=d.get("device", "cpu"), notes=d.get("notes", []),
            runtime_s=d.get("runtime_s", 0.0), cached=d.get("cached", False),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
