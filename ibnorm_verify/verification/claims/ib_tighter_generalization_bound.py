"""``ib.tighter-generalization-bound`` (arXiv 2510.25262, Corollary 2 [reviews]; ``docs/papers/ibnorm.md``
sections 2 and 4): the representation term sum_l I(X;Z_l|Y) of the Kawaguchi et al. (2023) bound is
smaller with IBNorm, hence a tighter bound; judged also on the full bound with the model-complexity
term I(phi_l;S) that the paper dropped.

An MLP ``d -> w -> norm -> ReLU -> w -> norm -> ReLU -> 2`` is trained full-batch with the suite's one
trainer (:func:`ibnorm_verify.verification.training.trainer.train`, AdamW without weight decay = Adam)
on the nuisance task, once with the variance-centric normalizer and once with each IBNorm variant, from
the same initialization and data per seed (paired). Z_l = the outputs of the two normalizers on the
training set.

Parts, one check per regime cell:

* ``representation term`` (grouping, compression, lambda, noise s): sum_l I(X; Z_l + s eps | Y), each
  term sum_y p(y) I(X; Z_l + s eps | Y=y) by the Gaussian-mixture estimator
  (:func:`~ibnorm_verify.verification.claims._ib_estimators.mixture_mi`);
* ``full bound`` (the same and the weight-noise std sigma_w): min_l of Kawaguchi's Q_l with
  I(phi_l;S) <= P_l / (2 sigma_w^2), P_l = ||theta_1..l - theta_init||^2 (plug-in per seed).

The Gaussian channel bound 1/2 log det(I + Cov(Z)/s^2) of each CMI term is reported beside the
estimate (series ``cmi``, estimator ``gaussian``) but decides nothing: comparing two upper bounds says
more about their looseness than about the networks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ibnorm_verify.theory.bounds import gaussian_weight_channel_mi, ibnorm_reduced_bound, kawaguchi_bound

from ..evidence import Check, Series, ValidationRow
from ..models.architectures import MLP, Normalizer
from ..runtime import derive_seed, single_threaded
from ..training.data import ImageData
from ..training.trainer import TrainConfig, evaluate, normalizer_modules, seeded_init, train
from ._extend import PREDICTION_SLACK, run_extending
from ._ib_estimators import AUTO, MIXTURE, auto_mi, gaussian_cmi_bound, mc_budget_params, mixture_mi
from ._ib_setup import (
    PAPER,
    channel_noise,
    compression_param,
    coords,
    draw_task,
    grouping_param,
    mc_seed,
    paired_check,
    task_params,
    variant,
    variant_grid,
)
from ._ib_validation import ValidationItem, estimator_preconditions, run_validation
from ._training_runs import plateau_check, plateau_drop
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["BoundItem", "bound_worker", "analyze_bound", "TighterGeneralizationBound", "CLAIM"]

@dataclass(frozen=True)
class BoundItem:
    """One trained network: a normalizer variant (baseline or IBNorm) and a seed."""

    variant: Normalizer
    seed: int
    n_train: int
    n_test: int
    width: int
    steps: int
    lr: float
    df: float
    sep: float
    signal_dims: int
    nuisance_dims: int
    noise_stds: tuple[float, ...]
    mc_halfwidth: float
    n_mc: int
    max_n_mc: int
    cmi_estimator: str = "mixture"


def _data(item: BoundItem, split: str, n: int) -> tuple[dict, ImageData]:
    d = draw_task(item.seed, n, split=split, df=item.df, sep=item.sep, signal_dims=item.signal_dims,
                  nuisance_dims=item.nuisance_dims)
    return d, ImageData(torch.as_tensor(d["x"]), torch.as_tensor(d["y"]), 2)


@single_threaded
def bound_worker(item: BoundItem | ValidationItem) -> list:
    """Train one network; return one record with its errors, P_l per normalizer layer and the CMI terms."""
    if isinstance(item, ValidationItem):
        return run_validation(item)
    v = item.variant
    tr, train_data = _data(item, "train", item.n_train)
    _, test_data = _data(item, "test", item.n_test)
    model = seeded_init(derive_seed(item.seed, "ib-bound-init"), MLP, train_data.x.shape[1], 2, width=item.width,
                        depth=2, norm=v).double()
    init = {k: q.detach().clone() for k, q in model.named_parameters()}
    cfg = TrainConfig(steps=item.steps, batch_size=item.n_train, lr=item.lr, optimizer="adamw", weight_decay=0.0,
                      eval_every=item.steps, seed=derive_seed(item.seed, "ib-bound-batches") % (2 ** 63),
                      log_stats=False)
    res = train(model, train_data, test_data, cfg)
    model.eval()
    train_err, test_err = 1.0 - evaluate(model, train_data)[1], 1.0 - evaluate(model, test_data)[1]
    norms = list(normalizer_modules(model).values())
    feats: list[np.ndarray] = []
    hooks = [m.register_forward_hook(lambda m, i, o: feats.append(o.detach().numpy())) for m in norms]
    with torch.no_grad():
        model(train_data.x)
    for h in hooks:
        h.remove()
    rec = {**coords(v), "seed": item.seed, "train_err": train_err, "test_err": test_err,
           "gap": test_err - train_err, "weight_sq_change": _weight_sq_change(model, init, norms), "cmi": {},
           "plateau_drop": plateau_drop(res.log["train_loss"])}
    y = tr["y"]
    for s in item.noise_stds:
        mix, gauss, n_mc = [], [], []
        for layer, z in enumerate(feats):                      # each (n_train, width)
            cm = cg = 0.0
            for c in np.unique(y):
                zc = z[y == c]
                pc = zc.shape[0] / z.shape[0]
                sd = mc_seed(item.seed, s, layer, int(c))
                if item.cmi_estimator == "auto":        # X of the class against its noisy code Z + s eps
                    zs = zc + s * channel_noise(sd, zc.shape)
                    cm += pc * auto_mi(tr["x"][y == c], zs, seed=sd).value
                    n_mc.append(0)
                else:
                    est = mixture_mi(zc, s, seed=sd, n_mc=item.n_mc, max_n_mc=item.max_n_mc, halfwidth=item.mc_halfwidth)
                    cm += pc * float(est.i_x[0])
                    n_mc.append(est.n_mc)
                cg += pc * gaussian_cmi_bound(zc, s)
            mix.append(max(cm, 0.0))
            gauss.append(cg)
        rec["cmi"][float(s)] = {item.cmi_estimator: mix, "gaussian": gauss, "n_mc": n_mc}
    return [rec]


def _weight_sq_change(model: nn.Module, init: dict, norms: list[nn.Module]) -> list[float]:
    """P_l = ||theta_1..l - theta_init||^2: every parameter of the modules up to normalizer l (in order)."""
    out, acc = [], 0.0
    net = model.net
    assert isinstance(net, nn.Sequential)  # an architectures.MLP
    for module in net:
        acc += sum(float(((q.detach() - init[f"net.{name}"]) ** 2).sum()) for name, q in _named(net, module))
        if any(module is m for m in norms):
            out.append(acc)
    return out


def _named(seq: nn.Sequential, module: nn.Module):
    idx = next(i for i, m in enumerate(seq) if m is module)
    return [(f"{idx}.{n}", q) for n, q in module.named_parameters()]


# ------------------------------------------------------------------------------------ analysis

def _cmi(r: dict, s: float) -> list[float]:
    """I(X; Z_l + s eps | Y) per layer, by the estimator the claim ran (``cmi_estimator``)."""
    d = r["cmi"][s]
    return d["auto"] if "auto" in d else d["mixture"]


def _bounds(r: dict, s: float, sigma_w: float, n_train: int, delta: float) -> float:
    """The full Kawaguchi bound of one network at channel noise s and weight noise sigma_w."""
    phi = [gaussian_weight_channel_mi(p, sigma_w ** 2) for p in r["weight_sq_change"]]
    return kawaguchi_bound([max(v, 0.0) for v in _cmi(r, s)], phi, n_train, delta=delta).value


def analyze_bound(records: list, params: dict) -> Analysis:
    """Checks and series from the per-network records and validation rows (pure)."""
    validation = [r for r in records if isinstance(r, ValidationRow)]
    records = [r for r in records if isinstance(r, dict)]
    by: dict[tuple, dict[int, dict]] = {}
    for r in records:
        by.setdefault((r["grouping"], r["compression"], r["lam"]), {})[r["seed"]] = r
    n, delta = params["n_train"], params["delta"]
    noise = [float(x) for x in params["noise_std"]]
    # the mixture estimator where the claim uses it (the width of Z_l, n_train / 2 per class, each s): a cell
    # at an s where it fails holds only that failed validation (no evidence); the Gaussian bound decides nothing
    est = params.get("cmi_estimator", "mixture")
    shared, failing = estimator_preconditions(validation, {est: (AUTO,) if est == "auto" else (MIXTURE,)}, noise)
    measured: dict[str, Any]
    checks, measured, rep_fx, full_fx, bound_rows, reduced_rows = [], {}, [], [], [], []

    def add(c: Check) -> None:
        pre = failing.get((est, c.cell["noise"]))
        if pre is None:
            checks.append(c)
            measured[c.name] = {"estimate": c.estimate, "ci": c.ci}
        else:
            checks.append(dataclasses.replace(pre, name=f"{pre.name} @ {c.name}", cell=dict(c.cell)))
            measured[c.name] = {"estimate": c.estimate, "ci": c.ci, "not evidence": "estimator not validated here"}
    for key, rs in by.items():
        for s in map(float, params["noise_std"]):
            for sd, r in rs.items():
                reduced_rows.append({**_coords(key), "noise": s, "seed": sd,
                                     "value": ibnorm_reduced_bound([max(v, 0.0) for v in _cmi(r, s)], n,
                                                                   delta=delta)})
                for w in map(float, params["weight_noise_std"]):
                    bound_rows.append({**_coords(key), "noise": s, "weight_noise": w, "seed": sd,
                                       "value": _bounds(r, s, w, n, delta)})
    for key, rs in by.items():
        v = variant(*key)
        if not v.is_ib:
            continue
        base = by.get((v.grouping, "identity", 1.0), {})
        seeds = sorted(set(rs) & set(base))
        for s in noise:
            cell = {**coords(v), "noise": s}
            per = {sd: sum(_cmi(rs[sd], s)) - sum(_cmi(base[sd], s)) for sd in seeds}
            add(paired_check(f"{v.label}, s={s:g}: representation term change", list(per.values()),
                             part="representation term", cell=cell, less_than=0.0))
            rep_fx += [{**cell, "seed": sd, "value": x} for sd, x in per.items()]
            for w in map(float, params["weight_noise_std"]):
                per = {sd: _bounds(rs[sd], s, w, n, delta) - _bounds(base[sd], s, w, n, delta)
                       for sd in seeds}
                add(paired_check(f"{v.label}, s={s:g}, sigma_w={w:g}: full bound change", list(per.values()),
                                 part="full bound", cell={**cell, "weight_noise": w}, less_than=0.0))
                full_fx += [{**cell, "weight_noise": w, "seed": sd, "value": x} for sd, x in per.items()]
    if params.get("require_plateau", False):
        checks.insert(0, plateau_check("plateau", [r["plateau_drop"] for r in records], float(params["plateau_tol"])))
    return Analysis(checks=shared + checks, measured=measured,
                    series=_series(records, rep_fx, full_fx, bound_rows, reduced_rows), validation=validation,
                    predicted={"full bound(IBNorm) - full bound(baseline)": "< 0",
                               "sum_l I(X;Z_l|Y), IBNorm - baseline": "< 0"},
                    conditions=_conditions(records, params),
                    notes=["The Kawaguchi constants G1, G2 are reconstructed placeholders (the same on both sides); "
                           "I(phi;S) is an upper bound whose size is set by weight_noise_std (a regime axis)."])


def _coords(key: tuple) -> dict:
    return {"grouping": key[0], "compression": key[1], "lam": key[2]}


def _series(records: list[dict], rep_fx: list, full_fx: list, bound_rows: list, reduced_rows: list) -> list[Series]:
    v3 = ("grouping", "compression", "lam")
    out = [Series.from_records(q, records, v3 + ("seed",), q) for q in ("train_err", "test_err", "gap")]
    wrows = [{**r, "layer": l, "value": p} for r in records for l, p in enumerate(r["weight_sq_change"])]
    out.append(Series.from_records("weight_sq_change", wrows, v3 + ("layer", "seed"), "value"))
    crows = [{**r, "estimator": e, "noise": s, "layer": l, "value": val} for r in records
             for s, d in r["cmi"].items() for e in ("mixture", "auto", "gaussian") if e in d
             for l, val in enumerate(d[e])]
    out.append(Series.from_records("cmi", crows, ("estimator",) + v3 + ("noise", "layer", "seed"), "value", unit="nats"))
    if bound_rows:
        out.append(Series.from_records("full_bound", bound_rows, v3 + ("noise", "weight_noise", "seed"), "value"))
    if reduced_rows:
        out.append(Series.from_records("reduced_bound", reduced_rows, v3 + ("noise", "seed"), "value",
                                       description="IBNorm's reduced form: sum over layers, no I(phi;S)"))
    if rep_fx:
        out.append(Series.from_records("representation_change", rep_fx, v3 + ("noise", "seed"), "value", unit="nats"))
    if full_fx:
        out.append(Series.from_records("full_bound_change", full_fx, v3 + ("noise", "weight_noise", "seed"), "value"))
    return out


def _conditions(records: list[dict], params: dict) -> dict:
    n_mc = sorted({m for r in records for d in r["cmi"].values() for m in d["n_mc"]})
    est = params.get("cmi_estimator", "mixture")
    return {"estimators": {"I(X;Z_l|Y)": ("mutual_information(method='auto') of (X, Z_l + s eps) per class"
                                          if est == "auto" else f"{MIXTURE} per class, n_mc per term "
                                          + (f"{n_mc[0]}-{n_mc[-1]}" if n_mc else "-"))
                           + f" (95% Monte-Carlo half-width <= {params['mc_halfwidth']} nats)",
                           "reported beside it": "Gaussian channel upper bound (decides nothing)"},
            "representation": f"Z_l in {params['width']} dims (2 normalizer layers)",
            "noise_std": list(params["noise_std"]), "weight_noise_std": list(params["weight_noise_std"]),
            "n_train": params["n_train"], "steps": params["steps"]}


class TighterGeneralizationBound(Claim):
    id = "ib.tighter-generalization-bound"
    paper = PAPER
    provenance = "reviews"
    title = "Corollary 2: tighter generalization bound (sum_l I(X;Z_l|Y) smaller)"
    statement = ("The representation term sum_l I(X;Z_l|Y) is smaller with IBNorm; judged on the full "
                 "Kawaguchi et al. (2023) bound including the model-complexity term the paper dropped.")
    conditions = {
        "model": "MLP d->w->norm->ReLU->w->norm->ReLU->2, trained full-batch by the suite's trainer (AdamW, "
                 "weight decay 0, lr) on the nuisance task; baseline and IBNorm from the same init and data",
        "I(X;Z_l|Y)": "sum_y p(y) I(X; Z_l + s*eps | Y=y), Gaussian-mixture noisy-channel estimator",
        "I(phi_l;S)": "upper bound P_l/(2 sigma_w^2), P_l = ||theta_1..l - theta_init||^2 (plug-in, per seed), "
                      "noisy-weights channel (ibnorm_verify.theory.bounds.gaussian_weight_channel_mi)",
        "bound": "ibnorm_verify.theory.bounds.kawaguchi_bound (min over layers, reconstructed G2 = log(2L/delta))",
        "statistics": "paired per seed, Student-t 95% CI over seeds (the unit); Holm over every evidence check",
    }
    axes = ("grouping", "compression", "lam", "noise", "weight_noise")
    condition = ("sigma_w: the full bound adds P_l / (2 sigma_w^2) (how far the weights moved), which can outweigh a "
                 "smaller representation term; the representation term itself per grouping, compression, lambda, s")
    primary_part = "full bound"
    series = (
        SeriesSpec("train_err", ("grouping", "compression", "lam", "seed")),
        SeriesSpec("test_err", ("grouping", "compression", "lam", "seed")),
        SeriesSpec("gap", ("grouping", "compression", "lam", "seed")),
        SeriesSpec("weight_sq_change", ("grouping", "compression", "lam", "layer", "seed")),
        SeriesSpec("cmi", ("estimator", "grouping", "compression", "lam", "noise", "layer", "seed")),
        SeriesSpec("full_bound", ("grouping", "compression", "lam", "noise", "weight_noise", "seed")),
        SeriesSpec("reduced_bound", ("grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("representation_change", ("grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("full_bound_change", ("grouping", "compression", "lam", "noise", "weight_noise", "seed")),
    )
    params = (
        grouping_param(["layer"], ["layer", "batch"], medium=["layer", "batch"]),
        compression_param(["tanh"], ["tanh", "log", "root"], medium=["tanh", "log"]),
        Param("lams", [2.0], [1.0, 2.0], exclusive_minimum=0.0, help="compression strengths"),
        Param("n_train", 600, 2000, minimum=50, tiny=150, medium=1000, help="training samples"),
        Param("n_test", 4000, 4000, minimum=100, tiny=500, help="test samples (for the generalization gap)"),
        Param("width", 6, 8, minimum=2, tiny=4, medium=8, help="hidden width = representation dims of Z_l"),
        Param("steps", 150, 600, minimum=1, tiny=20, medium=600, help="full-batch training steps"),
        Param("lr", 0.01, 0.003, exclusive_minimum=0.0, medium=0.003, help="learning rate (full-batch AdamW)"),
        *task_params(),
        Param("noise_std", [0.5, 1.0], [0.5, 1.0, 2.0], exclusive_minimum=0.0, help="channel noise s",
              medium=[1.0, 2.0]),
        Param("weight_noise_std", [0.1, 1.0], [0.1, 1.0], exclusive_minimum=0.0,
              help="sigma_w of the noisy-weights channel bounding I(phi;S)"),
        Param("require_plateau", False, medium=True, help="precondition: every training loss on a plateau"),
        Param("plateau_tol", 0.05, exclusive_minimum=0.0, maximum=1.0,
              help="plateau: at most this share of the loss decrease in the last 10% of steps"),
        Param("delta", 0.05, 0.05, exclusive_minimum=0.0, exclusive_maximum=1.0, help="confidence of the bound"),
        Param("cmi_estimator", "mixture", choices=("mixture", "auto"),
              help="I(X;Z_l|Y): the mixture (noisy-channel) estimator, or the estimators package's default "
                   "(auto: about 3 s CPU per term)"),
        *mc_budget_params(halfwidth=0.05, n_mc=800, max_n_mc=4000, what="each CMI term"),
        Param("max_seeds", 6, 8, minimum=1, tiny=2, medium=8,
              help="seed budget: the claim extends its seeds up to this"),
    )

    worker = staticmethod(bound_worker)

    def items(self, ctx: Context) -> list:
        p = ctx.params
        variants = [variant(g) for g in p["groupings"]] + variant_grid(p["groupings"], p["compressions"], p["lams"])
        return [ValidationItem((p["cmi_estimator"], "gaussian_bound"), tuple(map(float, p["noise_std"])), ("input",),
                               dim=p["width"], n=max(p["n_train"] // 2, 50))] + [
            BoundItem(v, int(s), p["n_train"], p["n_test"], p["width"], p["steps"], p["lr"], p["df"], p["sep"],
                      p["signal_dims"], p["nuisance_dims"], tuple(map(float, p["noise_std"])), p["mc_halfwidth"],
                      p["n_mc"], p["max_n_mc"], p["cmi_estimator"]) for v in variants for s in ctx.seeds]

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze_bound([r for rs in records for r in rs], params)

    def run(self, ctx: Context):
        return run_extending(self, ctx, ctx.params["max_seeds"], slack=PREDICTION_SLACK)


CLAIM = TighterGeneralizationBound()
