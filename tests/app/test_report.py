"""report.md / report.html: a summary a reviewer reads first (one short row per claim: verdict, primary
quantity with its CI against the prediction, where it holds), "Why" with the deciding check and "and N
more", what would change an inconclusive verdict, the regime map, every check (Holm-adjusted p, MDE)
one click below; a hand-built claim (no primary, no regime map) still renders; self-contained HTML."""
from __future__ import annotations

import re

from ibnorm_verify.app.report import (
    SUMMARY_CELL_CHARS,
    FigureRef,
    FigureSet,
    check_rows,
    deciding_check,
    primary_line,
    render_html,
    render_markdown,
    summary_markdown,
    validation_rows,
    what_would_change,
    where_line,
    why_line,
)
from ibnorm_verify.verification.evidence import Evidence, Series, ValidationRow
from ibnorm_verify.verification.verdict import (
    Verdict,
    check_direction,
    check_precondition,
    check_value,
    decide,
    headline,
)


def _new_style(effects: dict, claim_id: str = "cap.normalization-exponential-reduction", se: float = 0.05) -> Evidence:
    """A converted claim: regime cells over (gain, norm), a primary part, Series, ValidationRows."""
    checks = [check_precondition("Lipschitz estimator ground-truth validation", True, "all 3 cases passed")]
    for (gain, norm), eff in effects.items():
        checks.append(check_direction(f"slope g={gain} {norm}", eff, (eff - 2 * se, eff + 2 * se), greater_than=0.0,
                                      se=se, dof=4, replicates=5, unit="seeds", part="reduction",
                                      cell={"gain": gain, "norm": norm}))
    d = decide(checks, ("gain", "norm"), "sigma > |gamma|", "reduction")
    ev = Evidence(claim_id=claim_id, paper="2511.00958", title="K normalizers divide the Lipschitz constant",
                  statement="log(Lip_unnorm/Lip_norm) grows linearly in K <when sigma > |gamma|>",
                  provenance="reconstructed", verdict=d.verdict, reason=d.reason, headline=headline(d),
                  primary=next(c.name for c in checks if c.part == "reduction"), checks=checks, regimes=d.regimes,
                  series={"log_reduction": Series("log_reduction", ("K", "seed"), {"K": [1, 2], "seed": [0, 1]},
                                                  [[0.1, 0.2], [0.3, 0.4]])},
                  validation=[ValidationRow("lipschitz", "W=2Q", 2.0, 2.0, True, "lower <= truth <= upper",
                                            lower=1.99, upper=2.01, family="exact constant")],
                  measured={"nested": {"ln/tanh@2": {"kurtosis": {"baseline": -0.6, "ib": 0.3}}}}, seeds=[0, 1, 2],
                  scale="tiny")
    return ev


def _old_style() -> Evidence:
    """A hand-built Evidence: no primary check, no regime map."""
    return Evidence(claim_id="cap.loss-smoothness", paper="2511.00958", title="Normalization smooths the loss",
                    statement="gradient and Hessian norms shrink exponentially in K", provenance="reconstructed",
                    verdict=Verdict.SUPPORTED, reason="all checks supported",
                    checks=[check_direction("grad slope", 1.2, (1.0, 1.4), greater_than=0.0)],
                    conditions={"gain": 2.0, "norm": "ln"}, seeds=[0, 1], scale="tiny",
                    validation=[ValidationRow("smoothness", "quadratic", 2.0, 2.0, True, "|error| <= 1e-6")])


def _crashed() -> Evidence:
    return Evidence(claim_id="ib.higher-ib-value", paper="2510.25262", title="IB value", statement="s",
                    provenance="paper", verdict=Verdict.INCONCLUSIVE, reason="crashed", status="crashed",
                    error="RuntimeError: boom", notes=["Traceback (most recent call last):\n  boom"])


META = {"command": "ibnorm-verify --scale tiny", "started": "2026-01-01T00:00:00", "elapsed_s": 3.0,
        "executor": "serial", "config": {"scale": "tiny", "seeds": 2, "device": "cpu"},
        "environment": {"git": {"commit": "0123456789abcdef", "dirty": True}, "code_version": "abc",
                        "versions": {"torch": "2.13.0", "ibnorm-verify": "0.2.0"}, "python": "3.11",
                        "cpu_model": "Test CPU", "cpu_count": 2, "torch_threads": 1}}


def test_summary_has_one_short_row_per_claim_with_the_primary_quantity():
    evs = [_new_style({(2.0, "ln"): 1.0, (0.5, "ln"): -1.0, (2.0, "rms"): 0.9}), _old_style(), _crashed()]
    table = summary_markdown(evs)
    lines = table.splitlines()
    assert lines[0] == "| claim | verdict | primary quantity: estimate [95% CI] vs prediction | where it holds |"
    assert len(lines) == 2 + len(evs)
    for line in lines[2:]:
        for cell in line.strip("|").split(" | "):
            assert len(cell.strip()) <= SUMMARY_CELL_CHARS + 4            # + the markdown code/badge marks
    assert "1 [0.9, 1.1] vs > 0: slope g=2.0 ln" in lines[2] and "**refuted**" in lines[2]
    assert "2 supported, 1 refuted of 3 regimes; holds when sigma > \\|gamma\\|" in lines[2]
    assert "1.2 [1, 1.4] vs > 0: grad slope" in lines[3] and "one regime (2 fixed conditions" in lines[3]
    assert "crashed: RuntimeError: boom" in lines[4]


