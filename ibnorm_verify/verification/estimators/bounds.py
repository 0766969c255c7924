"""Generalization bounds evaluated on trained networks, with normalizers handled explicitly.

Three bounds, the formulas in :mod:`ibnorm_verify.theory.bounds` (sources there):

* :func:`spectral_margin_bound`: Bartlett, Foster & Telgarsky 2017 (spectral complexity R_A);
* :func:`pac_bayes_sharpness_bound`: PAC-Bayes-kl with an isotropic Gaussian posterior around the trained
  weights and prior around the initialization, sigma chosen on a grid (union bound), the empirical
  stochastic risk from Monte Carlo samples with its own kl bound, exact kl inversion;
* :func:`local_lipschitz_bound`: the RECONSTRUCTED local-Lipschitz covering bound for arXiv 2511.00958,
  with the parameter-Lipschitz constant measured by
  :func:`ibnorm_verify.verification.estimators.lipschitz.estimate_lipschitz` (``wrt="params"``).

Normalizers are never dropped (unlike the usual measure code, which folds BN and silently ignores the
rest); every normalizer is resolved by :func:`ibnorm.spec_of`:

* BatchNorm (plain) in *eval mode* is an affine map and is folded into the preceding matrix
  (A <- diag(gamma / sqrt(running_var + eps)) A); folding a train-mode BN raises ``ValueError``;
* LayerNorm / RMSNorm / GroupNorm / every IBNorm variant (and IB-BatchNorm) enter as a per-layer local
  Lipschitz factor (:func:`normalizer_factor`): ``sup|f'| max|gamma| / sqrt(var_min + eps)`` with
  var_min the smallest group variance of the standardized quantity over the given inputs
  (:func:`ibnorm_verify.theory.capacity.normalizer_local_factor`); such a factor holds on the data region only, so the
  bound becomes a *local* version (said in the returned ``notes``);
* anything else raises ``TypeError``.

Models: :func:`ibnorm_verify.verification.models.build_network` chains (``nn.Sequential`` of ``Block``), dense layers,
no residual connections (the bounds' function class).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ibnorm import spec_of
from ibnorm.compression import get_compression
from ibnorm_verify.theory.bounds import (
    bartlett_margin_bound,
    gaussian_kl_isotropic,
    inv_kl,
    kl_bernoulli,
    local_lipschitz_covering_bound,
    mc_sample_bound,
    pac_bayes_kl_bound,
    spectral_complexity,
)
from ibnorm_verify.theory.capacity import normalizer_local_factor

from ..evidence import ValidationRow
from ..models import blocks, build_network
from .lipschitz import estimate_lipschitz

__all__ = ["class_margins", "normalizer_factor", "chain_factors", "spectral_margin_bound", "pac_bayes_sharpness_bound",
           "local_lipschitz_bound", "param_distance", "validate"]


def _check_xy(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError("x and y must be tensors")
    if x.dim() < 2 or y.dim() != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"expected x (N, ...) and y (N,) with N >= 1, got {tuple(x.shape)}, {tuple(y.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains non-finite values")


def class_margins(logits: Tensor, y: Tensor) -> Tensor:
    """M_i = f(x_i)_{y_i} - max_{j != y_i} f(x_i)_j, shape (N,)."""
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], -math.inf).amax(dim=1)
    return true - other


@torch.no_grad()
def normalizer_factor(m: nn.Module, z: Tensor) -> dict:
    """Local Lipschitz factor of normalizer ``m`` at its inputs ``z`` (N, D) (see the module docstring).

    Returns ``{"kind", "factor", "var_min", "gamma_max", "slope"}``; ``kind`` is "bn-folded" (plain BN in
    eval mode: ``factor`` is then per-channel and applied as a row scaling, see :func:`chain_factors`),
    "bn-eval-local" (IB-BatchNorm in eval mode: elementwise, global on R^D) or "local" (LN/RMS/GN/IB).
    """
    spec = spec_of(m)
    if spec is None or spec.grouping == "instance":
        raise TypeError(f"{type(m).__name__} is not a supported normalizer; refusing to drop it")
    comp, lam = get_compression(spec.compression), float(spec.lam)
    slope = float(comp.max_slope(lam)) if not comp.is_identity else 1.0
    w = spec.gamma()
    gmax = 1.0 if w is None else float(w.detach().abs().max())
    if spec.grouping == "batch":
        if not spec.use_running_stats:
            raise ValueError("BatchNorm can only be folded in eval mode (batch statistics are not a fixed map)")
        rv = spec.running_var
        assert rv is not None  # use_running_stats means tracked running statistics (groupings.spec_of)
        scale = (1.0 if w is None else w.detach().abs()) / torch.sqrt(rv + spec.effective_eps(rv.dtype))
        if comp.is_identity:
            return {"kind": "bn-folded", "factor": 1.0, "row_scale": scale, "var_min": float(rv.min()),
                    "gamma_max": gmax, "slope": 1.0}
        return {"kind": "bn-eval-local", "factor": float(scale.max()) * slope, "var_min": float(rv.min()),
                "gamma_max": gmax, "slope": slope}
    groups = int(spec.num_groups or 1) if spec.grouping == "group" else 1
    zz = z.reshape(z.shape[0], groups, -1)
    center = spec.center
    u = zz - zz.mean(dim=-1, keepdim=True) if center else zz
    wq = comp.fn(u, lam) if (not comp.is_identity and spec.order == "compress_first") else zz
    var = (wq.var(dim=-1, unbiased=False) if center else (wq * wq).mean(dim=-1))
    vmin = float(var.min())
    return {"kind": "local", "factor": normalizer_local_factor(gmax, vmin, spec.effective_eps(z.dtype), slope),
            "var_min": vmin, "gamma_max": gmax, "slope": slope}


@torch.no_grad()
def chain_factors(model: nn.Module, x: Tensor, init_model: nn.Module | None = None) -> list[dict]:
    """Per block: ``spec`` = ||A_i||_2 (BN folded), ``l21`` = ||A_i^T - M_i^T||_{2,1} (M_i = the init
    model's folded matrix, or 0), ``rho`` = the normalizer factor (1 without one) times the activation's
    Lipschitz constant (1 for identity/ReLU/tanh), and the normalizer details."""
    bl = blocks(model)
    bl0 = blocks(init_model) if init_model is not None else [None] * len(bl)
    if len(bl0) != len(bl):
        raise ValueError("init_model has a different number of blocks")
    h = x.reshape(x.shape[0], -1).to(next(model.parameters()).dtype)
    h0 = h
    out = []
    for i, (b, b0) in enumerate(zip(bl, bl0)):
        if b.residual:
            raise ValueError("residual blocks are outside the bounds' function class")
        if not isinstance(b.layer, nn.Linear):
            raise TypeError(f"block {i}: only dense layers are supported, got {type(b.layer).__name__}")
        A = b.layer.weight.detach().to(torch.float64)
        M = torch.zeros_like(A)
        if b0 is not None:
            if not isinstance(b0.layer, nn.Linear):
                raise TypeError(f"block {i} of init_model: only dense layers are supported, "
                                f"got {type(b0.layer).__name__}")
            M = b0.layer.weight.detach().to(torch.float64)
        z = b.layer(h)
        info: dict[str, Any] = {"kind": "none", "factor": 1.0}
        if b.norm is not None:
            info = normalizer_factor(b.norm, z)
            if info["kind"] == "bn-folded":
                A = info.pop("row_scale").to(torch.float64)[:, None] * A
                if b0 is not None:
                    if b0.norm is None:
                        raise TypeError(f"block {i}: init_model has no normalizer where the model has one")
                    n0 = normalizer_factor(b0.norm, b0.layer(h0))
                    M = n0.pop("row_scale").to(torch.float64)[:, None] * M
        spec = float(torch.linalg.matrix_norm(A, ord=2))
        l21 = float((A - M).norm(dim=1).sum())
        out.append({"block": i, "spec": spec, "l21": l21, "rho": float(info["factor"]), "norm": info,
                    "out_dim": int(A.shape[0]), "in_dim": int(A.shape[1])})
        h = b(h)
        if b0 is not None:
            h0 = b0(h0)
    return out


@torch.no_grad()
def spectral_margin_bound(model: nn.Module, x: Tensor, y: Tensor, init_model: nn.Module | None = None, *,
                          margin_quantile: float = 0.1, delta: float = 0.05) -> dict:
    """Bartlett et al. 2017 margin bound (Lemma A.8 form, :func:`ibnorm_verify.theory.bounds.bartlett_margin_bound`)
    at margin gamma = the ``margin_quantile`` quantile of the training margins (floored at 1e-6)."""
    _check_xy(x, y)
    if not 0 < margin_quantile < 1:
        raise ValueError("margin_quantile must be in (0, 1)")
    model.eval()
    f = chain_factors(model, x, init_model)
    logits = model(x.reshape(x.shape[0], -1).to(next(model.parameters()).dtype))
    m = class_margins(logits, y).to(torch.float64)
    gamma = max(float(torch.quantile(m, margin_quantile)), 1e-6)
    r_gamma = float((m <= gamma).double().mean())
    ra = spectral_complexity([r["spec"] for r in f], [r["l21"] for r in f], [r["rho"] for r in f])
    xf = float(x.double().reshape(x.shape[0], -1).norm())
    w = max(max(r["out_dim"], r["in_dim"]) for r in f)
    out = bartlett_margin_bound(r_gamma, xf, ra, gamma, int(x.shape[0]), w, delta)
    local = any(r["norm"]["kind"] in ("local",) for r in f)
    out.update({"gamma": gamma, "margin_risk": r_gamma, "r_a": ra, "layers": f,
                "notes": ("local version: LN/RMS/GN/IBNorm enter through factors measured on the given inputs"
                          if local else "certified form (normalizers, if any, folded exactly)")})
    return out


def param_distance(model: nn.Module, init_model: nn.Module) -> float:
    """||theta - theta_0||_2 over all trainable parameters (matching names)."""
    p0 = dict(init_model.named_parameters())
    tot = 0.0
    for n, p in model.named_parameters():
        if p.requires_grad:
            tot += float(((p.detach().double() - p0[n].detach().double()) ** 2).sum())
    return math.sqrt(tot)


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def _error(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(1) != y).double().mean())


@torch.no_grad()
def pac_bayes_sharpness_bound(model: nn.Module, x: Tensor, y: Tensor, init_model: nn.Module, *,
                              sigmas: tuple = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001), mc_samples: int = 10,
                              delta: float = 0.05, seed: int = 0) -> dict:
    """PAC-Bayes-kl bound on the error of Q = N(theta, s^2 I), prior P = N(theta_0, s^2 I) (theta_0 = the
    initialization, data-independent), for each s in ``sigmas`` with a union bound (delta/2 split over the
    grid for the PAC-Bayes step and delta/2 for the Monte Carlo step). The model is evaluated in eval mode
    (BN = its folded affine map; LN/RMS/IBNorm as they are); normalizer parameters are perturbed like any
    other. Returns the best grid point and every row.
    """
    _check_xy(x, y)
    if mc_samples < 1 or not sigmas or any(not (s > 0) for s in sigmas):
        raise ValueError("need mc_samples >= 1 and positive sigmas")
    model.eval()
    n, G = int(x.shape[0]), len(sigmas)
    params = [p for p in model.parameters() if p.requires_grad]
    theta = [p.detach().clone() for p in params]
    d = sum(p.numel() for p in params)
    sq = param_distance(model, init_model) ** 2
    gen = torch.Generator().manual_seed(int(seed))
    rows = []
    try:
        for s in sigmas:
            errs = []
            for _ in range(mc_samples):
                for p, t in zip(params, theta):
                    p.copy_(t + s * torch.randn(t.shape, generator=gen, dtype=t.dtype))
                errs.append(_error(model, x, y))
            mc = sum(errs) / len(errs)  # divide by the number of samples (no off-by-one)
            emp = mc_sample_bound(mc, mc_samples, delta / (2 * G))
            kl = gaussian_kl_isotropic(sq, s, s, d)
            rows.append({"sigma": s, "mc_risk": mc, "emp_risk_bound": emp, "kl": kl,
                         "bound": pac_bayes_kl_bound(emp, kl, n, delta / (2 * G))})
    finally:
        for p, t in zip(params, theta):
            p.copy_(t)
    best = min(rows, key=lambda r: r["bound"])
    return {"bound": best["bound"], "sigma": best["sigma"], "kl": best["kl"], "mc_risk": best["mc_risk"],
            "train_error": _error(model, x, y), "rows": rows, "n_params": d, "delta": delta}


def _round_up_pow2(r: float) -> float:
    """Smallest 2^k >= r for k in [-16, 15] (the radius grid of the local bound: 32 points)."""
    k = min(max(math.ceil(math.log2(max(r, 2.0 ** -16))), -16), 15)
    return 2.0 ** k


def local_lipschitz_bound(model: nn.Module, x: Tensor, y: Tensor, init_model: nn.Module, *,
                          margin_quantile: float = 0.1, delta: float = 0.05, max_inputs: int = 64,
                          seed: int = 0) -> dict:
    """RECONSTRUCTED local-Lipschitz covering bound (:func:`ibnorm_verify.theory.bounds.local_lipschitz_covering_bound`).

    L_Theta = sup over (a subset of ``max_inputs``) training inputs of ||d f(x; theta) / d theta||_2 at
    the trained parameters, from :func:`~ibnorm_verify.verification.estimators.lipschitz.estimate_lipschitz`
    (``wrt="params"``): ``upper`` (certified at those inputs, product of per-block factors including the
    normalizers' 1/sigma) gives ``bound``, ``lower`` (attained) gives ``bound_attained``. Using the value
    at the trained parameters for the whole ball B(theta_0, R) is a plug-in (stated in ``notes``). R =
    ||theta - theta_0|| rounded up to the power-of-two grid; gamma = the ``margin_quantile`` quantile of
    the training margins; the bound is on the gap of the gamma-ramp loss.
    """
    _check_xy(x, y)
    model.eval()
    xs = x[:max_inputs].reshape(min(max_inputs, x.shape[0]), -1).to(next(model.parameters()).dtype)
    est = estimate_lipschitz(model, xs, wrt="params", seed=seed)
    with torch.no_grad():
        m = class_margins(model(x.reshape(x.shape[0], -1).to(xs.dtype)), y).double()
    gamma = max(float(torch.quantile(m, margin_quantile)), 1e-6)
    R = param_distance(model, init_model)
    Rg = _round_up_pow2(R)
    p, n = _n_params(model), int(x.shape[0])
    up = est.upper if math.isfinite(est.upper) else math.nan
    b_up = local_lipschitz_covering_bound(p, Rg, up, n, gamma=gamma, delta=delta) if math.isfinite(up) else None
    b_lo = local_lipschitz_covering_bound(p, Rg, est.lower, n, gamma=gamma, delta=delta)
    ramp_train = float(torch.clamp(1 - m / gamma, 0, 1).mean())
    return {"bound": b_up["bound"] if b_up else math.nan, "bound_attained": b_lo["bound"],
            "log_arg": b_up["log_arg"] if b_up else math.nan, "log_arg_attained": b_lo["log_arg"],
            "lip_upper": up, "lip_lower": est.lower, "radius": R, "radius_grid": Rg, "gamma": gamma,
            "ramp_train": ramp_train, "n_params": p, "n": n, "upper_reason": est.upper_reason,
            "notes": "reconstructed form; L measured at the trained parameters on training inputs (plug-in for the ball)"}


def validate(seed: int = 0) -> list[ValidationRow]:
    """Ground-truth checks of this module (cheap; run by the claims that use it).

    * kl inversion: p = sup{kl(q||p) <= c} to 1e-12 on a grid, and the closed form 1 - e^-c at q = 0;
    * spectral complexity of a linear orthogonal chain W_i = g Q_i: ||W_i||_2 = g exactly;
    * parameter Lipschitz of a one-layer linear net f(x) = W x: ||d f / d W||_2 = ||x|| exactly
      (the estimator the local bound uses): lower <= truth <= upper, both within 1e-6.
    """
    rows = []
    bad = 0
    for q in (0.0, 0.01, 0.1, 0.3, 0.5, 0.9):
        for c in (1e-4, 0.01, 0.1, 1.0, 5.0):
            p = inv_kl(q, c)
            ok = kl_bernoulli(q, p) <= c + 1e-12 and (p + 1e-12 >= 1.0 or kl_bernoulli(q, p + 1e-12) > c)
            bad += not ok
    rows.append(ValidationRow("inv_kl", "failures of p = sup{kl(q||p) <= c} to 1e-12, 6x5 grid", 0.0, float(bad),
                              bad == 0, "no failure", family="bounds", n=30))
    t0, e0 = 1 - math.exp(-0.7), inv_kl(0.0, 0.7)
    rows.append(ValidationRow("inv_kl", "q=0, c=0.7: closed form 1-exp(-c)", t0, e0, abs(e0 - t0) <= 1e-12,
                              "|error| <= 1e-12", family="bounds"))
    net = build_network(depth=3, width=8, gain=2.0, activation="relu", seed=seed)
    f = chain_factors(net, torch.randn(4, 8, dtype=torch.float64))
    err = max(abs(r["spec"] - 2.0) for r in f)
    rows.append(ValidationRow("chain_factors.spec", "orthogonal W=2Q, 3 layers: ||W||_2 = 2", 2.0,
                              max(r["spec"] for r in f), err <= 1e-10, "max |error| <= 1e-10", family="bounds"))
    lin = build_network(depth=1, width=6, gain=1.5, activation="identity", seed=seed)
    xs = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    est = estimate_lipschitz(lin, xs, wrt="params")
    truth = float(xs.norm(dim=1).max())
    ok = est.lower <= truth * (1 + 1e-9) and est.upper >= truth * (1 - 1e-9) and \
        max(abs(est.lower - truth), abs(est.upper - truth)) <= 1e-6 * truth
    rows.append(ValidationRow("estimate_lipschitz(wrt=params)", "f(x)=Wx: ||df/dW||_2 = max ||x||", truth,
                              float(est.lower), bool(ok), "lower <= truth <= upper, both within 1e-6 relative",
                              lower=float(est.lower), upper=float(est.upper), family="bounds"))
    return rows
