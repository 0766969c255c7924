"""Attained lower and certified upper bounds on local Lipschitz constants (input or parameters).

The quantity (``shared/papers/capacity.md`` section 1: local Lipschitz constant = sup of the Jacobian
operator norm over a neighbourhood) is, for a network f and a region R,

    Lip_R = sup_{x in R} ||J(x)||_2,      R = union of closed balls B(x_n, r) around the inputs x_n
                                          (r = 0: the inputs themselves)

with J = df/dx (``wrt="input"``) or J = df/dtheta at the current parameters and fixed x
(``wrt="params"``, all parameters flattened, r must be 0). ``estimate_lipschitz`` returns

* ``lower``: attained. Batched power iteration on J^T J (``torch.func`` jvp/vjp) at every input; each
  iterate gives ||J(x) v|| with ||v|| = 1, a value of the Jacobian norm's lower side at a point of R;
  for r > 0, projected gradient ascent of ||J(x) v||^2 inside each ball from the best inputs. The
  witness (x, v) is returned; the value is never below the best power-iteration value at the inputs.
* ``upper``: certified on R, for networks built by :func:`ibnorm_verify.verification.models.build_network`
  (an ``nn.Sequential`` of :class:`~ibnorm_verify.verification.models.Block`). Chain rule, per input x_n:

      ||J(x)|| <= prod_blocks (residual ? 1 : 0) + ||W_i||_2 * c_i * a_i        for every x in B(x_n, r)

  - ||W_i||_2 exact: SVD (``torch.linalg.svdvals`` in float64) for dense layers; for stride-1 convs
    the FFT method of Sedghi, Gupta & Long 2019 ("The singular values of convolutional layers",
    arXiv 1805.10408): the max over frequencies of the singular values of the DFT of the kernel
    (exact for circular padding; for zero padding an upper bound on the padded grid).
  - a_i = 1 for identity / ReLU / tanh.
  - c_i, the normalizer factor, from :func:`ibnorm_verify.theory.capacity.normalizer_local_factor`:
    max|gamma| * s / sqrt(var_min + eps), with s = sup|f'| of the IBNorm compression (1 for the plain
    normalizers) and var_min a certified lower bound on the variance (LN/GN: centered; RMS: mean
    square) of the standardized quantity w (w = f(z - mean z) for compress-first IBNorm, else z) over
    the region. Derivation: the per-group std is sigma(w_g) = ||P w_g|| / sqrt(m) (P the centering
    projection, ||P|| = 1; RMS: P = I), so it is 1/sqrt(m)-Lipschitz in w_g; w is s-Lipschitz in z;
    and ||z(x) - z(x_n)|| <= Lip_prefix(n) * r over the ball (mean-value inequality on the convex
    ball, Lip_prefix being the certified bound of the blocks before, computed first). Hence
        sigma_min = max(0, sigma(w_g(x_n)) - s * Lip_prefix(n) * r / sqrt(m)).
    The bracket of the standardization Jacobian has norm <= 1 (capacity.md section 2.2 [checked];
    RMS: eigenvalues 1 and eps/(ms+eps)). BatchNorm in eval mode is a per-channel affine map:
    c = max_c |gamma_c| s / sqrt(running_var_c + eps), exact for the plain BN.
  - Where no finite certificate exists (eps = 0 and sigma_min reaches 0, an unknown layer, a
    non-Block model) ``upper`` is ``math.inf`` and ``upper_reason`` says why.
  - ``wrt="params"``: ||J_theta|| <= sqrt(sum_i (S_i P_i)^2), with S_i the bound of the blocks after
    block i (at x_n) and P_i >= ||d block_i / d theta_i||: sqrt((c_i sqrt(k ||h||^2 + [bias] n_out))^2
    + max_channel(||yhat_c||^2 + [beta] n_sp)), k = taps of a conv kernel (1 for dense), yhat the
    normalizer output before its affine.

Models must treat samples independently: BatchNorm must be in eval mode (see
:func:`ibnorm_verify.verification.models.calibrate_batchnorm`), otherwise ``ValueError``.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, jvp, vjp, vmap

from ibnorm import functional as IBF
from ibnorm.compression import get_compression
from ibnorm_verify.theory.capacity import normalizer_local_factor

__all__ = ["LipschitzEstimate", "estimate_lipschitz", "operator_norm", "conv_operator_norm"]


@dataclass
class LipschitzEstimate:
    """Bounds on sup_{x in region} ||J(x)||_2.

    Attributes:
        lower: attained value ||J(w) v|| at the witness (w, v), ||v|| = 1.
        upper: certified upper bound on the region (``math.inf`` when none exists; see upper_reason).
        witness: the input point w (shape of one input) where ``lower`` is attained.
        wrt: "input" or "params".
        region: the region in words.
        upper_reason: why ``upper`` is infinite ("" when finite).
        details: per-input arrays (``per_input_lower``, ``per_input_upper``), ``layer_norms``,
            ``norm_scales`` (per normalizer: (N,) sqrt(var + eps) of its standardized input at the inputs),
            ``norm_gamma_max``, ``norm_factors``, iterations, timings.
    """

    lower: float
    upper: float
    witness: Tensor
    wrt: str
    region: str
    upper_reason: str = ""
    details: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """upper / lower (``inf`` without a finite certificate, ``nan`` when lower is 0)."""
        if self.lower <= 0:
            return math.nan
        return self.upper / self.lower


# ----------------------------------------------------------------------------------------- checks

def _check_inputs(model: nn.Module, inputs: Tensor, wrt: str, radius: float) -> Tensor:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must have a floating dtype, got {inputs.dtype}")
    if inputs.dim() < 2:
        raise ValueError(f"inputs must be a batch of shape (N, *input_shape), got {list(inputs.shape)}")
    if inputs.shape[0] == 0 or inputs.numel() == 0:
        raise ValueError("inputs is an empty batch")
    if not bool(torch.isfinite(inputs).all()):
        raise ValueError("inputs contain non-finite values")
    if wrt not in ("input", "params"):
        raise ValueError(f"wrt must be 'input' or 'params', got {wrt!r}")
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    if wrt == "params" and radius > 0:
        raise ValueError("wrt='params' is certified at the given inputs and parameters only (radius must be 0)")
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.training or m.running_var is None:
                raise ValueError("BatchNorm in train mode (or without running stats) couples the samples of a "
                                 "batch; call model.eval() (see ibnorm_verify.verification.models.calibrate_batchnorm)")
    if wrt == "params" and not any(p.requires_grad for p in model.parameters()):
        raise ValueError("wrt='params' needs a model with trainable parameters; this one has none")
    p = next(iter(model.parameters()), None)
    dtype = p.dtype if p is not None else inputs.dtype
    return inputs.detach().to(dtype)


def _bnorm(t: Tensor) -> Tensor:
    """Per-sample 2-norm over all but the first dim: (N, ...) -> (N,)."""
    return t.reshape(t.shape[0], -1).norm(dim=1)


def _bdiv(t: Tensor, s: Tensor) -> Tensor:
    return t / s.clamp_min(torch.finfo(t.dtype).tiny).reshape((-1,) + (1,) * (t.dim() - 1))


# ------------------------------------------------------------------------------------ lower bound

def _power_input(model: nn.Module, x: Tensor, v: Tensor, iters: int, tol: float) -> tuple[Tensor, Tensor, int]:
    """Batched power iteration on J(x)^T J(x). Returns (best ||J v|| per sample (N,), its v, iterations).

    A sample leaves the active set once two successive values of ||J v|| agree to ``tol`` (relative);
    later iterations run on the remaining samples only.
    """
    v = _bdiv(v, _bnorm(v))
    n = x.shape[0]
    _, vjp_full = vjp(model, x)
    best = torch.full((n,), -1.0, dtype=x.dtype)
    best_v = v.clone()
    prev = torch.full((n,), math.nan, dtype=x.dtype)
    active = torch.arange(n)
    it = 0
    for it in range(1, iters + 1):
        full = active.numel() == n
        xa, va = (x, v) if full else (x[active], v[active])
        _, jv = jvp(model, (xa,), (va,))               # (n_active, *out)
        s = _bnorm(jv)
        better = s > best[active]
        best[active[better]] = s[better]
        best_v[active[better]] = va[better]
        (w,) = (vjp_full if full else vjp(model, xa)[1])(jv)   # J^T J v, (n_active, *in)
        v[active] = _bdiv(w, _bnorm(w))
        done = (s - prev[active]).abs() <= tol * s.clamp_min(1e-300)
        prev[active] = s
        active = active[~done]
        if active.numel() == 0:
            break
    return best, best_v, it


def _ascent_input(model: nn.Module, x0: Tensor, v: Tensor, radius: float, steps: int) -> tuple[Tensor, Tensor]:
    """Projected gradient ascent of ||J(x) v||^2 over x in B(x0_n, radius), v refreshed by power steps."""

    def phi(x, v):
        return jvp(model, (x,), (v,))[1].pow(2).sum()

    grad_phi = torch.func.grad(phi)
    x = x0.clone()
    for k in range(steps):
        g = grad_phi(x, v)
        step = radius * 0.5 / (1 + 0.2 * k)
        x = x + step * _bdiv(g, _bnorm(g))
        d = x - x0
        dn = _bnorm(d)
        x = x0 + d * (radius / dn.clamp_min(radius)).reshape((-1,) + (1,) * (d.dim() - 1))
        _, vjp_fn = vjp(model, x)
        (w,) = vjp_fn(jvp(model, (x,), (v,))[1])
        v = _bdiv(w, _bnorm(w))
    return x, v


def _power_params(model: nn.Module, x: Tensor, iters: int, tol: float, gen: torch.Generator,
                  max_elems: int = 1 << 24) -> tuple[Tensor, list, int]:
    """Per-sample power iteration on J_theta^T J_theta (vmap over samples). Returns ((N,), directions, iters)."""
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())
    n_params = sum(p.numel() for p in params.values())
    chunk = max(1, min(x.shape[0], max_elems // max(n_params, 1)))

    def f_one(p, xi):
        return functional_call(model, ({**p, **frozen}, buffers), (xi.unsqueeze(0),)).squeeze(0)

    def jv_one(xi, vi):
        return jvp(lambda p: f_one(p, xi), (params,), (vi,))[1]

    def jtu_one(xi, ui):
        _, fn = vjp(lambda p: f_one(p, xi), params)
        return fn(ui)[0]

    jv_b, jtu_b = vmap(jv_one), vmap(jtu_one)
    out, dirs, its = [], [], 0
    for start in range(0, x.shape[0], chunk):
        xc = x[start:start + chunk]
        nb = xc.shape[0]
        v = {k: torch.randn((nb,) + p.shape, generator=gen, dtype=p.dtype) for k, p in params.items()}
        best = torch.full((nb,), -1.0, dtype=x.dtype)
        best_v = None
        prev = None
        for it in range(1, iters + 1):
            vn = torch.sqrt(sum(t.reshape(nb, -1).pow(2).sum(1) for t in v.values()))
            v = {k: _bdiv(t, vn) for k, t in v.items()}
            jv = jv_b(xc, v)
            s = _bnorm(jv)
            better = s > best
            best = torch.where(better, s, best)
            best_v = {k: torch.where(better.reshape((-1,) + (1,) * (t.dim() - 1)), t, best_v[k])
                      for k, t in v.items()} if best_v is not None else {k: t.clone() for k, t in v.items()}
            v = jtu_b(xc, jv)
            its = max(its, it)
            if prev is not None and bool(((s - prev).abs() <= tol * s.clamp_min(1e-300)).all()):
                break
            prev = s
        out.append(best)
        dirs.append(best_v)
    return torch.cat(out), dirs, its


# ------------------------------------------------------------------------------ operator norms

def operator_norm(w: Tensor) -> float:
    """Exact spectral norm of a dense weight (out, in): largest singular value in float64."""
    return float(torch.linalg.svdvals(w.detach().to(torch.float64))[0])


def conv_operator_norm(conv: nn.Conv2d, spatial: tuple[int, int]) -> tuple[float, str]:
    """Spectral norm of a stride-1 2D conv on an input of size ``spatial`` (Sedghi et al. 2019).

    Returns (norm, reason): exact for circular padding, an upper bound for zero padding (computed on
    the zero-padded grid), ``(inf, reason)`` for configurations this method does not cover.
    """
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or isinstance(conv.padding, str):
        return math.inf, f"conv {conv}: only stride 1, dilation 1, groups 1, integer padding are certified"
    kh, kw = conv.kernel_size
    ph, pw = conv.padding
    h, w = spatial
    if conv.padding_mode == "circular":
        grid = (h, w)
        if 2 * ph != kh - 1 or 2 * pw != kw - 1:
            return math.inf, f"conv {conv}: circular padding must be 'same'"
    elif conv.padding_mode == "zeros":
        grid = (h + 2 * ph, w + 2 * pw)
    else:
        return math.inf, f"conv {conv}: padding mode {conv.padding_mode!r} is not certified"
    if grid[0] < kh or grid[1] < kw:
        return math.inf, f"conv {conv}: grid {grid} smaller than the kernel"
    k = conv.weight.detach().to(torch.float64)                      # (out, in, kh, kw)
    kf = torch.fft.fft2(k, s=grid)                                   # (out, in, H, W)
    mats = kf.permute(2, 3, 0, 1).reshape(-1, k.shape[0], k.shape[1])
    return float(torch.linalg.svdvals(mats).max()), ""


def _layer_norm_bound(layer: nn.Module, h: Tensor) -> tuple[float, str]:
    if isinstance(layer, nn.Linear):
        return operator_norm(layer.weight), ""
    if isinstance(layer, nn.Conv2d):
        return conv_operator_norm(layer, tuple(h.shape[-2:]))
    return math.inf, f"layer type {type(layer).__name__} has no certified operator norm"


def _layer_param_bound(layer: nn.Module, h: Tensor, z: Tensor) -> Tensor:
    """(N,) bound on ||d layer(h) / d (W, b)|| at each sample: sqrt(taps ||h||^2 + [bias] * outputs/channel)."""
    hn2 = _bnorm(h).pow(2)
    if isinstance(layer, nn.Linear):
        taps, per_b = 1, z[0].numel() // z.shape[-1]
    elif isinstance(layer, nn.Conv2d):
        taps, per_b = layer.kernel_size[0] * layer.kernel_size[1], z[0, 0].numel()
    else:
        return torch.full((h.shape[0],), math.inf, dtype=h.dtype)
    return torch.sqrt(taps * hn2 + (per_b if layer.bias is not None else 0))


# ------------------------------------------------------------------------- normalizer factors

@dataclass
class _NormSpec:
    kind: str                # "rowwise" (LN/RMS/GN) | "bn"
    centered: bool
    group_size: int          # m, elements per statistics group
    eps: float
    comp: object
    lam: float
    order: str


def _norm_spec(m: nn.Module, z: Tensor) -> _NormSpec | None:
    comp = get_compression(getattr(m, "compression", "identity"))
    lam = float(getattr(m, "lam", 1.0))
    order = getattr(m, "order", "compress_first")
    if isinstance(m, nn.LayerNorm):
        return _NormSpec("rowwise", True, math.prod(m.normalized_shape), float(m.eps), comp, lam, order)
    if isinstance(m, nn.RMSNorm):
        eps = torch.finfo(z.dtype).eps if m.eps is None else float(m.eps)
        return _NormSpec("rowwise", False, math.prod(m.normalized_shape), eps, comp, lam, order)
    if isinstance(m, nn.GroupNorm):
        return _NormSpec("rowwise", True, z[0].numel() // m.num_groups, float(m.eps), comp, lam, order)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return _NormSpec("bn", True, 0, float(m.eps), comp, lam, order)
    return None


def _gamma_max(m: nn.Module) -> float:
    w = getattr(m, "weight", None)
    return 1.0 if w is None else float(w.detach().abs().max())


def _norm_factor(m: nn.Module, z: Tensor, delta: Tensor) -> tuple[Tensor, Tensor, str]:
    """Per-sample normalizer factor c (N,) valid for every z' with ||z' - z_n|| <= delta_n.

    Also returns the scales sqrt(var + eps) at the centres (N,) (min over groups) and a reason if some
    factor is infinite.
    """
    spec = _norm_spec(m, z)
    n = z.shape[0]
    if spec is None:
        inf = torch.full((n,), math.inf, dtype=z.dtype)
        return inf, inf, f"normalizer type {type(m).__name__} has no certified factor"
    s = float(spec.comp.max_slope(spec.lam))
    gmax = _gamma_max(m)
    if spec.kind == "bn":
        rv = m.running_var.detach().to(torch.float64)
        c = max(normalizer_local_factor(gmax if m.weight is None else float(abs(m.weight[i])), float(rv[i]),
                                        spec.eps, slope=s) for i in range(rv.numel()))
        scale = float(torch.sqrt(rv + spec.eps).min())
        return (torch.full((n,), c, dtype=z.dtype), torch.full((n,), scale, dtype=z.dtype),
                "" if math.isfinite(c) else "BatchNorm with eps=0 and a zero running variance")
    zg = z.detach().reshape(n, -1, spec.group_size).to(torch.float64)        # (N, G, m)
    u = zg - zg.mean(-1, keepdim=True) if spec.centered else zg
    compress_first = spec.order == "compress_first"
    w = spec.comp.fn(u, spec.lam) if compress_first else u
    var = w.var(-1, unbiased=False) if spec.centered else w.pow(2).mean(-1)   # (N, G)
    slope_in = s if compress_first else 1.0
    sig_min = (var.sqrt() - slope_in * delta.to(torch.float64).unsqueeze(1) / math.sqrt(spec.group_size)).clamp_min(0)
    fac = torch.tensor([[normalizer_local_factor(gmax, float(v) ** 2, spec.eps, slope=s) for v in row]
                        for row in sig_min.tolist()], dtype=torch.float64).amax(1)
    scale = torch.sqrt(var + spec.eps).amin(1)
    reason = ""
    if not bool(torch.isfinite(fac).all()):
        reason = (f"{type(m).__name__}: eps={spec.eps} and the certified variance lower bound reaches 0 "
                  f"on the region, so 1/sqrt(var+eps) is unbounded there")
    return fac.to(z.dtype), scale.to(z.dtype), reason


def _standardized(m: nn.Module, z: Tensor) -> Tensor:
    """The normalizer's output before its affine (weight=None, bias=None), same shape as z."""
    comp = getattr(m, "compression", "identity")
    lam = float(getattr(m, "lam", 1.0))
    order = getattr(m, "order", "compress_first")
    if isinstance(m, nn.LayerNorm):
        return IBF.ib_layer_norm(z, m.normalized_shape, None, None, m.eps, comp, lam, order)
    if isinstance(m, nn.RMSNorm):
        return IBF.ib_rms_norm(z, m.normalized_shape, None, m.eps, comp, lam, order)
    if isinstance(m, nn.GroupNorm):
        return IBF.ib_group_norm(z, m.num_groups, None, None, m.eps, comp, lam, order)
    return IBF.ib_batch_norm(z, m.running_mean, m.running_var, None, None, False, 0.0, m.eps, comp, lam, order,
                             running_zmean=getattr(m, "running_zmean", None))


