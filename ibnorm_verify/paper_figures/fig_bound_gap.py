"""Figure 6: the local-Lipschitz capacity bound and the generalization gap, from ``cap.local-generalization-bound``.

Left: one vertical segment per trained network, from the bound with the attained lower Lipschitz constant
to the bound with the certified upper one, against the measured gap. Right: the statistic the verdict
turns on: per regime cell, the bracket of log(B_norm / B_none) over seeds (the hull of the Student-t
intervals of its lower and upper ends, the check's interval), with the prediction (< 0).
"""
from __future__ import annotations

import math

import numpy as np

from ibnorm_verify.verification.stats import mean_se_ci

from . import style
from .base import FigureDataError, get_evidence, require_series

NAME = "bound_gap"
CLAIMS = ("cap.local-generalization-bound",)
READS = {"cap.local-generalization-bound": ("bounds", "gap")}
CAPTION = ("Left: the reconstructed local-Lipschitz bound of each trained network as a segment from the attained "
           "to the certified Lipschitz constant, against its generalization gap (test - train error); colour = "
           "normalizer. Right: per normalizer and label noise, the bracket of log(bound with normalization / bound "
           "without) over seeds: supported only when the whole interval is below 0, refuted only when it is above.")
AXES = ("grouping", "compression", "label_noise")


def _log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(x, dtype=float))


def decision_data(ev) -> dict:
    """{(grouping, compression, label noise): (lo_mean, hi_mean, (ci_lo, ci_hi))}: the bracket of
    log(B_norm / B_none) paired over seeds, as the claim's ``tighter`` checks compute it."""
    b = require_series(ev, "bounds", NAME, AXES + ("seed", "bound"))
    if "none" not in b.coords["grouping"]:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no unnormalized baseline in series 'bounds'")
    out = {}
    for ln in b.coords["label_noise"]:
        base = b.sel(grouping="none", compression="identity", label_noise=ln)       # (seed, bound)
        for g in b.coords["grouping"]:
            for c in b.coords["compression"]:
                if g == "none":
                    continue
                nb = b.sel(grouping=g, compression=c, label_noise=ln)
                lo = _log(nb.sel(bound="local_lower").values) - _log(base.sel(bound="local_upper").values)
                hi = _log(nb.sel(bound="local_upper").values) - _log(base.sel(bound="local_lower").values)
                ok = np.isfinite(lo) & np.isfinite(hi)
                if ok.sum() == 0:
                    continue
                ml, mh = mean_se_ci(lo[ok]), mean_se_ci(hi[ok])
                out[(g, c, ln)] = (ml.estimate, mh.estimate, (ml.ci[0], mh.ci[1]))
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no normalized network paired with the baseline")
    return out


def _label(g: str, c: str) -> str:
    return g if c == "identity" else f"IB-{g} ({c})"


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    b = require_series(ev, "bounds", NAME, AXES + ("seed", "bound"))
    gap = require_series(ev, "gap", NAME, AXES + ("seed",))
    fig, (ax, ax2) = style.new_figure(ncols=2, width=11.0)
    for g in b.coords["grouping"]:
        for c in b.coords["compression"]:
            lo = b.sel(grouping=g, compression=c, bound="local_lower").values.ravel()
            hi = b.sel(grouping=g, compression=c, bound="local_upper").values.ravel()
            x = gap.sel(grouping=g, compression=c).values.ravel()
            ok = np.isfinite(x) & np.isfinite(lo)
            if ok.any():
                col = style.color(_label(g, c))
                ax.vlines(x[ok], lo[ok], np.where(np.isfinite(hi[ok]), hi[ok], lo[ok]), color=col, linewidth=1.5)
                ax.plot(x[ok], lo[ok], "_", color=col, label=_label(g, c))
    style.label_axes(ax, "generalization gap (test error - train error)", "local bound [attained L, certified L]")
    ax.legend(fontsize=7)
    for i, ((g, c, ln), (ml, mh, (a, z))) in enumerate(data.items()):
        col = style.color(_label(g, c))
        ax2.plot([i, i], [a, z], color=col, linewidth=2)
        ax2.plot([i, i], [ml, mh], color=col, linewidth=6, alpha=0.5)
        ax2.plot(i, 0.5 * (ml + mh), "D", color=col)
    ax2.axhline(0.0, color="0.3", linestyle="--", linewidth=1)
    ax2.set_xticks(range(len(data)), [f"{_label(g, c)}\nnoise {ln:g}" for g, c, ln in data], fontsize=7)
    style.label_axes(ax2, "normalizer, label noise", "log(bound with norm / bound without)")
    if not all(math.isfinite(v) for _, _, ci in data.values() for v in ci):
        ax2.text(0.02, 0.02, "some brackets are unbounded (no finite certificate)", transform=ax2.transAxes,
                 fontsize=7, color="0.4")
    style.verdict_badge(ax2, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
