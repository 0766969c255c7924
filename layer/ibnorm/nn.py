"""IBNorm modules mirroring ``torch.nn`` (IBNorm: arXiv 2510.25262; the compressions are our
reconstruction, see :mod:`ibnorm.compression`).

Each subclasses its torch counterpart, so the constructor signature, the parameters, the buffers and the
``state_dict`` keys are the torch ones plus two: ``_extra_state`` (every IB module) and ``running_zmean``
(the BatchNorm variants). The extra keyword arguments are ``compression``, ``lam`` and ``order`` (see
:mod:`ibnorm.functional`); ``IBRMSNorm`` also takes ``weight_offset`` (Gemma's ``x * (1 + w)``).

**The choice is part of the checkpoint.** ``_extra_state`` is a small ``uint8`` tensor holding the
settings as JSON (a tensor, so that safetensors files keep it too; see :class:`IBSettings`):

* IB checkpoint -> IB model: the checkpoint's compression, lam and order are restored (they win over
  the constructor's);
* plain torch checkpoint -> IB model: loads, strict included; the module keeps its own settings and
  ``running_zmean`` defaults to zero;
* IB checkpoint -> plain torch model: a strict ``load_state_dict`` raises (unexpected
  ``..._extra_state`` keys), a non-strict one lists them in ``unexpected_keys``.

The layers beyond the five of the paper cover the normalizers that :func:`ibnorm.convert_norms` meets in
common models: ``IBBatchNorm3d``, ``IBSyncBatchNorm``, ``IBInstanceNorm1d/2d/3d``, ``IBLayerNorm2d`` and
``IBRMSNorm2d`` (over the channels of an ``(N, C, *)`` input, the ConvNeXt layout) and the "norm, dropout,
activation" layers of timm (``IBBatchNormAct2d``, ``IBGroupNormAct``, ``IBLayerNormAct``,
``IBLayerNormAct2d``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from . import functional as IBF
from ._types import Backend, Order
from .compression import get_compression, validate_lam

__all__ = [
    "Order", "IBSettings", "IBModule", "IBLayerNorm", "IBRMSNorm", "IBBatchNorm1d", "IBBatchNorm2d", "IBBatchNorm3d",
    "IBSyncBatchNorm", "IBGroupNorm", "IBInstanceNorm1d", "IBInstanceNorm2d", "IBInstanceNorm3d", "IBLayerNorm2d",
    "IBRMSNorm2d",
    "IBBatchNormAct2d", "IBGroupNormAct", "IBLayerNormAct", "IBLayerNormAct2d", "IB_MODULES",
]

#: the ``format`` tag of an IB module's saved settings, and the version of that encoding
STATE_FORMAT = "ibnorm"
STATE_VERSION = 1


@dataclass(frozen=True)
class IBSettings:
    """The IBNorm choice of one module: compression name, lam and order (validated on construction)."""

    compression: str = "tanh"
    lam: float = 1.0
    order: Order = "compress_first"

    def __post_init__(self) -> None:
        comp = get_compression(self.compression)
        object.__setattr__(self, "compression", comp.name)
        object.__setattr__(self, "lam", validate_lam(comp, float(self.lam)))
        IBF._check_order(self.order)

    def encode(self, **extra: float | str) -> Tensor:
        """The settings (and ``extra`` class-specific fields) as a 1-D ``uint8`` tensor of JSON text."""
        record: dict[str, Any] = {"format": STATE_FORMAT, "version": STATE_VERSION, **asdict(self), **extra}
        data = json.dumps(record, sort_keys=True).encode("utf-8")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()

    @staticmethod
    def decode(state: object) -> dict[str, Any]:
        """The record written by :meth:`encode` (a tensor, or the dict itself); ``ValueError`` otherwise."""
        if isinstance(state, Tensor):
            if state.dtype != torch.uint8 or state.dim() != 1:
                raise ValueError(f"IBNorm extra state must be a 1-D uint8 tensor, got {state.dtype} {list(state.shape)}")
            try:
                record = json.loads(bytes(state.cpu().tolist()).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ValueError(f"IBNorm extra state is not valid JSON: {err}") from None
        elif isinstance(state, Mapping):
            record = dict(state)
        else:
            raise ValueError(f"IBNorm extra state must be a tensor or a mapping, got {type(state).__name__}")
        if not isinstance(record, dict) or record.get("format") != STATE_FORMAT:
            raise ValueError(f"not an IBNorm extra state: {record!r}")
        if int(record.get("version", 0)) > STATE_VERSION:
            raise ValueError(f"IBNorm extra state version {record['version']} is newer than this ibnorm "
                             f"({STATE_VERSION}); upgrade ibnorm")
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IBSettings:
        name = record["compression"]
        try:
            get_compression(name)
        except ValueError:
            raise ValueError(f"the checkpoint uses compression {name!r}, which is not registered here; call "
                             "ibnorm.register_compression(...) before loading it") from None
        return cls(name, float(record["lam"]), cast(Order, record["order"]))


class IBModule(nn.Module):
    """What every IB module shares: its :class:`IBSettings`, changing them in place, and saving them.

    Mixed in before the torch class (``class IBLayerNorm(IBModule, nn.LayerNorm)``).
    """

    compression: str
    lam: float
    order: Order

    def _init_ib(self, compression: str, lam: float, order: str) -> None:
        self._apply_settings(IBSettings(compression, lam, cast(Order, order)))

    def _apply_settings(self, s: IBSettings) -> None:
        self.compression, self.lam, self.order = s.compression, s.lam, s.order

    @property
    def ib_settings(self) -> IBSettings:
        return IBSettings(self.compression, self.lam, self.order)

    def set_ib(self, compression: str | None = None, lam: float | None = None, order: str | None = None) -> None:
        """Change the compression / lam / order in place (validated together; parameters untouched)."""
        s = self.ib_settings
        self._apply_settings(IBSettings(s.compression if compression is None else compression,
                                        s.lam if lam is None else lam, cast(Order, s.order if order is None else order)))

    def _extra_fields(self) -> dict[str, float | str]:
        """Class-specific settings saved beside compression/lam/order (``IBRMSNorm``: ``weight_offset``)."""
        return {}

    def _set_extra_fields(self, record: Mapping[str, Any]) -> None:
        pass

    def get_extra_state(self) -> Tensor:
        return self.ib_settings.encode(**self._extra_fields())

    def set_extra_state(self, state: Any) -> None:
        record = IBSettings.decode(state)
        self._apply_settings(IBSettings.from_record(record))
        self._set_extra_fields(record)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        key = prefix + "_extra_state"
        if key not in state_dict:
            state_dict[key] = self.get_extra_state()  # a plain torch checkpoint: keep this module's settings
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _ib_repr(self) -> str:
        return f"compression={self.compression!r}, lam={self.lam}, order={self.order!r}"


class IBLayerNorm(IBModule, nn.LayerNorm):
    """LayerNorm grouping with compression. ``IBLayerNorm(..., compression="identity") == nn.LayerNorm``."""

    def __init__(self, normalized_shape: int | list[int] | tuple[int, ...] | torch.Size, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None, dtype: Any = None,
                 compression: str = "tanh", lam: float = 1.0, order: str = "compress_first",
                 backend: Backend | None = None) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, bias, device=device, dtype=dtype)
        self._init_ib(compression, lam, order)
        self.backend = backend

    def forward(self, x: Tensor) -> Tensor:
        return IBF.ib_layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps,
                                 self.compression, self.lam, self.order, self.backend)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"


class IBRMSNorm(IBModule, nn.RMSNorm):
    """RMSNorm grouping with compression. ``IBRMSNorm(..., compression="identity") == nn.RMSNorm``.

    ``weight_offset`` is added to the weight in the forward (``y = n(x) * (weight + weight_offset)``):
    1.0 for Gemma's RMSNorm, whose stored weight is ``w`` in ``x * (1 + w)``. It is saved in the checkpoint.
    """

    def __init__(self, normalized_shape: int | list[int] | tuple[int, ...] | torch.Size, eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None, dtype: Any = None, compression: str = "tanh",
                 lam: float = 1.0, order: str = "compress_first", backend: Backend | None = None, *,
                 weight_offset: float = 0.0) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, device=device, dtype=dtype)
        self._init_ib(compression, lam, order)
        self.backend = backend
        self.weight_offset = float(weight_offset)

    def forward(self, x: Tensor) -> Tensor:
        w: Tensor | None = self.weight
        if w is not None and self.weight_offset:
            w = w + self.weight_offset
        return IBF.ib_rms_norm(x, self.normalized_shape, w, self.eps, self.compression, self.lam, self.order,
                               self.backend)

    def _extra_fields(self) -> dict[str, float | str]:
        return {"weight_offset": self.weight_offset}

    def _set_extra_fields(self, record: Mapping[str, Any]) -> None:
        self.weight_offset = float(record.get("weight_offset", 0.0))

    def extra_repr(self) -> str:
        offset = f", weight_offset={self.weight_offset}" if self.weight_offset else ""
        return f"{super().extra_repr()}{offset}, {self._ib_repr()}"


class _ChannelsFirst(IBModule):
    """A row-wise normalizer (LayerNorm / RMSNorm grouping) applied over the channels (dim 1) of an
    ``(N, C, *)`` input at each position, the ConvNeXt layout; ``normalized_shape`` is ``C``. With the
    identity compression it equals the torch op on the channels-last view (``movedim(1, -1)``), bit for bit."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"{type(self).__name__} expects an input of shape (N, C, *), got {list(x.shape)}")
        return cast(Tensor, super().forward(x.movedim(1, -1))).movedim(-1, 1)


