"""The normalizer adapters: which modules of a model are normalizers, what IBNorm module replaces each,
and what :class:`~ibnorm.groupings.NormalizerSpec` describes it. One registry feeds both
:func:`ibnorm.convert_norms` and :func:`ibnorm.spec_of` (through :func:`ibnorm.groupings.register_spec_adapter`).

A module is matched **by behaviour**, not by its exact class. An adapter proposes candidate *forms* (a
form = a grouping and a layout: ``layer``, ``layer, channels first``, ``rms with weight + 1``, ``batch``
followed by an activation, ...); a form is accepted when the module's own forward equals, on a probe
input, the IBNorm module the form builds with the identity compression. So a subclass that keeps the
torch computation, timm's ``LayerNorm2d`` (a ``nn.LayerNorm`` subclass that permutes to channels last),
timm's ``BatchNormAct2d`` (BatchNorm, dropout, activation), transformers' ``LlamaRMSNorm`` (eps named
``variance_epsilon``) and ``GemmaRMSNorm`` (``x * (1 + w)``) are all found, and a lookalike that computes
something else is reported as skipped, never silently replaced.

The probe runs on a float32 CPU copy of the module with random weights and buffers, in eval mode, on an
input of two samples at very different scales (so that an eps placed differently is caught); its result
is cached per class. A module whose forward is the torch class's own (exact torch classes, subclasses
that do not override ``forward``) is accepted without a probe. Built-in adapters, tried in order:

1. ``ibnorm``: IBNorm modules; converting one changes its settings in place.
2. ``torch``: ``nn.LayerNorm``, ``nn.RMSNorm``, ``nn.BatchNorm1d/2d/3d``, ``nn.SyncBatchNorm``,
   ``nn.GroupNorm``, ``nn.InstanceNorm1d/2d/3d`` and their subclasses (channels-first LayerNorm / RMSNorm
   and norm-dropout-activation forms included).
3. ``third-party``: classes outside torch whose name contains ``Norm``, with no child modules, a 1-D
   ``weight`` (or ``normalized_shape``), an eps attribute (``eps``, ``variance_epsilon`` or ``epsilon``) and
   a one-argument ``forward``: RMSNorm (weight offset 0 or 1) or LayerNorm, channels last or first.

:func:`register_adapter` adds an adapter for a class these do not cover (it is tried first).
"""
from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, cast

import torch
from torch import Tensor, nn

from . import groupings
from .groupings import NormalizerSpec
from .nn import (
    IB_MODULES,
    IBBatchNormAct2d,
    IBGroupNormAct,
    IBLayerNorm,
    IBLayerNorm2d,
    IBLayerNormAct,
    IBLayerNormAct2d,
    IBModule,
    IBRMSNorm,
    IBRMSNorm2d,
    IBSettings,
    _ChannelsFirst,
)

__all__ = ["NormForm", "NormAdapter", "Resolution", "ADAPTERS", "register_adapter", "resolve", "ChannelsFirstSpec"]

IDENTITY = IBSettings("identity")


@dataclass(frozen=True)
class ChannelsFirstSpec(NormalizerSpec):
    """A ``layer`` or ``rms`` grouping over dim 1 of an ``(N, C, *)`` input (``normalized_shape == (C,)``)."""

    def standardize(self, x: Tensor) -> Tensor:
        return super().standardize(x.movedim(1, -1)).movedim(-1, 1)

    def affine(self, y: Tensor) -> Tensor:
        return super().affine(y.movedim(1, -1)).movedim(-1, 1)

    def group_size(self, x: Tensor) -> int:
        return int(x.shape[1])


@dataclass(frozen=True)
class NormForm:
    """One computation a module may perform, and how to replace and describe a module that performs it.

    ``build(m, settings)`` returns the IBNorm module with ``m``'s configuration, weights and flags (not yet
    placed in the model); ``spec(m)`` the module's :class:`NormalizerSpec` referencing ``m``'s own
    tensors, or None when :func:`ibnorm.spec_of`'s built-in rules already describe it; ``probe_shape(m)``
    an input shape ``m`` accepts.
    """

    name: str
    build: Callable[[nn.Module, IBSettings], nn.Module]
    spec: Callable[[nn.Module], NormalizerSpec | None]
    probe_shape: Callable[[nn.Module], tuple[int, ...]]


