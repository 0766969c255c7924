"""Claim parameters, Evidence round trip, the registry, the runner (cache, crash, atomic outputs) and the CLI."""
import json
import math

import pytest

from ibnorm_verify.app.cli import main
from ibnorm_verify.app.runner import RunConfig, run_claims
from ibnorm_verify.verification.claims import CLAIM_IDS, REGISTRY, get_claim
from ibnorm_verify.verification.claims.base import Claim, Context, Param
from ibnorm_verify.verification.evidence import Evidence
from ibnorm_verify.verification.io import atomic_write_text
from ibnorm_verify.verification.stats import mean_ci
from ibnorm_verify.verification.verdict import Verdict, check_direction


class EffectClaim(Claim):
    """A toy claim 'effect > 0': the same code yields each verdict depending on the parameter."""

    id = "test.effect"
    paper = "none"
    title = "toy"
    statement = "effect > 0"
    provenance = "reconstructed"
    params = (Param("effect", 1.0, help="true effect"), Param("noise", 0.1, minimum=0.0),
              Param("sizes", [1, 2, 3]), Param("crash", False))

    def run(self, ctx):
        if ctx["crash"]:
            raise RuntimeError("boom")
        values = [ctx["effect"] + ctx["noise"] * (-1) ** s for s in ctx.seeds]
        m, ci = mean_ci(values)
        return self.evidence(ctx, [check_direction("effect", m, ci, greater_than=0.0)], measured={"effect": m, "values": values})


@pytest.fixture
def toy(monkeypatch):
    claim = EffectClaim()
    monkeypatch.setitem(REGISTRY, claim.id, claim)
    return claim


def test_registry_holds_the_twelve_fixed_ids():
    assert tuple(REGISTRY) == CLAIM_IDS and len(CLAIM_IDS) == 12
    for cid, claim in REGISTRY.items():
        assert claim.id == cid and claim.provenance in ("paper", "reviews", "reconstructed")
        assert claim.paper in ("2510.25262", "2511.00958") and claim.statement
    with pytest.raises(ValueError, match="unknown claim id"):
        get_claim("cap.nope")


def test_param_parsing_and_validation(toy):
    p = toy.resolve_params("quick", {"effect": "2.5", "sizes": "4,5", "crash": "false"})
    assert p == {"effect": 2.5, "noise": 0.1, "sizes": [4, 5], "crash": False}
    with pytest.raises(ValueError, match="no parameter 'gain'"):
        toy.resolve_params("quick", {"gain": "2"})
    with pytest.raises(ValueError, match="cannot parse"):
        toy.resolve_params("quick", {"effect": "abc"})
    with pytest.raises(ValueError, match="minimum"):
        toy.resolve_params("quick", {"noise": "-1"})
    with pytest.raises(ValueError, match="not finite"):
        toy.resolve_params("quick", {"effect": "nan"})
    assert Param("x", 1, full=5, tiny=0).default("full") == 5
    assert Param("x", 1, tiny=0).default("tiny") == 0
    assert Param("x", 1).default("tiny") == 1


def test_same_claim_code_gives_each_verdict(toy, tmp_path):
    outcomes = {}
    for effect, noise in ((1.0, 0.1), (-1.0, 0.1), (0.0, 1.0)):
        ev = toy.run(Context(params=toy.resolve_params("quick", {"effect": effect, "noise": noise}), seeds=[0, 1, 2, 3]))
        outcomes[effect] = ev.verdict
    assert outcomes == {1.0: Verdict.SUPPORTED, -1.0: Verdict.REFUTED, 0.0: Verdict.INCONCLUSIVE}


def test_evidence_round_trip_keeps_nonfinite(toy):
    ev = toy.run(Context(params=toy.resolve_params("quick"), seeds=[0, 1]))
    ev.measured["big"] = math.inf
    back = Evidence.from_dict(json.loads(ev.to_json()))
    assert back.verdict is ev.verdict and back.checks[0].ci == ev.checks[0].ci
    assert back.measured["big"] == math.inf and back.seeds == [0, 1]


def test_runner_writes_outputs_and_uses_cache(toy, tmp_path):
    cfg = RunConfig(claims=[toy.id], out=tmp_path, quiet=True, seeds=3)
    (ev,), meta = run_claims(cfg)
    data = json.loads((tmp_path / "results.json").read_text())
    row = data["claims"][0]
    assert row["id"] == toy.id and row["verdict"] == "supported" and row["seeds"] == [0, 1, 2]
    assert {"measured", "predicted", "conditions", "provenance", "checks"} <= set(row)
    assert "test.effect" in (tmp_path / "report.md").read_text()
    (ev2,), _ = run_claims(cfg)
    assert ev2.cached and ev2.verdict is ev.verdict
    (ev3,), _ = run_claims(RunConfig(claims=[toy.id], out=tmp_path, quiet=True, seeds=3, params={"effect": "-1"}))
    assert not ev3.cached and ev3.verdict is Verdict.REFUTED


def test_runner_records_a_crash_and_keeps_going(toy, tmp_path):
    (ev,), _ = run_claims(RunConfig(claims=[toy.id], out=tmp_path, quiet=True, params={"crash": "true"}))
    assert ev.verdict is Verdict.INCONCLUSIVE and ev.status == "crashed" and "RuntimeError: boom" in ev.error
    assert "crashed" in json.loads((tmp_path / "results.json").read_text())["claims"][0]["reason"]


def test_runner_rejects_bad_config(toy, tmp_path):
    with pytest.raises(ValueError, match="unknown claim id"):
        RunConfig(claims=["nope"], out=tmp_path).validate()
    with pytest.raises(ValueError, match="no selected claim has this parameter"):
        RunConfig(claims=[toy.id], params={"gain": "2"}, out=tmp_path).validate()
    with pytest.raises(ValueError, match="seeds"):
        RunConfig(claims=[toy.id], seeds=0, out=tmp_path).validate()
    with pytest.raises(ValueError, match="scale"):
        RunConfig(claims=[toy.id], scale="huge", out=tmp_path).validate()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_text(tmp_path / "a.json", "1")
    atomic_write_text(tmp_path / "a.json", "2")
    assert (tmp_path / "a.json").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_cli_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(CLAIM_IDS)


def test_cli_errors(capsys, toy, tmp_path):
    assert main(["--claims", "cap.nope", "--out", str(tmp_path)]) == 2
    assert "unknown claim id" in capsys.readouterr().err
    assert main(["--claims", toy.id, "--param", "gain=2", "--out", str(tmp_path)]) == 2
    assert "gain" in capsys.readouterr().err
    assert main(["--claims", toy.id, "--param", "effect=xyz", "--out", str(tmp_path)]) == 2
    assert main(["--claims", toy.id, "--param", "effect", "--out", str(tmp_path)]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_cli_run_and_crash_exit_codes(toy, tmp_path, capsys):
    assert main(["--claims", toy.id, "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert "supported" in capsys.readouterr().out
    assert main(["--claims", toy.id, "--param", "crash=true", "--out", str(tmp_path / "b"), "--quiet"]) == 1
