"""ibnorm with torchvision and timm models (random weights, no download): convert_norms swaps every
normalizer (BatchNorm2d, LayerNorm2d, timm's LayerNorm and BatchNormAct2d with its activation), the
identity compression leaves the outputs as they were, and timm's norm_layer names build IBNorm layers.

Skipped when torchvision or timm cannot be imported (PyPI's torchvision needs the matching CUDA build of
torch; see the layer's README for the environment these tests were run in)."""
from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn


def _optional(name: str):
    try:
        return importlib.import_module(name)
    except Exception as err:  # ImportError, or a torchvision built for another torch failing to load
        pytest.skip(f"{name} is not importable here ({type(err).__name__}: {str(err)[:80]})", allow_module_level=True)


torchvision = _optional("torchvision")
timm = _optional("timm")

import ibnorm
from ibnorm import convert_norms
from ibnorm.integrations import timm as ibtimm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _vit():
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                             num_classes=10)


#: family -> (builder, {(class met, IB class): count}); counts are the architectures' own
FAMILIES = {
    "torchvision resnet18": (lambda: torchvision.models.resnet18(num_classes=10),
                             {("BatchNorm2d", "IBBatchNorm2d"): 20}),
    "torchvision convnext_tiny": (lambda: torchvision.models.convnext_tiny(num_classes=10),
                                  {("LayerNorm2d", "IBLayerNorm2d"): 5, ("LayerNorm", "IBLayerNorm"): 18}),
    "timm vit (2 blocks)": (_vit, {("LayerNorm", "IBLayerNorm"): 5}),
    "timm convnext_atto": (lambda: timm.create_model("convnext_atto", pretrained=False, num_classes=10),
                           {("LayerNorm2d", "IBLayerNorm2d"): 17}),
    "timm efficientnet_b0": (lambda: timm.create_model("efficientnet_b0", pretrained=False, num_classes=10),
                             {("BatchNormAct2d", "IBBatchNormAct2d"): 49}),
    "timm mobilenetv3_small_050": (lambda: timm.create_model("mobilenetv3_small_050", pretrained=False,
                                                             num_classes=10),
                                   {("BatchNormAct2d", "IBBatchNormAct2d"): 34}),
    "timm regnetx_002": (lambda: timm.create_model("regnetx_002", pretrained=False, num_classes=10),
                         {("BatchNormAct2d", "IBBatchNormAct2d"): 44}),
}

X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _perturbed(m: nn.Module) -> nn.Module:
    """Norm parameters and running statistics away from their init, so that a dropped affine, offset or
    activation would show."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in list(m.named_parameters()) + list(m.named_buffers()):
            if t.is_floating_point() and t.dim() == 1:
                if name.endswith("running_var"):
                    t.copy_(0.5 + torch.rand(t.shape, generator=g))
                else:
                    t.add_(0.1 * torch.randn(t.shape, generator=g))
    return m.eval()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_identity_conversion_keeps_outputs(family):
    builder, counts = FAMILIES[family]
    m = _perturbed(builder())
    with torch.no_grad():
        ref = m(X)
    _, report = convert_norms(m, compression="identity", return_report=True)
    assert report.counts() == counts and not report.skipped
    with torch.no_grad():
        torch.testing.assert_close(m(X), ref, rtol=1e-5, atol=1e-5)
    for mod in m.modules():  # every normalizer is now an IB module, and spec_of knows each one
        spec = ibnorm.spec_of(mod)
        assert spec is None or isinstance(mod, ibnorm.IBModule)


def test_batchnormact_keeps_its_activation():
    m = timm.create_model("efficientnet_b0", pretrained=False, num_classes=10)
    acts_before = [type(mod.act).__name__ for mod in m.modules() if type(mod).__name__ == "BatchNormAct2d"]
    convert_norms(m, compression="tanh")
    acts_after = [type(mod.act).__name__ for mod in m.modules() if isinstance(mod, ibnorm.IBBatchNormAct2d)]
    assert acts_after == acts_before and "SiLU" in acts_after


def test_a_timm_ib_checkpoint_round_trip():
    """IB -> IB through a state_dict (the settings ride along), IB -> plain strict load fails."""
    src = convert_norms(_perturbed(timm.create_model("convnext_atto", pretrained=False, num_classes=10)),
                        compression="log", lam=2.0)
    dst = convert_norms(timm.create_model("convnext_atto", pretrained=False, num_classes=10), compression="tanh")
    dst.load_state_dict(src.state_dict(), strict=True)
    assert {(mod.compression, mod.lam) for mod in dst.modules() if isinstance(mod, ibnorm.IBModule)} == {("log", 2.0)}
    with pytest.raises(RuntimeError, match="_extra_state"):
        timm.create_model("convnext_atto", pretrained=False, num_classes=10).load_state_dict(src.state_dict())


def test_timm_norm_layer_names():
    names = ibtimm.register_norm_layers(compression="log", lam=2.0)
    assert "ib_layernorm" in names and "ib_batchnorm2d" in names
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                            norm_layer="ib_layernorm")
    norms = [mod for mod in vit.modules() if ibnorm.spec_of(mod) is not None]
    assert len(norms) == 5 and all(isinstance(mod, ibnorm.IBLayerNorm) and mod.compression == "log" for mod in norms)
    assert all(mod.eps == 1e-6 for mod in norms)  # timm's own default, kept
    eff = timm.create_model("efficientnet_b0", pretrained=False, norm_layer="ib_batchnorm2d")
    bns = [mod for mod in eff.modules() if ibnorm.spec_of(mod) is not None]
    assert len(bns) == 49 and all(isinstance(mod, ibnorm.IBBatchNormAct2d) for mod in bns)
    assert {type(mod.act).__name__ for mod in bns} == {"SiLU", "Identity"}  # the model's act_layer, passed through
