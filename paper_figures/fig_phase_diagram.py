"""Figure 3: the gain x K phase diagram of the normalizers' effect on the Lipschitz constant.

Reads ``cap.normalization-exponential-reduction``'s grid: the measured log reduction per normalizer
(log-reduction / K) over weight gain and K. Positive (reduction) where the normalizers' input
standard deviations exceed |gamma|; the zero contour separates the regimes.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, columns, figure_main, get_evidence

NAME = "phase_diagram"
CLAIMS = ("cap.normalization-exponential-reduction",)
CAPTION = ("Phase diagram: measured log-reduction of the Lipschitz constant per normalizer, "
           "log(Lip_without/Lip_with)/K, over weight gain and K (mean over seeds); black line: zero contour "
           "(no reduction).")
KEYS = ("grid_gain", "grid_K", "grid_log_reduction")   # long format: one entry per (gain, K, seed)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    gains, ks = np.unique(c["grid_gain"]), np.unique(c["grid_K"])
    if gains.size < 2 or ks.size < 1:
        raise FigureDataError(f"{NAME}: need at least 2 gains for a phase diagram, got {gains.tolist()}")
    z = np.full((gains.size, ks.size), np.nan)
    for i, g in enumerate(gains):
        for j, k in enumerate(ks):
            sel = (c["grid_gain"] == g) & (c["grid_K"] == k) & np.isfinite(c["grid_log_reduction"])
            if sel.any() and k > 0:
                z[i, j] = np.mean(c["grid_log_reduction"][sel]) / k
    fig, ax = style.new_figure()
    lim = np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1.0
    mesh = ax.pcolormesh(np.arange(ks.size + 1) - 0.5, np.arange(gains.size + 1) - 0.5, z, cmap="PuOr_r",
                         vmin=-lim, vmax=lim, shading="flat")
    if ks.size > 1 and np.nanmin(z) < 0 < np.nanmax(z):
        ax.contour(np.arange(ks.size), np.arange(gains.size), z, levels=[0.0], colors="k", linewidths=1.2)
    ax.set_xticks(range(ks.size), [f"{k:g}" for k in ks])
    ax.set_yticks(range(gains.size), [f"{g:g}" for g in gains])
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label="log-reduction per normalizer (nats)")
    style.label_axes(ax, "number of normalizers K", "weight gain g (dimensionless)")
    style.verdict_badge(ax, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
