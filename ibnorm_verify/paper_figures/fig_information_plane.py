"""Figure 7: the information plane of one normalization layer, from ``ib.higher-ib-value``, drawn as the
paired change from the plain normalizer to each IBNorm variant.

Reads the series ``I_X`` (I(T_prev; T_s)) and ``I_Y`` (I(Y; T_s)) with dims (estimator, grouping,
compression, lam, noise, seed), nats. Per seed, the change (dI_X, dI_Y) of the variant against the
baseline of its grouping (same draws); the mean over seeds with 95% Student-t intervals on each axis.
The IB value rises exactly when dI_Y - beta dI_X > 0, i.e. above the line dI_Y = beta dI_X through the
origin (drawn for each beta of the claim): the verdict's statistic, read off the plane. Panels: columns
= grouping, rows = channel noise s; colour = variant, marker = MI estimator (hollow and faint: an
estimator that failed its validation at the claim's dimensions, so its cells are not evidence).
"""
from __future__ import annotations

import numpy as np

from ibnorm_verify.verification.stats import mean_se_ci

from . import style
from .base import FigureDataError, get_evidence, require_series

NAME = "information_plane"
CLAIMS = ("ib.higher-ib-value",)
READS = {CLAIMS[0]: ("I_X", "I_Y")}
CAPTION = ("Information plane of one normalization layer as the paired change from the plain normalizer to each IBNorm "
           "variant: dI(T_prev;T_s) against dI(Y;T_s) (nats), mean over seeds with 95% intervals; colour = variant, "
           "marker = MI estimator (hollow: not validated at these dimensions, not evidence). Above the dashed line of slope beta the IB value rises (Theorem 1's prediction); "
           "below it, it falls. Columns: grouping; rows: channel noise s.")
DIMS = ("estimator", "grouping", "compression", "lam", "noise", "seed")
ESTIMATOR_MARKERS = {"mixture": "o", "knn": "s"}


def decision_data(ev) -> dict:
    """{(estimator, grouping, compression, lam, noise): {"dx", "dy": per-seed changes, "mx", "my": means,
    "cx", "cy": 95% intervals}} for every IBNorm variant paired with its grouping's baseline."""
    ix = require_series(ev, "I_X", NAME, DIMS)
    iy = require_series(ev, "I_Y", NAME, DIMS)
    if "identity" not in ix.coords["compression"] or 1.0 not in ix.coords["lam"]:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no baseline (compression identity) in series 'I_X'")
    out = {}
    for est in ix.coords["estimator"]:
        for g in ix.coords["grouping"]:
            for s in ix.coords["noise"]:
                bx = ix.sel(estimator=est, grouping=g, compression="identity", lam=1.0, noise=s).values
                by = iy.sel(estimator=est, grouping=g, compression="identity", lam=1.0, noise=s).values
                for c in ix.coords["compression"]:
                    for lam in ix.coords["lam"]:
                        if c == "identity":
                            continue
                        dx = ix.sel(estimator=est, grouping=g, compression=c, lam=lam, noise=s).values - bx
                        dy = iy.sel(estimator=est, grouping=g, compression=c, lam=lam, noise=s).values - by
                        ok = np.isfinite(dx) & np.isfinite(dy)
                        if ok.sum() == 0:
                            continue
                        mx, my = mean_se_ci(dx[ok]), mean_se_ci(dy[ok])
                        out[(est, g, c, lam, s)] = {"dx": dx[ok], "dy": dy[ok], "mx": mx.estimate, "my": my.estimate,
                                                    "cx": mx.ci, "cy": my.ci}
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no IBNorm variant paired with its baseline")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    betas = sorted(float(b) for b in (ev.params or {}).get("betas", []))
    if not betas:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: params has no 'betas' (the slopes of the IB lines)")
    groupings = list(dict.fromkeys(k[1] for k in data))
    noises = sorted({k[4] for k in data})
    variants = list(dict.fromkeys((k[2], k[3]) for k in data))
    # cells of an estimator that failed its validation there hold a failed precondition: drawn hollow
    unvalidated = {(c.cell.get("estimator"), c.cell.get("grouping"), c.cell.get("noise")) for c in ev.checks
                   if c.role == "precondition" and c.cell and c.verdict.value != "supported"}
    fig, axes = style.new_figure(ncols=len(groupings), nrows=len(noises), width=4.4 * len(groupings),
                                 height=3.6 * len(noises))
    axes = np.asarray(axes).reshape(len(noises), len(groupings))
    for r, s in enumerate(noises):
        for c, g in enumerate(groupings):
            ax = axes[r, c]
            pts = {k: d for k, d in data.items() if k[1] == g and k[4] == s}
            xs = [x for d in pts.values() for x in d["cx"]] + [0.0]
            x0, x1 = min(xs), max(xs)
            for i, beta in enumerate(betas):
                ax.plot([x0, x1], [beta * x0, beta * x1], color=style.PREDICTION_COLOR, linestyle=style.linestyle(i + 1),
                        linewidth=0.9, label=f"IB unchanged at β={beta:g}")
            ax.axhline(0, color="0.7", linewidth=0.6)
            ax.axvline(0, color="0.7", linewidth=0.6)
            for (est, _, comp, lam, _), d in pts.items():
                col = style.color(variants.index((comp, lam)))
                bad = (est, g, s) in unvalidated
                ax.errorbar([d["mx"]], [d["my"]], xerr=[[d["mx"] - d["cx"][0]], [d["cx"][1] - d["mx"]]],
                            yerr=[[d["my"] - d["cy"][0]], [d["cy"][1] - d["my"]]], color=col, capsize=2,
                            marker=ESTIMATOR_MARKERS.get(est, "D"), linestyle="none", alpha=0.45 if bad else 1.0,
                            markerfacecolor="white" if bad else col,
                            label=f"{comp} λ={lam:g}, {est}" + (" (not validated here)" if bad else ""))
            style.label_axes(ax, "ΔI(T_prev; T_s), IBNorm - baseline (nats)", "ΔI(Y; T_s) (nats)",
                             f"{g}, s={s:g}")
            ax.legend(fontsize=6)
    style.verdict_badge(axes[0, -1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
