"""ibnorm_verify.theory.jacobians: the sympy derivations verify, and the closed-form norms equal autograd Jacobian norms."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ibnorm import functional as IBF
from ibnorm_verify.theory import jacobians as TJ

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def jac_norm(fn, x):
    J = torch.autograd.functional.jacobian(fn, x, vectorize=True).reshape(x.numel(), x.numel())
    return float(torch.linalg.matrix_norm(J, ord=2))


def torch_op(kind, x, eps, gamma=None, num_groups=2):
    """The real torch normalizer of ``kind`` with gain ``gamma`` (scalar or per-element/per-channel)."""
    if kind == "layer":
        w = None if gamma is None else torch.as_tensor(gamma, dtype=F64).expand(x.shape[-1])
        return F.layer_norm(x, (x.shape[-1],), w, None, eps)
    if kind == "rms":
        w = None if gamma is None else torch.as_tensor(gamma, dtype=F64).expand(x.shape[-1])
        return F.rms_norm(x, (x.shape[-1],), w, eps)
    c = x.shape[1]
    # .contiguous(): torch 2.13's CPU batch_norm backward returns garbage input gradients for a stride-0
    # (expanded) weight (forward is right); see the report of this test module's author.
    w = None if gamma is None else torch.as_tensor(gamma, dtype=F64).expand(c).contiguous()
    if kind == "batch":
        return F.batch_norm(x, None, None, w, None, True, 0.1, eps)
    return F.group_norm(x, c if kind == "instance" else num_groups, w, None, eps)


SHAPES = {"layer": (2, 5), "rms": (2, 5), "batch": (5, 3), "group": (2, 4, 3), "instance": (2, 3, 4)}


# ----------------------------------------------------------------------------------------- symbolic

@pytest.mark.parametrize("kind", TJ.KINDS)
def test_symbolic_derivation_verifies(kind):
    sj = TJ.symbolic_jacobian(kind)
    assert sj.ok, {k: v for k, v in sj.verified.items() if not v}
    n = len(sj.groups[0])
    assert sum(sj.eigenvalues.values()) == n
    s = sp.Symbol("s", positive=True)
    assert sp.simplify(sj.spectral_norm() - sp.Abs(sj.gamma) / s) == 0  # n >= 3 (LN-type) / n >= 2 (RMS)
    if kind in ("group", "layer"):  # block-diagonal: two groups, off-group blocks verified zero
        assert len(sj.groups) == 2 and "group 1: off-group blocks = 0" in sj.verified


def test_symbolic_zero_test_can_fail():
    """The identity checker is not vacuous: it rejects a wrong closed form."""
    x, s = sp.symbols("x s", positive=True)
    assert TJ._is_zero(sp.Matrix([x / (x + 1) - 1 + 1 / (x + 1)]))
    assert not TJ._is_zero(sp.Matrix([x / (x + 1) - 1 + 1 / (x + 2)]))
    sj = TJ.symbolic_jacobian("rms")
    wrong = sj.closed_form[0] * 2  # e.g. a formula off by a factor
    s0 = sp.Symbol("s0", positive=True)
    stat = sum(v**2 for v in sj.symbols) / 3
    assert not TJ._is_zero(sj.jacobian.subs(sj.eps, s0**2 - stat) - wrong)


@pytest.mark.parametrize("kind", ["layer", "rms"])
def test_symbolic_ib_chain_rule(kind):
    sj = TJ.symbolic_ib_jacobian(kind, 3)
    assert sj.ok, sj.verified


def test_symbolic_jacobian_matches_numeric_autograd():
    """Substituting numbers into the sympy Jacobian gives torch's autograd Jacobian of F.layer_norm."""
    sj = TJ.symbolic_jacobian("layer", (1, 3))
    vals = [0.3, -1.2, 2.0]
    Jsym = np.array(sj.jacobian.xreplace({**dict(zip(sj.symbols, vals)), sj.eps: 1e-3, sj.gamma: 1.7}).evalf(),
                    dtype=float)
    x = torch.tensor([vals], dtype=F64)
    Jt = torch.autograd.functional.jacobian(lambda t: torch_op("layer", t, 1e-3, 1.7), x).reshape(3, 3).numpy()
    np.testing.assert_allclose(Jsym, Jt, rtol=1e-12, atol=1e-12)


def test_symbolic_errors():
    with pytest.raises(ValueError, match="kind"):
        TJ.symbolic_jacobian("weird")
    with pytest.raises(ValueError, match="small"):
        TJ.symbolic_jacobian("layer", (4, 4))
    with pytest.raises(ValueError):
        TJ.symbolic_ib_jacobian("batch")


