"""report.md / report.html: the verdict table, the estimator-validation tables, figures inline; the
html file is self-contained (inline CSS, base64 PNGs, nothing fetched)."""
from __future__ import annotations

import base64
import json
import re

import pytest

from ibnorm_verify.app.report import (
    load_results,
    readme_section,
    render_html,
    render_markdown,
    validation_tables,
    verdict_table,
    write_outputs,
    write_report,
)
from ibnorm_verify.verification.evidence import Evidence
from ibnorm_verify.verification.verdict import Verdict, check_direction, check_value


def _smoothness_evidence() -> Evidence:
    ks, seeds = [1, 2, 3], [0, 1]
    arrays = {"K": ks, "seeds": seeds}
    for q, base in (("grad", 3.0), ("hessian", 5.0)):
        arrays[f"log_{q}_norm"] = [[base - k + 0.1 * s for k in ks] for s in seeds]
        arrays[f"log_{q}_norm_unnorm"] = [[base + k for k in ks] for _ in seeds]
    return Evidence(
        claim_id="cap.loss-smoothness", paper="2511.00958", title="Normalization smooths the loss",
        statement="gradient and Hessian norms shrink <exponentially> in K", provenance="reconstructed",
        verdict=Verdict.SUPPORTED, reason="all checks supported",
        measured={"grad log-ratio slope": {"estimate": 1.2, "ci": [1.0, 1.4]}}, predicted={"sign of the slopes": "> 0"},
        checks=[check_direction("grad slope", 1.2, (1.0, 1.4), greater_than=0.0)],
        conditions={"gain": 2.0, "norm": "ln"}, seeds=seeds, scale="tiny", arrays=arrays,
        validation=[{"estimator": "smoothness", "case": "quadratic", "exact": 2.0, "estimate": 2.0, "passed": True}])


def _refuted_without_arrays() -> Evidence:
    return Evidence(claim_id="cap.training-statistics", paper="2511.00958", title="Variances grow",
                    statement="variances grow", provenance="reconstructed", verdict=Verdict.REFUTED,
                    reason="var-growth refuted", checks=[check_value("rate", 2.0, (1.9, 2.1), 1.0, abs_tol=0.1)],
                    measured={"rate": 2.0}, predicted={"rate": 1.0}, conditions={"eps": 1e-5}, seeds=[0])


META = {"scale": "tiny", "device": "cpu", "executor": "serial", "code_version": "abc", "command": "ibnorm-verify --scale tiny",
        "started": "2026-01-01T00:00:00", "elapsed_s": 3.0}


def test_verdict_table_columns_and_rows():
    table = verdict_table([_smoothness_evidence(), _refuted_without_arrays()])
    lines = table.splitlines()
    assert lines[0] == "| claim | provenance | conditions | predicted | measured | verdict |"
    assert "`cap.loss-smoothness`" in lines[2] and lines[2].endswith("| supported |")
    assert "**refuted**" in lines[3] and "rate=1" in lines[3] and "rate=2" in lines[3]


def test_validation_tables_list_the_ground_truth_rows():
    md = validation_tables([_smoothness_evidence(), _refuted_without_arrays()])
    assert "### `cap.loss-smoothness`" in md and "| estimator | case | exact | estimate | passed |" in md
    assert "cap.training-statistics" not in md
    assert "No claim" in validation_tables([_refuted_without_arrays()])


def test_write_outputs_is_cheap_and_complete(tmp_path):
    evs = [_smoothness_evidence(), _refuted_without_arrays()]
    write_outputs(tmp_path, evs, META)
    assert not (tmp_path / "figures").exists()                       # no figures on the per-claim path
    md = (tmp_path / "report.md").read_text()
    assert "## Verdicts" in md and "## Estimator validation" in md and "1 supported, 1 refuted, 0 inconclusive" in md
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "&lt;exponentially&gt;" in html and "<exponentially>" not in html     # escaped
    back, meta = load_results(tmp_path)
    assert [e.claim_id for e in back] == ["cap.loss-smoothness", "cap.training-statistics"]
    assert back[0].arrays == evs[0].arrays and meta["command"] == META["command"]


def test_write_report_embeds_the_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png,pdf")
    evs = [_smoothness_evidence(), _refuted_without_arrays()]
    out = write_report(tmp_path, evs, META)
    assert sorted(p.name for p in out["figures"]) == ["fig_estimator_validation.png", "fig_loss_smoothness.png"]
    assert (tmp_path / "figures" / "fig_loss_smoothness.pdf").exists()
    assert "training_statistics" in out["figures_failed"]                # ran, but no arrays: said why
    md = out["markdown"].read_text()
    assert "![loss_smoothness](figures/fig_loss_smoothness.png)" in md
    assert "## Figures not made" in md and "cap.training-statistics" in md
    html = out["html"].read_text()
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == 2 and all(base64.b64decode(u)[:8] == b"\x89PNG\r\n\x1a\n" for u in uris)
    # the claim's figure sits in its section, the validation figure in the validation section
    assert html.index('id="fig-loss_smoothness"') < html.index('id="estimator-validation"') < \
        html.index('id="fig-estimator_validation"')
    # self-contained: nothing is fetched (no external src/href, no scripts)
    assert not re.search(r'(src|href)="(?!data:|#)', html) and "<script" not in html
    assert json.loads(out["results"].read_text())["claims"][0]["id"] == "cap.loss-smoothness"


def test_write_report_for_claims_without_figures_draws_nothing(tmp_path):
    ev = _refuted_without_arrays()
    ev.claim_id = "test.toy"                       # no figure reads this claim
    out = write_report(tmp_path, [ev], META)
    assert out["figures"] == [] and out["figures_failed"] == {}
    assert "Figures not made" not in out["markdown"].read_text()


def test_write_report_without_figures(tmp_path):
    out = write_report(tmp_path, [_smoothness_evidence()], META, figures=False)
    assert out["figures"] == [] and not (tmp_path / "figures").exists()
    assert "data:image/png" not in out["html"].read_text()


def test_renderers_agree_on_the_claims():
    evs = [_smoothness_evidence(), _refuted_without_arrays()]
    md, html = render_markdown(evs, META), render_html(evs, META)
    for ev in evs:
        assert ev.claim_id in md and ev.claim_id in html
        assert ev.verdict.value in html
    assert 'class="v v-refuted"' in html and 'href="#claim-cap-training-statistics"' in html


def test_readme_section_shows_the_command_and_table():
    s = readme_section([_smoothness_evidence()], META)
    assert "    ibnorm-verify --scale tiny" in s and "| claim | provenance |" in s


def test_load_results_missing_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        load_results(tmp_path)
