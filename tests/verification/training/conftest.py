"""Tiny models train fastest on one torch thread (and the suite runs beside other jobs)."""
import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
