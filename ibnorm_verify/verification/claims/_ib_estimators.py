"""Estimators the information claims use beyond :mod:`ibnorm_verify.verification.estimators.information`.

* :func:`auto_mi`: the estimators package's default, ``mutual_information(method="auto")``.
* :func:`gaussian_cmi_bound`: 1/2 log det(I + Cov(Z)/s^2) = I(X; Z + N(0, s^2 I)) for Gaussian Z, an
  upper bound otherwise (the Gaussian maximizes entropy at fixed covariance; Cover & Thomas, Thm 8.6.5).
* :func:`marginal_entropy`: the Kozachenko-Leonenko k-nearest-neighbour estimator of the differential
  entropy of one coordinate (Kozachenko & Leonenko 1987; Kraskov et al. 2004, eq. 20, d = 1).
* :func:`mixture_mi_draws` / :func:`paired_mixture_mi`: I(X; T_s) and I(Y; T_s) of a deterministic
  representation through the Gaussian channel (the sample-propagation estimator of Goldfeld et al.
  2019, with the noise density as a control variate), for several representations with common random
  numbers and a Monte-Carlo budget set from a target half-width of the paired differences.

Their ground-truth validation is :mod:`._ib_validation`. These estimators belong with the estimators
package (each with its own ``validate()``); they live here until it provides them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, cast

import numpy as np
import torch
from scipy import special
from scipy.spatial import cKDTree

from ..estimators.information import MIEstimate, mutual_information
from .base import Param

__all__ = ["MIXTURE", "AUTO", "auto_mi", "gaussian_cmi_bound", "marginal_entropy", "mixture_mi_draws", "MixtureMI",
           "paired_mixture_mi", "mixture_mi", "mc_budget_params"]

#: the names the validation rows and the claims' conditions give the mixture and the default estimator
MIXTURE = "mixture (Gaussian-mixture sample propagation, control variate)"
AUTO = "mi:auto"


def auto_mi(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> MIEstimate:
    """The estimators package's default, ``mutual_information(method="auto")`` (route by input type and
    dimension: KSG for 1+1, the hybrid of Gaussian copula / contrastive-bottleneck KSG / KSG beyond, the
    classifier bracket for labels against more than 3 dimensions). The critic's batch shrinks below
    n = 1024 (the neural estimators need n >= 4 batches). No sampling uncertainty is computed (the claims'
    uncertainty is the spread over seeds); the estimate keeps the route (``picked``) and bias band."""
    n = int(np.asarray(x).shape[0])
    settings = {} if n >= 1024 else {"batch": max(16, n // 8)}
    return mutual_information(x, y, "auto", uncertainty="none", seed=seed, **settings)


def gaussian_cmi_bound(z: np.ndarray, s: float) -> float:
    """1/2 log det(I + Cov(z)/s^2): I(X; Z + N(0, s^2 I)) for Gaussian Z, an upper bound otherwise. z: (n, d)."""
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    return 0.5 * float(np.linalg.slogdet(np.eye(cov.shape[0]) + cov / s ** 2)[1])


def marginal_entropy(u: np.ndarray, k: int = 5) -> float:
    """Differential entropy (nats) of the 1-D sample ``u`` (n,), Kozachenko-Leonenko with k neighbours:
    h = psi(n) - psi(k) + log 2 + mean_i log eps_i, eps_i the distance from u_i to its k-th neighbour.

    Raises ``ValueError`` for repeated values (a zero distance: the density has an atom and the
    differential entropy is -inf) or too few samples.
    """
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    if u.size <= k + 1 or not np.all(np.isfinite(u)):
        raise ValueError(f"marginal_entropy needs more than {k + 1} finite samples, got {u.size}")
    eps = cKDTree(u[:, None]).query(u[:, None], k + 1)[0][:, k]
    if np.any(eps <= 0):
        raise ValueError("marginal_entropy: repeated values (zero neighbour distance); the distribution has an "
                         "atom and its differential entropy is -inf")
    return float(special.digamma(u.size) - special.digamma(k) + math.log(2.0) + np.mean(np.log(eps)))


def mixture_mi_draws(t: np.ndarray, s: float, y: np.ndarray | None, idx: np.ndarray, eps: np.ndarray,
                     chunk: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-draw integrands of the Gaussian-mixture (sample-propagation) MI of T_s = T + N(0, s^2 I).

    The input X is uniform over the n sample points, T = t_X (n, d). Draw i (``idx``, (m,)) and
    z = t_i + s eps (``eps``, (m, d)); with p(z) = 1/n sum_j N(z; t_j, s^2 I) and p(z|y) the same mixture
    over the points of class y,

        I(X; T_s) = E log[N(z; t_i, s^2 I) / p(z)],      I(Y; T_s) = E log[p(z | y_i) / p(z)].

    These are the quantities of the sample-propagation estimator of Goldfeld et al. (2019),
    h(T_s) - h(N) and h(T_s) - h(T_s|Y), written with the noise density as a control variate: the
    chi-square term of -log p(z) cancels, so I(Y;T_s) has about 4x smaller Monte-Carlo spread, and the
    per-draw values of two representations drawn with the same (idx, eps) give the Monte-Carlo error
    of their paired difference directly. Returns ``(ix, iy)`` (m,) (``iy`` None without labels): the
    means are the estimates, sd / sqrt(m) their Monte-Carlo standard errors. Both are <= log n (the
    mixture has n components): a small s against a spread T saturates.
    """
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 2 or idx.shape[0] != eps.shape[0] or eps.shape[1] != t.shape[1]:
        raise ValueError(f"need t (n, d), idx (m,), eps (m, d); got {t.shape}, {idx.shape}, {eps.shape}")
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"noise std s must be finite and > 0, got {s!r}")
    n, m = t.shape[0], idx.shape[0]
    T = torch.as_tensor(t)
    z = torch.as_tensor(t[idx] + s * eps)                               # (m, d)
    ix = np.empty(m)
    iy = None if y is None else np.empty(m)
    if y is not None:
        lab = torch.as_tensor(np.asarray(y))
        log_py = torch.log(torch.bincount(lab).double() / n)
    for a in range(0, m, chunk):
        zz, ii = z[a:a + chunk], torch.as_tensor(idx[a:a + chunk])
        w = torch.cdist(zz, T).square_().mul_(-0.5 / (s * s))          # (c, n) log N(z; t_j) + const
        lse = torch.logsumexp(w, dim=1)
        ix[a:a + chunk] = (w[torch.arange(ii.shape[0]), ii] - lse).numpy() + math.log(n)
        if iy is not None:
            own = lab[ii]
            wy = w.masked_fill(lab[None, :] != own[:, None], -math.inf)
            iy[a:a + chunk] = (torch.logsumexp(wy, dim=1) - lse - log_py[own]).numpy()
    return ix, iy


