"""The ``"cpu"`` backend (the C kernel, ``ibnorm/kernels/csrc/ibnorm_rowwise.c``): accuracy against the
torch backend and an fp64 reference on every variant, size and dtype; its vectorized elementary
functions; non-finite input; threads; the build and its failure modes; dispatch, and ``auto`` under
compile. (Saved tensors: test_torch_path.py; compile and opcheck: test_compile.py, both parametrized
over the backends.)"""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from _kernel_cases import COMPS, LAMS, ORDERS, check_kernel_case, kernel_fn, make_inputs, needs_cpu_kernel, run

import ibnorm.kernels as kernels
from ibnorm.compression import Compression, get_compression
from ibnorm.functional import ib_layer_norm, ib_rms_norm
from ibnorm.kernels import cpu_rowwise, rowwise_ib_norm, select_backend, spec
from ibnorm.kernels.spec import KERNEL_COMPRESSIONS, root_constants

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZES = (1, 7, 129, 300, 1000, 4099)
VARIANTS = list(itertools.product(COMPS, (True, False), ORDERS, (True, False)))


@pytest.fixture(autouse=True)
def _kernel():
    needs_cpu_kernel()


# ------------------------------------------------------------------------------------------ accuracy

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("comp,center,order,affine", VARIANTS)
def test_every_variant_and_size_fp32(comp, center, order, affine, n):
    """The full grid in fp32: rel. error vs the torch backend < 1e-4 and the flash-attn rule vs fp64."""
    applied = check_kernel_case("cpu", (3, n), comp, center, order, affine, torch.float32, seed=n)
    # ill-conditioned outputs (see _kernel_cases.WELL_CONDITIONED), where torch's own fp32 is > 1e-5 off fp64:
    # RMS-style at N = 1, and root on long rows (f'' ~ 4e3 near a = 0 at lam = 1.7)
    assert applied or n == 1 or (comp == "root" and n >= 1000)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("comp,center,order,affine", VARIANTS)
def test_every_variant_16_bit(comp, center, order, affine, dtype):
    """16-bit inputs: the flash-attn rule against fp64 (arithmetic is fp32, rounded once at the end)."""
    check_kernel_case("cpu", (4, 129), comp, center, order, affine, dtype, seed=3)


@pytest.mark.parametrize("center", [True, False])
def test_3d_input_and_many_rows(center):
    check_kernel_case("cpu", (2, 3, 300), "log", center, "compress_first", True, torch.float32, seed=4)
    check_kernel_case("cpu", (257, 33), "tanh", center, "standardize_first", True, torch.float32, seed=5)


def test_16_bit_equals_fp32_rounded_once():
    x, dy, w, b = make_inputs((5, 33), 33, True, torch.bfloat16, seed=6)
    fn = kernel_fn("cpu", "root", 1.7, True, "compress_first")
    got = run(fn, x, dy, w, b)
    up = run(fn, x.float(), dy.float(), w.float(), b.float())
    for g, r in zip(got, up):
        assert g.dtype == torch.bfloat16
        torch.testing.assert_close(g, r.to(torch.bfloat16), rtol=0, atol=0)


def test_threads_split_rows_not_results(monkeypatch):
    """Rows split over 1, 2 or 3 threads: y and dx identical bit for bit (each row is computed by one
    thread with the same code); dweight/dbias (per-thread double partial sums) equal to fp32 rounding."""
    monkeypatch.setattr(cpu_rowwise, "PARALLEL_MIN_ELEMS", 1)
    x, dy, w, b = make_inputs((301, 64), 64, True, torch.float32, seed=7)
    fn = kernel_fn("cpu", "tanh", 1.3, True, "compress_first")
    outs = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        outs.append(run(fn, x, dy, w, b))
    for other in outs[1:]:
        assert torch.equal(other[0], outs[0][0]) and torch.equal(other[1], outs[0][1])
        for g, r in zip(other[2:], outs[0][2:]):
            torch.testing.assert_close(g, r, rtol=2e-7, atol=0)


# --------------------------------------------------------------------------- elementary functions

