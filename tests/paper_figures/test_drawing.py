"""Drawing the figures is the application's job: ``ibnorm-verify figures --dry-run --out DIR`` runs every
claim at the tiny scale through the app and draws every figure exactly once; ``--results DIR`` redraws
from a finished run; ``paper_figures`` itself has no command line and imports nothing from the app."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import ibnorm_verify.paper_figures as pf
from ibnorm_verify.app.cli import main

PACKAGE = Path(pf.__file__).resolve().parent


@pytest.fixture(scope="module")
def dry_run(tiny_run_dir):
    """One dry run into the session's shared tiny-run directory; counts every figure's make() call."""
    calls: dict[str, int] = {}
    originals = {}
    for name in pf.FIGURES:
        mod = pf.figure_module(name)
        originals[name] = mod.make

        def counted(evidence_by_id, out_dir, _name=name, _make=mod.make):
            calls[_name] = calls.get(_name, 0) + 1
            return _make(evidence_by_id, out_dir)

        mod.make = counted
    mp = pytest.MonkeyPatch()
    mp.setenv("PAPER_FIGURES_FORMATS", "png")
    try:
        code = main(["figures", "--dry-run", "--quiet", "--out", str(tiny_run_dir)])
    finally:
        mp.undo()
        for name, make in originals.items():
            pf.figure_module(name).make = make
    return code, tiny_run_dir, calls


def test_dry_run_draws_every_figure_once(dry_run):
    code, out, calls = dry_run
    claims = json.loads((out / "_results" / "results.json").read_text())["claims"]
    assert all(c["scale"] == "tiny" for c in claims) and {c["id"] for c in claims} >= set(pf.claims_for())
    assert calls == {name: 1 for name in pf.FIGURES}, calls             # no figure drawn twice (or skipped)
    crashed = {c["id"] for c in claims if c["status"] != "ok"}
    drawable = [n for n in pf.FIGURES if not set(pf.figure_module(n).CLAIMS) & crashed]
    missing = [n for n in drawable if not (out / f"fig_{n}.png").exists()]
    assert not missing and code in (0, 1), f"figures not drawn although their claims ran: {missing}"


def test_redraw_from_a_finished_run(dry_run, tmp_path, monkeypatch, capsys):
    _, out, _ = dry_run
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    assert main(["figures", "--only", "estimator_validation", "--results", str(out / "_results"),
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig_estimator_validation.png").exists()
    assert "made 1 of 1 figures" in capsys.readouterr().out


def test_a_figure_without_its_data_is_listed_and_fails_the_exit_code(tmp_path, monkeypatch, capsys):
    from ibnorm_verify.app.publish import publish
    from ibnorm_verify.verification.evidence import Evidence
    from ibnorm_verify.verification.verdict import Verdict

    ev = Evidence(claim_id="cap.loss-smoothness", paper="x", title="t", statement="s", provenance="reconstructed",
                  verdict=Verdict.INCONCLUSIVE, reason="r")
    publish(tmp_path / "res", [ev], {"config": {"scale": "tiny"}})
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    assert main(["figures", "--only", "loss_smoothness", "--results", str(tmp_path / "res"), "--out",
                 str(tmp_path)]) == 1
    assert "MISSING  loss_smoothness" in capsys.readouterr().out


def test_paper_figures_has_no_command_line_and_no_app_import():
    assert not (PACKAGE / "__main__.py").exists()
    for f in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = ("." * node.level) + (node.module or "")
                assert "app" not in target.split(".") and "argparse" != target, f"{f.name} imports {target}"
            if isinstance(node, ast.Import):
                assert all(a.name != "argparse" and not a.name.startswith("ibnorm_verify.app") for a in node.names), \
                    f.name