@dataclass
class MixtureMI:
    """Paired mixture-MI estimates of R representations: means (R,), Monte-Carlo standard errors (R,),
    the standard errors of the caller's contrasts (K,) and the number of draws."""

    i_x: np.ndarray
    i_y: np.ndarray | None
    se_x: np.ndarray
    se_y: np.ndarray | None
    contrast_se: np.ndarray
    n_mc: int


def paired_mixture_mi(reps: Sequence[np.ndarray], s: float, y: np.ndarray | None, *, seed: int, n_mc: int,
                      max_n_mc: int, halfwidth: float,
                      contrasts: Callable[[np.ndarray, np.ndarray | None], np.ndarray]) -> MixtureMI:
    """:func:`mixture_mi_draws` for several representations of the same samples, with common random
    numbers, and a Monte-Carlo budget set from a target 95% half-width.

    ``contrasts(ix, iy)`` maps the per-draw values (R, m) to the per-draw values of the paired
    statistics the caller tests (K, m) (e.g. IB(variant) - IB(baseline)). After ``n_mc`` draws the
    budget becomes ``n_mc * max_k (1.96 se_k / halfwidth)^2`` (capped at ``max_n_mc``) and the extra
    draws are added once; the Monte-Carlo error of each contrast is then about ``halfwidth`` or less.
    """
    rng = np.random.default_rng(seed)
    n, d = reps[0].shape

    def draw(m: int) -> tuple[np.ndarray, np.ndarray | None]:
        idx, eps = rng.integers(0, n, m), rng.standard_normal((m, d))
        out = [mixture_mi_draws(t, s, y, idx, eps) for t in reps]
        # with labels, mixture_mi_draws returns the I(Y; T_s) integrands of every draw (never None)
        per_y = None if y is None else np.stack(cast("list[np.ndarray]", [o[1] for o in out]))
        return np.stack([o[0] for o in out]), per_y
    m = min(int(n_mc), int(max_n_mc))
    ix, iy = draw(m)
    se = contrasts(ix, iy).std(axis=1, ddof=1) / math.sqrt(m)
    need = int(math.ceil(m * float(np.max((1.96 * se / float(halfwidth)) ** 2, initial=0.0))))
    extra = min(need, int(max_n_mc)) - m
    if extra > 0:
        ix2, iy2 = draw(extra)
        ix = np.concatenate([ix, ix2], axis=1)
        iy = None if iy is None or iy2 is None else np.concatenate([iy, iy2], axis=1)
        m += extra
    k = contrasts(ix, iy)
    root = math.sqrt(m)
    return MixtureMI(ix.mean(1), None if iy is None else iy.mean(1), ix.std(1, ddof=1) / root,
                     None if iy is None else iy.std(1, ddof=1) / root, k.std(1, ddof=1) / root, m)


def mixture_mi(t: np.ndarray, s: float, y: np.ndarray | None = None, *, seed: int, n_mc: int, max_n_mc: int,
               halfwidth: float) -> MixtureMI:
    """One representation: I(X; T_s) (and I(Y; T_s)) with the budget set from the target half-width."""
    return paired_mixture_mi([t], s, y, seed=seed, n_mc=n_mc, max_n_mc=max_n_mc, halfwidth=halfwidth,
                             contrasts=lambda ix, iy: ix if iy is None else np.concatenate([ix, iy]))


def mc_budget_params(halfwidth: float = 0.01, n_mc: int = 2000, max_n_mc: int = 16000,
                     what: str = "each per-seed paired difference") -> tuple[Param, ...]:
    """The Monte-Carlo budget of the mixture estimator: pilot draws, target 95% half-width, cap."""
    return (Param("mc_halfwidth", halfwidth, halfwidth, exclusive_minimum=0.0,
                  help=f"target 95% half-width (nats) of the Monte-Carlo error of {what}; sets n_mc per seed"),
            Param("n_mc", n_mc, n_mc, minimum=2, tiny=500, help="pilot Monte-Carlo draws of the mixture estimator"),
            Param("max_n_mc", max_n_mc, 4 * max_n_mc, minimum=2, tiny=2000,
                  help="Monte-Carlo budget cap of the mixture estimator per seed"))