def _affine_param_bound(m: nn.Module, z: Tensor) -> Tensor:
    """(N,) ||d norm / d (gamma, beta)|| = max over gamma entries c of sqrt(||yhat_c||^2 + [beta] n_c)."""
    n = z.shape[0]
    w, b = getattr(m, "weight", None), getattr(m, "bias", None)
    if w is None and b is None:
        return torch.zeros(n, dtype=z.dtype)
    yhat = _standardized(m, z.detach())
    if isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
        per = yhat.reshape(n, -1, math.prod(m.normalized_shape)).pow(2).sum(1)   # (N, d): sum over leading groups
        cnt = yhat[0].numel() // math.prod(m.normalized_shape)
    else:  # GN / BN: per channel (dim 1)
        per = yhat.reshape(n, yhat.shape[1], -1).pow(2).sum(-1)                  # (N, C)
        cnt = yhat[0, 0].numel()
    per = (per if w is not None else torch.zeros_like(per)) + (cnt if b is not None else 0)
    return per.amax(1).sqrt()


# ---------------------------------------------------------------------------------- upper bound

def _upper(model: nn.Module, x: Tensor, radius: float, wrt: str) -> tuple[Tensor, str, dict]:
    """(N,) certified upper bounds, a reason if infinite, and per-layer details."""
    from ..models import Block

    n = x.shape[0]
    if not (isinstance(model, nn.Sequential) and len(model) > 0 and all(isinstance(b, Block) for b in model)):
        return (torch.full((n,), math.inf, dtype=x.dtype),
                "the certified upper bound needs a model built by ibnorm_verify.verification.models.build_network "
                "(an nn.Sequential of Block)", {})
    reasons: list[str] = []
    layer_norms, scales, facs, gammas = [], [], [], []
    block_factors, param_terms = [], []       # per block (N,) local factor and (N,) ||d block / d theta||
    lip = torch.ones(n, dtype=x.dtype)       # certified Lip of x -> h over each ball
    h = x
    with torch.no_grad():
        for blk in model:
            wn, why = _layer_norm_bound(blk.layer, h)
            if why:
                reasons.append(why)
            z = blk.layer(h)
            c = torch.ones(n, dtype=x.dtype)
            if blk.norm is not None:
                c, scale, why = _norm_factor(blk.norm, z, lip * wn * radius)
                if why:
                    reasons.append(why)
                facs.append(c)
                scales.append(scale)
                gammas.append(_gamma_max(blk.norm))
            branch = wn * c                       # activation Lipschitz <= 1 (identity, relu, tanh)
            bf = 1.0 + branch if blk.residual else branch
            if wrt == "params":
                pl = _layer_param_bound(blk.layer, h, z)
                pa = _affine_param_bound(blk.norm, z) if blk.norm is not None else torch.zeros(n, dtype=x.dtype)
                param_terms.append(torch.sqrt((c * pl).pow(2) + pa.pow(2)))
            block_factors.append(bf)
            layer_norms.append(wn)
            lip = lip * bf
            h = blk(h)
    if wrt == "input":
        up = lip
    else:
        total = torch.zeros(n, dtype=x.dtype)
        suffix = torch.ones(n, dtype=x.dtype)
        for bf, pt in zip(reversed(block_factors), reversed(param_terms)):
            total = total + (suffix * pt).pow(2)
            suffix = suffix * bf
        up = total.sqrt()
    det = {"layer_norms": layer_norms, "norm_scales": [s.tolist() for s in scales],
           "norm_factors": [f.tolist() for f in facs], "norm_gamma_max": gammas}
    reason = "; ".join(dict.fromkeys(reasons))
    if not bool(torch.isfinite(up).all()) and not reason:
        reason = "the product of the factors overflowed"
    return up, reason, det


