"""Per-op rules of the Lipschitz certificates: slope intervals and operator norms against brute force."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ibnorm.compression import COMPRESSIONS, get_compression
from ibnorm_verify.verification.estimators.lipschitz import activations as A
from ibnorm_verify.verification.estimators.lipschitz.activations import _MONOTONE_SLOPE_COMPRESSIONS
from ibnorm_verify.verification.estimators.lipschitz.opnorm import conv_norm_bound, conv_operator_norm
from ibnorm_verify.verification.estimators.lipschitz.ops import MaxPoolOp, PoolOp, StandardizeOp

F64 = torch.float64

ACTS = {
    "relu": A.relu(), "leaky": A.leaky_relu(0.1), "hardtanh": A.hardtanh(-1.0, 2.0), "elu": A.elu(0.7),
    "tanh": A.tanh(), "sigmoid": A.sigmoid(), "softplus": A.softplus(2.0), "gelu": A.gelu(), "gelu_tanh": A.gelu("tanh"),
    "silu": A.silu(), "comp_tanh": A.compression_activation("tanh", 2.0), "comp_log": A.compression_activation("log", 3.0),
    "comp_softsign": A.compression_activation("softsign", 1.5), "comp_root": A.compression_activation("root", 2.0),
}


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(ACTS)), lo=st.floats(-6, 6), w=st.floats(0, 5), seed=st.integers(0, 1000))
def test_slope_interval_contains_every_secant(name, lo, w, seed):
    act = ACTS[name]
    hi = lo + w
    a, b = act.slopes(torch.tensor([lo], dtype=F64), torch.tensor([hi], dtype=F64))
    g = torch.Generator().manual_seed(seed)
    pts = lo + (hi - lo) * torch.rand(400, 2, generator=g, dtype=F64)
    pts = torch.cat([pts, torch.tensor([[lo, hi]], dtype=F64)])
    num = act.fn(pts[:, 0]) - act.fn(pts[:, 1])
    den = pts[:, 0] - pts[:, 1]
    ok = den.abs() > 1e-6                    # closer points: the secant is rounding noise
    sec = num[ok] / den[ok]
    tol = 1e-9 + 1e-13 / den[ok].abs()
    assert bool((sec >= a - tol).all()) and bool((sec <= b + tol).all()), (name, lo, hi, float(a), float(b))
    ga, gb = act.global_slopes
    assert ga - 1e-9 <= float(a) and float(b) <= gb + 1e-9


def test_global_slopes_of_gelu_and_silu_are_their_true_ranges():
    u = torch.linspace(-10, 10, 20_001, dtype=F64)
    for act in (A.gelu(), A.gelu("tanh"), A.silu()):
        d = torch.func.vmap(torch.func.grad(lambda t: act.fn(t)))(u)
        ga, gb = act.global_slopes
        assert ga <= float(d.min()) <= ga + 1e-5 and gb - 1e-5 <= float(d.max()) <= gb
    assert A.gelu().global_slopes[0] == pytest.approx(-0.128904, abs=1e-5)   # Phi(-sqrt2) - sqrt2 phi(sqrt2)


def test_relu_kinks_exact_slopes_and_clarke_at_the_kink():
    t = lambda *v: torch.tensor(v, dtype=F64)  # noqa: E731
    a, b = A.relu().slopes(t(0.5, -2.0, -1.0, 0.0, 0.0), t(1.0, -1.0, 1.0, 2.0, 0.0))
    assert a.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0] and b.tolist() == [1.0, 0.0, 1.0, 1.0, 1.0]
    a, b = A.relu().slopes(t(-math.inf), t(math.inf))
    assert (float(a), float(b)) == (0.0, 1.0)


@pytest.mark.parametrize("name", sorted(COMPRESSIONS))
def test_compression_slopes_shape(name):
    """The built-in compressions have an even f' that does not increase in |u| (the rule relies on it)."""
    comp = get_compression(name)
    lam = 2.0 if name == "root" else 1.5
    u = torch.linspace(0, 20, 4001, dtype=F64)
    d = comp.deriv(u, lam)
    assert torch.allclose(comp.deriv(-u, lam), d)
    assert bool((d[1:] <= d[:-1] + 1e-12).all())
    assert name in _MONOTONE_SLOPE_COMPRESSIONS
    assert float(d.max()) <= comp.max_slope(lam) * (1 + 1e-12)


