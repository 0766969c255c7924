"""ibnorm with Hugging Face transformers: GPT-2, Llama, Gemma (x * (1 + w)) and Qwen2 built from small
configs with random weights (no download). convert_norms finds every normalizer, the identity compression
leaves the logits as they were, and the choice survives save_pretrained / from_pretrained in each
direction. Skipped when transformers is not installed."""
from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers", reason="transformers is optional (pip install transformers)")

import ibnorm
from ibnorm import IBLayerNorm, IBRMSNorm, convert_norms, spec_of
from ibnorm.integrations import transformers as ibt

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=64)


def _gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4,
                                                                 n_positions=64))


def _llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMALL))


def _gemma():
    return transformers.GemmaForCausalLM(transformers.GemmaConfig(**SMALL, head_dim=8))


def _qwen2():
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**SMALL))


#: family -> (builder, the class convert_norms meets, the IB class, how many: 2 per layer + the final norm)
FAMILIES = {
    "gpt2": (_gpt2, "LayerNorm", IBLayerNorm, 5),
    "llama": (_llama, "LlamaRMSNorm", IBRMSNorm, 5),
    "gemma": (_gemma, "GemmaRMSNorm", IBRMSNorm, 5),
    "qwen2": (_qwen2, "Qwen2RMSNorm", IBRMSNorm, 5),
}


def _model(family, seed=0):
    torch.manual_seed(seed)
    m = FAMILIES[family][0]().eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # norm weights away from their init (Gemma's zeros, ones elsewhere)
        for name, p in m.named_parameters():
            if p.dim() == 1:
                p.add_(0.2 * torch.randn(p.shape, generator=g))
    return m


IDS = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(7))


def _logits(m):
    with torch.no_grad():
        return m(IDS).logits


def _norm_modules(m):
    return [mod for mod in m.modules() if spec_of(mod) is not None]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_identity_conversion_keeps_logits(family):
    builder, src_cls, ib_cls, count = FAMILIES[family]
    m = _model(family)
    assert len(_norm_modules(m)) == count  # spec_of resolves the third-party normalizers before conversion
    ref = _logits(m)
    _, report = convert_norms(m, compression="identity", return_report=True)
    assert report.counts() == {(src_cls, ib_cls.__name__): count} and not report.skipped
    torch.testing.assert_close(_logits(m), ref, rtol=1e-5, atol=1e-5)
    if family == "gemma":
        assert all(mod.weight_offset == 1.0 for mod in m.modules() if isinstance(mod, IBRMSNorm))


@pytest.mark.parametrize("family", ["gpt2", "gemma"])
def test_types_filter_with_a_third_party_class(family):
    m = _model(family)
    cls = type(m.transformer.ln_f if family == "gpt2" else m.model.norm)
    _, report = convert_norms(m, compression="tanh", types=(cls,), return_report=True)
    assert len(report) == FAMILIES[family][3]


def test_apply_ibnorm_changes_the_model_and_records_the_choice():
    m = _model("llama")
    ref = _logits(m)
    assert ibt.apply_ibnorm(m, compression="log", lam=2.0) is m
    assert isinstance(m.model.norm, IBRMSNorm) and (m.model.norm.compression, m.model.norm.lam) == ("log", 2.0)
    assert not torch.allclose(_logits(m), ref)
    record = m.config.ibnorm
    assert record["groups"] == [{"compression": "log", "lam": 2.0, "order": "compress_first",
                                 "modules": [n for n, mod in m.named_modules() if isinstance(mod, IBRMSNorm)]}]


def _load_report(caplog_handler_target):
    """Capture transformers' own log (its library logger does not propagate)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    caplog_handler_target.addHandler(handler)
    return records, handler


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma"])
def test_round_trips_through_save_pretrained(family, tmp_path):
    """IB -> IB (ibt.from_pretrained restores each layer's settings), IB -> plain (plain from_pretrained
    gives plain norms and a logged load report naming the _extra_state keys), plain -> IB (a family patched
    by apply_ibnorm loads a plain checkpoint with identical weights)."""
    m = _model(family)
    ibt.apply_ibnorm(m, compression="tanh", lam=0.7, order="standardize_first")
    ref = _logits(m)
    m.save_pretrained(tmp_path / "ib")

    loaded = ibt.from_pretrained(tmp_path / "ib")
    ib_layers = [mod for mod in loaded.modules() if isinstance(mod, ibnorm.IBModule)]
    assert len(ib_layers) == FAMILIES[family][3]
    assert {(mod.compression, mod.lam, mod.order) for mod in ib_layers} == {("tanh", 0.7, "standardize_first")}
    torch.testing.assert_close(_logits(loaded), ref, rtol=0, atol=0)
    loaded_auto = ibt.from_pretrained(tmp_path / "ib", model_class=transformers.AutoModelForCausalLM)
    torch.testing.assert_close(_logits(loaded_auto), ref, rtol=0, atol=0)

    tf_logger = logging.getLogger("transformers")
    records, handler = _load_report(tf_logger)
    try:
        plain = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ib")
    finally:
        tf_logger.removeHandler(handler)
    assert not any(isinstance(mod, ibnorm.IBModule) for mod in plain.modules())
    text = "\n".join(r.getMessage() for r in records if r.levelno >= logging.WARNING)
    assert "_extra_state" in text and "UNEXPECTED" in text

    src = _model(family, seed=3)
    src.save_pretrained(tmp_path / "plain")
    src_logits = _logits(src)
    with pytest.raises(ValueError, match="not saved from an IBNorm model"):
        ibt.from_pretrained(tmp_path / "plain")
    ibt.apply_ibnorm(family, compression="identity")
    try:
        fam = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    finally:
        ibt.revert_ibnorm(family)
    assert len([mod for mod in fam.modules() if isinstance(mod, ibnorm.IBModule)]) == FAMILIES[family][3]
    torch.testing.assert_close(_logits(fam), src_logits, rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(src.named_parameters(), fam.parameters()):
        assert torch.equal(p, q), name
    assert not any(isinstance(mod, ibnorm.IBModule) for mod in FAMILIES[family][0]().modules())  # reverted


def test_family_patch_applies_to_from_config_and_reverts():
    ibt.apply_ibnorm("llama", compression="root", lam=2.0)
    try:
        m = _llama()
        assert isinstance(m.model.norm, IBRMSNorm) and m.model.norm.compression == "root"
        assert m.config.ibnorm["groups"][0]["compression"] == "root"
        ibt.apply_ibnorm("llama", compression="softsign")  # re-applying replaces the settings
        assert _llama().model.norm.compression == "softsign"
    finally:
        ibt.revert_ibnorm("llama")
    assert type(_llama().model.norm).__name__ == "LlamaRMSNorm"
    assert "post_init" not in vars(transformers.LlamaPreTrainedModel)


def test_integration_errors():
    with pytest.raises(ValueError, match="unknown transformers model type"):
        ibt.apply_ibnorm("no_such_model")
    with pytest.raises(TypeError, match="not a transformers PreTrainedModel"):
        ibt.apply_ibnorm(nn.Linear)
    with pytest.raises(ValueError, match="lam"):
        ibt.apply_ibnorm(_gpt2(), lam=-1.0)
