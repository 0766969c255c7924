"""Trainer: determinism, per-step logs (normalizer input variances, weight norms), checkpoints and resume."""
import math

import pytest
import torch
from torch import nn

from ibnorm import IBLayerNorm
from ibnorm_verify.verification.models.architectures import (
    MLP,
    NORMS,
    Normalizer,
    SmallResNet,
    SmallViT,
    TinyGPT,
    make_norm,
)
from ibnorm_verify.verification.training.data import MarkovLanguage, synthetic_images
from ibnorm_verify.verification.training.trainer import (
    CheckpointError,
    TrainConfig,
    evaluate,
    group_variance,
    load_checkpoint,
    normalizer_modules,
    seeded_init,
    train,
)


@pytest.fixture(scope="module")
def images():
    return synthetic_images(64, size=4, seed=0), synthetic_images(32, size=4, seed=1)


def _mlp(norm="layer", **kw):
    return seeded_init(0, MLP, 48, 4, width=16, depth=2, norm=norm, **kw)


def _params(m):
    return torch.cat([p.detach().reshape(-1) for p in m.parameters()])


@pytest.mark.parametrize("opt", ["adamw", "sgd"])
def test_training_is_deterministic(images, opt):
    tr, te = images
    cfg = TrainConfig(steps=8, batch_size=16, lr=1e-2, optimizer=opt, eval_every=4, seed=3)
    a, b = _mlp("batch"), _mlp("batch")
    assert torch.equal(_params(a), _params(b))
    ra, rb = train(a, tr, te, cfg), train(b, tr, te, cfg)
    assert torch.equal(_params(a), _params(b))
    assert ra.log["train_loss"] == rb.log["train_loss"] and ra.log["test_loss"] == rb.log["test_loss"]
    c = _mlp("batch")
    train(c, tr, te, TrainConfig(steps=8, batch_size=16, lr=1e-2, optimizer=opt, eval_every=4, seed=4))
    assert not torch.equal(_params(a), _params(c))  # the seed drives the minibatches


def test_logs_have_one_entry_per_step_and_true_variances(images):
    tr, te = images
    m = _mlp("layer")
    res = train(m, tr, te, TrainConfig(steps=6, batch_size=16, lr=1e-3, eval_every=3, seed=0))
    log = res.log
    assert log["step"] == list(range(1, 7)) and log["eval_step"] == [3, 6] and len(log["test_acc"]) == 2
    assert set(log["norm_var"]) == set(normalizer_modules(m)) and len(log["norm_var"]) == 2
    assert all(len(v) == 6 for v in log["norm_var"].values())
    assert set(log["weight_norm"]) == {"net.1.weight", "net.4.weight", "net.7.weight"}
    assert log["weight_norm"]["net.7.weight"][-1] == pytest.approx(float(m.net[7].weight.detach().norm()))
    # the first recorded variance is the LN input variance of the first minibatch at the initial weights
    m0 = _mlp("layer")
    idx = torch.randperm(64, generator=torch.Generator().manual_seed(0))[:16]
    z = m0.net[1](m0.net[0](tr.x[idx]))
    assert log["norm_var"]["net.2"][0] == pytest.approx(float(z.detach().var(dim=-1, unbiased=False).mean()), rel=1e-5)


def test_group_variance_per_normalizer_type():
    x = torch.randn(5, 6, 3, 3)
    assert torch.allclose(group_variance(nn.BatchNorm2d(6), x), x.var(dim=(0, 2, 3), unbiased=False))
    assert torch.allclose(group_variance(nn.GroupNorm(2, 6), x), x.reshape(5, 2, -1).var(-1, unbiased=False).reshape(-1))
    t = torch.randn(4, 7)
    assert torch.allclose(group_variance(IBLayerNorm(7), t), t.var(-1, unbiased=False))
    assert torch.allclose(group_variance(nn.RMSNorm(7), t), (t * t).mean(-1))
    with pytest.raises(TypeError):
        group_variance(nn.Linear(2, 2), t)


def test_resume_from_checkpoint_equals_uninterrupted(images, tmp_path):
    tr, te = images
    cfg = TrainConfig(steps=10, batch_size=16, lr=1e-2, eval_every=5, seed=1, checkpoint_every=2)
    ref = _mlp("batch")
    r_ref = train(ref, tr, te, cfg)
    ck = tmp_path / "run.pt"
    m = _mlp("batch")
    r1 = train(m, tr, te, cfg, checkpoint=ck, stop_after=5)   # "interrupted" after 5 steps
    assert r1.steps_done == 5 and ck.exists()
    fresh = _mlp("batch")                                          # a new process would rebuild the model
    r2 = train(fresh, tr, te, cfg, checkpoint=ck)
    assert r2.resumed_from == 5 and r2.steps_done == 10
    assert torch.equal(_params(fresh), _params(ref))
    assert r2.log["train_loss"] == r_ref.log["train_loss"] and r2.log["norm_var"] == r_ref.log["norm_var"]
    with pytest.raises(ValueError):  # a checkpoint of another configuration is refused
        train(_mlp("batch"), tr, te, TrainConfig(steps=10, batch_size=16, lr=5e-2, seed=1), checkpoint=ck)


