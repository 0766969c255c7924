"""The Kawaguchi et al. 2023 bound section of ibnorm_verify.theory.bounds (structure, every term, errors)."""
import math

import pytest

from ibnorm_verify.theory.bounds import (
    gaussian_weight_channel_mi,
    ibnorm_reduced_bound,
    kawaguchi_bound,
    kawaguchi_layer_term,
)


def test_layer_term_formula():
    q = kawaguchi_layer_term(1.0, 2.0, 100, delta=0.1, n_layers=2, loss_range=2.0, g1=0.5)
    assert q == pytest.approx(2.0 * math.sqrt((3.0 + math.log(2 * 2 / 0.1)) / 100) + 0.5 / 10)
    bits = kawaguchi_layer_term(1.0, 0.0, 100, unit="bits", g2=0.0)
    assert bits == pytest.approx(math.sqrt(math.log(2) / 100))


def test_full_bound_is_min_over_layers_and_reports_every_term():
    t = kawaguchi_bound([3.0, 0.5, 1.0], [0.1, 0.2, 5.0], 500)
    qs = [row["Q"] for row in t.per_layer]
    assert t.value == min(qs) and t.argmin_layer == 1
    assert set(t.per_layer[0]) >= {"cmi_xz_given_y", "mi_phi_s", "g1", "g2", "Q"}
    assert "reconstructed" in t.to_dict()["provenance"]


def test_monotone_in_both_information_terms():
    base = kawaguchi_bound([1.0], [1.0], 200).value
    assert kawaguchi_bound([2.0], [1.0], 200).value > base
    assert kawaguchi_bound([1.0], [2.0], 200).value > base


def test_reduced_form_sums_layers_and_drops_model_term():
    red = ibnorm_reduced_bound([1.0, 2.0], 300)
    assert red == pytest.approx(kawaguchi_bound([3.0], [0.0], 300, g2=math.log(2 * 2 / 0.05)).value)
    # the full bound with a large model-complexity term exceeds the reduced form
    assert kawaguchi_bound([1.0, 2.0], [50.0, 60.0], 300).value > red


@pytest.mark.parametrize("bad", [dict(cmi_per_layer=[], mi_phi_s_per_layer=[]),
                                 dict(cmi_per_layer=[1.0], mi_phi_s_per_layer=[1.0, 2.0]),
                                 dict(cmi_per_layer=[-1.0], mi_phi_s_per_layer=[1.0]),
                                 dict(cmi_per_layer=[float("nan")], mi_phi_s_per_layer=[1.0])])
def test_bad_terms_raise(bad):
    with pytest.raises(ValueError):
        kawaguchi_bound(n=100, **bad)


def test_bad_n_delta_unit():
    with pytest.raises(ValueError):
        kawaguchi_bound([1.0], [1.0], 0)
    with pytest.raises(ValueError):
        kawaguchi_bound([1.0], [1.0], 10, delta=1.5)
    with pytest.raises(ValueError):
        kawaguchi_bound([1.0], [1.0], 10, unit="hartley")
    with pytest.raises(TypeError):
        kawaguchi_bound(["x"], [1.0], 10)


def test_gaussian_weight_channel():
    assert gaussian_weight_channel_mi(2.0, 0.5) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        gaussian_weight_channel_mi(1.0, 0.0)
    with pytest.raises(ValueError):
        gaussian_weight_channel_mi(-1.0, 1.0)
