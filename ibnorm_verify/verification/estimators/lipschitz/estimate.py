"""``estimate_lipschitz``: attained lower and certified upper bounds of sup ||J(x)||_2 over a region.

The quantity (``docs/papers/capacity.md``: the local Lipschitz constant is the sup of the Jacobian's
operator norm over a neighbourhood) is, for a network f and a region R,

    Lip_R = sup_{x in R} ||J(x)||_2,    R = union of the closed l2 balls B(x_n, r) around the inputs
                                        (r = 0: the inputs themselves; r = inf: the whole input space)

with J = df/dx (``wrt="input"``) or J = df/dtheta at the current parameters and fixed x (``wrt="params"``,
all trainable parameters flattened, r = 0). By the mean-value inequality on each (convex) ball,
Lip_R bounds |f(x) - f(x')| / |x - x'| for x, x' in the same ball.

* ``lower``: attained, ||J(w) v|| at the returned witness w (and direction v), see :mod:`.lower`.
* ``upper``: certified on R, the smaller of two certificates computed on the model lowered to
  primitive ops (:mod:`.graph`): the dense LipSDP-type certificate (:mod:`.ellipsoid`: exact at points
  for networks whose activations fit in ``dense_limit`` dims, per-neuron slope intervals and bound
  propagation over balls, optimized multipliers globally) and the compositional one
  (:mod:`.compositional`: any size). An op without a rule makes it ``inf`` and ``upper_reason`` names
  it. Both run in float64 on a copy of the model; the lowered graph must reproduce the model's
  output first.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ibnorm.compression import get_compression
from ibnorm.groupings import spec_of

from .compositional import CompositionalCertificate
from .ellipsoid import DenseCertificate
from .graph import Graph, trace
from .lower import ADMode, ascent, bnorm, choose_ad_mode, power_iteration, smooth_surrogate
from .params import params_upper, power_params
from .preconditions import check_deterministic, check_modes, check_per_sample, check_per_sample_jvp
from .refine import refined_bounds

__all__ = ["LipschitzEstimate", "estimate_lipschitz"]


@dataclass
class LipschitzEstimate:
    """Bounds on sup_{x in region} ||J(x)||_2.

    Attributes:
        lower: attained value ||J(w) v|| at the witness (w, v), |v| = 1 (``details['witness_direction']``).
        upper: certified upper bound on the region (``math.inf`` when none exists; see upper_reason).
        witness: the input point w (shape of one input) where ``lower`` is attained.
        wrt: "input" or "params".
        region: the region in words.
        upper_reason: why ``upper`` is infinite ("" when finite).
        details: ``per_input_lower``/``per_input_upper`` (N,), ``certificates`` (the bound of each
            certificate), ``norm_scales`` ((K, N): per normalizer, in call order, the per-sample minimum
            over its groups of sqrt(var + eps) of the quantity it standardizes, i.e. after the compression
            for compress-first IBNorm; eval BatchNorm: min over channels of sqrt(running_var + eps)),
            ``norm_gamma_max`` ((K,) max |gamma|, 1 without affine), ``unsupported_ops``, ``ad_mode``,
            ``notes``, iterations and timings.
    """

    lower: float
    upper: float
    witness: Tensor
    wrt: str
    region: str
    upper_reason: str = ""
    details: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """upper / lower (``inf`` without a finite certificate, ``nan`` when lower is 0)."""
        if self.lower <= 0:
            return math.nan
        return self.upper / self.lower


# ----------------------------------------------------------------------------------------- checks

def _check_inputs(model: nn.Module, inputs: Tensor, wrt: str, radius: float) -> Tensor:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must have a floating dtype, got {inputs.dtype}")
    if inputs.dim() < 2:
        raise ValueError(f"inputs must be a batch of shape (N, *input_shape), got {list(inputs.shape)}")
    if inputs.shape[0] == 0 or inputs.numel() == 0:
        raise ValueError("inputs is an empty batch")
    if not bool(torch.isfinite(inputs).all()):
        raise ValueError("inputs contain non-finite values")
    if wrt not in ("input", "params"):
        raise ValueError(f"wrt must be 'input' or 'params', got {wrt!r}")
    if not (isinstance(radius, (int, float)) and not isinstance(radius, bool) and radius >= 0
            and not math.isnan(radius)):
        raise ValueError(f"radius must be a number >= 0 (math.inf: the whole input space), got {radius!r}")
    if wrt == "params" and radius > 0:
        raise ValueError("wrt='params' is certified at the given inputs and parameters only (radius must be 0)")
    if wrt == "params" and not any(p.requires_grad for p in model.parameters()):
        raise ValueError("wrt='params' needs a model with trainable parameters; this one has none")
    p = next(iter(model.parameters()), None)
    dtype = p.dtype if p is not None and p.is_floating_point() else inputs.dtype
    return inputs.detach().to(dtype)


# ------------------------------------------------------------------------------------ normalizers

def _norm_details(model: nn.Module, x: Tensor) -> tuple[list[list[float]], list[float]]:
    """(K, N) sqrt(var + eps) of each normalizer's standardized quantity and (K,) max |gamma| (call order)."""
    scales: list[list[float]] = []
    gammas: list[float] = []
    hooks = []

    def hook(m, args, _out):
        spec = spec_of(m)
        z = args[0].detach().to(torch.float64)
        n = z.shape[0]
        eps = spec.effective_eps(args[0].dtype)
        g = spec.gamma()
        gammas.append(1.0 if g is None else float(g.detach().abs().max()))
        if spec.grouping == "batch":
            if spec.running_var is None:
                scales.append([math.nan] * n)
                return
            s = float(torch.sqrt(spec.running_var.detach().to(torch.float64) + eps).min())
            scales.append([s] * n)
            return
        m_ = spec.group_size(z)
        zg = z.reshape(n, -1, m_)
        u = zg - zg.mean(-1, keepdim=True) if spec.center else zg
        if spec.order == "compress_first":
            u = get_compression(spec.compression).fn(u, spec.lam)
        var = u.var(-1, unbiased=False) if spec.center else u.pow(2).mean(-1)
        scales.append(torch.sqrt(var + eps).amin(1).tolist())

    for m in model.modules():
        if spec_of(m) is not None:
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return scales, gammas


