"""Local certificates over l2 balls on normalized nets (``ellipsoid.py``: the reachable-set pass and the ball
certificate built on it; ``docs/benchmarks/lipschitz.md`` section 4).

* the reachable-set enclosure (:meth:`DenseCertificate.reach_bounds`) holds every sampled point of the ball,
  op by op: per-coordinate intervals of the activations' inputs, and per normalizer group the radius, the radial
  radius and the ellipsoid of the centred increments; the same samples break the enclosure of a smaller ball
  (so these checks can fail);
* the ball certificate exceeds the Jacobian norm at every sampled point of the ball;
* on a tiny LayerNorm net the bound at r = 0.1 x rms is within 100 x the attained lower bound, and it shrinks
  to the centre's Jacobian norm as r -> 0; the reachable-set pass is what makes a depth-8 net's bound tight;
* no ball bound is looser than the certificate without the reachable-set pass and the local multipliers (its
  plans stay candidates), on a ReLU ball where the new plans alone are looser after the multiplier descent.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ibnorm_verify.verification.estimators.jacobian import spectral_norm
from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz
from ibnorm_verify.verification.estimators.lipschitz.ellipsoid import DenseCertificate
from ibnorm_verify.verification.estimators.lipschitz.graph import trace
from ibnorm_verify.verification.estimators.lipschitz.refine import refine_reach, refined_bounds
from ibnorm_verify.verification.models import build_network

F64 = torch.float64


def _net(norm, act, *, depth=4, width=8, gain=1.3, seed=1):
    net = build_network(depth=depth, width=width, gain=gain, norm=norm, activation=act, seed=seed,
                        init="gaussian", groups=2)
    x = torch.randn(1, width, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return net, x, float(x.pow(2).mean().sqrt())


def _centers(net, x):
    graph, why = trace(net, x)
    assert graph is not None, why
    with torch.no_grad():
        values = graph.run(x)
    return graph, [None if v is None else v[0] for v in values]


def _ball(x, r, k, seed):
    """(2k, d): k points on the sphere of radius r around x[0] and k inside."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(2 * k, x.shape[1], generator=g, dtype=F64)
    d = d / d.norm(dim=1, keepdim=True)
    scale = torch.cat([torch.ones(k, dtype=F64), torch.rand(k, generator=g, dtype=F64)])
    return x[0] + r * scale.unsqueeze(1) * d


def _violations(graph, rec, centers, values) -> tuple[int, int]:
    """(number of checked bounds, number violated) of the recorded enclosure by the sampled per-op values."""
    checked = bad = 0
    for p, (lo, hi) in enumerate(zip(rec.lo, rec.hi)):
        if lo is None:
            continue
        v = values[p].reshape(values[p].shape[0], -1)
        tol = 1e-9 * (1 + v.abs())
        checked += 1
        bad += int(bool(((v < lo - tol) | (v > hi + tol)).any()))
    for i, rho in rec.rho.items():
        op = graph.ops[i]
        p = op.parents[0]
        z, zc = values[p].reshape(values[p].shape[0], -1), centers[p].reshape(-1)
        ng = zc.numel() // op.m
        dz = (z - zc).reshape(-1, ng, op.m)
        if op.center:
            dz = dz - dz.mean(-1, keepdim=True)                    # P (z - z_c) per group
        a = op.group_stats(zc)[0]
        u = a / a.norm(dim=-1, keepdim=True)                        # (G, m) unit vector along P z_c
        checked += 3
        bad += int(bool((dz.norm(dim=-1) > rho * (1 + 1e-9) + 1e-12).any()))
        bad += int(bool(((dz * u).sum(-1).abs() > rec.rho_r[i] * (1 + 1e-9) + 1e-12).any()))
        Q = rec.shape.get(i)
        if Q is not None:                                           # support function of {Q^(1/2) w : |w| <= 1}
            w = torch.cat([torch.linalg.eigh(Q)[1].transpose(1, 2),
                           torch.randn(ng, 16, op.m, generator=torch.Generator().manual_seed(0), dtype=F64)], 1)
            supp = torch.einsum("gkm,gmn,gkn->gk", w, Q, w).clamp_min(0).sqrt()           # (G, K)
            proj = torch.einsum("ngm,gkm->ngk", dz, w)                                     # (N, G, K)
            bad += int(bool((proj > supp * (1 + 1e-9) + 1e-12).any()))
    return checked, bad


