"""A screenshot-level check of report.html in a real browser (headless Chromium; skipped without one).

The report is rendered at a laptop-sized window (1280 px wide); a measuring script, added to a copy of
the page only (the report itself has no scripts), counts the rendered text lines of every summary-table
cell: none may exceed ``MAX_LINES``. A screenshot of the page is saved beside it for a human look.
Debian: ``apt-get install -y chromium``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from ibnorm_verify.app.publish import publish
from ibnorm_verify.verification.evidence import Evidence
from ibnorm_verify.verification.verdict import check_direction, check_precondition, decide, headline

MAX_LINES = 4
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome on PATH (apt-get install -y chromium)")

_MEASURE = """<script>
window.addEventListener('load', () => {
  const rows = [...document.querySelectorAll('table.summary tbody tr')];
  const out = rows.map(r => [...r.cells].map(td => {
    const range = document.createRange(); range.selectNodeContents(td);
    const lh = parseFloat(getComputedStyle(td).lineHeight);
    return {lines: Math.round(range.getBoundingClientRect().height / lh), text: td.textContent.slice(0, 60)};
  }));
  const pre = document.createElement('pre'); pre.id = 'ibv-measure'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _wordy_claim(i: int) -> Evidence:
    """A claim as long-winded as the real ones: long check names with regime coordinates, many regimes,
    a nested measured dict, a long statement and conditions."""
    axes = ("activation", "init", "architecture", "grouping", "gain", "state")
    checks = [check_precondition("Lipschitz estimator ground-truth validation", True, "all 12 cases passed")]
    for j, gain in enumerate((2.0, 0.5, 1.5, 3.0, 1.2)):
        cell = {"activation": "relu", "init": "gaussian", "architecture": ["mlp", "resnet", "transformer"][j % 3],
                "grouping": "layer", "gain": gain, "state": "trained"}
        est = (gain - 1.0) * 0.9
        name = "exponential reduction in K [" + ", ".join(f"{k}={v}" for k, v in cell.items()) + "]"
        checks.append(check_direction(name, est, (est - 0.4, est + 0.4), greater_than=0.0, se=0.2, dof=4,
                                      replicates=5, unit="seed", part="reduction", cell=cell))
    d = decide(checks, axes, "sigma_j > |gamma_j| (gain > 1 for normalizers after layers of gain g) " * 2, "reduction")
    return Evidence(claim_id=f"cap.a-very-long-claim-identifier-number-{i}", paper="2511.00958",
                    title="K normalizers divide the Lipschitz constant by about the product of their input std devs",
                    statement="Inserting K normalizers divides the input-Lipschitz constant " * 6,
                    provenance="reconstructed", verdict=d.verdict, reason=d.reason, headline=headline(d),
                    primary=checks[1].name, checks=checks, regimes=d.regimes,
                    measured={f"ln/tanh@{k}": {"kurtosis": {"baseline": -0.6, "ib": 0.3}} for k in range(40)},
                    conditions={f"condition {k}": "a long description of a fixed setting " * 3 for k in range(8)})


def test_no_summary_cell_runs_longer_than_a_few_lines(tmp_path):
    evidence = [_wordy_claim(i) for i in range(12)]
    publish(tmp_path, evidence, {"config": {"scale": "quick", "seeds": 5, "device": "cpu"}})
    page = (tmp_path / "report.html").read_text()
    assert "<script" not in page
    probe = tmp_path / "measure.html"
    probe.write_text(page.replace("</body>", _MEASURE + "</body>"))
    args = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1024",
            "--virtual-time-budget=5000"]
    dom = subprocess.run(args + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'<pre id="ibv-measure">(.*?)</pre>', dom, re.S)
    assert m, f"the browser returned no measurement (stdout head: {dom[:300]!r})"
    cells = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert len(cells) == 12 and all(len(row) == 4 for row in cells)
    too_long = [(c["text"], c["lines"]) for row in cells for c in row if c["lines"] > MAX_LINES]
    assert not too_long, f"summary cells longer than {MAX_LINES} lines: {too_long}"
    subprocess.run(args + [f"--screenshot={tmp_path / 'report.png'}", (tmp_path / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
