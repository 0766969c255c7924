"""The three guided-tour notebooks: generated from notebooks/make_notebooks.py (outputs stripped in git),
each calls the public API on its own small example, and each executes end to end at the tiny scale
(nbclient), reading a finished run's results when they exist and running the claims otherwise, with
"try this" cells that re-run a claim with a changed parameter."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("capacity", "information", "empirical")
#: the public API each notebook must call on its own example (a notebook that teaches none of it is a slideshow)
API = {"capacity": ("estimate_lipschitz(", "IBLayerNorm("),
       "information": ("mutual_information(", "IBLayerNorm("),
       "empirical": ("convert_norms(", "IBLayerNorm")}


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_generated_and_stripped(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    on_disk = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert json.loads(nbformat.writes(mod.build(name, mod.FAMILIES[name]))) == json.loads(nbformat.writes(on_disk)), \
        f"{name}.ipynb differs from make_notebooks.py: run `python notebooks/make_notebooks.py`"
    for cell in on_disk.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_teaches_the_public_api(name):
    code = _code(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))
    for call in API[name]:
        assert call in code, f"{name} does not call {call}"
    assert "load_results(RESULTS)" in code and 'scale="tiny"' in code           # reads make verify, else tiny
    assert code.count("verdict_of(") >= 2                                         # runnable try-this cells
    assert "```python" not in "".join(c.source for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_tiny_scale(name, tiny_run_dir, monkeypatch):
    shared = tiny_run_dir / "_results"       # the tiny run of tests/test_contract.py (and the figure dry-run)
    monkeypatch.setenv("IBNORM_NOTEBOOK_RESULTS", str(shared))
    monkeypatch.setenv("IBNORM_NOTEBOOK_WORKDIR", str(shared))   # a claim not there yet runs into the same cache
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, "\n".join(f"{e.ename}: {e.evalue}" for e in errors)
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "| claim | verdict | primary quantity" in markdown and "*Why:*" in markdown
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name}: no figure drawn"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    try_lines = [ln for ln in text.splitlines() if ln.split("=")[0] in ("gains", "order", "lams", "require_plateau")]
    assert len(try_lines) >= 2, text[-2000:]
    verdicts = {}
    for line in try_lines:
        verdict = line.split(": ", 1)[1].split()[0]
        assert verdict in ("supported", "refuted", "inconclusive"), line
        verdicts.setdefault(line.split("=")[0], set()).add(verdict)
    assert any(len(v) > 1 for v in verdicts.values()), f"{name}: no try-this cell flips the verdict: {try_lines}"
