"""The ibnorm distribution (./layer) as a user installs it: only torch and numpy, triton and the integrations
as extras, a version, typing marker, licence, citation and changelog; and (slow) a real ``pip install
./layer`` into a fresh virtual environment that pulls in nothing of the suite's stack."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ibnorm

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layer"
PYPROJECT = tomllib.loads((LAYER / "pyproject.toml").read_text())
#: what the suite needs and the layer must not pull in
SUITE_ONLY = ("sympy", "scipy", "matplotlib", "triton")


def _req_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()


def test_layer_declares_only_torch_and_numpy():
    project = PYPROJECT["project"]
    assert sorted(_req_name(r) for r in project["dependencies"]) == ["numpy", "torch"]
    extras = project["optional-dependencies"]
    assert [_req_name(r) for r in extras["triton"]] == ["triton"]
    assert {_req_name(r) for reqs in extras.values() for r in reqs} == {"triton", "transformers", "timm"}


def test_version_is_one_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", ibnorm.__version__)
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ibnorm.__version__"}
    assert f"## ibnorm {ibnorm.__version__}" in (ROOT / "CHANGELOG.md").read_text()
    assert f"version: {ibnorm.__version__}" in (ROOT / "CITATION.cff").read_text()


def test_licence_typing_marker_and_citation():
    assert (LAYER / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"] and PYPROJECT["project"]["license"] == "MIT"
    assert (LAYER / "ibnorm" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["ibnorm"]
    text = (ROOT / "CITATION.cff").read_text()
    assert "arXiv:2510.25262" in text and "arXiv:2511.00958" in text
    yaml = pytest.importorskip("yaml", reason="PyYAML parses CITATION.cff; the text checks above ran")
    cff = yaml.safe_load(text)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    assert [r["authors"][0]["family-names"] for r in cff["references"]] == ["Zou", "Than"]


def test_import_does_not_load_the_optional_packages():
    code = ("import sys, ibnorm; print(','.join(m for m in ('transformers', 'timm', 'torchvision', 'scipy', "
            "'matplotlib', 'ibnorm_verify') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(LAYER)})
    assert out.stdout.strip() == ""


def _pip_names(python: Path) -> set[str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return {line.split("==")[0].lower().replace("_", "-") for line in out.splitlines() if "==" in line}


@pytest.mark.slow
def test_pip_install_layer_into_a_fresh_venv(tmp_path):
    """``pip install ./layer`` into a venv that holds only torch adds ibnorm (and numpy, if torch lacks it),
    nothing of sympy/scipy/matplotlib/triton beyond what torch brought, and the layer works there."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no system site packages
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    torch_spec = os.environ.get("IBNORM_TEST_TORCH_SPEC", f"torch=={torch.__version__.split('+')[0]}")
    subprocess.run(pip + [torch_spec], check=True, timeout=900)
    with_torch = _pip_names(python)
    subprocess.run(pip + [str(LAYER)], check=True, timeout=600, cwd=tmp_path)
    with_layer = _pip_names(python)
    added = with_layer - with_torch
    assert "ibnorm" in added and added <= {"ibnorm", "numpy"}, added
    assert not set(SUITE_ONLY) & added
    assert not {"scipy", "matplotlib", "triton", "ibnorm-verify"} & with_layer  # a CPU torch needs none of them
    check = textwrap.dedent("""
        import sys, torch, ibnorm
        y = ibnorm.IBLayerNorm(8)(torch.randn(2, 8))
        assert y.shape == (2, 8) and torch.isfinite(y).all()
        assert ibnorm.__file__.startswith(sys.prefix), ibnorm.__file__  # the installed copy, not the checkout
        print(ibnorm.__version__)
    """)
    out = subprocess.run([str(python), "-c", check], capture_output=True, text=True, cwd=tmp_path,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ibnorm.__version__
