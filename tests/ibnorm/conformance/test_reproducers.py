"""The reproducers of the layer items of the "no silent garbage" review (items 1-5 and 8), each on every
backend it concerns, named after what they check. (The kernel build faults of items 3 and 7 are in
``tests/ibnorm/kernels/test_build_faults.py``.)"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from harness import triton_available

import ibnorm._checks as checks
from ibnorm import functional as IBF
from ibnorm.kernels import cpu_rowwise
from ibnorm.kernels.ops import DOUBLE_BACKWARD_MESSAGE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROWWISE = ["auto", "cpu", "torch", "composite", "triton"]


def _backend_ok(backend: str) -> None:
    if backend == "triton" and not triton_available():
        pytest.skip("Triton's interpreter is not active")
    if backend == "cpu" and not cpu_rowwise.status()[0]:
        pytest.skip(cpu_rowwise.status()[1])


# ------------------------------------------------------------------------ 1. parameters on another device

@pytest.mark.parametrize("backend", ROWWISE)
def test_meta_weight_is_refused_not_uninitialized(backend):
    """f(randn(4, 64), 64, ones(64, device='meta')) printed uninitialized memory on auto/cpu/torch."""
    _backend_ok(backend)
    x = torch.randn(4, 64)
    for kw in ({"weight": torch.ones(64, device="meta")}, {"bias": torch.zeros(64, device="meta")}):
        with pytest.raises(RuntimeError, match="device meta"):
            IBF.ib_layer_norm(x, 64, backend=backend, **kw)
    with pytest.raises(RuntimeError, match="device meta"):
        IBF.ib_rms_norm(x, 64, torch.ones(64, device="meta"), backend=backend)


def test_meta_parameters_refused_by_batch_and_group_norm():
    x = torch.randn(4, 6, 3)
    with pytest.raises(RuntimeError, match="device meta"):
        IBF.ib_group_norm(x, 2, torch.ones(6, device="meta"))
    with pytest.raises(RuntimeError, match="device meta"):
        IBF.ib_batch_norm(x, torch.zeros(6, device="meta"), torch.ones(6), training=False)


def test_the_c_kernel_never_gets_a_foreign_pointer():
    """Even called directly (below the argument checks), the C kernel refuses non-CPU tensors."""
    if not cpu_rowwise.status()[0]:
        pytest.skip(cpu_rowwise.status()[1])
    x = torch.randn(3, 8)
    with pytest.raises(RuntimeError, match="on meta"):
        cpu_rowwise.forward(x, torch.ones(8, device="meta"), None, 1e-5, 1, 1.0, True, True)


# ------------------------------------------------------------------- 2. fp16 statistics on the composite paths

def test_fp16_group_norm_constant_groups_have_finite_gradients():
    """(4, 8, 5, 5) fp16 with x[:, :4] = 0: 400 NaN input gradients before (torch's GroupNorm: 0)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 5, 5, generator=g).half()
    x[:, :4] = 0
    for fn in (lambda t: IBF.ib_group_norm(t, 2, compression="tanh"),
               lambda t: IBF.ib_batch_norm(t, None, None, training=True, compression="log", lam=2.0),
               lambda t: IBF.ib_layer_norm(t, (8, 5, 5), compression="root", lam=1.5, backend="composite")):
        xr = x.clone().requires_grad_()
        y = fn(xr)
        (gx,) = torch.autograd.grad(y, xr, torch.randn(y.shape, generator=g).half())
        assert y.dtype == torch.float16 and int(torch.isnan(gx).sum()) == 0 and int(torch.isnan(y).sum()) == 0


@pytest.mark.parametrize("order", ["standardize_first", "compress_first"])
def test_fp16_large_deviations_are_not_zeroed(order):
    """|x - mean| above ~256 in fp16: the fp16 variance overflowed and the output was all zero."""
    g = torch.Generator().manual_seed(1)
    x = (1000 * torch.randn(4, 8, 6, generator=g)).half()
    ref = IBF.ib_group_norm(x.double(), 2, compression="root", lam=1.0, order=order)
    for y in (IBF.ib_group_norm(x, 2, compression="root", lam=1.0, order=order),
              IBF.ib_batch_norm(x, None, None, training=True, compression="tanh", lam=1e-3, order=order),
              IBF.ib_layer_norm(x, (8, 6), compression="root", lam=1.0, order=order, backend="composite")):
        assert y.abs().max() > 0.5
    torch.testing.assert_close(IBF.ib_group_norm(x, 2, compression="root", lam=1.0, order=order).double(), ref,
                               rtol=2e-3, atol=2e-3)


def test_fp16_through_torch_func_uses_fp32_statistics():
    x = torch.zeros(3, 8, dtype=torch.float16)
    x[1] = torch.arange(8.0).half()
    jac = torch.func.jacrev(lambda t: IBF.ib_layer_norm(t, 8, compression="log", lam=2.0))(x)
    assert not torch.isnan(jac).any()


# -------------------------------------------------------------------------------- 3. Triton hides NaN

@pytest.mark.parametrize("comp", ["root", "tanh", "log", "softsign"])
def test_triton_nan_gives_a_nan_group(comp):
    _backend_ok("triton")
    x = torch.randn(3, 9)
    x[1, 4] = math.nan
    y = IBF.ib_layer_norm(x, 9, compression=comp, lam=1.5, backend="triton")
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 2]]).all()


