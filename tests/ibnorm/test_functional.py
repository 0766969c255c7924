"""ibnorm.functional: identity == torch (values and gradients, fp64), standardized output for every compression,
scale/shift behaviour, finite gradients at 0, documented non-finite behaviour, and the errors."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import assert_close

from ibnorm import functional as IBF
from ibnorm.compression import COMPRESSIONS
from ibnorm_verify.theory.jacobians import group_matrix

pytestmark = pytest.mark.usefixtures("one_torch_thread")

F64 = torch.float64
BUILTINS = ("identity", "tanh", "log", "root", "softsign")
GROUPINGS = ("layer", "rms", "batch", "group")


def lam_for(name, lam=1.5):
    return max(lam, 1.0) if name == "root" else lam


def make_x(grouping, seed, dtype=F64, scale=3.0, n=7):
    g = torch.Generator().manual_seed(seed)
    shape = {"layer": (3, n), "rms": (3, n), "batch": (n, 4), "group": (2, 4, n)}[grouping]
    x = scale * torch.randn(shape, dtype=F64, generator=g) + torch.randn((), dtype=F64, generator=g)
    return x.to(dtype)


def ib(grouping, x, comp="tanh", lam=1.0, eps=1e-5, order="compress_first", weight=None, bias=None):
    if grouping == "layer":
        return IBF.ib_layer_norm(x, x.shape[-1], weight, bias, eps, comp, lam, order)
    if grouping == "rms":
        return IBF.ib_rms_norm(x, x.shape[-1], weight, eps, comp, lam, order)
    if grouping == "batch":
        return IBF.ib_batch_norm(x, None, None, weight, bias, True, 0.1, eps, comp, lam, order)
    return IBF.ib_group_norm(x, 2, weight, bias, eps, comp, lam, order)


def ref(grouping, x, eps=1e-5, weight=None, bias=None):
    if grouping == "layer":
        return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)
    if grouping == "rms":
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    if grouping == "batch":
        return F.batch_norm(x, None, None, weight, bias, True, 0.1, eps)
    return F.group_norm(x, 2, weight, bias, eps)


def affine_params(grouping, x, seed):
    g = torch.Generator().manual_seed(seed + 1)
    n = x.shape[-1] if grouping in ("layer", "rms") else x.shape[1]
    w = torch.randn(n, dtype=x.dtype, generator=g).requires_grad_()
    b = None if grouping == "rms" else torch.randn(n, dtype=x.dtype, generator=g).requires_grad_()
    return w, b


# ------------------------------------------------------------------------------ identity == torch

@pytest.mark.parametrize("grouping", GROUPINGS)
@pytest.mark.parametrize("dtype", [F64, torch.float32])
@given(seed=st.integers(0, 10_000), eps=st.sampled_from([1e-5, 1e-3, 1.0]))
@settings(max_examples=10)
def test_identity_equals_torch_values_and_gradients(grouping, dtype, seed, eps):
    x = make_x(grouping, seed, dtype).requires_grad_()
    w, b = affine_params(grouping, x, seed)
    y = ib(grouping, x, "identity", eps=eps, weight=w, bias=b)
    y_ref = ref(grouping, x, eps, w, b)
    assert_close(y, y_ref)
    dy = torch.randn_like(y)
    params = [x, w] + ([b] if b is not None else [])
    assert_close(torch.autograd.grad(y, params, dy), torch.autograd.grad(y_ref, params, dy), dtype=dtype)


@pytest.mark.parametrize("grouping", GROUPINGS)
@given(seed=st.integers(0, 10_000))
@settings(max_examples=10)
def test_identity_composite_ib_standardize_matches_torch(grouping, seed):
    """The generic composite (used for every non-identity compression) with f = id is torch's op: fp64 1e-10."""
    x = make_x(grouping, seed).requires_grad_()
    dims = {"layer": (-1,), "rms": (-1,), "batch": (0,), "group": (-1,)}[grouping]
    xin = x.reshape(x.shape[0], 2, -1) if grouping == "group" else x
    y = IBF.ib_standardize(xin, dims, center=grouping != "rms", compression="identity", eps=1e-5).reshape(x.shape)
    y_ref = ref(grouping, x)
    assert_close(y, y_ref)
    dy = torch.randn_like(y)
    assert_close(torch.autograd.grad(y, x, dy)[0], torch.autograd.grad(y_ref, x, dy)[0])


