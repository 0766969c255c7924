"""Refined reachable sets over a ball: every chain's multipliers optimized together.

:meth:`.ellipsoid.DenseCertificate.reach_bounds` chooses the multipliers of the reachable-set chain step by step
(each minimizing the trace of its own output block). On deep nets the enclosure that choice proves grows faster
than the true set layer by layer, and with a normalizer the growth feeds itself (a wider enclosure leaves more
ReLUs undecided and a larger variance range; ``docs/benchmarks/lipschitz.md`` section 4). Here each nonlinear
op's input gets its own chain, cut at that input, whose multipliers are optimized together for that input's
bounds (the joint choice is still a feasible point of the same quadratic constraints, so every bound stays
sound), and each chain builds its plan on the bounds the earlier chains proved. The cost is one multiplier
descent per normalizer and per activation with decidable neurons, over a prefix of growing length.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import Tensor

from .ellipsoid import DenseCertificate, Infinite, box_interval, group_radii
from .ops import ElementwiseOp, StandardizeOp
from .region import RegionBounds

__all__ = ["refine_reach", "refined_bounds"]


def refine_reach(cert: DenseCertificate, centers: list[Tensor], radius: float, bounds: RegionBounds, iters: int = 30,
                 lr: float = 0.1) -> RegionBounds:
    """Tighter bounds on the inputs of the nonlinear ops, in graph order, each from the reachable-set chain of
    the graph cut at that input with all its multipliers optimized together (:meth:`.ellipsoid.DenseCertificate.optimize_params`)
    instead of chosen step by step (:func:`.ellipsoid._local_multipliers`):

    * normalizer i with input p: the chain to P dz_p (the normalizer's centring appended), minimizing
      lambda_max of its block (the radius rho the normalizer's rules grow with);
    * elementwise op with input p and undecided neurons (interval containing the kink) whose centre value is
      at least a fifth of their half-width away from it: the chain to dz_p, minimizing the sum of those
      neurons' squared half-widths (a neuron proved to keep its sign becomes exact).

    Each chain's plan is built on the bounds so far, and the bounds it proves along the way and at its end
    tighten the record (``RegionBounds.tighten``), which the next chain then builds on. Every iterate of the
    descent is a feasible point, so every recorded bound is sound.
    """
    out = RegionBounds(list(bounds.lo), list(bounds.hi), dict(bounds.rho), dict(bounds.rho_r),
                       dict(bounds.shape), bounds.failed, bounds.seconds)
    t0 = time.perf_counter()
    n = len(cert.graph.ops)
    for i, op in enumerate(cert.graph.ops):
        if not isinstance(op, (StandardizeOp, ElementwiseOp)):
            continue
        p = op.parents[0]
        c = centers[p].reshape(-1).to(torch.float64)
        objective: Callable[[Tensor], Tensor] | None = None
        if isinstance(op, StandardizeOp):     # also past a failure of the greedy pass (its chain may now hold)
            sub = cert.prefix_certificate(p, op.m if op.center else 0)
        elif (iv := out.interval(p)) is not None:
            lo, hi = iv
            half = 0.5 * (hi - lo)
            hopeful = torch.nonzero((lo < 0) & (hi > 0) & (c.abs() >= 0.2 * half)).flatten()
            if hopeful.numel() == 0:
                continue
            sub = cert.prefix_certificate(p, 0)

            def objective(P: Tensor, idx: Tensor = hopeful) -> Tensor:
                return torch.diagonal(P)[idx].sum()
        else:
            continue
        try:
            with torch.no_grad():
                _, plan = sub.run(None, None, torch.float64, centers, radius, out)
            if not any(st.n_groups for st in plan.values()):
                continue
            # float32 descent (the chosen multipliers are re-run in float64 below: still sound)
            _, _, prm = sub.optimize_params(plan, iters, lr, None, objective=objective, dtype=torch.float32)
            if prm is None:
                continue
            rec = RegionBounds([None] * n, [None] * n)
            with torch.no_grad():
                sub.run(plan, prm, torch.float64, centers, radius, None, rec)
            assert sub.last_block is not None
            pout, gout = sub.last_block
            pout = pout.detach().to(torch.float64)
            if isinstance(op, StandardizeOp):
                rec.rho[i], rec.rho_r[i], rec.shape[i] = group_radii(op, pout, gout, c, radius)
            else:
                rec.lo[p], rec.hi[p] = box_interval(pout, gout, c, radius)
            out.tighten(rec)
        except (Infinite, RuntimeError):
            continue
    out.seconds = bounds.seconds + time.perf_counter() - t0
    return out


def refined_bounds(cert: DenseCertificate, centers: list[Tensor], radius: float, iters: int = 30) -> RegionBounds:
    """The greedy reachable-set bounds, refined (:func:`refine_reach`), then one more greedy pass on them (which
    carries the refined bounds to the ops after the last refined input), intersected with the refined ones."""
    greedy = cert.reach_bounds(centers, radius)
    if not 0 < radius < math.inf:
        return greedy
    refined = refine_reach(cert, centers, radius, greedy, iters)   # a greedy pass that failed part-way is refined
    out = cert.reach_bounds(centers, radius, bounds=refined)       # too: its chains may hold on refined bounds
    out.tighten(refined)
    return out
