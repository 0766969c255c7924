"""``cap.normalization-exponential-reduction`` (arXiv 2511.00958, ``docs/papers/capacity.md`` section 2.3).

Inserting K normalizers divides the input-Lipschitz constant of the same weights by about
prod_j sigma_j/|gamma_j| (sigma_j = sqrt(var_j + eps) of normalizer j's input, minimized over its groups):
log(Lip_unnorm / Lip_norm) grows linearly in K at the rate of the product law (an exponential reduction
when sigma_j > |gamma_j|; the same law is an *increase* when sigma_j < |gamma_j|, and there the reduction
claim must come out not supported). Prediction: :func:`ibnorm_verify.theory.capacity.log_reduction`.

**Bracket logic.** Per point the log-reduction is known only as [log lower_unnorm - log upper_norm,
log upper_unnorm - log lower_norm]: an attained lower bound of one net against a certified upper bound of
the other, never two upper bounds. Per seed (the unit of replication) the slopes in K of both ends give
the reduction check (:meth:`~ibnorm_verify.verification.stats.BracketSlopes.growth_interval`); the
product-law check compares the slopes compatible with every box, minus the seed's own product-law slope
(paired), with 0 within ``rel_tol`` of the law. A cell whose certificates are loose is undecided and
says so (its certificate gap is reported), never decided by the looseness.

**Regimes.** Activation, init, architecture (plain and residual MLPs, circular conv with GroupNorm, a
ResNet-18-style net with BatchNorm, a pre-norm transformer with LayerNorm), grouping, gain (gain < 1 is
the converse regime) and state (at init / after a short training run). The linear orthogonal chain at
init is an identity of the setup (sanity). A gain x K phase diagram of the base cell is descriptive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ibnorm_verify.theory import capacity as TC

from ..estimators.lipschitz import estimate_lipschitz
from ..evidence import Series
from ..models import normalizer_scales, without_normalizers
from ..runtime import single_threaded
from ..stats import bracket_slopes, row_slopes
from ..verdict import check_direction, check_precondition, check_sanity, check_validation, check_value
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

__all__ = ["CLAIM", "NormalizationExponentialReduction", "ReductionItem", "reduction_worker", "analyze_reduction",
           "AXES"]

AXES = ("activation", "init", "architecture", "grouping", "gain", "state")
SLOPE_ENDS = ("estimate", "growth_low", "growth_high", "law_deviation_low", "law_deviation_high", "product_law")


@dataclass(frozen=True)
class ReductionItem:
    """One pair of nets (with / without its normalizers) of a regime cell at ``units`` depth units."""

    regime: Regime
    units: int
    seed: int
    every: int
    geometry: Geometry
    in_map: bool = True            # a point of the regime map (checked)
    in_phase: bool = False         # a point of the descriptive gain x K phase diagram of the base cell


@single_threaded
def reduction_worker(item: ReductionItem | ValidationItem) -> dict:
    if isinstance(item, ValidationItem):
        return validation_record(item)
    r, geo = item.regime, item.geometry
    net = prepare(r, item.units, geo, item.seed, every=item.every)
    plain = without_normalizers(net)
    x = make_inputs(r, geo, geo.n_inputs, item.seed, "eval")
    en = estimate_lipschitz(net, x, seed=item.seed)
    eu = estimate_lipschitz(plain, x, seed=item.seed)
    scales = normalizer_scales(net, x)
    gammas = [g for _, g in scales]
    per_input = [[float(s[n]) for s, _ in scales] for n in range(x.shape[0])]
    # product law per input (theory.capacity.log_reduction); the reduction of the sup is at least its min
    law = [TC.log_reduction(gammas, sig) for sig in per_input]
    regimes = {TC.regime(gammas, sig) for sig in per_input}
    return {**r.coords(AXES), "units": item.units, "K": num_normalizers(net), "seed": item.seed,
            "in_map": item.in_map, "in_phase": item.in_phase, "lower_norm": float(en.lower), "upper_norm": float(en.upper),
            "lower_unnorm": float(eu.lower), "upper_unnorm": float(eu.upper), "product_law": float(min(law)),
            "sigma_vs_gamma": regimes.pop() if len(regimes) == 1 else "mixed",
            "upper_reason": "; ".join(x for x in (en.upper_reason, eu.upper_reason) if x)}


def _log(v: float) -> float:
    return math.log(v) if v > 0 else -math.inf


def _ends(rec: dict) -> tuple[float, float]:
    return (_log(rec["lower_unnorm"]) - _log(rec["upper_norm"]), _log(rec["upper_unnorm"]) - _log(rec["lower_norm"]))


def analyze_reduction(records: list[dict], params: dict) -> Analysis:
    """Checks, series and numbers of the reduction sweep (pure)."""
    validation, records = split_validation(records)
    rel_tol = float(params["rel_tol"])
    cells: dict[tuple, list[dict]] = {}
    for rec in records:
        if rec["in_map"]:
            cells.setdefault(tuple(rec[a] for a in AXES), []).append(rec)
    checks, measured, slope_recs, gap_recs, limits = [], {}, [], [], []
    for key, recs in cells.items():
        cell = dict(zip(AXES, key))
        regime = Regime(**cell)
        label = ", ".join(f"{a}={v}" for a, v in cell.items())
        units = sorted({r["units"] for r in recs})
        seeds = sorted({r["seed"] for r in recs})
        if len(units) < 3:
            raise ValueError(f"cell {label}: need at least 3 distinct K for a slope fit, got {units}")
        by = {(r["seed"], r["units"]): r for r in recs}
        ks = [by[seeds[0], u]["K"] for u in units]
        ends = np.array([[_ends(by[s, u]) for u in units] for s in seeds])          # (S, U, 2)
        law = np.array([[by[s, u]["product_law"] for u in units] for s in seeds])   # (S, U)
        fit = bracket_slopes(ks, ends[..., 0], ends[..., 1])
        dev = bracket_slopes(ks, ends[..., 0] - law, ends[..., 1] - law)            # paired per seed
        law_slope = float(np.mean(row_slopes(ks, law)))
        gap = np.median([[_log(by[s, u]["upper_norm"]) - _log(by[s, u]["lower_norm"]) for u in units]
                         for s in seeds], axis=0)
        found = {r["sigma_vs_gamma"] for r in recs}
        sigma_regime = found.pop() if len(found) == 1 else "mixed"
        gi, di = fit.growth_interval(), dev.rate_interval()
        details = {"reduction": fit.summary(), "law_deviation": dev.summary(), "K": ks,
                   "product_law_slope": law_slope, "sigma_vs_gamma": sigma_regime,
                   "certificate_gap_log_normalized": gap.tolist(),
                   "upper_reasons": sorted({r["upper_reason"] for r in recs if r["upper_reason"]})}
        measured[f"log-reduction slope [{label}]"] = {
            "estimate": fit.estimate, "growth_interval": list(gi), "product_law_slope": law_slope,
            "law_deviation_interval": list(di), "sigma_vs_gamma": sigma_regime,
            "certificate_gap_log_at_max_K": float(gap[-1])}
        for end, v in zip(SLOPE_ENDS, (fit.estimate, *gi, *di, law_slope)):
            slope_recs.append({**cell, "end": end, "v": v})
        gap_recs += [{**cell, "K": k, "v": float(g)} for k, g in zip(ks, gap)]
        if not np.all(np.isfinite(ends)):
            details["no_mde"] = "no finite certified upper bound: the bracket has an open end"
        meta: dict[str, Any] = dict(details=details, replicates=len(seeds), unit="seed")
        red = check_direction(f"exponential reduction in K [{label}]", fit.estimate, gi, greater_than=0.0,
                              part="reduction", cell={} if regime.setup_identity else cell, **meta)
        rate = check_value(f"rate = product law sum_j log(sigma_j/|gamma_j|) [{label}]", dev.estimate, di, 0.0,
                           abs_tol=rel_tol * abs(law_slope), part="product law",
                           cell={} if regime.setup_identity else cell, **meta)
        if regime.setup_identity:
            checks += [check_sanity(red), check_sanity(rate)]
            continue
        if not np.all(np.isfinite(ends)):
            checks.append(check_precondition(f"certified upper bounds [{label}]", False,
                                             "no finite certified upper bound: " + "; ".join(details["upper_reasons"]),
                                             cell=cell))
        checks += [red, rate]
        limits += [what_limits(red, fit.lower, fit.upper), what_limits(rate, dev.box_min, dev.box_max)]
    if validation:
        checks.insert(0, check_validation("Lipschitz estimator", validation))
    if "design" in params:
        limits += regime_cells(regime_values(params, AXES), params["design"], anchor=params["anchor"])[1]
        limits.append("phase diagram: the base cell at every phase gain, mean over the first "
                      f"{params['phase_seeds']} seed(s); descriptive (no check).")
    return Analysis(checks=checks, measured=measured, series=_series(records, slope_recs, gap_recs),
                    validation=validation,
                    predicted={"reduction": "slope in K of log(Lip_unnorm/Lip_norm) > 0 where sigma_j > |gamma_j|",
                               "rate": f"the product-law slope, within {rel_tol:g} relative"},
                    notes=["per point: bracket [log lower_unnorm - log upper_norm, log upper_unnorm - log lower_norm]; "
                           "product law per point: min over inputs of sum_j log(sigma_j/|gamma_j|) "
                           "(models.normalizer_scales)."] + [x for x in limits if x])


def _series(records: list[dict], slope_recs: list[dict], gap_recs: list[dict]) -> list[Series]:
    main = [r for r in records if r["in_map"]]
    flat = []
    for r in main:
        lo, hi = _ends(r)
        for b, v in (("lower", lo), ("upper", hi), ("product_law", r["product_law"])):
            flat.append({**{a: r[a] for a in AXES}, "K": r["K"], "seed": r["seed"], "bound": b, "v": v})
    phase: dict[tuple, list] = {}
    for r in records:
        if not r["in_phase"]:
            continue
        lo, hi = _ends(r)
        phase.setdefault((r["gain"], r["K"]), []).append((lo, hi, r["product_law"]))
    ph = []
    for (g, k), vals in phase.items():
        a = np.asarray(vals)
        for q, v in (("lower", a[:, 0].mean()), ("upper", a[:, 1].mean()), ("product_law", a[:, 2].mean())):
            ph.append({"gain": g, "K": k, "quantity": q, "v": float(v)})
    ks = sorted({r["K"] for r in main})
    return [Series.from_records("log_reduction", flat, AXES + ("K", "seed", "bound"), "v", unit="nats",
                                coords={"K": ks, "bound": ["lower", "upper", "product_law"]}),
            Series.from_records("slope", slope_recs, AXES + ("end",), "v", coords={"end": list(SLOPE_ENDS)},
                                unit="nats per normalizer"),
            Series.from_records("certificate_gap", gap_recs, AXES + ("K",), "v", coords={"K": ks}, unit="nats"),
            Series.from_records("phase", ph, ("gain", "K", "quantity"), "v", unit="nats",
                                coords={"gain": sorted({p["gain"] for p in ph}), "K": sorted({p["K"] for p in ph}),
                                        "quantity": ["lower", "upper", "product_law"]})]


class NormalizationExponentialReduction(Claim):
    id = "cap.normalization-exponential-reduction"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "K normalizers divide the Lipschitz constant by ~ prod of their input std devs"
    statement = ("Inserting K normalizers divides the input-Lipschitz constant of the same weights by about "
                 "prod_j sigma_j/|gamma_j|: log(Lip_unnorm/Lip_norm) grows linearly in K (an exponential reduction) "
                 "at the rate of sum_j log(sigma_j/|gamma_j|). The reconstruction predicts a reduction only when "
                 "sigma_j > |gamma_j|; when sigma_j < |gamma_j| (the converse regime) the same law is an increase, "
                 "and the reduction claim must come out not supported there.")
    conditions = {"normalizer placement": "after every k-th layer of the MLP/conv nets (depth = k K); ResNet: every "
                                          "conv; transformer: pre-norm", "gamma": 1.0, "eps": 1e-5}
    axes = AXES
    condition = "sigma_j > |gamma_j| (gain > 1 for normalizers after layers of gain g)"
    primary_part = "reduction"
    series = (SeriesSpec("log_reduction", AXES + ("K", "seed", "bound"),
                         "log(Lip_unnorm/Lip_norm): bracket ends and the product law"),
              SeriesSpec("slope", AXES + ("end",), "per cell: slopes in K (see SLOPE_ENDS)"),
              SeriesSpec("certificate_gap", AXES + ("K",), "median log(upper/lower) of the normalized net"),
              SeriesSpec("phase", ("gain", "K", "quantity"), "base cell: mean over seeds, gain x K"))
    params = regime_params(
        activations={"quick": ["relu", "identity"], "medium": ["relu", "identity", "tanh"], "tiny": ["relu"]},
        inits={"quick": ["gaussian", "orthogonal"], "tiny": ["gaussian"]},
        architectures={"quick": ["mlp", "conv", "resnet", "transformer"],
                       "medium": ["mlp", "residual", "conv", "resnet", "transformer"], "tiny": ["mlp"]},
        groupings={"quick": ["layer", "batch"], "medium": ["layer", "rms", "batch", "group"], "tiny": ["layer"]},
        gains={"quick": [2.0, 0.5], "medium": [2.0, 0.5, 1.5], "tiny": [2.0, 0.5]},
        states={"quick": ["init", "trained"], "tiny": ["init"]},
        gain_help="weight gains g (a regime axis; g < 1 is the converse regime sigma < |gamma|)",
    ) + (
        Param("K", [1, 2, 3], [1, 2, 3, 4, 6, 8], help="numbers of depth units (MLP/conv: K normalizers, depth = "
              "every * K; ResNet: basic blocks; transformer: blocks)", minimum=1, tiny=[1, 2, 3], medium=[1, 2, 3, 4]),
        Param("every", 2, help="MLP/conv: a normalizer after every k-th layer", minimum=1),
        Param("rel_tol", 0.1, help="'about': allowed relative deviation of the rate from the product law",
              exclusive_minimum=0.0),
        Param("phase_gains", [0.5, 1.0, 1.5, 2.0, 3.0], [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0],
              help="gains of the descriptive gain x K phase diagram (base cell)", exclusive_minimum=0.0,
              tiny=[0.5, 2.0]),
        Param("phase_seeds", 1, help="seeds of the phase diagram (the first ones)", minimum=1, medium=3),
        Param("anchor", True, help="add the linear orthogonal chain (identity of the setup, a sanity check)"),
        Param("max_seeds", 3, help="seed budget: the sweep is extended once up to this many seeds when that is "
              "predicted to decide an undecided check", minimum=1, medium=6, full=10, tiny=2),
    ) + geometry_params(width={"quick": 16, "medium": 32, "tiny": 8}, channels={"quick": 4, "medium": 8, "tiny": 4},
                        image_size={"quick": 4, "medium": 6, "tiny": 4},
                        n_inputs={"quick": 8, "medium": 16, "tiny": 4},
                        train_steps={"quick": 50, "medium": 300, "full": 1000, "tiny": 5})
    worker = staticmethod(reduction_worker)

    def items(self, ctx: Context) -> list:
        units = sorted(set(ctx["K"]))
        if len(units) < 3:
            raise ValueError("need at least 3 distinct K values for a slope fit")
        cells, _ = regime_cells(regime_values(ctx.params, AXES), ctx["design"], anchor=ctx["anchor"])
        geo = geometry_of(ctx.params)
        base = cells[1] if ctx["anchor"] and len(cells) > 1 else cells[0]
        phase = {(replace(base, gain=float(g)), u, s) for g in ctx["phase_gains"] for u in units
                 for s in ctx.seeds[:ctx["phase_seeds"]]}
        items = [ReductionItem(c, u, s, ctx["every"], geo, in_phase=(c, u, s) in phase)
                 for c in cells for s in ctx.seeds for u in units if not (c.architecture == "resnet" and u > 8)]
        have = {(i.regime, i.units, i.seed) for i in items}
        items += [ReductionItem(r, u, s, ctx["every"], geo, in_map=False, in_phase=True)
                  for r, u, s in sorted(phase - have, key=lambda t: (t[0].gain, t[1], t[2]))]
        return [ValidationItem("lipschitz", int(ctx.seeds[0]))] + items

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze_reduction(records, params)

    def run(self, ctx: Context):
        """The sweep, extended once to more seeds (up to ``max_seeds``) when that is predicted to decide."""
        return run_extending(self, ctx, ctx["max_seeds"])


CLAIM = NormalizationExponentialReduction()
