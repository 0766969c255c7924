"""Claims about one normalization operation.

* ``cap.norm-jacobian`` (arXiv 2511.00958; our reading of its single-normalizer lemma): the Jacobian
  spectral norm of LN, BN (train mode), GN and IN at x is |gamma|/sqrt(var(x)+eps) (RMSNorm:
  |gamma|/sqrt(ms(x)+eps)). Prediction: :mod:`ibnorm_verify.theory.jacobians` (derived and verified with sympy).
  Measurement: autograd Jacobians (fp64) of the real ``torch.nn`` layers and of the ``ibnorm`` layers
  with the identity compression, largest singular value by SVD.
* ``ib.standardization`` (arXiv 2510.25262, section "IBNorm" as reported by the reviews): before the
  affine, IBNorm's output has zero mean and unit variance per group (up to eps), the compression is
  bounded as stated, and the identity limit recovers LN/RMSNorm/BN/GN. Measured for every registered
  compression x grouping (LN, RMS, BN train, GN) x lambda x seed.

Tolerances (fp64): :data:`TOL_VALUE` = 1e-10 absolute for standardized moments and identity limits
(round-off of a mean/variance over n <= 1e3 values is about n * 1.1e-16 <= 1e-13: three orders of
margin; the smallest effect the checks must see, eps/(var+eps) with eps = 1e-5, is 1e-6 or more), and
:data:`TOL_JACOBIAN` = 1e-8 relative for Jacobian norms (SVD error of the top singular value is about
1e-15 ||J||; the smallest effect to detect, the eps term at var ~ 1, is 5e-6 relative).
"""
from __future__ import annotations

import functools
import math
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import ibnorm
from ibnorm import functional as IBF
from ibnorm.compression import COMPRESSIONS, ROOT_DELTA, Compression, get_compression, validate_lam
from ibnorm_verify.theory import jacobians as TJ

from ..stats import linear_fit_ci, mean_ci
from ..verdict import check_direction, check_precondition, check_value
from .base import Claim, Context, Param

__all__ = ["NormJacobian", "Standardization", "CLAIMS", "TOL_VALUE", "TOL_JACOBIAN", "GROUPINGS",
           "spectral_norm", "autograd_validation_rows"]

TOL_VALUE = 1e-10
TOL_JACOBIAN = 1e-8
DTYPE = torch.float64
JAC_KINDS = ("layer", "batch", "group", "instance", "rms")
GROUPINGS = ("layer", "rms", "batch", "group")


# ================================================================================== shared helpers

def _one_thread(fn):
    """Run a sweep item with one intra-op thread (restored afterwards): the tensors here are tiny, and on a
    shared 2-core machine thread contention made each autograd call ~100x slower."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*a, **kw)
        finally:
            torch.set_num_threads(n)
    return wrapper


def _gen(seed: int, *tags) -> torch.Generator:
    """A generator seeded from the seed and the item's tags (stable across processes)."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + zlib.crc32(repr(tags).encode()) % 1_000_003)


def spectral_norm(fn, x: torch.Tensor) -> float:
    """Largest singular value of the autograd Jacobian of ``fn`` at ``x`` (fp64, SVD).

    The Jacobian of a map R^numel -> R^numel is built with ``torch.autograd.functional.jacobian``.
    """
    J = torch.autograd.functional.jacobian(fn, x, vectorize=True)  # (*x.shape, *x.shape), one batched backward
    J = J.reshape(x.numel(), x.numel())
    return float(torch.linalg.matrix_norm(J, ord=2))


def autograd_validation_rows() -> list[dict]:
    """Ground truth for the Jacobian-norm estimator: maps whose spectral norm is known exactly."""
    rows = []
    g = torch.Generator().manual_seed(12345)
    for n in (3, 8, 17):
        q, _ = torch.linalg.qr(torch.randn(n, n, dtype=DTYPE, generator=g))
        sv = torch.linspace(0.1, 2.5, n, dtype=DTYPE)
        A = q * sv  # A = Q diag(sv): singular values sv, norm 2.5
        x = torch.randn(n, dtype=DTYPE, generator=g)
        est = spectral_norm(lambda t: A @ t, x)
        rows.append({"estimator": "autograd-jacobian-svd", "case": f"linear map Q diag(0.1..2.5), n={n}",
                     "expected": 2.5, "measured": est, "rel_error": abs(est - 2.5) / 2.5,
                     "tolerance": TOL_JACOBIAN, "passed": abs(est - 2.5) / 2.5 <= TOL_JACOBIAN})
    # a nonlinear map with a known Jacobian: x -> tanh(x) elementwise, norm max(1 - tanh(x)^2)
    x = torch.tensor([0.3, -1.2, 2.0, 0.05], dtype=DTYPE)
    exp = float((1 - torch.tanh(x) ** 2).max())
    est = spectral_norm(torch.tanh, x)
    rows.append({"estimator": "autograd-jacobian-svd", "case": "elementwise tanh", "expected": exp,
                 "measured": est, "rel_error": abs(est - exp) / exp, "tolerance": TOL_JACOBIAN,
                 "passed": abs(est - exp) / exp <= TOL_JACOBIAN})
    return rows


def _envelope_check(name: str, errors, tol: float, details: dict | None = None):
    """``check_value`` of signed errors against 0: estimate = mean, interval = [min, max] of all errors.

    The envelope (not a confidence interval of the mean) is used because the claim is about every
    case: supported iff every error is within +-tol; refuted iff all errors lie beyond tol on one side.
    """
    e = np.asarray(errors, dtype=float)
    d = {"n_cases": int(e.size), "interval": "envelope [min, max] over all cases (seeds x settings)"}
    d.update(details or {})
    return check_value(name, float(e.mean()), (float(e.min()), float(e.max())), 0.0, abs_tol=tol, details=d,
                       envelope=True)