def test_why_names_the_deciding_check_then_and_n_more():
    ev = _new_style({(0.5, "ln"): -1.0, (0.4, "ln"): -0.8, (2.0, "ln"): 1.0})
    c, more = deciding_check(ev)
    assert ev.verdict is Verdict.REFUTED and c.name == "slope g=0.5 ln" and more == 1
    assert why_line(ev).startswith("slope g=0.5 ln: CI") and "Holm-adjusted p" in why_line(ev)
    assert why_line(ev).endswith("; and 1 more")
    ok = _new_style({(2.0, "ln"): 1.0, (3.0, "ln"): 1.5})
    assert deciding_check(ok)[0].name == ok.primary and why_line(ok).endswith("; and 1 more")


def test_what_would_change_an_inconclusive_verdict():
    undecided = _new_style({(2.0, "ln"): 0.05, (3.0, "ln"): 1.0})   # CI [-0.05, 0.15] contains 0
    assert undecided.verdict is Verdict.INCONCLUSIVE
    text = what_would_change(undecided)
    n = int(re.search(r"About (\d+) seeds \(now 5\) would decide the open check", text).group(1))
    assert n > 5 and "slope g=2.0 ln" in text and "MDE" in text
    assert what_would_change(_new_style({(2.0, "ln"): 1.0})) is None             # decided: nothing to say
    guarded = _new_style({(2.0, "ln"): 1.0})
    guarded.checks[0] = check_precondition("Lipschitz estimator ground-truth validation", False, "failed: W=2Q")
    guarded.verdict = Verdict.INCONCLUSIVE
    assert "precondition Lipschitz estimator ground-truth validation must hold" in what_would_change(guarded)
    assert what_would_change(_crashed()).startswith("Fix the crash")


def test_check_table_carries_holm_adjusted_p_and_mde():
    ev = _new_style({(0.5, "ln"): -1.0, (2.0, "ln"): 1.0})
    header, rows = check_rows(ev)
    assert header[8:10] == ["p refute (Holm)", "MDE"]
    refuted = next(r for r in rows if r[0] == "slope g=0.5 ln")
    assert "raw" in refuted[8] and float(refuted[9]) > 0 and refuted[10] == "5 seeds"
    assert rows[0][1] == "precondition" and rows[0][9] == ""
    env = check_value("envelope", 0.0, (-0.1, 0.1), 0.0, abs_tol=0.5, envelope=True)
    ev.checks.append(env)
    assert check_rows(ev)[1][-1][9] == "exact"


def test_validation_rows_in_fixed_columns():
    header, rows = validation_rows(_new_style({(2.0, "ln"): 1.0}).validation)
    assert header[:5] == ["estimator", "case", "family", "truth", "estimate"] and rows[0][5] == "[1.99, 2.01]"
    header, rows = validation_rows(_old_style().validation)
    assert rows == [["smoothness", "quadratic", "", "2", "2", "", "0", "yes", "|error| <= 1e-6"]]


def test_markdown_sections_and_regime_map():
    evs = [_new_style({(2.0, "ln"): 1.0, (0.5, "ln"): -1.0, (2.0, "rms"): 0.9}), _old_style()]
    md = render_markdown(evs, META)
    assert md.index("## Summary") < md.index("## `cap.normalization-exponential-reduction`")
    assert "commit `0123456789 (dirty)`" in md and "Test CPU (2 cores, 1 torch threads)" in md
    assert "| gain \\ norm | ln | rms |" in md and "✗ refuted -1" in md
    assert "<details>" in md and "<summary>All 4 checks</summary>" in md
    assert "**What would change this verdict:**" not in md                # both claims are decided
    assert "{1 entries}" in md                                            # deep dicts are summarized, not dumped


def test_html_is_self_contained_and_collapsible(tmp_path):
    png = tmp_path / "fig_x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    figs = FigureSet([FigureRef("x", "a caption", png, "cap.loss-smoothness")], {"y": "no data"})
    evs = [_new_style({(2.0, "ln"): 0.05}), _old_style(), _crashed()]
    page = render_html(evs, META, figs)
    assert page.startswith("<!DOCTYPE html>") and '<table class="summary">' in page
    assert page.count("<details>") >= 4 and "What would change this verdict" in page
    assert "&lt;when sigma &gt; |gamma|&gt;" in page and "<when sigma" not in page          # escaped
    assert re.search(r'src="data:image/png;base64,', page) and "Figures not made" in page
    assert not re.search(r'(src|href)="(?!data:|#)', page) and "<script" not in page
    assert 'href="#claim-cap-loss-smoothness"' in page and 'class="rg-inconclusive"' in page


def test_primary_and_where_lines():
    ev = _new_style({(2.0, "ln"): 1.0})
    assert primary_line(ev) == "1 [0.9, 1.1] vs > 0: slope g=2.0 ln"
    assert where_line(ev).startswith("1 supported of 1 regimes")
    assert primary_line(_crashed()).startswith("crashed")
