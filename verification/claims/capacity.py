"""Claims of arXiv 2511.00958 measured on controlled networks (Lipschitz constants, loss smoothness)."""
from __future__ import annotations

from .base import PendingClaim

PAPER = "2511.00958"


class UnnormalizedExponentialInput(PendingClaim):
    id = "cap.unnormalized-exponential-input"
    paper = PAPER
    provenance = "reconstructed"
    title = "Unnormalized nets: input-Lipschitz constant grows exponentially with depth"
    statement = ("For every weight gain g > 1 (a continuum of networks), the input-Lipschitz constant of an "
                 "unnormalized depth-L network grows like g^L: log Lip vs L has slope ~ log g.")


class UnnormalizedExponentialParams(PendingClaim):
    id = "cap.unnormalized-exponential-params"
    paper = PAPER
    provenance = "reconstructed"
    title = "Unnormalized nets: parameter-Lipschitz constant grows exponentially with depth"
    statement = "The same as the input claim for the Lipschitz constant with respect to the parameters."


class NormalizationExponentialReduction(PendingClaim):
    id = "cap.normalization-exponential-reduction"
    paper = PAPER
    provenance = "reconstructed"
    title = "K normalizers divide the Lipschitz constant by ~ prod of their input std devs"
    statement = ("Inserting K normalizers divides the Lipschitz constant by about prod_j sigma_j/|gamma_j|: "
                 "an exponential reduction in K when sigma_j > |gamma_j|; when sigma_j < |gamma_j| it is an increase.")


class LossSmoothness(PendingClaim):
    id = "cap.loss-smoothness"
    paper = PAPER
    provenance = "reconstructed"
    title = "Normalization smooths the loss exponentially in K"
    statement = "The loss-gradient norm and the Hessian spectral norm w.r.t. parameters shrink exponentially in K."


CLAIMS = [UnnormalizedExponentialInput(), UnnormalizedExponentialParams(), NormalizationExponentialReduction(),
          LossSmoothness()]
