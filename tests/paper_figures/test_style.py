"""The shared style: Okabe-Ito colours, labelled axes required, formats from the environment."""
from __future__ import annotations

import matplotlib
import pytest

from ibnorm_verify.paper_figures import style


def test_agg_backend_and_okabe_ito_palette():
    assert matplotlib.get_backend().lower() == "agg"
    assert style.color(0) in style.OKABE_ITO.values() and style.color("ln") == style.OKABE_ITO["blue"]
    assert style.color("some-new-normalizer") == style.color("some-new-normalizer")     # stable
    assert len({style.color(i) for i in range(7)}) == 7


def test_axes_need_labels():
    fig, ax = style.new_figure()
    with pytest.raises(ValueError, match="label"):
        style.label_axes(ax, "", "y (units)")
    style.label_axes(ax, "x (s)", "y (m)")
    assert ax.get_xlabel() == "x (s)"


def test_save_writes_the_requested_formats(tmp_path, monkeypatch):
    fig, ax = style.new_figure()
    ax.plot([0, 1], [0, 1])
    assert [p.suffix for p in style.save(fig, tmp_path, "f")] == [".png", ".pdf"]
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    fig, _ = style.new_figure()
    assert [p.name for p in style.save(fig, tmp_path, "g")] == ["g.png"]
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "pdf")
    with pytest.raises(ValueError, match="PAPER_FIGURES_FORMATS"):
        style.formats_from_env()
