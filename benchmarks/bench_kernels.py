"""Benchmark of the fused row-wise IBNorm . Not a test: results go to docs/benchmarks/kernels.md.

CPU (always): forward+backward on an (M, N) fp32 tensor (default 4096 x 1024) of
  * native ``F.layer_norm`` (the baseline of the "within 2x" goal) and ``F.rms_norm``;
  * IBNorm through the ``cpu`` backend (the C kernel; ``ibnorm.kernels.cpu_rowwise``) and the ``torch``
    backend (hand-derived backward in torch ops; ``ibnorm.kernels.torch_rowwise``);
  * the eager composite ``ibnorm.functional.ib_standardize`` + affine (autograd).
  All candidates are timed in the same run, interleaved round by round (the machine is shared), and
  the medians and median ratios are reported.

GPU (only when CUDA is available): ``triton.testing.do_bench`` of forward+backward for bf16 and fp32,
hidden sizes 1024..16384 and 4096..32768 rows: the Triton kernel, the eager composite, ``torch.compile``
of the composite, ``nn.LayerNorm``, ``nn.RMSNorm`` and a device copy (the bandwidth ceiling), with GB/s
(bytes moved by an ideal fused fwd+bwd: read x, write y; read x and dy, write dx = 5 M N elements),
ratios, and the peak memory of each against LayerNorm.

Usage::

    .venv/bin/python benchmarks/bench_kernels.py                  # CPU section (and GPU if present)
    .venv/bin/python benchmarks/bench_kernels.py --threads 1 --reps 15 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

import torch
import torch.nn.functional as F

from ibnorm.functional import ib_layer_norm, ib_rms_norm, ib_standardize

COMPRESSIONS = ("tanh", "log", "root", "softsign")
#: lam per compression in the CPU section; root is timed at lam = 2 (the C kernel's square-root path) and
#: at lam = 1.7 (its general power path).
LAMS = {"tanh": (1.0,), "log": (1.0,), "root": (2.0, 1.7), "softsign": (1.0,)}


# ----------------------------------------------------------------------------------------------- CPU

def _cpu_candidates(m: int, n: int, comps: tuple[str, ...], backends: tuple[str, ...]):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(m, n, generator=g).requires_grad_()
    w = (1 + 0.1 * torch.randn(n, generator=g)).requires_grad_()
    b = (0.1 * torch.randn(n, generator=g)).requires_grad_()
    dy = torch.randn(m, n, generator=g)

    def step(fn):
        def run():
            x.grad = w.grad = b.grad = None
            fn().backward(dy)
        return run

    cands = {
        "F.layer_norm": step(lambda: F.layer_norm(x, (n,), w, b, 1e-5)),
        "F.rms_norm": step(lambda: F.rms_norm(x, (n,), w, 1e-5)),
    }
    for c in comps:
        for lam in LAMS[c]:
            for be in backends:
                cands[f"ib_layer_norm[{c}, lam={lam:g}] {be}"] = step(
                    lambda c=c, lam=lam, be=be: ib_layer_norm(x, n, w, b, 1e-5, compression=c, lam=lam, backend=be))
    for be in backends:
        cands[f"ib_rms_norm[tanh] {be}"] = step(
            lambda be=be: ib_rms_norm(x, n, w, 1e-5, compression="tanh", backend=be))
    cands["composite[tanh] eager"] = step(
        lambda: ib_standardize(x, (-1,), center=True, compression="tanh", lam=1.0, eps=1e-5) * w + b)
    return cands


def bench_cpu(m: int, n: int, reps: int, comps: tuple[str, ...], backends: tuple[str, ...]) -> dict:
    cands = _cpu_candidates(m, n, comps, backends)
    for f in cands.values():  # warm-up
        f()
    times = {k: [] for k in cands}
    for _ in range(reps):  # interleaved rounds: every candidate sees the same machine load
        for k, f in cands.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    base = times["F.layer_norm"]
    rows = []
    for k, ts in times.items():
        ratios = [t / b0 for t, b0 in zip(ts, base)]
        rows.append({"name": k, "median_ms": 1e3 * statistics.median(ts), "min_ms": 1e3 * min(ts),
                     "ratio_vs_layer_norm": statistics.median(ratios)})
    return {"shape": [m, n], "dtype": "float32", "threads": torch.get_num_threads(), "reps": reps, "rows": rows}


# ----------------------------------------------------------------------------------------------- GPU

def bench_gpu(dtypes, hiddens, rows_list, max_elems: int) -> list[dict]:  # pragma: no cover - needs CUDA
    import triton.testing

    out = []
    compiled = torch.compile(lambda x, w, b: ib_standardize(x, (-1,), center=True, compression="tanh", lam=1.0,
                                                            eps=1e-5) * w + b)
    for dtype in dtypes:
        for n in hiddens:
            for m in rows_list:
                if m * n > max_elems:
                    continue
                x = torch.randn(m, n, device="cuda", dtype=dtype, requires_grad=True)
                w = torch.ones(n, device="cuda", dtype=dtype, requires_grad=True)
                b = torch.zeros(n, device="cuda", dtype=dtype, requires_grad=True)
                dy = torch.randn(m, n, device="cuda", dtype=dtype)
                ln = torch.nn.LayerNorm(n, device="cuda", dtype=dtype)
                rms = torch.nn.RMSNorm(n, device="cuda", dtype=dtype)
                fns = {
                    "ib triton": lambda: ib_layer_norm(x, n, w, b, compression="tanh", backend="triton"),
                    "ib_rms triton": lambda: ib_rms_norm(x, n, w, compression="tanh", backend="triton"),
                    "composite eager": lambda: ib_standardize(x, (-1,), center=True, compression="tanh",
                                                              lam=1.0, eps=1e-5) * w + b,
                    "composite compiled": lambda: compiled(x, w, b),
                    "nn.LayerNorm": lambda: ln(x),
                    "nn.RMSNorm": lambda: rms(x),
                }
                bytes_fb = 5 * m * n * x.element_size()
                res = {"dtype": str(dtype), "rows": m, "hidden": n}
                dst = torch.empty_like(x)
                ms_copy = triton.testing.do_bench(lambda: dst.copy_(x))
                res["copy GB/s"] = 2 * m * n * x.element_size() / ms_copy / 1e6
                for name, f in fns.items():
                    def fb(f=f):
                        x.grad = w.grad = b.grad = None
                        f().backward(dy)
                    fb()
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    base_mem = torch.cuda.memory_allocated()
                    fb()
                    torch.cuda.synchronize()
                    peak = torch.cuda.max_memory_allocated() - base_mem
                    ms = triton.testing.do_bench(fb, grad_to_none=[x, w, b])
                    res[f"{name} ms"] = ms
                    res[f"{name} GB/s"] = bytes_fb / ms / 1e6
                    res[f"{name} peak MiB"] = peak / 2**20
                res["ib triton / copy bw"] = res["ib triton GB/s"] / res["copy GB/s"]
                for ref in ("composite eager", "composite compiled", "nn.LayerNorm", "nn.RMSNorm"):
                    res[f"speedup vs {ref}"] = res[f"{ref} ms"] / res["ib triton ms"]
                out.append(res)
                print(json.dumps(res))
    return out


# ---------------------------------------------------------------------------------------------- main

def _fmt_cpu(res: dict) -> str:
    lines = [f"shape {res['shape']} {res['dtype']}, {res['threads']} thread(s), {res['reps']} interleaved rounds",
             "", "| candidate (fwd+bwd) | median ms | min ms | median ratio vs F.layer_norm |", "|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['name']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['ratio_vs_layer_norm']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--compressions", default="tanh", help="comma list of compressions for the CPU section")
    ap.add_argument("--backends", default="cpu,torch", help="comma list of IBNorm backends for the CPU section")
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--gpu-max-elems", type=int, default=2**28)
    ap.add_argument("--json", default=None, help="write all results to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from ibnorm.kernels import cpu_rowwise

    meta = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
            "cpu_kernel": str(cpu_rowwise.library_path()), "cpu_kernel_status": cpu_rowwise.status()[1] or "built",
            "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "loadavg_before": os.getloadavg()}
    unknown = set(args.compressions.split(",")) - set(COMPRESSIONS)
    if unknown:
        ap.error(f"unknown compression(s) {sorted(unknown)}; choose from {COMPRESSIONS}")
    cpu = bench_cpu(args.rows, args.hidden, args.reps, tuple(args.compressions.split(",")),
                    tuple(args.backends.split(",")))
    meta["loadavg_after"] = os.getloadavg()
    print(json.dumps(meta))
    print(_fmt_cpu(cpu))
    gpu = None
    if torch.cuda.is_available() and not args.no_gpu:  # pragma: no cover - needs CUDA
        import triton

        meta.update(gpu=torch.cuda.get_device_name(), triton=triton.__version__, cuda=torch.version.cuda)
        gpu = bench_gpu((torch.bfloat16, torch.float32), (1024, 2048, 4096, 8192, 16384), (4096, 8192, 32768),
                        args.gpu_max_elems)
    else:
        print("no CUDA device: GPU section not run")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "cpu": cpu, "gpu": gpu}, fh, indent=1)


if __name__ == "__main__":
    main()
