"""Jacobians of one normalization operation and their exact spectral norms (symbolic and closed form).

Provenance. The formula below is [checked] mathematics (``docs/papers/capacity.md`` section 2.2):
it is what the single-normalizer lemma of arXiv 2511.00958 ("normalization reduces the Lipschitz
constant, especially under large input variances") most likely states; the lemma's text was not
available, so *reading it as this exact equality* is our reconstruction.

Standardization over one group of ``n`` values ``x`` (LayerNorm: a row; BatchNorm in train mode: one
channel over the batch and spatial dims; GroupNorm: one group of one sample; InstanceNorm: one
channel of one sample), with ``c = x - mean(x)``, biased variance ``var = |c|^2/n``,
``s = sqrt(var + eps)`` and a scalar gain ``gamma``::

    y = gamma * c / s
    J = dy/dx = (gamma/s) * (I - 11^T/n - c c^T/(n s^2))
              = (gamma/s) * (I - 11^T/n - (var/s^2) yhat yhat^T/n),       yhat = c/sqrt(var), |yhat|^2 = n.

The bracket is ``(I - P1 - Pc) + (eps/s^2) Pc`` with ``P1``, ``Pc`` the orthogonal projectors on
``1`` and on ``c`` (``c`` is orthogonal to ``1``): eigenvalue 0 on ``1``, ``eps/s^2`` on ``c`` and 1 on
the remaining ``(n-2)``-dimensional subspace. Hence ``||J||_2 = |gamma|/sqrt(var+eps)`` exactly for
``n >= 3`` (``|gamma| eps/s^3`` for ``n = 2``, 0 for ``n = 1``). RMSNorm (no centering, ``ms = |x|^2/n``,
``s = sqrt(ms + eps)``): ``J = (gamma/s)(I - x x^T/(n s^2))``, eigenvalue ``eps/s^2`` on ``x`` and 1 on
its ``(n-1)``-dimensional complement, so ``||J||_2 = |gamma|/sqrt(ms+eps)`` for ``n >= 2``.

A whole layer acts on many groups at once; its Jacobian is block-diagonal over the groups, so its
norm is the maximum over groups. With a per-element gain the Jacobian is ``diag(gamma) J_1`` and
``max_i |gamma_i| / s`` is an upper bound (exact when gamma is constant on every group, e.g. the
per-channel gain of BatchNorm/InstanceNorm).

IBNorm (compress, then standardize; :mod:`ibnorm.functional`) with an elementwise ``f``:
``z = f(u)``, ``u = C x`` (``C = I - 11^T/n``; RMS grouping: ``C = I``), ``y = gamma std(z)``. The chain
rule gives ``J_IB = J_std(z) diag(f'(u)) C``, so ``||J_IB|| <= (|gamma|/sqrt(var(z)+eps)) max_i |f'(u_i)|``
(``||C|| = 1``). This bound is ours (submultiplicativity), not a statement of either paper.

Symbolic functions (sympy, small sizes) derive the Jacobians from the forward maps and verify the
closed forms and the eigen-structure; numeric functions (numpy, float64) evaluate the formulas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import sympy as sp
import torch
from sympy.core.function import AppliedUndef

from ibnorm.compression import get_compression, validate_lam

__all__ = [
    "KINDS", "CENTERED_KINDS", "group_matrix", "bracket_eigenvalues", "group_norm_factor",
    "jacobian_norm_formula", "jacobian_norm_bound", "lemma_norm", "ib_jacobian_norm_bound", "scaling_factor",
    "SymbolicJacobian", "symbolic_jacobian", "symbolic_ib_jacobian",
]

#: Normalizer kinds: which axes form one group of the standardization.
KINDS = ("layer", "rms", "batch", "group", "instance")
CENTERED_KINDS = ("layer", "batch", "group", "instance")


# ============================================================================ grouping (numeric)

def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def group_matrix(kind: str, x, *, num_groups: int | None = None, normalized_ndim: int = 1) -> np.ndarray:
    """Rearrange ``x`` into a ``(G, n)`` array: one row per standardization group.

    * ``layer`` / ``rms``: ``x`` of shape ``(*, *normalized_shape)``, ``normalized_ndim`` trailing dims
      form a group (as ``F.layer_norm`` / ``F.rms_norm``);
    * ``batch``: ``x`` of shape ``(N, C, *)``; one group per channel over N and the spatial dims
      (train-mode batch statistics, as ``F.batch_norm(training=True)``);
    * ``group``: ``x`` of shape ``(N, C, *)``; ``num_groups`` groups of C/num_groups channels per sample;
    * ``instance``: ``group`` with ``num_groups = C``.
    """
    _check_kind(kind)
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.size == 0:
        raise ValueError("x is empty")
    if kind in ("layer", "rms"):
        if not 1 <= normalized_ndim <= a.ndim:
            raise ValueError(f"normalized_ndim must be in [1, {a.ndim}], got {normalized_ndim}")
        n = int(np.prod(a.shape[a.ndim - normalized_ndim:]))
        return a.reshape(-1, n)
    if a.ndim < 2:
        raise ValueError(f"{kind} norm expects x of shape (N, C, *), got {list(a.shape)}")
    n_, c = a.shape[:2]
    if kind == "batch":
        return np.moveaxis(a, 1, 0).reshape(c, -1)
    g = c if kind == "instance" else num_groups
    if g is None or g <= 0 or c % g:
        raise ValueError(f"num_channels ({c}) must be divisible by num_groups ({g})")
    return a.reshape(n_ * g, -1)


def _gain_matrix(kind: str, x_shape: tuple, gamma, *, num_groups, normalized_ndim) -> np.ndarray:
    """The gain of every element, arranged like :func:`group_matrix` (``(G, n)``)."""
    g = np.asarray(gamma.detach().cpu().numpy() if hasattr(gamma, "detach") else gamma, dtype=np.float64)
    if g.ndim == 0:
        full = np.broadcast_to(g, x_shape)
    elif kind in ("layer", "rms"):
        if g.shape != tuple(x_shape[len(x_shape) - normalized_ndim:]):
            raise ValueError(f"gamma of shape {list(g.shape)} does not match normalized shape "
                             f"{list(x_shape[len(x_shape) - normalized_ndim:])}")
        full = np.broadcast_to(g, x_shape)
    else:
        if g.shape != (x_shape[1],):
            raise ValueError(f"gamma must be a scalar or of shape [C={x_shape[1]}], got {list(g.shape)}")
        full = np.broadcast_to(g.reshape((1, -1) + (1,) * (len(x_shape) - 2)), x_shape)
    return group_matrix(kind, full, num_groups=num_groups, normalized_ndim=normalized_ndim)


def _group_stats(kind: str, xg: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Per group: the statistic in the denominator (biased var, or mean square for RMS), s, and n."""
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    if not np.all(np.isfinite(xg)):
        raise ValueError("x contains non-finite values")
    if kind == "rms":
        stat = np.mean(xg * xg, axis=1)
    else:
        stat = np.var(xg, axis=1)  # biased, as the normalizers use
    return stat, np.sqrt(stat + eps), xg.shape[1]


