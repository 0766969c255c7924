"""Torch (CPU or any device) implementation of the fused row-wise IBNorm: forward + hand-derived backward.

The math is the one stated in :mod:`.spec`; only ``x`` and three per-row statistics are saved.

* LN-style (``center=True``): the standardization + affine of IBNorm *is* a LayerNorm, so torch's
  fused ``native_layer_norm`` / ``native_layer_norm_backward`` do it (compress_first: LayerNorm of
  z = f(x - mean x), then du = dz f'(a), dx = du - mean(du); standardize_first: f of a LayerNorm
  without affine, and the LayerNorm backward of dy w f'(s)). Only the centering and the compression
  (and its derivative) are extra elementwise passes.
* RMS-style (``center=False``; torch's CPU ``rms_norm`` is not a fused kernel): hand-written in
  blocks of rows (cache-sized when single-threaded), almost every step in place on one or two scratch
  buffers per block, ``dweight`` partial sums per block in the compute dtype, ``dbias`` one column sum.

The centering is two-pass (``a = (x - mean) - mean(x - mean)``, :mod:`.spec`), so that constant rows at
large offsets center to 0 and long rows do not inherit the rounding of their mean. Rows whose squares
overflow the compute dtype (fp32: |values| above ~1.8e19) are detected from their statistics (one
comparison per row) and recomputed scaled by a power of two, as the other backends do.

Measured cost: docs/benchmarks/kernels.md.
"""
from __future__ import annotations

from typing import Iterator

import torch
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

__all__ = ["forward", "backward", "compress"]

#: Elements per block with one intra-op thread (about 1 MiB of fp32, cache resident): measured best
#: single-threaded on the 2-core benchmark machine for (4096, 1024). Blocks are at least one row.
BLOCK_ELEMS = 1 << 18
#: Elements per block with several intra-op threads: every torch op is one parallel region, whose
#: fork/join cost explodes when the cores are oversubscribed (shared machine, 2 threads: 40x
#: F.layer_norm with 2^18-element blocks, 6x with 2^22), so few large ops are used instead.
PARALLEL_BLOCK_ELEMS = 1 << 22


def compress(a: Tensor, comp_id: int, lam: float, need_deriv: bool) -> tuple[Tensor, float, Tensor | None]:
    """``(t, scale, f'(a))`` with ``f(a) = scale * t`` for compression ``comp_id``; may overwrite ``a``.

    The constant ``scale`` (``1/lam`` for tanh and log) is returned instead of applied, so that the
    callers can fold it into a multiplication they do anyway. ``f'`` is ``None`` when not needed
    or identically one. Formulas: :mod:`ibnorm.compression` (value and closed-form derivative).
    """
    if comp_id == COMP_IDS["identity"]:
        return a, 1.0, None
    if comp_id == COMP_IDS["tanh"]:  # tanh(lam a) / lam;  f' = 1 - tanh^2
        t = (a.mul_(lam) if lam != 1.0 else a).tanh_()
        d = torch.addcmul(torch.ones((), dtype=t.dtype, device=t.device), t, t, value=-1.0) if need_deriv else None
        return t, 1.0 / lam, d
    if comp_id == COMP_IDS["log"]:  # sign(a) log1p(lam |a|) / lam;  f' = 1 / (1 + lam |a|)
        v = torch.abs(a).mul_(lam)
        d = v.add(1.0).reciprocal_() if need_deriv else None
        return v.log1p_().copysign_(a), 1.0 / lam, d
    if comp_id == COMP_IDS["root"]:  # sign(a) ((|a| + delta)^p - delta^p), p = 1/lam;  f' = p (|a| + delta)^(p - 1)
        p, delta, delta_p = root_constants(lam)
        v = torch.abs(a).add_(delta)
        pw = v.pow(p)
        d = torch.div(pw, v).mul_(p) if need_deriv else None
        return pw.sub_(delta_p).copysign_(a), 1.0, d
    if comp_id == COMP_IDS["softsign"]:  # a / (1 + lam |a|) = sign(a) / (lam + 1/|a|);  f' = (1 - lam |f|)^2
        # the second form has no overflow and is exact at 0 (1/0 = inf) and at +-inf (f = +-1/lam)
        z = torch.abs(a).reciprocal_().add_(lam).reciprocal_().copysign_(a)
        d = torch.abs(z).mul_(-lam).add_(1.0).square_() if need_deriv else None
        return z, 1.0, d
    raise ValueError(f"unknown compression id {comp_id}")


