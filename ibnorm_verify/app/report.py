"""Render a run as ``report.md`` and a self-contained ``report.html`` (pure functions: text in, text out).

The report is written for a reviewer with five minutes:

1. **Summary first**: one row per claim: its verdict, the *primary* quantity (the check the claim's
   headline turns on: estimate, confidence interval, prediction) and where it holds (the regime map's
   tally and the claim's separating condition). Every cell stays short.
2. **One section per claim**: the headline sentence; "Why" (the check that decided the verdict, then
   "and N more"); for an inconclusive claim, what would change the verdict (the replicates that would
   decide its open checks, from :func:`~ibnorm_verify.verification.verdict.replicates_to_decide`, or
   the failed precondition to fix); the regime map (a verdict grid over the first two regime axes);
   then, one click below (``<details>``), every check with its Holm-adjusted p-value and its minimum
   detectable effect (MDE), the measured and predicted numbers, the estimator's ground-truth rows.
3. The estimators' ground-truth validation tables, figures inline, and the figures that could not be
   made (and why).

A claim without a primary check or a regime map (a hand-built Evidence) renders too: its first deciding
check stands in for the primary one.
"""
from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..verification.evidence import Check, Evidence, ValidationRow, Verdict
from ..verification.verdict import replicates_to_decide

__all__ = ["FigureRef", "FigureSet", "render_markdown", "render_html", "summary_markdown", "deciding_check",
           "what_would_change", "primary_line", "where_line", "check_rows", "validation_rows", "SUMMARY_CELL_CHARS"]

#: the longest text a summary-table cell gets (longer text is shortened with an ellipsis; the claim's
#: section has it in full)
SUMMARY_CELL_CHARS = 110
_BADGE_MD = {"supported": "supported", "refuted": "**refuted**", "inconclusive": "_inconclusive_"}
_SYMBOL = {"supported": "✓", "refuted": "✗", "inconclusive": "?"}


@dataclass
class FigureRef:
    """One figure drawn for the report: ``name``, ``caption``, its PNG (and PDF), the section it
    belongs to (a claim id, or ``"validation"``)."""

    name: str
    caption: str
    png: Path
    section: str
    pdf: Path | None = None


@dataclass
class FigureSet:
    """The figures of a report and those that could not be drawn (name -> why)."""

    refs: list[FigureRef] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def for_section(self, section: str) -> list[FigureRef]:
        return [f for f in self.refs if f.section == section]


# ---------------------------------------------------------------------------- numbers and short texts
def _num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _fmt(v: Any, depth: int = 0) -> str:
    """A value in one short line: numbers to 4 significant digits, ``{"estimate", "ci"}`` as ``e [lo, hi]``,
    long lists and deep dicts summarized (the full numbers are in results.json)."""
    if isinstance(v, Mapping) and "estimate" in v:
        ci = v.get("ci")
        return _fmt(v["estimate"]) + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if isinstance(ci, (list, tuple)) else "")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x, depth + 1) for x in v) + "]" if len(v) <= 6 else f"[{len(v)} values]"
    if isinstance(v, Mapping):
        if depth >= 1:
            return f"{{{len(v)} entries}}"
        items = list(v.items())
        s = "; ".join(f"{k}={_fmt(x, depth + 1)}" for k, x in items[:6])
        return "{" + s + ("; ..." if len(items) > 6 else "") + "}"
    return _num(v)


def _short(s: str, n: int = SUMMARY_CELL_CHARS) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def _ci(c: Check) -> str:
    return "" if c.ci is None else f"[{_num(c.ci[0])}, {_num(c.ci[1])}]"


def _replicates(c: Check) -> str:
    """``"5 seeds"``: the number of units of replication behind a check's interval (``Check.unit`` names
    the unit of replication, not a unit of measurement)."""
    if c.replicates is None:
        return ""
    return f"{c.replicates} {_plural(c.unit or 'replicate', c.replicates)}"


