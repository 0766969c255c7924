"""The torch backend (hand-derived backward, saves only x and per-row stats) against autograd of the
reference composite ``ibnorm.functional.ib_standardize`` + affine, in fp64."""
from __future__ import annotations

import itertools

import pytest
import torch
from _kernel_cases import COMPS, LAMS, ORDERS, composite_fn, kernel_fn, make_inputs, needs_cpu_kernel, run

import ibnorm.kernels.torch_rowwise as torch_rowwise
from ibnorm.compression import get_compression
from ibnorm.kernels import rowwise_ib_norm
from ibnorm.kernels.spec import STATS_ROWS

ALL = list(itertools.product(COMPS, (True, False), ORDERS, (True, False)))


@pytest.mark.parametrize("comp,center,order,affine", ALL)
def test_torch_backend_matches_composite_fp64(comp, center, order, affine):
    x, dy, w, b = make_inputs((3, 4, 37), 37, affine, torch.float64, seed=1)
    lam = LAMS[comp]
    got = run(kernel_fn("torch", comp, lam, center, order), x, dy, w, b)
    ref = run(composite_fn(comp, lam, center, order), x, dy, w, b)
    for name, g, r in zip(("y", "dx", "dw", "db"), got, ref):
        if r is None:
            assert g is None
            continue
        assert g.dtype == r.dtype and g.shape == r.shape
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10, msg=f"{name} differs")


@pytest.mark.parametrize("comp,center,order", list(itertools.product(COMPS, (True, False), ORDERS)))
def test_torch_backend_gradcheck(comp, center, order):
    x, _, w, b = make_inputs((3, 7), 7, True, torch.float64, seed=2)
    fn = kernel_fn("torch", comp, LAMS[comp], center, order)
    if not center:
        b = None  # RMS-style callers pass no bias
    args = tuple(t.requires_grad_() for t in (x, w) ) + ((b.requires_grad_(),) if b is not None else ())
    assert torch.autograd.gradcheck(lambda *a: fn(a[0], a[1], a[2] if len(a) > 2 else None), args)


def test_blocking_does_not_change_the_result(monkeypatch):
    """RMS-style (the blocked eager path): many small row blocks and a partial last block give the
    same values and gradients as one block."""
    x, dy, w, _ = make_inputs((11, 29), 29, True, torch.float64, seed=3)
    b = None
    fn = kernel_fn("torch", "tanh", 0.8, False, "compress_first")
    whole = run(fn, x, dy, w, b)
    monkeypatch.setattr(torch_rowwise, "BLOCK_ELEMS", 3 * 29)
    monkeypatch.setattr(torch_rowwise, "PARALLEL_BLOCK_ELEMS", 3 * 29)
    blocked = run(fn, x, dy, w, b)
    for g, r in zip(blocked, whole):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_computes_in_fp32(dtype):
    """16-bit inputs are upcast per block: the result equals the fp32 computation rounded once."""
    x, dy, w, b = make_inputs((5, 33), 33, True, dtype, seed=4)
    fn = kernel_fn("torch", "log", 1.5, True, "compress_first")
    got = run(fn, x, dy, w, b)
    up = run(fn, x.float(), dy.float(), w.float(), b.float())
    for g, r in zip(got, up):
        assert g.dtype == dtype
        torch.testing.assert_close(g, r.to(dtype), rtol=0, atol=0)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_only_x_and_row_stats_are_saved(backend):
    """Autograd keeps x, weight and a (STATS_ROWS, M) statistics tensor: nothing else of size M*N."""
    if backend == "cpu":
        needs_cpu_kernel()
    x = torch.randn(6, 40, requires_grad=True)
    w = torch.randn(40, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        rowwise_ib_norm(x, (40,), w, None, 1e-5, get_compression("tanh"), 1.0, center=True,
                        order="compress_first", backend=backend)
    big = [t for t in saved if t.numel() >= x.numel()]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()
    assert any(tuple(t.shape) == (STATS_ROWS, 6) and t.dtype == torch.float32 for t in saved)
    assert sum(t.numel() for t in saved) == x.numel() + 40 + STATS_ROWS * 6