class IBLayerNorm2d(_ChannelsFirst, IBLayerNorm):
    """LayerNorm over the channels of ``(N, C, *)``: timm's and torchvision's ``LayerNorm2d``."""


class IBRMSNorm2d(_ChannelsFirst, IBRMSNorm):
    """RMSNorm over the channels of ``(N, C, *)``: timm's ``RmsNorm2d``."""


class _IBBatchNorm(IBModule, nn.modules.batchnorm._BatchNorm):
    """BatchNorm grouping with compression; the training/eval and momentum logic is torch's."""

    running_zmean: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *, bias: bool = True,
                 compression: str = "tanh", lam: float = 1.0, order: str = "compress_first") -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype,
                         bias=bias)
        self._init_ib(compression, lam, order)
        self._register_zmean(track_running_stats, device, dtype)

    def _register_zmean(self, track_running_stats: bool, device: Any, dtype: Any) -> None:
        if track_running_stats:
            self.register_buffer("running_zmean", torch.zeros(self.num_features, device=device, dtype=dtype))
        else:
            self.register_buffer("running_zmean", None)

    def reset_running_stats(self) -> None:
        super().reset_running_stats()
        if getattr(self, "running_zmean", None) is not None:
            cast(Tensor, self.running_zmean).zero_()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        key = prefix + "running_zmean"
        if key not in state_dict and self.running_zmean is not None:
            state_dict[key] = torch.zeros_like(self.running_zmean)  # a torch BatchNorm checkpoint
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)  # type: ignore[no-untyped-call]
        # momentum / num_batches_tracked bookkeeping exactly as nn.modules.batchnorm._BatchNorm.forward
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return IBF.ib_batch_norm(
            x, self.running_mean if track else None, self.running_var if track else None,
            self.weight, self.bias, use_batch, factor, self.eps, self.compression, self.lam, self.order,
            running_zmean=self.running_zmean if track else None,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"  # type: ignore[no-untyped-call]


class IBBatchNorm1d(_IBBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` grouping with compression; input (N, C) or (N, C, L)."""


class IBBatchNorm2d(_IBBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` grouping with compression; input (N, C, H, W)."""


class IBBatchNorm3d(_IBBatchNorm, nn.BatchNorm3d):
    """``nn.BatchNorm3d`` grouping with compression; input (N, C, D, H, W)."""


class IBSyncBatchNorm(_IBBatchNorm, nn.SyncBatchNorm):
    """``nn.SyncBatchNorm`` grouping with compression; input (N, C, *).

    The identity compression is ``nn.SyncBatchNorm.forward`` itself (statistics synchronized across the
    process group in distributed training). A non-identity compression uses this process's batch only, so
    it raises ``NotImplementedError`` when training under an initialized process group of more than one
    process, rather than silently computing per-process statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any | None = None, device: Any = None,
                 dtype: Any = None, *, bias: bool = True, compression: str = "tanh", lam: float = 1.0,
                 order: str = "compress_first") -> None:
        nn.SyncBatchNorm.__init__(self, num_features, eps, momentum, affine, track_running_stats, process_group,
                                  device=device, dtype=dtype, bias=bias)
        self._init_ib(compression, lam, order)
        self._register_zmean(track_running_stats, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.compression == "identity":
            return nn.SyncBatchNorm.forward(self, x)
        dist = torch.distributed
        if self.training and dist.is_available() and dist.is_initialized():
            group = self.process_group or dist.group.WORLD
            if dist.get_world_size(group) > 1:
                raise NotImplementedError(
                    f"IBSyncBatchNorm with compression={self.compression!r}: cross-process statistics are not "
                    "implemented; use compression='identity' or per-process IBBatchNorm layers")
        return super().forward(x)


class IBGroupNorm(IBModule, nn.GroupNorm):
    """GroupNorm grouping with compression. ``IBGroupNorm(..., compression="identity") == nn.GroupNorm``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True, compression: str = "tanh",
                 lam: float = 1.0, order: str = "compress_first") -> None:
        super().__init__(num_groups, num_channels, eps, affine, device=device, dtype=dtype, bias=bias)
        self._init_ib(compression, lam, order)

    def forward(self, x: Tensor) -> Tensor:
        return IBF.ib_group_norm(x, self.num_groups, self.weight, self.bias, self.eps,
                                 self.compression, self.lam, self.order)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"


class _IBInstanceNorm(IBModule, nn.modules.instancenorm._InstanceNorm):
    """InstanceNorm grouping with compression (GroupNorm with one channel per group, per sample).

    The identity compression is torch's own forward (bit for bit, running statistics included). A
    non-identity compression needs ``track_running_stats=False`` (torch's default): instance statistics
    with running averages are not defined for a compressed input here, so the constructor raises.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None, *, bias: bool = True,
                 compression: str = "tanh", lam: float = 1.0, order: str = "compress_first") -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats,  # type: ignore[arg-type]
                         device=device, dtype=dtype, bias=bias)
        self._init_ib(compression, lam, order)
        self._check_settings()

    def _check_settings(self) -> None:
        if self.track_running_stats and self.compression != "identity":
            raise ValueError(f"{type(self).__name__} with track_running_stats=True supports only "
                             f"compression='identity', got {self.compression!r}")

    def _apply_settings(self, s: IBSettings) -> None:
        super()._apply_settings(s)
        if hasattr(self, "track_running_stats"):
            self._check_settings()

    def forward(self, x: Tensor) -> Tensor:
        if self.compression == "identity":
            return super().forward(x)
        self._check_input_dim(x)  # type: ignore[no-untyped-call]
        unbatched = x.dim() == self._get_no_batch_dim()  # type: ignore[no-untyped-call]
        xb = x.unsqueeze(0) if unbatched else x
        if xb.shape[1] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                             f"but got: {xb.shape[1]}.")
        y = IBF.ib_group_norm(xb, xb.shape[1], self.weight, self.bias, self.eps, self.compression, self.lam,
                              self.order)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"  # type: ignore[no-untyped-call]


