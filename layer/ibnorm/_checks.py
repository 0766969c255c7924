"""Every argument check of :mod:`ibnorm`'s functional API, in one place; each public call runs them once.

:func:`check_rowwise`, :func:`check_batch_norm`, :func:`check_group_norm` and :func:`check_standardize`
validate one call of ``ib_layer_norm`` / ``ib_rms_norm``, ``ib_batch_norm``, ``ib_group_norm`` and
``ib_standardize`` and return the resolved arguments; the backends below them (:mod:`ibnorm.kernels`)
trust what they are given and check nothing again. The rules follow torch's own ops where torch
checks, and refuse what torch would compute silently wrong:

* ``input``: a floating tensor (``TypeError`` otherwise; complex, integer and bool refused).
* ``weight``, ``bias``, running statistics: tensors of the expected shape (``ValueError``), of a real
  floating dtype (``TypeError``: integer, bool and complex refused, for RMSNorm too, where
  ``F.rms_norm`` accepts them), of the input's dtype or fp32 for 16-bit inputs (torch's mixed-dtype
  rule; ``F.rms_norm`` takes any floating weight, and so does ``ib_rms_norm``), on the input's device
  (``RuntimeError``, as torch: a weight on ``meta`` or on another device never reaches a kernel).
  The output has the input's dtype on every path.
* ``normalized_shape``: an int or a sequence of ints (numpy integers included), matching the trailing
  dims of the input.
* ``eps``: a finite number >= 0 (a negative eps gives NaN); RMS ``eps=None`` is ``finfo(dtype).eps``
  (:func:`rms_eps`, the one place this rule is written).
* ``compression``, ``lam``: a registered name (or a :class:`~ibnorm.compression.Compression`) and a lam in
  its domain and in the range the input's compute dtype can evaluate
  (:func:`ibnorm.compression.validate_lam`).
* ``order`` and ``backend``: one of :data:`ibnorm._types.ORDERS` / :data:`ibnorm._types.BACKENDS`
  (``backend=None`` reads ``$IBNORM_BACKEND``, else ``"auto"``), validated for every compression,
  the identity included.
"""
from __future__ import annotations

import math
import operator
import os
from dataclasses import dataclass
from typing import Sequence, cast

import torch
from torch import Tensor

from ._types import BACKENDS, ORDERS, Backend, Order
from .compression import Compression, get_compression, validate_lam

__all__ = ["check_input", "normalized_shape_of", "check_order", "resolve_backend", "check_eps", "rms_eps",
           "resolve_compression", "check_param", "RowwiseArgs", "ChannelArgs", "check_rowwise",
           "check_batch_norm", "check_group_norm", "check_standardize"]

HALF_DTYPES = (torch.float16, torch.bfloat16)


def check_input(x: object, name: str = "input") -> Tensor:
    """``x`` if it is a real floating tensor; ``TypeError`` otherwise."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def normalized_shape_of(x: Tensor, normalized_shape: object) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of ints (an int, a numpy integer or a sequence of them), checked
    against the trailing dims of ``x``."""
    try:
        if isinstance(normalized_shape, (Sequence, torch.Size)) and not isinstance(normalized_shape, str):
            shape = tuple(operator.index(cast(int, s)) for s in normalized_shape)
        else:
            shape = (operator.index(cast(int, normalized_shape)),)
    except TypeError:
        raise TypeError(f"normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}") from None
    if len(shape) == 0 or len(shape) > x.dim() or tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(
            f"normalized_shape {list(shape)} does not match the trailing dimensions of an input "
            f"of shape {list(x.shape)}"
        )
    return shape


def check_order(order: object) -> Order:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return order


def resolve_backend(backend: object) -> Backend:
    """``backend``, or ``$IBNORM_BACKEND``, or ``"auto"``; ``ValueError`` on an unknown name."""
    name = backend if backend is not None else os.environ.get("IBNORM_BACKEND", "auto")
    if name not in BACKENDS:
        source = "" if backend is not None else " (from $IBNORM_BACKEND)"
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}{source}")
    return name


def check_eps(eps: object, name: str = "eps") -> float:
    """``float(eps)``, finite and >= 0."""
    try:
        e = float(eps)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {eps!r}") from None
    if not math.isfinite(e) or e < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {eps!r}")
    return e


def rms_eps(eps: object, dtype: torch.dtype) -> float:
    """The eps of the RMS grouping: ``eps=None`` means ``torch.finfo(dtype).eps`` of the input dtype (as
    ``F.rms_norm`` and ``nn.RMSNorm``)."""
    return float(torch.finfo(dtype).eps) if eps is None else check_eps(eps)


def resolve_compression(compression: object, lam: object, dtype: torch.dtype) -> tuple[Compression, float]:
    """The compression and ``float(lam)``, validated for inputs of ``dtype``."""
    comp = get_compression(cast("str | Compression", compression))
    return comp, validate_lam(comp, cast(float, lam), dtype)


def _dtype_ok(x_dtype: torch.dtype, p_dtype: torch.dtype, any_float: bool) -> bool:
    return any_float or p_dtype == x_dtype or (x_dtype in HALF_DTYPES and p_dtype == torch.float32)


