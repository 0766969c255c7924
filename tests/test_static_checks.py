"""The linter and the type checker, inside the test command (their configuration is in pyproject.toml).

* ``ruff check`` (pyflakes and import order) over every Python file of the repository;
* ``mypy`` over both distributions: strict on the layers (``ibnorm``) and on the evidence contract and the
  verdict rule, the default checks elsewhere.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:  # the test extra installs both; without them the check cannot run
        pytest.fail(f"{name} is not installed: install the project with its test extra (make test)")
    return found


def test_ruff():
    r = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


@pytest.mark.slow
def test_mypy():
    r = subprocess.run([_tool("mypy"), "-p", "ibnorm", "-p", "ibnorm_verify"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
