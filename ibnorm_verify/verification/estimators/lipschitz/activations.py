"""Slope intervals of elementwise activations: the [alpha, beta] of each neuron over an input interval.

A scalar function phi is slope-restricted on an interval I = [lo, hi] when every secant slope
(phi(a) - phi(b)) / (a - b), a != b in I, lies in [alpha, beta]. For a differentiable phi (or a
piecewise-differentiable one, at its kinks using one-sided derivatives) this is [inf phi', sup phi']
over I. These intervals feed the incremental quadratic constraints of LipSDP-Neuron (Fazlyab et al.,
NeurIPS 2019, "Efficient and accurate estimation of Lipschitz constants for deep neural networks")
and of ECLipsE-Gen-Local (Xu & Sivaranjani, arXiv 2510.05261), where a ReLU whose input interval
excludes 0 has the exact slope 0 or 1.

Each :class:`Activation` gives the slope interval elementwise for tensors ``lo <= hi`` (``-inf``/``inf``
allowed: the global interval). Derivative ranges are found from the endpoints and the interior
critical points of phi' (closed form where known, else located once by bisection on phi'' in float64
and widened by a few ulps). A degenerate interval lo == hi at a kink gets the whole one-sided range
(the Clarke generalized derivative), so a point exactly at a ReLU's kink is never given slope 0 or 1.

The IBNorm compressions f_lam (``ibnorm.compression``) are odd and non-decreasing with an even f'
that does not increase in |u| (identity, tanh, log, softsign, root): their slope interval on [lo, hi]
is [f'(max |u|), f'(min |u|)]; ``max_slope(lam)`` is the global sup. A compression registered later
without that shape gets its global interval [0, max_slope(lam)].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from ibnorm.compression import get_compression

__all__ = ["Activation", "relu", "leaky_relu", "hardtanh", "elu", "tanh", "sigmoid", "softplus", "gelu", "silu",
           "compression_activation"]

_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Activation:
    """An elementwise function with a rule for its slope interval on [lo, hi].

    Attributes:
        name: e.g. ``"relu"``, ``"gelu(tanh)"``, ``"compression tanh(lam=2)"``.
        fn: the function, elementwise on tensors.
        slopes: ``slopes(lo, hi) -> (alpha, beta)``, elementwise, sound for every secant in [lo, hi].
        global_slopes: (alpha, beta) over the whole real line.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    slopes: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
    global_slopes: tuple[float, float]
    params: dict = field(default_factory=dict)


def _clarke_fix(lo: Tensor, hi: Tensor, a: Tensor, b: Tensor, kinks: tuple[float, ...],
                left: tuple[float, ...], right: tuple[float, ...]) -> tuple[Tensor, Tensor]:
    """Where lo == hi sits exactly on a kink, widen to the convex hull of the one-sided derivatives."""
    for k, dl, dr in zip(kinks, left, right):
        at = (lo == k) & (hi == k)
        if bool(at.any()):
            a = torch.where(at, torch.full_like(a, min(dl, dr)), a)
            b = torch.where(at, torch.full_like(b, max(dl, dr)), b)
    return a, b


