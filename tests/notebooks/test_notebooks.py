"""The three walkthrough notebooks execute end to end at the tiny scale (nbclient), show the verdict
table and draw their figures; in git their outputs are stripped."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("capacity", "information", "empirical")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_outputs_are_stripped(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_tiny_scale(name, tiny_run_dir, monkeypatch):
    monkeypatch.setenv("IBNORM_NOTEBOOK_SCALE", "tiny")
    monkeypatch.setenv("IBNORM_NOTEBOOK_RESULTS", str(tiny_run_dir / "_results"))
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "| claim | provenance | conditions | predicted | measured | verdict |" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{name}: expected the family's figures inline, got {len(images)}"
