"""Figure 9: nuisance suppression against lambda: information about the heavy-tailed nuisance falls,
information about the label stays, from ``ib.nuisance-suppression``."""
from __future__ import annotations

import sys

from . import style
from .base import columns, figure_main, get_evidence, plot_mean_ci

NAME = "nuisance"
CLAIMS = ("ib.nuisance-suppression",)
CAPTION = ("Nuisance suppression: I(T; nuisance) and I(T; Y) of the IBNorm output against lambda (mean and 95% CI "
           "over seeds, validated MI estimator); lambda = 0 is the plain normalizer.")
KEYS = ("lam", "mi_nuisance", "mi_label")   # long format: one entry per (lambda, seed)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    fig, ax = style.new_figure()
    plot_mean_ci(ax, c["lam"], c["mi_nuisance"], label="I(T; nuisance)", i=3, style_index=0)
    plot_mean_ci(ax, c["lam"], c["mi_label"], label="I(T; Y)", i=0, style_index=1)
    style.label_axes(ax, "compression strength lambda (dimensionless)", "mutual information (nats)")
    ax.legend()
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
