"""Trace any ``nn.Module`` with ``torch.fx`` and lower it to the primitive ops of :mod:`.ops`.

Leaves of the trace: torch's own modules (except containers) and every normalizer that
``ibnorm.spec_of`` resolves (IBNorm modules included); everything else is traced through. Each fx node
becomes one or more ops, using the example values of a float64 run on the actual inputs for shapes:

* modules: Linear; Conv1d/Conv2d (any stride, padding, dilation, groups, padding mode); BatchNorm in
  eval mode (a per-channel affine map; IB compressions in between as an elementwise op); LayerNorm,
  RMSNorm, GroupNorm, InstanceNorm and every IBNorm variant as [centering] -> [compression f_lam] ->
  standardization -> affine (the order of ``ibnorm.functional``); ReLU, LeakyReLU, GELU, SiLU, Tanh,
  Sigmoid, Softplus, ELU, Hardtanh/ReLU6; Flatten/Unflatten; AvgPool/AdaptiveAvgPool; MaxPool (no
  ceil_mode, dilation 1); Dropout/Identity in eval mode;
* functions and methods: the functional versions of the above, ``+ - *`` with constants, residual
  sums, ``flatten/view/reshape/squeeze/unsqueeze/contiguous``, ``permute/transpose/movedim``,
  ``cat``, basic indexing, ``mean/sum`` over non-batch dims, ``F.linear``/``F.conv*``/``F.layer_norm``
  with constant weights.

Anything else (attention, products of two activations, a reshape that mixes samples, train-mode
dropout) becomes an ``unsupported`` op that names it; the graph still evaluates (its forward is the
original call), so the consistency check and the lower bound are unaffected.

The lowered graph is checked against the model: its forward on the inputs must reproduce the
model's output (``Graph.check``); a mismatch withdraws every certificate.
"""
from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, cast

import torch
import torch.fx as fx
from torch import Tensor, nn
from torch.nn import functional as F

from ibnorm.groupings import NormalizerSpec, spec_of

from . import activations as A
from .opnorm import _resolve_padding
from .ops import (
    CatOp,
    CenterOp,
    CombineOp,
    ConvOp,
    ElementwiseOp,
    IndexOp,
    InputOp,
    LinearOp,
    MaxPoolOp,
    Op,
    PermuteOp,
    PoolOp,
    ReduceOp,
    ReshapeOp,
    ScaleShiftOp,
    StandardizeOp,
    UnsupportedOp,
)

__all__ = ["Graph", "NormalizerRecord", "trace", "LipTracer"]


@dataclass
class NormalizerRecord:
    """One normalizer of the model, in graph order (for ``details['norm_scales']``)."""

    name: str
    spec: NormalizerSpec
    standardize_op: int | None      # the op whose input is the standardized quantity (None for eval BN)
    gamma_max: float


@dataclass
class Graph:
    """The lowered network: ops in topological order, op 0 the input, ``output`` the output op."""

    ops: list[Op]
    output: int
    shapes: list[tuple[int, ...]]           # per-sample output shape of each op
    normalizers: list[NormalizerRecord] = field(default_factory=list)

    @property
    def unsupported(self) -> list[str]:
        return [op.what for op in self.ops if isinstance(op, UnsupportedOp)]

    def run(self, x: Tensor, keep: bool = True) -> list[Tensor | None]:
        """Values of every op on the batch x (float64 recommended); ``keep=False`` frees dead values."""
        vals: list[Tensor | None] = [None] * len(self.ops)
        last = self.last_use()
        vals[0] = x
        for i, op in enumerate(self.ops[1:], start=1):
            vals[i] = op.forward(*[vals[p] for p in op.parents])
            if not keep:
                for p in op.parents:
                    if last[p] == i and p != self.output:
                        vals[p] = None
        return vals

    def last_use(self) -> list[int]:
        last = list(range(len(self.ops)))
        for i, op in enumerate(self.ops):
            for p in op.parents:
                last[p] = max(last[p], i)
        last[self.output] = len(self.ops)
        return last

    def consumers(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.ops]
        for i, op in enumerate(self.ops):
            for p in op.parents:
                out[p].append(i)
        return out


