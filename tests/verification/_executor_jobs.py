"""Sweep functions for the executor tests: a light module (no torch import) so that spawned process
and Dask workers unpickle them quickly."""
from __future__ import annotations

import os
import time

CALLS: list = []


def square(x):
    CALLS.append(x)
    if x < 0:
        raise ValueError(f"bad item {x}")
    return {"x": x, "y": x * x, "pid": os.getpid(), "t": time.perf_counter_ns()}


def effect_item(item):
    seed, effect = item
    return effect + 0.01 * (-1) ** seed


def other_code_version() -> str:
    """Stands in for a worker that runs a different version of the package."""
    return "0000000000000000"


def sleep_item(seconds):
    """Sleeps (a long-running item, for the tests that kill the process running the sweep)."""
    time.sleep(seconds)
    return os.getpid()
