"""The noisy-channel estimator: I(X; T + N(0, s^2 I)) of a deterministic representation T = g(X).

For continuous X and deterministic T, I(X;T) is infinite (Goldfeld et al. 2019, "Estimating information
flow in deep neural networks"); with a Gaussian channel of stated width s it is finite:
I(X; T_s) = h(T_s) - h(N) = h(P_T * N) - d/2 log(2 pi e s^2). h(P_T * N) is estimated by their
sample-propagation estimator: the entropy of the Gaussian mixture (1/n) sum_i N(t_i, s^2 I), by Monte
Carlo with ``n_mc`` draws. With labels, I(Y; T_s) = h(T_s) - sum_y p(y) h(T_s | Y=y).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .estimate import MIEstimate
from .inputs import as_2d, as_labels, positive_int
from .knn import _sqdist_rows

Array = np.ndarray


def noisy_channel_mi(t: Any, noise_std: float, y: Any = None, *, n_mc: int = 2000, seed: int = 0,
                     max_centers: int = 4000) -> MIEstimate:
    """I(X; T + N(0, s^2 I)) for a deterministic representation T = g(X), or I(Y; T + N) given labels y.

    For continuous X and deterministic T, I(X;T) is infinite (Goldfeld et al. 2019); with a Gaussian
    channel of stated width s it is finite: I(X; T_s) = h(T_s) - h(N) = h(P_T * N) - d/2 log(2 pi e s^2).
    h(P_T * N) is estimated by the sample-propagation estimator of Goldfeld et al.: the entropy of the
    Gaussian mixture (1/n) sum_i N(t_i, s^2 I), by Monte Carlo with ``n_mc`` draws. With labels,
    I(Y; T_s) = h(T_s) - sum_y p(y) h(T_s | Y=y), each term from its class's mixture.

    The estimate cannot exceed log(n) (the mixture has n components): a small s against a spread T
    saturates; the caller must state s. Uncertainty: the Monte-Carlo standard error.
    """
    t = as_2d(t, "t")
    s = float(noise_std)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"noise_std must be finite and > 0, got {noise_std!r}")
    n_mc = positive_int(n_mc, "n_mc", 2)
    rng = np.random.default_rng(seed)
    if t.shape[0] > max_centers:
        t = t[rng.choice(t.shape[0], max_centers, replace=False)] if y is None else t
    d = t.shape[1]

    def mixture_logpdf_samples(centers: Array, m: int) -> Array:
        """-log p_mix(z) at m draws z ~ mixture (n_c, d) -> (m,)."""
        z = centers[rng.integers(0, centers.shape[0], m)] + s * rng.standard_normal((m, d))
        C = torch.as_tensor(centers)
        cc = (C * C).sum(1)
        out = np.empty(m)
        for a in range(0, m, 1024):
            d2 = _sqdist_rows(torch.as_tensor(z[a:a + 1024]), C, cc)          # (chunk, n_c)
            lp = torch.logsumexp(d2.mul_(-0.5 / (s * s)), dim=1).numpy() - math.log(centers.shape[0])
            out[a:a + 1024] = -(lp - 0.5 * d * math.log(2 * math.pi * s * s))
        return out

    h_noise = 0.5 * d * math.log(2 * math.pi * math.e * s * s)
    nlp = mixture_logpdf_samples(t, n_mc)
    h_t = float(nlp.mean())
    var = float(nlp.var(ddof=1) / n_mc)
    settings = {"noise_std": s, "n_mc": n_mc, "seed": seed, "estimator": "gaussian-mixture sample propagation"}
    if y is None:
        return MIEstimate(h_t - h_noise, math.sqrt(var), "noisy_channel", settings, int(t.shape[0]),
                          statistical=math.sqrt(var))
    lab = as_labels(y)
    if lab.shape[0] != t.shape[0]:
        raise ValueError(f"t and y must have the same number of samples, got {t.shape[0]} and {lab.shape[0]}")
    p = np.bincount(lab) / lab.size
    h_cond = 0.0
    for c in range(p.size):
        tc = t[lab == c]
        if tc.shape[0] > max_centers:
            tc = tc[rng.choice(tc.shape[0], max_centers, replace=False)]
        nc = mixture_logpdf_samples(tc, n_mc)
        h_cond += p[c] * float(nc.mean())
        var += p[c] ** 2 * float(nc.var(ddof=1) / n_mc)
    return MIEstimate(h_t - h_cond, math.sqrt(var), "noisy_channel", {**settings, "target": "labels"},
                      int(t.shape[0]), statistical=math.sqrt(var))
