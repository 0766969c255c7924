"""Lower and upper bounds of ||d f(x) / d theta|| (all trainable parameters flattened), at given inputs.

Lower: per-sample power iteration on J_theta^T J_theta (``torch.func`` jvp/vjp under vmap).

Upper, for the controlled networks of :func:`ibnorm_verify.verification.models.build_network` (an
``nn.Sequential`` of ``Block``): J_theta = [S_1 B_1, ..., S_L B_L] (column blocks), with B_i = d block_i /
d theta_i at the sample and S_i the Jacobian of the blocks after block i, so
||J_theta||^2 <= sum_i ||S_i||^2 ||B_i||^2. ||S_i|| <= product of the later blocks' factors
((residual ? 1 : 0) + ||W_j|| c_j, the activation slopes <= 1, c_j the normalizer's factor at the sample,
max|gamma| s / sigma), and ||B_i|| <= sqrt((c_i sqrt(k ||h||^2 + [bias] n_out))^2 + max_channel(||yhat_c||^2
+ [beta] n_c)) (k = taps of a conv kernel, yhat the normalizer output before its affine).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call, jvp, vjp, vmap

from ibnorm.compression import get_compression
from ibnorm.groupings import spec_of

from ...models import Block
from .lower import bdiv, bnorm
from .opnorm import conv_operator_norm, operator_norm
from .ops import tensor_sum

__all__ = ["power_params", "params_upper"]


def power_params(model: nn.Module, x: Tensor, iters: int, tol: float, gen: torch.Generator,
                 max_elems: int = 1 << 24) -> tuple[Tensor, int]:
    """Per-sample power iteration on J_theta^T J_theta (vmap over samples): ((N,), iterations)."""
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())
    n_params = sum(p.numel() for p in params.values())
    chunk = max(1, min(x.shape[0], max_elems // max(n_params, 1)))

    def f_one(p, xi):
        return functional_call(model, ({**p, **frozen}, buffers), (xi.unsqueeze(0),)).squeeze(0)

    def jv_one(xi, vi):
        return jvp(lambda p: f_one(p, xi), (params,), (vi,))[1]

    def jtu_one(xi, ui):
        _, fn = vjp(lambda p: f_one(p, xi), params)
        return fn(ui)[0]

    jv_b, jtu_b = vmap(jv_one), vmap(jtu_one)
    out, its = [], 0
    for start in range(0, x.shape[0], chunk):
        xc = x[start:start + chunk]
        nb = xc.shape[0]
        v = {k: torch.randn((nb,) + p.shape, generator=gen, dtype=p.dtype) for k, p in params.items()}
        best = torch.full((nb,), math.nan, dtype=x.dtype)
        prev = None
        for it in range(1, iters + 1):
            vn = torch.sqrt(tensor_sum([t.reshape(nb, -1).pow(2).sum(1) for t in v.values()]))
            v = {k: bdiv(t, vn) for k, t in v.items()}
            s = bnorm(jv_b(xc, v))
            ok = torch.isfinite(s)
            best = torch.where(ok & (torch.isnan(best) | (s > best)), s, best)
            v = jtu_b(xc, jv_b(xc, v))
            its = max(its, it)
            if prev is not None and bool(((s - prev).abs() <= tol * s.clamp_min(1e-300)).all()):
                break
            prev = s
        out.append(best)
    return torch.cat(out), its


def _layer_norm_bound(layer: nn.Module, h: Tensor) -> float:
    if isinstance(layer, nn.Linear):
        return operator_norm(layer.weight)
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        return conv_operator_norm(layer, tuple(h.shape[2:]))[0]
    return math.inf


def _layer_param_bound(layer: nn.Module, h: Tensor, z: Tensor) -> Tensor:
    """(N,) bound on ||d layer(h) / d (W, b)|| at each sample: sqrt(taps ||h||^2 + [bias] * outputs/channel)."""
    hn2 = bnorm(h).pow(2)
    if isinstance(layer, nn.Linear):
        taps, per_b = 1, z[0].numel() // z.shape[-1]
    elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        taps, per_b = math.prod(layer.kernel_size), z[0, 0].numel()
    else:
        return torch.full((h.shape[0],), math.inf, dtype=h.dtype)
    return torch.sqrt(taps * hn2 + (per_b if layer.bias is not None else 0))


def _norm_factor(m: nn.Module, z: Tensor) -> Tensor:
    """(N,) sup ||d norm(z) / d z|| at each sample: max|gamma| s / sigma_min (capacity.md, normalizer factor)."""
    spec = spec_of(m)
    n = z.shape[0]
    if spec is None:
        return torch.full((n,), math.inf, dtype=z.dtype)
    comp = get_compression(spec.compression)
    s = float(comp.max_slope(spec.lam))
    gamma = spec.gamma()
    gmax = 1.0 if gamma is None else float(gamma.detach().abs().max())
    eps = spec.effective_eps(z.dtype)
    if spec.grouping == "batch":
        if not spec.use_running_stats:
            return torch.full((n,), math.inf, dtype=z.dtype)
        assert spec.running_var is not None, "use_running_stats implies running statistics"
        g = torch.ones_like(spec.running_var) if gamma is None else gamma.detach().abs()
        rv = spec.running_var.detach().to(torch.float64)
        c = float((g * s / torch.sqrt(rv + eps)).max())
        return torch.full((n,), c, dtype=z.dtype)
    m_ = spec.group_size(z)
    zg = z.detach().reshape(n, -1, m_).to(torch.float64)
    u = zg - zg.mean(-1, keepdim=True) if spec.center else zg
    w = comp.fn(u, spec.lam) if spec.order == "compress_first" else u
    var = w.var(-1, unbiased=False) if spec.center else w.pow(2).mean(-1)
    return (gmax * s / torch.sqrt(var + eps)).amax(1).to(z.dtype)


def _affine_param_bound(m: nn.Module, z: Tensor) -> Tensor:
    """(N,) ||d norm / d (gamma, beta)|| = max over gamma entries c of sqrt(||yhat_c||^2 + [beta] n_c)."""
    spec = spec_of(m)
    n = z.shape[0]
    if spec is None or (spec.weight is None and spec.bias is None):
        return torch.zeros(n, dtype=z.dtype)
    yhat = spec.standardize(z.detach())
    if spec.grouping in ("layer", "rms"):
        d = math.prod(spec.normalized_shape or (z.shape[-1],))
        per = yhat.reshape(n, -1, d).pow(2).sum(1)          # (N, d): sum over leading groups
        cnt = yhat[0].numel() // d
    else:
        per = yhat.reshape(n, yhat.shape[1], -1).pow(2).sum(-1)
        cnt = yhat[0, 0].numel()
    per = (per if spec.weight is not None else torch.zeros_like(per)) + (cnt if spec.bias is not None else 0)
    return per.amax(1).sqrt()


def params_upper(model: nn.Module, x: Tensor) -> tuple[Tensor, str, dict]:
    """(N,) certified bounds at the inputs for a build_network model, a reason if infinite, details."""
    n = x.shape[0]
    blocks = [b for b in model if isinstance(b, Block)] if isinstance(model, nn.Sequential) else []
    if not (isinstance(model, nn.Sequential) and len(model) > 0 and len(blocks) == len(model)):
        return (torch.full((n,), math.inf, dtype=x.dtype),
                "the certified parameter bound is implemented for the controlled networks of "
                "ibnorm_verify.verification.models.build_network (an nn.Sequential of Block)", {})
    block_factors, param_terms = [], []
    h = x
    with torch.no_grad():
        for blk in blocks:
            wn = _layer_norm_bound(blk.layer, h)
            z = blk.layer(h)
            c = _norm_factor(blk.norm, z) if blk.norm is not None else torch.ones(n, dtype=x.dtype)
            branch = wn * c
            block_factors.append(1.0 + branch if blk.residual else branch)
            pl = _layer_param_bound(blk.layer, h, z)
            pa = _affine_param_bound(blk.norm, z) if blk.norm is not None else torch.zeros(n, dtype=x.dtype)
            param_terms.append(torch.sqrt((c * pl).pow(2) + pa.pow(2)))
            h = blk(h)
    total = torch.zeros(n, dtype=x.dtype)
    suffix = torch.ones(n, dtype=x.dtype)
    for bf, pt in zip(reversed(block_factors), reversed(param_terms)):
        total = total + (suffix * pt).pow(2)
        suffix = suffix * bf
    up = total.sqrt()
    reason = "" if bool(torch.isfinite(up).all()) else "a block factor is infinite (eps = 0 at zero variance)"
    return up, reason, {}
