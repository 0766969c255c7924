"""Registry of bounded (or sub-linear) compression functions f_lambda used by IBNorm.

IBNorm (Zou & Zhou, arXiv 2510.25262) inserts "bounded compression operations" before the
standardization step of a normalizer. The paper's formulas for its three variants IBNorm-S, -L and -T
are **not public** (``docs/papers/ibnorm.md``, section 1.4). Every entry below is therefore *our
reconstruction*, chosen from the reviewers' hints:

* R3: the variants are "based on nonlinear functions that exhibit compression behavior, specifically
  functions like tanh" -> ``tanh`` (T = tanh) and ``log`` (L = log) are the likely readings;
* R1: Theorem 1 is stated for "lambda >= 1" -> the sign-root form ``root`` has its identity point at
  lambda = 1, which fits that condition best; ``softsign`` is the other candidate for IBNorm-S.

Each entry carries its value f(u; lam), its derivative f'(u; lam), a stated bound sup_u |f(u; lam)|
(``inf`` where the function is unbounded but sub-linear), the supremum of |f'| (its Lipschitz
constant), where it becomes the identity (``identity_lam``, ``identity_as_lam_to_0``; ``identity_limit``
says it in words), and the range of lam that each compute dtype can evaluate (``lam_limits``).
Register the published formula with :func:`register_compression` once it is known; nothing in the
library hard-codes a variant.

All functions act elementwise on ``u``, the centered input x - mean (LayerNorm/BatchNorm/GroupNorm
grouping) or the raw input x (RMSNorm grouping); see :mod:`ibnorm.functional`. The odd entries written
as sign(u) g(|u|) (``log``, ``root``) are differentiated through their closed-form derivative g'(|u|)
(:func:`odd_extension`): autograd of ``sign(u) * g(|u|)`` would give f'(0) = 0 instead of g'(0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict

import torch
from torch import Tensor

from ._types import compute_dtype

__all__ = [
    "Compression",
    "COMPRESSIONS",
    "register_compression",
    "get_compression",
    "validate_lam",
    "default_lam_limits",
    "odd_extension",
    "ROOT_DELTA",
]

#: Smoothing offset of the ``root`` compression: f(u) = sign(u)((|u|+d)^(1/lam) - d^(1/lam)).
#: Without it f'(0) is infinite for lam > 1 (``docs/papers/ibnorm.md``, section 5, item 12).
ROOT_DELTA = 1e-3

CompressionFn = Callable[[Tensor, float], Tensor]


def default_lam_limits(dtype: torch.dtype) -> tuple[float, float]:
    """The lam a compression written with lam, 1/lam, lam^2 and 1/lam^2 can use in ``dtype``'s compute dtype:
    ``[tiny^(1/3), max^(1/3)]`` (fp32: [2.3e-13, 7.0e12]; fp64: [2.8e-103, 5.6e102]). Inside it those
    factors and the values they scale stay normal numbers; outside, tanh/log/softsign outputs of fp32
    inputs became all-NaN (1/lam overflows) or lost their precision (lam * u underflows)."""
    fi = torch.finfo(compute_dtype(dtype))
    return float(fi.tiny) ** (1.0 / 3.0), float(fi.max) ** (1.0 / 3.0)


def _unlimited(dtype: torch.dtype) -> tuple[float, float]:
    return 0.0, math.inf


def _root_lam_limits(dtype: torch.dtype) -> tuple[float, float]:
    """``root`` evaluates (|u| + d)^p - d^p, p = 1/lam, a difference of two numbers near 1 when p is small:
    it loses about eps * lam / 3 relative to the spread of the output, so lam is capped at eps^(-1/4) of the
    compute dtype (fp32: 54, a loss of ~2e-6; fp64: 8192, ~6e-13)."""
    _, hi = default_lam_limits(dtype)
    return 1.0, min(hi, float(torch.finfo(compute_dtype(dtype)).eps) ** -0.25)


@dataclass(frozen=True)
class Compression:
    """One bounded compression f(u; lam), elementwise, odd and non-decreasing.

    Attributes:
        name: registry key.
        fn: ``fn(u, lam) -> Tensor``, the value f(u; lam), differentiable by autograd (the composite
            and torch.func use it).
        deriv: ``deriv(u, lam) -> Tensor``, the derivative f'(u; lam) in closed form (the fused
            kernels implement it).
        bound: ``bound(lam) -> float``: sup_u |f(u; lam)| (``math.inf`` if unbounded).
        max_slope: ``max_slope(lam) -> float``: sup_u |f'(u; lam)| (its Lipschitz constant).
        identity_limit: in words, where f becomes the identity (e.g. "lam -> 0" or "lam = 1"); prose for
            tables and reports, never compared (use the two fields below).
        identity_lam: the lam at which f is exactly the identity, or ``None``.
        identity_as_lam_to_0: True when f(u; lam) -> u as lam -> 0.
        lam_min: smallest admissible lam (exclusive when ``lam_min_inclusive`` is False).
        lam_limits: ``lam_limits(dtype) -> (lo, hi)``, the lam that inputs of ``dtype`` can be computed
            with (in their compute dtype, :func:`ibnorm._types.compute_dtype`); :func:`validate_lam`
            refuses the others when given the dtype.
        provenance: ``"reconstructed"`` for all built-ins (the paper's formulas are not public).
        doc: the formula and the reasoning behind it.
        paper_variant: which variant of the paper this entry is a candidate for, if any.
    """

    name: str
    fn: CompressionFn
    deriv: CompressionFn
    bound: Callable[[float], float]
    max_slope: Callable[[float], float]
    identity_limit: str
    identity_lam: float | None = None
    identity_as_lam_to_0: bool = False
    lam_min: float = 0.0
    lam_min_inclusive: bool = False
    lam_limits: Callable[[torch.dtype], tuple[float, float]] = default_lam_limits
    provenance: str = "reconstructed"
    doc: str = ""
    paper_variant: str = ""

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


def validate_lam(comp: Compression, lam: float, dtype: torch.dtype | None = None) -> float:
    """Return ``float(lam)`` or raise ``ValueError`` when it is outside the compression's domain, or, when
    ``dtype`` (of the input) is given, outside what that dtype's compute dtype can evaluate
    (``comp.lam_limits``)."""
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
    if dtype is not None:
        lo, hi = comp.lam_limits(dtype)
        if not lo <= lam_f <= hi:
            cd = compute_dtype(dtype)
            raise ValueError(f"lam={lam_f:g} is outside what compression {comp.name!r} can compute in {cd} "
                             f"(for {dtype} inputs): lam must be in [{lo:.3g}, {hi:.3g}]"
                             + ("; float64 inputs allow a wider range" if cd != torch.float64 else ""))
    return lam_f


# --------------------------------------------------------------------------------------------------
# Odd extensions f(u) = sign(u) g(|u|), differentiated through g'


class _OddExtension(torch.autograd.Function):
    """f(u) = sign(u) g(|u|; lam) with f'(u) = g'(|u|; lam) everywhere, u = 0 included (g(0) = 0)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(u: Tensor, lam: float, g: CompressionFn, g_prime: CompressionFn) -> Tensor:
        return torch.sign(u) * g(u.abs(), lam)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        u, lam, _g, g_prime = inputs
        ctx.save_for_backward(u)
        ctx.save_for_forward(u)
        ctx.lam, ctx.g_prime = lam, g_prime

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (u,) = ctx.saved_tensors
        du: Tensor = grad * ctx.g_prime(u.abs(), ctx.lam)
        return du, None, None, None

    @staticmethod
    def jvp(ctx: Any, u_dot: Tensor, *_: Any) -> Tensor:
        (u,) = ctx.saved_tensors
        out: Tensor = u_dot * ctx.g_prime(u.abs(), ctx.lam)
        return out


def odd_extension(g: CompressionFn, g_prime: CompressionFn) -> CompressionFn:
    """The odd function ``f(u, lam) = sign(u) g(|u|, lam)`` for a ``g`` with g(0) = 0, whose autograd
    derivative (backward, forward mode, vmap) is ``g'(|u|, lam)``: also at u = 0, where differentiating
    the product ``sign(u) * g(|u|)`` gives 0 (sign'(0) = 0 and d|u|/du = 0 there)."""

    def f(u: Tensor, lam: float) -> Tensor:
        out: Tensor = _OddExtension.apply(u, lam, g, g_prime)  # type: ignore[no-untyped-call]
        return out

    return f


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


def _log_g(a: Tensor, lam: float) -> Tensor:
    """log1p(lam a) / lam for a >= 0."""
    big = a > 1.0 / lam
    a_big = torch.where(big, a, torch.full_like(a, 2.0 / lam))   # safe operand for the unused branch
    a_small = torch.where(big, torch.zeros_like(a), a)
    # log1p(lam a) = log(lam) + log(a) + log1p(1/(lam a)) for lam a > 1 (no overflow of lam a)
    v = torch.where(big, math.log(lam) + torch.log(a_big) + torch.log1p(1.0 / (lam * a_big)),
                    torch.log1p(lam * a_small))
    return v / lam


def _log_d(u: Tensor, lam: float) -> Tensor:
    return 1.0 / (1.0 + lam * u.abs())


def _root_g(a: Tensor, lam: float) -> Tensor:
    """(a + d)^p - d^p for a >= 0, p = 1/lam."""
    p = 1.0 / lam
    return torch.pow(a + ROOT_DELTA, p) - math.pow(ROOT_DELTA, p)


def _root_d(u: Tensor, lam: float) -> Tensor:
    p = 1.0 / lam
    return torch.pow(u.abs() + ROOT_DELTA, p - 1.0) * p


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
    identity_limit="always (any lam)", identity_lam=None, lam_limits=_unlimited, provenance="paper",
    doc="f(u) = u. With it IBNorm reproduces LayerNorm/RMSNorm/BatchNorm/GroupNorm exactly "
        "(the variance-centric baselines of the paper).",
))

