"""The claim registry is built from the claim modules and checked against CLAIM_IDS in both directions."""
import pytest

from ibnorm_verify.verification import claims


def test_registry_has_every_declared_id_in_order():
    assert tuple(claims.REGISTRY) == claims.CLAIM_IDS
    for cid, claim in claims.REGISTRY.items():
        assert claim.id == cid


def test_a_declared_id_without_a_module_is_an_error(monkeypatch):
    monkeypatch.setattr(claims, "CLAIM_IDS", claims.CLAIM_IDS + ("cap.not-written-yet",))
    with pytest.raises(RuntimeError, match="no module for \\['cap.not-written-yet'\\]"):
        claims._discover()


def test_a_module_with_an_undeclared_id_is_an_error(monkeypatch):
    monkeypatch.setattr(claims, "CLAIM_IDS", claims.CLAIM_IDS[1:])
    with pytest.raises(RuntimeError, match="undeclared ids \\['cap.norm-jacobian'\\]"):
        claims._discover()


def test_unknown_id_names_the_remedy():
    with pytest.raises(ValueError, match="ibnorm-verify --list"):
        claims.get_claim("cap.nope")
