"""``cap.training-statistics``: during training, normalizer input variances and weight norms grow, and most
normalizers end with input std above |gamma| (arXiv 2511.00958, TL;DR [summary]; ``docs/papers/capacity.md``
sections 2.3 and 3).

Sweep: one SmallResNet per (optimizer, grouping, weight decay, seed), trained by the one training loop on
a real image task (scikit-learn's digits by default). The worker logs every normalizer's input variance
(the sigma^2 it divides by) and every weight norm per step. Per regime cell (optimizer x grouping x weight
decay), with the seed as the unit of replication:

* ``variance growth``: per seed, the mean over normalizers of log(var_end / var_start); mean over seeds,
  Student-t interval, > 0;
* ``weight growth``: the same for the weight norms;
* ``sigma > |gamma|`` (primary): per seed, the share of normalizers whose final input std exceeds their
  max |gamma| (the regime in which a normalizer divides the Lipschitz constant, capacity.md 2.3); the
  median share over seeds with its distribution-free order-statistic interval and exact sign-test
  p-values, > 1/2. (The share is discrete; a t-interval would be degenerate when every seed agrees, and
  pooling the normalizers of one network as independent samples would overstate the evidence.)
* preconditions: every run learned (test accuracy > chance + 0.1); with ``require_plateau``, every
  run's training loss reached a plateau.

start / end = the mean of the first / last ``window`` logged steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..evidence import Series
from ..models.architectures import Normalizer, SmallResNet
from ..runtime import single_threaded
from ..stats import mean_se_ci, median_ci
from ..training.data import IMAGE_TASKS, image_task
from ..training.trainer import TrainConfig, normalizer_modules, seeded_init, train
from ..verdict import check_direction, check_precondition
from ._training_runs import (
    checkpoint_path,
    plateau_check,
    plateau_drop,
    run_extending_seeds,
    run_seeds,
    thin_index,
)
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["CLAIM", "TrainingStatistics", "StatsItem", "worker", "analyze", "CURVE_POINTS"]

#: points kept of each per-step curve in the Evidence
CURVE_POINTS = 100
_AXES = ("optimizer", "grouping", "weight_decay")


@dataclass(frozen=True)
class StatsItem:
    """One training run of the sweep."""

    optimizer: str
    grouping: str
    weight_decay: float
    seed: int
    lr: float
    task: str = "digits"
    steps: int = 300
    width: int = 8
    blocks: int = 1
    n_train: int = 512
    batch_size: int = 64
    window: int = 10
    cifar10_dir: str = ""
    checkpoint_dir: str = ""
    device: str = "cpu"


def _endpoints(series, window: int) -> tuple[float, float]:
    s = np.asarray(series, dtype=float)
    w = max(1, min(window, s.size // 4 or 1))
    return float(np.mean(s[:w])), float(np.mean(s[-w:]))


@single_threaded
def worker(item: StatsItem) -> dict:
    """Train one SmallResNet; return per-normalizer / per-weight endpoints and thinned curves."""
    sd = run_seeds(item.seed, "cap.training-statistics", item.task)
    tr, _va, te = image_task(item.task, item.n_train, sd["data"], cifar10_dir=item.cifar10_dir)
    tr, te = tr.to(item.device), te.to(item.device)
    model = seeded_init(sd["init"], SmallResNet, tr.x.shape[1], tr.num_classes, width=item.width,
                        blocks=item.blocks, norm=Normalizer(item.grouping)).to(item.device)
    cfg = TrainConfig(steps=item.steps, batch_size=item.batch_size, lr=item.lr, optimizer=item.optimizer,
                      weight_decay=item.weight_decay, eval_every=item.steps, seed=sd["batches"],
                      checkpoint_every=max(1, item.steps // 10) if item.checkpoint_dir else 0)
    res = train(model, tr, te, cfg, checkpoint=checkpoint_path(item.checkpoint_dir, item))
    norms = normalizer_modules(model)
    weights = [getattr(m, "weight", None) for m in norms.values()]
    gamma = [1.0 if w is None else float(w.detach().abs().max()) for w in weights]
    keep = thin_index(len(res.log["step"]), CURVE_POINTS)
    nv = list(res.log["norm_var"].values())
    wn = list(res.log["weight_norm"].values())
    return {"optimizer": item.optimizer, "grouping": item.grouping, "weight_decay": item.weight_decay,
            "seed": item.seed, "steps": [res.log["step"][i] for i in keep],
            "norm_var": [[v[i] for i in keep] for v in nv], "weight_norm": [[v[i] for i in keep] for v in wn],
            "train_loss": [res.log["train_loss"][i] for i in keep],
            "var_endpoints": [_endpoints(v, item.window) for v in nv],
            "weight_endpoints": [_endpoints(v, item.window) for v in wn],
            "gamma_max": gamma, "plateau_drop": plateau_drop(res.log["train_loss"]),
            "test_acc": res.final["test_acc"], "chance": 1.0 / tr.num_classes}


def _cell(r: dict) -> dict:
    return {"optimizer": r["optimizer"], "grouping": r["grouping"], "weight_decay": r["weight_decay"]}


def _per_seed(r: dict) -> dict:
    lv = [math.log(e / s) for s, e in r["var_endpoints"] if s > 0 and e > 0]
    lw = [math.log(e / s) for s, e in r["weight_endpoints"] if s > 0 and e > 0]
    ratio = [math.sqrt(e) / g if g > 0 else math.inf for (_s, e), g in zip(r["var_endpoints"], r["gamma_max"])]
    return {"var_growth": float(np.mean(lv)) if lv else math.nan, "weight_growth": float(np.mean(lw)) if lw else math.nan,
            "share": float(np.mean([x > 1.0 for x in ratio])) if ratio else math.nan, "sigma_over_gamma": ratio}


def _series(records: list[dict]) -> list[Series]:
    rows, curves, ratios = [], [], []
    for r in records:
        c, ps = _cell(r), _per_seed(r)
        rows.append({**c, "seed": r["seed"], "share": ps["share"], "var_growth": ps["var_growth"],
                     "weight_growth": ps["weight_growth"]})
        for j, x in enumerate(ps["sigma_over_gamma"]):
            ratios.append({**c, "seed": r["seed"], "normalizer": f"norm{j}", "v": x})
        for qty, mats in (("normalizer input variance", r["norm_var"]), ("weight norm", r["weight_norm"]),
                          ("training loss", [r["train_loss"]])):
            for j, curve in enumerate(mats):
                for st, v in zip(r["steps"], curve):
                    curves.append({**c, "seed": r["seed"], "quantity": qty, "layer": j, "step": st, "v": v})
    dims = _AXES + ("seed",)
    out = [Series.from_records(name, rows, dims, key, unit=unit) for name, key, unit in
           (("share_sigma_above_gamma", "share", "fraction of normalizers"), ("var_growth", "var_growth", "log ratio"),
            ("weight_growth", "weight_growth", "log ratio"))]
    if ratios:
        out.append(Series.from_records("sigma_over_gamma", ratios, dims + ("normalizer",), "v", unit="ratio"))
    out.append(Series.from_records("training_curves", curves, dims + ("quantity", "layer", "step"), "v",
                                   description="per-step curves (thinned): normalizer input variance and weight "
                                               "norm per layer index, training loss (layer 0)"))
    return out


def analyze(records: list[dict], params: dict) -> Analysis:
    """Checks per regime cell from the workers' records (pure; see the module docstring)."""
    checks, measured = [], {}
    cells: dict[tuple, list[dict]] = {}
    for r in records:
        cells.setdefault(tuple(_cell(r).values()), []).append(r)
    for key, rs in sorted(cells.items(), key=lambda kv: tuple(map(str, kv[0]))):
        cell = dict(zip(_AXES, key))
        tag = "/".join(str(v) for v in key)
        rs = sorted(rs, key=lambda r: r["seed"])
        learned = all(r["test_acc"] > r["chance"] + 0.1 for r in rs)
        checks.append(check_precondition(f"learned[{tag}]", learned,
                                         "every run's test accuracy exceeds chance + 0.1" if learned else
                                         "some run did not learn (test accuracy <= chance + 0.1)",
                                         {"test_acc": [r["test_acc"] for r in rs]}, cell=cell))
        if params.get("require_plateau", False):
            checks.append(plateau_check(f"plateau[{tag}]", [r["plateau_drop"] for r in rs],
                                        float(params.get("plateau_tol", 0.05)), cell=cell))
        per = [_per_seed(r) for r in rs]
        if cell["grouping"] == "none":
            continue
        for part, k in (("variance growth", "var_growth"), ("weight growth", "weight_growth")):
            m = mean_se_ci([p[k] for p in per])
            checks.append(check_direction(f"{k.replace('_', '-')}[{tag}]", m.estimate, m.ci, greater_than=0.0,
                                          part=part, cell=cell, unit="seed", **m.check_kwargs(),
                                          details={"per_seed": [p[k] for p in per]}))
            measured[f"{k}[{tag}]"] = {"estimate": m.estimate, "ci": list(m.ci)}
        shares = [p["share"] for p in per]
        md = median_ci(shares, support=(0.0, 1.0))
        c = check_direction(f"sigma>|gamma|[{tag}]", md.estimate, md.ci, greater_than=0.5, part="sigma > |gamma|",
                            cell=cell, replicates=md.n, unit="seed",
                            details={"per_seed_share": shares, "interval": f"order statistics, coverage {md.coverage:.3f}",
                                     "p-values": "exact sign test over seeds"})
        c.p_support, c.p_refute = md.p_above(0.5), md.p_below(0.5)
        checks.append(c)
        measured[f"share sigma>|gamma|[{tag}]"] = {"estimate": md.estimate, "ci": list(md.ci), "per_seed": shares}
    return Analysis(checks, measured=measured, series=_series(records),
                    predicted={"variance growth": "> 0", "weight growth": "> 0",
                               "median share of normalizers with sigma > |gamma|": "> 0.5"})


