"""estimate_lipschitz refuses what has no per-sample Lipschitz constant, with a clear message, never a wrong number."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz

F64 = torch.float64


class _BatchSum(nn.Module):
    def forward(self, x):
        return x + x.sum(0, keepdim=True)


class _GradOnlyCoupling(nn.Module):
    """Same values alone and in a batch, but the Jacobian couples the samples."""

    def forward(self, x):
        s = x.sum(0, keepdim=True)
        return x + (s - s.detach())


def _x(n=4, d=8, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_batch_coupled_models_are_refused():
    with pytest.raises(ValueError, match="couples the samples"):
        estimate_lipschitz(_BatchSum(), _x())
    with pytest.raises(ValueError, match="couples the samples"):
        estimate_lipschitz(_BatchSum(), _x(n=1))                # a single input is probed with a perturbed copy
    with pytest.raises(ValueError, match="couples the samples"):
        estimate_lipschitz(_GradOnlyCoupling(), _x())


def test_transformer_with_batch_first_false_is_refused():
    tel = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=False).double().eval()
    with pytest.raises(ValueError, match="batch_first"):
        estimate_lipschitz(tel, torch.randn(4, 3, 8, dtype=F64))


def test_eval_transformer_falls_back_from_forward_ad_and_names_the_op():
    torch.manual_seed(0)
    tel = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double().eval()
    x = torch.randn(3, 3, 8, dtype=F64)
    e = estimate_lipschitz(tel, x, power_iters=40, tol=1e-10)
    assert e.details["ad_mode"] != "forward" and any("forward-mode AD failed" in n for n in e.details["notes"])
    assert e.upper == math.inf and "TransformerEncoderLayer" in e.upper_reason
    j = torch.autograd.functional.jacobian(lambda v: tel(v.unsqueeze(0)).reshape(-1), x[0])
    exact0 = float(torch.linalg.matrix_norm(j.reshape(24, 24), 2))
    assert 0 < e.lower and e.details["per_input_lower"][0] == pytest.approx(exact0, rel=1e-5)


def test_train_mode_dropout_is_refused_and_eval_mode_is_identity():
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.ReLU()).double()
    with pytest.raises(ValueError, match="dropout in training mode"):
        estimate_lipschitz(net, _x())

    class FunctionalDropout(nn.Module):
        def forward(self, x):
            return torch.nn.functional.dropout(x, 0.5, training=True)

    with pytest.raises(ValueError, match="different outputs"):
        estimate_lipschitz(FunctionalDropout(), _x())
    e = estimate_lipschitz(net.eval(), _x())
    assert math.isfinite(e.upper) and e.lower <= e.upper


def test_train_mode_batchnorm_needs_a_stated_batch():
    net = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Tanh()).double()
    with pytest.raises(ValueError, match="bn_batch"):
        estimate_lipschitz(net, _x())
    batch = _x(32, seed=3)
    e = estimate_lipschitz(net, _x(), bn_batch=batch)
    assert net.training                                     # the caller's model is untouched
    # the certified function: BatchNorm with the batch's (biased) statistics held fixed
    z = net[0](batch).detach()
    scale = net[1].weight / torch.sqrt(z.var(0, unbiased=False) + net[1].eps)
    ref = nn.Sequential(nn.Linear(8, 8), nn.Tanh()).double()
    with torch.no_grad():
        ref[0].weight.copy_(net[0].weight * scale[:, None])
        ref[0].bias.copy_((net[0].bias - z.mean(0)) * scale + net[1].bias)
    e_ref = estimate_lipschitz(ref, _x())
    assert e.upper == pytest.approx(e_ref.upper, rel=1e-9) and e.lower == pytest.approx(e_ref.lower, rel=1e-6)
    assert any("stated batch" in n for n in e.details["notes"])


def test_nonfinite_jacobians_raise_instead_of_a_sentinel():
    ln = nn.LayerNorm(8, eps=0.0).double()
    with pytest.raises(ValueError, match="non-finite at every input"):
        estimate_lipschitz(ln, torch.zeros(3, 8, dtype=F64))
    x = torch.cat([torch.zeros(1, 8, dtype=F64), _x(2)])
    e = estimate_lipschitz(ln, x)
    assert e.lower > 0 and e.details["nonfinite_inputs"] == [0]


def test_bad_inputs():
    net = nn.Sequential(nn.Linear(4, 4)).double()
    with pytest.raises(ValueError, match="empty"):
        estimate_lipschitz(net, torch.zeros(0, 4, dtype=F64))
    with pytest.raises(ValueError, match="non-finite"):
        estimate_lipschitz(net, torch.tensor([[1.0, math.nan, 0.0, 0.0]], dtype=F64))
    with pytest.raises(TypeError):
        estimate_lipschitz(net, torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(TypeError):
        estimate_lipschitz(net, [[1.0] * 4])
    with pytest.raises(TypeError):
        estimate_lipschitz(lambda v: v, _x(2, 4))
    with pytest.raises(ValueError):
        estimate_lipschitz(net, torch.ones(4, dtype=F64))
    with pytest.raises(ValueError, match="wrt"):
        estimate_lipschitz(net, _x(2, 4), wrt="weights")
    for r in (-1.0, math.nan):
        with pytest.raises(ValueError, match="radius"):
            estimate_lipschitz(net, _x(2, 4), radius=r)
    with pytest.raises(ValueError, match="radius"):
        estimate_lipschitz(net, _x(2, 4), wrt="params", radius=0.1)
    with pytest.raises(ValueError, match="no"):
        estimate_lipschitz(nn.Sequential(nn.Tanh()), _x(2, 4), wrt="params")
    with pytest.raises(ValueError, match="batch dimension"):
        estimate_lipschitz(nn.Flatten(0), _x(2, 4))
