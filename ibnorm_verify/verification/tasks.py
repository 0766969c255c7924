"""Synthetic tasks with known structure for the information claims of IBNorm (arXiv 2510.25262).

:func:`nuisance_task`: a label Y, a low-dimensional signal whose mean depends on Y, and a heavy-tailed
nuisance independent of Y (Student-t with ``df`` degrees of freedom), concatenated into the input of a
normalization layer. Because LN/RMSNorm statistics are shared across the feature group, a nuisance
outlier inflates the group's standard deviation and squashes the signal of that sample: this is the
"nuisance variability" that a bounded compression before standardization is meant to suppress
(``shared/papers/ibnorm.md`` sections 1 and 5).

:func:`apply_normalizer`: one normalization layer (no affine) of a given grouping (``"ln"``, ``"rms"``,
``"bn"``) and compression (``"identity"`` = the variance-centric baseline), through
:mod:`ibnorm.functional`.
"""
from __future__ import annotations

import numpy as np
import torch

from ibnorm.functional import ib_batch_norm, ib_layer_norm, ib_rms_norm

__all__ = ["nuisance_task", "apply_normalizer", "GROUPINGS"]

GROUPINGS = ("ln", "rms", "bn")


def nuisance_task(n: int, seed: int, *, n_classes: int = 2, signal_dims: int = 2, nuisance_dims: int = 4,
                  sep: float = 2.0, df: float = 2.0, nuisance_scale: float = 1.0) -> dict:
    """Sample the task. Returns float64 arrays ``x`` (n, signal_dims + nuisance_dims) = [signal | nuisance],
    ``signal`` (n, signal_dims), ``nuisance`` (n, nuisance_dims) and int labels ``y`` (n,).

    signal = sep * (y - (C-1)/2) * 1 / sqrt(signal_dims) + N(0, I)   (the label shifts every signal axis)
    nuisance = nuisance_scale * t_df (iid coordinates, independent of y); df = inf gives Gaussian nuisance.
    """
    if n < 2 or signal_dims < 1 or nuisance_dims < 0 or n_classes < 2:
        raise ValueError("need n >= 2, signal_dims >= 1, nuisance_dims >= 0, n_classes >= 2")
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    centre = sep * (y - (n_classes - 1) / 2.0) / np.sqrt(signal_dims)
    signal = centre[:, None] + rng.standard_normal((n, signal_dims))
    if np.isinf(df):
        nuis = rng.standard_normal((n, nuisance_dims))
    else:
        nuis = rng.standard_t(df, size=(n, nuisance_dims))
    nuis = nuisance_scale * nuis
    return {"x": np.hstack([signal, nuis]), "y": y, "signal": signal, "nuisance": nuis}


def apply_normalizer(x: np.ndarray | torch.Tensor, grouping: str, compression: str = "identity",
                     lam: float = 1.0) -> np.ndarray:
    """One normalization layer without affine on ``x`` (n, d): LN/RMS over the d features of a sample,
    BN over the n samples of a feature (training-mode statistics). Returns a float64 array (n, d)."""
    t = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if t.dim() != 2:
        raise ValueError(f"x must have shape (n, d), got {tuple(t.shape)}")
    if grouping == "ln":
        out = ib_layer_norm(t, (t.shape[1],), compression=compression, lam=lam)
    elif grouping == "rms":
        out = ib_rms_norm(t, (t.shape[1],), eps=1e-6, compression=compression, lam=lam)
    elif grouping == "bn":
        out = ib_batch_norm(t, None, None, training=True, compression=compression, lam=lam)
    else:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    return out.detach().numpy()
