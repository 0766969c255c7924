"""IBNorm: information-bottleneck-inspired normalization layers (reconstruction of arXiv 2510.25262).

Drop-in layers mirroring torch: :class:`IBLayerNorm`, :class:`IBRMSNorm`, :class:`IBBatchNorm1d`,
:class:`IBBatchNorm2d`, :class:`IBGroupNorm`; functional forms in :mod:`ibnorm.functional`; the
compression registry in :mod:`ibnorm.compression`; :func:`convert_norms` swaps the norms of a model.
"""
from . import compression, functional, groupings
from .compression import COMPRESSIONS, Compression, register_compression
from .convert import convert_norms
from .groupings import GROUPINGS, NormalizerSpec, spec_of
from .nn import IBBatchNorm1d, IBBatchNorm2d, IBGroupNorm, IBLayerNorm, IBRMSNorm

__all__ = [
    "compression", "functional", "groupings", "GROUPINGS", "NormalizerSpec", "spec_of", "COMPRESSIONS", "Compression", "register_compression", "convert_norms",
    "IBLayerNorm", "IBRMSNorm", "IBBatchNorm1d", "IBBatchNorm2d", "IBGroupNorm",
]
try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("ibnorm")
except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
    __version__ = "0+unknown"