# ----------------------------------------------------------------------------------- 4. f'(0) of log, root

@pytest.mark.parametrize("backend", ROWWISE)
@pytest.mark.parametrize("comp,lam", [("log", 2.0), ("root", 1.5)])
def test_derivative_at_zero_matches_central_differences(backend, comp, lam):
    """ib_rms_norm([0, 1, -2, 3], compression='log', lam=2): dy0/dx0 = 1.4525 (torch backend, central
    differences) but 0.0 on the composite."""
    _backend_ok(backend)
    x64 = torch.tensor([0.0, 1.0, -2.0, 3.0], dtype=torch.float64)
    h = 1e-8  # f'' jumps at 0 (root: ~4e3 near 0), so the central difference converges at first order in h
    fd = (IBF.ib_rms_norm(x64 + torch.tensor([h, 0, 0, 0]), 4, compression=comp, lam=lam, backend="composite")[0]
          - IBF.ib_rms_norm(x64 - torch.tensor([h, 0, 0, 0]), 4, compression=comp, lam=lam, backend="composite")[0]
          ) / (2 * h)
    x = (x64 if backend in ("torch", "composite") else x64.float()).clone().requires_grad_()
    (g,) = torch.autograd.grad(IBF.ib_rms_norm(x, 4, compression=comp, lam=lam, backend=backend)[0], x)
    assert abs(float(g[0]) - float(fd)) <= 1e-4 * abs(float(fd)), (float(g[0]), float(fd))
    if comp == "log":
        assert float(fd) == pytest.approx(1.4525, abs=1e-4)


# ------------------------------------------------------------------ 5. accepted parameters are computable

@pytest.mark.parametrize("comp,lam", [("tanh", 1e-39), ("log", 1e-38), ("log", 1e39), ("tanh", 1e-30),
                                      ("root", 1e6)])
def test_lam_outside_the_dtypes_range_is_refused(comp, lam):
    """lam <= ~1e-38 (tanh, log) or >= ~1e39 (log) gave an all-NaN fp32 output; root at huge lam lost
    every digit to cancellation. Refused for fp32 (naming the range); fp64 inputs have a wider one."""
    x = torch.randn(3, 16)
    with pytest.raises(ValueError, match=r"outside what compression .* can compute in torch.float32"):
        IBF.ib_layer_norm(x, 16, compression=comp, lam=lam)
    y = IBF.ib_layer_norm(x.double(), 16, compression=comp, lam=lam) if lam < 1e100 and comp != "root" else None
    if y is not None:
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("backend", ROWWISE)
@pytest.mark.parametrize("comp", ["tanh", "log", "softsign", "root"])
def test_lam_at_the_ends_of_the_fp32_range_is_finite(backend, comp):
    _backend_ok(backend)
    from ibnorm.compression import get_compression

    lo, hi = get_compression(comp).lam_limits(torch.float32)
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(2)) * 3
    for lam in (lo, hi):
        for order in ("compress_first", "standardize_first"):
            y = IBF.ib_layer_norm(x, 16, compression=comp, lam=lam, order=order, backend=backend)
            ref = IBF.ib_layer_norm(x.double(), 16, compression=comp, lam=lam, order=order)
            assert torch.isfinite(y).all()
            torch.testing.assert_close(y.double(), ref, rtol=1e-4, atol=1e-4)


def test_constant_rows_at_large_offsets_standardize_to_zero():
    """Constant groups at an offset with standardize_first gave ~0.5 instead of 0 on composite/GN/BN."""
    x = torch.randn(4, 6, 5)
    x[1] = 7777.7
    x[:, 2] = 7777.7
    for y in (IBF.ib_group_norm(x, 3, compression="tanh", order="standardize_first")[1],
              IBF.ib_batch_norm(x, None, None, training=True, compression="tanh", order="standardize_first")[:, 2],
              IBF.ib_layer_norm(x, (6, 5), compression="tanh", order="standardize_first", backend="composite")[1]):
        assert float(y.abs().max()) < 1e-6


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_integer_bool_complex_weights_are_refused(dtype):
    """Accepted silently before (complex with only a warning); F.rms_norm still takes them."""
    x = torch.randn(3, 8)
    w = torch.ones(8).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in (lambda: IBF.ib_rms_norm(x, 8, w), lambda: IBF.ib_layer_norm(x, 8, w),
                     lambda: IBF.ib_group_norm(x.view(3, 8, 1), 2, w), lambda: IBF.ib_rms_norm(x, 8, w, compression="identity")):
            with pytest.raises(TypeError, match="real floating dtype"):
                call()


