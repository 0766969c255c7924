"""Ground-truth checks of :func:`estimate_lipschitz` (``validate()`` returns ``ValidationRow`` s).

Cases with an exactly known constant:

* linear chains W_i = g Q_i (Q orthogonal): ||J_x|| = g^L and ||J_theta|| = sqrt(L) g^(L-1) ||x||
  (:mod:`ibnorm_verify.theory.capacity`);
* one normalizer after W = g Q, at the inputs: LayerNorm g |gamma| / sqrt(var(Wx) + eps) (the bracket of
  the LayerNorm Jacobian has norm 1, ``docs/papers/capacity.md``), RMSNorm (mean square), GroupNorm
  (the largest group factor), eval BatchNorm g max_c |gamma_c| / sqrt(running_var_c + eps);
* small ReLU networks on 2-D inputs, where the supremum is found by brute force on a grid: the global
  constant of a bias-free net (positively homogeneous, so a grid of 200,000 directions covers every
  linear region of visible width), the constant over a disk of a net with biases (a polar grid of
  the disk), and a disk so small that no ReLU changes sign there (then the certificate must equal
  the Jacobian norm at the centre).

A row passes when lower <= truth (1 + 1e-9) and upper >= truth (1 - 1e-9), plus lower >= 0.99 truth
where the truth is attained at the inputs, and |upper / truth - 1| <= 1e-6 on the small disk.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ibnorm_verify.theory.capacity import linear_chain_input_lipschitz, linear_chain_param_lipschitz

from ...evidence import ValidationRow
from ...models import Block, build_network, calibrate_batchnorm
from .estimate import estimate_lipschitz

__all__ = ["validate", "relu_net_2d", "grid_sup_2d"]

F64 = torch.float64


def relu_net_2d(widths: tuple[int, ...], bias: bool, seed: int) -> nn.Sequential:
    """A small ReLU MLP 2 -> widths -> 1 (Gaussian weights, N(0, 1/fan_in) biases if any), float64."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    dims = (2,) + tuple(widths) + (1,)
    for i in range(len(dims) - 1):
        lin = nn.Linear(dims[i], dims[i + 1], bias=bias, dtype=F64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g, dtype=F64) * math.sqrt(2.0 / dims[i]))
            if bias:
                lin.bias.copy_(torch.randn(lin.bias.shape, generator=g, dtype=F64) * 0.5)
        layers.append(lin)
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


def grid_sup_2d(net: nn.Module, pts: torch.Tensor) -> float:
    """max over the points (M, 2) of ||J(x)||_2 (exact per point: the 2-column Jacobian from two jvps)."""
    best = 0.0
    with torch.no_grad():
        for chunk in pts.split(1 << 16):
            cols = [torch.func.jvp(net, (chunk,), (torch.zeros_like(chunk).index_fill_(1, torch.tensor([k]), 1.0),))[1]
                    for k in range(2)]
            j = torch.stack(cols, dim=-1)                       # (M, out, 2)
            best = max(best, float(torch.linalg.matrix_norm(j, 2).max()))
    return best


def _row(case: str, family: str, est, truth: float, n: int, attained: bool = False,
         exact_upper: bool = False) -> ValidationRow:
    ok = est.lower <= truth * (1 + 1e-9) and est.upper >= truth * (1 - 1e-9)
    crit = "lower <= truth <= upper"
    if attained:
        ok = ok and est.lower >= 0.99 * truth
        crit += ", lower >= 0.99 truth"
    if exact_upper:
        ok = ok and abs(est.upper / truth - 1) <= 1e-6
        crit += ", |upper/truth - 1| <= 1e-6"
    return ValidationRow(estimator="lipschitz", case=case, truth=float(truth), estimate=float(est.lower),
                         passed=bool(ok), criterion=crit, lower=float(est.lower), upper=float(est.upper),
                         family=family, unit="", n=n, details={"gap": est.gap, "region": est.region})


