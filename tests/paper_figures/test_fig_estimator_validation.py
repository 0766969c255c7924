"""The estimator-validation figure shows every estimator's ValidationRow: Lipschitz brackets, MI rows,
bound rows, normalizer rows; rows it cannot place on axes are listed, not dropped."""
from __future__ import annotations

import math

import pytest

import ibnorm_verify.paper_figures.fig_estimator_validation as fig
from ibnorm_verify.paper_figures.base import FigureDataError
from ibnorm_verify.verification.evidence import Evidence, ValidationRow
from ibnorm_verify.verification.verdict import Verdict


def _ev(cid: str, rows: list) -> Evidence:
    return Evidence(claim_id=cid, paper="x", title="t", statement="s", provenance="reconstructed",
                    verdict=Verdict.SUPPORTED, reason="r", validation=rows)


ROWS = {
    "cap.normalization-exponential-reduction": [
        ValidationRow("lipschitz", "W=2Q then LN", 1.919, 1.919, True, "lower <= truth <= upper", lower=1.918,
                      upper=1.92, family="exact constant"),
        ValidationRow("lipschitz", "chain g=1.5 L=4", 5.06, 5.0, False, "lower >= 0.99 truth", lower=5.0, upper=5.2,
                      family="exact constant")],
    "ib.higher-ib-value": [
        ValidationRow("ksg", f"gaussian rho={r}", -0.5 * math.log(1 - r * r), -0.5 * math.log(1 - r * r) + 0.01, True,
                      "|error| <= 0.05 nats", family="mutual information", unit="nats") for r in (0.3, 0.6, 0.9)]
        + [ValidationRow("ksg", "independent", 0.0, 0.004, True, "|error| <= 0.05 nats", family="mutual information")],
    "cap.local-generalization-bound": [
        ValidationRow("inv_kl", "q=0, c=0.7", 0.503, 0.503, True, "|error| <= 1e-12", family="bounds"),
        ValidationRow("inv_kl", "no estimate", 1.0, None, True, "exists", family="bounds")],
    "cap.norm-jacobian": [
        ValidationRow("autograd-jacobian-svd", "linear map n=3", 2.5, 2.5, True, "|error| <= 1e-12",
                      family="normalizer Jacobian"),
        ValidationRow("symbolic", "sympy derivation", math.nan, None, True, "identity holds", family="symbolic")],
    "ib.nuisance-suppression": [
        ValidationRow("ksg", "normal-1x1-0.3", 0.047, 0.05, True, "|error| <= 0.05 nats",
                      family="mutual information")],
}


def test_every_row_is_plotted_or_listed():
    evidence = {cid: _ev(cid, rows) for cid, rows in ROWS.items()}
    lay = fig.layout(evidence)
    assert lay.total == sum(len(r) for r in ROWS.values()) == 11
    assert lay.plotted + len(lay.listed) + lay.duplicates == lay.total
    assert set(lay.families) == {"exact constant", "mutual information", "bounds", "normalizer Jacobian"}
    assert len(lay.families["mutual information"]) == 5          # the claims' MI rows, together
    listed = " ".join(label for label, _ in lay.listed)
    assert "no estimate" in listed and "sympy derivation" in listed


def test_duplicates_across_claims_are_drawn_once():
    row = ValidationRow("ksg", "gaussian", 0.1, 0.1, True, "ok", family="mutual information")
    lay = fig.layout({"a": _ev("a", [row]), "b": _ev("b", [row])})
    assert lay.total == 2 and lay.plotted == 1 and lay.duplicates == 1


def test_draws_one_panel_per_family(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    paths = fig.make({cid: _ev(cid, rows) for cid, rows in ROWS.items()}, tmp_path)
    assert [p.suffix for p in paths] == [".png"] and paths[0].stat().st_size > 5000


def test_no_rows_is_a_clear_error(tmp_path):
    with pytest.raises(FigureDataError, match="no claim in the run produced validation rows"):
        fig.make({"x": _ev("x", [])}, tmp_path)
