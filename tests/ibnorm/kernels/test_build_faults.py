"""Faults of the C kernel's build heal instead of spreading (``ibnorm/kernels/cpu_rowwise.py``): a truncated
or garbage library is rebuilt, never loaded (a truncated one used to kill every process with SIGBUS); a
compiler that hangs is killed at the build deadline, with its children, and the torch backend is used
(``cpu_status()`` says why); temporary files left by a killed build are removed; concurrent first builds
give one verified library. Builds here use ``IBNORM_KERNEL_CFLAGS=-O0`` (about a second) in a temporary
cache: the mechanism under test does not depend on the optimization level."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import _kernel_cases
import pytest
import torch
from _kernel_cases import needs_cpu_kernel

import ibnorm.kernels as kernels
from ibnorm.compression import get_compression
from ibnorm.kernels import cpu_rowwise, torch_rowwise

LAYER = Path(__file__).resolve().parents[3] / "layer"

#: run in a fresh process: builds (or loads) the kernel in $IBNORM_KERNEL_CACHE, runs it, prints the status
PROBE = """
import torch
from ibnorm.kernels import cpu_rowwise, torch_rowwise
ok, reason = cpu_rowwise.status()
x = torch.randn(5, 33)
if ok:
    y, _ = cpu_rowwise.forward(x, None, None, 1e-5, 1, 1.0, True, True)
    from ibnorm.kernels import torch_rowwise
    ref, _ = torch_rowwise.forward(x, None, None, 1e-5, 1, 1.0, True, True)
    assert torch.allclose(y, ref, atol=1e-5), (y - ref).abs().max()
print("STATUS", ok, reason)
"""


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty kernel cache, quick builds, and a fresh per-process build state (restored afterwards)."""
    if not cpu_rowwise._compilers():
        needs_cpu_kernel()
    monkeypatch.setenv("IBNORM_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("IBNORM_KERNEL_CFLAGS", "-O0")
    monkeypatch.setattr(cpu_rowwise, "_state", {})
    return tmp_path


def _probe(cache_dir: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, IBNORM_KERNEL_CACHE=str(cache_dir), IBNORM_KERNEL_CFLAGS="-O0", OMP_NUM_THREADS="1",
               PYTHONPATH=str(LAYER) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(extra_env or {}))
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)


