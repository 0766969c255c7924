"""The claim protocol: a claim = statement + provenance + conditions + parameters + ``run(ctx)``.

A concrete claim subclasses :class:`Claim`, declares its :class:`Param` s (with quick/full scale
defaults), and implements ``run(ctx)``: it builds models, measures, asks :mod:`theory` for the
prediction, turns the comparison into :class:`~ibnorm_verify.verification.verdict.Check` s and returns
``self.evidence(ctx, checks, ...)``, which calls the one verdict function
:func:`~ibnorm_verify.verification.verdict.decide`. A claim never writes its own outcome.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ..evidence import Evidence
from ..verdict import Check, check_not_measured, decide

__all__ = ["Param", "Context", "Claim", "PendingClaim", "PROVENANCES", "PAPERS"]

PROVENANCES = ("paper", "reviews", "reconstructed")
PAPERS = {"2510.25262": "IBNorm (Zou & Zhou, 2025)",
          "2511.00958": "Hidden power of normalization: exponential capacity control (Than, 2025)"}


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
    minimum: float | None = None        # inclusive lower bound for numbers / list elements
    exclusive_minimum: float | None = None
    tiny: Any = None

    def default(self, scale: str) -> Any:
        if scale == "full" and self.full is not None:
            return self.full
        if scale == "tiny" and self.tiny is not None:
            return self.tiny
        return self.quick

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


class Claim:
    """Base class of every claim. Subclasses set the class attributes and implement :meth:`run`."""

    id: str = ""
    paper: str = ""
    title: str = ""
    statement: str = ""
    provenance: str = "reconstructed"
    conditions: dict = {}
    params: tuple[Param, ...] = ()
    #: the estimator validations this claim relies on (names understood by the report)
    uses_estimators: tuple[str, ...] = ()

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
    def run(self, ctx: Context) -> Evidence:  # pragma: no cover - abstract
        raise NotImplementedError

    def evidence(self, ctx: Context, checks: Iterable[Check], *, measured: dict | None = None,
                 predicted: dict | None = None, arrays: dict | None = None, validation: list | None = None,
                 notes: list | None = None, conditions: dict | None = None) -> Evidence:
        """Package a run: the verdict comes from :func:`decide` over ``checks``, nothing else."""
        checks = list(checks)
        verdict, reason = decide(checks)
        cond = dict(self.conditions)
        cond.update(conditions or {})
        return Evidence(
            claim_id=self.id, paper=self.paper, title=self.title, statement=self.statement,
            provenance=self.provenance, verdict=verdict, reason=reason, measured=measured or {},
            predicted=predicted or {}, checks=checks, conditions=cond, params=dict(ctx.params),
            seeds=list(ctx.seeds), scale=ctx.scale, device=ctx.device, arrays=arrays or {},
            validation=validation or [], notes=notes or [],
        )

    def describe(self) -> str:
        return f"{self.id}  [{self.paper}, {self.provenance}]  {self.title}"


class PendingClaim(Claim):
    """A registered claim whose experiment is not implemented yet: always inconclusive, said so."""

    def run(self, ctx: Context) -> Evidence:
        return self.evidence(ctx, [check_not_measured()], notes=["The experiment for this claim is not implemented yet."])


def timed(fn: Callable[[], Evidence]) -> Evidence:
    t0 = time.perf_counter()
    ev = fn()
    ev.runtime_s = time.perf_counter() - t0
    return ev
