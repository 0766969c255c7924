"""The command line: --help with examples and outputs, --version, python -m, `claims show` for every claim,
bad input refused before anything runs (exit 2, naming the setting, the value and what is accepted),
exit codes, and --rerun reproducing a run from its record."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _toy_claims import TOYS, register

from ibnorm_verify.app import cli
from ibnorm_verify.app.cli import describe_claim, main
from ibnorm_verify.app.config import OUTPUT_FILES, ConfigError, RunConfig, parse_param_items, resolve
from ibnorm_verify.verification.claims import CLAIM_IDS, REGISTRY
from ibnorm_verify.verification.claims.base import SCALES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toys(monkeypatch):
    calls = []
    register(monkeypatch)
    for claim in TOYS.values():           # record every run: a refused input must never reach one
        orig = type(claim).run
        monkeypatch.setattr(claim, "run", lambda ctx, _o=orig, _c=claim: calls.append(_c.id) or _o(_c, ctx))
    return calls


def test_help_lists_examples_outputs_and_scales(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "ibnorm-verify claims show" in out and "--rerun" in out
    for name in OUTPUT_FILES:
        assert name in out
    assert "{tiny,quick,medium,full}" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("ibnorm-verify ") and "ibnorm " in out


def test_python_dash_m_entry_point():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layer")])}
    r = subprocess.run([sys.executable, "-m", "ibnorm_verify", "--version"], capture_output=True, text=True,
                       env=env, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith("ibnorm-verify"), r.stderr


@pytest.mark.parametrize("cid", CLAIM_IDS)
def test_claims_show_lists_every_parameter_per_scale_with_its_domain(cid, capsys):
    assert main(["claims", "show", cid]) == 0
    out = capsys.readouterr().out
    claim = REGISTRY[cid]
    assert out.startswith(f"{cid}: ") and claim.statement.split()[0] in out and claim.provenance in out
    lines = out.split("\nparameters (", 1)[1].splitlines()
    header = next(line for line in lines if line.strip().startswith("name"))
    assert header.split()[1:5] == list(SCALES) and header.split()[-1] == "domain"
    for p in claim.params:
        line = next(ln for ln in lines if ln.startswith(f"  {p.name} "))      # not a help line (6 spaces)
        assert line.rstrip().endswith(p.domain())
        if p.help:
            assert p.help.split()[0] in out


def test_claims_list_describe_and_unknown_ids(capsys):
    assert main(["claims", "list"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()] == list(CLAIM_IDS)
    assert main(["--describe", CLAIM_IDS[0]]) == 0
    assert capsys.readouterr().out == describe_claim(REGISTRY[CLAIM_IDS[0]]) + "\n"
    assert main(["claims", "show", "cap.nope"]) == 2
    assert "unknown claim id" in capsys.readouterr().err


def test_parse_param_items_refuses_repeats_and_malformed_items():
    assert parse_param_items(["gain=2", "toy.one:effect=3"]) == ({"gain": "2"}, {"toy.one": {"effect": "3"}})
    for bad in (["gain=abc", "gain=3"], ["toy.one:effect=1", "toy.one:effect=2"], ["gain"], ["=3"], [":x=1"]):
        with pytest.raises(ConfigError):
            parse_param_items(bad)


@pytest.mark.parametrize("argv,message", [
    (["--param", "effect=abc"], "--param effect='abc' is refused for claim toy.one: parameter 'effect': cannot parse"),
    (["--param", "effect=11"], "accepted: float > -10 and <= 10"),
    (["--param", "effect=nan"], "not finite"),
    (["--param", "levels=1,-2"], "accepted: list of float > 0"),
    (["--param", "kind=c"], "accepted: one of ['a', 'b']"),
    (["--param", "effect=abc", "--param", "effect=3"], "--param effect is given twice"),
    (["--param", "gain=2"], "no selected claim has this parameter"),
    (["--param", "toy.two:effect=1"], "claim 'toy.two' is not selected"),
    (["--param", "toy.one:nope=1"], "claim toy.one has no parameter 'nope'"),
    (["--seeds", "0"], "--seeds 0"),
    (["--executor", "threads"], "unknown executor"),
    (["--executor", "dask=tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
])
def test_bad_input_is_refused_before_anything_runs(argv, message, toys, tmp_path, capsys):
    code = main(["--claims", "toy.one", "--out", str(tmp_path / "o"), "--quiet", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert toys == [] and not (tmp_path / "o" / "results.json").exists()


def _bad_outs(tmp_path: Path) -> list[tuple[str, str]]:
    f = tmp_path / "afile"
    f.write_text("x")
    folder = tmp_path / "resfolder"
    (folder / "results.json").mkdir(parents=True)
    cases = [("", "--out is empty"), (str(f), "is a file"), (str(f / "sub"), "lies under"),
             (str(folder), "results.json is a directory")]
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):                  # root ignores permission bits: use a read-only system folder
        ro = Path("/sys")
    if not os.access(ro, os.W_OK):
        cases.append((str(ro), "not writable"))
    return cases


def test_bad_out_is_refused_before_the_first_claim(toys, tmp_path, capsys):
    for out, message in _bad_outs(tmp_path):
        assert main(["--claims", "toy.one", "--out", out, "--quiet"]) == 2, out
        assert message in capsys.readouterr().err, out
    assert toys == []


def test_run_exit_codes_and_summary(toys, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    assert main(["--claims", "toy.one", "toy.two", "--scale", "tiny", "--out", str(tmp_path), "--quiet",
                 "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "toy.one" in out and "supported" in out and "results.csv" in out
    assert main(["--claims", "toy.one", "--param", "levels=1", "--param", "effect=-1", "--out",
                 str(tmp_path / "r"), "--quiet", "--no-figures"]) == 0                      # refuted is not an error
    assert "refuted" in capsys.readouterr().out
    monkeypatch.setattr(TOYS["toy.one"], "run", lambda ctx: 1 / 0)
    assert main(["--claims", "toy.one", "--out", str(tmp_path / "c"), "--quiet", "--no-figures"]) == 1


def test_rerun_reproduces_verdicts_and_numbers(toys, tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["--claims", "toy.one", "toy.two", "--param", "toy.two:effect=-1", "--scale", "tiny",
                 "--seeds", "3", "--out", str(first), "--quiet", "--no-figures"]) == 0
    capsys.readouterr()
    toys.clear()
    assert main(["--rerun", str(first / "results.json"), "--quiet", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "re-run against the record: 2 of 2 claims identical" in out
    assert sorted(toys) == ["toy.one", "toy.two"]                            # recomputed, not read from a cache
    again = json.loads((tmp_path / "first-rerun" / "results.json").read_text())
    orig = json.loads((first / "results.json").read_text())
    for a, b in zip(orig["claims"], again["claims"]):
        assert a["verdict"] == b["verdict"] and a["checks"] == b["checks"] and a["series"] == b["series"]
    assert again["meta"]["config"]["seeds"] == 3 and again["meta"]["claims"]["toy.two"]["overrides"] == {"effect": "-1"}
    assert main(["--rerun", str(first), "--scale", "quick"]) == 2
    assert main(["--rerun", str(tmp_path / "nothing.json")]) == 2


def test_rerun_comparison_counts_two_nans_as_the_same_number():
    from types import SimpleNamespace as C

    from ibnorm_verify.app.cli import estimate_differences

    old = [C(name="a", estimate=float("nan")), C(name="b", estimate=2.0), C(name="c", estimate=None)]
    assert estimate_differences([C(name="a", estimate=float("nan")), C(name="b", estimate=2.0),
                                 C(name="c", estimate=None)], old) == []
    assert estimate_differences([C(name="a", estimate=1.0), C(name="b", estimate=2.2)], old) == \
        [math.inf, pytest.approx(0.1)]


def test_the_runner_reads_no_sys_argv(toys, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["something-else", "--claims", "toy.two"])
    run = resolve(RunConfig(claims=["toy.one"], scale="tiny", out=tmp_path, quiet=True, figures=False))
    from ibnorm_verify.app.runner import run_claims

    evs, meta = run_claims(run)
    assert [e.claim_id for e in evs] == ["toy.one"] and meta["command"] is None


def test_figures_command(toys, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    assert main(["--claims", "toy.one", "--scale", "tiny", "--out", str(tmp_path / "r"), "--quiet",
                 "--no-figures"]) == 0
    capsys.readouterr()
    assert main(["figures", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    assert "made 1 of 1 figures" in out and (tmp_path / "f" / "fig_estimator_validation.png").exists()
    assert main(["figures", "--results", str(tmp_path / "r"), "--only", "reduction_k", "--out", str(tmp_path)]) == 1
    assert "skipped  reduction_k" in capsys.readouterr().out
    assert main(["figures", "--results", str(tmp_path / "missing")]) == 2
    assert main(["figures", "--list"]) == 0
    assert "estimator_validation" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["figures", "--only", "nope", "--results", "x"])
    assert e.value.code == 2


def test_one_ctrl_c_exits_130(toys, tmp_path, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_claims", interrupted)
    assert main(["--claims", "toy.one", "--out", str(tmp_path), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
