"""The one dtype-keyed tolerance table of the ibnorm tests (kernels, layers, conformance), and the conformance rule.

fp64: 1e-10 (round-off of a normalizer over <= 1e3 values is ~1e-13, so three orders of margin while still
catching any real formula difference, e.g. an eps or a biased/unbiased variance mix-up >= 1e-6);
fp32: 1e-5 (about 100 ulps of float32 at unit scale); fp16 and bf16: one ulp of the dtype at unit scale
(2^-10 and 2^-7): every path computes 16-bit inputs in fp32 and rounds once (half an ulp), so a second
half ulp is left for the fp32 arithmetic.

:func:`conformance_bound` is the rule of the conformance suite (``tests/ibnorm/conformance``): an output
element may differ from the fp64 reference by the table's ``atol + rtol * scale`` (``scale`` = the largest
magnitude of the reference in the element's statistics group, or in the whole tensor for the weight
and bias gradients: the rounding errors of a normalizer are relative to its group's magnitude, so a
small element next to large ones carries the large ones' absolute error) plus the *sensitivity* of
the exact result there: how far the fp64 reference itself moves, within the element's
statistics group, when every input element is perturbed by :func:`perturbation` units of roundoff of
the compute dtype (random signs). That is the textbook test of backward stability (Higham, Accuracy and
Stability of Numerical Algorithms, 2nd ed., section 1.5): an algorithm that computes the exact result of
a slightly perturbed input passes; one that is wrong by more than its input's rounding can explain
fails. Constant groups are not perturbed, so they are held to the table alone (their answer is exact).
"""
from __future__ import annotations

import torch

TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.float16: {"rtol": 2.0**-10, "atol": 2.0**-10},
    torch.bfloat16: {"rtol": 2.0**-7, "atol": 2.0**-7},
    torch.int64: {"rtol": 0, "atol": 0},  # counters such as num_batches_tracked: exact
}

#: Units of the compute dtype's roundoff by which the conformance rule perturbs each input element: the
#: backward error of a normalizer is a few roundoffs per element (a subtraction of the mean, a scaling,
#: the compression), so 8 covers it without admitting a formula error.
PERTURBATION_ULPS = 8


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


def perturbation(compute_dtype: torch.dtype) -> float:
    """The relative input perturbation of the conformance rule: :data:`PERTURBATION_ULPS` roundoffs."""
    return PERTURBATION_ULPS * float(torch.finfo(compute_dtype).eps)


def conformance_bound(scale: torch.Tensor, sensitivity: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Largest admissible ``|got - reference|`` per element for an output of ``dtype`` (fp64 tensors; ``scale``
    the group-wise magnitude of the reference described above)."""
    t = tol(dtype)
    return t["atol"] + t["rtol"] * scale + sensitivity
