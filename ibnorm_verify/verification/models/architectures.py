"""Small trainable architectures with a normalizer argument: MLP, ResNet-style CNN, ViT, GPT-style causal LM.

The normalizer of every model is one structured value, :class:`Normalizer` = (grouping, compression,
lam, order, affine), with one meaning everywhere in the suite: ``grouping`` is ``"none"`` or a grouping
of :mod:`ibnorm.groupings` (``layer``, ``rms``, ``batch``, ``group``); ``compression="identity"`` is the
plain torch normalizer, anything else its IBNorm version (arXiv 2510.25262, ``docs/papers/ibnorm.md``);
``affine=False`` drops (gamma, beta), the with/without-affine ablation. A model also accepts a bare
grouping name (``norm="layer"``) for the plain normalizer.

:func:`make_norm` is the one factory: it builds the torch module of the grouping for a layout and, for
an IBNorm variant, swaps it with :func:`ibnorm.convert_norms` (the path a user takes on an existing
model). Where a grouping needs an axis convention:

* images (N, C, H, W): ``batch`` = BatchNorm2d; ``layer`` = GroupNorm(1, C) (LayerNorm over C, H, W, the
  usual CNN reading); ``group`` = GroupNorm(gcd(4, C), C); ``rms`` = RMSNorm over C at each pixel;
* tokens (B, T, D): ``layer`` = LayerNorm(D); ``rms`` = RMSNorm(D); ``batch`` = BatchNorm1d over the B*T
  tokens; ``group`` = GroupNorm over the B*T tokens.

Architectures follow nanoGPT (pre-norm transformer blocks) and the CIFAR ResNet of He et al. 2016
(basic blocks), at toy width.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ibnorm import convert_norms, spec_of
from ibnorm.compression import get_compression, validate_lam
from ibnorm.functional import ORDERS
from ibnorm.groupings import get_grouping
from ibnorm.nn import Order

__all__ = ["NORMS", "Normalizer", "make_norm", "is_normalizer", "MLP", "SmallResNet", "SmallViT", "TinyGPT"]

#: the normalizer groupings the architectures build ("none" = no normalizer)
NORMS = ("none", "layer", "rms", "batch", "group")
Layout = Literal["features", "image", "tokens"]
_LABELS = {"none": "none", "layer": "LN", "rms": "RMS", "batch": "BN", "group": "GN"}


@dataclass(frozen=True)
class Normalizer:
    """A normalizer variant: grouping + IBNorm compression (``identity`` = the plain normalizer) + affine."""

    grouping: str = "none"
    compression: str = "identity"
    lam: float = 1.0
    order: Order = "compress_first"
    affine: bool = True

    def __post_init__(self) -> None:
        if self.grouping != "none":
            get_grouping(self.grouping)          # the vocabulary of ibnorm.groupings (ValueError naming it)
        if self.grouping not in NORMS:
            raise ValueError(f"the architectures build groupings {NORMS}, got {self.grouping!r}")
        comp = get_compression(self.compression)
        object.__setattr__(self, "compression", comp.name)
        object.__setattr__(self, "lam", float(validate_lam(comp, self.lam)) if not comp.is_identity else float(self.lam))
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.grouping == "none" and comp.name != "identity":
            raise ValueError("an IBNorm compression needs a grouping (got grouping='none')")

    @classmethod
    def of(cls, norm: "Normalizer | str") -> "Normalizer":
        """A :class:`Normalizer` from itself or from a bare grouping name (the plain normalizer)."""
        return norm if isinstance(norm, Normalizer) else cls(str(norm))

    @property
    def is_ib(self) -> bool:
        return self.compression != "identity"

    @property
    def label(self) -> str:
        """``LN``, ``IB-LN(tanh, lam=1)``, ... (``+ standardize_first`` / ``no affine`` when set)."""
        base = _LABELS[self.grouping]
        s = f"IB-{base}({self.compression}, lam={self.lam:g})" if self.is_ib else base
        if self.order != "compress_first" and self.is_ib:
            s += " standardize_first"
        return s + ("" if self.affine else " no-affine")

    def with_(self, **changes) -> "Normalizer":
        return Normalizer(**{**asdict(self), **changes})


class _ChannelLast(nn.Module):
    """Apply a feature-axis normalizer to dim 1 of (N, C, ...) or to the flattened tokens of (B, T, D)."""

    def __init__(self, norm: nn.Module, mode: str):
        super().__init__()
        self.norm, self.mode = norm, mode

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "channel":      # (N, C, H, W) -> normalize C at each pixel
            return self.norm(x.movedim(1, -1)).movedim(-1, 1)
        b, t, d = x.shape               # "tokens": (B, T, D) -> a per-channel normalizer over the B*T tokens
        return self.norm(x.reshape(b * t, d)).reshape(b, t, d)


def _torch_norm(grouping: str, dim: int, layout: str, affine: bool) -> nn.Module:
    if grouping == "batch":
        return nn.BatchNorm2d(dim, affine=affine) if layout == "image" else nn.BatchNorm1d(dim, affine=affine)
    if grouping == "group":
        return nn.GroupNorm(math.gcd(4, dim), dim, affine=affine)
    if grouping == "layer":
        return nn.GroupNorm(1, dim, affine=affine) if layout == "image" else nn.LayerNorm(dim, elementwise_affine=affine)
    return nn.RMSNorm(dim, elementwise_affine=affine)


def make_norm(norm: "Normalizer | str", dim: int, layout: Layout = "features") -> nn.Module:
    """The module of ``norm`` for ``dim`` features. ``layout``: "features" (N, D), "image" (N, C, H, W) or
    "tokens" (B, T, D). Unknown names raise ``ValueError`` (a normalizer is never dropped silently)."""
    nz = Normalizer.of(norm)
    if layout not in ("features", "image", "tokens"):
        raise ValueError(f"layout must be features/image/tokens, got {layout!r}")
    if nz.grouping == "none":
        return nn.Identity()
    m = _torch_norm(nz.grouping, dim, layout, nz.affine)
    if nz.is_ib:
        m = convert_norms(m, compression=nz.compression, lam=nz.lam, order=nz.order)
    if layout == "tokens" and nz.grouping in ("batch", "group"):
        return _ChannelLast(m, "tokens")
    if layout == "image" and nz.grouping == "rms":
        return _ChannelLast(m, "channel")
    return m


def is_normalizer(m: nn.Module) -> bool:
    """Whether ``m`` is a normalization module (torch or IBNorm), by :func:`ibnorm.spec_of`."""
    return spec_of(m) is not None


class MLP(nn.Module):
    """``Flatten -> [Linear -> norm -> ReLU] * depth -> Linear``. Input (N, ...) -> logits (N, num_classes).

    ``bias=False`` gives the bias-free chain of Bartlett et al. 2017 (the margin bound's function class).
    """

    def __init__(self, in_dim: int, num_classes: int, width: int = 64, depth: int = 2,
                 norm: "Normalizer | str" = "none", *, bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width, bias=bias), make_norm(norm, width, "features"), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, num_classes, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _BasicBlock(nn.Module):
    def __init__(self, c: int, norm: Normalizer):
        super().__init__()
        plain = norm.grouping == "none"
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=plain)
        self.n1 = make_norm(norm, c, "image")
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=plain)
        self.n2 = make_norm(norm, c, "image")

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> same
        return F.relu(x + self.n2(self.conv2(F.relu(self.n1(self.conv1(x))))))


class SmallResNet(nn.Module):
    """Stem conv -> ``blocks`` residual basic blocks -> global average pool -> Linear. (N, C, H, W) -> (N, K)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, blocks: int = 2,
                 norm: "Normalizer | str" = "batch"):
        super().__init__()
        nz = Normalizer.of(norm)
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=nz.grouping == "none")
        self.n0 = make_norm(nz, width, "image")
        self.blocks = nn.Sequential(*[_BasicBlock(width, nz) for _ in range(blocks)])
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(F.relu(self.n0(self.stem(x))))
        return self.head(h.mean(dim=(2, 3)))


