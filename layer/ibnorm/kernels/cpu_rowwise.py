"""The ``"cpu"`` backend: the fused row-wise IBNorm as a C kernel (``csrc/ibnorm_rowwise.c``), built at
first use with the system C compiler and called through ``ctypes``.

Same math and saved statistics as :mod:`.torch_rowwise` and :mod:`.triton_rowwise` (stated in
:mod:`.spec`); the difference is that each row is read from memory once per direction: forward reads
``x`` and writes ``y``; backward reads ``x`` and ``dy`` and writes ``dx`` (the traffic of
``F.layer_norm``), with the compression recomputed in registers and vectorized by the compiler.
Rows are split over ``torch.get_num_threads()`` threads: torch's own OpenMP threads when the compiler
takes ``-fopenmp`` (else POSIX threads); ``ctypes`` releases the GIL during the call. Arithmetic is
fp32: fp16/bf16 inputs are converted at the boundary; fp64 is not taken (``backend="auto"`` sends it
to the torch backend).

Build: ``$CC`` (else ``cc``, ``gcc``, ``clang``) with ``-O3 -march=native -fopenmp`` (falling back
step by step to the compiler's defaults, see :data:`FLAG_SETS`; ``$IBNORM_KERNEL_CFLAGS`` replaces the
target flags) and the compression ids of :mod:`.spec` (``-DIBN_COMP_<NAME>=<id>``), into
``$IBNORM_KERNEL_CACHE`` (else ``$XDG_CACHE_HOME/ibnorm``, else ``~/.cache/ibnorm``, else the temp dir).
The file name hashes the source, the flags, the compiler's version and the CPU's feature flags, so an
edit or another machine sharing the cache rebuilds. Faults heal instead of spreading:

* the library is compiled to a temporary file, fsync'ed, its size and SHA-256 written beside it
  (``<library>.sha256``, fsync'ed), then both renamed into place; a library is loaded only after its
  size and checksum match, so a truncated or garbage file (which ``dlopen`` would map and die on with
  SIGBUS) is deleted and rebuilt, never loaded;
* one process builds a given library at a time (an ``flock`` on ``<library>.lock``); the others wait
  and load its result;
* the whole build has a deadline (``$IBNORM_KERNEL_BUILD_TIMEOUT`` seconds, default
  :data:`BUILD_TIMEOUT`): a compiler that hangs is killed with its process group and not retried;
  temporary files are removed, also those a killed process left behind (older than
  :data:`STALE_TMP_SECONDS`).

When no library could be built or loaded, :func:`status` says why, ``backend="auto"`` uses the torch
backend, and an explicit ``backend="cpu"`` raises ``RuntimeError`` with that reason (in CI the kernel
tests fail instead of skipping).

Measured cost: docs/benchmarks/kernels.md.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor

from .spec import STATS_ROWS, c_defines, root_constants

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no inter-process lock (the rename stays atomic)
    fcntl = None  # type: ignore[assignment]

__all__ = ["forward", "backward", "compress", "status", "library_path", "DTYPES", "SOURCE", "FLAG_SETS",
           "BUILD_TIMEOUT", "STALE_TMP_SECONDS"]

SOURCE = Path(__file__).with_name("csrc") / "ibnorm_rowwise.c"
#: Input dtypes the C kernel takes (arithmetic and statistics in fp32).
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Flags of every build. -fopenmp-simd enables the `omp simd` pragmas (reassociated reductions) without an
#: OpenMP runtime; no -ffast-math, so NaN/inf keep IEEE semantics.
_COMMON = ["-O3", "-std=c11", "-fPIC", "-shared", "-pthread", "-fopenmp-simd", "-fno-math-errno",
           "-fno-trapping-math", "-fvisibility=hidden"]
#: Target flag sets, tried in order. -fopenmp: the row chunks run on torch's OpenMP threads (the library
#: binds to the libgomp torch has loaded); without it, on POSIX threads of its own.
#: -mprefer-vector-width=512: 2x for the elementary functions on AVX-512 machines (x86 only, hence the
#: fallbacks).
FLAG_SETS: tuple[tuple[str, ...], ...] = (("-march=native", "-mprefer-vector-width=512", "-fopenmp"),
                                          ("-march=native", "-fopenmp"), ("-march=native",), ("-fopenmp",), ())
#: Seconds the whole build may take (every compiler and flag set together), unless
#: ``$IBNORM_KERNEL_BUILD_TIMEOUT`` says otherwise. A build takes 1 to 15 s, and 30 s or more on a 2-core
#: machine shared by a dozen processes; a hung compiler is killed at the deadline and the torch backend
#: used instead.
BUILD_TIMEOUT = 120.0
#: Seconds of ``--version`` (the compiler's identity is part of the cache key).
VERSION_TIMEOUT = 10.0
#: Temporary files older than this in the cache are leftovers of a killed build and are removed.
STALE_TMP_SECONDS = 600.0
#: Below this many elements the kernel runs on the calling thread only (thread start-up dominates).
PARALLEL_MIN_ELEMS = 1 << 15

_lock = threading.Lock()
_state: dict[str, object] = {}  # "lib": ctypes.CDLL | None, "reason": str, "path": Path | None


def _cache_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    for cand in (os.environ.get("IBNORM_KERNEL_CACHE"),
                 os.path.join(os.environ["XDG_CACHE_HOME"], "ibnorm") if os.environ.get("XDG_CACHE_HOME") else None,
                 os.path.join(os.path.expanduser("~"), ".cache", "ibnorm"),
                 os.path.join(tempfile.gettempdir(), f"ibnorm-{uid}")):
        if not cand:
            continue
        try:
            Path(cand).mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(cand, os.W_OK):
            return Path(cand)
    raise OSError("no writable directory for the compiled kernel (set IBNORM_KERNEL_CACHE)")


def _compilers() -> list[str]:
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    return [p for p in (shutil.which(n) for n in names) if p]


def _flag_sets() -> list[list[str]]:
    """Every build's flags: the common ones, one target set (or ``$IBNORM_KERNEL_CFLAGS``), the ids of spec."""
    env = os.environ.get("IBNORM_KERNEL_CFLAGS")
    targets = [shlex.split(env)] if env is not None else [list(t) for t in FLAG_SETS]
    return [_COMMON + t + c_defines() for t in targets]


