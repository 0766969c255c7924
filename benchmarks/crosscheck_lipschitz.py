"""Cross-check of the certified upper bound against ECLipsE-Fast (benchmark only, not a test).

ECLipsE-Fast (Xu & Sivaranjani, NeurIPS 2024, ``pip install eclipse-nn``) certifies a *global*
Lipschitz upper bound of an MLP x -> W_L s(... s(W_1 x)) with slope-restricted activations (slopes in
[0, 1] for ReLU / tanh) by a sequence of small SDP-like closed-form steps. Our upper bound for an
unnormalized MLP is the product of exact spectral norms (also global), so the ratio ours / ECLipsE
measures what the layer-wise product gives up; our attained lower bound at random inputs shows how
much room is left. Normalized nets are outside ECLipsE's model class.

Usage: ``.venv/bin/python benchmarks/crosscheck_lipschitz.py [--out docs/benchmarks/lipschitz_crosscheck.csv]``
"""
from __future__ import annotations

import argparse
import csv
import sys
import time

import torch

from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz
from ibnorm_verify.verification.models import build_network


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        from eclipse_nn import ECLipsE_Fast
    except ImportError:
        print("eclipse-nn is not installed (benchmark-only: .venv/bin/pip install eclipse-nn)", file=sys.stderr)
        return 1
    torch.set_num_threads(2)
    rows = []
    for act in ("relu", "tanh"):
        for init in ("orthogonal", "gaussian"):
            for depth, width in ((3, 16), (5, 32), (8, 64)):
                for seed in range(args.seeds):
                    net = build_network(depth=depth, width=width, gain=1.5, activation=act, init=init, seed=seed)
                    x = torch.randn(64, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
                    t0 = time.perf_counter()
                    est = estimate_lipschitz(net, x)
                    t_ours = time.perf_counter() - t0
                    weights = [b.layer.weight.detach().to(torch.float64) for b in net]
                    t0 = time.perf_counter()
                    ecl = float(ECLipsE_Fast(weights, [0.0] * (depth - 1), [1.0] * (depth - 1)))
                    t_ecl = time.perf_counter() - t0
                    rows.append({"activation": act, "init": init, "depth": depth, "width": width, "seed": seed,
                                 "ours_upper": est.upper, "ours_lower": est.lower, "eclipse_fast": ecl,
                                 "upper_over_eclipse": est.upper / ecl, "lower_over_eclipse": est.lower / ecl,
                                 "t_ours_s": t_ours, "t_eclipse_s": t_ecl})
                    r = rows[-1]
                    print(f"{act:5s} {init:10s} L={depth} d={width} s={seed}: upper/ECLipsE={r['upper_over_eclipse']:.3f} "
                          f"lower/ECLipsE={r['lower_over_eclipse']:.3f}")
    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    # summary: medians per (activation, init, depth)
    import statistics as st
    print("\nactivation init depth width median(upper/ECLipsE) median(lower/ECLipsE)")
    keys = sorted({(r["activation"], r["init"], r["depth"], r["width"]) for r in rows})
    for k in keys:
        sel = [r for r in rows if (r["activation"], r["init"], r["depth"], r["width"]) == k]
        print(*k, f"{st.median(r['upper_over_eclipse'] for r in sel):.3f}",
              f"{st.median(r['lower_over_eclipse'] for r in sel):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