# ----------------------------------------------------------------------------- the exact formula

@pytest.mark.parametrize("kind", TJ.KINDS)
@given(seed=st.integers(0, 10_000), eps=st.sampled_from([1e-12, 1e-5, 1e-2, 1.0]),
       gamma=st.floats(-3, 3).filter(lambda g: abs(g) > 0.05), scale=st.sampled_from([1e-3, 1.0, 50.0]))
@settings(max_examples=10)
def test_formula_equals_autograd_norm(kind, seed, eps, gamma, scale):
    x = scale * torch.randn(SHAPES[kind], dtype=F64, generator=torch.Generator().manual_seed(seed))
    measured = jac_norm(lambda t: torch_op(kind, t, eps, gamma), x)
    pred = TJ.jacobian_norm_formula(kind, x, gamma, eps, num_groups=2)
    assert measured == pytest.approx(pred, rel=1e-9)
    assert TJ.lemma_norm(kind, x, gamma, eps, num_groups=2) == pytest.approx(pred, rel=1e-12)  # n >= 3 groups


@pytest.mark.parametrize("kind,shape,num_groups", [("layer", (3, 2), None), ("rms", (3, 1), None),
                                                   ("group", (2, 2, 1), 2), ("layer", (1, 1), None)])
@pytest.mark.parametrize("eps", [1e-3, 1.0])
def test_small_groups_use_their_exact_eigenvalues(kind, shape, num_groups, eps):
    """n = 2 (centered) and n = 1 (RMS): the norm is |gamma| eps/s^3, not |gamma|/s; n = 1 (centered): 0."""
    x = torch.randn(shape, dtype=F64) * 2
    measured = jac_norm(lambda t: torch_op(kind, t, eps, 1.3, num_groups or 2), x)
    pred = TJ.jacobian_norm_formula(kind, x, 1.3, eps, num_groups=num_groups)
    assert measured == pytest.approx(pred, rel=1e-9, abs=1e-12)
    # the lemma read literally (|gamma|/s) overestimates these small groups: equality fails, the bound holds
    assert pred < TJ.lemma_norm(kind, x, 1.3, eps, num_groups=num_groups) * (1 - 1e-6)


def test_constant_input_norm_is_gamma_over_sqrt_eps():
    x = torch.full((1, 6), 2.5, dtype=F64)
    assert jac_norm(lambda t: torch_op("layer", t, 1e-4, 2.0), x) == pytest.approx(2.0 / math.sqrt(1e-4), rel=1e-9)
    assert TJ.jacobian_norm_formula("layer", x, 2.0, 1e-4) == pytest.approx(2.0 / math.sqrt(1e-4))
    assert TJ.jacobian_norm_formula("layer", x, 2.0, 0.0) == math.inf