def _build_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get("IBNORM_KERNEL_BUILD_TIMEOUT", BUILD_TIMEOUT)))
    except ValueError:
        return BUILD_TIMEOUT


def _cpu_flags() -> str:
    """The CPU's feature flags (part of the cache key, because of -march=native)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    """``(returncode, stdout, stderr)`` of ``cmd``; on timeout its whole process group (the compiler
    driver and the cc1/as/ld it started) is killed and ``subprocess.TimeoutExpired`` raised."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - not POSIX
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)  # a survivor holding the pipes must not block the build either
        raise
    return proc.returncode, out, err


def _digest(path: Path) -> str:
    data = path.read_bytes()
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _publish(tmp: Path, path: Path) -> None:
    """Move a compiled library into place: fsync it, record its size and checksum beside it (fsync'ed),
    then rename both (the checksum first: a library never appears without it)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    side_tmp = tmp.with_name(tmp.name + ".sha256.tmp")
    try:
        _write_synced(side_tmp, (_digest(tmp) + "\n").encode())
        os.replace(side_tmp, _sidecar(path))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            side_tmp.unlink()
    _fsync_dir(path.parent)


def _verified(path: Path) -> bool:
    """The library at ``path`` exists and matches the size and checksum recorded beside it."""
    try:
        return path.is_file() and _sidecar(path).read_text().strip() == _digest(path)
    except OSError:
        return False


def _remove(path: Path) -> None:
    for p in (path, _sidecar(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _clean_stale_tmp(cache: Path) -> None:
    cutoff = time.time() - STALE_TMP_SECONDS
    for p in cache.glob("ibnorm_rowwise-*.tmp"):
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < cutoff:
                p.unlink()


@contextlib.contextmanager
def _file_lock(path: Path, deadline: float) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (yields False when the deadline passed first)."""
    if fcntl is None:  # pragma: no cover - not POSIX
        yield True
        return
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _load(path: Path) -> ctypes.CDLL | None:
    """The library at ``path`` if it is verified and loads, else None (never maps an unverified file)."""
    if not _verified(path):
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    _declare(lib)
    return lib