# ------------------------------------------------------------------------------------ entry point

def estimate_lipschitz(model: nn.Module, inputs: Tensor, wrt: str = "input", radius: float = 0.0, *,
                       power_iters: int = 30, tol: float = 1e-4, ascent_steps: int = 20, ascent_starts: int = 4,
                       seed: int = 0, certify: bool = True) -> LipschitzEstimate:
    """Attained lower and certified upper bounds of sup_{x in R} ||J(x)||_2 (see the module docstring).

    Args:
        model: any module for the lower bound; a :func:`~ibnorm_verify.verification.models.build_network` model for
            a finite upper bound. Evaluated as given (BatchNorm must be in eval mode).
        inputs: (N, *input_shape), finite.
        wrt: "input" (J = df/dx) or "params" (J = df/dtheta, all trainable parameters flattened).
        radius: r >= 0, the region is the union of the balls B(x_n, r) (``wrt="params"``: 0 only).
        power_iters, tol: power-iteration cap and relative stopping tolerance.
        ascent_steps, ascent_starts: projected gradient ascent (r > 0) from the best ``ascent_starts`` inputs.
        seed: seed of the random start vectors.
        certify: compute the upper bound (False: ``upper = inf`` with that reason, saves time).
    """
    x = _check_inputs(model, inputs, wrt, radius)
    # start vectors from a stream of their own (a start vector equal to a data direction can sit exactly
    # on a non-top eigenvector, e.g. x itself for a normalizer right after an orthogonal layer)
    gen = torch.Generator().manual_seed(0x5EED_11B5 + 7919 * int(seed))
    t0 = time.perf_counter()
    n = x.shape[0]
    det: dict = {}
    with torch.no_grad():
        if wrt == "input":
            v0 = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)
            per, vbest, its = _power_input(model, x, v0, power_iters, tol)
            i = int(per.argmax())
            lower, witness, wdir = float(per[i]), x[i].clone(), vbest[i].clone()
            if radius > 0 and ascent_steps > 0:
                top = per.argsort(descending=True)[:ascent_starts]
                with torch.enable_grad():
                    xa, va = _ascent_input(model, x[top], vbest[top], float(radius), ascent_steps)
                pa, va2, _ = _power_input(model, xa, va, power_iters, tol)
                j = int(pa.argmax())
                det["ascent_gain"] = float(pa[j]) / max(lower, 1e-300)
                if float(pa[j]) > lower:
                    lower, witness, wdir = float(pa[j]), xa[j].clone(), va2[j].clone()
        else:
            per, dirs, its = _power_params(model, x, power_iters, tol, gen)
            i = int(per.argmax())
            lower, witness, wdir = float(per[i]), x[i].clone(), None
    det.update({"per_input_lower": per.tolist(), "power_iterations": its, "witness_index": i,
                "witness_direction": wdir, "t_lower_s": time.perf_counter() - t0})
    t1 = time.perf_counter()
    if certify:
        up_n, reason, udet = _upper(model, x, float(radius), wrt)
        det.update(udet)
        det["per_input_upper"] = up_n.tolist()
        # float64 SVDs, but the network's own arithmetic (and the lower bound) runs in the model dtype:
        # widen by a rounding margin of 64 ulps per block so that exact (tight) cases stay ordered
        margin = 1.0 + 64 * max(len(list(model.children())), 1) * torch.finfo(x.dtype).eps
        upper = float(up_n.max()) * margin
        if math.isfinite(upper) and lower > upper:  # pragma: no cover - would be a bug in a bound
            raise RuntimeError(f"certified upper bound {upper} is below the attained lower bound {lower}")
    else:
        upper, reason = math.inf, "not computed (certify=False)"
    det["t_upper_s"] = time.perf_counter() - t1
    region = ("the given inputs" if radius == 0 else f"union of l2 balls of radius {radius:g} around the {n} inputs")
    if wrt == "params":
        region = f"current parameters, at each of the {n} given inputs"
    return LipschitzEstimate(lower=lower, upper=upper, witness=witness, wrt=wrt, region=region,
                             upper_reason=reason if not math.isfinite(upper) else "", details=det)