class IBInstanceNorm1d(_IBInstanceNorm, nn.InstanceNorm1d):
    """``nn.InstanceNorm1d`` grouping with compression; input (N, C, L) or (C, L)."""


class IBInstanceNorm2d(_IBInstanceNorm, nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` grouping with compression; input (N, C, H, W) or (C, H, W)."""


class IBInstanceNorm3d(_IBInstanceNorm, nn.InstanceNorm3d):
    """``nn.InstanceNorm3d`` grouping with compression; input (N, C, D, H, W) or (C, D, H, W)."""


# ------------------------------------------------------------------------ norm -> dropout -> activation

class _NormAct(IBModule):
    """timm's "NormAct" layers: the normalizer, then ``self.drop``, then ``self.act`` (children of the
    module, so their state_dict keys are timm's). Built by :func:`ibnorm.convert_norms` from timm's
    ``BatchNormAct2d`` / ``GroupNormAct`` / ``LayerNormAct`` / ``LayerNormAct2d``, reusing their ``drop``
    and ``act`` modules."""

    drop: nn.Module
    act: nn.Module

    def _attach(self, drop: nn.Module | None, act: nn.Module | None) -> None:
        self.drop = nn.Identity() if drop is None else drop
        self.act = nn.Identity() if act is None else act

    def forward(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.act(self.drop(super().forward(x))))


class IBBatchNormAct2d(_NormAct, IBBatchNorm2d):
    """``IBBatchNorm2d`` then ``drop`` then ``act`` (timm's ``BatchNormAct2d``)."""

    def __init__(self, *args: Any, drop: nn.Module | None = None, act: nn.Module | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attach(drop, act)


class IBGroupNormAct(_NormAct, IBGroupNorm):
    """``IBGroupNorm`` then ``drop`` then ``act`` (timm's ``GroupNormAct``)."""

    def __init__(self, *args: Any, drop: nn.Module | None = None, act: nn.Module | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attach(drop, act)


class IBLayerNormAct(_NormAct, IBLayerNorm):
    """``IBLayerNorm`` then ``drop`` then ``act`` (timm's ``LayerNormAct``)."""

    def __init__(self, *args: Any, drop: nn.Module | None = None, act: nn.Module | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attach(drop, act)


class IBLayerNormAct2d(_NormAct, IBLayerNorm2d):
    """``IBLayerNorm2d`` then ``drop`` then ``act`` (timm's ``LayerNormAct2d``)."""

    def __init__(self, *args: Any, drop: nn.Module | None = None, act: nn.Module | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attach(drop, act)


#: torch class -> IB class, the plain (channels-last, no activation) form; subclasses before their bases.
IB_MODULES: dict[type[nn.Module], type[IBModule]] = {
    nn.SyncBatchNorm: IBSyncBatchNorm,
    nn.LayerNorm: IBLayerNorm,
    nn.RMSNorm: IBRMSNorm,
    nn.BatchNorm1d: IBBatchNorm1d,
    nn.BatchNorm2d: IBBatchNorm2d,
    nn.BatchNorm3d: IBBatchNorm3d,
    nn.GroupNorm: IBGroupNorm,
    nn.InstanceNorm1d: IBInstanceNorm1d,
    nn.InstanceNorm2d: IBInstanceNorm2d,
    nn.InstanceNorm3d: IBInstanceNorm3d,
}
