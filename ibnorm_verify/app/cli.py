"""``ibnorm-verify``: run, explain and report the claims of arXiv 2510.25262 and 2511.00958.

    ibnorm-verify [--claims ID ...] [--scale tiny|quick|medium|full] [--param [ID:]KEY=VALUE ...]
                  [--seeds N] [--device cpu|cuda] [--out DIR] [--executor serial|process[=N]|dask[=ADDRESS]]
                  [--no-cache] [--no-figures] [--quiet]
    ibnorm-verify --rerun DIR/results.json [--out DIR2]      repeat a run from its record
    ibnorm-verify claims list | claims show ID               what each claim states and its parameters
    ibnorm-verify figures --results DIR [--out DIR2] [--only NAME ...] | figures --dry-run --out DIR
    ibnorm-verify --version | --list | --describe ID

(also ``python -m ibnorm_verify ...``). Exit status: 0 when every selected claim ran (whatever its
verdict), 1 when a claim crashed (or a figure could not be drawn, for ``figures``), 2 for a bad
argument (refused before anything runs), 130 when interrupted (Ctrl-C; a second Ctrl-C exits at once).
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import textwrap
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Sequence

import ibnorm

from .. import paper_figures as pf
from ..verification.claims import CLAIM_IDS, REGISTRY
from ..verification.claims.base import PAPERS, SCALES, Claim
from .config import DEFAULT_SEEDS, OUTPUT_FILES, ConfigError, RunConfig, parse_param_items, resolve
from .publish import draw_figures
from .records import ResultsFileError, config_from_record, load_results, package_version, read_payload
from .runner import run_claims

__all__ = ["main", "build_parser", "describe_claim"]

PROG = "ibnorm-verify"

_EXAMPLES = """\
examples:
  ibnorm-verify                                    every claim at the quick scale into ./results
  ibnorm-verify --scale tiny --out /tmp/smoke      a smoke test in seconds (numbers are not evidence)
  ibnorm-verify --claims cap.normalization-exponential-reduction --param gain=0.5
                                                   one claim in its converse regime
  ibnorm-verify --param cap.loss-smoothness:K=1,2,4  an override for one claim only
  ibnorm-verify claims show ib.higher-ib-value     statement, provenance, parameters per scale, domains
  ibnorm-verify --executor process=2 --scale medium
  ibnorm-verify --rerun results/results.json       repeat a run from its record, compare the numbers
  ibnorm-verify figures --results results --out results/figures
  ibnorm-verify figures --dry-run --out /tmp/figs  run every claim at the tiny scale and draw every figure
"""


def _outputs_text() -> str:
    width = max(len(k) for k in OUTPUT_FILES)
    return "output files (in --out DIR):\n" + "\n".join(f"  {k:{width}s}  {v}" for k, v in OUTPUT_FILES.items())


def build_parser() -> argparse.ArgumentParser:
    """The parser of a run (the ``claims`` and ``figures`` commands have their own)."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=_EXAMPLES + "\n" + _outputs_text() + "\n\nsee also: ibnorm-verify claims --help, "
                                       "ibnorm-verify figures --help")
    p.add_argument("--version", action="version",
                   version=f"ibnorm-verify {package_version('ibnorm-verify')} (ibnorm {ibnorm.__version__}, "
                           f"python {sys.version.split()[0]})")
    p.add_argument("--list", action="store_true", help="list the claims (id, paper, provenance, title) and exit")
    p.add_argument("--describe", metavar="ID", help="describe one claim and its parameters and exit "
                                                    "(= ibnorm-verify claims show ID)")
    p.add_argument("--claims", nargs="+", metavar="ID", default=[], help="claim ids to run (default: all 12)")
    p.add_argument("--scale", choices=SCALES, default=None,
                   help="experiment size: tiny (smoke test, seconds; not evidence), quick (default, CPU minutes), "
                        "medium (about 25 min on 2 CPU cores with --executor process=2), full (a GPU)")
    p.add_argument("--param", action="append", default=[], metavar="[ID:]KEY=VALUE",
                   help="override a claim parameter (all selected claims that have KEY, or claim ID only); "
                        "refused before anything runs when outside the parameter's domain "
                        "(see `ibnorm-verify claims show ID`); lists are written a,b,c")
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds (default: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_SEEDS.items()) + ")")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="cpu (default) or cuda")
    p.add_argument("--out", default=None, help="output directory (default ./results)")
    p.add_argument("--executor", default=None,
                   help="serial (default), process[=N] (local processes), dask (a local cluster) or dask=ADDRESS "
                        "(an existing cluster, e.g. dask=tcp://host:8786)")
    p.add_argument("--rerun", metavar="RESULTS_JSON",
                   help="repeat the run recorded in a results.json (its claims, scale, seeds, parameters, "
                        "device, executor) into --out (default: DIR-rerun beside the record), without the cache "
                        "unless --use-cache, and compare verdicts and numbers with the record")
    p.add_argument("--use-cache", action="store_true", help="with --rerun: let the re-run use the claim cache")
    p.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    p.add_argument("--no-figures", action="store_true", help="skip drawing the figures at the end")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _claims_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{PROG} claims", description="What each claim states, and its parameters.")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="one line per claim: id, paper, provenance, title")
    show = sub.add_parser("show", help="statement, provenance, conditions, regime axes, every parameter with "
                                       "its default per scale, domain and help")
    show.add_argument("ids", nargs="+", metavar="ID", help="claim ids, or 'all'")
    return p


