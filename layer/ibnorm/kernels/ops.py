"""``torch.library`` custom ops for the fused row-wise IBNorm, so that ``torch.compile`` traces through.

``ibnorm::rowwise_fwd(x, weight, bias, eps, comp_id, lam, center, compress_first, backend) -> (y, stats)``
``ibnorm::rowwise_bwd(dy, x, weight, stats, comp_id, lam, center, compress_first, need_dw, need_db,
backend) -> (dx, dweight, dbias)``

``x``/``dy`` are ``(M, N)`` contiguous; ``stats`` is ``(STATS_ROWS, M)`` (see :mod:`.spec`); ``backend``
is ``"torch"``, ``"cpu"`` or ``"triton"`` (already resolved by :func:`ibnorm.kernels.dispatch_rowwise`).
Each op has a fake (meta) implementation, and the forward op has an autograd formula
(``register_autograd``) that calls the backward op: only ``x``, ``weight`` and the per-row statistics are
saved. The backward op is not differentiable: differentiating it (double backward, e.g. a
Hessian-vector product) raises an error that names ``backend="composite"``, the path that supports it.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Optional

import torch
from torch import Tensor

from .spec import STATS_ROWS, compute_dtype, stat_dtype

__all__ = ["rowwise_fwd", "rowwise_bwd", "DOUBLE_BACKWARD_MESSAGE"]

DOUBLE_BACKWARD_MESSAGE = (
    "the fused IBNorm backends (torch, cpu, triton) have no double backward (their backward is hand-derived); "
    "pass backend='composite' to ib_layer_norm / ib_rms_norm (or set IBNORM_BACKEND=composite) for "
    "second derivatives such as Hessian-vector products")


def _impl(backend: str) -> ModuleType:
    if backend == "torch":
        from . import torch_rowwise  # lazy, as the kernels' own imports (triton, ctypes) are

        return torch_rowwise
    if backend == "cpu":
        from . import cpu_rowwise

        return cpu_rowwise
    if backend == "triton":
        from . import triton_rowwise

        return triton_rowwise
    raise ValueError(f"backend must be 'torch', 'cpu' or 'triton' here, got {backend!r}")


@torch.library.custom_op("ibnorm::rowwise_fwd", mutates_args=())
def rowwise_fwd(x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor], eps: float, comp_id: int, lam: float,
                center: bool, compress_first: bool, backend: str) -> tuple[Tensor, Tensor]:
    out: tuple[Tensor, Tensor] = _impl(backend).forward(x, weight, bias, eps, comp_id, lam, center, compress_first)
    return out


@rowwise_fwd.register_fake
def _(x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor], eps: float, comp_id: int, lam: float, center: bool,
      compress_first: bool, backend: str) -> tuple[Tensor, Tensor]:
    return torch.empty_like(x), x.new_empty((STATS_ROWS, x.shape[0]), dtype=stat_dtype(x.dtype))


@torch.library.custom_op("ibnorm::rowwise_bwd", mutates_args=())
def rowwise_bwd(dy: Tensor, x: Tensor, weight: Optional[Tensor], stats: Tensor, comp_id: int, lam: float,
                center: bool, compress_first: bool, need_dw: bool, need_db: bool,
                backend: str) -> tuple[Tensor, Tensor, Tensor]:
    out: tuple[Tensor, Tensor, Tensor] = _impl(backend).backward(dy, x, weight, stats, comp_id, lam, center,
                                                                 compress_first, need_dw, need_db)
    return out


@rowwise_bwd.register_fake
def _(dy: Tensor, x: Tensor, weight: Optional[Tensor], stats: Tensor, comp_id: int, lam: float, center: bool,
      compress_first: bool, need_dw: bool, need_db: bool, backend: str) -> tuple[Tensor, Tensor, Tensor]:
    cd = compute_dtype(x.dtype)
    n = x.shape[1]
    return (torch.empty_like(x), x.new_empty((n if need_dw else 0,), dtype=cd),
            x.new_empty((n if need_db else 0,), dtype=cd))


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    x, weight, bias, _eps, comp_id, lam, center, compress_first, backend = inputs
    _y, stats = output
    ctx.save_for_backward(x, weight, stats)
    ctx.cfg = (comp_id, lam, center, compress_first, backend)
    ctx.param_dtypes = (None if weight is None else weight.dtype, None if bias is None else bias.dtype)


def _backward(ctx: Any, dy: Tensor, _dstats: Tensor) -> tuple[Optional[Tensor], ...]:
    x, weight, stats = ctx.saved_tensors
    comp_id, lam, center, compress_first, backend = ctx.cfg
    w_dtype, b_dtype = ctx.param_dtypes
    need_dw = w_dtype is not None and ctx.needs_input_grad[1]
    need_db = b_dtype is not None and ctx.needs_input_grad[2]
    dx, dw, db = rowwise_bwd(dy.contiguous(), x, weight, stats, comp_id, lam, center, compress_first,
                             need_dw, need_db, backend)
    return (dx, dw.to(w_dtype) if need_dw else None, db.to(b_dtype) if need_db else None,
            None, None, None, None, None, None)


rowwise_fwd.register_autograd(_backward, setup_context=_setup_context)


def _no_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor, Tensor]) -> None:
    pass


def _no_double_backward(ctx: Any, *grads: Tensor) -> tuple[None, ...]:
    raise RuntimeError(DOUBLE_BACKWARD_MESSAGE)


rowwise_bwd.register_autograd(_no_double_backward, setup_context=_no_setup)
