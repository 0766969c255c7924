"""The tiny-scale run is shared with tests/test_contract.py and tests/paper_figures (the same session
directory): the claims run once, the runner's claim cache serves every later user."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """``<session tmp>/tiny-run``; the tiny-scale results and claim cache live in its ``_results``."""
    d = tmp_path_factory.getbasetemp() / "tiny-run"
    d.mkdir(exist_ok=True)
    return d
