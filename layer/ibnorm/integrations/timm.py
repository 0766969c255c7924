"""IBNorm for timm: ``norm_layer`` names in timm's norm-layer registry, and one-call conversion.

* :func:`register_norm_layers` adds ``ib_``-prefixed names to timm's registries of norm layers
  (``timm.layers.create_norm._NORM_MAP``, read by ``get_norm_layer``) and norm-activation layers
  (``timm.layers.create_norm_act._NORM_ACT_MAP``, read by ``get_norm_act_layer``), so that
  ``timm.create_model("vit_small_patch16_224", norm_layer="ib_layernorm")`` or
  ``timm.create_model("efficientnet_b0", norm_layer="ib_batchnorm2d")`` builds IBNorm layers. Each name
  builds timm's own layer (timm's constructor arguments and defaults) and converts it with
  :func:`ibnorm.convert_norms`, so the result is exactly what converting the plain model gives.
* :func:`apply_ibnorm` converts a built or loaded timm model (any model: ``LayerNorm``, ``LayerNorm2d``,
  ``BatchNormAct2d`` keeping its activation, ``GroupNorm1``, ``RmsNorm``, ...).

A ``functools.partial`` of an IBNorm class also works as ``norm_layer`` without any registration, e.g.
``norm_layer=partial(ibnorm.IBLayerNorm, eps=1e-6, compression="log")``. timm is imported on first use.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, cast

from torch import nn

from ..convert import convert_norms
from ..nn import IBSettings

__all__ = ["register_norm_layers", "apply_ibnorm", "PREFIX"]

#: the prefix of the registered names ("ib_layernorm"; timm drops "_" and lower-cases: "iblayernorm" works too)
PREFIX = "ib_"
#: timm's plain and norm-activation names that get an IBNorm twin
NORM_NAMES = ("batchnorm", "batchnorm2d", "batchnorm1d", "groupnorm", "groupnorm1", "layernorm", "layernorm2d",
              "rmsnorm", "rmsnorm2d")
NORM_ACT_NAMES = ("batchnorm", "batchnorm2d", "groupnorm", "groupnorm1", "layernorm", "layernorm2d")


def _timm_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as err:  # pragma: no cover - exercised where timm is absent
        raise ImportError("ibnorm.integrations.timm needs the timm package: pip install timm") from err


def _converting(factory: Callable[..., nn.Module], settings: IBSettings) -> Callable[..., nn.Module]:
    """A norm-layer constructor with ``factory``'s signature that returns the converted layer."""

    def make(*args: Any, **kwargs: Any) -> nn.Module:
        return convert_norms(factory(*args, **kwargs), settings.compression, settings.lam, settings.order)

    make.__name__ = make.__qualname__ = f"ib_{getattr(factory, '__name__', 'norm')}"
    make.__doc__ = f"{getattr(factory, '__name__', factory)} converted to IBNorm ({settings})"
    return make


def register_norm_layers(compression: str = "tanh", lam: float = 1.0, order: str = "compress_first") -> list[str]:
    """Register ``ib_<name>`` in timm's norm-layer registries for the names in :data:`NORM_NAMES` /
    :data:`NORM_ACT_NAMES`, with these settings (calling it again replaces them). Returns the names."""
    settings = IBSettings(compression, lam, order)  # type: ignore[arg-type]  # validated here
    norm = _timm_module("timm.layers.create_norm")
    norm_act = _timm_module("timm.layers.create_norm_act")
    key = PREFIX.replace("_", "")
    names = []
    for name in NORM_NAMES:
        norm._NORM_MAP[key + name] = _converting(norm._NORM_MAP[name], settings)
        names.append(PREFIX + name)
    for name in NORM_ACT_NAMES:
        maker = _converting(norm_act._NORM_ACT_MAP[name], settings)
        if norm_act._NORM_ACT_MAP[name] in norm_act._NORM_ACT_REQUIRES_ARG:
            norm_act._NORM_ACT_REQUIRES_ARG.add(maker)  # so that timm passes the model's act_layer
        norm_act._NORM_ACT_MAP[key + name] = maker
    return names


def apply_ibnorm(model: nn.Module, compression: str = "tanh", lam: float = 1.0, order: str = "compress_first",
                 **convert_kwargs: Any) -> nn.Module:
    """Convert every normalizer of a timm model in place (:func:`ibnorm.convert_norms`); returns it."""
    return cast(nn.Module, convert_norms(model, compression, lam, order, **convert_kwargs))
