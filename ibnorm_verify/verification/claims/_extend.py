"""Power before verdicts: a claim that extends its own sample of seeds, once, up to a stated budget.

``run_extending(claim, ctx, max_seeds)`` runs the claim's sweep on ``ctx.seeds`` and analyzes it. If
some evidence check is still undecided (inconclusive, or refuted on its own but not after Holm's
adjustment) and :func:`seeds_needed` predicts that a seed count within ``max_seeds`` would decide it
(with ``slack``, also when the closest prediction is within ``slack`` times the budget: a prediction
from few seeds is uncertain), the sweep runs once more on the added seeds and the
analysis is repeated on all of them. The design has at most two looks at the data; at the one-sided
level 0.025 per look, the chance of a false decision of one check is at most 0.05 (Bonferroni over
the two looks). Both the budget and what happened are written into the Evidence (``conditions`` and
``notes``); a check that stays undecided says in a note how many seeds would decide it.
"""
from __future__ import annotations

import dataclasses
import math

from scipy import stats

from ..evidence import Check, Evidence, Verdict
from ..verdict import ALPHA, POWER, decide, replicates_to_decide
from .base import Analysis, Claim, Context

__all__ = ["undecided", "seeds_to_decide", "run_extending"]


def undecided(checks: list[Check]) -> list[Check]:
    """Evidence checks that do not decide at the claim level (fills ``p_refute_holm`` through ``decide``)."""
    decide(checks)
    out = []
    for c in checks:
        if c.role != "evidence" or c.verdict is Verdict.SUPPORTED:
            continue
        if c.verdict is Verdict.REFUTED and c.p_refute_holm is not None and c.p_refute_holm <= ALPHA:
            continue
        out.append(c)
    return out


def seeds_needed(c: Check, n_evidence: int) -> int | None:
    """About how many seeds would decide ``c`` at the claim level, if its effect is as estimated.

    A check whose estimate lies on the supporting side needs its own one-sided level
    (:func:`~ibnorm_verify.verification.verdict.replicates_to_decide`: support is an intersection-union
    test); one on the refuting side needs the Holm level, bounded here by Bonferroni (ALPHA /
    ``n_evidence``). None without a replicate count or standard error.
    """
    r = replicates_to_decide(c)
    if r is None or c.estimate is None or c.mde is None or c.replicates is None or c.kind != "direction":
        return r
    rel, thr = c.predicted.split()[0], float(c.predicted.split()[1])
    dist = c.estimate - thr if rel == ">" else thr - c.estimate       # > 0: on the supporting side
    if dist >= 0:
        return r
    se = c.mde / (_z(1 - ALPHA) + _z(POWER))
    return int(math.ceil(c.replicates * ((_z(1 - ALPHA / max(n_evidence, 1)) + _z(POWER)) * se / -dist) ** 2))


def _z(p: float) -> float:
    return float(stats.norm.ppf(p))


#: a seed count predicted from few seeds is uncertain by about this factor (the variance estimate from 3
#: seeds lies within a factor of about 4 of the truth with 90% probability: chi-square with 2 dof)
PREDICTION_SLACK = 4


def seeds_to_decide(checks: list[Check], n_now: int, max_seeds: int, slack: float = 0.0) -> int:
    """The smallest seed count within the budget predicted to decide every undecided check that can be
    decided within it; when no prediction falls within the budget but the closest is within ``slack``
    times it (e.g. :data:`PREDICTION_SLACK`; 0: never), the budget itself; ``n_now`` otherwise."""
    m = sum(c.role == "evidence" for c in checks)
    needs = [r for r in (seeds_needed(c, m) for c in undecided(checks)) if r is not None and r > n_now]
    fit = [r for r in needs if r <= max_seeds]
    if fit:
        return max(fit)
    return max_seeds if needs and min(needs) <= slack * max_seeds else n_now


def run_extending(claim: Claim, ctx: Context, max_seeds: int, slack: float = 0.0) -> Evidence:
    """Run ``claim`` (``items``/``worker``/``analyze``) on ``ctx.seeds``, extended once up to ``max_seeds``
    (``slack``: see :func:`seeds_to_decide`)."""
    worker = type(claim).worker
    if worker is None:
        raise NotImplementedError(f"{type(claim).__name__} has no worker: run_extending needs items/worker/analyze")
    seeds = [int(s) for s in ctx.seeds]
    records = ctx.map(worker, claim.items(ctx), label=claim.id)
    analysis = claim.analyze(records, ctx.params)
    target = seeds_to_decide(analysis.checks, len(seeds), max_seeds, slack)
    note = f"seed budget: {len(seeds)} seeds, extended once (up to {max_seeds}) when that is predicted to decide"
    if target > len(seeds):
        extra = list(range(max(seeds) + 1, max(seeds) + 1 + target - len(seeds)))
        ctx_extra = dataclasses.replace(ctx, seeds=extra)
        items = [it for it in claim.items(ctx_extra) if hasattr(it, "seed")]     # seedless items ran already
        records = records + ctx.map(worker, items, label=f"{claim.id} (+{len(extra)} seeds)")
        seeds = seeds + extra
        analysis = claim.analyze(records, ctx.params)
        note += f"; extended to {len(seeds)} seeds"
    else:
        note += "; not extended"
    analysis = _with_budget_notes(analysis, len(seeds), max_seeds, note)
    return claim.evidence_of(dataclasses.replace(ctx, seeds=seeds), analysis)


def _with_budget_notes(analysis: Analysis, n: int, max_seeds: int, note: str) -> Analysis:
    open_ = undecided(analysis.checks)
    m = sum(c.role == "evidence" for c in analysis.checks)
    needs = sorted(r for r in (seeds_needed(c, m) for c in open_) if r is not None)
    if open_:
        if needs:
            note += (f"; {len(open_)} evidence checks undecided at {n} seeds: {len(needs)} of them would decide at "
                     f"about {needs[0]}-{needs[-1]} seeds (median {needs[len(needs) // 2]}) if their effects are as "
                     f"estimated")
        else:
            note += f"; {len(open_)} evidence checks undecided at {n} seeds (no seed count predicted to decide them)"
    return dataclasses.replace(analysis, notes=list(analysis.notes) + [note],
                               conditions={**analysis.conditions, "seed_budget": {"used": n, "max": max_seeds}})