def _worst(values) -> float:
    """The entry of largest magnitude, with its sign."""
    v = np.asarray(values, dtype=float).ravel()
    return float(v[np.argmax(np.abs(v))])


# ============================================================================= cap.norm-jacobian

def _jac_layer(kind: str, source: str, eps: float, dim: int, channels: int) -> tuple[nn.Module, tuple, dict]:
    """The module, the input shape and the kwargs for the theory formula, for one normalizer kind."""
    ident = dict(compression="identity")
    if kind == "layer":
        m = nn.LayerNorm(dim, eps=eps) if source == "torch" else ibnorm.IBLayerNorm(dim, eps=eps, **ident)
        return m, (3, dim), {}
    if kind == "rms":
        m = nn.RMSNorm(dim, eps=eps) if source == "torch" else ibnorm.IBRMSNorm(dim, eps=eps, **ident)
        return m, (3, dim), {}
    if kind == "batch":  # one group per channel over a batch of `dim` samples, batch statistics
        m = nn.BatchNorm1d(channels, eps=eps) if source == "torch" else ibnorm.IBBatchNorm1d(channels, eps=eps, **ident)
        return m, (dim, channels), {}
    g = 2 if kind == "group" else channels  # instance = GroupNorm with one channel per group
    m = nn.GroupNorm(g, channels, eps=eps) if source == "torch" else ibnorm.IBGroupNorm(g, channels, eps=eps, **ident)
    return m, (2, channels, dim), {"num_groups": g}


@_one_thread
def _jacobian_item(item: tuple) -> dict:
    """One (kind, source, eps, seed, dim, gamma_mode): measured ||J||_2 vs the formula."""
    kind, source, eps, seed, dim, gamma_mode = item
    channels = 4
    gen = _gen(seed, "jac", kind, eps, dim, gamma_mode)
    m, shape, kw = _jac_layer(kind, source, eps, dim, channels)
    m = m.to(DTYPE).train()
    # per-sample (LN/GN/IN/RMS) or per-channel (BN) scales so that the max over groups matters
    x = torch.randn(shape, dtype=DTYPE, generator=gen)
    axis = 1 if kind == "batch" else 0
    scale_shape = [1] * len(shape)
    scale_shape[axis] = shape[axis]
    x = x * torch.exp(torch.randn(scale_shape, dtype=DTYPE, generator=gen)) + torch.randn(scale_shape, dtype=DTYPE, generator=gen)
    sign = 1.0 if torch.rand((), generator=gen) < 0.5 else -1.0
    with torch.no_grad():
        if gamma_mode == "scalar":
            m.weight.fill_(sign * (0.5 + 1.5 * float(torch.rand((), generator=gen))))
        else:
            m.weight.copy_(torch.randn(m.weight.shape, dtype=DTYPE, generator=gen))
        if getattr(m, "bias", None) is not None:
            m.bias.copy_(torch.randn(m.bias.shape, dtype=DTYPE, generator=gen))
    measured = spectral_norm(m, x)
    predicted = TJ.lemma_norm(kind, x, m.weight.detach(), eps, **kw)  # max |gamma|/sqrt(var+eps), literally
    return {"measured": measured, "predicted": predicted, "rel_error": (measured - predicted) / predicted}


@_one_thread
def _scaling_item(item: tuple) -> dict:
    """||J(c x)|| / ||J(x)|| for a centered row x (nn.LayerNorm, gamma = 1), several c and eps."""
    seed, dim, eps_list, cs = item
    gen = _gen(seed, "scaling", dim)
    x = torch.randn(1, dim, dtype=DTYPE, generator=gen)
    x = x - x.mean()
    var = float(x.var(unbiased=False))
    out = {}
    for eps in eps_list:
        m = nn.LayerNorm(dim, eps=eps).to(DTYPE)
        base = spectral_norm(m, x)
        ratios = [spectral_norm(m, c * x) / base for c in cs]
        out[eps] = (ratios, TJ.scaling_factor(np.asarray(cs), var, eps).tolist())
    return out


@_one_thread
def _blowup_item(item: tuple) -> dict:
    """||J|| of nn.LayerNorm (gamma = 1) at x = sigma z as sigma -> 0, for eps = 0 and eps > 0."""
    seed, dim, eps, sigmas = item
    gen = _gen(seed, "blowup", dim)
    z = torch.randn(1, dim, dtype=DTYPE, generator=gen)
    z = (z - z.mean()) / z.std(unbiased=False)  # exact unit biased std, so std(sigma z) = sigma
    m0 = nn.LayerNorm(dim, eps=0.0).to(DTYPE)
    me = nn.LayerNorm(dim, eps=eps).to(DTYPE)
    n0 = [spectral_norm(m0, s * z) for s in sigmas]
    ne = [spectral_norm(me, s * z) for s in sigmas]
    return {"eps0": n0, "eps": ne}


