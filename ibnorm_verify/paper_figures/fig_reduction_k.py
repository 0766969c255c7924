"""Figure 2: the Lipschitz reduction against the number K of normalizers, with the product-of-sigma prediction.

Reads ``cap.normalization-exponential-reduction``: ``K`` (nK), ``seeds`` (S) and, per (seed, K), the
measured log reduction log(Lip_unnormalized / Lip_normalized) as a bracket ``log_reduction_lower`` /
``log_reduction_upper`` and the product-law prediction ``log_reduction_pred`` =
sum_j log(sigma_j/|gamma_j|) from the measured normalizer-input variances (all (S, nK)).
"""
from __future__ import annotations

import sys

from . import style
from .base import figure_main, get_evidence, grid, plot_seeds

NAME = "reduction_k"
CLAIMS = ("cap.normalization-exponential-reduction",)
CAPTION = ("Measured log-reduction log(Lip without / Lip with normalizers) against the number K of normalizers "
           "(mean over seeds of the bracket midpoint; band: range over seeds from the lower to the upper end of the bracket) and the product-law "
           "prediction sum_j log(sigma_j/|gamma_j|) (dashed).")
KEYS = ("K", "log_reduction_lower", "log_reduction_upper", "log_reduction_pred")


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    ks = grid(ev, "K", NAME, (None,))
    shape = (None, ks.size)
    lo, hi = grid(ev, "log_reduction_lower", NAME, shape), grid(ev, "log_reduction_upper", NAME, shape)
    fig, ax = style.new_figure()
    plot_seeds(ax, ks, (lo + hi) / 2, label="measured", i=0, style_index=0, band=(lo, hi), linestyle="none")
    plot_seeds(ax, ks, grid(ev, "log_reduction_pred", NAME, shape), label="product law (predicted)", i="black",
               style_index=1, marker="")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    gain = (ev.conditions or {}).get("gain")
    style.label_axes(ax, "number of normalizers K", "log(Lip without / Lip with normalizers) (natural log)",
                     None if gain is None else f"gain g = {gain}, {ev.conditions.get('norm', '')} every "
                                               f"{ev.conditions.get('every', '?')} layers")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
