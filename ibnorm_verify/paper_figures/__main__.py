"""``python -m ibnorm_verify.paper_figures --all [--dry-run] [--results DIR] --out DIR`` (or ``--figures NAME ...``).

Runs the claims the figures need (``--dry-run``: at the tiny smoke-test scale) or reads a cached
``results.json``, makes each figure as PNG and PDF under ``--out``, and lists what could not be made
and why. Exit status 0 when every requested figure was made (with ``--all``: at least ``--min``,
default 8), 1 otherwise, 2 for bad arguments.
"""
from __future__ import annotations

import sys
from typing import Sequence

from . import FIGURES, claims_for, make_all
from .base import build_parser, resolve_evidence


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser("python -m ibnorm_verify.paper_figures", __doc__.split("\n\n")[0])
    sel = p.add_mutually_exclusive_group(required=True)
    sel.add_argument("--all", action="store_true", help="every figure")
    sel.add_argument("--figures", nargs="+", metavar="NAME", choices=FIGURES, help=f"some of: {', '.join(FIGURES)}")
    sel.add_argument("--list", action="store_true", help="list the figures and the claims they read")
    p.add_argument("--min", type=int, default=8, help="with --all: the fewest figures that count as success (8)")
    args = p.parse_args(argv)
    if args.list:
        from . import figure_module

        for n in FIGURES:
            m = figure_module(n)
            print(f"{n:22s} {', '.join(m.CLAIMS):60s} {m.CAPTION.split('.')[0]}")
        return 0
    names = list(FIGURES) if args.all else list(args.figures)
    evidence = resolve_evidence(args, claims_for(names))
    run = make_all(evidence, args.out, names)
    print(run.summary())
    needed = min(args.min, len(names)) if args.all else len(names)
    return 0 if len(run.made) >= needed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
