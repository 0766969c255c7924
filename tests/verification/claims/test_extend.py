"""A claim that extends its own seeds once, up to a stated budget, when that is predicted to decide."""
from dataclasses import dataclass

import numpy as np

from ibnorm_verify.verification.claims._extend import (
    PREDICTION_SLACK,
    run_extending,
    seeds_needed,
    seeds_to_decide,
    undecided,
)
from ibnorm_verify.verification.claims._ib_setup import paired_check
from ibnorm_verify.verification.claims.base import Analysis, Claim, Context, Param
from ibnorm_verify.verification.evidence import Verdict


@dataclass(frozen=True)
class Item:
    seed: int
    effect: float


@dataclass(frozen=True)
class Once:
    """A seedless item (a validation): runs once even when the seeds are extended."""


def _worker(item):
    if isinstance(item, Once):
        return {"once": True}
    return {"seed": item.seed, "value": item.effect + 2.0 * float(np.random.default_rng(item.seed).standard_normal())}


class Toy(Claim):
    id = "test.extend"
    paper = "none"
    title = statement = "effect > 0"
    params = (Param("effect", 1.0), Param("max_seeds", 12, minimum=1))
    worker = staticmethod(_worker)

    def items(self, ctx):
        return [Once()] + [Item(int(s), ctx["effect"]) for s in ctx.seeds]

    def analyze(self, records, params):
        vals = [r["value"] for r in records if "value" in r]
        assert sum("once" in r for r in records) == 1
        return Analysis([paired_check("effect", vals, part="e", cell={}, greater_than=0.0)])

    def run(self, ctx):
        return run_extending(self, ctx, ctx["max_seeds"])


def _run(**params):
    claim = Toy()
    return claim.run(Context(params=claim.resolve_params("quick", params), seeds=[0, 1, 2]))


def test_extends_when_predicted_to_decide_and_records_the_budget():
    ev = _run(effect=0.1)
    assert ev.seeds[:3] == [0, 1, 2] and 3 < len(ev.seeds) <= 12
    assert ev.conditions["seed_budget"] == {"used": len(ev.seeds), "max": 12}
    assert any("extended to" in n for n in ev.notes)


def test_no_extension_beyond_the_budget_and_says_what_would_decide():
    ev = _run(effect=0.05, max_seeds=4)
    assert ev.verdict is Verdict.INCONCLUSIVE and len(ev.seeds) <= 4
    assert any("would decide at about" in n for n in ev.notes)


def test_refuting_side_needs_the_holm_level():
    c_sup = paired_check("a", [0.5, 0.7, 0.2], part="e", cell={}, greater_than=0.0)
    c_ref = paired_check("b", [-0.5, -0.7, -0.2], part="e", cell={}, greater_than=0.0)
    assert seeds_needed(c_ref, 50) > seeds_needed(c_ref, 1) >= seeds_needed(c_sup, 50)
    assert c_sup in undecided([c_sup, c_ref]) and seeds_to_decide([c_sup, c_ref], 3, 3) == 3


def test_a_prediction_near_the_budget_spends_the_budget():
    c = paired_check("a", [0.3, -0.1, 0.35], part="e", cell={}, greater_than=0.0)
    need = seeds_needed(c, 1)
    assert need > 8
    slack = PREDICTION_SLACK
    assert seeds_to_decide([c], 3, need - 1, slack) == need - 1                   # within the slack: the budget
    assert seeds_to_decide([c], 3, max(4, need // (slack + 1)), slack) == 3      # far beyond: do not spend
    assert seeds_to_decide([c], 3, need - 1) == 3                                 # without slack: only what fits
