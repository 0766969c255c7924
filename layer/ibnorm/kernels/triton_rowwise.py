"""Fused Triton kernels for the row-wise IBNorm (LN-style and RMS-style), forward and backward.

Structure follows Triton's layer-norm tutorial (``python/tutorials/05-layer-norm.py``) and
Liger-Kernel's ``ops/layer_norm.py``: one program per row in the forward (the whole row is held in
registers, so the compression, both means, the variance and the affine are one pass over memory);
the backward launches a fixed number of programs, each walking a contiguous range of rows, writing
``dx`` and accumulating fp32 partial rows of ``dweight``/``dbias`` that are summed at the end
(deterministic, no atomics). The math is stated in :mod:`.spec`; per row only ``mean(x)``,
``mean(z)`` and ``rstd`` are saved (fp32).

The compression is selected by the ``COMP`` constexpr (one kernel parameterized by the compression
id, see :data:`.spec.KERNEL_COMPRESSIONS`). Its value and derivative are written with core ``tl``
operations only (no libdevice) so that the same code runs compiled on a GPU and under Triton's
interpreter (``TRITON_INTERPRET=1``, which cannot call libdevice): ``tanh`` uses a Taylor polynomial
for |v| < 0.25 and ``(1 - e^{-2|v|}) / (1 + e^{-2|v|})`` above; ``log1p`` a 5-term series for
m < 0.03 and ``log(1 + m)`` above; ``pow`` is ``exp2(p log2(.))``. Each has an absolute error of a
few fp32 ulps relative to the row's scale, which is what the standardization propagates. The
compression ids are :data:`.spec.COMP_IDS` (bound below as ``tl.constexpr`` globals); an id without a
branch here gives NaN. Signs are applied with a single ``tl.where(a < 0, -mag, mag)``, so a NaN stays NaN
(the documented rule: a NaN anywhere gives NaN in the whole group); ``root``'s ``delta^p`` is evaluated
in the kernel by the same expression as ``(|a| + delta)^p``, so that f(0) = 0 exactly without a branch.
The row mean is carried as ``hi + lo`` (two passes in registers, :mod:`.spec`).

Whether the kernels are interpreted is fixed when this module is imported (``triton.jit`` reads
``TRITON_INTERPRET`` at decoration time): :data:`INTERPRET`.
"""
# mypy: disable-error-code="no-untyped-def,untyped-decorator"
# (the @triton.jit functions take Triton values; triton.jit reads their annotations, so they carry only
# the tl.constexpr ones Triton needs)
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .spec import (
    COMP_IDS,
    STAT_MEAN_HI,
    STAT_MEAN_LO,
    STAT_MEAN_Z,
    STAT_RSTD,
    STATS_ROWS,
    compute_dtype,
    root_constants,
    stat_dtype,
)

__all__ = ["INTERPRET", "forward", "backward"]

INTERPRET = bool(triton.knobs.runtime.interpret)

_IDENTITY = tl.constexpr(COMP_IDS["identity"])
_TANH = tl.constexpr(COMP_IDS["tanh"])
_LOG = tl.constexpr(COMP_IDS["log"])
_ROOT = tl.constexpr(COMP_IDS["root"])
_SOFTSIGN = tl.constexpr(COMP_IDS["softsign"])
_S_HI = tl.constexpr(STAT_MEAN_HI)
_S_LO = tl.constexpr(STAT_MEAN_LO)
_S_Z = tl.constexpr(STAT_MEAN_Z)
_S_R = tl.constexpr(STAT_RSTD)


@triton.jit
def _tanh(v):
    av = tl.abs(v)
    v2 = v * v
    small = av * (1.0 + v2 * (-0.3333333333333333 + v2 * (0.13333333333333333 + v2 * (
        -0.05396825396825397 + v2 * 0.021869488536155203))))
    e = tl.exp(-2.0 * av)
    big = (1.0 - e) / (1.0 + e)
    t = tl.where(av < 0.25, small, big)
    return tl.where(v < 0.0, -t, t)


@triton.jit
def _log1p_nonneg(m):
    series = m * (1.0 + m * (-0.5 + m * (0.3333333333333333 + m * (-0.25 + m * 0.2))))
    return tl.where(m < 0.03, series, tl.log(1.0 + m))


@triton.jit
def _rstd(c, N, eps):
    """rsqrt(sum(c^2) / N + eps) without overflow of c^2: c is divided by a power of two s >= 1 near its
    largest magnitude (exact); s = 1 for rows of magnitude <= 1 and for non-finite rows."""
    amax = tl.max(tl.abs(c), axis=0)
    big = (amax > 1.0) & (amax < float("inf"))
    s = tl.where(big, tl.exp2(tl.floor(tl.log2(tl.where(big, amax, 1.0)))), 1.0)
    cs = c / s
    return 1.0 / (tl.sqrt(tl.sum(cs * cs, axis=0) / N + eps / s / s) * s)