class _Block(nn.Module):
    """Pre-norm transformer block (nanoGPT): x + attn(norm(x)), x + mlp(norm(x)). (B, T, D) -> (B, T, D)."""

    def __init__(self, dim: int, heads: int, norm: Normalizer, causal: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.causal = heads, causal
        self.n1 = make_norm(norm, dim, "tokens")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.n2 = make_norm(norm, dim, "tokens")
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.n1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, h, T, d/h)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.n2(x))


class SmallViT(nn.Module):
    """Patch embedding -> pre-norm blocks -> final norm -> mean pool -> Linear. (N, C, H, W) -> (N, K)."""

    def __init__(self, image_size: int, in_channels: int, num_classes: int, patch: int = 2, dim: int = 32,
                 depth: int = 2, heads: int = 2, norm: "Normalizer | str" = "layer"):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} is not divisible by patch {patch}")
        nz = Normalizer.of(norm)
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.pos = nn.Parameter(0.02 * torch.randn(1, (image_size // patch) ** 2, dim))
        self.blocks = nn.Sequential(*[_Block(dim, heads, nz, causal=False) for _ in range(depth)])
        self.nf = make_norm(nz, dim, "tokens")
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # (N, P, D)
        return self.head(self.nf(self.blocks(h)).mean(dim=1))


class TinyGPT(nn.Module):
    """GPT-style causal LM: token + position embeddings -> pre-norm causal blocks -> final norm -> head.

    Input (B, T) int64 tokens -> logits (B, T, vocab).
    """

    def __init__(self, vocab: int, seq_len: int, dim: int = 64, depth: int = 2, heads: int = 2,
                 norm: "Normalizer | str" = "layer"):
        super().__init__()
        nz = Normalizer.of(norm)
        self.seq_len = seq_len
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(seq_len, dim)
        self.blocks = nn.Sequential(*[_Block(dim, heads, nz, causal=True) for _ in range(depth)])
        self.nf = make_norm(nz, dim, "tokens")
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx: Tensor) -> Tensor:
        if idx.dim() != 2 or idx.dtype != torch.int64:
            raise TypeError(f"TinyGPT expects (B, T) int64 tokens, got {tuple(idx.shape)} {idx.dtype}")
        t = idx.shape[1]
        if t > self.seq_len:
            raise ValueError(f"sequence length {t} exceeds the model's {self.seq_len}")
        h = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        return self.head(self.nf(self.blocks(h)))
