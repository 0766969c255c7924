"""The fused ops under ``torch.compile`` and ``torch.library.opcheck`` (fake impls, autograd registration).

Kept small: compile is slow on the 2-core CI machine. ``aot_eager`` exercises Dynamo + AOTAutograd
(tracing through the custom op with its fake implementation and its registered backward) without
Inductor's C++ code generation.
"""
from __future__ import annotations

import pytest
import torch
from _kernel_cases import needs_cpu_kernel

from ibnorm.compression import get_compression
from ibnorm.kernels import ops, rowwise_ib_norm

BACKENDS = ["torch", "cpu"]


def _needs(backend):
    if backend == "cpu":
        needs_cpu_kernel()


@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_compile_fullgraph_forward_backward(backend):
    _needs(backend)
    torch._dynamo.reset()
    x = torch.randn(4, 3, 33, requires_grad=True)
    w = torch.randn(33, requires_grad=True)
    b = torch.randn(33, requires_grad=True)
    dy = torch.randn(4, 3, 33)

    def model(x, w, b):
        y = rowwise_ib_norm(x, (33,), w, b, 1e-5, get_compression("tanh"), 0.8, center=True,
                            order="compress_first", backend=backend)
        return (y * 2.0).sin()

    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    y = compiled(x, w, b)
    grads = torch.autograd.grad(y, (x, w, b), dy)
    y_ref = model(x, w, b)
    grads_ref = torch.autograd.grad(y_ref, (x, w, b), dy)
    torch.testing.assert_close(y, y_ref)
    for g, r in zip(grads, grads_ref):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("center,compress_first", [(True, True), (False, False)])
def test_opcheck(center, compress_first, backend):
    _needs(backend)
    x = torch.randn(5, 17, requires_grad=True)
    w = torch.randn(17, requires_grad=True)
    b = torch.randn(17, requires_grad=True) if center else None
    torch.library.opcheck(ops.rowwise_fwd, (x, w, b, 1e-5, 2, 1.5, center, compress_first, backend))
    y, stats = ops.rowwise_fwd(x.detach(), w.detach(), None, 1e-5, 2, 1.5, center, compress_first, backend)
    torch.library.opcheck(ops.rowwise_bwd, (torch.randn(5, 17), x.detach(), w.detach(), stats, 2, 1.5, center,
                                            compress_first, True, center, backend))
