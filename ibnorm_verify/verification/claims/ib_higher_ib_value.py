"""``ib.higher-ib-value`` (arXiv 2510.25262, Theorem 1 [reviews]; ``docs/papers/ibnorm.md`` sections 2 and 5):
for lambda >= 1, the IB value I(Y;T) - beta I(T_prev;T) of one layer is higher with IBNorm than with the
variance-centric normalizer of the same grouping.

T_prev = the input X of one normalization layer (no affine) on the nuisance task, T = its output. Every
MI is measured on T_s = T + N(0, s^2 I) (I(X;T) is infinite for a deterministic T; Goldfeld et al. 2019).
Each estimator gives one check per regime cell (grouping, compression, lambda, beta, noise s,
estimator) on the per-seed paired difference IB(IBNorm) - IB(baseline) (same task draw, channel noise
and Monte-Carlo draws): the dependence on the estimator is part of the map, not hidden in a rule.

Estimators:

* ``mixture``: I(X;T_s) = h(T_s) - h(N) and I(Y;T_s), Gaussian-mixture sample propagation (Goldfeld et
  al. 2019; :func:`~ibnorm_verify.verification.claims._ib_estimators.paired_mixture_mi`), every variant
  with the same Monte-Carlo draws; the number of draws is set per seed so that the 95% Monte-Carlo
  half-width of each paired IB difference is at most ``mc_halfwidth``;
* ``knn``: I(X;T_s) by KSG (k=5, copula) on (X, T_s) and I(Y;T_s) by mixed KSG (Ross 2014);
* ``auto``: the estimators package's default (``mutual_information(method="auto")``).

Every estimator is validated where the claim uses it (the Gaussian channel at the claim's width, n and
each s); one that fails there holds its cells as a failed precondition (no evidence).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..estimators.information import mutual_information
from ..evidence import Series, ValidationRow
from ..models.architectures import Normalizer
from ..runtime import single_threaded
from ._extend import PREDICTION_SLACK, run_extending
from ._ib_estimators import AUTO, MIXTURE, auto_mi, mc_budget_params, paired_mixture_mi
from ._ib_setup import (
    PAPER,
    baseline_of,
    channel_noise,
    compression_param,
    coords,
    draw_task,
    grouping_param,
    layer_output,
    mc_seed,
    paired_check,
    task_params,
    variant,
    variant_grid,
)
from ._ib_validation import KSG, MIXED_KSG, ValidationItem, estimator_preconditions, run_validation
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["IBItem", "ib_worker", "analyze_ib_value", "HigherIBValue", "CLAIM", "ESTIMATORS"]

ESTIMATORS = ("mixture", "knn", "auto")
#: estimator axis value -> the validation-row estimators it relies on
_VALIDATED_BY = {"mixture": (MIXTURE,), "knn": (KSG, MIXED_KSG), "auto": (AUTO,)}
PART = "IB value"


@dataclass(frozen=True)
class IBItem:
    """One (grouping, seed): I(Y;T_s) and I(X;T_s) of the baseline and every variant, per estimator and s."""

    grouping: str
    seed: int
    variants: tuple[Normalizer, ...]
    noise_stds: tuple[float, ...]
    betas: tuple[float, ...]
    estimators: tuple[str, ...]
    n: int
    df: float
    sep: float
    signal_dims: int
    nuisance_dims: int
    mc_halfwidth: float
    n_mc: int
    max_n_mc: int


@single_threaded
def ib_worker(item: IBItem | ValidationItem) -> list:
    """Flat records ``{quantity: "I_Y"|"I_X", estimator, grouping, compression, lam, noise, seed, value}``."""
    if isinstance(item, ValidationItem):
        return run_validation(item)
    data = draw_task(item.seed, item.n, df=item.df, sep=item.sep, signal_dims=item.signal_dims,
                     nuisance_dims=item.nuisance_dims)
    x, y = data["x"], data["y"]
    eps = channel_noise(item.seed, x.shape)                  # (n, d)
    variants = (variant(item.grouping),) + tuple(item.variants)
    reps = [layer_output(v, x) for v in variants]            # each (n, d); reps[0] is the baseline
    betas = np.asarray(item.betas)

    def contrasts(ix: np.ndarray, iy: np.ndarray | None) -> np.ndarray:   # (R, m) -> (n_beta * (R-1), m)
        assert iy is not None
        ib = iy[None] - betas[:, None, None] * ix[None]                    # (n_beta, R, m)
        return (ib[:, 1:] - ib[:, :1]).reshape(-1, ix.shape[1])
    out = []
    for s in item.noise_stds:
        def rec(quantity: str, v: Normalizer, estimator: str, value: float, **extra) -> dict:
            return {"quantity": quantity, "estimator": estimator, **coords(v), "noise": float(s),
                    "seed": item.seed, "value": float(value), **extra}
        if "mixture" in item.estimators:
            est = paired_mixture_mi(reps, s, y, seed=mc_seed(item.seed, s), n_mc=item.n_mc, max_n_mc=item.max_n_mc,
                                    halfwidth=item.mc_halfwidth, contrasts=contrasts)
            assert est.i_y is not None
            mc_se = est.contrast_se.reshape(len(betas), len(variants) - 1)
            for r, v in enumerate(variants):
                out.append(rec("I_Y", v, "mixture", est.i_y[r], n_mc=est.n_mc))
                out.append(rec("I_X", v, "mixture", est.i_x[r], n_mc=est.n_mc))
                if r:
                    out += [rec("ib_change_mc_se", v, "mixture", mc_se[k, r - 1], beta=float(b))
                            for k, b in enumerate(item.betas)]
        if "auto" in item.estimators:
            for v, t in zip(variants, reps):
                ts = t + s * eps
                ey, ex = auto_mi(ts, y, seed=mc_seed(item.seed, "auto")), auto_mi(x, ts, seed=mc_seed(item.seed, "auto"))
                out.append(rec("I_Y", v, "auto", ey.value, picked=ey.picked, bias_band=ey.bias_band))
                out.append(rec("I_X", v, "auto", ex.value, picked=ex.picked, bias_band=ex.bias_band))
        if "knn" in item.estimators:
            for v, t in zip(variants, reps):
                ts = t + s * eps
                out.append(rec("I_Y", v, "knn", mutual_information(ts, y, method="mixed_ksg", uncertainty="none").value))
                out.append(rec("I_X", v, "knn", mutual_information(x, ts, method="ksg", uncertainty="none").value))
    return out


# ------------------------------------------------------------------------------------ analysis

def _ib_per_seed(records: list[dict], v: Normalizer, estimator: str, s: float, beta: float) -> dict[int, float]:
    """Per seed: I(Y;T_s) - beta I(X;T_s) of variant ``v``."""
    got: dict[int, dict[str, float]] = {}
    for r in records:
        if (r["estimator"], r["grouping"], r["compression"], r["lam"], r["noise"]) == \
                (estimator, v.grouping, v.compression, v.lam, s):
            got.setdefault(r["seed"], {})[r["quantity"]] = r["value"]
    return {sd: q["I_Y"] - beta * q["I_X"] for sd, q in got.items() if {"I_Y", "I_X"} <= set(q)}


def _mean_change(records: list[dict], v: Normalizer, est: str, s: float, q: str) -> float | None:
    """Mean over seeds of the paired change of ``q`` (I_Y or I_X) from the baseline to variant ``v``."""
    def vals(w: Normalizer) -> dict[int, float]:
        return {r["seed"]: r["value"] for r in records if r["quantity"] == q and r["estimator"] == est
                and (r["grouping"], r["compression"], r["lam"], r["noise"]) == (w.grouping, w.compression, w.lam, s)}
    a, b = vals(v), vals(baseline_of(v))
    common = sorted(set(a) & set(b))
    return float(np.mean([a[k] - b[k] for k in common])) if common else None


def _routes(records: list[dict]) -> str:
    """What the default estimator picked, and its validated bias band (from the estimators package)."""
    got = {(r["quantity"], r["picked"], r["bias_band"]) for r in records if r.get("estimator") == "auto"}
    if not got:
        return "not run"
    return "mutual_information(method='auto'): " + "; ".join(
        f"{q} -> {p} (bias band {b:.3f} nats)" for q, p, b in sorted(got))


def analyze_ib_value(records: list, params: dict) -> Analysis:
    """Checks and series from the workers' records and validation rows (pure; see the module docstring)."""
    validation = [r for r in records if isinstance(r, ValidationRow)]
    records = [r for r in records if isinstance(r, dict)]
    variants = variant_grid(params["groupings"], params["compressions"], params["lams"])
    estimators = [e for e in ESTIMATORS if e in params["estimators"]]
    mc = {(r["grouping"], r["compression"], r["lam"], r["beta"], r["noise"], r["seed"]): r["value"]
          for r in records if r["quantity"] == "ib_change_mc_se"}
    # a validation that passes guards every cell; one that fails at some s is copied into the cells of its
    # estimator and s only (the others still decide), and those cells make no evidence check (their numbers
    # stay in the series): an estimator that fails where the claim uses it measures nothing
    shared, failing = estimator_preconditions(validation, {e: g for e, g in _VALIDATED_BY.items() if e in estimators},
                                              [float(s) for s in params["noise_std"]])
    measured: dict[str, Any]
    checks, effects, measured = [], [], {}
    for v in variants:                      # the crossover beta* = dI_Y / dI_X: the IB value rises iff beta < beta*
        for s in map(float, params["noise_std"]):
            for est in estimators:
                dy = _mean_change(records, v, est, s, "I_Y")
                dx = _mean_change(records, v, est, s, "I_X")
                if dy is not None and dx is not None:
                    measured[f"{v.label}, s={s:g}, {est}: beta* (IB unchanged)"] = {
                        "dI_Y": dy, "dI_X": dx, "beta_star": dy / dx if dx else float("nan"),
                        "reading": ("rises for beta < beta*" if dx > 0 else "rises for beta > beta*") if dx else ""}
        for beta in map(float, params["betas"]):
            for s in map(float, params["noise_std"]):
                for est in estimators:
                    a, b = _ib_per_seed(records, v, est, s, beta), _ib_per_seed(records, baseline_of(v), est, s, beta)
                    per = {sd: a[sd] - b[sd] for sd in sorted(set(a) & set(b))}
                    cell = {**coords(v), "beta": beta, "noise": s, "estimator": est}
                    mcs = [mc[(v.grouping, v.compression, v.lam, beta, s, sd)] for sd in per
                           if (v.grouping, v.compression, v.lam, beta, s, sd) in mc]
                    extra = {"mc_se_per_seed": float(np.mean(mcs))} if mcs else {}
                    name = f"{v.label}, beta={beta:g}, s={s:g}, {est}: IB value change"
                    c = paired_check(name, list(per.values()), part=PART, cell=cell, greater_than=0.0, details=extra)
                    effects += [{**cell, "seed": sd, "value": val} for sd, val in per.items()]
                    pre = failing.get((est, s))
                    if pre is None:
                        checks.append(c)
                        measured[name] = {"estimate": c.estimate, "ci": c.ci}
                    else:               # not a measurement: the cell holds only the failed validation
                        checks.append(dataclasses.replace(pre, name=f"{pre.name} @ {name}", cell=dict(cell)))
                        measured[name] = {"estimate": c.estimate, "ci": c.ci, "not evidence": "estimator not "
                                          "validated at the claim's dimensions"}
    series = [Series.from_records(q, [r for r in records if r["quantity"] == q],
                                  ("estimator", "grouping", "compression", "lam", "noise", "seed"), "value", unit="nats")
              for q in ("I_Y", "I_X")]
    mc_rows = [r for r in records if r["quantity"] == "ib_change_mc_se"]
    if mc_rows:
        series.append(Series.from_records("ib_change_mc_se", mc_rows, ("grouping", "compression", "lam", "beta", "noise",
                                                                     "seed"), "value", unit="nats",
                                          description="Monte-Carlo standard error of each per-seed paired IB "
                                                      "difference of the mixture estimator (batch means)"))
    if effects:
        series.append(Series.from_records("ib_value_change", effects, ("estimator", "grouping", "compression", "lam",
                                                                       "beta", "noise", "seed"), "value", unit="nats",
                                          description="per seed: IB(IBNorm) - IB(baseline), the statistic of the checks"))
    n_mc = sorted({r["n_mc"] for r in records if "n_mc" in r})
    conditions = {"estimators": {"mixture": f"{MIXTURE}, n_mc per seed and s "
                                 + (f"{n_mc[0]}-{n_mc[-1]}" if n_mc else "-") + " (set so that the 95% Monte-Carlo "
                                 f"half-width of every paired IB difference is <= {params['mc_halfwidth']} nats, cap "
                                 f"{params['max_n_mc']})",
                                 "knn": "I(X;T_s): ksg k=5 copula on (X, T_s); I(Y;T_s): mixed_ksg k=5 copula",
                                 "auto": _routes(records)},
                  "representation": f"X and T in {params['signal_dims'] + params['nuisance_dims']} dims",
                  "noise_std": list(params["noise_std"]), "betas": list(params["betas"]), "n": params["n"]}
    return Analysis(checks=shared + checks, measured=measured, series=series,
                    validation=validation, conditions=conditions,
                    predicted={"IB(IBNorm) - IB(baseline)": "> 0 for lambda >= 1, every beta, s and estimator"})


