"""ib.standardization: supported, refuted (ablation order, a false stated bound) on small configurations."""
from __future__ import annotations

import pytest
import torch

from ibnorm.compression import COMPRESSIONS, Compression, register_compression
from ibnorm_verify.verification.claims import ib_standardization as S
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.verdict import Verdict

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(dim=6, lams="0.5,1,4", limit_lams="1e-3,1e-4,1e-5", root_lam_offsets="1e-2,1e-3,1e-4")


def run(seeds=(0, 1), extra_compression: str | None = None, **over):
    c = S.CLAIM
    params = c.resolve_params("quick", {**FAST, **over})
    if extra_compression:      # registered after import: outside the declared choices, so set directly
        params["compressions"] = [extra_compression]
    return c.run(Context(params=params, seeds=list(seeds), claim_id=c.id))


def by_name(ev, fragment):
    return [c for c in ev.checks if fragment in c.name]


def test_supported_for_every_compression_and_grouping():
    ev = run()
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    cells = {(c.coords["grouping"], c.coords["compression"]) for c in ev.regimes.cells}
    assert {(g, c) for g in S.GROUPINGS for c in COMPRESSIONS} <= cells
    assert ev.measured["max |per-group mean|"] < S.TOL_VALUE
    assert 0 < ev.measured["max eps deflation 1 - v/(v+eps)"] < 1e-2      # eps matters when var(f(u)) is small
    for g in S.GROUPINGS:
        assert by_name(ev, f"tanh x {g}: ||IB - torch op|| ~ lam^k")
        assert by_name(ev, f"identity x {g}: reference composite == torch op")
        assert by_name(ev, f"root x {g}: IBNorm at lam=1 == torch op")
    assert all(c.mde is not None for c in ev.checks if c.role == "evidence")
    assert ev.series["moments_error"].dims == S.AXES + ("lam", "seed", "quantity")


def test_refuted_for_the_standardize_first_ablation():
    ev = run(order="standardize_first", compressions="identity,tanh", groupings="layer,batch")
    assert ev.verdict is Verdict.REFUTED
    assert all(c.verdict is Verdict.REFUTED for c in by_name(ev, "tanh x layer: per-group variance"))
    assert all(c.verdict is Verdict.SUPPORTED for c in by_name(ev, "identity x layer: per-group"))


@pytest.fixture
def lying_compression():
    """A compression whose stated bound is false (f = u but bound 1/lam): the bound check must refute it."""
    saved = dict(COMPRESSIONS)
    register_compression(Compression(name="liar", fn=lambda u, lam: u, deriv=lambda u, lam: torch.ones_like(u),
                                     bound=lambda lam: 1.0 / lam, max_slope=lambda lam: 1.0,
                                     identity_limit="lam -> 0", identity_as_lam_to_0=True))
    yield "liar"
    COMPRESSIONS.clear()
    COMPRESSIONS.update(saved)


def test_refuted_by_a_false_stated_bound(lying_compression):
    ev = run(extra_compression=lying_compression, groupings="layer")
    assert ev.verdict is Verdict.REFUTED
    bound = by_name(ev, "liar: sup|f(u)|/bound")[0]
    assert bound.verdict is Verdict.REFUTED and bound.estimate > 1e100
    assert all(c.verdict is Verdict.SUPPORTED for c in by_name(ev, "per-group"))


def test_unknown_compression_and_bad_params():
    with pytest.raises(ValueError, match="not one of"):
        run(compressions="nope")
    with pytest.raises(ValueError, match="unknown compression"):
        run(extra_compression="nope")
    with pytest.raises(ValueError, match="order"):
        S.CLAIM.resolve_params("quick", {"order": "sideways"})
    with pytest.raises(ValueError):
        S.CLAIM.resolve_params("quick", {"lams": "0,1"})
    with pytest.raises(ValueError):
        S.CLAIM.resolve_params("quick", {"groupings": "ln"})
