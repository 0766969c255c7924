"""cap.norm-jacobian: the same claim code says supported, refuted or inconclusive depending on the regime."""
from __future__ import annotations

import pytest
import torch

from ibnorm.compression import COMPRESSIONS
from ibnorm_verify.verification.claims import cap_norm_jacobian as NJ
from ibnorm_verify.verification.claims.base import Context
from ibnorm_verify.verification.evidence import ValidationRow
from ibnorm_verify.verification.verdict import Verdict

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(symbolic=False, dim=5, eps_values="1e-12,1e-5,1", ib_lams="1,4", scaling_cs="0.01,1,100",
            blowup_sigmas="1e-6,1e-3,1")


def run(seeds=(0, 1), **over):
    c = NJ.CLAIM
    return c.run(Context(params=c.resolve_params("quick", {**FAST, **over}), seeds=list(seeds), claim_id=c.id))


def by_name(ev, fragment):
    return [c for c in ev.checks if fragment in c.name]


def test_supported_with_scalar_gamma_for_every_grouping_and_both_implementations():
    ev = run()
    assert ev.verdict is Verdict.SUPPORTED, ev.reason
    formula = [c for c in ev.checks if c.part == "formula"]
    assert len(formula) == 5 * 2 * 3 and all(c.mde == NJ.TOL_JACOBIAN for c in formula)
    assert {c.cell["implementation"] for c in formula} == {"torch", "composite"}
    assert len(ev.regimes.cells) >= 30 and ev.check(ev.primary).part == "formula"
    j = ev.series["jacobian_norm"]
    assert j.dims == NJ.AXES + ("seed", "quantity")
    m = j.sel(grouping="layer", eps=1e-5, implementation="torch", gamma_mode="scalar")
    assert m.sel(quantity="measured").values == pytest.approx(m.sel(quantity="predicted").values, rel=1e-8)
    b = ev.series["blowup"]
    assert b.sel(eps=0.0, seed=0, sigma=1e-6, quantity="norm").item() == pytest.approx(1e6, rel=1e-8)
    assert max(b.sel(eps=1e-5, quantity="norm").values.ravel()) <= 1 / 1e-5 ** 0.5 * (1 + 1e-12)
    # eps = 0 curves are identities of scale invariance: sanity, not evidence
    assert all(c.role == "sanity" for c in ev.checks if "eps=0" in c.name)
    assert set(ev.series["ib_jacobian"].coords["compression"]) == {c for c in COMPRESSIONS if c != "identity"}
    assert ev.measured["IB: max measured/bound (our chain-rule bound; <= 1 means it held)"] <= 1 + 1e-9
    assert ev.validation and all(isinstance(r, ValidationRow) and r.passed for r in ev.validation)


def test_vector_gamma_refutes_the_equality_where_gamma_varies_inside_a_group():
    ev = run(gamma_modes="vector", groupings="layer,batch,instance", ib_compressions="tanh")
    assert ev.verdict is Verdict.REFUTED
    cells = {(c.coords["grouping"], c.coords["eps"]): c.verdict for c in ev.regimes.cells
             if c.coords["gamma_mode"] == "vector"}
    assert len(cells) == 9 and all(v is Verdict.REFUTED for (g, _), v in cells.items() if g == "layer")
    assert all(v is Verdict.SUPPORTED for (g, _), v in cells.items() if g in ("batch", "instance"))


def test_groups_of_two_refute_the_formula():
    """With 2 values per group the bracket's eigenvalue 1 does not exist: the norm is |gamma| eps/s^3."""
    ev = run(groupings="layer", eps_values="1e-3,1", ib_compressions="tanh", dim=2)
    assert ev.verdict is Verdict.REFUTED
    assert by_name(ev, "implementation=torch")[0].estimate < -0.1


def test_failed_validation_makes_it_inconclusive(monkeypatch):
    bad = [ValidationRow("autograd-jacobian-svd", "forced failure", 1.0, 2.0, False, "forced")]
    monkeypatch.setattr(NJ.jacobian_estimator, "validate", lambda: bad)
    ev = run(groupings="rms", ib_compressions="tanh")
    assert ev.verdict is Verdict.INCONCLUSIVE and "forced failure" in ev.reason


def test_analyze_on_constructed_records():
    rec = {"kind": "formula", "grouping": "layer", "implementation": "torch", "eps": 1e-5, "gamma_mode": "scalar",
           "measured": 1.0, "predicted": 1.0}
    ok = [dict(rec, seed=s, rel_error=1e-15) for s in range(3)]
    val = {"kind": "validation", "rows": [ValidationRow("a", "b", 1.0, 1.0, True, "c").to_dict()]}
    assert NJ.CLAIM.evidence_of(Context({}, [0]), NJ.analyze(ok + [val], {})).verdict is Verdict.SUPPORTED
    off = [dict(rec, seed=s, rel_error=1e-3) for s in range(3)]
    assert NJ.CLAIM.evidence_of(Context({}, [0]), NJ.analyze(off + [val], {})).verdict is Verdict.REFUTED
    mixed = [dict(rec, seed=0, rel_error=1e-3), dict(rec, seed=1, rel_error=-1e-3)]
    assert NJ.CLAIM.evidence_of(Context({}, [0]), NJ.analyze(mixed + [val], {})).verdict is Verdict.INCONCLUSIVE


def test_validation_rows_and_params():
    rows = NJ.jacobian_estimator.validate()
    assert rows and all(r.passed and abs(r.rel_error) < 1e-12 for r in rows)
    assert NJ.spectral_norm(lambda t: 3 * t, torch.ones(4, dtype=torch.float64)) == pytest.approx(3.0, rel=1e-14)
    with pytest.raises(ValueError):
        NJ.CLAIM.resolve_params("quick", {"groupings": "layer,ln"})
    with pytest.raises(ValueError):
        NJ.CLAIM.resolve_params("quick", {"eps_values": "0"})
