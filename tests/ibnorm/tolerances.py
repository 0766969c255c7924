"""The one dtype-keyed tolerance table of the ibnorm tests (DESIGN.md section 6).

fp64: 1e-10 (round-off of a normalizer over <= 1e3 values is ~1e-13, so three orders of margin while still
catching any real formula difference, e.g. an eps or a biased/unbiased variance mix-up >= 1e-6);
fp32: 1e-5 (about 100 ulps of float32 at unit scale). Half precision is the kernels' business
(``tests/ibnorm/kernels``: the flash-attn rule against an fp32 reference).
"""
from __future__ import annotations

import torch

TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.int64: {"rtol": 0, "atol": 0},  # counters such as num_batches_tracked: exact
}


def tol(dtype: torch.dtype) -> dict:
    """``{"rtol", "atol"}`` for ``dtype`` (KeyError for a dtype without an entry: add it here, not inline)."""
    return TOL[dtype]


def assert_close(actual, expected, dtype: torch.dtype | None = None, **kw) -> None:
    """``torch.testing.assert_close`` with the table's tolerance for ``dtype`` (default: the dtype of ``expected``,
    or of its first tensor when it is a sequence, e.g. a tuple of gradients)."""
    if dtype is None:
        first = expected if isinstance(expected, torch.Tensor) else next(t for t in expected if t is not None)
        dtype = first.dtype
    t = dict(tol(dtype))
    t.update(kw)
    torch.testing.assert_close(actual, expected, equal_nan=True, **t)