@_one_thread
def _ib_jacobian_item(item: tuple) -> dict:
    """IBLayerNorm with a non-identity compression: measured ||J||, our bound and the LN formula."""
    comp_name, lam, seed, dim, eps, scale = item
    gen = _gen(seed, "ibjac", comp_name, lam, dim)
    x = scale * torch.randn(3, dim, dtype=DTYPE, generator=gen)
    m = ibnorm.IBLayerNorm(dim, eps=eps, compression=comp_name, lam=lam, backend="torch").to(DTYPE)
    measured = spectral_norm(m, x)
    bound = TJ.ib_jacobian_norm_bound("layer", x, 1.0, eps, compression=comp_name, lam=lam)
    ln = TJ.jacobian_norm_formula("layer", x, 1.0, eps)
    return {"measured": measured, "bound": bound, "ln_formula": ln}


def _symbolic_rows() -> list[dict]:
    rows = []
    for kind, shape in (("layer", (1, 3)), ("rms", (1, 3)), ("batch", (3, 1)), ("instance", (1, 1, 3)),
                        ("group", (1, 2, 3))):
        sj = TJ.symbolic_jacobian(kind, shape)
        rows.append({"estimator": "sympy derivation (ibnorm_verify.theory.jacobians)", "case": f"{kind} {list(shape)}",
                     "expected": "all identities hold", "measured": f"{sum(sj.verified.values())}/{len(sj.verified)}",
                     "passed": sj.ok, "identities": sj.verified})
    return rows


