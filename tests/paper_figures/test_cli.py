"""``python -m ibnorm_verify.paper_figures --all --dry-run --out DIR`` runs the claims at the tiny scale and writes at
least 8 PNG figures; ``--results DIR`` redraws from a cached results.json; a figure script's own main()."""
from __future__ import annotations

import json

import pytest

import ibnorm_verify.paper_figures as pf
from ibnorm_verify.paper_figures.__main__ import main


@pytest.fixture(scope="module")
def dry_run(tiny_run_dir):
    import os

    old = os.environ.get("PAPER_FIGURES_FORMATS")
    os.environ["PAPER_FIGURES_FORMATS"] = "png"          # the PDFs are covered by test_figures.py
    try:
        code = main(["--all", "--dry-run", "--quiet", "--out", str(tiny_run_dir)])
    finally:
        if old is None:
            os.environ.pop("PAPER_FIGURES_FORMATS", None)
        else:
            os.environ["PAPER_FIGURES_FORMATS"] = old
    return code, tiny_run_dir


def test_all_dry_run_writes_at_least_8_pngs(dry_run):
    code, out = dry_run
    pngs = sorted(out.glob("fig_*.png"))
    assert code == 0, f"only {len(pngs)} figures: {[p.name for p in pngs]}"
    assert len(pngs) >= 8
    claims = json.loads((out / "_results" / "results.json").read_text())["claims"]
    assert all(c["scale"] == "tiny" for c in claims)


def test_redraw_from_cached_results(dry_run, tmp_path, monkeypatch, capsys):
    _, out = dry_run
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    assert main(["--figures", "reduction_k", "--results", str(out / "_results"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig_reduction_k.png").exists()
    assert "made 1 of 1 figures" in capsys.readouterr().out


def test_one_figure_script_main(dry_run, tmp_path, monkeypatch, capsys):
    _, out = dry_run
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    assert pf.figure_module("phase_diagram").main(["--results", str(out / "_results"), "--out", str(tmp_path)]) == 0
    assert str(tmp_path / "fig_phase_diagram.png") in capsys.readouterr().out


def test_missing_figures_are_listed_and_fail_the_exit_code(tmp_path, monkeypatch, capsys):
    from ibnorm_verify.app.report import write_outputs
    from ibnorm_verify.verification.evidence import Evidence
    from ibnorm_verify.verification.verdict import Verdict

    ev = Evidence(claim_id="cap.loss-smoothness", paper="x", title="t", statement="s", provenance="reconstructed",
                  verdict=Verdict.INCONCLUSIVE, reason="r")
    write_outputs(tmp_path / "res", [ev], {"scale": "tiny"})
    assert main(["--figures", "loss_smoothness", "--results", str(tmp_path / "res"), "--out", str(tmp_path)]) == 1
    assert "MISSING loss_smoothness" in capsys.readouterr().out


def test_list_and_bad_arguments(capsys):
    assert main(["--list"]) == 0
    assert "lipschitz_depth" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["--figures", "nope", "--out", "x"])
    assert e.value.code == 2
