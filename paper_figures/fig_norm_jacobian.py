"""Figure 12: one normalizer's measured Jacobian spectral norm against the prediction
|gamma|/sqrt(var+eps), per normalizer type, from ``cap.norm-jacobian``."""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, groups

NAME = "norm_jacobian"
CLAIMS = ("cap.norm-jacobian",)
CAPTION = ("Jacobian spectral norm of one normalization operation, measured (exact SVD) against the prediction "
           "|gamma|/sqrt(var+eps), one marker per random input, colour per normalizer; the diagonal is exact agreement.")
KEYS = ("normalizer", "predicted", "measured")   # long format: one entry per (normalizer, input)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, ax = style.new_figure(width=4.4, height=4.0)
    for i, norm in enumerate(groups(c["normalizer"])):
        sel = np.asarray([v == norm for v in c["normalizer"]])
        ax.scatter(c["predicted"][sel], c["measured"][sel], color=style.color(i), marker=style.marker(i),
                   label=str(norm), s=18)
    v = np.concatenate([c["predicted"], c["measured"]])
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = v.min() / 1.2, v.max() * 1.2
    ax.plot([lo, hi], [lo, hi], color=style.PREDICTION_COLOR, linestyle="--", linewidth=1, label="measured = predicted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.label_axes(ax, "predicted |gamma|/sqrt(var+eps) (dimensionless)", "measured ||J||_2 (dimensionless)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