def check_param(p: object, x: Tensor, shape: tuple[int, ...], name: str, *, any_float: bool = False) -> None:
    """``p`` is None or a tensor of ``shape``, of a dtype the op takes with ``x`` (``any_float``: every real
    floating dtype, as ``F.rms_norm``'s weight), on ``x``'s device."""
    if p is None:
        return
    if not isinstance(p, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(p).__name__}")
    if tuple(p.shape) != shape:
        raise ValueError(f"{name} has shape {list(p.shape)}, expected {list(shape)}")
    if not p.is_floating_point():
        raise TypeError(f"{name} must have a real floating dtype, got {p.dtype}")
    if not _dtype_ok(x.dtype, p.dtype, any_float):
        allowed = f"{x.dtype}" + (" or torch.float32" if x.dtype in HALF_DTYPES else "")
        raise RuntimeError(f"{name} has dtype {p.dtype}, but an input of dtype {x.dtype} takes {allowed} "
                           "(torch's mixed-dtype rule)")
    if p.device != x.device:
        raise RuntimeError(f"{name} is on device {p.device} but the input is on {x.device}; "
                           "move it to the input's device")


@dataclass(frozen=True)
class RowwiseArgs:
    """A validated call of the row-wise family (LayerNorm / RMSNorm grouping)."""

    shape: tuple[int, ...]
    eps: float
    comp: Compression
    lam: float
    order: Order
    backend: Backend


@dataclass(frozen=True)
class ChannelArgs:
    """A validated call of a channel grouping (BatchNorm / GroupNorm)."""

    eps: float
    comp: Compression
    lam: float
    order: Order


def check_rowwise(x: object, normalized_shape: object, weight: object, bias: object, eps: object,
                  compression: object, lam: object, order: object, backend: object, *, rms: bool) -> RowwiseArgs:
    """``ib_layer_norm`` (``rms=False``) and ``ib_rms_norm`` (``rms=True``; no bias, eps may be None)."""
    t = check_input(x)
    shape = normalized_shape_of(t, normalized_shape)
    check_param(weight, t, shape, "weight", any_float=rms)
    check_param(bias, t, shape, "bias")
    e = rms_eps(eps, t.dtype) if rms else check_eps(eps)
    comp, lam_f = resolve_compression(compression, lam, t.dtype)
    return RowwiseArgs(shape, e, comp, lam_f, check_order(order), resolve_backend(backend))


def _channels(t: Tensor, what: str) -> int:
    if t.dim() < 2:
        raise ValueError(f"{what} expects an input of shape (N, C, *), got {list(t.shape)}")
    return int(t.shape[1])


def check_batch_norm(x: object, running_mean: object, running_var: object, weight: object, bias: object,
                     training: bool, eps: object, compression: object, lam: object, order: object,
                     running_zmean: object) -> ChannelArgs:
    t = check_input(x)
    c = _channels(t, "batch norm")
    for p, name in ((weight, "weight"), (bias, "bias"), (running_mean, "running_mean"),
                    (running_var, "running_var"), (running_zmean, "running_zmean")):
        check_param(p, t, (c,), name)
    e = check_eps(eps)
    if training and e <= 0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {e}")
    if training and math.prod(t.shape[:1] + t.shape[2:]) == 1:  # as torch: N * prod(spatial) == 1
        raise ValueError(f"expected more than 1 value per channel when training, got input size {list(t.shape)}")
    comp, lam_f = resolve_compression(compression, lam, t.dtype)
    return ChannelArgs(e, comp, lam_f, check_order(order))


def check_group_norm(x: object, num_groups: object, weight: object, bias: object, eps: object,
                     compression: object, lam: object, order: object) -> tuple[int, ChannelArgs]:
    t = check_input(x)
    c = _channels(t, "group norm")
    try:
        g = operator.index(cast(int, num_groups))
    except TypeError:
        raise TypeError(f"num_groups must be an int, got {num_groups!r}") from None
    if g <= 0 or c % g != 0:
        raise ValueError(f"num_channels ({c}) must be divisible by num_groups ({g})")
    check_param(weight, t, (c,), "weight")
    check_param(bias, t, (c,), "bias")
    e = check_eps(eps)
    comp, lam_f = resolve_compression(compression, lam, t.dtype)
    return g, ChannelArgs(e, comp, lam_f, check_order(order))


def check_standardize(x: object, dims: object, compression: object, lam: object, eps: object,
                      order: object) -> tuple[tuple[int, ...], ChannelArgs]:
    """``ib_standardize``: ``dims`` a non-empty sequence of distinct dims of ``x`` (or one int)."""
    t = check_input(x)
    try:
        raw = (tuple(operator.index(cast(int, d)) for d in dims) if isinstance(dims, Sequence)
               else (operator.index(cast(int, dims)),))
    except TypeError:
        raise TypeError(f"dims must be an int or a sequence of ints, got {dims!r}") from None
    nd = max(t.dim(), 1)
    if not raw or any(not -nd <= d < nd for d in raw) or len({d % nd for d in raw}) != len(raw):
        raise ValueError(f"dims {list(raw)} must be distinct dimensions of an input of shape {list(t.shape)}")
    comp, lam_f = resolve_compression(compression, lam, t.dtype)
    return raw, ChannelArgs(check_eps(eps), comp, lam_f, check_order(order))
