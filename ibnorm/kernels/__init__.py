"""Row-wise IBNorm backends (LayerNorm / RMSNorm grouping over the trailing dims).

``rowwise_ib_norm`` is the single entry point used by :mod:`ibnorm.functional`. This initial version
is the torch composite (autograd differentiates it); the fused Triton path and the hand-derived CPU
backward live beside it (issue: fused IBNorm kernel).
"""
from __future__ import annotations

import os
from typing import Sequence

from torch import Tensor

from ..compression import Compression

BACKENDS = ("auto", "triton", "torch")


def resolve_backend(backend: str | None) -> str:
    name = backend if backend is not None else os.environ.get("IBNORM_BACKEND", "auto")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


def rowwise_ib_norm(x: Tensor, normalized_shape: Sequence[int], weight: Tensor | None, bias: Tensor | None,
                    eps: float, comp: Compression, lam: float, *, center: bool, order: str,
                    backend: str | None = None) -> Tensor:
    """IBNorm over the trailing ``normalized_shape`` dims of ``x``, then the affine. Shape-preserving."""
    from ..functional import ib_standardize

    resolve_backend(backend)
    dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))
    y = ib_standardize(x, dims, center=center, compression=comp, lam=lam, eps=eps, order=order)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
