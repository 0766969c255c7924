"""Bounds over one l2 ball B(x_c, r) on the inputs of a graph's nonlinear ops.

The local certificates of :mod:`.ellipsoid` need, for every nonlinear op, bounds on its input over the
region: per-coordinate intervals (an activation's slope interval, a max-pooling window's argmax) and, per
normalizer group, the l2 radius rho_g >= sup |P (z_g - z_g(x_c))| (P the group's centring, the identity for
RMSNorm) with its radial part rho_r,g >= sup |u_g . (z_g - z_g(x_c))| (u_g the unit vector along P z_g(x_c)),
which fix the normalizer's sigma range and Jacobian variation (:meth:`.ops.StandardizeOp.increment_terms`).
Deriving them from the certificate's own Lipschitz radius (the ECLipsE-Gen-Local rule, arXiv 2510.05261:
centre +- r sqrt(diag P)) compounds every relaxation layer by layer; a reachable set propagated from the
centre (:meth:`.ellipsoid.DenseCertificate.reach_bounds`) stays first-order exact. This module only holds
the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["RegionBounds"]


@dataclass
class RegionBounds:
    """Sound bounds over one ball, recorded op by op.

    ``lo[p]``, ``hi[p]``: (d_p,) per-coordinate bounds of op p's value (flat) where op p feeds an elementwise
    or max-pooling op, None elsewhere or after a failure. For a standardize op i (keyed by i, not its
    parent): ``rho[i]`` (G,) the per-group l2 radius of its centred input around the centre value,
    ``rho_r[i]`` (G,) the radial part, ``shape[i]`` (G, m, m) an ellipsoid {Q^(1/2) w : |w| <= 1} holding
    the centred increments. ``failed``: why the propagation stopped ("" if it did not).
    """

    lo: list[Tensor | None]
    hi: list[Tensor | None]
    rho: dict[int, Tensor] = field(default_factory=dict)
    rho_r: dict[int, Tensor] = field(default_factory=dict)
    shape: dict[int, Tensor] = field(default_factory=dict)
    failed: str = ""
    seconds: float = 0.0

    def interval(self, p: int) -> tuple[Tensor, Tensor] | None:
        """(lo, hi) of op p's value, or None when unknown."""
        lo, hi = self.lo[p], self.hi[p]
        return None if lo is None or hi is None else (lo, hi)

    def tighten(self, other: RegionBounds) -> None:
        """Intersect with another sound record over the same ball (in place): the larger lower and the smaller
        upper bound per coordinate, the smaller radii per group, and per group the shape (both hold the set) with
        the smaller largest eigenvalue."""
        for p, iv in enumerate(zip(other.lo, other.hi)):
            lo, hi = iv
            if lo is None or hi is None:
                continue
            mine = self.interval(p)
            self.lo[p], self.hi[p] = (lo, hi) if mine is None else (torch.maximum(mine[0], lo), torch.minimum(mine[1], hi))
        for i, rho in other.rho.items():
            old = self.rho.get(i)
            self.rho[i] = rho if old is None else torch.minimum(old, rho)
        for i, q in other.shape.items():
            own = self.shape.get(i)
            if own is None:
                self.shape[i] = q
            else:
                smaller = torch.linalg.eigvalsh(q)[:, -1] < torch.linalg.eigvalsh(own)[:, -1]
                self.shape[i] = torch.where(smaller.reshape(-1, 1, 1), q, own)
        for i, rr in other.rho_r.items():
            old = self.rho_r.get(i)
            self.rho_r[i] = rr if old is None else torch.minimum(old, rr)
        for i in self.rho_r:
            if i in self.rho:
                self.rho_r[i] = torch.minimum(self.rho_r[i], self.rho[i])
