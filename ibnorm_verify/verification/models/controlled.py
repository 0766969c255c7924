"""Controlled networks for the capacity experiments (arXiv 2511.00958; ``docs/papers/capacity.md``).

One factory, :func:`build_network`, builds MLPs and convolutional nets from a :class:`NetConfig`:
depth L, width d, weight gain g (orthogonal or Gaussian init scaled by g), activation (identity, ReLU,
tanh), a normalizer grouping (none, or one of :data:`ibnorm.groupings.GROUPINGS`: layer, rms, batch,
group, instance; any IBNorm compression/order), the placement (after every k-th layer, giving
K = L // k normalizers) and residual connections. The same config (seed included) gives the same
network, bit for bit, and the weights do not depend on the normalizer (the generator draws only the
weights), so ``norm="none"`` with the same seed is the same net without its normalizers.

The model is an ``nn.Sequential`` of :class:`Block` s, in order. A block is

    h -> act(norm(layer(h)))            (residual=False)
    h -> h + act(norm(layer(h)))        (residual=True, only where in and out shapes agree)

with ``layer`` an ``nn.Linear`` or a circular-padded ``nn.Conv2d`` and ``norm`` ``None`` or an
``ibnorm.nn`` module (``compression="identity"`` is the exact torch LN/BN/GN/RMSNorm; row-wise IB
layers use ``backend="composite"``, the reference composite, because the smoothness estimator's
Hessian-vector products need double backward, which the fused ops do not have). The last block
has no activation.

Two realistic architectures for the regime sweeps, built from the same init rule:

* :class:`ResNetStyle`: the ResNet-18 layout of He et al. 2016 (arXiv 1512.03385): a 3x3 stem, basic
  blocks ``conv-norm-act-conv-norm (+ shortcut) -> act`` in four stages of two blocks (widths w, 2w,
  4w, 8w, stride 2 at each stage start, 1x1 conv + norm shortcuts), global average pooling and a linear
  head; ``blocks`` (1..8) keeps the first blocks of that plan (8 = ResNet-18).
* :class:`PreNormTransformer`: pre-norm transformer blocks ``h + Attn(norm(h))``, ``h + MLP(norm(h))``
  (GPT-2 / nanoGPT layout, Radford et al. 2019) on token inputs (N, T, D), with a final norm.

Init:
* ``"orthogonal"``: ``W = g Q`` with Q (semi-)orthogonal, so ``||W||_2 = g`` exactly. For convs the
  delta-orthogonal init (Xiao et al. 2018, arXiv 1806.05393): the kernel is zero except its centre tap,
  an orthogonal C x C matrix, so the circular conv operator is exactly g times an orthogonal map.
* ``"gaussian"``: ``W_ij ~ N(0, g^2 / fan_in)``.

Normalizer ``gamma`` is initialised to the scalar ``gamma`` (default 1), ``beta`` to 0.

BatchNorm: every estimator in this suite evaluates models in eval mode (per-sample maps); use
:func:`calibrate_batchnorm` to set the running statistics from a data batch first.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import torch
from torch import Tensor, nn

from ibnorm.compression import get_compression, validate_lam
from ibnorm.groupings import spec_of
from ibnorm.nn import IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm, IBLayerNorm, IBRMSNorm

__all__ = ["NetConfig", "Block", "build_network", "calibrate_batchnorm", "blocks", "NORMS", "ACTIVATIONS",
           "INITS", "checked_norm", "make_normalizer", "ResNetStyle", "PreNormTransformer",
           "without_normalizers", "normalizer_modules", "normalizer_scales", "init_weight"]

#: normalizer groupings of the controlled nets: "none" or an ibnorm.groupings name
NORMS = ("none", "layer", "rms", "batch", "group", "instance")
ACTIVATIONS = ("identity", "relu", "tanh")
INITS = ("orthogonal", "gaussian")
#: short names of other code bases, refused with the grouping name to use instead
_SHORT_NAMES = {"ln": "layer", "bn": "batch", "gn": "group", "in": "instance"}


def checked_norm(norm: str) -> str:
    """``norm`` itself when it is one of :data:`NORMS`; ``ValueError`` otherwise (naming the grouping meant
    by a short name such as ``ln``)."""
    if norm not in NORMS:
        hint = f"; use {_SHORT_NAMES[norm]!r} for {norm!r}" if norm in _SHORT_NAMES else ""
        raise ValueError(f"norm must be one of {NORMS} (ibnorm.groupings names), got {norm!r}{hint}")
    return norm


@dataclass(frozen=True)
class NetConfig:
    """Everything that defines a controlled network (hashable, picklable, JSON-able via ``asdict``).

    Attributes:
        depth: number of layers L (>= 1).
        width: hidden width d (channels for ``conv=True``).
        gain: weight gain g > 0.
        activation: "identity" | "relu" | "tanh" (not applied after the last layer).
        norm: "none" or a grouping: "layer" | "rms" | "batch" | "group" | "instance" (conv only).
        every: a normalizer follows layer i when ``i % every == 0`` (K = depth // every of them).
        residual: add the block input to the block output where the shapes agree.
        init: "orthogonal" | "gaussian".
        seed: RNG seed of the weights.
        in_dim, out_dim: input/output features (default ``width``; for convs: channels).
        conv: build 3x3 circular convs on (N, C, image_size, image_size) instead of linear layers.
        image_size: spatial size for convs.
        eps: normalizer epsilon (RMSNorm: ``None`` means torch's default ``finfo.eps``).
        groups: number of groups for "group".
        gamma: initial value of every normalizer weight.
        compression, lam, order: the IBNorm variant ("identity" = plain torch normalizer).
        bias: linear/conv biases (default off, so linear chains have exactly known constants).
        dtype: "float64" (default, for exact checks) or "float32".
    """

    depth: int = 4
    width: int = 32
    gain: float = 1.0
    activation: str = "identity"
    norm: str = "none"
    every: int = 1
    residual: bool = False
    init: str = "orthogonal"
    seed: int = 0
    in_dim: int | None = None
    out_dim: int | None = None
    conv: bool = False
    image_size: int = 8
    eps: float | None = 1e-5
    groups: int = 4
    gamma: float = 1.0
    compression: str = "identity"
    lam: float = 1.0
    order: str = "compress_first"
    bias: bool = False
    dtype: str = "float64"

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", checked_norm(self.norm))
        for name in ("depth", "width", "every", "groups", "image_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"NetConfig.{name} must be a positive int, got {v!r}")
        for name in ("in_dim", "out_dim"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"NetConfig.{name} must be a positive int or None, got {v!r}")
        if not (isinstance(self.gain, (int, float)) and self.gain > 0 and float(self.gain) < float("inf")):
            raise ValueError(f"NetConfig.gain must be a finite number > 0, got {self.gain!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.eps is not None and not (self.eps >= 0):
            raise ValueError(f"eps must be >= 0 or None, got {self.eps!r}")
        if self.norm == "group":
            for d in self._dims()[1:]:
                if d % self.groups:
                    raise ValueError(f"group: every layer width must be divisible by groups={self.groups}, got {d}")
        if self.conv and self.norm == "rms":
            raise ValueError("rms normalization is only built for MLPs (conv=False)")
        if not self.conv and self.norm == "instance":
            raise ValueError("instance normalization needs spatial dims (conv=True)")
        validate_lam(get_compression(self.compression), self.lam)

    @property
    def num_norms(self) -> int:
        """K, the number of normalizers (0 for ``norm="none"``)."""
        return 0 if self.norm == "none" else self.depth // self.every

    def _dims(self) -> list[int]:
        d0 = self.in_dim or self.width
        dl = self.out_dim or self.width
        return [d0] + [self.width] * (self.depth - 1) + [dl]

    def with_(self, **kw) -> "NetConfig":
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)


_ACT = {"identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh}


class Block(nn.Module):
    """``h -> [h +] act(norm(layer(h)))``. Attributes ``layer``, ``norm`` (or None), ``act`` (name), ``residual``."""

    def __init__(self, layer: nn.Module, norm: nn.Module | None, act: str, residual: bool) -> None:
        super().__init__()
        self.layer = layer
        self.norm = norm
        self.act = act
        self.act_fn = _ACT[act]()
        self.residual = residual

    def branch(self, h: Tensor) -> Tensor:
        z = self.layer(h)
        if self.norm is not None:
            z = self.norm(z)
        return self.act_fn(z)

    def forward(self, h: Tensor) -> Tensor:
        out = self.branch(h)
        return h + out if self.residual else out

    def extra_repr(self) -> str:
        return f"act={self.act!r}, residual={self.residual}"


def make_normalizer(grouping: str, d: int, *, conv: bool, eps: float | None = 1e-5, groups: int = 4,
                    gamma: float = 1.0, compression: str = "identity", lam: float = 1.0,
                    order: str = "compress_first", dtype: torch.dtype = torch.float64) -> nn.Module:
    """One normalizer of ``grouping`` for ``d`` features (``conv``: channels of (N, C, H, W)).

    MLP: layer = LayerNorm(d), rms = RMSNorm(d), batch = BatchNorm1d(d), group = GroupNorm(groups, d).
    Conv: layer = GroupNorm(1, C) (LayerNorm over C, H, W), batch = BatchNorm2d, group = GroupNorm(groups,
    C), instance = GroupNorm(C, C). ``gamma`` fills the weight, the bias is 0.
    """
    grouping = checked_norm(grouping)
    kw: dict[str, Any] = dict(compression=compression, lam=lam, order=order)
    e = 1e-5 if eps is None else eps
    m: nn.Module
    if grouping == "layer":
        m = IBGroupNorm(1, d, eps=e, dtype=dtype, **kw) if conv else \
            IBLayerNorm(d, eps=e, dtype=dtype, backend="composite", **kw)
    elif grouping == "rms":
        if conv:
            raise ValueError("rms normalization is only built for MLPs")
        m = IBRMSNorm(d, eps=eps, dtype=dtype, backend="composite", **kw)
    elif grouping == "batch":
        m = (IBBatchNorm2d if conv else IBBatchNorm1d)(d, eps=e, dtype=dtype, **kw)
    elif grouping == "group":
        m = IBGroupNorm(groups, d, eps=e, dtype=dtype, **kw)
    elif grouping == "instance":
        if not conv:
            raise ValueError("instance normalization needs spatial dims (conv=True)")
        m = IBGroupNorm(d, d, eps=e, dtype=dtype, **kw)
    else:
        raise ValueError(f"no normalizer for grouping {grouping!r}")
    with torch.no_grad():
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        if weight is not None:
            weight.fill_(gamma)
        if bias is not None:
            bias.zero_()
    return m


def _make_norm(cfg: NetConfig, d: int, dtype: torch.dtype) -> nn.Module:
    return make_normalizer(cfg.norm, d, conv=cfg.conv, eps=cfg.eps, groups=cfg.groups, gamma=cfg.gamma,
                           compression=cfg.compression, lam=cfg.lam, order=cfg.order, dtype=dtype)


def init_weight(w: Tensor, init: str, gain: float, gen: torch.Generator) -> None:
    """In place: ``w`` (out, in) or (out, in, k, k) gets gain * orthogonal / Gaussian values."""
    out_f, in_f = w.shape[0], w.shape[1]
    with torch.no_grad():
        if init == "gaussian":
            fan_in = w[0].numel()
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) * (gain / fan_in ** 0.5))
            return
        # orthogonal: QR of a Gaussian matrix with the sign fix (Mezzadri 2007) -> Haar (semi-)orthogonal
        n, m = max(out_f, in_f), min(out_f, in_f)
        a = torch.randn(n, m, generator=gen, dtype=torch.float64)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)          # (n, m), orthonormal columns
        q = q if out_f >= in_f else q.T                              # (out, in)
        q = (gain * q).to(w.dtype)
        if w.dim() == 2:
            w.copy_(q)
        else:  # delta-orthogonal conv kernel
            w.zero_()
            c = w.shape[-1] // 2
            w[:, :, c, c] = q


def build_network(cfg: NetConfig | None = None, **overrides) -> nn.Sequential:
    """Build the network of ``cfg`` (fields may be overridden by keyword), in eval mode.

    Example: ``build_network(depth=8, width=32, gain=2.0, norm="layer", every=2, seed=0)``.
    Returns an ``nn.Sequential`` of :class:`Block`; input shape (N, in_dim) or (N, C, S, S) for convs.
    """
    cfg = NetConfig(**overrides) if cfg is None else (cfg.with_(**overrides) if overrides else cfg)
    dtype = getattr(torch, cfg.dtype)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    dims = cfg._dims()
    blocks_: list[nn.Module] = []
    for i in range(1, cfg.depth + 1):
        d_in, d_out = dims[i - 1], dims[i]
        layer: nn.Module
        if cfg.conv:
            layer = nn.Conv2d(d_in, d_out, 3, padding=1, padding_mode="circular", bias=cfg.bias, dtype=dtype)
        else:
            layer = nn.Linear(d_in, d_out, bias=cfg.bias, dtype=dtype)
        init_weight(layer.weight, cfg.init, cfg.gain, gen)
        if layer.bias is not None:
            with torch.no_grad():
                layer.bias.zero_()
        norm = _make_norm(cfg, d_out, dtype) if (cfg.norm != "none" and i % cfg.every == 0) else None
        act = cfg.activation if i < cfg.depth else "identity"
        blocks_.append(Block(layer, norm, act, residual=cfg.residual and d_in == d_out))
    model = nn.Sequential(*blocks_)
    model.config = cfg  # type: ignore[assignment]  # torch types Module attributes as Tensor | Module
    return model.eval()


def blocks(model: nn.Module) -> list[Block]:
    """The blocks of a :func:`build_network` model in order; ``TypeError`` for any other structure."""
    if not isinstance(model, nn.Sequential) or not all(isinstance(b, Block) for b in model):
        raise TypeError("expected an nn.Sequential of ibnorm_verify.verification.models.Block (built by build_network)")
    return cast("list[Block]", list(model))


# ------------------------------------------------------------------------------ realistic architectures

def _maybe_norm(grouping: str, d: int, conv: bool, dtype: torch.dtype, groups: int = 4) -> nn.Module:
    if grouping == "none":
        return nn.Identity()
    return make_normalizer(grouping, d, conv=conv, groups=math.gcd(groups, d), dtype=dtype)


class _BasicBlock(nn.Module):
    """ResNet basic block: ``act(norm2(conv2(act(norm1(conv1(h))))) + shortcut(h))``."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str, act: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, dtype=dtype)
        self.norm1 = _maybe_norm(norm, c_out, True, dtype)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, dtype=dtype)
        self.norm2 = _maybe_norm(norm, c_out, True, dtype)
        self.act = _ACT[act]()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False, dtype=dtype),
                                          _maybe_norm(norm, c_out, True, dtype))

    def forward(self, h: Tensor) -> Tensor:
        z = self.act(self.norm1(self.conv1(h)))
        return self.act(self.norm2(self.conv2(z)) + self.shortcut(h))


