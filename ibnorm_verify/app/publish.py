"""Publish a run: ``results.json``, ``results.csv``, ``report.md``, ``report.html`` and the figures.

Every file is written atomically (:mod:`ibnorm_verify.verification.io`: temporary file, fsync,
rename; mode ``0666 & ~umask``). The runner calls :func:`publish` after every claim, so an
interrupted run keeps every finished claim, and once more at the end with the figures.

Two runs into one output directory take turns under a file lock (``.results.lock``): each reads the
``results.json`` there, keeps the claims it did not run itself when they were made with the same
scale, seeds, device and code version (:func:`~ibnorm_verify.app.records.mergeable`), and writes the
union. So two concurrent runs of different ``--claims`` end with both runs' claims, whoever finishes
last; a run at another scale (or after a code change) replaces the file instead.

Figures are drawn by :func:`draw_figures` from the same Evidence through the pure ``make`` functions
of :mod:`ibnorm_verify.paper_figures`, into a private temporary directory first and then moved into
``figures/`` file by file (a concurrent run never sees a half-written PNG).
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from .. import paper_figures as pf
from ..verification.evidence import SCHEMA_VERSION, Evidence, to_jsonable
from ..verification.io import atomic_write_text, file_mode, locked
from .records import ResultsFileError, load_results, merge_evidence, mergeable
from .report import FigureRef, FigureSet, render_html, render_markdown

__all__ = ["publish", "draw_figures", "checks_csv", "results_payload", "LOCK_NAME", "CSV_COLUMNS"]

LOCK_NAME = ".results.lock"
CSV_COLUMNS = ["claim", "claim_verdict", "check", "kind", "role", "part", "cell", "estimate", "ci_low", "ci_high",
               "predicted", "verdict", "p_support", "p_refute", "p_refute_holm", "mde", "replicates", "unit", "reason"]


def results_payload(evidence: Sequence[Evidence], meta: Mapping) -> dict:
    return {"schema_version": SCHEMA_VERSION, "meta": to_jsonable(dict(meta)),
            "claims": [ev.to_dict() for ev in evidence]}


def checks_csv(evidence: Sequence[Evidence]) -> str:
    """One row per check of every claim (``CSV_COLUMNS``); the regime cell as ``axis=value; ...``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def num(x):
        return "" if x is None else repr(float(x))

    for ev in evidence:
        for c in ev.checks:
            lo, hi = (None, None) if c.ci is None else c.ci
            w.writerow([ev.claim_id, ev.verdict.value, c.name, c.kind, c.role, c.part,
                        "; ".join(f"{k}={v}" for k, v in c.cell.items()), num(c.estimate), num(lo), num(hi),
                        c.predicted, c.verdict.value, num(c.p_support), num(c.p_refute), num(c.p_refute_holm),
                        num(c.mde), "" if c.replicates is None else c.replicates, c.unit, c.reason])
    return buf.getvalue()


def _merge_with_existing(out: Path, evidence: Sequence[Evidence], meta: dict) -> tuple[list[Evidence], dict]:
    try:
        existing, old_meta = load_results(out)
    except (FileNotFoundError, ResultsFileError):
        return list(evidence), meta
    if not mergeable(old_meta, meta):
        return list(evidence), meta
    ours = {ev.claim_id for ev in evidence}
    merged = merge_evidence(existing, evidence)
    records = {cid: rec for cid, rec in (old_meta.get("claims") or {}).items() if cid not in ours}
    if records:
        meta = dict(meta)
        meta["claims"] = {**records, **(meta.get("claims") or {})}
        meta["claims"] = {ev.claim_id: meta["claims"][ev.claim_id] for ev in merged if ev.claim_id in meta["claims"]}
        meta["merged_from"] = sorted({str(rec.get("run_started")) for rec in records.values()})
    return merged, meta


def publish(out: str | os.PathLike, evidence: Sequence[Evidence], meta: Mapping,
            figures: FigureSet | None = None) -> tuple[list[Evidence], dict]:
    """Write the four result files (merged with the directory's results.json when compatible).

    Returns the Evidence and meta actually written (after the merge)."""
    out = Path(out)
    with locked(out / LOCK_NAME):
        merged, meta2 = _merge_with_existing(out, evidence, dict(meta))
        atomic_write_text(out / "results.json", json.dumps(results_payload(merged, meta2), indent=1))
        atomic_write_text(out / "results.csv", checks_csv(merged))
        atomic_write_text(out / "report.md", render_markdown(merged, meta2, figures, figure_base=out))
        atomic_write_text(out / "report.html", render_html(merged, meta2, figures))
    return merged, meta2


def draw_figures(evidence: Sequence[Evidence], fig_dir: str | os.PathLike,
                 names: Sequence[str] | None = None) -> FigureSet:
    """Draw every figure whose claims are in ``evidence`` (or those of ``names`` among them; figures of
    claims not run are skipped; a figure whose claims ran but whose data is unusable is listed in
    ``failed`` with the reason)."""
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawable = pf.figures_for(ev.claim_id for ev in evidence)
    names = drawable if names is None else [n for n in names if n in drawable]
    tmp = Path(tempfile.mkdtemp(prefix=".drawing-", dir=fig_dir))
    try:
        run = pf.make_all(evidence, tmp, names)
        figs = FigureSet(failed=dict(run.failed))
        for name, paths in run.made.items():
            moved = []
            for p in paths:
                dest = fig_dir / Path(p).name
                os.chmod(p, file_mode())
                os.replace(p, dest)
                moved.append(dest)
            png = next((p for p in moved if p.suffix == ".png"), None)
            if png is None:
                figs.failed[name] = "the figure function returned no PNG"
                continue
            pdf = next((p for p in moved if p.suffix == ".pdf"), None)
            mod = pf.figure_module(name)
            figs.refs.append(FigureRef(name, mod.CAPTION, png, pf.section_of(name), pdf))
        return figs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
