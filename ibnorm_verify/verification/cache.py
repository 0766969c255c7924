"""Results caches keyed by content: whole-claim Evidence and per-item sweep results.

The key of a claim run hashes the claim id, its resolved parameters, seeds, scale, device and the
*code version* (a hash of the Python and C sources of ``ibnorm`` and ``ibnorm_verify``), so editing the
code invalidates old results. Per-item results let an interrupted sweep resume without recomputing.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any

from .evidence import Evidence, to_jsonable
from .io import atomic_write_bytes, atomic_write_text

__all__ = ["code_version", "claim_key", "ClaimCache", "ItemCache"]

_SOURCE_SUFFIXES = (".py", ".c", ".h")


@lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 (16 hex) over the sources (Python and the C kernel) of ``ibnorm`` and ``ibnorm_verify``."""
    import ibnorm
    import ibnorm_verify

    h = hashlib.sha256()
    for pkg in (ibnorm, ibnorm_verify):
        root = Path(pkg.__file__).resolve().parent
        for f in sorted(p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts):
            h.update(f"{pkg.__name__}/{f.relative_to(root).as_posix()}".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(to_jsonable(obj), sort_keys=True).encode()).hexdigest()[:20]


def claim_key(claim_id: str, params: dict, seeds: list, scale: str, device: str) -> str:
    return _digest({"id": claim_id, "params": params, "seeds": seeds, "scale": scale, "device": device,
                    "code": code_version()})


class ClaimCache:
    """``<dir>/claims/<id>-<key>.json`` holding one Evidence."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory) / "claims"

    def _path(self, claim_id: str, key: str) -> Path:
        return self.dir / f"{claim_id}-{key}.json"

    def get(self, claim_id: str, key: str) -> Evidence | None:
        p = self._path(claim_id, key)
        if not p.exists():
            return None
        try:
            return Evidence.from_dict(json.loads(p.read_text()))
        except (ValueError, KeyError):
            return None  # a corrupt entry is recomputed, never trusted

    def put(self, claim_id: str, key: str, ev: Evidence) -> None:
        atomic_write_text(self._path(claim_id, key), ev.to_json())


class ItemCache:
    """``<dir>/items/<namespace>/<key>.pkl``: one pickled result per sweep item."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory) / "items"

    def key(self, namespace: str, fn_name: str, item: Any) -> Path:
        digest = hashlib.sha256(repr((fn_name, item, code_version())).encode()).hexdigest()[:24]
        return self.dir / (namespace or "default") / f"{digest}.pkl"

    def get(self, path: Path) -> tuple[bool, Any]:
        if not path.exists():
            return False, None
        try:
            return True, pickle.loads(path.read_bytes())
        except Exception:
            return False, None

    def put(self, path: Path, value: Any) -> None:
        atomic_write_bytes(path, pickle.dumps(value))
