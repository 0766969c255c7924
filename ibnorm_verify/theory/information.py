"""Closed forms for the information claims of IBNorm (arXiv 2510.25262) and the ground truth of the MI
benchmark. Everything is in nats. Nothing here draws random numbers or runs an estimator.

* :func:`gaussian_mi`: I = 1/2 (log det S_xx + log det S_yy - log det S) for jointly Gaussian pairs, and
  the correlation matrices of the "Beyond Normal" benchmark (Czyz et al., NeurIPS 2023):
  :func:`dense_correlation`, :func:`paired_correlation`, :func:`sparse_lvm_correlation`.
* :func:`student_t_mi_correction`: the multivariate-t MI is the Gaussian part of its dispersion plus a
  df/dimension correction (Arellano-Valle, Contreras-Reyes & Genton 2013, eq. 7 entropies).
* :func:`additive_uniform_mi`: X ~ U(0,1), Y = X + U(-e, e).
* :func:`label_gaussian_mi`: a uniform label with class-conditional Gaussians (1-D quadrature).
* :func:`gaussian_mi_sample_bias`: the exact expectation of the plug-in Gaussian MI's error on Gaussian
  data (log-determinants of Wishart matrices), the bias correction of Gaussian-copula MI (Ince et al. 2017).
* :func:`entropy_after_monotone_map`: h(f(X)) = h(X) + E log f'(X) for strictly increasing f.
* :func:`gaussian_channel_mi`: I(X; AX + N) and I(Y; AX + N) for Gaussian X (the Gaussian IB closed form,
  Chechik et al. 2005) -- also the ground truth of the noisy-channel estimator.

The samplers that carry these closed forms as their ground truth (the suite's tasks and the 40 benchmark
tasks) and the validation that runs estimators on them live with the estimators, in
:mod:`ibnorm_verify.verification.estimators.information` (``ground_truth``, ``benchmark_tasks``).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import integrate, special, stats

__all__ = [
    "gaussian_mi", "student_t_mi_correction", "student_t_mi", "additive_uniform_mi", "label_gaussian_mi",
    "dense_correlation", "paired_correlation", "sparse_lvm_correlation", "wishart_logdet_bias",
    "gaussian_mi_sample_bias", "entropy_gaussian", "entropy_after_monotone_map", "compression_log_deriv",
    "gaussian_channel_mi",
]

Array = np.ndarray


# ------------------------------------------------------------------------------- Gaussian / Student-t

def _logdet(a: Array) -> float:
    sign, ld = np.linalg.slogdet(np.atleast_2d(a))
    if sign <= 0:
        raise ValueError("covariance is not positive definite")
    return float(ld)


def gaussian_mi(cov: Array, dim_x: int) -> float:
    """I(X;Y) for a jointly Gaussian (X, Y) with joint covariance ``cov`` ((dx+dy, dx+dy)), X first."""
    cov = np.asarray(cov, dtype=float)
    if not 0 < dim_x < cov.shape[0]:
        raise ValueError(f"dim_x must be in 1..{cov.shape[0] - 1}, got {dim_x}")
    return 0.5 * (_logdet(cov[:dim_x, :dim_x]) + _logdet(cov[dim_x:, dim_x:]) - _logdet(cov))


def student_t_mi_correction(df: float, dim_x: int, dim_y: int) -> float:
    """I_t - I_Gauss for a multivariate t with ``df`` degrees of freedom (same dispersion matrix).

    From the entropy of the multivariate t (Arellano-Valle et al. 2013):
    h = 1/2 log det S + log((nu pi)^(d/2) G(nu/2)/G((nu+d)/2)) + (nu+d)/2 (psi((nu+d)/2) - psi(nu/2));
    marginals of a multivariate t are t with the same nu, so I = h_x + h_y - h_xy and the pi terms cancel.
    """
    def g(d: int) -> float:
        a, b = df / 2.0, (df + d) / 2.0
        return float(special.gammaln(a) - special.gammaln(b) + b * (special.digamma(b) - special.digamma(a)))
    return g(dim_x) + g(dim_y) - g(dim_x + dim_y)


def student_t_mi(dispersion: Array, dim_x: int, df: float) -> float:
    """I(X;Y) of a multivariate t with dispersion matrix ``dispersion`` and ``df`` degrees of freedom."""
    dispersion = np.asarray(dispersion, dtype=float)
    return gaussian_mi(dispersion, dim_x) + student_t_mi_correction(df, dim_x, dispersion.shape[0] - dim_x)


def additive_uniform_mi(epsilon: float) -> float:
    """I(X; X + N) for X ~ U(0, 1), N ~ U(-e, e): 1/(4e) if e > 1/2, else e - log(2e) (bmi's additive task)."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be finite and > 0, got {epsilon!r}")
    return 0.25 / epsilon if epsilon > 0.5 else epsilon - math.log(2 * epsilon)


def dense_correlation(dim_x: int, dim_y: int, off_diag: float = 0.5) -> Array:
    """Every pair of distinct coordinates (within and across X, Y) correlated with ``off_diag`` (bmi "dense")."""
    d = dim_x + dim_y
    return np.eye(d) * (1.0 - off_diag) + off_diag


def paired_correlation(dim_x: int, dim_y: int, rho: float, n_pairs: int) -> Array:
    """X_i and Y_i correlated with ``rho`` for i < ``n_pairs``; every other pair independent.
    I = -(n_pairs / 2) log(1 - rho^2)."""
    if not 0 <= n_pairs <= min(dim_x, dim_y):
        raise ValueError(f"n_pairs must be in 0..{min(dim_x, dim_y)}, got {n_pairs}")
    cov = np.eye(dim_x + dim_y)
    for i in range(n_pairs):
        cov[i, dim_x + i] = cov[dim_x + i, i] = rho
    return cov


def sparse_lvm_correlation(dim_x: int, dim_y: int, n_interacting: int = 2, strength: float = 2.0) -> Array:
    """bmi's sparse latent-variable model (alpha = beta = 0, lambda = eta = ``strength``, epsilon = 1):
    X_i = lambda Z_i + E_i and Y_i = lambda Z_i + F_i for i < n_interacting, the other coordinates
    independent with the same variance; hence corr(X_i, Y_i) = lambda^2 / (1 + lambda^2) (0.8 for 2)."""
    return paired_correlation(dim_x, dim_y, strength ** 2 / (1.0 + strength ** 2), n_interacting)


def label_gaussian_mi(n_classes: int, sep: float, sigma: float) -> float:
    """I(Y;X) for Y uniform on {0..C-1} and X = mu_Y + N(0, sigma^2 I), class means sep*y on one axis.

    Only the coordinate along the means carries information, so I = h(X_1) - h(X_1|Y) with h(X_1) of
    the 1-D Gaussian mixture computed by adaptive quadrature.
    """
    mus = sep * np.arange(n_classes, dtype=float)

    def p(u):
        return np.mean(stats.norm.pdf(u, loc=mus, scale=sigma))

    def integrand(u):
        v = p(u)
        return -v * math.log(v) if v > 0 else 0.0
    lo, hi = mus[0] - 12 * sigma, mus[-1] + 12 * sigma
    pts = list(mus)
    h_mix, _ = integrate.quad(integrand, lo, hi, points=pts, limit=400)
    h_cond = 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)
    return float(h_mix - h_cond)


