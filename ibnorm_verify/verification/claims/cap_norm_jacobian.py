"""``cap.norm-jacobian`` (arXiv 2511.00958; ``docs/papers/capacity.md`` section 2.2): the Jacobian spectral
norm of one normalizer at z is |gamma|/sqrt(var(z)+eps) (RMSNorm: |gamma|/sqrt(ms(z)+eps); block-diagonal
layers: the max over groups).

**What is evidence here, and why.** The formula is mathematics: :mod:`ibnorm_verify.theory.jacobians`
derives it with sympy (a precondition: the derivation must verify). The *claim* is that the normalizers
people use compute a function with this Jacobian. An autograd Jacobian of a real layer at a random input,
reduced to its largest singular value by SVD, measures what the implementation computes: an unbiased
variance, an eps inside the square root at the wrong place, a missing centering or a per-element gain
would each show as a relative error far above the tolerance (the smallest effect it must see, the eps
term at var ~ 1, is 5e-6 relative; the SVD resolves 1e-15). So the formula checks, per grouping x eps x
implementation (torch's module; the IBNorm reference composite with the identity compression, an
independent implementation; the IBNorm *modules* would dispatch to torch's op) are evidence, decided
exactly over every seed (an envelope, not a sampling interval: the claim is about every input).

Consequences checked on ``nn.LayerNorm``: with eps > 0, ||J(cx)||/||J(x)|| = sqrt(v+eps)/sqrt(c^2 v+eps) and
||J|| <= |gamma|/sqrt(eps) (evidence: they depend on where eps enters); with eps = 0, ||J(cx)|| = ||J(x)||/c
and ||J(sigma z)|| = 1/sigma hold for *any* scale-invariant map: identities of the setup, sanity checks.

Measurement: :func:`~ibnorm_verify.verification.estimators.jacobian.spectral_norm` (validated on maps with
known norms: a precondition), fp64, relative tolerance :data:`TOL_JACOBIAN` = 1e-8. IBNorm with another
compression is outside the claim: its norm and our chain-rule bound are reported as data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

import ibnorm
from ibnorm.compression import COMPRESSIONS
from ibnorm.functional import ib_standardize
from ibnorm_verify.theory import jacobians as TJ

from ..estimators import jacobian as jacobian_estimator
from ..estimators.jacobian import spectral_norm
from ..evidence import Series, ValidationRow
from ..runtime import single_threaded, torch_generator
from ..verdict import check_direction, check_sanity, check_validation, check_value
from ._compressions import lam_ok, resolve_compressions
from .base import Analysis, Claim, Param, SeriesSpec

__all__ = ["CLAIM", "NormJacobian", "TOL_JACOBIAN", "GROUPINGS", "IMPLEMENTATIONS", "worker", "analyze",
           "JacobianItem", "CurveItem", "IBItem", "ValidationItem"]

TOL_JACOBIAN = jacobian_estimator.TOL
DTYPE = torch.float64
GROUPINGS = ("layer", "rms", "batch", "group", "instance")
IMPLEMENTATIONS = ("torch", "composite")
AXES = ("grouping", "eps", "implementation", "gamma_mode")
CHANNELS = 4


# ------------------------------------------------------------------------------------ sweep items

@dataclass(frozen=True)
class JacobianItem:
    grouping: str
    implementation: str
    eps: float
    seed: int
    dim: int
    gamma_mode: str


@dataclass(frozen=True)
class CurveItem:
    """nn.LayerNorm (gamma = 1) on one centered row: the scaling ratios and the sigma -> 0 curve at ``eps``."""

    seed: int
    dim: int
    eps: float
    cs: tuple
    sigmas: tuple


@dataclass(frozen=True)
class IBItem:
    compression: str
    lam: float
    seed: int
    dim: int
    eps: float = 1e-5
    scale: float = 3.0


@dataclass(frozen=True)
class ValidationItem:
    symbolic: bool


def _layer(grouping: str, eps: float, dim: int) -> tuple[nn.Module, tuple[int, ...], dict]:
    """torch's module (train mode), the input shape and the formula's kwargs for one grouping."""
    if grouping == "layer":
        return nn.LayerNorm(dim, eps=eps), (3, dim), {}
    if grouping == "rms":
        return nn.RMSNorm(dim, eps=eps), (3, dim), {}
    if grouping == "batch":                   # one group per channel over a batch of `dim` samples
        return nn.BatchNorm1d(CHANNELS, eps=eps), (dim, CHANNELS), {}
    if grouping == "instance":
        return nn.InstanceNorm1d(CHANNELS, eps=eps, affine=True), (2, CHANNELS, dim), {}
    return nn.GroupNorm(2, CHANNELS, eps=eps), (2, CHANNELS, dim), {"num_groups": 2}


def _composite(grouping: str, m: nn.Module, eps: float):
    """The same normalizer through ibnorm's reference composite (identity compression) and m's affine."""
    weight, bias = getattr(m, "weight"), getattr(m, "bias", None)   # every module of _layer has a weight
    w, b = weight.detach(), None if bias is None else bias.detach()

    def fn(x: torch.Tensor) -> torch.Tensor:
        if grouping in ("layer", "rms"):
            y = ib_standardize(x, (-1,), center=grouping == "layer", compression="identity", eps=eps) * w
            return y if b is None else y + b
        if grouping == "batch":
            y = ib_standardize(x, (0,), center=True, compression="identity", eps=eps)
        else:
            g = 2 if grouping == "group" else x.shape[1]
            y = ib_standardize(x.reshape(x.shape[0], g, -1), (-1,), center=True, compression="identity",
                               eps=eps).reshape(x.shape)
        view = (1, -1) + (1,) * (x.dim() - 2)
        assert b is not None  # _layer's batch, instance and group modules have a bias
        return y * w.view(view) + b.view(view)
    return fn


def _jacobian(item: JacobianItem) -> dict:
    gen = torch_generator(item.seed, "jacobian", item.grouping, item.eps, item.dim, item.gamma_mode)
    m, shape, kw = _layer(item.grouping, item.eps, item.dim)
    m = m.to(DTYPE).train()
    # per-sample (per-channel for batch) scales and offsets, so that the max over groups matters
    x = torch.randn(shape, dtype=DTYPE, generator=gen)
    axis = 1 if item.grouping == "batch" else 0
    sshape = [n if i == axis else 1 for i, n in enumerate(shape)]
    x = x * torch.exp(torch.randn(sshape, dtype=DTYPE, generator=gen)) + torch.randn(sshape, dtype=DTYPE, generator=gen)
    sign = 1.0 if torch.rand((), generator=gen) < 0.5 else -1.0
    weight, bias = getattr(m, "weight"), getattr(m, "bias", None)   # every module of _layer has a weight
    with torch.no_grad():
        if item.gamma_mode == "scalar":
            weight.fill_(sign * (0.5 + 1.5 * float(torch.rand((), generator=gen))))
        else:
            weight.copy_(torch.randn(weight.shape, dtype=DTYPE, generator=gen))
        if bias is not None:
            bias.copy_(torch.randn(bias.shape, dtype=DTYPE, generator=gen))
    fn = m if item.implementation == "torch" else _composite(item.grouping, m, item.eps)
    measured = spectral_norm(fn, x)
    predicted = TJ.lemma_norm(item.grouping, x, weight.detach(), item.eps, **kw)
    return {"kind": "formula", "grouping": item.grouping, "implementation": item.implementation, "eps": item.eps,
            "gamma_mode": item.gamma_mode, "seed": item.seed, "measured": measured, "predicted": predicted,
            "rel_error": (measured - predicted) / predicted}


def _curve(item: CurveItem) -> dict:
    gen = torch_generator(item.seed, "curves", item.dim)
    z = torch.randn(1, item.dim, dtype=DTYPE, generator=gen)
    z = (z - z.mean()) / z.std(unbiased=False)            # exact unit biased std: std(sigma z) = sigma
    m = nn.LayerNorm(item.dim, eps=item.eps).to(DTYPE)
    base = spectral_norm(m, z)
    return {"kind": "curve", "eps": item.eps, "seed": item.seed, "cs": list(item.cs), "sigmas": list(item.sigmas),
            "ratio": [spectral_norm(m, c * z) / base for c in item.cs],
            "ratio_predicted": TJ.scaling_factor(np.asarray(item.cs), 1.0, item.eps).tolist(),
            "norm": [spectral_norm(m, s * z) for s in item.sigmas],
            "norm_predicted": (1.0 / np.sqrt(np.asarray(item.sigmas) ** 2 + item.eps)).tolist()}


def _ib(item: IBItem) -> dict:
    gen = torch_generator(item.seed, "ib-jacobian", item.compression, item.lam, item.dim)
    x = item.scale * torch.randn(3, item.dim, dtype=DTYPE, generator=gen)
    m = ibnorm.IBLayerNorm(item.dim, eps=item.eps, compression=item.compression, lam=item.lam).to(DTYPE)
    return {"kind": "ib", "compression": item.compression, "lam": item.lam, "seed": item.seed,
            "measured": spectral_norm(m, x),
            "bound": TJ.ib_jacobian_norm_bound("layer", x, 1.0, item.eps, compression=item.compression, lam=item.lam),
            "ln_formula": TJ.jacobian_norm_formula("layer", x, 1.0, item.eps)}


def _validation(item: ValidationItem) -> dict:
    rows = jacobian_estimator.validate()
    if item.symbolic:
        for kind in GROUPINGS:
            sj = TJ.symbolic_jacobian(kind)
            n_ok = sum(sj.verified.values())
            rows.append(ValidationRow("sympy derivation (theory.jacobians)", f"{kind} {list(sj.shape)}",
                                      float(len(sj.verified)), float(n_ok), sj.ok, "every identity verified",
                                      family="symbolic", details={"identities": sj.verified}))
    return {"kind": "validation", "rows": [r.to_dict() for r in rows]}


_MEASURE: dict[type, Callable[[Any], dict]] = {JacobianItem: _jacobian, CurveItem: _curve, IBItem: _ib,
                                               ValidationItem: _validation}


@single_threaded
def worker(item) -> dict:
    """Module-level worker: dispatches on the item type."""
    if type(item) not in _MEASURE:
        raise TypeError(f"unknown item {item!r}")
    return _MEASURE[type(item)](item)


# ------------------------------------------------------------------------------------ analysis

def _exact_value(name: str, errs, tol: float, **kw):
    """Relative errors of every case against 0, decided exactly (the envelope [min, max])."""
    e = np.asarray(errs, dtype=float)
    c = check_value(name, float(e[np.argmax(np.abs(e))]), (float(e.min()), float(e.max())), 0.0, abs_tol=tol,
                    envelope=True, replicates=int(e.size), unit="case", **kw)
    c.mde = tol          # an exact check sees any deviation beyond its tolerance
    return c


def analyze(records: list[dict], params: dict) -> Analysis:
    """Checks, series and validation rows of the norm-Jacobian sweep (pure)."""
    kinds: dict[str, list[dict]] = {k: [r for r in records if r["kind"] == k] for k in {r["kind"] for r in records}}
    validation = [ValidationRow.from_dict(d) for r in kinds.get("validation", []) for d in r["rows"]]
    checks = [check_validation("autograd Jacobian and symbolic derivation", validation)]
    measured: dict = {}
    formula = kinds.get("formula", [])
    cells: dict[tuple, list[dict]] = {}
    for r in formula:
        cells.setdefault(tuple(r[a] for a in AXES), []).append(r)
    for key, rs in cells.items():
        cell = dict(zip(AXES, key))
        label = ", ".join(f"{a}={v:g}" if isinstance(v, float) else f"{a}={v}" for a, v in cell.items())
        checks.append(_exact_value(f"||J||_2 = |gamma|/sqrt(var+eps) [{label}]", [r["rel_error"] for r in rs],
                                   TOL_JACOBIAN, part="formula", cell=cell,
                                   details={"seeds": [r["seed"] for r in rs]}))
        measured[f"max |relative error| [{label}]"] = float(max(abs(r["rel_error"]) for r in rs))
    series = []
    if formula:
        flat = [{**{a: r[a] for a in AXES}, "seed": r["seed"], "quantity": q, "v": r[q]}
                for r in formula for q in ("measured", "predicted", "rel_error")]
        series.append(Series.from_records("jacobian_norm", flat, AXES + ("seed", "quantity"), "v",
                                          coords={"quantity": ["measured", "predicted", "rel_error"]}))
    curves = kinds.get("curve", [])
    if curves:
        series += _curve_checks(curves, checks, params)
    ib = kinds.get("ib", [])
    if ib:
        flat = [{"compression": r["compression"], "lam": r["lam"], "seed": r["seed"], "quantity": q, "v": r[q]}
                for r in ib for q in ("measured", "bound", "ln_formula")]
        series.append(Series.from_records("ib_jacobian", flat, ("compression", "lam", "seed", "quantity"), "v",
                                          coords={"quantity": ["measured", "bound", "ln_formula"]}))
        measured["IB: max measured/bound (our chain-rule bound; <= 1 means it held)"] = \
            float(max(r["measured"] / r["bound"] for r in ib))
    return Analysis(checks=checks, measured=measured, series=series, validation=validation,
                    predicted={"formula": "|gamma|/sqrt(var+eps) (RMS: mean square), max over groups"},
                    notes=["IB variants (non-identity compression, IBLayerNorm, x = 3 N(0,1), eps = 1e-5) are data, "
                           "not part of the verdict: series ib_jacobian."])


def _curve_checks(curves: list[dict], checks: list, params: dict) -> list[Series]:
    out_flat = []
    for eps in sorted({r["eps"] for r in curves}):
        rs = [r for r in curves if r["eps"] == eps]
        cell = {"grouping": "layer", "eps": eps, "implementation": "torch", "gamma_mode": "scalar"}
        ratio_err = [(m - p) / p for r in rs for m, p in zip(r["ratio"], r["ratio_predicted"])]
        chk = _exact_value(f"||J(cx)||/||J(x)|| = sqrt(v+eps)/sqrt(c^2 v+eps) [eps={eps:g}]", ratio_err, TOL_JACOBIAN,
                           part="scaling", cell=cell)
        if eps == 0:
            checks.append(check_sanity(chk))
            logs = np.log(np.asarray([r["norm"] for r in rs]))
            sig = np.log(np.asarray(rs[0]["sigmas"]))
            slopes = [np.polyfit(sig, row, 1)[0] for row in logs]
            checks.append(check_sanity(check_value(
                "eps=0: slope of log||J|| against log sigma = -1 (unbounded as sigma -> 0)", float(np.mean(slopes)),
                (float(min(slopes)), float(max(slopes))), -1.0, abs_tol=1e-6, envelope=True, part="blow-up",
                details={"per_seed_slopes": slopes})))
        else:
            checks.append(chk)
            worst = float(max(n * math.sqrt(eps) for r in rs for n in r["norm"]))
            c = check_direction(f"||J|| sqrt(eps)/|gamma| <= 1 for every input [eps={eps:g}]", worst, (worst, worst),
                                less_than=1.0 + TOL_JACOBIAN, envelope=True, part="bounded", cell=cell,
                                replicates=sum(len(r["norm"]) for r in rs), unit="case")
            c.mde = TOL_JACOBIAN
            checks.append(c)
        out_flat += [{"eps": eps, "seed": r["seed"], "x": x, "quantity": q, "v": y} for r in rs
                     for q in ("ratio", "ratio_predicted") for x, y in zip(r["cs"], r[q])]
    blow = [{"eps": r["eps"], "seed": r["seed"], "sigma": s, "quantity": q, "v": v}
            for r in curves for q in ("norm", "norm_predicted") for s, v in zip(r["sigmas"], r[q])]
    return [Series.from_records("scaling", out_flat, ("eps", "seed", "x", "quantity"), "v",
                                coords={"quantity": ["ratio", "ratio_predicted"]}),
            Series.from_records("blowup", blow, ("eps", "seed", "sigma", "quantity"), "v",
                                coords={"quantity": ["norm", "norm_predicted"]})]


# ------------------------------------------------------------------------------------ the claim

class NormJacobian(Claim):
    id = "cap.norm-jacobian"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "One normalizer has local Lipschitz constant |gamma|/sqrt(var+eps)"
    statement = ("The Jacobian spectral norm of LN, BN (train mode), GN and IN at z equals |gamma|/sqrt(var(z)+eps) "
                 "(biased variance of the group; block-diagonal layers: the max over groups); the RMSNorm analogue "
                 "is |gamma|/sqrt(ms(z)+eps). Our reading of the paper's single-normalizer lemma: exact for a scalar "
                 "gamma and groups of >= 3 values (RMS: >= 2); for a per-element gamma only an upper bound.")
    conditions = {"dtype": "float64", "bn_mode": "train (batch statistics)",
                  "measurement": "torch.autograd.functional.jacobian + SVD", "tolerance_rel": TOL_JACOBIAN}
    axes = AXES
    condition = "gamma constant on each group and >= 3 values per group (RMS: >= 2)"
    primary_part = "formula"
    series = (SeriesSpec("jacobian_norm", AXES + ("seed", "quantity"), "measured ||J||_2, the formula, relative error"),
              SeriesSpec("scaling", ("eps", "seed", "x", "quantity"), "nn.LayerNorm: ||J(cx)||/||J(x)|| vs c"),
              SeriesSpec("blowup", ("eps", "seed", "sigma", "quantity"), "nn.LayerNorm: ||J(sigma z)|| vs sigma"),
              SeriesSpec("ib_jacobian", ("compression", "lam", "seed", "quantity"), "IBLayerNorm (data, not checked)"))
    params = (
        Param("groupings", list(GROUPINGS), help="normalizer groupings (regime axis)", choices=GROUPINGS),
        Param("implementations", list(IMPLEMENTATIONS), help="torch's module and/or ibnorm's reference composite",
              choices=IMPLEMENTATIONS),
        Param("eps_values", [1e-12, 1e-5, 1.0], help="eps of the layers (regime axis; 1e-12 = '0-ish': "
              "nn.BatchNorm refuses eps = 0 in training)", exclusive_minimum=0.0),
        Param("gamma_modes", ["scalar"], help="scalar gain (the formula is exact) and/or a random per-element "
              "vector (only the bound max|gamma|/s holds: an equality is refuted for layer/rms/group)",
              choices=("scalar", "vector")),
        Param("dim", 8, help="values per group (LN/RMS features, BN batch size, IN/GN spatial length)", minimum=2,
              medium=16),
        Param("ib_compressions", ["all"], help="compressions of the IB measurement ('all' = every registered "
              "non-identity one)", choices=("all",) + tuple(sorted(c for c in COMPRESSIONS if c != "identity"))),
        Param("ib_lams", [0.5, 1.0, 4.0], help="lambdas of the IB measurement", exclusive_minimum=0.0),
        Param("scaling_cs", [1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e3], help="input scales c",
              exclusive_minimum=0.0),
        Param("blowup_sigmas", [1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1.0], help="input std sigma -> 0",
              exclusive_minimum=0.0),
        Param("blowup_eps", 1e-5, help="eps > 0 of the bounded branch of the curves", exclusive_minimum=0.0),
        Param("symbolic", True, help="re-run the sympy derivation as a precondition"),
    )
    worker = staticmethod(worker)

    def items(self, ctx) -> list:
        p = ctx.params
        dim_c = max(p["dim"], 3)      # the curves are about the n >= 3 regime (n = 2 has another norm)
        out: list = [ValidationItem(bool(p["symbolic"]))]
        out += [JacobianItem(g, impl, float(e), s, p["dim"], gm) for g in p["groupings"] for impl in p["implementations"]
                for e in p["eps_values"] for gm in p["gamma_modes"] for s in ctx.seeds]
        out += [CurveItem(s, dim_c, e, tuple(float(c) for c in p["scaling_cs"]),
                          tuple(float(v) for v in p["blowup_sigmas"])) for e in (0.0, float(p["blowup_eps"]))
                for s in ctx.seeds]
        out += [IBItem(c, float(lam), s, dim_c) for c in resolve_compressions(p["ib_compressions"], False)
                for lam in p["ib_lams"] if lam_ok(c, lam) for s in ctx.seeds]
        return out

    def analyze(self, records: list, params: dict) -> Analysis:
        return analyze(records, params)


CLAIM = NormJacobian()