def _dense(op_fn, shape):
    d = math.prod(shape)
    basis = torch.eye(d, dtype=F64).reshape((d,) + tuple(shape))
    return (op_fn(basis) - op_fn(torch.zeros_like(basis[:1]))).reshape(d, -1).T


@pytest.mark.parametrize("kw", [
    dict(padding=1, padding_mode="circular"), dict(padding=1), dict(padding=0, stride=2), dict(padding=2, dilation=2),
    dict(padding=1, groups=2), dict(padding=1, padding_mode="reflect"), dict(padding=1, padding_mode="replicate"),
    dict(padding="same"), dict(padding=1, stride=2, groups=2),
])
@pytest.mark.parametrize("nd", [1, 2])
def test_conv_norm_bound_against_the_dense_operator(kw, nd):
    torch.manual_seed(0)
    cls = nn.Conv1d if nd == 1 else nn.Conv2d
    conv = cls(4, 6, 3, bias=False, dtype=F64, **kw)
    shape = (4,) + (6,) * nd
    exact = float(torch.linalg.matrix_norm(_dense(conv, shape).detach(), 2))
    bound, why = conv_operator_norm(conv, shape[1:])
    assert why == ""
    assert bound >= exact * (1 - 1e-12)
    if kw.get("padding_mode") == "circular":
        assert bound == pytest.approx(exact, rel=1e-10)


def test_conv_bound_is_tight_for_circular_same_padding_and_a_1x1_stride_conv():
    torch.manual_seed(1)
    w = torch.randn(5, 3, 1, 1, dtype=F64)
    val, exact = conv_norm_bound(w, (4, 4), (0, 0), (2, 2), (1, 1), 1, "zeros")
    assert val == pytest.approx(float(torch.linalg.matrix_norm(w[:, :, 0, 0], 2)), rel=1e-12)


@pytest.mark.parametrize("pool", [nn.AvgPool2d(2), nn.AvgPool2d(3, stride=2, padding=1), nn.AdaptiveAvgPool2d((2, 3))])
def test_pool_schur_bound_holds(pool):
    op = PoolOp("p", (0,), fn=pool)
    shape = (2, 7, 7)
    exact = float(torch.linalg.matrix_norm(_dense(pool, shape), 2))
    bound = op._schur([shape], 0)
    assert exact * (1 - 1e-12) <= bound <= 2.5 * exact


def test_maxpool_windows_and_coverage():
    op = MaxPoolOp("m", (0,), nd=2, kernel=(3, 3), stride=(2, 2), padding=(1, 1))
    shape = (2, 6, 6)
    wins = op.windows(shape)
    x = torch.randn((1,) + shape, dtype=F64)
    y = op.forward(x).reshape(-1)
    assert len(wins) == y.numel()
    flat = x.reshape(-1)
    assert all(float(flat[w].max()) == float(v) for w, v in zip(wins, y))
    assert op.coverage(shape) == 4


