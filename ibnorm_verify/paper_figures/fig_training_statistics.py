"""Figure 5: training statistics, from ``cap.training-statistics``.

Left: the statistic the verdict turns on: per regime cell (optimizer x grouping x weight decay), the
per-seed share of normalizers whose final input std exceeds their max |gamma| (dots), the median over
seeds with its distribution-free order-statistic interval (the check's interval) and the prediction
(> 1/2). Middle and right: the normalizer input variance and the weight norm against the training step
(geometric mean over layers, mean over seeds), one line per cell; far right: the training loss (the
plateau precondition reads it).
"""
from __future__ import annotations

import numpy as np

from ibnorm_verify.verification.stats import median_ci

from . import style
from .base import FigureDataError, get_evidence, require_series

NAME = "training_statistics"
CLAIMS = ("cap.training-statistics",)
READS = {"cap.training-statistics": ("share_sigma_above_gamma", "training_curves")}
CAPTION = ("Left: per regime (optimizer / grouping / weight decay), the share of normalizers ending with input std "
           "above |gamma| in each seed (dots), their median with its order-statistic 95% interval (the verdict's "
           "interval; the full range [0, 1] when there are too few seeds to decide) and the prediction 1/2 (dashed). "
           "Middle: normalizer input variance and weight norm against the optimizer step (geometric mean over "
           "layers, mean over seeds). Right: the training loss (mean over seeds), which should reach a plateau.")
AXES = ("optimizer", "grouping", "weight_decay")


def _cells(s) -> list[tuple]:
    return [(o, g, w) for o in s.coords["optimizer"] for g in s.coords["grouping"] for w in s.coords["weight_decay"]]


def _label(cell) -> str:
    o, g, w = cell
    return f"{o}/{g}" + (f"/wd={w:g}" if w else "")


def decision_data(ev) -> dict:
    """{cell: (per-seed shares, median, (lo, hi))}, the cell = (optimizer, grouping, weight decay); the
    same statistic and interval as the claim's ``sigma > |gamma|`` checks."""
    s = require_series(ev, "share_sigma_above_gamma", NAME, AXES + ("seed",))
    out = {}
    for cell in _cells(s):
        v = s.sel(**dict(zip(AXES, cell))).values
        v = v[np.isfinite(v)]
        if v.size:
            m = median_ci(v, support=(0.0, 1.0))
            out[cell] = (v, m.estimate, m.ci)
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured share of normalizers")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    curves = require_series(ev, "training_curves", NAME, AXES + ("seed", "quantity", "layer", "step"))
    fig, axes = style.new_figure(ncols=4, width=17.0)
    ax = axes[0]
    for i, (cell, (v, med, (lo, hi))) in enumerate(data.items()):
        ax.plot(np.full(v.size, i) + np.linspace(-0.12, 0.12, v.size), v, ".", color="0.45", markersize=5)
        ax.errorbar(i + 0.25, med, yerr=[[med - lo], [hi - med]], color=style.color(cell[1]), marker="D", capsize=4)
    ax.axhline(0.5, color="0.3", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(data)), [_label(c) for c in data], rotation=30)
    ax.set_ylim(-0.05, 1.05)
    style.label_axes(ax, "regime", "share of normalizers with σ > |γ| (per seed)", "decision statistic")
    for ax, qty, ylabel in ((axes[1], "normalizer input variance", "normalizer input variance (activation units²)"),
                            (axes[2], "weight norm", "weight norm (Frobenius)"),
                            (axes[3], "training loss", "training loss (minibatch, nats)")):
        steps = np.asarray(curves.coords["step"], dtype=float)
        for i, cell in enumerate(data):
            sub = curves.sel(**dict(zip(AXES, cell)), quantity=qty).values    # (seed, layer, step)
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.exp(np.nanmean(np.log(sub), axis=1))                   # (seed, step): geometric mean
            if np.isfinite(g).any():
                ax.plot(steps, np.nanmean(g, axis=0), color=style.color(cell[1]), linestyle=style.linestyle(i),
                        label=_label(cell))
        style.log_axis(ax, "y")
        style.label_axes(ax, "training step (optimizer updates)", ylabel)
        ax.legend(fontsize=7)
    style.verdict_badge(axes[0], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
