"""Figure 4: loss smoothness against the number K of normalizers, from ``cap.loss-smoothness``.

Reads ``log_norm`` (cell axes, K, seed, quantity, net) and ``slope`` (cell axes, quantity, seed). Left: for
the base cell, the log gradient norm and log Hessian spectral norm w.r.t. the parameters against K, with
the normalizers (solid) and for the same weights without them (dashed), mean over seeds. Middle and
right: the statistic the verdict uses, per regime cell: the per-seed slope in K of log(norm without /
norm with) (dots), their mean and 95% Student-t interval over seeds (the check's interval) and the
threshold 0, for the gradient norm and the Hessian norm; coloured by that check's verdict (a refutation after Holm).
"""
from __future__ import annotations

import warnings

import numpy as np

from ibnorm_verify.verification.stats import mean_se_ci

from . import style
from ._regime_cells import cell_label, cells_of, check_verdicts, interval_panel, star_base
from .base import FigureDataError, get_evidence, require_series

NAME = "loss_smoothness"
CLAIMS = ("cap.loss-smoothness",)
READS = {CLAIMS[0]: ("log_norm", "slope")}
CAPTION = ("Loss smoothness with K normalizers. Left: log loss-gradient norm and log Hessian spectral norm w.r.t. the "
           "parameters against K for the base regime cell, with normalizers (solid) and for the same weights without "
           "(dashed), mean over seeds. Middle, right: per regime cell, the mean over seeds of the slope in K of "
           "log(norm without / norm with) with its 95% interval (the verdict's statistic), per-seed slopes as dots, "
           "threshold 0 (dashed); colour = that check's verdict.")
AXES = ("activation", "init", "architecture", "grouping", "gain", "state")
QUANTITIES = {"grad": "gradient norm", "hessian": "Hessian spectral norm"}


def decision_data(ev) -> dict:
    """{(cell tuple, quantity): (per-seed slopes, mean, (low, high))}: the checks' statistic per cell."""
    s = require_series(ev, "slope", NAME, AXES + ("quantity", "seed"))
    out = {}
    for cell in cells_of(s, AXES):
        for q in QUANTITIES:
            v = s.sel(**cell, quantity=q).values
            v = v[np.isfinite(v)]
            if v.size:
                m = mean_se_ci(v)
                out[(tuple(cell.values()), q)] = (v, m.estimate, m.ci)
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured slope")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    norms = require_series(ev, "log_norm", NAME, AXES + ("K", "seed", "quantity", "net"))
    cells = [dict(zip(AXES, k)) for k in dict.fromkeys(c for c, _ in data)]
    base = star_base(cells)
    ks = np.asarray(norms.coords["K"], dtype=float)
    fig, axes = style.new_figure(ncols=3, width=14.0, height=max(4.0, 0.3 * len(cells) + 1.5))
    for i, q in enumerate(QUANTITIES):
        for net, ls in (("norm", "-"), ("unnorm", "--")):
            v = norms.sel(**base, quantity=q, net=net).values            # (K, S)
            ok = np.isfinite(v).any(axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)          # K values the base cell did not measure
                m = np.nanmean(v, axis=1)
            axes[0].plot(ks[ok], m[ok], linestyle=ls, color=style.color(i),
                         marker=style.marker(i), label=f"{QUANTITIES[q]}, {'with' if net == 'norm' else 'without'}")
    style.label_axes(axes[0], "number of normalizers K", "log norm (nats)", f"base: {cell_label(base)}")
    axes[0].legend(fontsize=6.5)
    for ax, q in zip(axes[1:], QUANTITIES):
        verdicts = check_verdicts(ev, "gradient" if q == "grad" else "hessian")
        rows = []
        for j, cell in enumerate(cells):
            got = data.get((tuple(cell.values()), q))
            if got is None:
                continue
            v, m, (lo, hi) = got
            rows.append((cell, cell_label(cell, base), m, lo, hi, None))
            ax.plot(v, np.full(v.size, len(rows) - 1) + np.linspace(-0.15, 0.15, v.size), ".", color="0.45",
                    markersize=4)
        interval_panel(ax, rows, verdicts=verdicts)
        style.label_axes(ax, f"slope in K of log({QUANTITIES[q]} without / with) (nats per normalizer)", "regime cell",
                         QUANTITIES[q] + (" (primary)" if q == "hessian" else ""))
    style.verdict_badge(axes[2], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
