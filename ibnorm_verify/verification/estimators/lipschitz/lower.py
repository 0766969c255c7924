"""Attained lower bounds: ||J(w) v|| at a returned witness (w, v), searched over the region.

* Power iteration on J^T J at every input (batched, per-sample early stop), giving ||J(x_n) v||.
* Over a ball (or the whole space), a global search at a fixed budget: the ``ascent_starts`` best
  inputs plus ``restarts`` random points of the region, each moved by projected gradient ascent of
  ||J(x) v||^2 (v refreshed by a power step). A ReLU network's Jacobian is piecewise constant, so its
  gradient is zero almost everywhere: the ascent runs on a smooth surrogate (every ReLU / LeakyReLU
  replaced by t softplus(z / t), t shrinking from 0.3 to 0.03 of the ReLU input's rms at the inputs)
  and the exact Jacobian of the real model is re-evaluated by power iteration at the end points. The
  reported value is always an exact ||J(w) v|| of the model itself, never the surrogate's.

Differentiation: forward-mode (``torch.func.jvp``) where the model supports it; a module without a
forward-AD rule (e.g. ``nn.TransformerEncoderLayer``'s fused fast path) is retried with torch's
multi-head-attention fast path and fused attention kernels disabled, then with reverse-over-reverse products (J v as the
gradient of <J^T u, v> in u). The mode used is reported. Non-finite values (a normalizer with
eps = 0 at a constant input) are skipped, never returned; if every input gives one, ``ValueError``.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, cast

import torch
import torch.fx as fx
from torch import Tensor, nn
from torch.func import jvp, vjp
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .graph import LipTracer, _Root

__all__ = ["ADMode", "choose_ad_mode", "power_iteration", "ascent", "smooth_surrogate", "bnorm", "bdiv"]


def bnorm(t: Tensor) -> Tensor:
    """Per-sample 2-norm over all but the first dim: (N, ...) -> (N,)."""
    return t.reshape(t.shape[0], -1).norm(dim=1)


_Pullback = Callable[[Tensor], tuple[Tensor, ...]]


def _vjp(fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, _Pullback]:
    """``torch.func.vjp`` for one tensor argument without ``has_aux``: (fn(x), u -> (J^T u,)). The cast narrows
    torch's return annotation, which unions the 2-tuple with the 3-tuple of ``has_aux=True``."""
    return cast("tuple[Tensor, _Pullback]", vjp(fn, x))


def bdiv(t: Tensor, s: Tensor) -> Tensor:
    return t / s.clamp_min(torch.finfo(t.dtype).tiny).reshape((-1,) + (1,) * (t.dim() - 1))


# ------------------------------------------------------------------------------------- AD modes

class ADMode:
    """Jacobian-vector products J v and J^T u of a batched per-sample model, in one of three modes."""

    def __init__(self, model: Callable[[Tensor], Tensor], mode: str):
        self.model, self.mode = model, mode

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        if self.mode == "forward":
            yield
            return
        # the fused fast path and the flash/efficient attention kernels have no forward-AD (nor
        # double-backward) rules; the math attention kernel has both
        old = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with sdpa_kernel(SDPBackend.MATH):
                yield
        finally:
            torch.backends.mha.set_fastpath_enabled(old)

    def jv(self, x: Tensor, v: Tensor) -> Tensor:
        with self.context():
            if self.mode.startswith("forward"):
                return jvp(self.model, (x,), (v,))[1]
            out, fn = _vjp(self.model, x)
            u0 = torch.zeros_like(out)
            _, g = _vjp(lambda u: fn(u)[0], u0)
            return g(v)[0]

    def jtu(self, x: Tensor, u: Tensor) -> Tensor:
        with self.context():
            _, fn = _vjp(self.model, x)
            return fn(u)[0]

    def vjp_fn(self, x: Tensor) -> _Pullback:
        with self.context():
            return _vjp(self.model, x)[1]


