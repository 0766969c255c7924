"""Run claims from a validated configuration: cache, progress, a record per claim, results after every claim.

:func:`run_claims` takes a :class:`~ibnorm_verify.app.config.RunConfig` (validated once by
:func:`~ibnorm_verify.app.config.resolve`) or an already :class:`~ibnorm_verify.app.config.ResolvedRun`.
After *every* claim the results files are published (atomically, merged with a concurrent run's under
a lock: :mod:`ibnorm_verify.app.publish`), so an interrupted run keeps what it finished; the claim
cache then lets a re-run skip finished claims (keeping their original timing) and the item cache lets
a claim's sweep resume mid-way. At the end the figures are drawn and the report written once more
with them.
"""
from __future__ import annotations

import sys
import time
import traceback
from typing import Callable

from ..verification.cache import ClaimCache, ItemCache, claim_key
from ..verification.claims.base import Context
from ..verification.evidence import Evidence
from ..verification.executors import make_executor
from ..verification.verdict import check_not_measured
from .config import DEFAULT_SEEDS, SCALES, ConfigError, ResolvedClaim, ResolvedRun, RunConfig, resolve
from .publish import draw_figures, publish
from .records import environment, kernel_record, now_iso

__all__ = ["SCALES", "DEFAULT_SEEDS", "RunConfig", "ResolvedRun", "run_claims", "ProgressPrinter", "claim_record"]


class ProgressPrinter:
    """One line per update on stderr: ``[i/n] claim-id  42%  message  (elapsed)``; throttled."""

    def __init__(self, quiet: bool = False, stream=None, min_interval: float = 0.5):
        self.quiet, self.stream, self.min_interval = quiet, stream or sys.stderr, min_interval
        self.prefix, self.t0, self._last = "", time.perf_counter(), 0.0

    def start(self, i: int, n: int, claim_id: str) -> None:
        self.prefix, self.t0, self._last = f"[{i}/{n}] {claim_id}", time.perf_counter(), 0.0
        self._emit(f"{self.prefix}  started")

    def __call__(self, frac: float, msg: str) -> None:
        now = time.perf_counter()
        if now - self._last < self.min_interval and frac < 1.0:
            return
        self._last = now
        self._emit(f"{self.prefix}  {100 * max(0.0, min(1.0, frac)):3.0f}%  {msg}  ({now - self.t0:.1f}s)")

    def done(self, ev: Evidence) -> None:
        tag = " (from the cache)" if ev.cached else ""
        self._emit(f"{self.prefix}  -> {ev.verdict.value}{tag}  ({ev.runtime_s:.1f}s)")

    def _emit(self, line: str) -> None:
        if not self.quiet:
            print(line, file=self.stream, flush=True)


def _crash_evidence(claim, ctx: Context, exc: BaseException) -> Evidence:
    ev = claim.evidence(ctx, [check_not_measured("run", f"crashed: {type(exc).__name__}: {exc}")],
                        notes=["".join(traceback.format_exception(exc))[-4000:]])
    ev.status, ev.error = "crashed", f"{type(exc).__name__}: {exc}"
    return ev


def claim_record(rc: ResolvedClaim, run: ResolvedRun, started: str, runtime_s: float, run_started: str) -> dict:
    """The record of one claim run (see :mod:`ibnorm_verify.app.records`)."""
    return {"started": started, "runtime_s": runtime_s, "cached": False, "overrides": dict(rc.overrides),
            "kernel": kernel_record(run.device), "command": run.command, "run_started": run_started}


def _run_one(rc: ResolvedClaim, run: ResolvedRun, ctx: Context, cache: ClaimCache | None,
             run_started: str) -> tuple[Evidence, dict]:
    key = claim_key(rc.id, rc.params, list(run.seeds), run.scale, run.device)
    hit = cache.get(rc.id, key) if cache is not None else None
    if hit is not None:
        ev = hit.evidence
        ev.cached = True
        record = {**hit.record, "cached": True, "cache_key": key}
        return ev, record
    started, t0 = now_iso(), time.perf_counter()
    try:
        ev = rc.claim.run(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # recorded, the run goes on; the CLI exits non-zero
        ev = _crash_evidence(rc.claim, ctx, exc)
    ev.runtime_s = time.perf_counter() - t0
    record = claim_record(rc, run, started, ev.runtime_s, run_started)
    if cache is not None and ev.ok:
        cache.put(rc.id, key, ev, record)
    return ev, record


def run_claims(cfg: RunConfig | ResolvedRun,
               on_update: Callable[[list[Evidence], dict], None] | None = None) -> tuple[list[Evidence], dict]:
    """Run the selected claims; returns (this run's Evidence, the run's meta as written to results.json).

    Publishes the results files after every claim and, at the end, the report with the figures
    (``meta["figures"]``: the PNGs drawn; ``meta["figures_failed"]``: figure -> why it was not drawn).
    Raises :class:`~ibnorm_verify.app.config.ConfigError` for a bad configuration before anything runs.
    """
    run = cfg if isinstance(cfg, ResolvedRun) else resolve(cfg)
    out = run.out
    cache = ClaimCache(out / "cache") if run.use_cache else None
    items = ItemCache(out / "cache") if run.use_cache else None
    try:  # before the first claim: a cluster that cannot be used stops the run here
        executor = make_executor(run.executor)
    except (RuntimeError, OSError, ValueError) as e:
        raise ConfigError(f"--executor {run.executor}: {e}") from e
    run_started = now_iso()
    meta: dict = {"schema": "ibnorm-verify results", "command": run.command, "started": run_started,
                  "executor": executor.name, "config": run.record(), "environment": environment(), "claims": {}}
    printer = ProgressPrinter(run.quiet)
    results: list[Evidence] = []
    t_start = time.perf_counter()
    try:
        for i, rc in enumerate(run.claims, 1):
            ctx = Context(params=rc.params, seeds=list(run.seeds), scale=run.scale, device=run.device,
                          progress=printer, executor=executor, item_cache=items, claim_id=rc.id)
            printer.start(i, len(run.claims), rc.id)
            ev, record = _run_one(rc, run, ctx, cache, run_started)
            results.append(ev)
            meta["claims"][rc.id] = record
            printer.done(ev)
            meta["elapsed_s"] = time.perf_counter() - t_start
            publish(out, results, meta)
            if on_update:
                on_update(results, meta)
    finally:
        executor.close()
    meta["elapsed_s"] = time.perf_counter() - t_start
    if run.figures:
        if not run.quiet:
            print("drawing figures ...", file=sys.stderr, flush=True)
        merged, _ = publish(out, results, meta)          # the figures show every claim in the directory
        figures = draw_figures(merged, out / "figures")
        meta["figures"] = [str(f.png) for f in figures.refs]
        meta["figures_failed"] = dict(figures.failed)
        publish(out, results, meta, figures)
    else:
        meta["figures"], meta["figures_failed"] = [], {}
        publish(out, results, meta)
    return results, meta
