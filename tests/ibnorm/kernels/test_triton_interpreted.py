"""The Triton kernels, run by Triton's interpreter on CPU tensors, against the torch backend and an fp64
reference (the composite ``ib_standardize`` + affine evaluated in fp64).

Acceptance rules (docs/benchmarks/kernels.md, :func:`_kernel_cases.check_kernel_case`): in fp32 the relative error of the
kernel against the torch backend is < 1e-4 for y and every gradient; in fp32 and bf16 the flash-attn
rule holds: the kernel's error against fp64 is at most twice the error of torch's same-dtype
composite, plus a small atol. The interpreter costs ~50 ms per program, so each case has few rows and
the size/dtype grid is subsampled (seeded).
"""
from __future__ import annotations

import itertools
import random

import pytest
import torch
from _kernel_cases import COMPS, ORDERS, check_kernel_case, needs_interpreter


def _check_case(shape, comp, center, order, affine, dtype, seed) -> bool:
    needs_interpreter()
    return check_kernel_case("triton", shape, comp, center, order, affine, dtype, seed)


@pytest.mark.parametrize("comp,center,order,affine", list(itertools.product(COMPS, (True, False), ORDERS,
                                                                            (True, False))))
def test_every_variant_fp32(comp, center, order, affine):
    """All 40 variants (compression x LN/RMS x order x affine) on an odd row size."""
    assert _check_case((2, 37), comp, center, order, affine, torch.float32, seed=10)


SIZES = (1, 7, 129, 300, 1000, 4099)
GRID = list(itertools.product(SIZES, COMPS, (True, False), ORDERS, (True, False), (torch.float32, torch.bfloat16)))
SAMPLE = random.Random(5).sample(GRID, 24)


@pytest.mark.parametrize("n,comp,center,order,affine,dtype", SAMPLE)
def test_sizes_and_dtypes_sampled(n, comp, center, order, affine, dtype):
    _check_case((3, n), comp, center, order, affine, dtype, seed=n)


@pytest.mark.parametrize("n", SIZES)
def test_every_size_default_variant(n):
    """Each required size at least once, with the default variant (tanh, LN-style, compress_first)."""
    applied = _check_case((2, n), "tanh", True, "compress_first", True, torch.float32, seed=n + 1)
    assert applied or n == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("center", [True, False])
def test_3d_input(center, dtype):
    _check_case((2, 3, 129), "softsign", center, "compress_first", True, dtype, seed=7)


def test_backward_partial_sums_over_many_rows():
    """More rows than backward programs: dweight/dbias are sums of several per-program partial rows."""
    assert _check_case((9, 65), "log", True, "standardize_first", True, torch.float32, seed=9)
