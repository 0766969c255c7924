"""IBNorm for Hugging Face transformers, in one call (the pattern of Liger-Kernel's
``apply_liger_kernel_to_*``), and a loader that keeps the choice across ``save_pretrained``.

* ``apply_ibnorm(model, compression=..., lam=...)`` converts a built or loaded model in place
  (:func:`ibnorm.convert_norms`: ``nn.LayerNorm`` of GPT-2 / BERT, the ``*RMSNorm`` family of Llama,
  Mistral, Qwen, ..., Gemma's ``x * (1 + w)``) and records the choice in ``model.config.ibnorm``;
* ``apply_ibnorm("llama", compression=...)`` (a model type, a ``modeling_*`` module or a model class)
  patches the family so that every model of it built afterwards (``from_config``, ``from_pretrained`` of a
  plain checkpoint) comes with IBNorm layers; :func:`revert_ibnorm` undoes it;
* ``from_pretrained(path)`` loads a checkpoint saved from an IBNorm model: the layers are swapped before
  the weights load, so each layer's saved ``_extra_state`` (compression, lam, order) is restored.

Loading an IBNorm checkpoint with plain ``AutoModel*.from_pretrained`` gives the plain model and a
transformers load report (a logged warning) listing the ``..._extra_state`` keys as unexpected.

transformers is imported on first use; ``import ibnorm`` never needs it.
"""
from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Callable, Iterator

from torch import nn

from ..convert import convert_norms
from ..nn import IBModule, IBSettings

__all__ = ["apply_ibnorm", "revert_ibnorm", "from_pretrained", "ibnorm_record", "CONFIG_KEY"]

#: the config attribute (and config.json key) that records the IBNorm layers of a model
CONFIG_KEY = "ibnorm"
_MISSING_OK = r"(^|\.)_extra_state$"
_Saved = tuple[bool, Any]  # (the class defined post_init itself, that definition)
_PATCHED: dict[type, _Saved] = {}
_LOCK = threading.RLock()


def _transformers() -> ModuleType:
    try:
        return importlib.import_module("transformers")
    except ImportError as err:  # pragma: no cover - exercised where transformers is absent
        raise ImportError("ibnorm.integrations.transformers needs the transformers package: "
                          "pip install transformers") from err


def ibnorm_record(model: nn.Module) -> dict[str, Any]:
    """The IBNorm layers of ``model``, grouped by settings: ``{"format": "ibnorm", "version": 1, "groups":
    [{"compression", "lam", "order", "modules": [names]}]}`` (what ``config.ibnorm`` holds)."""
    groups: dict[IBSettings, list[str]] = {}
    for name, m in model.named_modules():
        if isinstance(m, IBModule):
            groups.setdefault(m.ib_settings, []).append(name)
    return {"format": "ibnorm", "version": 1,
            "groups": [{"compression": s.compression, "lam": s.lam, "order": s.order, "modules": names}
                       for s, names in groups.items()]}


def _record_on_config(model: nn.Module) -> None:
    config = getattr(model, "config", None)
    if config is not None:
        setattr(config, CONFIG_KEY, ibnorm_record(model))


def _allow_missing_extra_state(model: nn.Module) -> None:
    """A plain checkpoint has no ``_extra_state``: do not report it missing (the layers keep their settings)."""
    keys = getattr(model, "_keys_to_ignore_on_load_missing", None)
    model._keys_to_ignore_on_load_missing = set(keys or []) | {_MISSING_OK}  # type: ignore[assignment]


def apply_ibnorm(target: nn.Module | str | ModuleType | type, compression: str = "tanh", lam: float = 1.0,
                 order: str = "compress_first", **convert_kwargs: Any) -> Any:
    """Use IBNorm in a transformers model, or in a whole model family.

    ``target`` a model (``nn.Module``): converts it in place with :func:`ibnorm.convert_norms` (extra
    keywords such as ``types``, ``where``, ``allow_empty`` are passed on), records the choice in
    ``model.config.ibnorm`` and returns the model. ``target`` a model type (``"llama"``), a
    ``transformers.models.*.modeling_*`` module or a ``PreTrainedModel`` class: every model of that family
    built afterwards is converted at the end of its ``__init__``; returns the patched classes.
    """
    settings = IBSettings(compression, lam, order)  # type: ignore[arg-type]  # validated here
    if isinstance(target, nn.Module):
        convert_norms(target, settings.compression, settings.lam, settings.order, **convert_kwargs)
        _record_on_config(target)
        return target
    classes = _family_classes(target)

    def convert(model: nn.Module) -> None:
        convert_norms(model, settings.compression, settings.lam, settings.order,
                      **{"allow_empty": True, **convert_kwargs})
        _record_on_config(model)
        _allow_missing_extra_state(model)

    with _LOCK:
        for cls in classes:
            if cls in _PATCHED:  # re-applied: the new settings replace the old ones
                _restore(cls, _PATCHED.pop(cls))
            _PATCHED[cls] = _patch_post_init(cls, convert)
    return classes