def _piecewise_linear(name: str, fn: Callable[[Tensor], Tensor], knots: tuple[float, ...],
                      slopes: tuple[float, ...], params: dict | None = None) -> Activation:
    """phi with constant slope ``slopes[i]`` between ``knots[i-1]`` and ``knots[i]`` (len(slopes) = len(knots)+1)."""

    def rule(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        a = torch.full_like(lo, math.inf)
        b = torch.full_like(lo, -math.inf)
        edges = (-math.inf,) + knots + (math.inf,)
        for i, s in enumerate(slopes):
            # piece i is the open interval (edges[i], edges[i+1]); [lo, hi] meets it if lo < right and hi > left
            meets = (lo < edges[i + 1]) & (hi > edges[i])
            a = torch.where(meets, torch.minimum(a, torch.full_like(a, s)), a)
            b = torch.where(meets, torch.maximum(b, torch.full_like(b, s)), b)
        # degenerate intervals strictly inside a piece meet it above; at a knot they meet none
        a, b = _clarke_fix(lo, hi, a, b, knots, slopes[:-1], slopes[1:])
        return a, b

    return Activation(name, fn, rule, (min(slopes), max(slopes)), params or {})


def relu() -> Activation:
    return _piecewise_linear("relu", torch.relu, (0.0,), (0.0, 1.0))


def leaky_relu(negative_slope: float) -> Activation:
    ns = float(negative_slope)
    return _piecewise_linear(f"leaky_relu({ns:g})", lambda x: F.leaky_relu(x, ns), (0.0,), (ns, 1.0),
                             {"negative_slope": ns})


def hardtanh(min_val: float, max_val: float) -> Activation:
    lo_, hi_ = float(min_val), float(max_val)
    return _piecewise_linear(f"hardtanh({lo_:g},{hi_:g})", lambda x: F.hardtanh(x, lo_, hi_), (lo_, hi_),
                             (0.0, 1.0, 0.0), {"min_val": lo_, "max_val": hi_})


def _even_decreasing(name: str, fn: Callable[[Tensor], Tensor], dfn: Callable[[Tensor], Tensor],
                     sup: float, params: dict | None = None) -> Activation:
    """phi' even and non-increasing in |u|: slopes on [lo, hi] are [phi'(max|u|), phi'(min|u|)]."""

    def rule(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        far = torch.maximum(lo.abs(), hi.abs())
        near = torch.where((lo <= 0) & (hi >= 0), torch.zeros_like(lo), torch.minimum(lo.abs(), hi.abs()))
        return dfn(far), dfn(near)

    return Activation(name, fn, rule, (0.0, sup), params or {})


def tanh() -> Activation:
    return _even_decreasing("tanh", torch.tanh, lambda u: 1 - torch.tanh(u) ** 2, 1.0)


def sigmoid() -> Activation:
    def d(u: Tensor) -> Tensor:
        s = torch.sigmoid(u)
        return s * (1 - s)

    return _even_decreasing("sigmoid", torch.sigmoid, d, 0.25)


def softplus(beta: float = 1.0, threshold: float = 20.0) -> Activation:
    """torch's softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (slope 1)."""
    bt, th = float(beta), float(threshold)

    def rule(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        a = torch.where(lo * bt > th, torch.ones_like(lo), torch.sigmoid(bt * lo))
        b = torch.where(hi * bt > th, torch.ones_like(hi), torch.sigmoid(bt * hi))
        return a, b

    return Activation(f"softplus(beta={bt:g})", lambda x: F.softplus(x, bt, th), rule, (0.0, 1.0),
                      {"beta": bt, "threshold": th})


def elu(alpha: float = 1.0) -> Activation:
    al = float(alpha)

    def rule(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        # slope alpha*exp(u) (increasing) for u < 0, 1 for u > 0
        neg_lo = al * torch.exp(torch.clamp(lo, max=0.0))
        neg_hi = al * torch.exp(torch.clamp(hi, max=0.0))
        has_neg, has_pos = lo < 0, hi > 0
        a = torch.where(has_neg, torch.where(has_pos, torch.minimum(neg_lo, torch.ones_like(lo)), neg_lo),
                        torch.ones_like(lo))
        b = torch.where(has_neg, torch.where(has_pos, torch.maximum(neg_hi, torch.ones_like(lo)), neg_hi),
                        torch.ones_like(lo))
        return _clarke_fix(lo, hi, a, b, (0.0,), (al,), (1.0,))

    return Activation(f"elu({al:g})", lambda x: F.elu(x, al), rule, (0.0, max(al, 1.0)), {"alpha": al})


def _critical_points(d2: Callable[[Tensor], Tensor], lo: float = -8.0, hi: float = 8.0, n: int = 16001) -> list[float]:
    """Zeros of phi'' in [lo, hi], located by a grid and 80 bisection steps each (float64)."""
    xs = torch.linspace(lo, hi, n, dtype=torch.float64)
    v = d2(xs)
    out = []
    for i in torch.nonzero(torch.sign(v[:-1]) * torch.sign(v[1:]) <= 0).flatten().tolist():
        a, b = float(xs[i]), float(xs[i + 1])
        fa = float(d2(torch.tensor(a, dtype=torch.float64)))
        for _ in range(80):
            m = 0.5 * (a + b)
            fm = float(d2(torch.tensor(m, dtype=torch.float64)))
            if (fm <= 0) == (fa <= 0):
                a, fa = m, fm
            else:
                b = m
        out.append(0.5 * (a + b))
    return sorted(set(round(c, 12) for c in out))


def _smooth_with_critical_points(name: str, fn: Callable[[Tensor], Tensor], dfn: Callable[[Tensor], Tensor],
                                 crit: list[float], params: dict | None = None) -> Activation:
    """phi' is extremal on [lo, hi] at lo, hi or a critical point inside; widened by 1e-12 (rounding)."""
    crit_t = torch.tensor(crit, dtype=torch.float64)
    dcrit = dfn(crit_t)
    glob_lo = float(dcrit.min()) - 1e-12
    glob_hi = float(dcrit.max()) + 1e-12

    def rule(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        lo64, hi64 = lo.to(torch.float64), hi.to(torch.float64)
        dl = torch.where(torch.isfinite(lo64), dfn(lo64.clamp(-1e6, 1e6)), torch.full_like(lo64, math.nan))
        dh = torch.where(torch.isfinite(hi64), dfn(hi64.clamp(-1e6, 1e6)), torch.full_like(hi64, math.nan))
        a = torch.fmin(dl, dh)
        b = torch.fmax(dl, dh)
        for c, dc in zip(crit, dcrit.tolist()):
            inside = (lo64 <= c) & (hi64 >= c)
            a = torch.where(inside, torch.fmin(a, torch.full_like(a, dc)), a)
            b = torch.where(inside, torch.fmax(b, torch.full_like(b, dc)), b)
        # an infinite end: phi' tends to its limits (0 at -inf, 1 at +inf for GELU/SiLU)
        a = torch.where(torch.isinf(lo64), torch.fmin(a, torch.zeros_like(a)), a)
        b = torch.where(torch.isinf(hi64), torch.fmax(b, torch.ones_like(b)), b)
        a = torch.where(torch.isnan(a), torch.full_like(a, glob_lo), a) - 1e-12
        b = torch.where(torch.isnan(b), torch.full_like(b, glob_hi), b) + 1e-12
        return a.clamp_min(glob_lo).to(lo.dtype), b.clamp_max(glob_hi).to(lo.dtype)

    return Activation(name, fn, rule, (glob_lo, glob_hi), params or {})


def _derivatives(fn: Callable[[Tensor], Tensor]) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    d1 = torch.func.vmap(torch.func.grad(fn))
    d2 = torch.func.vmap(torch.func.grad(torch.func.grad(fn)))

    def flat(f):
        return lambda u: f(u.reshape(-1)).reshape(u.shape)

    return flat(d1), flat(d2)


def _gelu_d(u: Tensor) -> Tensor:
    return 0.5 * (1 + torch.erf(u / math.sqrt(2))) + u * torch.exp(-0.5 * u * u) / _SQRT_2PI


_CACHE: dict[str, Activation] = {}


def gelu(approximate: str = "none") -> Activation:
    """GELU (exact: critical points of phi' at +-sqrt(2)) or its tanh approximation (located numerically)."""
    key = f"gelu({approximate})"
    if key not in _CACHE:
        if approximate == "none":
            crit = [-math.sqrt(2.0), math.sqrt(2.0)]
            _CACHE[key] = _smooth_with_critical_points(key, lambda x: F.gelu(x), _gelu_d, crit)
        else:
            def f(x: Tensor) -> Tensor:
                return F.gelu(x, approximate="tanh")
            d1, d2 = _derivatives(f)
            _CACHE[key] = _smooth_with_critical_points(key, f, d1, _critical_points(d2), {"approximate": approximate})
    return _CACHE[key]


def silu() -> Activation:
    if "silu" not in _CACHE:
        def d1(u: Tensor) -> Tensor:
            s = torch.sigmoid(u)
            return s * (1 + u * (1 - s))

        def d2(u: Tensor) -> Tensor:
            s = torch.sigmoid(u)
            return s * (1 - s) * (2 + u * (1 - 2 * s))

        _CACHE["silu"] = _smooth_with_critical_points("silu", F.silu, d1, _critical_points(d2))
    return _CACHE["silu"]


#: compressions whose f' is even and non-increasing in |u| (checked in tests/.../test_lipschitz_rules.py)
_MONOTONE_SLOPE_COMPRESSIONS = ("identity", "tanh", "log", "softsign", "root")


def compression_activation(name: str, lam: float) -> Activation:
    """The IBNorm compression f_lam as an elementwise activation (see the module docstring)."""
    comp = get_compression(name)
    lam = float(lam)
    sup = float(comp.max_slope(lam))
    label = f"compression {comp.name}(lam={lam:g})"
    fn = lambda u: comp.fn(u, lam)  # noqa: E731
    if comp.name in _MONOTONE_SLOPE_COMPRESSIONS:
        act = _even_decreasing(label, fn, lambda u: comp.deriv(u, lam), sup, {"lam": lam})
        return act

    def rule(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        return torch.zeros_like(lo), torch.full_like(lo, sup)

    return Activation(label, fn, rule, (0.0, sup), {"lam": lam})
