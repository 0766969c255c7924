"""Claims that need trained networks: training statistics, bounds vs gaps, IBNorm's accuracy claims.

Each claim = a sweep of small training runs through ``ctx.map`` (module-level workers, plain-dict
items and results, so an interrupted sweep resumes from the item cache) + a pure ``analyze_*``
function that turns the per-run records into checks, measured numbers and figure arrays. The tests
call the same ``analyze_*`` functions on constructed records to show every verdict.

* ``cap.training-statistics`` (2511.00958, TL;DR [summary]; capacity.md section 3, item 9);
* ``cap.local-generalization-bound`` (2511.00958, section 2.5 [summary]; the bound's form is OUR
  reconstruction, :func:`ibnorm_verify.theory.bounds.local_lipschitz_covering_bound`);
* ``ib.empirical-performance`` (2510.25262, section 5 [paper]; numbers audited from ibnorm.md 3.1).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from ..stats import mean_ci
from ..verdict import check_direction, check_precondition
from .base import Claim, Param

__all__ = ["TrainingStatistics", "LocalGeneralizationBound", "EmpiricalPerformance", "CLAIMS",
           "analyze_training_statistics", "analyze_local_bound", "analyze_performance", "paired_test",
           "rank_correlation", "audit_reported_numbers"]


# ============================================================================================ statistics

def paired_test(a, b) -> dict:
    """Paired comparison of per-seed values ``a`` vs ``b`` (same seeds): the mean difference a - b with its
    Student-t CI (paired t), the two-sided paired-t p-value and the exact sign-test p-value."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired_test needs equal, non-empty arrays, got {a.shape} and {b.shape}")
    d = a - b
    m, ci = mean_ci(d)
    t_p = float(stats.ttest_rel(a, b).pvalue) if d.size > 1 and np.std(d) > 0 else math.nan
    npos, nneg = int((d > 0).sum()), int((d < 0).sum())
    sign_p = float(stats.binomtest(npos, npos + nneg, 0.5).pvalue) if npos + nneg else 1.0
    return {"mean_diff": m, "ci": ci, "n": int(d.size), "t_p": t_p, "sign_p": sign_p, "n_pos": npos,
            "n_neg": nneg, "diffs": d.tolist()}


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of (B, n) arrays (nan where a row is constant)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def rank_correlation(x, y, *, n_boot: int = 2000, n_perm: int = 2000, seed: int = 0) -> dict:
    """Spearman rho and Kendall tau of ``x`` vs ``y`` with a percentile bootstrap CI of rho (resampling
    the points; rho = Pearson correlation of average ranks, vectorized) and a one-sided permutation
    p-value for rho > 0 (``(1 + #{rho_perm >= rho}) / (1 + n_perm)``)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 4:
        return {"rho": math.nan, "ci": (math.nan, math.nan), "tau": math.nan, "perm_p": math.nan, "n": int(x.size)}
    rng = np.random.default_rng(seed)
    rho = float(stats.spearmanr(x, y).statistic)
    tau = float(stats.kendalltau(x, y).statistic)
    idx = rng.integers(0, x.size, (n_boot, x.size))
    boots = _pearson_rows(stats.rankdata(x[idx], axis=1), stats.rankdata(y[idx], axis=1))
    boots = boots[np.isfinite(boots)]
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size else (math.nan,) * 2
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    perm = _pearson_rows(np.broadcast_to(rx, (n_perm, x.size)), rng.permuted(np.tile(ry, (n_perm, 1)), axis=1))
    perm_p = float((1 + np.sum(perm >= rho - 1e-12)) / (1 + n_perm))
    return {"rho": rho, "ci": ci, "tau": tau, "perm_p": perm_p, "n": int(x.size)}


def _thin(seq, k: int) -> list:
    """At most ``k`` evenly spaced entries of ``seq`` (always keeping the last)."""
    seq = list(seq)
    if len(seq) <= k:
        return seq
    idx = np.unique(np.linspace(0, len(seq) - 1, k).round().astype(int))
    return [seq[i] for i in idx]


class _one_thread:
    """Run a tiny-model worker on one torch thread (restored afterwards): with two or more threads the
    per-op synchronization of such small tensors costs several times the arithmetic, and workers of a
    process executor would oversubscribe the cores."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)
        return False


def _checkpoint_path(item: dict) -> str | None:
    """Per-run checkpoint file under ``params["checkpoint_dir"]`` (None when empty): an interrupted long
    run (full scale) resumes from its last checkpoint, on top of the per-item result cache of ctx.map."""
    d = item["params"].get("checkpoint_dir", "")
    if not d:
        return None
    import hashlib
    from pathlib import Path

    Path(d).mkdir(parents=True, exist_ok=True)
    return str(Path(d) / (hashlib.sha256(repr(sorted(item.items(), key=lambda kv: kv[0])).encode()).hexdigest()[:20] + ".pt"))


# ============================================================================ cap.training-statistics

def _stats_worker(item: dict) -> dict:
    with _one_thread():
        return _stats_worker_body(item)


