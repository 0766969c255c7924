"""The sample inputs of the conformance suite (OpInfo's ``sample_inputs`` idea): one list per grouping,
the same kinds for every grouping, generated deterministically (a seed derived from the sample's name).

Kinds: random inputs with affine in fp64/fp32/fp16/bf16; offsets of 1e4; scales 1e-30 and 1e30; constant
groups (at 0 and at an offset); groups with an element exactly at the group mean (u = 0, where log and
root need their true f'(0)); NaN, +inf, -inf; empty batch and empty groups; odd shapes; non-contiguous
and channels-last layouts; mixed parameter dtypes; parameters on the ``meta`` device and everything on
``meta``; integer, bool and complex weights; a numpy integer ``normalized_shape``; BatchNorm in training
mode (running statistics updated) and in eval mode.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from reference import Layout
from torch import Tensor

F64, F32, F16, BF16 = torch.float64, torch.float32, torch.float16, torch.bfloat16
FLOATS = (F64, F32, F16, BF16)
GROUPINGS = ("layer", "rms", "batch", "group", "instance")


@dataclass
class Sample:
    name: str
    grouping: str
    x: Tensor
    weight: Tensor | None = None
    bias: Tensor | None = None
    eps: float | None = 1e-5
    normalized_shape: object = None  # what is passed (an int, a tuple, a numpy integer)
    num_groups: int | None = None
    training: bool = True  # batch grouping
    running: tuple[Tensor, Tensor, Tensor | None] | None = None  # batch: (mean, var, zmean) buffers
    #: torch's own op computes here but ibnorm refuses (torch would compute something silently wrong)
    refused_beyond_torch: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def gradients(self) -> bool:
        """Whether the suite checks gradients on this sample (finite, floating, non-empty CPU inputs)."""
        return ("grad" in self.tags and self.x.device.type == "cpu" and self.x.numel() > 0
                and bool(torch.isfinite(self.x).all()))

    def shape_tuple(self) -> tuple[int, ...] | None:
        ns = self.normalized_shape
        if ns is None:
            return None
        return tuple(int(s) for s in ns) if isinstance(ns, (tuple, list)) else (int(ns),)  # type: ignore[call-overload]


def _gen(name: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def _base_shape(grouping: str, odd: bool = False) -> tuple[tuple[int, ...], dict]:
    """A small input shape per grouping, and the grouping's arguments."""
    if grouping == "layer":
        return ((2, 3, 5), {"normalized_shape": (3, 5)}) if odd else ((3, 7), {"normalized_shape": 7})
    if grouping == "rms":
        return ((2, 3, 5), {"normalized_shape": (3, 5)}) if odd else ((3, 7), {"normalized_shape": 7})
    if grouping == "batch":
        return ((3, 3, 2, 3), {}) if odd else ((6, 3), {})
    if grouping == "group":
        return ((2, 6, 3), {"num_groups": 3}) if odd else ((2, 4, 3), {"num_groups": 2})
    return ((2, 3, 5), {}) if odd else ((2, 2, 4), {})  # instance


def _param_shape(grouping: str, shape: tuple[int, ...], kw: dict) -> tuple[int, ...]:
    if grouping in ("layer", "rms"):
        ns = kw["normalized_shape"]
        return tuple(ns) if isinstance(ns, tuple) else (int(ns),)
    return (shape[1],)


def _params(grouping: str, shape: tuple[int, ...], kw: dict, dtype: torch.dtype, g: torch.Generator,
            w_dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor | None]:
    ps = _param_shape(grouping, shape, kw)
    wd = w_dtype or dtype
    w = (1 + 0.3 * torch.randn(ps, generator=g, dtype=F64)).to(wd)
    b = None if grouping == "rms" else (0.2 * torch.randn(ps, generator=g, dtype=F64)).to(wd)
    return w, b


def _make(name: str, grouping: str, x: Tensor, kw: dict, **fields: object) -> Sample:
    tags = frozenset(fields.pop("tags", ()))  # type: ignore[arg-type]
    return Sample(name=f"{grouping}/{name}", grouping=grouping, x=x, tags=tags, **kw, **fields)  # type: ignore[arg-type]


def _randn(shape: tuple[int, ...], g: torch.Generator, scale: float = 1.0, offset: float = 0.0) -> Tensor:
    rows = torch.randn(shape, generator=g, dtype=F64)
    return offset + scale * rows * (0.5 + torch.rand(shape[:1] + (1,) * (len(shape) - 1), generator=g, dtype=F64))


