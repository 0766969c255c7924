"""Gaps and speed of estimate_lipschitz on normalized nets and on arbitrary models (benchmark only, not a test).

Sections (``--sections``, all by default):

* ``ln``: depth-16 width-128 ReLU + LayerNorm nets (``build_network``, gain 1.5, orthogonal and Gaussian
  init, several seeds) over l2 balls of radius 0.1 x (input rms) around 8 inputs, and at the inputs
  (r = 0): certified upper, attained lower, upper/lower, time (``--seeds``, ``--inputs``).
* ``sweep``: the same nets (seed 0, both inits, 2 inputs) over balls of radius r/rms in {0.001, 0.01, 0.03,
  0.1, 0.3}.
* ``diverge``: the two hardest balls of the ``ln`` section at 4 inputs (Gaussian init seed 0 ball 2, seed 2
  ball 1; r = 0.1 rms), each alone: per LayerNorm input the centre's spread |P z_c|, the reachable-set radius
  rho of ``DenseCertificate.reach_bounds`` (greedy multipliers) and of ``refine.refined_bounds`` (jointly
  optimized chains), an attained radius (projected ascent on |P(z - z_c)| from 16 random points of the ball,
  40 steps: a lower bound of the true radius), and the undecided ReLUs after it; then each ball's closed-form
  certificate (no multiplier descent) on either bounds.
* ``mlp``: a plain ``nn.Sequential`` MLP (float32, Linear-ReLU-Linear-GELU-Linear), at the inputs, over balls
  and globally: bounds and time.
* ``resnet18``: torchvision's ``resnet18`` (random init, eval mode, 32x32 inputs): bounds and time. PyPI's
  torchvision does not import beside the CPU torch of the project's .venv; run this section in a venv that
  has both (e.g. ``/work/venv-tv`` with torch 2.14.1 + torchvision 0.29.1) with the project on PYTHONPATH:

      PYTHONPATH=.:layer /work/venv-tv/bin/python benchmarks/bench_lipschitz.py --sections resnet18

Usage: ``.venv/bin/python benchmarks/bench_lipschitz.py [--sections ln,sweep,mlp] [--seeds 3] [--first-seed 0] [--inputs 8]
[--out FILE.csv]``. The lower bound of the ball rows uses ``restarts=2, ascent_steps=5`` (projected gradient
ascent on the Jacobian norm from the centres and 2 random points per ball).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import statistics
import time

import torch
from torch import nn

from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz
from ibnorm_verify.verification.estimators.lipschitz.ellipsoid import DenseCertificate
from ibnorm_verify.verification.estimators.lipschitz.graph import float64_copy, trace
from ibnorm_verify.verification.estimators.lipschitz.ops import StandardizeOp
from ibnorm_verify.verification.estimators.lipschitz.refine import refined_bounds
from ibnorm_verify.verification.models import build_network


def _row(section, case, est, t, **extra):
    return {"section": section, "case": case, "lower": est.lower, "upper": est.upper,
            "upper_over_lower": est.upper / est.lower if est.lower > 0 else math.nan, "seconds": t,
            "reason": est.upper_reason, **{k: v for k, v in extra.items()}}


def _ln_net(init: str, seed: int, n: int) -> tuple[nn.Module, torch.Tensor, float]:
    net = build_network(depth=16, width=128, gain=1.5, norm="layer", activation="relu", init=init, seed=seed)
    x = torch.randn(n, 128, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return net, x, float(x.pow(2).mean().sqrt())


def _ln_rows(section: str, init: str, seed: int, n: int, factors: tuple[float, ...]) -> list[dict]:
    net, x, rms = _ln_net(init, seed, n)
    rows = []
    for f in factors:
        r = f * rms
        t0 = time.perf_counter()
        e = estimate_lipschitz(net, x, radius=r, seed=seed, restarts=2, ascent_steps=5)
        rows.append(_row(section, f"depth16 width128 relu+LN {init} seed={seed} n={n} r/rms={f:g}", e,
                         time.perf_counter() - t0, init=init, seed=seed, inputs=n, radius=r, r_over_rms=f,
                         dense=e.details["certificates"].get("dense"),
                         compositional=e.details["certificates"].get("compositional"),
                         # the ball that decides the upper bound and its reachable set's max radius / |P z_c|
                         worst_ball=e.details.get("dense", {}).get("worst_ball"),
                         worst_spread=_worst_spread(e.details.get("dense", {})),
                         # balls whose reachable-set bounds were refined (refine.refined_bounds)
                         refined=e.details.get("dense", {}).get("refined_inputs")))
        print(rows[-1], flush=True)
    return rows


def _worst_spread(dense: dict) -> float:
    k, spreads = dense.get("worst_ball"), dense.get("reach_spread") or []
    return spreads[k] if k is not None and k < len(spreads) else math.nan


def ln_section(seeds: int, inputs: int, first_seed: int = 0) -> list[dict]:
    return [row for init in ("orthogonal", "gaussian") for seed in range(first_seed, first_seed + seeds)
            for row in _ln_rows("ln", init, seed, inputs, (0.0, 0.1))]


def sweep_section() -> list[dict]:
    return [row for init in ("orthogonal", "gaussian")
            for row in _ln_rows("sweep", init, 0, 2, (0.001, 0.01, 0.03, 0.1, 0.3))]


def _attained_radius(graph, xc: torch.Tensor, p: int, r: float, starts: int = 16, steps: int = 40) -> float:
    """max |P(z_p(x) - z_p(x_c))| found by projected ascent over B(x_c, r) (a lower bound of the sup)."""
    zc = graph.run(xc)[p]
    g = torch.Generator().manual_seed(1)
    d = torch.randn(starts, xc.shape[1], generator=g, dtype=torch.float64)
    d = (r * d / d.norm(dim=1, keepdim=True)).requires_grad_(True)
    best = 0.0
    for _ in range(steps):
        z = graph.run(xc + d)[p] - zc
        obj = (z - z.mean(1, keepdim=True)).norm(dim=1)                   # LayerNorm: one group, P = centring
        best = max(best, float(obj.detach().max()))
        grad, = torch.autograd.grad(obj.sum(), d)
        with torch.no_grad():
            d += 0.5 * r * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-30)
            d *= (r / d.norm(dim=1, keepdim=True)).clamp(max=1.0)
    return best


def diverge_section() -> list[dict]:
    rows = []
    for seed, k in ((0, 2), (2, 1)):
        net, x, rms = _ln_net("gaussian", seed, 4)
        r = 0.1 * rms
        graph, why = trace(float64_copy(net).eval(), x)
        assert graph is not None, why
        with torch.no_grad():
            values = graph.run(x)
        centers = [v[k] for v in values]
        dense = DenseCertificate(graph, 2048)
        t0 = time.perf_counter()
        b = dense.reach_bounds(centers, r)
        t_greedy = time.perf_counter() - t0
        cert = dense.certify(centers, r, optimize=False, bounds=b)
        t0 = time.perf_counter()
        bf = refined_bounds(dense, centers, r)
        t_refine = time.perf_counter() - t0
        cert_f = dense.certify(centers, r, optimize=False, bounds=bf)
        consumers = graph.consumers()

        def undecided(bb, i):
            counts = [int(((lo < 0) & (hi > 0)).sum()) for q in consumers[i] + [c for j in consumers[i]
                      for c in consumers[j]] if (iv := bb.interval(q)) is not None for lo, hi in [iv]]
            return counts[0] if counts else None
        for i, op in enumerate(graph.ops):
            if not isinstance(op, StandardizeOp):
                continue
            p = op.parents[0]
            spread = float(op.group_stats(centers[p])[0].norm() * math.sqrt(op.m))
            rho = float(b.rho[i].max()) if i in b.rho else math.nan
            rho_f = float(bf.rho[i].max()) if i in bf.rho else math.nan
            attained = _attained_radius(graph, x[k:k + 1], p, r)
            rows.append({"section": "diverge", "seed": seed, "ball": k, "op": i, "spread": spread, "rho": rho,
                         "rho_refined": rho_f, "attained": attained, "rho_over_attained": rho / attained,
                         "refined_over_attained": rho_f / attained, "undecided_relus_after": undecided(b, i),
                         "undecided_refined": undecided(bf, i), "bound": cert["bound"], "bound_refined": cert_f["bound"],
                         "t_greedy_s": t_greedy, "t_refine_s": t_refine})
            print(rows[-1], flush=True)
    return rows


def mlp_section() -> list[dict]:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 10)).eval()
    x = torch.randn(16, 32)
    rows = []
    for r in (0.0, 0.5, math.inf):
        t0 = time.perf_counter()
        e = estimate_lipschitz(mlp, x, radius=r)
        rows.append(_row("mlp", f"nn.Sequential 32-64-64-10 float32 r={r:g}", e, time.perf_counter() - t0, radius=r))
        print(rows[-1], flush=True)
    return rows


def resnet18_section() -> list[dict]:
    try:
        from torchvision.models import resnet18
    except Exception as e:  # noqa: BLE001
        print(f"resnet18 section skipped: torchvision does not import here ({type(e).__name__}: {e})")
        return []
    torch.manual_seed(0)
    m = resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    rows = []
    for r in (0.0, 0.1):
        t0 = time.perf_counter()
        e = estimate_lipschitz(m, x, radius=r, power_iters=10, ascent_steps=5, restarts=2, ascent_starts=1)
        rows.append(_row("resnet18", f"torchvision resnet18 32x32 r={r:g}", e, time.perf_counter() - t0, radius=r,
                         t_lower=e.details["t_lower_s"], t_upper=e.details["t_upper_s"],
                         torch_version=torch.__version__))
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="ln,sweep,mlp,resnet18")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="ln section: seeds first-seed .. first-seed+seeds-1")
    ap.add_argument("--inputs", type=int, default=8)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    print(f"torch {torch.__version__}, {platform.machine()}, threads={torch.get_num_threads()}, "
          f"load average {os.getloadavg()}", flush=True)
    rows = []
    secs = args.sections.split(",")
    if "ln" in secs:
        rows += ln_section(args.seeds, args.inputs, args.first_seed)
    if "sweep" in secs:
        rows += sweep_section()
    if "diverge" in secs:
        rows += diverge_section()
    if "mlp" in secs:
        rows += mlp_section()
    if "resnet18" in secs:
        rows += resnet18_section()
    if args.out and rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    ln = [r for r in rows if r["section"] == "ln" and r["radius"] > 0]
    if ln:
        for init in ("orthogonal", "gaussian"):
            sel = [r["upper_over_lower"] for r in ln if r["init"] == init]
            secs_ = [r["seconds"] for r in ln if r["init"] == init]
            if sel:
                print(f"LN depth16 width128, r = 0.1 rms, {init}: median upper/lower {statistics.median(sel):.3g}, "
                      f"max {max(sel):.3g} (n={len(sel)} nets), median {statistics.median(secs_):.0f} s per net")
    print(f"load average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
