"""Cross-check of the numpy port of the 40 "Beyond Normal" tasks against bmi itself (never required).

Step 1, in a separate venv with ``pip install "jax==0.4.33" "jaxlib==0.4.33" benchmark-mi`` (bmi breaks
with jax >= 0.4.34): dump bmi's ground truth and one sample (n, seed) of each task::

    /work/venv-bmi/bin/python benchmarks/crosscheck_mi_bmi.py dump --dir /tmp/bmi --n 5000 --seed 0

Step 2, in the project venv: compare task ids and ground truth, and KSG (k = 5, copula) on bmi's samples
against KSG on the port's samples (same n and seed; the draws differ, so the KSG difference is sampling
noise of a few hundredths)::

    .venv/bin/python benchmarks/crosscheck_mi_bmi.py compare --dir /tmp/bmi --n 5000 --seed 0
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np


def dump(directory: str, n: int, seed: int) -> None:
    from bmi.benchmark.task_list import BENCHMARK_TASKS_LIST  # the bmi venv only

    os.makedirs(directory, exist_ok=True)
    truth = {}
    for t in BENCHMARK_TASKS_LIST:
        x, y = t.sample(n, seed=seed)
        truth[t.id] = float(t.mutual_information)
        np.savez_compressed(os.path.join(directory, f"{t.id}.npz"), x=np.asarray(x), y=np.asarray(y))
    with open(os.path.join(directory, "truth.json"), "w") as fh:
        json.dump(truth, fh, indent=1)


def compare(directory: str, n: int, seed: int) -> None:
    import torch

    from ibnorm_verify.verification.estimators.information import BENCHMARK_TASKS, mutual_information

    torch.set_num_threads(1)
    with open(os.path.join(directory, "truth.json")) as fh:
        truth = json.load(fh)
    ours = {t.name: t for t in BENCHMARK_TASKS}
    if set(truth) != set(ours):
        raise SystemExit(f"task ids differ: {sorted(set(truth) ^ set(ours))}")
    print("| task | bmi truth | port truth | KSG on bmi sample | KSG on port sample | difference |")
    print("|---|---|---|---|---|---|")
    dt, dk = [], []
    for name, t in ours.items():
        d = np.load(os.path.join(directory, f"{name}.npz"))
        kb = mutual_information(d["x"], d["y"], method="ksg", uncertainty="none").value
        x, y = t.sample(n, seed=seed)
        ko = mutual_information(x, y, method="ksg", uncertainty="none").value
        dt.append(abs(truth[name] - t.mutual_information))
        dk.append(ko - kb)
        print(f"| {name} | {truth[name]:.4f} | {t.mutual_information:.4f} | {kb:.3f} | {ko:.3f} | {ko - kb:+.3f} |",
              flush=True)
    print(f"\nmax |truth difference| {max(dt):.1e}; KSG port - bmi: mean {np.mean(dk):+.4f}, "
          f"mean |.| {np.mean(np.abs(dk)):.4f}, max |.| {np.max(np.abs(dk)):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["dump", "compare"])
    ap.add_argument("--dir", default="/tmp/bmi")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    (dump if a.step == "dump" else compare)(a.dir, a.n, a.seed)


if __name__ == "__main__":
    main()