class NormJacobian(Claim):
    id = "cap.norm-jacobian"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "One normalizer has local Lipschitz constant |gamma|/sqrt(var+eps)"
    statement = ("The Jacobian spectral norm of LN, BN (train mode), GN and IN at z equals |gamma|/sqrt(var(z)+eps) "
                 "(biased variance of the group; block-diagonal layers: the max over groups); the RMSNorm analogue "
                 "is |gamma|/sqrt(ms(z)+eps). Our reading of the paper's single-normalizer lemma: the formula is "
                 "[checked] mathematics (capacity.md 2.2), exact for scalar gamma and groups of >= 3 values.")
    conditions = {"dtype": "float64", "gamma": "scalar (gamma_mode=scalar)", "bn_mode": "train (batch statistics)",
                  "measurement": "torch.autograd.functional.jacobian + SVD", "tolerance_rel": TOL_JACOBIAN}
    params = (
        Param("kinds", list(JAC_KINDS), help="normalizer kinds", choices=JAC_KINDS),
        Param("eps_values", [1e-12, 1e-5, 1.0], help="eps of the layers (1e-12 = '0-ish': nn.BatchNorm refuses "
                                                   "eps = 0 in training)", minimum=0.0),
        Param("dim", 8, 16, help="values per group (LN/RMS features, BN batch size, IN/GN spatial length)", minimum=2),
        Param("gamma_mode", "scalar", help="scalar gain (the formula is exact) or a random per-element vector "
                                           "(only the bound max|gamma|/s holds)", choices=("scalar", "vector")),
        Param("ib_compressions", ["all"], help="compressions for the IB measurement ('all' = every registered "
                                               "non-identity one)"),
        Param("ib_lams", [0.5, 1.0, 4.0], help="lambdas for the IB measurement", exclusive_minimum=0.0),
        Param("scaling_cs", [1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e3], help="input scales c",
              exclusive_minimum=0.0),
        Param("blowup_sigmas", [1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1.0], help="input std sigma -> 0",
              exclusive_minimum=0.0),
        Param("blowup_eps", 1e-5, help="eps > 0 of the bounded branch of the blow-up curve", exclusive_minimum=0.0),
        Param("symbolic", True, help="re-run the sympy derivation as a precondition"),
    )

    def run(self, ctx: Context):
        p = ctx.params
        seeds = list(ctx.seeds)
        checks, validation, measured, predicted, arrays, notes = [], [], {}, {}, {}, []

        # the estimator's ground truth and the symbolic derivation
        validation += autograd_validation_rows()
        if p["symbolic"]:
            ctx.progress(0.0, "sympy derivation")
            validation += _symbolic_rows()
        bad = [r["case"] for r in validation if not r["passed"]]
        checks.append(check_precondition("estimator and derivation validated", not bad,
                                         "all validation rows passed" if not bad else f"failed: {bad}"))

        # 1. the formula vs autograd, per kind and implementation
        items = [(k, src, float(e), s, p["dim"], p["gamma_mode"]) for k in p["kinds"] for src in ("torch", "ibnorm")
                 for e in p["eps_values"] for s in seeds]
        res = dict(zip(items, ctx.map(_jacobian_item, items, label="jacobians")))
        arrays["formula_kind"], arrays["formula_source"], arrays["formula_eps"] = [], [], []
        arrays["formula_measured"], arrays["formula_predicted"], arrays["formula_rel_error"] = [], [], []
        for k in p["kinds"]:
            for src in ("torch", "ibnorm"):
                rows = [res[it] for it in items if it[0] == k and it[1] == src]
                errs = [r["rel_error"] for r in rows]
                label = {"torch": _TORCH_NAMES[k], "ibnorm": _IB_NAMES[k]}[src]
                checks.append(_envelope_check(f"{k} ({label}): relative error of ||J||_2 vs the formula", errs,
                                              TOL_JACOBIAN, {"eps_values": p["eps_values"]}))
                measured[f"max_rel_error.{k}.{src}"] = float(np.max(np.abs(errs)))
            for it in items:
                if it[0] == k:
                    r = res[it]
                    arrays["formula_kind"].append(k)
                    arrays["formula_source"].append(it[1])
                    arrays["formula_eps"].append(it[2])
                    arrays["formula_measured"].append(r["measured"])
                    arrays["formula_predicted"].append(r["predicted"])
                    arrays["formula_rel_error"].append(r["rel_error"])
        predicted["formula"] = ("|gamma|/sqrt(var+eps) (RMS: |gamma|/sqrt(ms+eps)), max over groups"
                                if p["gamma_mode"] == "scalar" else "max_i|gamma_i|/sqrt(var+eps) claimed as equality "
                                "(it is only an upper bound when gamma varies inside a group)")

        # 2. the 1/sigma scaling curve
        ctx.progress(0.6, "scaling curve")
        cs = [float(c) for c in p["scaling_cs"]]
        eps_sc = [0.0, float(p["blowup_eps"])]
        dim_c = max(p["dim"], 3)  # the curves are about the n >= 3 regime (n = 2 has a different norm, see theory)
        sc = ctx.map(_scaling_item, [(s, dim_c, tuple(eps_sc), tuple(cs)) for s in seeds], label="scaling")
        arrays["scaling_c"] = cs
        for e, key in zip(eps_sc, ("eps0", "eps")):
            meas = np.array([r[e][0] for r in sc])  # (seeds, cs)
            pred = np.array([r[e][1] for r in sc])
            arrays[f"scaling_ratio_measured_{key}"] = meas.mean(0).tolist()
            arrays[f"scaling_ratio_predicted_{key}"] = pred.mean(0).tolist()
            checks.append(_envelope_check(f"scaling (eps={e:g}): ||J(cx)||/||J(x)|| vs sqrt(s2+eps)/sqrt(c^2 s2+eps)",
                                          ((meas - pred) / pred).ravel(), TOL_JACOBIAN))
        arrays["scaling_eps"] = eps_sc

        # 3. blow-up as sigma -> 0 (eps = 0: ||J|| = 1/sigma, unbounded; eps > 0: bounded by 1/sqrt(eps))
        ctx.progress(0.7, "blow-up curve")
        sig = [float(s) for s in p["blowup_sigmas"]]
        bl = ctx.map(_blowup_item, [(s, dim_c, float(p["blowup_eps"]), tuple(sig)) for s in seeds], label="blowup")
        n0 = np.array([r["eps0"] for r in bl])
        ne = np.array([r["eps"] for r in bl])
        arrays["blowup_sigma"] = sig
        arrays["blowup_norm_eps0"] = n0.mean(0).tolist()
        arrays["blowup_predicted_eps0"] = (1.0 / np.asarray(sig)).tolist()
        arrays["blowup_norm_eps"] = ne.mean(0).tolist()
        arrays["blowup_predicted_eps"] = (1.0 / np.sqrt(np.asarray(sig) ** 2 + p["blowup_eps"])).tolist()
        arrays["blowup_bound_eps"] = 1.0 / math.sqrt(p["blowup_eps"])
        fit = linear_fit_ci(np.log(np.tile(sig, len(seeds))), np.log(n0.ravel()))
        checks.append(check_value("eps=0: slope of log||J|| vs log sigma (unbounded as sigma -> 0)", fit["slope"],
                                  fit["ci"], -1.0, abs_tol=1e-6, details={"fit": fit}))
        ratio = float((ne * math.sqrt(p["blowup_eps"])).max())
        checks.append(check_direction(f"eps={p['blowup_eps']:g}: max ||J|| sqrt(eps)/|gamma| (bounded by 1)", ratio,
                                      (ratio, ratio), less_than=1.0 + TOL_JACOBIAN,
                                      details={"interval": "deterministic maximum over seeds and sigmas"}))
        measured["blowup_norm_eps0_at_min_sigma"] = float(n0[:, 0].mean())
        measured["blowup_slope_eps0"] = {"estimate": fit["slope"], "ci": list(fit["ci"])}

        # 4. IB variants: a separate measurement, not a check of the paper's claim
        ctx.progress(0.8, "IB variants")
        comps = _resolve_compressions(p["ib_compressions"], include_identity=False)
        ib_items, skipped = [], []
        for c in comps:
            for lam in p["ib_lams"]:
                if _lam_ok(c, lam):
                    ib_items += [(c, float(lam), s, dim_c, 1e-5, 3.0) for s in seeds]
                else:
                    skipped.append(f"{c}@{lam}")
        ib = dict(zip(ib_items, ctx.map(_ib_jacobian_item, ib_items, label="ib-jacobians")))
        keys = sorted({(it[0], it[1]) for it in ib_items})
        for name in ("compression", "lam", "measured", "bound", "ln_formula", "max_ratio_to_bound"):
            arrays[f"ib_{name}"] = []
        for c, lam in keys:
            rs = [ib[it] for it in ib_items if (it[0], it[1]) == (c, lam)]
            arrays["ib_compression"].append(c)
            arrays["ib_lam"].append(lam)
            arrays["ib_measured"].append(float(np.mean([r["measured"] for r in rs])))
            arrays["ib_bound"].append(float(np.mean([r["bound"] for r in rs])))
            arrays["ib_ln_formula"].append(float(np.mean([r["ln_formula"] for r in rs])))
            arrays["ib_max_ratio_to_bound"].append(float(max(r["measured"] / r["bound"] for r in rs)))
        if ib:
            measured["ib_max_ratio_measured_to_bound"] = float(max(arrays["ib_max_ratio_to_bound"]))
            measured["ib_ratio_measured_to_ln_formula_range"] = [
                float(min(r["measured"] / r["ln_formula"] for r in ib.values())),
                float(max(r["measured"] / r["ln_formula"] for r in ib.values()))]
        notes.append("IB variants (non-identity compression, IBLayerNorm, x = 3 N(0,1), eps = 1e-5) are a separate "
                     "MEASUREMENT, not part of the verdict: the paper's formula does not apply to them. arrays ib_* "
                     "give the measured ||J||, our sound bound |gamma| max f'(u)/sqrt(var(f(u))+eps) (chain rule + "
                     "submultiplicativity, ibnorm_verify.theory.jacobians.ib_jacobian_norm_bound) and the LN formula at the same x. "
                     "ib_max_ratio_to_bound <= 1 means the bound held." + (f" Skipped (lam outside the domain): "
                                                                          f"{skipped}." if skipped else ""))
        if p["gamma_mode"] == "vector":
            notes.append("gamma_mode=vector: the paper-style formula max|gamma_i|/s is compared as an equality; it is "
                         "exact only for BN/IN (gain constant on each group) and an upper bound for LN/RMS/GN.")
        return self.evidence(ctx, checks, measured=measured, predicted=predicted, arrays=arrays,
                             validation=validation, notes=notes,
                             conditions={"gamma_mode": p["gamma_mode"], "dim": p["dim"], "eps_values": p["eps_values"]})


