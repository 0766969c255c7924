"""The learned-model figures plot the statistic their claim's verdict uses (same numbers, same interval)."""
from __future__ import annotations

import pytest

from ibnorm_verify.paper_figures import fig_accuracy, fig_bound_gap, fig_training_statistics


def test_training_statistics_figure_shows_the_share_and_interval_of_the_verdict(synthetic):
    ev = synthetic["cap.training-statistics"]
    data = fig_training_statistics.decision_data(ev)
    for (opt, g, wd), (_v, med, ci) in data.items():
        c = ev.check(f"sigma>|gamma|[{opt}/{g}/{wd}]")
        assert med == pytest.approx(c.estimate) and ci == pytest.approx(c.ci)


def test_bound_gap_figure_shows_the_bracket_of_the_verdict(synthetic):
    ev = synthetic["cap.local-generalization-bound"]
    data = fig_bound_gap.decision_data(ev)
    assert len(data) == 4
    for (g, comp, ln), (lo, hi, ci) in data.items():
        c = ev.check(f"tighter[{g}/{comp}/noise={ln:g}]")
        assert ci == pytest.approx(c.ci) and 0.5 * (lo + hi) == pytest.approx(c.estimate)


def test_accuracy_figure_shows_the_paired_differences_of_the_verdict(synthetic):
    ev = synthetic["ib.empirical-performance"]
    data = fig_accuracy.decision_data(ev)
    names = {c.name: c for c in ev.checks}
    assert ("markov", "layer", "ablation: order") in data and ("digits", "batch", "vs layer") in data
    for (task, g, comp), (_v, m, ci) in data.items():
        if comp.startswith("vs "):
            c = names[f"{task}: ib-{g} beats {comp[3:]}"]
        else:
            label = {"ablation: order": "compress_first beats standardize_first",
                     "ablation: affine": "affine beats no-affine"}[comp]
            c = names[f"{task}: {label}"]
        assert m == pytest.approx(c.estimate) and ci == pytest.approx(c.ci)
