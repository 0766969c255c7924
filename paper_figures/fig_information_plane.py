"""Figure 7: the information plane per normalizer: I(T_prev;T) against I(Y;T) across layers, from
``ib.higher-ib-value`` (MI in nats, from a validated estimator)."""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, groups, mean_ci_by

NAME = "information_plane"
CLAIMS = ("ib.higher-ib-value",)
CAPTION = ("Information plane per normalizer: compression term I(T_prev;T) against relevance I(Y;T), one marker "
           "per layer (mean over seeds), joined in layer order. Higher and further left is a better IB trade-off.")
KEYS = ("plane_normalizer", "plane_layer", "plane_i_prev", "plane_i_y")   # long: (normalizer, layer, seed)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, ax = style.new_figure()
    for i, norm in enumerate(groups(c["plane_normalizer"])):
        sel = np.asarray([v == norm for v in c["plane_normalizer"]])
        layers, ix, _, _ = mean_ci_by(c["plane_layer"][sel], c["plane_i_prev"][sel])
        _, iy, _, _ = mean_ci_by(c["plane_layer"][sel], c["plane_i_y"][sel])
        ax.plot(ix, iy, marker=style.marker(i), linestyle=style.linestyle(i), color=style.color(str(norm)),
                label=str(norm))
        ax.annotate(f"L{layers[-1]:g}", (ix[-1], iy[-1]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    style.label_axes(ax, "I(T_prev; T) (nats)", "I(Y; T) (nats)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