#: Each compression's value and derivative from the kernel's own vectorizable exp/log/tanh, against fp64:
#: |err| <= K eps32 (|ref| + T), with T the magnitude of the terms that cancel in the formula (1 for
#: tanh' = 1 - t^2 and softsign' = (1 - lam|f|)^2; (|a| + d)^p for root's (|a| + d)^p - d^p; else 0).
#: K = 16 for |a| <= 1e3 (measured worst: 9); beyond, root's exp(p log v) loses ~|p log v| ulps
#: (measured worst 91 ulps at |a| = 1e30, lam = 1.7), so K = 128 on the full range.
ULPS_TYPICAL, ULPS_FULL = 16, 128


def _grid():
    mags = torch.logspace(-30, 30, 60001, dtype=torch.float64)
    lin = torch.linspace(-30, 30, 60001, dtype=torch.float64)
    return torch.cat([mags, -mags, lin, torch.zeros(1)]).float().double()  # representable in fp32


@pytest.mark.parametrize("comp,lam", [("tanh", 0.5), ("tanh", 3.0), ("log", 0.5), ("log", 2.0), ("root", 1.0),
                                      ("root", 1.7), ("root", 2.0), ("root", 4.0), ("softsign", 1.2)])
def test_elementary_functions_against_fp64(comp, lam):
    c = get_compression(comp)
    a = _grid()
    f, d = cpu_rowwise.compress(a, KERNEL_COMPRESSIONS.index(comp), lam)
    rf, rd = c.fn(a, lam), c.deriv(a, lam)
    eps = torch.finfo(torch.float32).eps
    p, delta, _ = root_constants(lam)
    terms_f = (a.abs() + delta) ** p if comp == "root" else torch.zeros_like(a)
    terms_d = torch.ones_like(a) if comp in ("tanh", "softsign") else torch.zeros_like(a)
    typical = a.abs() <= 1e3
    for name, got, ref, terms in (("f", f, rf, terms_f), ("f'", d, rd, terms_d)):
        ok = torch.isfinite(ref)
        assert torch.equal(torch.isfinite(got), ok), name
        err = (got.double() - ref).abs()
        scale = eps * (ref.abs() + terms) + torch.finfo(torch.float32).tiny  # f(0) = 0 must come out exact
        for mask, k in ((typical & ok, ULPS_TYPICAL), (ok, ULPS_FULL)):
            worst = (err[mask] / scale[mask]).max().item()
            assert worst <= k, f"{comp} lam={lam} {name}: {worst:.1f} ulps > {k}"


@pytest.mark.parametrize("comp", KERNEL_COMPRESSIONS[1:])
def test_elementary_functions_non_finite(comp):
    """f and f' at +-inf and NaN as the fp64 formulas of ibnorm.compression give them (NaN stays NaN;
    bounded compressions saturate; unbounded ones give inf)."""
    lam = LAMS[comp]
    a = torch.tensor([math.inf, -math.inf, math.nan, 0.0, -0.0], dtype=torch.float64)
    c = get_compression(comp)
    f, d = cpu_rowwise.compress(a, KERNEL_COMPRESSIONS.index(comp), lam)
    for got, ref in ((f, c.fn(a, lam)), (d, c.deriv(a, lam))):
        torch.testing.assert_close(got.double(), ref, equal_nan=True, rtol=1e-6, atol=0)


# ------------------------------------------------------------------------------------ non-finite input