_TORCH_NAMES = {"layer": "nn.LayerNorm", "rms": "nn.RMSNorm", "batch": "nn.BatchNorm1d train",
                "group": "nn.GroupNorm G=2", "instance": "nn.GroupNorm G=C"}
_IB_NAMES = {"layer": "IBLayerNorm identity", "rms": "IBRMSNorm identity", "batch": "IBBatchNorm1d identity",
             "group": "IBGroupNorm identity G=2", "instance": "IBGroupNorm identity G=C"}


def _resolve_compressions(names, include_identity: bool = True) -> list[str]:
    if list(names) == ["all"]:
        out = sorted(COMPRESSIONS)
    else:
        out = [get_compression(n).name for n in names]  # ValueError for an unknown name
    return [c for c in out if include_identity or not COMPRESSIONS[c].is_identity]


def _lam_ok(name: str, lam: float) -> bool:
    try:
        validate_lam(COMPRESSIONS[name], lam)
        return True
    except ValueError:
        return False


# ============================================================================ ib.standardization

def _grouping_input(grouping: str, dim: int, gen: torch.Generator, scale: float) -> tuple[torch.Tensor, dict]:
    """Heavy-tailed input (Student-t, 3 dof, times ``scale``, plus an offset) for one grouping."""
    shape = {"layer": (4, dim), "rms": (4, dim), "batch": (dim, 3), "group": (2, 4, dim)}[grouping]
    normal = torch.randn(shape, dtype=DTYPE, generator=gen)
    chi2 = (torch.randn((3,) + shape, dtype=DTYPE, generator=gen) ** 2).sum(0)
    x = scale * normal / torch.sqrt(chi2 / 3) + 0.5 * torch.randn((), dtype=DTYPE, generator=gen)
    return x, ({"num_groups": 2} if grouping == "group" else {})


def _ib_apply(grouping: str, x: torch.Tensor, comp, lam: float, eps: float, order: str) -> torch.Tensor:
    """IBNorm without affine through the public functional API."""
    if grouping == "layer":
        return IBF.ib_layer_norm(x, x.shape[-1], eps=eps, compression=comp, lam=lam, order=order)
    if grouping == "rms":
        return IBF.ib_rms_norm(x, x.shape[-1], eps=eps, compression=comp, lam=lam, order=order)
    if grouping == "batch":
        return IBF.ib_batch_norm(x, None, None, training=True, eps=eps, compression=comp, lam=lam, order=order)
    return IBF.ib_group_norm(x, 2, eps=eps, compression=comp, lam=lam, order=order)


def _torch_apply(grouping: str, x: torch.Tensor, eps: float) -> torch.Tensor:
    if grouping == "layer":
        return F.layer_norm(x, (x.shape[-1],), eps=eps)
    if grouping == "rms":
        return F.rms_norm(x, (x.shape[-1],), eps=eps)
    if grouping == "batch":
        return F.batch_norm(x, None, None, training=True, eps=eps)
    return F.group_norm(x, 2, eps=eps)


@_one_thread
def _moments_item(item: tuple) -> dict:
    """Per-group mean and variance (RMS: mean square) of IBNorm's output vs the eps-deflated 1."""
    comp_name, grouping, lam, seed, dim, eps, order, scale = item
    comp = get_compression(comp_name)
    gen = _gen(seed, "moments", grouping, dim)
    x, kw = _grouping_input(grouping, dim, gen, scale)
    y = _ib_apply(grouping, x, comp, lam, eps, order)
    yg = TJ.group_matrix(grouping, y, **kw)  # (G, n)
    xg = TJ.group_matrix(grouping, x, **kw)
    center = grouping != "rms"
    # the values the standardization step saw: z = f(u) (compress_first) or x (standardize_first)
    if order == "compress_first":
        xt = torch.from_numpy(xg)
        u = xt - xt.mean(1, keepdim=True) if center else xt
        vg = comp.fn(u, lam).numpy()
    else:
        vg = xg
    stat_in = vg.var(1) if center else (vg * vg).mean(1)
    pred = stat_in / (stat_in + eps)
    stat_out = yg.var(1) if center else (yg * yg).mean(1)
    return {"mean_worst": _worst(yg.mean(1)) if center else 0.0,
            "second_moment_err": _worst(stat_out - pred),
            "second_moment_min": float(stat_out.min()),
            "eps_deflation_max": float((1 - pred).max()),
            "finite": bool(np.all(np.isfinite(yg)))}


