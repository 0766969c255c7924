"""The run configuration: what the user asked for (:class:`RunConfig`), validated ONCE into what will
run (:class:`ResolvedRun`).

:func:`resolve` is the only place a run's settings are checked: claim ids, scale, seeds, device, every
``--param`` override against the declared domain of every selected claim that has that parameter,
the executor spec (and, for ``dask=ADDRESS``, that the scheduler is reachable), and the output
directory (creatable, a directory, writable, and no output file name taken by a directory). It runs
before the first claim, so a bad setting never costs a computed claim. Every problem is a
:class:`ConfigError` (a ``ValueError``) whose message names the setting, the value and what is
accepted; the CLI turns it into exit status 2.

The runner only reads a :class:`ResolvedRun`; nothing below reads ``sys.argv``.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..verification.claims import CLAIM_IDS, REGISTRY
from ..verification.claims.base import SCALES, Claim
from ..verification.executors import check_reachable, parse_executor_spec

__all__ = ["ConfigError", "RunConfig", "ResolvedClaim", "ResolvedRun", "resolve", "parse_param_items",
           "check_out_dir", "DEFAULT_SEEDS", "OUTPUT_FILES", "SCALES"]

#: seeds per scale when ``--seeds`` is not given
DEFAULT_SEEDS = {"tiny": 2, "quick": 3, "medium": 3, "full": 5}
#: what a run writes into its output directory (the CLI's --help lists them)
OUTPUT_FILES = {
    "results.json": "every claim's Evidence and the run record (schema version, git commit, versions, machine)",
    "results.csv": "one row per check of every claim (estimate, CI, prediction, p-values, MDE, verdict)",
    "report.md": "the report: summary first, then one section per claim",
    "report.html": "the same report as one self-contained HTML file (figures inline)",
    "figures/": "one PNG and PDF per figure (fig_<name>.png/.pdf)",
    "cache/": "per-claim and per-sweep-item caches (a re-run or an interrupted run resumes from them)",
}


class ConfigError(ValueError):
    """A run setting that cannot be used; the message names it, its value and what is accepted."""


@dataclass
class RunConfig:
    """What the user asked for (from the CLI, a notebook or a run record); :func:`resolve` validates it.

    ``params``: ``{KEY: VALUE}`` overrides, strings as typed on the command line or typed values;
    each applies to every selected claim that declares ``KEY``. ``claim_params``: ``{claim id: {KEY:
    VALUE}}``, overrides for one claim (over ``params``; the CLI's ``--param ID:KEY=VALUE``). ``command``: the command line that asked for the run (recorded as is;
    ``None`` from Python).
    """

    claims: Sequence[str] = ()
    scale: str = "quick"
    params: Mapping[str, Any] = field(default_factory=dict)
    claim_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seeds: int | None = None
    device: str = "cpu"
    out: str | os.PathLike = "results"
    executor: str = "serial"
    use_cache: bool = True
    quiet: bool = False
    figures: bool = True
    command: str | None = None

    def resolve(self) -> "ResolvedRun":
        return resolve(self)

    def validate(self) -> list[str]:
        """The selected claim ids, after :func:`resolve` (raises :class:`ConfigError`)."""
        return [c.id for c in resolve(self).claims]


@dataclass(frozen=True)
class ResolvedClaim:
    """One selected claim with its parameters resolved (scale defaults, then validated overrides)."""

    id: str
    claim: Claim
    params: dict
    overrides: dict


@dataclass(frozen=True)
class ResolvedRun:
    """A validated run: the runner and the publisher read only this."""

    claims: tuple[ResolvedClaim, ...]
    scale: str
    seeds: tuple[int, ...]
    device: str
    out: Path
    executor: str
    use_cache: bool
    quiet: bool
    figures: bool
    overrides: dict
    command: str | None = None

    def record(self) -> dict:
        """The configuration as recorded in ``results.json`` (enough for ``--rerun``)."""
        return {"claims": [c.id for c in self.claims], "scale": self.scale, "params": dict(self.overrides),
                "seeds": len(self.seeds), "device": self.device, "executor": self.executor,
                "use_cache": self.use_cache, "figures": self.figures}


def parse_param_items(items: Iterable[str]) -> tuple[dict, dict]:
    """``["gain=2", "cap.loss-smoothness:K=1,2"]`` -> ``({"gain": "2"}, {"cap.loss-smoothness": {"K":
    "1,2"}})``: overrides for every claim that has the parameter, and overrides for one claim
    (``ID:KEY=VALUE``). A malformed item or a repeated key is a :class:`ConfigError` (a repeated key
    would silently drop a value)."""
    common: dict[str, str] = {}
    scoped: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        scope, colon, name = key.rpartition(":")
        if not sep or not name.strip() or (colon and not scope.strip()):
            raise ConfigError(f"--param expects KEY=VALUE or CLAIM_ID:KEY=VALUE, got {item!r}")
        target = scoped.setdefault(scope.strip(), {}) if colon else common
        name = name.strip()
        if name in target:
            raise ConfigError(f"--param {key} is given twice ({key}={target[name]!r} and {key}={value!r}); "
                              "give each parameter once")
        target[name] = value
    return common, scoped


_OUTPUT_NAMES = ("results.json", "results.csv", "report.md", "report.html")


def check_out_dir(out: str | os.PathLike, use_cache: bool = True) -> Path:
    """Create the output directory if needed and make sure every output can be written there.

    Refused: an empty path; a path that is a file or lies under a file; a directory that cannot be
    created or written; an output file name (``results.json``, ...) or ``figures``/``cache`` taken by
    something of the wrong kind."""
    if out is None or not str(out).strip():
        raise ConfigError("--out is empty; give an output directory, e.g. --out results")
    p = Path(out).expanduser()
    for parent in [p, *p.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == p else f"lies under {parent}, which is a file"
            raise ConfigError(f"--out {str(out)!r} {where}; give a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {str(out)!r}: cannot create the directory ({e.strerror or e})") from None
    for name in _OUTPUT_NAMES:
        if (p / name).is_dir():
            raise ConfigError(f"--out {str(out)!r}: {p / name} is a directory; the run writes a file there")
    for name in ("figures", "cache") if use_cache else ("figures",):
        if (p / name).exists() and not (p / name).is_dir():
            raise ConfigError(f"--out {str(out)!r}: {p / name} is a file; the run needs a directory there")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"--out {str(out)!r}: the directory is not writable ({e.strerror or e})") from None
    return p


def _claim_ids(claims: Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(claims)) or list(REGISTRY)
    unknown = [c for c in ids if c not in REGISTRY]
    if unknown:
        raise ConfigError(f"unknown claim id {unknown[0]!r}; known: {', '.join(CLAIM_IDS)} "
                          "(or run `ibnorm-verify --list`)")
    return ids


def _resolve_params(claim: Claim, scale: str, overrides: Mapping[str, Any]) -> dict:
    spec = claim.param_spec()
    params = {name: p.default(scale) for name, p in spec.items()}
    for key, raw in overrides.items():
        if key not in spec:
            continue
        try:
            params[key] = spec[key].parse(raw)
        except ValueError as e:
            raise ConfigError(f"--param {key}={raw!r} is refused for claim {claim.id}: {e}; "
                              f"accepted: {spec[key].domain()}") from None
    return params


def resolve(cfg: RunConfig) -> ResolvedRun:
    """Validate every setting of ``cfg`` (see the module docstring); raises :class:`ConfigError`."""
    if cfg.scale not in SCALES:
        raise ConfigError(f"--scale {cfg.scale!r}: use one of {', '.join(SCALES)}")
    ids = _claim_ids(cfg.claims)
    if cfg.seeds is not None and (isinstance(cfg.seeds, bool) or not isinstance(cfg.seeds, int) or cfg.seeds < 1):
        raise ConfigError(f"--seeds {cfg.seeds!r}: give an integer >= 1")
    if cfg.device not in ("cpu", "cuda"):
        raise ConfigError(f"--device {cfg.device!r}: use cpu or cuda")
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda requested but no CUDA device is available")
    overrides = dict(cfg.params or {})
    for key in overrides:
        if not any(key in REGISTRY[cid].param_spec() for cid in ids):
            known = sorted({p for cid in ids for p in REGISTRY[cid].param_spec()})
            raise ConfigError(f"--param {key}: no selected claim has this parameter; known: {', '.join(known)} "
                              "(`ibnorm-verify claims show ID` lists a claim's parameters)")
    scoped = {cid: dict(v) for cid, v in (cfg.claim_params or {}).items()}
    for cid, params in scoped.items():
        if cid not in ids:
            raise ConfigError(f"--param {cid}:...: claim {cid!r} is not selected (selected: {', '.join(ids)})")
        spec = REGISTRY[cid].param_spec()
        for key in params:
            if key not in spec:
                raise ConfigError(f"--param {cid}:{key}: claim {cid} has no parameter {key!r}; known: "
                                  f"{', '.join(sorted(spec)) or '(none)'}")
    claims = []
    for cid in ids:
        claim = REGISTRY[cid]
        mine = {k: v for k, v in overrides.items() if k in claim.param_spec()}
        mine.update(scoped.get(cid, {}))
        claims.append(ResolvedClaim(cid, claim, _resolve_params(claim, cfg.scale, mine), mine))
    try:
        parse_executor_spec(cfg.executor)
        check_reachable(cfg.executor)
    except ValueError as e:
        raise ConfigError(f"--executor: {e}") from None
    out = check_out_dir(cfg.out, cfg.use_cache)
    n_seeds = cfg.seeds if cfg.seeds is not None else DEFAULT_SEEDS[cfg.scale]
    return ResolvedRun(claims=tuple(claims), scale=cfg.scale, seeds=tuple(range(n_seeds)), device=cfg.device,
                       out=out, executor=(cfg.executor or "serial").strip(), use_cache=cfg.use_cache,
                       quiet=cfg.quiet, figures=cfg.figures, overrides=overrides, command=cfg.command)
