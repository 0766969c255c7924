"""Controlled networks for the capacity experiments (arXiv 2511.00958, ``shared/papers/capacity.md``).

One factory, :func:`build_network`, builds MLPs and convolutional nets from a :class:`NetConfig`:
depth L, width d, weight gain g (orthogonal or Gaussian init scaled by g), activation (identity, ReLU,
tanh), a normalizer (none, LN, BN, GN, RMSNorm, any IBNorm compression/order), the placement (after
every k-th layer, giving K = L // k normalizers) and residual connections. The same config (seed
included) gives the same network, bit for bit.

The model is an ``nn.Sequential`` of :class:`Block` s, in order. A block is

    h -> act(norm(layer(h)))            (residual=False)
    h -> h + act(norm(layer(h)))        (residual=True, only where in and out shapes agree)

with ``layer`` an ``nn.Linear`` or a circular-padded ``nn.Conv2d`` and ``norm`` ``None`` or an
``ibnorm.nn`` module (``compression="identity"`` is the exact torch LN/BN/GN/RMSNorm; row-wise IB
layers use ``backend="composite"``, the reference composite, because the smoothness estimator's
Hessian-vector products need double backward, which the fused ops do not have). The last block
has no activation. The Lipschitz estimator walks these blocks to multiply per-layer factors.

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

from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor, nn

from ibnorm.compression import get_compression, validate_lam
from ibnorm.nn import IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm, IBLayerNorm, IBRMSNorm

__all__ = ["NetConfig", "Block", "build_network", "calibrate_batchnorm", "blocks", "NORMS", "ACTIVATIONS",
           "INITS"]

NORMS = ("none", "ln", "bn", "gn", "rms")
ACTIVATIONS = ("identity", "relu", "tanh")
INITS = ("orthogonal", "gaussian")


@dataclass(frozen=True)
class NetConfig:
    """Everything that defines a controlled network (hashable, picklable, JSON-able via ``asdict``).

    Attributes:
        depth: number of layers L (>= 1).
        width: hidden width d (channels for ``conv=True``).
        gain: weight gain g > 0.
        activation: "identity" | "relu" | "tanh" (not applied after the last layer).
        norm: "none" | "ln" | "bn" | "gn" | "rms".
        every: a normalizer follows layer i when ``i % every == 0`` (K = depth // every of them).
        residual: add the block input to the block output where the shapes agree.
        init: "orthogonal" | "gaussian".
        seed: RNG seed of the weights.
        in_dim, out_dim: input/output features (default ``width``; for convs: channels).
        conv: build 3x3 circular convs on (N, C, image_size, image_size) instead of linear layers.
        image_size: spatial size for convs.
        eps: normalizer epsilon (RMSNorm: ``None`` means torch's default ``finfo.eps``).
        groups: number of groups for "gn".
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
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.eps is not None and not (self.eps >= 0):
            raise ValueError(f"eps must be >= 0 or None, got {self.eps!r}")
        if self.norm == "gn":
            for d in self._dims()[1:]:
                if d % self.groups:
                    raise ValueError(f"gn: every layer width must be divisible by groups={self.groups}, got {d}")
        if self.conv and self.norm == "rms":
            raise ValueError("rms normalization is only built for MLPs (conv=False)")
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


def _make_norm(cfg: NetConfig, d: int, dtype: torch.dtype) -> nn.Module:
    kw = dict(compression=cfg.compression, lam=cfg.lam, order=cfg.order)
    if cfg.norm == "ln":
        m = IBLayerNorm(d, eps=cfg.eps if cfg.eps is not None else 1e-5, dtype=dtype, backend="composite", **kw) \
            if not cfg.conv else IBGroupNorm(1, d, eps=cfg.eps if cfg.eps is not None else 1e-5, dtype=dtype, **kw)
    elif cfg.norm == "rms":
        m = IBRMSNorm(d, eps=cfg.eps, dtype=dtype, backend="composite", **kw)
    elif cfg.norm == "bn":
        cls = IBBatchNorm2d if cfg.conv else IBBatchNorm1d
        m = cls(d, eps=cfg.eps if cfg.eps is not None else 1e-5, dtype=dtype, **kw)
    elif cfg.norm == "gn":
        m = IBGroupNorm(cfg.groups, d, eps=cfg.eps if cfg.eps is not None else 1e-5, dtype=dtype, **kw)
    else:  # pragma: no cover - validated in NetConfig
        raise ValueError(cfg.norm)
    with torch.no_grad():
        if getattr(m, "weight", None) is not None:
            m.weight.fill_(cfg.gamma)
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
    return m


def _init_weight(w: Tensor, cfg: NetConfig, gen: torch.Generator) -> None:
    """In place: ``w`` (out, in) or (out, in, k, k) gets gain * orthogonal / gaussian values."""
    out_f, in_f = w.shape[0], w.shape[1]
    with torch.no_grad():
        if cfg.init == "gaussian":
            fan_in = w[0].numel()
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) * (cfg.gain / fan_in ** 0.5))
            return
        # orthogonal: QR of a Gaussian matrix with the sign fix (Mezzadri 2007) -> Haar (semi-)orthogonal
        n, m = max(out_f, in_f), min(out_f, in_f)
        a = torch.randn(n, m, generator=gen, dtype=torch.float64)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)          # (n, m), orthonormal columns
        q = q if out_f >= in_f else q.T                              # (out, in)
        q = (cfg.gain * q).to(w.dtype)
        if w.dim() == 2:
            w.copy_(q)
        else:  # delta-orthogonal conv kernel
            w.zero_()
            c = w.shape[-1] // 2
            w[:, :, c, c] = q


def build_network(cfg: NetConfig | None = None, **overrides) -> nn.Sequential:
    """Build the network of ``cfg`` (fields may be overridden by keyword), in eval mode.

    Example: ``build_network(depth=8, width=32, gain=2.0, norm="ln", every=2, seed=0)``.
    Returns an ``nn.Sequential`` of :class:`Block`; input shape (N, in_dim) or (N, C, S, S) for convs.
    """
    cfg = NetConfig(**overrides) if cfg is None else (cfg.with_(**overrides) if overrides else cfg)
    dtype = getattr(torch, cfg.dtype)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    dims = cfg._dims()
    blocks_: list[nn.Module] = []
    for i in range(1, cfg.depth + 1):
        d_in, d_out = dims[i - 1], dims[i]
        if cfg.conv:
            layer = nn.Conv2d(d_in, d_out, 3, padding=1, padding_mode="circular", bias=cfg.bias, dtype=dtype)
        else:
            layer = nn.Linear(d_in, d_out, bias=cfg.bias, dtype=dtype)
        _init_weight(layer.weight, cfg, gen)
        if layer.bias is not None:
            with torch.no_grad():
                layer.bias.zero_()
        norm = _make_norm(cfg, d_out, dtype) if (cfg.norm != "none" and i % cfg.every == 0) else None
        act = cfg.activation if i < cfg.depth else "identity"
        blocks_.append(Block(layer, norm, act, residual=cfg.residual and d_in == d_out))
    model = nn.Sequential(*blocks_)
    model.config = cfg  # type: ignore[attr-defined]
    return model.eval()


def blocks(model: nn.Module) -> list[Block]:
    """The blocks of a :func:`build_network` model in order; ``TypeError`` for any other structure."""
    if not isinstance(model, nn.Sequential) or not all(isinstance(b, Block) for b in model):
        raise TypeError("expected an nn.Sequential of ibnorm_verify.verification.models.Block (built by build_network)")
    return list(model)


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
