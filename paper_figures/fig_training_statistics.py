"""Figure 5: training statistics: the normalizers' input variances and the weight norms against the
training step, per layer, from ``cap.training-statistics``."""
from __future__ import annotations

import sys

from . import style
from .base import columns, figure_main, get_evidence, groups, plot_mean_ci

NAME = "training_statistics"
CLAIMS = ("cap.training-statistics",)
CAPTION = ("During training: left, the variance of each normalizer's input; right, the Frobenius norm of each "
           "layer's weights; against the optimizer step (mean over seeds, 95% CI band; log scale).")
KEYS = ("step", "layer", "input_var", "weight_norm")   # long format: one entry per (step, layer, seed)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, (a1, a2) = style.new_figure(ncols=2)
    for i, layer in enumerate(groups(c["layer"])):
        sel = c["layer"] == layer
        plot_mean_ci(a1, c["step"][sel], c["input_var"][sel], label=f"layer {layer:g}", i=i, style_index=i)
        plot_mean_ci(a2, c["step"][sel], c["weight_norm"][sel], label=f"layer {layer:g}", i=i, style_index=i)
    for ax in (a1, a2):
        ax.set_yscale("log")
    style.label_axes(a1, "training step (optimizer updates)", "normalizer input variance (squared activation units)")
    style.label_axes(a2, "training step (optimizer updates)", "weight norm ||W||_F (dimensionless)")
    a1.legend()
    style.verdict_badge(a2, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
