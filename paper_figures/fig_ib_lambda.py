"""Figure 8: the IB value I(Y;T) - beta I(T_prev;T) against the compression strength lambda, IBNorm vs
the baselines (horizontal lines), per MI estimator, from ``ib.higher-ib-value``."""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, groups, plot_mean_ci

NAME = "ib_lambda"
CLAIMS = ("ib.higher-ib-value",)
CAPTION = ("IB value I(Y;T) - beta I(T_prev;T) of IBNorm against lambda (markers, mean and 95% CI over seeds), "
           "one line per MI estimator; baselines (LN/BN/RMSNorm) as horizontal lines; the theorem is about lambda >= 1.")
KEYS = ("lam", "ib_value", "estimator")                      # IBNorm: one entry per (lambda, estimator, seed)
BASE_KEYS = ("baseline_normalizer", "baseline_ib_value", "baseline_estimator")   # optional baselines


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    base = columns(ev, BASE_KEYS, NAME) if all(k in (ev.arrays or {}) for k in BASE_KEYS) else None
    fig, ax = style.new_figure()
    for i, est in enumerate(groups(c["estimator"])):
        sel = np.asarray([v == est for v in c["estimator"]])
        plot_mean_ci(ax, c["lam"][sel], c["ib_value"][sel], label=f"IBNorm ({est})", i=i, style_index=i)
        if base is not None:
            bsel = np.asarray([v == est for v in base["baseline_estimator"]])
            for j, bn in enumerate(groups(base["baseline_normalizer"][bsel])):
                vals = base["baseline_ib_value"][bsel][np.asarray([v == bn for v in base["baseline_normalizer"][bsel]])]
                ax.axhline(float(np.nanmean(vals)), color=style.color(i), linestyle=style.linestyle(j + 1),
                           linewidth=1, label=f"{bn} ({est})")
    ax.axvline(1.0, color="0.5", linewidth=0.8)
    ax.set_xscale("log")
    style.label_axes(ax, "compression strength lambda (dimensionless, log scale)", "IB value (nats)")
    ax.legend(ncol=2)
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