@_one_thread
def _limit_item(item: tuple) -> dict:
    """max |IBNorm(x; comp, lam) - torch op(x)| for each lam of the item (fp64, no affine)."""
    comp_name, grouping, lams, seed, dim, eps, scale = item
    comp = get_compression(comp_name)
    gen = _gen(seed, "limit", grouping, dim)
    x, _ = _grouping_input(grouping, dim, gen, scale)
    ref = _torch_apply(grouping, x, eps)
    out = {"ib": [float((_ib_apply(grouping, x, comp, lam, eps, "compress_first") - ref).abs().max()) for lam in lams]}
    if comp.is_identity:  # the generic composite with the identity must match torch too
        dims = {"layer": (-1,), "rms": (-1,), "batch": (0,), "group": (-1,)}[grouping]
        xin = x.reshape(x.shape[0], 2, -1) if grouping == "group" else x
        comp_y = IBF.ib_standardize(xin, dims, center=grouping != "rms", compression="identity", eps=eps)
        out["composite"] = float((comp_y.reshape(x.shape) - ref).abs().max())
    return out


@_one_thread
def _root_delta_item(item: tuple) -> dict:
    """Effect of ROOT_DELTA: IBNorm with ``root`` vs the pure sign-power sign(u)|u|^(1/lam) (LN grouping)."""
    lam, seed, dim, eps, scale = item
    pure = Compression(name="_pure_root", fn=lambda u, l: torch.sign(u) * u.abs() ** (1.0 / l),
                       deriv=lambda u, l: (1.0 / l) * u.abs() ** (1.0 / l - 1.0), bound=lambda l: math.inf,
                       max_slope=lambda l: math.inf, identity_limit="lam = 1", identity_lam=1.0)
    gen = _gen(seed, "rootdelta", dim)
    x, _ = _grouping_input("layer", dim, gen, scale)
    a = IBF.ib_standardize(x, (-1,), center=True, compression="root", lam=lam, eps=eps)
    b = IBF.ib_standardize(x, (-1,), center=True, compression=pure, lam=lam, eps=eps)
    return {"max_abs_diff": float((a - b).abs().max())}


#: Taylor order of ``||IB(x; lam) - LN(x)||`` as lam -> 0 for the built-in lam -> 0 entries:
#: tanh(lam u)/lam = u - lam^2 u^3/3 + ...   (odd correction, order 2)
#: sign(u) log(1 + lam|u|)/lam = u - lam u|u|/2 + ...   (order 1)
#: u/(1 + lam|u|) = u - lam u|u| + ...   (order 1)
#: A newly registered lam -> 0 entry without an order here gets the weaker check "error -> 0" (slope > 0).
LIMIT_ORDER = {"tanh": 2.0, "log": 1.0, "softsign": 1.0}
_BOUND_GRID = np.concatenate([np.linspace(-50, 50, 2001), np.logspace(-300, 300, 61), -np.logspace(-300, 300, 61),
                              [0.0, 1e307, -1e307]])


def _bound_rows(comp: Compression, lams) -> list[dict]:
    """sup|f| and sup|f'| on a dense grid plus extreme inputs, against the stated bound and max slope."""
    u = torch.tensor(_BOUND_GRID, dtype=DTYPE)
    rows = []
    for lam in lams:
        f = comp.fn(u, lam)
        d = comp.deriv(u, lam)
        b, ms = comp.bound(lam), comp.max_slope(lam)
        sup_f = float(f.abs().max())
        rows.append({"lam": lam, "sup_f": sup_f, "bound": b, "ratio_f": sup_f / b if math.isfinite(b) else 0.0,
                     "sup_slope": float(d.abs().max()), "max_slope": ms,
                     "ratio_slope": float(d.abs().max()) / ms if math.isfinite(ms) else 0.0,
                     "finite": bool(torch.isfinite(f).all()) or not math.isfinite(b)})
    return rows


