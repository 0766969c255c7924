"""Speed of estimate_lipschitz (lower + upper, wrt inputs) on LayerNorm MLPs (benchmark only).

Target from issue 3: depth 32, width 512, LayerNorm after every layer, 256 inputs, < 30 s on 2 CPU
cores. Also reports the growth with depth and width, and, as a same-run baseline, the cost of one
plain forward pass and of the dense Jacobian route (torch.func.jacrev + svdvals at every input) where
that is affordable.

Usage: ``.venv/bin/python benchmarks/bench_lipschitz.py [--repeats 3] [--quick]``
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz
from ibnorm_verify.verification.models import build_network


def _time(fn, repeats):
    ts = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def bench(depth, width, n, repeats, dtype="float32", dense=False):
    net = build_network(depth=depth, width=width, gain=1.5, norm="ln", activation="relu", seed=0, dtype=dtype)
    x = torch.randn(n, width, dtype=getattr(torch, dtype), generator=torch.Generator().manual_seed(0))
    t_fwd, _ = _time(lambda: net(x), repeats)
    t, est = _time(lambda: estimate_lipschitz(net, x), repeats)
    row = {"depth": depth, "width": width, "n": n, "dtype": dtype, "t_total_s": t,
           "t_lower_s": est.details["t_lower_s"], "t_upper_s": est.details["t_upper_s"],
           "iters": est.details["power_iterations"], "lower": est.lower, "upper": est.upper, "gap": est.gap,
           "t_forward_s": t_fwd}
    if dense:
        def jac_route():
            j = torch.func.vmap(torch.func.jacrev(lambda v: net(v.unsqueeze(0)).squeeze(0)))(x)
            return torch.linalg.matrix_norm(j, 2).max()
        row["t_dense_jacobian_s"], _ = _time(jac_route, 1)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only the target configuration")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}")
    configs = [(32, 512, 256, True)]
    if not args.quick:
        configs += [(8, 512, 256, False), (16, 512, 256, False), (32, 128, 256, True), (32, 256, 256, False)]
    print("depth width n dtype median_total_s lower_s upper_s iters gap forward_s dense_jacobian_s")
    for depth, width, n, dense in configs:
        r = bench(depth, width, n, args.repeats, dense=dense and width <= 128)
        print(r["depth"], r["width"], r["n"], r["dtype"], f"{r['t_total_s']:.2f}", f"{r['t_lower_s']:.2f}",
              f"{r['t_upper_s']:.2f}", r["iters"], f"{r['gap']:.3g}", f"{r['t_forward_s']:.4f}",
              f"{r.get('t_dense_jacobian_s', float('nan')):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
