"""Figure 2: the Lipschitz reduction by K normalizers, per regime cell, with the product-law prediction.

Reads ``cap.normalization-exponential-reduction``: ``log_reduction`` (cell axes, K, seed, bound: the bracket
ends lower/upper and the product law) and ``slope`` (cell axes, end). Left: for the base cell and its
one-axis neighbours, the bracket of log(Lip without / Lip with normalizers) against K (band: mean over
seeds of the lower to the upper end; an end without a certified bound is left open) and the product law
sum_j log(sigma_j/|gamma_j|) (dashed). Right: per cell the interval the verdict uses for the reduction
rate (the slopes of the lower ends to those of the upper ends, 95% over seeds), its estimate, the
threshold 0 and the product-law slope (tick), coloured by the check's verdict (a refutation after Holm).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import style
from ._regime_cells import cell_label, cells_of, check_verdicts, interval_panel, star_base
from .base import FigureDataError, get_evidence, require_series

NAME = "reduction_k"
CLAIMS = ("cap.normalization-exponential-reduction",)
READS = {CLAIMS[0]: ("log_reduction", "slope")}
CAPTION = ("Reduction of the input-Lipschitz constant by K normalizers. Left: log(Lip without / Lip with "
           "normalizers) against K per regime cell, as the bracket [attained lower bound of the unnormalized net "
           "minus certified upper bound of the normalized one, and the reverse] (band: mean over seeds of each "
           "end), with the product law sum_j log(sigma_j/|gamma_j|) (dashed). Right: per cell the reduction-rate "
           "interval the verdict uses, its estimate (dot), the threshold 0 (dashed) and the product-law slope "
           "(tick); colour = that check's verdict.")
AXES = ("activation", "init", "architecture", "grouping", "gain", "state")


def decision_data(ev) -> dict:
    """{cell tuple: (estimate, (low, high), product-law slope)}: the reduction check per cell."""
    s = require_series(ev, "slope", NAME, AXES + ("end",))
    out = {}
    for cell in cells_of(s, AXES):
        v = {e: s.sel(**cell, end=e).item() for e in s.coords["end"]}
        out[tuple(cell.values())] = (v["estimate"], (v["growth_low"], v["growth_high"]), v["product_law"])
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured cell")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    curves = require_series(ev, "log_reduction", NAME, AXES + ("K", "seed", "bound"))
    cells = [dict(zip(AXES, k)) for k in data]
    base = star_base(cells)
    ks = np.asarray(curves.coords["K"], dtype=float)
    fig, (a1, a2) = style.new_figure(ncols=2, width=11.5, height=max(4.0, 0.32 * len(cells) + 1.5))
    for i, cell in enumerate(cells):
        lo, hi, law = (curves.sel(**cell, bound=b).values for b in ("lower", "upper", "product_law"))   # (K, S)
        ok = np.isfinite(law).any(axis=1)
        if not ok.any():
            continue
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)          # K values this cell did not measure
            mlo, mhi, mlaw = np.nanmean(lo, axis=1), np.nanmean(hi, axis=1), np.nanmean(law, axis=1)
        c = style.color(i)
        a1.plot(ks[ok], mlaw[ok], "--", color=c, linewidth=1)
        fin = ok & np.isfinite(mlo) & np.isfinite(mhi)
        if fin.any():
            a1.fill_between(ks[fin], mlo[fin], mhi[fin], color=c, alpha=0.2, linewidth=0)
            a1.plot(ks[fin], 0.5 * (mlo + mhi)[fin], color=c, marker=style.marker(i), label=cell_label(cell, base))
        else:
            a1.plot([], [], color=c, label=cell_label(cell, base) + " (no certified bound)")
    a1.axhline(0.0, color="0.5", linewidth=0.8)
    a1.plot([], [], "--", color="0.3", label="product law (predicted)")
    style.label_axes(a1, "number of normalizers K", "log(Lip without / Lip with normalizers) (nats)",
                     f"base: {cell_label(base)}")
    a1.legend(fontsize=6, ncol=2)
    rows = [(cell, cell_label(cell, base), est, lo, hi, law) for cell, (est, (lo, hi), law) in zip(cells, data.values())]
    interval_panel(a2, rows, verdicts=check_verdicts(ev, "reduction"), marks_label="product-law slope")
    style.label_axes(a2, "slope of the log-reduction in K (nats per normalizer)", "regime cell", "decision interval")
    style.verdict_badge(a2, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
