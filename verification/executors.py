"""Executors for claim sweeps: serial, local processes, or a Dask distributed cluster.

All three share one interface, ``map(fn, items, progress, label, cache, namespace) -> list`` in item
order, built on :mod:`concurrent.futures` (Dask's ``Client.get_executor()`` is a
``concurrent.futures.Executor`` too). Cached items are not resubmitted.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
from typing import Any, Callable, Sequence

__all__ = ["Executor", "SerialExecutor", "PoolExecutor", "make_executor"]


class Executor:
    name = "base"

    def _submit_all(self, fn: Callable, items: Sequence) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def map(self, fn: Callable, items: Sequence, progress: Callable[[float, str], None] | None = None,
            label: str = "job", cache: Any = None, namespace: str = "") -> list:
        items = list(items)
        results: list = [None] * len(items)
        todo = []
        for i, item in enumerate(items):
            if cache is not None:
                hit, val = cache.get(cache.key(namespace, getattr(fn, "__qualname__", str(fn)), item))
                if hit:
                    results[i] = val
                    continue
            todo.append(i)
        done = len(items) - len(todo)
        report = progress or (lambda f, m: None)
        if done:
            report(done / max(len(items), 1), f"{label}: {done}/{len(items)} from cache")
        for i, value in self._run(fn, [(i, items[i]) for i in todo]):
            results[i] = value
            if cache is not None:
                cache.put(cache.key(namespace, getattr(fn, "__qualname__", str(fn)), items[i]), value)
            done += 1
            report(done / max(len(items), 1), f"{label}: {done}/{len(items)}")
        return results

    def _run(self, fn: Callable, indexed: list):  # yields (index, result) as they complete
        raise NotImplementedError

    def close(self) -> None:
        pass


class SerialExecutor(Executor):
    """Runs items one after another in this process (the default; torch uses all cores itself)."""

    name = "serial"

    def _run(self, fn, indexed):
        for i, item in indexed:
            yield i, fn(item)


class PoolExecutor(Executor):
    """Wraps any ``concurrent.futures.Executor`` (a local process pool, or Dask's)."""

    def __init__(self, pool: cf.Executor, name: str, owner: Any = None):
        self.pool, self.name, self._owner = pool, name, owner

    def _run(self, fn, indexed):
        futures = {self.pool.submit(fn, item): i for i, item in indexed}
        for fut in cf.as_completed(futures):
            yield futures[fut], fut.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        if self._owner is not None:
            for obj in self._owner:
                obj.close()


def make_executor(spec: str | None) -> Executor:
    """``serial`` | ``process[=N]`` | ``dask`` (a new LocalCluster) | ``dask=ADDRESS`` (e.g. tcp://host:8786)."""
    spec = (spec or "serial").strip()
    kind, _, arg = spec.partition("=")
    if kind == "serial":
        return SerialExecutor()
    if kind == "process":
        workers = int(arg) if arg else max(1, (os.cpu_count() or 1))
        if workers < 1:
            raise ValueError("process=N needs N >= 1")
        import multiprocessing as mp

        return PoolExecutor(cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")),
                            f"process={workers}")
    if kind == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ValueError("--executor dask needs dask[distributed]: pip install 'ibnorm-verify[dask]'") from e
        if arg:
            client = Client(arg)
            owner = [client]
        else:
            cluster = LocalCluster(n_workers=max(1, min(2, os.cpu_count() or 1)), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
            owner = [client, cluster]
        return PoolExecutor(client.get_executor(), f"dask={client.scheduler.address}", owner)
    raise ValueError(f"unknown executor {spec!r}; use serial, process[=N], dask or dask=ADDRESS")
