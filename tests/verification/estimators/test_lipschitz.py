"""ibnorm_verify.verification.estimators.lipschitz: attained lower <= exact <= certified upper, on exact and random
cases of the controlled networks (inputs and parameters), and the ground-truth rows of ``validate()``."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ibnorm_verify.theory.capacity import linear_chain_input_lipschitz, linear_chain_param_lipschitz
from ibnorm_verify.verification.estimators.lipschitz import (
    conv_operator_norm,
    estimate_lipschitz,
    validate,
)
from ibnorm_verify.verification.evidence import ValidationRow
from ibnorm_verify.verification.models import build_network, calibrate_batchnorm

F64 = torch.float64


def _x(n, d, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, d, generator=g, dtype=F64)


def _exact_input_norms(net, x):
    """(N,) exact ||J(x_n)||_2 from the dense Jacobian."""
    out = []
    for xi in x:
        j = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0)).squeeze(0), xi)
        out.append(float(torch.linalg.matrix_norm(j.reshape(j.shape[0] if j.dim() == 2 else -1, xi.numel()), 2)))
    return torch.tensor(out, dtype=F64)


def _exact_param_norms(net, x):
    names = [k for k, _ in net.named_parameters()]
    params = [p.detach() for _, p in net.named_parameters()]
    shapes, sizes = [p.shape for p in params], [p.numel() for p in params]
    theta = torch.cat([p.reshape(-1) for p in params])
    out = []
    for xi in x:
        def f(t):
            ps = {k: c.reshape(s) for k, c, s in zip(names, torch.split(t, sizes), shapes)}
            return torch.func.functional_call(net, ps, (xi.unsqueeze(0),)).reshape(-1)
        j = torch.autograd.functional.jacobian(f, theta)
        out.append(float(torch.linalg.matrix_norm(j, 2)))
    return torch.tensor(out, dtype=F64)


def test_ground_truth_rows_pass():
    rows = validate(seed=3)
    assert rows and all(isinstance(r, ValidationRow) for r in rows)
    assert all(r.passed for r in rows), [(r.case, r.truth, r.lower, r.upper) for r in rows if not r.passed]
    assert {r.family for r in rows} == {"linear chain", "normalizer", "relu 2-D"}


def test_validate_catches_a_wrong_bound(monkeypatch):
    """The rows are computed, not asserted: a certificate that is too small fails its row."""
    from ibnorm_verify.verification.estimators.lipschitz import validation as V

    real = V.estimate_lipschitz

    def shrunk(*a, **k):
        e = real(*a, **k)
        e.upper *= 0.9
        return e

    monkeypatch.setattr(V, "estimate_lipschitz", shrunk)
    rows = V._validate_cached.__wrapped__(11, 8, 3)
    tight = [r for r in rows if "1e-6" in r.criterion]
    assert tight and not any(r.passed for r in tight)


@pytest.mark.parametrize("gain,depth", [(2.0, 5), (0.6, 4), (1.1, 7)])
def test_linear_chain_is_tight(gain, depth):
    net = build_network(depth=depth, width=12, gain=gain, seed=depth)
    x = _x(5, 12)
    est = estimate_lipschitz(net, x)
    exact = linear_chain_input_lipschitz(gain, depth)
    assert exact * 0.99 <= est.lower <= exact * (1 + 1e-12) <= est.upper * (1 + 1e-12)
    assert est.gap == pytest.approx(1.0, abs=1e-9)
    xs = x * (math.sqrt(12) / x.norm(dim=1, keepdim=True))
    p = estimate_lipschitz(net, xs, wrt="params")
    exact_p = linear_chain_param_lipschitz(gain, depth, math.sqrt(12))
    assert exact_p * 0.99 <= p.lower <= exact_p * (1 + 1e-12) <= p.upper * (1 + 1e-12)


@pytest.mark.parametrize("norm", ["layer", "rms"])
@pytest.mark.parametrize("eps", [0.0, 1e-5, 0.5])
def test_single_normalizer_exact(norm, eps):
    """One normalizer after W = gQ: ||J|| = g |gamma| / sqrt(var + eps) (RMS: mean square), capacity.md 2.2."""
    net = build_network(depth=1, width=10, gain=1.7, norm=norm, gamma=-0.8, eps=eps, seed=1)
    x = _x(6, 10, seed=2)
    z = net[0].layer(x).detach()
    var = z.var(1, unbiased=False) if norm == "layer" else z.pow(2).mean(1)
    exact = float((1.7 * 0.8 / torch.sqrt(var + eps)).max())
    est = estimate_lipschitz(net, x, tol=1e-9)
    assert est.lower == pytest.approx(exact, rel=1e-6)       # power-iteration stopping tolerance 1e-9
    assert est.lower <= exact * (1 + 1e-12)
    assert est.upper >= exact * (1 - 1e-12) and est.upper == pytest.approx(exact, rel=1e-9)


def test_lower_is_the_best_jacobian_norm_at_the_inputs_and_witness_attains_it():
    net = build_network(depth=3, width=8, gain=1.3, norm="layer", activation="tanh", seed=3)
    x = _x(5, 8, seed=4, scale=2.0)
    est = estimate_lipschitz(net, x, power_iters=100, tol=1e-11)
    exact = _exact_input_norms(net, x)
    assert est.lower == pytest.approx(float(exact.max()), rel=1e-6)
    assert torch.equal(est.witness, x[est.details["witness_index"]])
    assert est.lower <= est.upper


KINDS = st.sampled_from(["none", "layer", "batch", "group", "rms"])
COMPS = st.sampled_from(["identity", "tanh", "log", "softsign"])


@settings(max_examples=12)
@given(norm=KINDS, comp=COMPS, act=st.sampled_from(["identity", "relu", "tanh"]), residual=st.booleans(),
       order=st.sampled_from(["compress_first", "standardize_first"]), depth=st.integers(1, 4),
       every=st.integers(1, 2), gain=st.floats(0.3, 3.0), gamma=st.floats(0.2, 2.0), seed=st.integers(0, 50),
       init=st.sampled_from(["orthogonal", "gaussian"]), scale=st.floats(0.1, 5.0))
def test_property_lower_le_exact_le_upper_input(norm, comp, act, residual, order, depth, every, gain, gamma, seed,
                                                init, scale):
    net = build_network(depth=depth, width=8, gain=gain, norm=norm, compression=comp, order=order, every=every,
                        activation=act, residual=residual, gamma=gamma, seed=seed, init=init, groups=2)
    x = _x(4, 8, seed=seed, scale=scale)
    if norm == "batch":
        calibrate_batchnorm(net, _x(32, 8, seed=seed + 1, scale=scale))
    est = estimate_lipschitz(net, x, seed=seed)
    exact = float(_exact_input_norms(net, x).max())
    assert est.lower <= exact * (1 + 1e-9)
    assert est.lower >= 0.5 * exact           # power iteration found the top direction's neighbourhood
    assert math.isfinite(est.upper) and est.upper >= exact * (1 - 1e-9)
    assert est.gap >= 1 - 1e-9


@settings(max_examples=6)
@given(norm=KINDS, comp=COMPS, act=st.sampled_from(["identity", "relu", "tanh"]), residual=st.booleans(),
       depth=st.integers(1, 3), gain=st.floats(0.3, 3.0), seed=st.integers(0, 50), bias=st.booleans())
def test_property_lower_le_exact_le_upper_params(norm, comp, act, residual, depth, gain, seed, bias):
    net = build_network(depth=depth, width=6, gain=gain, norm=norm, compression=comp, activation=act,
                        residual=residual, seed=seed, groups=2, bias=bias)
    if bias:
        with torch.no_grad():
            for b in net:
                b.layer.bias.normal_()
    x = _x(3, 6, seed=seed)
    if norm == "batch":
        calibrate_batchnorm(net, _x(32, 6, seed=seed + 1))
    est = estimate_lipschitz(net, x, wrt="params", seed=seed)
    exact = float(_exact_param_norms(net, x).max())
    assert 0.5 * exact <= est.lower <= exact * (1 + 1e-9)
    assert math.isfinite(est.upper) and est.upper >= exact * (1 - 1e-9)


@settings(max_examples=4)
@given(norm=st.sampled_from(["layer", "rms", "group"]), comp=COMPS, gain=st.floats(0.5, 2.5), seed=st.integers(0, 30),
       radius=st.floats(0.01, 0.5))
def test_property_ball_upper_bound_is_sound(norm, comp, gain, seed, radius):
    """Exact Jacobian norms at random points of the balls never exceed the certified upper bound."""
    net = build_network(depth=3, width=8, gain=gain, norm=norm, compression=comp, activation="tanh", seed=seed,
                        groups=2, eps=1e-3)
    x = _x(3, 8, seed=seed)
    est = estimate_lipschitz(net, x, radius=radius, ascent_steps=3, ascent_starts=2, seed=seed,
                             power_iters=15, restarts=2, cert_iters=5)
    est0 = estimate_lipschitz(net, x, seed=seed, power_iters=15)
    assert est.upper >= est0.upper * (1 - 1e-12) and est.lower >= est0.lower * (1 - 1e-12)
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(3, 3, 8, generator=g, dtype=F64)
    d = d / d.norm(dim=-1, keepdim=True) * radius * torch.rand(3, 3, 1, generator=g, dtype=F64)
    pts = (x.unsqueeze(1) + d).reshape(-1, 8)
    assert float(_exact_input_norms(net, pts).max()) <= est.upper * (1 + 1e-9)
    assert (est.witness - x).norm(dim=1).min() <= radius * (1 + 1e-9)
    assert est.lower <= est.upper


def test_eps_zero_gives_no_certificate_on_a_large_ball_but_does_on_a_small_one():
    net = build_network(depth=3, width=8, gain=2.0, norm="layer", eps=0.0)
    x = _x(4, 8)
    big = estimate_lipschitz(net, x, radius=50.0, ascent_steps=3)
    assert big.upper == math.inf and "eps = 0" in big.upper_reason and big.gap == math.inf
    small = estimate_lipschitz(net, x, radius=1e-3, ascent_steps=3)
    assert math.isfinite(small.upper) and small.upper_reason == ""


@pytest.mark.parametrize("padding_mode", ["circular", "zeros"])
def test_conv_operator_norm_against_the_dense_operator(padding_mode):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode=padding_mode, bias=False, dtype=F64)
    n = 5
    basis = torch.eye(3 * n * n, dtype=F64).reshape(-1, 3, n, n)
    dense = conv(basis).reshape(3 * n * n, -1).T.detach()
    exact = float(torch.linalg.matrix_norm(dense, 2))
    bound, why = conv_operator_norm(conv, (n, n))
    assert why == ""
    if padding_mode == "circular":
        assert bound == pytest.approx(exact, rel=1e-10)
    else:
        assert bound >= exact * (1 - 1e-12)


def test_conv_network_bounds():
    net = build_network(depth=2, width=2, gain=1.4, conv=True, image_size=3, norm="group", groups=1,
                        activation="relu", seed=2)
    x = torch.randn(2, 2, 3, 3, dtype=F64)
    est = estimate_lipschitz(net, x, power_iters=10)
    exact = float(_exact_input_norms(net, x).max())
    assert est.lower <= exact * (1 + 1e-9) <= est.upper * (1 + 1e-9)
    p = estimate_lipschitz(net, x, wrt="params", power_iters=10)
    exact_p = float(_exact_param_norms(net, x).max())
    assert p.lower <= exact_p * (1 + 1e-9) <= p.upper * (1 + 1e-9)


def test_plain_sequential_gets_a_certificate_for_inputs_and_a_reason_for_params():
    net = nn.Sequential(nn.Linear(4, 4, dtype=F64), nn.Tanh())
    x = _x(3, 4)
    est = estimate_lipschitz(net, x)
    exact = float(_exact_input_norms(net, x).max())
    assert est.lower <= exact * (1 + 1e-9) and est.upper == pytest.approx(exact, rel=1e-7)
    p = estimate_lipschitz(net, x, wrt="params")
    assert p.lower > 0 and p.upper == math.inf and "build_network" in p.upper_reason


def test_train_mode_batchnorm_in_a_controlled_network_is_refused():
    bn = build_network(depth=2, width=4, norm="batch").train()
    with pytest.raises(ValueError, match="BatchNorm"):
        estimate_lipschitz(bn, _x(2, 4))