@triton.jit
def _compress(a, lam, p, delta, COMP: tl.constexpr):
    """``(f(a), f'(a))`` for compression id ``COMP`` (ids: :mod:`.spec`; formulas: :mod:`ibnorm.compression`)."""
    if COMP == _IDENTITY:
        z = a
        d = a * 0.0 + 1.0
    elif COMP == _TANH:  # tanh(lam a) / lam
        t = _tanh(a * lam)
        z = t / lam
        d = 1.0 - t * t
    elif COMP == _LOG:  # sign(a) log1p(lam |a|) / lam
        m = tl.abs(a) * lam
        lg = _log1p_nonneg(m) / lam
        z = tl.where(a < 0.0, -lg, lg)
        d = 1.0 / (1.0 + m)
    elif COMP == _ROOT:  # sign(a) ((|a| + delta)^p - delta^p); delta^p by the same expression: f(0) = 0
        v = tl.abs(a) + delta
        pw = tl.exp2(p * tl.log2(v))
        mag = pw - tl.exp2(p * tl.log2(tl.zeros_like(a) + delta))  # not a * 0 + delta: inf * 0 is NaN
        z = tl.where(a < 0.0, -mag, mag)
        d = p * pw / v
    elif COMP == _SOFTSIGN:  # a / (1 + lam |a|) = sign(a) / (lam + 1/|a|) (no overflow; exact at 0 and +-inf)
        mag = 1.0 / (lam + 1.0 / tl.abs(a))
        z = tl.where(a < 0.0, -mag, mag)
        one_minus = 1.0 - lam * mag  # = 1 / (1 + lam |a|)
        d = one_minus * one_minus
    else:  # an id of spec.KERNEL_COMPRESSIONS without a branch here: poison, never another formula
        z = a + float("nan")
        d = z
    return z, d