class ResNetStyle(nn.Module):
    """The ResNet-18 layout (see the module docstring), truncated to its first ``blocks`` basic blocks.

    Input (N, in_channels, S, S); output (N, num_classes). ``norm`` is "none" or a conv grouping.
    """

    PLAN = (1, 1, 2, 2, 4, 4, 8, 8)        # width multiplier of each of the 8 basic blocks of ResNet-18

    def __init__(self, blocks: int = 8, width: int = 8, *, in_channels: int = 3, num_classes: int = 10,
                 norm: str = "batch", activation: str = "relu", init: str = "gaussian", gain: float = math.sqrt(2),
                 seed: int = 0, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if not 1 <= int(blocks) <= len(self.PLAN):
            raise ValueError(f"blocks must be in [1, {len(self.PLAN)}], got {blocks!r}")
        norm = checked_norm(norm)
        if norm == "rms":
            raise ValueError("ResNetStyle takes a conv grouping (layer, batch, group, instance) or none")
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False, dtype=dtype)
        self.stem_norm = _maybe_norm(norm, width, True, dtype)
        self.act = _ACT[activation]()
        layers, c = [], width
        for i in range(int(blocks)):
            c_out = width * self.PLAN[i]
            stride = 2 if c_out != c else 1
            layers.append(_BasicBlock(c, c_out, stride, norm, activation, dtype))
            c = c_out
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes, bias=False, dtype=dtype)
        gen = torch.Generator().manual_seed(int(seed))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init_weight(m.weight, init, gain, gen)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.stem_norm(self.stem(x)))
        h = self.blocks(h)
        return self.head(h.mean(dim=(-2, -1)))


