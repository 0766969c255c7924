"""ibnorm.nn modules: identity == torch modules, state_dict keys, saved settings (the three checkpoint
directions), IBBatchNorm running statistics, the channels-first / instance / sync / norm-act layers, errors."""
import io

import pytest
import torch
import torch.nn.functional as F
from tolerances import assert_close
from torch import nn

from ibnorm import (
    IBBatchNorm1d,
    IBBatchNorm2d,
    IBBatchNorm3d,
    IBBatchNormAct2d,
    IBGroupNorm,
    IBInstanceNorm1d,
    IBInstanceNorm2d,
    IBLayerNorm,
    IBLayerNorm2d,
    IBRMSNorm,
    IBRMSNorm2d,
    IBSettings,
    IBSyncBatchNorm,
)
from ibnorm.compression import COMPRESSIONS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

F64 = torch.float64


def pairs():
    """(torch module, IB module with identity, input shape) with identical configurations."""
    return [
        (nn.LayerNorm(6, eps=1e-4), IBLayerNorm(6, eps=1e-4, compression="identity"), (3, 6)),
        (nn.LayerNorm([2, 3], bias=False), IBLayerNorm([2, 3], bias=False, compression="identity"), (4, 2, 3)),
        (nn.RMSNorm(6, eps=1e-6), IBRMSNorm(6, eps=1e-6, compression="identity"), (3, 6)),
        (nn.BatchNorm1d(4), IBBatchNorm1d(4, compression="identity"), (5, 4, 3)),
        (nn.BatchNorm2d(3, momentum=None), IBBatchNorm2d(3, momentum=None, compression="identity"), (2, 3, 4, 4)),
        (nn.GroupNorm(2, 4), IBGroupNorm(2, 4, compression="identity"), (3, 4, 5)),
        (nn.BatchNorm3d(2), IBBatchNorm3d(2, compression="identity"), (2, 2, 3, 2, 2)),
        (nn.SyncBatchNorm(3), IBSyncBatchNorm(3, compression="identity"), (4, 3, 5)),
        (nn.InstanceNorm1d(3, affine=True), IBInstanceNorm1d(3, affine=True, compression="identity"), (2, 3, 6)),
        (nn.InstanceNorm2d(3, track_running_stats=True),
         IBInstanceNorm2d(3, track_running_stats=True, compression="identity"), (2, 3, 4, 4)),
    ]


N_PAIRS = len(pairs())


def _randomize(m, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=g))


@pytest.mark.parametrize("i", range(N_PAIRS))
def test_identity_module_equals_torch_module(i):
    """Values, input and parameter gradients, buffers (train steps then eval) are those of torch, fp64."""
    tm, im, shape = pairs()[i]
    tm, im = tm.to(F64), im.to(F64)
    _randomize(tm, i)
    im.load_state_dict(tm.state_dict())
    g = torch.Generator().manual_seed(10 + i)
    for step in range(3):
        x = (2 * torch.randn(shape, dtype=F64, generator=g) + 1).requires_grad_()
        yt, yi = tm(x), im(x)
        assert_close(yi, yt)
        dy = torch.randn(yt.shape, dtype=F64, generator=g)
        gt = torch.autograd.grad(yt, [x, *tm.parameters()], dy)
        gi = torch.autograd.grad(yi, [x, *im.parameters()], dy)
        assert_close(gi, gt)
        assert torch.equal(yi, yt)  # identity dispatches to torch's op: bit for bit
    for name, buf in tm.named_buffers():
        assert_close(dict(im.named_buffers())[name], buf)
    tm.eval(), im.eval()
    x = torch.randn(shape, dtype=F64, generator=g)
    assert_close(im(x), tm(x))


@pytest.mark.parametrize("i", range(N_PAIRS))
def test_state_dict_keys_mirror_torch(i):
    """torch's keys plus ``_extra_state`` (the settings) and, for the batch norms, ``running_zmean``."""
    tm, im, _ = pairs()[i]
    extra = set(im.state_dict()) - set(tm.state_dict())
    assert set(tm.state_dict()) <= set(im.state_dict())
    zmean = {"running_zmean"} if isinstance(im, nn.modules.batchnorm._BatchNorm) else set()
    assert extra == {"_extra_state"} | zmean
    assert "compression='identity'" in repr(im)


# --------------------------------------------------------------------- the choice in the checkpoint

