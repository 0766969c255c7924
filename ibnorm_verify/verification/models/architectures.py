"""Small architectures with a ``norm`` argument: MLP, ResNet-style CNN, ViT, GPT-style causal LM.

Every model takes ``norm`` in :data:`NORMS` (``"none"``, ``"bn"``, ``"ln"``, ``"rms"``, ``"gn"``) and the
IBNorm settings ``compression`` / ``lam`` / ``order``. The normalizers are built as the plain torch
modules and, when ``compression != "identity"``, swapped for their IBNorm versions with
:func:`ibnorm.convert_norms` (the same path a user takes on an existing model). ``affine=False`` drops
the normalizers' (gamma, beta): the with/without-affine ablation.

Where a normalizer needs an axis convention:

* images (N, C, H, W): ``bn`` = BatchNorm2d; ``ln`` = GroupNorm(1, C) (LayerNorm over C, H, W, the
  usual CNN reading); ``gn`` = GroupNorm(min(4, C), C); ``rms`` = RMSNorm over C at each pixel;
* tokens (B, T, D): ``ln`` = LayerNorm(D); ``rms`` = RMSNorm(D); ``bn`` = BatchNorm1d over the B*T tokens.

Architectures follow nanoGPT (pre-norm transformer blocks) and the CIFAR ResNet of He et al. 2016
(basic blocks), at toy width.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ibnorm import convert_norms

__all__ = ["NORMS", "make_norm", "finish_norms", "MLP", "SmallResNet", "SmallViT", "TinyGPT", "NORM_TYPES"]

NORMS = ("none", "bn", "ln", "rms", "gn")
#: the module types counted as normalizers (IBNorm modules subclass them)
NORM_TYPES = (nn.LayerNorm, nn.RMSNorm, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)


class _ChannelLast(nn.Module):
    """Apply a feature-axis normalizer to dim 1 of (N, C, ...) or to the flattened tokens of (B, T, D)."""

    def __init__(self, norm: nn.Module, mode: str):
        super().__init__()
        self.norm, self.mode = norm, mode

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "channel":      # (N, C, H, W) -> normalize C at each pixel
            return self.norm(x.movedim(1, -1)).movedim(-1, 1)
        b, t, d = x.shape               # "tokens": (B, T, D) -> BatchNorm1d over B*T
        return self.norm(x.reshape(b * t, d)).reshape(b, t, d)


def make_norm(norm: str, dim: int, layout: str = "features", affine: bool = True) -> nn.Module:
    """A torch normalizer for ``dim`` features. ``layout``: "features" (N, D), "image" (N, C, H, W) or
    "tokens" (B, T, D). Unknown names raise ``ValueError`` (a normalizer is never dropped silently)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if layout not in ("features", "image", "tokens"):
        raise ValueError(f"layout must be features/image/tokens, got {layout!r}")
    if norm == "none":
        return nn.Identity()
    if norm == "bn":
        if layout == "image":
            return nn.BatchNorm2d(dim, affine=affine)
        bn = nn.BatchNorm1d(dim, affine=affine)
        return _ChannelLast(bn, "tokens") if layout == "tokens" else bn
    if norm == "gn":
        gn = nn.GroupNorm(math.gcd(4, dim), dim, affine=affine)
        return _ChannelLast(gn, "tokens") if layout == "tokens" else gn
    if norm == "ln":
        if layout == "image":
            return nn.GroupNorm(1, dim, affine=affine)
        return nn.LayerNorm(dim, elementwise_affine=affine)
    rms = nn.RMSNorm(dim, elementwise_affine=affine)
    return _ChannelLast(rms, "channel") if layout == "image" else rms


def finish_norms(model: nn.Module, compression: str, lam: float, order: str) -> nn.Module:
    """Swap every torch normalizer of ``model`` for its IBNorm version unless ``compression == "identity"``."""
    if compression != "identity":
        convert_norms(model, compression=compression, lam=lam, order=order)
    return model


