"""ibnorm_verify.verification.estimators.smoothness: gradient norm and Hessian spectral norm against exact Hessians."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ibnorm_verify.verification.estimators.smoothness import (
    estimate_smoothness,
    hessian_spectral_norm,
    loss_gradient_norm,
    validate,
)
from ibnorm_verify.verification.evidence import ValidationRow
from ibnorm_verify.verification.models import build_network

F64 = torch.float64
MSE = lambda out, y: 0.5 * (out - y).pow(2).sum(-1).mean()  # noqa: E731


def test_ground_truth_rows_pass():
    rows = validate(seed=5)
    assert len(rows) == 4 and all(r.passed for r in rows), rows
    assert all(isinstance(r, ValidationRow) and r.estimator == "smoothness" for r in rows)
    hess = [r for r in rows if "Hessian" in r.case]
    assert all(abs(r.rel_error) <= 1e-6 for r in hess)


def test_validation_fails_when_the_estimate_is_wrong(monkeypatch):
    """The rows can fail: a power iteration stopped after one step misses the top eigenvalue."""
    import ibnorm_verify.verification.estimators.smoothness as S

    real = S.hessian_spectral_norm
    monkeypatch.setattr(S, "hessian_spectral_norm", lambda *a, **kw: real(*a, **{**kw, "max_iter": 1}))
    rows = S._validate(seed=5)
    assert not all(r.passed for r in rows if "Hessian" in r.case)


def test_quadratic_hessian_is_the_data_covariance():
    torch.manual_seed(1)
    x, y = torch.randn(30, 4, dtype=F64), torch.randn(30, 1, dtype=F64)
    lin = nn.Linear(4, 1, bias=False, dtype=F64)
    exact = float(torch.linalg.eigvalsh(x.T @ x / 30).max())
    est = hessian_spectral_norm(lin, x, y, MSE, tol=1e-10, max_iter=1000)
    assert est.converged and est.hessian_norm == pytest.approx(exact, rel=1e-7)
    assert est.hessian_norm <= exact * (1 + 1e-12)              # ||Hv|| with ||v|| = 1 is attained
    assert est.rayleigh == pytest.approx(exact, rel=1e-7) and est.residual < 1e-3 * exact
    g = (x @ lin.weight.detach().T - y).mul(x).mean(0)
    assert loss_gradient_norm(lin, x, y, MSE) == pytest.approx(float(g.norm()), rel=1e-12)


def test_negative_dominant_eigenvalue_is_found_by_magnitude():
    torch.manual_seed(2)
    x = torch.randn(25, 3, dtype=F64)
    lin = nn.Linear(3, 1, bias=False, dtype=F64)
    loss = lambda out, y: -(out - y).pow(2).mean()  # noqa: E731  H = -2 X^T X / n
    exact = float(torch.linalg.eigvalsh(2 * x.T @ x / 25).max())
    est = hessian_spectral_norm(lin, x, torch.zeros(25, 1, dtype=F64), loss, tol=1e-10, max_iter=1000)
    assert est.hessian_norm == pytest.approx(exact, rel=1e-6) and est.rayleigh < 0


def test_default_loss_and_normalized_net_is_smoother_at_high_gain():
    x = torch.randn(16, 6, dtype=F64)
    y = torch.randn(16, 6, dtype=F64)
    un = estimate_smoothness(build_network(depth=6, width=6, gain=2.0, seed=0), x, y)
    nm = estimate_smoothness(build_network(depth=6, width=6, gain=2.0, norm="layer", every=2, seed=0), x, y)
    assert un.grad_norm > nm.grad_norm and un.hessian_norm > nm.hessian_norm
    assert all(math.isfinite(v) for v in (un.grad_norm, un.hessian_norm, nm.grad_norm, nm.hessian_norm))


def test_bad_inputs():
    net = build_network(depth=2, width=3)
    x, y = torch.randn(4, 3, dtype=F64), torch.randn(4, 3, dtype=F64)
    with pytest.raises(ValueError, match="empty"):
        loss_gradient_norm(net, x[:0], y[:0], MSE)
    with pytest.raises(ValueError, match="non-finite"):
        loss_gradient_norm(net, x.clone().fill_(math.inf), y, MSE)
    with pytest.raises(ValueError, match="batch sizes"):
        loss_gradient_norm(net, x, y[:2], MSE)
    with pytest.raises(ValueError, match="no trainable"):
        loss_gradient_norm(nn.Sequential(nn.Tanh()), x, y, MSE)
    with pytest.raises(ValueError, match="scalar"):
        loss_gradient_norm(net, x, y, lambda o, t: (o - t).pow(2))
    with pytest.raises(TypeError):
        loss_gradient_norm(net, x.numpy(), y, MSE)
    with pytest.raises(TypeError):
        loss_gradient_norm(net, x, y, "mse")
    with pytest.raises(ValueError):
        hessian_spectral_norm(net, x, y, MSE, tol=0.0)


def test_nan_hessian_products_are_a_clear_error():
    net = build_network(depth=2, width=3)
    x, y = torch.randn(4, 3, dtype=F64), torch.randn(4, 3, dtype=F64)
    with pytest.raises(ValueError, match="Hessian-vector products are NaN"):  # sqrt of a negative: NaN derivatives
        hessian_spectral_norm(net, x, y, lambda o, t: torch.sqrt(o.sum(-1) - 1e6).mean(), max_iter=3)