def _stats_worker_body(item: dict) -> dict:
    """Train one SmallResNet on synthetic images; return thinned per-step statistics."""
    from ibnorm_verify.verification.models.architectures import SmallResNet
    from ibnorm_verify.verification.training.data import synthetic_images
    from ibnorm_verify.verification.training.trainer import TrainConfig, normalizer_modules, seeded_init, train

    p, seed = item["params"], item["seed"]
    tr = synthetic_images(p["n_train"], size=p["image_size"], task_seed=0, seed=1000 + seed)
    te = synthetic_images(256, size=p["image_size"], task_seed=0, seed=99_999)
    dev = item.get("device", "cpu")
    tr, te = tr.to(dev), te.to(dev)
    model = seeded_init(seed, SmallResNet, 3, tr.num_classes, width=p["width"], blocks=p["blocks"],
                        norm=item["norm"]).to(dev)
    cfg = TrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"], optimizer=p["optimizer"],
                      weight_decay=p["weight_decay"], eval_every=p["steps"], seed=seed,
                      checkpoint_every=max(1, p["steps"] // 10) if p.get("checkpoint_dir") else 0)
    res = train(model, tr, te, cfg, checkpoint=_checkpoint_path(item))
    gam = {n: (1.0 if getattr(m, "weight", None) is None else float(m.weight.detach().abs().max()))
           for n, m in normalizer_modules(model).items()}
    keep = 100
    return {"norm": item["norm"], "seed": seed, "steps": _thin(res.log["step"], keep),
            "norm_var": {k: _thin(v, keep) for k, v in res.log["norm_var"].items()},
            "norm_var_full": {k: v for k, v in res.log["norm_var"].items()},
            "weight_norm": {k: _thin(v, keep) for k, v in res.log["weight_norm"].items()},
            "weight_norm_full": {k: v for k, v in res.log["weight_norm"].items()},
            "gamma_max": gam, "test_acc": res.final["test_acc"], "chance": 1.0 / tr.num_classes}


def _endpoints(series, window: int) -> tuple[float, float]:
    s = np.asarray(series, float)
    w = max(1, min(window, s.size // 4 or 1))
    return float(np.mean(s[:w])), float(np.mean(s[-w:]))


def analyze_training_statistics(records: list[dict], *, window: int = 10) -> dict:
    """Checks from per-run records (see :func:`_stats_worker`): per normalizer type, over seeds,

    * ``var-growth[norm]``: mean over normalizers of log(var_end / var_start) > 0;
    * ``weight-growth[norm]``: mean over weight tensors of log(||W||_end / ||W||_start) > 0;
    * ``regime[norm]``: the fraction of (normalizer, seed) pairs with sigma_end > max|gamma| exceeds 1/2
      (Wilson interval; the regime in which a normalizer divides the Lipschitz constant, capacity.md 2.3);
    * precondition: every run learned (test accuracy above chance + 0.1).

    start/end = the mean of the first/last ``window`` logged steps.
    """
    checks, measured, arrays = [], {}, {}
    learned = all(r["test_acc"] > r["chance"] + 0.1 for r in records)
    checks.append(check_precondition("training-learned", learned,
                                     "every run's test accuracy exceeds chance + 0.1" if learned else
                                     "some run did not learn (test accuracy <= chance + 0.1)",
                                     {"test_acc": [r["test_acc"] for r in records]}))
    for norm in sorted({r["norm"] for r in records}):
        rs = sorted([r for r in records if r["norm"] == norm], key=lambda r: r["seed"])
        vg, wg, reg, vend = [], [], [], []
        for r in rs:
            lv = [math.log(e / s) for s, e in (_endpoints(v, window) for v in r["norm_var_full"].values()) if s > 0 and e > 0]
            lw = [math.log(e / s) for s, e in (_endpoints(v, window) for v in r["weight_norm_full"].values()) if s > 0]
            ends = {k: _endpoints(v, window)[1] for k, v in r["norm_var_full"].items()}
            vg.append(float(np.mean(lv)) if lv else math.nan)
            wg.append(float(np.mean(lw)) if lw else math.nan)
            reg += [math.sqrt(ends[k]) > r["gamma_max"][k] for k in ends]
            vend.append(float(np.mean(list(ends.values()))) if ends else math.nan)
        for name, vals in (("var-growth", vg), ("weight-growth", wg)):
            m, ci = mean_ci(vals)
            if name == "var-growth" and not any(math.isfinite(v) for v in vals):
                continue  # no normalizer in this configuration (norm="none")
            checks.append(check_direction(f"{name}[{norm}]", m, ci, greater_than=0.0, details={"per_seed": vals}))
            measured[f"{name}[{norm}]"] = {"estimate": m, "ci": list(ci)}
        if reg:  # pooled (normalizer, seed) pairs; Wilson score interval of the fraction with sigma > |gamma|
            k = int(sum(reg))
            wci = stats.binomtest(k, len(reg)).proportion_ci(method="wilson")
            checks.append(check_direction(f"regime[{norm}]", k / len(reg), (wci.low, wci.high), greater_than=0.5,
                                          details={"count": k, "pairs": len(reg)}))
            measured[f"regime[{norm}]"] = {"estimate": k / len(reg), "ci": [wci.low, wci.high], "count": f"{k}/{len(reg)}"}
        measured[f"final_mean_var[{norm}]"] = float(np.nanmean(vend))
        arrays[f"steps[{norm}]"] = rs[0]["steps"]
        arrays[f"norm_var[{norm}]"] = [[r["norm_var"][k] for k in sorted(r["norm_var"])] for r in rs]
        arrays[f"norm_names[{norm}]"] = sorted(rs[0]["norm_var"])
        arrays[f"weight_norm[{norm}]"] = [[r["weight_norm"][k] for k in sorted(r["weight_norm"])] for r in rs]
        arrays[f"weight_names[{norm}]"] = sorted(rs[0]["weight_norm"])
    return {"checks": checks, "measured": measured, "arrays": arrays}


class TrainingStatistics(Claim):
    id = "cap.training-statistics"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "During training, normalizer input variances and weight norms grow"
    statement = ("During training the normalizers' input variances and the weight norms increase, and most "
                 "normalizers end with input std above |gamma| (the regime where normalization shrinks the "
                 "Lipschitz constant). Source: the paper's experiments as summarized in its TL;DR [summary]; "
                 "magnitudes and setting unknown, so the test is qualitative (directions with CIs over seeds).")
    conditions = {"model": "SmallResNet (stem + residual basic blocks), synthetic 4-class images (templates + "
                           "Student-t nuisance)", "statistic": "log(end/start), start/end = mean of 10 logged steps",
                  "variance": "biased group variance of each normalizer's input on the training minibatch"}
    params = (
        Param("norms", ["bn", "ln"], tiny=["bn"], help="normalizers (bn, ln = GroupNorm(1), gn, rms)"),
        Param("steps", 100, full=2000, tiny=30, minimum=20),
        Param("width", 8, full=32, tiny=4, minimum=1),
        Param("blocks", 1, full=2, minimum=1),
        Param("image_size", 8, minimum=4),
        Param("n_train", 256, full=5000, tiny=128, minimum=16),
        Param("batch_size", 64, minimum=2),
        Param("lr", 0.05, exclusive_minimum=0.0),
        Param("optimizer", "sgd", choices=("sgd", "adamw")),
        Param("weight_decay", 0.0, minimum=0.0, help="large values shrink the weights (the converse regime)"),
        Param("checkpoint_dir", "", help="per-run training checkpoints (resume an interrupted run); empty = off"),
    )

    def run(self, ctx):
        keys = ("steps", "width", "blocks", "image_size", "n_train", "batch_size", "lr", "optimizer", "weight_decay",
                "checkpoint_dir")
        p = {k: ctx[k] for k in keys}
        items = [{"norm": nm, "seed": s, "params": p, "device": ctx.device} for nm in ctx["norms"] for s in ctx.seeds]
        recs = ctx.map(_stats_worker, items, label="train")
        out = analyze_training_statistics(recs)
        for r in recs:
            r.pop("norm_var_full", None)
            r.pop("weight_norm_full", None)
        return self.evidence(ctx, out["checks"], measured=out["measured"], arrays=out["arrays"],
                             predicted={"var-growth": "> 0", "weight-growth": "> 0", "regime": "> 0.5"},
                             notes=["arrays: steps[norm] (S,), norm_var[norm] (seeds, normalizers, S), "
                                    "weight_norm[norm] (seeds, weights, S), with the names in *_names[norm]."])


# ===================================================================== cap.local-generalization-bound

def _bound_worker(item: dict) -> dict:
    with _one_thread():
        return _bound_worker_body(item)


def _bound_worker_body(item: dict) -> dict:
    """Train one build_network MLP on flattened synthetic images and evaluate the three bounds."""
    from ibnorm_verify.verification.estimators.bounds import (
        local_lipschitz_bound,
        pac_bayes_sharpness_bound,
        spectral_margin_bound,
    )
    from ibnorm_verify.verification.models import build_network
    from ibnorm_verify.verification.training.data import synthetic_images
    from ibnorm_verify.verification.training.trainer import TrainConfig, evaluate, train

    p, seed = item["params"], item["seed"]
    tr = synthetic_images(p["n_train"], size=p["image_size"], label_noise=item["label_noise"], task_seed=1,
                          seed=2000 + seed).flat()
    te = synthetic_images(1024, size=p["image_size"], label_noise=item["label_noise"], task_seed=1,
                          seed=77_777).flat()
    norm = item["norm"]
    ib = norm.startswith("ib-")  # "ib-ln" = LayerNorm grouping with the tanh compression (lam = 1)
    cfg_net = dict(depth=p["depth"], width=p["width"], in_dim=tr.x.shape[1], out_dim=tr.num_classes, gain=p["gain"],
                   activation="relu", norm=norm[3:] if ib else norm, compression="tanh" if ib else "identity",
                   init="gaussian", seed=seed, dtype="float32")
    init = build_network(**cfg_net)
    model = build_network(**cfg_net)
    res = train(model, tr, te, TrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"], seed=seed,
                                           eval_every=p["steps"], log_stats=False))
    model.eval()
    init.eval()
    tr_loss, tr_acc = evaluate(model, tr)
    te_loss, te_acc = evaluate(model, te)
    loc = local_lipschitz_bound(model, tr.x, tr.y, init, max_inputs=p["lip_inputs"], seed=seed)
    bart = spectral_margin_bound(model, tr.x, tr.y, init)
    pac = pac_bayes_sharpness_bound(model, tr.x, tr.y, init, mc_samples=p["mc_samples"], seed=seed)
    return {"norm": item["norm"], "seed": seed, "label_noise": item["label_noise"],
            "train_err": 1 - tr_acc, "test_err": 1 - te_acc, "gap": (1 - te_acc) - (1 - tr_acc),
            "loss_gap": te_loss - tr_loss, "bound": loc["bound"], "bound_attained": loc["bound_attained"],
            "log_arg": loc["log_arg"], "lip_upper": loc["lip_upper"], "lip_lower": loc["lip_lower"],
            "radius": loc["radius"], "gamma": loc["gamma"], "n_params": loc["n_params"],
            "bartlett": bart["bound"], "bartlett_complexity": bart["complexity"], "log_r_a": math.log(bart["r_a"]),
            "pac_bayes": pac["bound"], "pac_sigma": pac["sigma"]}


def analyze_local_bound(records: list[dict], *, validation_ok: bool = True, seed: int = 0) -> dict:
    """Checks from per-run records (see :func:`_bound_worker`):

    * ``tighter[norm]`` for each normalized configuration: the paired (same seed and label noise) mean of
      log(bound_norm) - log(bound_none) < 0;
    * ``tracks-gap``: Spearman rho(bound, measured gap) across every run > 0 (bootstrap CI);
    * precondition: the estimators passed their ground-truth validation and every bound is finite.
    """
    checks, measured, arrays = [], {}, {}
    checks.append(check_precondition("estimator-validation", validation_ok,
                                     "the bound estimators passed their ground-truth checks" if validation_ok
                                     else "an estimator failed its ground-truth validation"))
    finite = all(math.isfinite(r["bound"]) for r in records)
    checks.append(check_precondition("bounds-finite", finite, "every bound is finite" if finite else
                                     "some bound is not finite (no certified Lipschitz constant)"))
    base = {(r["seed"], r["label_noise"]): r for r in records if r["norm"] == "none"}
    for norm in sorted({r["norm"] for r in records} - {"none"}):
        pairs = [(r, base[(r["seed"], r["label_noise"])]) for r in records
                 if r["norm"] == norm and (r["seed"], r["label_noise"]) in base]
        if not pairs:
            continue
        pt = paired_test([math.log(a["bound"]) for a, _ in pairs], [math.log(b["bound"]) for _, b in pairs])
        checks.append(check_direction(f"tighter[{norm}]", pt["mean_diff"], pt["ci"], less_than=0.0,
                                      details={k: pt[k] for k in ("n", "t_p", "sign_p", "diffs")}))
        measured[f"log_bound_ratio[{norm}/none]"] = {"estimate": pt["mean_diff"], "ci": list(pt["ci"]),
                                                     "sign_p": pt["sign_p"]}
        pl = paired_test([math.log(a["lip_upper"]) for a, _ in pairs], [math.log(b["lip_upper"]) for _, b in pairs])
        measured[f"log_lip_ratio[{norm}/none]"] = {"estimate": pl["mean_diff"], "ci": list(pl["ci"])}
    gap = [r["gap"] for r in records]
    rc = rank_correlation([r["bound"] for r in records], gap, seed=seed)
    checks.append(check_direction("tracks-gap", rc["rho"], rc["ci"], greater_than=0.0,
                                  details={"kendall_tau": rc["tau"], "perm_p": rc["perm_p"], "n": rc["n"]}))
    measured["spearman[local bound]"] = {"estimate": rc["rho"], "ci": list(rc["ci"]), "kendall": rc["tau"],
                                         "perm_p": rc["perm_p"]}
    for key, label in (("bound_attained", "local bound, attained L"), ("bartlett", "Bartlett margin"),
                       ("pac_bayes", "PAC-Bayes sharpness")):
        r2 = rank_correlation([r[key] for r in records], gap, n_boot=500, n_perm=500, seed=seed)
        measured[f"spearman[{label}]"] = {"estimate": r2["rho"], "ci": list(r2["ci"]), "perm_p": r2["perm_p"]}
    for norm in sorted({r["norm"] for r in records}):
        rs = [r for r in records if r["norm"] == norm]
        measured[f"mean_bound[{norm}]"] = float(np.mean([r["bound"] for r in rs]))
        measured[f"mean_gap[{norm}]"] = float(np.mean([r["gap"] for r in rs]))
    keys = ("norm", "label_noise", "seed", "gap", "loss_gap", "train_err", "test_err", "bound", "bound_attained",
            "bartlett", "pac_bayes", "lip_upper", "lip_lower", "radius")
    for k in keys:
        arrays[f"points.{k}"] = [r[k] for r in records]
    return {"checks": checks, "measured": measured, "arrays": arrays}


class LocalGeneralizationBound(Claim):
    id = "cap.local-generalization-bound"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "A local-Lipschitz capacity bound is tighter with normalization and tracks the gap"
    statement = ("A local-Lipschitz capacity bound is smaller with normalization than without, and its rank "
                 "across configurations tracks the measured generalization gap. The paper's bound is not "
                 "available; we test OUR reconstruction (ibnorm_verify.theory.bounds.local_lipschitz_covering_bound: covering "
                 "of the ball B(theta_0, R) with the parameter-Lipschitz constant at the trained weights).")
    conditions = {"model": "build_network MLP (ReLU, no bias, Gaussian init), AdamW, synthetic images flattened",
                  "configurations": "norm x label noise x seed", "gap": "test error - train error (0-1)",
                  "L_Theta": "estimate_lipschitz(wrt='params').upper at the trained weights on training inputs",
                  "BN": "eval mode (folded in the Bartlett bound)", "LN/RMS/IBNorm": "local factors",
                  "device": "CPU (small float32 nets; the bound estimators run on CPU whatever --device says)"}
    uses_estimators = ("lipschitz", "bounds")
    params = (
        Param("norms", ["none", "ln", "bn", "ib-ln"], tiny=["none", "ln"],
              help="normalizers compared (none is the baseline; ib-<norm> = IBNorm, tanh, lam=1)"),
        Param("label_noise", [0.0, 0.3], help="label-noise levels (vary the generalization gap)"),
        Param("depth", 3, minimum=2),
        Param("width", 32, full=128, tiny=16, minimum=4),
        Param("gain", 1.4142135623730951, exclusive_minimum=0.0),
        Param("image_size", 4, minimum=2),
        Param("n_train", 256, full=2000, tiny=64, minimum=16),
        Param("steps", 300, full=3000, tiny=40, minimum=1),
        Param("batch_size", 64, minimum=2),
        Param("lr", 3e-3, exclusive_minimum=0.0),
        Param("lip_inputs", 32, full=256, tiny=8, minimum=1),
        Param("mc_samples", 5, full=20, tiny=2, minimum=1),
    )

    def run(self, ctx):
        from ibnorm_verify.verification.estimators.bounds import validate_bounds

        validation = validate_bounds()
        ok = all(r["passed"] for r in validation)
        keys = ("depth", "width", "gain", "image_size", "n_train", "steps", "batch_size", "lr", "lip_inputs",
                "mc_samples")
        p = {k: ctx[k] for k in keys}
        if "none" not in ctx["norms"]:
            raise ValueError("norms must include 'none' (the unnormalized baseline)")
        items = [{"norm": nm, "label_noise": float(ln), "seed": s, "params": p}
                 for nm in ctx["norms"] for ln in ctx["label_noise"] for s in ctx.seeds]
        recs = ctx.map(_bound_worker, items, label="train+bounds")
        out = analyze_local_bound(recs, validation_ok=ok)
        return self.evidence(ctx, out["checks"], measured=out["measured"], arrays=out["arrays"], validation=validation,
                             predicted={"log(bound_norm/bound_none)": "< 0", "spearman(bound, gap)": "> 0"},
                             notes=["The bounds are vacuous in absolute terms at this scale (p >> n); the claim is "
                                    "about their ordering and rank correlation.",
                                    "arrays points.* hold one entry per trained network (bound vs gap scatter)."])


# ============================================================================ ib.empirical-performance

#: method name -> (grouping normalizer, compression)
_LM_METHODS = {"ln": ("ln", "identity"), "rms": ("rms", "identity"), "ib-ln": ("ln", None), "ib-rms": ("rms", None)}
_VIS_METHODS = {"bn": ("bn", "identity"), "ln": ("ln", "identity"), "ib-bn": ("bn", None), "ib-ln": ("ln", None)}
#: the primary comparisons (IBNorm variant, baseline); IB variants keep the baseline's grouping
_PAIRS = {"lm": [("ib-ln", "ln"), ("ib-rms", "rms"), ("ib-ln", "rms")],
          "vision": [("ib-bn", "bn"), ("ib-ln", "ln"), ("ib-bn", "ln")]}


def _perf_worker(item: dict) -> dict:
    with _one_thread():
        return _perf_worker_body(item)


def _perf_worker_body(item: dict) -> dict:
    """One training run of the performance study; returns val/test metrics (LM: excess over the oracle)."""
    from ibnorm_verify.verification.models.architectures import MLP, SmallResNet, TinyGPT
    from ibnorm_verify.verification.training.data import MarkovLanguage, synthetic_images
    from ibnorm_verify.verification.training.trainer import TrainConfig, seeded_init, train

    p, seed = item["params"], item["seed"]
    methods = _LM_METHODS if item["domain"] == "lm" else _VIS_METHODS
    norm, comp = methods[item["method"]]
    comp = p["compression"] if comp is None else comp
    kw = dict(norm=norm, compression=comp, lam=item["lam"], order=item["order"], affine=item["affine"])
    dev = item.get("device", "cpu")
    cfg = TrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=item["lr"], optimizer="adamw",
                      weight_decay=p["weight_decay"], eval_every=p["steps"], seed=seed, log_stats=False,
                      checkpoint_every=max(1, p["steps"] // 10) if p.get("checkpoint_dir") else 0)
    if item["domain"] == "lm":
        lang = MarkovLanguage(p["vocab"], p["branching"], seed=0)
        T = p["seq_len"] + 1
        tr, va, te = (lang.sample(n, T, seed=s) for n, s in ((p["n_train"], 10 + seed), (256, 5000), (512, 6000)))
        oracle = lang.oracle_loss(te)
        tr, va, te = tr.to(dev), va.to(dev), te.to(dev)
        model = seeded_init(seed, TinyGPT, p["vocab"], p["seq_len"], dim=p["dim"], depth=p["depth"], heads=2,
                            **kw).to(dev)
        res = train(model, tr, te, cfg, val_data=va, checkpoint=_checkpoint_path(item))
        return {**{k: item[k] for k in ("domain", "method", "lr", "seed", "lam", "order", "affine")},
                "val_loss": res.final["val_loss"], "test_loss": res.final["test_loss"],
                "test_acc": res.final["test_acc"], "oracle": oracle, "entropy_rate": lang.entropy_rate,
                "excess": res.final["test_loss"] - oracle}
    tr = synthetic_images(p["n_train"], size=p["image_size"], task_seed=2, seed=3000 + seed)
    va = synthetic_images(256, size=p["image_size"], task_seed=2, seed=5000)
    te = synthetic_images(512, size=p["image_size"], task_seed=2, seed=6000)
    tr, va, te = tr.to(dev), va.to(dev), te.to(dev)
    if p["vision_arch"] == "resnet":
        model = seeded_init(seed, SmallResNet, 3, tr.num_classes, width=p["width"], blocks=p["blocks"], **kw)
    else:
        model = seeded_init(seed, MLP, 3 * p["image_size"] ** 2, tr.num_classes, width=p["mlp_width"], depth=2, **kw)
    model = model.to(dev)
    res = train(model, tr, te, cfg, val_data=va, checkpoint=_checkpoint_path(item))
    return {**{k: item[k] for k in ("domain", "method", "lr", "seed", "lam", "order", "affine")},
            "val_loss": res.final["val_loss"], "test_loss": res.final["test_loss"], "test_acc": res.final["test_acc"]}


# The paper's reported numbers (ibnorm.md section 3.1; [reviews] R2): LLaMA-350M, Leaderboard II average.
_REPORTED = {"ibnorm_table": 0.2116, "ibnorm_text": 0.2140, "ln": 0.2003, "rms": 0.2010,
             "quoted_gain_over_ln": 6.84, "quoted_gain_over_rms": 9.51}


def audit_reported_numbers(rep: dict | None = None, tol_pct: float = 0.005) -> list[dict]:
    """Recompute the relative gains quoted in the IBNorm paper's text from its table values.

    Each row: which IBNorm value, which baseline, the recomputed gain (%), the quoted gain (%) and whether
    they agree to ``tol_pct`` percentage points (the quotes have two decimals)."""
    r = dict(_REPORTED if rep is None else rep)
    rows = []
    for src in ("ibnorm_text", "ibnorm_table"):
        for base in ("ln", "rms"):
            gain = 100.0 * (r[src] / r[base] - 1.0)
            quoted = r[f"quoted_gain_over_{base}"]
            rows.append({"ibnorm": f"{src.split('_')[1]} {r[src]:.4f}", "baseline": f"{base} {r[base]:.4f}",
                         "recomputed_gain_pct": round(gain, 3), "quoted_gain_pct": quoted,
                         "matches_quote": abs(gain - quoted) <= tol_pct + 0.005})
    return rows


def _select_lr(recs: list[dict], domain: str, method: str) -> float:
    """The learning rate with the lowest mean validation loss over seeds (equal budget for every method)."""
    lrs = sorted({r["lr"] for r in recs if r["domain"] == domain and r["method"] == method})
    score = {lr: np.mean([r["val_loss"] for r in recs if r["domain"] == domain and r["method"] == method
                          and r["lr"] == lr and r["variant"] == "main"]) for lr in lrs}
    return min(lrs, key=lambda lr: (score[lr] if math.isfinite(score[lr]) else math.inf))


def analyze_performance(recs: list[dict], *, lam: float = 1.0) -> dict:
    """Checks from per-run records (see :func:`_perf_worker`, plus ``variant``: "main" | "lam" | "order" |
    "affine"). Metric: LM = excess test loss over the oracle (lower is better, compared as base - IB);
    vision = test accuracy (IB - base). Every method's LR is chosen on the validation split from the same
    grid; the primary pairs (:data:`_PAIRS`) and the two ablations (compress-first better than
    standardize-first; with-affine better than without) are one-sided paired tests over seeds.
    """
    checks, measured, arrays = [], {}, {}
    sel = {}
    for dom in sorted({r["domain"] for r in recs}):
        methods = sorted({r["method"] for r in recs if r["domain"] == dom and r["variant"] == "main"})
        for m in methods:
            sel[(dom, m)] = _select_lr(recs, dom, m)

        def runs(method, variant="main", **match):
            lr = sel[(dom, method)]
            out = [r for r in recs if r["domain"] == dom and r["method"] == method and r["variant"] == variant
                   and r["lr"] == lr and all(r[k] == v for k, v in match.items())]
            return sorted(out, key=lambda r: r["seed"])

        def score(r):  # larger is better
            return -r["excess"] if dom == "lm" else r["test_acc"]

        metric = "excess test loss over the oracle (nats/token)" if dom == "lm" else "test accuracy"
        for m in methods:
            vals = [(r["excess"] if dom == "lm" else r["test_acc"]) for r in runs(m)]
            est, ci = mean_ci(vals)
            measured[f"{dom}[{m}]"] = {"estimate": est, "ci": list(ci), "lr": sel[(dom, m)]}
            arrays[f"{dom}.per_seed[{m}]"] = vals
            arrays[f"{dom}.mean_ci[{m}]"] = [est, ci[0], ci[1]]
        if dom == "lm":
            rs = runs(methods[0])
            measured["lm.entropy_rate"] = rs[0]["entropy_rate"] if rs else math.nan
            measured["lm.oracle_test_loss"] = rs[0]["oracle"] if rs else math.nan
        for ib, base in _PAIRS[dom]:
            if ib not in methods or base not in methods:
                continue
            a, b = runs(ib), runs(base)
            seeds = sorted({r["seed"] for r in a} & {r["seed"] for r in b})
            a = [score(r) for r in a if r["seed"] in seeds]
            b = [score(r) for r in b if r["seed"] in seeds]
            pt = paired_test(a, b)
            checks.append(check_direction(f"{dom}: {ib} beats {base}", pt["mean_diff"], pt["ci"], greater_than=0.0,
                                          details={"metric": metric, "t_p": pt["t_p"], "sign_p": pt["sign_p"],
                                                   "diffs": pt["diffs"]}))
            measured[f"{dom}: {ib} - {base}"] = {"estimate": pt["mean_diff"], "ci": list(pt["ci"]),
                                                 "sign_p": pt["sign_p"], "t_p": pt["t_p"]}
        # ablations of the IB-LN variant at its selected learning rate
        ib = "ib-ln" if "ib-ln" in methods else None
        if ib is None:
            continue
        main = {r["seed"]: score(r) for r in runs(ib)}
        for variant, label in (("order", "compress_first beats standardize_first"), ("affine", "affine beats no-affine")):
            alt = {r["seed"]: score(r) for r in runs(ib, variant)}
            seeds = sorted(set(main) & set(alt))
            if not seeds:
                continue
            pt = paired_test([main[s] for s in seeds], [alt[s] for s in seeds])
            checks.append(check_direction(f"{dom}: {label}", pt["mean_diff"], pt["ci"], greater_than=0.0,
                                          details={"metric": metric, "sign_p": pt["sign_p"], "diffs": pt["diffs"]}))
            measured[f"{dom}: ablation {variant}"] = {"estimate": pt["mean_diff"], "ci": list(pt["ci"]),
                                                      "sign_p": pt["sign_p"]}
        lam_runs = [r for r in recs if r["domain"] == dom and r["method"] == ib and r["lr"] == sel[(dom, ib)]
                    and (r["variant"] == "lam" or (r["variant"] == "main"))]
        lams = sorted({r["lam"] for r in lam_runs})
        if len(lams) > 1:
            curve = []
            for l_ in lams:
                v = [(r["excess"] if dom == "lm" else r["test_acc"]) for r in lam_runs if r["lam"] == l_]
                est, ci = mean_ci(v)
                curve.append([l_, est, ci[0], ci[1]])
            arrays[f"{dom}.lambda_curve"] = curve
            measured[f"{dom}: best lambda"] = (min if dom == "lm" else max)(curve, key=lambda c: c[1])[0]
    rows = audit_reported_numbers()
    arrays["audit"] = rows
    measured["audit: gain over RMSNorm recomputed from text value (quoted 9.51%)"] = rows[1]["recomputed_gain_pct"]
    measured["audit: gains from table value 0.2116 (LN, RMS)"] = [rows[2]["recomputed_gain_pct"],
                                                                  rows[3]["recomputed_gain_pct"]]
    return {"checks": checks, "measured": measured, "arrays": arrays, "selected_lr": {f"{d}[{m}]": v for (d, m), v in sel.items()}}


class EmpiricalPerformance(Claim):
    id = "ib.empirical-performance"
    paper = "2510.25262"
    provenance = "paper"
    title = "IBNorm beats LN/RMSNorm (language) and BN/LN (vision)"
    statement = ("IBNorm outperforms LN/RMSNorm on small language models and BN/LN on small vision models, "
                 "over several seeds with confidence intervals, at an equal tuning budget; compress-then-"
                 "standardize beats the other order and the affine step is needed ([summary] ablations).")
    conditions = {"lm": "TinyGPT (pre-norm, causal) on a random sparse Markov language with known entropy rate",
                  "vision": "MLP (quick) / SmallResNet (full) on synthetic 4-class images (templates + heavy-tailed "
                            "nuisance, random gain)",
                  "tuning": "same LR grid for every method, chosen by mean validation loss over the seeds",
                  "optimizer": "AdamW", "IBNorm": "compression and lam from params; order compress_first",
                  "tests": "one-sided paired tests over seeds (paired-t CI; sign-test p in details)"}
    params = (
        Param("domains", ["lm", "vision"], help="lm and/or vision"),
        Param("lm_methods", ["ln", "rms", "ib-ln", "ib-rms"]),
        Param("vision_methods", ["bn", "ln", "ib-bn", "ib-ln"]),
        Param("compression", "tanh", choices=("tanh", "log", "root", "softsign")),
        Param("lam", 1.0, exclusive_minimum=0.0),
        Param("lr_grid", [1e-3, 3e-3], full=[3e-4, 1e-3, 3e-3], tiny=[3e-3]),
        Param("lam_grid", [0.3, 3.0], full=[0.1, 0.3, 3.0, 10.0], tiny=[3.0], help="extra lam values (curve)"),
        Param("ablations", True),
        Param("steps", 100, full=3000, tiny=20, minimum=1),
        Param("batch_size", 32, minimum=2),
        Param("weight_decay", 0.0, minimum=0.0),
        Param("vocab", 16, minimum=2), Param("branching", 3, minimum=1),
        Param("seq_len", 16, full=64, minimum=2),
        Param("dim", 32, full=128, tiny=16, minimum=2), Param("depth", 1, full=4, minimum=1),
        Param("n_train", 256, full=4096, tiny=64, minimum=16),
        Param("vision_arch", "mlp", full="resnet", choices=("mlp", "resnet"),
              help="vision model: MLP (quick, CPU) or SmallResNet (full)"),
        Param("mlp_width", 64, minimum=1),
        Param("width", 8, full=32, tiny=4, minimum=1), Param("blocks", 1, full=2, minimum=1),
        Param("image_size", 8, minimum=4),
        Param("ablation_domains", ["lm"], full=["lm", "vision"], help="domains with the lambda curve and ablations"),
        Param("checkpoint_dir", "", help="per-run training checkpoints (resume an interrupted run); empty = off"),
    )

    def run(self, ctx):
        keys = ("compression", "steps", "batch_size", "weight_decay", "vocab", "branching", "seq_len", "dim",
                "depth", "n_train", "width", "blocks", "image_size", "vision_arch", "mlp_width", "checkpoint_dir")
        p = {k: ctx[k] for k in keys}
        lam = float(ctx["lam"])
        base = {"lam": lam, "order": "compress_first", "affine": True, "params": p, "device": ctx.device}
        items = []
        for dom in ctx["domains"]:
            if dom not in ("lm", "vision"):
                raise ValueError(f"unknown domain {dom!r}; use lm and/or vision")
            methods = ctx["lm_methods"] if dom == "lm" else ctx["vision_methods"]
            known = _LM_METHODS if dom == "lm" else _VIS_METHODS
            for m in methods:
                if m not in known:
                    raise ValueError(f"unknown {dom} method {m!r}; known: {sorted(known)}")
                items += [{**base, "domain": dom, "method": m, "lr": float(lr), "seed": s, "variant": "main"}
                          for lr in ctx["lr_grid"] for s in ctx.seeds]
        recs = self._run_items(ctx, items)
        # second stage, at the IB-LN variant's selected LR: lambda curve and the two ablations
        extra = []
        for dom in [d for d in ctx["domains"] if d in ctx["ablation_domains"]]:
            if "ib-ln" not in (ctx["lm_methods"] if dom == "lm" else ctx["vision_methods"]):
                continue
            lr = _select_lr(recs, dom, "ib-ln")
            one = {**base, "domain": dom, "method": "ib-ln", "lr": lr}
            extra += [{**one, "lam": float(l_), "seed": s, "variant": "lam"} for l_ in ctx["lam_grid"] for s in ctx.seeds]
            if ctx["ablations"]:
                extra += [{**one, "order": "standardize_first", "seed": s, "variant": "order"} for s in ctx.seeds]
                extra += [{**one, "affine": False, "seed": s, "variant": "affine"} for s in ctx.seeds]
        recs += self._run_items(ctx, extra)
        out = analyze_performance(recs, lam=lam)
        audit = out["arrays"]["audit"]
        notes = [f"Audit of the paper's numbers (LLaMA-350M, Leaderboard II; ibnorm.md 3.1): IBNorm {r['ibnorm']} "
                 f"vs {r['baseline']}: recomputed gain {r['recomputed_gain_pct']:.2f}% vs quoted {r['quoted_gain_pct']}% "
                 f"-> {'consistent' if r['matches_quote'] else 'INCONSISTENT'}" for r in audit]
        notes += ["The quoted 9.51% over RMSNorm matches neither the text value (6.47%) nor the table value (5.27%).",
                  f"Selected learning rates (validation loss, same grid for all): {out['selected_lr']}",
                  "arrays: <dom>.per_seed[method] (seeds,), <dom>.mean_ci[method] [mean, lo, hi], "
                  "<dom>.lambda_curve rows [lam, mean, lo, hi] (IB-LN), audit rows."]
        return self.evidence(ctx, out["checks"], measured=out["measured"], arrays=out["arrays"],
                             predicted={"IBNorm - baseline (paired, better = positive)": "> 0",
                                        "paper (LLaMA-350M)": "+5.6% over LN, +5.3% over RMSNorm (table values)"},
                             notes=notes, conditions={"selected_lr": out["selected_lr"]})

    @staticmethod
    def _run_items(ctx, items):
        recs = ctx.map(_perf_worker, [{k: v for k, v in it.items() if k != "variant"} for it in items], label="train")
        for r, it in zip(recs, items):
            r["variant"] = it["variant"]
        return recs


CLAIMS = [TrainingStatistics(), LocalGeneralizationBound(), EmpiricalPerformance()]