# ------------------------------------------------------------------------------------- upper bound

def _certify_input(model64: nn.Module, x64: Tensor, model_out: Tensor, radius: float, *, dense_limit: int,
                   cert_iters: int, cert_time: float | None, optimize_inputs: int, centre_norms: Tensor,
                   refine_gap: float, refine_iters: int) -> tuple[Tensor, str, dict]:
    """(N,) certified bounds, a reason when infinite, details."""
    n = x64.shape[0]
    det: dict = {"certificates": {}}
    graph, why = trace(model64, x64)
    if graph is None:
        return torch.full((n,), math.inf, dtype=torch.float64), why, det
    det["unsupported_ops"] = list(dict.fromkeys(graph.unsupported))
    det["graph_ops"] = len(graph.ops)
    with torch.no_grad():
        run = graph.run(x64)                       # keep=True: every op's value is kept
    values = [v for v in run if v is not None]
    assert len(values) == len(run)
    out = values[graph.output]
    ref = model_out.detach().to(torch.float64)
    tol = 1e-6 if model_out.dtype != torch.float64 else 1e-9
    same = out.shape == ref.shape and bool(torch.equal(torch.isfinite(out), torch.isfinite(ref)))
    if same:
        fin = torch.isfinite(ref)
        scale = 1 + (float(ref[fin].abs().max()) if bool(fin.any()) else 0.0)
        same = bool(torch.allclose(out[fin], ref[fin], rtol=tol, atol=tol * scale))
    if not same:
        err = float((out - ref).nan_to_num().abs().max()) if out.shape == ref.shape else math.inf
        return (torch.full((n,), math.inf, dtype=torch.float64),
                f"the lowered graph does not reproduce the model's output (max difference {err:.3g}); no certificate",
                det)
    comp = CompositionalCertificate(graph)
    comp.prepare()
    up_c, reason_c = comp.bound(values, radius)
    det["certificates"]["compositional"] = float(up_c.max())
    up = up_c.clone()
    reason = reason_c
    dense = DenseCertificate(graph, dense_limit)
    if dense.ok:
        up_d, dinfo = _dense_bounds(dense, graph, values, radius, cert_iters, cert_time, optimize_inputs,
                                    centre_norms, refine_gap, refine_iters)
        det["certificates"]["dense"] = float(up_d.max())
        det["certificates"]["dense_default_multipliers"] = dinfo["default_max"]
        det["certificates"]["dense_eclipse_fast_multipliers"] = dinfo["eclipse_fast_max"]
        det["dense"] = dinfo
        up = torch.minimum(up, up_d)
        if bool(torch.isfinite(up).all()):
            reason = ""
        elif dinfo.get("reason"):
            reason = "; ".join(r for r in (reason_c, dinfo["reason"]) if r)
    else:
        det["certificates"]["dense"] = math.inf
        det["dense"] = {"skipped": dense.reason}
    return up, reason, det


