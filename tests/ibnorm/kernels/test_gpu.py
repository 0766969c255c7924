"""Compiled (not interpreted) Triton kernels on a CUDA device; skipped without one.

Runs in a subprocess with ``TRITON_INTERPRET=0`` because this test directory's conftest turns the
interpreter on for the process. Checks forward and all gradients against the fp64 composite with the
flash-attn rule, and the fp32 relative rule against the torch backend, on odd sizes, fp32 and bf16.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SCRIPT = textwrap.dedent("""
    import itertools, sys, torch
    sys.path.insert(0, {here!r})
    from _kernel_cases import COMPS, LAMS, ORDERS, composite_fn, kernel_fn, make_inputs, max_err, rel_err, run
    from ibnorm.kernels import select_backend
    from ibnorm.compression import get_compression
    assert select_backend("auto", torch.randn(2, 8, device="cuda"), 8, get_compression("tanh")) == "triton"
    bad = []
    for n, comp, center, order, dtype in itertools.product((1, 7, 129, 1000, 4099), COMPS, (True, False),
                                                           ORDERS, (torch.float32, torch.bfloat16)):
        x, dy, w, b = [None if t is None else t.cuda() for t in make_inputs((64, n), n, True, dtype, n)]
        lam = LAMS[comp]
        tri = run(kernel_fn("triton", comp, lam, center, order), x, dy, w, b)
        tor = run(kernel_fn("torch", comp, lam, center, order), x, dy, w, b)
        same = run(composite_fn(comp, lam, center, order), x, dy, w, b)
        ref = run(composite_fn(comp, lam, center, order), x.double(), dy.double(), w.double(), b.double())
        for name, k, t, s, r in zip(("y", "dx", "dw", "db"), tri, tor, same, ref):
            ok = max_err(k, r) <= 2 * max(max_err(s, r) if rel_err(s, r) < 1e-5 or dtype != torch.float32
                                          else max_err(t, r), 0) + 4 * torch.finfo(dtype).eps * r.abs().max().item()
            if dtype == torch.float32 and rel_err(s, r) < 1e-5:
                ok = ok and rel_err(k, t) < 1e-4
            if not ok:
                bad.append((n, comp, center, order, str(dtype), name, max_err(k, r), max_err(s, r)))
    print(bad)
    sys.exit(1 if bad else 0)
""")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_kernels_on_gpu():
    env = dict(os.environ, TRITON_INTERPRET="0")
    here = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(here=here)], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
