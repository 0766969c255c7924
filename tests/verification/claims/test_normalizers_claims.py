"""cap.norm-jacobian and ib.standardization: the same claim code gives supported, refuted or inconclusive
depending on the regime (small configurations, 2 seeds)."""
import math

import pytest
import torch

from ibnorm.compression import COMPRESSIONS, Compression, register_compression
from ibnorm_verify.verification.claims import REGISTRY
from ibnorm_verify.verification.claims import normalizers as N
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.verdict import Verdict

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(claim_id, seeds=(0, 1), **overrides):
    claim = REGISTRY[claim_id]
    return claim.run(Context(params=claim.resolve_params("quick", overrides), seeds=list(seeds), claim_id=claim_id))


JAC_FAST = dict(symbolic=False, dim=5, eps_values="1e-12,1e-5,1", ib_lams="1,4", scaling_cs="0.01,1,100",
                blowup_sigmas="1e-6,1e-3,1")


def by_name(ev, fragment):
    return [c for c in ev.checks if fragment in c.name]


# ------------------------------------------------------------------------------------ cap.norm-jacobian

def test_norm_jacobian_supported_with_scalar_gamma():
    ev = run("cap.norm-jacobian", **JAC_FAST)
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    for k in N.JAC_KINDS:
        assert ev.measured[f"max_rel_error.{k}.torch"] < N.TOL_JACOBIAN
    # arrays for the figures: formula rows, scaling and blow-up curves, IB measurement
    a = ev.arrays
    assert len(a["formula_measured"]) == len(a["formula_predicted"]) == 5 * 2 * 3 * 2
    assert len(a["scaling_ratio_measured_eps0"]) == len(a["scaling_c"]) == 3
    assert a["blowup_norm_eps0"][0] == pytest.approx(1e6, rel=1e-8)          # 1/sigma, unbounded as sigma -> 0
    assert max(a["blowup_norm_eps"]) <= a["blowup_bound_eps"] * (1 + 1e-12)  # bounded by 1/sqrt(eps)
    assert set(a["ib_compression"]) == {c for c in COMPRESSIONS if c != "identity"}
    assert ev.measured["ib_max_ratio_measured_to_bound"] <= 1 + 1e-9          # our bound holds
    assert ev.validation and all(r["passed"] for r in ev.validation)
    assert ev.to_dict()["verdict"] == "supported"


def test_norm_jacobian_refuted_for_vector_gamma_as_an_equality():
    """A per-element gain inside a group (LN/RMS/GN): max|gamma_i|/s is only a bound, so 'exactly' is refuted;
    BN/IN have a per-channel gain constant on each group and stay exact."""
    ev = run("cap.norm-jacobian", gamma_mode="vector", kinds="layer,batch,instance", ib_compressions="tanh", **{
        k: v for k, v in JAC_FAST.items() if k != "ib_lams"})
    assert ev.verdict is Verdict.REFUTED
    assert all(c.verdict is Verdict.REFUTED for c in by_name(ev, "layer ("))
    assert all(c.verdict is Verdict.SUPPORTED for c in by_name(ev, "batch (") + by_name(ev, "instance ("))


def test_norm_jacobian_refuted_for_groups_of_two():
    """With 2 values per group the bracket's eigenvalue 1 does not exist: the norm is |gamma| eps/s^3 < |gamma|/s."""
    ev = run("cap.norm-jacobian", kinds="layer", eps_values="1e-3,1", ib_compressions="tanh",
             **{k: v for k, v in JAC_FAST.items() if k not in ("dim", "eps_values")}, dim=2)
    assert ev.verdict is Verdict.REFUTED
    assert by_name(ev, "layer (nn.LayerNorm)")[0].estimate < -0.1


def test_norm_jacobian_inconclusive_when_validation_fails(monkeypatch):
    bad = [{"estimator": "autograd-jacobian-svd", "case": "forced failure", "passed": False}]
    monkeypatch.setattr(N, "autograd_validation_rows", lambda: bad)
    ev = run("cap.norm-jacobian", kinds="rms", ib_compressions="tanh", **JAC_FAST)
    assert ev.verdict is Verdict.INCONCLUSIVE
    assert "forced failure" in ev.reason


