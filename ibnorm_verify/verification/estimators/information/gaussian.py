"""Gaussian and Gaussian-copula (latent-Gaussian) MI.

* :func:`gaussian_plugin`: 1/2 (log det S_xx + log det S_yy - log det S) on the sample covariance; exact
  for Gaussians up to a bias of about dx dy / (2n) nats, blind to non-Gaussian dependence.
* :func:`gaussian_copula`: the same on the normal scores of every coordinate (rank -> Phi^-1), minus the
  exact finite-sample bias of the plug-in on Gaussian data (:func:`~ibnorm_verify.theory.information.
  gaussian_mi_sample_bias`; Ince et al. 2017, "A statistical framework for neuroimaging data analysis
  based on mutual information estimated via a Gaussian copula"). It is exact in expectation for any
  latent-Gaussian pair (strictly increasing maps of each coordinate of a Gaussian), invariant under such
  maps, and costs one covariance. For 1-D X and Y it is a lower bound on I(X;Y) (the Gaussian maximizes
  the joint entropy at fixed marginals and correlation); in more dimensions it is one approximately.
"""
from __future__ import annotations

import numpy as np

from ibnorm_verify.theory.information import gaussian_mi_sample_bias

from .inputs import UnboundedMIError, normal_scores

Array = np.ndarray
#: smallest eigenvalue of the joint correlation matrix below which the data are treated as exactly
#: linearly dependent (I = +inf for continuous variables)
SINGULAR_EIG = 1e-10


def _logdets(x: Array, y: Array) -> tuple[float, float, float]:
    dx = x.shape[1]
    xy = np.hstack([x, y])
    c = np.atleast_2d(np.cov(xy, rowvar=False))
    sd = np.sqrt(np.diag(c))
    corr = c / np.outer(sd, sd)
    eig = np.linalg.eigvalsh(corr)
    if eig[0] < SINGULAR_EIG:
        raise UnboundedMIError(
            f"the joint covariance of (x, y) is singular (smallest correlation eigenvalue {eig[0]:.2e}): some "
            "linear combination of x and y is exactly constant, so I(X;Y) is unbounded (or x / y have "
            "collinear columns: drop them). Add a noise model (noisy_channel_mi) to get a finite quantity.")

    def ld(m):
        return float(np.linalg.slogdet(np.atleast_2d(m))[1])
    return ld(corr[:dx, :dx]), ld(corr[dx:, dx:]), ld(corr)


def gaussian_plugin(x: Array, y: Array) -> float:
    """Plug-in Gaussian MI (nats) of x (n, dx), y (n, dy); no bias correction."""
    a, b, c = _logdets(x, y)
    return 0.5 * (a + b - c)


def gaussian_copula(x: Array, y: Array, bias_correct: bool = True) -> float:
    """Gaussian-copula MI (nats): the Gaussian MI of the normal scores, bias-corrected for n."""
    n = x.shape[0]
    if n <= x.shape[1] + y.shape[1] + 1:
        raise ValueError(f"gaussian_copula needs n > dx + dy + 1 samples (n={n}, dx+dy={x.shape[1] + y.shape[1]})")
    v = gaussian_plugin(normal_scores(x), normal_scores(y))
    if bias_correct:
        v -= gaussian_mi_sample_bias(n, x.shape[1], y.shape[1])
    return float(v)