@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_identity_batch_norm_eval_and_running_stats(momentum):
    x = make_x("batch", 3).reshape(7, 4, 1).repeat(1, 1, 3)  # (N, C, L)
    rm, rv = torch.randn(4, dtype=F64), torch.rand(4, dtype=F64) + 0.5
    rm2, rv2 = rm.clone(), rv.clone()
    y = IBF.ib_batch_norm(x, rm, rv, training=True, momentum=momentum, compression="identity")
    y_ref = F.batch_norm(x, rm2, rv2, training=True, momentum=momentum)
    assert_close(y, y_ref)
    assert_close(rm, rm2) and assert_close(rv, rv2)
    xe = make_x("batch", 4).reshape(7, 4, 1)
    assert_close(IBF.ib_batch_norm(xe, rm, rv, training=False, compression="identity"),
                 F.batch_norm(xe, rm2, rv2, training=False))


# ------------------------------------------------------------------------- standardized output

@pytest.mark.parametrize("grouping", GROUPINGS)
@given(name=st.sampled_from(BUILTINS), lam=st.floats(0.05, 8.0), seed=st.integers(0, 10_000),
       scale=st.sampled_from([0.01, 1.0, 30.0]), eps=st.sampled_from([1e-12, 1e-5, 1e-2]))
@settings(max_examples=10)
def test_output_is_standardized_for_every_compression(grouping, name, lam, seed, scale, eps):
    """Per group: mean 0 and variance v/(v+eps), v = var(f(u)) (RMS: mean square 1 up to eps), fp64 1e-10."""
    lam = lam_for(name, lam)
    x = make_x(grouping, seed, scale=scale)
    kw = {"num_groups": 2} if grouping == "group" else {}
    y = torch.from_numpy(group_matrix(grouping, ib(grouping, x, name, lam, eps=eps), **kw))
    xg = torch.from_numpy(group_matrix(grouping, x, **kw))
    center = grouping != "rms"
    u = xg - xg.mean(1, keepdim=True) if center else xg
    z = COMPRESSIONS[name].fn(u, lam)
    v = z.var(1, unbiased=False) if center else z.pow(2).mean(1)
    out = y.var(1, unbiased=False) if center else y.pow(2).mean(1)
    if center:
        assert_close(y.mean(1), torch.zeros_like(v))
    assert_close(out, v / (v + eps))


def test_standardize_first_is_not_standardized():
    """The ablation order applies f after standardizing: a bounded f shrinks the variance below 1."""
    x = make_x("layer", 0, scale=5.0)
    y = IBF.ib_layer_norm(x, 7, compression="tanh", lam=2.0, order="standardize_first")
    assert float(y.var(-1, unbiased=False).max()) < 0.5
    assert float(y.abs().max()) <= 0.5  # bounded by 1/lam
    y2 = IBF.ib_layer_norm(x, 7, compression="tanh", lam=2.0)
    assert float((y2.var(-1, unbiased=False) - 1).abs().max()) < 1e-3  # 1 - eps/(var(z)+eps)


# ------------------------------------------------------------------------ scale and shift behaviour

@pytest.mark.parametrize("grouping", ["layer", "rms"])
@given(seed=st.integers(0, 10_000), c=st.floats(1e-3, 1e3))
@settings(max_examples=10)
def test_scale_invariance_of_ln_and_rms_as_eps_to_zero(grouping, seed, c):
    """LN/RMSNorm: y(c x) = y(x) exactly at eps = 0. At eps > 0 scaling is a change of eps,
    y(c x; eps) = y(x; eps/c^2), so the deviation from invariance shrinks monotonically as eps -> 0."""
    x = make_x(grouping, seed)
    assert_close(ib(grouping, c * x, "identity", eps=0.0), ib(grouping, x, "identity", eps=0.0))
    assert_close(ib(grouping, c * x, "identity", eps=1e-5), ib(grouping, x, "identity", eps=1e-5 / c**2))
    devs = [float((ib(grouping, c * x, "identity", eps=e) - ib(grouping, x, "identity", eps=e)).abs().max())
            for e in (1e-2, 1e-4, 1e-6, 1e-8)]
    assert all(devs[i + 1] <= devs[i] + 1e-14 for i in range(3))
    assert devs[3] < 1e-4 or c < 1e-2  # at c >= 1e-2, eps/c^2 <= 1e-4 makes the deviation small


@pytest.mark.parametrize("grouping", ["layer", "rms", "group"])
@given(name=st.sampled_from(["tanh", "log", "softsign"]), seed=st.integers(0, 10_000), c=st.floats(0.01, 100.0),
       lam=st.floats(0.1, 4.0))