def _figures_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} figures", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw the figures of a finished run (each a pure function of the claims' Evidence).",
        epilog="examples:\n  ibnorm-verify figures --results results --out results/figures\n"
               "  ibnorm-verify figures --results results --only reduction_k phase_diagram --out figs\n"
               "  ibnorm-verify figures --dry-run --out /tmp/figs   (claims at the tiny scale; not evidence)\n"
               "  ibnorm-verify figures --list")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--results", metavar="DIR", help="a run's directory (or its results.json)")
    src.add_argument("--dry-run", action="store_true",
                     help="run the claims the figures need at --scale (default tiny) into OUT/_results first")
    src.add_argument("--list", action="store_true", help="list the figures, the claims and series they read")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=pf.FIGURES, help="some of: " + ", ".join(pf.FIGURES))
    p.add_argument("--out", metavar="DIR", default=None, help="where to write the figures (default RESULTS/figures)")
    p.add_argument("--scale", choices=SCALES, default="tiny", help="with --dry-run: the scale (default tiny)")
    p.add_argument("--executor", default="serial", help="with --dry-run: serial, process[=N], dask[=ADDRESS]")
    p.add_argument("--min", type=int, default=None,
                   help="the fewest figures that count as success (default: every requested figure)")
    p.add_argument("--quiet", action="store_true")
    return p


