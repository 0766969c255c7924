"""The one home of the suite's models.

* :mod:`.controlled`: controlled networks for the capacity experiments (depth, width, gain, activation,
  normalizer grouping, placement, residual, init): :func:`build_network`, and the ResNet-18-style and
  pre-norm transformer nets of the regime sweeps.
* :mod:`.architectures`: small trainable architectures with a normalizer argument (MLP, ResNet-style
  CNN, ViT, GPT-style causal LM) for the learned-model claims.
"""
from .controlled import (
    ACTIVATIONS,
    INITS,
    NORMS,
    Block,
    NetConfig,
    PreNormTransformer,
    ResNetStyle,
    blocks,
    build_network,
    calibrate_batchnorm,
    checked_norm,
    make_normalizer,
    normalizer_modules,
    normalizer_scales,
    without_normalizers,
)

__all__ = ["NetConfig", "Block", "build_network", "calibrate_batchnorm", "blocks", "NORMS", "ACTIVATIONS", "INITS",
           "checked_norm", "make_normalizer", "ResNetStyle", "PreNormTransformer",
           "without_normalizers", "normalizer_modules", "normalizer_scales"]
