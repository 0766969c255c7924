"""Executors: serial / local processes / a real Dask LocalCluster, in item order, with the item cache
resuming an interrupted sweep (Ctrl-C or a crashed item) without recomputing finished items; local
process workers (and the resource tracker) end when the run that started them is SIGKILLed."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _executor_jobs import CALLS
from _executor_jobs import effect_item as _effect_item
from _executor_jobs import other_code_version as _other_code_version
from _executor_jobs import square as _square  # module-level, picklable, no torch import on the workers

from ibnorm_verify.app.runner import RunConfig, run_claims
from ibnorm_verify.verification.cache import ItemCache, code_version
from ibnorm_verify.verification.claims import REGISTRY
from ibnorm_verify.verification.claims.base import Claim, Context, Param
from ibnorm_verify.verification.executors import PoolExecutor, SerialExecutor, make_executor, parse_executor_spec
from ibnorm_verify.verification.stats import mean_ci
from ibnorm_verify.verification.verdict import check_value


class _Interrupt:
    """A progress callback that raises KeyboardInterrupt (a Ctrl-C) once ``after`` items are done."""

    def __init__(self, after: int):
        self.after = after

    def __call__(self, frac, msg):
        if "from cache" not in msg and int(msg.split(": ")[-1].split("/")[0]) >= self.after:
            raise KeyboardInterrupt


def _cached(cache, items, ns="t"):
    fn_name = f"{_square.__module__}.{_square.__qualname__}"
    return [cache.get(cache.key(ns, fn_name, i))[0] for i in items]


# ----------------------------------------------------------------------------- spec parsing
@pytest.mark.parametrize("spec,expected", [(None, ("serial", "")), ("serial", ("serial", "")),
                                           ("process", ("process", "")), ("process=3", ("process", "3")),
                                           ("dask", ("dask", "")), ("dask=tcp://10.0.0.5:8786", ("dask", "tcp://10.0.0.5:8786"))])
def test_parse_executor_spec(spec, expected):
    assert parse_executor_spec(spec) == expected


@pytest.mark.parametrize("spec", ["threads", "process=0", "process=x", "serial=2", "dask=", "dask=nohost"])
def test_bad_executor_spec_is_a_value_error(spec):
    with pytest.raises(ValueError):
        make_executor(spec)


# ----------------------------------------------------------------------------- serial + cache
def test_serial_map_keeps_order_and_fills_the_cache(tmp_path):
    cache = ItemCache(tmp_path)
    CALLS.clear()
    out = SerialExecutor().map(_square, [3, 1, 2], cache=cache, namespace="t")
    assert [r["y"] for r in out] == [9, 1, 4]
    assert _cached(cache, [3, 1, 2]) == [True, True, True]
    CALLS.clear()
    again = SerialExecutor().map(_square, [3, 1, 2], cache=cache, namespace="t")
    assert CALLS == [] and again == out


def test_serial_sweep_resumes_after_ctrl_c(tmp_path):
    cache, items = ItemCache(tmp_path), list(range(6))
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        SerialExecutor().map(_square, items, progress=_Interrupt(3), cache=cache, namespace="t")
    assert _cached(cache, items) == [True] * 3 + [False] * 3
    first = SerialExecutor().map(_square, items[:3], cache=cache, namespace="t")
    CALLS.clear()
    msgs = []
    out = SerialExecutor().map(_square, items, progress=lambda f, m: msgs.append(m), cache=cache, namespace="t")
    assert CALLS == [3, 4, 5]                       # only the unfinished items are computed
    assert out[:3] == first and [r["y"] for r in out] == [i * i for i in items]
    assert msgs[0] == "job: 3/6 from cache"


def test_a_crashed_item_keeps_the_finished_ones(tmp_path):
    cache = ItemCache(tmp_path)
    with pytest.raises(ValueError, match="bad item -1"):
        SerialExecutor().map(_square, [0, 1, -1, 3], cache=cache, namespace="t")
    assert _cached(cache, [0, 1, -1, 3]) == [True, True, False, False]


# ----------------------------------------------------------------------------- processes
def test_process_pool_map(tmp_path):
    with make_executor("process=2") as ex:
        assert isinstance(ex, PoolExecutor) and ex.name == "process=2"
        out = ex.map(_square, [4, 5, 6], cache=ItemCache(tmp_path), namespace="t")
    assert [r["y"] for r in out] == [16, 25, 36]
    assert all(r["pid"] != os.getpid() for r in out)


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(x) for x in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(pred, timeout: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc (Linux)")
def test_process_workers_die_with_a_sigkilled_parent():
    """A run with --executor process=2 is SIGKILLed mid-sweep: its workers and multiprocessing's resource
    tracker must not outlive it (they did for 12+ minutes before the workers watched their parent)."""
    here = Path(__file__).resolve().parent
    root = here.parents[1]
    code = ("import sys; from ibnorm_verify.verification.executors import make_executor; import _executor_jobs as j; "
            "ex = make_executor('process=2'); ex.map(j.sleep_item, [120, 120, 120])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(root), str(root / "layer")])}
    p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=root)
    try:
        assert _until(lambda: len(_children(p.pid)) >= 3, 120), "no tracker and two workers"
        time.sleep(1.5)                               # the workers have run their initializer
        kids = _children(p.pid)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    assert _until(lambda: not any(_alive(k) for k in kids), 20), \
        f"still alive after the parent's SIGKILL: {[k for k in kids if _alive(k)]}"


def test_die_with_parent_watchdog_exits_an_orphan(tmp_path):
    """The watchdog alone (no prctl): a grandchild whose parent exits ends within a second."""
    here = Path(__file__).resolve().parent
    root = here.parents[1]
    pidfile = tmp_path / "pid"
    child = ("import os, sys, time; from ibnorm_verify.verification import executors as e; "
             "e.sys.platform = 'not-linux'; e.die_with_parent(os.getppid(), 0.1); "
             f"open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    parent = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); "
              f"time.sleep(0.1)\nimport pathlib\nwhile not pathlib.Path({str(pidfile)!r}).exists(): time.sleep(0.1)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "layer")])}
    subprocess.run([sys.executable, "-c", parent], env=env, cwd=root, timeout=120, check=True)
    pid = int(pidfile.read_text())
    assert _until(lambda: not _alive(pid), 10), "the orphaned worker kept running"


# ----------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def dask_executor():
    pytest.importorskip("dask.distributed")
    ex = make_executor("dask")          # a real LocalCluster, one single-threaded worker process per core
    yield ex
    ex.close()


def test_dask_local_cluster_map(dask_executor, tmp_path):
    assert dask_executor.name.startswith("dask=tcp://")
    out = dask_executor.map(_square, list(range(8)), cache=ItemCache(tmp_path), namespace="t")
    assert [r["y"] for r in out] == [i * i for i in range(8)]
    assert all(r["pid"] != os.getpid() for r in out)       # ran in the cluster's worker processes


def test_dask_sweep_resumes_from_the_item_cache(dask_executor, tmp_path):
    cache, items = ItemCache(tmp_path), list(range(10))
    with pytest.raises(KeyboardInterrupt):
        dask_executor.map(_square, items, progress=_Interrupt(4), cache=cache, namespace="t")
    done = [i for i, hit in zip(items, _cached(cache, items)) if hit]
    assert len(done) >= 4
    before = {i: cache.get(cache.key("t", f"{_square.__module__}.{_square.__qualname__}", i))[1] for i in done}
    out = dask_executor.map(_square, items, cache=cache, namespace="t")
    assert [r["y"] for r in out] == [i * i for i in items]
    for i in done:                                          # the finished items were not recomputed
        assert out[i] == before[i]


def test_dask_address_connects_to_an_existing_cluster(dask_executor):
    code_version.cache_clear()   # the shared dev tree may have changed since this process hashed it
    address = dask_executor.name.split("=", 1)[1]
    with make_executor(f"dask={address}") as ex:
        assert ex.name == f"dask={address}"
        assert [r["y"] for r in ex.map(_square, [7, 8])] == [49, 64]
    assert [r["y"] for r in dask_executor.map(_square, [2])] == [4]   # closing the client left the cluster up


def test_dask_crashed_item_propagates(dask_executor, tmp_path):
    with pytest.raises(ValueError, match="bad item -1"):
        dask_executor.map(_square, [0, -1], cache=ItemCache(tmp_path), namespace="t")


def test_unreachable_scheduler_is_a_clear_error():
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(RuntimeError, match="cannot connect"):
            make_executor("dask=tcp://127.0.0.1:9")


# ----------------------------------------------------------------------------- a claim's sweep through the runner
class SweepClaim(Claim):
    """A toy claim whose sweep goes through ``ctx.map`` (as every real claim's main sweep does)."""

    id = "test.sweep"
    paper = "none"
    title = "toy sweep"
    statement = "effect = 1"
    provenance = "reconstructed"
    params = (Param("effect", 1.0),)

    def run(self, ctx: Context):
        values = ctx.map(_effect_item, [(s, ctx["effect"]) for s in ctx.seeds], label="seeds")
        m, ci = mean_ci(values)
        return self.evidence(ctx, [check_value("effect", m, ci, 1.0, abs_tol=0.1)], measured={"effect": m, "values": values})


def test_run_claims_with_executor_dask(monkeypatch, tmp_path, dask_executor):
    claim = SweepClaim()
    monkeypatch.setitem(REGISTRY, claim.id, claim)
    code_version.cache_clear()
    address = dask_executor.name.split("=", 1)[1]
    evidence, meta = run_claims(RunConfig(claims=[claim.id], scale="quick", seeds=4, out=tmp_path,
                                          executor=f"dask={address}", quiet=True))
    assert meta["executor"] == f"dask={address}"
    assert evidence[0].verdict.value == "supported" and len(evidence[0].measured["values"]) == 4
    items = list((tmp_path / "cache" / "items" / claim.id).glob("*.pkl"))
    assert len(items) == 4                                   # every sweep item cached for a resume
    assert math.isclose(evidence[0].measured["effect"], 1.0)


def test_workers_running_other_code_are_refused(dask_executor, monkeypatch):
    import ibnorm_verify.verification.executors as ex_mod

    address = dask_executor.name.split("=", 1)[1]
    monkeypatch.setattr(ex_mod, "_worker_code_version", _other_code_version)   # light module: fast on workers
    with pytest.raises(RuntimeError, match="different code version"):
        make_executor(f"dask={address}")



def test_a_real_claim_sweep_runs_on_dask(dask_executor, tmp_path):
    """The claim's own sweep function (ibnorm_verify.verification.claims.capacity.lipschitz_point) on the cluster's workers."""
    code_version.cache_clear()
    address = dask_executor.name.split("=", 1)[1]
    cid = "cap.normalization-exponential-reduction"
    evidence, meta = run_claims(RunConfig(claims=[cid], scale="tiny", out=tmp_path, executor=f"dask={address}",
                                          quiet=True))
    assert meta["executor"] == f"dask={address}"
    assert evidence[0].ok, evidence[0].notes
    assert len(list((tmp_path / "cache" / "items" / cid).glob("*.pkl"))) > 0
