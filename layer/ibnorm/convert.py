"""``convert_norms``: swap the normalization layers of an existing model for their IBNorm versions.

Which modules are normalizers, and what replaces each, is decided by the adapter registry of
:mod:`ibnorm.adapters` (by behaviour: torch's norms and their subclasses, timm's ``LayerNorm2d`` /
``BatchNormAct2d`` / ``GroupNorm1``, transformers' ``*RMSNorm`` family including Gemma's ``1 + w``, and
IBNorm modules, which get the new settings in place). The swap keeps the configuration, weights, buffers,
``requires_grad`` flags, training mode and forward/backward hooks, so with ``compression="identity"`` the
converted model computes what the original did.

BatchNorm running statistics are kept as they are: for a non-identity compression ``running_var`` should
hold the variance of the *compressed* input, so run a few batches in train mode before evaluating a model
converted from a trained one (the report counts such layers as ``stale_running_stats``).
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Literal, overload

from torch import nn

from .adapters import resolve
from .nn import IBSettings, _IBBatchNorm

__all__ = ["convert_norms", "ConversionReport"]

log = logging.getLogger("ibnorm.convert")


@dataclass
class ConversionReport:
    """What :func:`convert_norms` did: one ``(name, from class, to class)`` per converted module, one
    ``(name, class, reason)`` per module that looked like a normalizer but was left as it was."""

    settings: IBSettings
    converted: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    stale_running_stats: int = 0

    def counts(self) -> dict[tuple[str, str], int]:
        """``{(from class, to class): count}``."""
        return dict(Counter((a, b) for _, a, b in self.converted))

    def __len__(self) -> int:
        return len(self.converted)

    def __str__(self) -> str:
        s = self.settings
        head = (f"convert_norms(compression={s.compression!r}, lam={s.lam}, order={s.order!r}): "
                f"{len(self.converted)} converted, {len(self.skipped)} skipped")
        lines = [head] + [f"  {n} x {a} -> {b}" for (a, b), n in sorted(self.counts().items())]
        lines += [f"  skipped {name} ({cls}): {why}" for name, cls, why in self.skipped]
        if self.stale_running_stats:
            lines.append(f"  {self.stale_running_stats} batch-norm layer(s) keep running statistics measured "
                         "without this compression: recalibrate in train mode before eval")
        return "\n".join(lines)


@overload
def convert_norms(model: nn.Module, compression: str = ..., lam: float = ..., order: str = ...,
                  types: tuple[type, ...] | None = ..., *, where: Callable[[str, nn.Module], bool] | None = ...,
                  allow_empty: bool = ..., return_report: Literal[False] = ...) -> nn.Module: ...


@overload
def convert_norms(model: nn.Module, compression: str = ..., lam: float = ..., order: str = ...,
                  types: tuple[type, ...] | None = ..., *, where: Callable[[str, nn.Module], bool] | None = ...,
                  allow_empty: bool = ..., return_report: Literal[True]) -> tuple[nn.Module, ConversionReport]: ...


def convert_norms(model: nn.Module, compression: str = "tanh", lam: float = 1.0, order: str = "compress_first",
                  types: tuple[type, ...] | None = None, *, where: Callable[[str, nn.Module], bool] | None = None,
                  allow_empty: bool = False,
                  return_report: bool = False) -> nn.Module | tuple[nn.Module, ConversionReport]:
    """Replace every normalizer of ``model`` (in place) by its IBNorm version, same configuration and weights.

    ``types`` restricts the swap to instances of these classes (any class: ``(LlamaRMSNorm,)`` works);
    ``where(name, module)`` to the modules it accepts. IBNorm modules already in the model get the new
    settings. Modules shared between several places stay shared. A summary is logged on the
    ``ibnorm.convert`` logger (a warning for every normalizer-like module that was skipped, with the
    reason). Raises ``ValueError`` when nothing was converted, unless ``allow_empty``.

    Returns the model (the new module if ``model`` itself is a normalizer), or ``(model, report)`` with
    ``return_report=True`` (a :class:`ConversionReport`).
    """
    settings = IBSettings(compression, lam, order)  # type: ignore[arg-type]  # validated here
    report = ConversionReport(settings)
    done: dict[int, nn.Module] = {}

    def convert(name: str, m: nn.Module) -> nn.Module | None:
        if id(m) in done:
            return done[id(m)]
        if (types is not None and not isinstance(m, types)) or (where is not None and not where(name, m)):
            return None
        r = resolve(m)
        if r is None:
            return None
        if r.form is None:
            report.skipped.append((name, type(m).__name__, r.reason))
            return None
        before = type(m).__name__
        try:
            new = r.form.build(m, settings)
        except (TypeError, ValueError, RuntimeError) as err:
            report.skipped.append((name, before, f"{type(err).__name__}: {err}"))
            return None
        done[id(m)] = done[id(new)] = new
        report.converted.append((name, before, type(new).__name__))
        if (settings.compression != "identity" and isinstance(new, _IBBatchNorm) and new.running_var is not None
                and new.num_batches_tracked is not None and int(new.num_batches_tracked) > 0):
            report.stale_running_stats += 1
        return new

    result = convert("", model)
    if result is None:
        result = model
        for parent_name, parent in list(model.named_modules(remove_duplicate=False)):
            for child_name, child in list(parent.named_children()):
                new = convert(f"{parent_name}.{child_name}" if parent_name else child_name, child)
                if new is not None and new is not child:
                    setattr(parent, child_name, new)
    for name, cls, why in report.skipped:
        log.warning("convert_norms left %s (%s) as it was: %s", name or "<model>", cls, why)
    log.info("%s", report)
    if not report.converted and not allow_empty:
        raise ValueError(f"convert_norms found no normalizer to convert in {type(model).__name__}; pass "
                         f"allow_empty=True if that is expected.\n{report}")
    return (result, report) if return_report else result