def revert_ibnorm(target: str | ModuleType | type | None = None) -> None:
    """Undo :func:`apply_ibnorm` on a family (all patched families with ``None``). Models already built
    keep their IBNorm layers."""
    with _LOCK:
        for cls in list(_PATCHED) if target is None else _family_classes(target):
            if cls in _PATCHED:
                _restore(cls, _PATCHED.pop(cls))


def _patch_post_init(cls: type, convert: Callable[[nn.Module], None], only_exact: bool = False) -> _Saved:
    """Wrap ``cls.post_init`` (the end of every transformers model's ``__init__``) so that it then runs
    ``convert(model)``; returns what :func:`_restore` needs."""
    saved = ("post_init" in vars(cls), vars(cls).get("post_init"))
    original = cls.post_init  # type: ignore[attr-defined]

    def post_init(self: nn.Module) -> None:
        original(self)
        if not only_exact or type(self) is cls:
            convert(self)

    cls.post_init = post_init  # type: ignore[attr-defined]
    return saved


def _restore(cls: type, saved: _Saved) -> None:
    had_own, previous = saved
    if had_own:
        cls.post_init = previous  # type: ignore[attr-defined]
    else:
        delattr(cls, "post_init")


def _family_classes(target: str | ModuleType | type) -> list[type]:
    """The ``*PreTrainedModel`` base classes of a family (the class itself for a model class)."""
    tf = _transformers()
    if isinstance(target, type):
        if not issubclass(target, tf.PreTrainedModel):
            raise TypeError(f"{target.__name__} is not a transformers PreTrainedModel class")
        return [target]
    if isinstance(target, str):
        name = target.replace("-", "_").lower()
        try:
            target = importlib.import_module(f"transformers.models.{name}.modeling_{name}")
        except ImportError:
            raise ValueError(f"unknown transformers model type {name!r} (no transformers.models.{name}."
                             f"modeling_{name})") from None
    classes = [c for c in vars(target).values() if isinstance(c, type) and issubclass(c, tf.PreTrainedModel)
               and c.__module__ == target.__name__ and c.__name__.endswith("PreTrainedModel")]
    if not classes:
        raise ValueError(f"{target.__name__} defines no *PreTrainedModel class")
    return classes


@contextmanager
def _converted_on_init(cls: type, record: dict[str, Any]) -> Iterator[None]:
    """While active, a model of exactly ``cls`` gets the IBNorm layers of ``record`` at the end of ``__init__``."""
    groups = record.get("groups", [])

    def convert(model: nn.Module) -> None:
        for g in groups:
            names = set(g["modules"])
            convert_norms(model, g["compression"], float(g["lam"]), g["order"],
                          where=lambda name, m: name in names, allow_empty=not names)
        _allow_missing_extra_state(model)

    with _LOCK:
        saved = _patch_post_init(cls, convert, only_exact=True)
        try:
            yield
        finally:
            _restore(cls, saved)


def from_pretrained(path: Any, *args: Any, model_class: Any = None, **kwargs: Any) -> Any:
    """Load a model saved from an IBNorm model (``save_pretrained`` after :func:`apply_ibnorm`).

    ``model_class`` is a model class or an ``AutoModel*`` class (default: the class named in the config's
    ``architectures``). Other arguments go to ``from_pretrained``. Raises ``ValueError`` when the
    checkpoint's config has no ``ibnorm`` record (load it with transformers and call :func:`apply_ibnorm`).
    """
    tf = _transformers()
    config = kwargs.pop("config", None) or tf.AutoConfig.from_pretrained(path)
    record = getattr(config, CONFIG_KEY, None)
    if not isinstance(record, dict) or record.get("format") != "ibnorm":
        raise ValueError(f"{path} was not saved from an IBNorm model (its config has no {CONFIG_KEY!r} record); "
                         "load it with transformers and call apply_ibnorm(model, ...)")
    cls = _resolve_class(tf, config, model_class)
    with _converted_on_init(cls, record):
        return cls.from_pretrained(path, *args, config=config, **kwargs)


def _resolve_class(tf: ModuleType, config: Any, model_class: Any) -> Any:
    if model_class is None:
        archs = getattr(config, "architectures", None) or []
        if not archs or not hasattr(tf, archs[0]):
            raise ValueError("the config names no known architecture; pass model_class=")
        return getattr(tf, archs[0])
    mapping = getattr(model_class, "_model_mapping", None)
    if mapping is not None:  # an AutoModel* class: the concrete class for this config
        factory = importlib.import_module("transformers.models.auto.auto_factory")
        return factory._get_model_class(config, mapping)
    return model_class
