"""ibnorm_verify.theory.capacity: the reconstructed predictions of arXiv 2511.00958, checked against direct numerics."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibnorm_verify.theory import capacity as C


def _orth(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_every_prediction_is_labelled():
    assert set(C.PREDICTIONS) >= {"normalizer_local_factor", "unnormalized_log_slope", "normalized_factor",
                                  "log_reduction", "regime", "linear_chain_input_lipschitz",
                                  "linear_chain_param_lipschitz"}
    for fn in C.PREDICTIONS.values():
        assert fn.provenance in ("reconstructed", "checked") and fn.source


@pytest.mark.parametrize("gain,depth", [(2.0, 8), (3.0, 8), (0.5, 5)])
def test_linear_chain_constants_match_dense_numerics(gain, depth):
    """capacity.md 2.1 [checked]: ||J_x|| = g^L; parameter Jacobian sqrt(L) g^(L-1) ||x||."""
    rng = np.random.default_rng(0)
    d = 6
    ws = [gain * _orth(d, rng) for _ in range(depth)]
    j = np.linalg.multi_dot(ws[::-1]) if depth > 1 else ws[0]
    assert np.linalg.norm(j, 2) == pytest.approx(C.linear_chain_input_lipschitz(gain, depth), rel=1e-10)
    x = rng.standard_normal(d)
    blocks, h = [], x
    for i in range(depth):
        suffix = np.eye(d)
        for w in ws[i + 1:]:
            suffix = w @ suffix
        blocks.append(np.kron(suffix, h[None, :]))    # d f / d vec(W_i) (row-major vec)
        h = ws[i] @ h
    jp = np.concatenate(blocks, axis=1)
    assert np.linalg.norm(jp, 2) == pytest.approx(C.linear_chain_param_lipschitz(gain, depth, np.linalg.norm(x)),
                                                  rel=1e-10)


def test_unnormalized_log_slope():
    assert C.unnormalized_log_slope(2.0) == pytest.approx(math.log(2))
    assert C.unnormalized_log_slope(0.5, "relu") < 0
    with pytest.raises(ValueError):
        C.unnormalized_log_slope(0.0)
    with pytest.raises(ValueError):
        C.unnormalized_log_slope(2.0, "gelu")


def test_normalizer_local_factor():
    assert C.normalizer_local_factor(2.0, 4.0, 0.0) == pytest.approx(1.0)
    assert C.normalizer_local_factor(1.0, 0.0, 1e-4) == pytest.approx(100.0)
    assert C.normalizer_local_factor(1.0, 1.0, 0.0, slope=0.5) == pytest.approx(0.5)
    assert C.normalizer_local_factor(1.0, 0.0, 0.0) == math.inf
    with pytest.raises(ValueError):
        C.normalizer_local_factor(1.0, -1.0, 0.0)
    with pytest.raises(TypeError):
        C.normalizer_local_factor("a", 1.0, 0.0)


def test_layer_norm_chain_matches_the_product_law():
    """capacity.md 2.3 [checked] table: LN after every layer of 2Q (d=32, L=8): ||J|| ~ prod bound."""
    rng = np.random.default_rng(1)
    d, L, a = 32, 8, 2.0
    x = rng.standard_normal(d)
    jac, sig, h = np.eye(d), [], x
    for _ in range(L):
        w = a * _orth(d, rng)
        z = w @ h
        s = z.std()
        p = np.eye(d) - 1.0 / d
        y = (z - z.mean()) / s
        jn = (p - np.outer(y, y) / d) / s
        jac, h = jn @ w @ jac, y
        sig.append(s)
    norm_j = np.linalg.norm(jac, 2)
    bound = a ** L * C.normalized_factor([1.0] * L, sig)
    assert norm_j <= bound * (1 + 1e-9)
    assert C.log_reduction([1.0] * L, sig) == pytest.approx(sum(math.log(s) for s in sig))
    assert math.log(a ** L / norm_j) >= C.log_reduction([1.0] * L, sig) - 1e-9


def test_regimes_and_errors():
    assert C.regime([1, 1], [2, 3]) == "reduces"
    assert C.regime([1, -1], [0.5, 0.2]) == "amplifies"
    assert C.regime([1, 1], [2, 0.5]) == "mixed"
    assert C.log_reduction([1, 1], [0.5, 0.5]) < 0 < C.log_reduction([1, 1], [2, 2])
    assert C.normalized_factor([2.0], [4.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        C.log_reduction([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        C.log_reduction([1.0], [0.0])
