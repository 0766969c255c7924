"""Claims of arXiv 2511.00958 measured on controlled networks (Lipschitz constants, loss smoothness).

The theorem texts were not available (``shared/papers/capacity.md`` section 0), so every statement
here is our reconstruction (provenance "reconstructed"); the predictions come from
:mod:`ibnorm_verify.theory.capacity`. Networks come from :func:`ibnorm_verify.verification.models.build_network` (linear chains
W_i = g Q_i by default, the regime where the theory is exact: capacity.md 2.1 and 4.4-4.6), Lipschitz
constants from :func:`ibnorm_verify.verification.estimators.lipschitz.estimate_lipschitz` (attained lower and
certified upper bounds at the inputs), smoothness from :mod:`ibnorm_verify.verification.estimators.smoothness`.

How bounds enter the statistics. For a fit of y = log(Lip) against depth or K, the true y_i of each
point lies in [log lower_i, log upper_i]. The least-squares slope is linear in y, so the slopes
compatible with the boxes form an interval [box_min, box_max]; the reported interval is the union of
that box interval and the 95% Student-t intervals of the fits through the lower and through the
upper values (seed scatter). A wide certificate gap therefore widens the interval and can only push
a verdict to inconclusive, never to supported.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ibnorm_verify.theory.capacity import unnormalized_log_slope

from ..estimators.lipschitz import estimate_lipschitz
from ..estimators.lipschitz import validation_rows as lipschitz_validation
from ..estimators.smoothness import estimate_smoothness
from ..estimators.smoothness import validate as _smoothness_validate
from ..models import build_network
from ..stats import linear_fit_ci
from ..verdict import check_direction, check_precondition, check_value
from .base import Claim, Context, Param

PAPER = "2511.00958"


def smoothness_validation(seed: int = 0) -> list[dict]:  # transitional, until cap_loss_smoothness.py replaces this module
    return [r.to_dict() for r in _smoothness_validate(seed=seed)]
#: numerical resolution of a slope from verdict.linear_fit_ci on exact data: 10 sqrt(float64 eps)
_FIT_RESOLUTION = 10 * math.sqrt(np.finfo(np.float64).eps)

__all__ = ["CLAIMS", "bracket_fit"]


# ------------------------------------------------------------------------------------ helpers

def _inputs(n: int, d: int, seed: int) -> torch.Tensor:
    """(n, d) float64 inputs on the sphere of radius sqrt(d) (unit per-coordinate scale)."""
    gen = torch.Generator().manual_seed(10_000 + int(seed))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x * (math.sqrt(d) / x.norm(dim=1, keepdim=True))


def bracket_fit(x, y_lo, y_hi) -> dict:
    """Slope of y on x when each y_i is only known to lie in [y_lo_i, y_hi_i] (see the module docstring).

    Returns {"slope": mid of the lower/upper fits, "ci": union of the box interval and both t-intervals,
    "box": (box_min, box_max), "fit_lower", "fit_upper"}.
    """
    x, lo, hi = (np.asarray(a, dtype=float) for a in (x, y_lo, y_hi))
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return {"slope": math.nan, "ci": (math.nan, math.nan), "box": (math.nan, math.nan),
                "fit_lower": None, "fit_upper": None}
    c = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    box = (float(np.sum(np.where(c > 0, c * lo, c * hi))), float(np.sum(np.where(c > 0, c * hi, c * lo))))
    fl, fu = linear_fit_ci(x, lo), linear_fit_ci(x, hi)
    ci = (min(box[0], fl["ci"][0], fu["ci"][0]), max(box[1], fl["ci"][1], fu["ci"][1]))
    return {"slope": 0.5 * (fl["slope"] + fu["slope"]), "ci": ci, "box": box, "fit_lower": fl, "fit_upper": fu}


def _validation_check(rows: list[dict], what: str):
    bad = [r["case"] for r in rows if not r["passed"]]
    return check_precondition(f"{what} ground-truth validation", not bad,
                              "all ground-truth cases passed" if not bad else f"failed: {', '.join(bad)}")


# ----------------------------------------------------------------------------- module workers

def lipschitz_point(item: tuple) -> dict:
    """Worker: (wrt, gain, depth, norm, every, activation, init, width, n_inputs, seed) -> bounds + scales."""
    wrt, gain, depth, norm, every, activation, init, width, n_inputs, seed = item
    net = build_network(depth=int(depth), width=int(width), gain=float(gain), norm=norm, every=int(every),
                        activation=activation, init=init, seed=int(seed))
    est = estimate_lipschitz(net, _inputs(int(n_inputs), int(width), int(seed)), wrt=wrt, seed=int(seed))
    scales = np.asarray(est.details.get("norm_scales", []), dtype=float)          # (K, N)
    gam = np.asarray(est.details.get("norm_gamma_max", []), dtype=float)          # (K,)
    pred = float(np.min(np.sum(np.log(scales / gam[:, None]), axis=0))) if scales.size else 0.0
    return {"lower": est.lower, "upper": est.upper, "gap": est.gap, "pred_log_reduction": pred,
            "mean_log_sigma": float(np.mean(np.log(scales))) if scales.size else math.nan}


def smoothness_point(item: tuple) -> dict:
    """Worker: (gain, depth, norm, every, activation, width, n_data, seed) -> grad / Hessian norms."""
    gain, depth, norm, every, activation, width, n_data, seed = item
    net = build_network(depth=int(depth), width=int(width), gain=float(gain), norm=norm, every=int(every),
                        activation=activation, seed=int(seed))
    x = _inputs(int(n_data), int(width), int(seed))
    gen = torch.Generator().manual_seed(20_000 + int(seed))
    y = torch.randn(int(n_data), int(width), generator=gen, dtype=torch.float64)
    est = estimate_smoothness(net, x, y, tol=1e-4, max_iter=200, seed=int(seed))
    return {"grad_norm": est.grad_norm, "hessian_norm": est.hessian_norm, "converged": est.converged,
            "residual": est.residual, "iterations": est.iterations}


# --------------------------------------------------------------------------------- the claims

class _DepthSweep(Claim):
    """Shared experiment of the two unnormalized-growth claims (input / params): log Lip vs depth."""

    paper = PAPER
    provenance = "reconstructed"
    wrt = "input"
    uses_estimators = ("lipschitz",)
    params = (
        Param("gains", [1.5, 2.0], help="weight gains g (each a separate fit)", exclusive_minimum=0.0),
        Param("depths", [2, 4, 6, 8], [2, 4, 6, 8, 10, 12, 16], help="depths L", minimum=1, tiny=[2, 3, 4]),
        Param("width", 16, 32, help="width d", minimum=2, tiny=8),
        Param("n_inputs", 8, 32, help="inputs at which the local constant is taken", minimum=1, tiny=4),
        Param("activation", "identity", choices=("identity", "relu", "tanh")),
        Param("init", "orthogonal", choices=("orthogonal", "gaussian")),
    )

    def _offset(self, depth: int, width: int) -> float:
        """Part of log Lip that is not linear in depth (0 for the input constant)."""
        return 0.0

    def run(self, ctx: Context):
        gains, depths = list(ctx["gains"]), sorted(set(ctx["depths"]))
        if len(depths) < 3:
            raise ValueError("need at least 3 distinct depths for a slope fit")
        w, n, act, init = ctx["width"], ctx["n_inputs"], ctx["activation"], ctx["init"]
        validation = lipschitz_validation(seed=ctx.seeds[0])
        items = [(self.wrt, g, L, norm, 1, act, init, w, n, s)
                 for g in gains for norm in ("none", "ln") for s in ctx.seeds for L in depths]
        res = dict(zip(items, ctx.map(lipschitz_point, items, label=f"{self.id} sweep")))
        exact_rate = act == "identity" and init == "orthogonal"
        tol_est = max(max(abs(math.log(r["lower"] / r["exact"])), abs(math.log(r["upper"] / r["exact"])))
                      if r["lower"] > 0 and math.isfinite(r["upper"]) else math.inf for r in validation)
        checks = [_validation_check(validation, "Lipschitz estimator")]
        measured, predicted, arrays = {}, {}, {"gains": gains, "depths": depths, "seeds": list(ctx.seeds)}
        for key in ("log_lip_lower", "log_lip_upper", "log_lip_norm_lower", "log_lip_norm_upper"):
            arrays[key] = []
        for g in gains:
            for norm, tag in (("none", ""), ("ln", "norm_")):
                lo = [[math.log(res[(self.wrt, g, L, norm, 1, act, init, w, n, s)]["lower"]) for L in depths]
                      for s in ctx.seeds]
                hi = [[math.log(res[(self.wrt, g, L, norm, 1, act, init, w, n, s)]["upper"]) for L in depths]
                      for s in ctx.seeds]
                arrays[f"log_lip_{tag}lower"].append(lo)
                arrays[f"log_lip_{tag}upper"].append(hi)
            lo, hi = np.asarray(arrays["log_lip_lower"][-1]), np.asarray(arrays["log_lip_upper"][-1])
            off = np.asarray([self._offset(L, w) for L in depths])
            xs = np.tile(depths, len(ctx.seeds))
            fit = bracket_fit(xs, (lo - off).ravel(), (hi - off).ravel())
            pred = unnormalized_log_slope(g, act)
            c = xs - xs.mean()
            # estimator error per point -> slope error, plus the numerical resolution of the t-interval
            # (scipy's stderr goes through 1 - r^2, resolved to ~sqrt(machine eps) relative)
            slope_tol = tol_est * float(np.abs(c / (c ** 2).sum()).sum()) + _FIT_RESOLUTION * max(1.0, abs(pred))
            measured[f"slope g={g:g}"] = {"estimate": fit["slope"], "ci": list(fit["ci"]), "box": list(fit["box"])}
            predicted[f"slope g={g:g}"] = pred
            checks.append(check_direction(f"exponential growth in depth (g={g:g})", fit["slope"], fit["ci"],
                                          greater_than=0.0))
            if exact_rate:
                checks.append(check_value(f"slope = log g (g={g:g})", fit["slope"], fit["ci"], pred,
                                          abs_tol=slope_tol, details={"tolerance_source": "estimator validation"}))
            else:
                checks.append(check_direction(f"slope <= log g (g={g:g}; product bound)", fit["slope"], fit["ci"],
                                              less_than=pred + slope_tol))
        notes = [f"Slope tolerance from the estimator validation: max |log(bound/exact)| = {tol_est:.2e} per point.",
                 "The LayerNorm arrays (log_lip_norm_*) are the same weights with LN after every layer, for the figure."]
        if not exact_rate:
            notes.append(f"activation={act}, init={init}: log g is only an upper bound on the rate (ibnorm_verify.theory.capacity).")
        return self.evidence(ctx, checks, measured=measured, predicted=predicted, arrays=arrays,
                             validation=validation, notes=notes,
                             conditions={"activation": act, "init": init, "width": w, "bias": False,
                                         "estimator": "estimate_lipschitz, r=0 (local at the inputs), power "
                                                      "iteration lower / SVD-product upper"})


class UnnormalizedExponentialInput(_DepthSweep):
    id = "cap.unnormalized-exponential-input"
    title = "Unnormalized nets: input-Lipschitz constant grows exponentially with depth"
    statement = ("For every weight gain g > 1 (a continuum of networks), the input-Lipschitz constant of an "
                 "unnormalized depth-L network grows like g^L: log Lip vs L has slope log g (exact for linear "
                 "orthogonal chains; an upper bound on the rate with ReLU/tanh).")
    conditions = {"gain": "> 1 (each listed gain is tested)", "weights": "W_i = g Q_i"}
    wrt = "input"


class UnnormalizedExponentialParams(_DepthSweep):
    id = "cap.unnormalized-exponential-params"
    title = "Unnormalized nets: parameter-Lipschitz constant grows exponentially with depth"
    statement = ("The same for the Lipschitz constant with respect to the parameters: for linear chains "
                 "||J_theta|| = sqrt(L) g^(L-1) ||x||, so log Lip - 0.5 log L has slope log g in L.")
    conditions = {"gain": "> 1 (each listed gain is tested)", "weights": "W_i = g Q_i", "||x||": "sqrt(width)"}
    wrt = "params"

    def _offset(self, depth: int, width: int) -> float:
        # log(sqrt(L) ||x|| / g) of the exact linear-chain law; removing it leaves (L) log g
        return 0.5 * math.log(depth)


class NormalizationExponentialReduction(Claim):
    id = "cap.normalization-exponential-reduction"
    paper = PAPER
    provenance = "reconstructed"
    title = "K normalizers divide the Lipschitz constant by ~ prod of their input std devs"
    statement = ("Inserting K normalizers (one every k layers, depth L = kK) divides the input-Lipschitz "
                 "constant by about prod_j sigma_j/|gamma_j|: log(Lip_unnorm/Lip_norm) grows linearly in K "
                 "(an exponential reduction) at the rate of sum_j log(sigma_j/|gamma_j|). The reconstruction "
                 "predicts this only when sigma_j > |gamma_j|; when sigma_j < |gamma_j| the same law is an "
                 "increase, and the reduction claim must come out not supported.")
    conditions = {"regime": "sigma_j > |gamma_j| (gain > 1 for LN after every k layers of g Q_i)"}
    uses_estimators = ("lipschitz",)
    params = (
        Param("gain", 2.0, help="weight gain g of the controlled net", exclusive_minimum=0.0),
        Param("K", [1, 2, 3, 4], [1, 2, 3, 4, 6, 8], help="numbers of normalizers", minimum=1, tiny=[1, 2, 3]),
        Param("every", 2, help="a normalizer after every k-th layer (depth = every * K)", minimum=1),
        Param("norm", "ln", choices=("ln", "rms", "gn")),
        Param("width", 16, 32, minimum=4, tiny=8),
        Param("n_inputs", 8, 32, minimum=1, tiny=4),
        Param("activation", "identity", choices=("identity", "relu", "tanh")),
        Param("rel_tol", 0.1, help="'about': allowed relative deviation of the rate from the product law",
              exclusive_minimum=0.0),
        Param("phase_gains", [0.5, 1.0, 1.5, 2.0], [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0],
              help="gains of the gain x K phase diagram (first seed only)", exclusive_minimum=0.0,
              tiny=[0.5, 2.0]),
    )

    def run(self, ctx: Context):
        g, ks, k, norm = ctx["gain"], sorted(set(ctx["K"])), ctx["every"], ctx["norm"]
        if len(ks) < 3:
            raise ValueError("need at least 3 distinct K values for a slope fit")
        w, n, act = ctx["width"], ctx["n_inputs"], ctx["activation"]
        validation = lipschitz_validation(seed=ctx.seeds[0])

        def item(gain, K, nrm, s):
            return ("input", gain, k * K, nrm, k, act, "orthogonal", w, n, s)

        jobs = [(gain, s) for gain in [g] for s in ctx.seeds] + \
               [(gain, ctx.seeds[0]) for gain in ctx["phase_gains"] if gain != g]
        items = [item(gain, K, nrm, s) for gain, s in jobs for K in ks for nrm in ("none", norm)]
        res = dict(zip(items, ctx.map(lipschitz_point, items, label=f"{self.id} sweep")))

        def point(gain, K, s):
            un, nm = res[item(gain, K, "none", s)], res[item(gain, K, norm, s)]
            lo = math.log(un["lower"]) - math.log(nm["upper"])
            hi = math.log(un["upper"]) - math.log(nm["lower"])
            return lo, hi, nm["pred_log_reduction"], nm["gap"]

        pts = np.asarray([[point(g, K, s) for K in ks] for s in ctx.seeds])     # (S, nK, 4)
        xs = np.tile(ks, len(ctx.seeds))
        fit = bracket_fit(xs, pts[..., 0].ravel(), pts[..., 1].ravel())
        pfit = linear_fit_ci(xs, pts[..., 2].ravel())
        checks = [
            _validation_check(validation, "Lipschitz estimator"),
            check_direction("exponential reduction in K (slope of log Lip_unnorm/Lip_norm)", fit["slope"],
                            fit["ci"], greater_than=0.0),
            check_value("rate = product law sum_j log(sigma_j/|gamma_j|) per normalizer", fit["slope"], fit["ci"],
                        pfit["slope"], rel_tol=ctx["rel_tol"]),
        ]
        phase_g = sorted(set(ctx["phase_gains"]) | {g})
        phase = [[float(np.mean([sum(point(gg, K, s)[:2]) / 2 for s in ([*ctx.seeds] if gg == g else [ctx.seeds[0]])]))
                  for K in ks] for gg in phase_g]
        phase_pred = [[float(np.mean([point(gg, K, s)[2] for s in ([*ctx.seeds] if gg == g else [ctx.seeds[0]])]))
                       for K in ks] for gg in phase_g]
        sig = float(np.mean([res[item(g, K, norm, s)]["mean_log_sigma"] for K in ks for s in ctx.seeds]))
        regime = "reduces" if sig > 0 else "amplifies"
        return self.evidence(
            ctx, checks,
            measured={"log_reduction_slope": {"estimate": fit["slope"], "ci": list(fit["ci"])},
                      "mean_log_sigma": sig, "max_gap_normalized": float(pts[..., 3].max())},
            predicted={"log_reduction_slope (product law)": pfit["slope"], "regime (sigma vs |gamma|=1)": regime,
                       "slope from gain alone (every*log g)": k * math.log(g)},
            arrays={"K": ks, "seeds": list(ctx.seeds), "log_reduction_lower": pts[..., 0].tolist(),
                    "log_reduction_upper": pts[..., 1].tolist(), "log_reduction_pred": pts[..., 2].tolist(),
                    "phase_gains": phase_g, "phase_log_reduction": phase, "phase_log_reduction_pred": phase_pred},
            validation=validation,
            notes=["log reduction bracket per point: [log lower_un - log upper_norm, log upper_un - log lower_norm].",
                   "Product-law prediction per point: min over inputs of sum_j log(sqrt(var_j+eps)/|gamma_j|), "
                   "with var_j the normalizer-input variances measured at the inputs (ibnorm_verify.theory.capacity.log_reduction)."],
            conditions={"gain": g, "every": k, "norm": norm, "activation": act, "width": w, "eps": 1e-5,
                        "gamma": 1.0, "regime": regime},
        )


class LossSmoothness(Claim):
    id = "cap.loss-smoothness"
    paper = PAPER
    provenance = "reconstructed"
    title = "Normalization smooths the loss exponentially in K"
    statement = ("With K normalizers (one every k layers, depth kK), the loss-gradient norm and the Hessian "
                 "spectral norm w.r.t. the parameters are smaller than for the same unnormalized weights by a "
                 "factor that grows exponentially in K (log ratio linear in K with a positive slope).")
    conditions = {"regime": "gain > 1 (sigma_j > |gamma_j|)", "loss": "0.5 mean ||f(x) - y||^2, y ~ N(0, I)"}
    uses_estimators = ("smoothness",)
    params = (
        Param("gain", 2.0, exclusive_minimum=0.0),
        Param("K", [1, 2, 3, 4], [1, 2, 3, 4, 6], minimum=1, tiny=[1, 2, 3]),
        Param("every", 2, minimum=1),
        Param("norm", "ln", choices=("ln", "rms", "gn")),
        Param("width", 8, 16, minimum=4, tiny=4),
        Param("n_data", 32, 64, minimum=2, tiny=16),
        Param("activation", "identity", choices=("identity", "relu", "tanh")),
    )

    def run(self, ctx: Context):
        g, ks, k, norm = ctx["gain"], sorted(set(ctx["K"])), ctx["every"], ctx["norm"]
        if len(ks) < 3:
            raise ValueError("need at least 3 distinct K values for a slope fit")
        w, n, act = ctx["width"], ctx["n_data"], ctx["activation"]
        validation = smoothness_validation(seed=ctx.seeds[0])
        items = [(g, k * K, nrm, k, act, w, n, s) for s in ctx.seeds for K in ks for nrm in ("none", norm)]
        res = dict(zip(items, ctx.map(smoothness_point, items, label=f"{self.id} sweep")))
        arr = {f"{q}{tag}": [[math.log(res[(g, k * K, nrm, k, act, w, n, s)][q + "_norm"]) for K in ks]
                             for s in ctx.seeds]
               for q in ("grad", "hessian") for nrm, tag in (("none", "_unnorm"), (norm, ""))}
        xs = np.tile(ks, len(ctx.seeds))
        checks = [_validation_check(validation, "Hessian estimator"),
                  check_precondition("Hessian power iteration converged (tol 1e-4)",
                                     all(r["converged"] for r in res.values()),
                                     f"{sum(not r['converged'] for r in res.values())} of {len(res)} runs hit max_iter")]
        measured = {}
        for q in ("grad", "hessian"):
            ratio = (np.asarray(arr[f"{q}_unnorm"]) - np.asarray(arr[q])).ravel()
            fit = linear_fit_ci(xs, ratio)
            measured[f"{q} log-ratio slope"] = {"estimate": fit["slope"], "ci": list(fit["ci"])}
            checks.append(check_direction(f"{q} norm: exponential smoothing in K (slope of log unnorm/norm)",
                                          fit["slope"], fit["ci"], greater_than=0.0))
        return self.evidence(
            ctx, checks, measured=measured,
            predicted={"sign of the slopes": "> 0", "reference rate (input-Lipschitz reduction, every*log g)":
                       k * math.log(g), "exponent": "not available from the paper (capacity.md 2.4)"},
            arrays={"K": ks, "seeds": list(ctx.seeds), "log_grad_norm": arr["grad"],
                    "log_grad_norm_unnorm": arr["grad_unnorm"], "log_hessian_norm": arr["hessian"],
                    "log_hessian_norm_unnorm": arr["hessian_unnorm"]},
            validation=validation,
            notes=["Hessian norm = max_i |lambda_i| by HVP power iteration (an attained lower bound, tol 1e-4)."],
            conditions={"gain": g, "every": k, "norm": norm, "activation": act, "width": w, "n_data": n},
        )


CLAIMS = [LossSmoothness()]
