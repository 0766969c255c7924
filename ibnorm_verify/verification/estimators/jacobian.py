"""The spectral norm of a small map's Jacobian at a point, by autograd and SVD (float64), and its ground truth.

For the single-normalizer claim (``docs/papers/capacity.md`` section 2.2): the full Jacobian of a map
R^n -> R^n is built with ``torch.autograd.functional.jacobian`` (one batched backward) and reduced to its
largest singular value with ``torch.linalg.matrix_norm(ord=2)``. Exact up to round-off (the SVD's error
on the top singular value is about 1e-15 relative); for maps with n up to a few hundred.
"""
from __future__ import annotations

import torch

from ..evidence import ValidationRow
from ..runtime import torch_generator

__all__ = ["spectral_norm", "validate", "TOL"]

#: relative tolerance of the validation (three orders above the SVD's round-off)
TOL = 1e-8


def spectral_norm(fn, x: torch.Tensor) -> float:
    """Largest singular value of the autograd Jacobian of ``fn`` at ``x`` (any output shape: the Jacobian
    is flattened to (outputs, inputs))."""
    J = torch.autograd.functional.jacobian(fn, x, vectorize=True).reshape(-1, x.numel())
    return float(torch.linalg.matrix_norm(J, ord=2))


def validate() -> list[ValidationRow]:
    """Maps whose spectral norm is known exactly: Q diag(0.1..2.5) (norm 2.5) and elementwise tanh."""
    rows = []
    g = torch_generator(0, "autograd validation")
    for n in (3, 8, 17):
        q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
        A = q * torch.linspace(0.1, 2.5, n, dtype=torch.float64)
        est = spectral_norm(lambda t: A @ t, torch.randn(n, dtype=torch.float64, generator=g))
        rows.append(ValidationRow("autograd-jacobian-svd", f"linear map Q diag(0.1..2.5), n={n}", 2.5, est,
                                  abs(est - 2.5) / 2.5 <= TOL, f"relative error <= {TOL:g}", family="linear map", n=n))
    x = torch.tensor([0.3, -1.2, 2.0, 0.05], dtype=torch.float64)
    truth = float((1 - torch.tanh(x) ** 2).max())
    est = spectral_norm(torch.tanh, x)
    rows.append(ValidationRow("autograd-jacobian-svd", "elementwise tanh", truth, est, abs(est - truth) / truth <= TOL,
                              f"relative error <= {TOL:g}", family="diagonal map", n=4))
    return rows
