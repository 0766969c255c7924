"""Claims that need trained networks: training statistics, bounds vs gaps, IBNorm's accuracy claims."""
from __future__ import annotations

from .base import PendingClaim


class TrainingStatistics(PendingClaim):
    id = "cap.training-statistics"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "During training, normalizer input variances and weight norms grow"
    statement = "During training the normalizers' input variances and the weight norms increase."


class LocalGeneralizationBound(PendingClaim):
    id = "cap.local-generalization-bound"
    paper = "2511.00958"
    provenance = "reconstructed"
    title = "A local-Lipschitz capacity bound is tighter with normalization and tracks the gap"
    statement = ("A local-Lipschitz capacity bound is smaller with normalization than without and its rank "
                 "across configurations tracks the measured generalization gap.")


class EmpiricalPerformance(PendingClaim):
    id = "ib.empirical-performance"
    paper = "2510.25262"
    provenance = "paper"
    title = "IBNorm beats LN/RMSNorm (language) and BN/LN (vision)"
    statement = ("IBNorm outperforms LN/RMSNorm on small language models and BN/LN on small vision models, "
                 "over several seeds with confidence intervals, at an equal tuning budget.")


CLAIMS = [TrainingStatistics(), LocalGeneralizationBound(), EmpiricalPerformance()]
