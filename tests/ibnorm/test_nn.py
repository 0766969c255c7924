"""ibnorm.nn modules: identity == torch modules, state_dict keys, IBBatchNorm running statistics, errors."""
import pytest
import torch
from tolerances import assert_close
from torch import nn

from ibnorm import IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm, IBLayerNorm, IBRMSNorm
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
    ]


def _randomize(m, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=g))


@pytest.mark.parametrize("i", range(6))
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
    for name, buf in tm.named_buffers():
        assert_close(dict(im.named_buffers())[name], buf)
    tm.eval(), im.eval()
    x = torch.randn(shape, dtype=F64, generator=g)
    assert_close(im(x), tm(x))


@pytest.mark.parametrize("i", range(6))
def test_state_dict_keys_mirror_torch(i):
    tm, im, _ = pairs()[i]
    extra = set(im.state_dict()) - set(tm.state_dict())
    assert set(tm.state_dict()) <= set(im.state_dict())
    assert extra == ({"running_zmean"} if isinstance(im, (IBBatchNorm1d, IBBatchNorm2d)) else set())
    assert "compression='identity'" in repr(im)


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
