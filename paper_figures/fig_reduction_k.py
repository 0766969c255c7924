"""Figure 2: the Lipschitz reduction against the number K of normalizers, with the product-of-sigma prediction.

Reads ``cap.normalization-exponential-reduction``: the measured log reduction log(Lip_unnormalized /
Lip_normalized) and the predicted sum_j log(sigma_j / |gamma_j|) (log of the product of the
normalizers' input standard deviations over |gamma|), per regime (e.g. large vs small variances).
"""
from __future__ import annotations

import sys

from . import style
from .base import columns, figure_main, get_evidence, groups, mean_ci_by, plot_mean_ci

NAME = "reduction_k"
CLAIMS = ("cap.normalization-exponential-reduction",)
CAPTION = ("Measured log-reduction of the Lipschitz constant against the number K of normalizers (markers, "
           "mean and 95% CI over seeds) and the prediction log prod_j sigma_j/|gamma_j| (dashed), per regime.")
KEYS = ("K", "log_reduction", "log_predicted")   # long format: one entry per (regime, K, seed)
OPTIONAL = ("regime",)                           # e.g. gain, or "large-variance"/"small-variance"


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME, OPTIONAL)
    regime = c.get("regime", ["all"] * len(c["K"]))
    fig, ax = style.new_figure()
    for i, r in enumerate(groups(regime)):
        sel = [v == r for v in regime]
        lab = f"regime {r}" if r != "all" else "measured"
        plot_mean_ci(ax, c["K"][sel], c["log_reduction"][sel], label=f"{lab}: measured", i=i, style_index=i,
                     fill=False, linestyle="none")
        xs, m, _, _ = mean_ci_by(c["K"][sel], c["log_predicted"][sel])
        ax.plot(xs, m, linestyle="--", color=style.color(i), label=f"{lab}: predicted")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    style.label_axes(ax, "number of normalizers K", "log(Lip without / Lip with normalizers) (nats)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