@dataclass(frozen=True)
class NormAdapter:
    """A family of normalizer classes: ``applies(m)`` is a cheap test; ``forms(m)`` the candidate forms,
    tried in order by the behaviour probe unless ``trusted(m)`` (then the first form is taken as is)."""

    name: str
    applies: Callable[[nn.Module], bool]
    forms: Callable[[nn.Module], Sequence[NormForm]]
    trusted: Callable[[nn.Module], bool] = field(default=lambda m: False)


@dataclass(frozen=True)
class Resolution:
    """What a module is: its adapter and form, or (``form is None``) why it looked like a normalizer but
    matched no form."""

    adapter: NormAdapter
    form: NormForm | None
    reason: str = ""


#: the registry, tried in order (first applicable adapter wins)
ADAPTERS: list[NormAdapter] = []
_PROBE_CACHE: dict[tuple[type, str, tuple[str, ...]], str | None] = {}


def register_adapter(adapter: NormAdapter, *, first: bool = True) -> NormAdapter:
    """Add ``adapter`` to the registry (before the built-in ones unless ``first=False``). The same
    registry resolves :func:`ibnorm.spec_of` and :func:`ibnorm.convert_norms`."""
    ADAPTERS.insert(0, adapter) if first else ADAPTERS.append(adapter)
    _PROBE_CACHE.clear()
    return adapter


def resolve(m: nn.Module) -> Resolution | None:
    """The adapter and form of ``m``; None when no adapter applies (not a normalizer)."""
    for adapter in ADAPTERS:
        if not adapter.applies(m):
            continue
        forms = list(adapter.forms(m))
        if not forms:
            return Resolution(adapter, None, "no candidate form")
        if adapter.trusted(m):
            return Resolution(adapter, forms[0])
        key = (type(m), adapter.name, tuple(f.name for f in forms))
        if key not in _PROBE_CACHE:
            _PROBE_CACHE[key] = next((f.name for f in forms if _behaves_as(m, f)), None)
        name = _PROBE_CACHE[key]
        if name is None:
            return Resolution(adapter, None, f"its forward matches none of: {', '.join(f.name for f in forms)}")
        return Resolution(adapter, next(f for f in forms if f.name == name))
    return None


# ------------------------------------------------------------------------------------ the probe

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks")


