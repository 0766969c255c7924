"""stats: paired comparisons, rank correlations and distribution-free medians over replicates."""
import math

import numpy as np
import pytest

from ibnorm_verify.verification.stats import median_ci, paired_test, rank_correlation


def test_paired_test():
    pt = paired_test([2.0, 3.0, 4.0], [1.0, 1.5, 2.0])
    assert pt.estimate == pytest.approx(1.5) and pt.n_pos == 3 and pt.sign_p == pytest.approx(0.25)
    assert pt.dof == 2 and pt.se == pytest.approx(np.std([1.0, 1.5, 2.0], ddof=1) / math.sqrt(3))
    assert pt.check_kwargs() == {"se": pt.se, "dof": 2, "replicates": 3}
    assert math.isnan(paired_test([1.0], [0.0]).ci[0])          # one pair cannot give an interval
    with pytest.raises(ValueError):
        paired_test([1.0], [1.0, 2.0])


def test_rank_correlation():
    x = np.arange(20.0)
    rc = rank_correlation(x, x ** 2, n_boot=200, n_perm=200)
    assert rc["rho"] == pytest.approx(1.0) and rc["perm_p"] < 0.01 and rc["ci"][0] > 0.9
    rc = rank_correlation(x, -x, n_boot=200, n_perm=200)
    assert rc["rho"] == pytest.approx(-1.0) and rc["perm_p"] > 0.9
    assert math.isnan(rank_correlation([1, 2, 3], [1, 2, 3])["rho"])


def test_median_ci_is_distribution_free():
    few = median_ci([0.3] * 5, support=(0.0, 1.0))
    assert few.ci == (0.0, 1.0)                                  # n < 6: no 95% order-statistic interval
    six = median_ci([0.3] * 6, support=(0.0, 1.0))
    assert six.ci == (0.3, 0.3) and six.coverage == pytest.approx(1 - 2 / 64)
    assert six.p_below(0.5) == pytest.approx(1 / 64) and six.p_above(0.5) == 1.0
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):                                         # coverage of the true median 0 (Cauchy data)
        m = median_ci(rng.standard_cauchy(15))
        hits += m.ci[0] <= 0.0 <= m.ci[1]
    assert hits / 400 >= 0.93