@functools.lru_cache(maxsize=8)
def _validate_cached(seed: int, width: int, n_inputs: int) -> tuple[ValidationRow, ...]:
    gen = torch.Generator().manual_seed(int(seed) + 12345)
    x = torch.randn(n_inputs, width, generator=gen, dtype=F64)
    x = x * (math.sqrt(width) / x.norm(dim=1, keepdim=True))
    rows: list[ValidationRow] = []
    for g, depth in ((1.5, 4), (0.7, 3)):
        m = build_network(depth=depth, width=width, gain=g, seed=seed)
        rows.append(_row(f"linear chain g={g} L={depth} (input)", "linear chain", estimate_lipschitz(m, x),
                         linear_chain_input_lipschitz(g, depth), n_inputs, attained=True, exact_upper=True))
        rows.append(_row(f"linear chain g={g} L={depth} (params)", "linear chain",
                         estimate_lipschitz(m, x, wrt="params"),
                         linear_chain_param_lipschitz(g, depth, math.sqrt(width)), n_inputs, attained=True))
    # single normalizers after W = g Q
    g, gamma = 2.0, 1.5
    for norm, label in (("layer", "LN"), ("rms", "RMS"), ("group", "GN")):
        m = build_network(depth=1, width=width, gain=g, norm=norm, gamma=gamma, seed=seed, groups=2)
        blk = m[0]
        assert isinstance(blk, Block) and isinstance(blk.norm, (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm))
        with torch.no_grad():
            z = blk.layer(x)
        eps = blk.norm.eps if blk.norm.eps is not None else torch.finfo(F64).eps
        zg = z.reshape(n_inputs, 2 if norm == "group" else 1, -1)
        var = zg.var(-1, unbiased=False) if norm != "rms" else zg.pow(2).mean(-1)
        truth = float((g * gamma / torch.sqrt(var + eps)).max())
        rows.append(_row(f"W={g}Q then {label}(gamma={gamma}) (input)", "normalizer", estimate_lipschitz(m, x),
                         truth, n_inputs, attained=True, exact_upper=True))
    m = build_network(depth=1, width=width, gain=g, norm="batch", gamma=gamma, seed=seed)
    calibrate_batchnorm(m, torch.randn(64, width, generator=gen, dtype=F64))
    bn = m[0].norm
    assert isinstance(bn, nn.BatchNorm1d) and bn.running_var is not None
    truth = float(g * gamma / torch.sqrt(bn.running_var + bn.eps).min())
    rows.append(_row(f"W={g}Q then eval BN(gamma={gamma}) (input)", "normalizer", estimate_lipschitz(m, x), truth,
                     n_inputs, attained=True, exact_upper=True))
    # small ReLU nets on 2-D inputs
    net = relu_net_2d((8, 8), bias=False, seed=seed)
    th = torch.linspace(0, 2 * math.pi, 200_001, dtype=F64)[:-1]
    circle = torch.stack([th.cos(), th.sin()], 1)
    x2 = torch.randn(4, 2, generator=gen, dtype=F64)
    rows.append(_row("bias-free ReLU 2-8-8-1, global (200k directions)", "relu 2-D",
                     estimate_lipschitz(net, x2, radius=math.inf), grid_sup_2d(net, circle), 4))
    net = relu_net_2d((8, 8), bias=True, seed=seed + 1)
    c = torch.tensor([[0.3, -0.2]], dtype=F64)
    rad, ang = torch.meshgrid(torch.linspace(0, 1, 301, dtype=F64), th[::500], indexing="ij")
    for r in (0.5, 1e-4):
        disk = c + r * torch.stack([rad * ang.cos(), rad * ang.sin()], -1).reshape(-1, 2)
        truth = grid_sup_2d(net, disk)
        rows.append(_row(f"ReLU 2-8-8-1 with biases, disk r={r:g} (polar grid)", "relu 2-D",
                         estimate_lipschitz(net, c, radius=r), truth, 1, exact_upper=r < 1e-3))
    return tuple(rows)


def validate(seed: int = 0, width: int = 16, n_inputs: int = 8) -> list[ValidationRow]:
    """The ground-truth rows (deterministic, cached); fresh copies each call."""
    return [ValidationRow.from_dict(r.to_dict()) for r in _validate_cached(int(seed), int(width), int(n_inputs))]

