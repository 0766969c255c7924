"""Figure 11: estimator validation: estimated against true values on ground-truth tasks, read from the
``validation`` rows of every claim in the run (nothing is re-estimated).

Two kinds of rows exist. MI rows (``ib.*`` claims): ``{"task", "true", "estimate", "method", ...}``
(closed-form MI of Gaussian / Student-t pairs, their invertible transforms, noisy channels, labels;
nats). Norm rows (``cap.*`` claims): ``{"estimator", "case", "exact", "estimate"}`` (Hessian) or
``{"estimator", "case", "exact", "lower", "upper", "passed"}`` (Lipschitz bracket), dimensionless.
"""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, as_array, figure_main

NAME = "estimator_validation"
CLAIMS = ("ib.nuisance-suppression", "ib.higher-ib-value", "ib.tighter-generalization-bound",
          "cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params",
          "cap.normalization-exponential-reduction", "cap.loss-smoothness")
SECTION = "validation"          # the report shows it in the estimator-validation section
CAPTION = ("Estimator validation on tasks with known ground truth, from the claims' validation rows. Left: mutual "
           "information (nats), estimated against closed form, one marker per task, colour per estimator. Right: "
           "Lipschitz constants (attained lower bound, bar up to the certified upper bound) and Hessian norms "
           "against their exact values (log-log). Dashed: estimate = truth; hollow markers failed their check.")


def _num(v):
    try:
        f = float(as_array(v))
    except (TypeError, ValueError, FigureDataError):
        return None
    return f if np.isfinite(f) else None


def rows_from(evidence_by_id) -> dict:
    """``{"mi": [...], "norm": [...]}`` of ``{estimator, task, true, estimate, upper, ok}``, deduplicated
    (several claims show the same validation)."""
    out, seen = {"mi": [], "norm": []}, set()
    for cid, ev in evidence_by_id.items():
        for r in ev.validation or []:
            if "true" in r:
                kind, truth, est, upper = "mi", _num(r["true"]), _num(r.get("estimate")), None
                name = str(r.get("method") or r.get("estimator") or "estimator")
            elif "exact" in r:
                kind, truth = "norm", _num(r["exact"])
                est = _num(r["estimate"]) if "estimate" in r else _num(r.get("lower"))
                upper = _num(r.get("upper"))
                name = str(r.get("estimator") or r.get("method") or "estimator")
            else:
                continue
            if truth is None or est is None:
                continue
            task = str(r.get("task") or r.get("case") or "")
            key = (kind, name, task, truth, est)
            if key in seen:
                continue
            seen.add(key)
            ok = r.get("passed", r.get("ok"))
            out[kind].append({"estimator": name, "task": task, "true": truth, "estimate": est, "upper": upper,
                              "ok": None if ok is None else bool(ok), "claim": cid})
    return out


def _scatter(ax, rows, log: bool) -> None:
    ests = list(dict.fromkeys(r["estimator"] for r in rows))
    for i, est in enumerate(ests):
        rs = [r for r in rows if r["estimator"] == est]
        t, e = np.asarray([r["true"] for r in rs]), np.asarray([r["estimate"] for r in rs])
        ok = np.asarray([r["ok"] is not False for r in rs])
        c, mk = style.color(i), style.marker(i)
        ax.scatter(t[ok], e[ok], color=c, marker=mk, label=est, s=24, zorder=3)
        if (~ok).any():
            ax.scatter(t[~ok], e[~ok], facecolors="none", edgecolors=c, marker=mk, s=24, zorder=3)
        for r in rs:
            if r["upper"] is not None and r["upper"] > r["estimate"]:
                ax.plot([r["true"], r["true"]], [r["estimate"], r["upper"]], color=c, linewidth=1)
    vals = np.asarray([[r["true"], r["estimate"]] for r in rows], dtype=float)
    if log:
        vals = vals[vals > 0]
        lo, hi = vals.min() / 1.5, vals.max() * 1.5
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color=style.PREDICTION_COLOR, linestyle="--", linewidth=1, label="estimate = truth")
    ax.legend()


def make(evidence_by_id, out_dir) -> list:
    rows = rows_from(evidence_by_id)
    panels = [k for k in ("mi", "norm") if rows[k]]
    if not panels:
        have = {cid: sorted(ev.validation[0]) for cid, ev in evidence_by_id.items() if ev.validation}
        raise FigureDataError(f"{NAME}: no validation row with a ground truth ('true' or 'exact') and an estimate; "
                              f"first row of each claim: {have or 'none'}")
    fig, axes = style.new_figure(ncols=len(panels), width=4.4 * len(panels), height=4.0)
    for ax, kind in zip(np.atleast_1d(axes), panels):
        _scatter(ax, rows[kind], log=(kind == "norm"))
        if kind == "mi":
            style.label_axes(ax, "true mutual information (nats)", "estimated mutual information (nats)",
                             "MI estimators")
        else:
            style.label_axes(ax, "exact value (dimensionless)", "estimated value (dimensionless)",
                             "Lipschitz / Hessian-norm estimators")
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
