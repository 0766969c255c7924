"""Figure 10: IBNorm against the baselines, from ``ib.empirical-performance``.

Top: the statistic the verdict turns on: per task, the paired differences over seeds (IBNorm's tuned test
score minus the other method's; the two ablations as tuned IBNorm minus its ablated variant), one dot per
seed, with the mean and the paired Student-t 95% interval (the checks' intervals) and the prediction (> 0).
Bottom: the lam sensitivity: IBNorm's test score against lam at its selected learning rate.
"""
from __future__ import annotations

import numpy as np

from ibnorm_verify.verification.stats import mean_se_ci

from . import style
from .base import FigureDataError, get_evidence, require_series

NAME = "accuracy"
CLAIMS = ("ib.empirical-performance",)
READS = {"ib.empirical-performance": ("paired_difference", "lam_sensitivity")}
#: drawn when present (the lambda panel); the figure is made without it
OPTIONAL_READS = {"ib.empirical-performance": ("lam_sensitivity",)}
CAPTION = ("Top: per task, IBNorm's tuned test score minus each baseline's and minus its own ablations (standardize-"
           "first order, no affine), paired over seeds (dots), with the mean and paired 95% CI used by the verdict; "
           "above 0 = IBNorm (or the full IBNorm) better. Score: accuracy (vision) or minus the test loss (language). "
           "Bottom: IBNorm's test score against lambda at its selected learning rate (mean and 95% CI over seeds).")
DIMS = ("task", "grouping", "comparison", "seed")


def decision_data(ev) -> dict:
    """{(task, grouping, comparison): (diffs, mean, (lo, hi))}: the paired differences and the
    Student-t interval of their mean, as the claim's checks compute them."""
    s = require_series(ev, "paired_difference", NAME, DIMS)
    out = {}
    for t in s.coords["task"]:
        for g in s.coords["grouping"]:
            for c in s.coords["comparison"]:
                v = s.sel(task=t, grouping=g, comparison=c).values
                v = v[np.isfinite(v)]
                if v.size:
                    m = mean_se_ci(v)
                    out[(t, g, c)] = (v, m.estimate, m.ci)
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no paired differences")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    lam = ev.series.get("lam_sensitivity")
    tasks = list(dict.fromkeys(t for t, _, _ in data))
    nrows = 2 if lam is not None else 1
    fig, axes = style.new_figure(ncols=len(tasks), nrows=nrows, width=5.0 * len(tasks), height=3.6 * nrows)
    axes = np.asarray(axes).reshape(nrows, len(tasks))
    for j, task in enumerate(tasks):
        ax = axes[0, j]
        keys = [k for k in data if k[0] == task]
        for i, key in enumerate(keys):
            v, m, (lo, hi) = data[key]
            ax.plot(np.full(v.size, i) + np.linspace(-0.1, 0.1, v.size), v, ".", color="0.45", markersize=4)
            if np.isfinite(lo):
                ax.errorbar(i + 0.22, m, yerr=[[m - lo], [hi - m]], color=style.color(f"ib-{key[1]}"), marker="D",
                            capsize=4)
        ax.axhline(0.0, color="0.3", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(keys)), [f"IB-{g} {c}" for _, g, c in keys], rotation=35, fontsize=7)
        style.label_axes(ax, "comparison", "paired score difference", task)
        if lam is None:
            continue
        ax2 = axes[1, j]
        for i, g in enumerate(lam.coords["grouping"]):
            sub = lam.sel(task=task, grouping=g).values                 # (lam, seed)
            if not np.isfinite(sub).any():
                continue
            x = np.asarray(lam.coords["lam"], dtype=float)
            stats = [mean_se_ci(r[np.isfinite(r)]) for r in sub]
            ok = np.asarray([np.isfinite(s.estimate) for s in stats])
            m = np.asarray([s.estimate for s in stats])
            lo = np.asarray([s.ci[0] for s in stats])
            hi = np.asarray([s.ci[1] for s in stats])
            ax2.plot(x[ok], m[ok], marker=style.marker(i), color=style.color(f"ib-{g}"), label=f"IB-{g}")
            band = ok & np.isfinite(lo)
            ax2.fill_between(x[band], lo[band], hi[band], color=style.color(f"ib-{g}"), alpha=0.2, linewidth=0)
        ax2.set_xscale("log")
        ax2.legend(fontsize=7)
        style.label_axes(ax2, "compression strength λ", "test score at the selected lr")
    style.verdict_badge(axes[0, -1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
