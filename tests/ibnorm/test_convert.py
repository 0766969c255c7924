"""convert_norms: finds every normalizer by behaviour (torch classes, subclasses, third-party lookalikes
of the transformers / timm layers defined here without those packages), keeps weights/config/flags/hooks,
reports what it did, and a torch checkpoint still loads. The real transformers / timm / torchvision models
are in tests/ibnorm/integrations."""
import copy
import io
import logging

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import assert_close
from torch import nn

import ibnorm
from ibnorm import (
    IBBatchNorm1d,
    IBBatchNorm2d,
    IBBatchNormAct2d,
    IBGroupNorm,
    IBInstanceNorm2d,
    IBLayerNorm,
    IBLayerNorm2d,
    IBRMSNorm,
    IBRMSNorm2d,
    IBSyncBatchNorm,
    convert_norms,
    spec_of,
)
from ibnorm.adapters import ChannelsFirstSpec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

F64 = torch.float64


class Net(nn.Module):
    """Every supported normalizer once: conv -> BN2d -> GN -> flatten -> linear -> BN1d -> LN -> RMSNorm."""

    def __init__(self, ln_affine=True, ln_bias=True, bn_affine=True, gn_affine=True, eps=1e-5, momentum=0.1):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4, eps=eps, affine=bn_affine, momentum=momentum)
        self.gn = nn.GroupNorm(2, 4, eps=eps, affine=gn_affine)
        self.fc = nn.Linear(4 * 3 * 3, 6)
        self.bn1 = nn.BatchNorm1d(6, eps=eps, affine=bn_affine, momentum=momentum)
        self.block = nn.Sequential(nn.LayerNorm(6, eps=eps, elementwise_affine=ln_affine, bias=ln_bias),
                                   nn.RMSNorm(6, eps=eps, elementwise_affine=ln_affine))

    def forward(self, x):  # x: (N, 2, 3, 3)
        h = self.gn(self.bn2(self.conv(x)))
        return self.block(self.bn1(self.fc(h.flatten(1))))


def _perturbed(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=p.dtype, generator=g))
    net.train()
    net(torch.randn(5, 2, 3, 3, dtype=F64, generator=g))  # non-trivial running statistics
    return net


def test_every_norm_is_swapped_with_weights_and_flags():
    net = _perturbed(Net().to(F64), 0)
    net.fc.weight.requires_grad_(False)
    net.gn.weight.requires_grad_(False)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = convert_norms(net, compression="tanh", lam=0.7)
    assert out is net
    types = {n: type(m) for n, m in net.named_modules()}
    assert types["bn2"] is IBBatchNorm2d and types["gn"] is IBGroupNorm and types["bn1"] is IBBatchNorm1d
    assert types["block.0"] is IBLayerNorm and types["block.1"] is IBRMSNorm
    assert types["conv"] is nn.Conv2d and types["fc"] is nn.Linear
    after = net.state_dict()
    for k, v in before.items():
        assert torch.equal(after[k], v), k
    assert set(after) - set(before) == {"bn2.running_zmean", "bn1.running_zmean"} | {
        f"{n}._extra_state" for n in ("bn2", "gn", "bn1", "block.0", "block.1")}
    assert all(getattr(net, n).lam == 0.7 and getattr(net, n).compression == "tanh" for n in ("bn2", "gn", "bn1"))
    assert not net.gn.weight.requires_grad and net.bn2.weight.requires_grad
    assert not net.training and not net.bn1.training
    assert net.bn1.weight.dtype == F64


@given(seed=st.integers(0, 1000), ln_affine=st.booleans(), ln_bias=st.booleans(), bn_affine=st.booleans(),
       gn_affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]), momentum=st.sampled_from([0.1, None]),
       compression=st.sampled_from(["tanh", "log", "root", "softsign", "identity"]))
