"""The primitive operations a traced network is lowered to, each with its certification rule.

Every op acts on a batch (N, *shape) and treats samples independently. Four kinds:

* ``affine``: y = sum_k A_k x_k + c (Linear, Conv, per-channel scale/shift, reshapes, permutes, sums of
  tensors, concatenation, indexing, means, average pooling, group centering). Each gives its dense
  Jacobians A_k (by pushing a basis through the op, used where the state is small enough to keep
  dense) and a certified bound on ||A_k|| (exact SVD, the conv FFT bound, or the Schur test; see
  :mod:`.opnorm`).
* ``elementwise``: y = phi(x) with a slope-interval rule (:mod:`.activations`).
* ``standardize``: per contiguous group of m entries, y = P z / sigma(z), sigma = sqrt(|P z|^2/m + eps),
  P the centering projection (LayerNorm/GroupNorm/InstanceNorm) or the identity (RMSNorm); no affine.
  Its Jacobian at z is (1/sigma)(P - u u^T) with u = P z / (sqrt(m) sigma) (``docs/papers/capacity.md``,
  the normalizer Jacobian), whose norm is at most 1/sigma (P - u u^T has eigenvalues in [0, 1] on the
  range of P since |u|^2 = var/(var + eps) < 1).
* ``maxpool``: max over windows; on an l2 region its increments obey |dy_o| <= |dz_window(o)|.

``unsupported`` marks an operation without a rule (e.g. attention); it carries the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from .activations import Activation
from .opnorm import conv_norm_bound, dense_norm, operator_norm, schur_bound

__all__ = ["Op", "InputOp", "AffineOp", "LinearOp", "ConvOp", "ScaleShiftOp", "ReshapeOp", "PermuteOp", "CombineOp",
           "CatOp", "IndexOp", "ReduceOp", "PoolOp", "CenterOp", "ElementwiseOp", "StandardizeOp", "MaxPoolOp",
           "UnsupportedOp", "DENSE_NORM_LIMIT", "tensor_sum"]

#: an affine op whose Jacobian has at most this many entries gets the exact SVD norm
DENSE_NORM_LIMIT = 1 << 18


@dataclass(eq=False)
class Op:
    """A node of the lowered graph. ``parents`` index earlier ops; ``name`` says where it came from."""

    name: str
    parents: tuple[int, ...]

    kind = "op"

    # ``*xs: Any``: the arity is the op's own (one parent for most ops, k for combine/cat), so each subclass
    # declares its forward with its own parameters
    def forward(self, *xs: Any) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def tensor_sum(terms: Sequence[Tensor]) -> Tensor:
    """terms[0] + terms[1] + ... (left to right; at least one term): ``sum`` without its int start value."""
    if not terms:
        raise ValueError("tensor_sum needs at least one term")
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


@dataclass(eq=False)
class InputOp(Op):
    kind = "input"

    def forward(self, *xs: Tensor) -> Tensor:  # pragma: no cover - never called
        raise RuntimeError("the input op has no forward")


# ------------------------------------------------------------------------------------------ affine

@dataclass(eq=False)
class AffineOp(Op):
    kind = "affine"
    #: all entries of every A_k are >= 0 (pooling, means): the Schur test applies
    nonnegative = False

    def norms(self, in_shapes: Sequence[tuple[int, ...]]) -> list[float]:
        """Certified bounds on ||A_k|| for each parent (default: exact SVD of the dense Jacobian if small,
        else the Schur test for nonnegative maps, else inf)."""
        out: list[float] = []
        out_numel = math.prod(self.out_shape(in_shapes))
        for k, s in enumerate(in_shapes):
            d = math.prod(s)
            if d * out_numel <= DENSE_NORM_LIMIT:
                out.append(dense_norm(self.jacobians(in_shapes, only=k)[k]))
            elif self.nonnegative:
                out.append(self._schur(in_shapes, k))
            else:
                out.append(math.inf)
        return out

    def combine(self, lips: Sequence[float], norms: Sequence[float]) -> float:
        """Lipschitz bound of the output from the parents' bounds: sum_k ||A_k|| L_k (triangle inequality)."""
        return float(sum(n * lip for n, lip in zip(norms, lips) if lip != 0))

    def out_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        xs = [torch.zeros((1,) + tuple(s), dtype=torch.float64) for s in in_shapes]
        return tuple(self.forward(*xs).shape[1:])

    def jacobians(self, in_shapes: Sequence[tuple[int, ...]], only: int | None = None,
                  dtype: torch.dtype = torch.float64) -> list[Tensor]:
        """Dense A_k, (d_out, d_k), from the op applied to basis vectors (the op is affine)."""
        out: list[Tensor] = []
        for k, s in enumerate(in_shapes):
            if only is not None and k != only:
                out.append(torch.empty(0))
                continue
            d = math.prod(s)
            cols = []
            for start in range(0, d, 1024):
                stop = min(d, start + 1024)
                eye = torch.zeros(stop - start, d, dtype=dtype)
                eye[torch.arange(stop - start), torch.arange(start, stop)] = 1
                xs = [torch.zeros((stop - start,) + tuple(t), dtype=dtype) for t in in_shapes]
                zs = [torch.zeros((1,) + tuple(t), dtype=dtype) for t in in_shapes]
                xs[k] = eye.reshape((stop - start,) + tuple(s))
                y = self.forward(*xs) - self.forward(*zs)
                cols.append(y.reshape(stop - start, -1))
            out.append(torch.cat(cols).T.contiguous())
        return out

    def _schur(self, in_shapes: Sequence[tuple[int, ...]], k: int) -> float:
        ones = [torch.zeros((1,) + tuple(s), dtype=torch.float64) for s in in_shapes]
        zeros = [t.clone() for t in ones]
        ones[k] = torch.ones_like(ones[k]).requires_grad_(True)
        y = self.forward(*ones) - self.forward(*zeros)
        rows = y.detach().reshape(-1)                                     # A 1
        (cols,) = torch.autograd.grad(y, ones[k], torch.ones_like(y))     # A^T 1
        return schur_bound(rows, cols.reshape(-1))


