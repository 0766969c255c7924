"""Figure 12: one normalizer's Jacobian spectral norm, from ``cap.norm-jacobian``.

Reads ``jacobian_norm`` (grouping, eps, implementation, gamma_mode, seed, quantity: measured / predicted / rel_error)
and ``blowup`` (eps, seed, sigma, quantity). Left: measured ||J||_2 (autograd + SVD) against the formula
|gamma|/sqrt(var+eps), colour = grouping, filled = torch's module, hollow = ibnorm's reference composite.
Middle: the statistic the verdict uses, per regime cell (grouping x eps x implementation): the largest
|relative error| over every seed (the check is decided on the envelope of the signed errors) against the
tolerance 1e-8 (dashed), coloured by the check's verdict. Right: ||J|| of nn.LayerNorm at x = sigma z as sigma -> 0: 1/sigma at eps = 0 (an
identity of scale invariance: a sanity check) and the cap 1/sqrt(eps) for eps > 0 (evidence).
"""
from __future__ import annotations

import numpy as np

from . import style
from ._regime_cells import check_verdicts
from .base import FigureDataError, get_evidence, require_series

NAME = "norm_jacobian"
CLAIMS = ("cap.norm-jacobian",)
READS = {CLAIMS[0]: ("jacobian_norm", "blowup")}
CAPTION = ("Jacobian spectral norm of one normalization operation. Left: measured (autograd + SVD) against the formula "
           "|gamma|/sqrt(var+eps); colour = grouping, filled = torch module, hollow = ibnorm's reference composite; "
           "dashed: equality. Middle: per regime cell the largest relative error over all seeds (the verdict's "
           "statistic) against the tolerance 1e-8 (dashed), coloured by the check's verdict. Right: as the input std sigma -> 0 the norm of "
           "nn.LayerNorm grows like 1/sigma for eps = 0 and is capped by 1/sqrt(eps) for eps > 0 (markers measured, "
           "lines predicted).")
AXES = ("grouping", "eps", "implementation", "gamma_mode")
TOL = 1e-8


def decision_data(ev) -> dict:
    """{cell tuple: (min, max) of the signed relative errors over the seeds}: the formula check's envelope."""
    s = require_series(ev, "jacobian_norm", NAME, AXES + ("seed", "quantity"))
    out = {}
    for combo in np.ndindex(*(len(s.coords[a]) for a in AXES)):
        cell = {a: s.coords[a][i] for a, i in zip(AXES, combo)}
        err = s.sel(**cell, quantity="rel_error").values
        err = err[np.isfinite(err)]
        if err.size:
            out[tuple(cell.values())] = (float(err.min()), float(err.max()))
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured Jacobian")
    return out


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    s = require_series(ev, "jacobian_norm", NAME, AXES + ("seed", "quantity"))
    blow = require_series(ev, "blowup", NAME, ("eps", "seed", "sigma", "quantity"))
    fig, (a1, a2, a3) = style.new_figure(ncols=3, width=13.5, height=max(4.0, 0.16 * len(data) + 1.5))
    groupings = list(dict.fromkeys(k[0] for k in data))
    for cell in data:
        sub = s.sel(**dict(zip(AXES, cell)))
        c = style.color(groupings.index(cell[0]))
        kw = {"facecolors": "none", "edgecolors": c} if cell[2] != "torch" else {"color": c}
        a1.scatter(sub.sel(quantity="predicted").values, sub.sel(quantity="measured").values, s=16,
                   marker=style.marker(groupings.index(cell[0])), **kw)
    for i, g in enumerate(groupings):
        a1.scatter([], [], color=style.color(i), marker=style.marker(i), label=g)
    v = s.sel(quantity="measured").values
    v = v[np.isfinite(v) & (v > 0)]
    a1.plot([v.min() / 1.3, v.max() * 1.3], [v.min() / 1.3, v.max() * 1.3], "--", color=style.PREDICTION_COLOR,
            linewidth=1, label="measured = formula")
    a1.set_xscale("log")
    a1.set_yscale("log")
    style.label_axes(a1, "formula |gamma|/sqrt(var+eps)", "measured ||J||_2")
    a1.legend(fontsize=7)
    labels = [f"{g}, eps={e:g}, {impl}" + ("" if gm == "scalar" else f", {gm} gamma") for g, e, impl, gm in data]
    worst = [max(abs(lo), abs(hi), 1e-18) for lo, hi in data.values()]
    verdicts = check_verdicts(ev, "formula")
    colors = [style.VERDICT_COLORS.get(verdicts.get(tuple(sorted((a, str(v)) for a, v in zip(AXES, cell))),
                                                    "inconclusive"), "0.4") for cell in data]
    a2.scatter(worst, range(len(worst)), c=colors, s=18)
    a2.axvline(TOL, color="0.3", linestyle="--", linewidth=1, label="tolerance 1e-8")
    a2.set_xscale("log")
    a2.set_yticks(range(len(labels)), labels, fontsize=6)
    a2.invert_yaxis()
    style.label_axes(a2, "max |relative error| over seeds", "regime cell", "decision statistic")
    a2.legend(fontsize=7)
    sig = np.asarray(blow.coords["sigma"], dtype=float)
    for j, e in enumerate(blow.coords["eps"]):
        meas = np.nanmean(blow.sel(eps=e, quantity="norm").values, axis=0)
        pred = np.nanmean(blow.sel(eps=e, quantity="norm_predicted").values, axis=0)
        lab = "eps = 0 (sanity)" if e == 0 else f"eps = {e:g}"
        a3.plot(sig, meas, linestyle="none", marker=style.marker(j), color=style.color(j), label=f"measured, {lab}")
        a3.plot(sig, pred, linestyle=style.linestyle(j), color=style.color(j), label=f"predicted, {lab}")
        if e > 0:
            a3.axhline(1 / np.sqrt(e), color="0.4", linewidth=0.8, linestyle=":", label="1/sqrt(eps)")
    a3.set_xscale("log")
    a3.set_yscale("log")
    style.label_axes(a3, "input standard deviation sigma", "||J||_2 of nn.LayerNorm (gamma = 1)")
    a3.legend(fontsize=6.5)
    style.verdict_badge(a3, ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