@pytest.mark.parametrize("backend", ROWWISE)
def test_mixed_dtypes_follow_torch(backend):
    """The output dtype for mixed float dtypes depended on the backend; now it is torch's: the input's, and
    LayerNorm refuses what F.layer_norm refuses."""
    _backend_ok(backend)
    x16 = torch.randn(3, 8).half()
    assert IBF.ib_layer_norm(x16, 8, torch.ones(8), torch.zeros(8), backend=backend).dtype == torch.float16
    assert IBF.ib_rms_norm(torch.randn(3, 8), 8, torch.ones(8, dtype=torch.float64), backend=backend).dtype == torch.float32
    with pytest.raises(RuntimeError, match="mixed-dtype"):
        IBF.ib_layer_norm(torch.randn(3, 8), 8, torch.ones(8, dtype=torch.float64), backend=backend)


# ------------------------------------------------------------------------------------------ 8. small things

def test_group_norm_on_an_empty_batch_is_empty():
    x = torch.randn(0, 4, 3, requires_grad=True)
    y = IBF.ib_group_norm(x, 2, torch.ones(4), torch.zeros(4), compression="tanh")
    assert y.shape == (0, 4, 3) and y.requires_grad


def test_batch_norm_with_zero_channels_is_empty():
    for training in (True, False):
        rm = torch.zeros(0) if not training else None
        rv = torch.ones(0) if not training else None
        y = IBF.ib_batch_norm(torch.randn(4, 0), rm, rv, training=training, compression="tanh")
        assert y.shape == (4, 0)


def test_numpy_integer_normalized_shape():
    x = torch.randn(3, 64)
    torch.testing.assert_close(IBF.ib_layer_norm(x, np.int64(64)), IBF.ib_layer_norm(x, 64))
    torch.testing.assert_close(IBF.ib_rms_norm(x, [np.int32(64)], compression="identity"), IBF.ib_rms_norm(x, 64, compression="identity"))
    with pytest.raises(TypeError, match="normalized_shape"):
        IBF.ib_layer_norm(x, 64.0)


def test_backend_is_validated_for_the_identity_too():
    with pytest.raises(ValueError, match="backend must be one of"):
        IBF.ib_layer_norm(torch.randn(2, 4), 4, compression="identity", backend="fast")
    with pytest.raises(ValueError, match="backend must be one of"):
        IBF.ib_rms_norm(torch.randn(2, 4), 4, compression="identity", backend="gpu")


@pytest.mark.parametrize("backend", ["torch", "cpu", "triton"])
def test_fused_double_backward_names_the_composite(backend):
    _backend_ok(backend)
    x = torch.randn(3, 8, requires_grad=True)
    y = IBF.ib_layer_norm(x, 8, compression="tanh", backend=backend)
    (g,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError) as info:
        torch.autograd.grad(g.sum(), x)
    assert str(info.value).endswith(DOUBLE_BACKWARD_MESSAGE) or DOUBLE_BACKWARD_MESSAGE in str(info.value)
    assert "backend='composite'" in str(info.value)
    # and the composite does it
    xc = x.detach().double().requires_grad_()
    (gc,) = torch.autograd.grad(IBF.ib_layer_norm(xc, 8, backend="composite").pow(2).sum(), xc, create_graph=True)
    (hc,) = torch.autograd.grad(gc.sum(), xc)
    assert torch.isfinite(hc).all()


# ------------------------------------------------------------------------- the checks run once per call

def test_argument_checks_run_once_per_call(monkeypatch):
    """One validation per public call, whatever the path (the composite used to re-validate)."""
    calls = {"input": 0, "lam": 0}
    real_input, real_lam = checks.check_input, checks.validate_lam

    def count_input(*a, **k):
        calls["input"] += 1
        return real_input(*a, **k)

    def count_lam(*a, **k):
        calls["lam"] += 1
        return real_lam(*a, **k)

    monkeypatch.setattr(checks, "check_input", count_input)
    monkeypatch.setattr(checks, "validate_lam", count_lam)
    x = torch.randn(2, 4, 6)
    for call in (lambda: IBF.ib_layer_norm(x, 6, backend="composite"), lambda: IBF.ib_layer_norm(x, 6, backend="torch"),
                 lambda: IBF.ib_rms_norm(x, 6), lambda: IBF.ib_group_norm(x, 2),
                 lambda: IBF.ib_batch_norm(x, None, None, training=True),
                 lambda: IBF.ib_standardize(x, (-1,), center=True)):
        calls.update(input=0, lam=0)
        call()
        assert calls == {"input": 1, "lam": 1}
