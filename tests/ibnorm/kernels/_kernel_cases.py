"""Shared inputs and references for the kernel tests (imported by the test modules of this directory)."""
from __future__ import annotations

import pytest
import torch

from ibnorm.compression import get_compression
from ibnorm.functional import ib_standardize
from ibnorm.kernels import rowwise_ib_norm, triton_status

COMPS = ("identity", "tanh", "log", "root", "softsign")
#: lam per compression (root needs lam >= 1; lam = 1 would make it the identity).
LAMS = {"identity": 1.0, "tanh": 0.8, "log": 1.5, "root": 1.7, "softsign": 1.2}
ORDERS = ("compress_first", "standardize_first")


def make_inputs(shape, n_affine, affine: bool, dtype, seed: int):
    """x with a per-row offset and scale (so centering matters), dy, and optional weight/bias."""
    g = torch.Generator().manual_seed(seed)
    rows = shape[:-1]
    x = torch.randn(shape, generator=g, dtype=torch.float64) * (0.5 + 2 * torch.rand(*rows, 1, generator=g,
                                                                                     dtype=torch.float64))
    x = x + torch.randn(*rows, 1, generator=g, dtype=torch.float64)
    dy = torch.randn(shape, generator=g, dtype=torch.float64)
    w = (1 + 0.5 * torch.randn(n_affine, generator=g, dtype=torch.float64)) if affine else None
    b = 0.5 * torch.randn(n_affine, generator=g, dtype=torch.float64) if affine else None
    cast = (lambda t: None if t is None else t.to(dtype))
    return cast(x), cast(dy), cast(w), cast(b)


def composite(x, w, b, comp, lam, center, order, eps=1e-5):
    """The reference: ibnorm.functional.ib_standardize (autograd) + affine, in x's dtype."""
    y = ib_standardize(x, (-1,), center=center, compression=get_compression(comp), lam=lam, eps=eps, order=order)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def run(fn, x, dy, w, b):
    """(y, dx, dw, db) of fn(x, w, b) with upstream gradient dy (None entries for absent params)."""
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, w, b)]
    y = fn(*leaves)
    params = [t for t in leaves if t is not None]
    grads = torch.autograd.grad(y, params, dy)
    it = iter(grads)
    return [y.detach()] + [next(it) if t is not None else None for t in leaves]


def kernel_fn(backend, comp, lam, center, order, eps=1e-5):
    def fn(x, w, b):
        return rowwise_ib_norm(x, (x.shape[-1],), w, b, eps, get_compression(comp), lam, center=center,
                               order=order, backend=backend)
    return fn


def composite_fn(comp, lam, center, order, eps=1e-5):
    return lambda x, w, b: composite(x, w, b, comp, lam, center, order, eps)


def max_err(a, ref):
    return (a.double() - ref.double()).abs().max().item()


def rel_err(a, ref):
    """Norm-wise relative error max|a - ref| / max|ref| (0 when both are 0)."""
    scale = ref.double().abs().max().item()
    err = max_err(a, ref)
    return err / scale if scale > 0 else err


def needs_interpreter():
    importable, interpreted, reason = triton_status()
    if not importable:
        pytest.skip(reason)
    if not interpreted:
        pytest.skip("ibnorm.kernels.triton_rowwise was imported without TRITON_INTERPRET=1")
