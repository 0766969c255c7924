"""Figure 4: loss smoothness against K: the loss-gradient norm and the Hessian spectral norm w.r.t.
the parameters (log scale), from ``cap.loss-smoothness``."""
from __future__ import annotations

import sys

from . import style
from .base import columns, figure_main, get_evidence, plot_mean_ci

NAME = "loss_smoothness"
CLAIMS = ("cap.loss-smoothness",)
CAPTION = ("Loss smoothness against the number K of normalizers: log of the loss-gradient norm and of the "
           "Hessian spectral norm w.r.t. the parameters (mean over seeds, 95% CI band).")
KEYS = ("K", "log_grad_norm", "log_hessian_norm")   # long format: one entry per (K, seed)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, ax = style.new_figure()
    plot_mean_ci(ax, c["K"], c["log_grad_norm"], label="loss-gradient norm", i=0, style_index=0)
    plot_mean_ci(ax, c["K"], c["log_hessian_norm"], label="Hessian spectral norm", i=1, style_index=1)
    style.label_axes(ax, "number of normalizers K", "log of the norm (natural log)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