# ------------------------------------------------------------------ bias of the plug-in Gaussian MI

def wishart_logdet_bias(n: int, d: int) -> float:
    """E[log det S] - log det Sigma for the sample covariance S (divisor n - 1) of n Gaussian draws in d dims.

    (n - 1) S ~ Wishart_d(Sigma, n - 1) and E log det W = log det Sigma + sum_{i=1..d} psi((n - i)/2) + d log 2,
    so the bias is sum_{i=1..d} psi((n - i)/2) + d log(2 / (n - 1)) (negative; about -d(d+1)/(2n)).
    """
    if d < 1 or n <= d + 1:
        raise ValueError(f"need n > d + 1 samples for a non-singular covariance (n={n}, d={d})")
    i = np.arange(1, d + 1)
    return float(np.sum(special.digamma((n - i) / 2.0)) + d * math.log(2.0 / (n - 1)))


def gaussian_mi_sample_bias(n: int, dim_x: int, dim_y: int) -> float:
    """E[I_plugin] - I for the plug-in Gaussian MI 1/2 (log det S_xx + log det S_yy - log det S) on n
    Gaussian draws: exact, and independent of the true covariance (Ince et al. 2017, Gaussian-copula MI).
    Positive: about dim_x dim_y / (2 n)."""
    b = wishart_logdet_bias
    return 0.5 * (b(n, dim_x) + b(n, dim_y) - b(n, dim_x + dim_y))


# ---------------------------------------------------------------------- entropy under monotone maps

def entropy_gaussian(sigma: float, dim: int = 1) -> float:
    """h(N(0, sigma^2 I_dim)) = dim/2 log(2 pi e sigma^2)."""
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    return 0.5 * dim * math.log(2 * math.pi * math.e * sigma ** 2)


