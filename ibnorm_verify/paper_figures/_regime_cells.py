"""Shared drawing of the capacity claims' regime cells: which cells a series holds, a short label per cell,
and the panel that shows each cell's decision interval against the prediction (the verdict's statistic)."""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import style

__all__ = ["cells_of", "cell_label", "cell_verdicts", "interval_panel", "is_sanity_cell", "SANITY_LABEL", "star_base",
           "check_verdicts"]

SANITY_LABEL = "linear orthogonal chain (sanity)"


def is_sanity_cell(cell: dict) -> bool:
    """The linear orthogonal chain at init: an identity of the setup, checked as sanity, not a regime."""
    return (cell.get("activation") == "identity" and cell.get("init") == "orthogonal"
            and cell.get("architecture") in ("mlp", "conv") and cell.get("state") == "init")


def cells_of(series, axes) -> list[dict]:
    """The coordinate dicts (over ``axes``) at which ``series`` holds at least one finite value, in order."""
    out = []
    for combo in itertools.product(*(series.coords[a] for a in axes)):
        cell = dict(zip(axes, combo))
        v = series.sel(**cell).values
        if np.isfinite(v).any() or np.isinf(v).any():
            out.append(cell)
    return out


def star_base(cells: list[dict]) -> dict:
    """The centre of a star design: the regime cell (not the sanity cell) from which the most other cells
    differ in exactly one coordinate (for a grid, the first cell)."""
    cand = [c for c in cells if not is_sanity_cell(c)] or cells

    def one_off(c: dict) -> int:
        return sum(sum(c[k] != o[k] for k in c) == 1 for o in cells)
    return max(cand, key=one_off)


def cell_label(cell: dict, base: dict | None = None) -> str:
    """``"relu/gaussian/mlp/g=2/init"``; with ``base``, only the coordinates that differ from it
    ("base" for the base cell itself)."""
    if is_sanity_cell(cell):
        return SANITY_LABEL
    show = {k: v for k, v in cell.items() if base is None or base.get(k) != v}
    if not show:
        return "base"
    return "/".join(f"g={v:g}" if k == "gain" else (f"{k}={v:g}" if isinstance(v, float) else str(v))
                    for k, v in show.items())


def cell_verdicts(ev) -> dict:
    """{tuple of sorted (axis, str(value)): verdict value} from the Evidence's regime map."""
    if ev.regimes is None:
        return {}
    return {tuple(sorted((k, str(v)) for k, v in c.coords.items())): c.verdict.value for c in ev.regimes.cells}


def check_verdicts(ev, part: str) -> dict:
    """{cell key: verdict} of the evidence checks of ``part``, a refutation counting only when it survives
    Holm's adjustment over the claim's checks (as in the regime map)."""
    out = {}
    for c in ev.checks:
        if c.role == "evidence" and c.part == part and c.cell:
            v = c.verdict.value
            if v == "refuted" and (c.p_refute_holm is None or c.p_refute_holm > 0.025):
                v = "inconclusive"
            out[_key(c.cell)] = v
    return out


def _key(cell: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in cell.items()))


def interval_panel(ax, rows, *, threshold: float | None = 0.0, verdicts: dict | None = None, xlabel: str = "",
                   marks_label: str = "prediction") -> None:
    """One horizontal interval per row ``(cell, label, estimate, lo, hi, mark)``: the decision interval of
    the cell's check (an open end, no certified bound, is an arrow at the edge), the estimate, an optional
    prediction mark, the check's threshold as a vertical line; coloured by the cell's verdict."""
    finite = [v for r in rows for v in r[2:6] if v is not None and math.isfinite(v)]
    if threshold is not None:
        finite.append(threshold)
    lo_lim, hi_lim = (min(finite), max(finite)) if finite else (-1.0, 1.0)
    pad = 0.1 * (hi_lim - lo_lim or 1.0)
    lo_lim, hi_lim = lo_lim - pad, hi_lim + pad
    labelled = set()
    for i, (cell, label, est, lo, hi, mark) in enumerate(rows):
        v = "sanity check" if is_sanity_cell(cell) else (verdicts or {}).get(_key(cell), "inconclusive")
        c = style.VERDICT_COLORS.get(v, "0.45")
        a, b = (lo if math.isfinite(lo) else lo_lim), (hi if math.isfinite(hi) else hi_lim)
        if math.isnan(lo) or math.isnan(hi):
            ax.text(lo_lim, i, "  not measured (no certified bound)", va="center", fontsize=6.5, color="0.4")
            continue
        ax.plot([a, b], [i, i], color=c, linewidth=2.2, label=v if v not in labelled else None)
        labelled.add(v)
        for end, edge, m in ((lo, lo_lim, "<"), (hi, hi_lim, ">")):
            if not math.isfinite(end):
                ax.plot([edge], [i], marker=m, color=c, markersize=6)
        if est is not None and math.isfinite(est):
            ax.plot([est], [i], "o", color=c, markersize=4)
        if mark is not None and math.isfinite(mark):
            ax.plot([mark], [i], "|", color=style.PREDICTION_COLOR, markersize=11,
                    label=marks_label if "mark" not in labelled else None)
            labelled.add("mark")
    if threshold is not None:
        ax.axvline(threshold, color="0.3", linestyle="--", linewidth=1)
    ax.set_xlim(lo_lim, hi_lim)
    ax.set_yticks(range(len(rows)), [r[1] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7, loc="best")
