"""Run claims: resolve scale/params/seeds/device, use the cache, show progress, write results atomically.

After *every* claim the current ``results.json`` and ``report.md`` are rewritten (atomically), so an
interrupted run keeps what it finished; the claim cache then lets a re-run skip finished claims and the
item cache lets a claim's sweep resume mid-way.
"""
from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..verification.cache import ClaimCache, ItemCache, claim_key, code_version
from ..verification.claims import REGISTRY, get_claim
from ..verification.claims.base import Context
from ..verification.evidence import Evidence
from ..verification.executors import make_executor
from ..verification.verdict import check_not_measured

__all__ = ["SCALES", "DEFAULT_SEEDS", "RunConfig", "run_claims", "ProgressPrinter"]

SCALES = ("tiny", "quick", "full")   # tiny: smoke tests / dry-runs only (not evidence)
DEFAULT_SEEDS = {"tiny": 2, "quick": 3, "full": 5}


@dataclass
class RunConfig:
    claims: Sequence[str] = ()
    scale: str = "quick"
    params: dict = field(default_factory=dict)   # "KEY=VALUE" overrides, applied to every selected claim
    seeds: int | None = None
    device: str = "cpu"
    out: str | os.PathLike = "results"
    executor: str = "serial"
    use_cache: bool = True
    quiet: bool = False
    figures: bool = True          # draw the figures into DIR/figures at the end (report.md/.html embed them)

    def validate(self) -> list[str]:
        from ..verification.executors import parse_executor_spec

        parse_executor_spec(self.executor)
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        ids = list(self.claims) or list(REGISTRY)
        for cid in ids:
            get_claim(cid)
        if self.seeds is not None and self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("--device cuda requested but no CUDA device is available")
        # every override must be a parameter of at least one selected claim; each claim validates its own
        for key in self.params:
            if not any(key in get_claim(cid).param_spec() for cid in ids):
                known = sorted({p for cid in ids for p in get_claim(cid).param_spec()})
                raise ValueError(f"--param {key}: no selected claim has this parameter; known: {', '.join(known)}")
        for cid in ids:
            claim = get_claim(cid)
            claim.resolve_params(self.scale, {k: v for k, v in self.params.items() if k in claim.param_spec()})
        return ids


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
        tag = " (cached)" if ev.cached else ""
        self._emit(f"{self.prefix}  -> {ev.verdict.value}{tag}  ({ev.runtime_s:.1f}s)")

    def _emit(self, line: str) -> None:
        if not self.quiet:
            print(line, file=self.stream, flush=True)


def _crash_evidence(claim, ctx: Context, exc: BaseException) -> Evidence:
    ev = claim.evidence(ctx, [check_not_measured("run", f"crashed: {type(exc).__name__}: {exc}")],
                        notes=["".join(traceback.format_exception(exc))[-4000:]])
    ev.status, ev.error = "crashed", f"{type(exc).__name__}: {exc}"
    return ev


def run_meta(cfg: RunConfig, executor_name: str) -> dict:
    import torch

    return {
        "command": "ibnorm-verify " + " ".join(sys.argv[1:]) if sys.argv and "ibnorm" in sys.argv[0] else None,
        "scale": cfg.scale, "device": cfg.device, "executor": executor_name, "code_version": code_version(),
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def run_claims(cfg: RunConfig, on_update: Callable[[list[Evidence], dict], None] | None = None) -> tuple[list[Evidence], dict]:
    """Run the selected claims; returns (evidence list, run metadata).

    Writes DIR/results.json, report.md and report.html after every claim (no figures: cheap), and at the
    end the full report with the figures in DIR/figures (``meta["figures_failed"]`` names any that could
    not be drawn, and why).
    """
    from .report import write_outputs, write_report

    ids = cfg.validate()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n_seeds = cfg.seeds if cfg.seeds is not None else DEFAULT_SEEDS[cfg.scale]
    seeds = list(range(n_seeds))
    cache = ClaimCache(out / "cache") if cfg.use_cache else None
    items = ItemCache(out / "cache") if cfg.use_cache else None
    executor = make_executor(cfg.executor)
    meta = run_meta(cfg, executor.name)
    printer = ProgressPrinter(cfg.quiet)
    results: list[Evidence] = []
    t_start = time.perf_counter()
    try:
        for i, cid in enumerate(ids, 1):
            claim = get_claim(cid)
            params = claim.resolve_params(cfg.scale, {k: v for k, v in cfg.params.items() if k in claim.param_spec()})
            key = claim_key(cid, params, seeds, cfg.scale, cfg.device)
            ctx = Context(params=params, seeds=seeds, scale=cfg.scale, device=cfg.device, progress=printer,
                          executor=executor, item_cache=items, claim_id=cid)
            printer.start(i, len(ids), cid)
            ev = cache.get(cid, key) if cache is not None else None
            if ev is not None:
                ev.cached = True
            else:
                t0 = time.perf_counter()
                try:
                    ev = claim.run(ctx)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # recorded, the run goes on; the CLI exits non-zero
                    ev = _crash_evidence(claim, ctx, exc)
                ev.runtime_s = time.perf_counter() - t0
                if cache is not None and ev.ok:
                    cache.put(cid, key, ev)
            results.append(ev)
            printer.done(ev)
            meta["elapsed_s"] = time.perf_counter() - t_start
            write_outputs(out, results, meta)
            if on_update:
                on_update(results, meta)
    finally:
        executor.close()
    meta["elapsed_s"] = time.perf_counter() - t_start
    if cfg.figures and not cfg.quiet:
        print("drawing figures ...", file=sys.stderr, flush=True)
    files = write_report(out, results, meta, figures=cfg.figures)
    meta["figures"] = [str(p) for p in files["figures"]]
    meta["figures_failed"] = files["figures_failed"]
    return results, meta
