"""``convert_norms``: swap the normalization layers of an existing model for their IBNorm versions."""
from __future__ import annotations

from torch import nn

from .compression import get_compression, validate_lam
from .functional import _check_order
from .nn import IB_MODULES, IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm, IBLayerNorm, IBRMSNorm

__all__ = ["convert_norms"]

_IB_TYPES = (IBLayerNorm, IBRMSNorm, IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm)


def _constructor_kwargs(m: nn.Module) -> dict:
    """The torch constructor arguments that rebuild ``m`` (same config, same parameter shapes)."""
    if isinstance(m, nn.LayerNorm):
        return dict(normalized_shape=m.normalized_shape, eps=m.eps, elementwise_affine=m.elementwise_affine,
                    bias=m.bias is not None or not m.elementwise_affine)
    if isinstance(m, nn.RMSNorm):
        return dict(normalized_shape=m.normalized_shape, eps=m.eps, elementwise_affine=m.elementwise_affine)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return dict(num_features=m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                    track_running_stats=m.track_running_stats, bias=m.bias is not None or not m.affine)
    if isinstance(m, nn.GroupNorm):
        return dict(num_groups=m.num_groups, num_channels=m.num_channels, eps=m.eps, affine=m.affine,
                    bias=m.bias is not None or not m.affine)
    raise TypeError(f"cannot convert {type(m).__name__}")


def _ib_class(m: nn.Module):
    for torch_cls, ib_cls in IB_MODULES.items():
        if type(m) is torch_cls:
            return ib_cls
    return None


def _swap(m: nn.Module, compression: str, lam: float, order: str) -> nn.Module:
    ib_cls = _ib_class(m)
    kwargs = _constructor_kwargs(m)
    ref = next(iter(list(m.parameters()) + list(m.buffers())), None)
    new = ib_cls(**kwargs, compression=compression, lam=lam, order=order,
                 device=None if ref is None else ref.device,
                 dtype=None if ref is None or not ref.is_floating_point() else ref.dtype)
    new.load_state_dict(m.state_dict(), strict=True)
    new.train(m.training)
    for p_new, p_old in zip(new.parameters(), m.parameters()):
        p_new.requires_grad_(p_old.requires_grad)
    return new


def convert_norms(model: nn.Module, compression: str = "tanh", lam: float = 1.0, order: str = "compress_first",
                  types: tuple[type, ...] | None = None) -> nn.Module:
    """Replace every ``nn.LayerNorm``, ``nn.RMSNorm``, ``nn.BatchNorm1d/2d`` and ``nn.GroupNorm`` in
    ``model`` (in place) by its IBNorm version with the same configuration and weights.

    Only exact torch types are swapped (subclasses with custom behaviour are left alone), and modules
    that already are IBNorm layers are untouched. ``types`` restricts the swap to some torch classes.
    Returns the model; if ``model`` itself is a normalizer, the new module is returned.
    """
    comp = get_compression(compression)
    lam = validate_lam(comp, lam)
    _check_order(order)
    allowed = tuple(IB_MODULES) if types is None else tuple(types)

    def wanted(m: nn.Module) -> bool:
        return not isinstance(m, _IB_TYPES) and _ib_class(m) is not None and type(m) in allowed

    if wanted(model):
        return _swap(model, comp.name, lam, order)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if wanted(child):
                setattr(parent, name, _swap(child, comp.name, lam, order))
    return model
