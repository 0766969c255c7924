"""Publishing: the four result files (mode 0666 & ~umask), a CSV row per check, the figures moved in
whole, and two runs of different claims into one directory merging under the lock."""
from __future__ import annotations

import csv
import io
import json
import os
import stat

import pytest
from _toy_claims import register

from ibnorm_verify.app.config import RunConfig
from ibnorm_verify.app.publish import CSV_COLUMNS, checks_csv, draw_figures, publish
from ibnorm_verify.app.records import load_results
from ibnorm_verify.app.runner import run_claims
from ibnorm_verify.verification.evidence import Evidence
from ibnorm_verify.verification.verdict import Verdict, check_direction


@pytest.fixture
def toys(monkeypatch):
    return register(monkeypatch)


def _ev(cid: str, est: float = 1.0) -> Evidence:
    return Evidence(claim_id=cid, paper="2511.00958", title=cid, statement="s", provenance="reconstructed",
                    verdict=Verdict.SUPPORTED, reason="ok",
                    checks=[check_direction("c", est, (est - 0.1, est + 0.1), greater_than=0.0, se=0.05, dof=4,
                                            replicates=5, unit="seeds", cell={"a": 1})])


META = {"config": {"scale": "tiny", "seeds": 2, "device": "cpu"}, "environment": {"code_version": "v1"}, "claims": {}}


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        publish(tmp_path, [_ev("toy.one")], META)
    finally:
        os.umask(old)
    for name in ("results.json", "results.csv", "report.md", "report.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_csv_has_one_row_per_check():
    text = checks_csv([_ev("toy.one"), _ev("toy.two", -1.0)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 2
    assert rows[0]["claim"] == "toy.one" and rows[0]["cell"] == "a=1" and float(rows[0]["mde"]) > 0
    assert float(rows[1]["estimate"]) == -1.0 and rows[1]["verdict"] == "refuted"


def test_results_json_carries_the_schema_version(tmp_path):
    publish(tmp_path, [_ev("toy.one")], META)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"] >= 2 and data["claims"][0]["id"] == "toy.one"


def test_compatible_runs_merge_and_incompatible_ones_replace(tmp_path):
    publish(tmp_path, [_ev("toy.one")], {**META, "claims": {"toy.one": {"run_started": "A"}}})
    publish(tmp_path, [_ev("toy.two")], {**META, "claims": {"toy.two": {"run_started": "B"}}})
    evs, meta = load_results(tmp_path)
    assert [e.claim_id for e in evs] == ["toy.one", "toy.two"] and set(meta["claims"]) == {"toy.one", "toy.two"}
    assert meta["merged_from"] == ["A"]
    publish(tmp_path, [_ev("toy.two", 2.0)], {**META, "claims": {}})               # ours replace theirs
    evs, _ = load_results(tmp_path)
    assert [e.checks[0].estimate for e in evs] == [1.0, 2.0]
    other = {**META, "config": {**META["config"], "scale": "quick"}}
    publish(tmp_path, [_ev("toy.three")], other)                                  # another scale: replaced
    assert [e.claim_id for e in load_results(tmp_path)[0]] == ["toy.three"]


def test_draw_figures_moves_whole_files_and_reports_failures(tmp_path, toys, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    evs, _ = run_claims(RunConfig(claims=["toy.one"], scale="tiny", out=tmp_path / "r", quiet=True, figures=False))
    figs = draw_figures(evs, tmp_path / "figs")
    assert [f.name for f in figs.refs] == ["estimator_validation"] and figs.failed == {}
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["fig_estimator_validation.png"]
    assert stat.S_IMODE(figs.refs[0].png.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old
