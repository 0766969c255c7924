"""Estimators of the information claims against closed forms (tolerances follow n) and their Monte-Carlo
budget."""
import math

import numpy as np
import pytest
from scipy import stats

from ibnorm_verify.verification.claims._ib_estimators import (
    gaussian_cmi_bound,
    marginal_entropy,
    mixture_mi,
    mixture_mi_draws,
    paired_mixture_mi,
)


def test_marginal_entropy_matches_closed_forms():
    # KL with k=5 at n=4000: sd ~0.02 nats on these laws, bias < 0.01
    rng = np.random.default_rng(1)
    for rv in (stats.norm(scale=2.0), stats.t(3.0), stats.uniform(0, 3)):
        assert marginal_entropy(rv.rvs(size=4000, random_state=rng)) == pytest.approx(rv.entropy(), abs=0.06)


def test_marginal_entropy_refuses_atoms():
    with pytest.raises(ValueError, match="repeated values"):
        marginal_entropy(np.r_[np.zeros(10), np.arange(20.0)])


def test_common_random_numbers_make_paired_differences_precise():
    rng = np.random.default_rng(0)
    t = rng.standard_normal((800, 3))
    y = (t[:, 0] > 0).astype(int)
    idx, eps = rng.integers(0, 800, 2000), rng.standard_normal((2000, 3))
    ix_a, iy_a = mixture_mi_draws(t, 0.5, y, idx, eps)
    ix_b, iy_b = mixture_mi_draws(1.01 * t, 0.5, y, idx, eps)
    assert np.std(iy_b - iy_a) < 0.1 * np.std(iy_a)
    assert 0 < iy_a.mean() < math.log(2) and 0 < ix_a.mean() < math.log(800)


def test_budget_follows_the_target_halfwidth():
    rng = np.random.default_rng(2)
    t = rng.standard_normal((400, 2))
    y = (t[:, 0] > 0).astype(int)
    reps = [t, np.tanh(t)]
    loose = paired_mixture_mi(reps, 0.5, y, seed=1, n_mc=500, max_n_mc=20000, halfwidth=1.0,
                              contrasts=lambda ix, iy: iy[1:] - iy[:1])
    tight = paired_mixture_mi(reps, 0.5, y, seed=1, n_mc=500, max_n_mc=20000, halfwidth=0.004,
                              contrasts=lambda ix, iy: iy[1:] - iy[:1])
    capped = paired_mixture_mi(reps, 0.5, y, seed=1, n_mc=500, max_n_mc=1000, halfwidth=1e-6,
                               contrasts=lambda ix, iy: iy[1:] - iy[:1])
    assert loose.n_mc == 500 < tight.n_mc <= 20000 and capped.n_mc == 1000
    assert 1.96 * tight.contrast_se[0] < 0.006               # about the target (the budget uses the pilot's sd)
    one = mixture_mi(t, 0.5, seed=1, n_mc=500, max_n_mc=500, halfwidth=1.0)
    assert one.i_y is None and one.i_x.shape == (1,) and one.n_mc == 500


def test_gaussian_cmi_bound_is_above_the_estimate_for_a_heavy_tailed_code():
    z = np.random.default_rng(3).standard_t(3, size=(1000, 2))
    est = mixture_mi(z, 1.0, seed=0, n_mc=4000, max_n_mc=4000, halfwidth=1.0)
    assert gaussian_cmi_bound(z, 1.0) > est.i_x[0]
