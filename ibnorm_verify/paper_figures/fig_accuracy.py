"""Figure 10: accuracy with confidence intervals and lambda sensitivity, from ``ib.empirical-performance``.

Reads, per domain ``<dom>`` ("lm": excess test loss over the oracle in nats/token, lower is better;
"vision": test accuracy, higher is better): ``<dom>.per_seed[<method>]`` (seeds,),
``<dom>.mean_ci[<method>]`` = [mean, ci_low, ci_high] and ``<dom>.lambda_curve`` = rows
[lambda, mean, ci_low, ci_high] for IB-LN at its selected learning rate.
"""
from __future__ import annotations

import re
import sys

import numpy as np

from . import style
from .base import FigureDataError, as_array, figure_main, get_evidence

NAME = "accuracy"
CLAIMS = ("ib.empirical-performance",)
CAPTION = ("Top: per normalizer, the language-model excess test loss over the oracle (nats/token, lower is better) "
           "and the vision test accuracy (higher is better); diamonds = mean with 95% CI over seeds, grey dots = seeds, each "
           "method at its own validation-selected learning rate. Bottom: IB-LN against lambda (mean and 95% CI).")
METRIC = {"lm": "excess test loss over oracle (nats/token)", "vision": "test accuracy (fraction correct)"}
_PER_SEED = re.compile(r"^(?P<dom>[^.]+)\.per_seed\[(?P<m>.+)\]$")


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    arrays = ev.arrays or {}
    per = {}
    for k, v in arrays.items():
        m = _PER_SEED.match(k)
        if m and v:
            per.setdefault(m["dom"], {})[m["m"]] = as_array(v, k)
    if not per:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r} has no '<domain>.per_seed[<method>]' arrays "
                              f"(available: {sorted(arrays)[:8] or 'none'})")
    doms = sorted(per)
    has_curve = any(arrays.get(f"{d}.lambda_curve") for d in doms)
    fig, axes = style.new_figure(ncols=len(doms), nrows=2 if has_curve else 1, width=4.2 * len(doms),
                                 height=3.4 * (2 if has_curve else 1))
    axes = np.asarray(axes).reshape(2 if has_curve else 1, len(doms))
    for j, dom in enumerate(doms):
        ax = axes[0, j]
        methods = sorted(per[dom], key=lambda m: (m.startswith("ib"), m))
        for i, meth in enumerate(methods):
            mci = arrays.get(f"{dom}.mean_ci[{meth}]")
            if not mci or len(mci) != 3:
                raise FigureDataError(f"{NAME}: arrays['{dom}.mean_ci[{meth}]'] missing or not [mean, lo, hi]")
            mean, lo, hi = (float(x) for x in as_array(mci))
            ax.errorbar(i, mean, yerr=[[mean - lo], [hi - mean]], color=style.color(meth), marker="D", markersize=6,
                        capsize=4, linewidth=1.5)
            seeds = per[dom][meth]
            ax.plot(i + 0.12 + np.linspace(-0.04, 0.04, seeds.size), seeds, ".", color="0.35", markersize=4)
        ax.set_xticks(range(len(methods)), methods, rotation=30)
        style.label_axes(ax, "normalizer", METRIC.get(dom, "metric"), "language model" if dom == "lm" else dom)
        if has_curve:
            ax2 = axes[1, j]
            curve = arrays.get(f"{dom}.lambda_curve")
            if curve:
                cv = as_array(curve, f"{dom}.lambda_curve")
                if cv.ndim != 2 or cv.shape[1] != 4:
                    raise FigureDataError(f"{NAME}: arrays['{dom}.lambda_curve'] has shape {cv.shape}, expected (n, 4)")
                ax2.errorbar(cv[:, 0], cv[:, 1], yerr=[cv[:, 1] - cv[:, 2], cv[:, 3] - cv[:, 1]],
                             color=style.color("ib-ln"), marker="o", capsize=3, label="IB-LN")
                ax2.legend()
            else:
                ax2.text(0.5, 0.5, f"no λ sweep for {dom} in this run", ha="center", va="center",
                         transform=ax2.transAxes, color="0.4")
                ax2.set_xticks([])
                ax2.set_yticks([])
            style.label_axes(ax2, "compression strength λ (dimensionless)", METRIC.get(dom, "metric"))
    style.verdict_badge(axes[-1, -1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
