"""Synthetic tasks with known structure for the information claims of IBNorm (arXiv 2510.25262).

:func:`nuisance_task`: a label Y, a low-dimensional signal whose mean depends on Y, and a heavy-tailed
nuisance independent of Y (Student-t with ``df`` degrees of freedom), concatenated into the input of a
normalization layer. Because LN/RMSNorm statistics are shared across the feature group, a nuisance
outlier inflates the group's standard deviation and squashes the signal of that sample: this is the
"nuisance variability" that a bounded compression before standardization is meant to suppress
(``docs/papers/ibnorm.md``, sections 1 and 5).

One normalization layer of a given grouping and compression is :func:`ibnorm.groupings.standardize`;
the claims name a normalizer with :class:`ibnorm_verify.verification.models.architectures.Normalizer`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["nuisance_task"]


def nuisance_task(n: int, rng: np.random.Generator, *, n_classes: int = 2, signal_dims: int = 2,
                  nuisance_dims: int = 4, sep: float = 2.0, df: float = 2.0, nuisance_scale: float = 1.0) -> dict:
    """Sample the task from ``rng``. Returns float64 arrays ``x`` (n, signal_dims + nuisance_dims) =
    [signal | nuisance], ``signal`` (n, signal_dims), ``nuisance`` (n, nuisance_dims) and int labels
    ``y`` (n,).

    signal = sep * (y - (C-1)/2) * 1 / sqrt(signal_dims) + N(0, I)   (the label shifts every signal axis)
    nuisance = nuisance_scale * t_df (iid coordinates, independent of y); df = inf gives Gaussian nuisance.
    """
    if n < 2 or signal_dims < 1 or nuisance_dims < 0 or n_classes < 2:
        raise ValueError("need n >= 2, signal_dims >= 1, nuisance_dims >= 0, n_classes >= 2")
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (runtime.numpy_rng), got {type(rng).__name__}")
    y = rng.integers(0, n_classes, size=n)
    centre = sep * (y - (n_classes - 1) / 2.0) / np.sqrt(signal_dims)
    signal = centre[:, None] + rng.standard_normal((n, signal_dims))
    if np.isinf(df):
        nuis = rng.standard_normal((n, nuisance_dims))
    else:
        nuis = rng.standard_t(df, size=(n, nuisance_dims))
    nuis = nuisance_scale * nuis
    return {"x": np.hstack([signal, nuis]), "y": y, "signal": signal, "nuisance": nuis}

