"""``cap.loss-smoothness`` (arXiv 2511.00958, ``docs/papers/capacity.md`` section 2.4).

With K normalizers the loss is smoother than for the same weights without them, by a factor that grows
exponentially in K: the gradient norm (form (a) of the digest: the loss-Lipschitz constant in the
parameters) and the Hessian spectral norm (form (b): beta-smoothness) w.r.t. the parameters, for the loss
``0.5 mean ||f(x) - y||^2`` with Gaussian targets. Which of the two the paper proves is unknown; both
are parts of the claim, the Hessian (beta-smoothness, what "smooth" means for gradient descent) is the
primary one.

**Measurement.** :func:`~ibnorm_verify.verification.estimators.smoothness.estimate_smoothness`: the exact
gradient norm (one backward pass) and the top |eigenvalue| of the Hessian by power iteration on
Hessian-vector products, stopped at a relative change of ``tol``. The power iteration value is attained
(||H v|| with ||v|| = 1); its convergence in every run is a precondition, and the estimator's
ground-truth validation (exact Hessians) another. Both nets of a pair are point estimates of the same
kind, so their ratio is not the difference of two bounds of different looseness.

**Statistic.** Per seed (the unit of replication) the least-squares slope in K of log(norm_unnorm /
norm_norm); over seeds its mean and Student-t interval; the check is "slope > 0". Regimes: activation,
init, architecture (plain/residual MLP, circular conv, ResNet-18-style, pre-norm transformer), grouping,
gain (g < 1 is the converse regime, expected not supported) and state (init / after a short training run
on the same loss). No cell here is an identity of the setup (the Hessian depends on the data and
targets), so every check is evidence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..estimators.smoothness import estimate_smoothness
from ..evidence import Series
from ..models import without_normalizers
from ..runtime import single_threaded, torch_generator
from ..stats import mean_se_ci, row_slopes
from ..verdict import check_direction, check_precondition, check_validation
from ._capacity_regimes import (
    Geometry,
    Regime,
    geometry_of,
    geometry_params,
    make_inputs,
    num_normalizers,
    prepare,
    regime_cells,
    regime_params,
    regime_values,
    what_limits,
)
from ._extend import run_extending
from ._validation import ValidationItem, split_validation, validation_record
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["CLAIM", "LossSmoothness", "SmoothnessItem", "smoothness_worker", "analyze_smoothness", "AXES"]

AXES = ("activation", "init", "architecture", "grouping", "gain", "state")
QUANTITIES = ("grad", "hessian")


@dataclass(frozen=True)
class SmoothnessItem:
    regime: Regime
    units: int
    seed: int
    every: int
    geometry: Geometry
    n_data: int
    tol: float
    max_iter: int


@single_threaded
def smoothness_worker(item: SmoothnessItem | ValidationItem) -> dict:
    """Gradient and Hessian norms of the same weights with and without their normalizers."""
    if isinstance(item, ValidationItem):
        return validation_record(item)
    r, geo = item.regime, item.geometry
    net = prepare(r, item.units, geo, item.seed, every=item.every)
    plain = without_normalizers(net)
    x = make_inputs(r, geo, item.n_data, item.seed, "loss data")
    with torch.no_grad():
        shape = net(x[:1]).shape[1:]
    y = torch.randn((item.n_data,) + tuple(shape), generator=torch_generator(item.seed, "loss targets", item.units),
                    dtype=x.dtype)
    out = {**r.coords(AXES), "units": item.units, "K": num_normalizers(net), "seed": item.seed}
    for tag, model in (("norm", net), ("unnorm", plain)):
        est = estimate_smoothness(model, x, y, tol=item.tol, max_iter=item.max_iter, seed=item.seed)
        out.update({f"grad_{tag}": est.grad_norm, f"hessian_{tag}": est.hessian_norm,
                    f"converged_{tag}": est.converged, f"iterations_{tag}": est.iterations})
    return out


def analyze_smoothness(records: list[dict], params: dict) -> Analysis:
    """Checks and series of the smoothness sweep (pure)."""
    validation, records = split_validation(records)
    cells: dict[tuple, list[dict]] = {}
    for rec in records:
        cells.setdefault(tuple(rec[a] for a in AXES), []).append(rec)
    checks, measured, slope_recs, limits = [], {}, [], []
    for key, recs in cells.items():
        cell = dict(zip(AXES, key))
        label = ", ".join(f"{a}={v}" for a, v in cell.items())
        units = sorted({r["units"] for r in recs})
        seeds = sorted({r["seed"] for r in recs})
        if len(units) < 3:
            raise ValueError(f"cell {label}: need at least 3 distinct K for a slope fit, got {units}")
        by = {(r["seed"], r["units"]): r for r in recs}
        ks = [by[seeds[0], u]["K"] for u in units]
        bad = sum(not (r["converged_norm"] and r["converged_unnorm"]) for r in recs)
        checks.append(check_precondition(f"Hessian power iteration converged [{label}]", bad == 0,
                                         f"{bad} of {len(recs)} pairs hit max_iter" if bad else
                                         f"all {len(recs)} pairs converged (tol {params['tol']:g})", cell=cell))
        for q in QUANTITIES:
            ratio = np.array([[math.log(by[s, u][f"{q}_unnorm"] / by[s, u][f"{q}_norm"]) for u in units]
                              for s in seeds])                                          # (S, U)
            slopes = row_slopes(ks, ratio)
            m = mean_se_ci(slopes)
            name = "gradient norm" if q == "grad" else "Hessian spectral norm"
            checks.append(check_direction(
                f"{name}: exponential smoothing in K [{label}]", m.estimate, m.ci, greater_than=0.0, unit="seed",
                part="gradient" if q == "grad" else "hessian", cell=cell,
                details={"per_seed_slopes": slopes.tolist(), "K": ks}, **m.check_kwargs()))
            measured[f"{q} log-ratio slope [{label}]"] = {"estimate": m.estimate, "ci": list(m.ci)}
            limits.append(what_limits(checks[-1]))
            slope_recs += [{**cell, "quantity": q, "seed": s, "v": float(v)} for s, v in zip(seeds, slopes)]
    flat = [{**{a: r[a] for a in AXES}, "K": r["K"], "seed": r["seed"], "quantity": q, "net": tag,
             "v": math.log(r[f"{q}_{tag}"])} for r in records for q in QUANTITIES for tag in ("norm", "unnorm")]
    series = [Series.from_records("log_norm", flat, AXES + ("K", "seed", "quantity", "net"), "v", unit="nats",
                                  coords={"K": sorted({r["K"] for r in records}), "quantity": list(QUANTITIES),
                                          "net": ["norm", "unnorm"]}),
              Series.from_records("slope", slope_recs, AXES + ("quantity", "seed"), "v",
                                  coords={"quantity": list(QUANTITIES)}, unit="nats per normalizer")]
    if validation:
        checks.insert(0, check_validation("smoothness estimator", validation))
    if "design" in params:
        limits += regime_cells(regime_values(params, AXES), params["design"])[1]
    return Analysis(checks=checks, measured=measured, series=series, validation=validation,
                    predicted={"sign of the slopes": "> 0 where sigma_j > |gamma_j|",
                               "exponent": "not available from the paper (docs/papers/capacity.md 2.4)"},
                    notes=["slope per seed: least squares of log(norm_unnorm/norm_norm) on K; interval: Student-t "
                           "over seeds. Hessian norm: HVP power iteration (attained, converged to tol)."]
                    + [x for x in limits if x])


class LossSmoothness(Claim):
    id = "cap.loss-smoothness"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "Normalization smooths the loss exponentially in K"
    statement = ("With K normalizers, the loss-gradient norm and the Hessian spectral norm w.r.t. the parameters "
                 "are smaller than for the same weights without the normalizers by a factor that grows "
                 "exponentially in K (log ratio linear in K with a positive slope), where sigma_j > |gamma_j|.")
    conditions = {"loss": "0.5 mean ||f(x) - y||^2, y ~ N(0, I)", "normalizer placement": "as in the reduction claim"}
    axes = AXES
    condition = "sigma_j > |gamma_j| (gain > 1)"
    primary_part = "hessian"
    series = (SeriesSpec("log_norm", AXES + ("K", "seed", "quantity", "net"), "log gradient / Hessian norms"),
              SeriesSpec("slope", AXES + ("quantity", "seed"), "per seed: slope in K of log(unnorm/norm)"))
    params = regime_params(
        activations={"quick": ["relu", "identity"], "medium": ["relu", "identity", "tanh"], "tiny": ["relu"]},
        inits={"quick": ["gaussian"], "medium": ["gaussian", "orthogonal"], "tiny": ["gaussian"]},
        architectures={"quick": ["mlp", "conv"], "medium": ["mlp", "residual", "conv", "resnet", "transformer"],
                       "tiny": ["mlp"]},
        groupings={"quick": ["layer", "batch"], "medium": ["layer", "rms", "batch", "group"], "tiny": ["layer"]},
        gains={"quick": [2.0, 0.5], "tiny": [2.0, 0.5]},
        states={"quick": ["init", "trained"], "tiny": ["init"]},
    ) + (
        Param("K", [1, 2, 3], [1, 2, 3, 4, 6], help="numbers of depth units (as in the reduction claim)", minimum=1,
              tiny=[1, 2, 3], medium=[1, 2, 3, 4]),
        Param("every", 2, help="MLP/conv: a normalizer after every k-th layer", minimum=1),
        Param("n_data", 32, 64, help="data points of the loss", minimum=2, tiny=16),
        Param("tol", 1e-3, help="relative stopping tolerance of the Hessian power iteration", exclusive_minimum=0.0,
              maximum=0.1),
        Param("max_iter", 200, help="power iteration cap (a run that hits it fails the precondition)", minimum=1),
        Param("max_seeds", 3, help="seed budget: the sweep is extended once up to this many seeds when that is "
              "predicted to decide an undecided check", minimum=1, medium=6, full=10, tiny=2),
    ) + geometry_params(width={"quick": 8, "medium": 16, "tiny": 4}, channels={"quick": 4, "medium": 4, "tiny": 2},
                        image_size={"quick": 4, "medium": 4, "tiny": 3},
                        train_steps={"quick": 50, "medium": 300, "full": 1000, "tiny": 5})
    worker = staticmethod(smoothness_worker)

    def items(self, ctx: Context) -> list:
        units = sorted(set(ctx["K"]))
        if len(units) < 3:
            raise ValueError("need at least 3 distinct K values for a slope fit")
        cells, _ = regime_cells(regime_values(ctx.params, AXES), ctx["design"])
        geo = geometry_of(ctx.params)
        return [ValidationItem("smoothness", int(ctx.seeds[0]))] + [
            SmoothnessItem(c, u, s, ctx["every"], geo, ctx["n_data"], ctx["tol"], ctx["max_iter"])
            for c in cells for s in ctx.seeds for u in units if not (c.architecture == "resnet" and u > 8)]

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze_smoothness(records, params)

    def run(self, ctx: Context):
        """The sweep, extended once to more seeds (up to ``max_seeds``) when that is predicted to decide."""
        return run_extending(self, ctx, ctx["max_seeds"])


CLAIM = LossSmoothness()
