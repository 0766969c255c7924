"""Figure 12: one normalizer's Jacobian spectral norm, from ``cap.norm-jacobian``: measured (autograd,
exact SVD) against the formula |gamma|/sqrt(var+eps), and its blow-up as the input variance -> 0.

Reads the long-format ``formula_kind``, ``formula_source`` ("torch" | "ibnorm"), ``formula_measured``,
``formula_predicted`` (one entry per kind x implementation x eps x seed) and the curves
``blowup_sigma`` (n,), ``blowup_norm_eps0`` / ``blowup_predicted_eps0`` (eps = 0),
``blowup_norm_eps`` / ``blowup_predicted_eps`` (eps > 0) and the scalar ``blowup_bound_eps``.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import columns, figure_main, get_evidence, grid

NAME = "norm_jacobian"
CLAIMS = ("cap.norm-jacobian",)
CAPTION = ("Left: Jacobian spectral norm of one normalization operation, measured (autograd + SVD) against the "
           "formula |gamma|/sqrt(var+eps), colour = normalizer kind, filled = torch module, hollow = IBNorm with the "
           "identity compression; dashed: equality. Right: as the input std sigma -> 0 the norm grows like 1/sigma "
           "for eps = 0 and is capped by 1/sqrt(eps) for eps > 0 (markers measured, lines predicted).")
KEYS = ("formula_kind", "formula_source", "formula_measured", "formula_predicted")
CURVE_KEYS = ("blowup_sigma", "blowup_norm_eps0", "blowup_predicted_eps0", "blowup_norm_eps", "blowup_predicted_eps")


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    c = columns(ev, KEYS, NAME)
    sig = grid(ev, "blowup_sigma", NAME, (None,))
    curves = {k: grid(ev, k, NAME, (sig.size,)) for k in CURVE_KEYS[1:]}
    fig, (a1, a2) = style.new_figure(ncols=2)
    for i, kind in enumerate(dict.fromkeys(c["formula_kind"].tolist())):
        for src, hollow in (("torch", False), ("ibnorm", True)):
            sel = np.asarray([(k == kind and s == src) for k, s in zip(c["formula_kind"], c["formula_source"])])
            if not sel.any():
                continue
            kw = {"facecolors": "none", "edgecolors": style.color(i)} if hollow else {"color": style.color(i)}
            a1.scatter(c["formula_predicted"][sel], c["formula_measured"][sel], marker=style.marker(i), s=20,
                       label=f"{kind}" if not hollow else None, **kw)
    v = np.concatenate([c["formula_predicted"], c["formula_measured"]])
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = v.min() / 1.3, v.max() * 1.3
    a1.plot([lo, hi], [lo, hi], color=style.PREDICTION_COLOR, linestyle="--", linewidth=1, label="measured = formula")
    a1.set_xscale("log")
    a1.set_yscale("log")
    style.label_axes(a1, "formula |gamma|/sqrt(var+eps) (dimensionless)", "measured ||J||_2 (dimensionless)")
    a1.legend()
    eps = [e for e in (ev.arrays.get("scaling_eps") or []) if e] or [None]
    for j, (key, lab) in enumerate((("eps0", "eps = 0"), ("eps", f"eps = {eps[-1]:g}" if eps[-1] else "eps > 0"))):
        a2.plot(sig, curves[f"blowup_norm_{key}"], linestyle="none", marker=style.marker(j), color=style.color(j),
                label=f"measured, {lab}")
        a2.plot(sig, curves[f"blowup_predicted_{key}"], linestyle=style.linestyle(j), color=style.color(j),
                label=f"predicted, {lab}")
    bound = (ev.arrays or {}).get("blowup_bound_eps")
    if isinstance(bound, (int, float)):
        a2.axhline(float(bound), color="0.4", linewidth=0.8, linestyle=":", label="1/sqrt(eps)")
    a2.set_xscale("log")
    a2.set_yscale("log")
    style.label_axes(a2, "input standard deviation sigma (activation units)", "||J||_2 (dimensionless)")
    a2.legend()
    style.verdict_badge(a2, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
