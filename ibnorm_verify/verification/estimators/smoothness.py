"""Loss smoothness w.r.t. the parameters: gradient norm and Hessian spectral norm (HVP power iteration).

For the loss-smoothness claim of arXiv 2511.00958 (``docs/papers/capacity.md`` section 2.4: the
gradient-norm bound (a) and the gradient-Lipschitz / Hessian constant (b)). For a loss

    L(theta) = loss_fn(model(inputs; theta), targets)

* :func:`loss_gradient_norm`: ||grad_theta L|| (exact, one backward pass);
* :func:`hessian_spectral_norm`: ||H||_2 = max_i |lambda_i(H)| by power iteration on Hessian-vector
  products (``torch.func.jvp`` of ``torch.func.grad``: forward-over-reverse, Pearlmutter 1994). Each
  iterate gives ||H v|| with ||v|| = 1, which is a *lower* bound on ||H||_2 attained at v; iteration
  stops when two successive values agree to ``tol`` (relative) or after ``max_iter``. Stated accuracy:
  with a gap between |lambda_1| and |lambda_2| the error decays like (|lambda_2|/|lambda_1|)^k; the
  returned ``residual`` ||H v - rho v|| (rho the Rayleigh quotient) bounds the distance from rho to
  the nearest eigenvalue (Bauer-Fike for symmetric H). Tests compare with an exact Hessian.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp

from ..evidence import ValidationRow

__all__ = ["SmoothnessEstimate", "loss_gradient_norm", "hessian_spectral_norm", "estimate_smoothness", "validate"]


@dataclass
class SmoothnessEstimate:
    """grad_norm = ||grad L||; hessian_norm = attained lower bound on ||H||_2 (the top |eigenvalue|);
    rayleigh = v^T H v at the returned vector (signed); residual = ||H v - rayleigh v||;
    iterations, converged, tol: the power-iteration record."""

    grad_norm: float
    hessian_norm: float
    rayleigh: float
    residual: float
    iterations: int
    converged: bool
    tol: float


def _check(model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn) -> dict:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable (output, targets) -> scalar")
    for t, name in ((inputs, "inputs"), (targets, "targets")):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.numel() == 0 or t.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contain non-finite values")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs and targets have different batch sizes: {inputs.shape[0]} vs {targets.shape[0]}")
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("the model has no trainable parameters")
    return params


def _loss_of(model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn, frozen: dict) -> Callable:
    buffers = dict(model.named_buffers())

    def loss(p):
        out = functional_call(model, ({**p, **frozen}, buffers), (inputs,))
        val = loss_fn(out, targets)
        if val.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {list(val.shape)}")
        return val

    return loss


def _flat_norm(d: dict) -> Tensor:
    return torch.sqrt(sum(t.pow(2).sum() for t in d.values()))


def loss_gradient_norm(model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn) -> float:
    """||grad_theta loss_fn(model(inputs), targets)||_2 over all trainable parameters."""
    params = _check(model, inputs, targets, loss_fn)
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    g = grad(_loss_of(model, inputs, targets, loss_fn, frozen))(params)
    return float(_flat_norm(g))


def hessian_spectral_norm(model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn, *, tol: float = 1e-4,
                          max_iter: int = 100, seed: int = 0) -> SmoothnessEstimate:
    """Power iteration on H = d^2 loss / d theta^2 (see the module docstring); also returns ||grad||."""
    if not (tol > 0) or int(max_iter) < 1:
        raise ValueError(f"need tol > 0 and max_iter >= 1, got {tol}, {max_iter}")
    params = _check(model, inputs, targets, loss_fn)
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    loss = _loss_of(model, inputs, targets, loss_fn, frozen)
    g_fn = grad(loss)
    gen = torch.Generator().manual_seed(int(seed))
    v = {k: torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) for k, p in params.items()}
    grad_norm = float(_flat_norm(g_fn(params)))
    best, best_v, best_hv, prev, converged, it = -1.0, None, None, None, False, 0
    for it in range(1, int(max_iter) + 1):
        vn = _flat_norm(v)
        v = {k: t / vn for k, t in v.items()}
        _, hv = jvp(g_fn, (params,), (v,))  # type: ignore[misc]  # torch types jvp's result as a 2- or 3-tuple (has_aux)
        s = float(_flat_norm(hv))
        if s > best:
            best, best_v, best_hv = s, v, hv
        if prev is not None and abs(s - prev) <= tol * max(s, 1e-300):
            converged = True
            break
        prev = s
        v = hv
        if s == 0.0:
            converged = True
            break
    if best_v is None or best_hv is None:  # no finite ||Hv||: every product was NaN
        raise ValueError("the Hessian-vector products are NaN at these parameters "
                         "(check the model's parameters and loss_fn)")
    rho = float(sum((best_v[k] * best_hv[k]).sum() for k in best_v))
    res = float(_flat_norm({k: best_hv[k] - rho * best_v[k] for k in best_v}))
    return SmoothnessEstimate(grad_norm=grad_norm, hessian_norm=best, rayleigh=rho, residual=res,
                              iterations=it, converged=converged, tol=float(tol))


def estimate_smoothness(model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn=None, **kw) -> SmoothnessEstimate:
    """Gradient norm and Hessian spectral norm; ``loss_fn`` defaults to half the mean squared error."""
    loss_fn = loss_fn or (lambda out, y: 0.5 * (out - y).pow(2).sum(-1).mean())
    return hessian_spectral_norm(model, inputs, targets, loss_fn, **kw)


def validate(seed: int = 0) -> list[ValidationRow]:
    """Ground-truth rows of :func:`hessian_spectral_norm` and :func:`loss_gradient_norm` (cached: they are
    deterministic); see :func:`_validate`."""
    return list(_validate_cached(int(seed)))


@functools.lru_cache(maxsize=8)
def _validate_cached(seed: int) -> tuple[ValidationRow, ...]:
    return tuple(_validate(seed))


#: relative tolerances of the validation: power iteration at tol 1e-8 against eigvalsh, and one backward
#: pass against the autograd Jacobian (both in float64)
HESSIAN_RTOL = 1e-6
GRAD_RTOL = 1e-8


def _validate(seed: int = 0) -> list[ValidationRow]:
    """Ground truth for :func:`hessian_spectral_norm` and :func:`loss_gradient_norm`.

    * a quadratic: linear model, loss 0.5 mean (w.x - y)^2, Hessian X^T X / n exactly;
    * a tiny tanh net: the exact Hessian from ``torch.autograd.functional.hessian``.
    Two rows per case: ||H||_2 (power iteration, tol=1e-8) within ``HESSIAN_RTOL`` relative of the top
    |eigenvalue| of the exact Hessian, and ||grad|| within ``GRAD_RTOL`` relative.
    """
    gen = torch.Generator().manual_seed(int(seed) + 777)
    rows = []
    x = torch.randn(20, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(20, 1, generator=gen, dtype=torch.float64)
    loss_fn = lambda out, t: 0.5 * (out - t).pow(2).sum(-1).mean()  # noqa: E731
    lin = nn.Linear(5, 1, bias=False, dtype=torch.float64)
    tiny = nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), nn.Tanh(), nn.Linear(4, 2, dtype=torch.float64))
    with torch.no_grad():
        for p in list(lin.parameters()) + list(tiny.parameters()):
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x3, y2 = x[:, :3], torch.randn(20, 2, generator=gen, dtype=torch.float64)
    for name, model, xi, yi in (("quadratic (linear model)", lin, x, y), ("tiny tanh net", tiny, x3, y2)):
        params = [p for p in model.parameters()]
        shapes = [p.shape for p in params]
        sizes = [p.numel() for p in params]

        def flat_loss(theta):
            chunks = torch.split(theta, sizes)
            p = {k: c.reshape(s) for (k, _), c, s in zip(model.named_parameters(), chunks, shapes)}
            return loss_fn(functional_call(model, p, (xi,)), yi)

        theta = torch.cat([p.detach().reshape(-1) for p in params])
        h = torch.autograd.functional.hessian(flat_loss, theta)
        exact_h = float(torch.linalg.eigvalsh(h).abs().max())
        exact_g = float(torch.autograd.functional.jacobian(flat_loss, theta).norm())
        est = hessian_spectral_norm(model, xi, yi, loss_fn, tol=1e-8, max_iter=500, seed=seed)
        n = int(theta.numel())
        rows.append(ValidationRow(
            "smoothness", f"{name}: Hessian spectral norm", exact_h, est.hessian_norm,
            abs(est.hessian_norm - exact_h) <= HESSIAN_RTOL * exact_h,
            f"|estimate - truth| <= {HESSIAN_RTOL:g} truth (power iteration, tol 1e-8)", family="exact Hessian",
            n=n, details={"iterations": est.iterations, "converged": est.converged}))
        rows.append(ValidationRow(
            "smoothness", f"{name}: gradient norm", exact_g, est.grad_norm,
            abs(est.grad_norm - exact_g) <= GRAD_RTOL * exact_g, f"|estimate - truth| <= {GRAD_RTOL:g} truth",
            family="exact gradient", n=n))
    return rows
