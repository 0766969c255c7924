"""Bound formulas of theory/bounds.py (training section) against hand-computed small cases."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibnorm_verify.theory.bounds import (
    bartlett_margin_bound,
    gaussian_kl_isotropic,
    inv_kl,
    kl_bernoulli,
    local_lipschitz_covering_bound,
    mc_sample_bound,
    pac_bayes_kl_bound,
    spectral_complexity,
)


def test_kl_bernoulli_hand_values():
    assert kl_bernoulli(0.5, 0.5) == 0.0
    assert kl_bernoulli(0.0, 0.5) == pytest.approx(math.log(2))
    assert kl_bernoulli(0.1, 0.2) == pytest.approx(0.1 * math.log(0.5) + 0.9 * math.log(0.9 / 0.8), rel=1e-14)
    assert kl_bernoulli(0.3, 1.0) == math.inf and kl_bernoulli(1.0, 1.0) == 0.0
    with pytest.raises(ValueError):
        kl_bernoulli(1.2, 0.5)


@given(q=st.floats(0.0, 0.99), c=st.floats(1e-6, 3.0))
def test_inv_kl_is_the_supremum_to_1e_12(q, c):
    p = inv_kl(q, c)
    assert q <= p <= 1.0
    assert kl_bernoulli(q, p) <= c + 1e-12
    assert p + 1e-12 >= 1.0 or kl_bernoulli(q, p + 1e-12) > c


def test_inv_kl_closed_forms_and_errors():
    assert inv_kl(0.0, 0.3) == pytest.approx(1 - math.exp(-0.3), abs=1e-15)
    assert inv_kl(1.0, 0.1) == 1.0 and inv_kl(0.2, 0.0) == pytest.approx(0.2, abs=1e-14)
    # a value checked by hand: kl(0.1 || 0.2) = 0.0444... so inv_kl(0.1, that) = 0.2
    assert inv_kl(0.1, kl_bernoulli(0.1, 0.2)) == pytest.approx(0.2, abs=1e-12)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            inv_kl(0.1, bad)


def test_pac_bayes_and_sample_bounds_hand_computed():
    n, kl, d = 1000, 5.0, 0.05
    c = (kl + math.log(2 * math.sqrt(n) / d)) / n
    assert pac_bayes_kl_bound(0.1, kl, n, d) == pytest.approx(inv_kl(0.1, c), abs=1e-14)
    assert mc_sample_bound(0.0, 10, 0.01) == pytest.approx(1 - math.exp(-math.log(200) / 10), abs=1e-14)
    assert pac_bayes_kl_bound(0.1, kl, n, d) > 0.1
    assert pac_bayes_kl_bound(0.1, 0.0, 10 ** 7, d) < 0.101  # more data -> the bound approaches the risk
    with pytest.raises(ValueError):
        pac_bayes_kl_bound(0.1, -1.0, n)


def test_gaussian_kl():
    assert gaussian_kl_isotropic(0.0, 1.0, 1.0, 7) == 0.0
    assert gaussian_kl_isotropic(4.0, 0.5, 0.5, 3) == pytest.approx(4.0 / (2 * 0.25))
    assert gaussian_kl_isotropic(0.0, 1.0, 2.0, 1) == pytest.approx(0.5 * (0.25 - 1 - math.log(0.25)))


def test_spectral_complexity_and_bartlett_hand_computed():
    # R_A = (2*3) * ((1/2)^(2/3) + (1/3)^(2/3))^(3/2) with rho = 1
    ra = spectral_complexity([2.0, 3.0], [1.0, 1.0])
    assert ra == pytest.approx(6 * ((0.5) ** (2 / 3) + (1 / 3) ** (2 / 3)) ** 1.5, rel=1e-14)
    assert spectral_complexity([2.0, 3.0], [1.0, 1.0], [0.5, 1.0]) == pytest.approx(ra / 2)
    n, xf, g, w = 100, 10.0, 2.0, 8
    out = bartlett_margin_bound(0.05, xf, ra, g, n, w, delta=0.1)
    rad = 4 / n + 9 * math.log(n) / math.sqrt(n) * math.sqrt(math.log(2 * w)) * (4 / g) * (xf / math.sqrt(n)) * ra
    assert out["rademacher"] == pytest.approx(rad, rel=1e-14)
    assert out["bound"] == pytest.approx(0.05 + 2 * rad + 3 * math.sqrt(math.log(2 / 0.1) / (2 * n)), rel=1e-14)
    with pytest.raises(ValueError):
        spectral_complexity([0.0], [1.0])
    with pytest.raises(ValueError):
        bartlett_margin_bound(0.1, 1.0, 1.0, 0.0, 10, 2)


def test_local_lipschitz_covering_bound_hand_computed_and_monotone():
    p, R, L, n, g, d = 50, 2.0, 3.0, 400, 0.5, 0.05
    out = local_lipschitz_covering_bound(p, R, L, n, gamma=g, delta=d, radius_grid=32)
    arg = 6 * math.sqrt(2) * R * L * math.sqrt(n) / g
    assert out["bound"] == pytest.approx(math.sqrt((p * math.log(arg) + math.log(32 / d)) / (2 * n)) + 1 / math.sqrt(n))
    smaller = local_lipschitz_covering_bound(p, R, L / 10, n, gamma=g, delta=d)
    assert smaller["bound"] < out["bound"]  # a smaller Lipschitz constant gives a tighter bound
    tiny = local_lipschitz_covering_bound(p, 1e-9, L, n, gamma=g, delta=d)
    assert tiny["log_covering"] == 0.0  # log argument floored at 1
    with pytest.raises(ValueError):
        local_lipschitz_covering_bound(0, R, L, n)
