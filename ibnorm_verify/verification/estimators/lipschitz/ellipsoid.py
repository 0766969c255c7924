"""The dense certificate: LipSDP-type quadratic constraints propagated as an ellipsoid, op by op.

For a region R (a ball B(x_c, r), or the whole space for r = inf) the certificate keeps a PSD matrix
P over the live activations s of the graph such that, for any two inputs x, x' in R, the increments
ds = s(x) - s(x') satisfy ds in {P^(1/2) w : |w| <= |x - x'|}. Then |f(x) - f(x')| <= sqrt(lambda_max
(P_out)) |x - x'|: the certified Lipschitz bound. Op rules (``docs/benchmarks/lipschitz.md`` derives them):

* affine y = sum_k A_k s_k: exact, P gains the block rows C P, C P C^T (C = [A_1 ... A_k]);
* an op whose increment is dv = G0 dz + delta with per-group constraints
  |delta_g|^2 <= eps_g^2 |E_g dz|^2 (dz = C ds): elementwise phi with slopes in [alpha_j, beta_j] (G0 =
  diag of the mid-slopes, one group per neuron with eps_j the half-width; a neuron with alpha_j =
  beta_j is exact: ReLUs whose input interval excludes 0); standardization (G0 = its Jacobian at the
  centre, eps_g >= sup ||J(z) - J(z_c)|| over the region, or G0 = 0 and eps_g = sup ||J||); maxpool
  (windows whose argmax cannot change are exact selections, the others |dv_o| <= |dz_window|). With
  multipliers mu_g > 0 (the S-procedure; these are LipSDP-Neuron's diagonal multipliers, Fazlyab et
  al. 2019), H stacking eps_g E_g C and M = diag(1/mu_g) > H P H^T:

      K = P + P H^T (M - H P H^T)^(-1) H P,      P' = [[K, K C^T G0^T], [G0 C K, G0 C K C^T G0^T + M_out]]

  (Woodbury form of (P^(-1) - H^T diag(mu) H)^(-1); no inverse of P is needed, P may be singular).

For a plain MLP with slopes [0, 1] everywhere this chain is exactly the block-LDL^T (Schur complement)
form of LipSDP-Neuron used by ECLipsE (Xu & Sivaranjani, NeurIPS 2024), and the choice
1/mu = 2 lambda_max(H P H^T) in every layer reproduces ECLipsE-Fast's closed form; any other feasible
multipliers give another member of the closed-form family ("Improved Scalable Lipschitz Bounds for
Deep Neural Networks", Syed & Hu, arXiv 2503.14297). We start from the ECLipsE-Fast choice and
descend on the multipliers (per neuron / per group, Adam on log-parameters through the chain;
every iterate is a feasible point, hence a certificate, and the best one is kept). With per-neuron
slope intervals from the region (centre values +- r sqrt(diag of the current P), the
ECLipsE-Gen-Local rule, arXiv 2510.05261) the same chain is the local certificate.

The feasibility M > H P H^T is built into the parameterization: with D = diag(exp theta_g),
M = D kappa (1 + exp phi), kappa = lambda_max(D^(-1/2) H P H^T D^(-1/2)).

Balls 0 < r < inf. The op input bounds come first from a reachable-set pass (``reach=True``,
:meth:`DenseCertificate.reach_bounds`; the result is a :class:`.region.RegionBounds`): the same chain
run on increments from the centre, v(x) - v(x_c), x in B(x_c, r). The set is an ellipsoid plus a
zonotope part, {P^(1/2) w : |w| <= r} + r sum_k s_k g_k with |s_k| <= 1 (generators as in DeepZ,
Singh et al., NeurIPS 2018, over an l2 input ball as in CROWN, Zhang et al., NeurIPS 2018):

* an elementwise convex phi (ReLU, leaky ReLU, softplus) takes the slopes of the secants from its
  centre value (:func:`_center_secant_slopes`: tighter than the slope interval on [lo, hi], and exact
  for a neuron whose interval excludes the kink); the multipliers of each step minimize the trace of
  its output block (:func:`_local_multipliers`: the sum of the new values' squared half-widths);
* a standardization is linearized at the centre, y = y_c + (J_c + t_mid P) dz + (theta - t_mid) P dz
  + P z_c r_s: the sigma rescaling theta is folded in by an outer Minkowski ellipsoid, the scalar
  mean-value remainder r_s (second order in the group radius) becomes one generator per group; or, per
  group where it is smaller, split into the tangential and radial parts of the change
  (:meth:`.ops.StandardizeOp.center_terms`): kappa (P - u u^T) dz with the rescaling of the tangential
  part only, and the radial part (second order in the tangential radius, not linearized) as the generator;
* generators pass affine ops exactly; a slope or rescaling uncertainty times a generator is a box
  folded into the ellipsoid (:meth:`DenseCertificate._apply_generators`).

The per-coordinate half-widths r sqrt(P_jj) + r sum_k |g_jk| and the per-group radii of that set are
intersected, in the certificate pass, with the certificate's own ECLipsE-Gen-Local intervals. The multipliers
of that pass are chosen step by step; :mod:`.refine` proves tighter bounds with chains whose multipliers are
optimized together (one chain per op input, cut there: :meth:`DenseCertificate.prefix_certificate`). The
certificate pass then uses, per normalizer group, the smaller of the Lipschitz rule (1/sigma_lo) and
the structured increment rule of :meth:`DenseCertificate._standardize_step`, and on top of the two
closed forms above a third plan with the locally optimal multipliers. The two closed-form plans built without
the reachable-set bounds stay candidates too (and get the multiplier descent when competitive), so a ball's
bound is never looser than the certificate without that pass (:meth:`DenseCertificate.certify`).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .graph import Graph
from .ops import AffineOp, CenterOp, ElementwiseOp, MaxPoolOp, StandardizeOp, tensor_sum
from .region import RegionBounds

__all__ = ["DenseCertificate", "Step", "DESCENT_GATE", "Infinite", "box_interval", "group_radii"]

#: a further candidate plan gets the multiplier descent only if its closed form is within this factor of the best
DESCENT_GATE = 4.0


@dataclass
class Step:
    """The quadratic-constraint description of one nonlinear op over the region (fixed for a plan)."""

    op: int
    parent: int
    g0_diag: Tensor | None           # (dz,)   elementwise: mid-slopes
    g0_dense: Tensor | None          # (dv, dz) standardize / maxpool
    rows: Tensor                     # (R,) indices into z
    row_eps: Tensor                  # (R,)
    row_group: Tensor                # (R,) group of each row
    n_groups: int
    out_index: Tensor                # (K,) coordinates of v that carry a group's delta
    out_group: Tensor                # (K,)
    dv: int
    default_d: Tensor                # (n_groups,) gain-aware closed-form multipliers 1/mu_g (see _default_d)
    out_vecs: Tensor | None = None   # (dv, Kv) directions that carry a one-dimensional group's delta
    vec_group: Tensor | None = None  # (Kv,)
    scale_t: Tensor | None = None    # (G,) dv = G0 dz + theta_g P dz_g with |theta_g| <= scale_t[g] (groups of scale_m)
    scale_m: int = 0
    scale_center: bool = False
    seg_vecs: Tensor | None = None   # (dv, K) dv gains sum_k s_k seg_k, |s_k| <= 1 (absolute, in units of the radius)
    h_dense: Tensor | None = None    # (Rd, dz) further constraint rows (eps folded in), groups ``h_group``
    h_group: Tensor | None = None    # (Rd,)
    out_mats: Tensor | None = None   # (Km, dv, dv) PSD shapes Q of groups whose delta obeys |delta|_Q <= |H_g dz|
    mat_group: Tensor | None = None  # (Km,)
    scale_proj: Tensor | None = None  # (G, m, m) the projection theta_g acts through (default: P, the centring or I)

    @property
    def n_rows(self) -> int:
        return self.rows.numel() + (0 if self.h_dense is None else self.h_dense.shape[0])

    def groups_of_rows(self) -> Tensor:
        if self.h_dense is None:
            return self.row_group
        assert self.h_group is not None                  # set together with h_dense
        return torch.cat([self.row_group, self.h_group])

    def g0_matrix(self) -> Tensor:
        """G0 of a step without a diagonal G0 (standardize / maxpool): the dense (dv, dz) matrix."""
        assert self.g0_dense is not None                 # every step sets g0_diag or g0_dense
        return self.g0_dense

    def h(self, X: Tensor) -> Tensor:
        """H X for X (dz, k): the constraint rows applied to X."""
        parts = []
        if self.rows.numel():
            parts.append(X[self.rows] * self.row_eps.to(X.dtype).unsqueeze(1))
        if self.h_dense is not None:
            parts.append(self.h_dense.to(X.dtype) @ X)
        return torch.cat(parts) if parts else X[:0]

    def noise(self, mg: Tensor, dtype: torch.dtype) -> Tensor:
        """M_out (dv, dv): sum over groups of (1/mu_g) B_g B_g^T."""
        out = torch.zeros(self.dv, self.dv, dtype=dtype)
        if self.out_index.numel():
            out = out + torch.diag(torch.zeros(self.dv, dtype=dtype).index_add(0, self.out_index, mg[self.out_group]))
        if self.out_vecs is not None and self.out_vecs.numel():
            vecs = self.out_vecs.to(dtype)
            out = out + (vecs * mg[self.vec_group]) @ vecs.T
        if self.out_mats is not None and self.out_mats.numel():
            out = out + (self.out_mats.to(dtype) * mg[self.mat_group].reshape(-1, 1, 1)).sum(0)
        return out


class Infinite(Exception):
    """A certificate (or reachable-set pass) cannot be finite: the reason is the message."""


class DenseCertificate:
    """Builds plans (per region) and evaluates the certificate for given multipliers."""

    def __init__(self, graph: Graph, limit: float = 2048, reach: bool = False):
        self.graph = graph
        self.reach = reach
        self.dims = [math.prod(s) for s in graph.shapes]
        self.last = graph.last_use()
        self.max_state = self._max_state()
        self.ok = self.max_state <= limit and not graph.unsupported
        if graph.unsupported:
            self.reason = "no rule for " + ", ".join(dict.fromkeys(graph.unsupported))
        elif not self.ok:
            self.reason = f"the live activations reach {self.max_state} dims (dense limit {limit})"
        else:
            self.reason = ""
        self._jac: dict[tuple[int, torch.dtype], list[Tensor]] = {}
        self.last_phi: dict[int, float] = {}
        self._windows: dict[int, list[Tensor]] = {}
        self._reach: DenseCertificate | None = None
        self._prefix: dict[tuple[int, int], DenseCertificate] = {}
        self.last_block: tuple[Tensor, Tensor | None] | None = None

    def _max_state(self) -> int:
        live = {0}
        best = self.dims[0]
        for i, _op in enumerate(self.graph.ops[1:], start=1):
            live.add(i)
            best = max(best, sum(self.dims[j] for j in live))
            live = {j for j in live if self.last[j] > i}
        return best

    def jacobians(self, i: int, dtype: torch.dtype) -> list[Tensor]:
        key = (i, dtype)
        if key not in self._jac:
            op = self.graph.ops[i]
            if not isinstance(op, AffineOp):
                raise TypeError(f"op {i} ({op.kind}) is not affine: it has no Jacobian matrices")
            f64 = (i, torch.float64)
            if f64 not in self._jac:
                self._jac[f64] = op.jacobians([self.graph.shapes[p] for p in op.parents])
            self._jac[key] = [a.to(dtype) for a in self._jac[f64]]
        return self._jac[key]

    # ------------------------------------------------------------------------------ propagation
    def run(self, plan: dict[int, Step] | None, params: dict | str | None, dtype: torch.dtype = torch.float64,
            centers: list[Tensor] | None = None, radius: float = 0.0,
            bounds: RegionBounds | None = None, record: RegionBounds | None = None) -> tuple[Tensor, dict[int, Step]]:
        """lambda_max(P_out) (a 0-dim tensor, differentiable in ``params``) and the plan used.

        ``plan=None`` builds the plan from ``centers`` (per-op values of one input, float64) and
        ``radius`` with the default multipliers; otherwise the given plan is reused.
        """
        g = self.graph
        build = plan is None
        plan = {} if plan is None else plan
        d0 = self.dims[0]
        P = torch.eye(d0, dtype=dtype)
        # reachable sets (``self.reach``): the set is E(P) plus sum_k s_k gen[:, k], |s_k| <= 1 (absolute terms)
        gen = torch.zeros(d0, 0, dtype=dtype) if self.reach else None
        sl: dict[int, tuple[int, int]] = {0: (0, d0)}
        for i, op in enumerate(g.ops[1:], start=1):
            if isinstance(op, AffineOp):
                As = self.jacobians(i, dtype)
                cross = tensor_sum([P[:, sl[p][0]:sl[p][1]] @ a.T for a, p in zip(As, op.parents)])
                vv = tensor_sum([a @ cross[sl[p][0]:sl[p][1]] for a, p in zip(As, op.parents)])
                P = _append(P, cross, vv)
                if gen is not None:
                    gv = tensor_sum([a @ gen[sl[p][0]:sl[p][1]] for a, p in zip(As, op.parents)])
                    gen = torch.cat([gen, gv], dim=0)
            elif op.kind in ("elementwise", "standardize", "maxpool"):
                if build:
                    plan[i] = self._build_step(i, P, sl, centers, radius, bounds, record, local=params == "local",
                                               gen=gen)
                elif record is not None and centers is not None:     # a fixed plan: record the region it proves
                    self._record(i, P, sl, gen, centers, radius, record)
                prm = params if isinstance(params, str) or params is None else params.get(i)
                prm = None if prm == "local" else prm
                P = self._apply(plan[i], P, sl, prm, dtype)
                if gen is not None:
                    P, gen = self._apply_generators(plan[i], P, gen, sl)
            else:  # pragma: no cover - unsupported ops are excluded by self.ok
                raise Infinite(op.kind)
            sl[i] = (P.shape[0] - self.dims[i], P.shape[0])
            P, sl, gen = self._drop(P, sl, i, gen)
        s0, s1 = sl[g.output]
        pout = P[s0:s1, s0:s1]
        self.last_block = (pout, None if gen is None else gen[s0:s1].detach())
        lam = torch.linalg.eigvalsh(0.5 * (pout + pout.T))[-1]
        return lam, plan

    def _record(self, i: int, P: Tensor, sl: dict, gen: Tensor | None, centers: list[Tensor], radius: float,
                record: RegionBounds) -> None:
        """Record into ``record`` the bounds that the current set proves on the input of nonlinear op i."""
        op = self.graph.ops[i]
        p = op.parents[0]
        s0, s1 = sl[p]
        Pzz = P[s0:s1, s0:s1].detach().to(torch.float64)
        gz = None if gen is None else gen[s0:s1].detach().to(torch.float64)
        c = centers[p].reshape(-1).to(torch.float64)
        if isinstance(op, StandardizeOp):
            record.rho[i], record.rho_r[i], record.shape[i] = group_radii(op, Pzz, gz, c, radius)
        else:
            record.lo[p], record.hi[p] = box_interval(Pzz, gz, c, radius)

    def _drop(self, P: Tensor, sl: dict, i: int, gen: Tensor | None = None) -> tuple[Tensor, dict, Tensor | None]:
        dead = [j for j in sl if self.last[j] <= i and j != self.graph.output]
        if not dead:
            return P, sl, gen
        keep_idx, new_sl, off = [], {}, 0
        for j, (s0, s1) in sorted(sl.items(), key=lambda kv: kv[1][0]):
            if j in dead:
                continue
            keep_idx.append(torch.arange(s0, s1))
            new_sl[j] = (off, off + s1 - s0)
            off += s1 - s0
        idx = torch.cat(keep_idx)
        return P[idx][:, idx], new_sl, None if gen is None else gen[idx]

    def _apply(self, st: Step, P: Tensor, sl: dict, prm: dict | str | None, dtype: torch.dtype) -> Tensor:
        s0, s1 = sl[st.parent]
        Pz = P[:, s0:s1]                                     # P C^T (D, dz)
        R = st.n_rows
        if R:
            PH = st.h(Pz.T).T                                # P H^T (D, R)
            S = st.h(PH[s0:s1])                              # H P H^T (R, R)
            S = 0.5 * (S + S.T)
            row_group = st.groups_of_rows()
            floor = 1e-12 * float(torch.diagonal(P).abs().max().detach().clamp_min(1e-300))
            if isinstance(prm, dict):
                theta, phi = prm["theta"].to(dtype), prm["phi"].to(dtype)
            elif prm == "uniform":          # ECLipsE-Fast: 1/mu = 2 lambda_max(H P H^T) for every group
                theta, phi = torch.zeros(st.n_groups, dtype=dtype), torch.zeros((), dtype=dtype)
            else:                           # gain-aware closed form: 1/mu_g = d_g, scaled up until feasible
                theta, phi = torch.log(st.default_d.to(dtype).clamp_min(1e-300)), None
            d = torch.exp(theta)[row_group]
            ds = torch.rsqrt(d)
            kappa = torch.linalg.eigvalsh(ds.unsqueeze(1) * S * ds.unsqueeze(0))[-1]
            kappa = torch.clamp(kappa, min=floor)
            if phi is None:
                c = max(1.0, 1.05 * float(kappa))
                phi = torch.tensor(math.log(max(c / float(kappa) - 1.0, 1e-4)), dtype=dtype)
                self.last_phi[st.op] = float(phi)
            mg = torch.exp(theta) * kappa * (1 + torch.exp(phi.clamp(-9.0, 9.0)))
            mr = mg[row_group]
            chol, info = torch.linalg.cholesky_ex(torch.diag(mr) - S)
            if int(info) != 0:
                raise Infinite("Cholesky failed")
            X = torch.cholesky_solve(PH.T, chol)             # (R, D)
            K = P + PH @ X
            K = 0.5 * (K + K.T)
        else:
            mg = None
            K = P
        Kz = K[:, s0:s1]
        if st.g0_diag is not None:
            g0 = st.g0_diag.to(dtype)
            cross = Kz * g0
            vv = cross[s0:s1] * g0.unsqueeze(1)
        else:
            G = st.g0_matrix().to(dtype)
            cross = Kz @ G.T
            vv = G @ cross[s0:s1]
        if mg is not None:
            vv = vv + st.noise(mg, dtype)
        out = _append(K, cross, vv)
        if st.scale_t is not None:
            # the union over theta of (G0 + theta P) dz lies in the Minkowski sum of the step above and the
            # rescaled increments {theta P dz}: the outer ellipsoid (1 + 1/tau) Q1 + (1 + tau) Q2
            m = st.scale_m
            Pzz = P[s0:s1, s0:s1]
            ng = st.dv // m
            blk = Pzz.reshape(ng, m, ng, m).diagonal(dim1=0, dim2=2).permute(2, 0, 1)     # (G, m, m)
            if st.scale_proj is not None:
                sp = st.scale_proj.to(dtype)
                blk = sp @ blk @ sp
            elif st.scale_center:
                blk = blk - blk.mean(1, keepdim=True)
                blk = blk - blk.mean(2, keepdim=True)
            t2 = st.scale_t.to(dtype).pow(2) * ng                                       # groups: weights 1/G
            q2 = torch.block_diag(*(blk * t2.reshape(-1, 1, 1))) if ng > 1 else blk[0] * t2[0]
            a = torch.diagonal(vv).sum().clamp_min(1e-300)
            b = torch.diagonal(q2).sum().clamp_min(1e-300)
            tau = torch.sqrt(a / b)
            out = out * (1 + 1 / tau)
            n = out.shape[0]
            out = out + torch.nn.functional.pad((1 + tau) * q2, (n - st.dv, 0, n - st.dv, 0))
        return out

    def _apply_generators(self, st: Step, P: Tensor, gen: Tensor, sl: dict) -> tuple[Tensor, Tensor]:
        """Reachable sets: carry the generators through the step (gen_v = G0 gen_z), add the step's absolute
        segments as new generators, and fold the second-order cross terms (slope or rescaling uncertainty times
        a generator: a box b per coordinate) into the ellipsoid by a Minkowski sum (the box lies in the
        ellipsoid n diag(b^2), n its nonzero count; outer ellipsoid (1 + 1/tau) Q1 + (1 + tau) Q2)."""
        s0, s1 = sl[st.parent]
        gz = gen[s0:s1]
        dtype = P.dtype
        if st.g0_diag is not None:
            gv = gz * st.g0_diag.to(dtype).unsqueeze(1)
        else:
            gv = st.g0_matrix().to(dtype) @ gz
        box = torch.zeros(st.dv, dtype=dtype)
        if gz.shape[1]:
            ag = gz.abs().sum(1)
            if st.g0_diag is not None and st.rows.numel():
                box[st.out_index] = st.row_eps.to(dtype) * ag[st.rows]
            if st.scale_t is not None:
                m = st.scale_m
                pg = gz.reshape(-1, m, gz.shape[1])
                if st.scale_proj is not None:
                    pg = st.scale_proj.to(dtype) @ pg
                elif st.scale_center:
                    pg = pg - pg.mean(1, keepdim=True)
                box = box + (pg.abs().sum(2) * st.scale_t.to(dtype).unsqueeze(1)).reshape(-1)
        if bool((box > 0).any()):
            nb = int((box > 0).sum())
            q2 = nb * box.pow(2)
            n = P.shape[0]
            a = torch.diagonal(P[n - st.dv:, n - st.dv:]).sum().clamp_min(1e-300)
            tau = torch.sqrt(a / q2.sum().clamp_min(1e-300))
            P = P * (1 + 1 / tau)
            P = P + torch.nn.functional.pad(torch.diag((1 + tau) * q2), (n - st.dv, 0, n - st.dv, 0))
        gen = torch.cat([gen, gv], dim=0)
        if st.seg_vecs is not None and st.seg_vecs.numel():
            segs = torch.zeros(gen.shape[0], st.seg_vecs.shape[1], dtype=dtype)
            segs[-st.dv:] = st.seg_vecs.to(dtype)
            gen = torch.cat([gen, segs], dim=1)
        return P, gen

    # ------------------------------------------------------------------------------ plans
    def _build_step(self, i: int, P: Tensor, sl: dict, centers: list[Tensor] | None, radius: float,
                    bounds: RegionBounds | None = None, record: RegionBounds | None = None,
                    local: bool = False, gen: Tensor | None = None) -> Step:
        op = self.graph.ops[i]
        p = op.parents[0]
        s0, s1 = sl[p]
        Pzz = P[s0:s1, s0:s1].detach().to(torch.float64)
        dz = s1 - s0
        c = centers[p].reshape(-1).to(torch.float64) if centers is not None else torch.zeros(dz, dtype=torch.float64)
        var = torch.diagonal(Pzz).clamp_min(0)
        gz = None if gen is None else gen[s0:s1].detach().to(torch.float64)
        lo, hi = box_interval(Pzz, gz, c, radius)
        if bounds is not None and op.kind != "standardize":      # the propagated enclosure: intersect both ways
            iv = bounds.interval(p)
            if iv is not None:
                lo, hi = torch.maximum(lo, iv[0]), torch.minimum(hi, iv[1])
        if record is not None and op.kind != "standardize":
            record.lo[p], record.hi[p] = lo, hi
        empty = torch.zeros(0, dtype=torch.long)
        if isinstance(op, ElementwiseOp):
            if self.reach and 0 < radius < math.inf:
                a, b = _center_secant_slopes(op.act, c, lo, hi)
            else:
                a, b = op.act.slopes(lo, hi)
            a, b = a.to(torch.float64), b.to(torch.float64)
            if not bool(torch.isfinite(a).all() and torch.isfinite(b).all()):
                raise Infinite(f"{op.name}: no finite slope interval")
            mid, half = 0.5 * (a + b), 0.5 * (b - a)
            unc = torch.nonzero((half > 0) & (var > 0)).flatten()
            st = Step(i, p, mid, None, unc, half[unc], torch.arange(unc.numel()), unc.numel(), unc,
                      torch.arange(unc.numel()), dz, _default_d(half[unc], mid[unc].abs(), var[unc]))
            if (self.reach or local) and unc.numel():
                st.default_d = _local_multipliers(P, sl[p], st)
            return st
        if isinstance(op, StandardizeOp):
            return self._standardize_step(i, op, p, Pzz, c, radius, bounds, record, gz)
        if isinstance(op, MaxPoolOp):
            if i not in self._windows:
                self._windows[i] = op.windows(self.graph.shapes[p])
            wins = self._windows[i]
            dv = len(wins)
            G0 = torch.zeros(dv, dz, dtype=torch.float64)
            rows: list[Tensor] = []
            grp: list[Tensor] = []
            outs: list[int] = []
            for o, w in enumerate(wins):
                k = int(torch.argmax(c[w]))
                others = torch.cat([w[:k], w[k + 1:]])
                if others.numel() == 0 or float(lo[w[k]]) > float(hi[others].max()):
                    G0[o, w[k]] = 1.0
                else:
                    rows.append(w)
                    grp.append(torch.full((w.numel(),), len(outs), dtype=torch.long))
                    outs.append(o)
            rows_t = torch.cat(rows) if rows else empty
            grp_t = torch.cat(grp) if grp else empty
            lam_w = torch.tensor([float(var[w].sum()) for w in rows], dtype=torch.float64)
            return Step(i, p, None, G0, rows_t, torch.ones(rows_t.numel(), dtype=torch.float64), grp_t, len(outs),
                        torch.tensor(outs, dtype=torch.long), torch.arange(len(outs)), dv,
                        _default_d(torch.ones(len(outs), dtype=torch.float64), torch.zeros(len(outs), dtype=torch.float64),
                                   lam_w))
        raise Infinite(op.kind)  # pragma: no cover

    def _standardize_step(self, i: int, op: StandardizeOp, p: int, Pzz: Tensor, c: Tensor, radius: float,
                          bounds: RegionBounds | None, record: RegionBounds | None = None,
                          gz: Tensor | None = None) -> Step:
        """Per group, the smaller of two rules (both sound over the region; :meth:`.ops.StandardizeOp.increment_terms`):

        * structured: G0 = J_c + t_mid P and the rescaling theta P dz (the Minkowski step of :meth:`_apply`);
          for increments between two points (the Lipschitz certificate) the term P(z2 - z_c) gamma as two groups
          with |delta|_Q <= g_u |u . dz| and <= g_p |P dz|, Q the shape of the region's own set of P(z - z_c) (the
          reachable-set ellipsoid recorded for this op, else rho^2 P), and the term u beta as two groups along u;
          from the centre (reachable sets) only the absolute segment ``seg`` along u, carried as a generator;
        * Lipschitz: G0 = 0 and |delta| <= sup ||J|| |dz_g| = |dz_g| / sigma_lo (the only rule globally).
        """
        m = op.m
        dz = c.numel()
        G = dz // m
        blocks = Pzz.reshape(G, m, G, m).diagonal(dim1=0, dim2=2).permute(2, 0, 1)          # (G, m, m)
        blocks = 0.5 * (blocks + blocks.transpose(1, 2))
        lam_g = torch.linalg.eigvalsh(blocks)[:, -1].clamp_min(0)
        eye = torch.eye(m, dtype=torch.float64)
        proj = eye - 1.0 / m if op.center else eye
        u = op.group_stats(c)[0]
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-300)                            # (G, m), in range(P)
        rho_r = None
        shape = None
        if math.isinf(radius):
            rho = torch.full((G,), math.inf, dtype=torch.float64)
        else:
            rho, rho_r, shape = group_radii(op, Pzz, gz, c, radius)
            rz = bounds.rho.get(i) if bounds is not None else None
            if rz is not None:
                rho = torch.minimum(rho, rz)
            rrz = bounds.rho_r.get(i) if bounds is not None else None
            if rrz is not None:
                rho_r = torch.minimum(rho_r, rrz)
            rho_r = torch.minimum(rho_r, rho)
            if record is not None:
                record.rho[i], record.rho_r[i] = rho, rho_r
                if self.reach:
                    record.shape[i] = shape
        lip = op.lipschitz(c, rho)
        if not bool(torch.isfinite(lip).all()):
            raise Infinite(f"{op.name}: eps = 0 and the variance can reach 0 on the region")
        zero = torch.zeros_like(lip)
        use_c: Tensor | None = None
        if math.isinf(radius):
            use_j = torch.zeros(G, dtype=torch.bool)
            T = None
        else:
            T = op.increment_terms(c, rho, rho_r)
            if self.reach:
                size = T["scale"] + T["seg"] / rho.clamp_min(1e-300)
                # the tangential / radial rule (StandardizeOp.center_terms), per group where it is smaller
                C = op.center_terms(c, rho, rho_r)
                size_c = C["scale"] + C["seg"] / rho.clamp_min(1e-300)
                use_c = C["ok"] & (size_c < size) & (rho > 0)
                size = torch.where(use_c, size_c, size)
            else:
                size = T["scale"] + rho * (T["g_u"] + T["g_p"]) + T["b_u"] + T["b_p"]
            use_j = (size < lip) | (rho == 0)
        J = op.jacobian_blocks(c)
        scale_proj = None
        if T is not None:
            J = J + T["t_mid"].reshape(-1, 1, 1) * proj
            if use_c is not None and bool(use_c.any()):
                tangent = proj - u.unsqueeze(-1) * u.unsqueeze(-2)                          # (G, m, m) P - u u^T
                J = torch.where(use_c.reshape(-1, 1, 1), C["kappa"].reshape(-1, 1, 1) * tangent, J)
                scale_proj = torch.where(use_c.reshape(-1, 1, 1), tangent, proj.expand(G, m, m))
                T = dict(T, scale=torch.where(use_c, C["scale"], T["scale"]), seg=torch.where(use_c, C["seg"], T["seg"]))
        J = J * use_j.to(torch.float64).reshape(-1, 1, 1)                                  # (G, m, m)
        dense = torch.block_diag(*J) if G > 1 else J[0]
        # groups: the Lipschitz rule (coordinate rows, isotropic injection) where not use_j
        g_lip = torch.nonzero(~use_j & (lip > 0)).flatten()
        ar = torch.arange(m)
        rows = (g_lip.unsqueeze(1) * m + ar).reshape(-1)
        row_eps = lip[g_lip].repeat_interleave(m)
        n_groups = g_lip.numel()
        row_group = torch.arange(n_groups).repeat_interleave(m)
        out_index, out_group = rows.clone(), row_group.clone()
        gain = 1.0 / op.group_stats(c)[1]
        d_eps, d_gain, d_lam = [lip[g_lip]], [zero[g_lip]], [lam_g[g_lip]]
        h_rows, h_group, vecs, vec_group, mats, mat_group = [], [], [], [], [], []
        scale = torch.where(use_j, T["scale"], zero) if T is not None else zero
        seg = None
        if T is not None and not self.reach:
            Q = bounds.shape.get(i) if bounds is not None else None
            if Q is None:
                Q = rho.pow(2).reshape(-1, 1, 1) * proj
            for g_ in torch.nonzero(use_j & (rho > 0)).flatten().tolist():
                sl_ = slice(g_ * m, (g_ + 1) * m)
                emb_u = torch.zeros(1, dz, dtype=torch.float64)
                emb_u[0, sl_] = u[g_]
                emb_p = torch.zeros(m, dz, dtype=torch.float64)
                emb_p[:, sl_] = proj
                Qg = torch.zeros(dz, dz, dtype=torch.float64)
                Qg[sl_, sl_] = Q[g_]
                ug = torch.zeros(dz, dtype=torch.float64)
                ug[sl_] = u[g_]
                for coef, emb, kind in ((T["g_u"][g_], emb_u, "Q"), (T["g_p"][g_], emb_p, "Q"),
                                        (T["b_u"][g_], emb_u, "u"), (T["b_p"][g_], emb_p, "u")):
                    if not float(coef) > 0:
                        continue
                    h_rows.append(emb * coef)
                    h_group.append(torch.full((emb.shape[0],), n_groups, dtype=torch.long))
                    if kind == "Q":
                        mats.append(Qg)
                        mat_group.append(n_groups)
                        inj = float(torch.linalg.eigvalsh(Q[g_])[-1].clamp_min(0))
                    else:
                        vecs.append(ug)
                        vec_group.append(n_groups)
                        inj = 1.0
                    s_g = float(torch.linalg.eigvalsh((emb * coef) @ Pzz @ (emb * coef).T)[-1].clamp_min(0))
                    # closed form as for one group: d = s (1 + gain sqrt(lam) / sqrt(s inj)), s = lambda_max(H P H^T)
                    d_eps.append(torch.tensor([math.sqrt(s_g * inj / max(float(lam_g[g_]), 1e-300))]))
                    d_gain.append(gain[g_].reshape(1))
                    d_lam.append(lam_g[g_].reshape(1) / max(inj, 1e-300))
                    n_groups += 1
        if T is not None and self.reach:
            seg = torch.zeros(dz, G, dtype=torch.float64)
            for g_ in torch.nonzero(use_j).flatten().tolist():
                seg[g_ * m:(g_ + 1) * m, g_] = u[g_] * T["seg"][g_] / radius
        st = Step(i, p, None, dense, rows, row_eps, row_group, n_groups, out_index, out_group, dz,
                  _default_d(torch.cat(d_eps), torch.cat(d_gain), torch.cat(d_lam)),
                  torch.stack(vecs, 1) if vecs else None,
                  torch.tensor(vec_group, dtype=torch.long) if vecs else None,
                  scale if bool((scale > 0).any()) else None, m, op.center,
                  seg if seg is not None and bool((seg != 0).any()) else None,
                  torch.cat(h_rows) if h_rows else None, torch.cat(h_group) if h_rows else None,
                  torch.stack(mats) if mats else None, torch.tensor(mat_group, dtype=torch.long) if mats else None)
        if st.scale_t is not None and scale_proj is not None:
            st.scale_proj = scale_proj
        return st

    # ------------------------------------------------------------------------------ certificates
    def certify(self, centers: list[Tensor] | None, radius: float, *, iters: int = 30, lr: float = 0.15,
                time_limit: float | None = None, optimize: bool = True, bounds: RegionBounds | None = None,
                propagate: bool = True) -> dict:
        """Certificate for one region: {'bound', 'bound_default', 'iters', 'plan', 'candidate', 'candidates',
        'descent', 'seconds'} (bound inf on failure).

        Candidate plans (all sound; the smallest bound is kept): built with the gain-aware and the ECLipsE-Fast
        closed forms and, over a ball, with locally optimal multipliers, each on the reachable-set bounds
        (``propagate``); over a ball also the two closed-form plans without those bounds (the certificate
        without the reachable-set pass and the local multipliers, which neither can loosen: on some ReLU balls
        it is tighter, after the descent). ``candidate`` names the winner ("reach-bounds/local",
        "no-bounds/gain-aware", ...; "+descent" when the multiplier descent gave the bound), ``candidates`` the
        closed-form bound of each, ``descent`` the (label, plan, start) the descent runs from (:meth:`descend`).
        """
        t0 = time.perf_counter()
        cands = []
        reason = ""
        b = bounds
        if b is None and propagate and 0 < radius < math.inf and centers is not None:
            b = self.reach_bounds(centers, radius)
        modes: tuple = (None, "uniform")    # plans built with the gain-aware and the ECLipsE-Fast closed forms
        if 0 < radius < math.inf:
            modes += ("local",)             # ... and with locally optimal multipliers (_local_multipliers)
        variants: list[tuple[str | None, RegionBounds | None]] = [(mode, b) for mode in modes]
        if 0 < radius < math.inf:           # ... and the closed-form plans without the reachable-set bounds
            variants += [(mode, None) for mode in (None, "uniform") if (mode, None) not in variants]
        for mode, bb in variants:
            try:
                with torch.no_grad():
                    lam0, plan = self.run(None, mode, torch.float64, centers, radius, bb)
                cand = self._evaluate(plan, float(lam0), mode)
                cand["candidate"] = _plan_label(mode, bb)
                cands.append(cand)
            except (Infinite, RuntimeError) as e:
                reason = reason or str(e)[:200]
        if not cands:
            spread, spread_op = self._spread(centers, b)
            return {"bound": math.inf, "bound_default": math.inf, "iters": 0, "plan": None, "reason": reason,
                    "candidate": "", "candidates": {}, "descent": [], "reach_spread": spread,
                    "reach_spread_op": spread_op, "seconds": time.perf_counter() - t0}
        out = dict(min(cands, key=lambda c: c["bound"]))
        out["bound_eclipse_fast"] = min(c["bound_eclipse_fast"] for c in cands)
        out["candidates"] = {c["candidate"]: c["bound"] for c in cands}
        out["descent"] = [(out["candidate"], out["plan"], out["start"], out["bound"])]
        plain = [c for c in cands if c["candidate"] in ("no-bounds/gain-aware", "no-bounds/uniform")]
        if plain and out["candidate"] not in {c["candidate"] for c in plain}:
            best_plain = min(plain, key=lambda c: c["bound"])
            out["descent"].append((best_plain["candidate"], best_plain["plan"], best_plain["start"],
                                   best_plain["bound"]))
        if optimize and iters > 0 and any(st.n_groups for st in out["plan"].values()):
            best, its, label = self.descend(out, iters=iters, lr=lr, time_limit=time_limit)
            if best < out["bound"]:
                out["bound"], out["candidate"] = best, label
            out["iters"] = its
        out["reach_spread"], out["reach_spread_op"] = self._spread(centers, b)
        out["seconds"] = time.perf_counter() - t0
        return out

    def _spread(self, centers: list[Tensor] | None, b: RegionBounds | None) -> tuple[float, int]:
        """(max over normalizer groups of rho_g / |P z_c,g|, the op where it is reached) for the reachable-set
        bounds ``b`` (nan, -1 without them). A diagnostic of a diverging ball: the ratio grows layer by layer
        (the enclosure's looseness compounds, ``docs/benchmarks/lipschitz.md`` section 4), and near 1 the
        variance lower bound of that normalizer approaches sqrt(eps), so its factor 1/sigma_lo explodes."""
        best, at = math.nan, -1
        if b is None or centers is None:
            return best, at
        for i, rho in b.rho.items():
            op = self.graph.ops[i]
            assert isinstance(op, StandardizeOp)
            pn = op.group_stats(centers[op.parents[0]])[0].norm(dim=-1) * math.sqrt(op.m)    # (G,) |P z_c,g|
            ratio = float((rho / pn.clamp_min(1e-300)).max())
            if not ratio <= best:                   # also replaces the initial nan
                best, at = ratio, i
        return best, at

    def descend(self, res: dict, iters: int, lr: float = 0.15,
                time_limit: float | None = None) -> tuple[float, int, str]:
        """The multiplier descent (:meth:`optimize`) from each plan of ``res['descent']`` (a :meth:`certify`
        result: the winning plan, and the best plan without the reachable-set bounds where another one won):
        (smallest verified bound, iterations in all, "<label>+descent" of the plan that gave it). Plans without
        an uncertain group are skipped (their closed form is already exact), and so is a further plan whose
        closed-form bound exceeds ``DESCENT_GATE`` times the best bound so far (a time saving: the descent
        lowered a closed form by at most 2.7x on the ReLU balls of ``docs/benchmarks/lipschitz.md`` section 3,
        while on normalized nets the plans without the reachable-set bounds are looser by orders of magnitude)."""
        best, its_all, label = math.inf, 0, ""
        for lab, plan, start, closed in res.get("descent", []):
            if plan is None or not any(st.n_groups for st in plan.values()):
                continue
            if math.isfinite(best) and closed > DESCENT_GATE * best:
                continue
            val, its = self.optimize(plan, iters=iters, lr=lr, time_limit=time_limit, start=start)
            its_all += its
            if val < best:
                best, label = val, lab + "+descent"
        return best, its_all, label

    def reach_bounds(self, centers: list[Tensor], radius: float, bounds: RegionBounds | None = None) -> RegionBounds:
        """Sound per-op intervals and normalizer radii over B(x_c, radius) from the reachable-set ellipsoid
        (increments from the centre: centre secant slopes, the ``from_center`` normalizer rule, locally optimal
        multipliers), intersected with ``bounds`` if given. Ops after a failure keep None (no information)."""
        if self._reach is None:
            self._reach = DenseCertificate(self.graph, math.inf, reach=True)
            self._reach._jac = self._jac
        n = len(self.graph.ops)
        rec = RegionBounds([None] * n, [None] * n)
        t0 = time.perf_counter()
        try:
            with torch.no_grad():
                self._reach.run(None, None, torch.float64, centers, radius, bounds, rec)
        except (Infinite, RuntimeError) as e:
            rec.failed = str(e)[:200]
        rec.seconds = time.perf_counter() - t0
        return rec

    def prefix_certificate(self, p: int, center_m: int) -> DenseCertificate:
        """The reachable-set certificate of the graph cut at op p (p its output), followed by a centring of
        groups of ``center_m`` entries if ``center_m`` > 0 (a normalizer's input: the optimized block is then
        that of P dz, which the radii measure). The Jacobians of ops up to p are shared."""
        key = (p, center_m)
        if key not in self._prefix:
            g = self.graph
            ops, shapes = list(g.ops[:p + 1]), list(g.shapes[:p + 1])
            if center_m:
                ops.append(CenterOp(f"{g.ops[p].name}.center", (p,), m=center_m))
                shapes.append(shapes[p])
            for j in range(1, p + 1):
                if isinstance(g.ops[j], AffineOp):
                    self.jacobians(j, torch.float64)
            sub = DenseCertificate(dataclasses.replace(g, ops=ops, output=len(ops) - 1, shapes=shapes), math.inf,
                                   reach=True)
            sub._jac = {k: v for k, v in self._jac.items() if k[0] <= p}
            self._prefix[key] = sub
        return self._prefix[key]

    def _evaluate(self, plan: dict[int, Step], lam_built: float, mode) -> dict:
        """Both closed forms on a plan: the gain-aware one and ECLipsE-Fast's (uniform)."""
        uncertain = any(st.n_groups for st in plan.values())
        vals = {}
        for m in (None, "uniform"):
            if m == mode or (m is None and mode == "local"):
                lam = lam_built
            else:
                try:
                    with torch.no_grad():
                        lam = float(self.run(plan, {i: m for i in plan} if m else None, torch.float64)[0])
                except (Infinite, RuntimeError):
                    lam = math.inf
            b = math.sqrt(max(lam, 0.0)) if math.isfinite(lam) else math.inf
            vals[m] = b * (1 + 1e-9) if uncertain else b   # rounding margin of the Cholesky solves
        best = min(vals.values())
        return {"bound": best, "bound_default": best, "bound_eclipse_fast": vals["uniform"],
                "bound_gain_aware": vals[None], "iters": 0, "plan": plan, "reason": "", "seconds": 0.0,
                "start": "gain-aware" if vals[None] <= vals["uniform"] else "uniform"}

    def optimize(self, plan: dict[int, Step], iters: int, lr: float, time_limit: float | None,
                 start: str = "gain-aware") -> tuple[float, int]:
        """Adam on the log-multipliers from the ``start`` closed form ("gain-aware" or "uniform"), returns
        (best float64-verified bound, iterations)."""
        val, its, _ = self.optimize_params(plan, iters, lr, time_limit, start)
        return val, its

    def optimize_params(self, plan: dict[int, Step], iters: int, lr: float, time_limit: float | None,
                         start: str = "gain-aware", objective: Callable[[Tensor], Tensor] | None = None,
                         dtype: torch.dtype | None = None) -> tuple[float, int, dict | None]:
        """:meth:`optimize`, also returning the best multipliers (float64; None if no iterate was feasible).
        ``objective`` maps the output block P_out to the value minimized instead of lambda_max(P_out); the
        returned value is then sqrt(objective) of the best multipliers. ``dtype``: of the descent (default
        float64 up to 384 live dims, else float32); the returned value is always re-evaluated in float64."""
        if dtype is None:
            dtype = torch.float64 if self.max_state <= 384 else torch.float32
        if start == "gain-aware":
            self.last_phi = {}
            with torch.no_grad():
                self.run(plan, None, torch.float64)          # records the feasibility scale phi of each step
        params = {}
        for i, st in plan.items():
            if not st.n_groups:
                continue
            if start == "gain-aware":
                th = torch.log(st.default_d.clamp_min(1e-300)).to(dtype)
                ph = torch.tensor(self.last_phi.get(i, 0.0), dtype=dtype)
            else:
                th, ph = torch.zeros(st.n_groups, dtype=dtype), torch.zeros((), dtype=dtype)
            params[i] = {"theta": th.clone().requires_grad_(True), "phi": ph.clone().requires_grad_(True)}
        leaves = [t for p in params.values() for t in p.values()]
        opt = torch.optim.Adam(leaves, lr=lr)
        best_val, best = math.inf, None
        t0 = time.perf_counter()
        its = 0
        for its in range(1, iters + 1):
            opt.zero_grad()
            try:
                lam, _ = self.run(plan, params, dtype)
            except (Infinite, RuntimeError):
                for g_ in opt.param_groups:
                    g_["lr"] *= 0.5
                if best is not None:
                    with torch.no_grad():
                        for i, p in params.items():
                            p["theta"].copy_(best[i]["theta"])
                            p["phi"].copy_(best[i]["phi"])
                continue
            if objective is not None:
                assert self.last_block is not None
                lam = objective(self.last_block[0])
            v = float(lam.detach())
            if math.isfinite(v) and v < best_val:
                best_val = v
                best = {i: {k: t.detach().clone() for k, t in p.items()} for i, p in params.items()}
            torch.log(lam.clamp_min(1e-300)).backward()
            opt.step()
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                break
        if best is None:
            return math.inf, its, None
        p64 = {i: {k: t.to(torch.float64) for k, t in p.items()} for i, p in best.items()}
        try:
            with torch.no_grad():
                lam, _ = self.run(plan, p64, torch.float64)
                if objective is not None:
                    assert self.last_block is not None
                    lam = objective(self.last_block[0])
        except (Infinite, RuntimeError):
            return math.inf, its, None
        return math.sqrt(max(float(lam), 0.0)) * (1 + 1e-9), its, p64


def _plan_label(mode: str | None, bounds: RegionBounds | None) -> str:
    """"reach-bounds/local", "no-bounds/gain-aware", ...: how a candidate plan was built."""
    return f"{'no-bounds' if bounds is None else 'reach-bounds'}/{mode or 'gain-aware'}"


def _default_d(eps: Tensor, gain: Tensor, lam: Tensor) -> Tensor:
    """Gain-aware closed-form multipliers 1/mu_g = eps_g lam_g (eps_g + gain_g) (gain 0: 2 eps_g^2 lam_g).

    For one group with v = g z + delta, |delta| <= eps |z|, var(z) = lam, the choice 1/mu = eps^2 lam t gives
    the output bound lam (g^2 (1 + 1/(t - 1)) + eps^2 t), minimized at t = 1 + g/eps, where it equals
    lam (g + eps)^2: the triangle inequality, instead of ECLipsE-Fast's t = 2, which doubles lam g^2 when eps
    is small (a nearly fixed ReLU, a normalizer over a small ball). Floors keep it positive.
    """
    t = torch.where(gain > 0, 1.0 + gain / eps.clamp_min(1e-300), torch.full_like(eps, 2.0))
    return (eps.pow(2) * lam.clamp_min(1e-300) * t).clamp_min(1e-300)


def _minkowski_segments(shape: Tensor, segs: Tensor) -> Tensor:
    """(G, m, m) outer ellipsoids of E(shape_g) plus the segments sum_k [-1, 1] segs[g, :, k]: the segments lie
    in the ellipsoid K sum_k s s^T (K of them), then (1 + 1/tau) A + (1 + tau) B with tau = sqrt(tr A / tr B)."""
    k = int((segs.abs().sum(1) > 0).sum(1).max())
    if k == 0:
        return shape
    B = k * segs @ segs.transpose(1, 2)
    ta = torch.diagonal(shape, dim1=1, dim2=2).sum(1).clamp_min(1e-300)
    tb = torch.diagonal(B, dim1=1, dim2=2).sum(1).clamp_min(1e-300)
    tau = torch.sqrt(ta / tb).reshape(-1, 1, 1)
    return (1 + 1 / tau) * shape + (1 + tau) * B


def _center_secant_slopes(act, c: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Slopes of the secants from the centre value c to every point of [lo, hi] (increments from the centre):
    for a convex phi the secant slope from c is non-decreasing, so they lie in [s(lo), s(hi)] (the one-sided
    derivatives at c included); other activations keep their slope interval on [lo, hi]."""
    a, b = act.slopes(lo, hi)
    if act.name.split("(")[0] not in ("relu", "leaky_relu", "softplus") or act.params.get("negative_slope", 0) > 1:
        return a, b
    a0, b0 = act.slopes(c, c)
    fc = act.fn(c)
    tiny = 1e-9 * (1 + c.abs())
    dl, dh = c - lo, hi - c
    s_lo = (fc - act.fn(lo)) / torch.where(dl > tiny, dl, torch.ones_like(dl))
    s_hi = (act.fn(hi) - fc) / torch.where(dh > tiny, dh, torch.ones_like(dh))
    lo_s = torch.where(dl > tiny, torch.minimum(s_lo - 1e-12, a0), a)
    hi_s = torch.where(dh > tiny, torch.maximum(s_hi + 1e-12, b0), b)
    return torch.maximum(lo_s, a), torch.minimum(hi_s, b)


def _local_multipliers(P: Tensor, span: tuple[int, int], st: Step, iters: int = 60) -> Tensor:
    """Multipliers 1/mu_g of one step that minimize the trace of its output block (the sum of the new
    activations' squared half-widths): tr((D - S)^(-1) B) + sum_g d_g n_g with S = H P H^T, B = H P C^T G0^2 C P H^T,
    convex in D = diag(d) > S (Adam on log d from the closed form; every feasible d is a valid certificate)."""
    s0, s1 = span
    Pz = P[s0:s1, s0:s1].to(torch.float64)
    eps = st.row_eps.to(torch.float64)
    PH = Pz[:, st.rows] * eps                                        # (dz, R)
    S = PH[st.rows] * eps.unsqueeze(1)
    S = 0.5 * (S + S.T)
    g0 = st.g0_diag.to(torch.float64) if st.g0_diag is not None else None
    CPH = PH * g0.unsqueeze(1) if g0 is not None else st.g0_matrix().to(torch.float64) @ PH
    B = CPH.T @ CPH                                                  # (R, R)
    n = torch.bincount(st.out_group, minlength=st.n_groups).to(torch.float64)   # output coordinates per group
    grp = st.row_group
    # start: the closed form, raised to 1.1 max diag(S) per group (a necessary condition of D > S)
    diag_max = torch.zeros(st.n_groups, dtype=torch.float64).scatter_reduce(0, grp, torch.diagonal(S) * 1.1, "amax",
                                                                           include_self=False)
    th = torch.log(torch.maximum(st.default_d.to(torch.float64), diag_max).clamp_min(1e-300))
    for _ in range(60):
        if int(torch.linalg.cholesky_ex(torch.diag(th.exp()[grp]) - S)[1]) == 0:
            break
        th = th + 0.3
    else:
        return st.default_d

    def f(t: Tensor) -> Tensor | None:
        L, info = torch.linalg.cholesky_ex(torch.diag(t.exp()[grp]) - S)
        if int(info) != 0:
            return None
        return torch.trace(torch.cholesky_solve(B, L)) + (t.exp() * n).sum()

    with torch.enable_grad():
        th = th.clone().requires_grad_(True)
        opt = torch.optim.Adam([th], lr=0.1)
        best_v, best = math.inf, th.detach().clone()
        for _ in range(iters):
            opt.zero_grad()
            v = f(th)
            if v is None:
                with torch.no_grad():
                    th.copy_(best)
                for g_ in opt.param_groups:
                    g_["lr"] *= 0.5
                continue
            if float(v.detach()) < best_v:
                best_v, best = float(v.detach()), th.detach().clone()
            v.backward()
            opt.step()
    # the run rescales d by max(1, 1.05 kappa): keep a 5% feasibility margin so that the optimum is used as is
    d = best.exp()
    ds = torch.rsqrt(d[grp])
    kappa = float(torch.linalg.eigvalsh(ds.unsqueeze(1) * S * ds.unsqueeze(0))[-1])
    return d * max(1.0, 1.06 * kappa)


def _append(P: Tensor, cross: Tensor, vv: Tensor) -> Tensor:
    top = torch.cat([P, cross], dim=1)
    bot = torch.cat([cross.T, 0.5 * (vv + vv.T)], dim=1)
    return torch.cat([top, bot], dim=0)


def box_interval(Pzz: Tensor, gz: Tensor | None, c: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    """Per-coordinate bounds c +- (r sqrt(diag Pzz) + r sum_k |gz_k|) of the set {Pzz^(1/2) w : |w| <= r} +
    r gz [-1, 1]^K around the centre value c (flat, float64); +-inf where the set is unbounded (r = inf)."""
    var = torch.diagonal(Pzz).clamp_min(0)
    if math.isinf(radius):
        hw = torch.where(var > 0, torch.full_like(var, math.inf), torch.zeros_like(var))
    else:
        hw = radius * var.sqrt()
        if gz is not None and gz.shape[1]:
            hw = hw + radius * gz.abs().sum(1)
    return c - hw, c + hw


def group_radii(op: StandardizeOp, Pzz: Tensor, gz: Tensor | None, c: Tensor,
                 radius: float) -> tuple[Tensor, Tensor, Tensor]:
    """(rho, rho_r, shape) per group of a normalizer whose input increments lie in {Pzz^(1/2) w : |w| <= r} +
    r gz [-1, 1]^K: rho >= sup |P dz_g|, rho_r >= sup |u_g . dz_g| (u_g along P z_c,g), and an ellipsoid
    (G, m, m) holding the centred increments P dz_g (:class:`.region.RegionBounds`)."""
    m = op.m
    G = c.numel() // m
    blocks = Pzz.reshape(G, m, G, m).diagonal(dim1=0, dim2=2).permute(2, 0, 1)          # (G, m, m)
    blocks = 0.5 * (blocks + blocks.transpose(1, 2))
    eye = torch.eye(m, dtype=torch.float64)
    proj = eye - 1.0 / m if op.center else eye
    u = op.group_stats(c)[0]
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-300)                            # (G, m), in range(P)
    pblocks = proj @ blocks @ proj
    rho = radius * torch.linalg.eigvalsh(pblocks)[:, -1].clamp_min(0).sqrt()          # sup |P dz_g|
    rho_r = radius * torch.einsum("gi,gij,gj->g", u, blocks, u).clamp_min(0).sqrt()
    shape = radius ** 2 * pblocks                                                     # the set of P dz_g
    if gz is not None and gz.shape[1]:
        pg = proj @ gz.reshape(G, m, -1)                                              # (G, m, K)
        rho = rho + radius * pg.norm(dim=1).sum(1)
        rho_r = rho_r + radius * torch.einsum("gi,gik->gk", u, pg).abs().sum(1)
        shape = _minkowski_segments(shape, radius * pg)
    return rho, rho_r, shape
