"""Figure 10: accuracy per normalizer with confidence intervals, and IBNorm's sensitivity to lambda,
from ``ib.empirical-performance``."""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, groups, plot_mean_ci

NAME = "accuracy"
CLAIMS = ("ib.empirical-performance",)
CAPTION = ("Left: test accuracy per normalizer and task (mean and 95% CI over seeds; dots are seeds). Right: IBNorm "
           "accuracy against lambda.")
KEYS = ("task", "normalizer", "accuracy")          # long format: one entry per (task, normalizer, seed)
LAM_KEYS = ("lam", "lam_accuracy")                 # long format: one entry per (lambda, seed)


def make(evidence_by_id, out_dir) -> list:
    from verification.verdict import mean_ci

    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    lam = columns(ev, LAM_KEYS, NAME)
    fig, (a1, a2) = style.new_figure(ncols=2)
    tasks, norms = groups(c["task"]), groups(c["normalizer"])
    width = 0.8 / max(len(norms), 1)
    for j, norm in enumerate(norms):
        for t, task in enumerate(tasks):
            sel = np.asarray([(a == task and b == norm) for a, b in zip(c["task"], c["normalizer"])])
            if not sel.any():
                continue
            vals = c["accuracy"][sel]
            m, (lo, hi) = mean_ci(vals.tolist())
            x = t + (j - (len(norms) - 1) / 2) * width
            a1.bar(x, m, width=width * 0.9, color=style.color(str(norm)), label=str(norm) if t == 0 else None,
                   yerr=[[m - lo], [hi - m]], capsize=2, alpha=0.85)
            a1.plot(np.full(vals.size, x), vals, "k.", markersize=2.5)
    a1.set_xticks(range(len(tasks)), [str(t) for t in tasks])
    style.label_axes(a1, "task", "test accuracy (fraction correct)")
    a1.legend(ncol=2)
    plot_mean_ci(a2, lam["lam"], lam["lam_accuracy"], label="IBNorm", i="ibnorm", style_index=0)
    style.label_axes(a2, "compression strength lambda (dimensionless)", "test accuracy (fraction correct)")
    style.verdict_badge(a2, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
