"""Benchmark: KSG mutual-information estimator time vs n and dimension (issue 4, section 6).

Target: KSG on 10,000 samples of a (10+10)-dimensional pair in under 5 s on 2 cores. Compares the
default brute-force torch path (``algorithm="brute"``) with the scipy cKDTree path
(``algorithm="kdtree"``) in the same run. Reports wall and process-CPU medians over ``--repeats``.

    .venv/bin/python benchmarks/bench_mi.py                 # full grid
    .venv/bin/python benchmarks/bench_mi.py --quick         # n=10000, 10+10 only
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from ibnorm_verify.verification.estimators.information import mutual_information


def _pair(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, 0.6 * x + 0.8 * rng.standard_normal((n, d))


def time_one(n: int, d: int, algorithm: str, repeats: int) -> dict:
    x, y = _pair(n, d)
    walls, cpus, val = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        val = mutual_information(x, y, method="ksg", algorithm=algorithm, uncertainty="none").value
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    true = -d / 2 * np.log(1 - 0.6 ** 2)
    return {"n": n, "dim": f"{d}+{d}", "algorithm": algorithm, "wall_median_s": statistics.median(walls),
            "cpu_median_s": statistics.median(cpus), "estimate": val, "true": true}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    grid = [(10000, 10)] if args.quick else [(2500, 10), (5000, 10), (10000, 10), (10000, 1), (10000, 3),
                                             (10000, 5), (10000, 20)]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}; "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| n | dim | algorithm | wall median (s) | CPU median (s) | estimate | true |")
    print("|---|---|---|---|---|---|---|")
    for n, d in grid:
        # the kd-tree baseline degrades badly with dimension: time it where it finishes (d <= 3 or n <= 2500)
        for alg in ("brute", "kdtree") if (d <= 3 or n <= 2500) else ("brute",):
            r = time_one(n, d, alg, args.repeats)
            print(f"| {r['n']} | {r['dim']} | {alg} | {r['wall_median_s']:.2f} | {r['cpu_median_s']:.2f} | "
                  f"{r['estimate']:.3f} | {r['true']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