def samples_for(grouping: str) -> list[Sample]:
    """Every sample of ``grouping``, in a fixed order."""
    out: list[Sample] = []
    shape, kw = _base_shape(grouping)
    oshape, okw = _base_shape(grouping, odd=True)

    def add(name: str, x: Tensor, kwargs: dict | None = None, **fields: object) -> None:
        out.append(_make(name, grouping, x, kw if kwargs is None else kwargs, **fields))

    # random inputs with affine, every float dtype; the odd shape in fp32
    for dt in FLOATS:
        g = _gen(f"{grouping}/randn/{dt}")
        w, b = _params(grouping, shape, kw, dt, g)
        add(f"randn-{str(dt)[6:]}", _randn(shape, g, 2.0, 0.5).to(dt), weight=w, bias=b, tags={"grad"})
    g = _gen(f"{grouping}/odd")
    w, b = _params(grouping, oshape, okw, F32, g)
    add("odd-shape-fp32", _randn(oshape, g).float(), okw, weight=w, bias=b, tags={"grad"})

    # offsets up to 1e4 (the spread is kept above the dtype's spacing at 1e4)
    for dt in FLOATS:
        g = _gen(f"{grouping}/offset/{dt}")
        spread = max(1.0, 1e4 * 64 * torch.finfo(dt).eps)
        add(f"offset-1e4-{str(dt)[6:]}", _randn(shape, g, spread, 1e4).to(dt), tags={"grad"})

    # scales 1e-30 and 1e30 (fp16 cannot hold them)
    for dt in (F64, F32, BF16):
        for scale in (1e-30, 1e30):
            g = _gen(f"{grouping}/scale/{dt}/{scale}")
            add(f"scale-{scale:g}-{str(dt)[6:]}", _randn(shape, g, scale).to(dt), tags={"grad"})

    # constant groups (at 0 and at an offset whose fp32 sum does not round to n times it, so that a
    # one-pass mean leaves |x - mean| ~ 1e-3 and standardize_first gives ~0.5 instead of 0) next to
    # ordinary ones; the fp16 GroupNorm case once broken (fp16 statistics gave NaN gradients)
    for dt in (F64, F32, F16):
        g = _gen(f"{grouping}/constant/{dt}")
        x = _randn(shape, g, 1.0).to(dt)
        lay = Layout(grouping, tuple(x.shape), _tuple(kw.get("normalized_shape")), kw.get("num_groups"))
        m = lay.to_groups(x.clone())
        m[0] = 0.0
        if m.shape[0] > 2:
            m[2] = 7777.7 if dt != F16 else 1e3
        add(f"constant-groups-{str(dt)[6:]}", lay.from_groups(m).contiguous(), tags={"grad", "constant"})

    # u = 0 exactly: groups made of symmetric pairs +-j and zeros around an exactly representable mean
    # (RMS: around 0), so that centering is exact and log and root are differentiated at their kink
    for dt in (F64, F32):
        lay = Layout(grouping, shape, _tuple(kw.get("normalized_shape")), kw.get("num_groups"))
        m = lay.to_groups(torch.zeros(shape, dtype=F64))
        rows, size = m.shape
        pairs = torch.arange(1, size // 2 + 1, dtype=F64)
        row = torch.cat([pairs, -pairs, torch.zeros(size - 2 * len(pairs), dtype=F64)])
        for i in range(rows):
            shift = 0.0 if grouping == "rms" else 0.25 * i
            m[i] = shift + (i + 1) * 0.5 * row[torch.randperm(size, generator=_gen(f"{grouping}/kink/{i}"))]
        g = _gen(f"{grouping}/kink/{dt}")
        w, b = _params(grouping, shape, kw, dt, g)
        add(f"u-zero-{str(dt)[6:]}", lay.from_groups(m).to(dt).contiguous(), weight=w, bias=b, tags={"grad", "kink"})

    # NaN and +-inf (one element, one group)
    for bad in (math.nan, math.inf, -math.inf):
        g = _gen(f"{grouping}/bad/{bad}")
        x = _randn(shape, g).float()
        x.view(-1)[1] = bad
        add(f"nonfinite-{bad}", x, tags={"nonfinite"})

    # empty inputs
    if grouping in ("layer", "rms"):
        add("empty-batch", torch.randn((0,) + shape[1:], generator=_gen("e1")).float())
        add("empty-features", torch.randn(3, 0).float(), {"normalized_shape": 0})
    else:
        add("empty-batch", torch.randn((0,) + shape[1:], generator=_gen("e2")).float())
        add("empty-spatial", torch.randn(shape[:2] + (0,), generator=_gen("e3")).float())
        zero_c = {"num_groups": 1} if grouping == "group" else {}
        add("zero-channels", torch.randn((shape[0], 0) + shape[2:], generator=_gen("e4")).float(), zero_c)

    # layouts: non-contiguous and channels-last
    g = _gen(f"{grouping}/layout")
    if grouping in ("layer", "rms"):
        xt = _randn((7, 3), g).float().t()  # (3, 7), non-contiguous
        w, b = _params(grouping, (3, 7), {"normalized_shape": 7}, F32, g)
        add("transposed", xt, {"normalized_shape": 7}, weight=w, bias=b, tags={"grad"})
        add("strided", _randn((3, 14), g).float()[:, ::2], {"normalized_shape": 7}, tags={"grad"})
    else:
        x4 = _randn((2, 4, 3, 3), g).float().contiguous(memory_format=torch.channels_last)
        kw4 = {"num_groups": 2} if grouping == "group" else {}
        w, b = _params(grouping, (2, 4, 3, 3), kw4, F32, g)
        add("channels-last", x4, kw4, weight=w, bias=b, tags={"grad"})
        add("strided", _randn((2, 8, 3), g).float()[:, ::2], {"num_groups": 2} if grouping == "group" else {},
            tags={"grad"})

    # mixed parameter dtypes
    for xd, wd in ((F16, F32), (BF16, F32), (F32, F64), (BF16, F16), (F64, F32)):
        g = _gen(f"{grouping}/mixed/{xd}/{wd}")
        w, b = _params(grouping, shape, kw, xd, g, w_dtype=wd)
        add(f"mixed-x{str(xd)[6:]}-w{str(wd)[6:]}", _randn(shape, g).to(xd), weight=w, bias=b, tags={"grad"})

    # devices: parameters on meta; everything on meta
    g = _gen(f"{grouping}/meta")
    w, b = _params(grouping, shape, kw, F32, g)
    add("meta-weight", _randn(shape, g).float(), weight=w.to("meta"), bias=b)
    add("all-meta", torch.empty(shape, device="meta"), weight=w.to("meta"), bias=None if b is None else b.to("meta"))

    # integer, bool and complex weights (F.rms_norm takes them; ibnorm refuses them everywhere)
    for wd in (torch.int64, torch.bool, torch.complex64):
        g = _gen(f"{grouping}/badw/{wd}")
        w, _ = _params(grouping, shape, kw, F32, g)
        add(f"weight-{str(wd)[6:]}", _randn(shape, g).float(), weight=w.to(wd),
            refused_beyond_torch=grouping == "rms")

    # a numpy integer normalized_shape (ibnorm, like nn.LayerNorm, takes any integer)
    if grouping in ("layer", "rms"):
        g = _gen(f"{grouping}/npint")
        add("numpy-int-shape", _randn((3, 7), g).float(), {"normalized_shape": np.int64(7)})

    # BatchNorm: eval mode with running statistics, training mode with updates
    if grouping == "batch":
        for dt in (F64, F32, F16):
            g = _gen(f"batch/eval/{dt}")
            c = shape[1]
            rdt = F32 if dt == F16 else dt
            rm = (0.3 * torch.randn(c, generator=g, dtype=F64)).to(rdt)
            rv = (0.5 + torch.rand(c, generator=g, dtype=F64)).to(rdt)
            rzm = (0.1 * torch.randn(c, generator=g, dtype=F64)).to(rdt)
            w, b = _params(grouping, shape, kw, dt, g, w_dtype=rdt)
            add(f"eval-{str(dt)[6:]}", _randn(shape, g).to(dt), weight=w, bias=b, training=False,
                running=(rm, rv, rzm), tags={"grad"})
            g = _gen(f"batch/train/{dt}")
            add(f"train-running-{str(dt)[6:]}", _randn(shape, g).to(dt), training=True,
                running=(rm.clone(), rv.clone(), rzm.clone()), tags={"grad"})
    return out


def _tuple(ns: object) -> tuple[int, ...] | None:
    if ns is None:
        return None
    return tuple(ns) if isinstance(ns, tuple) else (int(ns),)  # type: ignore[call-overload]


def without_params(s: Sample) -> Sample:
    return replace(s, weight=None, bias=None)
