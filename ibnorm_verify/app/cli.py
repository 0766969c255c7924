"""``ibnorm-verify``: list, run and report the claims of arXiv 2510.25262 and 2511.00958.

    ibnorm-verify --list
    ibnorm-verify [--claims ID ...] [--scale quick|full] [--param KEY=VALUE ...] [--seeds N]
                  [--device cpu|cuda] [--out DIR] [--executor serial|process[=N]|dask[=ADDRESS]] [--no-cache]
                  [--no-figures]

Writes DIR/results.json, DIR/report.md, a self-contained DIR/report.html and the figures in DIR/figures.

Exit status: 0 when every selected claim ran (whatever its verdict), 1 when a claim crashed,
2 for bad arguments (unknown claim id, bad --param, ...).
"""
from __future__ import annotations

import argparse
import sys

from ..verification.claims import REGISTRY


def _parse_params(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ibnorm-verify", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the claims (id, paper, provenance, title) and exit")
    p.add_argument("--claims", nargs="+", metavar="ID", default=[], help="claim ids to run (default: all)")
    p.add_argument("--scale", choices=("quick", "full", "tiny"), default="quick",
                   help="experiment size: quick (default, CPU minutes), full (GPU), tiny (smoke test, not evidence)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a claim parameter (validated against the claims' declared parameters)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: 3 quick, 5 full)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--out", default="results", help="output directory (default ./results)")
    p.add_argument("--executor", default="serial",
                   help="serial (default), process[=N], dask (a local cluster) or dask=ADDRESS "
                        "(e.g. dask=tcp://host:8786)")
    p.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    p.add_argument("--no-figures", action="store_true", help="skip drawing the figures at the end")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for claim in REGISTRY.values():
            print(f"{claim.id:42s} {claim.paper:11s} {claim.provenance:14s} {claim.title}")
        return 0
    from .runner import RunConfig, run_claims

    try:
        cfg = RunConfig(claims=args.claims, scale=args.scale, params=_parse_params(args.param), seeds=args.seeds,
                        device=args.device, out=args.out, executor=args.executor, use_cache=not args.no_cache,
                        quiet=args.quiet, figures=not args.no_figures)
        cfg.validate()
    except ValueError as e:
        print(f"ibnorm-verify: error: {e}", file=sys.stderr)
        return 2
    try:
        results, meta = run_claims(cfg)
    except KeyboardInterrupt:
        print("ibnorm-verify: interrupted; finished claims are in results.json", file=sys.stderr)
        return 130
    width = max(len(ev.claim_id) for ev in results)
    for ev in results:
        print(f"{ev.claim_id:{width}s}  {ev.verdict.value:12s}  {ev.reason[:150]}")
    n_fig = len(meta.get("figures", []))
    print(f"wrote results.json, report.md, report.html and {n_fig} figures in {cfg.out} ({meta['elapsed_s']:.0f} s)")
    for name, why in meta.get("figures_failed", {}).items():
        print(f"  figure {name} not drawn: {why}")
    return 1 if any(not ev.ok for ev in results) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
