"""Figure 1: the unnormalized-growth claims: log-Lipschitz constant against depth, per regime cell.

Reads ``cap.unnormalized-exponential-input`` (and, when present, ``cap.unnormalized-exponential-params``):
``log_lipschitz`` (cell axes, depth, seed, bound) for the curves and ``slope`` (cell axes, end) for the
decision. Per claim, left: the mean over seeds of log(attained lower bound) against depth for every cell,
the band reaching the certified upper bound (the certificate gap), and the linear-chain prediction
L log g (dashed) through the base cell's first point; right: per cell the growth interval the verdict
uses ([t-interval low of the lower-bound slopes, high of the upper-bound slopes]), its estimate, the
threshold 0 and log g (the rate predicted on the linear orthogonal chain), coloured by the check's verdict (a refutation after Holm).
"""
from __future__ import annotations

import numpy as np

from . import style
from ._regime_cells import cell_label, cells_of, check_verdicts, interval_panel, star_base
from .base import FigureDataError, get_evidence, require_series

NAME = "lipschitz_depth"
CLAIMS = ("cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params")
READS = {cid: ("log_lipschitz", "slope") for cid in CLAIMS}
CAPTION = ("Unnormalized networks. Left: log of the Lipschitz constant (w.r.t. the input, and below w.r.t. the "
           "parameters) against depth for each regime cell: line = mean over seeds of the attained lower bound, "
           "band = up to the certified upper bound; dashed: the linear-chain law L log g. Right: per cell the "
           "interval the verdict uses for the growth rate (lower-bound slopes to upper-bound slopes, 95% over "
           "seeds), its estimate (dot), the threshold 0 (dashed) and log g (tick); colour = that check's verdict.")
AXES = ("activation", "init", "architecture", "gain", "state")


def decision_data(ev) -> dict:
    """{cell tuple: (estimate, (low, high), log g)}: the growth check's estimate and interval per cell."""
    s = require_series(ev, "slope", NAME, AXES + ("end",))
    out = {}
    for cell in cells_of(s, AXES):
        v = {e: s.sel(**cell, end=e).item() for e in s.coords["end"]}
        out[tuple(cell.values())] = (v["estimate"], (v["growth_low"], v["growth_high"]), v["log_gain"])
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured cell")
    return out


def _row(axs, ev, what: str) -> None:
    curves = require_series(ev, "log_lipschitz", NAME, AXES + ("depth", "seed", "bound"))
    data = decision_data(ev)
    cells = [dict(zip(AXES, k)) for k in data]
    base = star_base(cells)
    depths = np.asarray(curves.coords["depth"], dtype=float)
    ax = axs[0]
    for i, cell in enumerate(cells):
        lo, hi = curves.sel(**cell, bound="lower").values, curves.sel(**cell, bound="upper").values   # (D, S)
        ok = np.isfinite(lo).any(axis=1)
        m = np.nanmean(np.where(np.isfinite(lo), lo, np.nan), axis=1)
        top = np.nanmax(np.where(np.isfinite(hi), hi, np.nan), axis=1) if np.isfinite(hi).any() else m
        ax.plot(depths[ok], m[ok], color=style.color(i), marker=style.marker(i), label=cell_label(cell, base))
        ax.fill_between(depths[ok], np.nanmin(lo, axis=1)[ok], top[ok], color=style.color(i), alpha=0.12, linewidth=0)
    first = np.nanmean(curves.sel(**base, bound="lower").values, axis=1)
    d0 = depths[np.isfinite(first)][0]
    off = 0.5 * np.log(depths / d0) if what == "the parameters" else 0.0     # the sqrt(L) of the chain law
    ax.plot(depths, first[np.isfinite(first)][0] + data[tuple(base.values())][2] * (depths - d0) + off, "--",
            color=style.PREDICTION_COLOR, linewidth=1, label="linear-chain law (slope log g)")
    style.label_axes(ax, "depth L (layers; ResNet: blocks)", f"log Lipschitz constant w.r.t. {what} (nats)",
                     f"base: {cell_label(base)}")
    ax.legend(fontsize=6.5, ncol=2)
    rows = [(cell, cell_label(cell, base), est, lo, hi, lg) for cell, (est, (lo, hi), lg) in zip(cells, data.values())]
    interval_panel(axs[1], rows, verdicts=check_verdicts(ev, "growth"), marks_label="log g")
    style.label_axes(axs[1], "slope of log Lip against depth (nats per layer)" + (
        " (log Lip - 0.5 log L)" if what == "the parameters" else ""), "regime cell", "decision interval")
    style.verdict_badge(axs[1], ev)


def make(evidence_by_id, out_dir) -> list:
    evs = [(get_evidence(evidence_by_id, CLAIMS[0], NAME), "the input")]
    if CLAIMS[1] in evidence_by_id:
        evs.append((get_evidence(evidence_by_id, CLAIMS[1], NAME), "the parameters"))
    fig, axes = style.new_figure(ncols=2, nrows=len(evs), width=11.0, height=4.2 * len(evs))
    axes = np.atleast_2d(axes)
    for row, (ev, what) in zip(axes, evs):
        _row(row, ev, what)
    return style.save(fig, out_dir, f"fig_{NAME}")
