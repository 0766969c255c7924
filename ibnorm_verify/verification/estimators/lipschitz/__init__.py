"""Certified Lipschitz bounds of any PyTorch model: attained lower and certified upper bounds.

Public API: :func:`estimate_lipschitz` (-> :class:`LipschitzEstimate`), :func:`validate` (ground-truth
checks as :class:`~ibnorm_verify.verification.evidence.ValidationRow`), the operator norms
:func:`operator_norm` / :func:`conv_operator_norm`. (The former ``validation_rows`` dict rows are gone: the
claims read :func:`validate`.)

Modules: :mod:`.estimate` (entry point), :mod:`.preconditions` (refusals), :mod:`.lower` (attained
bounds), :mod:`.graph` and :mod:`.ops` (tracing and the per-op rules), :mod:`.activations` (slope
intervals), :mod:`.opnorm` (operator norms), :mod:`.ellipsoid` (the dense LipSDP-type certificate,
global and over balls), :mod:`.compositional` (the per-node certificate for large graphs),
:mod:`.params` (the parameter Jacobian), :mod:`.validation`.
"""
from .estimate import LipschitzEstimate, estimate_lipschitz
from .opnorm import conv_operator_norm, operator_norm
from .validation import validate

__all__ = ["LipschitzEstimate", "estimate_lipschitz", "validate", "operator_norm", "conv_operator_norm"]
