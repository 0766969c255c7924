"""verification/estimators/bounds.py: normalizer handling, hand-checked chains, bounds on small nets."""
import math

import pytest
import torch
from torch import nn

from ibnorm import IBLayerNorm
from ibnorm_verify.theory.bounds import spectral_complexity
from ibnorm_verify.verification.estimators.bounds import (
    chain_factors,
    class_margins,
    local_lipschitz_bound,
    normalizer_factor,
    pac_bayes_sharpness_bound,
    param_distance,
    spectral_margin_bound,
    validate,
)
from ibnorm_verify.verification.evidence import ValidationRow
from ibnorm_verify.verification.models import build_network, calibrate_batchnorm


def test_class_margins():
    logits = torch.tensor([[2.0, 1.0, 0.5], [0.0, 3.0, 1.0]])
    assert class_margins(logits, torch.tensor([0, 0])).tolist() == [1.0, -3.0]


def test_layernorm_factor_is_gamma_over_sigma_min():
    z = torch.tensor([[1.0, -1.0, 3.0, -3.0], [2.0, 0.0, -2.0, 0.0]], dtype=torch.float64)
    m = nn.LayerNorm(4, eps=0.0, dtype=torch.float64)
    with torch.no_grad():
        m.weight.fill_(2.0)
    info = normalizer_factor(m, z)
    var_min = float(z.var(dim=1, unbiased=False).min())  # = 2
    assert info["kind"] == "local" and info["var_min"] == pytest.approx(var_min)
    assert info["factor"] == pytest.approx(2.0 / math.sqrt(var_min))
    # IBNorm (compress first): the variance of f(z - mean), times sup|f'| = 1 for tanh
    ib = IBLayerNorm(4, eps=0.0, compression="tanh", lam=1.0, dtype=torch.float64)
    u = z - z.mean(1, keepdim=True)
    assert normalizer_factor(ib, z)["factor"] == pytest.approx(1 / math.sqrt(float(torch.tanh(u).var(1, unbiased=False).min())))


def test_batchnorm_is_folded_only_in_eval_mode_and_unknown_modules_refused():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="eval mode"):
        normalizer_factor(bn, torch.randn(4, 3))
    bn.eval()
    with torch.no_grad():
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    info = normalizer_factor(bn, torch.randn(4, 3))
    assert info["kind"] == "bn-folded"
    assert torch.allclose(info["row_scale"], 1 / torch.sqrt(torch.tensor([4.0, 1.0, 0.25]) + bn.eps))
    with pytest.raises(TypeError):
        normalizer_factor(nn.Dropout(), torch.randn(2, 3))


def test_chain_factors_fold_bn_into_the_matrix():
    net = build_network(depth=2, width=4, gain=1.0, norm="batch", activation="relu", seed=0)
    x = torch.randn(16, 4, dtype=torch.float64)
    calibrate_batchnorm(net, x)
    f = chain_factors(net, x)
    bn = net[0].norm
    folded = (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None] * net[0].layer.weight
    assert f[0]["spec"] == pytest.approx(float(torch.linalg.matrix_norm(folded.detach(), ord=2)), rel=1e-12)
    assert f[0]["rho"] == 1.0 and f[0]["norm"]["kind"] == "bn-folded"
    assert f[0]["l21"] == pytest.approx(float(folded.detach().norm(dim=1).sum()), rel=1e-12)  # reference 0
    net.train()
    with pytest.raises(ValueError):
        chain_factors(net, x)


def test_spectral_margin_bound_hand_check_on_linear_chain():
    net = build_network(depth=2, width=3, gain=2.0, activation="identity", seed=1)  # ||W_i|| = 2 exactly
    x = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = net(x).argmax(1)
    out = spectral_margin_bound(net, x, y)
    l21 = [float(b.layer.weight.detach().norm(dim=1).sum()) for b in net]
    assert out["r_a"] == pytest.approx(spectral_complexity([2.0, 2.0], l21), rel=1e-10)
    assert out["margin_risk"] >= 0.1 - 1e-12 and out["bound"] > out["margin_risk"]
    assert "certified" in out["notes"]
    ln = build_network(depth=2, width=3, gain=2.0, norm="layer", activation="relu", seed=1)
    assert "local version" in spectral_margin_bound(ln, x, y)["notes"]


def test_pac_bayes_sharpness_bound_valid_and_restores_weights():
    net = build_network(depth=2, width=6, gain=1.0, norm="layer", activation="relu", seed=0, dtype="float32")
    init = build_network(depth=2, width=6, gain=1.0, norm="layer", activation="relu", seed=1, dtype="float32")
    x = torch.randn(50, 6)
    y = net(x).argmax(1)
    before = [p.detach().clone() for p in net.parameters()]
    out = pac_bayes_sharpness_bound(net, x, y, init, sigmas=(0.1, 0.01), mc_samples=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert out["train_error"] == 0.0 and 0.0 < out["bound"] <= 1.0
    assert out["kl"] == pytest.approx(param_distance(net, init) ** 2 / (2 * out["sigma"] ** 2), rel=1e-9)
    with pytest.raises(ValueError):
        pac_bayes_sharpness_bound(net, x, y, init, sigmas=())


def test_local_lipschitz_bound_uses_the_parameter_lipschitz_estimate():
    net = build_network(depth=2, width=5, gain=1.5, activation="relu", seed=0, dtype="float32")
    init = build_network(depth=2, width=5, gain=1.0, activation="relu", seed=1, dtype="float32")
    x = torch.randn(20, 5)
    y = net(x).argmax(1)
    out = local_lipschitz_bound(net, x, y, init, max_inputs=8)
    assert 0 < out["lip_lower"] <= out["lip_upper"] * (1 + 1e-5)
    assert out["bound_attained"] <= out["bound"] + 1e-12  # smaller L, smaller bound
    assert out["radius"] == pytest.approx(param_distance(net, init)) and out["radius_grid"] >= out["radius"]
    with pytest.raises(ValueError):
        local_lipschitz_bound(net, x, y[:3], init)


def test_validation_rows_pass():
    rows = validate()
    assert len(rows) == 4 and all(isinstance(r, ValidationRow) and r.passed for r in rows)
    lip = rows[-1]
    assert lip.lower <= lip.truth * (1 + 1e-9) and lip.upper >= lip.truth * (1 - 1e-9)
