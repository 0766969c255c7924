"""Figure 9: nuisance suppression, from ``ib.nuisance-suppression``: the tails (excess kurtosis) and the
information about the heavy-tailed nuisance fall under IBNorm's compression, the label information stays.

Reads ``arrays["<grouping>/<compression>@<lambda>/<quantity>"]`` (one value per seed) with quantities
``kurtosis``, ``nuisance_info@<s>`` and ``label_info@<s>`` (MI in nats on T + N(0, s^2)); the
variant ``identity@1`` is the plain normalizer.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, figure_main, get_evidence, slash_arrays

NAME = "nuisance"
CLAIMS = ("ib.nuisance-suppression",)
CAPTION = ("Nuisance suppression per normalizer and compression variant (the first bar of each group is the plain "
           "normalizer): excess kurtosis of the nuisance coordinates, I(T; nuisance) and I(T; Y) in nats at the "
           "smallest noise level s; mean over seeds with 95% CI, dots are seeds (kurtosis on a symlog axis when one bar "
           "dwarfs the others).")
QUANTITIES = (("kurtosis", "excess kurtosis, nuisance coords (dimensionless)"),
              ("nuisance_info@", "I(T_s; nuisance) (nats)"), ("label_info@", "I(T_s; Y) (nats)"))


def make(evidence_by_id, out_dir) -> list:
    from ibnorm_verify.verification.stats import mean_ci

    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = slash_arrays(ev, NAME)
    quants = {q for (_, _, _, q) in data}
    chosen = []
    for prefix, ylabel in QUANTITIES:
        cands = sorted((q for q in quants if q == prefix or (prefix.endswith("@") and q.startswith(prefix))),
                       key=lambda q: float(q.split("@")[1]) if "@" in q else 0.0)
        if not cands:
            raise FigureDataError(f"{NAME}: claim {ev.claim_id!r} has no '{prefix}' quantity (have {sorted(quants)})")
        chosen.append((cands[0], ylabel))
    groupings = list(dict.fromkeys(g for (g, _, _, _) in data))
    variants = sorted({(c, l) for (_, c, l, _) in data}, key=lambda v: (v[0] != "identity", v[0], v[1]))
    fig, axes = style.new_figure(ncols=3, width=11.0, height=3.6)
    width = 0.8 / max(len(variants), 1)
    for ax, (q, ylabel) in zip(axes, chosen):
        for vi, (c, l) in enumerate(variants):
            for gi, g in enumerate(groupings):
                vals = data.get((g, c, l, q))
                if vals is None:
                    continue
                m, (lo, hi) = mean_ci(vals[np.isfinite(vals)].tolist())
                x = gi + (vi - (len(variants) - 1) / 2) * width
                ax.bar(x, m, width=width * 0.9, color=style.color("none" if c == "identity" else vi),
                       yerr=[[m - lo], [hi - m]], capsize=2, alpha=0.85,
                       label=("plain normalizer" if c == "identity" else f"{c}, λ={l:g}") if gi == 0 else None)
                ax.plot(np.full(vals.size, x), vals, "k.", markersize=2.5)
        ax.set_xticks(range(len(groupings)), [g.upper() for g in groupings])
        vals = np.concatenate([v for (_, _, _, qq), v in data.items() if qq == q])
        vals = np.abs(vals[np.isfinite(vals)])
        if vals.size and vals.max() > 50 * max(np.median(vals), 1.0):   # one heavy-tailed bar hides the rest
            ax.set_yscale("symlog", linthresh=1.0)
        noise = f" (s={q.split('@')[1]})" if "@" in q else ""
        style.label_axes(ax, "normalizer grouping", ylabel, q.split("@")[0].replace("_", " ") + noise)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6))
    style.verdict_badge(axes[2], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
