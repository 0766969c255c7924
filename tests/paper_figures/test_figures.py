"""Each figure script draws a PNG and a PDF from Evidence with the claims' array keys, and fails
loudly (FigureDataError naming the claim and keys) when the data it needs is missing."""
from __future__ import annotations

import dataclasses

import pytest

import ibnorm_verify.paper_figures as pf
from ibnorm_verify.paper_figures.base import FigureDataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", pf.FIGURES)
def test_figure_draws(name, synthetic, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")   # PDFs: test_figure_pdf below and test_style.py
    paths = pf.figure_module(name).make(synthetic, tmp_path)
    assert [p.suffix for p in paths] == [".png"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 2000
    png = next(p for p in paths if p.suffix == ".png")
    assert png.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("name", ["ib_lambda", "norm_jacobian"])   # the ones with the most unicode and panels
def test_figure_pdf(name, synthetic, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png,pdf")
    paths = pf.figure_module(name).make(synthetic, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[1].read_bytes()[:5] == b"%PDF-" and paths[1].stat().st_size > 2000


@pytest.mark.parametrize("name", pf.FIGURES)
def test_figure_without_its_data_fails_loudly(name, synthetic, tmp_path):
    mod = pf.figure_module(name)
    stripped = {cid: dataclasses.replace(ev, validation=[], series={}) for cid, ev in synthetic.items()}
    with pytest.raises(FigureDataError) as err:
        mod.make(stripped, tmp_path)
    assert name in str(err.value)
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("name", [n for n in pf.FIGURES if getattr(pf.figure_module(n), "READS", None)])
def test_figure_names_the_missing_series(name, synthetic, tmp_path):
    """Each series a figure declares it reads is really needed: without it the figure names it."""
    mod = pf.figure_module(name)
    optional = getattr(mod, "OPTIONAL_READS", {})
    for cid, names in mod.READS.items():
        for missing in (n for n in names if n not in optional.get(cid, ())):
            ev = synthetic[cid]
            series = {k: v for k, v in ev.series.items() if k != missing}
            broken = dict(synthetic, **{cid: dataclasses.replace(ev, series=series)})
            with pytest.raises(FigureDataError, match=missing):
                mod.make(broken, tmp_path)


@pytest.mark.parametrize("name", pf.FIGURES)
def test_figure_without_its_claim_fails_loudly(name, tmp_path):
    with pytest.raises(FigureDataError, match="no"):
        pf.figure_module(name).make({}, tmp_path)


def test_crashed_claim_is_reported(synthetic, tmp_path):
    ev = synthetic["cap.loss-smoothness"]
    ev.status, ev.error = "crashed", "RuntimeError: boom"
    with pytest.raises(FigureDataError, match="crashed"):
        pf.figure_module("loss_smoothness").make(synthetic, tmp_path)


def test_series_of_the_wrong_dims_are_refused(synthetic, tmp_path):
    ev = synthetic["cap.loss-smoothness"]
    s = ev.series["slope"]
    ev.series["slope"] = type(s)(s.name, tuple(reversed(s.dims)), s.coords, s.values.T, s.unit)
    with pytest.raises(FigureDataError, match="dims"):
        pf.figure_module("loss_smoothness").make(synthetic, tmp_path)


def test_make_all_reports_what_it_could_not_make(synthetic, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    del synthetic["cap.training-statistics"]
    names = ["loss_smoothness", "training_statistics", "nuisance"]
    run = pf.make_all(synthetic, tmp_path, names)
    assert "training_statistics" in run.failed and "cap.training-statistics" in run.failed["training_statistics"]
    assert sorted(run.made) == ["loss_smoothness", "nuisance"]
    assert len(run.pngs()) == 2
    assert "MISSING training_statistics" in run.summary()
    with pytest.raises(FigureDataError):
        pf.make_all(synthetic, tmp_path, ["training_statistics"], strict=True)


def test_every_figure_declares_caption_and_claims_and_has_no_main():
    for name in pf.FIGURES:
        mod = pf.figure_module(name)
        assert mod.NAME == name and mod.CAPTION and mod.CLAIMS and not hasattr(mod, "main")   # no CLI: the app draws
    assert len(pf.FIGURES) >= 8
    assert set(pf.claims_for()) <= set(__import__("ibnorm_verify.verification.claims", fromlist=["CLAIM_IDS"]).CLAIM_IDS)


def test_unknown_figure_is_a_value_error():
    with pytest.raises(ValueError, match="unknown figure"):
        pf.figure_module("nope")
