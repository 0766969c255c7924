"""The tiny-scale run is shared with tests/paper_figures (same session directory): the claims run once,
the runner's claim cache serves the second user."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """``<session tmp>/tiny-run``: ``python -m ibnorm_verify.paper_figures --dry-run --out`` target; claims cached in ``_results``."""
    d = tmp_path_factory.getbasetemp() / "tiny-run"
    d.mkdir(exist_ok=True)
    return d
