"""Claims about one normalization operation: exact Jacobian norm (2511.00958) and IBNorm's standardization."""
from __future__ import annotations

from .base import PendingClaim


class NormJacobian(PendingClaim):
    id = "cap.norm-jacobian"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "One normalizer has local Lipschitz constant |gamma|/sqrt(var+eps)"
    statement = ("The Jacobian spectral norm of LN, BN (train mode), GN and IN at z equals |gamma|/sqrt(var(z)+eps); "
                 "the RMSNorm analogue is |gamma|/sqrt(ms(z)+eps).")


class Standardization(PendingClaim):
    id = "ib.standardization"
    paper = "2510.25262"
    provenance = "paper"
    title = "IBNorm output is standardized, compression bounded, identity limit recovers LN/RMSNorm/BN"
    statement = ("Before the affine, IBNorm output has zero mean and unit variance per group; the compression "
                 "is bounded as stated; the identity compression recovers LN/RMSNorm/BN/GN.")


CLAIMS = [NormJacobian(), Standardization()]
