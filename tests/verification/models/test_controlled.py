"""ibnorm_verify.verification.models: the controlled network factory."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ibnorm.functional import ib_standardize
from ibnorm.groupings import spec_of
from ibnorm_verify.verification.estimators.lipschitz import conv_operator_norm, operator_norm
from ibnorm_verify.verification.models import (
    Block,
    NetConfig,
    PreNormTransformer,
    ResNetStyle,
    blocks,
    build_network,
    calibrate_batchnorm,
    normalizer_modules,
    normalizer_scales,
    without_normalizers,
)


def test_same_seed_same_network_different_seed_differs():
    a = build_network(depth=3, width=8, gain=1.7, norm="layer", seed=4)
    b = build_network(NetConfig(depth=3, width=8, gain=1.7, norm="layer", seed=4))
    c = build_network(depth=3, width=8, gain=1.7, norm="layer", seed=5)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(a[0].layer.weight, c[0].layer.weight)


@pytest.mark.parametrize("in_dim,out_dim", [(None, None), (5, 3), (12, 12)])
def test_orthogonal_init_has_operator_norm_gain(in_dim, out_dim):
    net = build_network(depth=3, width=8, gain=2.5, in_dim=in_dim, out_dim=out_dim)
    for blk in blocks(net):
        assert operator_norm(blk.layer.weight) == pytest.approx(2.5, rel=1e-12)


def test_delta_orthogonal_conv_is_gain_times_an_isometry():
    net = build_network(depth=2, width=6, gain=1.5, conv=True, image_size=5)
    x = torch.randn(3, 6, 5, 5, dtype=torch.float64)
    y = net[0].layer(x)
    assert torch.allclose(y.flatten(1).norm(dim=1), 1.5 * x.flatten(1).norm(dim=1))
    assert conv_operator_norm(net[0].layer, (5, 5))[0] == pytest.approx(1.5, rel=1e-12)


def test_gaussian_init_scale():
    net = build_network(depth=1, width=400, gain=2.0, init="gaussian", seed=1)
    w = net[0].layer.weight
    assert w.std().item() == pytest.approx(2.0 / math.sqrt(400), rel=0.02)


@pytest.mark.parametrize("depth,every", [(6, 1), (6, 2), (7, 3), (4, 5)])
def test_placement_gives_K_normalizers(depth, every):
    cfg = NetConfig(depth=depth, width=8, norm="layer", every=every)
    net = build_network(cfg)
    where = [i + 1 for i, b in enumerate(blocks(net)) if b.norm is not None]
    assert where == [i for i in range(1, depth + 1) if i % every == 0]
    assert len(where) == cfg.num_norms == depth // every


def test_residual_only_where_shapes_agree_and_last_block_is_linear():
    net = build_network(depth=4, width=8, in_dim=3, out_dim=2, residual=True, activation="relu")
    assert [b.residual for b in net] == [False, True, True, False]
    assert [b.act for b in net] == ["relu", "relu", "relu", "identity"]
    x = torch.randn(5, 3, dtype=torch.float64)
    h = net[0](x)
    assert torch.allclose(net[1](h), h + torch.relu(net[1].layer(h)))


@pytest.mark.parametrize("norm", ["layer", "batch", "group", "rms"])
@pytest.mark.parametrize("compression", ["identity", "tanh"])
def test_every_normalizer_kind_builds_and_runs(norm, compression):
    net = build_network(depth=3, width=8, norm=norm, compression=compression, gamma=0.5, activation="tanh")
    x = torch.randn(6, 8, dtype=torch.float64)
    if norm == "batch":
        calibrate_batchnorm(net, x)
    y = net(x)
    assert y.shape == (6, 8) and torch.isfinite(y).all()
    assert all(float(b.norm.weight[0].detach()) == 0.5 for b in net if b.norm is not None)


@pytest.mark.parametrize("norm,center", [("layer", True), ("rms", False)])
def test_composite_ib_rowwise_layers_are_the_reference_composite(norm, center):
    net = build_network(depth=1, width=8, norm=norm, compression="tanh", lam=2.0, gamma=1.3, eps=1e-3)
    z = torch.randn(4, 8, dtype=torch.float64) * 3
    m = net[0].norm
    ref = ib_standardize(z, (-1,), center=center, compression="tanh", lam=2.0, eps=1e-3) * 1.3
    assert torch.allclose(m(z), ref, atol=1e-12)


def test_conv_variants_run():
    for norm in ("none", "group", "layer", "batch", "instance"):
        net = build_network(depth=2, width=4, conv=True, image_size=4, norm=norm, groups=2, activation="relu")
        x = torch.randn(3, 4, 4, 4, dtype=torch.float64)
        if norm == "batch":
            calibrate_batchnorm(net, x)
        assert net(x).shape == x.shape


def test_calibrate_batchnorm_sets_batch_statistics():
    net = build_network(depth=1, width=4, norm="batch")
    x = torch.randn(50, 4, dtype=torch.float64)
    calibrate_batchnorm(net, x)
    z = net[0].layer(x)
    assert not net.training
    assert torch.allclose(net[0].norm.running_mean, z.mean(0).detach())
    assert torch.allclose(net[0].norm.running_var, z.var(0).detach())


@pytest.mark.parametrize("kw", [dict(depth=0), dict(width=-1), dict(gain=0.0), dict(gain=float("nan")),
                                dict(activation="gelu"), dict(norm="xx"), dict(init="kaiming"),
                                dict(norm="group", groups=3), dict(conv=True, norm="rms"), dict(norm="instance"), dict(compression="nope"),
                                dict(eps=-1.0), dict(dtype="float16")])
def test_bad_configs_raise(kw):
    with pytest.raises(ValueError):
        NetConfig(**kw)


def test_blocks_rejects_foreign_models():
    with pytest.raises(TypeError):
        blocks(nn.Sequential(nn.Linear(2, 2)))
    assert all(isinstance(b, Block) for b in blocks(build_network(depth=2, width=4)))


@pytest.mark.parametrize("short,canonical", [("ln", "layer"), ("bn", "batch"), ("gn", "group")])
def test_short_norm_names_are_refused_with_the_grouping_to_use(short, canonical):
    with pytest.raises(ValueError, match=f"use '{canonical}'"):
        NetConfig(depth=2, width=8, norm=short)
    assert spec_of(build_network(NetConfig(depth=2, width=8, norm=canonical))[0].norm).grouping == canonical


def test_resnet_style_is_the_resnet18_layout_and_strips_to_the_same_weights():
    net = ResNetStyle(blocks=8, width=4, norm="batch", seed=3)
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    calibrate_batchnorm(net, x)
    assert net(x).shape == (6, 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3                       # stem, 8 basic blocks, 3 downsampling shortcuts
    assert len(normalizer_modules(net)) == 1 + 16 + 3
    plain = without_normalizers(net)
    assert not normalizer_modules(plain) and len(normalizer_modules(net)) == 20   # the original is untouched
    for (ka, va), (kb, vb) in zip(net.state_dict().items(), plain.state_dict().items()):
        if ka == kb:
            assert torch.equal(va, vb)
    with pytest.raises(ValueError):
        ResNetStyle(blocks=9)


def test_prenorm_transformer_runs_and_has_two_norms_per_block_plus_a_final_one():
    net = PreNormTransformer(depth=3, dim=8, heads=2, norm="rms", seed=1)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    assert net(x).shape == (2, 5, 8)
    assert [spec_of(m).grouping for _, m in normalizer_modules(net)] == ["rms"] * 7
    with pytest.raises(ValueError):
        PreNormTransformer(norm="batch")


def test_normalizer_scales_are_the_group_std_of_each_normalizer_input():
    net = build_network(depth=2, width=8, gain=3.0, norm="layer", gamma=0.5, seed=2)
    x = torch.randn(5, 8, dtype=torch.float64)
    (s1, g1), (s2, g2) = normalizer_scales(net, x)
    z = net[0].layer(x)
    assert torch.allclose(s1, torch.sqrt(z.var(1, unbiased=False) + 1e-5)) and g1 == g2 == 0.5
    bn = build_network(depth=1, width=4, norm="batch")
    calibrate_batchnorm(bn, torch.randn(40, 4, dtype=torch.float64))
    (s, _), = normalizer_scales(bn, torch.randn(3, 4, dtype=torch.float64))
    assert torch.allclose(s, torch.sqrt(bn[0].norm.running_var + 1e-5).min().expand(3))
