"""Write ``results.json`` and ``report.md`` from Evidence (atomically).

results.json: ``{"meta": {...}, "claims": [{"id", "verdict", "measured", "predicted", "conditions",
"provenance", "seeds", "checks", "arrays", ...}]}``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .evidence import Evidence, to_jsonable
from .io import atomic_write_text

__all__ = ["write_outputs", "render_markdown", "verdict_table", "load_results"]

_BADGE = {"supported": "supported", "refuted": "**refuted**", "inconclusive": "_inconclusive_"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict) and "estimate" in v:
        ci = v.get("ci")
        return f"{_fmt(v['estimate'])}" + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
    if isinstance(v, (list, tuple)) and len(v) <= 6:
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, (list, tuple)):
        return f"[{len(v)} values]"
    return str(v)


def _kv(d: dict, limit: int = 6) -> str:
    items = list(d.items())[:limit]
    s = "; ".join(f"{k}={_fmt(v)}" for k, v in items)
    return s + ("; ..." if len(d) > limit else "")


def verdict_table(evidence: Sequence[Evidence]) -> str:
    """The one-line-per-claim table the README and the report show."""
    lines = ["| claim | provenance | verdict | measured | predicted | conditions |",
             "|---|---|---|---|---|---|"]
    for ev in evidence:
        cells = [f"`{ev.claim_id}`", ev.provenance, _BADGE[ev.verdict.value], _kv(ev.measured, 3),
                 _kv(ev.predicted, 3), _kv(ev.conditions, 4)]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def render_markdown(evidence: Sequence[Evidence], meta: dict) -> str:
    counts = {v: sum(ev.verdict.value == v for ev in evidence) for v in ("supported", "refuted", "inconclusive")}
    out = [
        "# ibnorm-verify report", "",
        f"Scale `{meta.get('scale')}`, device `{meta.get('device')}`, executor `{meta.get('executor')}`, "
        f"code version `{meta.get('code_version')}`, torch {meta.get('torch')}, python {meta.get('python')}, "
        f"started {meta.get('started')}, elapsed {meta.get('elapsed_s', 0):.0f} s.", "",
        f"**{counts['supported']} supported, {counts['refuted']} refuted, {counts['inconclusive']} inconclusive** "
        f"of {len(evidence)} claims. A verdict is computed from the checks below (see `verification/verdict.py`); "
        "provenance says whether the statement is the paper's words, the public reviews' paraphrase, or our "
        "reconstruction.", "",
        "## Verdicts", "", verdict_table(evidence), "",
    ]
    for ev in evidence:
        out += [f"## `{ev.claim_id}`: {ev.title}", "",
                f"*Paper* {ev.paper} · *provenance* {ev.provenance} · *verdict* **{ev.verdict.value}** · "
                f"seeds {ev.seeds} · {ev.runtime_s:.1f} s{' (cached)' if ev.cached else ''}", "",
                f"> {ev.statement}", "", f"**Why:** {ev.reason}", ""]
        if ev.conditions:
            out += ["**Conditions:** " + _kv(ev.conditions, 50), ""]
        if ev.checks:
            out += ["| check | estimate | CI | predicted | verdict | reason |", "|---|---|---|---|---|---|"]
            for c in ev.checks:
                ci = "" if c.ci is None else f"[{_fmt(c.ci[0])}, {_fmt(c.ci[1])}]"
                est = "" if c.estimate is None else _fmt(c.estimate)
                out.append(f"| {c.name} | {est} | {ci} | {c.predicted} | {c.verdict.value} | "
                           f"{c.reason.replace('|', '/')} |")
            out.append("")
        if ev.measured:
            out += ["**Measured:** " + _kv(ev.measured, 50), ""]
        if ev.predicted:
            out += ["**Predicted:** " + _kv(ev.predicted, 50), ""]
        if ev.validation:
            out += ["**Estimator validation (ground truth):**", "", _table(ev.validation), ""]
        for note in ev.notes:
            out += ([f"```\n{note}\n```"] if "Traceback" in note else [f"- {note}"])
        out.append("")
    return "\n".join(out)


def _table(rows: list[dict]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def write_outputs(out: str | Path, evidence: Sequence[Evidence], meta: dict) -> None:
    out = Path(out)
    payload = {"meta": to_jsonable(meta), "claims": [ev.to_dict() for ev in evidence]}
    atomic_write_text(out / "results.json", json.dumps(payload, indent=2))
    atomic_write_text(out / "report.md", render_markdown(evidence, meta))


def load_results(path: str | Path) -> tuple[list[Evidence], dict]:
    """Read a results.json (or the directory holding it) back into Evidence objects."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    data = json.loads(p.read_text())
    return [Evidence.from_dict(d) for d in data["claims"]], data.get("meta", {})
