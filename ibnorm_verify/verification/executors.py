"""Executors for claim sweeps: serial, local processes, or a Dask distributed cluster.

All share one interface, ``map(fn, items, progress, label, cache, namespace) -> list`` in item order,
built on :mod:`concurrent.futures` (Dask's ``Client.get_executor()`` is a
``concurrent.futures.Executor`` too). Each finished item is written to the item cache *as it
completes*, and cached items are not resubmitted, so an interrupted sweep (Ctrl-C, a crashed item, a
lost cluster) resumes where it stopped.

Specs (``--executor``): ``serial`` (default) | ``process[=N]`` (N local spawn processes) | ``dask``
(a new ``LocalCluster`` with one single-threaded worker process per core) | ``dask=ADDRESS`` (an
existing cluster's scheduler, e.g. ``tcp://10.0.0.5:8786``; its workers must have this package
installed at the same code version (:func:`ibnorm_verify.verification.cache.code_version`), checked on connect).

Dask and process workers are separate Python processes: the swept ``fn`` must be a module-level
function of an importable module, and items/results picklable. Scripts that create a ``dask`` or
``process`` executor need the usual ``if __name__ == "__main__":`` guard (processes are spawned).

Local process workers die with their parent: each one asks the kernel for SIGKILL when its parent
dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and also runs a watchdog thread that exits once its
parent pid changes (every POSIX system), so a SIGKILL of the run orphans neither the workers nor,
once they are gone, multiprocessing's resource tracker (which exits when the last holder of its pipe
does).
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Sequence

__all__ = ["Executor", "SerialExecutor", "PoolExecutor", "DaskExecutor", "make_executor", "parse_executor_spec",
           "die_with_parent", "check_reachable"]

#: how often a process worker's watchdog looks at its parent pid (seconds)
WATCHDOG_INTERVAL_S = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _watch_parent(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:  # re-parented: the run that started us is gone
            os._exit(1)
        time.sleep(interval)


def die_with_parent(parent_pid: int, interval: float = WATCHDOG_INTERVAL_S) -> None:
    """Initializer of a local worker process: end this process when ``parent_pid`` ends.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (the kernel kills us at once). Everywhere: a daemon
    thread that exits the process once ``os.getppid()`` is no longer ``parent_pid`` (the parent died
    before the prctl, or the platform has no prctl)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc symbol: the watchdog still runs
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, interval), daemon=True,
                     name="ibnorm-verify-parent-watchdog").start()


class Executor:
    name = "base"

    def map(self, fn: Callable, items: Sequence, progress: Callable[[float, str], None] | None = None,
            label: str = "job", cache: Any = None, namespace: str = "") -> list:
        """``[fn(item) for item in items]`` through this executor, using and filling ``cache``."""
        items = list(items)
        fn_name = getattr(fn, "__module__", "") + "." + getattr(fn, "__qualname__", str(fn))
        keys = [cache.key(namespace, fn_name, item) for item in items] if cache is not None else []
        results: list = [None] * len(items)
        todo = []
        for i in range(len(items)):
            if cache is not None:
                hit, val = cache.get(keys[i])
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
                cache.put(keys[i], value)
            done += 1
            report(done / max(len(items), 1), f"{label}: {done}/{len(items)}")
        return results

    def _run(self, fn: Callable, indexed: list):  # yields (index, result) as items complete
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialExecutor(Executor):
    """Runs items one after another in this process (the default; torch uses all cores itself)."""

    name = "serial"

    def _run(self, fn, indexed):
        for i, item in indexed:
            yield i, fn(item)


class PoolExecutor(Executor):
    """Wraps any ``concurrent.futures.Executor`` (a local process pool, or Dask's ``ClientExecutor``).

    If an item raises (or the caller is interrupted), the items not yet started are cancelled and the
    error propagates; the items that finished are already in the cache."""

    def __init__(self, pool: cf.Executor, name: str, owner: Sequence[Any] = (), dashboard: str | None = None):
        self.pool, self.name, self._owner, self.dashboard = pool, name, list(owner), dashboard

    def _run(self, fn, indexed):
        futures = {self.pool.submit(fn, item): i for i, item in indexed}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        try:
            if isinstance(self.pool, cf.ThreadPoolExecutor | cf.ProcessPoolExecutor):
                self.pool.shutdown(wait=True, cancel_futures=True)   # items not started are dropped at once
            else:                                                     # Dask's ClientExecutor
                self.pool.shutdown(wait=True)
        finally:
            for obj in self._owner:
                obj.close()
            self._owner = []


