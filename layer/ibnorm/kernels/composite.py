"""The reference composite: IBNorm in plain torch ops, differentiated by autograd (``backend="composite"``).

Every path agrees with this one (:mod:`ibnorm.kernels` states the fused variants of the same math).
It is the only implementation of the BatchNorm and GroupNorm (and InstanceNorm) groupings, the
fallback for compressions without a fused kernel, what ``torch.func`` transforms differentiate, and
the backend for double backward (Hessian-vector products). With ``u`` the centered group values
(LN/BN/GN; the raw values for RMS)::

    compress_first:     z = f(u);  y = (z - mean z) / sqrt(var z + eps)       (RMS: z / sqrt(ms z + eps))
    standardize_first:  y = f(u / sqrt(var u + eps))                          (RMS: f(x / sqrt(ms x + eps)))

then ``y * weight + bias``. Statistics are the biased ones, as torch's normalizers use.

Numerics (the same contract as the fused backends): arithmetic in the compute dtype
(:func:`ibnorm._types.compute_dtype`: fp32 for fp16/bf16 inputs, so that constant groups give finite
gradients and |x - mean| above 256 does not overflow a 16-bit variance), one rounding to the input's
dtype at the end, after the affine. Centering is two-pass (x - mean(x), then minus the mean of that),
so a constant group at a large offset is centered to exactly zero and standardizes to f(0) = 0.

Nothing here validates arguments: :mod:`ibnorm._checks` did, once, in the public function that called.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .._types import Order, compute_dtype
from ..compression import Compression

__all__ = ["center", "rstd", "standardize", "affine", "rowwise", "batch_norm", "group_norm"]


def center(x: Tensor, dims: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """``(x - mean_dims(x), mean_dims(x))`` (keepdim), the mean refined by a second pass."""
    m1 = x.mean(dim=dims, keepdim=True)
    c = x - m1
    m2 = c.mean(dim=dims, keepdim=True)
    return c - m2, m1 + m2


def rstd(u: Tensor, dims: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor]:
    """``(rsqrt(mean(u^2) + eps), mean(u^2))`` over ``dims`` (keepdim), without overflow of ``u^2``: ``u`` is
    divided by a power of two s >= 1 near its largest magnitude (exact), so
    ``rsqrt(mean(u^2) + eps) = rsqrt(mean((u/s)^2) + eps/s^2) / s`` is evaluated where the squares are
    representable (fp32: |u| up to 3e38 instead of 1.8e19). s is 1 for groups of magnitude <= 1 and for
    non-finite ones (which keep the documented NaN rules), and a constant for autograd (the identity
    holds for every s). The second value (the mean square itself, for running statistics) may be inf."""
    if u.numel() == 0:  # amax has no identity: an empty group needs no scaling
        ms = u.pow(2).mean(dim=dims, keepdim=True)
        return torch.rsqrt(ms + eps), ms
    amax = u.detach().abs().amax(dim=dims, keepdim=True)
    big = torch.isfinite(amax) & (amax > 1)
    s = torch.where(big, torch.exp2(torch.floor(torch.log2(torch.where(big, amax, 1.0)))), 1.0)
    ms_s = (u / s).pow(2).mean(dim=dims, keepdim=True)
    return torch.rsqrt(ms_s + eps / (s * s)) / s, ms_s * (s * s)


def standardize(x: Tensor, dims: tuple[int, ...], *, center_: bool, comp: Compression, lam: float, eps: float,
                order: Order) -> Tensor:
    """The IBNorm standardization (no affine) over ``dims`` of ``x``, in ``x``'s dtype (call it with the
    compute dtype; :func:`rowwise` and the other entry points do)."""
    if order == "compress_first":
        u = center(x, dims)[0] if center_ else x
        z = comp.fn(u, lam)
        zc = z - z.mean(dim=dims, keepdim=True) if center_ else z
        return zc * rstd(zc, dims, eps)[0]
    u = center(x, dims)[0] if center_ else x
    return comp.fn(u * rstd(u, dims, eps)[0], lam)


def affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, view: tuple[int, ...] | None = None) -> Tensor:
    """``y * weight + bias`` in ``y``'s dtype, the parameters viewed as ``view`` (default: as they are)."""
    if weight is not None:
        w = weight.to(y.dtype)
        y = y * (w if view is None else w.view(view))
    if bias is not None:
        b = bias.to(y.dtype)
        y = y + (b if view is None else b.view(view))
    return y


