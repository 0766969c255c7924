"""The run record: what ``results.json`` says about how its numbers were made, and reading it back.

``results.json`` is ``{"schema_version", "meta", "claims"}``: ``claims`` holds one
:meth:`Evidence.to_dict <ibnorm_verify.verification.evidence.Evidence.to_dict>` per claim;
``meta`` holds

* ``config``: the validated run configuration (claims, scale, ``--param`` overrides, seeds, device,
  executor), enough for ``ibnorm-verify --rerun results.json`` to repeat the run;
* ``environment``: the git commit of the source tree and whether it was dirty, the code version
  (hash of the sources, C kernel included), the versions of python, torch, numpy, scipy, sympy,
  matplotlib, ibnorm and ibnorm-verify, the CPU model, the core and thread counts, the platform;
* ``claims``: one record per claim: when it started, how long it ran, whether it came from the cache
  (then the start time and runtime are those of the run that computed it), its ``--param``
  overrides, and the kernel backend (:func:`kernel_record`);
* ``command``, ``started``, ``elapsed_s``, ``executor``.

:func:`load_results` reads such a file back; :func:`mergeable` says whether the claims of an existing
``results.json`` may be kept beside a new run's (same scale, seeds, device and code version: two runs
of different claims into one directory), :func:`config_from_record` turns a record back into a
:class:`~ibnorm_verify.app.config.RunConfig`.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

import ibnorm
from ibnorm.compression import get_compression
from ibnorm.kernels import cpu_status, resolve_backend, select_backend, triton_status

from ..verification.cache import code_version
from ..verification.claims import REGISTRY
from ..verification.evidence import SCHEMA_VERSION, Evidence
from ..version import __version__ as _suite_version
from .config import RunConfig

__all__ = ["SCHEMA_VERSION", "environment", "kernel_record", "git_state", "cpu_model", "now_iso", "load_results",
           "read_payload", "mergeable", "package_version", "merge_evidence", "config_from_record", "ResultsFileError"]

_PACKAGES = ("torch", "numpy", "scipy", "sympy", "matplotlib", "ibnorm", "ibnorm-verify")


class ResultsFileError(ValueError):
    """A file that is not a readable ``results.json`` (the message says why)."""


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


#: this repository's distributions: their version is the one in the code that runs (``__version__``), not the
#: installed metadata, which an editable install keeps from the day it was installed
_OWN_VERSIONS = {"ibnorm": ibnorm.__version__, "ibnorm-verify": _suite_version}


def package_version(dist: str) -> str | None:
    """The version of distribution ``dist`` (None when it is not installed)."""
    if dist in _OWN_VERSIONS:
        return _OWN_VERSIONS[dist]
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS, else ``platform.processor()``)."""
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    if sys.platform == "darwin":  # pragma: no cover - not the CI platform
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def git_state(root: str | Path | None = None) -> dict:
    """``{"commit", "dirty", "root"}`` of the git work tree holding the sources (``commit`` None when the
    sources are not in a git work tree, e.g. an installed wheel). ``dirty``: tracked files differ from
    the commit (untracked files do not count)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    out: dict[str, Any] = {"commit": None, "dirty": None, "root": str(root)}
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return out
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return out
    out["commit"] = rev.stdout.strip()
    out["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    return out


def environment() -> dict:
    """Where and with what the run was made (see the module docstring)."""
    return {
        "git": git_state(), "code_version": code_version(), "python": platform.python_version(),
        "versions": {p: package_version(p) for p in _PACKAGES}, "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


def kernel_record(device: str) -> dict:
    """The IBNorm kernel backend in force: what ``backend="auto"`` picks for an fp32 LayerNorm row on
    ``device`` (``IBNORM_BACKEND`` honoured), the C kernel's status (``ibnorm.kernels.cpu_status``:
    available, or why not) and, on CUDA, Triton's."""
    rec: dict[str, Any] = {"IBNORM_BACKEND": os.environ.get("IBNORM_BACKEND")}
    try:
        rec["requested"] = resolve_backend(None)
        probe = torch.zeros(1, 8, device=device)
        rec["auto_picks"] = select_backend(None, probe, 8, get_compression("tanh"))
    except Exception as e:  # an unusable IBNORM_BACKEND value, a device that went away: recorded, not fatal
        rec["error"] = f"{type(e).__name__}: {e}"
    available, reason = cpu_status()
    rec["cpu_kernel"] = {"available": available, "reason": reason}
    if device == "cuda":
        importable, interpreted, why = triton_status()
        rec["triton"] = {"importable": importable, "interpreted": interpreted, "reason": why}
    return rec


