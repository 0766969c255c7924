"""Row-wise IBNorm backends (LayerNorm / RMSNorm grouping over the trailing dims) and their dispatch.

``rowwise_ib_norm`` is the single entry point of the row-wise family (:mod:`ibnorm.functional`'s
``ib_layer_norm`` and ``ib_rms_norm`` call it with arguments that :mod:`ibnorm._checks` validated once;
nothing here checks them again). It flattens the input to ``(M, N)``, N = prod(normalized_shape), and
runs one of:

* ``"triton"``: the fused Triton kernels (:mod:`.triton_rowwise`): one pass per row forward, one
  per row backward, fp32 statistics and fp32 partial sums for dweight/dbias. Runs on CUDA tensors,
  or on CPU tensors through Triton's interpreter when ``TRITON_INTERPRET=1`` was set before the
  kernel module was first imported (that is how the tests exercise it without a GPU).
* ``"cpu"``: the fused C kernel for CPU tensors (:mod:`.cpu_rowwise`), compiled at first use with the
  system C compiler: one pass over memory per direction, fp32 arithmetic (fp32/fp16/bf16 inputs).
* ``"torch"``: the same math in torch ops with a hand-derived backward (:mod:`.torch_rowwise`),
  saving only ``x`` and per-row statistics; runs on any device and dtype (fp64 included).
* ``"composite"``: the reference composite (:mod:`.composite`), differentiated by autograd: double
  backward, ``torch.func`` transforms, compressions without a kernel, empty inputs.

The three fused ones are ``torch.library`` custom ops (:mod:`.ops`), so ``torch.compile`` traces through them.
``backend="auto"`` (the default, or the ``IBNORM_BACKEND`` environment variable) picks Triton for
CUDA tensors it supports, the C kernel for CPU tensors it supports (when a compiler could build it;
:func:`cpu_status` says why not), and torch otherwise. Coverage: the row-wise family only (LN-style
``center=True`` and RMS-style ``center=False``), both orders, with or without affine, every
compression in :data:`.spec.KERNEL_COMPRESSIONS`. BatchNorm/GroupNorm IBNorm and compressions
registered by users run through the composite.

Every backend keeps one contract (checked by ``tests/ibnorm/conformance``): the same values within
the tolerance of ``tests/ibnorm/tolerances.py`` against an fp64 reference, the input's dtype for the
output, statistics in fp32 for 16-bit inputs, NaN where and only where the documented rules of
:mod:`ibnorm.functional` put it.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, TypeVar

import torch
from torch import Tensor

from .._checks import resolve_backend
from .._types import BACKENDS, Backend, ConcreteBackend, Order
from ..compression import Compression
from . import composite
from .spec import KERNEL_COMPRESSIONS, compression_id

__all__ = ["BACKENDS", "KERNEL_COMPRESSIONS", "resolve_backend", "select_backend", "rowwise_ib_norm",
           "dispatch_rowwise", "triton_status", "cpu_status", "TRITON_DTYPES"]

#: Input dtypes the Triton kernels take (arithmetic is fp32).
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Largest row the Triton kernels keep in registers, in bytes of the input dtype (as the tutorial).
TRITON_MAX_ROW_BYTES = 65536


_F = TypeVar("_F", bound=Callable[..., object])


def _assume_constant_result(fn: _F) -> _F:
    """``torch.compiler.assume_constant_result(fn)`` without its import of ``torch._dynamo`` (which imports
    triton): the decorator only sets this attribute (``torch/_dynamo/decorators.py``). Importing triton
    at ``import ibnorm`` would cost a second and fix ``TRITON_INTERPRET`` before a user (or a test) sets it."""
    setattr(fn, "_dynamo_marked_constant", True)
    return fn


def triton_status() -> tuple[bool, bool, str]:
    """``(importable, interpreted, reason)`` of the Triton backend; imports the kernel module lazily
    (importing triton costs about a second, and ``TRITON_INTERPRET`` is read at that import)."""
    try:
        from . import triton_rowwise
    except ImportError as exc:  # pragma: no cover - triton is installed in this project's env
        return False, False, f"triton could not be imported ({exc})"
    return True, triton_rowwise.INTERPRET, ""


@_assume_constant_result
def cpu_status() -> tuple[bool, str]:
    """``(available, reason)`` of the C kernel; builds it on the first call (seconds, then cached on
    disk; a build that fails or times out leaves ``auto`` on the torch backend and says why here).
    Evaluated once at trace time under ``torch.compile``."""
    from . import cpu_rowwise  # lazy: the module's import does not build, but keeps ctypes out of import ibnorm

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
    if x.device.type == "cpu" and not interpreted:
        return RuntimeError(f"backend='triton' needs CUDA tensors (got device {x.device}); to run the kernels on CPU "
                            "through Triton's interpreter, set TRITON_INTERPRET=1 before "
                            "ibnorm.kernels.triton_rowwise is imported")
    if x.device.type not in ("cuda", "cpu"):
        return RuntimeError(f"backend='triton' needs CUDA tensors (or CPU tensors under TRITON_INTERPRET=1), "
                            f"got device {x.device}")
    return None


def select_backend(backend: str | None, x: Tensor, n: int, comp: Compression) -> ConcreteBackend:
    """The concrete backend for this call: ``"triton"``, ``"cpu"`` (the C kernel), ``"torch"`` (fused
    torch ops) or ``"composite"`` (the autograd-differentiated reference, for compressions without a
    kernel). ``backend`` is a name of :data:`BACKENDS` or None (``$IBNORM_BACKEND``, else ``"auto"``).

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
                    eps: float, comp: Compression, lam: float, *, center: bool, order: Order,
                    backend: str | None = None) -> Tensor:
    """IBNorm over the trailing ``normalized_shape`` dims of ``x``, then the affine. Shape- and dtype-preserving.

    The arguments are not validated here (:func:`ibnorm.functional.ib_layer_norm` and ``ib_rms_norm``
    check them, once, with :mod:`ibnorm._checks`); ``backend`` is resolved (:func:`resolve_backend`).
    ``order`` is ``"compress_first"`` or ``"standardize_first"``; ``center`` selects LN-style (True) or
    RMS-style.
    """
    return dispatch_rowwise(x, tuple(normalized_shape), weight, bias, eps, comp, lam, center=center, order=order,
                            backend=resolve_backend(backend))