def _plural(unit: str, n: int | None) -> str:
    return unit if n == 1 or unit.endswith("s") else unit + "s"


def _evidence_checks(ev: Evidence) -> list[Check]:
    return [c for c in ev.checks if c.role == "evidence"]


def deciding_check(ev: Evidence) -> tuple[Check | None, int]:
    """The check that decided the claim's verdict, and how many more checks decided it the same way.

    refuted: the first evidence check refuted after Holm; inconclusive: the first failed
    precondition or sanity check, else the first evidence check not supported; supported: the
    primary check (every evidence check passed)."""
    evidence = _evidence_checks(ev)
    if ev.verdict is Verdict.REFUTED:
        group = [c for c in evidence if c.verdict is Verdict.REFUTED
                 and (c.p_refute_holm is None or c.p_refute_holm <= 0.025)] or \
                [c for c in evidence if c.verdict is Verdict.REFUTED]
    elif ev.verdict is Verdict.INCONCLUSIVE:
        group = [c for c in ev.checks if c.role in ("precondition", "sanity") and c.verdict is not Verdict.SUPPORTED] \
            or [c for c in evidence if c.verdict is not Verdict.SUPPORTED] or list(ev.checks)
    else:
        prim = ev.primary_check()
        group = ([prim] if prim else []) + [c for c in evidence if c is not prim]
    if not group:
        return None, 0
    return group[0], len(group) - 1


def _primary(ev: Evidence) -> Check | None:
    return ev.primary_check() or deciding_check(ev)[0]


def primary_line(ev: Evidence) -> str:
    """``estimate [lo, hi] vs predicted: name`` of the claim's primary check (or its deciding check): the
    number first, so that a shortened summary cell keeps it."""
    if not ev.ok:
        return f"crashed: {ev.error or 'no error text'}"
    c = _primary(ev)
    if c is None:
        return "no check was measured"
    if c.estimate is None:
        return f"{c.name}: {c.reason}"
    return f"{_num(c.estimate)} {_ci(c)} vs {c.predicted}: {c.name}".replace("  ", " ")


def where_line(ev: Evidence) -> str:
    """Where the verdict holds: the regime map's tally and the separating condition (the axes are in the
    claim's section)."""
    rm = ev.regimes
    if rm is not None and rm.cells:
        n = {v: len(rm.by_verdict(v)) for v in Verdict}
        tally = ", ".join(f"{n[v]} {v.value}" for v in Verdict if n[v])
        s = f"{tally} of {len(rm.cells)} regimes"
        return s + (f"; holds when {rm.condition}" if rm.condition else f" ({' x '.join(rm.axes)})")
    if ev.conditions:
        return f"one regime ({len(ev.conditions)} fixed conditions, listed in the claim's section)"
    return "one regime"


def headline_text(ev: Evidence) -> str:
    """The claim's headline sentence without a leading repetition of the verdict word."""
    text = ev.headline or ev.reason
    prefix = f"{ev.verdict.value}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def why_line(ev: Evidence) -> str:
    """The deciding check and its reason, then "and N more"."""
    c, more = deciding_check(ev)
    if c is None:
        return ev.reason
    kind = {"sanity": "sanity check ", "precondition": "precondition "}.get(c.role, "")
    s = f"{kind}{c.name}: {c.reason}"
    if c.p_refute_holm is not None and c.verdict is Verdict.REFUTED:
        s += f" (Holm-adjusted p = {c.p_refute_holm:.3g})"
    return s + (f"; and {more} more" if more else "")