class HigherIBValue(Claim):
    id = "ib.higher-ib-value"
    paper = PAPER
    provenance = "reviews"
    title = "Theorem 1: higher IB value than LN/BN/RMSNorm for lambda >= 1"
    statement = ("For lambda >= 1 the IB value I(Y;T) - beta I(T_prev;T) is higher with IBNorm than with "
                 "LN/BN/RMSNorm, with at least two validated MI estimators.")
    conditions = {
        "layer": "T_prev = the input X of one normalization layer (no affine), T = its output",
        "noise": "every MI on T_s = T + N(0, s^2 I), s in noise_std (I(T_prev;T) is infinite otherwise)",
        "statistics": "paired per seed (same task draw, channel noise and Monte-Carlo draws), Student-t 95% CI "
                      "over seeds (the unit); Holm over every evidence check for refutations; a cell is supported "
                      "when its check is, the claim when every cell is",
    }
    axes = ("grouping", "compression", "lam", "beta", "noise", "estimator")
    condition = ("IB(IBNorm) > IB(baseline) iff dI(Y;T_s) > beta dI(T_prev;T_s): the sign flips at beta* = dI_Y / dI_X "
                 "(reported per grouping, compression, lambda, s and estimator)")
    primary_part = PART
    series = (
        SeriesSpec("I_Y", ("estimator", "grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("I_X", ("estimator", "grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("ib_value_change", ("estimator", "grouping", "compression", "lam", "beta", "noise", "seed"),
                   "the per-seed paired statistic of the checks"),
        SeriesSpec("ib_change_mc_se", ("grouping", "compression", "lam", "beta", "noise", "seed"),
                   "Monte-Carlo standard error of the mixture estimator's per-seed paired difference"),
    )
    params = (
        grouping_param(["layer", "batch"], ["layer", "rms", "batch"], tiny=["layer"], medium=["layer", "rms", "batch"]),
        compression_param(["tanh", "log"], ["tanh", "log", "root", "softsign"], tiny=["tanh"]),
        Param("lams", [1.0, 2.0], [1.0, 2.0, 4.0], minimum=1.0, help="Theorem 1 is stated for lambda >= 1",
              medium=[1.0, 2.0, 4.0],
              tiny=[2.0]),
        Param("betas", [0.01, 0.1], [0.001, 0.01, 0.1], exclusive_minimum=0.0, help="IB trade-off beta",
              medium=[0.001, 0.01, 0.1]),
        Param("n", 1000, 3000, minimum=200, tiny=500, medium=2000, help="samples per seed"),
        *task_params(nuisance_dims=2),
        Param("noise_std", [0.3, 1.0], [0.1, 0.3, 1.0], exclusive_minimum=0.0, help="channel noise s"),
        Param("estimators", ["mixture", "knn"], ["mixture", "auto"], choices=ESTIMATORS,
              help="MI estimators: mixture (noisy channel), knn (KSG + mixed KSG), auto (the estimators "
                   "package's default: hybrid / classifier bracket; about 3 s CPU per estimate)"),
        *mc_budget_params(),
        Param("max_seeds", 8, 16, minimum=1, tiny=2, medium=12,
              help="seed budget: the claim extends its seeds up to this"),
    )

    worker = staticmethod(ib_worker)

    def items(self, ctx: Context) -> list:
        p = ctx.params
        vs = variant_grid(p["groupings"], p["compressions"], p["lams"])
        val_est = (("ksg", "mixed_ksg") if "knn" in p["estimators"] else ()) + \
            (("mixture",) if "mixture" in p["estimators"] else ()) + (("auto",) if "auto" in p["estimators"] else ())
        dim = p["signal_dims"] + p["nuisance_dims"]
        return [ValidationItem(val_est, tuple(map(float, p["noise_std"])), dim=dim, n=p["n"], ksg_channel=True)] + [
            IBItem(g, int(s), tuple(v for v in vs if v.grouping == g), tuple(map(float, p["noise_std"])),
                   tuple(map(float, p["betas"])), tuple(p["estimators"]), p["n"], p["df"], p["sep"], p["signal_dims"],
                   p["nuisance_dims"], p["mc_halfwidth"], p["n_mc"], p["max_n_mc"]) for g in p["groupings"] for s in ctx.seeds]

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze_ib_value([r for rs in records for r in rs], params)

    def run(self, ctx: Context):
        return run_extending(self, ctx, ctx.params["max_seeds"], slack=PREDICTION_SLACK)


CLAIM = HigherIBValue()