class DaskExecutor(PoolExecutor):
    """Runs items on a Dask distributed cluster through its ``concurrent.futures``-style client API.

    Submits with ``pure=False`` (a re-submitted item after an interruption gets a fresh task, not the
    cancelled one of the same key) and cancels the unfinished tasks on the scheduler when an item
    fails or the caller is interrupted. ``pool`` is the client's ``concurrent.futures`` executor."""

    def __init__(self, client, name: str, owner: Sequence[Any] = ()):
        super().__init__(client.get_executor(pure=False), name, owner, getattr(client, "dashboard_link", None))
        self.client = client

    def _run(self, fn, indexed):
        from dask.distributed import as_completed

        futures = {self.client.submit(fn, item, pure=False): i for i, item in indexed}
        try:
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self.client.cancel(pending)


def parse_executor_spec(spec: str | None) -> tuple[str, str]:
    """``"dask=tcp://h:8786"`` -> ``("dask", "tcp://h:8786")``; a bad spec raises ``ValueError`` (cheap,
    connects to nothing: the CLI can validate ``--executor`` before running anything)."""
    spec = (spec or "serial").strip()
    kind, sep, arg = spec.partition("=")
    kind, arg = kind.strip(), arg.strip()
    if kind not in ("serial", "process", "dask"):
        raise ValueError(f"unknown executor {spec!r}; use serial, process[=N], dask or dask=ADDRESS")
    if kind == "serial" and sep:
        raise ValueError("the serial executor takes no argument")
    if sep and not arg:
        raise ValueError(f"executor {spec!r}: nothing after '='")
    if kind == "process" and arg:
        if not arg.isdigit() or int(arg) < 1:
            raise ValueError(f"process=N needs an integer N >= 1, got {arg!r}")
    if kind == "dask" and arg and (" " in arg or ":" not in arg):
        raise ValueError(f"dask=ADDRESS needs a scheduler address like tcp://host:8786, got {arg!r}")
    return kind, arg


def check_reachable(spec: str | None, timeout: float = 3.0) -> None:
    """For ``dask=ADDRESS``: open (and close) a TCP connection to the scheduler, so that a wrong address
    is a clear ``ValueError`` before anything runs (other specs: nothing to check)."""
    import socket
    from urllib.parse import urlsplit

    kind, arg = parse_executor_spec(spec)
    if kind != "dask" or not arg:
        return
    url = urlsplit(arg if "://" in arg else f"tcp://{arg}")
    try:
        host, port = url.hostname, url.port
    except ValueError as e:
        raise ValueError(f"dask={arg}: {e}") from None
    if not host or port is None:
        raise ValueError(f"dask=ADDRESS needs a host and a port, like tcp://host:8786; got {arg!r}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"cannot reach the Dask scheduler at {arg!r}: {e.strerror or e}") from None


def _worker_code_version() -> str:  # runs on each Dask worker
    from ibnorm_verify.verification.cache import code_version

    return code_version()


def _check_workers(client) -> None:
    """The workers must run the same code as this process (else cached keys and results would lie)."""
    from .cache import code_version

    try:
        client.wait_for_workers(1, timeout=60)
        versions = client.run(_worker_code_version)
    except Exception as e:
        raise RuntimeError(f"the Dask workers cannot import this package ({type(e).__name__}: {e}); "
                           "install ibnorm-verify on every worker") from e
    if not versions:
        raise RuntimeError("the Dask cluster has no workers")
    local = code_version()
    bad = {w: v for w, v in versions.items() if v != local}
    if bad:
        raise RuntimeError(f"Dask workers run a different code version than this process ({local}): {bad}")


def make_executor(spec: str | None) -> Executor:
    """``serial`` | ``process[=N]`` | ``dask`` (a new LocalCluster) | ``dask=ADDRESS`` (e.g. tcp://host:8786)."""
    kind, arg = parse_executor_spec(spec)
    if kind == "serial":
        return SerialExecutor()
    if kind == "process":
        workers = int(arg) if arg else max(1, (os.cpu_count() or 1))
        import multiprocessing as mp

        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                      initializer=die_with_parent, initargs=(os.getpid(),))
        return PoolExecutor(pool, f"process={workers}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ValueError("--executor dask needs dask[distributed]: pip install 'ibnorm-verify[dask]'") from e
    if arg:
        try:
            client = Client(arg)  # connect timeout: dask config distributed.comm.timeouts.connect (30 s)
        except OSError as e:
            raise RuntimeError(f"cannot connect to the Dask scheduler at {arg!r}: {e}") from e
        owner: list[Any] = [client]
        try:  # someone else's workers: they must run this code (else cached keys and results would lie)
            _check_workers(client)
        except BaseException:
            client.close()
            raise
    else:
        # one single-threaded worker process per core; Dask's nanny sets OMP/MKL_NUM_THREADS=1 in workers,
        # so torch does not oversubscribe the cores. Dashboard on a free port (8787 may be taken).
        cluster = LocalCluster(n_workers=max(1, os.cpu_count() or 1), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)  # workers spawned from this interpreter and source tree: no version check
        owner = [client, cluster]
    return DaskExecutor(client, f"dask={client.scheduler.address}", owner)
