"""Functional IBNorm: ``ib_layer_norm``, ``ib_rms_norm``, ``ib_batch_norm``, ``ib_group_norm``.

IBNorm (arXiv 2510.25262) = grouping (NAP) -> compression f_lambda -> standardization (NOP) ->
affine recovery (NRR), in the taxonomy of Huang et al. (arXiv 2009.12836). The pipeline, with
``u`` the centered group values (LN/BN/GN) or the raw values (RMSNorm), is

    order="compress_first"  (default; the order the paper's ablation favours):
        z = f_lam(u);  y = (z - mean_g z) / sqrt(var_g z + eps)       (RMS: y = z / sqrt(ms_g z + eps))
    order="standardize_first"  (the ablation's alternative):
        y = f_lam((x - mean_g x) / sqrt(var_g x + eps))                (RMS: f_lam(x / sqrt(ms_g x + eps)))

followed by ``y * weight + bias``. Only the order is stated by the sources ([reviews] R1, [summary]
sciencestack); the centering of u and every f_lam are our reconstruction (``docs/papers/ibnorm.md``,
sections 1.2 and 1.4).

``compression="identity"`` dispatches to torch's own op, so it equals ``F.layer_norm`` /
``F.rms_norm`` / ``F.batch_norm`` / ``F.group_norm`` bit for bit, values and gradients.

One contract for every path (the backends of :mod:`ibnorm.kernels` and the composite that computes
BatchNorm and GroupNorm): arguments are checked once, by :mod:`ibnorm._checks` (its docstring lists
the rules: dtypes, devices, shapes, eps, lam per dtype); the output has the input's dtype; statistics
and the compression are computed in fp32 for fp16/bf16 inputs and rounded once at the end; empty
inputs give empty outputs, as torch's ops do.

Non-finite input: like torch, no error is raised (a check would force a device sync). Other groups
are never affected. Within the affected group:

* a NaN anywhere gives NaN in every element of the group (every grouping);
* +-inf in a centered grouping (LN/BN/GN) gives NaN in every element (inf - inf in the mean);
* +-inf in the RMS grouping: with ``order="compress_first"`` a bounded compression (``tanh``,
  ``softsign``) maps it to +-1/lam, so the row stays finite; an unbounded one (``identity`` =
  ``F.rms_norm``, ``log``, ``root``), and every compression with ``order="standardize_first"``, gives
  NaN at the infinite element and 0 at the finite ones (x / inf).

Large inputs: every IBNorm path scales its variance against overflow, so fp32 values up to ~3e38 are
standardized correctly (``F.layer_norm`` returns NaN above ~1e19, and so does the identity compression,
which is torch's op); only groups whose *sum* overflows the compute dtype are out of range.

Validate inputs upstream if that matters (the verification suite does).
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor

from . import _checks
from ._checks import check_order
from ._types import ORDERS, Backend, Order, compute_dtype
from .compression import Compression
from .kernels import composite, dispatch_rowwise

__all__ = ["ib_layer_norm", "ib_rms_norm", "ib_batch_norm", "ib_group_norm", "ib_standardize", "ORDERS"]

#: the former private name of :func:`ibnorm._checks.check_order` (kept for callers that used it)
_check_order = check_order


def ib_standardize(x: Tensor, dims: int | Sequence[int], *, center: bool, compression: str | Compression = "tanh",
                   lam: float = 1.0, eps: float = 1e-5, order: Order = "compress_first") -> Tensor:
    """The IBNorm NOP over ``dims`` (no affine): the reference composite (:mod:`ibnorm.kernels.composite`)
    that every path agrees with.

    ``center=True`` is the LN/BN/GN standardization, ``center=False`` the RMS one. Statistics use the
    biased variance, as torch's normalizers do. Shape and dtype are preserved.
    """
    dims_t, a = _checks.check_standardize(x, dims, compression, lam, eps, order)
    y = composite.standardize(x.to(compute_dtype(x.dtype)), dims_t, center_=center, comp=a.comp, lam=a.lam,
                              eps=a.eps, order=a.order)
    return y.to(x.dtype)


# ------------------------------------------------------------------------------ row-wise (LN/RMS)

def ib_layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
                  bias: Tensor | None = None, eps: float = 1e-5, compression: str | Compression = "tanh",
                  lam: float = 1.0, order: Order = "compress_first", backend: Backend | None = None) -> Tensor:
    """IBNorm with LayerNorm grouping (statistics over the trailing ``normalized_shape`` dims).

    Mirrors ``F.layer_norm(input, normalized_shape, weight, bias, eps)``. ``backend`` selects the
    implementation: ``"auto"`` (Triton on CUDA, the fused C kernel on CPU when a compiler could build it,
    else fused torch ops), ``"triton"``, ``"cpu"``, ``"torch"``, or
    ``"composite"`` (the reference composite: use it for double backward, e.g. Hessian-vector
    products); default from ``IBNORM_BACKEND``, else auto. Inside ``torch.func`` transforms the
    composite is used automatically.
    """
    a = _checks.check_rowwise(x, normalized_shape, weight, bias, eps, compression, lam, order, backend, rms=False)
    if a.comp.is_identity:
        return F.layer_norm(x, a.shape, weight, bias, a.eps)
    return dispatch_rowwise(x, a.shape, weight, bias, a.eps, a.comp, a.lam, center=True, order=a.order,
                            backend=a.backend)


def ib_rms_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
                eps: float | None = None, compression: str | Compression = "tanh", lam: float = 1.0,
                order: Order = "compress_first", backend: Backend | None = None) -> Tensor:
    """IBNorm with RMSNorm grouping. Mirrors ``F.rms_norm``; ``eps=None`` means ``finfo(x.dtype).eps``."""
    a = _checks.check_rowwise(x, normalized_shape, weight, None, eps, compression, lam, order, backend, rms=True)
    if a.comp.is_identity:
        return F.rms_norm(x, a.shape, weight, eps)
    return dispatch_rowwise(x, a.shape, weight, None, a.eps, a.comp, a.lam, center=False, order=a.order,
                            backend=a.backend)


# ------------------------------------------------------------------------------------- BatchNorm

def ib_batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                  weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
                  momentum: float = 0.1, eps: float = 1e-5, compression: str | Compression = "tanh",
                  lam: float = 1.0, order: Order = "compress_first",
                  running_zmean: Tensor | None = None) -> Tensor:
    """IBNorm with BatchNorm grouping (per channel over batch and spatial dims). Mirrors ``F.batch_norm``.

    Input ``(N, C, *)``. In training mode the batch statistics are used and the running buffers are
    updated in place (unbiased variance, as torch). With ``order="compress_first"`` the buffers are:
    ``running_mean`` = mean of x (the centering; identical to torch's), ``running_var`` = variance of
    z = f(x - mean), which equals torch's running_var for the identity compression, and
    ``running_zmean`` = mean of z (0 for odd f on symmetric data; exactly 0 for the identity). In
    eval mode: y = (f(x - running_mean) - running_zmean) / sqrt(running_var + eps).
    """
    a = _checks.check_batch_norm(x, running_mean, running_var, weight, bias, training, eps, compression, lam, order,
                                 running_zmean)
    if a.comp.is_identity:
        # contiguous(): torch 2.13's CPU batch_norm backward returns garbage input gradients for a
        # stride-0 (expanded) weight (tests/ibnorm/test_functional.py)
        weight = None if weight is None else weight.contiguous()
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, a.eps)
    return composite.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, a.eps, a.comp, a.lam,
                                a.order, running_zmean)


# ------------------------------------------------------------------------------------- GroupNorm

def ib_group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
                  eps: float = 1e-5, compression: str | Compression = "tanh", lam: float = 1.0,
                  order: Order = "compress_first") -> Tensor:
    """IBNorm with GroupNorm grouping. Mirrors ``F.group_norm``; input ``(N, C, *)``, C % num_groups == 0.

    ``num_groups == C`` gives InstanceNorm grouping, ``num_groups == 1`` LayerNorm-over-(C, *) grouping.
    """
    groups, a = _checks.check_group_norm(x, num_groups, weight, bias, eps, compression, lam, order)
    if a.comp.is_identity:
        return F.group_norm(x, groups, weight, bias, a.eps)
    return composite.group_norm(x, groups, weight, bias, a.eps, a.comp, a.lam, a.order)
