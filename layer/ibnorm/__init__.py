"""IBNorm: information-bottleneck-inspired normalization layers (reconstruction of arXiv 2510.25262).

Drop-in layers mirroring torch: :class:`IBLayerNorm`, :class:`IBRMSNorm`, :class:`IBBatchNorm1d`,
:class:`IBBatchNorm2d`, :class:`IBGroupNorm` (and the further torch / timm layouts in :mod:`ibnorm.nn`);
functional forms in :mod:`ibnorm.functional`; the compression registry in :mod:`ibnorm.compression`;
:func:`convert_norms` swaps the norms of any model, found through the adapter registry of
:mod:`ibnorm.adapters`; one-call integrations for transformers and timm in :mod:`ibnorm.integrations`
(imported on demand: the optional packages stay optional).
"""
from . import adapters, compression, functional, groupings
from .adapters import NormAdapter, NormForm, register_adapter
from .compression import COMPRESSIONS, Compression, register_compression
from .convert import ConversionReport, convert_norms
from .groupings import GROUPINGS, NormalizerSpec, spec_of
from .nn import (
    IBBatchNorm1d,
    IBBatchNorm2d,
    IBBatchNorm3d,
    IBBatchNormAct2d,
    IBGroupNorm,
    IBGroupNormAct,
    IBInstanceNorm1d,
    IBInstanceNorm2d,
    IBInstanceNorm3d,
    IBLayerNorm,
    IBLayerNorm2d,
    IBLayerNormAct,
    IBLayerNormAct2d,
    IBModule,
    IBRMSNorm,
    IBRMSNorm2d,
    IBSettings,
    IBSyncBatchNorm,
)

#: the release; setuptools reads it from here (layer/pyproject.toml: dynamic version)
__version__ = "0.3.0"

__all__ = [
    "__version__", "adapters", "compression", "functional", "groupings", "GROUPINGS", "NormalizerSpec", "spec_of",
    "COMPRESSIONS", "Compression", "register_compression", "convert_norms", "ConversionReport", "NormAdapter",
    "NormForm", "register_adapter", "IBSettings", "IBModule",
    "IBLayerNorm", "IBRMSNorm", "IBBatchNorm1d", "IBBatchNorm2d", "IBGroupNorm",
    "IBBatchNorm3d", "IBSyncBatchNorm", "IBInstanceNorm1d", "IBInstanceNorm2d", "IBInstanceNorm3d",
    "IBLayerNorm2d", "IBRMSNorm2d", "IBBatchNormAct2d", "IBGroupNormAct", "IBLayerNormAct", "IBLayerNormAct2d",
]
