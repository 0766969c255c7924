"""IBNorm modules mirroring ``torch.nn``: IBLayerNorm, IBRMSNorm, IBBatchNorm1d/2d, IBGroupNorm.

Each subclasses its torch counterpart, so the constructor signature, the parameters, the buffers and
the ``state_dict`` keys are the torch ones (a checkpoint of the torch model loads after
:func:`ibnorm.convert_norms`). The extra keyword arguments are ``compression``, ``lam`` and ``order``
(see :mod:`ibnorm.functional`). The one extra buffer, ``running_zmean`` of the BatchNorm variants,
defaults to zero when a torch checkpoint does not contain it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from . import functional as IBF
from .compression import get_compression, validate_lam

__all__ = ["IBLayerNorm", "IBRMSNorm", "IBBatchNorm1d", "IBBatchNorm2d", "IBGroupNorm", "IB_MODULES"]


class _IBMixin:
    """Holds and validates the compression settings shared by every IB module."""

    def _init_ib(self, compression: str, lam: float, order: str) -> None:
        comp = get_compression(compression)
        self.compression = comp.name
        self.lam = validate_lam(comp, lam)
        self.order = IBF._check_order(order)

    def _ib_repr(self) -> str:
        return f"compression={self.compression!r}, lam={self.lam}, order={self.order!r}"


class IBLayerNorm(_IBMixin, nn.LayerNorm):
    """LayerNorm grouping with compression. ``IBLayerNorm(..., compression="identity") == nn.LayerNorm``."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None, compression: str = "tanh", lam: float = 1.0,
                 order: str = "compress_first", backend: str | None = None) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, bias, device=device, dtype=dtype)
        self._init_ib(compression, lam, order)
        self.backend = backend

    def forward(self, x: Tensor) -> Tensor:
        return IBF.ib_layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps,
                                 self.compression, self.lam, self.order, self.backend)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"


class IBRMSNorm(_IBMixin, nn.RMSNorm):
    """RMSNorm grouping with compression. ``IBRMSNorm(..., compression="identity") == nn.RMSNorm``."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True,
                 device=None, dtype=None, compression: str = "tanh", lam: float = 1.0,
                 order: str = "compress_first", backend: str | None = None) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, device=device, dtype=dtype)
        self._init_ib(compression, lam, order)
        self.backend = backend

    def forward(self, x: Tensor) -> Tensor:
        return IBF.ib_rms_norm(x, self.normalized_shape, self.weight, self.eps,
                               self.compression, self.lam, self.order, self.backend)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"


class _IBBatchNorm(_IBMixin, nn.modules.batchnorm._BatchNorm):
    """BatchNorm grouping with compression; the training/eval and momentum logic is torch's."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True,
                 compression: str = "tanh", lam: float = 1.0, order: str = "compress_first") -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype,
                         bias=bias)
        self._init_ib(compression, lam, order)
        if track_running_stats:
            self.register_buffer("running_zmean", torch.zeros(num_features, device=device, dtype=dtype))
        else:
            self.register_buffer("running_zmean", None)

    def reset_running_stats(self) -> None:
        super().reset_running_stats()
        if getattr(self, "running_zmean", None) is not None:
            self.running_zmean.zero_()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + "running_zmean"
        if key not in state_dict and getattr(self, "running_zmean", None) is not None:
            state_dict[key] = torch.zeros_like(self.running_zmean)  # a torch BatchNorm checkpoint
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
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
        return f"{super().extra_repr()}, {self._ib_repr()}"


class IBBatchNorm1d(_IBBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` grouping with compression; input (N, C) or (N, C, L)."""


class IBBatchNorm2d(_IBBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` grouping with compression; input (N, C, H, W)."""


class IBGroupNorm(_IBMixin, nn.GroupNorm):
    """GroupNorm grouping with compression. ``IBGroupNorm(..., compression="identity") == nn.GroupNorm``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True, compression: str = "tanh", lam: float = 1.0,
                 order: str = "compress_first") -> None:
        super().__init__(num_groups, num_channels, eps, affine, device=device, dtype=dtype, bias=bias)
        self._init_ib(compression, lam, order)

    def forward(self, x: Tensor) -> Tensor:
        return IBF.ib_group_norm(x, self.num_groups, self.weight, self.bias, self.eps,
                                 self.compression, self.lam, self.order)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._ib_repr()}"


#: torch class -> IB class, used by :func:`ibnorm.convert_norms`. Order matters: subclasses first.
IB_MODULES = {
    nn.LayerNorm: IBLayerNorm,
    nn.RMSNorm: IBRMSNorm,
    nn.BatchNorm1d: IBBatchNorm1d,
    nn.BatchNorm2d: IBBatchNorm2d,
    nn.GroupNorm: IBGroupNorm,
}