def _roundtrip(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("make", [
    lambda **kw: IBLayerNorm(6, **kw), lambda **kw: IBRMSNorm(6, weight_offset=1.0, **kw),
    lambda **kw: IBBatchNorm1d(6, **kw), lambda **kw: IBGroupNorm(2, 6, **kw),
    lambda **kw: IBInstanceNorm1d(6, affine=True, **kw)])
def test_ib_checkpoint_into_ib_model_restores_the_settings(make):
    """IB -> IB: compression, lam and order come from the checkpoint, not from the constructor."""
    src = make(compression="softsign", lam=0.7, order="standardize_first").double()
    _randomize(src, 3)
    dst = make(compression="log", lam=3.0).double()
    dst.load_state_dict(_roundtrip(src.state_dict()), strict=True)
    assert (dst.compression, dst.lam, dst.order) == ("softsign", 0.7, "standardize_first")
    assert getattr(dst, "weight_offset", None) == getattr(src, "weight_offset", None)
    x = torch.randn(4, 6, 5, dtype=F64) if not isinstance(src, (IBLayerNorm, IBRMSNorm)) else torch.randn(3, 6, dtype=F64)
    src.eval(), dst.eval()
    assert torch.equal(dst(x), src(x))


def test_settings_survive_safetensors():
    st = pytest.importorskip("safetensors.torch", reason="safetensors is optional (it comes with transformers)")
    net = nn.Sequential(IBLayerNorm(4, compression="root", lam=2.5), IBBatchNorm1d(4, compression="log", lam=0.3))
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    loaded = st.load(st.save(sd))
    fresh = nn.Sequential(IBLayerNorm(4), IBBatchNorm1d(4))
    fresh.load_state_dict(loaded, strict=True)
    assert (fresh[0].compression, fresh[0].lam, fresh[1].compression, fresh[1].lam) == ("root", 2.5, "log", 0.3)


def test_plain_checkpoint_into_ib_model_keeps_the_module_settings():
    """plain -> IB: a strict load works; the IB module keeps its own compression."""
    tm = nn.LayerNorm(6).double()
    _randomize(tm, 1)
    im = IBLayerNorm(6, compression="tanh", lam=0.5).double()
    im.load_state_dict(_roundtrip(tm.state_dict()), strict=True)
    assert (im.compression, im.lam) == ("tanh", 0.5)
    assert torch.equal(im.weight, tm.weight) and torch.equal(im.bias, tm.bias)


def test_ib_checkpoint_into_plain_model_fails_loudly():
    """IB -> plain: a strict load raises on the settings key; a non-strict one reports it."""
    im = IBLayerNorm(6, compression="tanh")
    with pytest.raises(RuntimeError, match="_extra_state"):
        nn.LayerNorm(6).load_state_dict(im.state_dict(), strict=True)
    result = nn.LayerNorm(6).load_state_dict(im.state_dict(), strict=False)
    assert result.unexpected_keys == ["_extra_state"]


def test_extra_state_errors():
    m = IBLayerNorm(4)
    with pytest.raises(ValueError, match="not an IBNorm extra state"):
        m.set_extra_state({"compression": "tanh"})
    with pytest.raises(ValueError, match="uint8"):
        m.set_extra_state(torch.zeros(3))
    with pytest.raises(ValueError, match="JSON"):
        m.set_extra_state(torch.tensor([255, 0], dtype=torch.uint8))
    with pytest.raises(ValueError, match="register_compression"):
        m.set_extra_state({"format": "ibnorm", "version": 1, "compression": "mine", "lam": 1.0,
                           "order": "compress_first"})
    with pytest.raises(ValueError, match="newer"):
        m.set_extra_state({"format": "ibnorm", "version": 99, "compression": "tanh", "lam": 1.0,
                           "order": "compress_first"})
    with pytest.raises(ValueError, match="lam"):  # a checkpoint with an invalid lam is rejected, not loaded
        m.set_extra_state(IBSettings.decode(m.get_extra_state()) | {"lam": -1.0})
    assert m.compression == "tanh"


def test_set_ib_changes_settings_in_place_and_validates():
    m = IBLayerNorm(4, compression="identity", backend="composite")
    w = m.weight
    m.set_ib("root", lam=2.0)
    assert (m.compression, m.lam, m.order, m.backend) == ("root", 2.0, "compress_first", "composite")
    assert m.weight is w
    with pytest.raises(ValueError, match="lam >= 1"):
        m.set_ib(lam=0.5)
    assert m.lam == 2.0


# ------------------------------------------------------------------- the further layers and layouts

@pytest.mark.parametrize("name", ["identity", "tanh", "root"])
def test_channels_first_layers_are_the_channels_last_op(name):
    """IBLayerNorm2d / IBRMSNorm2d on (N, C, H, W) = IBLayerNorm / IBRMSNorm on the channels-last view."""
    x = torch.randn(2, 5, 3, 4, dtype=F64)
    for cf, cl in ((IBLayerNorm2d(5, compression=name, lam=2.0), IBLayerNorm(5, compression=name, lam=2.0)),
                   (IBRMSNorm2d(5, eps=1e-6, compression=name, lam=2.0),
                    IBRMSNorm(5, eps=1e-6, compression=name, lam=2.0))):
        cf, cl = cf.double(), cl.double()
        _randomize(cl, 0)
        cf.load_state_dict(cl.state_dict())
        assert torch.equal(cf(x), cl(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"\(N, C, \*\)"):
        IBLayerNorm2d(5)(torch.randn(2, 5))


def test_rms_weight_offset_is_gemma():
    """``weight_offset=1``: y = rms_norm(x) * (1 + w), Gemma's RMSNorm, for every compression's forward path."""
    m = IBRMSNorm(6, eps=1e-6, weight_offset=1.0, compression="identity").double()
    _randomize(m, 2)
    x = torch.randn(3, 6, dtype=F64)
    assert_close(m(x), F.rms_norm(x, (6,), 1.0 + m.weight, 1e-6))
    t = IBRMSNorm(6, eps=1e-6, weight_offset=1.0, compression="tanh", lam=2.0).double()
    ref = IBRMSNorm(6, eps=1e-6, compression="tanh", lam=2.0).double()
    t.load_state_dict(m.state_dict()), ref.load_state_dict({"weight": 1.0 + m.weight.detach()})
    assert (t.compression, t.weight_offset) == ("identity", 1.0)  # the checkpoint's settings
    t.set_ib("tanh", 2.0)
    assert_close(t(x), ref(x))
    assert "weight_offset=1.0" in repr(t)


@pytest.mark.parametrize("name", ["tanh", "log"])
def test_instance_norm_is_group_norm_with_one_channel_per_group(name):
    m = IBInstanceNorm2d(3, affine=True, compression=name, lam=2.0).double()
    g = IBGroupNorm(3, 3, compression=name, lam=2.0).double()
    _randomize(g, 4)
    m.load_state_dict(g.state_dict(), strict=False)
    x = 2 * torch.randn(2, 3, 4, 4, dtype=F64) + 1
    assert_close(m(x), g(x))
    assert_close(m(x[0]), g(x[:1])[0])  # unbatched input, as torch accepts


def test_instance_norm_running_stats_need_identity():
    with pytest.raises(ValueError, match="track_running_stats"):
        IBInstanceNorm1d(3, track_running_stats=True, compression="tanh")
    m = IBInstanceNorm1d(3, track_running_stats=True, compression="identity")
    with pytest.raises(ValueError, match="track_running_stats"):
        m.set_ib("tanh")


def test_sync_batch_norm_single_process_is_ib_batch_norm():
    """Without a process group IBSyncBatchNorm computes IBBatchNorm's function (the CPU path of torch's
    SyncBatchNorm too); cross-process statistics for a non-identity compression raise (docstring)."""
    s = IBSyncBatchNorm(3, compression="tanh", lam=2.0).double()
    b = IBBatchNorm2d(3, compression="tanh", lam=2.0).double()
    x = torch.randn(4, 3, 2, 2, dtype=F64)
    assert_close(s(x), b(x))
    assert_close(s.running_var, b.running_var)


def test_norm_act_is_norm_then_drop_then_act():
    m = IBBatchNormAct2d(3, compression="log", lam=2.0, act=nn.SiLU()).double()
    ref = IBBatchNorm2d(3, compression="log", lam=2.0).double()
    _randomize(ref, 5)
    m.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(4, 3, 2, 2, dtype=F64)
    assert_close(m(x), F.silu(ref(x)))
    assert isinstance(m.drop, nn.Identity)


def test_torch_batchnorm_checkpoint_loads_strictly_and_zmean_defaults_to_zero():
    tm = nn.BatchNorm1d(4).to(F64)
    tm.train()
    tm(torch.randn(8, 4, dtype=F64))
    im = IBBatchNorm1d(4, compression="tanh", lam=0.5).to(F64)
    im.running_zmean.fill_(3.0)
    im.load_state_dict(tm.state_dict(), strict=True)
    assert torch.all(im.running_zmean == 0)
    assert_close(im.running_var, tm.running_var)


@pytest.mark.parametrize("cls,shape", [(IBBatchNorm1d, (16, 3)), (IBBatchNorm1d, (6, 3, 5)), (IBBatchNorm2d, (4, 3, 2, 3))])
@pytest.mark.parametrize("name", ["tanh", "log", "root", "softsign"])
def test_ib_batchnorm_running_statistics(cls, shape, name):
    """momentum = 1: the buffers hold the last batch's statistics (centering mean, unbiased var of z, mean of z);
    eval on the same batch then reproduces the train output with the unbiased variance, as torch's BN does."""
    lam = 2.0
    m = cls(3, momentum=1.0, compression=name, lam=lam).to(F64)
    x = 3 * torch.randn(shape, dtype=F64) + 0.7
    y_train = m(x)
    dims = (0,) + tuple(range(2, x.dim()))
    bshape = (1, 3) + (1,) * (x.dim() - 2)
    n = x.numel() // 3
    mean = x.mean(dims)
    z = COMPRESSIONS[name].fn(x - mean.view(bshape), lam)
    assert_close(m.running_mean, mean)
    assert_close(m.running_var, z.var(dims, unbiased=True))
    assert_close(m.running_zmean, z.mean(dims))
    assert int(m.num_batches_tracked) == 1
    m.eval()
    y_eval = m(x)
    scale = torch.sqrt((z.var(dims, unbiased=False) + m.eps) / (z.var(dims, unbiased=False) * n / (n - 1) + m.eps))
    assert_close(y_eval, y_train * scale.view(bshape))


def test_ib_batchnorm_cumulative_average_and_no_tracking():
    m = IBBatchNorm1d(2, momentum=None, compression="tanh").to(F64)
    xs = [torch.randn(10, 2, dtype=F64) + k for k in range(3)]
    for x in xs:
        m(x)
    assert_close(m.running_mean, torch.stack([x.mean(0) for x in xs]).mean(0))
    m2 = IBBatchNorm1d(2, track_running_stats=False, compression="tanh").to(F64)
    assert m2.running_mean is None and m2.running_zmean is None
    m2.eval()  # no running stats: batch statistics in eval too, as torch
    y = m2(xs[0])
    assert_close(y.mean(0), torch.zeros(2, dtype=F64))
    m.reset_running_stats()
    assert torch.all(m.running_zmean == 0) and int(m.num_batches_tracked) == 0


@pytest.mark.parametrize("name", ["tanh", "log", "root", "softsign"])
def test_non_identity_modules_standardize(name):
    lam = 2.0
    x = 4 * torch.randn(5, 8, dtype=F64)
    for m in (IBLayerNorm(8, compression=name, lam=lam, elementwise_affine=False),
              IBGroupNorm(1, 5, compression=name, lam=lam, affine=False)):
        y = m.to(F64)(x if isinstance(m, IBLayerNorm) else x.T.unsqueeze(0))
        flat = y.reshape(y.shape[0], -1)
        assert_close(flat.mean(-1), torch.zeros(flat.shape[0], dtype=F64))
        assert float((flat.var(-1, unbiased=False) - 1).abs().max()) < 1e-3


def test_constructor_errors():
    with pytest.raises(ValueError, match="lam"):
        IBLayerNorm(4, lam=0.0)
    with pytest.raises(ValueError, match="lam >= 1"):
        IBRMSNorm(4, compression="root", lam=0.5)
    with pytest.raises(ValueError, match="unknown compression"):
        IBBatchNorm1d(4, compression="nope")
    with pytest.raises(ValueError, match="order"):
        IBGroupNorm(2, 4, order="bad")
    with pytest.raises(ValueError):
        IBGroupNorm(3, 4)  # torch's own check: channels not divisible by groups
    with pytest.raises(ValueError, match="normalized_shape"):
        IBLayerNorm(5)(torch.randn(2, 4))
    with pytest.raises(ValueError):
        IBBatchNorm2d(3)(torch.randn(2, 3))  # torch's input-dim check
    with pytest.raises(ValueError, match="order"):
        IBSettings("tanh", 1.0, "bad")  # type: ignore[arg-type]
