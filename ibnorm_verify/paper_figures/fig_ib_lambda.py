"""Figure 8: the change of the IB value I(Y;T_s) - beta I(T_prev;T_s) against the compression strength lambda,
from ``ib.higher-ib-value``: the statistic its verdict uses.

Reads the series ``ib_value_change`` (estimator, grouping, compression, lam, beta, noise, seed): per seed,
IB(IBNorm) - IB(baseline) on the same task draw, channel noise and Monte-Carlo draws. One panel per
grouping (columns) and (beta, s) (rows); x = lambda; per compression (marker) and MI estimator (filled:
mixture, open: kNN) the mean over seeds with its 95% Student-t interval (the check's interval),
coloured by the check's verdict (a refutation counts after Holm; grey: the estimator failed its
validation at the claim's dimensions, so the cell is not evidence); Theorem 1 predicts > 0 (dashed 0).
"""
from __future__ import annotations

import numpy as np

from ibnorm_verify.verification.stats import mean_se_ci

from . import style
from ._regime_cells import check_verdicts
from .base import FigureDataError, get_evidence, require_series

NAME = "ib_lambda"
CLAIMS = ("ib.higher-ib-value",)
READS = {CLAIMS[0]: ("ib_value_change",)}
CAPTION = ("Change of the IB value I(Y;T_s) - beta I(T_prev;T_s) (nats) from the plain normalizer to IBNorm, against "
           "lambda: mean over seeds of the paired per-seed difference with its 95% interval (the verdict's statistic); "
           "marker = compression, filled = mixture estimator, open = kNN estimator; colour = the check's verdict. "
           "Columns: normalizer grouping; rows: beta and channel noise s. Theorem 1 predicts > 0 for lambda >= 1.")
DIMS = ("estimator", "grouping", "compression", "lam", "beta", "noise", "seed")
PART = "IB value"
NOT_VALIDATED = "not evidence: estimator not validated here"


def decision_data(ev) -> dict:
    """{(estimator, grouping, compression, lam, beta, noise): (per-seed values, mean, (low, high))}."""
    s = require_series(ev, "ib_value_change", NAME, DIMS)
    out = {}
    for idx in np.ndindex(*s.values.shape[:-1]):
        v = s.values[idx]
        v = v[np.isfinite(v)]
        if v.size:
            m = mean_se_ci(v)
            out[tuple(s.coords[d][i] for d, i in zip(DIMS, idx))] = (v, m.estimate, m.ci)
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured IB value change")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    verdicts = check_verdicts(ev, PART)
    for c in ev.checks:                      # an estimator that failed its validation here measured nothing
        if c.role == "precondition" and c.cell and c.verdict.value != "supported":
            verdicts[tuple(sorted((k, str(x)) for k, x in c.cell.items()))] = NOT_VALIDATED
    groupings = list(dict.fromkeys(k[1] for k in data))
    rows = sorted({(k[4], k[5]) for k in data})
    comps = list(dict.fromkeys(k[2] for k in data))
    ests = list(dict.fromkeys(k[0] for k in data))
    fig, axes = style.new_figure(ncols=len(groupings), nrows=len(rows), width=4.3 * len(groupings),
                                 height=2.9 * len(rows))
    axes = np.asarray(axes).reshape(len(rows), len(groupings))
    labelled = set()
    for r, (beta, s) in enumerate(rows):
        for c, g in enumerate(groupings):
            ax = axes[r, c]
            ax.axhline(0.0, color=style.PREDICTION_COLOR, linestyle="--", linewidth=1)
            for (est, gg, comp, lam, b, ss), (v, m, (lo, hi)) in data.items():
                if (gg, b, ss) != (g, beta, s):
                    continue
                cell = {"grouping": g, "compression": comp, "lam": lam, "beta": b, "noise": s, "estimator": est}
                verdict = verdicts.get(tuple(sorted((k, str(x)) for k, x in cell.items())), "inconclusive")
                col = style.VERDICT_COLORS.get(verdict, "0.65")
                x = lam * (1 + 0.04 * (comps.index(comp) - (len(comps) - 1) / 2) + 0.015 * ests.index(est))
                ax.errorbar([x], [m], yerr=[[m - lo], [hi - m]], color=col, capsize=2, linewidth=1.2,
                            marker=style.marker(comps.index(comp)), markersize=5,
                            markerfacecolor=col if est == "mixture" else "white")
                for key, label in ((verdict, verdict), ((comp, est), f"{comp}, {est}")):
                    if key not in labelled:
                        labelled.add(key)
                        if isinstance(key, tuple):
                            ax.plot([], [], linestyle="none", color="0.3", marker=style.marker(comps.index(comp)),
                                    markerfacecolor="0.3" if est == "mixture" else "white", label=label)
                        else:
                            ax.plot([], [], color=col, linewidth=2, label=label)
            lams = sorted({k[3] for k in data})
            ax.set_xscale("log", base=2)
            ax.set_xticks(lams, [f"{x:g}" for x in lams])
            style.label_axes(ax, "compression strength λ", "IB(IBNorm) - IB(baseline) (nats)",
                             f"{g}, β={beta:g}, s={s:g}")
    axes[0, 0].legend(fontsize=6.5)
    style.verdict_badge(axes[0, -1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
