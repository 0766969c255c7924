"""Preconditions of a per-sample Lipschitz constant, checked before any bound is computed.

``estimate_lipschitz`` bounds sup ||J(x)|| of the map x -> model(x) applied to ONE sample. That is only
defined when the model is a deterministic function of each sample alone:

* train-mode dropout makes the function random: refused (call ``model.eval()``);
* train-mode BatchNorm normalizes with the statistics of whatever batch it is given: refused, unless
  the caller states the batch (``bn_batch``): the function certified is then the one whose BatchNorm
  layers use the (biased) statistics of that batch, held fixed;
* any other coupling of the samples (a sum over the batch, a transformer with ``batch_first=False``
  fed (N, S, E)) is detected by evaluating a probe batch of two samples and each of them alone, and
  by the same comparison of Jacobian-vector products: refused with the measured difference;
* a model whose output differs between two identical calls is refused (randomness).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ibnorm.groupings import spec_of

from .lower import ADMode

__all__ = ["check_modes", "check_deterministic", "check_per_sample", "check_per_sample_jvp"]


def _tol(y: Tensor) -> float:
    eps = torch.finfo(y.dtype).eps
    return 1e3 * eps * (1.0 + float(y.detach().abs().max()))


def check_modes(model: nn.Module, bn_batch: Tensor | None) -> tuple[nn.Module, list[str]]:
    """Refuse train-mode dropout / BatchNorm; with ``bn_batch``, return a copy whose BatchNorms use its
    statistics in eval mode. Returns (model to use, notes)."""
    drop = [name or type(m).__name__ for name, m in model.named_modules()
            if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0]
    if drop:
        raise ValueError(f"dropout in training mode ({', '.join(drop)}): the model is a random function, so it "
                         "has no Lipschitz constant; call model.eval() first")
    bns = []
    for name, m in model.named_modules():
        spec = spec_of(m)
        if spec is not None and spec.grouping == "batch" and not spec.use_running_stats:
            bns.append((name or type(m).__name__, m))
    if not bns:
        return model, []
    if bn_batch is None:
        raise ValueError(f"BatchNorm normalizes with batch statistics ({', '.join(n for n, _ in bns)} in training mode "
                         "or without running statistics): the samples of a batch are coupled. Call model.eval() "
                         "(with calibrated running statistics), or pass bn_batch=<the batch whose statistics "
                         "should be held fixed>")
    if not isinstance(bn_batch, Tensor) or bn_batch.dim() < 2 or bn_batch.shape[0] < 2:
        raise ValueError("bn_batch must be a tensor batch of at least 2 samples")
    m2 = copy.deepcopy(model)
    names = {n for n, _ in bns}
    for name, mod in m2.named_modules():
        if (name or type(mod).__name__) in names:
            mod.reset_running_stats()
            mod.momentum = 1.0
            mod.track_running_stats = True
    m2.train()
    with torch.no_grad():
        p = next(iter(m2.parameters()), None)
        m2(bn_batch.to(p.dtype if p is not None else bn_batch.dtype))
    for name, mod in m2.named_modules():
        if (name or type(mod).__name__) in names:
            # torch stores the unbiased variance; train mode normalizes with the biased one
            n_per = bn_batch.numel() // bn_batch.shape[1] if bn_batch.dim() > 2 else bn_batch.shape[0]
            if n_per > 1:
                mod.running_var.mul_((n_per - 1) / n_per)
    m2.eval()
    return m2, [f"BatchNorm statistics held fixed at those of the stated batch ({bn_batch.shape[0]} samples)"]


def check_deterministic(model: nn.Module, x: Tensor) -> None:
    with torch.no_grad():
        a, b = model(x), model(x)
    if not isinstance(a, Tensor):
        raise TypeError(f"the model must return a tensor, got {type(a).__name__}")
    if a.shape[:1] != x.shape[:1]:
        raise ValueError(f"the model's output {tuple(a.shape)} does not keep the batch dimension of the input "
                         f"{tuple(x.shape)} first: per-sample Lipschitz constants need an (N, ...) output")
    if not torch.equal(torch.nan_to_num(a), torch.nan_to_num(b)):
        raise ValueError("two identical calls of the model gave different outputs (train-mode dropout or other "
                         "randomness): a random function has no Lipschitz constant; call model.eval()")


def _probe(x: Tensor) -> Tensor:
    if x.shape[0] >= 2:
        return x[:2]
    g = torch.Generator().manual_seed(7)
    scale = float(x.detach().pow(2).mean().sqrt()) or 1.0
    return torch.cat([x, x + 0.5 * scale * torch.randn(x.shape, generator=g, dtype=x.dtype)])


_COUPLING_HELP = ("Per-sample Lipschitz constants are not defined for such a model. Typical causes: BatchNorm "
                  "in training mode, a transformer with batch_first=False given (N, S, E) inputs, a reduction over "
                  "the batch dimension.")


def check_per_sample(model: nn.Module, x: Tensor) -> None:
    """Each probe sample's output must not depend on the other samples of its batch."""
    probe = _probe(x)
    with torch.no_grad():
        y = model(probe)
        alone = [model(probe[k:k + 1]) for k in range(2)]
    for k in range(2):
        if alone[k].shape[1:] != y.shape[1:]:
            raise ValueError(f"the model's output shape depends on the batch size: {tuple(y.shape)} for a batch of 2, "
                             f"{tuple(alone[k].shape)} for one sample. {_COUPLING_HELP}")
        both = torch.isfinite(y[k]) & torch.isfinite(alone[k][0])
        if not bool(torch.equal(torch.isfinite(y[k]), torch.isfinite(alone[k][0]))):
            diff = math.inf
        else:
            diff = float((y[k] - alone[k][0])[both].abs().max()) if bool(both.any()) else 0.0
        if not (diff <= _tol(torch.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0))):
            raise ValueError(f"the model couples the samples of a batch: sample {k} of a batch of 2 gives an output "
                             f"that differs from its output alone by up to {diff:.3g}. {_COUPLING_HELP}")


def check_per_sample_jvp(ad: ADMode, x: Tensor) -> None:
    """The same test on Jacobian-vector products: a tangent on sample 1 only must not move sample 0."""
    probe = _probe(x)
    g = torch.Generator().manual_seed(11)
    v = torch.randn(probe.shape, generator=g, dtype=probe.dtype)
    v[0] = 0
    with torch.no_grad():
        out = ad.jv(probe, v)
        own = ad.jv(probe[1:2], v[1:2])
    leak = float(out[0].abs().max())
    diff = float((out[1] - own[0]).abs().max())
    tol = _tol(out)
    if not (leak <= tol and diff <= tol) and math.isfinite(leak + diff):
        raise ValueError(f"the model couples the samples of a batch: a perturbation of sample 1 moves the output of "
                         f"sample 0 by {leak:.3g} (Jacobian-vector products; batch-of-one difference {diff:.3g}). "
                         f"{_COUPLING_HELP}")