def _affine_(t: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
    """In place: ``t = t * w + b`` (either may be None)."""
    if w is not None and b is not None:
        torch.addcmul(b, t, w, out=t)
    elif w is not None:
        t.mul_(w)
    elif b is not None:
        t.add_(b)
    return t


def _blocks(m: int, n: int) -> Iterator[tuple[int, int]]:
    elems = BLOCK_ELEMS if torch.get_num_threads() == 1 else PARALLEL_BLOCK_ELEMS
    rows = max(1, elems // max(n, 1))
    for i in range(0, m, rows):
        yield i, min(i + rows, m)


def _rms(t: Tensor, n: int) -> Tensor:
    """mean(t^2) over the last dim, keepdim: (R, N) -> (R, 1)."""
    ms: Tensor = torch.linalg.vector_norm(t, dim=-1, keepdim=True).square_().div_(n)
    return ms


def _overflowed(t: Tensor, r: Tensor) -> Tensor | None:
    """Indices of the rows of ``t`` (R, N) whose reciprocal standard deviation ``r`` (R, 1) overflowed (0 or
    NaN although the row is finite: its squares exceed the compute dtype), or None (the common case costs
    one comparison over R). Rows with an infinite element keep the documented NaN rules."""
    if t.device.type == "meta":
        return None
    cand = ((r == 0) | torch.isnan(r)).view(-1)
    if not bool(cand.any()):
        return None
    idx = cand.nonzero().view(-1)
    idx = idx[torch.isfinite(t[idx].abs().amax(-1))]
    return idx if idx.numel() else None


def _pow2_scale(rows: Tensor) -> Tensor:
    """(K, 1) powers of two that bring each row's largest magnitude into [1, 2): exact scalings."""
    return torch.exp2(-torch.floor(torch.log2(rows.abs().amax(-1, keepdim=True))))


def _ln_rescued(t: Tensor, idx: Tensor, n: int, w: Tensor | None, b: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``native_layer_norm`` of the overflowed rows ``idx`` of ``t``, scaled by powers of two (eps, below the
    fp32 resolution of their variance, dropped): ``(y, mean, rstd)`` of those rows."""
    c = _pow2_scale(t[idx])
    y, mean, r = torch.native_layer_norm(t[idx] * c, (n,), w, b, 0.0)
    return y, mean / c, r * c


def _center(xc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(a, mean_hi, mean_lo)``: ``a = (x - mean_hi) - mean_lo``, two-pass (rows of the last dim, keepdim)."""
    hi = xc.mean(-1, keepdim=True)
    a = torch.sub(xc, hi)
    lo = a.mean(-1, keepdim=True)
    return a.sub_(lo), hi, lo


def _recenter(xc: Tensor, st: Tensor, m: int) -> Tensor:
    """``a`` of :func:`_center` from the saved statistics."""
    return torch.sub(xc, st[STAT_MEAN_HI].view(m, 1)).sub_(st[STAT_MEAN_LO].view(m, 1))


def _ln_forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, comp_id: int, lam: float,
                compress_first: bool) -> tuple[Tensor, Tensor]:
    """LN-style forward through torch's fused ``native_layer_norm``: the standardization + affine of
    IBNorm is exactly a LayerNorm of z = f(x - mean x) (compress_first), or f is applied to the output
    of a LayerNorm without affine (standardize_first)."""
    m, n = x.shape
    cd = compute_dtype(x.dtype)
    xc = x.to(cd)
    w = None if weight is None else weight.to(cd)
    b = None if bias is None else bias.to(cd)
    stats = torch.zeros((STATS_ROWS, m), dtype=stat_dtype(x.dtype), device=x.device)
    a, hi, lo = _center(xc)
    if compress_first:
        t, scale, _ = compress(a, comp_id, lam, need_deriv=False)
        z = t.mul_(scale) if scale != 1.0 else t
        y, m2, r = torch.native_layer_norm(z, (n,), w, b, eps)
        idx = _overflowed(z, r)
        if idx is not None:
            y[idx], m2[idx], r[idx] = _ln_rescued(z, idx, n, w, b)
        stats[STAT_MEAN_Z] = m2.view(m)
    else:
        # LayerNorm of the centered a: its own mean is 0 up to rounding, so stats keep (hi, lo)
        s, _m0, r = torch.native_layer_norm(a, (n,), None, None, eps)
        idx = _overflowed(a, r)
        if idx is not None:
            s[idx], _, r[idx] = _ln_rescued(a, idx, n, None, None)
        t, scale, _ = compress(s, comp_id, lam, need_deriv=False)
        y = t.mul_(scale) if scale != 1.0 else t
        _affine_(y, w, b)
    stats[STAT_MEAN_HI] = hi.view(m)
    stats[STAT_MEAN_LO] = lo.view(m)
    stats[STAT_RSTD] = r.view(m)
    return y.to(x.dtype), stats


def _ln_backward(dy: Tensor, x: Tensor, weight: Tensor | None, stats: Tensor, comp_id: int, lam: float,
                 compress_first: bool, need_dw: bool, need_db: bool) -> tuple[Tensor, Tensor, Tensor]:
    """LN-style backward through torch's fused ``native_layer_norm_backward`` (see :func:`_ln_forward`):
    compress_first: dz = LN-backward(dy; z), du = dz f'(a), dx = du - mean(du);
    standardize_first: dx = LN-backward(dy w f'(s); x) without affine."""
    m, n = x.shape
    cd = compute_dtype(x.dtype)
    xc, dyc = x.to(cd), dy.to(cd)
    w = None if weight is None else weight.to(cd)
    st = stats.to(cd)
    r = st[STAT_RSTD].view(m, 1)
    a = _recenter(xc, st, m)
    if compress_first:
        t, scale, fp = compress(a, comp_id, lam, need_deriv=True)
        z = t.mul_(scale) if scale != 1.0 else t
        dz, dw, _ = torch.ops.aten.native_layer_norm_backward(dyc, z, [n], st[STAT_MEAN_Z].view(m, 1), r, w, None,
                                                              [True, need_dw and w is not None, False])
        db = dyc.sum(0) if need_db else None
        du = dz.mul_(fp) if fp is not None else dz
        dx = du.sub_(du.mean(-1, keepdim=True))
    else:
        t, scale, fp = compress(torch.mul(a, r), comp_id, lam, need_deriv=True)  # s = a r
        dw = db = None
        if need_dw:
            dw = torch.mul(dyc, t).sum(0).mul_(scale)
        if need_db:
            db = dyc.sum(0)
        g = torch.mul(dyc, w) if w is not None else dyc.clone()
        if fp is not None:
            g.mul_(fp)
        zero = torch.zeros_like(r)  # a is centered already
        dx = torch.ops.aten.native_layer_norm_backward(g, a, [n], zero, r, None, None, [True, False, False])[0]
    dx_out: Tensor = dx.to(x.dtype)
    return (dx_out, dw if need_dw and dw is not None else x.new_empty(0, dtype=cd),
            db if need_db and db is not None else x.new_empty(0, dtype=cd))


def forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, comp_id: int, lam: float,
            center: bool, compress_first: bool) -> tuple[Tensor, Tensor]:
    """``x`` (M, N) contiguous -> ``y`` (M, N) in x.dtype, ``stats`` (STATS_ROWS, M) (see :mod:`.spec`)."""
    if center:
        return _ln_forward(x, weight, bias, eps, comp_id, lam, compress_first)
    m, n = x.shape
    cd = compute_dtype(x.dtype)
    same = x.dtype == cd
    y = torch.empty_like(x)
    stats = torch.zeros((STATS_ROWS, m), dtype=stat_dtype(x.dtype), device=x.device)
    w = None if weight is None else weight.to(cd)
    b = None if bias is None else bias.to(cd)
    for i, j in _blocks(m, n):
        xb = x[i:j] if same else x[i:j].to(cd)  # (R, N), read only
        a = (y[i:j] if same else torch.empty_like(xb)).copy_(xb)
        if compress_first:
            t, scale, _ = compress(a, comp_id, lam, need_deriv=False)  # z = scale * t
            # yhat = z r = t r_t with r_t = rsqrt(ms(t) + eps / scale^2): no scale^2 (1/lam^2) that could overflow
            r_t = _rms(t, n).add_(eps / (scale * scale)).rsqrt_()
            idx = _overflowed(t, r_t)
            if idx is not None:
                c = _pow2_scale(t[idx])
                r_t[idx] = _rms(t[idx] * c, n).rsqrt_() * c
            t.mul_(r_t)  # yhat
            r = r_t.div_(scale)  # r of z
        else:
            r = _rms(a, n).add_(eps).rsqrt_()
            idx = _overflowed(a, r)
            if idx is not None:
                c = _pow2_scale(a[idx])
                r[idx] = _rms(a[idx] * c, n).rsqrt_() * c
            t, scale, _ = compress(a.mul_(r), comp_id, lam, need_deriv=False)
            if scale != 1.0:
                t.mul_(scale)  # yhat
        stats[STAT_RSTD, i:j] = r.squeeze(-1)
        _affine_(t, w, b)
        if not same or t.data_ptr() != y[i:j].data_ptr():
            y[i:j] = t
    return y, stats


def backward(dy: Tensor, x: Tensor, weight: Tensor | None, stats: Tensor, comp_id: int, lam: float, center: bool,
             compress_first: bool, need_dw: bool, need_db: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`forward`: ``dx`` (M, N) in x.dtype; ``dweight``, ``dbias`` (N,) in the
    compute dtype (fp32, or fp64 for fp64 input), or empty tensors when not requested."""
    if center:
        return _ln_backward(dy, x, weight, stats, comp_id, lam, compress_first, need_dw, need_db)
    m, n = x.shape
    cd = compute_dtype(x.dtype)
    same = x.dtype == cd and dy.dtype == cd
    dx = torch.empty_like(x)
    w = None if weight is None else weight.to(cd)
    dw = torch.zeros(n, dtype=cd, device=x.device) if need_dw else None
    db = dy.sum(0, dtype=cd) if need_db else None  # one column sum over all rows
    st = stats.to(cd)
    for i, j in _blocks(m, n):
        r = st[STAT_RSTD, i:j].unsqueeze(-1)  # (R, 1)
        xb = x[i:j] if same else x[i:j].to(cd)
        dyb = dy[i:j] if same else dy[i:j].to(cd)
        a = torch.empty_like(xb).copy_(xb)
        if compress_first:
            t, scale, fp = compress(a, comp_id, lam, need_deriv=True)
            h = t.mul_(r * scale)  # yhat: what dweight sees, and what the LN-backward core sees
            yh = h
        else:
            h = a.mul_(r)  # s
            t, scale, fp = compress(h.clone(), comp_id, lam, need_deriv=True)
            yh = t.mul_(scale) if scale != 1.0 else t
        g = dx[i:j] if same else torch.empty_like(xb)  # becomes dx
        if compress_first:
            torch.mul(dyb, yh, out=g)  # dy * yhat
            if dw is not None:
                dw += g.sum(0)
            mgh = (g @ w if w is not None else g.sum(-1)).unsqueeze(-1).div_(n)  # mean(g_hat * yhat)
        else:
            if dw is not None:
                dw += torch.mul(dyb, yh).sum(0)
        if w is not None:
            torch.mul(dyb, w, out=g)  # dL/dyhat
        else:
            g.copy_(dyb)
        if not compress_first:
            if fp is not None:
                g.mul_(fp)
            mgh = torch.mul(g, h).mean(-1, keepdim=True)
        # lnb(g, h) = r * (g - h * mean(g * h))   (RMS: no mean(g))
        g.addcmul_(h, mgh, value=-1.0)
        if compress_first and fp is not None:
            g.mul_(fp)
        g.mul_(r)
        if not same:
            dx[i:j] = g
    return (dx, dw if dw is not None else x.new_empty(0, dtype=cd),  # two distinct empties: outputs must not alias
            db if db is not None else x.new_empty(0, dtype=cd))