def _check_enclosure(norm, act, gain, seed, f):
    net, x, rms = _net(norm, act, gain=gain, seed=seed)
    graph, centers = _centers(net, x)
    r = f * rms
    dense = DenseCertificate(graph)
    rec = dense.reach_bounds(centers, r)
    assert rec.failed == ""
    with torch.no_grad():
        values = graph.run(_ball(x, r, 200, seed))
    checked, bad = _violations(graph, rec, centers, values)
    n_nonlinear = sum(op.kind in ("elementwise", "standardize") for op in graph.ops)
    assert checked >= n_nonlinear and bad == 0
    # the enclosure of a ball 20x smaller cannot hold these points: the check detects an unsound enclosure
    small = dense.reach_bounds(centers, r / 20)
    assert _violations(graph, small, centers, values)[1] > 0


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("norm", ["layer", "rms", "group"])
def test_reachable_set_encloses_sampled_points_of_the_ball(norm, act):
    _check_enclosure(norm, act, 1.3, 1, 0.1)


@settings(max_examples=6, deadline=None)
@given(norm=st.sampled_from(["layer", "rms", "group"]), act=st.sampled_from(["relu", "tanh", "identity"]),
       gain=st.floats(0.7, 2.0), seed=st.integers(0, 50), f=st.floats(0.01, 0.3))
def test_property_reachable_set_is_sound(norm, act, gain, seed, f):
    _check_enclosure(norm, act, gain, seed, f)


def _jac_norms(net, pts):
    """(M,) exact ||J(x)|| at each point (dense Jacobian, estimators.jacobian.spectral_norm)."""
    return torch.tensor([spectral_norm(lambda v: net(v.unsqueeze(0)), p) for p in pts], dtype=F64)


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("norm", ["layer", "rms", "group"])
def test_ball_certificate_exceeds_sampled_jacobian_norms(norm, act):
    net, x, rms = _net(norm, act)
    r = 0.1 * rms
    graph, centers = _centers(net, x)
    bound = DenseCertificate(graph).certify(centers, r, optimize=False)["bound"]     # the dense certificate itself
    est = estimate_lipschitz(net, x, radius=r, ascent_steps=5, restarts=2, cert_iters=5, seed=0)
    assert math.isfinite(bound) and est.upper <= bound * (1 + 1e-9)
    sampled = float(_jac_norms(net, torch.cat([_ball(x, r, 16, 2), est.witness.reshape(-1, x.shape[1])])).max())
    assert sampled <= est.upper * (1 + 1e-9) and est.lower <= est.upper


def test_layernorm_ball_ratio_bounded_and_shrinks_to_the_centre_norm():
    net, x, rms = _net("layer", "relu", depth=4, width=12, gain=1.5, seed=0)
    centre = float(_jac_norms(net, x)[0])
    ests = [estimate_lipschitz(net, x, radius=f * rms, ascent_steps=5, restarts=2, cert_iters=5, seed=0)
            for f in (0.1, 0.01, 1e-3, 1e-6)]
    ups = [e.upper for e in ests]
    assert ests[0].upper / ests[0].lower <= 100                   # the target at r = 0.1 x rms
    assert all(b <= a * (1 + 1e-9) for a, b in zip(ups, ups[1:]))  # shrinks with the radius
    # the multipliers keep a relative margin of 1e-4 (M = D kappa (1 + e^phi), e^phi >= 1e-4): ~1e-4 looser
    assert ups[1] <= 1.5 * centre and centre <= ups[-1] <= centre * (1 + 1e-3)


def test_reachable_set_pass_tightens_a_depth_8_layernorm_net():
    net, x, rms = _net("layer", "relu", depth=8, width=32, gain=1.5, seed=0)
    graph, centers = _centers(net, x)
    dense = DenseCertificate(graph)
    with_reach = dense.certify(centers, 0.1 * rms, optimize=False)["bound"]
    without = dense.certify(centers, 0.1 * rms, optimize=False, propagate=False)["bound"]
    centre = float(_jac_norms(net, x)[0])
    assert centre <= with_reach < 0.5 * without