def _compile(cc: str, flags: list[str], path: Path, timeout: float) -> str | None:
    """Compile into ``path`` (through a temporary file, :func:`_publish`); an error message, or None."""
    fd, tmp_name = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        rc, _out, err = _run([cc, *flags, "-o", str(tmp), str(SOURCE), "-lm"], timeout)
        if rc != 0:
            return f"{cc} {' '.join(flags)}: {err.strip()[-500:]}"
        _publish(tmp, path)
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _build() -> tuple[ctypes.CDLL | None, str, Path | None]:
    """Compile (or reuse a verified) library; ``(lib, "", path)`` or ``(None, reason, None)``."""
    if not SOURCE.exists():
        return None, f"kernel source {SOURCE} is missing", None
    compilers = _compilers()
    if not compilers:
        return None, "no C compiler found (set CC, or install cc/gcc/clang)", None
    try:
        cache = _cache_dir()
    except OSError as exc:
        return None, str(exc), None
    timeout = _build_timeout()
    deadline = time.monotonic() + timeout
    src = SOURCE.read_bytes()
    machine = (_cpu_flags() + platform.machine()).encode()
    errors: list[str] = []
    for cc in compilers:
        try:
            _rc, version, _err = _run([cc, "--version"], min(VERSION_TIMEOUT, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            errors.append(f"{cc} --version timed out")
            continue
        except OSError as exc:
            errors.append(f"{cc}: {exc}")
            continue
        for flags in _flag_sets():
            key = hashlib.sha256(b"\0".join([src, " ".join(flags).encode(), version.encode(), machine])).hexdigest()[:16]
            path = cache / f"ibnorm_rowwise-{key}.so"
            lib = _load(path)
            if lib is not None:
                return lib, "", path
            with _file_lock(path, deadline) as locked:
                if not locked:
                    errors.append(f"another process held the build lock of {path.name} past the deadline "
                                  f"({timeout:g} s)")
                    return None, "could not build the C kernel: " + "; ".join(errors), None
                lib = _load(path)  # another process may have built it while this one waited
                if lib is not None:
                    return lib, "", path
                _remove(path)  # missing, truncated, garbage or unloadable: rebuilt, never loaded
                _clean_stale_tmp(cache)
                try:
                    error = _compile(cc, flags, path, deadline - time.monotonic())
                except subprocess.TimeoutExpired:
                    errors.append(f"{cc} did not finish within the build timeout of {timeout:g} s "
                                  "(killed; set IBNORM_KERNEL_BUILD_TIMEOUT to allow more)")
                    break  # a compiler that hangs is not tried again with other flags
                except OSError as exc:
                    errors.append(f"{cc}: {exc}")
                    continue
                if error is not None:
                    errors.append(error)
                    continue
                lib = _load(path)
                if lib is not None:
                    return lib, "", path
                errors.append(f"{path} was built but failed its checksum or could not be loaded")
                _remove(path)
    return None, "could not build the C kernel: " + "; ".join(errors), None


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, f32, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    lib.ibn_rowwise_forward.argtypes = [p, p, p, p, p, i64, i64, f32, i32, f32, f32, f32, i32, i32, i32]
    lib.ibn_rowwise_forward.restype = i32
    lib.ibn_rowwise_backward.argtypes = [p, p, p, p, p, p, p, i64, i64, i32, f32, f32, f32, i32, i32, i32]
    lib.ibn_rowwise_backward.restype = i32
    lib.ibn_compress.argtypes = [p, p, p, i64, i32, f32, f32, f32]
    lib.ibn_compress.restype = None


def _library() -> ctypes.CDLL | None:
    if "lib" not in _state:
        with _lock:
            if "lib" not in _state:
                lib, reason, path = _build()
                _state.update(lib=lib, reason=reason, path=path)
    built = _state["lib"]
    return built if isinstance(built, ctypes.CDLL) else None


def status() -> tuple[bool, str]:
    """``(available, reason)``: builds the kernel on the first call (seconds), then cached."""
    lib = _library()
    return lib is not None, str(_state["reason"])


def library_path() -> Path | None:
    """Where the compiled library lives (``None`` if it could not be built)."""
    _library()
    path = _state["path"]
    return path if isinstance(path, Path) else None


def _lib() -> ctypes.CDLL:
    lib = _library()
    if lib is None:
        raise RuntimeError(f"backend='cpu' is unavailable: {_state['reason']}")
    return lib


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _f32(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.to(torch.float32).contiguous()


def _comp_args(lam: float) -> tuple[float, float, float]:
    """``(lam, p, delta)``; the kernel evaluates delta^p itself (so that f(0) = 0 exactly)."""
    p, delta, _ = root_constants(lam)
    return float(lam), p, delta


def _threads(numel: int) -> int:
    return torch.get_num_threads() if numel >= PARALLEL_MIN_ELEMS else 1


def _check(x: Tensor, *others: Tensor | None) -> None:
    """Only CPU tensors of :data:`DTYPES` reach the C code (no device or meta pointer, ever)."""
    if x.device.type != "cpu" or x.dtype not in DTYPES:
        raise TypeError(f"backend='cpu' takes CPU tensors of {[str(d) for d in DTYPES]}, got {x.dtype} on {x.device}")
    for t in others:
        if t is not None and t.device.type != "cpu":
            raise RuntimeError(f"backend='cpu' got a tensor on {t.device} next to a CPU input")


def forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, comp_id: int, lam: float,
            center: bool, compress_first: bool) -> tuple[Tensor, Tensor]:
    """``x`` (M, N) contiguous -> ``y`` (M, N) in x.dtype, ``stats`` (STATS_ROWS, M) fp32 (see :mod:`.spec`)."""
    _check(x, weight, bias)
    m, n = x.shape
    xf, w, b = _f32(x), _f32(weight), _f32(bias)
    assert xf is not None
    y = torch.empty_like(xf)
    stats = torch.empty((STATS_ROWS, m), dtype=torch.float32)
    rc = _lib().ibn_rowwise_forward(_ptr(xf), _ptr(w), _ptr(b), _ptr(y), _ptr(stats), m, n, float(eps), comp_id,
                                    *_comp_args(lam), int(center), int(compress_first), _threads(x.numel()))
    if rc != 0:
        raise MemoryError("the C kernel could not allocate its scratch rows")
    return y.to(x.dtype), stats


def backward(dy: Tensor, x: Tensor, weight: Tensor | None, stats: Tensor, comp_id: int, lam: float, center: bool,
             compress_first: bool, need_dw: bool, need_db: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`forward`: ``dx`` (M, N) in x.dtype; ``dweight``, ``dbias`` (N,) fp32, or empty
    tensors when not requested."""
    _check(x, dy, weight, stats)
    m, n = x.shape
    xf, dyf, w, st = _f32(x), _f32(dy), _f32(weight), _f32(stats)
    assert xf is not None
    dx = torch.empty_like(xf)
    dw = torch.empty(n if need_dw else 0, dtype=torch.float32)
    db = torch.empty(n if need_db else 0, dtype=torch.float32)
    rc = _lib().ibn_rowwise_backward(_ptr(dyf), _ptr(xf), _ptr(w), _ptr(st), _ptr(dx),
                                     _ptr(dw) if need_dw else None, _ptr(db) if need_db else None, m, n, comp_id,
                                     *_comp_args(lam), int(center), int(compress_first),
                                     _threads(x.numel()))
    if rc != 0:
        raise MemoryError("the C kernel could not allocate its scratch rows")
    return dx.to(x.dtype), dw, db


def compress(a: Tensor, comp_id: int, lam: float) -> tuple[Tensor, Tensor]:
    """``(f(a), f'(a))`` elementwise through the kernel's own (vectorizable) elementary functions, for
    testing them against torch; ``a`` is any float tensor, computed in fp32."""
    af = a.detach().to(torch.float32).contiguous().cpu()
    f, d = torch.empty_like(af), torch.empty_like(af)
    _lib().ibn_compress(_ptr(af), _ptr(f), _ptr(d), af.numel(), comp_id, *_comp_args(lam))
    return f, d
