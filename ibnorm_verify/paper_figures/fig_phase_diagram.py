"""Figure 3: the gain x K phase diagram of the normalizers' effect on the Lipschitz constant.

Reads ``cap.normalization-exponential-reduction``: ``phase_gains`` (P), ``K`` (nK),
``phase_log_reduction`` (P, nK; measured, mid of the bracket) and ``phase_log_reduction_pred`` (P, nK;
product law). Positive (a reduction) where the normalizers' input standard deviations exceed
|gamma|; the black line is the zero contour separating the regimes.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, figure_main, get_evidence, grid

NAME = "phase_diagram"
CLAIMS = ("cap.normalization-exponential-reduction",)
CAPTION = ("Phase diagram over weight gain g and number of normalizers K: left, measured log(Lip without / Lip "
           "with normalizers); right, the product-law prediction; same colour scale, black line = 0 "
           "(reduction above it, amplification below).")
KEYS = ("phase_gains", "K", "phase_log_reduction", "phase_log_reduction_pred")


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    gains, ks = grid(ev, "phase_gains", NAME, (None,)), grid(ev, "K", NAME, (None,))
    if gains.size < 2:
        raise FigureDataError(f"{NAME}: need at least 2 gains for a phase diagram, got {gains.tolist()}")
    meas = grid(ev, "phase_log_reduction", NAME, (gains.size, ks.size))
    pred = grid(ev, "phase_log_reduction_pred", NAME, (gains.size, ks.size))
    fig, axes = style.new_figure(ncols=2, width=8.0, height=3.6)
    both = np.concatenate([meas.ravel(), pred.ravel()])
    lim = float(np.nanmax(np.abs(both))) if np.isfinite(both).any() else 1.0
    for ax, z, title in zip(axes, (meas, pred), ("measured", "product law (predicted)")):
        mesh = ax.pcolormesh(np.arange(ks.size + 1) - 0.5, np.arange(gains.size + 1) - 0.5, z, cmap="PuOr_r",
                             vmin=-lim, vmax=lim, shading="flat")
        if ks.size > 1 and np.nanmin(z) < 0 < np.nanmax(z):
            ax.contour(np.arange(ks.size), np.arange(gains.size), z, levels=[0.0], colors="k", linewidths=1.2)
        for (i, j), v in np.ndenumerate(z):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6.5)
        ax.set_xticks(range(ks.size), [f"{k:g}" for k in ks])
        ax.set_yticks(range(gains.size), [f"{g:g}" for g in gains])
        ax.grid(False)
        style.label_axes(ax, "number of normalizers K", "weight gain g (dimensionless)", title)
    fig.colorbar(mesh, ax=list(axes), label="log(Lip without / Lip with) (natural log)")
    style.verdict_badge(axes[0], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
