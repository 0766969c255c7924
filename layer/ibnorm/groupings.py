"""The normalizer vocabulary: the five groupings, and the resolved spec of any normalization module.

A normalizer is a *grouping* (which elements share statistics; the NAP step in the taxonomy of Huang
et al., arXiv 2009.12836), a compression ``f_lam`` with its order (IBNorm, arXiv 2510.25262; the
identity compression is the plain torch normalizer), a standardization (NOP) and an affine (NRR).
The groupings, with the names used everywhere in this repository (layers, models, estimators,
claims, figures and tests):

========== ============================================ ======== ====================
name       statistics over                              centered torch module
========== ============================================ ======== ====================
layer      the trailing ``normalized_shape`` dims         yes      ``nn.LayerNorm``
rms        the trailing ``normalized_shape`` dims         no       ``nn.RMSNorm``
batch      the batch and spatial dims, per channel        yes      ``nn.BatchNorm*d``
group      channels split in ``num_groups``, + spatial    yes      ``nn.GroupNorm``
instance   the spatial dims, per sample and channel       yes      ``nn.InstanceNorm*d``
========== ============================================ ======== ====================

:func:`standardize` is the one implementation of "apply grouping G without affine" (batch
statistics; for ``batch``, training-mode statistics over the batch). :class:`NormalizerSpec` is what
an estimator needs to know about a module (grouping, compression, eps, the affine parameters, the
running statistics); :func:`spec_of` returns it for torch's normalizers, their subclasses and the
IBNorm modules, and :func:`register_spec_adapter` extends it to third-party classes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from . import functional as IBF
from ._checks import check_order, rms_eps
from ._types import GROUPING_NAMES, GroupingName, Order

__all__ = [
    "GroupingName", "Grouping", "GROUPINGS", "get_grouping", "standardize", "NormalizerSpec", "spec_of",
    "register_spec_adapter",
]


@dataclass(frozen=True)
class Grouping:
    """One grouping: its name, whether it subtracts the mean, and a short label for tables."""

    name: GroupingName
    center: bool
    label: str
    description: str


GROUPINGS: dict[str, Grouping] = {
    g.name: g for g in (
        Grouping("layer", True, "LN", "per sample, over the trailing normalized_shape dims"),
        Grouping("rms", False, "RMS", "per sample, over the trailing normalized_shape dims, no centering"),
        Grouping("batch", True, "BN", "per channel (dim 1), over the batch and spatial dims"),
        Grouping("group", True, "GN", "per sample and group of channels, over the group and spatial dims"),
        Grouping("instance", True, "IN", "per sample and channel, over the spatial dims"),
    )
}
assert tuple(GROUPINGS) == GROUPING_NAMES


def get_grouping(name: str) -> Grouping:
    """The :class:`Grouping` called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return GROUPINGS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown grouping {name!r}; known: {', '.join(GROUPINGS)}") from None


def standardize(x: Tensor, grouping: str, *, compression: str = "identity", lam: float = 1.0,
                order: Order = "compress_first", eps: float | None = 1e-5,
                normalized_shape: int | Sequence[int] | None = None, num_groups: int | None = None) -> Tensor:
    """The normalizer's output before its affine, from the statistics of ``x`` itself.

    ``layer``/``rms``: ``normalized_shape`` defaults to the last dim; ``eps=None`` for ``rms`` means
    torch's ``finfo(dtype).eps``. ``batch``: training-mode statistics over dims (0, 2, ...).
    ``group`` needs ``num_groups``; ``instance`` is ``group`` with one channel per group. Input
    ``(N, C, *)`` for batch/group/instance. With ``compression="identity"`` this is the torch op.
    """
    g = get_grouping(grouping)
    if g.name in ("layer", "rms"):
        shape = (x.shape[-1],) if normalized_shape is None else normalized_shape
        if g.name == "layer":
            return IBF.ib_layer_norm(x, shape, None, None, 1e-5 if eps is None else eps, compression, lam, order)
        return IBF.ib_rms_norm(x, shape, None, eps, compression, lam, order)
    e = 1e-5 if eps is None else float(eps)
    if g.name == "batch":
        return IBF.ib_batch_norm(x, None, None, None, None, True, 0.0, e, compression, lam, order)
    if g.name == "instance":
        if x.dim() < 2:
            raise ValueError(f"instance grouping expects an input of shape (N, C, *), got {list(x.shape)}")
        num_groups = x.shape[1]
    if num_groups is None:
        raise ValueError("the group grouping needs num_groups")
    return IBF.ib_group_norm(x, num_groups, None, None, e, compression, lam, order)