class MLP(nn.Module):
    """``Flatten -> [Linear -> norm -> ReLU] * depth -> Linear``. Input (N, ...) -> logits (N, num_classes).

    ``bias=False`` gives the bias-free chain of Bartlett et al. 2017 (the margin bound's function class).
    """

    def __init__(self, in_dim: int, num_classes: int, width: int = 64, depth: int = 2, norm: str = "none", *,
                 compression: str = "identity", lam: float = 1.0, order: str = "compress_first",
                 affine: bool = True, bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width, bias=bias), make_norm(norm, width, "features", affine), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, num_classes, bias=bias))
        self.net = nn.Sequential(*layers)
        finish_norms(self, compression, lam, order)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _BasicBlock(nn.Module):
    def __init__(self, c: int, norm: str, affine: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=norm == "none")
        self.n1 = make_norm(norm, c, "image", affine)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=norm == "none")
        self.n2 = make_norm(norm, c, "image", affine)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> same
        return F.relu(x + self.n2(self.conv2(F.relu(self.n1(self.conv1(x))))))


class SmallResNet(nn.Module):
    """Stem conv -> ``blocks`` residual basic blocks -> global average pool -> Linear. (N, C, H, W) -> (N, K)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, blocks: int = 2, norm: str = "bn", *,
                 compression: str = "identity", lam: float = 1.0, order: str = "compress_first",
                 affine: bool = True):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=norm == "none")
        self.n0 = make_norm(norm, width, "image", affine)
        self.blocks = nn.Sequential(*[_BasicBlock(width, norm, affine) for _ in range(blocks)])
        self.head = nn.Linear(width, num_classes)
        finish_norms(self, compression, lam, order)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(F.relu(self.n0(self.stem(x))))
        return self.head(h.mean(dim=(2, 3)))


class _Block(nn.Module):
    """Pre-norm transformer block (nanoGPT): x + attn(norm(x)), x + mlp(norm(x)). (B, T, D) -> (B, T, D)."""

    def __init__(self, dim: int, heads: int, norm: str, affine: bool, causal: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.causal = heads, causal
        self.n1 = make_norm(norm, dim, "tokens", affine)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.n2 = make_norm(norm, dim, "tokens", affine)
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
                 depth: int = 2, heads: int = 2, norm: str = "ln", *, compression: str = "identity",
                 lam: float = 1.0, order: str = "compress_first", affine: bool = True):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} is not divisible by patch {patch}")
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.pos = nn.Parameter(0.02 * torch.randn(1, (image_size // patch) ** 2, dim))
        self.blocks = nn.Sequential(*[_Block(dim, heads, norm, affine, causal=False) for _ in range(depth)])
        self.nf = make_norm(norm, dim, "tokens", affine)
        self.head = nn.Linear(dim, num_classes)
        finish_norms(self, compression, lam, order)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # (N, P, D)
        return self.head(self.nf(self.blocks(h)).mean(dim=1))


class TinyGPT(nn.Module):
    """GPT-style causal LM: token + position embeddings -> pre-norm causal blocks -> final norm -> head.

    Input (B, T) int64 tokens -> logits (B, T, vocab).
    """

    def __init__(self, vocab: int, seq_len: int, dim: int = 64, depth: int = 2, heads: int = 2, norm: str = "ln", *,
                 compression: str = "identity", lam: float = 1.0, order: str = "compress_first",
                 affine: bool = True):
        super().__init__()
        self.seq_len = seq_len
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(seq_len, dim)
        self.blocks = nn.Sequential(*[_Block(dim, heads, norm, affine, causal=True) for _ in range(depth)])
        self.nf = make_norm(norm, dim, "tokens", affine)
        self.head = nn.Linear(dim, vocab)
        finish_norms(self, compression, lam, order)

    def forward(self, idx: Tensor) -> Tensor:
        if idx.dim() != 2 or idx.dtype != torch.int64:
            raise TypeError(f"TinyGPT expects (B, T) int64 tokens, got {tuple(idx.shape)} {idx.dtype}")
        t = idx.shape[1]
        if t > self.seq_len:
            raise ValueError(f"sequence length {t} exceeds the model's {self.seq_len}")
        h = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        return self.head(self.nf(self.blocks(h)))