def what_would_change(ev: Evidence) -> str | None:
    """For an inconclusive claim: what would decide it (None for a decided claim)."""
    if ev.verdict is not Verdict.INCONCLUSIVE:
        return None
    if not ev.ok:
        return "Fix the crash (see the notes) and run the claim again."
    guards = [c for c in ev.checks if c.role in ("precondition", "sanity") and c.verdict is not Verdict.SUPPORTED]
    if guards:
        g = guards[0]
        what = "sanity check" if g.role == "sanity" else "precondition"
        return (f"The {what} {g.name} must hold before the evidence counts ({g.reason}); more data does not "
                "change that.")
    open_ = [c for c in _evidence_checks(ev) if c.verdict is not Verdict.SUPPORTED]
    if not open_:
        return "No evidence check was measured."
    needs = [(c, replicates_to_decide(c)) for c in open_]
    known = [(c, n) for c, n in needs if n is not None]
    unknown = [c for c, n in needs if n is None]
    parts = []
    if known:
        c, n = max(known, key=lambda t: t[1])
        unit = _plural(c.unit or "replicate", n)
        if len(known) > 1:
            parts.append(f"About {n} {unit} (now {c.replicates}) would decide all {len(known)} open checks if the "
                         f"effects are as estimated (the hardest: {c.name}, MDE {_num(c.mde)} now).")
        else:
            parts.append(f"About {n} {unit} (now {c.replicates}) would decide the open check {c.name} if the effect "
                         f"is as estimated (MDE {_num(c.mde)} now).")
    if unknown:
        names = ", ".join(c.name for c in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        parts.append(f"No sample size can be computed for {len(unknown)} open "
                     f"check{'s' if len(unknown) > 1 else ''} ({names}): no standard error or replicate count "
                     "is recorded.")
    return " ".join(parts)


# ---------------------------------------------------------------------------- tables (shared by md and html)
_CHECK_HEADER = ["check", "role", "part", "cell", "estimate", "CI", "predicted", "verdict", "p refute (Holm)", "MDE",
                 "n", "reason"]


def check_rows(ev: Evidence) -> tuple[list[str], list[list[str]]]:
    """Every check of a claim: role, part, regime cell, estimate, CI, prediction, verdict, Holm-adjusted
    p of refutation, MDE, replicates, reason."""
    rows = []
    for c in ev.checks:
        cell = ", ".join(f"{k}={_num(v)}" for k, v in c.cell.items())
        holm = "" if c.p_refute_holm is None else f"{c.p_refute_holm:.3g}"
        if c.p_refute is not None and c.p_refute_holm is not None and abs(c.p_refute - c.p_refute_holm) > 1e-12:
            holm = f"{holm} (raw {c.p_refute:.3g})"
        mde = "" if c.mde is None else _num(c.mde)
        if c.mde is None and c.details.get("interval"):
            mde = "exact"
        rows.append([c.name, c.role, c.part, cell, "" if c.estimate is None else _num(c.estimate), _ci(c),
                     str(c.predicted), c.verdict.value, holm, mde, _replicates(c), c.reason])
    return _CHECK_HEADER, rows


_VALIDATION_HEADER = ["estimator", "case", "family", "truth", "estimate", "bracket", "error", "passed", "criterion"]


def validation_rows(rows: Sequence[ValidationRow]) -> tuple[list[str], list[list[str]]]:
    """Ground-truth rows in fixed columns."""
    out = []
    for r in rows:
        bracket = "" if r.lower is None and r.upper is None else f"[{_num(r.lower)}, {_num(r.upper)}]"
        out.append([r.estimator, r.case, r.family, _num(r.truth), "" if r.estimate is None else _num(r.estimate),
                    bracket, "" if r.estimate is None else _num(r.error), "yes" if r.passed else "NO", r.criterion])
    return _VALIDATION_HEADER, out


def _regime_grid(ev: Evidence) -> tuple[list[str], list[list[str]]] | None:
    """The regime map as a table: with two or more axes, rows = the first axis, columns = the second
    (further axes listed inside the cell); with one axis, one row per cell."""
    rm = ev.regimes
    if rm is None or not rm.cells:
        return None
    checks = {c.name: c for c in ev.checks}

    def cell_text(cell: Any) -> str:
        prim = checks.get(cell.primary)
        est = "" if prim is None or prim.estimate is None else f" {_num(prim.estimate)}"
        return f"{_SYMBOL[cell.verdict.value]} {cell.verdict.value}{est}"

    axes = list(rm.axes)
    if len(axes) >= 2:
        a, b = axes[0], axes[1]
        rows_l = list(dict.fromkeys(str(c.coords.get(a, "")) for c in rm.cells))
        cols_l = list(dict.fromkeys(str(c.coords.get(b, "")) for c in rm.cells))
        grid: dict[tuple[str, str], list[str]] = {}
        for cell in rm.cells:
            rest = ", ".join(f"{k}={_num(v)}" for k, v in cell.coords.items() if k not in (a, b))
            grid.setdefault((str(cell.coords.get(a, "")), str(cell.coords.get(b, ""))), []).append(
                cell_text(cell) + (f" ({rest})" if rest else ""))
        header = [f"{a} \\ {b}"] + cols_l
        return header, [[r] + ["; ".join(grid.get((r, col), ["-"])) for col in cols_l] for r in rows_l]
    header = axes + ["verdict", "reason"]
    return header, [[_num(cell.coords.get(x, "")) for x in axes] + [cell_text(cell), cell.reason] for cell in rm.cells]


def _counts(evidence: Sequence[Evidence]) -> dict[str, int]:
    return {v.value: sum(ev.verdict is v for ev in evidence) for v in Verdict}


def _summary_line(evidence: Sequence[Evidence]) -> str:
    c = _counts(evidence)
    return (f"{c['supported']} supported, {c['refuted']} refuted, {c['inconclusive']} inconclusive "
            f"of {len(evidence)} claims")


def _run_line(meta: Mapping) -> str:
    cfg, env = meta.get("config") or {}, meta.get("environment") or {}
    git = env.get("git") or {}
    commit = (git.get("commit") or "")[:10] or "no git"
    if git.get("dirty"):
        commit += " (dirty)"
    vers = env.get("versions") or {}
    seeds = cfg.get("seeds", meta.get("seeds"))
    return (f"Scale `{cfg.get('scale', meta.get('scale'))}`, {seeds} seeds, device `{cfg.get('device', meta.get('device'))}`, "
            f"executor `{meta.get('executor', cfg.get('executor'))}`; commit `{commit}`, code version "
            f"`{env.get('code_version', meta.get('code_version'))}`; ibnorm-verify {vers.get('ibnorm-verify')}, "
            f"torch {vers.get('torch', meta.get('torch'))}, python {env.get('python', meta.get('python'))}; "
            f"{env.get('cpu_model', '?')} ({env.get('cpu_count', '?')} cores, {env.get('torch_threads', '?')} torch "
            f"threads); started {meta.get('started')}, elapsed {float(meta.get('elapsed_s', 0) or 0):.0f} s.")


def _claim_meta_line(ev: Evidence, meta: Mapping) -> str:
    rec = (meta.get("claims") or {}).get(ev.claim_id) or {}
    kernel = (rec.get("kernel") or {}).get("auto_picks")
    cached = " · from the cache (timing of the run that computed it)" if ev.cached or rec.get("cached") else ""
    return (f"Paper {ev.paper} · provenance {ev.provenance} · seeds {_fmt(ev.seeds)} · scale {ev.scale} · "
            f"{ev.runtime_s:.1f} s{cached}" + (f" · kernel backend {kernel}" if kernel else ""))


_INTRO = ("Each verdict is computed from the claim's checks (`ibnorm_verify/verification/verdict.py`): *refuted* when "
          "an evidence check is significantly on the wrong side after Holm's adjustment over the claim's checks, "
          "*supported* when every evidence check's confidence interval clears its boundary and every precondition "
          "holds, *inconclusive* otherwise. The primary quantity is the check the claim's headline turns on; a "
          "regime map gives the verdict per setting.")


# ---------------------------------------------------------------------------- markdown
def _md_cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], verdict_col: int | None = None,
              code_col: int | None = None) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [_md_cell(c) for c in r]
        if verdict_col is not None:
            cells[verdict_col] = _BADGE_MD.get(str(r[verdict_col]), cells[verdict_col])
        if code_col is not None:
            cells[code_col] = f"`{cells[code_col]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_SUMMARY_HEADER = ["claim", "verdict", "primary quantity: estimate [95% CI] vs prediction", "where it holds"]


