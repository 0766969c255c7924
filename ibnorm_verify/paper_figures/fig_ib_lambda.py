"""Figure 8: the IB value I(Y;T) - beta I(T_prev;T) against the compression strength lambda, IBNorm vs
the plain normalizer, per MI estimator, from ``ib.higher-ib-value``.

Reads the same arrays as the information plane (``<grouping>/<compression>@<lambda>/<estimator>/IX@<s>``
and ``IY@<s>``, per seed) and the claim's ``conditions["betas"]`` / ``conditions["noise_std"]``;
draws beta = the largest listed value and the smallest noise level s. IB values are combined per seed
before averaging, as the claim does.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, figure_main, get_evidence, slash_arrays

NAME = "ib_lambda"
CLAIMS = ("ib.higher-ib-value",)
CAPTION = ("IB value I(Y;T_s) - beta I(T_prev;T_s) (nats) against lambda for each compression (markers, mean and "
           "95% CI over seeds) and for the plain normalizer (black dashed line, its CI shaded); columns = "
           "normalizer grouping, rows = MI estimator; beta and s as in the panel titles. Theorem 1 is about lambda >= 1.")


def make(evidence_by_id, out_dir) -> list:
    from ibnorm_verify.verification.stats import mean_ci

    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = slash_arrays(ev, NAME)
    betas = (ev.conditions or {}).get("betas") or []
    noise = (ev.conditions or {}).get("noise_std") or []
    if not betas or not noise:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r} has no conditions 'betas' / 'noise_std'")
    beta, s = float(max(betas)), float(min(noise))
    ests = sorted({q.split("/")[0] for (_, _, _, q) in data if q.endswith(f"/IX@{s:g}")})
    groupings = list(dict.fromkeys(g for (g, _, _, _) in data))
    comps = sorted({c for (_, c, _, _) in data if c != "identity"})
    if not ests or not comps:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no IX@{s:g} arrays or no IBNorm variants")

    def ib(g, c, l, est):
        ix, iy = data.get((g, c, l, f"{est}/IX@{s:g}")), data.get((g, c, l, f"{est}/IY@{s:g}"))
        return None if ix is None or iy is None else iy - beta * ix

    fig, axes = style.new_figure(ncols=len(groupings), nrows=len(ests), width=4.0 * len(groupings),
                                 height=3.2 * len(ests))
    axes = np.asarray(axes).reshape(len(ests), len(groupings))
    for r, est in enumerate(ests):
        for cidx, g in enumerate(groupings):
            ax = axes[r, cidx]
            base = ib(g, "identity", 1.0, est)
            if base is not None:
                m, (lo, hi) = mean_ci(base.tolist())
                ax.axhline(m, color="k", linestyle="--", linewidth=1, label="plain normalizer")
                ax.axhspan(lo, hi, color="0.5", alpha=0.15, linewidth=0)
            for i, c in enumerate(comps):
                lams = sorted({l for (gg, cc, l, _) in data if gg == g and cc == c})
                stats = [mean_ci(v.tolist()) for v in (ib(g, c, l, est) for l in lams) if v is not None]
                if not stats:
                    continue
                m = np.asarray([x[0] for x in stats])
                lo, hi = np.asarray([x[1][0] for x in stats]), np.asarray([x[1][1] for x in stats])
                ax.errorbar(lams[:len(m)], m, yerr=[m - lo, hi - m], color=style.color(i), marker=style.marker(i),
                            capsize=2, label=f"IBNorm {c}")
            style.label_axes(ax, "compression strength λ (dimensionless)", "IB value (nats)",
                             f"{g.upper()}, {est} estimator, β={beta:g}, s={s:g}")
            ax.legend(fontsize=6)
    style.verdict_badge(axes[-1, -1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
