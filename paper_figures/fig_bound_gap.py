"""Figure 6: the local-Lipschitz capacity bound against the measured generalization gap, with and
without normalization, from ``cap.local-generalization-bound``."""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, groups

NAME = "bound_gap"
CLAIMS = ("cap.local-generalization-bound",)
CAPTION = ("Capacity bound (log scale) against the measured generalization gap (test loss - train loss), one "
           "point per trained network, coloured by configuration; a bound that tracks the gap rises left to right.")
KEYS = ("bound", "gap", "config")   # long format: one entry per (configuration, seed)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, ax = style.new_figure()
    for i, cfg in enumerate(groups(c["config"])):
        sel = np.asarray([v == cfg for v in c["config"]])
        ax.scatter(c["gap"][sel], c["bound"][sel], color=style.color(str(cfg)) if isinstance(cfg, str) else style.color(i),
                   marker=style.marker(i), label=str(cfg), s=22)
    ax.set_yscale("log")
    style.label_axes(ax, "measured generalization gap (nats, test - train cross-entropy)",
                     "capacity bound (nats, log scale)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
