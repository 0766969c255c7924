"""What the three information claims of IBNorm (arXiv 2510.25262) share.

* A normalizer variant is the suite's structured value
  :class:`~ibnorm_verify.verification.models.architectures.Normalizer` (grouping, compression, lam); the
  IB claims use the groupings ``layer``, ``rms``, ``batch`` of :mod:`ibnorm.groupings`;
  ``compression="identity"`` is the variance-centric baseline (LN, RMSNorm, BN exactly).
  :func:`layer_output` is one layer without affine, :func:`ibnorm.groupings.standardize`.
* The random streams of a sweep item, all derived from the run's seed with
  :func:`~ibnorm_verify.verification.runtime.derive_seed` (the unit of replication is the seed: a seed
  draws a fresh task sample, channel noise and Monte-Carlo draws; within a seed every variant sees the
  same draws, so the comparisons are paired, with common random numbers).
* The noisy channel T_s = T + N(0, s^2 I) (the deterministic-network caveat of Goldfeld et al. 2019:
  I(X;T) is infinite for a deterministic T, so every MI involving T is measured on T_s with stated s).
* :func:`paired_check`: a one-sided check of a per-seed paired statistic, with se/dof/replicates.
* The parameters the three claims declare alike.

See ``docs/papers/ibnorm.md`` (sections 1.2 and 5) for the pipeline and the statements tested.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ibnorm.groupings import get_grouping, standardize

from ..evidence import Check, CheckRole
from ..models.architectures import Normalizer
from ..runtime import derive_seed, numpy_rng
from ..stats import mean_se_ci
from ..tasks import nuisance_task
from ..verdict import check_direction
from .base import Param

__all__ = ["PAPER", "GROUPING_CHOICES", "COMPRESSION_CHOICES", "EPS", "variant", "baseline_of", "coords",
           "layer_output", "variant_grid", "draw_task",
           "channel_noise", "mc_seed", "paired_check", "task_params"]

PAPER = "2510.25262"
#: the groupings of one feature-vector layer (ibnorm.groupings names); group/instance need channels
GROUPING_CHOICES = ("layer", "rms", "batch")
COMPRESSION_CHOICES = ("tanh", "log", "root", "softsign")
#: eps of each layer the claims build (rms: 1e-6 since the first version of these claims)
EPS = {"layer": 1e-5, "rms": 1e-6, "batch": 1e-5}


def variant(grouping: str, compression: str = "identity", lam: float = 1.0) -> Normalizer:
    """A normalizer of one feature-vector layer as a structured value (grouping, compression, lam)."""
    if grouping not in GROUPING_CHOICES:
        get_grouping(grouping)                          # an unknown name: ValueError naming the known ones
        raise ValueError(f"grouping {grouping!r} needs channels; the IB claims use {GROUPING_CHOICES}")
    return Normalizer(grouping, compression, float(lam))


def baseline_of(v: Normalizer) -> Normalizer:
    """The variance-centric normalizer of the same grouping (compression ``identity``)."""
    return v.with_(compression="identity", lam=1.0)


def coords(v: Normalizer) -> dict:
    """The regime coordinates of a variant."""
    return {"grouping": v.grouping, "compression": v.compression, "lam": float(v.lam)}


def layer_output(v: Normalizer, x: np.ndarray) -> np.ndarray:
    """One layer without affine on ``x`` (n, d): float64 (n, d). LN/RMS over the d features of a sample, BN
    over the n samples of a feature (training-mode statistics); :func:`ibnorm.groupings.standardize`."""
    t = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if t.dim() != 2:
        raise ValueError(f"x must have shape (n, d), got {tuple(t.shape)}")
    return standardize(t, v.grouping, compression=v.compression, lam=v.lam, order=v.order,
                       eps=EPS[v.grouping]).numpy()


def variant_grid(groupings: Sequence[str], compressions: Sequence[str], lams: Sequence[float]) -> list[Normalizer]:
    """The IBNorm variants of a sweep (baselines not included), grouping-major."""
    return [variant(g, c, float(lam)) for g in groupings for c in compressions for lam in lams]


# ------------------------------------------------------------------------------- random streams

def draw_task(seed: int, n: int, *, split: str = "train", **task) -> dict:
    """The nuisance task of one seed (:func:`ibnorm_verify.verification.tasks.nuisance_task`)."""
    return nuisance_task(n, numpy_rng(seed, "ib-task", split), **task)


def channel_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal channel noise of one seed; T_s = T + s * noise (the same draw for every variant and s)."""
    return numpy_rng(seed, "ib-channel-noise").standard_normal(shape)


def mc_seed(seed: int, *tags: object) -> int:
    """Seed of the mixture estimator's Monte-Carlo draws (the same for every variant of a seed)."""
    return derive_seed(seed, "ib-mixture-mc", *tags) % (2 ** 32)


# ------------------------------------------------------------------------------- checks

def paired_check(name: str, per_seed: Sequence[float], *, part: str, cell: dict, greater_than: float | None = None,
                 less_than: float | None = None, role: CheckRole = "evidence", details: dict | None = None) -> Check:
    """One-sided check of the mean over seeds of a paired per-seed statistic (Student-t, the seed is the
    unit of replication); the per-seed values are kept in ``details``."""
    m = mean_se_ci(per_seed)
    d = {"per_seed": [float(v) for v in per_seed]}
    d.update(details or {})
    return check_direction(name, m.estimate, m.ci, greater_than=greater_than, less_than=less_than, part=part,
                           cell=cell, role=role, unit="seed", details=d, **m.check_kwargs())


# ------------------------------------------------------------------------------- parameters

def task_params(*, nuisance_dims: int = 4, nuisance_dims_full: int = 4) -> tuple[Param, ...]:
    """The task parameters every IB claim declares (same names, same domains)."""
    return (
        Param("df", 2.0, 2.0, exclusive_minimum=0.0, help="degrees of freedom of the Student-t nuisance"),
        Param("sep", 2.0, 2.0, minimum=0.0, help="class separation of the signal"),
        Param("signal_dims", 2, 2, minimum=1, help="signal coordinates (their mean depends on the label)"),
        Param("nuisance_dims", nuisance_dims, nuisance_dims_full, minimum=1,
              help="heavy-tailed nuisance coordinates (independent of the label)"),
    )


def grouping_param(default: list, full: list | None = None, tiny: list | None = None, **kw: Any) -> Param:
    return Param("groupings", default, full, help="normalizer groupings (ibnorm.groupings names)",
                 choices=GROUPING_CHOICES, tiny=tiny, **kw)


def compression_param(default: list, full: list | None = None, tiny: list | None = None, **kw) -> Param:
    return Param("compressions", default, full, help="IBNorm compressions (ibnorm.compression names)",
                 choices=COMPRESSION_CHOICES, tiny=tiny, **kw)
