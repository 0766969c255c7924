"""A small deterministic trainer with per-step statistics, checkpoints and resume.

``train(model, train, test, cfg)`` runs ``cfg.steps`` optimizer steps of AdamW or SGD(momentum) on
minibatches drawn by a seeded ``torch.Generator`` and logs, per step:

* ``train_loss`` / ``train_acc`` of the minibatch (train mode, before the update);
* every ``eval_every`` steps (and at the last step): ``test_loss`` / ``test_acc`` on the whole test set
  (eval mode; BatchNorm uses its running statistics), and the same for an optional validation set;
* ``norm_var[name]``: each normalizer's *input* variance over its normalization group (the sigma^2 the
  normalizer divides by), captured with forward pre-hooks on the training minibatch: LayerNorm /
  GroupNorm: the per-sample group variance, averaged over samples and groups; BatchNorm: the per-channel
  batch variance, averaged over channels; RMSNorm: the per-sample mean square (what RMSNorm divides by).
  IBNorm modules subclass these, so their pre-compression input is what is recorded;
* ``weight_norm[name]``: the Frobenius norm of every weight matrix / conv kernel / embedding (dim >= 2).

Two data kinds: image classification (:class:`~ibnorm_verify.verification.training.data.ImageData`) and language
modelling (an (N, T) int64 token tensor; next-token loss on positions 1..T-1).

Determinism: with the same model initial state, data and ``cfg`` (seed included) two runs give
bit-identical parameters on the same machine and thread count. A run with ``checkpoint`` set saves the
model, optimizer, generator state and the log every ``checkpoint_every`` steps (atomically: a temporary
file, then a rename); calling ``train`` again with the same path resumes from the last checkpoint and
ends in the same state as an uninterrupted run. A checkpoint that cannot be read back (truncated by a
full disk or a copy, corrupt, or missing a field) is reported with a warning, removed, and the run
starts from step 0: it never crashes every rerun. A readable checkpoint written with another
``TrainConfig`` is refused (``ValueError``): that is a caller error, not damage.

This is the one training loop of the suite; every learned-model claim trains through it.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ibnorm import spec_of

from .data import ImageData

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "group_variance", "normalizer_modules",
           "weight_modules", "seeded_init", "CheckpointError", "load_checkpoint"]


@dataclass
class TrainConfig:
    steps: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adamw"          # "adamw" | "sgd"
    weight_decay: float = 0.0
    momentum: float = 0.9             # SGD only
    eval_every: int = 25
    seed: int = 0
    grad_clip: float = 0.0            # 0 = off
    log_stats: bool = True            # normalizer input variances and weight norms per step
    checkpoint_every: int = 0         # 0 = only at the end (when a checkpoint path is given)

    def __post_init__(self):
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        for k in ("steps", "batch_size", "eval_every"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)!r}")
        for k in ("lr", "weight_decay", "momentum", "grad_clip"):
            v = float(getattr(self, k))
            if not math.isfinite(v) or v < 0 or (k == "lr" and v == 0):
                raise ValueError(f"{k} must be finite and {'> 0' if k == 'lr' else '>= 0'}, got {v!r}")


@dataclass
class TrainResult:
    log: dict                         # see the module docstring
    final: dict                       # last train/test/val loss and accuracy
    steps_done: int
    resumed_from: int = 0
    model: nn.Module | None = field(default=None, repr=False)


def seeded_init(seed: int, builder, *args, **kwargs) -> nn.Module:
    """Build a model under ``torch.manual_seed(seed)`` without disturbing the global RNG afterwards."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return builder(*args, **kwargs)


# ------------------------------------------------------------------------------------ statistics

