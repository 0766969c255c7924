"""Runtime helpers every claim worker shares: one seed-derivation scheme and a one-thread guard.

Seeds: a run has integer seeds 0..n-1 (the unit of replication); everything random inside a worker is
drawn from a generator derived from that seed and the worker's *tags* (names and values that identify
what is drawn: ``derive_seed(seed, "inputs", width)``), so two workers never share a stream by accident
and the draws do not depend on the order in which items run, on the executor or on the process.
"""
from __future__ import annotations

import functools
import hashlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch

__all__ = ["derive_seed", "torch_generator", "numpy_rng", "one_thread", "single_threaded"]

F = TypeVar("F", bound=Callable[..., Any])


def derive_seed(seed: int, *tags: Any) -> int:
    """A 63-bit seed from ``seed`` and ``tags`` (stable across processes and Python versions)."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(tags)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def torch_generator(seed: int, *tags: Any) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed`."""
    return torch.Generator().manual_seed(derive_seed(seed, *tags))


def numpy_rng(seed: int, *tags: Any) -> np.random.Generator:
    """A numpy ``Generator`` seeded with :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(seed, *tags))


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a block on one torch intra-op thread, restored afterwards.

    The sweep items of this suite are small; with two or more threads the per-op synchronization of
    such tensors costs several times the arithmetic, and the workers of a process executor would
    oversubscribe the cores.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def single_threaded(fn: F) -> F:
    """Decorator form of :func:`one_thread` for module-level sweep workers."""
    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        with one_thread():
            return fn(*a, **kw)
    return wrapper  # type: ignore[return-value]