register_compression(Compression(
    name="tanh", fn=_tanh, deriv=_tanh_d,
    bound=lambda lam: 1.0 / lam, max_slope=lambda lam: 1.0,
    identity_limit="lam -> 0", identity_as_lam_to_0=True, paper_variant="IBNorm-T (candidate)",
    doc="f(u) = tanh(lam*u)/lam; |f| < 1/lam; f'(0) = 1. Reconstruction of IBNorm-T from R3's "
        "'functions like tanh'. The 1/lam factor makes lam -> 0 the identity; the standardization "
        "that follows removes any overall scale, so only the saturation point 1/lam matters.",
))

register_compression(Compression(
    name="log", fn=odd_extension(_log_g, _log_d), deriv=_log_d,
    bound=lambda lam: math.inf, max_slope=lambda lam: 1.0,
    identity_limit="lam -> 0", identity_as_lam_to_0=True, paper_variant="IBNorm-L (candidate)",
    doc="f(u) = sign(u) log(1 + lam|u|)/lam; unbounded but logarithmic (|f(u)| <= |u|); f'(0) = 1. "
        "Reconstruction of IBNorm-L (L = log).",
))

register_compression(Compression(
    name="root", fn=odd_extension(_root_g, _root_d),
    deriv=_root_d, bound=lambda lam: math.inf,
    max_slope=lambda lam: (1.0 / lam) * ROOT_DELTA ** (1.0 / lam - 1.0),
    identity_limit="lam = 1", identity_lam=1.0, lam_min=1.0, lam_min_inclusive=True,
    lam_limits=_root_lam_limits, paper_variant="IBNorm-S (candidate)",
    doc="f(u) = sign(u)((|u|+d)^(1/lam) - d^(1/lam)), d = ROOT_DELTA; lam >= 1. Sign-root "
        "reconstruction of IBNorm-S: lam = 1 is exactly the identity, matching the theorem's "
        "'lam >= 1' condition (R1). The offset d keeps f'(0) = (1/lam) d^(1/lam - 1) finite (without it "
        "f'(0) = inf).",
))

register_compression(Compression(
    name="softsign", fn=_softsign, deriv=_softsign_d,
    bound=lambda lam: 1.0 / lam, max_slope=lambda lam: 1.0,
    identity_limit="lam -> 0", identity_as_lam_to_0=True, paper_variant="IBNorm-S (alternative candidate)",
    doc="f(u) = u/(1 + lam|u|); |f| < 1/lam; f'(0) = 1. Alternative reading of IBNorm-S.",
))
