"""convert_norms: swaps every torch normalizer, keeps weights/config/flags, and a torch checkpoint still loads."""
import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import assert_close
from torch import nn

from ibnorm import IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm, IBLayerNorm, IBRMSNorm, convert_norms

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
    assert set(after) - set(before) == {"bn2.running_zmean", "bn1.running_zmean"}
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
    assert set(missing) <= {"bn2.running_zmean", "bn1.running_zmean"} and not unexpected
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
    class MyLN(nn.LayerNorm):
        pass

    net = nn.Sequential(nn.LayerNorm(4), MyLN(4), nn.BatchNorm1d(4), IBLayerNorm(4, compression="log", lam=3.0))
    convert_norms(net, compression="softsign", types=(nn.LayerNorm,))
    assert type(net[0]) is IBLayerNorm and net[0].compression == "softsign"
    assert type(net[1]) is MyLN                       # subclasses with custom behaviour are left alone
    assert type(net[2]) is nn.BatchNorm1d             # not in types
    assert net[3].compression == "log" and net[3].lam == 3.0  # already IB: untouched


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