def _dense_bounds(dense: DenseCertificate, graph: Graph, values: list[Tensor], radius: float, iters: int,
                  time_limit: float | None, optimize_inputs: int, centre_norms: Tensor, refine_gap: float,
                  refine_iters: int) -> tuple[Tensor, dict]:
    n = values[0].shape[0]
    per = n if math.isfinite(radius) else 1        # the global certificate does not depend on the centre
    res = []
    t0 = time.perf_counter()
    for k in range(per):
        centers = [v[k] for v in values]
        res.append(dense.certify(centers, radius, optimize=False))
    bounds = torch.tensor([r["bound"] for r in res], dtype=torch.float64)
    # balls whose closed form exceeds refine_gap x the Jacobian norm at their centre (a lower bound of theirs),
    # the worst first: the reachable-set bounds again with jointly optimized chains (refine.refined_bounds)
    refined: list[int] = []
    if 0 < radius < math.inf and refine_iters > 0:
        gap = bounds / centre_norms.to(torch.float64).clamp_min(1e-300)
        for k in gap.argsort(descending=True).tolist()[:max(optimize_inputs, 0)]:
            if not float(gap[k]) > refine_gap:
                break
            centers = [v[k] for v in values]
            again = dense.certify(centers, radius, optimize=False,
                                  bounds=refined_bounds(dense, centers, radius, refine_iters))
            refined.append(k)
            if again["bound"] < float(bounds[k]):
                res[k], bounds[k] = again, again["bound"]
    default_max = float(bounds.max())
    fast_max = max(r.get("bound_eclipse_fast", r["bound"]) for r in res)
    optimized: list[int] = []
    while len(optimized) < optimize_inputs and iters > 0:
        k = int(bounds.argmax())          # the worst ball decides the upper bound: improve it first
        plan = res[k]["plan"]
        if k in optimized or plan is None or not any(st.n_groups for st in plan.values()):
            break
        best, _, label = dense.descend(res[k], iters, 0.15, time_limit)
        if best < float(bounds[k]):
            bounds[k], res[k]["candidate"] = best, label
        optimized.append(k)
    reasons = [r["reason"] for r in res if r["reason"]]
    # which candidate plan gave each ball's bound (DenseCertificate.certify): counts, and the worst ball's
    winners: dict[str, int] = {}
    for r in res:
        if r.get("candidate"):
            winners[r["candidate"]] = winners.get(r["candidate"], 0) + 1
    k_worst = int(bounds.argmax())
    worst = res[k_worst].get("candidate", "")
    if per == 1:
        bounds = bounds.expand(n).clone()
    info = {"default_max": default_max, "eclipse_fast_max": fast_max, "optimized_inputs": optimized,
            "refined_inputs": refined, "seconds": time.perf_counter() - t0,
            "reason": "; ".join(dict.fromkeys(reasons)), "winning_plans": winners, "winning_plan_of_worst": worst,
            # the ball that decides the upper bound, and how far its reachable set spread (DenseCertificate._spread)
            "worst_ball": k_worst if per == n else None,
            "reach_spread": [r.get("reach_spread", math.nan) for r in res] if per == n else [],
            "reach_spread_op_of_worst": res[k_worst].get("reach_spread_op", -1) if per == n else -1}
    return bounds, info


# ------------------------------------------------------------------------------------ entry point

