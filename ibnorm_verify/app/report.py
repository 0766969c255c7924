"""Write ``results.json``, ``report.md`` and a self-contained ``report.html`` from Evidence (atomically).

results.json: ``{"meta": {...}, "claims": [{"id", "verdict", "measured", "predicted", "conditions",
"provenance", "seeds", "checks", "arrays", ...}]}``.

Two entry points:

* :func:`write_outputs` -- cheap, called by the runner after *every* claim: results.json, report.md
  and report.html without figures (so an interrupted run keeps a readable report).
* :func:`write_report` -- once at the end of a run: the same plus the figures of
  :mod:`paper_figures` (PNG + PDF under ``DIR/figures``), linked from report.md and embedded as
  base64 PNG in report.html, so the html file is one self-contained document.

Both reports hold the verdict table (claim, provenance, conditions, predicted, measured, verdict),
one section per claim (statement, why, checks, numbers, the estimator-validation rows) and the
collected estimator-validation tables. The two renderers share the table builders below.
"""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..verification.evidence import Evidence, to_jsonable
from ..verification.io import atomic_write_text

__all__ = ["write_outputs", "write_report", "render_markdown", "render_html", "verdict_table",
           "validation_tables", "readme_section", "load_results", "FigureRef", "make_figures"]

_BADGE = {"supported": "supported", "refuted": "**refuted**", "inconclusive": "_inconclusive_"}
_VERDICT_COLORS = {"supported": "#009E73", "refuted": "#D55E00", "inconclusive": "#E69F00"}  # Okabe-Ito


@dataclass
class FigureRef:
    """One figure made for the report: ``name``, ``caption``, its PNG (and PDF) path, the section it
    belongs to (a claim id, or ``"validation"``)."""

    name: str
    caption: str
    png: Path
    section: str
    pdf: Path | None = None


@dataclass
class _Figures:
    refs: list = field(default_factory=list)      # [FigureRef]
    failed: dict = field(default_factory=dict)    # figure name -> why it could not be made

    def for_section(self, section: str) -> list:
        return [f for f in self.refs if f.section == section]


# ---------------------------------------------------------------------------- formatting helpers
def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict) and "estimate" in v:
        ci = v.get("ci")
        return f"{_fmt(v['estimate'])}" + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
    if isinstance(v, (list, tuple)) and len(v) <= 6:
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, (list, tuple)):
        return f"[{len(v)} values]"
    if isinstance(v, dict):
        return "{" + _kv(v, 4) + "}"
    return str(v)


def _kv(d: dict, limit: int = 6) -> str:
    items = list(d.items())[:limit]
    s = "; ".join(f"{k}={_fmt(v)}" for k, v in items)
    return s + ("; ..." if len(d) > limit else "")


def _counts(evidence: Sequence[Evidence]) -> dict:
    return {v: sum(ev.verdict.value == v for ev in evidence) for v in ("supported", "refuted", "inconclusive")}


def _run_line(meta: dict) -> str:
    return (f"Scale `{meta.get('scale')}`, device `{meta.get('device')}`, executor `{meta.get('executor')}`, "
            f"code version `{meta.get('code_version')}`, torch {meta.get('torch')}, python {meta.get('python')}, "
            f"started {meta.get('started')}, elapsed {float(meta.get('elapsed_s', 0) or 0):.0f} s.")


def _summary_line(evidence: Sequence[Evidence]) -> str:
    c = _counts(evidence)
    return (f"{c['supported']} supported, {c['refuted']} refuted, {c['inconclusive']} inconclusive "
            f"of {len(evidence)} claims")


_INTRO = ("A verdict is computed from the checks below (see `verification/verdict.py`): *supported* when every "
          "check's confidence interval lies inside the region the prediction allows, *refuted* when one lies "
          "entirely outside it, *inconclusive* otherwise. Provenance says whether the statement is the paper's "
          "words, the public reviews' paraphrase, or our reconstruction.")


# ---------------------------------------------------------------------------- tables (shared by md and html)
def _verdict_rows(evidence: Sequence[Evidence]) -> tuple[list, list]:
    header = ["claim", "provenance", "conditions", "predicted", "measured", "verdict"]
    rows = [[ev.claim_id, ev.provenance, _kv(ev.conditions, 4), _kv(ev.predicted, 3), _kv(ev.measured, 3),
             ev.verdict.value] for ev in evidence]
    return header, rows


