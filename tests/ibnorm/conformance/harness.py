"""Runs one sample through torch's own op, the fp64 reference and every backend of ibnorm, and lists every
way they disagree (an empty list is a pass). Used by ``test_conformance.py``.

The contract (``ibnorm._checks`` and ``ibnorm.kernels`` state it; ``tests/ibnorm/tolerances.py`` holds the
tolerance):

1. errors: where torch's op raises, every backend raises; where torch computes, every backend
   computes, except where ibnorm
   refuses what torch would compute silently wrong (integer, bool, complex RMSNorm weights) and where
   an explicitly requested fused backend cannot take the input (``backend="cpu"`` on fp64, ...);
2. the output has torch's dtype, shape and device;
3. no NaN or inf where torch's op (the identity compression on the same input) is finite;
4. the identity compression is torch's op bit for bit; every other compression is within
   :func:`tolerances.conformance_bound` of the fp64 reference wherever the input's statistics are
   representable in the compute dtype, and NaN exactly where the reference is;
5. gradients (input, weight, bias) likewise, at random points, at u = 0 and on constant groups;
6. BatchNorm's running statistics are updated as the reference says.
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from reference import Layout, batch_running_update, reference
from samples import Sample
from tolerances import conformance_bound, perturbation
from torch import Tensor

import ibnorm.functional as IBF
from ibnorm import groupings
from ibnorm._types import compute_dtype
from ibnorm.compression import get_compression
from ibnorm.kernels import TRITON_DTYPES, TRITON_MAX_ROW_BYTES, triton_status

F64 = torch.float64
COMPS = ("identity", "tanh", "log", "root", "softsign")
ORDERS = ("compress_first", "standardize_first")
LAMS = {"identity": 1.0, "tanh": 0.8, "log": 1.5, "root": 1.7, "softsign": 1.2}
ROWWISE_BACKENDS = ("auto", "cpu", "torch", "composite", "triton")
MOMENTUM = 0.1


@dataclass(frozen=True)
class Combo:
    comp: str
    lam: float
    order: str

    def __str__(self) -> str:
        return f"{self.comp}@{self.lam:g}/{self.order}"


def combos_for(s: Sample) -> list[Combo]:
    """Every compression x order at a typical lam; on random inputs also each compression at the ends of
    the lam range the input's dtype accepts (``Compression.lam_limits``)."""
    out = [Combo(c, LAMS[c], o) for c in COMPS for o in ORDERS]
    if "randn" in s.name and s.x.is_floating_point():
        for c in COMPS[1:]:
            lo, hi = get_compression(c).lam_limits(s.x.dtype)
            for lam in (lo, hi):
                out.append(Combo(c, lam, ORDERS[zlib.crc32(f"{s.name}{c}{lam}".encode()) % 2]))
    return out


def backends_for(s: Sample) -> tuple[str | None, ...]:
    return ROWWISE_BACKENDS if s.grouping in ("layer", "rms") else (None,)


