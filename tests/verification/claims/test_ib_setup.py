"""The shared parts of the information claims: variants, one layer, random streams, paired checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ibnorm_verify.verification.claims._ib_setup import (
    baseline_of,
    channel_noise,
    coords,
    draw_task,
    layer_output,
    mc_seed,
    paired_check,
    variant,
    variant_grid,
)
from ibnorm_verify.verification.evidence import Verdict


def test_variant_is_a_structured_normalizer():
    v = variant("layer", "tanh", 2)
    assert (v.grouping, v.compression, v.lam, v.is_ib) == ("layer", "tanh", 2.0, True)
    assert baseline_of(v) == variant("layer") and not baseline_of(v).is_ib
    assert coords(v) == {"grouping": "layer", "compression": "tanh", "lam": 2.0}
    assert [coords(x)["grouping"] for x in variant_grid(["layer", "batch"], ["tanh"], [1, 2])] == \
        ["layer", "layer", "batch", "batch"]


@pytest.mark.parametrize("bad, match", [(("ln",), "unknown grouping"), (("group",), "needs channels"),
                                        (("layer", "nope"), "unknown compression"), (("layer", "tanh", 0.0), "lam")])
def test_bad_variants_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        variant(*bad)


def test_identity_layer_is_the_torch_normalizer():
    x = np.random.default_rng(0).standard_normal((50, 6))
    t = torch.as_tensor(x)
    np.testing.assert_array_equal(layer_output(variant("layer"), x), F.layer_norm(t, (6,)).numpy())
    np.testing.assert_array_equal(layer_output(variant("batch"), x),
                                  F.batch_norm(t, None, None, training=True).numpy())
    np.testing.assert_allclose(layer_output(variant("rms"), x), F.rms_norm(t, (6,), eps=1e-6).numpy())
    y = layer_output(variant("batch", "tanh", 2.0), x)           # BN: unit variance per feature over the batch
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), 1, rtol=1e-4)


def test_streams_depend_on_seed_and_split_only():
    a, b = draw_task(3, 40, nuisance_dims=2), draw_task(3, 40, nuisance_dims=2)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.allclose(a["x"], draw_task(4, 40, nuisance_dims=2)["x"])
    assert not np.allclose(a["x"], draw_task(3, 40, split="test", nuisance_dims=2)["x"])
    np.testing.assert_array_equal(channel_noise(1, (5, 3)), channel_noise(1, (5, 3)))
    assert mc_seed(1, 0.3) != mc_seed(1, 1.0) != mc_seed(2, 1.0)


def test_paired_check_uses_the_seed_as_unit():
    c = paired_check("d", [-1.0, -1.2, -0.9], part="p", cell={"a": 1}, less_than=0.0)
    assert c.verdict is Verdict.SUPPORTED and c.replicates == 3 and c.unit == "seed" and c.mde > 0
    assert c.details["per_seed"] == [-1.0, -1.2, -0.9] and c.cell == {"a": 1} and c.part == "p"
    one = paired_check("d", [-1.0], part="p", cell={}, less_than=0.0)
    assert one.verdict is Verdict.INCONCLUSIVE            # one seed never decides
