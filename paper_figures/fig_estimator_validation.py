"""Figure 11: estimator validation: the estimated against the true value on ground-truth tasks
(closed-form MI of Gaussian / Student-t pairs and their invertible transforms; exact Lipschitz
constants), read from the ``validation`` rows of every claim in the run."""
from __future__ import annotations

import sys

import numpy as np

from . import style
from .base import FigureDataError, as_array, figure_main

NAME = "estimator_validation"
CLAIMS = ("ib.nuisance-suppression", "ib.higher-ib-value", "ib.tighter-generalization-bound",
          "cap.unnormalized-exponential-input", "cap.normalization-exponential-reduction")
SECTION = "validation"          # the report shows it in the estimator-validation section
CAPTION = ("Estimator validation: estimated against true value on tasks with known ground truth (one marker per "
           "task, colour per estimator); the diagonal is a perfect estimate; filled markers passed the check.")
TRUE_KEYS = ("true", "truth", "true_mi", "exact")          # the ground-truth column of a validation row
EST_KEYS = ("estimate", "estimated", "value", "measured")  # the estimate column
GROUP_KEYS = ("estimator", "method")
PASS_KEYS = ("ok", "passed", "pass")


def _first(row: dict, keys):
    for k in keys:
        if k in row:
            return row[k]
    return None


def rows_from(evidence_by_id) -> list[dict]:
    """All validation rows with a ground truth and an estimate: ``{claim, estimator, true, estimate, ok}``."""
    out, seen = [], set()
    for cid, ev in evidence_by_id.items():
        for r in ev.validation or []:
            t, e = _first(r, TRUE_KEYS), _first(r, EST_KEYS)
            if t is None or e is None:
                continue
            try:
                t, e = float(as_array(t)), float(as_array(e))
            except (TypeError, ValueError, FigureDataError):
                continue
            key = (str(_first(r, GROUP_KEYS)), str(r.get("task", "")), t, e)
            if key in seen:  # the same validation shown by several claims
                continue
            seen.add(key)
            ok = _first(r, PASS_KEYS)
            out.append({"claim": cid, "estimator": str(_first(r, GROUP_KEYS) or "estimator"), "true": t,
                        "estimate": e, "ok": None if ok is None else bool(ok)})
    return out


def make(evidence_by_id, out_dir) -> list:
    rows = rows_from(evidence_by_id)
    if not rows:
        have = {cid: [sorted(r) for r in ev.validation[:1]] for cid, ev in evidence_by_id.items() if ev.validation}
        raise FigureDataError(f"{NAME}: no validation row with a ground truth ({'/'.join(TRUE_KEYS)}) and an "
                              f"estimate ({'/'.join(EST_KEYS)}); rows seen: {have or 'none'}")
    fig, ax = style.new_figure(width=4.4, height=4.0)
    ests = list(dict.fromkeys(r["estimator"] for r in rows))
    for i, est in enumerate(ests):
        rs = [r for r in rows if r["estimator"] == est]
        t = np.asarray([r["true"] for r in rs])
        e = np.asarray([r["estimate"] for r in rs])
        filled = np.asarray([r["ok"] is not False for r in rs])
        ax.scatter(t[filled], e[filled], color=style.color(i), marker=style.marker(i), label=est, s=24)
        if (~filled).any():
            ax.scatter(t[~filled], e[~filled], facecolors="none", edgecolors=style.color(i), marker=style.marker(i), s=24)
    vals = np.asarray([[r["true"], r["estimate"]] for r in rows], dtype=float)
    lo, hi = np.nanmin(vals), np.nanmax(vals)
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=style.PREDICTION_COLOR, linestyle="--", linewidth=1,
            label="estimate = truth")
    style.label_axes(ax, "true value (nats for MI)", "estimated value (nats for MI)")
    ax.legend()
    return style.save(fig, out_dir, f"fig_{NAME}")


def main(argv=None) -> int:
    return figure_main(sys.modules[__name__], argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
