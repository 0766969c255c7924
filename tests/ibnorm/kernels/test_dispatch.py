"""Backend selection (``backend=`` and ``IBNORM_BACKEND``) and its errors."""
from __future__ import annotations

import pytest
import torch
from _kernel_cases import needs_interpreter

import ibnorm.kernels as kernels
from ibnorm.compression import Compression, get_compression
from ibnorm.functional import ib_layer_norm, ib_rms_norm
from ibnorm.kernels import KERNEL_COMPRESSIONS, resolve_backend, select_backend
from ibnorm.kernels.spec import compression_id

TANH = get_compression("tanh")


def _custom_compression():
    base = get_compression("softsign")
    return Compression(name="my_softsign", fn=lambda u, lam: base.fn(u, lam), deriv=base.deriv,
                       bound=base.bound, max_slope=base.max_slope, identity_limit="lam -> 0")


def test_resolve_backend_env_and_errors(monkeypatch):
    monkeypatch.delenv("IBNORM_BACKEND", raising=False)
    assert resolve_backend(None) == "auto"
    monkeypatch.setenv("IBNORM_BACKEND", "torch")
    assert resolve_backend(None) == "torch"
    assert resolve_backend("auto") == "auto"  # the argument wins over the variable
    monkeypatch.setenv("IBNORM_BACKEND", "cuda")
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend(None)
    with pytest.raises(ValueError, match="backend must be one of"):
        ib_layer_norm(torch.randn(2, 4), 4, backend="fast")


def test_auto_on_cpu_is_torch_where_the_c_kernel_cannot_run(monkeypatch):
    """fp64, or no compiler: the torch backend (the C kernel's own dispatch: test_cpu_kernel.py)."""
    monkeypatch.delenv("IBNORM_BACKEND", raising=False)
    assert select_backend("auto", torch.randn(2, 8, dtype=torch.float64), 8, TANH) == "torch"
    monkeypatch.setattr(kernels, "cpu_status", lambda: (False, "no C compiler found (test)"))
    assert select_backend(None, torch.randn(2, 8), 8, TANH) == "torch"


def test_env_selects_triton(monkeypatch):
    needs_interpreter()
    monkeypatch.setenv("IBNORM_BACKEND", "triton")
    x = torch.randn(2, 8)
    assert select_backend(None, x, 8, TANH) == "triton"
    torch.testing.assert_close(ib_rms_norm(x, 8), ib_rms_norm(x, 8, backend="torch"), rtol=1e-5, atol=1e-6)


def test_compression_ids_and_user_compressions():
    assert [compression_id(get_compression(n)) for n in KERNEL_COMPRESSIONS] == list(range(5))
    custom = _custom_compression()
    assert compression_id(custom) is None
    x = torch.randn(3, 10)
    assert select_backend("auto", x, 10, custom) == "composite"
    assert select_backend("torch", x, 10, custom) == "composite"
    with pytest.raises(ValueError, match="no Triton kernel"):
        select_backend("triton", x, 10, custom)
    # the composite fallback gives the same numbers as the fused path of the built-in formula
    y = ib_layer_norm(x, 10, compression=custom, lam=0.7)
    torch.testing.assert_close(y, ib_layer_norm(x, 10, compression="softsign", lam=0.7, backend="torch"))
    # a re-registered built-in name with another formula is not mistaken for the kernel's formula
    impostor = Compression(name="tanh", fn=lambda u, lam: u, deriv=TANH.deriv, bound=TANH.bound,
                           max_slope=TANH.max_slope, identity_limit="")
    assert compression_id(impostor) is None


def test_triton_errors(monkeypatch):
    x = torch.randn(2, 8)
    with pytest.raises(TypeError, match="Triton kernels take"):
        select_backend("triton", x.double(), 8, TANH)
    with pytest.raises(ValueError, match="bytes per row"):
        select_backend("triton", torch.randn(1, 20000), 20000, TANH)
    monkeypatch.setattr(kernels, "triton_status", lambda: (False, False, "triton could not be imported (test)"))
    with pytest.raises(RuntimeError, match="triton could not be imported"):
        select_backend("triton", x, 8, TANH)
    assert select_backend("auto", x, 8, TANH) in ("cpu", "torch")  # auto never needs triton on CPU
    monkeypatch.setattr(kernels, "triton_status", lambda: (True, False, ""))
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        ib_layer_norm(x, 8, backend="triton")


