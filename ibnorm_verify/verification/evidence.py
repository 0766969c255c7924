"""Evidence: what one claim run produced (numbers, arrays, checks, verdict, conditions, provenance).

Everything downstream (``report``, ``paper_figures``, notebooks) reads Evidence; nothing recomputes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .verdict import Check, Verdict

__all__ = ["Evidence", "to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, tuples and dataclass-like objects to JSON types.

    Non-finite floats become the strings "nan", "inf", "-inf" (JSON has no such numbers).
    """
    if isinstance(obj, Check):
        return obj.to_dict()
    if isinstance(obj, Verdict):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return obj


@dataclass
class Evidence:
    """The result of running one claim.

    Attributes:
        claim_id, paper, title, statement, provenance: copied from the claim.
        verdict, reason: from :func:`ibnorm_verify.verification.verdict.decide` over ``checks``.
        measured: headline measured numbers (name -> value or {estimate, ci}).
        predicted: the theory's predictions (name -> value or description).
        checks: the individual statistical comparisons.
        conditions: the regime (e.g. gain, eps, estimator and settings).
        params: the resolved claim parameters; seeds: the seeds used; scale; device.
        arrays: named arrays the figures need (lists of numbers).
        validation: ground-truth checks of the estimators this claim used (rows of dicts).
        notes: free-text remarks (caveats, what the numbers mean).
        runtime_s: wall time of the run.
    """

    claim_id: str
    paper: str
    title: str
    statement: str
    provenance: str
    verdict: Verdict
    reason: str
    measured: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    conditions: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    seeds: list = field(default_factory=list)
    scale: str = "quick"
    device: str = "cpu"
    arrays: dict = field(default_factory=dict)
    validation: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    runtime_s: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict:
        return to_jsonable({
            "id": self.claim_id, "paper": self.paper, "title": self.title, "statement": self.statement,
            "provenance": self.provenance, "verdict": self.verdict.value, "reason": self.reason,
            "measured": self.measured, "predicted": self.predicted, "checks": self.checks,
            "conditions": self.conditions, "params": self.params, "seeds": self.seeds, "scale": self.scale,
            "device": self.device, "arrays": self.arrays, "validation": self.validation, "notes": self.notes,
            "runtime_s": self.runtime_s, "cached": self.cached,
        })

    @classmethod
    def from_dict(cls, d: dict) -> "Evidence":
        checks = [Check(c["name"], c["kind"], c.get("estimate"), None if c.get("ci") is None else tuple(c["ci"]),
                        c["predicted"], Verdict(c["verdict"]), c["reason"], c.get("details", {}))
                  for c in d.get("checks", [])]
        return cls(claim_id=d["id"], paper=d["paper"], title=d["title"], statement=d["statement"],
                   provenance=d["provenance"], verdict=Verdict(d["verdict"]), reason=d["reason"],
                   measured=d.get("measured", {}), predicted=d.get("predicted", {}), checks=checks,
                   conditions=d.get("conditions", {}), params=d.get("params", {}), seeds=d.get("seeds", []),
                   scale=d.get("scale", "quick"), device=d.get("device", "cpu"), arrays=d.get("arrays", {}),
                   validation=d.get("validation", []), notes=d.get("notes", []),
                   runtime_s=d.get("runtime_s", 0.0), cached=d.get("cached", False))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
