"""Results caches keyed by content: whole-claim Evidence and per-item sweep results.

The key of a claim run hashes the claim id, its resolved parameters, seeds, scale, device and the
*code version* (a hash of the Python and C sources of ``ibnorm`` and ``ibnorm_verify``), so editing the
code invalidates old results. Per-item results let an interrupted sweep resume without recomputing.

Every entry is validated when it is read, and an invalid one is deleted and recomputed, never
trusted: a file that is not JSON / not a pickle, truncated, of the wrong shape (``[]``, ``null``, a
bare pickled ``None``), or written for another key. A claim entry is ``{"cache_format", "key",
"evidence", "record"}``: the Evidence and the record of the run that computed it (its start time,
runtime, kernel backend), so a cached claim keeps its original timing. An item entry is a pickled
``{"cache_format", "key", "value"}``.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any

import ibnorm

from .evidence import Evidence, to_jsonable
from .io import atomic_write_bytes, atomic_write_text

__all__ = ["CACHE_FORMAT", "code_version", "claim_key", "ClaimCache", "ItemCache", "CachedClaim"]

_SOURCE_SUFFIXES = (".py", ".c", ".h")
_SUITE_ROOT = Path(__file__).resolve().parents[1]
#: layout of a cache entry (bump to invalidate every entry of an older layout)
CACHE_FORMAT = 2


@lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 (16 hex) over the sources (Python and the C kernel) of ``ibnorm`` and ``ibnorm_verify``."""
    h = hashlib.sha256()
    # the ibnorm_verify root is two floors up from this file: found by path, not imported (floors point down)
    for name, root in (("ibnorm", Path(ibnorm.__file__).resolve().parent), ("ibnorm_verify", _SUITE_ROOT)):
        for f in sorted(p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts):
            h.update(f"{name}/{f.relative_to(root).as_posix()}".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(to_jsonable(obj), sort_keys=True).encode()).hexdigest()[:20]


def claim_key(claim_id: str, params: dict, seeds: list, scale: str, device: str) -> str:
    return _digest({"id": claim_id, "params": params, "seeds": list(seeds), "scale": scale, "device": device,
                    "code": code_version()})


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


class CachedClaim:
    """A claim entry read back: the Evidence and the record of the run that computed it."""

    def __init__(self, evidence: Evidence, record: dict):
        self.evidence, self.record = evidence, record


class ClaimCache:
    """``<dir>/claims/<id>-<key>.json`` holding one Evidence and its run record."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory) / "claims"

    def _path(self, claim_id: str, key: str) -> Path:
        return self.dir / f"{claim_id}-{key}.json"

    def get(self, claim_id: str, key: str) -> CachedClaim | None:
        """The valid entry for (claim_id, key), or None (an invalid entry is deleted: recompute)."""
        p = self._path(claim_id, key)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
            if not (isinstance(data, dict) and data.get("cache_format") == CACHE_FORMAT and data.get("key") == key
                    and isinstance(data.get("evidence"), dict) and isinstance(data.get("record", {}), dict)):
                raise ValueError("not a claim-cache entry of this format")
            ev = Evidence.from_dict(data["evidence"])
            if ev.claim_id != claim_id or not ev.ok:
                raise ValueError(f"entry holds {ev.claim_id!r} with status {ev.status!r}")
        except Exception:  # any defect: JSON error, wrong shape, missing field, bad value
            _discard(p)
            return None
        return CachedClaim(ev, dict(data.get("record") or {}))

    def put(self, claim_id: str, key: str, ev: Evidence, record: dict | None = None) -> None:
        entry = {"cache_format": CACHE_FORMAT, "key": key, "evidence": ev.to_dict(), "record": to_jsonable(record or {})}
        atomic_write_text(self._path(claim_id, key), json.dumps(entry))


class ItemCache:
    """``<dir>/items/<namespace>/<key>.pkl``: one pickled result per sweep item."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory) / "items"

    def key(self, namespace: str, fn_name: str, item: Any) -> Path:
        digest = hashlib.sha256(repr((fn_name, item, code_version())).encode()).hexdigest()[:24]
        return self.dir / (namespace or "default") / f"{digest}.pkl"

    def get(self, path: Path) -> tuple[bool, Any]:
        """``(True, value)`` for a valid entry, ``(False, None)`` otherwise (an invalid one is deleted)."""
        path = Path(path)
        if not path.is_file():
            return False, None
        try:
            entry = pickle.loads(path.read_bytes())
            if not (isinstance(entry, dict) and entry.get("cache_format") == CACHE_FORMAT
                    and entry.get("key") == path.stem and "value" in entry):
                raise ValueError("not an item-cache entry of this format")
        except Exception:  # truncated, not a pickle, a class that no longer exists, wrong shape
            _discard(path)
            return False, None
        return True, entry["value"]

    def put(self, path: Path, value: Any) -> None:
        path = Path(path)
        atomic_write_bytes(path, pickle.dumps({"cache_format": CACHE_FORMAT, "key": path.stem, "value": value}))