@pytest.mark.parametrize("kind", TJ.KINDS)
@given(seed=st.integers(0, 10_000))
@settings(max_examples=10)
def test_vector_gamma_bound_and_exactness(kind, seed):
    """max|gamma_i|/s bounds the norm for any gain; it is exact when the gain is constant on each group
    (per-channel gain of BatchNorm/InstanceNorm), and the formula refuses other gains."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPES[kind], dtype=F64, generator=g)
    n = x.shape[-1] if kind in ("layer", "rms") else x.shape[1]
    gamma = torch.randn(n, dtype=F64, generator=g)
    measured = jac_norm(lambda t: torch_op(kind, t, 1e-5, gamma), x)
    bound = TJ.jacobian_norm_bound(kind, x, gamma, 1e-5, num_groups=2)
    assert measured <= bound * (1 + 1e-9)
    if kind in ("batch", "instance"):
        assert measured == pytest.approx(TJ.jacobian_norm_formula(kind, x, gamma, 1e-5), rel=1e-9)
    else:
        with pytest.raises(ValueError, match="not constant"):
            TJ.jacobian_norm_formula(kind, x, gamma, 1e-5, num_groups=2)


@given(n=st.integers(1, 7), var=st.floats(1e-6, 1e3), eps=st.floats(0, 10), center=st.booleans())
def test_bracket_eigenvalues_match_numpy(n, var, eps, center):
    """Eigenvalues of I - 11^T/n - c c^T/(n s^2) (RMS: I - x x^T/(n s^2)) for a vector with the given statistic."""
    rng = np.random.default_rng(n)
    c = rng.standard_normal(n)
    if center:
        c = c - c.mean()
    if n == 1 and center:
        stat = 0.0
    else:
        c = c / np.sqrt(np.mean(c * c)) * np.sqrt(var)
        stat = var
    s2 = stat + eps
    if s2 == 0:
        return
    B = np.eye(n) - np.outer(c, c) / (n * s2) - (np.ones((n, n)) / n if center else 0)
    got = np.sort(np.linalg.eigvalsh(B))
    want = np.sort([v for v, m in TJ.bracket_eigenvalues(n, stat, eps, center).items() for _ in range(m)])
    np.testing.assert_allclose(got, want, atol=1e-9)


@given(c=st.floats(1e-4, 1e4), var=st.floats(1e-4, 1e2), eps=st.sampled_from([0.0, 1e-5, 1.0]))
def test_scaling_factor(c, var, eps):
    x = torch.randn(1, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    x = (x - x.mean()) / x.std(unbiased=False) * math.sqrt(var)
    ratio = jac_norm(lambda t: torch_op("layer", t, eps), c * x) / jac_norm(lambda t: torch_op("layer", t, eps), x)
    assert ratio == pytest.approx(float(TJ.scaling_factor(c, var, eps)), rel=1e-8)
    if eps == 0.0:
        assert float(TJ.scaling_factor(c, var, eps)) == pytest.approx(1 / c)


# --------------------------------------------------------------------------------- IB variants

@pytest.mark.parametrize("name", ["identity", "tanh", "log", "root", "softsign"])
@pytest.mark.parametrize("order", ["compress_first", "standardize_first"])
@given(seed=st.integers(0, 10_000), lam=st.floats(0.2, 5.0), scale=st.sampled_from([0.1, 1.0, 10.0]))
@settings(max_examples=10)
def test_ib_bound_holds(name, order, seed, lam, scale):
    lam = max(lam, 1.0) if name == "root" else lam
    x = scale * torch.randn(2, 6, dtype=F64, generator=torch.Generator().manual_seed(seed))
    measured = jac_norm(lambda t: 1.5 * IBF.ib_layer_norm(t, 6, compression=name, lam=lam, order=order), x)
    bound = TJ.ib_jacobian_norm_bound("layer", x, 1.5, 1e-5, compression=name, lam=lam, order=order)
    assert measured <= bound * (1 + 1e-9)
    if name == "identity":  # the bound is the exact formula
        assert measured == pytest.approx(bound, rel=1e-9)


# --------------------------------------------------------------------------------------- errors

def test_numeric_errors():
    x = torch.randn(2, 4, dtype=F64)
    with pytest.raises(ValueError, match="kind"):
        TJ.jacobian_norm_formula("weird", x)
    with pytest.raises(ValueError, match="eps"):
        TJ.jacobian_norm_formula("layer", x, 1.0, -1.0)
    with pytest.raises(ValueError, match="non-finite"):
        TJ.jacobian_norm_formula("layer", torch.tensor([[1.0, math.nan, 2.0]]), 1.0)
    with pytest.raises(ValueError, match="divisible"):
        TJ.jacobian_norm_formula("group", torch.randn(2, 3, 4), 1.0, num_groups=2)
    with pytest.raises(ValueError, match="gamma"):
        TJ.jacobian_norm_formula("batch", torch.randn(4, 3), torch.ones(4))
    with pytest.raises(ValueError, match="empty"):
        TJ.group_matrix("layer", np.zeros((0, 3)))
    with pytest.raises(ValueError, match="N, C"):
        TJ.group_matrix("batch", np.zeros(3))
    with pytest.raises(ValueError, match="order"):
        TJ.ib_jacobian_norm_bound("layer", x, order="bad")
    with pytest.raises(ValueError, match="n must be"):
        TJ.bracket_eigenvalues(0, 1.0, 1e-5)


@pytest.mark.parametrize("kind", ["rms", "batch", "group"])
@pytest.mark.parametrize("name,lam", [("tanh", 2.0), ("log", 1.0), ("root", 3.0), ("softsign", 0.5)])
@pytest.mark.parametrize("order", ["compress_first", "standardize_first"])
def test_ib_bound_holds_for_other_groupings(kind, name, lam, order):
    x = 3 * torch.randn(SHAPES[kind], dtype=F64, generator=torch.Generator().manual_seed(7))
    fns = {"rms": lambda t: IBF.ib_rms_norm(t, t.shape[-1], eps=1e-5, compression=name, lam=lam, order=order),
           "batch": lambda t: IBF.ib_batch_norm(t, None, None, training=True, compression=name, lam=lam, order=order),
           "group": lambda t: IBF.ib_group_norm(t, 2, compression=name, lam=lam, order=order)}
    measured = jac_norm(fns[kind], x)
    bound = TJ.ib_jacobian_norm_bound(kind, x, 1.0, 1e-5, compression=name, lam=lam, order=order, num_groups=2)
    assert measured <= bound * (1 + 1e-9)