class _Attention(nn.Module):
    """Multi-head self-attention written out (no fused kernel, so forward-mode AD works)."""

    def __init__(self, dim: int, heads: int, dtype: torch.dtype) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False, dtype=dtype)
        self.out = nn.Linear(dim, dim, bias=False, dtype=dtype)

    def forward(self, h: Tensor) -> Tensor:                      # (N, T, D)
        n, t, d = h.shape
        q, k, v = self.qkv(h).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)   # (N, H, T, T)
        return self.out((att @ v).transpose(1, 2).reshape(n, t, d))


class _PreNormBlock(nn.Module):
    def __init__(self, dim: int, heads: int, norm: str, activation: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.norm1 = _maybe_norm(norm, dim, False, dtype)
        self.attn = _Attention(dim, heads, dtype)
        self.norm2 = _maybe_norm(norm, dim, False, dtype)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim, bias=False, dtype=dtype), _ACT[activation](),
                                 nn.Linear(4 * dim, dim, bias=False, dtype=dtype))

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.attn(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class PreNormTransformer(nn.Module):
    """``depth`` pre-norm transformer blocks and a final norm on (N, T, dim) tokens (``norm``: none, layer
    or rms). Weights: ``init`` with ``gain`` (see :func:`init_weight`)."""

    def __init__(self, depth: int = 2, dim: int = 16, *, heads: int = 2, norm: str = "layer",
                 activation: str = "relu", init: str = "gaussian", gain: float = 1.0, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        norm = checked_norm(norm)
        if norm not in ("none", "layer", "rms"):
            raise ValueError(f"PreNormTransformer takes norm none, layer or rms, got {norm!r}")
        self.blocks = nn.Sequential(*[_PreNormBlock(dim, heads, norm, activation, dtype) for _ in range(int(depth))])
        self.final_norm = _maybe_norm(norm, dim, False, dtype)
        gen = torch.Generator().manual_seed(int(seed))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                init_weight(m.weight, init, gain, gen)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return self.final_norm(self.blocks(x))


# ------------------------------------------------------------------------------ normalizers of a model

def normalizer_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every normalization module of ``model`` (resolved by :func:`ibnorm.groupings.spec_of`), in order."""
    return [(n, m) for n, m in model.named_modules() if spec_of(m) is not None]


def without_normalizers(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every normalizer removed (same weights): ``Block.norm = None`` in
    :func:`build_network` nets, ``nn.Identity`` elsewhere."""
    out = copy.deepcopy(model)
    for blk in out.modules():
        if isinstance(blk, Block) and blk.norm is not None:
            blk.norm = None
    for name, _ in normalizer_modules(out):
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        if isinstance(parent, nn.Sequential):
            parent[int(attr)] = nn.Identity()
        else:
            setattr(parent, attr, nn.Identity())
    return out.eval()


@torch.no_grad()
def normalizer_scales(model: nn.Module, x: Tensor) -> list[tuple[Tensor, float]]:
    """Per normalizer (in forward order): ((N,) sigma per input, max |gamma|).

    sigma = sqrt(stat + eps), minimized over the normalizer's groups (its Jacobian norm is |gamma| over
    the smallest sigma of the sample; ``docs/papers/capacity.md``), with stat the group variance (RMS: mean
    square) of the normalizer's input at each sample; batch grouping in eval mode: the running variance
    (a per-channel affine map). Recorded with forward pre-hooks during one forward pass of ``x``.
    """
    out: list[tuple[Tensor, float]] = []

    def hook(module: nn.Module, args: tuple) -> None:
        spec = spec_of(module)
        assert spec is not None  # the hooks sit on normalizer_modules(model), the modules spec_of resolves
        z = args[0].detach()
        n = z.shape[0]
        eps = spec.effective_eps(z.dtype)
        if spec.grouping == "batch":
            if not spec.use_running_stats:
                raise ValueError("normalizer_scales: BatchNorm in train mode couples the batch; call eval()")
            assert spec.running_var is not None  # use_running_stats means tracked statistics (spec_of)
            s = torch.sqrt(spec.running_var.detach() + eps).min().expand(n)
        else:
            m = spec.group_size(z)
            zg = z.reshape(n, -1, m)
            stat = zg.var(-1, unbiased=False) if spec.center else zg.pow(2).mean(-1)
            s = torch.sqrt(stat + eps).amin(1)
        g = spec.gamma()
        out.append((s, 1.0 if g is None else float(g.detach().abs().max())))

    handles = [m.register_forward_pre_hook(hook) for _, m in normalizer_modules(model)]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return out


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to the exact batch statistics of ``x``, leave eval mode.

    Runs one forward pass in train mode with ``momentum=None``-like replacement (momentum 1.0 after a
    reset), so the running stats equal the batch statistics of this batch (unbiased variance, as torch).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = 1.0
    model.train()
    try:
        model(x)
    finally:
        for m, mom in saved:
            m.momentum = mom
        model.eval()
    return model
