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

import torch
from torch import Tensor

from .graph import Graph
from .opnorm import operator_norm
from .ops import CatOp, ConvOp, LinearOp, ScaleShiftOp

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
                    fused = _fused_norm(prev, op, g.shapes[prev.parents[0]])
                    if fused is not None:
                        self.folded[i] = (prev.parents[0], fused)
                        self.norms[p] = [math.inf]     # only read through the fused pair
        for i, op in enumerate(g.ops):
            if op.kind == "affine" and i not in self.norms:
                self.norms[i] = op.norms([g.shapes[p] for p in op.parents])
            elif op.kind == "maxpool":
                self.coverage[i] = op.coverage(g.shapes[op.parents[0]])

    def bound(self, values: list[Tensor | None], radius: float) -> tuple[Tensor, str]:
        """(N,) bounds for the N inputs of ``values`` (from ``Graph.run``) and a reason if infinite."""
        g = self.graph
        n = values[0].shape[0]
        lip: list[Tensor | None] = [None] * len(g.ops)
        lip[0] = torch.ones(n, dtype=torch.float64)
        reasons: list[str] = []
        for i, op in enumerate(g.ops[1:], start=1):
            ls = [lip[p] for p in op.parents]
            if op.kind == "affine":
                if i in self.folded:
                    src, nrm = self.folded[i]
                    lip[i] = nrm * lip[src]
                else:
                    lip[i] = _combine(op, ls, self.norms[i])
                continue
            if op.kind == "unsupported":
                reasons.append(f"no rule for {op.what}")
                lip[i] = torch.full((n,), math.inf, dtype=torch.float64)
                continue
            lp = ls[0]
            rho = torch.where(lp == 0, torch.zeros_like(lp), radius * lp) if radius > 0 else torch.zeros_like(lp)
            c = values[op.parents[0]].reshape(n, -1).to(torch.float64)
            if op.kind == "elementwise":
                r = rho.unsqueeze(1)
                a, b = op.act.slopes(c - r, c + r)
                s = torch.maximum(a.abs(), b.abs()).amax(1)
                lip[i] = s * lp
            elif op.kind == "standardize":
                fac = torch.stack([op.lipschitz(c[k], rho[k].expand(c.shape[1] // op.m)).max() for k in range(n)])
                if not bool(torch.isfinite(fac).all()):
                    reasons.append(f"{op.name}: eps = 0 and the variance can reach 0 on the region")
                lip[i] = fac * lp
            elif op.kind == "maxpool":
                lip[i] = math.sqrt(self.coverage[i]) * lp
            else:  # pragma: no cover - every kind is handled above
                raise RuntimeError(op.kind)
        out = lip[g.output]
        reason = "; ".join(dict.fromkeys(reasons))
        if not bool(torch.isfinite(out).all()) and not reason:
            reason = "the product of the factors overflowed"
        return out, reason


def _combine(op, ls: list[Tensor], norms: list[float]) -> Tensor:
    terms = [torch.where(l_ == 0, torch.zeros_like(l_), nrm * l_) for nrm, l_ in zip(norms, ls)]
    if isinstance(op, CatOp):                                        # concatenation: disjoint blocks
        return torch.sqrt(sum(t * t for t in terms))
    return sum(terms)


def _fused_norm(layer, scale_op: ScaleShiftOp, in_shape: tuple[int, ...]) -> float | None:
    """||diag(s) A|| for a Linear/Conv A followed by a per-output-channel scale s (None if not that layout)."""
    s = scale_op.scale.detach().to(torch.float64)
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

