"""Figure 5: training statistics, from ``cap.training-statistics``: every normalizer's input variance
and every weight tensor's norm against the training step, per normalizer type.

Reads, per normalizer type ``<norm>``: ``steps[<norm>]`` (T,), ``norm_var[<norm>]`` (seeds, normalizers,
T), ``weight_norm[<norm>]`` (seeds, weights, T) and the names in ``norm_names[<norm>]`` /
``weight_names[<norm>]``.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, figure_main, get_evidence, grid

NAME = "training_statistics"
CLAIMS = ("cap.training-statistics",)
CAPTION = ("During training: left, the input variance of every normalizer; right, the norm of every weight tensor; "
           "against the optimizer step (log scale). Thin lines: one layer (mean over seeds); thick: the geometric "
           "mean over layers; colour = normalizer type.")


def _norm_types(ev) -> list[str]:
    types = [k[len("steps["):-1] for k in (ev.arrays or {}) if k.startswith("steps[") and k.endswith("]")]
    if not types:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r} has no 'steps[<norm>]' arrays "
                              f"(available: {sorted(ev.arrays or {})[:8] or 'none'})")
    return sorted(types)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    fig, axes = style.new_figure(ncols=2)
    drawn = 0
    for i, norm in enumerate(_norm_types(ev)):
        steps = grid(ev, f"steps[{norm}]", NAME, (None,))
        for ax, key in zip(axes, ("norm_var", "weight_norm")):
            if f"{key}[{norm}]" not in (ev.arrays or {}) or not ev.arrays[f"{key}[{norm}]"]:
                continue
            a = grid(ev, f"{key}[{norm}]", NAME)
            if a.ndim != 3 or a.shape[1] == 0 or a.shape[2] != steps.size:
                if a.ndim == 3 and a.shape[1] == 0:
                    continue  # e.g. no normalizer in the unnormalized configuration
                raise FigureDataError(f"{NAME}: arrays[{key}[{norm}]] has shape {a.shape}, expected "
                                      f"(seeds, layers, {steps.size})")
            per_layer = np.nanmean(a, axis=0)                        # (layers, T)
            c = style.color(norm)
            for row in per_layer:
                ax.plot(steps, row, color=c, linewidth=0.6, alpha=0.45)
            with np.errstate(divide="ignore", invalid="ignore"):
                gmean = np.exp(np.nanmean(np.log(per_layer), axis=0))
            ax.plot(steps, gmean, color=c, linewidth=2.0, linestyle=style.linestyle(i), label=norm.upper())
            drawn += 1
    if not drawn:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r} has no non-empty norm_var / weight_norm arrays")
    for ax in axes:
        style.log_axis(ax, "y")
        ax.legend()
    style.label_axes(axes[0], "training step (optimizer updates)", "normalizer input variance (activation units²)")
    style.label_axes(axes[1], "training step (optimizer updates)", "weight norm (Frobenius, dimensionless)")
    style.verdict_badge(axes[1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
