"""ibnorm-verify: a theory-verification suite for two 2025 papers on normalization layers.

Floors, each importing only from the floors below it (``tests/test_architecture.py`` checks this):

* :mod:`ibnorm_verify.app`: the command line, the runner, the reports (the application floor);
* :mod:`ibnorm_verify.paper_figures`: pure ``make(evidence)`` figure functions;
* :mod:`ibnorm_verify.verification`: models, estimators, claims, evidence and verdicts;
* :mod:`ibnorm_verify.theory`: closed forms and symbolic results;
* :mod:`ibnorm` (its own distribution): the layers.
"""
from .version import __version__

__all__ = ["__version__"]
