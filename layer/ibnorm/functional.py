"""Functional IBNorm: ``ib_layer_norm``, ``ib_rms_norm``, ``ib_batch_norm``, ``ib_group_norm``.

IBNorm (arXiv 2510.25262) = grouping (NAP) -> compression f_lambda -> standardization (NOP) ->
affine recovery (NRR), in the taxonomy of Huang et al. (arXiv 2009.12836). The pipeline, with
``u`` the centered group values (LN/BN/GN) or the raw values (RMSNorm), is

    order="compress_first"  (default; the order the paper's ablation favours):
        z = f_lam(u);  y = (z - mean_g z) / sqrt(var_g z + eps)       (RMS: y = z / sqrt(ms_g z + eps))
    order="standardize_first"  (the ablation's alternative):
        y = f_lam((x - mean_g x) / sqrt(var_g x + eps))                (RMS: f_lam(x / sqrt(ms_g x + eps)))

followed by ``y * weight + bias``. Only the order is stated by the sources ([reviews] R1, [summary]
sciencestack); the centering of u and every f_lam are our reconstruction (``shared/papers/ibnorm.md``
section 1.2).

``compression="identity"`` dispatches to torch's own op, so it equals ``F.layer_norm`` /
``F.rms_norm`` / ``F.batch_norm`` / ``F.group_norm`` bit for bit, values and gradients.

Non-finite input: like torch, no error is raised (a check would force a device sync). Other groups
are never affected. Within the affected group:

* a NaN anywhere gives NaN in every element of the group (every grouping);
* +-inf in a centered grouping (LN/BN/GN) gives NaN in every element (inf - inf in the mean);
* +-inf in the RMS grouping: a bounded compression (``tanh``, ``softsign``) maps it to +-1/lam, so the
  row stays finite; an unbounded one (``identity`` = ``F.rms_norm``, ``log``, ``root``) gives NaN at
  the infinite element and 0 at the finite ones (z / inf).

Validate inputs upstream if that matters (the verification suite does).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .compression import Compression, get_compression, validate_lam

__all__ = ["ib_layer_norm", "ib_rms_norm", "ib_batch_norm", "ib_group_norm", "ib_standardize", "ORDERS"]

ORDERS = ("compress_first", "standardize_first")


# ----------------------------------------------------------------------------------------- checks

def _check_input(x: Tensor, name: str = "input") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")


def _check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return order


def _resolve(compression: str | Compression, lam: float) -> tuple[Compression, float]:
    comp = get_compression(compression)
    return comp, validate_lam(comp, lam)


def _normalized_shape(x: Tensor, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(int(s) for s in normalized_shape)
    if len(shape) == 0 or len(shape) > x.dim() or tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(
            f"normalized_shape {list(shape)} does not match the trailing dimensions of an input "
            f"of shape {list(x.shape)}"
        )
    return shape


def _check_param(p: Tensor | None, shape: tuple[int, ...], name: str) -> None:
    if p is not None and tuple(p.shape) != shape:
        raise ValueError(f"{name} has shape {list(p.shape)}, expected {list(shape)}")


# ----------------------------------------------------------------------------- shared mechanism

def ib_standardize(x: Tensor, dims: tuple[int, ...], *, center: bool, compression: str | Compression = "tanh",
                   lam: float = 1.0, eps: float = 1e-5, order: str = "compress_first") -> Tensor:
    """The IBNorm NOP over ``dims`` (no affine): the reference composite every path agrees with.

    ``center=True`` is the LN/BN/GN standardization, ``center=False`` the RMS one. Statistics use the
    biased variance, as torch's normalizers do. Shapes are preserved.
    """
    comp, lam = _resolve(compression, lam)
    _check_order(order)
    if order == "compress_first":
        u = x - x.mean(dim=dims, keepdim=True) if center else x
        z = comp.fn(u, lam)
        if center:
            zc = z - z.mean(dim=dims, keepdim=True)
            return zc * torch.rsqrt(zc.pow(2).mean(dim=dims, keepdim=True) + eps)
        return z * torch.rsqrt(z.pow(2).mean(dim=dims, keepdim=True) + eps)
    if center:
        xc = x - x.mean(dim=dims, keepdim=True)
        s = xc * torch.rsqrt(xc.pow(2).mean(dim=dims, keepdim=True) + eps)
    else:
        s = x * torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)
    return comp.fn(s, lam)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


# ------------------------------------------------------------------------------ row-wise (LN/RMS)

def ib_layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
                  bias: Tensor | None = None, eps: float = 1e-5, compression: str | Compression = "tanh",
                  lam: float = 1.0, order: str = "compress_first", backend: str | None = None) -> Tensor:
    """IBNorm with LayerNorm grouping (statistics over the trailing ``normalized_shape`` dims).

    Mirrors ``F.layer_norm(input, normalized_shape, weight, bias, eps)``. ``backend`` selects the
    implementation: ``"auto"`` (Triton on CUDA, the fused C kernel on CPU when a compiler could build it,
    else fused torch ops), ``"triton"``, ``"cpu"``, ``"torch"``, or
    ``"composite"`` (the reference composite: use it for double backward, e.g. Hessian-vector
    products); default from ``IBNORM_BACKEND``, else auto. Inside ``torch.func`` transforms the
    composite is used automatically.
    """
    _check_input(x)
    shape = _normalized_shape(x, normalized_shape)
    _check_param(weight, shape, "weight")
    _check_param(bias, shape, "bias")
    comp, lam = _resolve(compression, lam)
    _check_order(order)
    if comp.is_identity:
        return F.layer_norm(x, shape, weight, bias, eps)
    from .kernels import rowwise_ib_norm

    return rowwise_ib_norm(x, shape, weight, bias, eps, comp, lam, center=True, order=order, backend=backend)


def ib_rms_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
                eps: float | None = None, compression: str | Compression = "tanh", lam: float = 1.0,
                order: str = "compress_first", backend: str | None = None) -> Tensor:
    """IBNorm with RMSNorm grouping. Mirrors ``F.rms_norm``; ``eps=None`` means ``finfo(dtype).eps``."""
    _check_input(x)
    shape = _normalized_shape(x, normalized_shape)
    _check_param(weight, shape, "weight")
    comp, lam = _resolve(compression, lam)
    _check_order(order)
    if comp.is_identity:
        return F.rms_norm(x, shape, weight, eps)
    eps_f = torch.finfo(x.dtype).eps if eps is None else float(eps)
    from .kernels import rowwise_ib_norm

    return rowwise_ib_norm(x, shape, weight, None, eps_f, comp, lam, center=False, order=order, backend=backend)


# ------------------------------------------------------------------------------------- BatchNorm

def ib_batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                  weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
                  momentum: float = 0.1, eps: float = 1e-5, compression: str | Compression = "tanh",
                  lam: float = 1.0, order: str = "compress_first",
                  running_zmean: Tensor | None = None) -> Tensor:
    """IBNorm with BatchNorm grouping (per channel over batch and spatial dims). Mirrors ``F.batch_norm``.

    Input ``(N, C, *)``. In training mode the batch statistics are used and the running buffers are
    updated in place (unbiased variance, as torch). With ``order="compress_first"`` the buffers are:
    ``running_mean`` = mean of x (the centering; identical to torch's), ``running_var`` = variance of
    z = f(x - mean), which equals torch's running_var for the identity compression, and
    ``running_zmean`` = mean of z (0 for odd f on symmetric data; exactly 0 for the identity). In
    eval mode: y = (f(x - running_mean) - running_zmean) / sqrt(running_var + eps).
    """
    _check_input(x)
    if x.dim() < 2:
        raise ValueError(f"batch norm expects an input of shape (N, C, *), got {list(x.shape)}")
    c = x.shape[1]
    for p, name in ((weight, "weight"), (bias, "bias"), (running_mean, "running_mean"),
                    (running_var, "running_var"), (running_zmean, "running_zmean")):
        _check_param(p, (c,), name)
    comp, lam = _resolve(compression, lam)
    _check_order(order)
    if training and eps <= 0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if comp.is_identity:
        # contiguous(): torch 2.13's CPU batch_norm backward returns garbage input gradients for a
        # stride-0 (expanded) weight (tests/ibnorm/test_functional.py)
        weight = None if weight is None else weight.contiguous()
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    dims = (0,) + tuple(range(2, x.dim()))
    bshape = (1, c) + (1,) * (x.dim() - 2)
    use_batch = training or running_mean is None or running_var is None
    if training and x.numel() // c <= 1:
        raise ValueError(f"expected more than 1 value per channel when training, got input size {list(x.shape)}")
    n = x.numel() // c

    if order == "standardize_first":
        if use_batch:
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            if training and running_mean is not None and running_var is not None:
                with torch.no_grad():
                    running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                    running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / max(n - 1, 1))
        else:
            mean, var = running_mean, running_var
        s = (x - mean.view(bshape)) * torch.rsqrt(var.view(bshape) + eps)
        return _affine(comp.fn(s, lam), _bview(weight, bshape), _bview(bias, bshape))

    if use_batch:
        mean = x.mean(dim=dims)
        z = comp.fn(x - mean.view(bshape), lam)
        zmean = z.mean(dim=dims)
        zvar = z.var(dim=dims, unbiased=False)
        if training and running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * zvar.detach() * n / max(n - 1, 1))
                if running_zmean is not None:
                    running_zmean.mul_(1 - momentum).add_(momentum * zmean.detach())
    else:
        z = comp.fn(x - running_mean.view(bshape), lam)
        zmean = running_zmean if running_zmean is not None else torch.zeros_like(running_mean)
        zvar = running_var
    y = (z - zmean.view(bshape)) * torch.rsqrt(zvar.view(bshape) + eps)
    return _affine(y, _bview(weight, bshape), _bview(bias, bshape))


def _bview(p: Tensor | None, bshape: tuple[int, ...]) -> Tensor | None:
    return None if p is None else p.view(bshape)


# ------------------------------------------------------------------------------------- GroupNorm

def ib_group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
                  eps: float = 1e-5, compression: str | Compression = "tanh", lam: float = 1.0,
                  order: str = "compress_first") -> Tensor:
    """IBNorm with GroupNorm grouping. Mirrors ``F.group_norm``; input ``(N, C, *)``, C % num_groups == 0.

    ``num_groups == C`` gives InstanceNorm grouping, ``num_groups == 1`` LayerNorm-over-(C, *) grouping.
    """
    _check_input(x)
    if x.dim() < 2:
        raise ValueError(f"group norm expects an input of shape (N, C, *), got {list(x.shape)}")
    c = x.shape[1]
    if num_groups <= 0 or c % num_groups != 0:
        raise ValueError(f"num_channels ({c}) must be divisible by num_groups ({num_groups})")
    _check_param(weight, (c,), "weight")
    _check_param(bias, (c,), "bias")
    comp, lam = _resolve(compression, lam)
    _check_order(order)
    if comp.is_identity:
        return F.group_norm(x, num_groups, weight, bias, eps)
    xg = x.reshape(x.shape[0], num_groups, -1)  # (N, G, C/G * spatial)
    y = ib_standardize(xg, (-1,), center=True, compression=comp, lam=lam, eps=eps, order=order).reshape(x.shape)
    bshape = (1, c) + (1,) * (x.dim() - 2)
    return _affine(y, _bview(weight, bshape), _bview(bias, bshape))
