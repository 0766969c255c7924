"""Information-theoretic claims of arXiv 2510.25262 (IBNorm), measured with validated MI estimators."""
from __future__ import annotations

from .base import PendingClaim

PAPER = "2510.25262"


class NuisanceSuppression(PendingClaim):
    id = "ib.nuisance-suppression"
    paper = PAPER
    provenance = "paper"
    title = "Compression suppresses heavy-tailed nuisance while keeping label information"
    statement = ("IBNorm's bounded compression reduces tails, entropy and information about a heavy-tailed "
                 "nuisance, while the information about the label stays.")


class HigherIBValue(PendingClaim):
    id = "ib.higher-ib-value"
    paper = PAPER
    provenance = "reviews"
    title = "Theorem 1: higher IB value than LN/BN/RMSNorm for lambda >= 1"
    statement = ("For lambda >= 1 the IB value I(Y;T) - beta I(T_prev;T) is higher with IBNorm than with "
                 "LN/BN/RMSNorm, with at least two validated MI estimators.")


class TighterGeneralizationBound(PendingClaim):
    id = "ib.tighter-generalization-bound"
    paper = PAPER
    provenance = "reviews"
    title = "Corollary 2: tighter generalization bound (sum_l I(X;Z_l|Y) smaller)"
    statement = ("The representation term sum_l I(X;Z_l|Y) is smaller with IBNorm; judged on the full "
                 "Kawaguchi et al. (2023) bound including the model-complexity term the paper dropped.")


CLAIMS = [NuisanceSuppression(), HigherIBValue(), TighterGeneralizationBound()]