@triton.jit
def _fwd_kernel(X, Y, W, B, STATS, stride_x, stride_y, M, N, eps, lam, p, delta,
                COMP: tl.constexpr, CENTER: tl.constexpr, COMPRESS_FIRST: tl.constexpr,
                HAS_W: tl.constexpr, HAS_B: tl.constexpr, BLOCK_N: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)  # int64 offsets: M * N may exceed 2^31
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    if CENTER:  # mean = hi + lo, two passes in registers
        hi = tl.sum(x, axis=0) / N
        a = tl.where(mask, x - hi, 0.0)
        lo = tl.sum(a, axis=0) / N
        a = tl.where(mask, a - lo, 0.0)
    else:
        hi = 0.0
        lo = 0.0
        a = x
    if COMPRESS_FIRST:
        z, _d = _compress(a, lam, p, delta, COMP)
        z = tl.where(mask, z, 0.0)
        if CENTER:
            m2 = tl.sum(z, axis=0) / N
            c = tl.where(mask, z - m2, 0.0)
        else:
            m2 = 0.0
            c = z
        rstd = _rstd(c, N, eps)
        yh = c * rstd
    else:
        m2 = 0.0
        rstd = _rstd(a, N, eps)
        yh, _d = _compress(a * rstd, lam, p, delta, COMP)
    if HAS_W:
        yh = yh * tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_B:
        yh = yh + tl.load(B + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(Y + row * stride_y + cols, yh.to(Y.dtype.element_ty), mask=mask)
    tl.store(STATS + _S_HI * M + row, hi)
    tl.store(STATS + _S_LO * M + row, lo)
    tl.store(STATS + _S_Z * M + row, m2)
    tl.store(STATS + _S_R * M + row, rstd)


@triton.jit
def _bwd_kernel(DY, X, W, STATS, DX, DW, DB, stride_dy, stride_x, stride_dx, M, N, rows_per_program,
                lam, p, delta,
                COMP: tl.constexpr, CENTER: tl.constexpr, COMPRESS_FIRST: tl.constexpr,
                HAS_W: tl.constexpr, NEED_DW: tl.constexpr, NEED_DB: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    if HAS_W:
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    else:
        w = tl.where(mask, 1.0, 0.0)
    dw_acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    db_acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    row_start = pid.to(tl.int64) * rows_per_program
    row_end = tl.minimum(row_start + rows_per_program, M)
    for row in range(row_start, row_end):
        x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + row * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(STATS + _S_R * M + row)
        if CENTER:
            a = tl.where(mask, (x - tl.load(STATS + _S_HI * M + row)) - tl.load(STATS + _S_LO * M + row), 0.0)
        else:
            a = x
        g = dy * w  # dL/dyhat
        if COMPRESS_FIRST:
            z, d = _compress(a, lam, p, delta, COMP)
            if CENTER:
                z = z - tl.load(STATS + _S_Z * M + row)
            h = tl.where(mask, z * rstd, 0.0)  # yhat
            yh = h
        else:
            h = a * rstd  # s
            yh, d = _compress(h, lam, p, delta, COMP)
            g = tl.where(mask, g * d, 0.0)
        # lnb(g, h) = rstd * (g - mean(g) - h * mean(g * h))
        core = g - h * (tl.sum(g * h, axis=0) / N)
        if CENTER:
            core = core - tl.sum(g, axis=0) / N
        if COMPRESS_FIRST:
            du = tl.where(mask, core * d, 0.0)
            if CENTER:
                du = du - tl.sum(du, axis=0) / N
            dx = du * rstd
        else:
            dx = core * rstd
        tl.store(DX + row * stride_dx + cols, dx.to(DX.dtype.element_ty), mask=mask)
        if NEED_DW:
            dw_acc += dy * yh
        if NEED_DB:
            db_acc += dy
    if NEED_DW:
        tl.store(DW + pid * N + cols, dw_acc, mask=mask)
    if NEED_DB:
        tl.store(DB + pid * N + cols, db_acc, mask=mask)


def _launch_cfg(n: int) -> tuple[int, int]:
    block_n = triton.next_power_of_2(n)
    num_warps = min(max(block_n // 256, 1), 16)
    return block_n, num_warps


def _check(x: Tensor) -> None:
    if x.dim() != 2 or x.stride(-1) != 1:
        raise ValueError(f"expected a 2-D input with unit stride in the last dim, got shape {list(x.shape)}")
    if x.device.type != "cuda" and not INTERPRET:
        raise RuntimeError("the Triton kernels need CUDA tensors unless TRITON_INTERPRET=1 was set before "
                           "ibnorm.kernels.triton_rowwise was imported")


def forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, comp_id: int, lam: float,
            center: bool, compress_first: bool) -> tuple[Tensor, Tensor]:
    """``x`` (M, N) -> ``y`` (M, N) in x.dtype, ``stats`` (STATS_ROWS, M) fp32 (see :mod:`.spec`)."""
    _check(x)
    m, n = x.shape
    y = torch.empty_like(x)
    stats = torch.empty((STATS_ROWS, m), dtype=stat_dtype(x.dtype), device=x.device)
    block_n, num_warps = _launch_cfg(n)
    p, delta, _ = root_constants(lam)
    _fwd_kernel[(m,)](x, y, weight if weight is not None else x, bias if bias is not None else x, stats,
                      x.stride(0), y.stride(0), m, n, eps, lam, p, delta,
                      COMP=comp_id, CENTER=center, COMPRESS_FIRST=compress_first,
                      HAS_W=weight is not None, HAS_B=bias is not None, BLOCK_N=block_n, num_warps=num_warps)
    return y, stats


def _num_programs(x: Tensor, m: int) -> int:
    if x.device.type == "cuda":
        sms = torch.cuda.get_device_properties(x.device).multi_processor_count
        return max(1, min(m, 4 * sms))
    return max(1, min(m, 4))  # interpreter: a few programs, so the partial-sum reduction is exercised


def backward(dy: Tensor, x: Tensor, weight: Tensor | None, stats: Tensor, comp_id: int, lam: float, center: bool,
             compress_first: bool, need_dw: bool, need_db: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``dx`` (M, N) in x.dtype; ``dweight``, ``dbias`` (N,) fp32 (sums of per-program fp32 partial
    rows), or empty tensors when not requested."""
    _check(x)
    m, n = x.shape
    dy = dy.contiguous()
    dx = torch.empty_like(x)
    block_n, num_warps = _launch_cfg(n)
    progs = _num_programs(x, m)
    rows_per_program = triton.cdiv(m, progs)
    progs = triton.cdiv(m, rows_per_program)
    cd = compute_dtype(x.dtype)
    dw_part = torch.empty((progs, n), dtype=torch.float32, device=x.device) if need_dw else x.new_empty(0, dtype=cd)
    db_part = torch.empty((progs, n), dtype=torch.float32, device=x.device) if need_db else x.new_empty(0, dtype=cd)
    p, delta, _ = root_constants(lam)
    _bwd_kernel[(progs,)](dy, x, weight if weight is not None else x, stats, dx, dw_part, db_part,
                          dy.stride(0), x.stride(0), dx.stride(0), m, n, rows_per_program, lam, p, delta,
                          COMP=comp_id, CENTER=center, COMPRESS_FIRST=compress_first, HAS_W=weight is not None,
                          NEED_DW=need_dw, NEED_DB=need_db, BLOCK_N=block_n, num_warps=num_warps)
    dw = dw_part.sum(0) if need_dw else dw_part
    db = db_part.sum(0) if need_db else db_part
    return dx, dw, db
