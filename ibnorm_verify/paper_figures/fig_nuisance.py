"""Figure 9: nuisance suppression, from ``ib.nuisance-suppression``: the statistic each of its checks tests.

Reads the series ``effect`` (part, grouping, compression, lam, noise, seed): per seed, IBNorm minus the
variance-centric normalizer of the same grouping on the same draws (for the label information the
ratio IBNorm / baseline). One panel per part of the claim (tails, entropy of the output, information
about the nuisance, information about the label); one row per regime cell (grouping / compression /
lambda / channel noise s; noise 0 = the noise-free output): the per-seed values (dots), their mean and
95% Student-t interval over seeds (the check's interval), the prediction's boundary (0, or
``label_keep`` for the label ratio), coloured by the check's verdict (a refutation counts after Holm).
"""
from __future__ import annotations

import numpy as np

from ibnorm_verify.verification.stats import mean_se_ci

from . import style
from ._regime_cells import cell_label, cells_of, check_verdicts, interval_panel
from .base import FigureDataError, get_evidence, require_series

NAME = "nuisance"
CLAIMS = ("ib.nuisance-suppression",)
READS = {CLAIMS[0]: ("effect",)}
CAPTION = ("Nuisance suppression, the statistic of each check: per regime cell (grouping/compression/lambda/channel "
           "noise s; s = 0 is the noise-free output) the paired per-seed change IBNorm - baseline (dots), its mean and "
           "95% interval over seeds, and the predicted side of the dashed boundary: kurtosis of the nuisance "
           "coordinates, entropy of the noisy nuisance coordinates and I(nuisance; T_s) should fall (< 0), the label "
           "information should keep at least label_keep of the baseline's (ratio). Colour = the check's verdict.")
AXES = ("grouping", "compression", "lam", "noise")
PARTS = {"tails": "excess kurtosis change (dimensionless)",
         "entropy, layer output": "entropy change of T_j + s eps (nats)",
         "nuisance information": "I(N_j; T_j + s eps) change (nats)",
         "label information": "I(Y; T + s eps) ratio IBNorm / baseline"}


def decision_data(ev) -> dict:
    """{(part, grouping, compression, lam, noise): (per-seed values, mean, (low, high))}: each check's statistic."""
    s = require_series(ev, "effect", NAME, ("part",) + AXES + ("seed",))
    out = {}
    for part in s.coords["part"]:
        sp = s.sel(part=part)
        for cell in cells_of(sp, AXES):
            v = sp.sel(**cell).values
            v = v[np.isfinite(v)]
            m = mean_se_ci(v)
            out[(part,) + tuple(cell.values())] = (v, m.estimate, m.ci)
    if not out:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: no measured effect")
    return out


def _threshold(ev, part: str) -> float:
    if part != "label information":
        return 0.0
    keep = (ev.params or {}).get("label_keep")
    if keep is None:
        raise FigureDataError(f"{NAME}: claim {ev.claim_id!r}: params has no 'label_keep' (the label-ratio boundary)")
    return float(keep)


def make(evidence_by_id, out_dir) -> list:
    ev = get_evidence(evidence_by_id, CLAIMS[0], NAME)
    data = decision_data(ev)
    parts = [p for p in PARTS if any(k[0] == p for k in data)]
    n_rows = max(sum(k[0] == p for k in data) for p in parts)
    fig, axes = style.new_figure(ncols=len(parts), width=4.2 * len(parts), height=max(3.6, 0.32 * n_rows + 1.6))
    for ax, part in zip(np.atleast_1d(axes), parts):
        rows = []
        for key, (v, m, (lo, hi)) in data.items():
            if key[0] != part:
                continue
            cell = dict(zip(AXES, key[1:]))
            rows.append((cell, cell_label(cell), m, lo, hi, None))
            ax.plot(v, np.full(v.size, len(rows) - 1) + np.linspace(-0.15, 0.15, v.size), ".", color="0.45",
                    markersize=3.5)
        interval_panel(ax, rows, threshold=_threshold(ev, part), verdicts=check_verdicts(ev, part))
        if part == "tails" and max(abs(r[2]) for r in rows) > 50 * max(min(abs(r[2]) for r in rows), 1e-3):
            ax.set_xscale("symlog", linthresh=1.0)          # BN's kurtosis drop dwarfs LN's
        style.label_axes(ax, PARTS[part], "regime cell (grouping/compression/lam/noise s)",
                         part + (" (primary)" if part == "nuisance information" else ""))
    style.verdict_badge(np.atleast_1d(axes)[-1], ev)
    return style.save(fig, out_dir, f"fig_{NAME}")
