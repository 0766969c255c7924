"""The claim registry: claim id -> Claim, for the 12 ids fixed by DESIGN.md section 4."""
from __future__ import annotations

from . import (
    cap_local_generalization_bound,
    cap_loss_smoothness,
    cap_norm_jacobian,
    cap_normalization_exponential_reduction,
    cap_training_statistics,
    cap_unnormalized_exponential_input,
    cap_unnormalized_exponential_params,
    ib_empirical_performance,
    ib_higher_ib_value,
    ib_nuisance_suppression,
    ib_standardization,
    ib_tighter_generalization_bound,
)
from .base import Claim, Context, Param

CLAIM_IDS = (
    "cap.norm-jacobian",
    "cap.unnormalized-exponential-input",
    "cap.unnormalized-exponential-params",
    "cap.normalization-exponential-reduction",
    "cap.loss-smoothness",
    "cap.local-generalization-bound",
    "cap.training-statistics",
    "ib.standardization",
    "ib.nuisance-suppression",
    "ib.higher-ib-value",
    "ib.tighter-generalization-bound",
    "ib.empirical-performance",
)

REGISTRY: dict[str, Claim] = {}
for _module in (cap_norm_jacobian, cap_unnormalized_exponential_input, cap_unnormalized_exponential_params,
                cap_normalization_exponential_reduction, cap_loss_smoothness, ib_standardization,
                ib_nuisance_suppression, ib_higher_ib_value, ib_tighter_generalization_bound,
                cap_local_generalization_bound, cap_training_statistics, ib_empirical_performance):
    for _claim in getattr(_module, "CLAIMS", None) or [_module.CLAIM]:
        if _claim.id in REGISTRY:
            raise RuntimeError(f"duplicate claim id {_claim.id}")
        REGISTRY[_claim.id] = _claim
REGISTRY = {cid: REGISTRY[cid] for cid in CLAIM_IDS}  # fixed order; KeyError if one is missing


def get_claim(claim_id: str) -> Claim:
    try:
        return REGISTRY[claim_id]
    except KeyError:
        raise ValueError(f"unknown claim id {claim_id!r}; run `ibnorm-verify --list` for the ids") from None


__all__ = ["REGISTRY", "CLAIM_IDS", "get_claim", "Claim", "Context", "Param"]