def normalizer_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Every normalizer (torch or IBNorm, any module :func:`ibnorm.spec_of` resolves) by qualified name."""
    return {n: m for n, m in model.named_modules() if spec_of(m) is not None}


def weight_modules(model: nn.Module) -> dict[str, Tensor]:
    """Every weight with dim >= 2 (Linear, Conv, Embedding, ...) by qualified parameter name."""
    return {n: p for n, p in model.named_parameters() if p.dim() >= 2}


def group_variance(module: nn.Module, x: Tensor) -> Tensor:
    """Per-group input statistic the normalizer divides by, one value per group (a 1-D tensor).

    By the module's grouping (:func:`ibnorm.spec_of`): ``layer``: variance over ``normalized_shape`` per
    sample; ``rms``: mean square over it; ``batch``: variance over (N, spatial) per channel; ``group``:
    variance per (sample, group); ``instance``: variance per (sample, channel). Biased (ddof=0), as the
    normalizers use it.
    """
    spec = spec_of(module)
    if spec is None:
        raise TypeError(f"{type(module).__name__} is not a supported normalizer")
    x = x.detach()
    if spec.grouping in ("layer", "rms"):
        dims = tuple(range(-len(spec.normalized_shape or (x.shape[-1],)), 0))
        return (x.var(dim=dims, unbiased=False) if spec.grouping == "layer" else (x * x).mean(dim=dims)).reshape(-1)
    if spec.grouping == "batch":
        dims = (0,) + tuple(range(2, x.dim()))
        return x.var(dim=dims, unbiased=False).reshape(-1)
    groups = x.shape[1] if spec.grouping == "instance" else int(spec.num_groups or 1)
    return x.reshape(x.shape[0], groups, -1).var(dim=2, unbiased=False).reshape(-1)


class _VarianceRecorder:
    """Forward pre-hooks that keep the latest mean group variance of each normalizer's input."""

    def __init__(self, model: nn.Module):
        self.latest: dict[str, float] = {}
        self.handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in normalizer_modules(model).items()]
        self.active = True

    def _hook(self, name):
        def hook(module, args):
            if self.active:
                self.latest[name] = float(group_variance(module, args[0]).mean())
        return hook

    def close(self):
        for h in self.handles:
            h.remove()


# ------------------------------------------------------------------------------------ tasks

def _kind(data) -> str:
    if isinstance(data, ImageData):
        return "image"
    if isinstance(data, Tensor) and data.dim() == 2 and data.dtype == torch.int64:
        if data.shape[1] < 2:
            raise ValueError("token windows need T >= 2")
        return "lm"
    raise TypeError("data must be ImageData or an (N, T) int64 token tensor")


def _n(data) -> int:
    return len(data) if isinstance(data, ImageData) else int(data.shape[0])