@settings(max_examples=10)
def test_torch_checkpoint_loads_after_convert(seed, ln_affine, ln_bias, bn_affine, gn_affine, eps, momentum,
                                              compression):
    """A checkpoint saved from the torch model loads strictly into the converted model; with the identity
    compression the outputs (train and eval) are torch's."""
    kw = dict(ln_affine=ln_affine, ln_bias=ln_bias, bn_affine=bn_affine, gn_affine=gn_affine, eps=eps,
              momentum=momentum)
    ref = _perturbed(Net(**kw).to(F64), seed)
    buf = io.BytesIO()
    torch.save(ref.state_dict(), buf)
    buf.seek(0)
    lam = 1.5
    model = convert_norms(Net(**kw).to(F64), compression=compression, lam=lam)
    missing, unexpected = model.load_state_dict(torch.load(buf, weights_only=True), strict=False)
    assert not missing and not unexpected  # running_zmean and the settings default to the model's own
    model.load_state_dict(ref.state_dict(), strict=True)  # the zmean buffers default to 0
    x = torch.randn(4, 2, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    for train in (False, True):
        ref.train(train), model.train(train)
        if compression == "identity":
            assert_close(model(x), ref(x))
        else:
            y = model(x)
            assert torch.all(torch.isfinite(y)) and not torch.allclose(y, ref(x))


def test_types_filter_subclasses_and_already_converted():
    """``types`` filters by isinstance (any class); subclasses that keep torch's computation are converted;
    IB layers already in the model get the new settings in place."""
    class MyLN(nn.LayerNorm):
        pass

    ib = IBLayerNorm(4, compression="log", lam=3.0, backend="composite")
    net = nn.Sequential(nn.LayerNorm(4), MyLN(4), nn.BatchNorm1d(4), ib)
    convert_norms(net, compression="softsign", types=(nn.LayerNorm,))
    assert type(net[0]) is IBLayerNorm and net[0].compression == "softsign"
    assert type(net[1]) is IBLayerNorm and net[1].compression == "softsign"
    assert type(net[2]) is nn.BatchNorm1d             # not in types
    assert net[3] is ib and (ib.compression, ib.lam, ib.backend) == ("softsign", 1.0, "composite")
    convert_norms(net, compression="tanh", types=(MyLN,), allow_empty=True)  # MyLN is gone: nothing matches
    assert net[0].compression == "softsign"


def test_model_that_is_a_norm_returns_the_new_module():
    ln = nn.LayerNorm(5).double()
    new = convert_norms(ln, compression="identity")
    assert type(new) is IBLayerNorm and type(ln) is nn.LayerNorm
    x = torch.randn(2, 5, dtype=F64)
    assert_close(new(x), ln(x))


def test_convert_errors():
    net = nn.Sequential(nn.LayerNorm(4))
    with pytest.raises(ValueError, match="lam"):
        convert_norms(net, lam=0.0)
    with pytest.raises(ValueError, match="lam >= 1"):
        convert_norms(net, compression="root", lam=0.5)
    with pytest.raises(ValueError, match="unknown compression"):
        convert_norms(net, compression="nope")
    with pytest.raises(ValueError, match="order"):
        convert_norms(net, order="bad")
    assert type(net[0]) is nn.LayerNorm  # a failed call changes nothing
    with pytest.raises(ValueError, match="found no normalizer"):
        convert_norms(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    model, report = convert_norms(nn.Linear(2, 2), allow_empty=True, return_report=True)
    assert isinstance(model, nn.Linear) and len(report) == 0 and not report.skipped


# ------------------------------------------------- lookalikes of third-party normalizers (no packages)

class LlamaRMSNorm(nn.Module):
    """transformers' LlamaRMSNorm: eps named variance_epsilon, computed in fp32, weight applied after the cast."""

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        h = hidden_states.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * h.to(input_dtype)


class GemmaRMSNorm(nn.Module):
    """transformers' GemmaRMSNorm: x * (1 + w), weight initialized to zero."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        out = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return (out * (1.0 + self.weight.float())).type_as(x)


class LayerNorm2d(nn.LayerNorm):
    """timm's / torchvision's LayerNorm2d: LayerNorm over the channels of NCHW."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class RmsNorm2d(nn.Module):
    """timm's RmsNorm2d: RMSNorm over dim 1, computed there (no permute)."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        v = x.pow(2).mean(1, keepdim=True)
        return x * torch.rsqrt(v + self.eps) * self.weight.view(1, -1, 1, 1)


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's BatchNormAct2d: BatchNorm2d, then self.drop, then self.act."""

    def __init__(self, num_features, act_layer=nn.SiLU, **kw):
        super().__init__(num_features, **kw)
        self.drop = nn.Identity()
        self.act = act_layer()

    def forward(self, x):
        return self.act(self.drop(super().forward(x)))


class GroupNorm1(nn.GroupNorm):
    """timm's GroupNorm1: one group, forward overridden (same computation)."""

    def __init__(self, num_channels, **kw):
        super().__init__(1, num_channels, **kw)

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class ScaledLayerNorm(nn.LayerNorm):
    """A lookalike that computes something else (2 * LayerNorm): must be reported, never replaced."""

    def forward(self, x):
        return 2 * super().forward(x)


class EpsOutsideRMSNorm(nn.Module):
    """RMSNorm with eps outside the square root: differs from RMSNorm only where eps matters."""

    def __init__(self, d, eps=1e-3):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps)


class GatedRMSNorm(nn.Module):
    """forward(x, gate=None): replacing it would break callers that pass the gate."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x, gate=None):
        y = F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        return y if gate is None else y * gate


def _rand_(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(m.named_parameters()) + list(m.named_buffers()):
            if t.is_floating_point():
                t.copy_((0.5 + torch.rand(t.shape, generator=g)) if "var" in name else
                        0.3 * torch.randn(t.shape, generator=g) + (1.0 if name.endswith("weight") else 0.0))
    return m


LOOKALIKES = [  # (module, input shape, IB class it becomes)
    (LlamaRMSNorm(8), (2, 3, 8), IBRMSNorm),
    (GemmaRMSNorm(8), (2, 3, 8), IBRMSNorm),
    (LayerNorm2d(4, eps=1e-6), (2, 4, 3, 3), IBLayerNorm2d),
    (RmsNorm2d(4), (2, 4, 3, 3), IBRMSNorm2d),
    (BatchNormAct2d(4), (3, 4, 2, 2), IBBatchNormAct2d),
    (GroupNorm1(4), (2, 4, 3), IBGroupNorm),
    (nn.InstanceNorm2d(4, affine=True), (2, 4, 3, 3), IBInstanceNorm2d),
    (nn.SyncBatchNorm(4), (3, 4, 2), IBSyncBatchNorm),
]


@pytest.mark.parametrize("i", range(len(LOOKALIKES)))
def test_lookalikes_convert_with_identity_outputs(i):
    """Each lookalike is found, becomes the right IB class, and computes the same (train and eval) with
    the identity compression; spec_of describes the original (its forward is the module's)."""
    proto, shape, ib_cls = LOOKALIKES[i]
    m = _rand_(copy.deepcopy(proto), i)
    net = nn.Sequential(nn.Identity(), m)
    ref = copy.deepcopy(net)
    x = 2 * torch.randn(shape) + 0.5
    m.eval()
    spec = spec_of(m)
    assert spec is not None
    assert_close(spec.forward(x) if not isinstance(m, BatchNormAct2d) else F.silu(spec.forward(x)), m(x))
    _, report = convert_norms(net, compression="identity", return_report=True)
    assert type(net[1]) is ib_cls and report.counts() == {(type(proto).__name__, ib_cls.__name__): 1}
    for train in (True, False):
        net.train(train), ref.train(train)
        assert_close(net(x), ref(x))
    assert spec_of(net[1]).grouping == spec.grouping


def test_gemma_offset_and_channels_first_specs():
    g = _rand_(GemmaRMSNorm(8))
    assert spec_of(g).weight_offset == 1.0 and spec_of(LlamaRMSNorm(8)).weight_offset == 0.0
    assert isinstance(spec_of(LayerNorm2d(4)), ChannelsFirstSpec)
    new = convert_norms(nn.Sequential(g), compression="identity")[0]
    assert new.weight_offset == 1.0 and spec_of(new).weight_offset == 1.0
    assert isinstance(spec_of(IBLayerNorm2d(4)), ChannelsFirstSpec)
    assert spec_of(nn.Linear(3, 3)) is None


@pytest.mark.parametrize("odd", [ScaledLayerNorm(6), EpsOutsideRMSNorm(6), GatedRMSNorm(6)])
def test_lookalikes_that_compute_something_else_are_reported_not_replaced(odd, caplog):
    net = nn.Sequential(nn.Linear(6, 6), odd, nn.LayerNorm(6))
    with caplog.at_level(logging.WARNING, logger="ibnorm.convert"):
        _, report = convert_norms(net, compression="tanh", return_report=True)
    assert net[1] is odd and type(net[2]) is IBLayerNorm
    if isinstance(odd, GatedRMSNorm):  # two-argument forward: not a candidate at all
        assert not report.skipped and spec_of(odd) is None
    else:
        assert [r[:2] for r in report.skipped] == [("1", type(odd).__name__)]
        assert "left 1" in caplog.text and type(odd).__name__ in caplog.text
    with pytest.raises(ValueError, match="found no normalizer"):
        convert_norms(nn.Sequential(copy.deepcopy(odd)))


def test_report_summary_and_log(caplog):
    net = nn.Sequential(nn.LayerNorm(4), nn.LayerNorm(4), nn.BatchNorm1d(4), LlamaRMSNorm(4))
    net[2].train()
    net[2](torch.randn(5, 4))  # trained running statistics
    with caplog.at_level(logging.INFO, logger="ibnorm.convert"):
        _, report = convert_norms(net, compression="log", lam=2.0, return_report=True)
    assert report.counts() == {("LayerNorm", "IBLayerNorm"): 2, ("BatchNorm1d", "IBBatchNorm1d"): 1,
                               ("LlamaRMSNorm", "IBRMSNorm"): 1}
    assert report.stale_running_stats == 1
    text = str(report)
    assert "4 converted, 0 skipped" in text and "2 x LayerNorm -> IBLayerNorm" in text and "recalibrate" in text
    assert "4 converted" in caplog.text


def test_ib_layers_get_new_settings_and_are_counted_once():
    """The suite's controlled networks hold identity IB layers: converting sets the new compression in place."""
    shared = IBLayerNorm(4, compression="identity", backend="composite")
    net = nn.Sequential(shared, nn.ReLU(), shared, nn.Sequential(shared))
    _, report = convert_norms(net, compression="tanh", lam=0.5, return_report=True)
    assert net[0] is shared and net[2] is shared and net[3][0] is shared
    assert (shared.compression, shared.lam, shared.backend) == ("tanh", 0.5, "composite")
    assert report.counts() == {("IBLayerNorm", "IBLayerNorm"): 1}


def test_shared_plain_module_stays_shared_and_where_filters():
    ln = nn.LayerNorm(4)
    net = nn.Sequential(ln, nn.Sequential(ln), nn.LayerNorm(4))
    convert_norms(net, compression="tanh", where=lambda name, m: name != "2")
    assert type(net[0]) is IBLayerNorm and net[1][0] is net[0]
    assert type(net[2]) is nn.LayerNorm


def test_hooks_flags_and_dtype_carry_over():
    ln = nn.LayerNorm(4).double()
    seen = []
    handle = ln.register_forward_hook(lambda mod, inp, out: seen.append(type(mod).__name__))
    ln.weight.requires_grad_(False)
    ln.eval()
    net = convert_norms(nn.Sequential(ln), compression="tanh")
    net(torch.randn(2, 4, dtype=F64))
    assert seen == ["IBLayerNorm"] and not net[0].weight.requires_grad and not net[0].training
    assert net[0].weight.dtype == F64
    handle.remove()
    net(torch.randn(2, 4, dtype=F64))
    assert seen == ["IBLayerNorm"]


def test_meta_device_model_converts():
    """transformers builds models on the meta device before loading weights: conversion works there (the
    behaviour probe runs on a materialized CPU copy)."""
    with torch.device("meta"):
        net = nn.Sequential(nn.LayerNorm(4), GemmaRMSNorm(4), LayerNorm2d(4))
    convert_norms(net, compression="tanh")
    assert [type(m) for m in net] == [IBLayerNorm, IBRMSNorm, IBLayerNorm2d]
    assert net[1].weight.is_meta and net[1].weight_offset == 1.0


def test_registered_adapter_feeds_convert_and_spec_of():
    """One registry: a user adapter for a new class is used by convert_norms and by spec_of."""
    class ScaleOnlyNorm(nn.Module):  # name without "Norm" at the end, eps called "tiny": not found by default
        def __init__(self, d):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(d))
            self.tiny = 1e-6

        def forward(self, x):
            return F.rms_norm(x, (x.shape[-1],), self.gain, self.tiny)

    def build(m, s):
        new = IBRMSNorm(m.gain.shape[0], eps=m.tiny, compression=s.compression, lam=s.lam, order=s.order)
        new.weight = m.gain
        return new

    def spec(m):
        return ibnorm.NormalizerSpec("rms", eps=m.tiny, normalized_shape=tuple(m.gain.shape), weight=m.gain, module=m)

    form = ibnorm.NormForm("scale-only rms", build, spec, lambda m: (2, 3, m.gain.shape[0]))
    adapter = ibnorm.NormAdapter("test: ScaleOnlyNorm", lambda m: isinstance(m, ScaleOnlyNorm), lambda m: [form])
    m = ScaleOnlyNorm(5)
    assert spec_of(m) is None
    ibnorm.register_adapter(adapter)
    try:
        assert spec_of(m).grouping == "rms"
        x = torch.randn(2, 5)
        net = convert_norms(nn.Sequential(m), compression="identity")
        assert type(net[0]) is IBRMSNorm
        assert_close(net[0](x), m(x))
    finally:
        ibnorm.adapters.ADAPTERS.remove(adapter)