@dataclass(eq=False)
class LinearOp(AffineOp):
    """y = x W^T + b on the last dim (any leading per-sample dims: tokens)."""

    weight: Tensor = None  # type: ignore[assignment]
    bias: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def norms(self, in_shapes):
        return [operator_norm(self.weight)]         # block diagonal over the leading dims: same norm


@dataclass(eq=False)
class ConvOp(AffineOp):
    """Conv1d/Conv2d with resolved per-side padding (applied by F.pad for non-zero modes)."""

    weight: Tensor = None  # type: ignore[assignment]
    bias: Tensor | None = None
    stride: tuple[int, ...] = (1,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    groups: int = 1
    padding_mode: str = "zeros"

    def forward(self, x: Tensor) -> Tensor:
        nd = self.weight.dim() - 2
        conv = F.conv1d if nd == 1 else F.conv2d
        w = self.weight.to(x.dtype)
        b = None if self.bias is None else self.bias.to(x.dtype)
        if self.padding_mode != "zeros":
            pad: list[int] = []
            for p in reversed(self.padding):
                pad += [p, p]
            x = F.pad(x, pad, mode=self.padding_mode)
            return conv(x, w, b, self.stride, 0, self.dilation, self.groups)
        return conv(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def norms(self, in_shapes):
        d_in = math.prod(in_shapes[0])
        if d_in * math.prod(self.out_shape(in_shapes)) <= DENSE_NORM_LIMIT:
            return super().norms(in_shapes)
        val, _ = conv_norm_bound(self.weight, tuple(in_shapes[0][1:]), self.padding, self.stride, self.dilation,
                                 self.groups, self.padding_mode)
        return [val]


@dataclass(eq=False)
class ScaleShiftOp(AffineOp):
    """y = x * scale + shift, scale/shift broadcast against the per-sample shape."""

    scale: Tensor | None = None
    shift: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.scale is not None:
            x = x * self.scale.to(x.dtype)
        if self.shift is not None:
            x = x + self.shift.to(x.dtype)
        return x

    def norms(self, in_shapes):
        return [1.0 if self.scale is None else float(self.scale.detach().abs().max())]


@dataclass(eq=False)
class ReshapeOp(AffineOp):
    shape: tuple[int, ...] = ()

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape((x.shape[0],) + tuple(self.shape))

    def norms(self, in_shapes):
        return [1.0]


@dataclass(eq=False)
class PermuteOp(AffineOp):
    perm: tuple[int, ...] = ()        # per-sample permutation

    def forward(self, x: Tensor) -> Tensor:
        return x.permute((0,) + tuple(p + 1 for p in self.perm))

    def norms(self, in_shapes):
        return [1.0]


@dataclass(eq=False)
class CombineOp(AffineOp):
    """y = sum_k coefs[k] x_k + const (residual additions, subtractions, scalar multiples)."""

    coefs: tuple[float, ...] = ()
    const: Tensor | None = None

    def forward(self, *xs: Tensor) -> Tensor:
        y = xs[0] * self.coefs[0]
        for c, x in zip(self.coefs[1:], xs[1:]):
            y = y + c * x
        if self.const is not None:
            y = y + self.const.to(y.dtype)
        return y

    def norms(self, in_shapes):
        return [abs(c) for c in self.coefs]


@dataclass(eq=False)
class CatOp(AffineOp):
    dim: int = 0                       # per-sample dim

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=self.dim + 1)

    def norms(self, in_shapes):
        return [1.0] * len(in_shapes)

    def combine(self, lips, norms):
        return math.sqrt(sum(lip * lip for lip in lips))   # disjoint output blocks


@dataclass(eq=False)
class IndexOp(AffineOp):
    index: tuple = ()                  # per-sample index (slices, ints, Ellipsis)

    def forward(self, x: Tensor) -> Tensor:
        return x[(slice(None),) + tuple(self.index)]

    def norms(self, in_shapes):
        return [1.0]                   # a coordinate selection (basic indexing never repeats an entry)


@dataclass(eq=False)
class ReduceOp(AffineOp):
    dims: tuple[int, ...] = ()         # per-sample dims
    mean: bool = True
    keepdim: bool = False
    nonnegative = True

    def forward(self, x: Tensor) -> Tensor:
        d = tuple(k + 1 for k in self.dims)
        return x.mean(dim=d, keepdim=self.keepdim) if self.mean else x.sum(dim=d, keepdim=self.keepdim)

    def norms(self, in_shapes):
        m = math.prod(in_shapes[0][k] for k in self.dims)
        return [1 / math.sqrt(m) if self.mean else math.sqrt(m)]


@dataclass(eq=False)
class PoolOp(AffineOp):
    """Average pooling (fixed or adaptive), as a functional with its arguments bound."""

    fn: Callable[[Tensor], Tensor] = None  # type: ignore[assignment]
    label: str = "avg_pool"
    nonnegative = True

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def norms(self, in_shapes):
        return [self._schur(in_shapes, 0)]


@dataclass(eq=False)
class CenterOp(AffineOp):
    """Subtract the mean of each contiguous group of ``m`` entries (an orthogonal projection)."""

    m: int = 1

    def forward(self, x: Tensor) -> Tensor:
        g = x.reshape(x.shape[0], -1, self.m)
        return (g - g.mean(-1, keepdim=True)).reshape(x.shape)

    def norms(self, in_shapes):
        return [1.0 if self.m > 1 else 0.0]


# ------------------------------------------------------------------------------------- nonlinear

@dataclass(eq=False)
class ElementwiseOp(Op):
    act: Activation = None  # type: ignore[assignment]
    kind = "elementwise"

    def forward(self, x: Tensor) -> Tensor:
        return self.act.fn(x)


@dataclass(eq=False)
class StandardizeOp(Op):
    """Per-group standardization without affine (see the module docstring)."""

    m: int = 1
    center: bool = True
    eps: float = 1e-5
    grouping: str = "layer"
    kind = "standardize"

    def forward(self, x: Tensor) -> Tensor:
        g = x.reshape(x.shape[0], -1, self.m)
        if self.center:
            g = g - g.mean(-1, keepdim=True)
        return (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)).reshape(x.shape)

    def group_stats(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(a, sigma) per group for one sample z (flat): a = P z_g / sqrt(m) (G, m), sigma (G,)."""
        g = z.reshape(-1, self.m).to(torch.float64)
        if self.center:
            g = g - g.mean(-1, keepdim=True)
        a = g / math.sqrt(self.m)
        return a, torch.sqrt(a.pow(2).sum(-1) + self.eps)

    def jacobian_blocks(self, z: Tensor) -> Tensor:
        """(G, m, m): (1/sigma)(P - u u^T) per group at one sample z (flat)."""
        a, sig = self.group_stats(z)
        eye = torch.eye(self.m, dtype=torch.float64)
        proj = eye - 1.0 / self.m if self.center else eye
        u = a / sig.unsqueeze(-1)
        return (proj.unsqueeze(0) - u.unsqueeze(-1) * u.unsqueeze(-2)) / sig.reshape(-1, 1, 1)

    def sigma_range(self, z: Tensor, rho: Tensor, rho_r: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per group [sigma_lo, sigma_hi] over |z_g' - z_g| <= rho_g (and, if given, |u . (z_g' - z_g)| <= rho_r,g
        with u the unit vector along P z_g): |P z'|^2 = |P z|^2 + 2 |P z| q + |P dz|^2 with q = u . dz, so
        |P z'| lies in [|P z| - rho_r, sqrt((|P z| + rho_r)^2 + rho^2 - rho_r^2)] (rho_r = rho without it)."""
        a, _ = self.group_stats(z)
        pn = a.norm(dim=-1) * math.sqrt(self.m)                            # |P z|
        rho = rho.to(torch.float64)
        rr = rho if rho_r is None else torch.minimum(rho_r.to(torch.float64), rho)
        lo_n = torch.clamp(pn - rr, min=0.0)
        hi_n = torch.sqrt((pn + rr).pow(2) + (rho.pow(2) - rr.pow(2)).clamp_min(0))
        return torch.sqrt(lo_n.pow(2) / self.m + self.eps), torch.sqrt(hi_n.pow(2) / self.m + self.eps)

    def lipschitz(self, z: Tensor, rho: Tensor) -> Tensor:
        """Per group sup ||J|| over the region: 1/sigma_lo (inf where eps = 0 and sigma_lo = 0)."""
        lo, _ = self.sigma_range(z, rho)
        return torch.where(lo > 0, 1.0 / lo, torch.full_like(lo, math.inf))

    def deviation(self, z: Tensor, rho: Tensor) -> Tensor:
        """Per group eps_g >= sup ||J(z') - J(z)|| over |z_g' - z_g| <= rho_g.

        J = P/sigma - a a^T / sigma^3 (a = P z'/sqrt(m), |a|^2 + eps = sigma^2). With |a' - a| <= da:
        ||J' - J|| <= |1/sigma' - 1/sigma| + ||a' a'^T - a a^T|| / sigma'^3 + |a|^2 |1/sigma'^3 - 1/sigma^3|
        and ||a' a'^T - a a^T|| <= da (2|a| + da); each term maximized over sigma' in [sigma_lo, sigma_hi].
        """
        a, sig = self.group_stats(z)
        an = a.norm(dim=-1)
        da = rho.to(torch.float64) / math.sqrt(self.m)
        lo, hi = self.sigma_range(z, rho)
        inv = torch.maximum(1 / lo - 1 / sig, 1 / sig - 1 / hi)
        inv3 = torch.maximum(lo.pow(-3) - sig.pow(-3), sig.pow(-3) - hi.pow(-3))
        dev = inv + da * (2 * an + da) / lo.pow(3) + an.pow(2) * inv3
        dev = torch.where(da > 0, dev, torch.zeros_like(dev))          # a point: J(z) itself, exactly
        return torch.where(lo > 0, dev, torch.full_like(dev, math.inf))

    def increment_terms(self, z: Tensor, rho: Tensor, rho_r: Tensor | None = None) -> dict[str, Tensor]:
        """Coefficients of a structured increment rule over the region |P(z' - z)|_g <= rho_g,
        |u . (z' - z)|_g <= rho_r,g (z = the centre value z_c, flat; u the unit vector along P z_c).

        Write y(z) = P z s(z), s = (|P z|^2/m + eps)^(-1/2), s_c = 1/sigma_c, grad s(z) = -P z / (m sigma(z)^3),
        J_c = s_c P + P z_c grad s(z_c)^T (the Jacobian at the centre). For two points z1, z2 of the region,
        dz = z1 - z2 and xi on the segment between them (mean value theorem for the scalar s):

            y(z1) - y(z2) = J_c dz + theta P dz + P(z2 - z_c) gamma + u beta,
            theta = s(z1) - s_c,   gamma = grad s(xi) . dz,   beta = |P z_c| (grad s(xi) - grad s(z_c)) . dz.

        Over the region sigma lies in [lo, hi] (:meth:`sigma_range`), |P(xi - z_c)| <= rho, and
        grad s(xi) = -(P z_c + P(xi - z_c)) / (m sigma_xi^3), so

        * theta in [t_lo, t_hi] = [1/hi - s_c, 1/lo - s_c]: ``t_mid`` joins the linear part, the rest is a rescaling
          of the increment P dz by at most ``scale`` = (t_hi - t_lo)/2;
        * |gamma| <= ``g_u`` |u . dz| + ``g_p`` |P dz|, g_u = |P z_c| / (m lo^3), g_p = rho / (m lo^3); the term
          P(z2 - z_c) gamma points inside the region's own (centred) set of P z;
        * |beta| <= ``b_u`` |u . dz| + ``b_p`` |P dz|, b_u = |P z_c|^2 max(lo^-3 - sigma_c^-3, sigma_c^-3 - hi^-3) / m,
          b_p = |P z_c| rho / (m lo^3): a term along u only (the radial direction, which the next normalizer
          of a positively homogeneous block removes).

        From the centre (z2 = z_c, reachable sets) the gamma term vanishes and u beta becomes u |P z_c| r_s with
        the scalar remainder r_s = s(z1) - s_c - grad s(z_c) . dz; the Hessian of s has eigenvalues in
        [-1/(m sigma^3), 2/(m sigma^3)], so |u beta| <= ``seg`` = |P z_c| rho^2 / (m lo^3) (an absolute segment).

        Returns per group (G,) tensors ``t_mid``, ``scale``, ``g_u``, ``g_p``, ``b_u``, ``b_p``, ``seg``, ``lip``
        (= 1/lo, the Lipschitz rule), and ``u`` (G, m); inf where the variance can reach 0 with eps = 0.
        """
        a, sig = self.group_stats(z)
        pn = a.norm(dim=-1) * math.sqrt(self.m)                                # |P z_c|
        rho = rho.to(torch.float64)
        lo, hi = self.sigma_range(z, rho, rho_r)
        ok = lo > 0
        lo_ = torch.where(ok, lo, torch.ones_like(lo))
        t_lo, t_hi = 1.0 / hi - 1.0 / sig, 1.0 / lo_ - 1.0 / sig
        m = self.m
        d3 = torch.maximum(lo_.pow(-3) - sig.pow(-3), sig.pow(-3) - hi.pow(-3))
        out = {"t_mid": 0.5 * (t_lo + t_hi), "scale": 0.5 * (t_hi - t_lo),
               "g_u": pn / (m * lo_.pow(3)), "g_p": rho / (m * lo_.pow(3)),
               "b_u": pn.pow(2) * d3 / m, "b_p": pn * rho / (m * lo_.pow(3)),
               "seg": pn * rho.pow(2) / (m * lo_.pow(3)), "lip": 1.0 / lo_}
        zero = rho == 0
        for k, v in out.items():
            if k == "t_mid":
                out[k] = torch.where(ok & ~zero, v, torch.zeros_like(v))
            elif k in ("g_u", "lip"):
                out[k] = torch.where(ok, v * (1 + 1e-9), torch.full_like(v, math.inf))
            else:
                out[k] = torch.where(ok, torch.where(zero, torch.zeros_like(v), v * (1 + 1e-9)),
                                     torch.full_like(v, math.inf))
        out["u"] = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        return out


    def center_terms(self, z: Tensor, rho: Tensor, rho_r: Tensor | None = None) -> dict[str, Tensor]:
        """A tangential / radial rule for increments from the centre (reachable sets) over the region
        |P(z' - z)|_g <= rho_g, |u . (z' - z)|_g <= rho_r,g (z = the centre value z_c, flat).

        With p = P z_c, u = p / |p|, a = P(z' - z_c) = a_r u + a_perp and c = m eps, the output is
        y = sqrt(m) (p + a) / N, N = sqrt(|p + a|^2 + c) = sqrt((|p| + a_r)^2 + |a_perp|^2 + c), so exactly

            y' - y_c = (sqrt(m) / N) a_perp + u sqrt(m) ((|p| + a_r) / N - |p| / N_c).

        * Tangential: the factor sqrt(m)/N lies in [sqrt(m)/N_hi, sqrt(m)/N_lo], N_lo^2 = (|p| - rho_r)^2 + c,
          N_hi^2 = |p|^2 + 2 |p| rho_r + rho^2 + c: ``kappa`` (the mid factor) times (P - u u^T) dz joins the
          linear part, the rest rescales a_perp by at most ``scale`` (half the factor range).
        * Radial: the scalar sqrt(m) ((|p| + a_r)/N - |p|/N_c) increases with a_r and (for |p| + a_r > 0)
          decreases with |a_perp|, so it lies between its values at (a_r, |a_perp|) = (-rho_r, rho) and
          (rho_r, 0); ``seg`` is the larger magnitude (a symmetric segment along u).

        Unlike :meth:`increment_terms` the radial part is not linearized: it stays second order in |a_perp| /|p|
        (the output's norm is nearly fixed) instead of carrying the linear term's rescaling. Valid (``ok``) where
        |p| > rho_r; returns per group (G,) ``kappa``, ``scale``, ``seg``, ``ok`` and ``u`` (G, m).
        """
        a, _ = self.group_stats(z)
        m = self.m
        pn = a.norm(dim=-1) * math.sqrt(m)                                    # |P z_c|
        rho = rho.to(torch.float64)
        rr = rho if rho_r is None else torch.minimum(rho_r.to(torch.float64), rho)
        c = m * self.eps
        ok = pn > rr
        n_c = torch.sqrt(pn.pow(2) + c)
        n_lo = torch.sqrt((pn - rr).clamp_min(0).pow(2) + c)
        n_hi = torch.sqrt(pn.pow(2) + 2 * pn * rr + rho.pow(2) + c)
        sm = math.sqrt(m)
        f_lo, f_hi = sm / n_hi, sm / n_lo.clamp_min(1e-300)
        r_hi = sm * ((pn + rr) / torch.sqrt((pn + rr).pow(2) + c) - pn / n_c)
        r_lo = sm * ((pn - rr) / torch.sqrt((pn - rr).pow(2) + rho.pow(2) + c).clamp_min(1e-300) - pn / n_c)
        seg = torch.maximum(r_hi.abs(), r_lo.abs()) * (1 + 1e-9) + 1e-13 * sm       # + rounding of the differences
        inf = torch.full_like(pn, math.inf)
        return {"kappa": 0.5 * (f_lo + f_hi), "scale": torch.where(ok, 0.5 * (f_hi - f_lo) * (1 + 1e-9), inf),
                "seg": torch.where(ok, seg, inf), "ok": ok,
                "u": a / a.norm(dim=-1, keepdim=True).clamp_min(1e-300)}


@dataclass(eq=False)
class MaxPoolOp(Op):
    nd: int = 2
    kernel: tuple[int, ...] = (2, 2)
    stride: tuple[int, ...] = (2, 2)
    padding: tuple[int, ...] = (0, 0)
    kind = "maxpool"

    def forward(self, x: Tensor) -> Tensor:
        fn = F.max_pool1d if self.nd == 1 else F.max_pool2d
        return fn(x, self.kernel, self.stride, self.padding)

    def windows(self, in_shape: tuple[int, ...]) -> list[Tensor]:
        """For each output entry (flat order), the flat input indices of its window (padding excluded)."""
        idx = torch.arange(1, math.prod(in_shape) + 1, dtype=torch.float64).reshape((1,) + tuple(in_shape))
        if self.nd == 1:
            idx = idx.unsqueeze(-2)
            kernel, stride, padding = (1,) + self.kernel, (1,) + self.stride, (0,) + self.padding
        else:
            kernel, stride, padding = self.kernel, self.stride, self.padding
        c = idx.shape[1]
        cols = F.unfold(idx, kernel, 1, padding, stride)                 # (1, C*k, L)
        k = math.prod(kernel)
        cols = cols.reshape(c, k, -1).permute(0, 2, 1).reshape(-1, k)     # (C*L, k), output order (C, L)
        return [row[row > 0].long() - 1 for row in cols]

    def coverage(self, in_shape: tuple[int, ...]) -> int:
        counts = torch.zeros(math.prod(in_shape), dtype=torch.long)
        for w in self.windows(in_shape):
            counts[w] += 1
        return int(counts.max()) if counts.numel() else 0


@dataclass(eq=False)
class UnsupportedOp(Op):
    what: str = ""
    fn: Callable[..., Tensor] | None = None
    kind = "unsupported"

    def forward(self, *xs: Tensor) -> Tensor:
        if self.fn is None:
            raise RuntimeError(f"no forward for {self.what}")
        return self.fn(*xs)