@dataclass(frozen=True)
class NormalizerSpec:
    """A normalization module, resolved: everything an estimator needs, whatever the module's class.

    ``weight``/``bias`` and the running statistics are the module's own tensors (not copies).
    ``weight_offset`` is added to the weight (Gemma's RMSNorm computes ``x * (1 + w)``).
    ``use_running_stats`` is True for a batch-grouping module that normalizes with its running
    statistics (eval mode with tracked statistics), False when it uses the batch's statistics.
    ``module`` is the module the spec describes.
    """

    grouping: GroupingName
    compression: str = "identity"
    lam: float = 1.0
    order: Order = "compress_first"
    eps: float | None = 1e-5
    normalized_shape: tuple[int, ...] | None = None
    num_groups: int | None = None
    weight: Tensor | None = None
    bias: Tensor | None = None
    weight_offset: float = 0.0
    running_mean: Tensor | None = None
    running_var: Tensor | None = None
    running_zmean: Tensor | None = None
    use_running_stats: bool = False
    module: nn.Module | None = None

    @property
    def center(self) -> bool:
        return GROUPINGS[self.grouping].center

    def effective_eps(self, dtype: torch.dtype) -> float:
        """eps as the op uses it (RMS ``eps=None`` is ``finfo(dtype).eps``: :func:`ibnorm._checks.rms_eps`)."""
        return rms_eps(self.eps, dtype)

    def group_size(self, x: Tensor) -> int:
        """Elements per statistics group for an input ``x`` (batch grouping: the whole batch's)."""
        if self.grouping in ("layer", "rms"):
            return math.prod(self.normalized_shape or (x.shape[-1],))
        if self.grouping == "batch":
            return x.numel() // x.shape[1]
        groups = x.shape[1] if self.grouping == "instance" else int(self.num_groups or 1)
        return x[0].numel() // groups

    def gamma(self) -> Tensor | None:
        """The effective affine scale (``weight + weight_offset``), or None without a weight."""
        if self.weight is None:
            return None
        return self.weight + self.weight_offset if self.weight_offset else self.weight

    def standardize(self, x: Tensor) -> Tensor:
        """The module's output before its affine (running statistics where the module uses them)."""
        if self.grouping == "batch" and self.use_running_stats:
            return IBF.ib_batch_norm(x, self.running_mean, self.running_var, None, None, False, 0.0,
                                     self.effective_eps(x.dtype), self.compression, self.lam, self.order,
                                     running_zmean=self.running_zmean)
        return standardize(x, self.grouping, compression=self.compression, lam=self.lam, order=self.order,
                           eps=self.eps, normalized_shape=self.normalized_shape, num_groups=self.num_groups)

    def affine(self, y: Tensor) -> Tensor:
        """``y * gamma + bias``, broadcast over the grouping's parameter layout."""
        gamma = self.gamma()
        if self.grouping in ("layer", "rms"):
            shape: tuple[int, ...] | None = None
        else:  # per channel, dim 1
            shape = (1, y.shape[1]) + (1,) * (y.dim() - 2)
        if gamma is not None:
            y = y * (gamma if shape is None else gamma.view(shape))
        if self.bias is not None:
            y = y + (self.bias if shape is None else self.bias.view(shape))
        return y

    def forward(self, x: Tensor) -> Tensor:
        """What the module computes (``affine(standardize(x))``); for modules with an activation after
        the normalizer (timm's ``BatchNormAct2d``), the normalizer part only."""
        return self.affine(self.standardize(x))

    def with_(self, **changes: Any) -> "NormalizerSpec":
        return replace(self, **changes)


#: adapters for classes this module does not know: (predicate, function module -> spec), tried in order
_ADAPTERS: list[tuple[Callable[[nn.Module], bool], Callable[[nn.Module], NormalizerSpec]]] = []


def register_spec_adapter(matches: Callable[[nn.Module], bool],
                          to_spec: Callable[[nn.Module], NormalizerSpec]) -> None:
    """Teach :func:`spec_of` a third-party normalizer class (tried before the built-in rules)."""
    _ADAPTERS.insert(0, (matches, to_spec))


def _ib_settings(m: nn.Module) -> dict[str, Any]:
    return {"compression": getattr(m, "compression", "identity"), "lam": float(getattr(m, "lam", 1.0)),
            "order": check_order(getattr(m, "order", "compress_first"))}


def spec_of(m: nn.Module) -> NormalizerSpec | None:
    """The :class:`NormalizerSpec` of a normalization module, or None if ``m`` is not one.

    Knows ``nn.LayerNorm``, ``nn.RMSNorm``, ``nn.BatchNorm1d/2d/3d`` (and ``SyncBatchNorm``),
    ``nn.GroupNorm``, ``nn.InstanceNorm1d/2d/3d``, their subclasses (which must compute the same
    function) and every IBNorm module; other classes through :func:`register_spec_adapter`.
    """
    for matches, to_spec in _ADAPTERS:
        if matches(m):
            return to_spec(m)
    ib = _ib_settings(m)
    if isinstance(m, nn.LayerNorm):
        return NormalizerSpec("layer", eps=float(m.eps), normalized_shape=tuple(m.normalized_shape),
                              weight=m.weight, bias=m.bias, module=m, **ib)
    if isinstance(m, nn.RMSNorm):
        return NormalizerSpec("rms", eps=None if m.eps is None else float(m.eps),
                              normalized_shape=tuple(m.normalized_shape), weight=m.weight, module=m, **ib)
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        use_running = not m.training and m.track_running_stats and m.running_mean is not None
        if use_running:
            return None  # per-sample centering with running statistics: not a grouping of this vocabulary
        return NormalizerSpec("instance", eps=float(m.eps), weight=m.weight, bias=m.bias, module=m, **ib)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        use_running = not m.training and m.running_mean is not None and m.running_var is not None
        return NormalizerSpec("batch", eps=float(m.eps), weight=m.weight, bias=m.bias,
                              running_mean=m.running_mean, running_var=m.running_var,
                              running_zmean=getattr(m, "running_zmean", None), use_running_stats=use_running,
                              module=m, **ib)
    if isinstance(m, nn.GroupNorm):
        return NormalizerSpec("group", eps=float(m.eps), num_groups=int(m.num_groups), weight=m.weight,
                              bias=m.bias, module=m, **ib)
    return None
