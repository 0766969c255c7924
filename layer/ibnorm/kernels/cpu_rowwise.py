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
step by step to the compiler's defaults, see :data:`FLAG_SETS`), into ``$IBNORM_KERNEL_CACHE`` (else
``$XDG_CACHE_HOME/ibnorm``, else ``~/.cache/ibnorm``, else the temp dir). The file name hashes the source, the flags, the compiler's
version and the CPU's feature flags, so an edit or another machine sharing the cache rebuilds; the
library is written to a temporary name and renamed (atomic, safe across processes). When no compiler
works, :func:`status` says why, ``backend="auto"`` uses the torch backend, and an explicit
``backend="cpu"`` raises ``RuntimeError`` with that reason.

Measured cost: docs/benchmarks/kernels.md.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch
from torch import Tensor

from .spec import root_constants

__all__ = ["forward", "backward", "compress", "status", "library_path", "DTYPES", "SOURCE"]

SOURCE = Path(__file__).with_name("csrc") / "ibnorm_rowwise.c"
#: Input dtypes the C kernel takes (arithmetic and statistics in fp32).
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Compiler flag sets, tried in order. -fopenmp-simd enables the `omp simd` pragmas (reassociated
#: reductions) without an OpenMP runtime; no -ffast-math, so NaN/inf keep IEEE semantics.
_COMMON = ["-O3", "-std=c11", "-fPIC", "-shared", "-pthread", "-fopenmp-simd", "-fno-math-errno",
           "-fno-trapping-math", "-fvisibility=hidden"]
#: -fopenmp: the row chunks run on torch's OpenMP threads (the library binds to the libgomp torch has
#: loaded); without it, on POSIX threads of its own. -mprefer-vector-width=512: 2x for the elementary
#: functions on AVX-512 machines (x86 only, hence the fallbacks).
FLAG_SETS = tuple(extra + _COMMON for extra in (["-march=native", "-mprefer-vector-width=512", "-fopenmp"],
                                                ["-march=native", "-fopenmp"], ["-march=native"], ["-fopenmp"], []))
#: Below this many elements the kernel runs on the calling thread only (thread start-up dominates).
PARALLEL_MIN_ELEMS = 1 << 15

_lock = threading.Lock()
_state: dict = {}  # "lib": ctypes.CDLL | None, "reason": str, "path": Path | None


def _cache_dir() -> Path:
    for cand in (os.environ.get("IBNORM_KERNEL_CACHE"),
                 os.path.join(os.environ["XDG_CACHE_HOME"], "ibnorm") if os.environ.get("XDG_CACHE_HOME") else None,
                 os.path.join(os.path.expanduser("~"), ".cache", "ibnorm"),
                 os.path.join(tempfile.gettempdir(), f"ibnorm-{os.getuid() if hasattr(os, 'getuid') else 'user'}")):
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


def _build() -> tuple[ctypes.CDLL | None, str, Path | None]:
    """Compile (or reuse) the library; ``(lib, "", path)`` or ``(None, reason, None)``."""
    if not SOURCE.exists():
        return None, f"kernel source {SOURCE} is missing", None
    compilers = _compilers()
    if not compilers:
        return None, "no C compiler found (set CC, or install cc/gcc/clang)", None
    try:
        cache = _cache_dir()
    except OSError as exc:
        return None, str(exc), None
    src = SOURCE.read_bytes()
    machine = (_cpu_flags() + platform.machine()).encode()
    errors = []
    for cc in compilers:
        try:
            version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{cc}: {exc}")
            continue
        for flags in FLAG_SETS:
            key = hashlib.sha256(b"\0".join([src, " ".join(flags).encode(), version.encode(), machine])).hexdigest()[:16]
            path = cache / f"ibnorm_rowwise-{key}.so"
            if not path.exists():
                fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=cache)
                os.close(fd)
                try:
                    proc = subprocess.run([cc, *flags, "-o", tmp, str(SOURCE), "-lm"], capture_output=True, text=True,
                                          timeout=300)
                    if proc.returncode != 0:
                        errors.append(f"{cc} {' '.join(flags)}: {proc.stderr.strip()[-500:]}")
                        continue
                    os.replace(tmp, path)
                except (OSError, subprocess.SubprocessError) as exc:
                    errors.append(f"{cc}: {exc}")
                    continue
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                errors.append(f"loading {path}: {exc}")
                continue
            _declare(lib)
            return lib, "", path
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
    return _state["lib"]


def status() -> tuple[bool, str]:
    """``(available, reason)``: builds the kernel on the first call (about a second), then cached."""
    lib = _library()
    return lib is not None, _state["reason"]


def library_path() -> Path | None:
    """Where the compiled library lives (``None`` if it could not be built)."""
    _library()
    return _state["path"]


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


def _check(x: Tensor) -> None:
    if x.device.type != "cpu" or x.dtype not in DTYPES:
        raise TypeError(f"backend='cpu' takes CPU tensors of {[str(d) for d in DTYPES]}, got {x.dtype} on {x.device}")


def forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, comp_id: int, lam: float,
            center: bool, compress_first: bool) -> tuple[Tensor, Tensor]:
    """``x`` (M, N) contiguous -> ``y`` (M, N) in x.dtype, ``stats`` (3, M) fp32 (see :mod:`.spec`)."""
    _check(x)
    m, n = x.shape
    xf, w, b = _f32(x), _f32(weight), _f32(bias)
    y = torch.empty_like(xf)
    stats = torch.empty((3, m), dtype=torch.float32)
    rc = _lib().ibn_rowwise_forward(_ptr(xf), _ptr(w), _ptr(b), _ptr(y), _ptr(stats), m, n, float(eps), comp_id,
                                    *_comp_args(lam), int(center), int(compress_first), _threads(x.numel()))
    if rc != 0:
        raise MemoryError("the C kernel could not allocate its scratch rows")
    return y.to(x.dtype), stats


def backward(dy: Tensor, x: Tensor, weight: Tensor | None, stats: Tensor, comp_id: int, lam: float, center: bool,
             compress_first: bool, need_dw: bool, need_db: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`forward`: ``dx`` (M, N) in x.dtype; ``dweight``, ``dbias`` (N,) fp32, or empty
    tensors when not requested."""
    _check(x)
    m, n = x.shape
    xf, dyf, w, st = _f32(x), _f32(dy), _f32(weight), _f32(stats)
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