class Standardization(Claim):
    id = "ib.standardization"
    paper = "2510.25262"
    provenance = "paper"
    title = "IBNorm output is standardized, compression bounded, identity limit recovers LN/RMSNorm/BN"
    statement = ("Before the affine, IBNorm output has zero mean and unit variance per group (RMS grouping: unit mean "
                 "square), up to eps: variance = v/(v+eps) with v the variance of the standardized values; the "
                 "compression is bounded as stated (sup|f| <= bound(lam), sup|f'| <= max_slope(lam)); the identity "
                 "compression recovers LN/RMSNorm/BN/GN and each compression tends to it in its identity limit. "
                 "The structure (compress, standardize, affine) is the paper's (via the reviews); the compression "
                 "formulas are our reconstruction (ibnorm.compression).")
    conditions = {"dtype": "float64", "input": "Student-t (3 dof) x input_scale + offset",
                  "bn_mode": "train (batch statistics)", "tolerance_abs": TOL_VALUE}
    params = (
        Param("compressions", ["all"], help="compressions ('all' = every registered one)"),
        Param("groupings", list(GROUPINGS), help="groupings", choices=GROUPINGS),
        Param("lams", [0.5, 1.0, 4.0], help="lambdas (a compression skips those outside its domain)",
              exclusive_minimum=0.0),
        Param("dim", 16, 64, help="values per group (LN/RMS features, BN batch, GN spatial length)", minimum=2),
        Param("eps", 1e-5, help="eps of the standardization (> 0: torch's batch_norm refuses 0 in training)",
              exclusive_minimum=0.0),
        Param("order", "compress_first", help="compress_first (the paper's) or standardize_first (the ablation)",
              choices=("compress_first", "standardize_first")),
        Param("input_scale", 3.0, help="scale of the heavy-tailed input", exclusive_minimum=0.0),
        Param("limit_lams", [1e-2, 1e-3, 1e-4, 1e-5], help="lambdas -> 0 for the identity limit",
              exclusive_minimum=0.0),
        Param("root_lam_offsets", [1e-1, 1e-2, 1e-3, 1e-4], help="lam - 1 for the root identity limit",
              exclusive_minimum=0.0),
    )

    def run(self, ctx: Context):
        p = ctx.params
        seeds, eps, order, dim, scale = list(ctx.seeds), float(p["eps"]), p["order"], p["dim"], p["input_scale"]
        comps = _resolve_compressions(p["compressions"])
        checks, measured, predicted, arrays, notes, skipped = [], {}, {}, {}, [], []

        # 1. standardized moments, every compression x grouping x lam x seed
        items = []
        for c in comps:
            lams = [float(l) for l in p["lams"] if _lam_ok(c, l)]
            skipped += [f"{c}@{l}" for l in p["lams"] if not _lam_ok(c, l)]
            if not lams:  # a compression whose domain excludes every requested lam: use its smallest valid one
                lams = [_smallest_valid_lam(COMPRESSIONS[c])]
            items += [(c, g, lam, s, dim, eps, order, scale) for g in p["groupings"] for lam in lams for s in seeds]
        res = dict(zip(items, ctx.map(_moments_item, items, label="moments")))
        for k in ("compression", "grouping", "mean_worst", "second_moment_err", "eps_deflation"):
            arrays[f"moments_{k}"] = []
        for c in comps:
            for g in p["groupings"]:
                rs = [res[it] for it in items if it[0] == c and it[1] == g]
                det = {"lams": sorted({it[2] for it in items if it[0] == c}), "order": order}
                if g != "rms":
                    checks.append(_envelope_check(f"{c} x {g}: per-group mean of the output = 0",
                                                  [r["mean_worst"] for r in rs], TOL_VALUE, det))
                checks.append(_envelope_check(
                    f"{c} x {g}: per-group {'mean square' if g == 'rms' else 'variance'} = v/(v+eps)",
                    [r["second_moment_err"] for r in rs], TOL_VALUE, det))
                arrays["moments_compression"].append(c)
                arrays["moments_grouping"].append(g)
                arrays["moments_mean_worst"].append(float(max(abs(r["mean_worst"]) for r in rs)))
                arrays["moments_second_moment_err"].append(float(max(abs(r["second_moment_err"]) for r in rs)))
                arrays["moments_eps_deflation"].append(float(max(r["eps_deflation_max"] for r in rs)))
        measured["max_abs_mean"] = float(max(arrays["moments_mean_worst"]))
        measured["max_abs_second_moment_error"] = float(max(arrays["moments_second_moment_err"]))
        measured["max_eps_deflation_1_minus_var"] = float(max(arrays["moments_eps_deflation"]))
        predicted["moments"] = "mean 0, variance (RMS: mean square) v/(v+eps) = 1 - eps/(v+eps), +- %.0e" % TOL_VALUE

        # 2. stated bounds of every compression (deterministic grid including extreme inputs)
        ctx.progress(0.5, "compression bounds")
        arrays["bound_compression"], arrays["bound_lam"], arrays["bound_ratio_f"], arrays["bound_ratio_slope"] = [], [], [], []
        for c in comps:
            comp = COMPRESSIONS[c]
            lams = [float(l) for l in p["lams"] if _lam_ok(c, l)] or [_smallest_valid_lam(comp)]
            rows = _bound_rows(comp, lams)
            for r in rows:
                arrays["bound_compression"].append(c)
                arrays["bound_lam"].append(r["lam"])
                arrays["bound_ratio_f"].append(r["ratio_f"])
                arrays["bound_ratio_slope"].append(r["ratio_slope"])
            rf = max(r["ratio_f"] for r in rows)
            rsl = max(r["ratio_slope"] for r in rows)
            det = {"rows": rows, "interval": "deterministic maximum over a grid of 2,125 inputs (|u| up to 1e307)"}
            if math.isfinite(comp.bound(lams[0])):
                checks.append(check_direction(f"{c}: sup|f(u)|/bound(lam) <= 1", rf, (rf, rf),
                                              less_than=1.0 + TOL_VALUE, details=det))
            checks.append(check_direction(f"{c}: sup|f'(u)|/max_slope(lam) <= 1", rsl, (rsl, rsl),
                                          less_than=1.0 + TOL_VALUE, details=det))
            measured[f"bound.{c}"] = {"max_sup_f_over_bound": rf, "max_sup_slope_over_max_slope": rsl,
                                      "bounded": math.isfinite(comp.bound(lams[0]))}

        # 3. identity limits
        ctx.progress(0.7, "identity limits")
        lim_lams = sorted(float(l) for l in p["limit_lams"])
        root_lams = [1.0 + float(o) for o in sorted(p["root_lam_offsets"])]
        lim_items = []
        for c in comps:
            comp = COMPRESSIONS[c]
            if comp.is_identity:
                lams = (1.0,)
            elif comp.identity_lam is not None:
                lams = (comp.identity_lam,) + tuple(comp.identity_lam + o for o in sorted(p["root_lam_offsets"]))
            elif comp.identity_limit.replace(" ", "") == "lam->0":
                lams = tuple(lim_lams)
            else:
                notes.append(f"{c}: no identity limit stated ({comp.identity_limit!r}); not checked")
                continue
            lim_items += [(c, g, lams, s, dim, eps, scale) for g in p["groupings"] for s in seeds]
        lim = dict(zip(lim_items, ctx.map(_limit_item, lim_items, label="identity-limits")))
        arrays["limit_compression"], arrays["limit_grouping"], arrays["limit_lam"], arrays["limit_error"] = [], [], [], []
        for c in sorted({it[0] for it in lim_items}):
            comp = COMPRESSIONS[c]
            for g in p["groupings"]:
                its = [it for it in lim_items if it[0] == c and it[1] == g]
                lams = its[0][2]
                errs = np.array([lim[it]["ib"] for it in its])  # (seeds, lams)
                arrays["limit_compression"].append(c)
                arrays["limit_grouping"].append(g)
                arrays["limit_lam"].append(list(lams))
                arrays["limit_error"].append(errs.mean(0).tolist())
                if comp.is_identity:
                    checks.append(_envelope_check(f"identity x {g}: IBNorm == torch op", errs[:, 0], TOL_VALUE))
                    comp_errs = [lim[it]["composite"] for it in its]
                    checks.append(_envelope_check(f"identity x {g}: ib_standardize composite == torch op",
                                                  comp_errs, TOL_VALUE))
                    measured[f"identity.{g}.max_abs_diff"] = float(errs.max())
                    measured[f"identity.{g}.composite_max_abs_diff"] = float(max(comp_errs))
                elif comp.identity_lam is not None:
                    checks.append(_envelope_check(f"{c} x {g}: IBNorm at lam={comp.identity_lam:g} == torch op",
                                                  errs[:, 0], TOL_VALUE))
                    off = np.asarray(lams[1:]) - comp.identity_lam
                    est, ci = _slope_over_seeds(off, errs[:, 1:])
                    measured[f"{c}.{g}.error_slope_vs_lam_offset"] = {"estimate": est, "ci": list(ci)}
                    measured[f"{c}.{g}.max_abs_diff_at_identity_lam"] = float(errs[:, 0].max())
                else:
                    est, ci = _slope_over_seeds(np.asarray(lams), errs)
                    det = {"lams": list(lams), "interval": "95% t-interval over seeds of the per-seed log-log slope"}
                    if c in LIMIT_ORDER:
                        checks.append(check_value(f"{c} x {g}: ||IB - torch op|| ~ lam^k as lam -> 0 (k = Taylor order)",
                                                  est, ci, LIMIT_ORDER[c], rel_tol=0.05, details=det))
                    else:
                        checks.append(check_direction(f"{c} x {g}: ||IB - torch op|| -> 0 as lam -> 0 (log-log slope)",
                                                      est, ci, greater_than=0.0, details=det))
                    measured[f"{c}.{g}.error_at_smallest_lam"] = float(errs[:, 0].max())
        predicted["identity_limits"] = ("identity == torch op (+-%.0e); tanh/log/softsign -> torch op as lam -> 0 at "
                                        "rate lam^k (k = 2, 1, 1); root == identity at lam = 1" % TOL_VALUE)

        # ROOT_DELTA effect (quantified, not a check): root vs the pure sign-power after LN standardization
        if "root" in comps:
            rd_lams = [float(l) for l in p["lams"] if _lam_ok("root", l)] or [1.0]
            rd_items = [(l, s, dim, eps, scale) for l in rd_lams for s in seeds]
            rd = ctx.map(_root_delta_item, rd_items, label="root-delta")
            arrays["root_delta_lam"] = rd_lams
            arrays["root_delta_max_abs_diff"] = [float(max(r["max_abs_diff"] for it, r in zip(rd_items, rd) if it[0] == l))
                                                 for l in rd_lams]
            measured["root_delta_effect"] = dict(zip([f"lam={l:g}" for l in rd_lams], arrays["root_delta_max_abs_diff"]))
            notes.append(f"ROOT_DELTA = {ROOT_DELTA:g}: root_delta_max_abs_diff is max|IBNorm_root - IBNorm_pure| "
                         "after LN standardization, pure = sign(u)|u|^(1/lam) (0 up to round-off at lam = 1).")
        if skipped:
            notes.append(f"lambdas outside a compression's domain were skipped: {skipped}")
        if order == "standardize_first":
            notes.append("order=standardize_first: the compression acts AFTER the standardization, so the moments are "
                         "those of f(standardized x) and are not predicted to be standardized; the same checks apply.")
        return self.evidence(ctx, checks, measured=measured, predicted=predicted, arrays=arrays, notes=notes,
                             conditions={"order": order, "eps": eps, "dim": dim, "lams": p["lams"],
                                         "compressions": comps})


def _slope_over_seeds(lams: np.ndarray, errs: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Per-seed least-squares slope of log(error) on log(lam) (``errs``: (seeds, lams)), then the mean and
    its t-interval over seeds (each seed has its own intercept: the constant depends on the input)."""
    lx = np.log(np.asarray(lams, dtype=float))
    slopes = [np.polyfit(lx, np.log(np.maximum(e, 1e-300)), 1)[0] for e in np.atleast_2d(errs)]
    return mean_ci(slopes)


def _smallest_valid_lam(comp: Compression) -> float:
    return comp.lam_min if comp.lam_min_inclusive else (comp.lam_min + 1.0 if comp.lam_min > 0 else 1.0)


CLAIMS = [NormJacobian(), Standardization()]