def _previous_certificate(dense, centers, r, iters):
    """The ball certificate before the reachable-set pass: the gain-aware and ECLipsE-Fast closed-form plans
    without region bounds, the better one (after both closed forms) given the multiplier descent."""
    best, best_plan, best_start = math.inf, None, ""
    for mode in (None, "uniform"):
        with torch.no_grad():
            lam, plan = dense.run(None, mode, F64, centers, r)
        for m in (None, "uniform"):
            with torch.no_grad():
                lam_m = float(lam) if m == mode else float(dense.run(plan, {i: m for i in plan} if m else None, F64)[0])
            val = math.sqrt(max(lam_m, 0.0)) * (1 + 1e-9)
            if val < best:
                best, best_plan, best_start = val, plan, "gain-aware" if m is None else "uniform"
    opt, _ = dense.optimize(best_plan, iters, 0.15, None, start=best_start)
    return min(best, opt)


def test_ball_bound_no_looser_than_without_the_reachable_set_pass():
    # docs/benchmarks/lipschitz.md section 3: depth 4 width 32 seed 0, r = 0.1, where the plans built on the
    # reachable-set bounds (and with local multipliers) win the closed form but end looser after the descent
    net = build_network(depth=4, width=32, gain=1.5, activation="relu", init="gaussian", seed=0)
    x = torch.randn(1, 32, generator=torch.Generator().manual_seed(100), dtype=F64)
    r, iters = 0.1, 30
    graph, centers = _centers(net, x)
    dense = DenseCertificate(graph)
    previous = _previous_certificate(dense, centers, r, iters)
    res = dense.certify(centers, r, optimize=False)
    new_only, _, _ = dense.descend({"descent": res["descent"][:1]}, iters)      # the new plans' winner alone
    assert new_only > previous * (1 + 1e-6)                   # the case is a regression without the old plans
    est = estimate_lipschitz(net, x, radius=r, cert_iters=iters, ascent_steps=2, restarts=1, seed=0)
    assert est.upper <= previous * (1 + 1e-9)
    assert est.details["dense"]["winning_plan_of_worst"].startswith("no-bounds/")


def test_reach_spread_names_the_diverging_ball():
    # docs/benchmarks/lipschitz.md section 4: a ball's bound diverges where its reachable set's radius at a
    # normalizer input approaches the centre's spread |P z_c| (sigma_lo -> sqrt(eps)). The recorded spread is
    # the reachable-set radius over |P z_c| (>= the ratio of every sampled point), it grows with the radius,
    # and details['dense'] names the ball that decides the upper bound.
    net, _, _ = _net("layer", "relu", depth=6, width=16, gain=1.5, seed=0)
    x = torch.randn(3, 16, generator=torch.Generator().manual_seed(3), dtype=F64)
    rms = float(x.pow(2).mean().sqrt())
    graph, why = trace(net, x)
    assert graph is not None, why
    with torch.no_grad():
        values = graph.run(x)
    dense = DenseCertificate(graph)
    centers = [v[0] for v in values]
    spreads = []
    for f in (0.01, 0.1, 0.3):
        res = dense.certify(centers, f * rms, optimize=False)
        spreads.append(res["reach_spread"])
        i = res["reach_spread_op"]
        p = graph.ops[i].parents[0]
        with torch.no_grad():
            sampled = graph.run(_ball(x[:1], f * rms, 64, seed=5))[p]
        dz = sampled - centers[p]
        dz = dz - dz.mean(-1, keepdim=True)                                   # P (z - z_c), one group (LN)
        attained = float(dz.norm(dim=-1).max() / (centers[p] - centers[p].mean()).norm())
        assert attained <= res["reach_spread"] * (1 + 1e-9)
    assert spreads[0] < spreads[1] < spreads[2]
    assert 0 < spreads[0] < 0.1
    est = estimate_lipschitz(net, x, radius=0.1 * rms, ascent_steps=2, restarts=1, optimize_inputs=0, seed=0)
    d = est.details["dense"]
    per_ball = [dense.certify([v[k] for v in values], 0.1 * rms, optimize=False)["bound"] for k in range(3)]
    assert len(d["reach_spread"]) == 3 and all(0 < s < math.inf for s in d["reach_spread"])
    assert d["worst_ball"] in range(3) and graph.ops[d["reach_spread_op_of_worst"]].kind == "standardize"
    assert d["worst_ball"] == max(range(3), key=per_ball.__getitem__)         # no descent: the closed forms decide
    assert est.upper <= max(per_ball) * (1 + 1e-9)                          # (a rounding margin)


# ------------------------------------------------------------------ refined reachable sets (refine_reach)

