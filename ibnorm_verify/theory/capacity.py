"""Predictions of arXiv 2511.00958 ("exponential capacity control"), as code.

The paper's theorem texts were not available (``docs/papers/capacity.md`` section 0), so every
prediction here is our reconstruction or a standard fact; each function carries ``provenance``
("reconstructed" or "checked") and ``source`` (the section of ``docs/papers/capacity.md`` it implements) as attributes:

* :func:`normalizer_local_factor`: the local Lipschitz factor |gamma| s / sqrt(var + eps) of one
  normalization (section 2.2 [checked]: exact for LN/BN, an upper bound for vector gamma; the
  IBNorm compression slope s is our extension: the compression is s-Lipschitz elementwise).
* :func:`unnormalized_log_slope`: the log-Lipschitz slope vs depth of an unnormalized net with gain g
  (section 2.1 [inferred], exact [checked] for linear orthogonal chains).
* :func:`linear_chain_input_lipschitz` / :func:`linear_chain_param_lipschitz`: exact constants of
  x -> W_L ... W_1 x with W_i = g Q_i (section 2.1; the sqrt(L) of the parameter case is our
  derivation, below).
* :func:`normalized_factor`, :func:`log_reduction`, :func:`regime`: the product law
  prod_j |gamma_j| / sigma_j and its two regimes (section 2.3 [inferred], with its converse: the
  converse regime sigma_j < |gamma_j| amplifies).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

__all__ = ["normalizer_local_factor", "unnormalized_log_slope", "linear_chain_input_lipschitz",
           "linear_chain_param_lipschitz", "normalized_factor", "log_reduction", "regime", "PREDICTIONS"]

PREDICTIONS: dict[str, Callable] = {}


def _labelled(provenance: str, source: str):
    """Attach ``provenance`` and ``source`` to a prediction and register it in :data:`PREDICTIONS`."""

    def deco(fn):
        fn.provenance = provenance
        fn.source = source
        PREDICTIONS[fn.__name__] = fn
        return fn

    return deco


def _num(x, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {x!r}") from None
    if math.isnan(v):
        raise ValueError(f"{name} is NaN")
    return v


@_labelled("checked", "docs/papers/capacity.md 2.2 [checked] (LN/BN exact Jacobian norm); compression slope: our extension")
def normalizer_local_factor(gamma_abs_max: float, var_min: float, eps: float, slope: float = 1.0) -> float:
    """Bound on the Jacobian norm of one normalization where the standardized variance is >= var_min.

    ``slope * |gamma|max / sqrt(var_min + eps)``; ``math.inf`` when ``var_min + eps == 0`` (no finite
    certificate: eps = 0 and a vanishing variance). For LN/BN (slope 1, scalar gamma) it is the exact
    norm |gamma| / sqrt(var + eps) at var = var_min; for IBNorm ``slope = sup|f'|`` of the compression.
    """
    g, v, e, s = (_num(gamma_abs_max, "gamma_abs_max"), _num(var_min, "var_min"), _num(eps, "eps"),
                  _num(slope, "slope"))
    if g < 0 or v < 0 or e < 0 or s < 0:
        raise ValueError(f"gamma_abs_max, var_min, eps, slope must be >= 0, got {g}, {v}, {e}, {s}")
    den = v + e
    if den == 0:
        return math.inf if g * s > 0 else 0.0
    return s * g / math.sqrt(den)


@_labelled("reconstructed", "docs/papers/capacity.md 2.1 [inferred]; exact [checked] for linear orthogonal chains")
def unnormalized_log_slope(gain: float, activation: str = "identity") -> float:
    """Slope of log Lip_input vs depth L of an unnormalized net with W_i = g Q_i (Q_i orthogonal).

    identity: exactly log g (||J|| = g^L). relu / tanh: log g is an *upper* bound (every layer has
    ||W|| = g and a 1-Lipschitz activation); the attained slope is smaller (ReLU zeroes about half of
    the coordinates, tanh saturates), so only "slope <= log g" is predicted for them.
    """
    g = _num(gain, "gain")
    if g <= 0:
        raise ValueError(f"gain must be > 0, got {g}")
    if activation not in ("identity", "relu", "tanh"):
        raise ValueError(f"activation must be identity, relu or tanh, got {activation!r}")
    return math.log(g)


@_labelled("checked", "docs/papers/capacity.md 2.1 [checked]: ||J_x|| = g^L for W_i = g Q_i")
def linear_chain_input_lipschitz(gain: float, depth: int) -> float:
    """Exact input-Lipschitz constant g^L of the linear chain with W_i = g Q_i (square Q_i orthogonal)."""
    g = _num(gain, "gain")
    if g <= 0 or int(depth) != depth or depth < 1:
        raise ValueError(f"need gain > 0 and an integer depth >= 1, got {gain}, {depth}")
    return g ** int(depth)


@_labelled("checked", "docs/papers/capacity.md 2.1 [checked]; derivation in the docstring")
def linear_chain_param_lipschitz(gain: float, depth: int, x_norm: float) -> float:
    """Exact ||d f / d (W_1..W_L)||_2 of f = W_L...W_1 x, W_i = g Q_i (square orthogonal, no biases).

    d f / d W_i: dW -> S_i dW h_{i-1} with S_i = W_L..W_{i+1} (= g^{L-i} x orthogonal) and
    h_{i-1} = W_{i-1}..W_1 x (norm g^{i-1} ||x||), so A_i A_i^T = g^{2(L-1)} ||x||^2 I for every i and
    J J^T = L g^{2(L-1)} ||x||^2 I: ||J|| = sqrt(L) g^{L-1} ||x||.
    """
    g, xn = _num(gain, "gain"), _num(x_norm, "x_norm")
    if g <= 0 or xn < 0 or int(depth) != depth or depth < 1:
        raise ValueError(f"need gain > 0, x_norm >= 0, integer depth >= 1; got {gain}, {x_norm}, {depth}")
    return math.sqrt(depth) * g ** (int(depth) - 1) * xn


def _pairs(gammas: Sequence[float], sigmas: Sequence[float]) -> list[tuple[float, float]]:
    gs, ss = list(gammas), list(sigmas)
    if len(gs) != len(ss):
        raise ValueError(f"gammas and sigmas must have the same length, got {len(gs)} and {len(ss)}")
    out = []
    for g, s in zip(gs, ss):
        g, s = abs(_num(g, "gamma")), _num(s, "sigma")
        if s <= 0 or g == 0:
            raise ValueError(f"need sigma > 0 and gamma != 0, got sigma={s}, gamma={g}")
        out.append((g, s))
    return out


@_labelled("reconstructed", "docs/papers/capacity.md 2.3 [inferred]: Lip(f_norm) <= Lip-product x prod_j |gamma_j|/sigma_j")
def normalized_factor(gammas: Sequence[float], sigmas: Sequence[float]) -> float:
    """prod_j |gamma_j| / sigma_j: the factor K normalizers put on the product bound (sigma_j = sqrt(var_j + eps))."""
    return math.exp(-log_reduction(gammas, sigmas))


@_labelled("reconstructed", "docs/papers/capacity.md 2.3 [inferred]: log-ratio ~ sum_j log(sigma_j/|gamma_j|)")
def log_reduction(gammas: Sequence[float], sigmas: Sequence[float]) -> float:
    """Predicted log(Lip_unnormalized / Lip_normalized) = sum_j log(sigma_j / |gamma_j|) (> 0: a reduction)."""
    return sum(math.log(s / g) for g, s in _pairs(gammas, sigmas))


@_labelled("reconstructed", "docs/papers/capacity.md 2.3 (the converse): sigma_j > |gamma_j| reduces, < amplifies")
def regime(gammas: Sequence[float], sigmas: Sequence[float]) -> str:
    """"reduces" if every sigma_j > |gamma_j|, "amplifies" if every sigma_j < |gamma_j|, else "mixed"."""
    pr = _pairs(gammas, sigmas)
    if all(s > g for g, s in pr):
        return "reduces"
    if all(s < g for g, s in pr):
        return "amplifies"
    return "mixed"
