"""Figure 3: the gain x K phase diagram of the normalizers' effect on the Lipschitz constant.

Reads ``cap.normalization-exponential-reduction``: ``phase`` (gain, K, quantity), the base cell at every
phase gain, mean over seeds of the bracket ends (lower, upper) of log(Lip without / Lip with normalizers)
and of the product law. Left: the measured bracket, as the cell colour (its midpoint) and a mark where the
bracket decides the sign (lower end > 0: a certain reduction "+", upper end < 0: a certain amplification
"-"; otherwise "?"); right: the product law. Black line: the law's zero contour, the regime boundary
sigma = |gamma|. Descriptive: the verdict is decided per regime cell (figure ``reduction_k``).
"""
from __future__ import annotations

import numpy as np

from . import style
from .base import FigureDataError, get_evidence, require_series

NAME = "phase_diagram"
CLAIMS = ("cap.normalization-exponential-reduction",)
READS = {CLAIMS[0]: ("phase",)}
CAPTION = ("Gain x K phase diagram of the base regime cell: left, the measured log(Lip without / Lip with "
           "normalizers) (colour: bracket midpoint; '+' the whole bracket is above 0, '-' below 0, '?' the "
           "certificate cannot tell); right, the product law sum_j log(sigma_j/|gamma_j|); same colour scale, black "
           "line = 0 of the law (reduction above it, amplification below). Mean over the phase seeds.")


def decision_data(ev) -> dict:
    """{(gain, K): (lower, upper, product law)} of the phase grid (means over seeds)."""
    s = require_series(ev, "phase", NAME, ("gain", "K", "quantity"))
    out = {}
    for g in s.coords["gain"]:
        for k in s.coords["K"]:
            v = s.sel(gain=g, K=k)
            lo, hi, law = (v.sel(quantity=q).item() for q in ("lower", "upper", "product_law"))
            if np.isfinite(law):
                out[(g, k)] = (lo, hi, law)
    if len({g for g, _ in out}) < 2:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: need at least 2 gains for a phase diagram")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    gains = sorted({g for g, _ in data})
    ks = sorted({k for _, k in data})
    shape = (len(gains), len(ks))
    lo, hi, law = (np.full(shape, np.nan) for _ in range(3))
    for (g, k), (a, b, c) in data.items():
        i, j = gains.index(g), ks.index(k)
        lo[i, j], hi[i, j], law[i, j] = a, b, c
    with np.errstate(invalid="ignore"):
        mid = np.where(np.isfinite(lo) & np.isfinite(hi), 0.5 * (lo + hi), np.nan)
    fig, axes = style.new_figure(ncols=2, width=8.5, height=3.8)
    both = np.concatenate([mid[np.isfinite(mid)], law[np.isfinite(law)]])
    lim = float(np.abs(both).max()) if both.size else 1.0
    for ax, z, title in zip(axes, (mid, law), ("measured (bracket)", "product law (predicted)")):
        mesh = ax.pcolormesh(np.arange(len(ks) + 1) - 0.5, np.arange(len(gains) + 1) - 0.5, z, cmap="PuOr_r",
                             vmin=-lim, vmax=lim, shading="flat")
        if len(ks) > 1 and np.nanmin(law) < 0 < np.nanmax(law):
            ax.contour(np.arange(len(ks)), np.arange(len(gains)), law, levels=[0.0], colors="k", linewidths=1.2)
        ax.set_xticks(range(len(ks)), [f"{k:g}" for k in ks])
        ax.set_yticks(range(len(gains)), [f"{g:g}" for g in gains])
        ax.grid(False)
        style.label_axes(ax, "number of normalizers K", "weight gain g", title)
    for (i, j), a in np.ndenumerate(lo):
        b = hi[i, j]
        sign = "+" if a > 0 else ("-" if b < 0 else "?")
        dark = np.isfinite(mid[i, j]) and abs(mid[i, j]) > 0.6 * lim
        axes[0].text(j, i, sign if np.isfinite(a) or np.isfinite(b) else "n/a", ha="center", va="center", fontsize=10,
                     color="white" if dark else "black", fontweight="bold")
    fig.colorbar(mesh, ax=list(axes), label="log(Lip without / Lip with) (nats)")
    style.verdict_badge(axes[1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