def _loss_acc(model: nn.Module, data, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy and accuracy of ``model`` on ``data`` (rows ``idx``, or all)."""
    if isinstance(data, ImageData):
        x, y = (data.x, data.y) if idx is None else (data.x[idx], data.y[idx])
        logits = model(x)
    else:
        tok = data if idx is None else data[idx]
        logits, y = model(tok[:, :-1]), tok[:, 1:]
        logits, y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(-1) == y).float().mean()
    return loss, acc


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 1024) -> tuple[float, float]:
    """(mean loss, accuracy) in eval mode over all of ``data``, restoring the previous mode."""
    _kind(data)
    was = model.training
    model.eval()
    tot_l = tot_a = 0.0
    n = _n(data)
    for s in range(0, n, batch_size):
        idx = torch.arange(s, min(s + batch_size, n))
        l, a = _loss_acc(model, data, idx)
        tot_l += float(l) * len(idx)
        tot_a += float(a) * len(idx)
    model.train(was)
    return tot_l / n, tot_a / n


# ------------------------------------------------------------------------------------ training

def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _new_log(model: nn.Module) -> dict:
    return {"step": [], "train_loss": [], "train_acc": [], "eval_step": [], "test_loss": [], "test_acc": [],
            "val_loss": [], "val_acc": [], "norm_var": {n: [] for n in normalizer_modules(model)},
            "weight_norm": {n: [] for n in weight_modules(model)}}


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used (truncated, corrupt or incomplete)."""


_CKPT_KEYS = ("model", "opt", "gen", "log", "step", "cfg")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a training checkpoint; :class:`CheckpointError` if it is truncated, corrupt or incomplete."""
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as e:  # torch raises RuntimeError / EOFError / UnpicklingError / zipfile errors
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or any(k not in state for k in _CKPT_KEYS):
        raise CheckpointError(f"checkpoint {path} is incomplete (expected the fields {_CKPT_KEYS})")
    step = state["step"]
    if not isinstance(step, int) or step < 0 or len(state["log"].get("step", [])) != step:
        raise CheckpointError(f"checkpoint {path} is inconsistent (step {step!r} vs a log of "
                              f"{len(state['log'].get('step', []))} steps)")
    return state


def train(model: nn.Module, train_data, test_data, cfg: TrainConfig, *, val_data=None,
          checkpoint: str | os.PathLike | None = None, stop_after: int | None = None) -> TrainResult:
    """Train ``model`` in place; returns the log (see the module docstring) and the final metrics.

    ``checkpoint``: a file path; if it exists, training resumes from it (the config must match).
    ``stop_after``: stop (after checkpointing) once this many steps are done in total: simulates an
    interruption, used by the resume tests.
    """
    kind = _kind(train_data)
    for d in (test_data, val_data):
        if d is not None and _kind(d) != kind:
            raise TypeError("train/test/val data must be of the same kind")
    n = _n(train_data)
    bs = min(cfg.batch_size, n)
    if kind == "image" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) and bs < 2:
        raise ValueError("BatchNorm needs batch_size >= 2")
    opt = _optimizer(model, cfg)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    log, start = _new_log(model), 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    state = None
    if ckpt is not None and ckpt.exists():
        try:
            state = load_checkpoint(ckpt)
        except CheckpointError as e:
            warnings.warn(f"{e}; removing it and training from step 0", RuntimeWarning, stacklevel=2)
            ckpt.unlink(missing_ok=True)
    if state is not None:
        if state["cfg"] != asdict(cfg):
            raise ValueError(f"checkpoint {ckpt} was written with a different TrainConfig")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        log, start = state["log"], int(state["step"])

    def save(step: int):
        if ckpt is not None:
            tmp = ckpt.with_suffix(ckpt.suffix + ".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                        "log": log, "step": step, "cfg": asdict(cfg)}, tmp)
            os.replace(tmp, ckpt)  # atomic: an interruption never leaves a half-written checkpoint

    rec = _VarianceRecorder(model) if cfg.log_stats else None
    weights = weight_modules(model)
    model.train()
    step = start
    try:
        for step in range(start + 1, cfg.steps + 1):
            idx = torch.randperm(n, generator=gen)[:bs]
            if rec:
                rec.active = True
            loss, acc = _loss_acc(model, train_data, idx)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at step {step} (lr={cfg.lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            log["step"].append(step)
            log["train_loss"].append(float(loss.detach()))
            log["train_acc"].append(float(acc))
            if rec:
                for name in log["norm_var"]:
                    log["norm_var"][name].append(rec.latest.get(name, math.nan))
                with torch.no_grad():
                    for name, w in weights.items():
                        log["weight_norm"][name].append(float(w.norm()))
            if step % cfg.eval_every == 0 or step == cfg.steps:
                if rec:
                    rec.active = False
                tl, ta = evaluate(model, test_data)
                log["eval_step"].append(step)
                log["test_loss"].append(tl)
                log["test_acc"].append(ta)
                if val_data is not None:
                    vl, va = evaluate(model, val_data)
                    log["val_loss"].append(vl)
                    log["val_acc"].append(va)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save(step)
            if stop_after is not None and step >= stop_after:
                save(step)
                break
        else:
            save(cfg.steps)
    finally:
        if rec:
            rec.close()
    final = {"train_loss": log["train_loss"][-1] if log["train_loss"] else math.nan,
             "test_loss": log["test_loss"][-1] if log["test_loss"] else math.nan,
             "test_acc": log["test_acc"][-1] if log["test_acc"] else math.nan,
             "val_loss": log["val_loss"][-1] if log["val_loss"] else math.nan,
             "val_acc": log["val_acc"][-1] if log["val_acc"] else math.nan}
    return TrainResult(log=log, final=final, steps_done=step, resumed_from=start, model=model)