# ------------------------------------------------------------------------------ ground truth

def validation_rows(*args, **kw) -> list[dict]:
    """Cached (deterministic) :func:`_validation_rows`; returns fresh copies of the rows."""
    return [dict(r) for r in _validation_rows_cached(*args, **kw)]


@functools.lru_cache(maxsize=8)
def _validation_rows_cached(*args, **kw) -> tuple:
    return tuple(_validation_rows(*args, **kw))


def _validation_rows(seed: int = 0, width: int = 16, n_inputs: int = 8) -> list[dict]:
    """Ground-truth checks of :func:`estimate_lipschitz` on networks with exactly known constants.

    * linear chain W_i = g Q_i: ||J_x|| = g^L and ||J_theta|| = sqrt(L) g^(L-1) ||x|| (ibnorm_verify.theory.capacity);
    * one LayerNorm after W = g Q: ||J_x|| = g |gamma| / sqrt(var(Wx) + eps) at each input (capacity.md
      2.2 [checked]: the bracket has norm 1 and Q is orthogonal), maximized over the inputs.
    A row passes when exact*(1 - 1%) <= lower <= exact*(1 + 1e-9) and upper >= exact*(1 - 1e-9).
    """
    from ibnorm_verify.theory.capacity import linear_chain_input_lipschitz, linear_chain_param_lipschitz

    from ..models import build_network

    gen = torch.Generator().manual_seed(int(seed) + 12345)
    x = torch.randn(n_inputs, width, generator=gen, dtype=torch.float64)
    x = x * (math.sqrt(width) / x.norm(dim=1, keepdim=True))
    rows = []

    def row(name, est, exact):
        lo_ok = exact * (1 - 0.01) <= est.lower <= exact * (1 + 1e-9)
        up_ok = est.upper >= exact * (1 - 1e-9)
        rows.append({"estimator": "lipschitz", "case": name, "exact": exact, "lower": est.lower, "upper": est.upper,
                     "rel_err_lower": (exact - est.lower) / exact, "gap": est.gap, "passed": bool(lo_ok and up_ok)})

    for g, depth in ((1.5, 4), (0.7, 3)):
        m = build_network(depth=depth, width=width, gain=g, seed=seed)
        row(f"linear chain g={g} L={depth} (input)", estimate_lipschitz(m, x), linear_chain_input_lipschitz(g, depth))
        row(f"linear chain g={g} L={depth} (params)", estimate_lipschitz(m, x, wrt="params"),
            linear_chain_param_lipschitz(g, depth, math.sqrt(width)))
    m = build_network(depth=1, width=width, gain=2.0, norm="ln", gamma=1.5, seed=seed)
    with torch.no_grad():
        z = m[0].layer(x)
    exact = float((2.0 * 1.5 / torch.sqrt(z.var(dim=1, unbiased=False) + m[0].norm.eps)).max())
    row("W=2Q then LayerNorm(gamma=1.5) (input)", estimate_lipschitz(m, x), exact)
    return rows