def _replace(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` as a new file: the library this process has loaded from ``path`` stays mapped
    intact (writing into the mapped file itself would crash this process, not test the cache)."""
    tmp = path.with_name(path.name + ".fault")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _dead(pid: int, wait: float = 5.0) -> bool:
    """``pid`` is gone or a zombie (killed, not yet reaped by its new parent) within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _libraries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("ibnorm_rowwise-*.so"))


def test_a_build_is_published_with_its_checksum(cache):
    lib, reason, path = cpu_rowwise._build()
    assert lib is not None, reason
    side = path.with_name(path.name + ".sha256")
    size, digest = side.read_text().split()
    assert int(size) == path.stat().st_size and len(digest) == 64
    assert cpu_rowwise._verified(path)
    assert not list(cache.glob("*.tmp"))


def test_truncated_library_is_rebuilt_not_loaded(cache):
    """A truncated cached library (no fsync before the rename, a full disk, a killed copy) made dlopen
    map past the end of the file: SIGBUS in every process. Now it fails its checksum and is rebuilt;
    the probe runs in a subprocess, so a regression shows as a failed exit instead of killing pytest."""
    _, reason, path = cpu_rowwise._build()
    assert path is not None, reason
    data = path.read_bytes()
    _replace(path, data[: len(data) // 3])
    proc = _probe(cache)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "STATUS True" in proc.stdout
    assert path.read_bytes() == data or cpu_rowwise._verified(path)  # rebuilt (and verified) in place


@pytest.mark.parametrize("sidecar", ["kept", "matching", "missing"])
def test_garbage_library_is_rebuilt(cache, sidecar):
    """Garbage of the right size (the recorded checksum then fails), garbage whose checksum was recorded
    (dlopen fails: deleted and rebuilt), a library without its checksum (an older version's): rebuilt."""
    _, reason, path = cpu_rowwise._build()
    assert path is not None, reason
    side = path.with_name(path.name + ".sha256")
    good = path.read_bytes()
    _replace(path, os.urandom(len(good)))
    if sidecar == "matching":
        side.write_text(cpu_rowwise._digest(path) + "\n")
    elif sidecar == "missing":
        side.unlink()
    lib, reason, again = cpu_rowwise._build()
    assert lib is not None, reason
    assert again == path and cpu_rowwise._verified(path)
    cpu_rowwise._state.update(lib=lib, reason="", path=again)  # the fixture restores the session's state
    x = torch.randn(4, 9)
    y, _ = cpu_rowwise.forward(x, None, None, 1e-5, 1, 1.0, True, True)
    ref, _ = torch_rowwise.forward(x, None, None, 1e-5, 1, 1.0, True, True)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_hanging_compiler_is_killed_and_the_torch_backend_used(cache, monkeypatch, tmp_path):
    """A compiler that hangs blocked the first call for up to 25 minutes and left a .tmp behind. Now the
    build deadline kills it (and the processes it started), cleans up, and auto falls back to torch."""
    pid_file = tmp_path / "child.pid"
    fake = tmp_path / "hang-cc"
    fake.write_text(f"#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo fake-cc 1.0; exit 0; fi\n"
                    f"sleep 600 &\necho $! > {pid_file}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("IBNORM_KERNEL_BUILD_TIMEOUT", "2")
    t0 = time.monotonic()
    ok, reason = kernels.cpu_status()
    elapsed = time.monotonic() - t0
    assert not ok and "did not finish within the build timeout" in reason
    assert elapsed < 30
    assert not list(cache.glob("*.tmp")) and not _libraries(cache)
    child = int(pid_file.read_text())
    assert _dead(child), "the compiler's own child outlived the build (its process group was not killed)"
    tanh = get_compression("tanh")
    assert kernels.select_backend("auto", torch.randn(2, 8), 8, tanh) == "torch"
    with pytest.raises(RuntimeError, match="did not finish within the build timeout"):
        kernels.select_backend("cpu", torch.randn(2, 8), 8, tanh)


def test_leftover_temporary_files_are_removed(cache):
    """A build killed mid-way leaves <library>.<random>.tmp; the next build removes the old ones (not the
    fresh ones, which may be another process's build in progress)."""
    old = cache / "ibnorm_rowwise-0123456789abcdef.killed.tmp"
    fresh = cache / "ibnorm_rowwise-0123456789abcdef.running.tmp"
    for p in (old, fresh):
        p.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    lib, reason, _ = cpu_rowwise._build()
    assert lib is not None, reason
    assert not old.exists() and fresh.exists()


def test_concurrent_first_builds_give_one_library(cache):
    """Three processes start on an empty cache at once: one builds (under the lock), the others wait and
    load its verified result; all compute correctly."""
    env = dict(os.environ, IBNORM_KERNEL_CACHE=str(cache), IBNORM_KERNEL_CFLAGS="-O0", OMP_NUM_THREADS="1",
               PYTHONPATH=str(LAYER) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "STATUS True" in out, err[-2000:]
    libs = _libraries(cache)
    assert len(libs) == 1 and cpu_rowwise._verified(libs[0])
    assert not list(cache.glob("*.tmp"))


def test_a_kernel_that_does_not_build_fails_the_tests_in_ci(monkeypatch):
    """Outside CI a missing compiler skips the kernel tests; with CI=true it fails them."""
    monkeypatch.setattr(_kernel_cases, "cpu_status", lambda: (False, "no C compiler found (test)"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must build in CI"):
        needs_cpu_kernel()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        needs_cpu_kernel()