# ------------------------------------------------------------------------------------ reading
def read_payload(path: str | Path) -> dict:
    """The parsed ``results.json`` at ``path`` (or in the directory ``path``), checked for its shape."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise FileNotFoundError(f"no results.json at {p}")
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ResultsFileError(f"{p} is not a readable results.json ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ResultsFileError(f"{p} is not a results.json (no 'claims' list)")
    version_ = data.get("schema_version", 1)
    if not isinstance(version_, int) or version_ > SCHEMA_VERSION:
        raise ResultsFileError(f"{p} has schema version {version_!r}; this code reads <= {SCHEMA_VERSION}")
    return data


def load_results(path: str | Path) -> tuple[list[Evidence], dict]:
    """Read a ``results.json`` (or the directory holding it) back into Evidence objects and its meta."""
    data = read_payload(path)
    if data.get("schema_version", 1) < SCHEMA_VERSION:
        raise ResultsFileError(f"{path} was written by an older ibnorm-verify (schema version "
                               f"{data.get('schema_version', 1)}; this code reads {SCHEMA_VERSION}): run the claims "
                               f"again")
    try:
        evidence = [Evidence.from_dict(d) for d in data["claims"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ResultsFileError(f"{path}: a claim entry cannot be read ({type(e).__name__}: {e})") from None
    return evidence, dict(data.get("meta") or {})


# ------------------------------------------------------------------------------------ merging
def _signature(meta: Mapping) -> tuple:
    cfg, env = meta.get("config") or {}, meta.get("environment") or {}
    return cfg.get("scale"), cfg.get("seeds"), cfg.get("device"), env.get("code_version")


def mergeable(existing_meta: Mapping, meta: Mapping) -> bool:
    """Whether the claims of an existing results.json may stay beside this run's: same scale, number
    of seeds, device and code version (else the new run replaces the file)."""
    sig = _signature(existing_meta)
    return None not in sig and sig == _signature(meta)


def merge_evidence(existing: Sequence[Evidence], ours: Sequence[Evidence]) -> list[Evidence]:
    """Ours replace theirs for the same claim id; the others stay; registry order (claims the registry
    does not know after, in the order met)."""
    by_id = {ev.claim_id: ev for ev in existing}
    by_id.update({ev.claim_id: ev for ev in ours})
    order = {cid: i for i, cid in enumerate(REGISTRY)}
    met = list(by_id)
    return [by_id[c] for c in sorted(by_id, key=lambda c: (order.get(c, len(order)), met.index(c)))]


def config_from_record(meta: Mapping, **changes: Any) -> RunConfig:
    """The :class:`RunConfig` that repeats the run a results.json records (``changes`` override fields,
    e.g. ``out=``). Claims merged in from another run keep their own ``--param`` overrides: a claim
    record's ``overrides`` win over the run's."""
    cfg = meta.get("config")
    if not isinstance(cfg, Mapping) or "scale" not in cfg:
        raise ResultsFileError("the results.json has no run configuration (written before records existed?); "
                               "repeat the run by hand")
    records = meta.get("claims") or {}
    claims = list(records) or list(cfg.get("claims") or [])
    claim_params = {cid: dict(rec.get("overrides") or {}) for cid, rec in records.items()
                    if isinstance(rec, Mapping)}
    # each claim's own overrides are complete; the run-wide ones only stand in for claims without a record
    common = {} if claim_params else dict(cfg.get("params") or {})
    base = dict(claims=claims, scale=cfg["scale"], params=common,
                claim_params=claim_params, seeds=cfg.get("seeds"), device=cfg.get("device", "cpu"),
                executor=cfg.get("executor", "serial"), figures=bool(cfg.get("figures", True)))
    base.update(changes)
    return RunConfig(**base)