@pytest.mark.parametrize("center", [True, False])
def test_standardize_jacobian_norm_and_deviation_bound(center):
    g = torch.Generator().manual_seed(3)
    op = StandardizeOp("s", (0,), m=6, center=center, eps=0.05)
    z = torch.randn(12, generator=g, dtype=F64)
    jac = torch.func.jacrev(lambda t: op.forward(t.unsqueeze(0)).squeeze(0))(z)
    blocks = op.jacobian_blocks(z)
    assert torch.allclose(torch.block_diag(*blocks), jac, atol=1e-12)
    rho = torch.tensor([0.3, 0.3], dtype=F64)
    lip, dev = op.lipschitz(z, rho), op.deviation(z, rho)
    for _ in range(200):
        d = torch.randn(12, generator=g, dtype=F64)
        d = d.reshape(2, 6) * (0.3 * torch.rand(2, 1, generator=g, dtype=F64) / d.reshape(2, 6).norm(dim=1, keepdim=True))
        b2 = op.jacobian_blocks(z + d.reshape(-1))
        nrm = torch.linalg.matrix_norm(b2, 2)
        assert bool((nrm <= lip * (1 + 1e-12)).all())
        assert bool((torch.linalg.matrix_norm(b2 - blocks, 2) <= dev * (1 + 1e-12)).all())


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 0.05])
def test_center_terms_hold_every_increment_from_the_centre(center, eps):
    """StandardizeOp.center_terms: y(z) - y(z_c) = kappa (P - u u^T) dz + theta a_perp + s u with |theta| <= scale
    and |s| <= seg, for z in the region |P dz| <= rho, |u . dz| <= rho_r; with half the radial segment the
    decomposition fails at a tangential point (the check can fail)."""
    g = torch.Generator().manual_seed(5)
    m = 8
    op = StandardizeOp("s", (0,), m=m, center=center, eps=eps)
    z = torch.randn(2 * m, generator=g, dtype=F64)
    a, _ = op.group_stats(z)
    spread = a.norm(dim=-1) * math.sqrt(m)                                  # |P z_c| per group
    rho = 0.4 * spread
    rho_r = 0.1 * spread
    T = op.center_terms(z, rho, rho_r)
    assert bool(T["ok"].all())
    u = T["u"]
    eye = torch.eye(m, dtype=F64)
    proj = eye - 1.0 / m if center else eye
    tangent = proj - u.unsqueeze(-1) * u.unsqueeze(-2)                   # (G, m, m)
    yc = op.forward(z.unsqueeze(0)).reshape(2, m)
    worst_radial = torch.zeros(2, dtype=F64)
    for k in range(400):
        d = torch.randn(2, m, generator=g, dtype=F64)
        d = (proj @ d.unsqueeze(-1)).squeeze(-1)
        d = d - (d * u).sum(-1, keepdim=True) * u                         # tangential part ...
        d = d / d.norm(dim=-1, keepdim=True)
        frac = torch.rand(2, 1, generator=g, dtype=F64) if k % 2 else torch.ones(2, 1, dtype=F64)
        ar = (2 * torch.rand(2, 1, generator=g, dtype=F64) - 1) * rho_r.unsqueeze(1) * (k % 3 != 0)
        t = torch.sqrt(((rho.unsqueeze(1) * frac).pow(2) - ar.pow(2)).clamp_min(0))
        dz = ar * u + t * d                                              # ... plus a radial part, |dz| <= rho
        y = op.forward((z + dz.reshape(-1)).unsqueeze(0)).reshape(2, m)
        dy = y - yc
        radial = (dy * u).sum(-1)
        rest = dy - radial.unsqueeze(1) * u - T["kappa"].unsqueeze(1) * torch.einsum("gij,gj->gi", tangent, dz)
        a_perp = torch.einsum("gij,gj->gi", tangent, dz)
        n_perp = a_perp.norm(dim=-1)
        theta = (rest * a_perp).sum(-1) / n_perp.pow(2).clamp_min(1e-300)
        assert torch.allclose(rest, theta.unsqueeze(1) * a_perp, atol=1e-12)   # the residual is along a_perp
        assert bool((rest.norm(dim=-1) <= T["scale"] * n_perp * (1 + 1e-9) + 1e-12).all())
        assert bool((radial.abs() <= T["seg"] * (1 + 1e-9) + 1e-12).all())
        worst_radial = torch.maximum(worst_radial, radial.abs())
    assert bool((worst_radial > 0.5 * T["seg"]).all())                   # half the segment would not hold
