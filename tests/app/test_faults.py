"""Faults injected into runs, and the guarantees that must stay true.

Heal: invalid claim-cache and item-cache entries (``[]``, ``null``, truncated JSON, a pickled bare
``None``, an entry written for another key) are recomputed with the right numbers; two concurrent runs
of different claims into one --out keep both runs' claims; a double Ctrl-C exits 130 at once and its
process workers end with it (a SIGKILLed process executor: tests/verification/test_executors.py).
Keep: every interruption point leaves a valid results.json with every finished claim; a resumed run
equals an uninterrupted one; the same seeds give identical results.
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _toy_claims import TOYS, register

from ibnorm_verify.app import publish as publish_mod
from ibnorm_verify.app import runner as runner_mod
from ibnorm_verify.app.config import RunConfig
from ibnorm_verify.app.records import load_results
from ibnorm_verify.app.runner import run_claims
from ibnorm_verify.verification.io import atomic_write_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IDS = ["toy.one", "toy.two", "toy.three"]


@pytest.fixture
def toys(monkeypatch):
    return register(monkeypatch)


def _cfg(out, **kw) -> RunConfig:
    base = dict(claims=IDS, scale="tiny", seeds=3, out=out, quiet=True, figures=False)
    base.update(kw)
    return RunConfig(**base)


def _numbers(evs) -> list:
    """What must not change between equivalent runs: verdicts, checks, series, validation."""
    out = []
    for ev in evs:
        d = ev.to_dict()
        out.append({k: d[k] for k in ("id", "verdict", "reason", "checks", "series", "validation", "measured",
                                      "regimes", "headline")})
    return out


def _valid(out: Path) -> list[str]:
    evs, meta = load_results(out)
    assert meta["config"]["scale"] == "tiny"
    return [e.claim_id for e in evs]


# ------------------------------------------------------------------------------------ caches that heal
def _claim_files(out: Path) -> list[Path]:
    return sorted((out / "cache" / "claims").glob("*.json"))


def _item_files(out: Path) -> list[Path]:
    return sorted((out / "cache" / "items").rglob("*.pkl"))


@pytest.mark.parametrize("bad", ["[]", "null", "{", '{"cache_format": 2, "key": "other", "evidence": {}}', ""])
def test_invalid_claim_cache_entries_are_recomputed(bad, toys, tmp_path):
    ref = _numbers(run_claims(_cfg(tmp_path / "ref", claims=["toy.one"]))[0])
    out = tmp_path / "run"
    run_claims(_cfg(out, claims=["toy.one"]))
    for f in _claim_files(out):
        f.write_text(bad)
    (ev,), _ = run_claims(_cfg(out, claims=["toy.one"]))
    assert not ev.cached and _numbers([ev]) == ref
    assert all(json.loads(f.read_text())["cache_format"] for f in _claim_files(out))     # rewritten, valid


@pytest.mark.parametrize("bad", [pickle.dumps(None), pickle.dumps([]), b"\x80\x04\x95", b"",
                                 pickle.dumps({"cache_format": 2, "key": "elsewhere", "value": 1.0})])
def test_invalid_item_cache_entries_are_recomputed(bad, toys, tmp_path):
    ref = _numbers(run_claims(_cfg(tmp_path / "ref", claims=["toy.one"], use_cache=False))[0])
    out = tmp_path / "run"
    run_claims(_cfg(out, claims=["toy.one"]))
    for f in _claim_files(out):
        f.unlink()                                   # the claim is recomputed from its (broken) items
    items = _item_files(out)
    assert len(items) == 6
    for f in items:
        f.write_bytes(bad)
    (ev,), _ = run_claims(_cfg(out, claims=["toy.one"]))
    assert _numbers([ev]) == ref
    assert all(pickle.loads(f.read_bytes())["key"] == f.stem for f in _item_files(out))


# ------------------------------------------------------------------------------------ interruption
@pytest.mark.parametrize("after", [1, 2])
def test_interrupted_between_claims_keeps_every_finished_claim_and_resumes_identically(after, toys, tmp_path):
    ref = _numbers(run_claims(_cfg(tmp_path / "ref"))[0])

    def stop(results, meta):
        if len(results) == after:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_claims(_cfg(out), on_update=stop)
    assert _valid(out) == IDS[:after]
    evs, _ = run_claims(_cfg(out))
    assert [e.cached for e in evs] == [True] * after + [False] * (3 - after)
    assert _numbers(evs) == ref


def test_interrupted_inside_a_sweep_resumes_from_the_item_cache(toys, tmp_path, monkeypatch):
    ref = _numbers(run_claims(_cfg(tmp_path / "ref"))[0])
    out = tmp_path / "run"
    calls, armed = [], [True]
    real = TOYS["toy.two"].worker

    def flaky(item):
        calls.append(item)
        if armed[0] and len(calls) == 9:   # toy.one's 6 items done, then 2 of toy.two's 6: Ctrl-C on the 3rd
            armed[0] = False
            raise KeyboardInterrupt
        return real(item)

    import _toy_claims

    monkeypatch.setattr(_toy_claims, "worker", flaky)
    monkeypatch.setattr(type(TOYS["toy.two"]), "worker", staticmethod(flaky))
    with pytest.raises(KeyboardInterrupt):
        run_claims(_cfg(out))
    assert _valid(out) == ["toy.one"] and len(_item_files(out)) == 8
    calls.clear()
    evs, _ = run_claims(_cfg(out))
    assert len(calls) == 4 + 6                         # toy.two's 4 unfinished items, toy.three's 6
    assert _numbers(evs) == ref


def test_interrupted_while_writing_keeps_the_previous_results_file(toys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = atomic_write_text
    writes = []

    def crash_on_second_results_json(path, text):
        if Path(path).name == "results.json":
            writes.append(path)
            if len(writes) == 2:
                Path(path).with_name(".results.json.partial.tmp").write_text(text[: len(text) // 2])
                raise KeyboardInterrupt
        return real(path, text)

    monkeypatch.setattr(publish_mod, "atomic_write_text", crash_on_second_results_json)
    with pytest.raises(KeyboardInterrupt):
        run_claims(_cfg(out))
    assert _valid(out) == ["toy.one"]


def test_interrupted_while_drawing_figures_keeps_every_claim(toys, tmp_path, monkeypatch):
    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "draw_figures", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_claims(_cfg(tmp_path, figures=True))
    assert _valid(tmp_path) == IDS


def test_same_seeds_give_identical_results(toys, tmp_path):
    a = run_claims(_cfg(tmp_path / "a", use_cache=False))[0]
    b = run_claims(_cfg(tmp_path / "b", use_cache=False))[0]
    assert _numbers(a) == _numbers(b)
    c = run_claims(_cfg(tmp_path / "c", use_cache=False, seeds=4))[0]
    assert _numbers(c) != _numbers(a)


# ------------------------------------------------------------------------------------ processes
def _toy_cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), str(ROOT / "layer")]),
           "OMP_NUM_THREADS": "1", "PAPER_FIGURES_FORMATS": "png"}
    code = "import sys, _toy_claims; sys.exit(_toy_claims.main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(pred, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc (Linux)")
def test_double_ctrl_c_exits_130_at_once(tmp_path):
    p = _toy_cli(["--claims", "toy.one", "--param", "delay=60", "--executor", "process=1", "--out", str(tmp_path),
                  "--quiet", "--no-figures"])
    try:
        _wait_for(lambda: len(_children(p.pid)) >= 2, 120, "a worker")
        time.sleep(1.0)
        kids = _children(p.pid)
        p.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert p.poll() is None                     # the first Ctrl-C waits for the running item ...
        p.send_signal(signal.SIGINT)                # ... the second one does not
        assert p.wait(30) == 130
    finally:
        if p.poll() is None:
            p.kill()
    assert "interrupted twice" in p.stderr.read()
    _wait_for(lambda: not any(_alive(k) for k in kids), 20, "the workers to end")


@pytest.mark.slow
def test_concurrent_runs_into_one_out_merge_their_claims(tmp_path):
    a = _toy_cli(["--claims", "toy.one", "toy.two", "--param", "delay=0.3", "--scale", "tiny", "--out", str(tmp_path),
                  "--quiet", "--no-figures"])
    b = _toy_cli(["--claims", "toy.three", "--param", "delay=0.3", "--scale", "tiny", "--out", str(tmp_path),
                  "--quiet", "--no-figures"])
    assert a.wait(180) == 0, a.stderr.read()
    assert b.wait(180) == 0, b.stderr.read()
    evs, meta = load_results(tmp_path)
    assert [e.claim_id for e in evs] == ["toy.one", "toy.two", "toy.three"]
    assert set(meta["claims"]) == {"toy.one", "toy.two", "toy.three"}
    assert {"toy.one", "toy.three"} <= set((tmp_path / "results.csv").read_text().replace(",", " ").split())
