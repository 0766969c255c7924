"""Row-wise IBNorm backends (LayerNorm / RMSNorm grouping over the trailing dims) and their dispatch.

``rowwise_ib_norm`` is the single entry point used by :mod:`ibnorm.functional` (``ib_layer_norm``,
``ib_rms_norm``). It flattens the input to ``(M, N)``, N = prod(normalized_shape), and runs one of:

* ``"triton"``: the fused Triton kernels (:mod:`.triton_rowwise`): one pass per row forward, one
  per row backward, fp32 statistics and fp32 partial sums for dweight/dbias. Runs on CUDA tensors,
  or on CPU tensors through Triton's interpreter when ``TRITON_INTERPRET=1`` was set before the
  kernel module was first imported (that is how the tests exercise it without a GPU).
* ``"cpu"``: the fused C kernel for CPU tensors (:mod:`.cpu_rowwise`), compiled at first use with the
  system C compiler: one pass over memory per direction, fp32 arithmetic (fp32/fp16/bf16 inputs).
* ``"torch"``: the same math in torch ops with a hand-derived backward (:mod:`.torch_rowwise`),
  saving only ``x`` and per-row statistics; runs on any device and dtype (fp64 included).

All three are ``torch.library`` custom ops (:mod:`.ops`), so ``torch.compile`` traces through them.
``backend="auto"`` (the default, or the ``IBNORM_BACKEND`` environment variable) picks Triton for
CUDA tensors it supports, the C kernel for CPU tensors it supports (when a compiler could build it;
:func:`cpu_status` says why not), and torch otherwise. Coverage: the row-wise family only (LN-style
``center=True`` and RMS-style ``center=False``), both orders, with or without affine, every
compression in :data:`.spec.KERNEL_COMPRESSIONS`. BatchNorm/GroupNorm IBNorm and compressions
registered by users run through the torch composite of :mod:`ibnorm.functional`.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import torch
from torch import Tensor

from ..compression import Compression
from .spec import KERNEL_COMPRESSIONS, compression_id

__all__ = ["BACKENDS", "KERNEL_COMPRESSIONS", "resolve_backend", "select_backend", "rowwise_ib_norm",
           "triton_status", "cpu_status", "TRITON_DTYPES"]

#: "composite" = the autograd-differentiated reference (supports double backward, e.g. Hessian-vector
#: products, which the fused ops do not).
BACKENDS = ("auto", "triton", "cpu", "torch", "composite")
#: Input dtypes the Triton kernels take (arithmetic is fp32).
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Largest row the Triton kernels keep in registers, in bytes of the input dtype (as the tutorial).
TRITON_MAX_ROW_BYTES = 65536


def resolve_backend(backend: str | None) -> str:
    """``backend``, or ``$IBNORM_BACKEND``, or ``"auto"``; raises ``ValueError`` on an unknown name."""
    name = backend if backend is not None else os.environ.get("IBNORM_BACKEND", "auto")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


def triton_status() -> tuple[bool, bool, str]:
    """``(importable, interpreted, reason)`` of the Triton backend; imports the kernel module lazily."""
    try:
        from . import triton_rowwise
    except ImportError as exc:  # pragma: no cover - triton is installed in this project's env
        return False, False, f"triton could not be imported ({exc})"
    return True, triton_rowwise.INTERPRET, ""


@torch.compiler.assume_constant_result
def cpu_status() -> tuple[bool, str]:
    """``(available, reason)`` of the C kernel; builds it on the first call (about a second, then cached
    on disk). Evaluated once at trace time under ``torch.compile``."""
    from . import cpu_rowwise

    return cpu_rowwise.status()


def _cpu_problem(x: Tensor, comp: Compression, comp_id: int | None) -> Exception | None:
    """Why the C kernel cannot run this call, as the exception to raise (``None`` when it can)."""
    from .cpu_rowwise import DTYPES

    if comp_id is None:
        return ValueError(f"compression {comp.name!r} has no fused kernel (fused: {', '.join(KERNEL_COMPRESSIONS)}); "
                          "use backend='torch'")
    if x.device.type != "cpu":
        return RuntimeError(f"backend='cpu' needs CPU tensors, got device {x.device}")
    if x.dtype not in DTYPES:
        return TypeError(f"backend='cpu' takes {[str(d) for d in DTYPES]}, got {x.dtype}; use backend='torch'")
    available, reason = cpu_status()
    if not available:
        return RuntimeError(f"backend='cpu' is unavailable: {reason}")
    return None


def _triton_problem(x: Tensor, n: int, comp: Compression, comp_id: int | None) -> Exception | None:
    """Why the Triton backend cannot run this call, as the exception to raise (``None`` when it can)."""
    if comp_id is None:
        return ValueError(f"compression {comp.name!r} has no Triton kernel (fused: {', '.join(KERNEL_COMPRESSIONS)}); "
                          "use backend='torch'")
    if x.dtype not in TRITON_DTYPES:
        return TypeError(f"the Triton kernels take {[str(d) for d in TRITON_DTYPES]}, got {x.dtype}; "
                         "use backend='torch'")
    if n * x.element_size() > TRITON_MAX_ROW_BYTES:
        return ValueError(f"rows of {n} {x.dtype} elements exceed the Triton kernels' {TRITON_MAX_ROW_BYTES} bytes "
                          "per row; use backend='torch'")
    importable, interpreted, reason = triton_status()
    if not importable:
        return RuntimeError(f"backend='triton' was requested but {reason}")
    if x.device.type != "cuda" and not interpreted:
        return RuntimeError(f"backend='triton' needs CUDA tensors (got device {x.device}); to run the kernels on CPU "
                            "through Triton's interpreter, set TRITON_INTERPRET=1 before "
                            "ibnorm.kernels.triton_rowwise is imported")
    return None


def select_backend(backend: str | None, x: Tensor, n: int, comp: Compression) -> str:
    """The concrete backend for this call: ``"triton"``, ``"cpu"`` (the C kernel), ``"torch"`` (fused
    torch ops) or ``"composite"`` (the autograd-differentiated reference, for compressions without a
    kernel).

    ``"auto"`` picks Triton for CUDA tensors it supports and the C kernel for CPU tensors it supports.
    An explicit ``"triton"`` or ``"cpu"`` that cannot run raises (``RuntimeError`` if Triton, a
    compiler or the device is missing, ``ValueError`` for a compression without kernel or a too-long
    row, ``TypeError`` for an unsupported dtype). The choice is made
    when the call is traced, so under ``torch.compile`` a later change of ``IBNORM_BACKEND`` does not
    retrace.
    """
    name = resolve_backend(backend)
    if name == "composite":
        return "composite"
    comp_id = compression_id(comp)
    if name == "triton":
        problem = _triton_problem(x, n, comp, comp_id)
        if problem is not None:
            raise problem
        return "triton"
    if name == "cpu":
        problem = _cpu_problem(x, comp, comp_id)
        if problem is not None:
            raise problem
        return "cpu"
    if comp_id is None:
        return "composite"
    if name == "auto" and x.device.type == "cuda" and _triton_problem(x, n, comp, comp_id) is None:
        return "triton"
    if name == "auto" and x.device.type == "cpu" and _cpu_problem(x, comp, comp_id) is None:
        return "cpu"
    return "torch"


def _under_functorch(*tensors: Tensor | None) -> bool:
    """True inside a ``torch.func`` transform (vmap, grad, vjp, jvp, jacrev, jacfwd) of these tensors."""
    if torch.compiler.is_compiling():  # Dynamo traces fake tensors (and cannot trace the check below)
        return False
    try:
        from torch._C._functorch import is_functorch_wrapped_tensor
    except ImportError:  # pragma: no cover - older torch
        return False
    return any(t is not None and is_functorch_wrapped_tensor(t) for t in tensors)


def rowwise_ib_norm(x: Tensor, normalized_shape: Sequence[int], weight: Tensor | None, bias: Tensor | None,
                    eps: float, comp: Compression, lam: float, *, center: bool, order: str,
                    backend: str | None = None) -> Tensor:
    """IBNorm over the trailing ``normalized_shape`` dims of ``x``, then the affine. Shape-preserving.

    Arguments are validated by the callers in :mod:`ibnorm.functional`; ``order`` is
    ``"compress_first"`` or ``"standardize_first"``; ``center`` selects LN-style (True) or RMS-style.
    """
    n = int(math.prod(normalized_shape))
    chosen = select_backend(backend, x, n, comp)
    explicit = resolve_backend(backend) in ("triton", "cpu")
    if chosen != "composite" and not explicit and _under_functorch(x, weight, bias):
        chosen = "composite"  # the fused ops have no vmap/jvp/vjp rules; torch.func differentiates the composite
    if chosen == "composite" or x.numel() == 0:
        from ..functional import ib_standardize

        dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))
        y = ib_standardize(x, dims, center=center, compression=comp, lam=lam, eps=eps, order=order)
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y
    from .ops import rowwise_fwd

    x2 = x.reshape(-1, n).contiguous()
    w = None if weight is None else weight.reshape(n).contiguous()
    b = None if bias is None else bias.reshape(n).contiguous()
    y, _stats = rowwise_fwd(x2, w, b, float(eps), compression_id(comp), float(lam), bool(center),
                            order == "compress_first", chosen)
    return y.view(x.shape)
