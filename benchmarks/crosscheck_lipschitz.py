"""Cross-check of estimate_lipschitz against ECLipsE / ECLipsE-Fast / ECLipsE-Gen-Local and LipSDP-Neuron.

Benchmark only, not a test. Needs a separate venv with the external references (never the project's .venv):

    python3.11 -m venv /work/venv-bench
    /work/venv-bench/bin/pip install torch==2.13.0 eclipse-nn cvxpy clarabel
    /work/venv-bench/bin/pip install -e layer -e .
    /work/venv-bench/bin/python benchmarks/crosscheck_lipschitz.py --out docs/benchmarks/lipschitz_global.csv \\
        --local-out docs/benchmarks/lipschitz_local.csv

Parts (each value is labelled with the solver it came from):

* ``global``: plain MLPs of ``build_network`` (no normalizers: the references cover plain feed-forward nets
  only), depth x width x activation x init x seed. Ours = ``estimate_lipschitz(net, x, radius=inf).upper``
  (the dense certificate with optimized multipliers), also its closed-form start
  (``dense_default_multipliers``). References: ECLipsE-Fast (``eclipse_nn.ECLipsE_Fast``), the ECLipsE SDP
  (``eclipse_nn.ECLipsE``, per-layer SDPs solved by cvxpy/SCS, run where width <= --sdp-width; when it
  reports a numerical failure the package's ``LipConstEstimator.estimate`` silently falls back to
  ECLipsE-Fast: we call ``ECLipsE`` directly and record that case as ``fallback``, never as an SDP value),
  LipSDP-Neuron solved by cvxpy + Clarabel (our own formulation of Fazlyab et al. 2019, width <=
  --sdp-width), and the product of spectral norms.
* ``local``: ReLU balls. Ours = ``estimate_lipschitz(net, x_c, radius=r).upper`` vs ECLipsE-Gen-Local
  (``eclipse_nn.compute_local_lip``, algorithms Fast and Acc) on the same l2 ball, and the exact Jacobian
  norm at the centre (the true value on balls where no ReLU changes sign).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import platform
import statistics
import sys
import time

import torch

from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz
from ibnorm_verify.verification.models import build_network


def lipsdp_neuron(weights: list[torch.Tensor]) -> tuple[float, str]:
    """LipSDP-Neuron (slopes [0, 1]) with cvxpy + Clarabel: min rho s.t. the block LMI <= 0. (value, status)."""
    import cvxpy as cp
    import numpy as np

    ws = [w.detach().double().numpy() for w in weights]
    dims = [ws[0].shape[1]] + [w.shape[0] for w in ws[:-1]]
    n = sum(dims)
    hid = sum(dims[1:])
    lam = cp.Variable(hid, nonneg=True)
    rho = cp.Variable(nonneg=True)
    # variables (x, v_1, ..., v_{L-1}); constraint: |W_L v_{L-1}|^2 - rho |x|^2 + sum 2 lam_j v_j (z_j - v_j) >= 0 fails
    # -> LipSDP form: M(rho, lam) = [[-rho I, ...]] + C^T W_L^T W_L C - QC terms <= 0
    A = np.zeros((hid, n))          # z = A s  (pre-activations as functions of s = (x, v_1..))
    B = np.zeros((hid, n))          # v = B s
    r0, c0 = 0, 0
    for i, w in enumerate(ws[:-1]):
        A[r0:r0 + w.shape[0], c0:c0 + w.shape[1]] = w
        B[r0:r0 + w.shape[0], c0 + w.shape[1]:c0 + w.shape[1] + w.shape[0]] = np.eye(w.shape[0])
        r0 += w.shape[0]
        c0 += w.shape[1]
    E0 = np.zeros((dims[0], n))
    E0[:, :dims[0]] = np.eye(dims[0])
    EL = np.zeros((ws[-1].shape[1], n))
    EL[:, n - ws[-1].shape[1]:] = np.eye(ws[-1].shape[1])
    T = cp.diag(lam)
    # QC: 2 v^T T z - 2 v^T T v >= 0  ->  [A; B]^T [[0, T], [T, -2T]] [A; B]
    qc = A.T @ T @ B + B.T @ T @ A - 2 * B.T @ T @ B
    out = EL.T @ (ws[-1].T @ ws[-1]) @ EL
    M = out - rho * (E0.T @ E0) + qc
    prob = cp.Problem(cp.Minimize(rho), [0.5 * (M + M.T) << 0])
    try:
        prob.solve(solver=cp.CLARABEL)
    except Exception as e:  # noqa: BLE001
        return math.nan, f"error: {type(e).__name__}"
    if prob.status not in ("optimal", "optimal_inaccurate") or rho.value is None:
        return math.nan, prob.status
    return math.sqrt(max(float(rho.value), 0.0)), prob.status


def _quiet(fn, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **k)


def global_part(args, writer) -> list[dict]:
    from eclipse_nn import ECLipsE, ECLipsE_Fast

    rows = []
    # widths ascending (the SDP references run at the smallest), depths descending (depth 16 first)
    for width in sorted(args.widths):
        for depth in sorted(args.depths, reverse=True):
            for act in args.acts:
                for init in args.inits:
                    for seed in range(args.seeds):
                        net = build_network(depth=depth, width=width, gain=args.gain, activation=act, init=init,
                                            seed=seed)
                        x = torch.randn(8, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
                        weights = [b.layer.weight.detach().double() for b in net]
                        t0 = time.perf_counter()
                        est = estimate_lipschitz(net, x, radius=math.inf, cert_iters=args.iters, ascent_steps=10,
                                                 restarts=8, power_iters=20)
                        t_ours = time.perf_counter() - t0
                        t0 = time.perf_counter()
                        fast = float(ECLipsE_Fast(weights, [0.0] * (depth - 1), [1.0] * (depth - 1)))
                        t_fast = time.perf_counter() - t0
                        row = {"depth": depth, "width": width, "activation": act, "init": init, "seed": seed,
                               "ours_upper": est.upper, "ours_closed_form": est.details["certificates"][
                                   "dense_default_multipliers"], "ours_lower": est.lower, "t_ours_s": t_ours,
                               "eclipse_fast": fast, "t_eclipse_fast_s": t_fast,
                               "naive_spectral_product": math.prod(
                                   float(torch.linalg.matrix_norm(w, 2)) for w in weights),
                               "eclipse_sdp": math.nan, "eclipse_sdp_status": "not run", "t_eclipse_sdp_s": math.nan,
                               "lipsdp_neuron_clarabel": math.nan, "lipsdp_status": "not run", "t_lipsdp_s": math.nan}
                        if width <= args.sdp_width and 2 <= depth <= args.sdp_max_depth:
                            t0 = time.perf_counter()
                            try:
                                val, code = _quiet(ECLipsE, weights, [0.0] * (depth - 1), [1.0] * (depth - 1))
                                row["eclipse_sdp_status"] = "ok (cvxpy/SCS)" if code == 0 else \
                                    "fallback (numerical failure; the package would return ECLipsE-Fast)"
                                row["eclipse_sdp"] = float(val) if code == 0 and val is not None else math.nan
                            except Exception as e:  # noqa: BLE001
                                row["eclipse_sdp_status"] = f"error: {type(e).__name__}"
                            row["t_eclipse_sdp_s"] = time.perf_counter() - t0
                            t0 = time.perf_counter()
                            row["lipsdp_neuron_clarabel"], row["lipsdp_status"] = lipsdp_neuron(weights)
                            row["t_lipsdp_s"] = time.perf_counter() - t0
                        row["ours_over_fast"] = row["ours_upper"] / fast
                        row["ours_over_eclipse_sdp"] = row["ours_upper"] / row["eclipse_sdp"]
                        row["ours_over_lipsdp"] = row["ours_upper"] / row["lipsdp_neuron_clarabel"]
                        rows.append(row)
                        if writer is not None:
                            writer(row)
                        print(f"L={depth:2d} d={width:3d} {act:4s} {init:10s} s={seed}: ours/Fast={row['ours_over_fast']:.3f}"
                              f" ours/SDP={row['ours_over_eclipse_sdp']:.3f} ({row['eclipse_sdp_status'][:8]})"
                              f" ours/LipSDP={row['ours_over_lipsdp']:.3f} t={t_ours:.1f}s", flush=True)
    return rows


def local_part(args, writer) -> list[dict]:
    from eclipse_nn import LipConstEstimator

    rows = []
    for depth, width in ((4, 32), (8, 32), (8, 64)):
        for seed in range(args.seeds):
            net = build_network(depth=depth, width=width, gain=args.gain, activation="relu", init="gaussian", seed=seed)
            weights = [b.layer.weight.detach().double() for b in net]
            x = torch.randn(1, width, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64)
            jac = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0)).squeeze(0), x[0])
            at_centre = float(torch.linalg.matrix_norm(jac, 2))
            est_obj = LipConstEstimator(weights=weights, biases=[torch.zeros(w.shape[0], dtype=torch.float64)
                                                                 for w in weights])
            for r in args.radii:
                t0 = time.perf_counter()
                e = estimate_lipschitz(net, x, radius=r, cert_iters=args.iters, ascent_steps=10, restarts=8)
                t_ours = time.perf_counter() - t0
                row = {"depth": depth, "width": width, "seed": seed, "radius": r, "ours_upper": e.upper,
                       "ours_lower": e.lower, "jacobian_norm_at_centre": at_centre, "t_ours_s": t_ours}
                for algo in ("Fast", "Acc"):
                    t0 = time.perf_counter()
                    try:
                        lip, _, ext = _quiet(est_obj.estimate_gen_local, x[0].numpy(), r, "relu", algo)
                        row[f"gen_local_{algo.lower()}"] = float(lip) if ext == 0 else math.nan
                        row[f"gen_local_{algo.lower()}_status"] = "ok" if ext == 0 else f"exit {ext}"
                    except Exception as ex:  # noqa: BLE001
                        row[f"gen_local_{algo.lower()}"] = math.nan
                        row[f"gen_local_{algo.lower()}_status"] = f"error: {type(ex).__name__}"
                    row[f"t_gen_local_{algo.lower()}_s"] = time.perf_counter() - t0
                best_ref = min(v for v in (row["gen_local_fast"], row["gen_local_acc"]) if not math.isnan(v)) \
                    if not (math.isnan(row["gen_local_fast"]) and math.isnan(row["gen_local_acc"])) else math.nan
                row["ours_over_gen_local_best"] = e.upper / best_ref
                rows.append(row)
                if writer is not None:
                    writer(row)
                print(f"local L={depth} d={width} s={seed} r={r:g}: ours={e.upper:.4g} lower={e.lower:.4g} "
                      f"centre={at_centre:.4g} GenLocal Fast={row['gen_local_fast']:.4g} Acc={row['gen_local_acc']:.4g}",
                      flush=True)
    return rows


def _writer(path):
    if not path:
        return None, None
    f = open(path, "w", newline="")
    state: dict = {}

    def write(row):
        if "w" not in state:
            state["w"] = csv.DictWriter(f, fieldnames=list(row))
            state["w"].writeheader()
        state["w"].writerow(row)
        f.flush()

    return write, f


def summarize(rows_g, rows_l) -> None:
    med = statistics.median
    print("\n== global: median ratios per (depth, init, activation) over widths and seeds ==")
    for depth in sorted({r["depth"] for r in rows_g}):
        for init in sorted({r["init"] for r in rows_g}):
            for act in sorted({r["activation"] for r in rows_g}):
                sel = [r for r in rows_g if (r["depth"], r["init"], r["activation"]) == (depth, init, act)]
                if sel:
                    print(f"depth {depth:2d} {init:10s} {act:4s}: ours/Fast {med(r['ours_over_fast'] for r in sel):.3f} "
                          f"(max {max(r['ours_over_fast'] for r in sel):.4f}) n={len(sel)}")
    if rows_g:
        worst = max(r["ours_over_fast"] for r in rows_g)
        print(f"max over every net of ours/ECLipsE-Fast: {worst:.6f}")
        d16 = [r["ours_over_fast"] for r in rows_g if r["depth"] == 16 and r["init"] == "gaussian"]
        if d16:
            print(f"median ours/ECLipsE-Fast at depth 16, Gaussian init: {med(d16):.3f} (n={len(d16)})")
        sdp = [r["ours_over_eclipse_sdp"] for r in rows_g if not math.isnan(r["ours_over_eclipse_sdp"])]
        fb = sum(r["eclipse_sdp_status"].startswith("fallback") for r in rows_g)
        ran = sum(r["eclipse_sdp_status"] != "not run" for r in rows_g)
        if sdp:
            print(f"median ours/ECLipsE-SDP where it solved: {med(sdp):.3f} (n={len(sdp)}; {fb} of {ran} runs fell back)")
        else:
            print(f"ECLipsE SDP never solved ({fb} of {ran} runs fell back)")
        lsdp = [r["ours_over_lipsdp"] for r in rows_g if not math.isnan(r["ours_over_lipsdp"])]
        if lsdp:
            print(f"median ours/LipSDP-Neuron(Clarabel): {med(lsdp):.3f} (n={len(lsdp)})")
    if rows_l:
        print("\n== local (ReLU balls) ==")
        for r in rows_l:
            pass
        ratios = [r["ours_over_gen_local_best"] for r in rows_l if not math.isnan(r["ours_over_gen_local_best"])]
        if ratios:
            print(f"ours / best ECLipsE-Gen-Local: median {med(ratios):.3f}, max {max(ratios):.4f} (n={len(ratios)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="CSV of the global part")
    ap.add_argument("--local-out", default=None, help="CSV of the local part")
    ap.add_argument("--parts", default="global,local")
    ap.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--acts", nargs="+", default=["relu", "tanh"])
    ap.add_argument("--inits", nargs="+", default=["gaussian", "orthogonal"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--gain", type=float, default=1.5)
    ap.add_argument("--iters", type=int, default=30, help="multiplier-descent iterations (cert_iters)")
    ap.add_argument("--sdp-width", type=int, default=16)
    ap.add_argument("--sdp-max-depth", type=int, default=16)
    ap.add_argument("--radii", type=float, nargs="+", default=[1e-4, 0.01, 0.1, 0.5, 2.0])
    args = ap.parse_args(argv)
    try:
        import eclipse_nn  # noqa: F401
    except ImportError:
        print("eclipse-nn is not installed: use a separate venv (see the module docstring)", file=sys.stderr)
        return 1
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    print(f"torch {torch.__version__}, {platform.machine()}, threads={torch.get_num_threads()}, "
          f"load average {os.getloadavg()}", flush=True)
    rows_g, rows_l = [], []
    if "global" in args.parts:
        w, f = _writer(args.out)
        rows_g = global_part(args, w)
        if f:
            f.close()
    if "local" in args.parts:
        w, f = _writer(args.local_out)
        rows_l = local_part(args, w)
        if f:
            f.close()
    summarize(rows_g, rows_l)
    print(f"load average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