def compression_log_deriv(name: str, lam: float) -> Callable[[float], float]:
    """log f'(u) of a registered IBNorm compression (:mod:`ibnorm.compression`), overflow-safe.

    tanh(lam u)/lam: log 4 - 2|lam u| - 2 log(1 + e^{-2|lam u|}); log: -log(1 + lam|u|);
    softsign: -2 log(1 + lam|u|); root: log(1/lam) + (1/lam - 1) log(|u| + d); identity: 0.
    Any other registered compression falls back to log of its ``deriv`` in float64.
    """
    from ibnorm.compression import ROOT_DELTA, get_compression, validate_lam
    comp = get_compression(name)
    lam = validate_lam(comp, lam)
    closed = {
        "identity": lambda u: 0.0,
        "tanh": lambda u: math.log(4.0) - 2 * abs(lam * u) - 2 * math.log1p(math.exp(-2 * abs(lam * u))),
        "log": lambda u: -math.log1p(lam * abs(u)),
        "softsign": lambda u: -2.0 * math.log1p(lam * abs(u)),
        "root": lambda u: math.log(1.0 / lam) + (1.0 / lam - 1.0) * math.log(abs(u) + ROOT_DELTA),
    }
    if comp.name in closed:
        return closed[comp.name]
    import torch

    def fallback(u: float) -> float:
        return float(torch.log(comp.deriv(torch.tensor([u], dtype=torch.float64), lam))[0])
    return fallback


def entropy_after_monotone_map(log_deriv: Callable[[float], float], *, dist: str = "gaussian",
                               scale: float = 1.0, df: float | None = None) -> dict:
    """h(f(X)) = h(X) + E log f'(X) for a strictly increasing differentiable f (change of variables).

    ``log_deriv(u) = log f'(u)`` (a float; see :func:`compression_log_deriv`). X is N(0, scale^2)
    (``dist="gaussian"``) or a scaled Student-t with ``df`` (``dist="student"``). The expectation is
    computed by adaptive quadrature. Returns ``{"h_x", "e_log_deriv", "h_fx"}`` in nats.
    """
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")
    if dist == "gaussian":
        rv = stats.norm(scale=scale)
    elif dist == "student":
        if df is None or not df > 0:
            raise ValueError("dist='student' needs df > 0")
        rv = stats.t(df, scale=scale)
    else:
        raise ValueError(f"dist must be 'gaussian' or 'student', got {dist!r}")

    def integrand(u):
        p = rv.pdf(u)
        if p == 0.0:
            return 0.0
        ld = float(log_deriv(float(u)))
        if not math.isfinite(ld):
            raise ValueError(f"log f'({u}) = {ld} is not finite: f must be strictly increasing")
        return p * ld
    e_log = 0.0
    for a, b in ((-np.inf, -1.0), (-1.0, 0.0), (0.0, 1.0), (1.0, np.inf)):
        e_log += integrate.quad(integrand, a, b, limit=400)[0]
    h_x = float(rv.entropy())
    return {"h_x": h_x, "e_log_deriv": float(e_log), "h_fx": h_x + float(e_log)}


# ------------------------------------------------------------------- Gaussian channel / Gaussian IB

def gaussian_channel_mi(A: Array, cov_x: Array, noise_var: float, cov_x_given_y: Array | None = None) -> dict:
    """For X ~ N(0, cov_x) and T = A X + N(0, s^2 I): I(X;T) = 1/2 log det(I + A cov_x A^T / s^2).

    With ``cov_x_given_y`` (the conditional covariance of X given a jointly Gaussian Y) also
    I(Y;T) = 1/2 log det(A cov_x A^T + s^2 I) - 1/2 log det(A cov_x|y A^T + s^2 I) (Gaussian IB,
    Chechik, Globerson, Tishby & Weiss 2005). Returns ``{"I_XT", "I_YT"?}`` in nats.
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    cov_x = np.atleast_2d(np.asarray(cov_x, dtype=float))
    if not (noise_var > 0 and math.isfinite(noise_var)):
        raise ValueError(f"noise_var must be finite and > 0, got {noise_var!r}")
    k = A.shape[0]
    S = A @ cov_x @ A.T + noise_var * np.eye(k)
    out = {"I_XT": 0.5 * (_logdet(S) - k * math.log(noise_var))}
    if cov_x_given_y is not None:
        C = np.atleast_2d(np.asarray(cov_x_given_y, dtype=float))
        out["I_YT"] = 0.5 * (_logdet(S) - _logdet(A @ C @ A.T + noise_var * np.eye(k)))
    return out
