"""Figure 6: the local-Lipschitz capacity bound against the measured generalization gap, one point per
trained network, from ``cap.local-generalization-bound``.

Reads ``points.norm``, ``points.label_noise``, ``points.gap`` (test error - train error) and
``points.bound`` (our reconstructed local-Lipschitz covering bound), one entry per network.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, groups

NAME = "bound_gap"
CLAIMS = ("cap.local-generalization-bound",)
CAPTION = ("Capacity bound (log scale) against the measured generalization gap (test error - train error), one "
           "point per trained network; colour = normalizer, marker = label-noise level. Normalization helps when "
           "its points lie lower; the bound tracks the gap when the points rise from left to right.")
KEYS = ("points.norm", "points.label_noise", "points.gap", "points.bound")


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, ax = style.new_figure()
    noises = groups(c["points.label_noise"])
    for norm in groups(c["points.norm"]):
        for j, ln in enumerate(noises):
            sel = np.asarray([(a == norm and b == ln) for a, b in zip(c["points.norm"], c["points.label_noise"])])
            if sel.any():
                ax.scatter(c["points.gap"][sel], c["points.bound"][sel], color=style.color(str(norm)),
                           marker=style.marker(j), s=26, label=f"{norm}, label noise {ln:g}")
    style.log_axis(ax, "y")
    style.label_axes(ax, "generalization gap (test error - train error, fraction)", "capacity bound (log scale)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