def test_autograd_validation_rows_pass():
    rows = N.autograd_validation_rows()
    assert rows and all(r["passed"] and r["rel_error"] < 1e-12 for r in rows)


# ----------------------------------------------------------------------------------- ib.standardization

STD_FAST = dict(dim=6, lams="0.5,1,4", limit_lams="1e-3,1e-4,1e-5", root_lam_offsets="1e-2,1e-3,1e-4")


def test_standardization_supported_for_every_compression_and_grouping():
    ev = run("ib.standardization", **STD_FAST)
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    comps = set(COMPRESSIONS)
    assert set(ev.arrays["moments_compression"]) == comps
    assert len(ev.arrays["moments_grouping"]) == len(comps) * len(N.GROUPINGS)
    assert ev.measured["max_abs_mean"] < N.TOL_VALUE and ev.measured["max_abs_second_moment_error"] < N.TOL_VALUE
    assert 0 < ev.measured["max_eps_deflation_1_minus_var"] < 1e-2   # eps matters when var(f(u)) is small
    assert ev.measured["identity.layer.max_abs_diff"] == 0.0           # dispatch to torch: bit-exact
    assert ev.measured["root_delta_effect"]["lam=1"] < 1e-12           # root at lam = 1 is the identity
    assert ev.measured["root_delta_effect"]["lam=4"] > 1e-3            # ROOT_DELTA matters for lam > 1
    names = " ".join(c.name for c in ev.checks)
    for g in N.GROUPINGS:
        assert f"tanh x {g}: ||IB - torch op|| ~ lam^k" in names and f"identity x {g}: IBNorm == torch op" in names


def test_standardization_refuted_for_standardize_first_order():
    """f after standardization: a bounded f leaves a variance below 1, so the same checks refute the claim;
    the identity compression is still standardized."""
    ev = run("ib.standardization", order="standardize_first", compressions="identity,tanh", groupings="layer,batch",
             **STD_FAST)
    assert ev.verdict is Verdict.REFUTED
    assert all(c.verdict is Verdict.REFUTED for c in by_name(ev, "tanh x layer: per-group variance"))
    assert all(c.verdict is Verdict.SUPPORTED for c in by_name(ev, "identity x layer: per-group"))


@pytest.fixture
def lying_compression():
    """A compression whose stated bound is false (f = u but bound 1/lam): the bound check must refute it."""
    saved = dict(COMPRESSIONS)
    register_compression(Compression(name="liar", fn=lambda u, lam: u, deriv=lambda u, lam: torch.ones_like(u),
                                     bound=lambda lam: 1.0 / lam, max_slope=lambda lam: 1.0,
                                     identity_limit="lam -> 0"))
    yield "liar"
    COMPRESSIONS.clear()
    COMPRESSIONS.update(saved)


def test_standardization_refuted_by_a_false_bound(lying_compression):
    ev = run("ib.standardization", compressions=lying_compression, groupings="layer", **STD_FAST)
    assert ev.verdict is Verdict.REFUTED
    bound = by_name(ev, "liar: sup|f(u)|/bound")[0]
    assert bound.verdict is Verdict.REFUTED and bound.estimate > 1e100
    # its moments are still standardized (compress_first), and f = u makes its limit error exactly 0
    assert all(c.verdict is Verdict.SUPPORTED for c in by_name(ev, "per-group"))


def test_unknown_compression_and_bad_params():
    claim = REGISTRY["ib.standardization"]
    with pytest.raises(ValueError, match="unknown compression"):
        run("ib.standardization", compressions="nope")
    with pytest.raises(ValueError, match="order"):
        claim.resolve_params("quick", {"order": "sideways"})
    with pytest.raises(ValueError):
        claim.resolve_params("quick", {"lams": "0,1"})
    with pytest.raises(ValueError):
        REGISTRY["cap.norm-jacobian"].resolve_params("quick", {"kinds": "layer,weird"})
    assert REGISTRY["cap.norm-jacobian"].provenance == "reconstructed" and claim.provenance == "paper"
    assert math.isclose(N.TOL_VALUE, 1e-10) and math.isclose(N.TOL_JACOBIAN, 1e-8)