def estimate_lipschitz(model: nn.Module, inputs: Tensor, wrt: str = "input", radius: float = 0.0, *,
                       power_iters: int = 30, tol: float = 1e-4, ascent_steps: int = 20, ascent_starts: int = 4,
                       restarts: int = 8, seed: int = 0, certify: bool = True, bn_batch: Tensor | None = None,
                       cert_iters: int = 30, cert_time: float | None = None, dense_limit: int = 2048,
                       optimize_inputs: int = 4, refine_gap: float = 50.0, refine_iters: int = 30) -> LipschitzEstimate:
    """Attained lower and certified upper bounds of sup_{x in R} ||J(x)||_2 (see the module docstring).

    Args:
        model: any ``nn.Module`` mapping a batch (N, ...) to (N, ...), one sample at a time. Train-mode
            dropout, train-mode BatchNorm (unless ``bn_batch``) and batch coupling raise ``ValueError``.
        inputs: (N, *input_shape), finite.
        wrt: "input" (J = df/dx) or "params" (J = df/dtheta, all trainable parameters flattened).
        radius: r >= 0: the region is the union of the balls B(x_n, r); ``math.inf``: the whole input
            space (a global Lipschitz bound); ``wrt="params"``: 0 only.
        power_iters, tol: power-iteration cap and relative stopping tolerance.
        ascent_steps, ascent_starts, restarts: the search for the lower bound over a region (r > 0): projected
            ascent from the ``ascent_starts`` best inputs and ``restarts`` random points of the region.
        seed: seed of the random start vectors and restart points.
        certify: compute the upper bound (False: ``upper = inf`` with that reason).
        bn_batch: hold train-mode BatchNorm statistics at those of this batch (see :mod:`.preconditions`).
        cert_iters, cert_time: multiplier-descent iterations (and an optional time cap in seconds, per
            optimized region) of the dense certificate; 0 keeps the closed-form (ECLipsE-Fast) choice.
        dense_limit: largest number of live activation dims the dense certificate handles.
        optimize_inputs: how many balls (the worst first) get the multiplier descent.
        refine_gap, refine_iters: a ball whose closed-form dense certificate exceeds ``refine_gap`` times the
            Jacobian norm at its centre (at most ``optimize_inputs`` balls, the largest ratio first) gets its
            reachable-set bounds again with every chain's multipliers optimized together (``refine_iters``
            Adam steps per normalizer and activation input; :func:`.refine.refined_bounds`);
            ``refine_iters=0`` turns this off.
    """
    x = _check_inputs(model, inputs, wrt, radius)
    if not refine_gap > 0:
        raise ValueError(f"refine_gap must be > 0, got {refine_gap!r}")
    if refine_iters < 0:
        raise ValueError(f"refine_iters must be >= 0, got {refine_iters!r}")
    model, notes = check_modes(model, bn_batch)
    check_deterministic(model, x)
    check_per_sample(model, x)
    gen = torch.Generator().manual_seed(0x5EED_11B5 + 7919 * int(seed))
    t0 = time.perf_counter()
    n = x.shape[0]
    det: dict = {"notes": list(notes)}
    radius = float(radius)
    if wrt == "input":
        ad, note = choose_ad_mode(model, x[:1])
        det["ad_mode"] = ad.mode
        if note:
            det["notes"].append(note)
        check_per_sample_jvp(ad, x)
        lower, witness, wdir, per, its, extra = _lower_input(model, ad, x, radius, gen, power_iters, tol,
                                                               ascent_steps, ascent_starts, restarts)
        det.update(extra)
    else:
        with torch.no_grad():
            per, its = power_params(model, x, power_iters, tol, gen)
        if not bool(torch.isfinite(per).any()):
            raise ValueError("the parameter Jacobian-vector products are non-finite at every input")
        i = int(torch.nan_to_num(per, nan=-1.0).argmax())
        lower, witness, wdir = float(per[i]), x[i].clone(), None
        det["witness_index"] = i
    det.update({"per_input_lower": per.tolist(), "power_iterations": its, "witness_direction": wdir,
                "t_lower_s": time.perf_counter() - t0})
    t1 = time.perf_counter()
    model64 = copy.deepcopy(model).to(torch.float64)
    x64 = x.to(torch.float64)
    scales, gammas = _norm_details(model64, x64)
    det["norm_scales"], det["norm_gamma_max"] = scales, gammas
    if certify:
        with torch.no_grad():
            model_out = model(x)
        if wrt == "input":
            up_n, reason, udet = _certify_input(model64, x64, model_out, radius, dense_limit=dense_limit,
                                                cert_iters=cert_iters, cert_time=cert_time,
                                                optimize_inputs=optimize_inputs, centre_norms=per.detach().abs(),
                                                refine_gap=refine_gap, refine_iters=refine_iters)
        else:
            up_n, reason, udet = params_upper(model, x)
        det.update(udet)
        det["per_input_upper"] = up_n.tolist()
        ops = max(det.get("graph_ops", len(list(model.modules()))), 1)
        # float64 certificates, but the model's own arithmetic (and the lower bound) runs in its dtype
        margin = 1.0 + 64 * ops * torch.finfo(x.dtype).eps
        upper = float(up_n.max()) * margin
        if math.isfinite(upper) and lower > upper:  # pragma: no cover - would be a bug in a bound
            raise RuntimeError(f"certified upper bound {upper} is below the attained lower bound {lower}")
    else:
        upper, reason = math.inf, "not computed (certify=False)"
    det["t_upper_s"] = time.perf_counter() - t1
    if wrt == "params":
        region = f"current parameters, at each of the {n} given inputs"
    elif radius == 0:
        region = "the given inputs"
    elif math.isinf(radius):
        region = "the whole input space"
    else:
        region = f"union of l2 balls of radius {radius:g} around the {n} inputs"
    return LipschitzEstimate(lower=lower, upper=upper, witness=witness, wrt=wrt, region=region,
                             upper_reason=reason if not math.isfinite(upper) else "", details=det)


