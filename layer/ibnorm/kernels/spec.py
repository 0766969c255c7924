"""What the fused row-wise kernels implement: compression ids, the math, the saved statistics, shared helpers.

The three fused backends (:mod:`.torch_rowwise`, :mod:`.cpu_rowwise` with ``csrc/ibnorm_rowwise.c``,
:mod:`.triton_rowwise`) implement the same per-row math on an ``(M, N)`` view of the input (rows = the
flattened leading dims, N = prod(normalized_shape)); :mod:`.composite` is its autograd reference.

``order="compress_first"`` (``center`` = LN-style; RMS-style drops both means)::

    a = x - mean(x);  z = f(a);  c = z - mean(z);  r = rsqrt(mean(c^2) + eps);  yhat = c * r

``order="standardize_first"``::

    a = x - mean(x);  r = rsqrt(mean(a^2) + eps);  s = a * r;  yhat = f(s)

then ``y = yhat * weight + bias``. The centering is exact to the compute dtype's rounding of ``a``: the
row mean is carried as two numbers of the compute dtype, ``a = (x - mean_hi) - mean_lo`` (the C kernel
takes ``mean_lo`` from its double row sum, the others from a second pass over ``x - mean_hi``), so that
a constant row at any offset centers to exactly 0 and a long row's rounded mean does not move ``a``
by an ulp of the mean (which f'' of root near 0 would amplify). Saved for backward: ``x`` and the
per-row statistics (:data:`STATS_ROWS` rows, :data:`STAT_MEAN_HI` ...): ``mean_hi``, ``mean_lo``,
``mean(z)`` (0 for standardize_first / RMS) and ``r``; everything else is recomputed. Hand-derived
backward (g = dL/dyhat = dy * weight), with the LayerNorm-backward core
``lnb(g, h) = r * (g - mean(g) - h * mean(g * h))`` (no ``mean(g)`` for RMS)::

    compress_first:     du = lnb(g, yhat) * f'(a);   dx = du - mean(du)     (RMS: dx = du)
    standardize_first:  dx = lnb(g * f'(s), s)
    dweight = sum_rows(dy * yhat);  dbias = sum_rows(dy)

The compressions f and f' are the closed forms of :mod:`ibnorm.compression` (softsign in its
overflow-free form sign(a)/(lam + 1/|a|); log as log1p(lam|a|)) (reconstructions of the paper's
IBNorm-S/L/T; see that module). A compression registered later by a user has no kernel id and runs
through :mod:`.composite` instead.

Compression ids are declared here once, in :data:`KERNEL_COMPRESSIONS`; the C build receives them as
``-DIBN_COMP_<NAME>=<id>`` (:func:`c_defines`), the Triton kernels and the torch backend read
:data:`COMP_IDS`. An id a kernel does not implement gives NaN (C, Triton) or raises (torch), so a
compression added here without its kernel code fails every kernel test instead of computing another
formula.
"""
from __future__ import annotations

import math

from .._types import compute_dtype, stat_dtype
from ..compression import COMPRESSIONS, ROOT_DELTA, Compression

__all__ = ["KERNEL_COMPRESSIONS", "COMP_IDS", "ROOT_SQRT_ID", "compression_id", "c_defines", "stat_dtype",
           "compute_dtype", "root_constants", "STATS_ROWS", "STAT_MEAN_HI", "STAT_MEAN_LO", "STAT_MEAN_Z",
           "STAT_RSTD"]

#: Compression names with a fused implementation; the index is the ``comp_id`` the kernels take.
KERNEL_COMPRESSIONS = ("identity", "tanh", "log", "root", "softsign")
COMP_IDS: dict[str, int] = {name: i for i, name in enumerate(KERNEL_COMPRESSIONS)}
#: Internal id of the C kernel: root at lam = 2 through the exact square root (chosen by the kernel itself).
ROOT_SQRT_ID = len(KERNEL_COMPRESSIONS)

#: Layout of the per-row statistics saved for backward: a (STATS_ROWS, M) tensor of the stat dtype.
STATS_ROWS = 4
STAT_MEAN_HI, STAT_MEAN_LO, STAT_MEAN_Z, STAT_RSTD = range(STATS_ROWS)

# The built-in value functions at import time: a user who re-registers one of these names with a
# different formula (``register_compression(..., overwrite=True)``) must not get the old kernel.
_BUILTIN_FNS = {name: COMPRESSIONS[name].fn for name in KERNEL_COMPRESSIONS}


def compression_id(comp: Compression) -> int | None:
    """Kernel id of ``comp``, or ``None`` when no fused implementation of its formula exists."""
    fn = _BUILTIN_FNS.get(comp.name)
    if fn is None or comp.fn is not fn:
        return None
    return COMP_IDS[comp.name]


def c_defines() -> list[str]:
    """The compiler flags that give the C kernel its compression ids and stats layout (one ``-D`` each)."""
    ids = {**{name.upper(): i for name, i in COMP_IDS.items()}, "ROOT_SQRT": ROOT_SQRT_ID}
    flags = [f"-DIBN_COMP_{name}={i}" for name, i in ids.items()]
    flags += [f"-DIBN_STAT_{name}={i}" for name, i in (("MEAN_HI", STAT_MEAN_HI), ("MEAN_LO", STAT_MEAN_LO),
                                                       ("MEAN_Z", STAT_MEAN_Z), ("RSTD", STAT_RSTD))]
    return flags


def root_constants(lam: float) -> tuple[float, float, float]:
    """``(p, delta, delta**p)`` of the ``root`` compression f(u) = sign(u)((|u|+delta)^p - delta^p)."""
    p = 1.0 / lam
    return p, ROOT_DELTA, math.pow(ROOT_DELTA, p)
