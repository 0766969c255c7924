"""An independent fp64 reference of every grouping, written from the math of ``docs/papers/ibnorm.md``
(section 1.2) on the *group matrix* of the input, not from the library's code paths.

Every grouping is a reshape of ``x`` into a matrix ``(G, S)`` whose rows are the statistics groups:

* ``layer`` / ``rms``: the trailing ``normalized_shape`` dims, ``(prod(leading), prod(normalized_shape))``;
* ``batch``: one row per channel over batch and spatial dims, ``(C, N * spatial)``;
* ``group``: ``(N * G, C / G * spatial)``; ``instance``: ``(N * C, spatial)``.

On a row ``v`` (fp64, two-pass centering; RMS: no centering)::

    compress_first:     z = f(v - mean v);  y = (z - mean z) / sqrt(mean((z - mean z)^2) + eps)
    standardize_first:  y = f((v - mean v) / sqrt(mean((v - mean v)^2) + eps))

then ``y * weight + bias`` per grouping layout. BatchNorm in eval mode uses the running statistics.
Only the compression values come from ``Compression.fn`` (their autograd derivative is checked against
central differences in ``test_reference.py``, u = 0 included).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ibnorm.compression import Compression

F64 = torch.float64


@dataclass
class Layout:
    """How ``x`` maps to its group matrix, and where the affine parameters broadcast."""

    grouping: str
    shape: tuple[int, ...]
    normalized_shape: tuple[int, ...] | None = None
    num_groups: int | None = None

    def to_groups(self, x: Tensor) -> Tensor:
        g = self.grouping
        if g in ("layer", "rms"):
            ns = self.normalized_shape or ()
            return x.reshape(math.prod(x.shape[:x.dim() - len(ns)]), math.prod(ns))
        if g == "batch":
            return x.movedim(1, 0).reshape(x.shape[1], x.shape[0] * math.prod(x.shape[2:]))
        groups = x.shape[1] if g == "instance" else int(self.num_groups or 1)
        per_group = (x.shape[1] // groups if groups else 0) * math.prod(x.shape[2:])
        return x.reshape(x.shape[0] * groups, per_group)

    def from_groups(self, m: Tensor) -> Tensor:
        if self.grouping == "batch":
            moved = (self.shape[1], self.shape[0]) + self.shape[2:]
            return m.reshape(moved).movedim(0, 1)
        return m.reshape(self.shape)

    def param_view(self, p: Tensor, ndim: int) -> Tensor:
        if self.grouping in ("layer", "rms"):
            return p
        return p.view((1, p.shape[0]) + (1,) * (ndim - 2))


def standardize_rows(v: Tensor, *, center: bool, comp: Compression, lam: float, eps: float, order: str) -> Tensor:
    """The IBNorm standardization of each row of ``v`` (fp64)."""
    if center:
        u = v - v.mean(1, keepdim=True)
        u = u - u.mean(1, keepdim=True)
    else:
        u = v
    if order == "compress_first":
        z = comp.fn(u, lam)
        zc = z - z.mean(1, keepdim=True) if center else z
        return zc / torch.sqrt(zc.pow(2).mean(1, keepdim=True) + eps)
    return comp.fn(u / torch.sqrt(u.pow(2).mean(1, keepdim=True) + eps), lam)


def reference(x: Tensor, layout: Layout, comp: Compression, lam: float, order: str, eps: float,
              weight: Tensor | None = None, bias: Tensor | None = None, *,
              running: tuple[Tensor, Tensor, Tensor | None] | None = None) -> Tensor:
    """IBNorm of ``x`` (any dtype; computed in fp64, returned in fp64); ``running`` = (mean, var, zmean)
    of an eval-mode BatchNorm."""
    x64 = x.to(F64)
    if x64.numel() == 0:
        y = x64 * 0
    elif running is not None:
        rm, rv, rzm = (None if t is None else t.to(F64) for t in running)
        assert rm is not None and rv is not None
        m = layout.to_groups(x64)  # (C, N * spatial)
        u = m - rm.view(-1, 1)
        if order == "compress_first":
            z = comp.fn(u, lam) - (0.0 if rzm is None else rzm.view(-1, 1))
            y = layout.from_groups(z / torch.sqrt(rv.view(-1, 1) + eps))
        else:
            y = layout.from_groups(comp.fn(u / torch.sqrt(rv.view(-1, 1) + eps), lam))
    else:
        m = layout.to_groups(x64)
        y = layout.from_groups(standardize_rows(m, center=layout.grouping != "rms", comp=comp, lam=lam, eps=eps,
                                                order=order))
    if weight is not None:
        y = y * layout.param_view(weight.to(F64), y.dim())
    if bias is not None:
        y = y + layout.param_view(bias.to(F64), y.dim())
    return y


def batch_running_update(x: Tensor, comp: Compression, lam: float, order: str, momentum: float,
                         rm: Tensor, rv: Tensor, rzm: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """The running statistics after one training step (fp64): mean of x; unbiased variance of z = f(u)
    (compress_first) or of x (standardize_first); mean of z."""
    layout = Layout("batch", tuple(x.shape))
    m = layout.to_groups(x.to(F64))
    n = m.shape[1]
    mean = m.mean(1)
    u = m - mean.view(-1, 1)
    u = u - u.mean(1, keepdim=True)
    z = comp.fn(u, lam) if order == "compress_first" else u
    zmean = z.mean(1)
    var = (z - zmean.view(-1, 1)).pow(2).mean(1) * n / max(n - 1, 1)
    new_rm = (1 - momentum) * rm.to(F64) + momentum * mean
    new_rv = (1 - momentum) * rv.to(F64) + momentum * var
    new_rzm = None if rzm is None or order != "compress_first" else (1 - momentum) * rzm.to(F64) + momentum * zmean
    if rzm is not None and new_rzm is None:
        new_rzm = rzm.to(F64)
    return new_rm, new_rv, new_rzm
