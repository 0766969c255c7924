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
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from .graph import Graph

__all__ = ["DenseCertificate", "Step"]


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
    default_d: Tensor | None = None  # (n_groups,) gain-aware closed-form multipliers 1/mu_g (see _default_d)


class _Infinite(Exception):
    pass


class DenseCertificate:
    """Builds plans (per region) and evaluates the certificate for given multipliers."""

    def __init__(self, graph: Graph, limit: int = 2048):
        self.graph = graph
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
            f64 = (i, torch.float64)
            if f64 not in self._jac:
                self._jac[f64] = op.jacobians([self.graph.shapes[p] for p in op.parents])
            self._jac[key] = [a.to(dtype) for a in self._jac[f64]]
        return self._jac[key]

    # ------------------------------------------------------------------------------ propagation
    def run(self, plan: dict[int, Step] | None, params: dict | str | None, dtype: torch.dtype = torch.float64,
            centers: list[Tensor] | None = None, radius: float = 0.0) -> tuple[Tensor, dict[int, Step]]:
        """lambda_max(P_out) (a 0-dim tensor, differentiable in ``params``) and the plan used.

        ``plan=None`` builds the plan from ``centers`` (per-op values of one input, float64) and
        ``radius`` with the default multipliers; otherwise the given plan is reused.
        """
        g = self.graph
        build = plan is None
        plan = {} if plan is None else plan
        d0 = self.dims[0]
        P = torch.eye(d0, dtype=dtype)
        sl: dict[int, tuple[int, int]] = {0: (0, d0)}
        for i, op in enumerate(g.ops[1:], start=1):
            if op.kind == "affine":
                As = self.jacobians(i, dtype)
                cross = None
                for a, p in zip(As, op.parents):
                    s0, s1 = sl[p]
                    t = P[:, s0:s1] @ a.T
                    cross = t if cross is None else cross + t
                vv = None
                for a, p in zip(As, op.parents):
                    s0, s1 = sl[p]
                    t = a @ cross[s0:s1]
                    vv = t if vv is None else vv + t
                P = _append(P, cross, vv)
            elif op.kind in ("elementwise", "standardize", "maxpool"):
                if build:
                    plan[i] = self._build_step(i, P, sl, centers, radius)
                prm = params if isinstance(params, str) or params is None else params.get(i)
                P = self._apply(plan[i], P, sl, prm, dtype)
            else:  # pragma: no cover - unsupported ops are excluded by self.ok
                raise _Infinite(op.kind)
            sl[i] = (P.shape[0] - self.dims[i], P.shape[0])
            P, sl = self._drop(P, sl, i)
        s0, s1 = sl[g.output]
        pout = P[s0:s1, s0:s1]
        lam = torch.linalg.eigvalsh(0.5 * (pout + pout.T))[-1]
        return lam, plan

    def _drop(self, P: Tensor, sl: dict, i: int) -> tuple[Tensor, dict]:
        dead = [j for j in sl if self.last[j] <= i and j != self.graph.output]
        if not dead:
            return P, sl
        keep_idx, new_sl, off = [], {}, 0
        for j, (s0, s1) in sorted(sl.items(), key=lambda kv: kv[1][0]):
            if j in dead:
                continue
            keep_idx.append(torch.arange(s0, s1))
            new_sl[j] = (off, off + s1 - s0)
            off += s1 - s0
        idx = torch.cat(keep_idx)
        return P[idx][:, idx], new_sl

    def _apply(self, st: Step, P: Tensor, sl: dict, prm: dict | None, dtype: torch.dtype) -> Tensor:
        s0, s1 = sl[st.parent]
        Pz = P[:, s0:s1]                                     # P C^T (D, dz)
        R = st.rows.numel()
        if R:
            eps = st.row_eps.to(dtype)
            PH = Pz[:, st.rows] * eps                        # P H^T (D, R)
            S = PH[s0:s1][st.rows] * eps.unsqueeze(1)        # H P H^T (R, R)
            S = 0.5 * (S + S.T)
            floor = 1e-12 * float(torch.diagonal(P).abs().max().detach().clamp_min(1e-300))
            if isinstance(prm, dict):
                theta, phi = prm["theta"].to(dtype), prm["phi"].to(dtype)
            elif prm == "uniform":          # ECLipsE-Fast: 1/mu = 2 lambda_max(H P H^T) for every group
                theta, phi = torch.zeros(st.n_groups, dtype=dtype), torch.zeros((), dtype=dtype)
            else:                           # gain-aware closed form: 1/mu_g = d_g, scaled up until feasible
                theta, phi = torch.log(st.default_d.to(dtype).clamp_min(1e-300)), None
            d = torch.exp(theta)[st.row_group]
            ds = torch.rsqrt(d)
            kappa = torch.linalg.eigvalsh(ds.unsqueeze(1) * S * ds.unsqueeze(0))[-1]
            kappa = torch.clamp(kappa, min=floor)
            if phi is None:
                c = max(1.0, 1.05 * float(kappa))
                phi = torch.tensor(math.log(max(c / float(kappa) - 1.0, 1e-4)), dtype=dtype)
                self.last_phi[st.op] = float(phi)
            mg = torch.exp(theta) * kappa * (1 + torch.exp(phi.clamp(-9.0, 9.0)))
            mr = mg[st.row_group]
            chol, info = torch.linalg.cholesky_ex(torch.diag(mr) - S)
            if int(info) != 0:
                raise _Infinite("Cholesky failed")
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
            G = st.g0_dense.to(dtype)
            cross = Kz @ G.T
            vv = G @ cross[s0:s1]
        if mg is not None and st.out_index.numel():
            noise = torch.zeros(st.dv, dtype=dtype).index_add(0, st.out_index, mg[st.out_group])
            vv = vv + torch.diag(noise)
        return _append(K, cross, vv)

    # ------------------------------------------------------------------------------ plans
    def _build_step(self, i: int, P: Tensor, sl: dict, centers: list[Tensor] | None, radius: float) -> Step:
        op = self.graph.ops[i]
        p = op.parents[0]
        s0, s1 = sl[p]
        Pzz = P[s0:s1, s0:s1].detach().to(torch.float64)
        dz = s1 - s0
        c = centers[p].reshape(-1).to(torch.float64) if centers is not None else torch.zeros(dz, dtype=torch.float64)
        var = torch.diagonal(Pzz).clamp_min(0)
        if math.isinf(radius):
            hw = torch.where(var > 0, torch.full_like(var, math.inf), torch.zeros_like(var))
        else:
            hw = radius * var.sqrt()
        empty = torch.zeros(0, dtype=torch.long)
        if op.kind == "elementwise":
            a, b = op.act.slopes(c - hw, c + hw)
            a, b = a.to(torch.float64), b.to(torch.float64)
            if not bool(torch.isfinite(a).all() and torch.isfinite(b).all()):
                raise _Infinite(f"{op.name}: no finite slope interval")
            mid, half = 0.5 * (a + b), 0.5 * (b - a)
            unc = torch.nonzero((half > 0) & (var > 0)).flatten()
            return Step(i, p, mid, None, unc, half[unc], torch.arange(unc.numel()), unc.numel(), unc,
                        torch.arange(unc.numel()), dz, _default_d(half[unc], mid[unc].abs(), var[unc]))
        if op.kind == "standardize":
            m = op.m
            G = dz // m
            blocks = Pzz.reshape(G, m, G, m).diagonal(dim1=0, dim2=2).permute(2, 0, 1)      # (G, m, m)
            if math.isinf(radius):
                rho = torch.full((G,), math.inf, dtype=torch.float64)
            else:
                rho = radius * torch.linalg.eigvalsh(0.5 * (blocks + blocks.transpose(1, 2)))[:, -1].clamp_min(0).sqrt()
            lip = op.lipschitz(c, rho)
            if not bool(torch.isfinite(lip).all()):
                raise _Infinite(f"{op.name}: eps = 0 and the variance can reach 0 on the region")
            dev = op.deviation(c, rho) if not math.isinf(radius) else torch.full_like(lip, math.inf)
            use_j = dev < lip
            eps_g = torch.where(use_j, dev, lip)
            J = op.jacobian_blocks(c) * use_j.to(torch.float64).reshape(-1, 1, 1)             # (G, m, m)
            dense = torch.block_diag(*J) if G > 1 else J[0]
            live = torch.nonzero(eps_g > 0).flatten()
            rows = (live.unsqueeze(1) * m + torch.arange(m)).reshape(-1)
            grp = torch.arange(live.numel()).repeat_interleave(m)
            gain = torch.where(use_j, 1.0 / op.group_stats(c)[1], torch.zeros_like(lip))
            lam_g = torch.linalg.eigvalsh(0.5 * (blocks + blocks.transpose(1, 2)))[:, -1].clamp_min(0)
            return Step(i, p, None, dense, rows, eps_g[live].repeat_interleave(m), grp, live.numel(), rows, grp, dz,
                        _default_d(eps_g[live], gain[live], lam_g[live]))
        if op.kind == "maxpool":
            if i not in self._windows:
                self._windows[i] = op.windows(self.graph.shapes[p])
            wins = self._windows[i]
            lo, hi = c - hw, c + hw
            dv = len(wins)
            G0 = torch.zeros(dv, dz, dtype=torch.float64)
            rows, grp, outs = [], [], []
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
        raise _Infinite(op.kind)  # pragma: no cover

    # ------------------------------------------------------------------------------ certificates
    def certify(self, centers: list[Tensor] | None, radius: float, *, iters: int = 30, lr: float = 0.15,
                time_limit: float | None = None, optimize: bool = True) -> dict:
        """Certificate for one region: {'bound', 'bound_default', 'iters', 'plan', 'seconds'} (bound inf on failure)."""
        t0 = time.perf_counter()
        cands = []
        reason = ""
        for mode in (None, "uniform"):      # plans built with the gain-aware and the ECLipsE-Fast closed forms
            try:
                with torch.no_grad():
                    lam0, plan = self.run(None, mode, torch.float64, centers, radius)
                cands.append(self._evaluate(plan, float(lam0), mode))
            except (_Infinite, RuntimeError) as e:
                reason = reason or str(e)[:200]
        if not cands:
            return {"bound": math.inf, "bound_default": math.inf, "iters": 0, "plan": None, "reason": reason,
                    "seconds": time.perf_counter() - t0}
        out = min(cands, key=lambda c: c["bound"])
        out["bound_eclipse_fast"] = min(c["bound_eclipse_fast"] for c in cands)
        plan = out["plan"]
        uncertain = any(st.n_groups for st in plan.values())
        if optimize and iters > 0 and uncertain:
            best, its = self.optimize(plan, iters=iters, lr=lr, time_limit=time_limit, start=out["start"])
            out["bound"] = min(out["bound"], best)
            out["iters"] = its
        out["seconds"] = time.perf_counter() - t0
        return out

    def _evaluate(self, plan: dict[int, Step], lam_built: float, mode) -> dict:
        """Both closed forms on a plan: the gain-aware one and ECLipsE-Fast's (uniform)."""
        uncertain = any(st.n_groups for st in plan.values())
        vals = {}
        for m in (None, "uniform"):
            if m == mode:
                lam = lam_built
            else:
                try:
                    with torch.no_grad():
                        lam = float(self.run(plan, {i: m for i in plan} if m else None, torch.float64)[0])
                except (_Infinite, RuntimeError):
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
            except (_Infinite, RuntimeError):
                for g_ in opt.param_groups:
                    g_["lr"] *= 0.5
                if best is not None:
                    with torch.no_grad():
                        for i, p in params.items():
                            p["theta"].copy_(best[i]["theta"])
                            p["phi"].copy_(best[i]["phi"])
                continue
            v = float(lam.detach())
            if math.isfinite(v) and v < best_val:
                best_val = v
                best = {i: {k: t.detach().clone() for k, t in p.items()} for i, p in params.items()}
            torch.log(lam.clamp_min(1e-300)).backward()
            opt.step()
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                break
        if best is None:
            return math.inf, its
        try:
            with torch.no_grad():
                p64 = {i: {k: t.to(torch.float64) for k, t in p.items()} for i, p in best.items()}
                lam, _ = self.run(plan, p64, torch.float64)
        except (_Infinite, RuntimeError):
            return math.inf, its
        return math.sqrt(max(float(lam), 0.0)) * (1 + 1e-9), its


def _default_d(eps: Tensor, gain: Tensor, lam: Tensor) -> Tensor:
    """Gain-aware closed-form multipliers 1/mu_g = eps_g lam_g (eps_g + gain_g) (gain 0: 2 eps_g^2 lam_g).

    For one group with v = g z + delta, |delta| <= eps |z|, var(z) = lam, the choice 1/mu = eps^2 lam t gives
    the output bound lam (g^2 (1 + 1/(t - 1)) + eps^2 t), minimized at t = 1 + g/eps, where it equals
    lam (g + eps)^2: the triangle inequality, instead of ECLipsE-Fast's t = 2, which doubles lam g^2 when eps
    is small (a nearly fixed ReLU, a normalizer over a small ball). Floors keep it positive.
    """
    t = torch.where(gain > 0, 1.0 + gain / eps.clamp_min(1e-300), torch.full_like(eps, 2.0))
    return (eps.pow(2) * lam.clamp_min(1e-300) * t).clamp_min(1e-300)


def _append(P: Tensor, cross: Tensor, vv: Tensor) -> Tensor:
    top = torch.cat([P, cross], dim=1)
    bot = torch.cat([cross.T, 0.5 * (vv + vv.T)], dim=1)
    return torch.cat([top, bot], dim=0)
