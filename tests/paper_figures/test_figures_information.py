"""The information claims' figures plot the statistic their verdicts use: the same per-seed paired values,
means and intervals as the checks (a figure must never disagree with its verdict)."""
import pytest

from ibnorm_verify.paper_figures import fig_ib_lambda, fig_information_plane, fig_nuisance


def _evidence_checks(ev):
    return [c for c in ev.checks if c.role == "evidence"]


def test_nuisance_figure_plots_each_checks_interval(synthetic):
    ev = synthetic["ib.nuisance-suppression"]
    data = fig_nuisance.decision_data(ev)
    checks = _evidence_checks(ev)
    assert len(data) == len(checks) > 0
    for c in checks:
        v, m, ci = data[(c.part,) + tuple(c.cell[a] for a in fig_nuisance.AXES)]
        assert list(v) == pytest.approx(c.details["per_seed"]) and m == pytest.approx(c.estimate)
        assert ci == pytest.approx(c.ci)


def test_ib_lambda_figure_plots_each_checks_interval(synthetic):
    ev = synthetic["ib.higher-ib-value"]
    data = fig_ib_lambda.decision_data(ev)
    checks = _evidence_checks(ev)
    assert len(data) >= len(checks) > 0
    for c in checks:
        key = tuple(c.cell[a] for a in ("estimator", "grouping", "compression", "lam", "beta", "noise"))
        _, m, ci = data[key]
        assert m == pytest.approx(c.estimate) and ci == pytest.approx(c.ci)


def test_information_plane_gives_each_checks_estimate_through_its_beta_lines(synthetic):
    """dI_Y - beta dI_X of the plotted mean changes is the check's estimate (the lines of slope beta
    separate the variants whose IB value rises from those whose IB value falls)."""
    ev = synthetic["ib.higher-ib-value"]
    data = fig_information_plane.decision_data(ev)
    for c in _evidence_checks(ev):
        d = data[tuple(c.cell[a] for a in ("estimator", "grouping", "compression", "lam", "noise"))]
        assert d["my"] - c.cell["beta"] * d["mx"] == pytest.approx(c.estimate)
        assert list(d["dy"] - c.cell["beta"] * d["dx"]) == pytest.approx(c.details["per_seed"])
