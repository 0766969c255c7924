"""Figure: every estimator's ground-truth validation, read from the claims' ``validation`` rows.

Each row is a :class:`~ibnorm_verify.verification.evidence.ValidationRow` (estimator, case, truth,
estimate, lower, upper, passed, criterion, family): mutual-information estimators against closed forms
(Gaussian and Student-t pairs, invertible transforms, noisy channels), Lipschitz brackets against exact
constants, Hessian norms, the generalization-bound machinery, the normalizer Jacobians. One panel per
family: estimate against truth, the bracket [lower, upper] as a bar where the estimator gives one,
hollow markers for rows that failed their criterion. Nothing is dropped: a row without a finite
truth or estimate is listed by name under the panels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..verification.evidence import ValidationRow
from . import style
from .base import FigureDataError

NAME = "estimator_validation"
#: every claim may carry validation rows; the figure reads whichever ran
CLAIMS = ("cap.norm-jacobian", "cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params",
          "cap.normalization-exponential-reduction", "cap.loss-smoothness", "cap.local-generalization-bound",
          "cap.training-statistics", "ib.standardization", "ib.nuisance-suppression", "ib.higher-ib-value",
          "ib.tighter-generalization-bound", "ib.empirical-performance")
#: drawn for any run: it reads ``Evidence.validation`` of whichever claims ran (no series)
ANY_CLAIM = True
READS: dict[str, tuple[str, ...]] = {cid: () for cid in CLAIMS}
SECTION = "validation"          # the report shows it in the estimator-validation section
CAPTION = ("Estimator validation: every ground-truth row of the estimators the claims used, one panel per family. "
           "Estimated against true value; bars: the certified bracket [lower, upper] where the estimator gives one; "
           "dashed: estimate = truth; hollow markers: rows that failed their criterion. Rows that cannot be placed "
           "on axes (no finite truth or estimate) are listed under the panels.")

@dataclass
class Layout:
    """The rows of the figure: per family, the plotted rows; the rows listed instead (with why)."""

    families: dict[str, list[ValidationRow]] = field(default_factory=dict)
    listed: list[tuple[str, str]] = field(default_factory=list)     # (label, why not plotted)
    duplicates: int = 0
    total: int = 0

    @property
    def plotted(self) -> int:
        return sum(len(v) for v in self.families.values())


def _label(r: ValidationRow) -> str:
    return f"{r.estimator}: {r.case}" if r.case else r.estimator


def layout(evidence_by_id: Mapping) -> Layout:
    """Every validation row of every claim, deduplicated (several claims repeat the same validation),
    sorted into plotted rows per family and listed rows."""
    out, seen = Layout(), set()
    for cid, ev in evidence_by_id.items():
        for r in ev.validation or []:
            out.total += 1
            key = (r.estimator, r.case, r.truth, r.estimate, r.lower, r.upper, r.passed)
            if key in seen:
                out.duplicates += 1
                continue
            seen.add(key)
            finite = [v for v in (r.truth, r.estimate) if v is not None]
            if len(finite) < 2 or not all(math.isfinite(v) for v in finite):
                out.listed.append((_label(r), f"truth {r.truth}, estimate {r.estimate}; "
                                              f"{'passed' if r.passed else 'FAILED'} ({r.criterion})"))
                continue
            out.families.setdefault(r.family or "other", []).append(r)
    return out


def _panel(ax, rows: list[ValidationRow], family: str) -> None:
    ests = list(dict.fromkeys(r.estimator for r in rows))
    vals = []
    for i, est in enumerate(ests):
        rs = [r for r in rows if r.estimator == est]
        c, mk = style.color(i), style.marker(i)
        t = np.asarray([r.truth for r in rs], dtype=float)
        e = np.asarray([r.estimate for r in rs], dtype=float)
        ok = np.asarray([r.passed for r in rs])
        ax.scatter(t[ok], e[ok], color=c, marker=mk, s=22, zorder=3, label=est if len(est) <= 34 else est[:33] + "…")
        if (~ok).any():
            ax.scatter(t[~ok], e[~ok], facecolors="none", edgecolors=c, marker=mk, s=30, zorder=3, linewidths=1.2)
        for r in rs:
            lo = r.lower if r.lower is not None and math.isfinite(r.lower) else None
            hi = r.upper if r.upper is not None and math.isfinite(r.upper) else None
            if lo is not None or hi is not None:
                a, b = (lo if lo is not None else r.estimate), (hi if hi is not None else r.estimate)
                ax.plot([r.truth, r.truth], [a, b], color=c, linewidth=1.2, zorder=2)
                vals += [a, b]
        vals += list(t) + list(e)
    v = np.asarray(vals, dtype=float)
    v = v[np.isfinite(v)]
    use_log = bool(v.size and (v > 0).all() and v.max() / v.min() > 20)
    lo, hi = (v.min() / 1.5, v.max() * 1.5) if use_log else (v.min(), v.max())
    if not use_log:
        pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
        lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color=style.PREDICTION_COLOR, linestyle="--", linewidth=0.9, label="estimate = truth")
    if use_log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    units = {r.unit for r in rows if r.unit}
    unit = f" ({units.pop()})" if len(units) == 1 else ""
    failed = sum(not r.passed for r in rows)
    style.label_axes(ax, f"true value{unit}", f"estimated value{unit}",
                     f"{family}: {len(rows)} row{'s' if len(rows) != 1 else ''}"
                     + (f", {failed} failed" if failed else (", all passed" if len(rows) > 1 else ", passed")))
    ax.legend(fontsize=6)


def make(evidence_by_id, out_dir) -> list:
    lay = layout(evidence_by_id)
    if lay.total == 0:
        raise FigureDataError(f"{NAME}: no claim in the run produced validation rows "
                              f"(claims: {', '.join(sorted(evidence_by_id)) or 'none'})")
    fams = list(lay.families)
    n = max(len(fams), 1)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    extra = 0.22 * min(len(lay.listed), 12) + (0.3 if lay.listed or lay.duplicates else 0)
    fig, axes = style.new_figure(ncols=ncols, nrows=nrows, width=4.2 * ncols, height=3.8 * nrows + extra)
    axes = np.atleast_1d(axes).ravel()
    for ax, fam in zip(axes, fams):
        _panel(ax, lay.families[fam], fam)
    for ax in axes[len(fams):]:
        ax.set_axis_off()
    if not fams:
        axes[0].text(0.5, 0.5, "no row with a finite truth and estimate", ha="center", va="center",
                     transform=axes[0].transAxes)
    foot = []
    if lay.listed:
        foot.append(f"{len(lay.listed)} rows not on the axes:")
        foot += [f"  {label[:70]}: {why[:90]}" for label, why in lay.listed[:12]]
        if len(lay.listed) > 12:
            foot.append(f"  ... and {len(lay.listed) - 12} more (all in the report's validation tables)")
    if lay.duplicates:
        foot.append(f"{lay.duplicates} rows repeated by several claims are drawn once.")
    if foot:
        fig.text(0.01, 0.0, "\n".join(foot), ha="left", va="top", fontsize=6.5, family="monospace")
    return style.save(fig, out_dir, f"fig_{NAME}")