def choose_ad_mode(model: Callable[[Tensor], Tensor], x: Tensor) -> tuple[ADMode, str]:
    """The first mode whose J v runs on ``x``; (mode, note). ``RuntimeError`` if none does."""
    errors = []
    v = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(1))
    for mode in ("forward", "forward-no-fastpath", "reverse"):
        m = ADMode(model, mode)
        try:
            with torch.no_grad():
                m.jv(x, v)
                m.jtu(x, model(x))
        except (NotImplementedError, RuntimeError) as e:
            errors.append(f"{mode}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            continue
        note = "" if mode == "forward" else (
            f"forward-mode AD failed ({errors[0]}); used {mode} "
            + ("(torch's multi-head-attention fast path and fused attention kernels disabled)"
               if mode == "forward-no-fastpath" else "(J v by reverse-over-reverse, fused kernels disabled)"))
        return m, note
    raise RuntimeError("no Jacobian-vector product could be computed for this model: " + "; ".join(errors))


# ------------------------------------------------------------------------------- power iteration

def power_iteration(ad: ADMode, x: Tensor, v: Tensor, iters: int, tol: float) -> tuple[Tensor, Tensor, int]:
    """Batched power iteration on J(x)^T J(x): (best ||J v|| per sample (N,), its v, iterations).

    Samples whose products are non-finite keep NaN. A sample stops once two successive values agree
    to ``tol`` (relative).
    """
    v = bdiv(v, bnorm(v))
    n = x.shape[0]
    best = torch.full((n,), math.nan, dtype=x.dtype)
    best_v = v.clone()
    prev = torch.full((n,), math.nan, dtype=x.dtype)
    active = torch.arange(n)
    it = 0
    for it in range(1, iters + 1):
        xa, va = x[active], v[active]
        jv_ = ad.jv(xa, va)
        s = bnorm(jv_)
        ok = torch.isfinite(s)
        better = ok & (torch.isnan(best[active]) | (s > best[active]))
        best[active[better]] = s[better]
        best_v[active[better]] = va[better]
        w = ad.jtu(xa, torch.where(torch.isfinite(jv_), jv_, torch.zeros_like(jv_)))
        wn = bnorm(w)
        stuck = ~torch.isfinite(wn) | (wn == 0)
        v[active] = torch.where(stuck.reshape((-1,) + (1,) * (w.dim() - 1)), va, bdiv(w, wn))
        done = ~ok | stuck | ((s - prev[active]).abs() <= tol * s.clamp_min(1e-300))
        prev[active] = s
        active = active[~done]
        if active.numel() == 0:
            break
    return best, best_v, it


# ------------------------------------------------------------------------------- smooth surrogate

class _SoftReLU(nn.Module):
    """t softplus(z / t) (+ negative_slope * z for a leaky ReLU), t = base * schedule.scale."""

    def __init__(self, base: float, negative_slope: float, schedule: "_Schedule"):
        super().__init__()
        self.base, self.ns, self.schedule = base, negative_slope, schedule

    def forward(self, z: Tensor) -> Tensor:
        t = max(self.base * self.schedule.scale, 1e-12)
        soft = t * F.softplus(z / t)
        return soft if self.ns == 0 else self.ns * z + (1 - self.ns) * soft


class _Schedule:
    scale = 0.3


_RELU_FUNCS = {F.relu: 0.0, torch.relu: 0.0, "relu": 0.0, F.relu_: 0.0, "relu_": 0.0}


def smooth_surrogate(model: nn.Module, x: Tensor) -> tuple[nn.Module | None, "_Schedule | None"]:
    """A copy of ``model`` with every ReLU / LeakyReLU smoothed (None if there is none or tracing fails)."""
    root = _Root(model)
    try:
        gm = fx.GraphModule(root, LipTracer().trace(root))
    except Exception:  # noqa: BLE001
        return None, None
    modules = dict(gm.named_modules())
    targets = []
    for n in gm.graph.nodes:
        if n.op == "call_module" and type(modules[n.target]) in (nn.ReLU, nn.LeakyReLU):
            m = modules[n.target]
            targets.append((n, float(getattr(m, "negative_slope", 0.0))))
        elif n.op in ("call_function", "call_method") and n.target in _RELU_FUNCS:
            targets.append((n, 0.0))
        elif n.op == "call_function" and n.target is F.leaky_relu:
            targets.append((n, float(n.kwargs.get("negative_slope", n.args[1] if len(n.args) > 1 else 0.01))))
    if not targets:
        return None, None
    # rms of each ReLU's input at the inputs
    rms: dict[fx.Node, float] = {}

    class Rec(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            for t_, _ in targets:
                if n is t_.args[0]:
                    rms[t_] = float(out.detach().pow(2).mean().sqrt())
            return out

    with torch.no_grad():
        try:
            Rec(gm).run(x)
        except Exception:  # noqa: BLE001
            return None, None
    sched = _Schedule()
    for k, (n, ns) in enumerate(targets):
        name = f"_lip_soft_relu_{k}"
        gm.add_submodule(name, _SoftReLU(max(rms.get(n, 1.0), 1e-6), ns, sched))
        with gm.graph.inserting_after(n):
            new = gm.graph.call_module(name, args=(n.args[0],))
        n.replace_all_uses_with(new)
        gm.graph.erase_node(n)
    gm.graph.lint()
    gm.recompile()
    return gm, sched


# ------------------------------------------------------------------------------------- ascent

def ascent(ad: ADMode, x0: Tensor, v: Tensor, radius: float, steps: int, schedule: "_Schedule | None",
           scale: Tensor) -> tuple[Tensor, Tensor]:
    """Projected gradient ascent of ||J(x) v||^2 from x0 inside B(x0_n, radius) (radius inf: free, with
    steps relative to ``scale`` (N,)); v refreshed by one power step on the same model. Returns (x, v)."""
    model = ad.model

    def phi(x, v_):
        return jvp(model, (x,), (v_,))[1].pow(2).sum() if ad.mode.startswith("forward") else \
            ad.jv(x, v_).pow(2).sum()

    grad_phi = torch.func.grad(phi)
    x = x0.clone()
    shape = (-1,) + (1,) * (x.dim() - 1)
    for k in range(steps):
        if schedule is not None:
            schedule.scale = 0.3 * (0.1 ** (k / max(steps - 1, 1)))
        with ad.context():
            g = grad_phi(x, v)
        gn = bnorm(g)
        g = torch.where(torch.isfinite(gn).reshape(shape), g, torch.zeros_like(g))
        base = radius if math.isfinite(radius) else 1.0
        step = (base * scale if not math.isfinite(radius) else torch.full_like(scale, base)) * 0.5 / (1 + 0.2 * k)
        x = x + step.reshape(shape) * bdiv(g, gn)
        if math.isfinite(radius):
            d = x - x0
            dn = bnorm(d)
            x = x0 + d * (radius / dn.clamp_min(radius)).reshape(shape)
        jv_ = ad.jv(x, v)
        w = ad.jtu(x, torch.where(torch.isfinite(jv_), jv_, torch.zeros_like(jv_)))
        wn = bnorm(w)
        v = torch.where((torch.isfinite(wn) & (wn > 0)).reshape(shape), bdiv(w, wn), v)
    if schedule is not None:
        schedule.scale = 0.3
    return x.detach(), v.detach()
