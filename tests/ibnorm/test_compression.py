"""The compression registry: value/derivative/bound/slope consistency, identity limits, the open registry, errors."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import assert_close

from ibnorm import functional as IBF
from ibnorm.compression import (
    COMPRESSIONS,
    ROOT_DELTA,
    Compression,
    get_compression,
    register_compression,
    validate_lam,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BUILTINS = ("identity", "tanh", "log", "root", "softsign")
F64 = torch.float64


def valid_lams(name):
    """A few admissible lambdas per compression (root needs lam >= 1)."""
    return [1.0, 1.5, 4.0] if name == "root" else [0.1, 1.0, 4.0]


lam_st = st.floats(0.05, 8.0)
u_st = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=20)


@pytest.fixture
def registry_guard():
    """Restore COMPRESSIONS after a test that registers entries."""
    saved = dict(COMPRESSIONS)
    yield
    COMPRESSIONS.clear()
    COMPRESSIONS.update(saved)


def test_builtins_registered():
    assert set(BUILTINS) <= set(COMPRESSIONS)
    for name in BUILTINS:
        c = COMPRESSIONS[name]
        assert c.name == name and c.doc and c.identity_limit
        assert c.provenance in ("paper", "reconstructed")


@pytest.mark.parametrize("name", BUILTINS)
@given(u=u_st, lam=lam_st)
@settings(max_examples=10)
def test_odd_monotone_zero_and_bounds(name, u, lam):
    c = COMPRESSIONS[name]
    lam = max(lam, 1.0) if name == "root" else lam
    ut = torch.tensor(sorted(u), dtype=F64)
    f = c.fn(ut, lam)
    assert torch.all(torch.isfinite(f))
    assert float(c.fn(torch.zeros(1, dtype=F64), lam)) == 0.0
    assert_close(c.fn(-ut, lam), -f)                                  # odd
    assert torch.all(f[1:] - f[:-1] >= -1e-12)                        # non-decreasing
    assert float(f.abs().max()) <= c.bound(lam) * (1 + 1e-12)         # stated bound
    assert float(c.deriv(ut, lam).abs().max()) <= c.max_slope(lam) * (1 + 1e-12)


@pytest.mark.parametrize("name", BUILTINS)
@given(u=u_st, lam=lam_st)
@settings(max_examples=10)
def test_closed_form_derivative_matches_autograd(name, u, lam):
    c = COMPRESSIONS[name]
    lam = max(lam, 1.0) if name == "root" else lam
    ut = torch.tensor(u, dtype=F64).masked_fill(torch.tensor(u, dtype=F64) == 0, 0.5).requires_grad_()  # away from the kink
    (g,) = torch.autograd.grad(c.fn(ut, lam).sum(), ut)
    assert_close(c.deriv(ut.detach(), lam), g)


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("lam_i", [0, 1, 2])
def test_finite_gradient_at_zero(name, lam_i):
    """f'(0) is finite for every entry (root thanks to ROOT_DELTA), through autograd and in closed form."""
    c = COMPRESSIONS[name]
    lam = valid_lams(name)[lam_i]
    u = torch.tensor([0.0, 1e-300, -1e-300, 1e-12], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(c.fn(u, lam).sum(), u)
    assert torch.all(torch.isfinite(g)) and torch.all(torch.isfinite(c.deriv(u.detach(), lam)))
    assert float(c.deriv(torch.zeros(1, dtype=F64), lam)) == pytest.approx(c.max_slope(lam), rel=1e-12)


def test_bounded_entries_saturate_at_their_bound():
    """tanh/softsign: sup|f| = 1/lam is approached (the stated bound is tight, not just valid)."""
    for name in ("tanh", "softsign"):
        c = COMPRESSIONS[name]
        for lam in (0.5, 2.0):
            assert float(c.fn(torch.tensor([1e12], dtype=F64), lam)) == pytest.approx(1 / lam, rel=1e-9)
            assert c.bound(lam) == pytest.approx(1 / lam)
    for name in ("identity", "log", "root"):
        assert COMPRESSIONS[name].bound(2.0 if name != "identity" else 1.0) == math.inf


@pytest.mark.parametrize("name,order", [("tanh", 2), ("log", 1), ("softsign", 1)])
def test_identity_limit_lam_to_zero(name, order):
    """|f(u; lam) - u| = O(lam^order) on a bounded set (tanh: lam^2 u^3/3; log: lam u^2/2; softsign: lam u^2)."""
    c = COMPRESSIONS[name]
    u = torch.linspace(-3, 3, 61, dtype=F64)
    errs = [float((c.fn(u, lam) - u).abs().max()) for lam in (1e-2, 1e-3, 1e-4)]
    ratios = [errs[i] / errs[i + 1] for i in range(2)]
    assert all(r == pytest.approx(10.0**order, rel=0.05) for r in ratios)
    assert errs[-1] < 1e-3


def test_root_is_identity_at_lam_one_and_quantified_delta_effect():
    c = COMPRESSIONS["root"]
    u = torch.linspace(-50, 50, 1001, dtype=F64)
    assert_close(c.fn(u, 1.0), u)  # (|u| + d)^1 - d^1 = |u| up to round-off
    # for lam > 1 the offset changes f by at most d^(1/lam) in absolute terms (|u| > 0 part shifted)
    pure = torch.sign(u) * u.abs() ** 0.5
    assert float((c.fn(u, 2.0) - pure).abs().max()) <= ROOT_DELTA ** 0.5 + 1e-12


def test_contraction_holds_for_slope_bounded_entries():
    """|f(u)| <= |u| for the entries whose max slope is <= 1 (module docstring: 'a contraction toward 0')."""
    u = torch.linspace(-10, 10, 2001, dtype=F64)
    for name in ("identity", "tanh", "log", "softsign"):
        for lam in valid_lams(name):
            assert torch.all(COMPRESSIONS[name].fn(u, lam).abs() <= u.abs() + 1e-15)


def test_root_is_steeper_than_identity_near_zero_as_documented():
    """The module docstring: root with lam > 1 is NOT a contraction near 0 (f'(0) = d^(1/lam-1)/lam)."""
    u = torch.linspace(-1e-2, 1e-2, 201, dtype=F64)
    f = COMPRESSIONS["root"].fn(u, 2.0)
    assert torch.any(f.abs() > u.abs())
    assert COMPRESSIONS["root"].max_slope(2.0) > 15.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("name", [
    "tanh", "root", "softsign", "log",
])
def test_large_finite_inputs_stay_finite_and_monotone(name, dtype):
    """Near the top of the dtype's range (realistic for fp16 outliers) f stays finite and non-decreasing."""
    top = torch.finfo(dtype).max
    u = torch.tensor([1.0, 100.0, top / 16, top / 2], dtype=dtype)
    f = COMPRESSIONS[name].fn(u, 4.0)
    assert torch.all(torch.isfinite(f)), f
    assert torch.all(f[1:] >= f[:-1]), f


# ------------------------------------------------------------------------------- registry and errors

def test_get_compression_errors_and_passthrough():
    with pytest.raises(ValueError, match="unknown compression 'nope'.*identity"):
        get_compression("nope")
    c = COMPRESSIONS["tanh"]
    assert get_compression(c) is c


@pytest.mark.parametrize("lam", [0.0, -1.0, math.nan, math.inf, "abc", None])
def test_validate_lam_rejects_bad_values(lam):
    with pytest.raises(ValueError):
        validate_lam(COMPRESSIONS["tanh"], lam)


def test_validate_lam_root_domain():
    assert validate_lam(COMPRESSIONS["root"], 1) == 1.0
    with pytest.raises(ValueError, match="lam >= 1"):
        validate_lam(COMPRESSIONS["root"], 0.99)


def _half_log(name="cbrt_test"):
    return Compression(name=name, fn=lambda u, lam: torch.sign(u) * torch.log1p(u.abs() * lam) / lam * 0.5,
                       deriv=lambda u, lam: 0.5 / (1 + lam * u.abs()), bound=lambda lam: math.inf,
                       max_slope=lambda lam: 0.5, identity_limit="none")


def test_register_compression_is_usable_by_name(registry_guard):
    comp = register_compression(_half_log())
    assert COMPRESSIONS["cbrt_test"] is comp
    x = torch.randn(3, 7, dtype=F64)
    y = IBF.ib_layer_norm(x, 7, compression="cbrt_test", lam=2.0)
    assert_close(y.mean(-1), torch.zeros(3, dtype=F64))
    # f = 0.5 * log-compression: (0.5 zc)/sqrt(0.25 var + eps) = zc/sqrt(var + 4 eps), i.e. 'log' with 4x the eps
    assert_close(y, IBF.ib_layer_norm(x, 7, compression="log", lam=2.0, eps=4e-5))


def test_register_compression_duplicate_and_type_errors(registry_guard):
    register_compression(_half_log())
    with pytest.raises(ValueError, match="already registered"):
        register_compression(_half_log())
    register_compression(_half_log(), overwrite=True)
    with pytest.raises(TypeError, match="expected a Compression"):
        register_compression(lambda u, lam: u)


# ------------------------------------------------------------------------- derivative at 0, lam per dtype

@pytest.mark.parametrize("name", BUILTINS)
def test_autograd_derivative_at_zero_is_the_closed_form(name):
    """f'(0) through autograd (backward, forward mode, vmap) equals deriv(0): log and root are odd extensions
    sign(u) g(|u|), whose naive autograd gives 0 there; the central difference is the ground truth."""
    c = COMPRESSIONS[name]
    lam = valid_lams(name)[1]
    u = torch.zeros(3, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(c.fn(u, lam).sum(), u)
    want = float(c.deriv(torch.zeros(1, dtype=F64), lam))
    h = 1e-9  # f'' jumps at 0 (root: ~4e3), so the central difference converges at first order in h
    fd = float((c.fn(torch.tensor([h], dtype=F64), lam) - c.fn(torch.tensor([-h], dtype=F64), lam)) / (2 * h))
    assert want == pytest.approx(fd, rel=1e-5)
    assert_close(g, torch.full_like(g, want))
    _, jvp = torch.func.jvp(lambda t: c.fn(t, lam), (u.detach(),), (torch.ones(3, dtype=F64),))
    assert_close(jvp, torch.full_like(jvp, want))
    vm = torch.func.vmap(torch.func.grad(lambda t: c.fn(t, lam)))(u.detach())
    assert_close(vm, torch.full_like(vm, want))


@pytest.mark.parametrize("name", ["log", "root"])
def test_odd_extension_has_a_second_derivative(name):
    """Double backward through the closed-form derivative (the composite's Hessian-vector products)."""
    c = COMPRESSIONS[name]
    u = torch.tensor([0.7, -1.3], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(c.fn(u, 1.5).sum(), u, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), u)
    (h_ref,) = torch.autograd.grad(c.deriv(u, 1.5).sum(), u)
    assert_close(h, h_ref)


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_lam_limits_follow_the_compute_dtype(name, dtype):
    """Inside lam_limits(dtype) validate_lam accepts; just outside it refuses, naming the range."""
    c = COMPRESSIONS[name]
    lo, hi = c.lam_limits(dtype)
    lo = max(lo, c.lam_min)
    assert validate_lam(c, lo if lo > 0 else 1e-300, dtype) > 0
    if math.isfinite(hi):
        assert validate_lam(c, hi, dtype) == hi
        with pytest.raises(ValueError, match="can compute in"):
            validate_lam(c, hi * 1.01, dtype)
    if lo > 0 and not (c.lam_min_inclusive and lo == c.lam_min):
        with pytest.raises(ValueError, match="can compute in"):
            validate_lam(c, lo * 0.99, dtype)
    validate_lam(c, hi * 1.01 if math.isfinite(hi) else 1.0)  # without a dtype only the formula's domain


def test_identity_limits_are_structured_fields():
    assert COMPRESSIONS["root"].identity_lam == 1.0 and not COMPRESSIONS["root"].identity_as_lam_to_0
    assert all(COMPRESSIONS[n].identity_as_lam_to_0 for n in ("tanh", "log", "softsign"))
    assert COMPRESSIONS["identity"].is_identity