class LipTracer(fx.Tracer):
    """fx tracer whose leaves are torch's modules and every normalizer ``spec_of`` knows."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if spec_of(m) is not None:
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return super().is_leaf_module(m, qualname)


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        v = super().run_node(n)
        self.values[n] = v
        return v


class _Root(nn.Module):
    """Wraps the model so that a root which is itself a torch leaf (e.g. a TransformerEncoderLayer) stays one."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def trace(model: nn.Module, x: Tensor) -> tuple[Graph | None, str]:
    """(graph, "") or (None, reason). ``model`` should be a float64 copy; ``x`` a float64 batch."""
    root = _Root(model)
    try:
        g = LipTracer().trace(root)
        gm = fx.GraphModule(root, g)
    except Exception as e:  # noqa: BLE001 - any tracing failure is reported, not raised
        return None, f"torch.fx could not trace the model ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
    rec = _Recorder(gm)
    with torch.no_grad():
        try:
            rec.run(x)
        except Exception as e:  # noqa: BLE001
            return None, f"the traced model failed to run ({type(e).__name__}: {str(e)[:200]})"
    return _Lowering(gm, rec.values, x.shape[0]).lower()


# --------------------------------------------------------------------------------------- lowering

_ACT_MODULES: dict[type[nn.Module], Callable[[Any], A.Activation]] = {
    nn.ReLU: lambda m: A.relu(),
    nn.LeakyReLU: lambda m: A.leaky_relu(m.negative_slope),
    nn.GELU: lambda m: A.gelu(m.approximate),
    nn.SiLU: lambda m: A.silu(),
    nn.Tanh: lambda m: A.tanh(),
    nn.Sigmoid: lambda m: A.sigmoid(),
    nn.Softplus: lambda m: A.softplus(m.beta, m.threshold),
    nn.ELU: lambda m: A.elu(m.alpha),
    nn.Hardtanh: lambda m: A.hardtanh(m.min_val, m.max_val),     # ReLU6 is a Hardtanh subclass
}


def _add_optional(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """a + b where both are given, the one given, or None (an absent shift)."""
    if a is None:
        return b
    return a if b is None else a + b


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _act_function(target: Any, args: tuple, kwargs: dict) -> A.Activation | None:
    if target in (F.relu, torch.relu, "relu", F.relu_, "relu_", torch.relu_):
        return A.relu()
    if target in (F.leaky_relu, "leaky_relu"):
        return A.leaky_relu(_arg(args, kwargs, 1, "negative_slope", 0.01))
    if target in (F.gelu, "gelu"):
        return A.gelu(kwargs.get("approximate", "none"))
    if target in (F.silu, "silu"):
        return A.silu()
    if target in (torch.tanh, F.tanh, "tanh"):
        return A.tanh()
    if target in (torch.sigmoid, F.sigmoid, "sigmoid"):
        return A.sigmoid()
    if target in (F.softplus,):
        return A.softplus(_arg(args, kwargs, 1, "beta", 1.0), _arg(args, kwargs, 2, "threshold", 20.0))
    if target in (F.elu,):
        return A.elu(_arg(args, kwargs, 1, "alpha", 1.0))
    if target in (F.hardtanh,):
        return A.hardtanh(_arg(args, kwargs, 1, "min_val", -1.0), _arg(args, kwargs, 2, "max_val", 1.0))
    if target in (F.relu6,):
        return A.hardtanh(0.0, 6.0)
    return None


_RESHAPE_METHODS = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "clone", "view_as",
                    "reshape_as"}
_RESHAPE_FUNCS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze}
_PERMUTE = {"permute", "transpose", "movedim", "swapaxes", torch.permute, torch.transpose, torch.movedim,
            torch.swapaxes}
_ADD = {operator.add, operator.iadd, torch.add, "add", "add_", "__add__", "__radd__"}
_SUB = {operator.sub, operator.isub, torch.sub, "sub", "sub_", "__sub__"}
_MUL = {operator.mul, operator.imul, torch.mul, "mul", "mul_", "__mul__", "__rmul__"}
_DIV = {operator.truediv, operator.itruediv, torch.div, "div", "div_", "__truediv__"}