def bracket_eigenvalues(n: int, stat: float, eps: float, center: bool = True) -> dict[float, int]:
    """Eigenvalues (value -> multiplicity) of ``(s/gamma) J`` for one group of size ``n``.

    ``stat`` is the biased variance (``center=True``) or the mean square (``center=False``).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    s2 = stat + eps
    if s2 <= 0:
        raise ValueError("var + eps must be > 0 (the Jacobian is undefined)")
    r = eps / s2 if stat > 0 else 1.0  # stat = 0: no distinguished direction, that eigenvalue is 1 = eps/s^2
    ev: dict[float, int] = {}
    if center:
        ev[0.0] = ev.get(0.0, 0) + 1
        if n >= 2:
            ev[r] = ev.get(r, 0) + 1
        if n >= 3:
            ev[1.0] = ev.get(1.0, 0) + n - 2
    else:
        ev[r] = ev.get(r, 0) + 1
        if n >= 2:
            ev[1.0] = ev.get(1.0, 0) + n - 1
    return ev


def group_norm_factor(kind: str, stat: np.ndarray, eps: float, n: int) -> np.ndarray:
    """``||J_g||_2`` per group for unit gain: ``max(eigenvalues)/s`` (``1/s`` for n >= 3, RMS n >= 2)."""
    stat = np.asarray(stat, dtype=np.float64)
    s2 = stat + eps
    full = 3 if kind != "rms" else 2      # group sizes from which the eigenvalue 1 exists
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(stat > 0, eps / s2, 1.0)   # the eigenvalue on c (1 if c = 0)
        if n >= full:
            top = np.ones_like(s2)
        elif n == full - 1:
            top = r
        else:                             # a centered group of one value: y = 0
            top = np.zeros_like(s2)
        out = top / np.sqrt(s2)
    return np.where(s2 > 0, out, np.inf)


def jacobian_norm_formula(kind: str, x, gamma=1.0, eps: float = 1e-5, *, num_groups: int | None = None,
                          normalized_ndim: int = 1) -> float:
    """Exact spectral norm of the Jacobian of the normalizer ``kind`` at ``x``: ``max_g |gamma_g|/s_g``.

    ``gamma`` must be constant on every group (a scalar, or BatchNorm/InstanceNorm per-channel gain);
    otherwise ``ValueError`` (use :func:`jacobian_norm_bound`). ``s_g = sqrt(var_g + eps)`` (biased
    variance; RMS: mean square). Groups of size < 3 (RMS: < 2) use their exact eigenvalues.
    Returns ``inf`` if some group has ``var + eps = 0``.
    """
    xg = group_matrix(kind, x, num_groups=num_groups, normalized_ndim=normalized_ndim)
    gg = _gain_matrix(kind, np.shape(_as_np(x)), gamma, num_groups=num_groups, normalized_ndim=normalized_ndim)
    if not np.all(gg == gg[:, :1]):
        raise ValueError("gamma is not constant on every group: the exact formula does not apply; "
                         "use jacobian_norm_bound")
    stat, _, n = _group_stats(kind, xg, eps)
    return float(np.max(np.abs(gg[:, 0]) * group_norm_factor(kind, stat, float(eps), n)))


def jacobian_norm_bound(kind: str, x, gamma=1.0, eps: float = 1e-5, *, num_groups: int | None = None,
                        normalized_ndim: int = 1) -> float:
    """Upper bound ``max_g max_{i in g} |gamma_i| / s_g`` for any gain (equal to the formula when the
    gain is constant on the groups)."""
    xg = group_matrix(kind, x, num_groups=num_groups, normalized_ndim=normalized_ndim)
    gg = _gain_matrix(kind, np.shape(_as_np(x)), gamma, num_groups=num_groups, normalized_ndim=normalized_ndim)
    stat, _, n = _group_stats(kind, xg, eps)
    return float(np.max(np.max(np.abs(gg), axis=1) * group_norm_factor(kind, stat, float(eps), n)))


def lemma_norm(kind: str, x, gamma=1.0, eps: float = 1e-5, *, num_groups: int | None = None,
               normalized_ndim: int = 1) -> float:
    """The single-normalizer statement taken literally: ``max_g max_{i in g} |gamma_i| / sqrt(stat_g + eps)``.

    This is the prediction ``cap.norm-jacobian`` tests. It equals the exact norm
    (:func:`jacobian_norm_formula`) when the gain is constant on each group and every group has >= 3 values
    (RMS: >= 2); otherwise it is only an upper bound, and a claim of equality fails.
    """
    xg = group_matrix(kind, x, num_groups=num_groups, normalized_ndim=normalized_ndim)
    gg = _gain_matrix(kind, np.shape(_as_np(x)), gamma, num_groups=num_groups, normalized_ndim=normalized_ndim)
    _, s, _ = _group_stats(kind, xg, eps)
    with np.errstate(divide="ignore"):
        return float(np.max(np.max(np.abs(gg), axis=1) / s))


def ib_jacobian_norm_bound(kind: str, x, gamma=1.0, eps: float = 1e-5, *, compression="tanh", lam: float = 1.0,
                           order: str = "compress_first", num_groups: int | None = None,
                           normalized_ndim: int = 1) -> float:
    """A sound upper bound on the Jacobian norm of the IBNorm layer ``kind`` (our derivation).

    ``compress_first``: ``J = J_std(z) diag(f'(u)) C`` per group, so
    ``||J_g|| <= |gamma|_max * ||J_std(z_g)|| * max|f'(u_g)|``, with ``z = f(u)``.
    ``standardize_first``: ``J = diag(f'(yhat)) J_std(x)``, so ``||J_g|| <= |gamma|_max max|f'(yhat_g)| ||J_std(x_g)||``.
    """
    comp = get_compression(compression)
    lam = validate_lam(comp, lam)
    if order not in ("compress_first", "standardize_first"):
        raise ValueError(f"order must be compress_first or standardize_first, got {order!r}")
    xg = group_matrix(kind, x, num_groups=num_groups, normalized_ndim=normalized_ndim)
    gg = np.max(np.abs(_gain_matrix(kind, np.shape(_as_np(x)), gamma, num_groups=num_groups,
                                    normalized_ndim=normalized_ndim)), axis=1)
    center = kind != "rms"
    _group_stats(kind, xg, eps)  # validates eps and finiteness
    xt = torch.from_numpy(xg)
    if order == "compress_first":
        u = xt - xt.mean(dim=1, keepdim=True) if center else xt
        z = comp.fn(u, lam).numpy()
        slope = np.abs(comp.deriv(u, lam).numpy()).max(axis=1)
        stat, _, n = _group_stats(kind, z, eps)
    else:
        stat, s, n = _group_stats(kind, xg, eps)
        c = xt - xt.mean(dim=1, keepdim=True) if center else xt
        yhat = c / torch.from_numpy(s)[:, None]
        slope = np.abs(comp.deriv(yhat, lam).numpy()).max(axis=1)
    return float(np.max(gg * slope * group_norm_factor(kind, stat, float(eps), n)))


def scaling_factor(c: float | np.ndarray, stat: float, eps: float) -> np.ndarray:
    """``||J(c x)|| / ||J(x)|| = sqrt(stat + eps)/sqrt(c^2 stat + eps)`` (centered ``x``; exactly 1/|c| at eps=0)."""
    c = np.asarray(c, dtype=np.float64)
    return np.sqrt(stat + eps) / np.sqrt(c * c * stat + eps)


def _as_np(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)


# ============================================================================ symbolic (sympy)

@dataclass
class SymbolicJacobian:
    """A symbolically derived Jacobian and what was verified about it.

    Attributes:
        kind: normalizer kind; ``shape``: the symbolic input's shape; ``groups``: flat indices per group.
        symbols: the input symbols (flat), ``eps``, ``gamma``; ``s``: the positive symbol standing for
            ``sqrt(stat + eps)`` of a group (``eps = s^2 - stat`` is substituted to compare).
        jacobian: the derived ``(numel, numel)`` sympy Matrix (from the forward map, by sympy).
        closed_form: per group, the closed form block ``(gamma/s)(bracket)`` written with that group's ``s``.
        eigenvalues: ``{expr: multiplicity}`` of the bracket of a group (in ``eps`` and ``s``).
        verified: name -> bool for each identity checked (all must be True).
    """

    kind: str
    shape: tuple
    groups: list
    symbols: tuple
    eps: sp.Symbol
    gamma: sp.Symbol
    jacobian: sp.Matrix
    closed_form: list
    eigenvalues: dict
    verified: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.verified) and all(self.verified.values())

    def spectral_norm(self) -> sp.Expr:
        """``|gamma| * max eigenvalue / s`` of one group (symbolic; ``s`` is that group's symbol)."""
        s = sp.Symbol("s", positive=True)
        top = max(self.eigenvalues, key=lambda e: float(e.subs({self.eps: 1, s: 2})))  # eps/s^2 <= 1
        return sp.Abs(self.gamma) * top.subs({}) / s


_DEFAULT_SHAPES = {"layer": (2, 3), "rms": (1, 3), "batch": (3, 1), "instance": (1, 1, 3), "group": (1, 2, 3)}


def _sym_groups(kind: str, shape: tuple, num_groups: int | None) -> list[list[int]]:
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    return [list(map(int, row)) for row in group_matrix(kind, idx, num_groups=num_groups).astype(int)]


def _std_map(v: list, eps: sp.Symbol, center: bool) -> tuple[list, sp.Expr, list]:
    """Forward map of one group (no gain): returns (outputs, stat, centered values)."""
    n = len(v)
    c = [vi - sum(v) / n for vi in v] if center else list(v)
    stat = sum(ci**2 for ci in c) / n
    return [ci / sp.sqrt(stat + eps) for ci in c], stat, c


def _bracket(c: list, stat: sp.Expr, s: sp.Symbol, center: bool) -> sp.Matrix:
    """``I - 11^T/n - c c^T/(n s^2)`` (RMS: ``I - x x^T/(n s^2)``)."""
    n = len(c)
    cv = sp.Matrix(c)
    out = sp.eye(n) - cv * cv.T / (n * s**2)
    if center:
        out -= sp.ones(n, n) / n
    return out


def _is_zero(m: sp.Matrix) -> bool:
    """Every entry is identically 0 as a rational function (numerator of the combined fraction expands to 0)."""
    return all(sp.expand(sp.numer(sp.together(e))) == 0 for e in m)


def _verify_bracket(c: list, stat: sp.Expr, eps: sp.Symbol, s: sp.Symbol, center: bool) -> dict[str, bool]:
    """Verify the eigen-structure of the bracket ``B`` of one group symbolically.

    With ``v`` standing for the statistic (``eps = s^2 - v``) and the polynomial identities
    ``|c|^2 = n v`` and ``sum(c) = 0`` verified on the explicit expressions, ``Pc = c c^T/(n v)`` is an
    orthogonal projector orthogonal to ``P1 = 11^T/n`` and ``B = (I - P1 - Pc) + (eps/s^2) Pc``: the
    spectrum is {0 on 1, eps/s^2 on c, 1 on the rest}. All checks are polynomial or small rational
    identities (fast for n <= 6); an exact characteristic polynomial at a rational point closes the loop.
    """
    n = len(c)
    cv = sp.Matrix(c)
    one = sp.ones(n, 1)
    v = sp.Symbol("v", positive=True)
    ccT = cv * cv.T
    cc = (cv.T * cv)[0]
    B = sp.eye(n) - ccT / (n * s**2) - (one * one.T / n if center else sp.zeros(n, n))
    Pc = ccT / (n * v)
    r = 1 - v / s**2                                    # = eps/s^2 with eps = s^2 - v
    P1 = one * one.T / n if center else sp.zeros(n, n)
    out = {
        "|c|^2 = n stat": sp.expand(cc - n * stat) == 0,
        "symmetric": _is_zero(B - B.T),
        "(cc^T)^2 = |c|^2 cc^T (Pc idempotent)": _is_zero(ccT * ccT - cc * ccT),
        "B c = (eps/s^2) c": _is_zero(n * s**2 * (B * cv) - n * (s**2 - stat) * cv),
        "B = (I - P1 - Pc) + (eps/s^2) Pc": _is_zero(B - (sp.eye(n) - P1 - Pc + r * Pc)),
    }
    if center:
        out["sum(c) = 0 (B 1 = 0, P1 Pc = 0)"] = sp.expand(sum(c)) == 0 and _is_zero(B * one)
    # exact characteristic polynomial at a rational point (x_i = (i^2+1)/(i+1), eps = 1/3)
    syms = sorted(set().union(*(sp.sympify(ci).free_symbols for ci in c)), key=str)
    pt = {x: sp.Rational(i * i + 1, 1 + i) for i, x in enumerate(syms)}
    stat_pt = sp.nsimplify(stat.subs(pt))
    eps_pt = sp.Rational(1, 3)
    Bpt = B.subs(pt).subs(s**2, stat_pt + eps_pt)
    t = sp.Symbol("t")
    rpt = eps_pt / (stat_pt + eps_pt)
    want = (t - rpt) * (t - 1) ** (n - 2 if center else n - 1) * (t if center else 1)
    out["charpoly at a rational point"] = sp.expand(Bpt.charpoly(t).as_expr() - want) == 0
    return out


def symbolic_jacobian(kind: str, shape: Sequence[int] | None = None, *, num_groups: int | None = 2) -> SymbolicJacobian:
    """Derive the Jacobian of the normalizer ``kind`` on a small symbolic input with sympy and verify
    ``J = blockdiag_g (gamma/s_g) B_g`` (off-group blocks zero) and the eigen-structure of ``B``.

    Default shapes (3 values per group, the smallest size with all three eigenvalues 0, eps/s^2, 1):
    layer ``(2, 3)`` (two rows: block-diagonal), rms ``(1, 3)``, batch ``(3, 1)`` (one channel over a batch
    of 3, train mode), instance ``(1, 1, 3)``, group ``(1, 2, 3)`` with 2 groups (two 3x3 blocks).
    """
    _check_kind(kind)
    shape = tuple(shape) if shape is not None else _DEFAULT_SHAPES[kind]
    groups = _sym_groups(kind, shape, num_groups if kind == "group" else None)
    numel = int(np.prod(shape))
    if numel > 12:
        raise ValueError(f"symbolic derivation is for small inputs (numel <= 12), got {numel}")
    xs = sp.symbols(f"x0:{numel}", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    gamma = sp.Symbol("gamma", real=True)
    center = kind != "rms"
    y = [sp.Integer(0)] * numel
    info = []
    for g in groups:
        out, stat, c = _std_map([xs[i] for i in g], eps, center)
        for i, o in zip(g, out):
            y[i] = gamma * o
        info.append((g, stat, c))
    J = sp.Matrix(y).jacobian(xs)  # the derivation: sympy differentiates the forward map
    verified: dict[str, bool] = {}
    closed = []
    for k, (g, stat, c) in enumerate(info):
        s = sp.Symbol(f"s{k}", positive=True)
        block = J.extract(g, g).subs(eps, s**2 - stat)
        cf = (gamma / s) * _bracket(c, stat, s, center)
        closed.append(cf)
        verified[f"group {k}: J block = (gamma/s) B"] = _is_zero(block - cf)
        others = [i for i in range(numel) if i not in g]
        if others:
            verified[f"group {k}: off-group blocks = 0"] = _is_zero(J.extract(g, others))
    g0, stat0, c0 = info[0]
    s = sp.Symbol("s", positive=True)
    for name, ok in _verify_bracket(c0, stat0, eps, s, center).items():
        verified[f"bracket: {name}"] = ok
    n = len(g0)
    r = eps / s**2
    ev = ({sp.Integer(0): 1, r: 1, sp.Integer(1): n - 2} if center else {r: 1, sp.Integer(1): n - 1})
    ev = {k: v for k, v in ev.items() if v > 0}
    return SymbolicJacobian(kind, shape, groups, xs, eps, gamma, J, closed, ev, verified)


def symbolic_ib_jacobian(kind: str = "layer", n: int = 3) -> SymbolicJacobian:
    """Derive the Jacobian of IBNorm (compress, then standardize) on one group of ``n`` symbols with a
    generic elementwise ``f`` and verify the chain rule ``J = J_std(z)|_{z=f(u)} diag(f'(u)) C``.

    ``kind`` is ``"layer"`` (centered: ``u = x - mean``, ``C = I - 11^T/n``) or ``"rms"`` (``u = x``, ``C = I``).
    """
    if kind not in ("layer", "rms"):
        raise ValueError("symbolic_ib_jacobian: kind must be 'layer' or 'rms' (other kinds group the same way)")
    if not 2 <= n <= 5:
        raise ValueError(f"n must be in [2, 5], got {n}")
    center = kind == "layer"
    xs = sp.symbols(f"x0:{n}", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    gamma = sp.Symbol("gamma", real=True)
    f = sp.Function("f")
    u = [xi - sum(xs) / n for xi in xs] if center else list(xs)
    z = [f(ui) for ui in u]
    out, stat_z, cz = _std_map(z, eps, center)
    J = (gamma * sp.Matrix(out)).jacobian(xs)  # the derivation
    zs = sp.symbols(f"z0:{n}", real=True)
    ds = sp.symbols(f"d0:{n}", real=True)          # stand-ins for f'(u_i)
    ys, stat_zs, czs = _std_map(list(zs), eps, center)
    Jstd = (gamma * sp.Matrix(ys)).jacobian(zs)     # J_std at z (symbols)
    C = sp.eye(n) - sp.ones(n, n) / n if center else sp.eye(n)
    s = sp.Symbol("s", positive=True)
    # write the derived J in the stand-ins: f'(u_i) -> d_i, f(u_i) -> z_i (derivatives first), eps -> s^2 - stat
    point = {sp.expand(ui): i for i, ui in enumerate(u)}
    rep = {a: ds[point[sp.expand(a.point[0])]] for a in J.atoms(sp.Subs)}        # f'(u_i) -> d_i (u_i compound)
    rep.update({a: ds[point[a.expr.args[0]]] for a in J.atoms(sp.Derivative)      # f'(x_i) -> d_i (RMS: u_i = x_i)
                if isinstance(a.expr, AppliedUndef) and a.expr.args[0] in point})
    rep.update({a: zs[point[sp.expand(a.args[0])]] for a in J.atoms(AppliedUndef)  # f(u_i) -> z_i
                if a.func == f and sp.expand(a.args[0]) in point})
    Jz = J.xreplace(rep)
    verified = {"J depends on f only through f(u), f'(u)": not Jz.has(f) and not Jz.atoms(sp.Derivative, sp.Subs)}
    rhs = Jstd * sp.diag(*ds) * C
    verified["chain rule J = J_std(f(u)) diag(f'(u)) C"] = _is_zero((Jz - rhs).subs(eps, s**2 - stat_zs))
    # with J_std(z) = (gamma/s) B(z) (verified by symbolic_jacobian) this is the closed form below
    cf = (gamma / s) * _bracket(czs, stat_zs, s, center) * sp.diag(*ds) * C
    return SymbolicJacobian(f"ib-{kind}", (1, n), [list(range(n))], xs, eps, gamma, J, [cf], {}, verified)
