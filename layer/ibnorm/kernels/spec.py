"""What the fused row-wise kernels implement: compression ids, the math, and shared helpers.

Both backends (:mod:`.torch_rowwise`, :mod:`.triton_rowwise`) implement the same per-row math on an
``(M, N)`` view of the input (rows = the flattened leading dims, N = prod(normalized_shape)):

``order="compress_first"`` (``center`` = LN-style; RMS-style drops both means)::

    a = x - mean(x);  z = f(a);  c = z - mean(z);  r = rsqrt(mean(c^2) + eps);  yhat = c * r

``order="standardize_first"``::

    a = x - mean(x);  r = rsqrt(mean(a^2) + eps);  s = a * r;  yhat = f(s)

then ``y = yhat * weight + bias``. Saved for backward: ``x`` and the per-row statistics
``stats[0] = mean(x)``, ``stats[1] = mean(z)`` (0 for standardize_first / RMS), ``stats[2] = r``;
everything else is recomputed. Hand-derived backward (g = dL/dyhat = dy * weight), with the
LayerNorm-backward core ``lnb(g, h) = r * (g - mean(g) - h * mean(g * h))`` (no ``mean(g)`` for RMS):

    compress_first:     du = lnb(g, yhat) * f'(a);   dx = du - mean(du)     (RMS: dx = du)
    standardize_first:  dx = lnb(g * f'(s), s)
    dweight = sum_rows(dy * yhat);  dbias = sum_rows(dy)

The compressions f and f' are the closed forms of :mod:`ibnorm.compression` (softsign in its
overflow-free form sign(a)/(lam + 1/|a|); log as log1p(lam|a|), finite while lam|a| is below the
compute dtype's maximum, which the fp32 compute dtype of 16-bit inputs makes moot) (reconstructions of the
paper's IBNorm-S/L/T; see that module). A compression registered later by a user has no kernel id and
runs through the reference composite :func:`ibnorm.functional.ib_standardize` instead.
"""
from __future__ import annotations

import torch

from ..compression import COMPRESSIONS, ROOT_DELTA, Compression

__all__ = ["KERNEL_COMPRESSIONS", "compression_id", "stat_dtype", "compute_dtype", "root_constants"]

#: Compression names with a fused implementation; the index is the ``comp_id`` the kernels take.
KERNEL_COMPRESSIONS = ("identity", "tanh", "log", "root", "softsign")

# The built-in value functions at import time: a user who re-registers one of these names with a
# different formula (``register_compression(..., overwrite=True)``) must not get the old kernel.
_BUILTIN_FNS = {name: COMPRESSIONS[name].fn for name in KERNEL_COMPRESSIONS}


def compression_id(comp: Compression) -> int | None:
    """Kernel id of ``comp``, or ``None`` when no fused implementation of its formula exists."""
    fn = _BUILTIN_FNS.get(comp.name)
    if fn is None or comp.fn is not fn:
        return None
    return KERNEL_COMPRESSIONS.index(comp.name)


def stat_dtype(dtype: torch.dtype) -> torch.dtype:
    """Per-row statistics are fp32 (fp64 for fp64 inputs, so that gradcheck sees fp64 precision)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Arithmetic dtype of the kernels: fp32 for 16-bit inputs, the input dtype otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def root_constants(lam: float) -> tuple[float, float, float]:
    """``(p, delta, delta**p)`` of the ``root`` compression f(u) = sign(u)((|u|+delta)^p - delta^p)."""
    p = 1.0 / lam
    return p, ROOT_DELTA, ROOT_DELTA**p