def dispatch_rowwise(x: Tensor, normalized_shape: tuple[int, ...], weight: Tensor | None, bias: Tensor | None,
                     eps: float, comp: Compression, lam: float, *, center: bool, order: Order,
                     backend: Backend) -> Tensor:
    """:func:`rowwise_ib_norm` with a resolved ``backend``: what :mod:`ibnorm.functional` calls."""
    n = int(math.prod(normalized_shape))
    chosen = select_backend(backend, x, n, comp)
    if chosen != "composite" and backend not in ("triton", "cpu") and _under_functorch(x, weight, bias):
        chosen = "composite"  # the fused ops have no vmap/jvp/vjp rules; torch.func differentiates the composite
    if chosen == "composite" or x.numel() == 0:
        return composite.rowwise(x, normalized_shape, weight, bias, eps, comp, lam, center_=center, order=order)
    from .ops import rowwise_fwd  # lazy: registering the torch.library ops is not needed by the composite

    x2 = x.reshape(-1, n).contiguous()
    w = None if weight is None else weight.reshape(n).contiguous()
    b = None if bias is None else bias.reshape(n).contiguous()
    comp_id = compression_id(comp)
    assert comp_id is not None  # select_backend returns "composite" for compressions without a kernel
    y: Tensor = rowwise_fwd(x2, w, b, float(eps), comp_id, float(lam), bool(center), order == "compress_first",
                            chosen)[0]
    return y.view(x.shape)
