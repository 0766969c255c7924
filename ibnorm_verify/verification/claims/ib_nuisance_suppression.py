"""``ib.nuisance-suppression`` (arXiv 2510.25262, abstract [paper]; ``docs/papers/ibnorm.md`` sections 1 and 5):
IBNorm's bounded compression suppresses heavy-tailed nuisance variability while keeping the label
information.

One normalization layer (no affine) on the nuisance task of :mod:`ibnorm_verify.verification.tasks`
(label Y, a signal that depends on Y, a Student-t nuisance independent of Y); every IBNorm variant is
compared with the variance-centric normalizer of its grouping on the same draws (paired per seed).
Parts of the claim, each a check per regime cell (grouping, compression, lam, noise s):

* ``tails``: excess kurtosis of the nuisance coordinates of the output T falls (noise 0: T itself);
* ``entropy, layer output``: the summed marginal differential entropy of the nuisance coordinates of
  T_s = T + s eps falls, per s (after the standardization step; Kozachenko-Leonenko estimator). On T
  itself it is not measurable: a saturating compression maps the far tails onto the same float64
  value (an atom, entropy -inf in floating point);
* ``entropy, compression step`` (sanity check, not evidence): h(f(U)) - h(U) = E sum_j log f'(U_j) < 0
  holds by construction for a compression with f' <= 1 (change of variables), before standardization;
* ``nuisance information``: mean over nuisance coordinates j of I(N_j; T_j + s eps) (KSG) falls, per s;
* ``label information``: I(Y; T + s eps) (Gaussian-mixture estimator, every variant with the same
  Monte-Carlo draws) stays above ``label_keep`` times the baseline's, per s.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ibnorm.groupings import get_grouping
from ibnorm_verify.theory.information import compression_log_deriv

from ..estimators.information import mutual_information
from ..evidence import Series, ValidationRow
from ..models.architectures import Normalizer
from ..runtime import single_threaded
from ._extend import PREDICTION_SLACK, run_extending
from ._ib_estimators import MIXTURE, auto_mi, marginal_entropy, mc_budget_params, paired_mixture_mi
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
from ._ib_validation import ValidationItem, run_validation, validation_preconditions
from .base import Analysis, Claim, Context, Param, SeriesSpec

__all__ = ["NuisanceItem", "nuisance_worker", "analyze_nuisance", "NuisanceSuppression", "CLAIM"]

#: check part -> (series of the per-seed paired statistic, direction, threshold parameter or number)
PARTS = ("tails", "entropy, layer output", "nuisance information", "label information")
SANITY_PART = "entropy, compression step"


@dataclass(frozen=True)
class NuisanceItem:
    """One (grouping, seed): the baseline and every IBNorm variant of that grouping on one task draw."""

    grouping: str
    seed: int
    variants: tuple[Normalizer, ...]
    noise_stds: tuple[float, ...]
    n: int
    df: float
    sep: float
    signal_dims: int
    nuisance_dims: int
    mc_halfwidth: float
    n_mc: int
    max_n_mc: int
    nuisance_info: str = "per-coordinate"


def _compression_input(x: np.ndarray, grouping: str) -> np.ndarray:
    """u, the input of the compression: x minus its group mean (layer: over features, batch: over the
    batch), or x itself (rms). x: (n, d)."""
    if not get_grouping(grouping).center:
        return x
    return x - x.mean(axis=1 if grouping == "layer" else 0, keepdims=True)


@single_threaded
def nuisance_worker(item: NuisanceItem | ValidationItem) -> list:
    """Flat records ``{quantity, grouping, compression, lam, noise, seed, value}`` for the baseline and
    every variant (noise 0.0 marks a quantity of the noise-free output T); validation rows for a
    :class:`ValidationItem`."""
    if isinstance(item, ValidationItem):
        return run_validation(item)
    data = draw_task(item.seed, item.n, df=item.df, sep=item.sep, signal_dims=item.signal_dims,
                     nuisance_dims=item.nuisance_dims)
    x, y, nuis = data["x"], data["y"], data["nuisance"]
    sd = item.signal_dims
    u = _compression_input(x, item.grouping)[:, sd:]              # (n, nuisance_dims)
    eps = channel_noise(item.seed, x.shape)                          # (n, d)
    variants = (variant(item.grouping),) + tuple(item.variants)
    reps = [layer_output(v, x) for v in variants]                    # each (n, d); reps[0] is the baseline

    def contrasts(ix: np.ndarray, iy: np.ndarray | None) -> np.ndarray:   # label information: variant - baseline
        assert iy is not None
        return iy[1:] - iy[:1]
    label = {s: paired_mixture_mi(reps, s, y, seed=mc_seed(item.seed, s), n_mc=item.n_mc, max_n_mc=item.max_n_mc,
                                  halfwidth=item.mc_halfwidth, contrasts=contrasts) for s in item.noise_stds}
    out = []
    for r, (v, t) in enumerate(zip(variants, reps)):
        tn = t[:, sd:]

        def rec(quantity: str, value: float | np.floating, noise: float = 0.0, **extra) -> dict:
            return {"quantity": quantity, **coords(v), "noise": float(noise), "seed": item.seed,
                    "value": float(value), **extra}
        ld = np.vectorize(compression_log_deriv(v.compression, v.lam))(u)
        out += [rec("kurtosis", np.mean(sps.kurtosis(tn, axis=0))),
                rec("entropy_step", ld.mean() * item.nuisance_dims)]
        for s in item.noise_stds:
            ts = t + s * eps
            out.append(rec("entropy", sum(marginal_entropy(ts[:, sd + j]) for j in range(item.nuisance_dims)), s))
            est = label[s]
            assert est.i_y is not None
            out.append(rec("label_info", est.i_y[r], s, n_mc=est.n_mc))
            if item.nuisance_info == "joint":                      # I(N; T_s), N and T_s whole
                out.append(rec("nuisance_info", auto_mi(nuis, ts, seed=mc_seed(item.seed, "auto")).value, s))
            else:                                                  # mean over j of I(N_j; T_j + s eps_j)
                out.append(rec("nuisance_info", np.mean([
                    mutual_information(nuis[:, j], ts[:, sd + j], "ksg", uncertainty="none").value
                    for j in range(item.nuisance_dims)]), s))
    return out


# ------------------------------------------------------------------------------------ analysis

def _values(records: list[dict], quantity: str, v: Normalizer, noise: float) -> dict[int, float]:
    return {r["seed"]: r["value"] for r in records if r["quantity"] == quantity and r["grouping"] == v.grouping
            and r["compression"] == v.compression and r["lam"] == v.lam and r["noise"] == noise}


def _paired(records: list[dict], quantity: str, v: Normalizer, noise: float, ratio: bool = False) -> dict[int, float]:
    """Per seed: variant - baseline (or variant / baseline), over the seeds both have."""
    a, b = _values(records, quantity, v, noise), _values(records, quantity, baseline_of(v), noise)
    out = {}
    for s in sorted(set(a) & set(b)):
        out[s] = (a[s] / b[s] if b[s] > 0 else float("nan")) if ratio else a[s] - b[s]
    return out


def analyze_nuisance(records: list, params: dict) -> Analysis:
    """Checks, series and headline numbers from the workers' records and validation rows (pure; see the
    module docstring). ``records``: the flat dicts of :func:`nuisance_worker` and ValidationRows."""
    validation = [r for r in records if isinstance(r, ValidationRow)]
    records = [r for r in records if isinstance(r, dict)]
    variants = variant_grid(params["groupings"], params["compressions"], params["lams"])
    noise = [float(s) for s in params["noise_std"]]
    keep = float(params["label_keep"])
    checks, effects, measured = [], [], {}
    for v in variants:
        tag = v.label
        cell0 = {**coords(v), "noise": 0.0}
        step = _values(records, "entropy_step", v, 0.0)
        checks.append(paired_check(f"{tag}: entropy change of the compression step", list(step.values()),
                                   part=SANITY_PART, cell=cell0, less_than=0.0, role="sanity"))
        plan = [("tails", "kurtosis", 0.0, False)]
        plan += [(p, q, s, q == "label_info") for s in noise for p, q in
                 (("entropy, layer output", "entropy"), ("nuisance information", "nuisance_info"),
                  ("label information", "label_info"))]
        for part, q, s, ratio in plan:
            per = _paired(records, q, v, s, ratio=ratio)
            cell = {**coords(v), "noise": s}
            where = f" at s={s:g}" if s else ""
            if ratio:
                c = paired_check(f"{tag}: {part} ratio{where}", list(per.values()), part=part, cell=cell,
                                 greater_than=keep)
            else:
                c = paired_check(f"{tag}: {part} change{where}", list(per.values()), part=part, cell=cell,
                                 less_than=0.0)
            checks.append(c)
            effects += [{"part": part, **cell, "seed": sd, "value": val} for sd, val in per.items()]
            measured[c.name] = {"estimate": c.estimate, "ci": c.ci}
    checks = validation_preconditions(validation) + checks
    return Analysis(checks=checks, measured=measured, series=_series(records, effects), validation=validation,
                    predicted={"tails, entropy of T, nuisance information": "IBNorm - baseline < 0 (paired, per seed)",
                               "label information": f"IBNorm / baseline > {keep}",
                               "entropy of the compression step": "< 0 by construction (sanity check)"},
                    conditions=_conditions(records, params))


def _series(records: list[dict], effects: list[dict]) -> list[Series]:
    dims = ("grouping", "compression", "lam", "seed")
    out = []
    for q, unit in (("kurtosis", ""), ("entropy_step", "nats")):
        out.append(Series.from_records(q, [r for r in records if r["quantity"] == q], dims, "value", unit=unit))
    for q in ("entropy", "nuisance_info", "label_info"):
        out.append(Series.from_records(q, [r for r in records if r["quantity"] == q],
                                       ("grouping", "compression", "lam", "noise", "seed"), "value", unit="nats"))
    if effects:
        out.append(Series.from_records("effect", effects, ("part", "grouping", "compression", "lam", "noise", "seed"),
                                       "value", description="per-seed paired statistic of each evidence check: "
                                       "IBNorm - baseline (label information: IBNorm / baseline)"))
    return out


def _conditions(records: list[dict], params: dict) -> dict:
    n_mc = sorted({r["n_mc"] for r in records if "n_mc" in r})
    joint = params.get("nuisance_info") == "joint"
    d = params["signal_dims"] + params["nuisance_dims"]
    return {"estimators": {"nuisance information": f"mutual_information(method='auto') of N ({params['nuisance_dims']} "
                           f"dims) and T_s ({d} dims)" if joint else "ksg k=5 copula, 1x1 per nuisance coordinate",
                           "label information": f"{MIXTURE}, n_mc per seed and s {n_mc[0]}-{n_mc[-1]} (95% "
                           f"Monte-Carlo half-width of each paired difference <= {params['mc_halfwidth']} nats)"
                           if n_mc else MIXTURE,
                           "entropy": "Kozachenko-Leonenko k=5 per nuisance coordinate"},
            "representation": f"T in {params['signal_dims'] + params['nuisance_dims']} dims "
                              f"({params['nuisance_dims']} nuisance coordinates)",
            "noise_std": list(params["noise_std"]), "df": params["df"], "n": params["n"]}


class NuisanceSuppression(Claim):
    id = "ib.nuisance-suppression"
    paper = PAPER
    provenance = "paper"
    title = "Compression suppresses heavy-tailed nuisance while keeping label information"
    statement = ("IBNorm's bounded compression reduces tails (kurtosis), entropy and information about a "
                 "heavy-tailed nuisance, while the information about the label stays (>= label_keep of the "
                 "variance-centric normalizer's).")
    conditions = {
        "task": "Y uniform on 2 classes; signal (signal_dims) = sep*(Y-1/2)/sqrt(d_s) + N(0,I); nuisance = "
                "iid Student-t(df) coordinates independent of Y; one normalization layer without affine",
        "tails": "mean excess kurtosis of the nuisance coordinates of the output T",
        "entropy": "sum over nuisance coordinates of the marginal differential entropy of T_j + s*eps_j (after "
                   "standardization); the compression step alone, E sum_j log f'(U_j) < 0, is a sanity check",
        "noise": "T_s = T + N(0, s^2 I) for each s in noise_std (deterministic-network caveat); noise 0 = T",
        "statistics": "paired per seed (IBNorm - baseline, same draws), Student-t 95% CI over seeds (the unit); "
                      "Holm over every evidence check for refutations",
    }
    axes = ("grouping", "compression", "lam", "noise")
    condition = ("grouping and channel noise s: s sets the resolution at which the information about the nuisance is "
                 "counted (noise 0: the noise-free output)")
    primary_part = "nuisance information"
    series = (
        SeriesSpec("kurtosis", ("grouping", "compression", "lam", "seed")),
        SeriesSpec("entropy_step", ("grouping", "compression", "lam", "seed")),
        SeriesSpec("entropy", ("grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("nuisance_info", ("grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("label_info", ("grouping", "compression", "lam", "noise", "seed")),
        SeriesSpec("effect", ("part", "grouping", "compression", "lam", "noise", "seed"),
                   "the per-seed paired statistic each evidence check tests"),
    )
    params = (
        grouping_param(["layer", "rms", "batch"], tiny=["layer"]),
        compression_param(["tanh", "log"], ["tanh", "log", "root", "softsign"], tiny=["tanh"],
                          medium=["tanh", "log", "softsign"]),
        Param("lams", [2.0], [1.0, 2.0, 4.0], exclusive_minimum=0.0, help="compression strengths", medium=[2.0, 4.0]),
        Param("n", 1000, 4000, minimum=200, tiny=300, help="samples per seed"),
        *task_params(),
        Param("noise_std", [0.1, 0.5], [0.05, 0.1, 0.5], exclusive_minimum=0.0, help="channel noise s",
              medium=[0.05, 0.1, 0.5]),
        Param("nuisance_info", "per-coordinate", choices=("per-coordinate", "joint"),
              help="per-coordinate: mean over j of I(N_j; T_j + s eps) by KSG (1x1); joint: I(N; T + s eps) with "
                   "the whole nuisance and representation, by the estimators package's default (auto)"),
        Param("label_keep", 0.9, 0.9, exclusive_minimum=0.0, maximum=1.0,
              help="label information must stay above this fraction of the baseline's"),
        *mc_budget_params(),
        Param("max_seeds", 8, 12, minimum=1, tiny=2, medium=10,
              help="seed budget: the claim extends its seeds up to this"),
    )

    worker = staticmethod(nuisance_worker)

    def items(self, ctx: Context) -> list:
        p = ctx.params
        vs = variant_grid(p["groupings"], p["compressions"], p["lams"])
        dim = p["signal_dims"] + p["nuisance_dims"]
        est = ("auto",) if p["nuisance_info"] == "joint" else ("ksg",)
        val = ValidationItem(est + ("mixture", "entropy"), tuple(map(float, p["noise_std"])), ("labels",), dim=dim,
                             n=p["n"])
        return [val] + [NuisanceItem(g, int(s), tuple(v for v in vs if v.grouping == g), tuple(map(float, p["noise_std"])),
                             p["n"], p["df"], p["sep"], p["signal_dims"], p["nuisance_dims"], p["mc_halfwidth"],
                             p["n_mc"], p["max_n_mc"], p["nuisance_info"]) for g in p["groupings"] for s in ctx.seeds]

    def analyze(self, records: list, params: dict) -> Analysis:
        """``records``: one list per sweep item (as ``ctx.map`` returns them)."""
        return analyze_nuisance([r for rs in records for r in rs], params)

    def run(self, ctx: Context):
        return run_extending(self, ctx, ctx.params["max_seeds"], slack=PREDICTION_SLACK)


CLAIM = NuisanceSuppression()