def _lower_input(model: nn.Module, ad: ADMode, x: Tensor, radius: float, gen: torch.Generator, power_iters: int,
                 tol: float, ascent_steps: int, ascent_starts: int, restarts: int):
    n = x.shape[0]
    extra: dict = {}
    with torch.no_grad():
        v0 = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)
        per, vbest, its = power_iteration(ad, x, v0, power_iters, tol)
    finite = torch.isfinite(per)
    if not bool(finite.any()):
        raise ValueError("the Jacobian-vector products are non-finite at every input (e.g. a normalizer with "
                         "eps = 0 at a constant input): the Jacobian is not defined there and no lower bound "
                         "can be attained; move the inputs or use eps > 0")
    if not bool(finite.all()):
        extra["nonfinite_inputs"] = torch.nonzero(~finite).flatten().tolist()
    score = torch.where(finite, per, torch.full_like(per, -1.0))
    i = int(score.argmax())
    lower, witness, wdir = float(per[i]), x[i].clone(), vbest[i].clone()
    extra["witness_index"] = i
    if radius > 0 and ascent_steps > 0 and (ascent_starts > 0 or restarts > 0):
        top = score.argsort(descending=True)[:max(ascent_starts, 0)]
        top = top[finite[top]]
        starts, dirs = [x[top]], [vbest[top]]
        if restarts > 0:
            pick = torch.randint(0, n, (restarts,), generator=gen)
            base = x[pick]
            d = torch.randn(base.shape, generator=gen, dtype=torch.float64).to(x.dtype)
            if math.isfinite(radius):
                u = torch.rand(restarts, generator=gen, dtype=torch.float64).to(x.dtype) ** (1.0 / max(x[0].numel(), 1))
                d = d / bnorm(d).reshape((-1,) + (1,) * (d.dim() - 1)) * (radius * u).reshape(
                    (-1,) + (1,) * (d.dim() - 1))
            else:
                scale = bnorm(base).clamp_min(1.0)
                d = d / bnorm(d).reshape((-1,) + (1,) * (d.dim() - 1)) * scale.reshape((-1,) + (1,) * (d.dim() - 1))
            starts.append(base + d)
            dirs.append(torch.randn(base.shape, generator=gen, dtype=torch.float64).to(x.dtype))
        x0 = torch.cat(starts)
        v0 = torch.cat(dirs)
        centers = torch.cat([x[top], x[pick] if restarts > 0 else x[top][:0]])
        surrogate, sched = smooth_surrogate(model, x)
        sad = ADMode(surrogate, ad.mode) if surrogate is not None else ad
        extra["surrogate"] = surrogate is not None
        scale = bnorm(x0).clamp_min(1.0)
        try:
            with torch.enable_grad():
                xa, va = ascent(sad, x0, v0, radius, ascent_steps, sched, scale)
        except (RuntimeError, NotImplementedError) as e:
            extra["ascent_error"] = f"{type(e).__name__}: {str(e)[:160]}"
            xa, va = x0, v0
        if math.isfinite(radius):       # stay inside the closed balls despite rounding
            d = xa - centers
            dn = bnorm(d)
            xa = centers + d * (radius / dn.clamp_min(radius)).reshape((-1,) + (1,) * (d.dim() - 1))
        with torch.no_grad():
            pa, va2, _ = power_iteration(ad, xa, va, power_iters, tol)
        pa = torch.where(torch.isfinite(pa), pa, torch.full_like(pa, -1.0))
        j = int(pa.argmax())
        extra["ascent_gain"] = float(pa[j]) / max(lower, 1e-300)
        extra["ascent_points"] = int(xa.shape[0])
        if float(pa[j]) > lower:
            lower, witness, wdir = float(pa[j]), xa[j].clone(), va2[j].clone()
            extra["witness_index"] = None
    return lower, witness, wdir, per, its, extra