def test_empty_and_nd_inputs():
    x = torch.randn(0, 5)
    assert ib_layer_norm(x, 5, backend="torch").shape == (0, 5)
    x = torch.randn(2, 3, 4, 5)
    y = ib_layer_norm(x, (4, 5), torch.ones(4, 5), torch.zeros(4, 5), backend="torch")
    ref = ib_layer_norm(x, (4, 5), torch.ones(4, 5), torch.zeros(4, 5), compression=_custom_compression())
    assert y.shape == x.shape
    torch.testing.assert_close(y, ib_layer_norm(x, (4, 5), backend="torch", compression="tanh"))
    assert not torch.allclose(y, ref)  # tanh vs softsign really differ: the check above is not vacuous


def test_non_contiguous_input():
    x = torch.randn(6, 9).t()  # (9, 6), non-contiguous
    y = ib_layer_norm(x, 6, backend="torch")
    torch.testing.assert_close(y, ib_layer_norm(x.contiguous(), 6, backend="torch"))


@pytest.mark.parametrize("transform", ["vjp", "jacrev", "jacfwd", "vmap", "jvp"])
def test_torch_func_transforms_run_the_composite(transform):
    """Inside torch.func transforms the fused ops (no functorch rules) hand over to the reference composite."""
    from ibnorm import functional as IBF

    torch.manual_seed(0)
    x = torch.randn(3, 6, dtype=torch.float64)
    w = torch.rand(6, dtype=torch.float64) + 0.5
    fused = lambda a: IBF.ib_layer_norm(a, (6,), w, compression="tanh", lam=2.0, backend="torch")  # noqa: E731
    ref = lambda a: IBF.ib_standardize(a, (-1,), center=True, compression="tanh", lam=2.0) * w  # noqa: E731
    t = torch.randn_like(x)
    run = {
        "vjp": lambda f: torch.func.vjp(f, x)[1](t)[0],
        "jacrev": lambda f: torch.func.jacrev(f)(x),
        "jacfwd": lambda f: torch.func.jacfwd(f)(x),
        "vmap": lambda f: torch.func.vmap(f)(x),
        "jvp": lambda f: torch.func.jvp(f, (x,), (t,))[1],
    }[transform]
    torch.testing.assert_close(run(fused), run(ref), rtol=1e-10, atol=1e-12)


def test_compression_ids_are_declared_once():
    """spec.KERNEL_COMPRESSIONS is the only list of ids: the C source takes them as -D flags (no numeric case
    labels of its own), Triton and the torch backend read spec.COMP_IDS; an id a kernel lacks gives NaN
    (C, Triton) or raises (torch), never another compression's formula."""
    import re

    from ibnorm.kernels import cpu_rowwise, torch_rowwise
    from ibnorm.kernels.spec import COMP_IDS, c_defines

    src = cpu_rowwise.SOURCE.read_text()
    assert not re.search(r"case\s+\d", src) and "IBN_COMP_TANH" in src
    assert {f"-DIBN_COMP_{n.upper()}={i}" for n, i in COMP_IDS.items()} <= set(c_defines())
    unknown = len(KERNEL_COMPRESSIONS) + 7
    with pytest.raises(ValueError, match="unknown compression id"):
        torch_rowwise.compress(torch.randn(4), unknown, 1.0, need_deriv=False)
    if cpu_rowwise.status()[0]:
        f, d = cpu_rowwise.compress(torch.randn(4), unknown, 1.0)
        assert torch.isnan(f).all() and torch.isnan(d).all()
    importable, interpreted, _ = kernels.triton_status()
    if importable and interpreted:
        from ibnorm.kernels import triton_rowwise

        y, _ = triton_rowwise.forward(torch.randn(2, 8), None, None, 1e-5, unknown, 1.0, True, True)
        assert torch.isnan(y).all()