@settings(max_examples=10)
def test_ib_scaling_is_a_change_of_lambda(grouping, name, seed, c, lam):
    """f(c u; lam) = c f(u; c lam) for tanh/log/softsign, so at eps = 0: IB(c x; lam) = IB(x; c lam).
    The IB variants are not scale invariant; scaling the input moves the compression strength."""
    x = make_x(grouping, seed)
    assert_close(ib(grouping, c * x, name, lam, eps=0.0), ib(grouping, x, name, c * lam, eps=0.0))


@pytest.mark.parametrize("name", ["tanh", "softsign"])
def test_bounded_ib_is_not_scale_invariant(name):
    x = make_x("layer", 1)
    d = float((IBF.ib_layer_norm(100 * x, 7, compression=name, lam=1.0, eps=0.0)
               - IBF.ib_layer_norm(x, 7, compression=name, lam=1.0, eps=0.0)).abs().max())
    assert d > 1e-2


@pytest.mark.parametrize("grouping", ["layer", "batch", "group"])
@given(name=st.sampled_from(BUILTINS), seed=st.integers(0, 10_000), shift=st.floats(-100, 100))
@settings(max_examples=10)
def test_centered_groupings_are_shift_invariant(grouping, name, seed, shift):
    """u = x - mean is computed first, so adding a constant to x changes nothing (compress_first)."""
    x = make_x(grouping, seed)
    lam = lam_for(name)
    assert_close(ib(grouping, x + shift, name, lam), ib(grouping, x, name, lam), atol=1e-9, rtol=1e-9)


# ------------------------------------------------------------------------ gradients at zero

@pytest.mark.parametrize("grouping", GROUPINGS)
@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("order", ["compress_first", "standardize_first"])
def test_finite_gradients_at_zero(grouping, name, order):
    """All-zero input (u = 0 everywhere) and inputs with an element exactly at the mean: finite gradients."""
    lam = lam_for(name, 2.0)
    for x in (torch.zeros_like(make_x(grouping, 0)), make_x(grouping, 0)):
        x = x.clone()
        if x.abs().sum() > 0:  # put one element exactly at its group mean (u = 0 there)
            x.view(-1)[0] = 0.0
            x = x - x.view(-1)[0]
        x.requires_grad_()
        w, b = affine_params(grouping, x, 0)
        y = ib(grouping, x, name, lam, eps=1e-5, order=order, weight=w, bias=b)
        grads = torch.autograd.grad(y, [x, w], torch.randn_like(y))
        assert all(torch.all(torch.isfinite(g)) for g in grads)
        assert torch.all(torch.isfinite(y))


# ------------------------------------------------------------------------- non-finite input

def _bad_input(grouping, name, bad):
    x = make_x(grouping, 2)
    kw = {"num_groups": 2} if grouping == "group" else {}
    x.view(-1)[5] = bad  # element 5 belongs to exactly one group
    y = torch.from_numpy(group_matrix(grouping, ib(grouping, x, name, lam_for(name, 2.0)), **kw))
    bad_group = ~torch.from_numpy(group_matrix(grouping, x, **kw)).isfinite().all(1)
    assert int(bad_group.sum()) == 1
    return y, bad_group


@pytest.mark.parametrize("grouping", GROUPINGS)
@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_leaves_other_groups_unaffected(grouping, name, bad):
    y, bad_group = _bad_input(grouping, name, bad)
    assert torch.all(torch.isfinite(y[~bad_group]))
    bounded_rms_inf = grouping == "rms" and math.isinf(bad) and name in ("tanh", "softsign")
    assert torch.all(torch.isfinite(y[bad_group])) if bounded_rms_inf else not torch.all(torch.isfinite(y[bad_group]))


@pytest.mark.parametrize("grouping", GROUPINGS)
@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_group_as_documented(grouping, name, bad):
    """ibnorm.functional's docstring: NaN -> the whole group NaN; +-inf -> the whole group NaN for centered
    groupings; RMS grouping with +-inf: bounded f (tanh, softsign) keeps the row finite (f(inf) = 1/lam),
    unbounded f (identity = F.rms_norm, log, root) gives NaN at the inf element and 0 elsewhere."""
    y, bad_group = _bad_input(grouping, name, bad)
    yb = y[bad_group]
    if grouping != "rms" or math.isnan(bad):
        assert torch.all(torch.isnan(yb))
    elif name in ("tanh", "softsign"):
        assert torch.all(torch.isfinite(yb))
    else:
        assert int(torch.isnan(yb).sum()) == 1 and torch.all(yb[~torch.isnan(yb)] == 0)