def _check_rows(ev: Evidence) -> tuple[list, list]:
    header = ["check", "estimate", "CI", "predicted", "verdict", "reason"]
    rows = []
    for c in ev.checks:
        ci = "" if c.ci is None else f"[{_fmt(c.ci[0])}, {_fmt(c.ci[1])}]"
        rows.append([c.name, "" if c.estimate is None else _fmt(c.estimate), ci, str(c.predicted),
                     c.verdict.value, c.reason])
    return header, rows


def _dict_rows(rows: list[dict]) -> tuple[list, list]:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return keys, [[_fmt(r.get(k, "")) for k in keys] for r in rows]


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list, rows: list, verdict_col: int | None = None, code_col: int | None = None) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [_md_cell(c) for c in r]
        if verdict_col is not None:
            cells[verdict_col] = _BADGE.get(r[verdict_col], cells[verdict_col])
        if code_col is not None:
            cells[code_col] = f"`{cells[code_col]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(header: list, rows: list, verdict_col: int | None = None, code_col: int | None = None,
                link_col: int | None = None) -> str:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr></thead>",
           "<tbody>"]
    for r in rows:
        cells = []
        for j, c in enumerate(r):
            s = html.escape(str(c))
            if j == verdict_col:
                s = f'<span class="v v-{s}">{s}</span>'
            if j == code_col:
                s = f"<code>{s}</code>"
            if j == link_col:
                s = f'<a href="#{_anchor(str(c))}">{s}</a>'
            cells.append(f"<td>{s}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _anchor(claim_id: str) -> str:
    return "claim-" + "".join(ch if ch.isalnum() else "-" for ch in claim_id)


def verdict_table(evidence: Sequence[Evidence]) -> str:
    """The one-line-per-claim markdown table the README and the report show."""
    header, rows = _verdict_rows(evidence)
    return _md_table(header, rows, verdict_col=5, code_col=0)


def validation_tables(evidence: Sequence[Evidence]) -> str:
    """Markdown: the estimators' ground-truth checks, one table per claim that used an estimator."""
    parts = []
    for ev in evidence:
        if ev.validation:
            parts += [f"### `{ev.claim_id}`", "", _md_table(*_dict_rows(ev.validation)), ""]
    return "\n".join(parts) if parts else "No claim in this run used a validated estimator."


def readme_section(evidence: Sequence[Evidence], meta: dict) -> str:
    """The README's 'latest results' block: the command that made it and the verdict table."""
    cmd = meta.get("command") or f"ibnorm-verify --scale {meta.get('scale')}"
    return "\n".join([f"Latest run ({meta.get('started')}, {_summary_line(evidence)}), made by", "",
                      f"    {cmd}", "", verdict_table(evidence), ""])


# ---------------------------------------------------------------------------- markdown
def render_markdown(evidence: Sequence[Evidence], meta: dict, figures: _Figures | None = None,
                    figure_base: Path | None = None) -> str:
    """report.md. With ``figures`` (from :func:`make_figures`), each claim's section links its figures
    (paths relative to ``figure_base``, the report's directory)."""
    figures = figures or _Figures()

    def fig_md(section: str) -> list[str]:
        out = []
        for f in figures.for_section(section):
            rel = _rel(f.png, figure_base)
            pdf = f" ([PDF]({_rel(f.pdf, figure_base)}))" if f.pdf else ""
            out += [f"![{f.name}]({rel})", "", f"*Figure `{f.name}`.* {f.caption}{pdf}", ""]
        return out

    out = ["# ibnorm-verify report", "", _run_line(meta), ""]
    if meta.get("command"):
        out += [f"Command: `{meta['command']}`", ""]
    out += [f"**{_summary_line(evidence)}.** {_INTRO}", "", "## Verdicts", "", verdict_table(evidence), ""]
    for ev in evidence:
        out += [f"## `{ev.claim_id}`: {ev.title}", "",
                f"*Paper* {ev.paper} · *provenance* {ev.provenance} · *verdict* **{ev.verdict.value}** · "
                f"seeds {ev.seeds} · scale {ev.scale} · {ev.runtime_s:.1f} s{' (cached)' if ev.cached else ''}", "",
                f"> {ev.statement}", "", f"**Why:** {ev.reason}", ""]
        if ev.conditions:
            out += ["**Conditions:** " + _kv(ev.conditions, 50), ""]
        if ev.checks:
            out += [_md_table(*_check_rows(ev), verdict_col=4), ""]
        if ev.measured:
            out += ["**Measured:** " + _kv(ev.measured, 50), ""]
        if ev.predicted:
            out += ["**Predicted:** " + _kv(ev.predicted, 50), ""]
        if ev.validation:
            out += ["**Estimator validation (ground truth):**", "", _md_table(*_dict_rows(ev.validation)), ""]
        out += fig_md(ev.claim_id)
        for note in ev.notes:
            out += ([f"```\n{note}\n```"] if "Traceback" in note else [f"- {note}"])
        out.append("")
    out += ["## Estimator validation", "",
            "Each estimator is trusted only after it recovers known ground truth (closed-form mutual information, "
            "exact Lipschitz constants); a claim whose estimator fails these checks at run time is inconclusive.", "",
            validation_tables(evidence), ""]
    out += fig_md("validation")
    if figures.failed:
        out += ["## Figures not made", ""] + [f"- `{n}`: {_md_cell(why)}" for n, why in figures.failed.items()] + [""]
    return "\n".join(out)


def _rel(p: Path | None, base: Path | None) -> str:
    if p is None:
        return ""
    p = Path(p)
    if base is not None:
        try:
            return p.resolve().relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            pass
    return p.as_posix()


# ---------------------------------------------------------------------------- html
_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45;font-size:15px}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em}code{background:#f4f4f4;padding:0 .25em;border-radius:3px;font-size:.92em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.86em;width:100%}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f6f6f6}
tbody tr:nth-child(even){background:#fbfbfb}
.v{font-weight:600;padding:.05em .45em;border-radius:3px;color:#fff;white-space:nowrap}
.v-supported{background:#009E73}.v-refuted{background:#D55E00}.v-inconclusive{background:#E69F00;color:#222}
.meta{color:#555;font-size:.9em}blockquote{margin:.5em 0;padding:.2em 1em;border-left:4px solid #56B4E9;background:#f5fafd}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444;margin-top:.3em;text-align:left}pre{background:#f6f6f6;padding:.6em;overflow:auto;
font-size:.8em}.summary{font-size:1.05em}.kv{font-size:.9em}.missing{color:#D55E00}
"""


def _md_inline(s: str) -> str:
    """Escape, then turn `code` spans into <code> (the only inline markup our strings use)."""
    parts = html.escape(s).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _img_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def render_html(evidence: Sequence[Evidence], meta: dict, figures: _Figures | None = None) -> str:
    """report.html: one self-contained file (inline CSS, figures embedded as base64 PNG, no scripts)."""
    figures = figures or _Figures()
    e = html.escape

    def fig_html(section: str) -> list[str]:
        return [f'<figure id="fig-{e(f.name)}"><img alt="{e(f.name)}" src="{_img_data_uri(f.png)}">'
                f"<figcaption><b>Figure <code>{e(f.name)}</code>.</b> {e(f.caption)}</figcaption></figure>"
                for f in figures.for_section(section)]

    c = _counts(evidence)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>ibnorm-verify report</title>", f"<style>{_CSS}</style>", "</head><body>",
           "<h1>ibnorm-verify report</h1>", f'<p class="meta">{_md_inline(_run_line(meta))}</p>']
    if meta.get("command"):
        out.append(f'<p class="meta">Command: <code>{e(meta["command"])}</code></p>')
    out += [f'<p class="summary"><span class="v v-supported">{c["supported"]} supported</span> '
            f'<span class="v v-refuted">{c["refuted"]} refuted</span> '
            f'<span class="v v-inconclusive">{c["inconclusive"]} inconclusive</span> of {len(evidence)} claims.</p>',
            f"<p>{_md_inline(_INTRO).replace('*', '')}</p>",
            "<h2>Verdicts</h2>"]
    header, rows = _verdict_rows(evidence)
    out.append(_html_table(header, rows, verdict_col=5, link_col=0))
    for ev in evidence:
        v = ev.verdict.value
        out += [f'<h2 id="{_anchor(ev.claim_id)}"><code>{e(ev.claim_id)}</code>: {e(ev.title)} '
                f'<span class="v v-{v}">{v}</span></h2>',
                f'<p class="meta">Paper {e(ev.paper)} · provenance <b>{e(ev.provenance)}</b> · seeds {e(str(ev.seeds))} '
                f'· scale {e(ev.scale)} · {ev.runtime_s:.1f} s{" (cached)" if ev.cached else ""}</p>',
                f"<blockquote>{e(ev.statement)}</blockquote>", f"<p><b>Why:</b> {e(ev.reason)}</p>"]
        if ev.conditions:
            out.append(f'<p class="kv"><b>Conditions:</b> {e(_kv(ev.conditions, 50))}</p>')
        if ev.checks:
            out.append(_html_table(*_check_rows(ev), verdict_col=4))
        if ev.measured:
            out.append(f'<p class="kv"><b>Measured:</b> {e(_kv(ev.measured, 50))}</p>')
        if ev.predicted:
            out.append(f'<p class="kv"><b>Predicted:</b> {e(_kv(ev.predicted, 50))}</p>')
        if ev.validation:
            out += ["<p><b>Estimator validation (ground truth):</b></p>", _html_table(*_dict_rows(ev.validation))]
        out += fig_html(ev.claim_id)
        if ev.notes:
            out.append("<ul>" + "".join(f"<li><pre>{e(n)}</pre></li>" if "Traceback" in n else f"<li>{e(n)}</li>"
                                        for n in ev.notes) + "</ul>")
    out += ["<h2 id=\"estimator-validation\">Estimator validation</h2>",
            "<p>Each estimator is trusted only after it recovers known ground truth (closed-form mutual "
            "information, exact Lipschitz constants); a claim whose estimator fails these checks at run time is "
            "inconclusive.</p>"]
    any_rows = False
    for ev in evidence:
        if ev.validation:
            any_rows = True
            out += [f"<h3><code>{e(ev.claim_id)}</code></h3>", _html_table(*_dict_rows(ev.validation))]
    if not any_rows:
        out.append("<p>No claim in this run used a validated estimator.</p>")
    out += fig_html("validation")
    if figures.failed:
        out += ["<h2>Figures not made</h2>", "<ul>"] + [
            f'<li class="missing"><code>{e(n)}</code>: {e(why)}</li>' for n, why in figures.failed.items()] + ["</ul>"]
    out += ["</body></html>", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- writing
def make_figures(evidence: Sequence[Evidence], fig_dir: str | Path) -> _Figures:
    """Draw every :mod:`paper_figures` figure whose claims are in ``evidence`` (into ``fig_dir``).

    Figures whose claims were not run are skipped silently (a partial run); figures whose claims ran
    but whose data is unusable are listed in ``failed`` with the reason, and the report shows them."""
    import ibnorm_verify.paper_figures as pf

    have = {ev.claim_id for ev in evidence}
    names = [n for n in pf.FIGURES if set(pf.figure_module(n).CLAIMS) & have]
    run = pf.make_all(evidence, fig_dir, names)
    figs = _Figures(failed=dict(run.failed))
    for n, paths in run.made.items():
        mod = pf.figure_module(n)
        png = next((p for p in paths if Path(p).suffix == ".png"), None)
        if png is None:
            figs.failed[n] = "the script returned no PNG"
            continue
        pdf = next((p for p in paths if Path(p).suffix == ".pdf"), None)
        section = getattr(mod, "SECTION", None) or mod.CLAIMS[0]
        figs.refs.append(FigureRef(n, mod.CAPTION, Path(png), section, None if pdf is None else Path(pdf)))
    return figs


def write_outputs(out: str | Path, evidence: Sequence[Evidence], meta: dict, figures: _Figures | None = None) -> None:
    """results.json, report.md, report.html (atomically). Cheap: draws no figures itself."""
    out = Path(out)
    payload = {"meta": to_jsonable(meta), "claims": [ev.to_dict() for ev in evidence]}
    atomic_write_text(out / "results.json", json.dumps(payload, indent=2))
    atomic_write_text(out / "report.md", render_markdown(evidence, meta, figures, figure_base=out))
    atomic_write_text(out / "report.html", render_html(evidence, meta, figures))


def write_report(out: str | Path, evidence: Sequence[Evidence], meta: dict, figures: bool = True) -> dict:
    """The end-of-run report: :func:`write_outputs` plus the figures (``DIR/figures/*.png|pdf``) inline.

    Returns ``{"results", "markdown", "html", "figures": [png paths], "figures_failed": {name: why}}``."""
    out = Path(out)
    figs = make_figures(evidence, out / "figures") if figures else None
    write_outputs(out, evidence, meta, figs)
    return {"results": out / "results.json", "markdown": out / "report.md", "html": out / "report.html",
            "figures": [f.png for f in figs.refs] if figs else [], "figures_failed": dict(figs.failed) if figs else {}}


def load_results(path: str | Path) -> tuple[list[Evidence], dict]:
    """Read a results.json (or the directory holding it) back into Evidence objects."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise FileNotFoundError(f"no results.json at {p}")
    data = json.loads(p.read_text())
    return [Evidence.from_dict(d) for d in data["claims"]], data.get("meta", {})
