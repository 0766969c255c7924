"""Benchmark: MI estimators on the 40 "Beyond Normal" tasks (Czyz et al., NeurIPS 2023), accuracy and cost.

Runs every method on every task and seed (``--n`` samples), appending one JSON line per estimate to
``--out`` (value, truth, route, wall and process-CPU seconds), then prints the table of
``docs/benchmarks/information.md``: per family the mean and worst absolute error of the seed-averaged
estimate, overall, and the median time per estimate. ``--labels`` runs the label methods on the label
tasks; ``--bands`` prints the bias-band table for ``estimators/information/bias_bands.py``; ``--speed``
the KSG speed grid (n, dimension; brute vs kd-tree).

    .venv/bin/python benchmarks/bench_mi.py --methods ksg,gaussian_copula,auto --seeds 0,1,2 --out mi.jsonl
    .venv/bin/python benchmarks/bench_mi.py --table mi.jsonl
    .venv/bin/python benchmarks/bench_mi.py --labels --out mi_labels.jsonl
    .venv/bin/python benchmarks/bench_mi.py --bands mi.jsonl mi_labels.jsonl
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import defaultdict

import numpy as np
import torch

from ibnorm_verify.verification.estimators.information import (
    BENCHMARK_FAMILIES,
    BENCHMARK_TASKS,
    FUNCTION_LABEL_TASKS,
    LABEL_TASKS,
    mutual_information,
    task_by_name,
)

#: dx + dy buckets of the bias bands
BUCKETS = (2, 4, 6, 10, 50, 100)


def run(methods: list[str], tasks, n: int, seeds: list[int], out: str) -> None:
    """Appends to ``out``; (method, task, seed, n) already there are skipped (a run can be resumed)."""
    try:
        done = {(r["method"], r["task"], r["seed"], r["n"]) for r in load([out])}
    except FileNotFoundError:
        done = set()
    with open(out, "a") as fh:
        for task in tasks:
            for seed in seeds:
                x, y = task.sample(n, seed=seed)
                for m in methods:
                    if (m, task.name, seed, n) in done:
                        continue
                    t0, c0 = time.perf_counter(), time.process_time()
                    try:
                        r = mutual_information(x, y, method=m, uncertainty="none", seed=seed)
                        rec = {"value": r.value, "picked": r.picked, "notes": list(r.notes)}
                    except ValueError as e:       # an estimator that refuses is recorded, not hidden
                        rec = {"value": None, "error": f"{type(e).__name__}: {e}"}
                    rec.update(method=m, task=task.name, family=task.family, dx=task.dim_x, dy=task.dim_y,
                               truth=task.mutual_information, seed=seed, n=n,
                               wall=time.perf_counter() - t0, cpu=time.process_time() - c0)
                    fh.write(json.dumps(rec) + "\n")
                    fh.flush()
                    print(f"{m:16s} {task.name[:48]:48s} seed {seed} "
                          f"{rec['value'] if rec['value'] is None else round(rec['value'], 3)} "
                          f"(true {task.mutual_information:.3f}) {rec['wall']:.1f}s", flush=True)


def load(paths: list[str]) -> list[dict]:
    recs = []
    for p in paths:
        with open(p) as fh:
            recs.extend(json.loads(line) for line in fh if line.strip())
    return recs


def task_errors(recs: list[dict]) -> dict:
    """(method, task) -> {"err": seed-mean estimate - truth, "family", "dx", "dy", "walls", "failed"}."""
    by = defaultdict(list)
    for r in recs:
        by[(r["method"], r["task"])].append(r)
    out = {}
    for key, rs in by.items():
        vals = [r["value"] for r in rs if r["value"] is not None]
        out[key] = {"err": (float(np.mean(vals)) - rs[0]["truth"]) if vals else None, "family": rs[0]["family"],
                    "dx": rs[0]["dx"], "dy": rs[0]["dy"], "walls": [r["wall"] for r in rs],
                    "cpus": [r["cpu"] for r in rs], "failed": len(rs) - len(vals), "seeds": len(rs)}
    return out


def table(recs: list[dict]) -> str:
    errs = task_errors(recs)
    methods = list(dict.fromkeys(r["method"] for r in recs))
    families = [f for f in BENCHMARK_FAMILIES if any(v["family"] == f for v in errs.values())]
    families += sorted({v["family"] for v in errs.values()} - set(families))
    head = "| family | tasks | " + " | ".join(f"{m} mean / worst" for m in methods) + " |"
    lines = [head, "|" + "---|" * (2 + len(methods))]

    def cell(sel):
        e = [abs(v["err"]) for v in sel if v["err"] is not None]
        failed = sum(v["failed"] for v in sel)
        s = f"{np.mean(e):.3f} / {np.max(e):.3f}" if e else "-"
        return s + (f" ({failed} refused)" if failed else "")
    for fam in families:
        ntask = len({k[1] for k, v in errs.items() if v["family"] == fam})
        lines.append(f"| {fam} | {ntask} | " + " | ".join(
            cell([v for k, v in errs.items() if k[0] == m and v["family"] == fam]) for m in methods) + " |")
    ntask = len({k[1] for k in errs})
    lines.append(f"| **all** | {ntask} | " + " | ".join(
        f"**{cell([v for k, v in errs.items() if k[0] == m])}**" for m in methods) + " |")
    lines.append("| median wall / CPU s per estimate | | " + " | ".join(
        f"{statistics.median([w for k, v in errs.items() if k[0] == m for w in v['walls']]):.2f} / "
        f"{statistics.median([c for k, v in errs.items() if k[0] == m for c in v['cpus']]):.2f}"
        for m in methods) + " |")
    return "\n".join(lines)


def per_task(recs: list[dict]) -> str:
    errs = task_errors(recs)
    methods = list(dict.fromkeys(r["method"] for r in recs))
    order = {t.name: i for i, t in enumerate(BENCHMARK_TASKS + LABEL_TASKS + FUNCTION_LABEL_TASKS)}
    tasks = sorted(dict.fromkeys(r["task"] for r in recs), key=lambda t: order.get(t, len(order)))
    truth = {r["task"]: r["truth"] for r in recs}
    routes = defaultdict(set)
    for r in recs:
        if r.get("picked"):
            routes[(r["method"], r["task"])].add(r["picked"])
    lines = ["| task | true | " + " | ".join(f"{m} error" for m in methods) + " | auto route |",
             "|" + "---|" * (3 + len(methods))]
    for t in tasks:
        cells = []
        for m in methods:
            v = errs.get((m, t))
            cells.append("-" if v is None or v["err"] is None else f"{v['err']:+.3f}")
        lines.append(f"| {t} | {truth[t]:.3f} | " + " | ".join(cells) + " | "
                     + ", ".join(sorted(routes.get(("auto", t), []))) + " |")
    return "\n".join(lines)


def bands(recs: list[dict]) -> str:
    """BIAS_BANDS: per resolved route (ksg, hybrid, gaussian_copula, ...), the worst |seed-mean error|
    over the tasks of each dx + dy bucket; ``auto`` records count for the route they took."""
    worst: dict[str, dict[int, float]] = defaultdict(dict)
    errs = defaultdict(list)
    for r in recs:
        if r["value"] is None:
            continue
        route = r["method"]
        if route == "auto":
            route = r["picked"].split(":")[0]
        errs[(route, r["task"])].append((r["value"], r["truth"], r["dx"] + r["dy"]))
    for (route, _), vs in errs.items():
        err = abs(np.mean([v for v, _, _ in vs]) - vs[0][1])
        d = vs[0][2]
        top = next((b for b in BUCKETS if d <= b), BUCKETS[-1])
        worst[route][top] = max(worst[route].get(top, 0.0), float(err))
    lines = ["BIAS_BANDS: dict[str, tuple[tuple[int, float], ...]] = {"]
    for route in sorted(worst):
        items = ", ".join(f"({b}, {worst[route][b]:.3f})" for b in sorted(worst[route]))
        lines.append(f'    "{route}": ({items},),')
    lines.append("}")
    return "\n".join(lines)


def speed(repeats: int) -> None:
    print("| n | dim | algorithm | wall median (s) | CPU median (s) | estimate | true |")
    print("|---|---|---|---|---|---|---|")
    for n, d in [(2500, 10), (5000, 10), (10000, 10), (10000, 1), (10000, 3), (10000, 5), (10000, 20)]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, d))
        y = 0.6 * x + 0.8 * rng.standard_normal((n, d))
        for alg in ("brute", "kdtree") if (d <= 3 or n <= 2500) else ("brute",):
            walls, cpus, val = [], [], None
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                val = mutual_information(x, y, method="ksg", algorithm=alg, uncertainty="none").value
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            print(f"| {n} | {d}+{d} | {alg} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
                  f"{val:.3f} | {-d / 2 * np.log(1 - 0.36):.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="ksg,gaussian_copula,auto")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all 40)")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="mi_benchmark.jsonl")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--labels", action="store_true", help="label methods on the label tasks")
    ap.add_argument("--table", nargs="+", metavar="JSONL")
    ap.add_argument("--bands", nargs="+", metavar="JSONL")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.table:
        recs = load(args.table)
        print(table(recs) + "\n\n" + per_task(recs))
        return
    if args.bands:
        print(bands(load(args.bands)))
        return
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}; "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    if args.speed:
        speed(args.repeats)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.labels:
        run(["auto", "mixed_ksg", "classifier"], LABEL_TASKS + FUNCTION_LABEL_TASKS, args.n, seeds, args.out)
        return
    tasks = [task_by_name(t) for t in args.tasks.split(",")] if args.tasks else BENCHMARK_TASKS
    run(args.methods.split(","), tasks, args.n, seeds, args.out)


if __name__ == "__main__":
    main()