# ----------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("grouping", GROUPINGS)
def test_bad_lambda_compression_order_dtype(grouping):
    x = make_x(grouping, 0)
    for lam in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="lam"):
            ib(grouping, x, "tanh", lam)
    with pytest.raises(ValueError, match="lam >= 1"):
        ib(grouping, x, "root", 0.5)
    with pytest.raises(ValueError, match="unknown compression"):
        ib(grouping, x, "bogus", 1.0)
    with pytest.raises(ValueError, match="order"):
        ib(grouping, x, "tanh", 1.0, order="sideways")
    for dt in (torch.int64, torch.bool):
        with pytest.raises(TypeError, match="floating"):
            ib(grouping, x.to(dt), "tanh", 1.0)
    with pytest.raises(TypeError, match="Tensor"):
        IBF.ib_layer_norm([[1.0, 2.0]], 2) if grouping == "layer" else IBF.ib_group_norm([[1.0]], 1)


def test_shape_errors():
    x = torch.randn(3, 7, dtype=F64)
    with pytest.raises(ValueError, match="normalized_shape"):
        IBF.ib_layer_norm(x, 6)
    with pytest.raises(ValueError, match="normalized_shape"):
        IBF.ib_rms_norm(x, [3, 6])
    with pytest.raises(ValueError, match="normalized_shape"):
        IBF.ib_layer_norm(x, [2, 3, 7])
    with pytest.raises(ValueError, match="weight"):
        IBF.ib_layer_norm(x, 7, weight=torch.ones(6, dtype=F64))
    with pytest.raises(ValueError, match="divisible"):
        IBF.ib_group_norm(torch.randn(2, 6, 3, dtype=F64), 4)
    with pytest.raises(ValueError, match="N, C"):
        IBF.ib_batch_norm(torch.randn(5, dtype=F64), None, None, training=True)
    with pytest.raises(ValueError, match="more than 1 value"):
        IBF.ib_batch_norm(torch.randn(1, 3, dtype=F64), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean"):
        IBF.ib_batch_norm(torch.randn(4, 3, dtype=F64), torch.zeros(2, dtype=F64), torch.ones(3, dtype=F64))


# ibnorm passes weight.contiguous() to F.batch_norm: torch 2.13 CPU returns garbage input gradients for a
# stride-0 (expanded) weight.
def test_identity_batch_norm_gradient_with_expanded_weight():
    x = make_x("batch", 0).requires_grad_()
    w = torch.tensor(1.5, dtype=F64).expand(x.shape[1])
    y = IBF.ib_batch_norm(x, None, None, w, None, training=True, compression="identity")
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y) * torch.arange(y.numel(), dtype=F64).view(y.shape))
    y2 = IBF.ib_batch_norm(x, None, None, w.contiguous(), None, training=True, compression="tanh", lam=1e-9)
    (g2,) = torch.autograd.grad(y2, x, torch.ones_like(y) * torch.arange(y.numel(), dtype=F64).view(y.shape))
    assert_close(g, g2, atol=1e-6, rtol=1e-6)  # tanh at lam = 1e-9 is the identity up to ~1e-17 relative


def test_eps_and_dims_errors():
    x = torch.randn(3, 7, dtype=F64)
    for eps in (-1e-5, math.nan, math.inf):
        with pytest.raises(ValueError, match="eps must be finite and >= 0"):
            IBF.ib_layer_norm(x, 7, eps=eps)
    with pytest.raises(TypeError, match="eps must be a real number"):
        IBF.ib_rms_norm(x, 7, eps="small")
    assert torch.isfinite(IBF.ib_layer_norm(x, 7, eps=0.0)).all()
    for dims in ((), (2,), (0, -2)):
        with pytest.raises(ValueError, match="dims"):
            IBF.ib_standardize(x, dims, center=True)
    with pytest.raises(TypeError, match="num_groups"):
        IBF.ib_group_norm(torch.randn(2, 4, 3, dtype=F64), 2.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_composite_equals_fp32_rounded_once(dtype):
    """The composite (BN/GN and backend='composite') computes 16-bit inputs in fp32 and rounds once."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 5, generator=g).to(dtype)
    w = (1 + 0.1 * torch.randn(6, generator=g)).to(dtype)
    for fn in (lambda t, p: IBF.ib_group_norm(t, 3, p, None, compression="log", lam=1.5),
               lambda t, p: IBF.ib_batch_norm(t, None, None, p, None, True, compression="root", lam=1.7)):
        torch.testing.assert_close(fn(x, w), fn(x.float(), w.float()).to(dtype), rtol=0, atol=0)