# ---------------------------------------------------------------------------- claims show
def _fmt_default(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt_default(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def describe_claim(claim: Claim, width: int = 100) -> str:
    """What ``ibnorm-verify claims show ID`` prints."""
    wrap = textwrap.TextWrapper(width=width, initial_indent="  ", subsequent_indent="  ")
    lines = [f"{claim.id}: {claim.title}", "",
             "statement:", wrap.fill(claim.statement), "",
             f"paper:       {claim.paper} ({PAPERS.get(claim.paper, '?')})",
             f"provenance:  {claim.provenance} (paper: the paper's words; reviews: the public reviews' "
             "paraphrase; reconstructed: our reconstruction)"]
    if claim.conditions:
        lines.append("conditions:  " + "; ".join(f"{k}={_fmt_default(v)}" for k, v in claim.conditions.items()))
    axes = getattr(claim, "axes", ())
    if axes:
        lines.append(f"regime axes: {' x '.join(axes)}")
    if getattr(claim, "condition", ""):
        lines.append(f"holds when:  {claim.condition}")
    if getattr(claim, "primary_part", ""):
        lines.append(f"headline:    the '{claim.primary_part}' checks")
    series = getattr(claim, "series", ())
    if series:
        lines.append("series:      " + "; ".join(f"{s.name}({', '.join(s.dims)})" for s in series))
    lines += ["", f"parameters (--param KEY=VALUE, or --param {claim.id}:KEY=VALUE; default per scale):"]
    if not claim.params:
        lines.append("  (none)")
    rows = [("name", *SCALES, "domain")] + [(p.name, *(_fmt_default(p.default(s)) for s in SCALES), p.domain())
                                           for p in claim.params]
    widths = [min(max(len(r[i]) for r in rows), 28) for i in range(len(rows[0]))]
    helps = {p.name: p.help for p in claim.params}
    for j, r in enumerate(rows):
        last = len(r) - 1   # the domain is never shortened
        cells = [(c if len(c) <= widths[i] or i == last else c[: widths[i] - 1] + "…").ljust(widths[i] if i < last else 0)
                 for i, c in enumerate(r)]
        lines.append("  " + "  ".join(cells).rstrip())
        if j and helps.get(r[0]):
            lines.append(textwrap.fill(helps[r[0]], width=width, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def _claims_command(argv: Sequence[str]) -> int:
    args = _claims_parser().parse_args(argv)
    if args.action == "list":
        _print_list()
        return 0
    ids = list(CLAIM_IDS) if args.ids == ["all"] else args.ids
    unknown = [i for i in ids if i not in REGISTRY]
    if unknown:
        print(f"{PROG} claims show: unknown claim id {unknown[0]!r}; known: {', '.join(CLAIM_IDS)}", file=sys.stderr)
        return 2
    print("\n\n".join(describe_claim(REGISTRY[i]) for i in ids))
    return 0


def _print_list() -> None:
    for claim in REGISTRY.values():
        print(f"{claim.id:42s} {claim.paper:11s} {claim.provenance:14s} {claim.title}")


# ---------------------------------------------------------------------------- figures
def _figures_command(argv: Sequence[str]) -> int:
    p = _figures_parser()
    args = p.parse_args(argv)
    if args.list:
        for n in pf.FIGURES:
            mod = pf.figure_module(n)
            r = pf.reads(n)
            what = "; ".join(f"{c}: {', '.join(s) or '(validation rows)'}" for c, s in r.items()) if r is not None \
                else ", ".join(mod.CLAIMS) + " (READS not declared)"
            print(f"{n:22s} {what}")
        return 0
    if not args.results and not args.dry_run:
        p.error("give --results DIR (a finished run) or --dry-run")
    names = list(args.only or pf.FIGURES)
    if args.dry_run:
        if not args.out:
            p.error("--dry-run needs --out DIR")
        cfg = RunConfig(claims=pf.claims_for(names), scale=args.scale, out=Path(args.out) / "_results",
                        executor=args.executor, quiet=args.quiet, figures=False,
                        command=" ".join([PROG, "figures", *argv]))
        try:
            evidence, _ = run_claims(resolve(cfg))
        except ConfigError as e:
            print(f"{PROG} figures: error: {e}", file=sys.stderr)
            return 2
    else:
        try:
            evidence, _ = load_results(args.results)
        except (FileNotFoundError, ResultsFileError) as e:
            print(f"{PROG} figures: error: {e}", file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else Path(args.results) / "figures" if Path(args.results).is_dir() \
        else Path(args.results).parent / "figures"
    wanted = [n for n in names if n in pf.figures_for(ev.claim_id for ev in evidence)]
    skipped = [n for n in names if n not in wanted]
    figures = draw_figures(evidence, out, wanted) if wanted else None
    made = [] if figures is None else [f for f in figures.refs if f.name in wanted]
    print(f"made {len(made)} of {len(wanted)} figures in {out}")
    for f in made:
        print(f"  ok       {f.name}: {f.png}")
    for n, why in ({} if figures is None else figures.failed).items():
        if n in wanted:
            print(f"  MISSING  {n}: {why}")
    for n in skipped:
        print(f"  skipped  {n}: none of its claims ({', '.join(pf.figure_module(n).CLAIMS)}) is in the results")
    needed = len(wanted) if args.min is None else min(args.min, len(wanted))
    return 0 if len(made) >= needed and (wanted or not names) else 1


# ---------------------------------------------------------------------------- a run
def _interrupts() -> Callable[[int, FrameType | None], Any] | int | signal.Handlers | None:
    """Ctrl-C once: KeyboardInterrupt (the run stops cleanly; finished claims are in results.json).
    Ctrl-C twice: exit 130 at once (local process workers die with us). Returns the old handler."""
    presses = [0]

    def handler(signum, frame):
        presses[0] += 1
        if presses[0] == 1:
            raise KeyboardInterrupt
        sys.stderr.write(f"\n{PROG}: interrupted twice; exiting now (finished claims are in results.json)\n")
        sys.stderr.flush()
        os._exit(130)

    return signal.signal(signal.SIGINT, handler)


def _rerun_config(args, argv: Sequence[str]) -> RunConfig:
    record = Path(args.rerun)
    try:
        data = read_payload(record)
    except FileNotFoundError as e:
        raise ConfigError(f"--rerun: {e}") from None
    except ResultsFileError as e:
        raise ConfigError(f"--rerun: {e}") from None
    src_dir = record if record.is_dir() else record.parent
    changes = {"out": args.out if args.out is not None else str(src_dir.with_name(src_dir.name + "-rerun")),
               "use_cache": args.use_cache, "quiet": args.quiet, "figures": not args.no_figures,
               "command": " ".join([PROG, *argv])}
    if args.executor:
        changes["executor"] = args.executor
    if args.claims or args.param or args.scale or args.seeds or args.device:
        raise ConfigError("--rerun takes the claims, scale, parameters, seeds and device from the record; "
                          "give only --out, --executor, --use-cache, --no-figures or --quiet with it")
    return config_from_record(data.get("meta") or {}, **changes)


def estimate_differences(new: Sequence[Any], old: Sequence[Any]) -> list[float]:
    """Relative differences of the checks' estimates that differ between a re-run and its record (matched
    by check name). Two NaN estimates (an open bracket, measured the same way twice) are the same number;
    a NaN against a number differs by inf."""
    by_name = {c.name: c for c in old}
    diffs = []
    for c in new:
        oc = by_name.get(c.name)
        if oc is None or c.estimate is None or oc.estimate is None:
            continue
        a, b = float(c.estimate), float(oc.estimate)
        if a == b or (math.isnan(a) and math.isnan(b)):
            continue
        diffs.append(abs(a - b) / max(abs(b), 1e-300) if math.isfinite(a - b) else math.inf)
    return diffs


def _compare(evidence, record_path: str) -> list[str]:
    """Verdicts and check estimates of a re-run against its record."""
    old, _ = load_results(record_path)
    old_by = {e.claim_id: e for e in old}
    lines, same = [], 0
    for ev in evidence:
        o = old_by.get(ev.claim_id)
        if o is None:
            continue
        diffs = estimate_differences(ev.checks, o.checks)
        verdict_same = ev.verdict is o.verdict
        same += verdict_same and not diffs
        tag = "identical" if verdict_same and not diffs else (
            f"verdict {o.verdict.value} -> {ev.verdict.value}" if not verdict_same else
            f"same verdict; {len(diffs)} estimates differ (max relative difference {max(diffs):.2g})")
        lines.append(f"  {ev.claim_id:42s} {tag}")
    return [f"re-run against the record: {same} of {len(lines)} claims identical (verdicts and every estimate)"] + lines


def _run_command(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        _print_list()
        return 0
    if args.describe:
        return _claims_command(["show", args.describe])
    try:
        if args.rerun:
            cfg = _rerun_config(args, argv)
        else:
            common, scoped = parse_param_items(args.param)
            cfg = RunConfig(claims=args.claims, scale=args.scale or "quick", params=common, claim_params=scoped,
                            seeds=args.seeds, device=args.device or "cpu",
                            out=args.out if args.out is not None else "results",
                            executor=args.executor or "serial", use_cache=not args.no_cache, quiet=args.quiet,
                            figures=not args.no_figures, command=" ".join([PROG, *argv]))
        run = resolve(cfg)
    except ConfigError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    try:
        results, meta = run_claims(run)
    except ConfigError as e:  # the executor could not be started (found before the first claim)
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    width = max(len(ev.claim_id) for ev in results)
    for ev in results:
        tag = " (from the cache)" if ev.cached else ""
        print(f"{ev.claim_id:{width}s}  {ev.verdict.value:12s}{tag}  {ev.reason[:150]}")
    n_fig = len(meta.get("figures", []))
    print(f"wrote results.json, results.csv, report.md, report.html and {n_fig} figures in {run.out} "
          f"({meta['elapsed_s']:.0f} s)")
    for name, why in meta.get("figures_failed", {}).items():
        print(f"  figure {name} not drawn: {why[:300]}")
    if args.rerun:
        print("\n".join(_compare(results, args.rerun)))
    return 1 if any(not ev.ok for ev in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    old = _interrupts() if _is_main_thread() else None
    try:
        if argv[:1] == ["claims"]:
            return _claims_command(argv[1:])
        if argv[:1] == ["figures"]:
            return _figures_command(argv[1:])
        return _run_command(argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished claims are in results.json", file=sys.stderr)
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
