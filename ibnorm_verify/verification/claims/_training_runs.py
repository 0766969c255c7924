"""What the three learned-model claims share: checkpoint paths, thinned curves, plateau diagnostics, seeds.

Used by :mod:`.cap_training_statistics`, :mod:`.cap_local_generalization_bound` and
:mod:`.ib_empirical_performance`; every one of them trains through the one training loop,
:func:`ibnorm_verify.verification.training.trainer.train`.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..runtime import derive_seed
from ..verdict import check_precondition

__all__ = ["checkpoint_path", "thin_index", "plateau_drop", "plateau_check", "run_seeds", "run_extending_seeds",
           "PLATEAU_WINDOW"]

#: the plateau diagnostic compares the mean training loss of the last and the previous windows of this
#: fraction of the steps
PLATEAU_WINDOW = 0.1


def checkpoint_path(checkpoint_dir: str, item: Any) -> str | None:
    """Per-run checkpoint file under ``checkpoint_dir`` (None when empty), named by a hash of the sweep
    item: an interrupted long run (full scale) resumes from its last checkpoint, on top of the per-item
    result cache of ``ctx.map``."""
    if not checkpoint_dir:
        return None
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    key = repr(sorted(asdict(item).items())) if is_dataclass(item) and not isinstance(item, type) else repr(item)
    return str(Path(checkpoint_dir) / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".pt"))


def thin_index(n: int, k: int) -> list[int]:
    """At most ``k`` evenly spaced indices into a sequence of length ``n`` (first and last kept)."""
    if n <= k:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def run_seeds(seed: int, *tags: Any) -> dict[str, int]:
    """The derived seeds of one run (:func:`ibnorm_verify.verification.runtime.derive_seed`): the data
    draw, the initialization and the minibatch order, each from the replicate ``seed`` and ``tags``."""
    return {k: derive_seed(seed, k, *tags) % (2 ** 62) for k in ("data", "init", "batches")}


def plateau_drop(train_loss: Sequence[float], window: float = PLATEAU_WINDOW) -> float:
    """The share of the training run's total loss decrease that happened in its last window (``window``
    of the steps): (mean of the previous window - mean of the last) / (mean of the first - mean of the
    last). About 0 on a plateau, about ``window`` for a loss still falling at a constant rate. Scale-free,
    so a training loss that keeps halving towards 0 on a plateau of the accuracy still reads as flat."""
    v = np.asarray(train_loss, dtype=float)
    w = max(1, int(round(window * v.size)))
    if v.size < 3 * w:
        return math.nan
    first, prev, last = float(v[:w].mean()), float(v[-2 * w:-w].mean()), float(v[-w:].mean())
    total = first - last
    return (prev - last) / total if total > 0 else math.nan


def plateau_check(name: str, drops: Sequence[float], tol: float, *, cell: dict | None = None):
    """Precondition: every run's training loss has reached a plateau (:func:`plateau_drop` below ``tol``),
    so the verdict is not decided by under-training."""
    d = [float(x) for x in drops]
    worst = max(d) if d and all(math.isfinite(x) for x in d) else math.nan
    ok = math.isfinite(worst) and worst < tol
    why = (f"training loss on a plateau in every run (at most {worst:.3g} < {tol:g} of its total decrease in the "
           f"last {PLATEAU_WINDOW:.0%} of steps)" if ok else
           f"not trained to a plateau: some run's training loss made {worst:.3g} (>= {tol:g}) of its total "
           f"decrease in the last {PLATEAU_WINDOW:.0%} of steps; train longer (more steps)")
    return check_precondition(name, ok, why, {"relative_drops": d, "tolerance": tol}, cell=cell)


def run_extending_seeds(claim, ctx, max_seeds: int):
    """``items -> map -> analyze`` at the runner's seeds, then, if some evidence check is undecided and
    ``max_seeds`` allows, once more with the seeds extended to ``max_seeds`` (the claim's stated seed
    budget; only the new seeds' runs are computed). Returns ``(context with the seeds used, analysis)``.

    For checks decided by exact order-statistic / sign tests (no standard error to extrapolate), where
    :func:`._extend.seeds_to_decide` cannot predict a seed count: a sign test needs a minimum number of
    seeds whatever the effect, so the sample goes straight to the budget."""
    records = ctx.map(type(claim).worker, claim.items(ctx), label=claim.id)
    analysis = claim.analyze(records, ctx.params)
    undecided = [c for c in analysis.checks if c.role == "evidence" and c.verdict.value == "inconclusive"]
    seeds = list(ctx.seeds)
    if undecided and len(seeds) < max_seeds:
        extra = list(range(max(seeds, default=-1) + 1, max(seeds, default=-1) + 1 + max_seeds - len(seeds)))
        ctx2 = replace(ctx, seeds=extra)
        records = records + ctx.map(type(claim).worker, claim.items(ctx2), label=f"{claim.id} (+{len(extra)} seeds)")
        ctx = replace(ctx, seeds=seeds + extra)
        analysis = claim.analyze(records, ctx.params)
        analysis.notes.append(f"{len(undecided)} evidence check(s) were undecided at {len(seeds)} seeds; the sample "
                              f"was extended to the claim's seed budget of {max_seeds} seeds.")
    return ctx, analysis