def triton_combos(s: Sample, combos: list[Combo]) -> list[Combo]:
    """The Triton interpreter costs ~50 ms per program: every compression and order on the inputs where the
    compressions differ most (non-finite values, constant groups, u = 0), a deterministic sample of two
    combos on the others."""
    if s.tags & {"nonfinite", "constant", "kink"}:
        return [c for c in combos if c.comp != "identity" and c.lam == LAMS[c.comp]]
    k = zlib.crc32(s.name.encode())
    return [combos[k % len(combos)], combos[(k // 7 + 3) % len(combos)]]


def refuses(backend: str | None, s: Sample, comp: str) -> bool:
    """Whether an explicitly requested fused backend cannot take this input (documented ``select_backend``)."""
    if comp == "identity" or backend not in ("cpu", "triton"):
        return False
    x = s.x
    if backend == "cpu":
        return x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float16, torch.bfloat16)
    n = math.prod(s.shape_tuple() or (1,))
    return x.device.type != "cpu" or x.dtype not in TRITON_DTYPES or n * x.element_size() > TRITON_MAX_ROW_BYTES


# ----------------------------------------------------------------------------------------------- calls

def _clone_running(s: Sample) -> tuple[Tensor, Tensor, Tensor | None] | None:
    if s.running is None:
        return None
    rm, rv, rzm = s.running
    return rm.clone(), rv.clone(), None if rzm is None else rzm.clone()


def call_torch(s: Sample, x: Tensor, w: Tensor | None, b: Tensor | None,
               running: tuple[Tensor, Tensor, Tensor | None] | None) -> Tensor:
    """torch's own op; ``normalized_shape`` as the tuple ``F.layer_norm`` wants (ibnorm, like ``nn.LayerNorm``,
    also takes an int or a numpy integer)."""
    ns = s.shape_tuple()
    if s.grouping == "layer":
        return F.layer_norm(x, ns, w, b, 1e-5 if s.eps is None else s.eps)  # type: ignore[arg-type]
    if s.grouping == "rms":
        return F.rms_norm(x, ns, w, s.eps)  # type: ignore[arg-type]
    if s.grouping == "batch":
        rm, rv = (None, None) if running is None else running[:2]
        return F.batch_norm(x, rm, rv, w, b, s.training, MOMENTUM, 1e-5 if s.eps is None else s.eps)
    groups = s.num_groups if s.grouping == "group" else x.shape[1]
    return F.group_norm(x, groups, w, b, 1e-5 if s.eps is None else s.eps)  # type: ignore[arg-type]


def call_ib(s: Sample, x: Tensor, w: Tensor | None, b: Tensor | None, c: Combo, backend: str | None,
            running: tuple[Tensor, Tensor, Tensor | None] | None) -> Tensor:
    """The functional API; inputs without parameters go through ``groupings.standardize`` (the one
    "apply grouping G" of the library), with ``$IBNORM_BACKEND`` selecting the row-wise backend."""
    g = s.grouping
    if w is None and b is None and running is None and (g != "batch" or s.training):
        old = os.environ.get("IBNORM_BACKEND")
        try:
            if backend is not None:
                os.environ["IBNORM_BACKEND"] = backend
            return groupings.standardize(x, g, compression=c.comp, lam=c.lam, order=c.order,  # type: ignore[arg-type]
                                         eps=s.eps, normalized_shape=s.normalized_shape,  # type: ignore[arg-type]
                                         num_groups=s.num_groups)
        finally:
            if old is None:
                os.environ.pop("IBNORM_BACKEND", None)
            else:
                os.environ["IBNORM_BACKEND"] = old
    if g == "layer":
        return IBF.ib_layer_norm(x, s.normalized_shape, w, b, 1e-5 if s.eps is None else s.eps,  # type: ignore[arg-type]
                                 c.comp, c.lam, c.order, backend)  # type: ignore[arg-type]
    if g == "rms":
        return IBF.ib_rms_norm(x, s.normalized_shape, w, s.eps, c.comp, c.lam, c.order, backend)  # type: ignore[arg-type]
    if g == "batch":
        rm, rv, rzm = (None, None, None) if running is None else running
        return IBF.ib_batch_norm(x, rm, rv, w, b, s.training, MOMENTUM, 1e-5 if s.eps is None else s.eps, c.comp,
                                 c.lam, c.order, running_zmean=rzm)  # type: ignore[arg-type]
    groups = s.num_groups if g == "group" else x.shape[1]
    return IBF.ib_group_norm(x, groups, w, b, 1e-5 if s.eps is None else s.eps, c.comp, c.lam, c.order)  # type: ignore[arg-type]


def _try(fn: Callable[[], Tensor]) -> tuple[Tensor | None, BaseException | None]:
    try:
        return fn(), None
    except (RuntimeError, ValueError, TypeError, NotImplementedError, ZeroDivisionError) as exc:
        return None, exc


# ------------------------------------------------------------------------------------------ reference

def layout_of(s: Sample) -> Layout:
    return Layout(s.grouping, tuple(s.x.shape), s.shape_tuple(), s.num_groups)


def effective_eps(s: Sample) -> float:
    return float(torch.finfo(s.x.dtype).eps) if s.eps is None else float(s.eps)


def in_domain(s: Sample) -> bool:
    """The input's group sums are representable in its compute dtype (every backend scales its variance
    against overflow, so the squares need not be; the sums of the means must)."""
    m = layout_of(s).to_groups(s.x.detach().to(F64))
    if m.numel() == 0:
        return True
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    top = torch.finfo(compute_dtype(s.x.dtype)).max / 64
    return bool(m.abs().sum(1).max() < top)


def _constant_rows(s: Sample) -> Tensor:
    m = layout_of(s).to_groups(s.x.detach().to(F64))
    return (m.max(1).values == m.min(1).values) if m.shape[1] else torch.ones(m.shape[0], dtype=torch.bool)


@dataclass
class RefResult:
    y: Tensor
    grads: tuple[Tensor | None, Tensor | None, Tensor | None] | None
    y_sens: Tensor  # per element: how much the exact output moves under an input perturbation
    grad_sens: tuple[Tensor | None, Tensor | None, Tensor | None] | None


def _ref_eval(s: Sample, c: Combo, x: Tensor, w: Tensor | None, b: Tensor | None, dy: Tensor | None):
    comp = get_compression(c.comp)
    leaves = [t.detach().to(F64).requires_grad_(dy is not None) if t is not None else None for t in (x, w, b)]
    y = reference(leaves[0], layout_of(s), comp, c.lam, c.order, effective_eps(s), leaves[1], leaves[2],
                  running=None if s.training or s.running is None else s.running)
    if dy is None:
        return y.detach(), None
    params = [t for t in leaves if t is not None]
    grads = iter(torch.autograd.grad(y, params, dy.to(F64), allow_unused=True))
    return y.detach(), tuple(next(grads) if t is not None else None for t in leaves)


def reference_result(s: Sample, c: Combo, dy: Tensor | None) -> RefResult:
    """The fp64 reference, its gradients for upstream ``dy``, and their sensitivities: the largest change of
    the exact result, per group, when the input is perturbed by :func:`tolerances.perturbation` units of
    the compute dtype's roundoff with random signs (two draws). Not perturbed, so held to the table
    alone: constant groups (their answer is exact) and the u = 0 samples (exact inputs, exactly centered;
    a perturbation would move u off the kink and hide a wrong f'(0))."""
    y, grads = _ref_eval(s, c, s.x, s.weight, s.bias, dy)
    lay = layout_of(s)
    keep = (~_constant_rows(s)).to(F64).view(-1, 1) * (0.0 if "kink" in s.tags else 1.0)
    rel = perturbation(compute_dtype(s.x.dtype))
    y_sens = torch.zeros_like(y)
    g_sens: list[Tensor | None] = [None if g is None else torch.zeros_like(g) for g in (grads or ())]
    for k in range(2):
        gen = torch.Generator().manual_seed(1000 + k)
        m = lay.to_groups(s.x.detach().to(F64))
        signs = torch.randint(0, 2, m.shape, generator=gen, dtype=F64) * 2 - 1
        xk = lay.from_groups(m * (1 + rel * signs * keep))
        yk, gk = _ref_eval(s, c, xk, s.weight, s.bias, dy)
        y_sens = torch.maximum(y_sens, _per_group_max(lay, (yk - y).abs(), s))
        if grads is not None and gk is not None:
            for i, (g0, g1) in enumerate(zip(grads, gk)):
                if g0 is None or g1 is None:
                    continue
                d = (g1 - g0).abs()
                per = _per_group_max(lay, d, s) if i == 0 else d.max().expand_as(d)
                g_sens[i] = torch.maximum(g_sens[i], per)  # type: ignore[arg-type]
    return RefResult(y, grads, y_sens, tuple(g_sens) if grads is not None else None)  # type: ignore[arg-type]


def _per_group_max(lay: Layout, d: Tensor, s: Sample) -> Tensor:
    """``d`` (shaped like the input) replaced by the max over each element's statistics group (NaN-free)."""
    d = torch.nan_to_num(d, nan=0.0, posinf=0.0)
    m = lay.to_groups(d)
    return lay.from_groups(m.max(1, keepdim=True).values.expand_as(m)) if m.numel() else d


# ---------------------------------------------------------------------------------------------- checks

def _compare(name: str, got: Tensor, ref: Tensor, sens: Tensor, dtype: torch.dtype, scale: Tensor) -> str | None:
    g = got.detach().to(F64)
    if not torch.equal(torch.isnan(g), torch.isnan(ref)):
        return f"{name}: NaN at {int(torch.isnan(g).sum())} elements, reference at {int(torch.isnan(ref).sum())}"
    ok = ~torch.isnan(ref)
    if not torch.equal(g[ok & torch.isinf(ref)], ref[ok & torch.isinf(ref)]):
        return f"{name}: infinite values differ from the reference"
    fin = ok & torch.isfinite(ref)
    err = (g[fin] - ref[fin]).abs()
    bound = conformance_bound(scale[fin], sens[fin], dtype)
    if err.numel() and not bool((err <= bound).all()):
        i = int((err - bound).argmax())
        return (f"{name}: error {float(err[i]):.3g} > bound {float(bound[i]):.3g} (reference {float(ref[fin][i]):.6g}, "
                f"got {float(g[fin][i]):.6g}; {int((err > bound).sum())} of {err.numel()} elements)")
    return None


def check_sample(s: Sample, *, triton_ok: bool) -> list[str]:
    """Every disagreement of ibnorm with the contract on sample ``s`` (empty: conformant)."""
    problems: list[str] = []
    combos = combos_for(s)
    tri = set(triton_combos(s, combos))
    gen = torch.Generator().manual_seed(zlib.crc32(s.name.encode()))
    # the upstream gradient in the input's dtype (what autograd hands the op), seen exactly by the reference
    dy = torch.randn(s.x.shape, generator=gen, dtype=F64).to(s.x.dtype) if s.gradients else None
    torch_y, torch_exc = _try(lambda: call_torch(s, s.x, s.weight, s.bias, _clone_running(s)))
    torch_grads = None
    if torch_y is not None and dy is not None:
        torch_grads = _grads(lambda x, w, b: call_torch(s, x, w, b, _clone_running(s)), s, dy)
    domain = s.x.device.type == "cpu" and in_domain(s)
    for c in combos:
        ref: RefResult | None = None
        for backend in backends_for(s):
            if backend == "triton" and (not triton_ok or c not in tri):
                continue
            tag = f"{s.name} {c} backend={backend}"
            running = _clone_running(s)
            ours, exc = _try(lambda: call_ib(s, s.x, s.weight, s.bias, c, backend, running))
            must_raise = torch_exc is not None or s.refused_beyond_torch or refuses(backend, s, c.comp)
            if must_raise:
                if exc is None:
                    problems.append(f"{tag}: computed where it must raise (torch: {torch_exc!r})")
                continue
            if exc is not None:
                problems.append(f"{tag}: raised {exc!r} where torch's op computes")
                continue
            assert ours is not None and torch_y is not None
            if (ours.dtype, ours.shape, ours.device) != (torch_y.dtype, torch_y.shape, torch_y.device):
                problems.append(f"{tag}: output {ours.dtype} {tuple(ours.shape)} {ours.device}, torch's op "
                                f"{torch_y.dtype} {tuple(torch_y.shape)} {torch_y.device}")
                continue
            if ours.device.type == "meta":
                continue
            if not bool(torch.isfinite(ours[torch.isfinite(torch_y)]).all()):
                problems.append(f"{tag}: non-finite output where torch's op is finite")
            if c.comp == "identity":
                if not torch.equal(torch.nan_to_num(ours, nan=7.0), torch.nan_to_num(torch_y, nan=7.0)):
                    problems.append(f"{tag}: identity is not torch's op bit for bit")
                continue
            if not domain:
                continue
            if ref is None:
                ref = reference_result(s, c, dy)
            lay = layout_of(s)
            msg = _compare("y", ours, ref.y, ref.y_sens, ours.dtype, _per_group_max(lay, ref.y.abs(), s))
            if msg:
                problems.append(f"{tag}: {msg}")
            if s.grouping == "batch" and s.training and running is not None:
                problems += [f"{tag}: {m}" for m in _check_running(s, c, running)]
            if dy is not None and ref.grads is not None and ref.grad_sens is not None:
                running = _clone_running(s)
                got = _grads(lambda x, w, b: call_ib(s, x, w, b, c, backend, running), s, dy)
                for name, gg, rr, ss, tg in zip(("dx", "dweight", "dbias"), got, ref.grads, ref.grad_sens,
                                                torch_grads or (None, None, None)):
                    if gg is None or rr is None or ss is None:
                        continue
                    if tg is not None and not bool(torch.isfinite(gg[torch.isfinite(tg)]).all()):
                        problems.append(f"{tag}: {name} non-finite where torch's gradient is finite")
                    scale = (_per_group_max(lay, rr.abs(), s) if name == "dx"
                             else torch.nan_to_num(rr.abs(), nan=0.0).max().expand_as(rr))
                    msg = _compare(name, gg, rr, ss, gg.dtype, scale)
                    if msg:
                        problems.append(f"{tag}: {msg}")
    return problems


def _grads(fn: Callable[[Tensor, Tensor | None, Tensor | None], Tensor], s: Sample,
           dy: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (s.x, s.weight, s.bias)]
    y = fn(leaves[0], leaves[1], leaves[2])  # type: ignore[arg-type]
    params = [t for t in leaves if t is not None]
    grads = iter(torch.autograd.grad(y, params, dy.to(y.dtype)))
    return tuple(next(grads) if t is not None else None for t in leaves)  # type: ignore[return-value]


def _check_running(s: Sample, c: Combo, running: tuple[Tensor, Tensor, Tensor | None]) -> list[str]:
    assert s.running is not None
    rm0, rv0, rzm0 = s.running
    exp = batch_running_update(s.x, get_compression(c.comp), c.lam, c.order, MOMENTUM, rm0, rv0, rzm0)
    out = []
    for name, got, want in zip(("running_mean", "running_var", "running_zmean"), running, exp):
        if got is None or want is None:
            continue
        msg = _compare(name, got, want, torch.zeros_like(want), got.dtype, want.abs().max().expand_as(want))
        if msg:
            out.append(msg)
    return out


def triton_available() -> bool:
    importable, interpreted, _ = triton_status()
    return importable and interpreted
