"""Figure 1: log-Lipschitz constant against depth, unnormalized and with LayerNorm, for several gains.

Reads ``cap.unnormalized-exponential-input`` (and, when present, ``cap.unnormalized-exponential-params``
as a second panel): ``gains`` (G), ``depths`` (D), ``seeds`` (S) and ``log_lip_lower`` /
``log_lip_upper`` (G, S, D), the attained lower and certified upper bounds, plus ``log_lip_norm_*``
for the same weights with LayerNorm after every layer. Dashed: the claim's predicted slope
(``predicted["slope g=<g>"]``, log g per layer; for the parameter constant plus the 0.5 log L of the
linear-chain law) through the measured mean at the smallest depth.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, figure_main, get_evidence, grid, plot_seeds, seed_stats

NAME = "lipschitz_depth"
CLAIMS = ("cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params")
CAPTION = ("Log-Lipschitz constant against depth for several weight gains g, without normalization (solid) and "
           "with LayerNorm after every layer (dotted); line: mean attained lower bound over seeds, band: "
           "range over seeds from the lower to the certified upper bound; dashed: the predicted slope log g per layer.")
KEYS = ("gains", "depths", "log_lip_lower", "log_lip_upper", "log_lip_norm_lower", "log_lip_norm_upper")


def _panel(ax, ev, wrt: str) -> None:
    gains = grid(ev, "gains", NAME, (None,))
    depths = grid(ev, "depths", NAME, (None,))
    shape = (gains.size, None, depths.size)
    for gi, g in enumerate(gains):
        for tag, si, suffix in (("", 0, ""), ("norm_", 3, ", LayerNorm")):
            lo = grid(ev, f"log_lip_{tag}lower", NAME, shape)[gi]
            hi = grid(ev, f"log_lip_{tag}upper", NAME, shape)[gi]
            plot_seeds(ax, depths, lo, label=f"g = {g:g}{suffix}", i=gi, style_index=si, band=(lo, hi))
        slope = (ev.predicted or {}).get(f"slope g={g:g}")
        if slope is not None:
            m0 = seed_stats(grid(ev, "log_lip_lower", NAME, shape)[gi])[0][0]
            off = 0.5 * np.log(depths / depths[0]) if wrt == "parameters" else 0.0
            ax.plot(depths, m0 + float(slope) * (depths - depths[0]) + off, linestyle="--", color=style.color(gi),
                    linewidth=1, alpha=0.8, label=f"predicted, g = {g:g}")
    style.label_axes(ax, "depth L (layers)", f"log Lipschitz constant w.r.t. {wrt} (natural log)")
    ax.legend(ncol=2)
    style.verdict_badge(ax, ev)


def make(evidence_by_id, out_dir) -> list:
    panels = [(get_evidence(evidence_by_id, CLAIMS[0], NAME), "input")]
    if CLAIMS[1] in evidence_by_id:
        try:
            ev2 = get_evidence(evidence_by_id, CLAIMS[1], NAME)
            for k in KEYS:
                grid(ev2, k, NAME)
            panels.append((ev2, "parameters"))
        except FigureDataError:
            pass  # the input panel alone is still the figure
    fig, axes = style.new_figure(ncols=len(panels))
    for ax, (ev, wrt) in zip(np.atleast_1d(axes), panels):
        _panel(ax, ev, wrt)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
