"""``torch.library`` custom ops for the fused row-wise IBNorm, so that ``torch.compile`` traces through.

``ibnorm::rowwise_fwd(x, weight, bias, eps, comp_id, lam, center, compress_first, backend) -> (y, stats)``
``ibnorm::rowwise_bwd(dy, x, weight, stats, comp_id, lam, center, compress_first, need_dw, need_db,
backend) -> (dx, dweight, dbias)``

``x``/``dy`` are ``(M, N)`` contiguous; ``stats`` is ``(3, M)`` (see :mod:`.spec`); ``backend`` is
``"torch"``, ``"cpu"`` or ``"triton"`` (already resolved by :func:`ibnorm.kernels.rowwise_ib_norm`). Each op has a
fake (meta) implementation, and the forward op has an autograd formula (``register_autograd``) that
calls the backward op: only ``x``, ``weight`` and the per-row statistics are saved. The backward op
is not itself differentiable (no double backward).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .spec import compute_dtype, stat_dtype

__all__ = ["rowwise_fwd", "rowwise_bwd"]


def _impl(backend: str):
    if backend == "torch":
        from . import torch_rowwise

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
    return _impl(backend).forward(x, weight, bias, eps, comp_id, lam, center, compress_first)


@rowwise_fwd.register_fake
def _(x, weight, bias, eps, comp_id, lam, center, compress_first, backend):
    return torch.empty_like(x), x.new_empty((3, x.shape[0]), dtype=stat_dtype(x.dtype))


@torch.library.custom_op("ibnorm::rowwise_bwd", mutates_args=())
def rowwise_bwd(dy: Tensor, x: Tensor, weight: Optional[Tensor], stats: Tensor, comp_id: int, lam: float,
                center: bool, compress_first: bool, need_dw: bool, need_db: bool,
                backend: str) -> tuple[Tensor, Tensor, Tensor]:
    return _impl(backend).backward(dy, x, weight, stats, comp_id, lam, center, compress_first, need_dw, need_db)


@rowwise_bwd.register_fake
def _(dy, x, weight, stats, comp_id, lam, center, compress_first, need_dw, need_db, backend):
    cd = compute_dtype(x.dtype)
    n = x.shape[1]
    return (torch.empty_like(x), x.new_empty((n if need_dw else 0,), dtype=cd),
            x.new_empty((n if need_db else 0,), dtype=cd))


def _setup_context(ctx, inputs, output):
    x, weight, bias, _eps, comp_id, lam, center, compress_first, backend = inputs
    _y, stats = output
    ctx.save_for_backward(x, weight, stats)
    ctx.cfg = (comp_id, lam, center, compress_first, backend)
    ctx.param_dtypes = (None if weight is None else weight.dtype, None if bias is None else bias.dtype)


def _backward(ctx, dy, _dstats):
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
