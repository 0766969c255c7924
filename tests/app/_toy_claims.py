"""Toy claims for the application tests: the real claim anatomy (typed items, a module-level worker, a
pure analyze) at a cost of milliseconds, so the runner, the CLI, the caches and the fault paths can be
exercised in-process and in subprocesses.

``python -c "import _toy_claims; _toy_claims.main([...])"`` (with this directory on ``sys.path``)
registers the toys and runs ``ibnorm-verify`` with the given arguments.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from ibnorm_verify.verification.claims import REGISTRY
from ibnorm_verify.verification.claims.base import Analysis, Claim, Context, Param, SeriesSpec
from ibnorm_verify.verification.evidence import Series, ValidationRow
from ibnorm_verify.verification.stats import mean_se_ci
from ibnorm_verify.verification.verdict import check_direction, check_precondition


@dataclass(frozen=True)
class Item:
    seed: int
    level: float
    effect: float
    delay: float


def worker(item: Item) -> dict:
    """One measurement: effect * level plus a seed-dependent wobble (deterministic)."""
    if item.delay:
        time.sleep(item.delay)
    if item.effect != item.effect:  # NaN: a crash inside the sweep
        raise ValueError("bad effect")
    return {"seed": item.seed, "level": item.level, "value": item.effect * item.level + 0.01 * (-1) ** item.seed,
            "pid": os.getpid()}


class ToyClaim(Claim):
    """'the effect is positive at every level': two regime axes (level x kind), a primary check."""

    paper = "2511.00958"
    statement = "effect > 0 at every level"
    provenance = "reconstructed"
    axes = ("level", "kind")
    condition = "effect > 0"
    primary_part = "effect"
    series = (SeriesSpec("value", ("level", "seed")),)
    params = (Param("effect", 1.0, help="true effect", exclusive_minimum=-10.0, maximum=10.0),
              Param("levels", [1.0, 2.0], help="levels", exclusive_minimum=0.0),
              Param("delay", 0.0, help="seconds per item", minimum=0.0),
              Param("kind", "a", choices=("a", "b"), help="a label"))

    def __init__(self, claim_id: str):
        self.id = claim_id
        self.title = f"toy claim {claim_id}"

    def items(self, ctx: Context) -> list:
        return [Item(s, lv, ctx["effect"], ctx["delay"]) for lv in ctx["levels"] for s in ctx.seeds]

    worker = staticmethod(worker)

    def analyze(self, records: list, params: dict) -> Analysis:
        checks = [check_precondition("toy estimator validation", True, "exact")]
        for lv in params["levels"]:
            m = mean_se_ci(r["value"] for r in records if r["level"] == lv)
            checks.append(check_direction(f"effect at level {lv:g}", m.estimate, m.ci, greater_than=0.0,
                                          **m.check_kwargs(), unit="seeds", part="effect",
                                          cell={"level": lv, "kind": params["kind"]}))
        series = Series.from_records("value", records, ("level", "seed"), "value")
        rows = [ValidationRow("toy", "identity", 1.0, 1.0, True, "exact", family="toy")]
        return Analysis(checks, measured={"mean": float(sum(r["value"] for r in records) / len(records))},
                        series=[series], validation=rows)


TOYS = {cid: ToyClaim(cid) for cid in ("toy.one", "toy.two", "toy.three")}


def register(monkeypatch=None) -> dict:
    """Put the toys into the registry (with pytest's monkeypatch: undone after the test)."""
    for cid, claim in TOYS.items():
        if monkeypatch is not None:
            monkeypatch.setitem(REGISTRY, cid, claim)
        else:
            REGISTRY[cid] = claim
    return TOYS


def main(argv: list[str]) -> int:
    from ibnorm_verify.app.cli import main as cli_main

    register()
    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