def _summary_rows(evidence: Sequence[Evidence]) -> list[list[str]]:
    return [[ev.claim_id, ev.verdict.value, _short(primary_line(ev)), _short(where_line(ev))] for ev in evidence]


def summary_markdown(evidence: Sequence[Evidence]) -> str:
    """The summary table (one short row per claim) in markdown: the report's first table."""
    return _md_table(_SUMMARY_HEADER, _summary_rows(evidence), verdict_col=1, code_col=0)


def _details_md(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{html.escape(summary)}</summary>", "", *body, "", "</details>", ""]


def _kv_lines(d: Mapping) -> list[str]:
    return [f"- `{k}`: {_fmt(v)}" for k, v in d.items()]


def render_markdown(evidence: Sequence[Evidence], meta: Mapping, figures: FigureSet | None = None,
                    figure_base: Path | None = None) -> str:
    """report.md (figures linked relative to ``figure_base``, the report's directory)."""
    figures = figures or FigureSet()

    def fig_md(section: str) -> list[str]:
        out = []
        for f in figures.for_section(section):
            pdf = f" ([PDF]({_rel(f.pdf, figure_base)}))" if f.pdf else ""
            out += [f"![{f.name}]({_rel(f.png, figure_base)})", "", f"*Figure `{f.name}`.* {f.caption}{pdf}", ""]
        return out

    out = ["# ibnorm-verify report", "", _run_line(meta), ""]
    if meta.get("command"):
        out += [f"Command: `{meta['command']}`", ""]
    out += [f"**{_summary_line(evidence)}.** {_INTRO}", "", "## Summary", "", summary_markdown(evidence), ""]
    for ev in evidence:
        out += [f"## `{ev.claim_id}`: {ev.title}", "", _claim_meta_line(ev, meta), "", f"> {ev.statement}", "",
                f"**Verdict: {ev.verdict.value}.** {headline_text(ev)}", "",
                f"**Primary:** {primary_line(ev)}", "", f"**Why:** {why_line(ev)}", ""]
        change = what_would_change(ev)
        if change:
            out += [f"**What would change this verdict:** {change}", ""]
        grid = _regime_grid(ev)
        if grid:
            cond = f" Separating condition: {ev.regimes.condition}." if ev.regimes and ev.regimes.condition else ""
            out += [f"**Regime map.**{cond}", "", _md_table(*grid), ""]
        if ev.checks:
            out += _details_md(f"All {len(ev.checks)} checks", [_md_table(*check_rows(ev), verdict_col=7)])
        numbers = []
        if ev.conditions:
            numbers += ["**Conditions:**", "", *_kv_lines(ev.conditions), ""]
        if ev.measured:
            numbers += ["**Measured:**", "", *_kv_lines(ev.measured), ""]
        if ev.predicted:
            numbers += ["**Predicted:**", "", *_kv_lines(ev.predicted), ""]
        if numbers:
            out += _details_md("Conditions, measured and predicted numbers", numbers)
        if ev.validation:
            out += _details_md(f"Estimator validation ({len(ev.validation)} ground-truth rows)",
                               [_md_table(*validation_rows(ev.validation))])
        out += fig_md(ev.claim_id)
        for note in ev.notes:
            out += ([f"```\n{note}\n```"] if "Traceback" in note else [f"- {note}"])
        out.append("")
    out += ["## Estimator validation", "",
            "Each estimator is trusted only after it recovers known ground truth (closed-form mutual information, "
            "exact Lipschitz constants, ...); a claim whose estimator fails these checks is inconclusive.", ""]
    any_rows = False
    for ev in evidence:
        if ev.validation:
            any_rows = True
            out += [f"### `{ev.claim_id}`", "", _md_table(*validation_rows(ev.validation)), ""]
    if not any_rows:
        out += ["No claim in this run used a validated estimator.", ""]
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
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.86em}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f6f6f6}
tbody tr:nth-child(even){background:#fbfbfb}
table.summary{width:100%}table.summary td:first-child{white-space:nowrap}
.v{font-weight:600;padding:.05em .45em;border-radius:3px;color:#fff;white-space:nowrap}
.v-supported{background:#009E73}.v-refuted{background:#D55E00}.v-inconclusive{background:#E69F00;color:#222}
td.rg-supported{background:#d7efe6}td.rg-refuted{background:#f7dccb}td.rg-inconclusive{background:#fbebc8}
.meta{color:#555;font-size:.9em}blockquote{margin:.5em 0;padding:.2em 1em;border-left:4px solid #56B4E9;background:#f5fafd}
details{margin:.4em 0}summary{cursor:pointer;color:#0072B2}.change{background:#fff8e6;padding:.3em .6em;border-radius:3px}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444;margin-top:.3em;text-align:left}pre{background:#f6f6f6;padding:.6em;overflow:auto;
font-size:.8em}.counts{font-size:1.05em}ul.kv{font-size:.9em}.missing{color:#D55E00}
"""


def _inline(s: str) -> str:
    """Escape, then turn `code` spans into <code> and *emphasis* into <em> (the only markup our texts use)."""
    parts = html.escape(s).split("`")
    out = []
    for i, p in enumerate(parts):
        if i % 2:
            out.append(f"<code>{p}</code>")
        else:
            seg = p.split("*")
            out.append("".join(f"<em>{x}</em>" if j % 2 else x for j, x in enumerate(seg)) if len(seg) % 2 else p)
    return "".join(out)


def _badge(v: str) -> str:
    return f'<span class="v v-{html.escape(v)}">{html.escape(v)}</span>'


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, verdict_col: int | None = None,
                link_col: int | None = None, cls: str = "",
                cell_class: Callable[[int, int, str], str] | None = None) -> str:
    e = html.escape
    out = [f'<table class="{cls}">' if cls else "<table>",
           "<thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for i, r in enumerate(rows):
        cells = []
        for j, c in enumerate(r):
            s = e(str(c))
            if j == verdict_col:
                s = _badge(str(c))
            if j == link_col:
                s = f'<a href="#{_anchor(str(c))}"><code>{s}</code></a>'
            klass = cell_class(i, j, str(c)) if cell_class else ""
            cells.append(f'<td class="{klass}">{s}</td>' if klass else f"<td>{s}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _anchor(claim_id: str) -> str:
    return "claim-" + "".join(ch if ch.isalnum() else "-" for ch in claim_id)


def _img_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _details_html(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>\n{body}\n</details>"


def _kv_html(title: str, d: Mapping) -> str:
    items = "".join(f"<li><code>{html.escape(str(k))}</code>: {html.escape(_fmt(v))}</li>" for k, v in d.items())
    return f"<p><b>{html.escape(title)}</b></p><ul class=\"kv\">{items}</ul>"


def _regime_class(i: int, j: int, text: str) -> str:
    if j == 0:
        return ""
    for v in ("supported", "refuted", "inconclusive"):
        if f" {v}" in text and "; " not in text:
            return f"rg-{v}"
    return ""


def render_html(evidence: Sequence[Evidence], meta: Mapping, figures: FigureSet | None = None) -> str:
    """report.html: one self-contained file (inline CSS, figures as base64 PNG, no scripts, nothing fetched)."""
    figures = figures or FigureSet()
    e = html.escape

    def fig_html(section: str) -> list[str]:
        return [f'<figure id="fig-{e(f.name)}"><img alt="{e(f.name)}" src="{_img_data_uri(f.png)}">'
                f"<figcaption><b>Figure <code>{e(f.name)}</code>.</b> {e(f.caption)}</figcaption></figure>"
                for f in figures.for_section(section)]

    c = _counts(evidence)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>ibnorm-verify report</title>", f"<style>{_CSS}</style>", "</head><body>",
           "<h1>ibnorm-verify report</h1>", f'<p class="meta">{_inline(_run_line(meta))}</p>']
    if meta.get("command"):
        out.append(f'<p class="meta">Command: <code>{e(str(meta["command"]))}</code></p>')
    env = meta.get("environment")
    if env:
        out.append(_details_html("Run record (environment)", f"<pre>{e(json.dumps(env, indent=1))}</pre>"))
    out += [f'<p class="counts">{_badge("supported")} {c["supported"]} &nbsp; {_badge("refuted")} {c["refuted"]} &nbsp; '
            f'{_badge("inconclusive")} {c["inconclusive"]} &nbsp; of {len(evidence)} claims.</p>',
            f"<p>{_inline(_INTRO)}</p>", '<h2 id="summary">Summary</h2>',
            _html_table(_SUMMARY_HEADER, _summary_rows(evidence), verdict_col=1, link_col=0, cls="summary")]
    for ev in evidence:
        v = ev.verdict.value
        out += [f'<h2 id="{_anchor(ev.claim_id)}"><code>{e(ev.claim_id)}</code>: {e(ev.title)} {_badge(v)}</h2>',
                f'<p class="meta">{e(_claim_meta_line(ev, meta))}</p>', f"<blockquote>{e(ev.statement)}</blockquote>",
                f"<p><b>Verdict: {e(v)}.</b> {e(headline_text(ev))}</p>",
                f"<p><b>Primary:</b> {e(primary_line(ev))}</p>", f"<p><b>Why:</b> {e(why_line(ev))}</p>"]
        change = what_would_change(ev)
        if change:
            out.append(f'<p class="change"><b>What would change this verdict:</b> {e(change)}</p>')
        grid = _regime_grid(ev)
        if grid:
            cond = f" Separating condition: {e(ev.regimes.condition)}." if ev.regimes and ev.regimes.condition else ""
            out += [f"<p><b>Regime map.</b>{cond}</p>", _html_table(*grid, cell_class=_regime_class)]
        if ev.checks:
            out.append(_details_html(f"All {len(ev.checks)} checks (Holm-adjusted p, MDE)",
                                     _html_table(*check_rows(ev), verdict_col=7)))
        numbers = "".join(_kv_html(t, d) for t, d in (("Conditions", ev.conditions), ("Measured", ev.measured),
                                                        ("Predicted", ev.predicted)) if d)
        if numbers:
            out.append(_details_html("Conditions, measured and predicted numbers", numbers))
        if ev.validation:
            out.append(_details_html(f"Estimator validation ({len(ev.validation)} ground-truth rows)",
                                     _html_table(*validation_rows(ev.validation))))
        out += fig_html(ev.claim_id)
        if ev.notes:
            out.append("<ul>" + "".join(f"<li><pre>{e(n)}</pre></li>" if "Traceback" in n else f"<li>{e(n)}</li>"
                                        for n in ev.notes) + "</ul>")
    out += ['<h2 id="estimator-validation">Estimator validation</h2>',
            "<p>Each estimator is trusted only after it recovers known ground truth (closed-form mutual "
            "information, exact Lipschitz constants, ...); a claim whose estimator fails these checks is "
            "inconclusive.</p>"]
    any_rows = False
    for ev in evidence:
        if ev.validation:
            any_rows = True
            out.append(_details_html(f"{ev.claim_id}: {len(ev.validation)} rows", _html_table(*validation_rows(ev.validation))))
    if not any_rows:
        out.append("<p>No claim in this run used a validated estimator.</p>")
    out += fig_html("validation")
    if figures.failed:
        out += ["<h2>Figures not made</h2>", "<ul>"] + [
            f'<li class="missing"><code>{e(n)}</code>: {e(why)}</li>' for n, why in figures.failed.items()] + ["</ul>"]
    out += ["</body></html>", ""]
    return "\n".join(out)
