"""The fp64 reference of the conformance suite is checked against ground truth of its own: torch's ops for the
identity compression (every grouping, BatchNorm eval included), and central differences for its gradients
at u = 0 and on constant groups, where autograd of sign(u) * g(|u|) would give f'(0) = 0."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from harness import COMPS, LAMS, ORDERS, Combo, call_torch, layout_of, reference_result
from reference import reference
from samples import GROUPINGS, samples_for
from tolerances import assert_close

from ibnorm.compression import get_compression

pytestmark = pytest.mark.usefixtures("one_torch_thread")

F64 = torch.float64


def _sample(grouping: str, name: str):
    return next(s for s in samples_for(grouping) if s.name == f"{grouping}/{name}")


@pytest.mark.parametrize("grouping", GROUPINGS)
def test_reference_identity_is_torchs_op(grouping):
    # (not the constant groups at 7777.7: there torch's one-pass mean leaves ~1e-12, i.e. outputs of ~3e-10)
    names = ["randn-float64", "u-zero-float64"] + (["eval-float64"] if grouping == "batch" else [])
    for name in names:
        s = _sample(grouping, name)
        running = None if s.running is None else tuple(t.clone() for t in s.running[:2]) + (None,)
        want = call_torch(s, s.x, s.weight, s.bias, running)  # type: ignore[arg-type]
        got = reference(s.x, layout_of(s), get_compression("identity"), 1.0, "compress_first", s.eps or 1e-5,
                        s.weight, s.bias, running=None if s.training else running)
        assert_close(got, want)


def _central_difference_vjp(s, c: Combo, dy: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """d/dx_i of sum(dy * reference(x)) by central differences, for every element i (fp64)."""
    comp = get_compression(c.comp)
    lay = layout_of(s)
    x = s.x.to(F64)
    out = torch.zeros_like(x)
    flat = out.view(-1)
    for i in range(x.numel()):
        e = torch.zeros_like(x).view(-1)
        e[i] = h
        e = e.view(x.shape)
        f = [float((dy * reference(x + sgn * e, lay, comp, c.lam, c.order, s.eps or 1e-5, s.weight, s.bias)).sum())
             for sgn in (1.0, -1.0)]
        flat[i] = (f[0] - f[1]) / (2 * h)
    return out


@pytest.mark.parametrize("grouping", ["layer", "rms", "group"])
@pytest.mark.parametrize("comp", COMPS[1:])
def test_reference_gradients_at_u_zero_and_constant_groups_match_central_differences(grouping, comp):
    """At exactly u = 0 (the ``u-zero`` sample, whose first group is made constant here) the reference's
    autograd gradient is the true derivative: central differences of its forward (which only evaluates
    f) converge to it. f is C^1 but f'' jumps at 0 (log, root), so the difference quotient converges at
    first order: its error must shrink ~10x from h = 1e-6 to 1e-7 (or already be at round-off), whereas
    a wrong f'(0) leaves an O(1) error whatever h."""
    s = _sample(grouping, "u-zero-float64")
    lay = layout_of(s)
    m = lay.to_groups(s.x.clone())
    m[0] = 0.5
    s = dataclasses.replace(s, x=lay.from_groups(m).contiguous())
    for order in ORDERS:
        c = Combo(comp, LAMS[comp], order)
        dy = torch.randn(s.x.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
        r = reference_result(s, c, dy)
        assert r.grads is not None and r.grads[0] is not None
        errs = []
        for h in (1e-6, 1e-7):
            fd = _central_difference_vjp(s, c, dy, h)
            errs.append(float((r.grads[0] - fd).abs().max()) / float(fd.abs().max()))
        assert errs[1] < 1e-7 or errs[1] <= 0.2 * errs[0], f"{order}: no convergence {errs}"
        assert errs[1] < 1e-2, f"{order}: {errs}"
