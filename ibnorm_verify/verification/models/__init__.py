"""The one home of the suite's models.

* :mod:`.controlled`: controlled networks for the capacity experiments (depth, width, gain, activation,
  normalizer, placement, residual, init): :func:`build_network`.
* :mod:`.architectures`: small trainable architectures with a normalizer argument (MLP, ResNet-style
  CNN, ViT, GPT-style causal LM) for the learned-model claims.
"""
from .controlled import ACTIVATIONS, INITS, NORMS, Block, NetConfig, blocks, build_network, calibrate_batchnorm

__all__ = ["NetConfig", "Block", "build_network", "calibrate_batchnorm", "blocks", "NORMS", "ACTIVATIONS", "INITS"]
