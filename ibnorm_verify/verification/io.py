"""Atomic file writes and an advisory file lock.

A write goes to a temporary file in the same directory, is flushed and fsynced, gets the mode an
ordinary ``open(path, "w")`` would give (``0666`` minus the umask: ``0644`` under the usual umask
``022``, not the ``0600`` of :func:`tempfile.mkstemp`), then replaces ``path`` with ``os.replace``.
A crash or Ctrl-C mid-write leaves either the old file or the new one, never a truncated one.

:func:`locked` holds an exclusive ``fcntl.flock`` on a lock file, so that two processes writing the
same results directory take turns (read-merge-write) instead of the last one overwriting the other.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_write_bytes", "atomic_write_text", "file_mode", "locked"]

_UMASK_LOCK = threading.Lock()


def file_mode() -> int:
    """``0o666 & ~umask``: the mode a plain ``open(path, "w")`` creates files with."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it; restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), file_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def locked(lock_path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (created if needed) for the ``with`` block.

    POSIX ``flock``: released when the block ends or the process dies (also by SIGKILL). Where
    ``fcntl`` does not exist (Windows) the block runs unlocked.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
