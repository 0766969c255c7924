"""``cap.local-generalization-bound``: a local-Lipschitz capacity bound is smaller with normalization and its
rank across networks tracks the generalization gap (arXiv 2511.00958, section 2.5 [summary]; the bound's
form is OUR reconstruction, :func:`ibnorm_verify.theory.bounds.local_lipschitz_covering_bound`,
``docs/papers/capacity.md`` section 2.5).

Sweep: one bias-free MLP (:func:`~ibnorm_verify.verification.models.build_network`, ReLU, Gaussian init)
per (normalizer, label noise, seed), trained by the one training loop on a real task (scikit-learn's
digits, flattened), then three bounds at the trained weights: the local-Lipschitz covering bound, the
Bartlett et al. 2017 spectral margin bound and a PAC-Bayes sharpness bound (the last two beside it, as
references; :mod:`ibnorm_verify.verification.estimators.bounds`).

**No verdict from two upper bounds.** The local bound is increasing in the parameter-Lipschitz constant
L, and L is known only as a bracket [attained lower, certified upper]. Per seed, the log-ratio of the
normalized net's bound to the plain net's (same seed and label noise) therefore lies in

    [log B_norm(L_lower) - log B_none(L_upper),  log B_norm(L_upper) - log B_none(L_lower)];

the check ``tighter`` takes the Student-t interval over seeds of the lower ends and of the upper ends and
decides on their hull: supported only if even the normalized net's certified bound is below the plain
net's attained one, refuted only if even its attained bound is above the plain net's certified one,
otherwise inconclusive with the two certificate gaps (upper / lower) in ``details``. ``tracks-gap``
decides on the hull of the bootstrap intervals of Spearman's rho(bound, gap) with either end of the
bracket (the unit: one trained network).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..estimators.bounds import local_lipschitz_bound, pac_bayes_sharpness_bound, spectral_margin_bound, validate
from ..evidence import Series
from ..models import build_network
from ..models.architectures import Normalizer
from ..runtime import single_threaded
from ..stats import mean_se_ci, rank_correlation
from ..training.data import image_task
from ..training.trainer import TrainConfig, evaluate, train
from ..verdict import check_direction, check_precondition
from ._training_runs import checkpoint_path, plateau_check, plateau_drop, run_seeds
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["CLAIM", "LocalGeneralizationBound", "BoundItem", "worker", "analyze"]

_AXES = ("grouping", "compression", "label_noise")
_BOUNDS = ("local_lower", "local_upper", "bartlett", "pac_bayes")


@dataclass(frozen=True)
class BoundItem:
    """One trained network of the sweep."""

    normalizer: Normalizer
    label_noise: float
    seed: int
    task: str = "digits"
    depth: int = 3
    width: int = 32
    gain: float = math.sqrt(2.0)
    n_train: int = 256
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    lip_inputs: int = 32
    mc_samples: int = 5
    checkpoint_dir: str = ""


@single_threaded
def worker(item: BoundItem) -> dict:
    """Train one bias-free MLP and evaluate the three bounds (float32, CPU)."""
    sd = run_seeds(item.seed, "cap.local-generalization-bound", item.task)
    tr, _va, te = image_task(item.task, item.n_train, sd["data"], label_noise=item.label_noise)
    tr, te = tr.flat(), te.flat()
    nz = item.normalizer
    cfg_net: dict[str, Any] = dict(depth=item.depth, width=item.width, in_dim=tr.x.shape[1], out_dim=tr.num_classes, gain=item.gain,
                   activation="relu", norm=nz.grouping, compression=nz.compression, lam=nz.lam,
                   order=nz.order, init="gaussian", seed=sd["init"] % (2 ** 31), dtype="float32")
    init = build_network(**cfg_net)
    model = build_network(**cfg_net)
    res = train(model, tr, te, TrainConfig(steps=item.steps, batch_size=item.batch_size, lr=item.lr,
                                           seed=sd["batches"], eval_every=item.steps, log_stats=False,
                                           checkpoint_every=max(1, item.steps // 10) if item.checkpoint_dir else 0),
                checkpoint=checkpoint_path(item.checkpoint_dir, item))
    model.eval()
    init.eval()
    tr_loss, tr_acc = evaluate(model, tr)
    te_loss, te_acc = evaluate(model, te)
    loc = local_lipschitz_bound(model, tr.x, tr.y, init, max_inputs=item.lip_inputs, seed=item.seed)
    bart = spectral_margin_bound(model, tr.x, tr.y, init)
    pac = pac_bayes_sharpness_bound(model, tr.x, tr.y, init, mc_samples=item.mc_samples, seed=item.seed)
    return {"grouping": nz.grouping, "compression": nz.compression, "lam": nz.lam, "label_noise": item.label_noise,
            "seed": item.seed, "train_err": 1 - tr_acc, "test_err": 1 - te_acc, "gap": (1 - te_acc) - (1 - tr_acc),
            "loss_gap": te_loss - tr_loss, "local_upper": loc["bound"], "local_lower": loc["bound_attained"],
            "lip_upper": loc["lip_upper"], "lip_lower": loc["lip_lower"], "radius": loc["radius"],
            "margin": loc["gamma"], "n_params": loc["n_params"], "bartlett": bart["bound"],
            "pac_bayes": pac["bound"], "pac_sigma": pac["sigma"], "plateau_drop": plateau_drop(res.log["train_loss"]),
            "upper_reason": loc.get("upper_reason", "")}


def _log(x: float) -> float:
    return math.log(x) if x > 0 and math.isfinite(x) else (math.inf if x == math.inf else math.nan)


def _median_gap(rs: list[dict]) -> float:
    g = [r["lip_upper"] / r["lip_lower"] for r in rs if r["lip_lower"] > 0]
    return float(np.median(g)) if g else math.nan


def analyze(records: list[dict], params: dict, validation_ok: bool = True) -> Analysis:
    """Checks from per-network records (pure; see the module docstring)."""
    checks = [check_precondition("estimator-validation", validation_ok,
                                 "the bound estimators passed their ground-truth checks" if validation_ok
                                 else "an estimator failed its ground-truth validation")]
    plateau, tol = bool(params.get("require_plateau", False)), float(params.get("plateau_tol", 0.05))
    measured: dict = {}
    base = {(r["seed"], r["label_noise"]): r for r in records if r["grouping"] == "none"}
    variants = sorted({(r["grouping"], r["compression"], r["label_noise"]) for r in records if r["grouping"] != "none"},
                      key=str)
    for g, comp, ln in variants:
        cell = {"grouping": g, "compression": comp, "label_noise": ln}
        pairs = sorted([(r, base[(r["seed"], ln)]) for r in records if (r["grouping"], r["compression"],
                        r["label_noise"]) == (g, comp, ln) and (r["seed"], ln) in base], key=lambda p: p[0]["seed"])
        tag = f"{g}/{comp}/noise={ln:g}"
        if not pairs:
            continue
        if plateau:     # the cell's networks, normalized and baseline, trained to a plateau
            checks.append(plateau_check(f"plateau[{tag}]", [r["plateau_drop"] for p in pairs for r in p], tol, cell=cell))
        lo = mean_se_ci([_log(a["local_lower"]) - _log(b["local_upper"]) for a, b in pairs])
        hi = mean_se_ci([_log(a["local_upper"]) - _log(b["local_lower"]) for a, b in pairs])
        est = 0.5 * (lo.estimate + hi.estimate)
        gaps = {"certificate gap (upper/lower L), normalized": _median_gap([a for a, _ in pairs]),
                "certificate gap (upper/lower L), none": _median_gap([b for _, b in pairs])}
        checks.append(check_direction(f"tighter[{tag}]", est, (lo.ci[0], hi.ci[1]), less_than=0.0,
                                      part="smaller with normalization", cell=cell, replicates=len(pairs), unit="seed",
                                      details={"bracket of log(B_norm/B_none)": [lo.estimate, hi.estimate],
                                               "interval": "hull of the t-intervals of the bracket's ends", **gaps}))
        measured[f"log bound ratio bracket[{tag}]"] = {"lower": lo.estimate, "upper": hi.estimate,
                                                       "ci": [lo.ci[0], hi.ci[1]], **gaps}
        for key in ("bartlett", "pac_bayes"):
            m = mean_se_ci([_log(a[key]) - _log(b[key]) for a, b in pairs])
            measured[f"log {key} ratio[{tag}]"] = {"estimate": m.estimate, "ci": list(m.ci)}
    gap = [r["gap"] for r in records]
    rcs = {k: rank_correlation([r[k] for r in records], gap, seed=0) for k in ("local_lower", "local_upper")}
    lo_ci = min(rc["ci"][0] for rc in rcs.values())
    hi_ci = max(rc["ci"][1] for rc in rcs.values())
    rho = float(np.mean([rc["rho"] for rc in rcs.values()]))
    everywhere = {"grouping": "all", "compression": "all", "label_noise": "all"}
    if plateau:
        checks.append(plateau_check("plateau[all]", [r["plateau_drop"] for r in records], tol, cell=everywhere))
    checks.append(check_direction("tracks-gap", rho, (lo_ci, hi_ci), greater_than=0.0, part="tracks the gap",
                                  cell=everywhere,
                                  replicates=len(records), unit="trained network",
                                  details={f"spearman[{k}]": rc for k, rc in rcs.items()}))
    for key in ("bartlett", "pac_bayes"):
        rc = rank_correlation([r[key] for r in records], gap, n_boot=500, n_perm=500, seed=0)
        measured[f"spearman[{key}, gap]"] = {"estimate": rc["rho"], "ci": list(rc["ci"]), "perm_p": rc["perm_p"]}
    for k, rc in rcs.items():
        measured[f"spearman[{k}, gap]"] = {"estimate": rc["rho"], "ci": list(rc["ci"]), "perm_p": rc["perm_p"]}
    return Analysis(checks, measured=measured, series=_series(records),
                    predicted={"log(B_norm / B_none), bracket": "< 0", "spearman(bound, gap)": "> 0"},
                    notes=["The bounds are vacuous in absolute terms at this scale (p >> n); the claim is about "
                           "their ordering and rank correlation.",
                           "Bartlett and PAC-Bayes bounds are reported beside the local bound (measured), not "
                           "counted as evidence for it."])


def _series(records: list[dict]) -> list[Series]:
    dims = _AXES + ("seed",)
    rows = []
    for r in records:
        c = {a: r[a] for a in _AXES}
        for b in _BOUNDS:
            rows.append({**c, "seed": r["seed"], "bound": b, "v": r[b]})
    lips = [{**{a: r[a] for a in _AXES}, "seed": r["seed"], "side": side, "v": r[f"lip_{side}"]}
            for r in records for side in ("lower", "upper")]
    return [Series.from_records("bounds", rows, dims + ("bound",), "v", coords={"bound": list(_BOUNDS)},
                                description="local_lower/upper: the local bound with the attained / certified L"),
            Series.from_records("gap", records, dims, "gap", unit="test error - train error"),
            Series.from_records("lipschitz_params", lips, dims + ("side",), "v",
                                description="parameter-Lipschitz bracket: attained lower, certified upper")]


class LocalGeneralizationBound(Claim):
    id = "cap.local-generalization-bound"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "A local-Lipschitz capacity bound is tighter with normalization and tracks the gap"
    statement = ("A local-Lipschitz capacity bound is smaller with normalization than without, and its rank "
                 "across configurations tracks the measured generalization gap. The paper's bound is not "
                 "available; we test OUR reconstruction (ibnorm_verify.theory.bounds.local_lipschitz_covering_bound: "
                 "covering of the ball B(theta_0, R) with the parameter-Lipschitz constant at the trained weights).")
    conditions = {"model": "build_network MLP (ReLU, no bias, Gaussian init), AdamW, images flattened",
                  "gap": "test error - train error (0-1)",
                  "L_Theta": "estimate_lipschitz(wrt='params') at the trained weights on training inputs: "
                             "[attained lower, certified upper]",
                  "BN": "eval mode (folded in the Bartlett bound)", "device": "CPU (the bound estimators run on CPU)"}
    axes = _AXES
    condition = "even the certified bound with normalization below the attained bound without"
    primary_part = "smaller with normalization"
    series = (SeriesSpec("bounds", _AXES + ("seed", "bound")), SeriesSpec("gap", _AXES + ("seed",)),
              SeriesSpec("lipschitz_params", _AXES + ("seed", "side")))
    params = (
        Param("groupings", ["none", "layer", "batch"], tiny=["none", "layer"],
              choices=("none", "layer", "batch", "rms", "group"),
              help="plain normalizers compared (none = the unnormalized baseline, required)"),
        Param("ib_groupings", ["layer"], tiny=["layer"], choices=("layer", "batch", "rms", "group"),
              help="groupings also run as IBNorm (ib_compression, ib_lam)"),
        Param("ib_compression", "tanh", choices=("tanh", "log", "root", "softsign")),
        Param("ib_lam", 1.0, exclusive_minimum=0.0),
        Param("label_noise", [0.0, 0.3], minimum=0.0, maximum=1.0, help="label-noise levels (vary the gap)"),
        Param("task", "digits", choices=("digits", "synthetic")),
        Param("depth", 3, minimum=2),
        Param("width", 32, full=128, tiny=16, minimum=4),
        Param("gain", 1.4142135623730951, exclusive_minimum=0.0),
        Param("n_train", 256, medium=512, full=1000, tiny=64, minimum=16),
        Param("steps", 300, medium=3000, full=6000, tiny=40, minimum=1),
        Param("batch_size", 64, minimum=2),
        Param("lr", 3e-3, exclusive_minimum=0.0),
        Param("lip_inputs", 32, medium=64, full=256, tiny=8, minimum=1),
        Param("mc_samples", 5, medium=10, full=20, tiny=2, minimum=1),
        Param("require_plateau", False, medium=True, help="precondition: training loss on a plateau"),
        Param("plateau_tol", 0.05, exclusive_minimum=0.0, maximum=1.0),
        Param("checkpoint_dir", "", help="per-run training checkpoints (resume an interrupted run); empty = off"),
    )
    worker = staticmethod(worker)

    def items(self, ctx: Context) -> list[BoundItem]:
        if "none" not in ctx["groupings"]:
            raise ValueError("groupings must include 'none' (the unnormalized baseline)")
        norms = [Normalizer(g) for g in ctx["groupings"]]
        norms += [Normalizer(g, ctx["ib_compression"], ctx["ib_lam"]) for g in ctx["ib_groupings"]]
        return [BoundItem(nz, float(ln), int(s), ctx["task"], ctx["depth"], ctx["width"], ctx["gain"], ctx["n_train"],
                          ctx["steps"], ctx["batch_size"], ctx["lr"], ctx["lip_inputs"], ctx["mc_samples"],
                          ctx["checkpoint_dir"])
                for nz in norms for ln in ctx["label_noise"] for s in ctx.seeds]

    def analyze(self, records: list, params: dict, validation_ok: bool = True) -> Analysis:
        return analyze(records, params, validation_ok)

    def run(self, ctx: Context):
        rows = validate()
        records = ctx.map(worker, self.items(ctx), label="train+bounds")
        analysis = analyze(records, ctx.params, all(r.passed for r in rows))
        analysis.validation = rows
        return self.evidence_of(ctx, analysis)


CLAIM = LocalGeneralizationBound()