def _probe_copy(m: nn.Module) -> nn.Module:
    """A float32 CPU copy of ``m`` in eval mode, without hooks, with random weights and positive buffers."""
    ref = copy.deepcopy(m)
    for name in _HOOK_DICTS:
        getattr(ref, name, {}).clear()
    if any(t.is_meta for t in list(ref.parameters()) + list(ref.buffers())):
        ref = ref.to_empty(device="cpu")
    ref = ref.to(device="cpu", dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for t in list(ref.parameters()) + list(ref.buffers()):
            if t.is_floating_point():
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
    return ref


def _probe_input(shape: tuple[int, ...], eps: float) -> Tensor:
    """Two samples: one at unit scale, one at a scale where eps matters (std about 3 sqrt(eps))."""
    g = torch.Generator().manual_seed(4321)
    x = torch.randn(shape, generator=g)
    small = 3.0 * math.sqrt(max(eps, 1e-7))
    return torch.cat([2.0 * x[:1] + 0.5, small * x[1:2] + 0.3 * small], 0)


def _behaves_as(m: nn.Module, form: NormForm) -> bool:
    try:
        ref = _probe_copy(m)
        ib = form.build(ref, IDENTITY).eval()
        x = _probe_input(form.probe_shape(ref), _eps_of(ref) or 1e-5)
        with torch.no_grad():
            want, got = ref(x), ib(x)
    except Exception:  # the module rejects the form's input or configuration: not this form
        return False
    return isinstance(want, Tensor) and want.shape == got.shape and \
        bool(torch.allclose(got, want, rtol=1e-4, atol=1e-5))


# --------------------------------------------------------------------------- building IB modules

def _eps_of(m: nn.Module) -> float | None:
    for attr in ("eps", "variance_epsilon", "epsilon"):
        v = getattr(m, attr, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _factory(m: nn.Module) -> dict[str, Any]:
    ref = next((t for t in list(m.parameters()) + list(m.buffers()) if t.is_floating_point()), None)
    ref = ref if ref is not None else next(iter(list(m.parameters()) + list(m.buffers())), None)
    return {"device": None if ref is None else ref.device,
            "dtype": None if ref is None or not ref.is_floating_point() else ref.dtype}


def _finish(new: nn.Module, m: nn.Module) -> nn.Module:
    """Copy ``m``'s state (strict), training flag, requires_grad flags and hooks into ``new``."""
    new.load_state_dict(m.state_dict(), strict=True)
    new.train(m.training)
    old_params = dict(m.named_parameters())
    for name, p in new.named_parameters():
        if name in old_params:
            p.requires_grad_(old_params[name].requires_grad)
    for name in _HOOK_DICTS:  # the same dicts, so existing handles still remove them
        if name in m.__dict__:
            new.__dict__[name] = m.__dict__[name]
    return new


def _act_kwargs(m: nn.Module) -> dict[str, Any]:
    return {"drop": getattr(m, "drop", None), "act": getattr(m, "act", None)}


def _torch_kwargs(m: nn.Module) -> dict[str, Any]:
    """The constructor arguments that rebuild a torch normalizer (same configuration, same shapes)."""
    if isinstance(m, nn.LayerNorm):
        return dict(normalized_shape=m.normalized_shape, eps=m.eps, elementwise_affine=m.elementwise_affine,
                    bias=m.bias is not None or not m.elementwise_affine)
    if isinstance(m, nn.RMSNorm):
        return dict(normalized_shape=m.normalized_shape, eps=m.eps, elementwise_affine=m.elementwise_affine)
    if isinstance(m, nn.modules.batchnorm._NormBase):  # BatchNorm*, SyncBatchNorm, InstanceNorm*
        kw = dict(num_features=m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                  track_running_stats=m.track_running_stats, bias=m.bias is not None or not m.affine)
        if isinstance(m, nn.SyncBatchNorm):
            kw["process_group"] = m.process_group
        return kw
    if isinstance(m, nn.GroupNorm):
        return dict(num_groups=m.num_groups, num_channels=m.num_channels, eps=m.eps, affine=m.affine,
                    bias=m.bias is not None or not m.affine)
    raise TypeError(f"not a torch normalizer: {type(m).__name__}")


def _settings_kwargs(s: IBSettings) -> dict[str, Any]:
    return {"compression": s.compression, "lam": s.lam, "order": s.order}


def _torch_base(m: nn.Module) -> type[nn.Module]:
    return next(t for t in IB_MODULES if isinstance(m, t))


def _rowwise_shape(m: nn.Module) -> tuple[int, ...]:
    shape = getattr(m, "normalized_shape", None)
    if shape is None:
        w = getattr(m, "weight", None)
        shape = tuple(w.shape) if isinstance(w, Tensor) else None
    if shape is None:
        raise TypeError(f"{type(m).__name__} has no normalized_shape or weight")
    return tuple(int(s) for s in (shape if isinstance(shape, (tuple, list, torch.Size)) else (shape,)))


def _channel_shape(m: nn.Module, ndim: int) -> tuple[int, ...]:
    c = getattr(m, "num_features", None) or getattr(m, "num_channels", None) or _rowwise_shape(m)[0]
    return (2, int(c)) + (3,) * (ndim - 2)


_TORCH_NDIM: dict[type[nn.Module], int] = {nn.BatchNorm1d: 3, nn.BatchNorm3d: 5, nn.InstanceNorm1d: 3, nn.InstanceNorm3d: 5}


def _torch_probe_shape(m: nn.Module) -> tuple[int, ...]:
    base = _torch_base(m)
    if base in (nn.LayerNorm, nn.RMSNorm):
        return (2, 3) + _rowwise_shape(m)
    return _channel_shape(m, _TORCH_NDIM.get(base, 4))


# ------------------------------------------------------------------------------------- the forms

def _ib_spec_kwargs(m: nn.Module) -> dict[str, Any]:
    if isinstance(m, IBModule):
        return _settings_kwargs(m.ib_settings)
    return {}


def _rowwise_spec(grouping: str, m: nn.Module, offset: float, channels_first: bool) -> NormalizerSpec:
    cls = ChannelsFirstSpec if channels_first else NormalizerSpec
    eps = _eps_of(m)
    if grouping == "layer" and eps is None:
        eps = 1e-5
    weight = getattr(m, "weight", None)
    bias = getattr(m, "bias", None) if grouping == "layer" else None
    return cls(cast(groupings.GroupingName, grouping), eps=eps, normalized_shape=_rowwise_shape(m),
               weight=weight if isinstance(weight, Tensor) else None, bias=bias if isinstance(bias, Tensor) else None,
               weight_offset=float(getattr(m, "weight_offset", offset)), module=m, **_ib_spec_kwargs(m))


def _torch_form(act: bool) -> NormForm:
    """``m``'s torch base class computation (optionally then ``m.drop`` and ``m.act``)."""
    act_classes: dict[type[nn.Module], type[nn.Module]] = {
        nn.BatchNorm2d: IBBatchNormAct2d, nn.GroupNorm: IBGroupNormAct, nn.LayerNorm: IBLayerNormAct}

    def build(m: nn.Module, s: IBSettings) -> nn.Module:
        base = _torch_base(m)
        kw = {**_torch_kwargs(m), **_settings_kwargs(s), **_factory(m)}
        if not act:
            return _finish(IB_MODULES[base](**kw), m)
        if base not in act_classes:
            raise TypeError(f"no IB norm-activation layer for {base.__name__}")
        return _finish(act_classes[base](**kw, **_act_kwargs(m)), m)

    def spec(m: nn.Module) -> NormalizerSpec | None:
        return None  # spec_of's built-in rules describe the torch classes and their subclasses

    return NormForm("torch + activation" if act else "torch", build, spec, _torch_probe_shape)


def _rowwise_form(grouping: str, offset: float, channels_first: bool, act: bool) -> NormForm:
    """A LayerNorm / RMSNorm computation over ``normalized_shape`` (last dims, or dim 1 if channels first)."""
    if grouping == "layer":
        cls: type[nn.Module] = (IBLayerNormAct2d if act else IBLayerNorm2d) if channels_first else \
            (IBLayerNormAct if act else IBLayerNorm)
    else:
        if act:
            raise ValueError("no RMS norm-activation form")
        cls = IBRMSNorm2d if channels_first else IBRMSNorm

    def build(m: nn.Module, s: IBSettings) -> nn.Module:
        shape = _rowwise_shape(m)
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        has_w = isinstance(weight, Tensor)
        kw: dict[str, Any] = {"normalized_shape": shape, "elementwise_affine": has_w, **_settings_kwargs(s),
                              **_factory(m)}
        if grouping == "layer":
            kw.update(eps=_eps_of(m) if _eps_of(m) is not None else 1e-5,
                      bias=isinstance(bias, Tensor) or not has_w)
        else:
            kw.update(eps=_eps_of(m), weight_offset=offset)
        if act:
            kw.update(_act_kwargs(m))
        return _finish(cls(**kw), m)

    def spec(m: nn.Module) -> NormalizerSpec | None:
        return _rowwise_spec(grouping, m, offset, channels_first)

    def probe_shape(m: nn.Module) -> tuple[int, ...]:
        return _channel_shape(m, 4) if channels_first else (2, 3) + _rowwise_shape(m)

    name = grouping + (" (weight + 1)" if offset else "") + (", channels first" if channels_first else "") + \
        (" + activation" if act else "")
    return NormForm(name, build, spec, probe_shape)


_F = {(g, o, cf, a): _rowwise_form(g, o, cf, a) for g in ("layer", "rms") for o in (0.0, 1.0)
      for cf in (False, True) for a in (False, True) if not (g == "rms" and a) and not (g == "layer" and o)}
_TORCH = _torch_form(False)
_TORCH_ACT = _torch_form(True)


def _has_act(m: nn.Module) -> bool:
    names = {n for n, _ in m.named_children()}
    return "act" in names and names <= {"act", "drop"}


# ---------------------------------------------------------------------------------- the adapters

def _ib_forms(m: nn.Module) -> Sequence[NormForm]:
    """An IB module is converted in place (new settings, same module); its spec needs a rule of ours only
    for the channels-first and weight-offset layers."""
    def build(mod: nn.Module, s: IBSettings) -> nn.Module:
        cast(IBModule, mod).set_ib(s.compression, s.lam, s.order)
        return mod

    def spec(mod: nn.Module) -> NormalizerSpec | None:
        if isinstance(mod, _ChannelsFirst):
            return _rowwise_spec("layer" if isinstance(mod, IBLayerNorm) else "rms", mod, 0.0, True)
        if isinstance(mod, IBRMSNorm) and mod.weight_offset:
            return _rowwise_spec("rms", mod, mod.weight_offset, False)
        return None

    return [NormForm("ibnorm", build, spec, _torch_probe_shape)]


def _overrides_forward(m: nn.Module, base: type[nn.Module]) -> bool:
    return type(m).forward is not base.forward


def _torch_forms(m: nn.Module) -> Sequence[NormForm]:
    base = _torch_base(m)
    forms: list[NormForm] = []
    rowwise = base in (nn.LayerNorm, nn.RMSNorm)
    grouping = "layer" if base is nn.LayerNorm else "rms"
    one_dim = rowwise and len(_rowwise_shape(m)) == 1
    if _has_act(m):
        forms.append(_TORCH_ACT)
        if base is nn.LayerNorm and one_dim:
            forms.append(_F[("layer", 0.0, True, True)])
    forms.append(_TORCH)
    if one_dim:
        forms.append(_F[(grouping, 0.0, True, False)])
    return forms


def _torch_trusted(m: nn.Module) -> bool:
    return not _overrides_forward(m, _torch_base(m)) and not any(True for _ in m.children())


def _one_argument_forward(m: nn.Module) -> bool:
    try:
        params = list(inspect.signature(m.forward).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) == 1 and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)


def _third_party_applies(m: nn.Module) -> bool:
    if isinstance(m, (IBModule, *IB_MODULES)) or "norm" not in type(m).__name__.lower():
        return False
    if any(True for _ in m.children()) or _eps_of(m) is None:
        return False
    weight = getattr(m, "weight", None)
    if isinstance(weight, Tensor):
        if weight.dim() != 1:
            return False
    elif not isinstance(getattr(m, "normalized_shape", None), (int, tuple, list, torch.Size)):
        return False
    return _one_argument_forward(m)


def _third_party_forms(m: nn.Module) -> Sequence[NormForm]:
    one_dim = len(_rowwise_shape(m)) == 1
    keys = [("rms", 0.0), ("rms", 1.0), ("layer", 0.0)]
    return [_F[(g, o, False, False)] for g, o in keys] + ([_F[(g, o, True, False)] for g, o in keys] if one_dim else [])


ADAPTERS.extend([
    NormAdapter("ibnorm", lambda m: isinstance(m, IBModule), _ib_forms, trusted=lambda m: True),
    NormAdapter("torch", lambda m: isinstance(m, tuple(IB_MODULES)), _torch_forms, trusted=_torch_trusted),
    NormAdapter("third-party", _third_party_applies, _third_party_forms),
])


def _spec_from_registry(m: nn.Module) -> NormalizerSpec | None:
    r = resolve(m)
    return None if r is None or r.form is None else r.form.spec(m)


groupings.register_spec_adapter(lambda m: _spec_from_registry(m) is not None,
                                lambda m: cast(NormalizerSpec, _spec_from_registry(m)))
