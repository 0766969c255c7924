"""The compositional certificate: a Lipschitz bound per node of the graph, for networks of any size.

For each op, L_op bounds the Lipschitz constant of the map input -> op output over the region
(AutoLip on a DAG, Scaman & Virmaux NeurIPS 2018, with region-dependent factors):

* affine ops: L = sum_k ||A_k|| L_k (concatenation: sqrt(sum_k L_k^2)); a per-channel scale that
  follows a Linear/Conv with no other consumer (an eval-mode BatchNorm, a normalizer's gamma) is
  folded into it first, and the norm of the fused map is used;
* elementwise: L = max_j sup|phi'| over [c_j - rho, c_j + rho] times L_parent, with rho = r L_parent
  the l2 radius of the parent's values over the ball (every coordinate moves by at most rho);
* standardize: L = L_parent max_g 1/sigma_lo,g, sigma_lo from the same rho (1/sqrt(eps) globally);
* maxpool: L = sqrt(c) L_parent, c the largest number of windows that share an input entry.

This is what certifies ResNets and other graphs whose activations are too large for the dense
certificate of :mod:`.ellipsoid`; where both apply the smaller bound is reported.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from .graph import Graph
from .opnorm import operator_norm
from .ops import (
    AffineOp,
    CatOp,
    ConvOp,
    ElementwiseOp,
    LinearOp,
    MaxPoolOp,
    Op,
    ScaleShiftOp,
    StandardizeOp,
    UnsupportedOp,
    tensor_sum,
)

__all__ = ["CompositionalCertificate"]


class CompositionalCertificate:
    """Per-op norms are computed once (``prepare``); ``bound(values, radius)`` is per input."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.norms: dict[int, list[float]] = {}
        self.folded: dict[int, tuple[int, float]] = {}     # scale op -> (input of the fused pair, fused norm)
        self.coverage: dict[int, int] = {}

    def prepare(self) -> None:
        g = self.graph
        cons = g.consumers()
        for i, op in enumerate(g.ops):
            if isinstance(op, ScaleShiftOp) and op.scale is not None:
                p = op.parents[0]
                prev = g.ops[p]
                if len(cons[p]) == 1 and p != g.output and isinstance(prev, (LinearOp, ConvOp)):
                    fused = _fused_norm(prev, op.scale, g.shapes[prev.parents[0]])
                    if fused is not None:
                        self.folded[i] = (prev.parents[0], fused)
                        self.norms[p] = [math.inf]     # only read through the fused pair
        for i, op in enumerate(g.ops):
            if isinstance(op, AffineOp) and i not in self.norms:
                self.norms[i] = op.norms([g.shapes[p] for p in op.parents])
            elif isinstance(op, MaxPoolOp):
                self.coverage[i] = op.coverage(g.shapes[op.parents[0]])

    def bound(self, values: Sequence[Tensor | None], radius: float) -> tuple[Tensor, str]:
        """(N,) bounds for the N inputs of ``values`` (from ``Graph.run``) and a reason if infinite."""
        g = self.graph
        x = values[0]
        if x is None:
            raise ValueError("values[0] (the inputs) is missing: pass the values of Graph.run")
        n = x.shape[0]
        lip: dict[int, Tensor] = {0: torch.ones(n, dtype=torch.float64)}    # op -> (N,) bounds, in graph order
        reasons: list[str] = []
        for i, op in enumerate(g.ops[1:], start=1):
            ls = [lip[p] for p in op.parents]
            if isinstance(op, AffineOp):
                if i in self.folded:
                    src, nrm = self.folded[i]
                    lip[i] = nrm * lip[src]
                else:
                    lip[i] = _combine(op, ls, self.norms[i])
                continue
            if isinstance(op, UnsupportedOp):
                reasons.append(f"no rule for {op.what}")
                lip[i] = torch.full((n,), math.inf, dtype=torch.float64)
                continue
            lp = ls[0]
            rho = torch.where(lp == 0, torch.zeros_like(lp), radius * lp) if radius > 0 else torch.zeros_like(lp)
            v = values[op.parents[0]]
            if v is None:
                raise ValueError(f"the value of op {op.parents[0]} was freed: pass Graph.run(x, keep=True)")
            c = v.reshape(n, -1).to(torch.float64)
            if isinstance(op, ElementwiseOp):
                r = rho.unsqueeze(1)
                a, b = op.act.slopes(c - r, c + r)
                s = torch.maximum(a.abs(), b.abs()).amax(1)
                lip[i] = s * lp
            elif isinstance(op, StandardizeOp):
                fac = torch.stack([op.lipschitz(c[k], rho[k].expand(c.shape[1] // op.m)).max() for k in range(n)])
                if not bool(torch.isfinite(fac).all()):
                    reasons.append(f"{op.name}: eps = 0 and the variance can reach 0 on the region")
                lip[i] = fac * lp
            elif isinstance(op, MaxPoolOp):
                lip[i] = math.sqrt(self.coverage[i]) * lp
            else:  # pragma: no cover - every kind is handled above
                raise RuntimeError(op.kind)
        out = lip[g.output]
        reason = "; ".join(dict.fromkeys(reasons))
        if not bool(torch.isfinite(out).all()) and not reason:
            reason = "the product of the factors overflowed"
        return out, reason


def _combine(op: Op, ls: list[Tensor], norms: list[float]) -> Tensor:
    terms = [torch.where(l_ == 0, torch.zeros_like(l_), nrm * l_) for nrm, l_ in zip(norms, ls)]
    if isinstance(op, CatOp):                                        # concatenation: disjoint blocks
        return torch.sqrt(tensor_sum([t * t for t in terms]))
    return tensor_sum(terms)


def _fused_norm(layer: LinearOp | ConvOp, scale: Tensor, in_shape: tuple[int, ...]) -> float | None:
    """||diag(s) A|| for a Linear/Conv A followed by a per-output-channel scale s (None if not that layout)."""
    s = scale.detach().to(torch.float64)
    out_c = layer.weight.shape[0]
    if s.numel() != out_c:
        return None
    if isinstance(layer, LinearOp):
        if s.dim() != 1:
            return None
        return operator_norm(layer.weight.to(torch.float64) * s[:, None])
    if s.shape != (out_c,) + (1,) * (s.dim() - 1) or s.dim() != layer.weight.dim() - 1:
        return None
    fused = ConvOp(layer.name, layer.parents, weight=layer.weight.to(torch.float64) * s.reshape((-1,) + (1,) * (
        layer.weight.dim() - 1)), bias=None, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
        groups=layer.groups, padding_mode=layer.padding_mode)
    val = fused.norms([in_shape])[0]
    return val if math.isfinite(val) else None

