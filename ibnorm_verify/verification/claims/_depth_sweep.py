"""The experiment of the two unnormalized-growth claims (input / parameters): log Lip against depth.

``docs/papers/capacity.md`` section 2.1: an unnormalized network can have a Lipschitz constant, w.r.t. its
inputs or its parameters, that is exponentially large in depth; every gain g > 1 gives one. For each
regime cell (:mod:`._capacity_regimes`) and seed, networks of several depths L share their first layers;
:func:`~ibnorm_verify.verification.estimators.lipschitz.estimate_lipschitz` gives an attained lower bound
and a certified upper bound of the local constant at the inputs.

**What decides.** The claim is an existence claim about the size of the constant, so the growth check
of a cell uses :meth:`~ibnorm_verify.verification.stats.BracketSlopes.growth_interval`: per seed (the unit
of replication), the slope against L of log(lower) and of log(upper). A lower-bound slope above 0 over the
seeds shows that the constant is at least exponentially large; an upper-bound slope below 0 shows it is
not. A loose certificate can leave a cell undecided, never decide it the wrong way; every cell reports
its certificate gap (median over seeds of log(upper/lower) at the largest depth).

**Sanity, not evidence.** The linear orthogonal chain (identity activation, W_i = g Q_i, at init) has
log Lip = L log g exactly (input; the parameter constant: log(sqrt(L) g^(L-1) ||x||)); its "rate = log g"
check is an identity of the setup, reported as a sanity check that guards every cell. So is "the attained
lower bound never exceeds the product bound" in every orthogonal, non-residual cell (||W_i|| = g and a
1-Lipschitz activation with f(0) = 0 give Lip_x <= g^L and Lip_theta <= sqrt(L) g^(L-1) ||x||).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ibnorm_verify.theory.capacity import (
    linear_chain_input_lipschitz,
    linear_chain_param_lipschitz,
    unnormalized_log_slope,
)

from ..estimators.lipschitz import estimate_lipschitz
from ..evidence import Series
from ..runtime import single_threaded
from ..stats import bracket_slopes
from ..verdict import check_direction, check_precondition, check_sanity, check_validation, check_value
from ._capacity_regimes import (
    Geometry,
    Regime,
    geometry_of,
    geometry_params,
    make_inputs,
    prepare,
    regime_cells,
    regime_params,
    regime_values,
    what_limits,
)
from ._extend import run_extending
from ._validation import ValidationItem, split_validation, validation_record
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["DepthItem", "depth_worker", "analyze_depth_sweep", "AXES", "depth_series", "SLOPE_ENDS",
           "RESOLUTION", "depth_sweep_params", "depth_sweep_items", "DepthSweepClaim"]

AXES = ("activation", "init", "architecture", "gain", "state")
#: the ends of a cell's slope summary (Series "slope"): the growth interval decides; the rate interval
#: brackets the true slope (log g is its prediction on the linear orthogonal chain)
SLOPE_ENDS = ("estimate", "growth_low", "growth_high", "rate_low", "rate_high", "log_gain")
#: numerical resolution of an exact slope: the estimator's rounding margin (64 ulps per block) and the
#: power iteration's tolerance are far below it
RESOLUTION = 1e-6


@dataclass(frozen=True)
class DepthItem:
    """One network: a regime cell at one depth and seed; ``wrt`` is "input" or "params"."""

    regime: Regime
    depth: int
    seed: int
    wrt: str
    geometry: Geometry


@single_threaded
def depth_worker(item: DepthItem | ValidationItem) -> dict:
    """Build (and for the trained state, train) the net; bound its local Lipschitz constant at the inputs."""
    if isinstance(item, ValidationItem):
        return validation_record(item)
    r, geo = item.regime, item.geometry
    net = prepare(r, item.depth, geo, item.seed)
    x = make_inputs(r, geo, geo.n_inputs, item.seed, "eval")
    est = estimate_lipschitz(net, x, wrt=item.wrt, seed=item.seed)
    return {**r.coords(AXES), "depth": item.depth, "seed": item.seed, "lower": float(est.lower),
            "upper": float(est.upper), "upper_reason": est.upper_reason,
            "x_norm": float(x.reshape(x.shape[0], -1).norm(dim=1).max())}


def depth_sweep_params(n_inputs_quick: int, activations_quick: list[str]) -> tuple[Param, ...]:
    """The parameters of a depth sweep (shared by the input and parameter claims)."""
    return regime_params(
        activations={"quick": activations_quick, "medium": ["relu", "identity", "tanh"], "tiny": ["relu", "identity"]},
        inits={"quick": ["gaussian", "orthogonal"], "tiny": ["gaussian"]},
        architectures={"quick": ["mlp", "residual", "conv"], "medium": ["mlp", "residual", "conv", "resnet"],
                       "tiny": ["mlp"]},
        gains={"quick": [2.0, 1.5], "medium": [2.0, 1.5, 1.2, 3.0], "tiny": [2.0]},
        states={"quick": ["init", "trained"], "tiny": ["init"]},
    ) + (
        Param("depths", [2, 4, 6, 8], [2, 4, 6, 8, 10, 12, 16], "depths L (ResNet: basic blocks, at most 8)",
              minimum=1, tiny=[2, 3, 4], medium=[2, 3, 4, 5, 6, 8]),
        Param("anchor", True, help="add the linear orthogonal chain (identity of the setup, a sanity check)"),
        Param("max_seeds", 3, help="seed budget: the sweep is extended once up to this many seeds when that is "
              "predicted to decide an undecided check (3 at quick: no extension, the notes say what would decide)",
              minimum=1, medium=6, full=10, tiny=2),
    ) + geometry_params(width={"quick": 16, "medium": 32, "full": 64, "tiny": 8},
                        channels={"quick": 4, "medium": 8, "tiny": 2},
                        image_size={"quick": 4, "medium": 6, "tiny": 3},
                        n_inputs={"quick": n_inputs_quick, "medium": 2 * n_inputs_quick, "tiny": 4},
                        train_steps={"quick": 50, "medium": 300, "full": 1000, "tiny": 5})


def depth_sweep_items(ctx: Context, wrt: str) -> list:
    depths = sorted(set(ctx["depths"]))
    if len(depths) < 3:
        raise ValueError("need at least 3 distinct depths for a slope fit")
    cells, _ = regime_cells(regime_values(ctx.params, AXES), ctx["design"], anchor=ctx["anchor"])
    geo: Geometry = geometry_of(ctx.params)
    return [ValidationItem("lipschitz", int(ctx.seeds[0]))] + [
        DepthItem(c, d, s, wrt, geo) for c in cells for s in ctx.seeds for d in depths
        if not (c.architecture == "resnet" and d > 8)]



def depth_series(wrt: str) -> tuple[SeriesSpec, ...]:
    return (SeriesSpec("log_lipschitz", AXES + ("depth", "seed", "bound"),
                       f"log of the attained lower / certified upper bound of the {wrt}-Lipschitz constant"),
            SeriesSpec("slope", AXES + ("end",), "per cell: slope of log Lip vs depth (see SLOPE_ENDS)"),
            SeriesSpec("certificate_gap", AXES + ("depth",), "median over seeds of log(upper/lower)"))


def _offset(wrt: str, depth: int) -> float:
    """The part of the exact linear-chain law that is not linear in L (removed before the slope fit)."""
    return 0.5 * math.log(depth) if wrt == "params" else 0.0


def _product_bound(wrt: str, depth: int, gain: float, x_norm: float) -> float:
    """log of the product bound g^L (input) or sqrt(L) g^(L-1) ||x|| (params): the exact constants of the
    linear orthogonal chain, upper bounds for W_i = g Q_i with a 1-Lipschitz activation f, f(0) = 0."""
    if wrt == "input":
        return math.log(linear_chain_input_lipschitz(gain, depth))
    return math.log(linear_chain_param_lipschitz(gain, depth, x_norm))


def analyze_depth_sweep(records: list[dict], wrt: str, params: dict | None = None) -> Analysis:
    """The checks, series and headline numbers of a depth sweep (pure: records in, Analysis out)."""
    validation, records = split_validation(records)
    cells: dict[tuple, list[dict]] = {}
    for rec in records:
        cells.setdefault(tuple(rec[a] for a in AXES), []).append(rec)
    checks, measured, notes, slope_recs, gap_recs, limits = [], {}, [], [], [], []
    for key, recs in cells.items():
        cell = dict(zip(AXES, key))
        regime = Regime(**cell)
        label = ", ".join(f"{a}={v}" for a, v in cell.items())
        depths = sorted({r["depth"] for r in recs})
        seeds = sorted({r["seed"] for r in recs})
        if len(depths) < 3:
            raise ValueError(f"cell {label}: need at least 3 distinct depths for a slope fit, got {depths}")
        by = {(r["seed"], r["depth"]): r for r in recs}
        lo = np.array([[math.log(by[s, d]["lower"]) if by[s, d]["lower"] > 0 else -math.inf for d in depths]
                       for s in seeds])
        hi = np.array([[math.log(by[s, d]["upper"]) for d in depths] for s in seeds])
        off = np.array([_offset(wrt, d) for d in depths])
        fit = bracket_slopes(depths, lo - off, hi - off)
        gap = np.median(hi - lo, axis=0)                                    # (D,) log(upper/lower)
        log_g = unnormalized_log_slope(regime.gain, regime.activation)   # exact only on the linear chain
        gi, ri = fit.growth_interval(), fit.rate_interval()
        details = {**fit.summary(), "depths": depths, "certificate_gap_log_at_max_depth": float(gap[-1]),
                   "upper_reasons": sorted({r["upper_reason"] for r in recs if r["upper_reason"]})}
        slope_recs.append({**cell, "end": "estimate", "v": fit.estimate})
        for end, v in zip(SLOPE_ENDS[1:], (*gi, *ri, log_g)):
            slope_recs.append({**cell, "end": end, "v": v})
        gap_recs += [{**cell, "depth": d, "v": float(g)} for d, g in zip(depths, gap)]
        measured[f"slope [{label}]"] = {"estimate": fit.estimate, "growth_interval": list(gi),
                                        "rate_interval": list(ri), "certificate_gap_log": float(gap[-1])}
        if regime.setup_identity:
            checks.append(check_sanity(check_value(
                f"rate = log g on the linear orthogonal chain [{label}]", fit.estimate, ri, log_g,
                abs_tol=RESOLUTION * max(1.0, abs(log_g)), details=details, replicates=len(seeds), unit="seed",
                part="rate")))
            continue
        if regime.init == "orthogonal" and regime.architecture != "residual":
            xn = max(r["x_norm"] for r in recs)
            excess = [math.log(by[s, d]["lower"]) - _product_bound(wrt, d, regime.gain, xn) for s in seeds
                      for d in depths]
            checks.append(check_sanity(check_direction(
                f"attained lower bound <= product bound [{label}]", max(excess), (min(excess), max(excess)),
                less_than=RESOLUTION, details={"log(lower / product bound)": excess}, part="rate",
                cell=cell, envelope=True)))
        finite = bool(np.all(np.isfinite(hi)))
        if not finite:
            details["no_mde"] = "no finite certified upper bound: the interval has no upper end"
            checks.append(check_precondition(
                f"certified upper bounds [{label}]", False,
                "no finite certified upper bound, so the slope interval has no upper end: "
                + "; ".join(details["upper_reasons"]), cell=cell))
        checks.append(check_direction(
            f"exponential growth in depth [{label}]", fit.estimate, gi, greater_than=0.0, details=details,
            replicates=len(seeds), unit="seed", part="growth", cell=cell))
        limits.append(what_limits(checks[-1], fit.lower, fit.upper))
    series = _series(records, slope_recs, gap_recs)
    notes += [x for x in limits if x]
    notes.append("growth interval per cell: [95% t-interval low of the per-seed slopes of log(lower), high of "
                 "log(upper)] against depth; rate interval: the slopes compatible with every [lower, upper] box.")
    if wrt == "params":
        notes.append("slopes of log Lip - 0.5 log L (the sqrt(L) of the linear-chain law removed).")
    if validation:
        checks.insert(0, check_validation("Lipschitz estimator", validation))
    if params and "design" in params:
        notes += regime_cells(regime_values(params, AXES), params["design"], anchor=params["anchor"])[1]
    return Analysis(checks=checks, measured=measured, series=series, notes=notes, validation=validation,
                    predicted={"growth": "slope of log Lip vs depth > 0 for g > 1 (exponentially large constants)",
                               "rate on the linear orthogonal chain": "log g (identity of the setup)"})


def _series(records: list[dict], slope_recs: list[dict], gap_recs: list[dict]) -> list[Series]:
    flat = [{**{a: r[a] for a in AXES}, "depth": r["depth"], "seed": r["seed"], "bound": b,
             "v": math.log(r[b]) if r[b] > 0 else -math.inf} for r in records for b in ("lower", "upper")]
    return [Series.from_records("log_lipschitz", flat, AXES + ("depth", "seed", "bound"), "v", unit="nats",
                                coords={"bound": ["lower", "upper"]}),
            Series.from_records("slope", slope_recs, AXES + ("end",), "v", coords={"end": list(SLOPE_ENDS)},
                                unit="nats per layer"),
            Series.from_records("certificate_gap", gap_recs, AXES + ("depth",), "v", unit="nats")]


class DepthSweepClaim(Claim):
    """The shared anatomy of the two growth claims; a subclass sets ``wrt``, the texts and ``params``."""

    paper = "2511.00958"
    provenance = "reconstructed"
    wrt = "input"
    axes = AXES
    condition = "g above the activation's critical gain (1 for identity and tanh, about sqrt(2) for ReLU)"
    primary_part = "growth"
    worker = staticmethod(depth_worker)

    def items(self, ctx: Context) -> list:
        return depth_sweep_items(ctx, self.wrt)

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze_depth_sweep(records, self.wrt, params)

    def run(self, ctx: Context):
        """The sweep, extended once to more seeds (up to ``max_seeds``) when that is predicted to decide."""
        return run_extending(self, ctx, ctx["max_seeds"])
