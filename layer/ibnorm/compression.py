"""Registry of bounded (or sub-linear) compression functions f_lambda used by IBNorm.

IBNorm (Zou & Zhou, arXiv 2510.25262) inserts "bounded compression operations" before the
standardization step of a normalizer. The paper's formulas for its three variants IBNorm-S, -L and -T
are **not public** (see ``shared/papers/ibnorm.md`` section 1.4). Every entry below is therefore *our
reconstruction*, chosen from the reviewers' hints:

* R3: the variants are "based on nonlinear functions that exhibit compression behavior, specifically
  functions like tanh" -> ``tanh`` (T = tanh) and ``log`` (L = log) are the likely readings;
* R1: Theorem 1 is stated for "lambda >= 1" -> the sign-root form ``root`` has its identity point at
  lambda = 1, which fits that condition best; ``softsign`` is the other candidate for IBNorm-S.

Each entry carries its value f(u; lam), its derivative f'(u; lam), a stated bound sup_u |f(u; lam)|
(``inf`` where the function is unbounded but sub-linear), the supremum of |f'| (its Lipschitz
constant), and its identity limit. Register the published formula with :func:`register_compression`
once it is known; nothing in the library hard-codes a variant.

All functions act elementwise on ``u``, the centered input x - mean (LayerNorm/BatchNorm/GroupNorm
grouping) or the raw input x (RMSNorm grouping); see :mod:`ibnorm.functional`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict

import torch
from torch import Tensor

__all__ = [
    "Compression",
    "COMPRESSIONS",
    "register_compression",
    "get_compression",
    "validate_lam",
    "ROOT_DELTA",
]

#: Smoothing offset of the ``root`` compression: f(u) = sign(u)((|u|+d)^(1/lam) - d^(1/lam)).
#: Without it f'(0) is infinite for lam > 1 (ibnorm.md section 5, item 12).
ROOT_DELTA = 1e-3


@dataclass(frozen=True)
class Compression:
    """One bounded compression f(u; lam), elementwise, odd and non-decreasing.

    Attributes:
        name: registry key.
        fn: ``fn(u, lam) -> Tensor``, the value f(u; lam).
        deriv: ``deriv(u, lam) -> Tensor``, the derivative f'(u; lam) in closed form (the fused
            kernels use it; the torch path lets autograd differentiate ``fn``).
        bound: ``bound(lam) -> float``: sup_u |f(u; lam)| (``math.inf`` if unbounded).
        max_slope: ``max_slope(lam) -> float``: sup_u |f'(u; lam)| (its Lipschitz constant).
        identity_limit: in words, where f becomes the identity (e.g. "lam -> 0" or "lam = 1").
        identity_lam: the lam at which f is exactly the identity, or ``None`` if only a limit.
        lam_min: smallest admissible lam (exclusive when ``lam_min_inclusive`` is False).
        provenance: ``"reconstructed"`` for all built-ins (the paper's formulas are not public).
        doc: the formula and the reasoning behind it.
    """

    name: str
    fn: Callable[[Tensor, float], Tensor]
    deriv: Callable[[Tensor, float], Tensor]
    bound: Callable[[float], float]
    max_slope: Callable[[float], float]
    identity_limit: str
    identity_lam: float | None = None
    lam_min: float = 0.0
    lam_min_inclusive: bool = False
    provenance: str = "reconstructed"
    doc: str = ""
    paper_variant: str = field(default="")

    @property
    def is_identity(self) -> bool:
        return self.name == "identity"

    def __call__(self, u: Tensor, lam: float = 1.0) -> Tensor:
        return self.fn(u, lam)


COMPRESSIONS: Dict[str, Compression] = {}


def register_compression(comp: Compression, overwrite: bool = False) -> Compression:
    """Add ``comp`` to :data:`COMPRESSIONS` (e.g. the paper's formula once it is published)."""
    if not isinstance(comp, Compression):
        raise TypeError(f"expected a Compression, got {type(comp).__name__}")
    if comp.name in COMPRESSIONS and not overwrite:
        raise ValueError(f"compression {comp.name!r} is already registered (pass overwrite=True)")
    COMPRESSIONS[comp.name] = comp
    return comp


def get_compression(name: str | Compression) -> Compression:
    """Look up a compression by name; raises ``ValueError`` listing the known names."""
    if isinstance(name, Compression):
        return name
    try:
        return COMPRESSIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(COMPRESSIONS))
        raise ValueError(f"unknown compression {name!r}; known: {known}") from None


def validate_lam(comp: Compression, lam: float) -> float:
    """Return ``float(lam)`` or raise ``ValueError`` when it is outside the compression's domain."""
    try:
        lam_f = float(lam)
    except (TypeError, ValueError):
        raise ValueError(f"lam must be a real number, got {lam!r}") from None
    if not math.isfinite(lam_f):
        raise ValueError(f"lam must be finite, got {lam!r}")
    if lam_f <= 0:
        raise ValueError(f"lam must be > 0, got {lam_f}")
    if comp.lam_min_inclusive and lam_f < comp.lam_min:
        raise ValueError(f"compression {comp.name!r} needs lam >= {comp.lam_min}, got {lam_f}")
    if not comp.lam_min_inclusive and lam_f <= comp.lam_min:
        raise ValueError(f"compression {comp.name!r} needs lam > {comp.lam_min}, got {lam_f}")
    return lam_f


# --------------------------------------------------------------------------------------------------
# Built-in entries. Each is odd, non-decreasing and f(0) = 0. identity, tanh, log and softsign have
# max_slope 1, hence |f(u)| <= |u| (a contraction toward 0); root with lam > 1 is steeper than the
# identity near 0 (f'(0) = d^(1/lam - 1)/lam, e.g. 15.8 at lam = 2) and only compresses for large |u|.
# log and softsign are evaluated in overflow-safe forms for |u| > 1/lam (resp. |u| > 1): the naive
# 1 + lam|u| overflows near the top of a dtype's range (fp16: |u| > 16376 at lam = 4).


def _identity(u: Tensor, lam: float) -> Tensor:
    return u


def _identity_d(u: Tensor, lam: float) -> Tensor:
    return torch.ones_like(u)


def _tanh(u: Tensor, lam: float) -> Tensor:
    return torch.tanh(lam * u) / lam


def _tanh_d(u: Tensor, lam: float) -> Tensor:
    t = torch.tanh(lam * u)
    return 1.0 - t * t


def _log(u: Tensor, lam: float) -> Tensor:
    a = u.abs()
    big = a > 1.0 / lam
    a_big = torch.where(big, a, torch.full_like(a, 2.0 / lam))   # safe operand for the unused branch
    a_small = torch.where(big, torch.zeros_like(a), a)
    # log1p(lam a) = log(lam) + log(a) + log1p(1/(lam a)) for lam a > 1 (no overflow of lam a)
    v = torch.where(big, math.log(lam) + torch.log(a_big) + torch.log1p(1.0 / (lam * a_big)),
                    torch.log1p(lam * a_small))
    return torch.sign(u) * v / lam


def _log_d(u: Tensor, lam: float) -> Tensor:
    return 1.0 / (1.0 + lam * u.abs())


def _root(u: Tensor, lam: float) -> Tensor:
    p = 1.0 / lam
    return torch.sign(u) * ((u.abs() + ROOT_DELTA) ** p - ROOT_DELTA**p)


def _root_d(u: Tensor, lam: float) -> Tensor:
    p = 1.0 / lam
    return p * (u.abs() + ROOT_DELTA) ** (p - 1.0)


def _softsign(u: Tensor, lam: float) -> Tensor:
    a = u.abs()
    big = a > 1.0
    a_big = torch.where(big, a, torch.ones_like(a))
    u_small = torch.where(big, torch.zeros_like(u), u)
    # u/(1 + lam|u|) = sign(u)/(lam + 1/|u|) for |u| > 1 (no overflow; f(+-inf) = +-1/lam)
    return torch.where(big, torch.sign(u) / (lam + 1.0 / a_big), u_small / (1.0 + lam * u_small.abs()))


def _softsign_d(u: Tensor, lam: float) -> Tensor:
    a = 1.0 + lam * u.abs()
    return 1.0 / (a * a)


register_compression(Compression(
    name="identity", fn=_identity, deriv=_identity_d,
    bound=lambda lam: math.inf, max_slope=lambda lam: 1.0,
    identity_limit="always (any lam)", identity_lam=None, provenance="paper",
    doc="f(u) = u. With it IBNorm reproduces LayerNorm/RMSNorm/BatchNorm/GroupNorm exactly "
        "(the variance-centric baselines of the paper).",
))

register_compression(Compression(
    name="tanh", fn=_tanh, deriv=_tanh_d,
    bound=lambda lam: 1.0 / lam, max_slope=lambda lam: 1.0,
    identity_limit="lam -> 0", paper_variant="IBNorm-T (candidate)",
    doc="f(u) = tanh(lam*u)/lam; |f| < 1/lam; f'(0) = 1. Reconstruction of IBNorm-T from R3's "
        "'functions like tanh'. The 1/lam factor makes lam -> 0 the identity; the standardization "
        "that follows removes any overall scale, so only the saturation point 1/lam matters.",
))

register_compression(Compression(
    name="log", fn=_log, deriv=_log_d,
    bound=lambda lam: math.inf, max_slope=lambda lam: 1.0,
    identity_limit="lam -> 0", paper_variant="IBNorm-L (candidate)",
    doc="f(u) = sign(u) log(1 + lam|u|)/lam; unbounded but logarithmic (|f(u)| <= |u|). "
        "Reconstruction of IBNorm-L (L = log).",
))

register_compression(Compression(
    name="root", fn=_root, deriv=_root_d,
    bound=lambda lam: math.inf,
    max_slope=lambda lam: (1.0 / lam) * ROOT_DELTA ** (1.0 / lam - 1.0),
    identity_limit="lam = 1", identity_lam=1.0, lam_min=1.0, lam_min_inclusive=True,
    paper_variant="IBNorm-S (candidate)",
    doc="f(u) = sign(u)((|u|+d)^(1/lam) - d^(1/lam)), d = ROOT_DELTA; lam >= 1. Sign-root "
        "reconstruction of IBNorm-S: lam = 1 is exactly the identity, matching the theorem's "
        "'lam >= 1' condition (R1). The offset d keeps f'(0) finite (without it f'(0) = inf).",
))

register_compression(Compression(
    name="softsign", fn=_softsign, deriv=_softsign_d,
    bound=lambda lam: 1.0 / lam, max_slope=lambda lam: 1.0,
    identity_limit="lam -> 0", paper_variant="IBNorm-S (alternative candidate)",
    doc="f(u) = u/(1 + lam|u|); |f| < 1/lam; f'(0) = 1. Alternative reading of IBNorm-S.",
))
