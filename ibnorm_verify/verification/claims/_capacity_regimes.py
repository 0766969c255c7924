"""The regimes the capacity claims of arXiv 2511.00958 are measured in (shared by the ``cap.*`` modules).

A reviewer asks whether a capacity statement holds beyond the linear orthogonal chains where it is
exact (``docs/papers/capacity.md``): with ReLU and tanh, Gaussian init, residual connections, conv nets
with BN/GN, a ResNet-18-style net, a pre-norm transformer, and after training. A :class:`Regime` is one
such cell: (activation, init, architecture, gain, state, grouping). :func:`regime_cells` builds the
cells a claim sweeps from its parameters, either the full product of the listed values (``grid``) or a
``star``: the base cell (the first value of every list) and every cell that changes one axis of it.

The linear orthogonal chain at initialization (identity activation, orthogonal init, a plain MLP or
circular conv) is an *identity of the setup*: its Lipschitz constant is g^L by construction. A claim
reports its checks there as sanity checks (they guard every cell: if they fail, the setup or the
estimator is broken), never as evidence.

:func:`build_net`, :func:`make_inputs` and :func:`train_regression` give every claim the same networks,
inputs and short training (the "trained" state: full-batch Adam on ``0.5 mean ||f(x) - y||^2`` with
Gaussian targets, the loss whose smoothness ``cap.loss-smoothness`` measures; a regression loss works
for every output shape, which a classification trainer does not). Every draw is seeded through
:mod:`ibnorm_verify.verification.runtime` from the seed and tags that name what is drawn.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor, nn

from ..models import (
    NetConfig,
    PreNormTransformer,
    ResNetStyle,
    build_network,
    calibrate_batchnorm,
    normalizer_modules,
)
from ..runtime import derive_seed, torch_generator
from ..verdict import replicates_to_decide
from .base import Param

__all__ = ["Regime", "Geometry", "ARCHITECTURES", "STATES", "ACTIVATIONS", "INITS", "CONV_GROUPINGS",
           "regime_cells", "regime_params", "geometry_params", "geometry_of", "build_net", "make_inputs",
           "train_regression", "prepare", "what_limits"]

ACTIVATIONS = ("identity", "relu", "tanh")
INITS = ("orthogonal", "gaussian")
ARCHITECTURES = ("mlp", "residual", "conv", "resnet", "transformer")
STATES = ("init", "trained")
GROUPINGS = ("none", "layer", "rms", "batch", "group", "instance")
CONV_GROUPINGS = ("none", "layer", "batch", "group", "instance")
#: the grouping an architecture customarily has, used when a star cell varies the architecture
CUSTOMARY_GROUPING = {"conv": "group", "resnet": "batch", "transformer": "layer"}
_AXIS_PARAM = {"activation": "activations", "init": "inits", "architecture": "architectures", "gain": "gains",
               "state": "states", "grouping": "groupings"}


@dataclass(frozen=True)
class Regime:
    """One regime cell of a capacity claim."""

    activation: str = "relu"
    init: str = "gaussian"
    architecture: str = "mlp"
    gain: float = 2.0
    state: str = "init"
    grouping: str = "none"

    def coords(self, axes) -> dict:
        return {a: getattr(self, a) for a in axes}

    @property
    def setup_identity(self) -> bool:
        """The linear orthogonal chain at init: its constants are exact by construction (sanity cell)."""
        return (self.activation == "identity" and self.init == "orthogonal" and self.architecture in ("mlp", "conv")
                and self.state == "init")

    def problem(self) -> str:
        """Why this combination cannot be built ("" if it can)."""
        if self.architecture == "transformer" and self.grouping not in ("none", "layer", "rms"):
            return f"a transformer takes layer or rms normalization, not {self.grouping}"
        if self.architecture in ("conv", "resnet") and self.grouping == "rms":
            return "rms normalization is built for MLPs and transformers only"
        if self.architecture in ("mlp", "residual") and self.grouping == "instance":
            return "instance normalization needs spatial dims"
        return ""


def regime_cells(values: dict, design: str, *, anchor: bool = False) -> tuple[list[Regime], list[str]]:
    """The cells to sweep and notes on the combinations left out.

    ``values``: axis -> list of values (the first is the base). ``design``: "grid" (every combination)
    or "star" (the base, and the base with one axis changed; a star cell that changes the architecture
    takes that architecture's customary grouping when the base is normalized). ``anchor``: add the
    linear orthogonal chain (the sanity cell) at the base gain.
    """
    axes = list(values)
    base = Regime(**{a: values[a][0] for a in axes})
    if design == "grid":
        cells = [Regime(**dict(zip(axes, combo))) for combo in itertools.product(*(values[a] for a in axes))]
    elif design == "star":
        cells = [base]
        for a in axes:
            for v in values[a][1:]:
                change = {a: v}
                if a == "architecture" and base.grouping != "none" and v in CUSTOMARY_GROUPING:
                    change["grouping"] = CUSTOMARY_GROUPING[v]
                cells.append(replace(base, **change))
    else:
        raise ValueError(f"design must be 'grid' or 'star', got {design!r}")
    if anchor:
        cells.insert(0, replace(base, activation="identity", init="orthogonal", architecture="mlp", state="init"))
    notes, out = [], []
    for c in dict.fromkeys(cells):
        why = c.problem()
        if why:
            notes.append(f"left out {c.coords(axes)}: {why}")
        else:
            out.append(c)
    return out, notes


def regime_params(*, activations, inits, architectures, gains, states, groupings=None, design=None,
                  gain_help: str = "weight gains g (a regime axis)") -> tuple[Param, ...]:
    """The regime parameters of a capacity claim. Each argument is a dict of scale -> default
    (``quick`` required; ``tiny``, ``medium``, ``full`` optional)."""
    def p(name, d, help_, **kw):
        return Param(name, d["quick"], d.get("full"), help_, tiny=d.get("tiny"), medium=d.get("medium"), **kw)

    out = [
        p("activations", activations, "activations (regime axis; the first is the base)", choices=ACTIVATIONS),
        p("inits", inits, "weight inits (regime axis)", choices=INITS),
        p("architectures", architectures, "architectures: mlp, residual (MLP with skips), conv (circular 3x3), "
          "resnet (ResNet-18 layout), transformer (pre-norm blocks)", choices=ARCHITECTURES),
        p("gains", gains, gain_help, exclusive_minimum=0.0),
        p("states", states, "at initialization and/or after a short training run (regime axis)", choices=STATES),
    ]
    if groupings is not None:
        out.append(p("groupings", groupings, "normalizer groupings (ibnorm.groupings; regime axis)",
                     choices=GROUPINGS[1:]))
    out.append(p("design", design or {"quick": "star", "medium": "star"},
                 "star: the base cell and one-axis changes of it; grid: every combination", choices=("star", "grid")))
    return tuple(out)


def regime_values(params: dict, axes) -> dict:
    """axis -> list of values, from the claim's parameters (deduplicated, order kept)."""
    return {a: list(dict.fromkeys(params[_AXIS_PARAM[a]])) for a in axes}


@dataclass(frozen=True)
class Geometry:
    """Sizes of the networks and inputs of a sweep, and the training budget of the "trained" state."""

    width: int = 16                 # MLP / transformer width
    channels: int = 4               # conv / ResNet base channels
    image_size: int = 4             # conv / ResNet input size (S x S)
    tokens: int = 4                 # transformer sequence length
    n_inputs: int = 8               # inputs at which the local constants are taken
    train_steps: int = 50
    train_lr: float = 1e-3
    n_train: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def geometry_params(**defaults: dict) -> tuple[Param, ...]:
    """Params for every :class:`Geometry` field; ``defaults``: field -> {scale: value} overrides."""
    base = Geometry()
    out = []
    for f in fields(Geometry):
        d = defaults.get(f.name, {"quick": getattr(base, f.name)})
        kw = {"exclusive_minimum": 0.0} if f.name == "train_lr" else {"minimum": 1}
        out.append(Param(f.name, d["quick"], d.get("full"), f"geometry: {f.name.replace('_', ' ')}",
                         tiny=d.get("tiny"), medium=d.get("medium"), **kw))
    return tuple(out)


def geometry_of(params: dict) -> Geometry:
    return Geometry(**{f.name: params[f.name] for f in fields(Geometry) if f.name in params})


def build_net(regime: Regime, units: int, geo: Geometry, seed: int, *, every: int = 1, norm: bool = True,
              dtype: torch.dtype = torch.float64) -> nn.Module:
    """The network of ``regime`` with ``units`` depth units (MLP/conv layers: ``every * units``; ResNet:
    basic blocks; transformer: blocks), weights seeded by ``seed``; ``norm=False`` builds it without
    normalizers. The weights do not depend on ``units`` beyond the layers they add, nor on ``norm``."""
    grouping = regime.grouping if norm else "none"
    wseed = derive_seed(seed, "weights", regime.architecture, regime.init, regime.gain)
    if regime.architecture in ("mlp", "residual", "conv"):
        conv = regime.architecture == "conv"
        cfg = NetConfig(depth=every * units, width=geo.channels if conv else geo.width, gain=regime.gain,
                        activation=regime.activation, norm=grouping, every=every,
                        residual=regime.architecture == "residual", init=regime.init, seed=wseed, conv=conv,
                        image_size=geo.image_size, groups=2 if conv else 4, dtype=str(dtype).split(".")[-1])
        return build_network(cfg)
    if regime.architecture == "resnet":
        return ResNetStyle(blocks=units, width=geo.channels, in_channels=3, num_classes=10, norm=grouping,
                           activation=regime.activation, init=regime.init, gain=regime.gain, seed=wseed, dtype=dtype)
    if regime.architecture == "transformer":
        return PreNormTransformer(depth=units, dim=geo.width, heads=2, norm=grouping, activation=regime.activation,
                                  init=regime.init, gain=regime.gain, seed=wseed, dtype=dtype)
    raise ValueError(f"unknown architecture {regime.architecture!r}")


def input_shape(regime: Regime, geo: Geometry) -> tuple[int, ...]:
    if regime.architecture == "conv":
        return (geo.channels, geo.image_size, geo.image_size)
    if regime.architecture == "resnet":
        return (3, geo.image_size, geo.image_size)
    if regime.architecture == "transformer":
        return (geo.tokens, geo.width)
    return (geo.width,)


def make_inputs(regime: Regime, geo: Geometry, n: int, seed: int, *tags) -> Tensor:
    """(n, *input_shape) float64 inputs with unit per-coordinate scale: each on the sphere of radius
    sqrt(numel) (so ||x|| = sqrt(d) exactly, as the linear-chain laws assume)."""
    shape = input_shape(regime, geo)
    gen = torch_generator(seed, "inputs", regime.architecture, shape, *tags)
    x = torch.randn((n,) + shape, generator=gen, dtype=torch.float64)
    norms = x.reshape(n, -1).norm(dim=1).reshape((n,) + (1,) * len(shape))
    return x * (math.sqrt(math.prod(shape)) / norms)


def train_regression(model: nn.Module, x: Tensor, y: Tensor, steps: int, lr: float) -> nn.Module:
    """Full-batch Adam on ``0.5 mean ||model(x) - y||^2`` for ``steps`` steps (in place); BatchNorm layers
    train on batch statistics and are calibrated on ``x`` afterwards. Returns the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(int(steps)):
        opt.zero_grad()
        loss = 0.5 * (model(x) - y).pow(2).flatten(1).sum(1).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged (loss {float(loss)})")
        loss.backward()
        opt.step()
    model.eval()
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        calibrate_batchnorm(model, x)
    return model


def prepare(regime: Regime, units: int, geo: Geometry, seed: int, *, every: int = 1) -> nn.Module:
    """The regime's normalized net (``regime.grouping``), trained if ``regime.state == "trained"`` and
    BatchNorm-calibrated on a data batch, in eval mode."""
    model = build_net(regime, units, geo, seed, every=every)
    if regime.state == "trained":
        xt = make_inputs(regime, geo, geo.n_train, seed, "train", units)
        with torch.no_grad():
            out_shape = model.eval()(xt[:1]).shape[1:]
        gen = torch_generator(seed, "targets", regime.architecture, units)
        y = torch.randn((geo.n_train,) + tuple(out_shape), generator=gen, dtype=xt.dtype)
        train_regression(model, xt, y, geo.train_steps, geo.train_lr)
    elif any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        calibrate_batchnorm(model, make_inputs(regime, geo, geo.n_train, seed, "calibration", units))
    return model


def num_normalizers(model: nn.Module) -> int:
    return len(normalizer_modules(model))


def what_limits(check, slopes_lower=None, slopes_upper=None, threshold: float = 0.0) -> str:
    """Why an undecided evidence check is undecided, and what budget would decide it (for the notes).

    A bracket check (``slopes_lower`` / ``slopes_upper``: per-seed slopes of the two ends) whose mean
    ends lie on both sides of ``threshold`` is limited by the certificate: more seeds shrink the sampling
    intervals of the ends, not the distance between them. Otherwise (and for point estimates) the seed
    count that would decide it if the effect is as estimated (:func:`verdict.replicates_to_decide`).
    """
    if check.role != "evidence" or check.verdict.value != "inconclusive":
        return ""           # decided on its own (a refutation's Holm-level budget is in the seed-budget note)
    if slopes_lower is not None and slopes_upper is not None:
        lo, hi = float(np.mean(slopes_lower)), float(np.mean(slopes_upper))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return f"{check.name}: no finite certified bound; more seeds cannot decide it"
        if lo <= threshold <= hi:
            return (f"{check.name}: limited by the certificate (mean slopes of the lower / upper ends {lo:.3g} / "
                    f"{hi:.3g} straddle {threshold:g}); more seeds cannot decide it, a tighter certificate could")
    n = replicates_to_decide(check)
    if n is None:
        return f"{check.name}: undecided; no seed budget can be estimated"
    return f"{check.name}: about {n} seeds would decide it if the effect is as estimated (now {check.replicates})"
