"""Figure 1: log-Lipschitz constant against depth, unnormalized and normalized, for several gains.

Reads ``cap.unnormalized-exponential-input`` (and, when present, ``cap.unnormalized-exponential-params``
as a second panel). The dashed lines are the prediction: slope log(gain) per layer (2511.00958,
reconstructed), drawn through the measured mean at the smallest depth.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from . import style
from .base import FigureDataError, columns, figure_main, get_evidence, groups, mean_ci_by, plot_mean_ci

NAME = "lipschitz_depth"
CLAIMS = ("cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params")
CAPTION = ("Log-Lipschitz constant against depth for several weight gains, without (solid) and with (dotted) "
           "normalization; dashed: predicted slope log(gain) per layer. Mean over seeds, 95% CI band.")
KEYS = ("depth", "gain", "log_lip")       # long format: one entry per (depth, gain, normalized, seed)
OPTIONAL = ("normalized",)                # 0/1 (or bool): with normalization layers


def _panel(ax, ev, wrt: str) -> None:
    c = columns(ev, KEYS, NAME, OPTIONAL)
    norm = np.asarray(c.get("normalized", np.zeros_like(c["depth"])), dtype=float)
    for gi, g in enumerate(groups(c["gain"])):
        for ni, nv in enumerate(groups(norm)):
            sel = (c["gain"] == g) & (norm == nv)
            if not sel.any():
                continue
            lab = f"gain {g:g}" + (", normalized" if nv else "")
            plot_mean_ci(ax, c["depth"][sel], c["log_lip"][sel], label=lab, i=gi, style_index=3 * ni)
            if not nv and g > 0:
                xs, m, _, _ = mean_ci_by(c["depth"][sel], c["log_lip"][sel])
                ax.plot(xs, m[0] + math.log(g) * (xs - xs[0]), linestyle="--", color=style.color(gi), alpha=0.7,
                        linewidth=1)
    style.label_axes(ax, "depth L (layers)", f"log Lipschitz constant w.r.t. {wrt} (nats)")
    ax.legend(ncol=2)
    style.verdict_badge(ax, ev)


def make(evidence_by_id, out_dir) -> list:
    panels = [(get_evidence(evidence_by_id, CLAIMS[0], NAME), "input")]
    if CLAIMS[1] in evidence_by_id:
        try:
            ev2 = get_evidence(evidence_by_id, CLAIMS[1], NAME)
            columns(ev2, KEYS, NAME, OPTIONAL)
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
