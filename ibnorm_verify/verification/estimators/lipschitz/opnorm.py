"""Certified operator norms (l2 -> l2) of the linear maps in a network.

* Dense weights: the largest singular value, ``torch.linalg.svdvals`` in float64 (exact up to rounding).
* Convolutions (1-D and 2-D, any stride, padding, dilation and groups): the method of Sedghi, Gupta &
  Long 2019 ("The singular values of convolutional layers", arXiv 1805.10408). A circular convolution
  on an n-grid is diagonalized by the DFT: its singular values are those of the (out x in) matrices
  K_hat(w) of the kernel's DFT at each frequency w, so ``max_w ||K_hat(w)||`` is its exact norm. A
  zero-padded convolution is the restriction of the circular one on the padded grid (n + 2p, which
  never wraps a window), hence bounded by it; reflect/replicate padding first applies a padding
  operator that copies each input entry at most c times, so its norm is at most sqrt(c) (c from the
  padding widths, per dim, multiplied). A stride s keeps every
  s-th output: a coordinate restriction, norm <= 1, so the stride-1 bound holds (exact for 1x1
  kernels). Groups make K_hat block-diagonal; the same formula applies.
* Nonnegative linear maps (average pooling, means, sums): the Schur test
  ||A||_2 <= sqrt(||A||_1 ||A||_inf) with the row and column sums read off A 1 and A^T 1.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["operator_norm", "conv_operator_norm", "conv_norm_bound", "schur_bound", "dense_norm"]


def operator_norm(w: Tensor) -> float:
    """Exact spectral norm of a dense weight (out, in): largest singular value in float64."""
    w = w.detach().to(torch.float64)
    if w.numel() == 0:
        return 0.0
    return float(torch.linalg.svdvals(w.reshape(w.shape[0], -1))[0])


def dense_norm(a: Tensor) -> float:
    """Largest singular value of a dense matrix (float64); 0 for an empty one."""
    if a.numel() == 0:
        return 0.0
    return float(torch.linalg.svdvals(a.to(torch.float64))[0])


def conv_norm_bound(weight: Tensor, spatial: tuple[int, ...], padding: tuple[int, ...], stride: tuple[int, ...],
                    dilation: tuple[int, ...], groups: int, padding_mode: str) -> tuple[float, bool]:
    """(bound, exact) on the operator norm of a 1-D/2-D convolution of an input of size ``spatial``.

    ``exact`` is True for circular 'same' padding with stride 1 (the Sedghi et al. value itself).
    ``padding`` is the per-side padding (already resolved from 'same'/'valid').
    """
    k = weight.detach().to(torch.float64)                     # (out, in/groups, *kernel)
    nd = k.dim() - 2
    out_c, in_g = k.shape[0], k.shape[1]
    kernel = tuple(k.shape[2:])
    # dilated kernel: taps at multiples of the dilation
    span = tuple(d * (s - 1) + 1 for d, s in zip(dilation, kernel))
    if any(d != 1 for d in dilation):
        kd = torch.zeros((out_c, in_g) + span, dtype=torch.float64)
        idx = (slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)
        kd[idx] = k
        k = kd
    if padding_mode == "circular":
        grid = tuple(spatial)
        exact = all(2 * p == s - 1 for p, s in zip(padding, span)) and all(s == 1 for s in stride)
        factor = 1.0
    else:
        grid = tuple(n + 2 * p for n, p in zip(spatial, padding))
        exact = False
        factor = 1.0
        if padding_mode in ("reflect", "replicate"):
            # the padding operator copies each entry at most 1 + (copies on each side) times per dim
            for n, p in zip(spatial, padding):
                copies = 1 + 2 * math.ceil(p / max(n, 1)) if padding_mode == "reflect" else 1 + 2 * p
                factor *= copies
            factor = math.sqrt(factor)
        elif padding_mode != "zeros":
            return math.inf, False
    if any(g < s for g, s in zip(grid, span)):
        # the kernel is wider than the padded input: embed in a grid large enough not to wrap
        grid = tuple(max(g, s) for g, s in zip(grid, span))
        exact = False
    kf = torch.fft.fftn(k, s=grid, dim=tuple(range(2, 2 + nd)))      # (out, in/g, *grid)
    kf = kf.permute(*range(2, 2 + nd), 0, 1).reshape(-1, out_c, in_g)  # (freqs, out, in/g)
    og = out_c // groups
    best = 0.0
    for g in range(groups):
        blk = kf[:, g * og:(g + 1) * og, :]
        best = max(best, float(torch.linalg.svdvals(blk).max()))
    return best * factor, exact and factor == 1.0


def conv_operator_norm(conv: nn.Module, spatial: tuple[int, ...]) -> tuple[float, str]:
    """Norm of an ``nn.Conv1d``/``nn.Conv2d`` on an input of spatial size ``spatial``: (value, reason).

    The value is exact for circular 'same' padding with stride 1 and a sound upper bound otherwise
    (see the module docstring); reason is "" unless the configuration is not covered (value inf).
    """
    if not isinstance(conv, (nn.Conv1d, nn.Conv2d)):
        return math.inf, f"{type(conv).__name__}: only Conv1d/Conv2d are certified"
    nd = conv.weight.dim() - 2
    padding = _resolve_padding(conv.padding, conv.kernel_size, conv.dilation, nd)
    val, _ = conv_norm_bound(conv.weight, tuple(spatial), padding, tuple(conv.stride), tuple(conv.dilation),
                             conv.groups, conv.padding_mode)
    if not math.isfinite(val):
        return math.inf, f"conv {conv}: padding mode {conv.padding_mode!r} is not certified"
    return val, ""


def _resolve_padding(padding, kernel, dilation, nd: int) -> tuple[int, ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * nd
        # 'same' (stride 1): total padding d*(k-1); torch puts the extra one on the right
        return tuple((d * (k - 1) + 1) // 2 for d, k in zip(dilation, kernel))
    return tuple(int(p) for p in padding)


def schur_bound(row_sums: Tensor, col_sums: Tensor) -> float:
    """Schur test for a matrix with nonnegative entries: ||A||_2 <= sqrt(max row sum * max column sum)."""
    r = float(row_sums.abs().max()) if row_sums.numel() else 0.0
    c = float(col_sums.abs().max()) if col_sums.numel() else 0.0
    return math.sqrt(r * c)