class TrainingStatistics(Claim):
    id = "cap.training-statistics"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "During training, normalizer input variances and weight norms grow"
    statement = ("During training the normalizers' input variances and the weight norms increase, and most "
                 "normalizers end with input std above |gamma| (the regime where normalization shrinks the "
                 "Lipschitz constant). Source: the paper's experiments as summarized in its TL;DR [summary]; "
                 "magnitudes and setting unknown, so the test is qualitative (directions over seeds).")
    conditions = {"model": "SmallResNet (stem + residual basic blocks), trained from scratch",
                  "statistic": "log(end/start), start/end = mean of `window` logged steps; unit of replication: seed",
                  "variance": "biased group variance of each normalizer's input on the training minibatch"}
    axes = _AXES
    condition = "sigma > |gamma| in most normalizers at the end of training"
    primary_part = "sigma > |gamma|"
    series = (SeriesSpec("share_sigma_above_gamma", _AXES + ("seed",)),
              SeriesSpec("var_growth", _AXES + ("seed",)), SeriesSpec("weight_growth", _AXES + ("seed",)),
              SeriesSpec("sigma_over_gamma", _AXES + ("seed", "normalizer")),
              SeriesSpec("training_curves", _AXES + ("seed", "quantity", "layer", "step")))
    params = (
        Param("groupings", ["batch", "layer"], tiny=["batch"],
              choices=("batch", "layer", "rms", "group"), help="normalizer groupings (the regime axis)"),
        Param("optimizers", ["sgd", "adamw"], choices=("sgd", "adamw"), help="optimizers (a regime axis)"),
        Param("weight_decays", [0.0], medium=[0.0, 5e-4], minimum=0.0,
              help="weight decays (a regime axis; large values shrink the weights: the converse regime)"),
        Param("lr_sgd", 0.05, exclusive_minimum=0.0, help="SGD(momentum 0.9) learning rate"),
        Param("lr_adamw", 3e-3, exclusive_minimum=0.0, help="AdamW learning rate"),
        Param("task", "digits", full="cifar10", choices=IMAGE_TASKS, help="image task"),
        Param("steps", 200, medium=800, full=5000, tiny=30, minimum=20),
        Param("width", 8, full=32, tiny=4, minimum=1),
        Param("blocks", 1, full=2, minimum=1),
        Param("n_train", 512, medium=1000, full=20000, tiny=128, minimum=16),
        Param("batch_size", 64, full=128, minimum=2),
        Param("max_seeds", 10, tiny=2, minimum=1,
              help="seed budget: undecided checks at the runner's seeds extend the sample to this many seeds "
                   "(the exact sign test of the median share needs >= 6 seeds to decide one check at 95%, and "
                   "about 10 to survive Holm over the claim's checks)"),
        Param("window", 10, minimum=1, help="logged steps averaged for the start and end values"),
        Param("require_plateau", False, medium=True, help="precondition: training loss on a plateau"),
        Param("plateau_tol", 0.05, exclusive_minimum=0.0, maximum=1.0,
              help="plateau: at most this share of the total training-loss decrease in the last 10% of steps"),
        Param("cifar10_dir", "", help="the cifar-10-batches-py folder (task cifar10)"),
        Param("checkpoint_dir", "", help="per-run training checkpoints (resume an interrupted run); empty = off"),
    )
    worker = staticmethod(worker)

    def items(self, ctx: Context) -> list[StatsItem]:
        if ctx["task"] == "cifar10" and not ctx["cifar10_dir"]:
            raise ValueError("task 'cifar10' needs --param cifar10_dir=PATH (the cifar-10-batches-py folder)")
        lr = {"sgd": ctx["lr_sgd"], "adamw": ctx["lr_adamw"]}
        return [StatsItem(o, g, float(wd), int(s), float(lr[o]), ctx["task"], ctx["steps"], ctx["width"],
                          ctx["blocks"], ctx["n_train"], ctx["batch_size"], ctx["window"], ctx["cifar10_dir"],
                          ctx["checkpoint_dir"], ctx.device)
                for o in ctx["optimizers"] for g in ctx["groupings"] for wd in ctx["weight_decays"] for s in ctx.seeds]

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze(records, params)

    def run(self, ctx: Context):
        ctx, analysis = run_extending_seeds(self, ctx, ctx["max_seeds"])
        return self.evidence_of(ctx, analysis)


CLAIM = TrainingStatistics()
