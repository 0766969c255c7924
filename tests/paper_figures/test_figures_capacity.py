"""The capacity figures plot the statistic their claim's verdict uses (same estimate, same interval)."""
from __future__ import annotations

import math

import pytest

from ibnorm_verify.paper_figures import (
    fig_lipschitz_depth,
    fig_loss_smoothness,
    fig_norm_jacobian,
    fig_phase_diagram,
    fig_reduction_k,
)


def _label(cell: dict) -> str:
    return ", ".join(f"{a}={v}" for a, v in cell.items())


@pytest.mark.parametrize("cid", ["cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params"])
def test_lipschitz_depth_shows_the_growth_interval_of_each_cell(synthetic, cid):
    ev = synthetic[cid]
    data = fig_lipschitz_depth.decision_data(ev)
    checked = 0
    for key, (est, (lo, hi), log_g) in data.items():
        cell = dict(zip(fig_lipschitz_depth.AXES, key))
        name = f"exponential growth in depth [{_label(cell)}]"
        if any(c.name == name for c in ev.checks):
            c = ev.check(name)
            assert est == pytest.approx(c.estimate)
            assert (lo, hi) == pytest.approx(c.ci) or not math.isfinite(hi)
            checked += 1
        assert log_g == pytest.approx(math.log(cell["gain"]))
    assert checked >= 2


def test_reduction_figure_shows_the_reduction_interval_and_the_law(synthetic):
    ev = synthetic["cap.normalization-exponential-reduction"]
    data = fig_reduction_k.decision_data(ev)
    assert len(data) >= 4
    for key, (est, ci, law) in data.items():
        cell = dict(zip(fig_reduction_k.AXES, key))
        c = ev.check(f"exponential reduction in K [{_label(cell)}]")
        assert est == pytest.approx(c.estimate) and ci == pytest.approx(c.ci)
        assert c.details["product_law_slope"] == pytest.approx(law)


def test_phase_diagram_shows_the_brackets_of_the_base_cell(synthetic):
    data = fig_phase_diagram.decision_data(synthetic["cap.normalization-exponential-reduction"])
    assert {g for g, _ in data} == {0.5, 1.0, 2.0}
    for (g, k), (lo, hi, law) in data.items():
        assert lo <= hi and law == pytest.approx(k * math.log(g), abs=0.05)


def test_loss_smoothness_figure_shows_the_per_seed_slopes_and_the_check_interval(synthetic):
    ev = synthetic["cap.loss-smoothness"]
    data = fig_loss_smoothness.decision_data(ev)
    for (key, q), (v, m, ci) in data.items():
        cell = dict(zip(fig_loss_smoothness.AXES, key))
        what = "gradient norm" if q == "grad" else "Hessian spectral norm"
        c = ev.check(f"{what}: exponential smoothing in K [{_label(cell)}]")
        assert m == pytest.approx(c.estimate) and ci == pytest.approx(c.ci) and len(v) == c.replicates


def test_norm_jacobian_figure_shows_the_envelope_of_each_formula_check(synthetic):
    ev = synthetic["cap.norm-jacobian"]
    data = fig_norm_jacobian.decision_data(ev)
    formula = {tuple(c.cell[a] for a in fig_norm_jacobian.AXES): c for c in ev.checks if c.part == "formula"}
    assert set(data) == set(formula)
    for key, env in data.items():
        assert env == pytest.approx(formula[key].ci, rel=1e-6, abs=1e-18)
