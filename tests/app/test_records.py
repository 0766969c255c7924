"""The run record in results.json (schema version, git commit and dirtiness, versions, CPU, threads,
kernel backend per claim, original timing of cached claims) and reading it back."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from _toy_claims import register

from ibnorm_verify.app.config import RunConfig
from ibnorm_verify.app.records import (
    ResultsFileError,
    config_from_record,
    environment,
    git_state,
    kernel_record,
    load_results,
)
from ibnorm_verify.app.runner import run_claims
from ibnorm_verify.verification.evidence import SCHEMA_VERSION


@pytest.fixture
def toys(monkeypatch):
    return register(monkeypatch)


def test_environment_names_versions_machine_and_commit():
    env = environment()
    assert set(env["versions"]) >= {"torch", "numpy", "scipy", "sympy", "ibnorm", "ibnorm-verify"}
    assert all(env["versions"][k] for k in ("torch", "numpy", "scipy", "sympy"))
    assert env["cpu_model"] and env["cpu_count"] >= 1 and env["torch_threads"] >= 1 and env["python"]
    assert len(env["code_version"]) == 16
    git = env["git"]
    if git["commit"] is not None:                      # a source checkout: the commit and whether it is dirty
        assert len(git["commit"]) == 40 and isinstance(git["dirty"], bool)


def test_git_state_of_a_fresh_repository(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"],
                   check=True)
    clean = git_state(tmp_path)
    assert clean["dirty"] is False and len(clean["commit"]) == 40
    (tmp_path / "a.txt").write_text("2")
    assert git_state(tmp_path)["dirty"] is True
    assert git_state(tmp_path / "nowhere")["commit"] is None


def test_kernel_record_says_what_auto_picks(monkeypatch):
    rec = kernel_record("cpu")
    assert rec["auto_picks"] in ("cpu", "torch") and "available" in rec["cpu_kernel"]
    monkeypatch.setenv("IBNORM_BACKEND", "torch")
    assert kernel_record("cpu")["auto_picks"] == "torch"
    monkeypatch.setenv("IBNORM_BACKEND", "bogus")
    assert "error" in kernel_record("cpu")


def test_results_json_records_the_run_and_cached_claims_keep_their_timing(toys, tmp_path):
    cfg = RunConfig(claims=["toy.one"], scale="tiny", out=tmp_path, quiet=True, figures=False,
                    params={"effect": "2"}, command="ibnorm-verify --claims toy.one")
    (ev,), meta = run_claims(cfg)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    rec = data["meta"]["claims"]["toy.one"]
    assert rec["cached"] is False and rec["overrides"] == {"effect": "2"} and rec["kernel"]["auto_picks"]
    assert data["meta"]["config"] == {"claims": ["toy.one"], "scale": "tiny", "params": {"effect": "2"}, "seeds": 2,
                                      "device": "cpu", "executor": "serial", "use_cache": True, "figures": False}
    assert data["meta"]["command"] == "ibnorm-verify --claims toy.one" and data["meta"]["environment"]["versions"]
    time.sleep(1.1)
    (ev2,), _ = run_claims(cfg)
    rec2 = json.loads((tmp_path / "results.json").read_text())["meta"]["claims"]["toy.one"]
    assert ev2.cached and rec2["cached"] is True
    assert rec2["started"] == rec["started"] and rec2["runtime_s"] == rec["runtime_s"] == ev2.runtime_s
    assert "from the cache" in (tmp_path / "report.md").read_text()


def test_load_results_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ResultsFileError, match="not a readable"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("[]")
    with pytest.raises(ResultsFileError, match="no 'claims' list"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "claims": []}))
    with pytest.raises(ResultsFileError, match="schema version"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 1, "claims": []}))
    with pytest.raises(ResultsFileError, match="older ibnorm-verify .schema version 1"):
        load_results(tmp_path)


def test_config_from_record_round_trip(toys, tmp_path):
    run_claims(RunConfig(claims=["toy.one", "toy.two"], scale="tiny", seeds=3, out=tmp_path, quiet=True,
                         figures=False, claim_params={"toy.two": {"kind": "b"}}))
    _, meta = load_results(tmp_path)
    cfg = config_from_record(meta, out=str(tmp_path / "again"))
    assert list(cfg.claims) == ["toy.one", "toy.two"] and cfg.scale == "tiny" and cfg.seeds == 3
    assert cfg.claim_params == {"toy.one": {}, "toy.two": {"kind": "b"}} and cfg.params == {}
    with pytest.raises(ResultsFileError, match="no run configuration"):
        config_from_record({})