@pytest.mark.parametrize("comp", KERNEL_COMPRESSIONS[1:])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_rows_like_the_torch_backend(comp, center, bad):
    """The bad row behaves as ibnorm.functional documents (same NaN pattern as the torch backend; a finite
    row stays equal to it); the other rows are unaffected."""
    x = torch.randn(4, 9)
    x[1, 3] = bad
    fn = lambda backend: rowwise_ib_norm(x, (9,), None, None, 1e-5, get_compression(comp), LAMS[comp],  # noqa: E731
                                         center=center, order="compress_first", backend=backend)
    got, ref = fn("cpu"), fn("torch")
    assert torch.equal(torch.isnan(got), torch.isnan(ref))
    torch.testing.assert_close(got, ref, equal_nan=True, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(got[[0, 2, 3]]).all()


# ------------------------------------------------------------------------------------------ dispatch

def test_auto_picks_the_kernel_for_cpu_tensors(monkeypatch):
    monkeypatch.delenv("IBNORM_BACKEND", raising=False)
    tanh = get_compression("tanh")
    for dtype in cpu_rowwise.DTYPES:
        assert select_backend(None, torch.randn(2, 8, dtype=dtype), 8, tanh) == "cpu"
    assert select_backend("auto", torch.randn(2, 8, dtype=torch.float64), 8, tanh) == "torch"
    monkeypatch.setenv("IBNORM_BACKEND", "cpu")
    x = torch.randn(3, 8)
    torch.testing.assert_close(ib_layer_norm(x, 8), ib_layer_norm(x, 8, backend="torch"), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ib_rms_norm(x, 8), ib_rms_norm(x, 8, backend="torch"), rtol=1e-5, atol=1e-6)


def test_explicit_cpu_errors(monkeypatch):
    tanh = get_compression("tanh")
    with pytest.raises(TypeError, match="backend='cpu' takes"):
        ib_layer_norm(torch.randn(2, 8, dtype=torch.float64), 8, backend="cpu")
    with pytest.raises(RuntimeError, match="needs CPU tensors"):
        select_backend("cpu", torch.randn(2, 8, device="meta"), 8, tanh)
    mine = Compression(name="mine", fn=lambda u, lam: u, deriv=tanh.deriv, bound=tanh.bound, max_slope=tanh.max_slope,
                  identity_limit="")
    with pytest.raises(ValueError, match="no fused kernel"):
        select_backend("cpu", torch.randn(2, 8), 8, mine)
    monkeypatch.setattr(kernels, "cpu_status", lambda: (False, "no C compiler found (test)"))
    with pytest.raises(RuntimeError, match="no C compiler found"):
        ib_layer_norm(torch.randn(2, 8), 8, backend="cpu")
    assert select_backend("auto", torch.randn(2, 8), 8, tanh) == "torch"  # auto falls back quietly


# --------------------------------------------------------------------------------------------- build

def test_build_is_cached_and_keyed(monkeypatch, tmp_path):
    monkeypatch.setenv("IBNORM_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("IBNORM_KERNEL_CFLAGS", "-O0")  # quick builds: keying does not depend on the flags
    lib, reason, path = cpu_rowwise._build()
    assert lib is not None, reason
    assert path.parent == tmp_path and path.exists()
    mtime = path.stat().st_mtime_ns
    _, _, again = cpu_rowwise._build()
    assert again == path and path.stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # no temporary left behind
    monkeypatch.setattr(cpu_rowwise, "_cpu_flags", lambda: "another-machine")
    _, _, other = cpu_rowwise._build()
    assert other != path  # another CPU (or flags, compiler, source) gets its own library
    monkeypatch.setattr(cpu_rowwise, "_cpu_flags", lambda: "this-machine")
    monkeypatch.setattr(cpu_rowwise, "c_defines", lambda: [*spec.c_defines(), "-DIBN_UNUSED_EXTRA=1"])
    _, _, moved = cpu_rowwise._build()
    assert moved not in (path, other)  # the compression ids of spec.py are part of the key


def test_build_failures_are_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("IBNORM_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("IBNORM_KERNEL_CFLAGS", "-O0")
    monkeypatch.setenv("CC", "/nonexistent/cc")
    lib, reason, _ = cpu_rowwise._build()
    assert lib is None and "no C compiler found" in reason
    broken = tmp_path / "broken.c"
    broken.write_text("this is not C\n")
    monkeypatch.delenv("CC")
    monkeypatch.setattr(cpu_rowwise, "SOURCE", broken)
    lib, reason, _ = cpu_rowwise._build()
    assert lib is None and "could not build the C kernel" in reason
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------------------------------- compile

def test_auto_under_compile_uses_the_kernel(monkeypatch):
    """``auto`` under torch.compile resolves the kernel's availability once at trace time."""
    monkeypatch.delenv("IBNORM_BACKEND", raising=False)
    torch._dynamo.reset()
    seen = []
    real = cpu_rowwise.forward
    monkeypatch.setattr(cpu_rowwise, "forward", lambda *a: seen.append(1) or real(*a))
    f = torch.compile(lambda x: ib_layer_norm(x, 12), backend="aot_eager", fullgraph=True)
    x = torch.randn(3, 12)
    torch.testing.assert_close(f(x), ib_layer_norm(x, 12, backend="torch"), rtol=1e-5, atol=1e-6)
    assert seen