def _no_looser(graph, tight, loose) -> bool:
    """Every interval and radius of ``tight`` lies inside / below that of ``loose`` (where both have one)."""
    for p in range(len(graph.ops)):
        a, b = tight.interval(p), loose.interval(p)
        if a is not None and b is not None and not bool(((a[0] >= b[0] - 1e-12) & (a[1] <= b[1] + 1e-12)).all()):
            return False
    return all(bool((tight.rho[i] <= rho * (1 + 1e-12)).all()) for i, rho in loose.rho.items() if i in tight.rho)


def _check_refined_enclosure(norm, act, gain, seed, f, depth=4):
    net, x, rms = _net(norm, act, gain=gain, seed=seed, depth=depth)
    graph, centers = _centers(net, x)
    r = f * rms
    dense = DenseCertificate(graph)
    greedy = dense.reach_bounds(centers, r)
    refined = refine_reach(dense, centers, r, greedy, iters=10)
    again = dense.reach_bounds(centers, r, bounds=refined)
    with torch.no_grad():
        values = graph.run(_ball(x, r, 200, seed))
    for rec in (refined, again):
        checked, bad = _violations(graph, rec, centers, values)
        assert checked >= sum(op.kind in ("elementwise", "standardize") for op in graph.ops) and bad == 0
    assert _no_looser(graph, refined, greedy) and _no_looser(graph, again, refined)
    # the refinement of a ball 20x smaller cannot hold these points (the check can fail)
    small = refine_reach(dense, centers, r / 20, dense.reach_bounds(centers, r / 20), iters=10)
    assert _violations(graph, small, centers, values)[1] > 0


@pytest.mark.parametrize("norm,act", [("layer", "relu"), ("rms", "tanh"), ("group", "relu")])
def test_refined_reachable_set_encloses_sampled_points_and_is_no_looser(norm, act):
    _check_refined_enclosure(norm, act, 1.5, 1, 0.2, depth=5)


@settings(max_examples=4, deadline=None)
@given(norm=st.sampled_from(["layer", "rms", "group"]), act=st.sampled_from(["relu", "tanh", "identity"]),
       gain=st.floats(0.7, 2.0), seed=st.integers(0, 50), f=st.floats(0.01, 0.3))
def test_property_refined_reachable_set_is_sound(norm, act, gain, seed, f):
    _check_refined_enclosure(norm, act, gain, seed, f)


def test_refinement_tightens_a_layernorm_ball_and_stays_above_sampled_jacobian_norms():
    # depth 6, width 16, r = 0.2 x rms: the closed-form ball certificate drops from ~145 to ~54 (measured once)
    net = build_network(depth=6, width=16, gain=1.5, norm="layer", activation="relu", seed=0, init="gaussian")
    x = torch.randn(1, 16, generator=torch.Generator().manual_seed(0), dtype=F64)
    r = 0.2 * float(x.pow(2).mean().sqrt())
    graph, centers = _centers(net, x)
    dense = DenseCertificate(graph)
    plain = dense.certify(centers, r, optimize=False)["bound"]
    refined = dense.certify(centers, r, optimize=False, bounds=refined_bounds(dense, centers, r, 10))["bound"]
    assert refined < 0.7 * plain
    sampled = float(_jac_norms(net, _ball(x, r, 32, 5)).max())
    assert sampled <= refined


def test_estimate_refines_only_balls_past_the_gap():
    net = build_network(depth=6, width=16, gain=1.5, norm="layer", activation="relu", seed=0, init="gaussian")
    x = torch.randn(2, 16, generator=torch.Generator().manual_seed(0), dtype=F64)
    r = 0.2 * float(x.pow(2).mean().sqrt())
    kw = dict(radius=r, ascent_steps=2, restarts=1, cert_iters=0, seed=0)
    off = estimate_lipschitz(net, x, refine_iters=0, **kw)
    on = estimate_lipschitz(net, x, refine_gap=1.0, refine_iters=10, **kw)
    never = estimate_lipschitz(net, x, refine_gap=1e12, refine_iters=10, **kw)
    assert off.details["dense"]["refined_inputs"] == [] == never.details["dense"]["refined_inputs"]
    assert sorted(on.details["dense"]["refined_inputs"]) == [0, 1]
    assert on.upper < off.upper and never.upper == off.upper and on.lower <= on.upper
    for bad in (dict(refine_gap=0.0), dict(refine_gap=math.nan), dict(refine_iters=-1)):
        with pytest.raises(ValueError, match="refine_"):
            estimate_lipschitz(net, x, **{**kw, **bad})