class _Lowering:
    def __init__(self, gm: fx.GraphModule, values: dict[fx.Node, Any], batch: int):
        self.gm, self.values, self.batch = gm, values, batch
        self.modules = dict(gm.named_modules())
        self.ops: list[Op] = []
        self.shapes: list[tuple[int, ...]] = []
        self.of: dict[fx.Node, int] = {}          # fx node -> op index of its value
        self.dynamic: set[fx.Node] = set()        # nodes that depend on the input
        self.normalizers: list[NormalizerRecord] = []

    # ------------------------------------------------------------------ helpers
    def add(self, op: Op, shape: tuple[int, ...]) -> int:
        self.ops.append(op)
        self.shapes.append(tuple(shape))
        return len(self.ops) - 1

    def per_sample(self, n: fx.Node) -> tuple[int, ...]:
        return tuple(self.values[n].shape[1:])

    def unsupported(self, n: fx.Node, what: str) -> int:
        """An op that evaluates the original call on its dynamic tensor arguments."""
        dyn = [a for a in n.all_input_nodes if a in self.dynamic and isinstance(self.values.get(a), Tensor)]
        target, args, kwargs = n.target, n.args, n.kwargs
        mod = self.modules.get(n.target) if n.op == "call_module" else None

        def fn(*xs: Tensor) -> Tensor:
            env = dict(zip(dyn, xs))
            a = fx.node.map_arg(args, lambda v: env.get(v, self.values.get(v)))
            k = fx.node.map_arg(kwargs, lambda v: env.get(v, self.values.get(v)))
            if n.op == "call_module":
                assert mod is not None                     # fx names only submodules of the traced root
                return mod(*a, **k)
            if n.op == "call_method":
                assert isinstance(target, str)             # fx: a call_method target is the method's name
                return getattr(a[0], target)(*a[1:], **k)
            assert callable(target)                        # fx: a call_function target is the function
            return target(*a, **k)

        return self.add(UnsupportedOp(n.name, tuple(self.of[a] for a in dyn), what=what, fn=fn), self.per_sample(n))

    # ------------------------------------------------------------------ main loop
    def lower(self) -> tuple[Graph | None, str]:
        out_node = None
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if self.ops:
                    return None, "the model takes more than one input; only single-input models are certified"
                self.of[n] = self.add(InputOp(n.name, ()), self.per_sample(n))
                self.dynamic.add(n)
                continue
            if n.op == "get_attr":
                continue
            if n.op == "output":
                out_node = n.args[0]
                continue
            if not any(a in self.dynamic for a in n.all_input_nodes):
                continue                                   # a constant: its value is in self.values
            self.dynamic.add(n)
            v = self.values.get(n)
            if not isinstance(v, Tensor):
                continue                                   # sizes etc.: read from self.values when used
            if v.dim() == 0 or v.shape[0] != self.batch:
                self.of[n] = self.unsupported(n, f"{self._label(n)} (its output has no batch dimension first)")
                continue
            self.of[n] = self._lower_node(n)
        if not isinstance(out_node, fx.Node) or out_node not in self.of:
            return None, "the model's output is not a single tensor computed from the input"
        return Graph(self.ops, self.of[out_node], self.shapes, self.normalizers), ""

    def _label(self, n: fx.Node) -> str:
        if n.op == "call_module":
            return f"{type(self.modules[n.target]).__name__} ({n.target})"
        t = n.target
        return f"{getattr(t, '__module__', '') or ''}.{getattr(t, '__name__', str(t))}".lstrip(".") \
            if not isinstance(t, str) else f"Tensor.{t}"

    def _dyn_args(self, n: fx.Node) -> list[fx.Node]:
        return [a for a in n.all_input_nodes if a in self.dynamic and isinstance(self.values.get(a), Tensor)]

    def _lower_node(self, n: fx.Node) -> int:
        if n.op == "call_module":
            return self._lower_module(n, self.modules[n.target])
        return self._lower_function(n)

    # ------------------------------------------------------------------ modules
    def _lower_module(self, n: fx.Node, m: nn.Module) -> int:
        dyn = self._dyn_args(n)
        if len(dyn) != 1 or n.args[0] is not dyn[0]:
            return self.unsupported(n, self._label(n))
        x = self.of[dyn[0]]
        shape = self.per_sample(n)
        spec = spec_of(m)
        if spec is not None:
            return self._lower_normalizer(n, spec, x)
        for cls, make in _ACT_MODULES.items():
            if type(m) is cls or (isinstance(m, cls) and type(m).forward is cls.forward):
                return self.add(ElementwiseOp(str(n.target), (x,), act=make(m)), shape)
        if isinstance(m, nn.Linear):
            return self.add(LinearOp(str(n.target), (x,), weight=m.weight.detach(),
                                     bias=None if m.bias is None else m.bias.detach()), shape)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and type(m).forward in (nn.Conv1d.forward, nn.Conv2d.forward):
            return self._conv(n, x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups, m.padding_mode)
        if isinstance(m, nn.Identity):
            return x
        if isinstance(m, nn.modules.dropout._DropoutNd):
            if m.training and m.p > 0:
                return self.unsupported(n, f"{type(m).__name__} in training mode ({n.target})")
            return x
        if isinstance(m, (nn.Flatten, nn.Unflatten)):
            return self.add(ReshapeOp(str(n.target), (x,), shape=shape), shape)
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return self.add(PoolOp(str(n.target), (x,), fn=m, label=type(m).__name__), shape)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            return self._maxpool(n, x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode,
                                 1 if isinstance(m, nn.MaxPool1d) else 2)
        return self.unsupported(n, self._label(n))

    def _conv(self, n, x, weight, bias, stride, padding, dilation, groups, padding_mode) -> int:
        nd = weight.dim() - 2
        tup = (lambda v: (v,) * nd if isinstance(v, int) else tuple(v))
        kernel = tuple(weight.shape[2:])
        pad = _resolve_padding(padding if isinstance(padding, str) else tup(padding), kernel, tup(dilation), nd)
        if isinstance(padding, str) and padding == "same":
            total = [d * (k - 1) for d, k in zip(tup(dilation), kernel)]
            if any(t % 2 for t in total):
                return self.unsupported(n, f"{self._label(n)} with asymmetric 'same' padding")
        op = ConvOp(str(n.target), (x,), weight=weight.detach(), bias=None if bias is None else bias.detach(),
                    stride=tup(stride), padding=pad, dilation=tup(dilation), groups=int(groups),
                    padding_mode=padding_mode)
        return self.add(op, self.per_sample(n))

    def _maxpool(self, n, x, kernel, stride, padding, dilation, ceil_mode, nd) -> int:
        tup = (lambda v: (v,) * nd if isinstance(v, int) else tuple(v))
        stride = kernel if stride is None or stride == [] or stride == () else stride
        if ceil_mode or any(d != 1 for d in tup(dilation)):
            return self.unsupported(n, f"{self._label(n)} with ceil_mode or dilation")
        return self.add(MaxPoolOp(str(n.target), (x,), nd=nd, kernel=tup(kernel), stride=tup(stride),
                                  padding=tup(padding)), self.per_sample(n))

    def _lower_normalizer(self, n: fx.Node, spec: NormalizerSpec, x: int) -> int:
        """[center] -> [f_lam] -> standardize -> affine, or eval-mode BatchNorm's per-channel affine map."""
        shape = self.per_sample(n)
        name = str(n.target)
        dtype = self.values[n].dtype
        comp = A.compression_activation(spec.compression, spec.lam)
        identity = spec.compression == "identity"
        gamma = spec.gamma()
        gmax = 1.0 if gamma is None else float(gamma.detach().abs().max())
        if spec.grouping in ("layer", "rms"):
            pshape = None                       # broadcast over trailing dims
        else:
            pshape = (shape[0],) + (1,) * (len(shape) - 1)

        def view(t: Tensor | None) -> Tensor | None:
            return None if t is None else (t.detach() if pshape is None else t.detach().reshape(pshape))

        eps = spec.effective_eps(dtype)
        if spec.grouping == "batch":
            if not spec.use_running_stats:
                return self.unsupported(n, f"{type(spec.module).__name__} in training mode ({name})")
            rm, rv = view(spec.running_mean), view(spec.running_var)
            assert rm is not None and rv is not None, "use_running_stats implies running statistics"
            inv = torch.rsqrt(rv.to(torch.float64) + eps)
            g, b = view(gamma), view(spec.bias)
            self.normalizers.append(NormalizerRecord(name, spec, None, gmax))
            if identity:
                scale = inv if g is None else inv * g
                shift = _add_optional(-rm * scale, b)
                return self.add(ScaleShiftOp(name, (x,), scale=scale, shift=shift), shape)
            if spec.order == "compress_first":
                h = self.add(ScaleShiftOp(name + ".center", (x,), scale=None, shift=-rm), shape)
                h = self.add(ElementwiseOp(name + ".compress", (h,), act=comp), shape)
                zm = view(spec.running_zmean)
                scale = inv if g is None else inv * g
                shift = _add_optional(None if zm is None else -zm * scale, b)
                return self.add(ScaleShiftOp(name + ".affine", (h,), scale=scale, shift=shift), shape)
            h = self.add(ScaleShiftOp(name + ".standardize", (x,), scale=inv, shift=-rm * inv), shape)
            h = self.add(ElementwiseOp(name + ".compress", (h,), act=comp), shape)
            if g is None and b is None:
                return h
            return self.add(ScaleShiftOp(name + ".affine", (h,), scale=g, shift=b), shape)
        numel = math.prod(shape)
        if spec.grouping in ("layer", "rms"):
            m = math.prod(spec.normalized_shape or (shape[-1],))
        elif spec.grouping == "instance":
            m = numel // shape[0]
        else:
            m = numel // int(spec.num_groups or 1)
        center = spec.center
        h = x
        if spec.order == "compress_first" and not identity:
            if center:
                h = self.add(CenterOp(name + ".center", (h,), m=m), shape)
            h = self.add(ElementwiseOp(name + ".compress", (h,), act=comp), shape)
        std = self.add(StandardizeOp(name + ".standardize", (h,), m=m, center=center, eps=eps,
                                     grouping=spec.grouping), shape)
        self.normalizers.append(NormalizerRecord(name, spec, std, gmax))
        h = std
        if spec.order == "standardize_first" and not identity:
            h = self.add(ElementwiseOp(name + ".compress", (h,), act=comp), shape)
        g, b = view(gamma), view(spec.bias)
        if g is None and b is None:
            return h
        return self.add(ScaleShiftOp(name + ".affine", (h,), scale=g, shift=b), shape)

    # ------------------------------------------------------------------ functions and methods
    def _value(self, a: Any) -> Any:
        return self.values[a] if isinstance(a, fx.Node) else a

    def _lower_function(self, n: fx.Node) -> int:
        t, args, kwargs = n.target, n.args, n.kwargs
        dyn = self._dyn_args(n)
        shape = self.per_sample(n)
        label = self._label(n)
        act = _act_function(t, args, kwargs)
        if act is not None and len(dyn) == 1 and args and args[0] is dyn[0]:
            return self.add(ElementwiseOp(n.name, (self.of[dyn[0]],), act=act), shape)
        if t in (F.dropout, F.dropout1d, F.dropout2d, "dropout"):
            training = _arg(args, kwargs, 2, "training", True)
            p = _arg(args, kwargs, 1, "p", 0.5)
            if training and p > 0:
                return self.unsupported(n, f"{label} in training mode")
            return self.of[dyn[0]]
        if t in _ADD | _SUB:
            return self._combine(n, sign=-1.0 if t in _SUB else 1.0)
        if t in (operator.neg, torch.neg, "neg", "__neg__"):
            return self.add(CombineOp(n.name, (self.of[dyn[0]],), coefs=(-1.0,)), shape)
        if t in _MUL | _DIV:
            return self._scale(n, divide=t in _DIV)
        if len(dyn) != 1:
            parts = args[0] if args and isinstance(args[0], (list, tuple)) else ()
            nodes = [a for a in parts if isinstance(a, fx.Node) and a in self.dynamic]
            if t in (torch.cat, torch.concat) and nodes and len(nodes) == len(parts):
                d = _arg(args, kwargs, 1, "dim", 0)
                d = d + len(shape) + 1 if d < 0 else d
                if d == 0:
                    return self.unsupported(n, f"{label} along the batch dimension")
                return self.add(CatOp(n.name, tuple(self.of[a] for a in nodes), dim=d - 1), shape)
            return self.unsupported(n, label)
        x = self.of[dyn[0]]
        first_is_x = bool(args) and args[0] is dyn[0]
        if not first_is_x:
            if t in (torch.matmul, operator.matmul) and len(args) == 2 and args[1] is dyn[0]:
                return self.unsupported(n, f"{label} (constant @ activation)")
            return self.unsupported(n, label)
        if t in _RESHAPE_METHODS or t in _RESHAPE_FUNCS:
            return self.add(ReshapeOp(n.name, (x,), shape=shape), shape)
        if t in _PERMUTE:
            return self._permute(n, x, dyn[0])
        if t in ("mean", "sum", torch.mean, torch.sum):
            d = _arg(args, kwargs, 1, "dim", None)
            if d is None:
                return self.unsupported(n, f"{label} over all dims (mixes the batch)")
            dims = (d,) if isinstance(d, int) else tuple(d)
            nd = len(self.values[dyn[0]].shape)                 # args[0] is dyn[0]
            dims = tuple(k + nd if k < 0 else k for k in dims)
            if 0 in dims:
                return self.unsupported(n, f"{label} over the batch dimension")
            keep = bool(_arg(args, kwargs, 2, "keepdim", False))
            return self.add(ReduceOp(n.name, (x,), dims=tuple(k - 1 for k in dims),
                                     mean=t in ("mean", torch.mean), keepdim=keep), shape)
        if t is operator.getitem:
            idx = args[1] if isinstance(args[1], tuple) else (args[1],)
            idx = tuple(self._value(i) for i in idx)
            if not idx or idx[0] != slice(None) or any(isinstance(i, Tensor) for i in idx):
                return self.unsupported(n, f"{label} (indexing that is not basic or touches the batch)")
            return self.add(IndexOp(n.name, (x,), index=idx[1:]), shape)
        if t in (F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
            a = tuple(self._value(v) for v in args[1:])
            k = {key: self._value(v) for key, v in kwargs.items()}
            pool = cast(Callable[..., Tensor], t)               # one of the four pooling functions above
            return self.add(PoolOp(n.name, (x,), fn=lambda z: pool(z, *a, **k), label=label), shape)
        if t in (F.max_pool1d, F.max_pool2d):
            nd = 1 if t is F.max_pool1d else 2
            return self._maxpool(n, x, self._value(_arg(args, kwargs, 1, "kernel_size")),
                                 self._value(_arg(args, kwargs, 2, "stride", None)),
                                 self._value(_arg(args, kwargs, 3, "padding", 0)),
                                 self._value(_arg(args, kwargs, 4, "dilation", 1)),
                                 bool(self._value(_arg(args, kwargs, 5, "ceil_mode", False))), nd)
        if t is F.linear:
            w = self._value(_arg(args, kwargs, 1, "weight"))
            b = self._value(_arg(args, kwargs, 2, "bias"))
            return self.add(LinearOp(n.name, (x,), weight=w.detach(), bias=None if b is None else b.detach()), shape)
        if t in (F.conv1d, F.conv2d):
            w, b, stride, padding, dilation, groups = (
                self._value(_arg(args, kwargs, i, k, d)) for i, k, d in
                ((1, "weight", None), (2, "bias", None), (3, "stride", 1), (4, "padding", 0), (5, "dilation", 1),
                 (6, "groups", 1)))
            return self._conv(n, x, w, b, stride, padding, dilation, groups, "zeros")
        if t is F.layer_norm:
            ns = self._value(_arg(args, kwargs, 1, "normalized_shape"))
            ns = (ns,) if isinstance(ns, int) else tuple(ns)
            spec = NormalizerSpec("layer", eps=float(self._value(_arg(args, kwargs, 4, "eps", 1e-5))),
                                  normalized_shape=ns, weight=self._value(_arg(args, kwargs, 2, "weight")),
                                  bias=self._value(_arg(args, kwargs, 3, "bias")))
            return self._lower_normalizer(n, spec, x)
        if t in (torch.matmul, operator.matmul):
            w = self._value(args[1])
            if isinstance(w, Tensor) and w.dim() == 2:
                return self.add(LinearOp(n.name, (x,), weight=w.detach().T.contiguous(), bias=None), shape)
        return self.unsupported(n, label)

    def _dynamic_node(self, a: Any) -> fx.Node | None:
        """``a`` if it is an input-dependent fx node, else None (a constant or a Python value)."""
        return a if isinstance(a, fx.Node) and a in self.dynamic else None

    def _combine(self, n: fx.Node, sign: float) -> int:
        a, b = n.args[0], n.args[1] if len(n.args) > 1 else n.kwargs.get("other")
        alpha = float(self._value(n.kwargs.get("alpha", 1.0)))
        shape = self.per_sample(n)
        na, nb = self._dynamic_node(a), self._dynamic_node(b)
        if na is not None and nb is not None:
            if tuple(self.values[na].shape) != tuple(self.values[nb].shape):
                return self.unsupported(n, f"{self._label(n)} with broadcasting between activations")
            return self.add(CombineOp(n.name, (self.of[na], self.of[nb]), coefs=(1.0, sign * alpha)), shape)
        da = na is not None
        dyn, const = (na, b) if na is not None else (nb, a)
        if dyn is None:
            return self.unsupported(n, f"{self._label(n)} (no input-dependent operand among its arguments)")
        c = self._value(const)
        c = torch.as_tensor(c, dtype=torch.float64)
        coef_dyn = 1.0 if da else sign
        coef_const = sign * alpha if da else 1.0
        return self.add(CombineOp(n.name, (self.of[dyn],), coefs=(coef_dyn,), const=coef_const * c), shape)

    def _scale(self, n: fx.Node, divide: bool) -> int:
        a, b = n.args[0], n.args[1]
        na, nb = self._dynamic_node(a), self._dynamic_node(b)
        if na is not None and nb is not None:
            return self.unsupported(n, f"{self._label(n)} of two input-dependent tensors")
        if nb is not None and divide:
            return self.unsupported(n, f"{self._label(n)} by an input-dependent tensor")
        dyn, const = (na, b) if na is not None else (nb, a)
        if dyn is None:
            return self.unsupported(n, f"{self._label(n)} (no input-dependent operand among its arguments)")
        c = self._value(const)
        if isinstance(c, Tensor) and c.numel() > 1:
            c = c.detach().to(torch.float64)
            c = 1.0 / c if divide else c
            if c.dim() == len(self.values[n].shape) and c.shape[0] == 1:
                c = c[0]
            return self.add(ScaleShiftOp(n.name, (self.of[dyn],), scale=c), self.per_sample(n))
        s = float(c)
        return self.add(CombineOp(n.name, (self.of[dyn],), coefs=(1.0 / s if divide else s,)), self.per_sample(n))

    def _permute(self, n: fx.Node, x: int, src_node: fx.Node) -> int:
        """``src_node`` is the permuted tensor (the node's first argument)."""
        t, args = n.target, n.args
        nd = len(self.values[src_node].shape)

        def norm(d: Any) -> int:
            d = int(self._value(d))
            return d + nd if d < 0 else d

        def seq(v: Any) -> list[Any]:
            v = self._value(v)
            return [v] if isinstance(v, int) else list(v)

        if t in ("permute", torch.permute):
            dims = args[1] if len(args) == 2 and isinstance(args[1], (tuple, list)) else args[1:]
            perm = [norm(d) for d in dims]
        elif t in ("transpose", "swapaxes", torch.transpose, torch.swapaxes):
            i, j = norm(args[1]), norm(args[2])
            perm = list(range(nd))
            perm[i], perm[j] = perm[j], perm[i]
        else:  # movedim
            src_n, dst_n = [norm(v) for v in seq(args[1])], [norm(v) for v in seq(args[2])]
            res: list[int | None] = [None] * nd
            for s_, d_ in zip(src_n, dst_n):
                res[d_] = s_
            rest = iter(d for d in range(nd) if d not in src_n)
            perm = [r if r is not None else next(rest) for r in res]
        if perm[0] != 0:
            return self.unsupported(n, f"{self._label(n)} that moves the batch dimension")
        return self.add(PermuteOp(n.name, (x,), perm=tuple(p - 1 for p in perm[1:])), self.per_sample(n))


def float64_copy(model: nn.Module) -> nn.Module:
    """A float64 deep copy of ``model`` (for exact-as-possible certificates)."""
    m = copy.deepcopy(model)
    return m.to(torch.float64)
