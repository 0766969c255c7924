"""Figure 4: loss smoothness against K: the loss-gradient norm and the Hessian spectral norm w.r.t. the
parameters, with K normalizers and for the same unnormalized weights, from ``cap.loss-smoothness``.

Reads ``K`` (nK) and ``log_grad_norm``, ``log_grad_norm_unnorm``, ``log_hessian_norm``,
``log_hessian_norm_unnorm`` (each (S, nK), natural log).
"""
from __future__ import annotations

import sys

from . import style
from .base import figure_main, get_evidence, grid, plot_seeds

NAME = "loss_smoothness"
CLAIMS = ("cap.loss-smoothness",)
CAPTION = ("Loss smoothness against the number K of normalizers: log of the loss-gradient norm (left) and of the "
           "Hessian spectral norm (right) w.r.t. the parameters, with normalizers (solid) and for the same weights "
           "without them (dashed); mean over seeds, 95% CI band.")
KEYS = ("K", "log_grad_norm", "log_grad_norm_unnorm", "log_hessian_norm", "log_hessian_norm_unnorm")


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    ks = grid(ev, "K", NAME, (None,))
    shape = (None, ks.size)
    fig, axes = style.new_figure(ncols=2)
    norm = (ev.conditions or {}).get("norm", "normalized")
    for ax, q, what in zip(axes, ("grad", "hessian"), ("loss-gradient norm", "Hessian spectral norm")):
        plot_seeds(ax, ks, grid(ev, f"log_{q}_norm", NAME, shape), label=f"with {norm}", i=0, style_index=0)
        plot_seeds(ax, ks, grid(ev, f"log_{q}_norm_unnorm", NAME, shape), label="unnormalized", i="none",
                   style_index=1)
        style.label_axes(ax, "number of normalizers K", f"log {what} (natural log)")
        ax.legend()
    style.verdict_badge(axes[1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