def test_language_model_training_and_eval():
    lang = MarkovLanguage(vocab=8, branching=2, seed=0)
    tr, te = lang.sample(64, 9, seed=1), lang.sample(32, 9, seed=2)
    m = seeded_init(0, TinyGPT, 8, 8, dim=16, depth=1, heads=2, norm="rms")
    l0, _ = evaluate(m, te)
    res = train(m, tr, te, TrainConfig(steps=30, batch_size=16, lr=1e-2, eval_every=30, seed=0))
    assert res.final["test_loss"] < l0 and math.isfinite(res.final["test_loss"])
    assert len(res.log["norm_var"]) == 3  # two per block + the final norm


def test_bad_config_and_data():
    with pytest.raises(ValueError):
        TrainConfig(optimizer="adam")
    with pytest.raises(ValueError):
        TrainConfig(lr=0.0)
    with pytest.raises(ValueError):
        TrainConfig(steps=0)
    with pytest.raises(TypeError):
        train(_mlp(), torch.randn(4, 3), torch.randn(4, 3), TrainConfig(steps=1))


def test_truncated_or_corrupt_checkpoint_is_recomputed(images, tmp_path):
    """Fault injection: a checkpoint cut short (full disk, interrupted copy) or overwritten with garbage is
    detected, removed with a warning, and the run recomputes from step 0 to the uninterrupted result."""
    tr, te = images
    cfg = TrainConfig(steps=6, batch_size=16, lr=1e-2, eval_every=3, seed=2, checkpoint_every=2)
    ref = _mlp("batch")
    train(ref, tr, te, cfg)
    ck = tmp_path / "run.pt"
    train(_mlp("batch"), tr, te, cfg, checkpoint=ck, stop_after=4)
    data = ck.read_bytes()
    for damaged in (data[: len(data) // 2], b"not a checkpoint", b""):
        ck.write_bytes(damaged)
        with pytest.raises(CheckpointError):
            load_checkpoint(ck)
        m = _mlp("batch")
        with pytest.warns(RuntimeWarning, match="cannot be read"):
            res = train(m, tr, te, cfg, checkpoint=ck)
        assert res.resumed_from == 0 and res.steps_done == 6 and torch.equal(_params(m), _params(ref))
        assert load_checkpoint(ck)["step"] == 6        # a good checkpoint was written again
    state = load_checkpoint(ck)                        # incomplete: a field is missing
    del state["opt"]
    torch.save(state, ck)
    with pytest.warns(RuntimeWarning, match="incomplete"):
        assert train(_mlp("batch"), tr, te, cfg, checkpoint=ck).resumed_from == 0


@pytest.mark.parametrize("norm", NORMS)
def test_architectures_forward_every_norm_and_ib_conversion(norm):
    x = torch.randn(3, 3, 8, 8)
    nz = Normalizer(norm, "tanh" if norm != "none" else "identity")
    for model in (MLP(192, 4, width=8, norm=nz), SmallResNet(3, 4, width=4, blocks=1, norm=nz),
                  SmallViT(8, 3, 4, patch=4, dim=8, depth=1, heads=2, norm=nz)):
        model.train()
        assert model(x).shape == (3, 4)
        norms = normalizer_modules(model)
        assert (len(norms) == 0) == (norm == "none")
        assert all(getattr(m, "compression", None) == "tanh" for m in norms.values())
    if norm == "none":
        return
    gpt = TinyGPT(10, 6, dim=8, depth=1, heads=2, norm=Normalizer(norm, "log", 2.0, order="standardize_first"))
    assert gpt(torch.randint(0, 10, (2, 6))).shape == (2, 6, 10)
    assert all(m.order == "standardize_first" and m.lam == 2.0 for m in normalizer_modules(gpt).values())


def test_normalizer_is_one_structured_value():
    nz = Normalizer("layer", "tanh", 1.0)
    assert nz.is_ib and nz.label == "IB-LN(tanh, lam=1)" and Normalizer.of("layer") == Normalizer("layer")
    assert nz.with_(affine=False).label == "IB-LN(tanh, lam=1) no-affine"
    for bad in (dict(grouping="ln"), dict(grouping="none", compression="tanh"), dict(grouping="layer", order="x")):
        with pytest.raises(ValueError):
            Normalizer(**bad)


def test_architecture_options_and_errors():
    m = MLP(4, 2, width=4, norm=Normalizer("layer", affine=False))
    assert all(n.weight is None for n in normalizer_modules(m).values())
    assert all(type(n) is nn.LayerNorm for n in normalizer_modules(m).values())
    with pytest.raises(ValueError):
        make_norm("bn", 4)                              # the pre-vocabulary names are refused
    with pytest.raises(ValueError):
        SmallViT(7, 3, 2, patch=2)
    with pytest.raises(TypeError):
        TinyGPT(5, 4, dim=8, heads=2)(torch.zeros(2, 4))
