"""Figure 7: the information plane per normalizer, from ``ib.higher-ib-value``: I(T_prev;T) against
I(Y;T) for the plain normalizer and each IBNorm variant, under both MI estimators.

Reads ``arrays["<grouping>/<compression>@<lambda>/<estimator>/IX@<s>"]`` (I(T_prev;T_s)) and
``.../IY@<s>`` (I(Y;T_s)), one value per seed, nats; estimators ``mixture`` (noisy-channel) and
``knn`` (KSG / mixed KSG). T_s = T + N(0, s^2 I).
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import GROUPING_NAMES, FigureDataError, figure_main, get_evidence, slash_arrays, variant_label

NAME = "information_plane"
CLAIMS = ("ib.higher-ib-value",)
CAPTION = ("Information plane of one normalization layer, one panel per normalizer grouping: compression term "
           "I(T_prev;T_s) against relevance I(Y;T_s) (nats), mean over seeds; colour = variant (black = plain "
           "normalizer), marker = MI estimator, the points of one variant and estimator joined across noise "
           "levels s. Up and to the left is a better IB trade-off.")
ESTIMATOR_MARKERS = {"mixture": "o", "knn": "s"}


def _mean(a):
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else np.nan


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = slash_arrays(ev, NAME)
    pts = {}   # (grouping, comp, lam, estimator) -> [(s, IX, IY)]
    for (g, c, l, q), vals in data.items():
        est, _, rest = q.partition("/")
        if rest.startswith("IX@") and (g, c, l, f"{est}/IY@{rest[3:]}") in data:
            iy = data[(g, c, l, f"{est}/IY@{rest[3:]}")]
            pts.setdefault((g, c, l, est), []).append((float(rest[3:]), _mean(vals), _mean(iy)))
    if not pts:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r} has no '<estimator>/IX@s' + '<estimator>/IY@s' pairs")
    groupings = list(dict.fromkeys(k[0] for k in pts))
    variants = sorted({(k[1], k[2]) for k in pts}, key=lambda v: (v[0] != "identity", v[0], v[1]))
    fig, axes = style.new_figure(ncols=len(groupings), width=4.4 * len(groupings), height=4.0)
    for ax, g in zip(np.atleast_1d(axes), groupings):
        for vi, (c, l) in enumerate(variants):
            col = style.color("none" if c == "identity" else vi)
            for est, mk in ESTIMATOR_MARKERS.items():
                p = sorted(pts.get((g, c, l, est), []))
                if not p:
                    continue
                xs, ys = [v[1] for v in p], [v[2] for v in p]
                ax.plot(xs, ys, color=col, marker=mk, linestyle=":" if est == "knn" else "-", linewidth=1,
                        label=f"{variant_label(g, c, l)} ({est})")
        style.label_axes(ax, "I(T_prev; T_s) (nats)", "I(Y; T_s) (nats)", GROUPING_NAMES.get(g, g))
        ax.legend(fontsize=6)
    style.verdict_badge(np.atleast_1d(axes)[-1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
