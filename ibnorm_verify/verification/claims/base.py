"""The claim protocol: a claim = statement + provenance + parameters + a sweep + a pure analysis.

A claim is one module under :mod:`ibnorm_verify.verification.claims` with a module-level ``CLAIM``, an
instance of a :class:`Claim` subclass. Its anatomy:

* **parameters**: declared :class:`Param` s with a default per scale and their full domain (the CLI
  refuses out-of-domain values before anything runs);
* **the sweep**: ``items(ctx)`` returns typed, picklable sweep items; a module-level ``worker(item)``
  measures one item (run through ``ctx.map``: serial, processes or Dask, cached per item);
* **the analysis**: ``analyze(records, params)`` is pure: it turns the workers' records into an
  :class:`Analysis` (checks, series, headline numbers, validation rows), and is tested on constructed
  records;
* **the regime**: ``axes`` names the regime axes its checks carry in ``cell``; ``condition`` says what
  separates the regimes; ``primary_part`` names the check part that is the headline quantity;
* **the contract**: ``series`` declares the named-axis series the analysis produces (a generic test
  runs every claim at the tiny scale and checks its Evidence against these declarations).

``run(ctx)`` ties them together and :meth:`Claim.evidence` packages the result; the verdict comes from
:func:`~ibnorm_verify.verification.verdict.decide` and nothing else. A claim never writes its own outcome.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ..evidence import Check, Evidence, Series, ValidationRow
from ..verdict import decide, headline

__all__ = ["Param", "Context", "Claim", "Analysis", "SeriesSpec", "PROVENANCES", "PAPERS", "SCALES"]

PROVENANCES = ("paper", "reviews", "reconstructed")
PAPERS = {"2510.25262": "IBNorm (Zou & Zhou, 2025)",
          "2511.00958": "Hidden power of normalization: exponential capacity control (Than, 2025)"}
#: tiny: smoke tests and dry-runs (not evidence); quick: CPU minutes (the default); medium: about half an
#: hour on 2 CPU cores, models trained long enough not to be decided by under-training; full: a GPU
SCALES = ("tiny", "quick", "medium", "full")


@dataclass(frozen=True)
class Param:
    """A declared claim parameter. ``quick``/``full``/``tiny`` are the scale defaults (``full`` and
    ``tiny`` fall back to ``quick``). ``tiny`` is the smoke-test scale used by figure dry-runs,
    notebooks and tests: it exercises the code, its numbers are not evidence. The type is the
    default's type; lists are written ``a,b,c`` on the command line."""

    name: str
    quick: Any
    full: Any = None
    help: str = ""
    choices: tuple | None = None
    minimum: float | None = None        # inclusive bounds for numbers / list elements
    exclusive_minimum: float | None = None
    tiny: Any = None
    medium: Any = None
    maximum: float | None = None
    exclusive_maximum: float | None = None

    def default(self, scale: str) -> Any:
        """The default at ``scale``: medium falls back to quick, full to medium then quick, tiny to quick."""
        chain = {"full": (self.full, self.medium), "medium": (self.medium,), "tiny": (self.tiny,)}.get(scale, ())
        for v in chain:
            if v is not None:
                return v
        return self.quick

    def domain(self) -> str:
        """The accepted values in words, e.g. ``list of float > 0`` or ``one of ['layer', 'rms']``."""
        typ = _type_name(self.quick)
        if self.choices is not None:
            return f"{typ}, each one of {list(self.choices)}" if typ.startswith("list") else f"one of {list(self.choices)}"
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.exclusive_minimum is not None:
            bounds.append(f"> {self.exclusive_minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        if self.exclusive_maximum is not None:
            bounds.append(f"< {self.exclusive_maximum:g}")
        return f"{typ} {' and '.join(bounds)}".strip() if bounds else typ

    def parse(self, raw: Any) -> Any:
        """Parse a command-line string (or pass through a typed value) and validate it."""
        proto = self.quick
        try:
            if isinstance(proto, (list, tuple)):
                elem = type(proto[0]) if len(proto) else float
                items = raw if isinstance(raw, (list, tuple)) else [s for s in str(raw).split(",") if s.strip()]
                value = [_parse_scalar(elem, s) for s in items]
                if not value:
                    raise ValueError("empty list")
            else:
                value = _parse_scalar(type(proto), raw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"parameter {self.name!r}: cannot parse {raw!r} as {_type_name(proto)} ({e})") from None
        for v in (value if isinstance(value, list) else [value]):
            if self.choices is not None and v not in self.choices:
                raise ValueError(f"parameter {self.name!r}: {v!r} is not one of {list(self.choices)}")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if not math.isfinite(v):
                    raise ValueError(f"parameter {self.name!r}: {v!r} is not finite")
                if self.minimum is not None and v < self.minimum:
                    raise ValueError(f"parameter {self.name!r}: {v!r} < minimum {self.minimum}")
                if self.exclusive_minimum is not None and v <= self.exclusive_minimum:
                    raise ValueError(f"parameter {self.name!r}: {v!r} must be > {self.exclusive_minimum}")
                if self.maximum is not None and v > self.maximum:
                    raise ValueError(f"parameter {self.name!r}: {v!r} > maximum {self.maximum}")
                if self.exclusive_maximum is not None and v >= self.exclusive_maximum:
                    raise ValueError(f"parameter {self.name!r}: {v!r} must be < {self.exclusive_maximum}")
        return value


def _type_name(proto: Any) -> str:
    if isinstance(proto, (list, tuple)):
        return f"list of {type(proto[0]).__name__ if proto else 'float'}"
    return type(proto).__name__


def _parse_scalar(typ: type, raw: Any) -> Any:
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true/false")
    if typ is int:
        if isinstance(raw, float) and not raw.is_integer():
            raise ValueError("expected an integer")
        return int(str(raw).strip()) if not isinstance(raw, (int, float)) else int(raw)
    if typ is float:
        return float(str(raw).strip()) if not isinstance(raw, (int, float)) else float(raw)
    return str(raw).strip()


@dataclass
class Context:
    """What a claim run gets: resolved parameters, seeds, device, scale, progress and an executor.

    ``ctx.map(fn, items)`` runs ``fn`` over a sweep through the configured executor (serial, local
    processes or Dask) and caches each item's result so an interrupted sweep resumes; ``fn`` must be
    a module-level function and items/results picklable.
    """

    params: dict
    seeds: list
    scale: str = "quick"
    device: str = "cpu"
    progress: Callable[[float, str], None] = field(default=lambda frac, msg: None)
    executor: Any = None            # ibnorm_verify.verification.executors.Executor
    item_cache: Any = None          # ibnorm_verify.verification.cache.ItemCache | None
    claim_id: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def map(self, fn: Callable, items: Sequence, label: str = "") -> list:
        from ..executors import SerialExecutor

        ex = self.executor or SerialExecutor()
        return ex.map(fn, list(items), progress=self.progress, label=label or getattr(fn, "__name__", "job"),
                      cache=self.item_cache, namespace=self.claim_id)


@dataclass(frozen=True)
class SeriesSpec:
    """A series a claim declares it produces: its name and dims (in order)."""

    name: str
    dims: tuple[str, ...]
    description: str = ""


@dataclass
class Analysis:
    """What a claim's pure ``analyze`` returns; :meth:`Claim.evidence` turns it into Evidence."""

    checks: list[Check]
    measured: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    series: list[Series] = field(default_factory=list)
    validation: list[ValidationRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conditions: dict = field(default_factory=dict)


class Claim:
    """Base class of every claim. Subclasses set the class attributes and implement ``items``, a
    module-level ``worker`` and ``analyze`` (or override :meth:`run` for a claim with several sweeps)."""

    id: str = ""
    paper: str = ""
    title: str = ""
    statement: str = ""
    provenance: str = "reconstructed"
    conditions: dict = {}
    params: tuple[Param, ...] = ()
    #: regime axes carried by the checks' ``cell``; what separates the regimes; the headline check part
    axes: tuple[str, ...] = ()
    condition: str = ""
    primary_part: str = ""
    #: the named-axis series the analysis produces
    series: tuple[SeriesSpec, ...] = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.provenance not in PROVENANCES:
            raise ValueError(f"{cls.__name__}: provenance must be one of {PROVENANCES}")

    # ---------------------------------------------------------------- parameters
    def param_spec(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def resolve_params(self, scale: str, overrides: dict[str, Any] | None = None) -> dict:
        """Scale defaults, then validated overrides. Unknown keys raise ``ValueError`` naming the known ones."""
        spec = self.param_spec()
        out = {name: p.default(scale) for name, p in spec.items()}
        for key, raw in (overrides or {}).items():
            if key not in spec:
                known = ", ".join(sorted(spec)) or "(none)"
                raise ValueError(f"claim {self.id!r} has no parameter {key!r}; known: {known}")
            out[key] = spec[key].parse(raw)
        return out

    # ---------------------------------------------------------------- running
    worker: Callable[[Any], Any] | None = None

    def items(self, ctx: Context) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def analyze(self, records: list, params: dict) -> Analysis:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, ctx: Context) -> Evidence:
        """``items`` -> ``ctx.map(worker)`` -> ``analyze`` -> :meth:`evidence`."""
        worker = type(self).worker  # the class attribute: a plain function, not a bound method
        if worker is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither worker nor run()")
        records = ctx.map(worker, self.items(ctx), label=self.id)
        return self.evidence_of(ctx, self.analyze(records, ctx.params))

    def evidence_of(self, ctx: Context, analysis: Analysis) -> Evidence:
        return self.evidence(ctx, analysis.checks, measured=analysis.measured, predicted=analysis.predicted,
                             series=analysis.series, validation=analysis.validation, notes=analysis.notes,
                             conditions=analysis.conditions)

    def evidence(self, ctx: Context, checks: Iterable[Check], *, measured: dict | None = None,
                 predicted: dict | None = None, series: Sequence[Series] = (),
                 validation: list | None = None, notes: list | None = None,
                 conditions: dict | None = None) -> Evidence:
        """Package a run: the verdict and the regime map come from :func:`decide` over ``checks``."""
        checks = list(checks)
        decision = decide(checks, self.axes, self.condition, self.primary_part)
        cond = dict(self.conditions)
        cond.update(conditions or {})
        primary = ""
        if self.primary_part:
            primary = next((c.name for c in checks if c.role == "evidence" and c.part == self.primary_part), "")
        return Evidence(
            claim_id=self.id, paper=self.paper, title=self.title, statement=self.statement,
            provenance=self.provenance, verdict=decision.verdict, reason=decision.reason,
            headline=headline(decision), primary=primary, regimes=decision.regimes, measured=measured or {},
            predicted=predicted or {}, checks=checks, series={s.name: s for s in series}, conditions=cond,
            params=dict(ctx.params), seeds=list(ctx.seeds), scale=ctx.scale, device=ctx.device,
            validation=validation or [], notes=notes or [],
        )

    def describe(self) -> str:
        return f"{self.id}  [{self.paper}, {self.provenance}]  {self.title}"