def rowwise(x: Tensor, normalized_shape: tuple[int, ...], weight: Tensor | None, bias: Tensor | None, eps: float,
            comp: Compression, lam: float, *, center_: bool, order: Order) -> Tensor:
    """LayerNorm (``center_=True``) or RMSNorm grouping over the trailing ``normalized_shape`` dims, with
    the affine; same shape and dtype as ``x``."""
    dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))
    y = standardize(x.to(compute_dtype(x.dtype)), dims, center_=center_, comp=comp, lam=lam, eps=eps, order=order)
    return affine(y, weight, bias).to(x.dtype)


def _channel_view(x: Tensor) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.dim() - 2)


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
               bias: Tensor | None, training: bool, momentum: float, eps: float, comp: Compression, lam: float,
               order: Order, running_zmean: Tensor | None) -> Tensor:
    """BatchNorm grouping (per channel over batch and spatial dims), input ``(N, C, *)``; see
    :func:`ibnorm.functional.ib_batch_norm` for the running statistics."""
    cd = compute_dtype(x.dtype)
    xc = x.to(cd)
    view = _channel_view(x)
    if x.numel() == 0:  # as torch: an empty result, running statistics untouched
        return affine(xc * 0, weight, bias, view).to(x.dtype)
    dims = (0,) + tuple(range(2, x.dim()))
    n = math.prod(x.shape[:1] + x.shape[2:])
    update = training and running_mean is not None and running_var is not None
    use_batch = training or running_mean is None or running_var is None

    def _update(buf: Tensor | None, value: Tensor) -> None:
        if buf is not None:
            buf.mul_(1 - momentum).add_(momentum * value.detach())

    if use_batch:
        u, mean = center(xc, dims)
        mean = mean.view(-1)
    else:
        assert running_mean is not None and running_var is not None
        u = xc - running_mean.to(cd).view(view)
    if order == "standardize_first":
        if use_batch:
            r, var = rstd(u, dims, eps)
            if update:
                with torch.no_grad():
                    _update(running_mean, mean)
                    _update(running_var, var.view(-1) * n / max(n - 1, 1))
        else:
            assert running_var is not None
            r = torch.rsqrt(running_var.to(cd).view(view) + eps)
        y = comp.fn(u * r, lam)
        return affine(y, weight, bias, view).to(x.dtype)
    z = comp.fn(u, lam)
    if use_batch:
        zmean = z.mean(dim=dims)
        zc = z - zmean.view(view)
        r, zvar = rstd(zc, dims, eps)
        if update:
            with torch.no_grad():
                _update(running_mean, mean)
                _update(running_var, zvar.view(-1) * n / max(n - 1, 1))
                _update(running_zmean, zmean)
    else:
        assert running_var is not None
        zc = z if running_zmean is None else z - running_zmean.to(cd).view(view)
        r = torch.rsqrt(running_var.to(cd).view(view) + eps)
    y = zc * r
    return affine(y, weight, bias, view).to(x.dtype)


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None, bias: Tensor | None, eps: float, comp: Compression,
               lam: float, order: Order) -> Tensor:
    """GroupNorm grouping, input ``(N, C, *)`` with ``C % num_groups == 0`` (``num_groups == C``: the
    InstanceNorm grouping)."""
    n, c = x.shape[0], x.shape[1]
    per_group = (c // num_groups) * math.prod(x.shape[2:])
    xg = x.to(compute_dtype(x.dtype)).reshape(n, num_groups, per_group)  # (N, G, C/G * spatial)
    y = standardize(xg, (-1,), center_=True, comp=comp, lam=lam, eps=eps, order=order).reshape(x.shape)
    return affine(y, weight, bias, _channel_view(x)).to(x.dtype)
