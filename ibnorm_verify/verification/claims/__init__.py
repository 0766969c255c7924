"""The claim registry: claim id -> Claim, built from the claim modules of this package.

Every public module here (a name without a leading underscore, other than :mod:`.base`) holds exactly
one claim as a module-level ``CLAIM``, and is named after its id (``cap.norm-jacobian`` lives in
``cap_norm_jacobian.py``). :data:`CLAIM_IDS` fixes the ids (the design card's twelve) and the order of
the report; the registry is checked against it in both directions at import: a module without a
declared id, or a declared id without a module, is an error.
"""
from __future__ import annotations

import importlib
import pkgutil

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


def module_name(claim_id: str) -> str:
    """``"cap.norm-jacobian"`` -> ``"cap_norm_jacobian"``."""
    return claim_id.replace(".", "_").replace("-", "_")


def _discover() -> dict[str, Claim]:
    found: dict[str, Claim] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        claim = getattr(module, "CLAIM", None)
        if not isinstance(claim, Claim):
            raise RuntimeError(f"claim module {info.name} has no module-level CLAIM")
        if module_name(claim.id) != info.name:
            raise RuntimeError(f"claim {claim.id!r} lives in {info.name}.py; expected {module_name(claim.id)}.py")
        found[claim.id] = claim
    missing = [cid for cid in CLAIM_IDS if cid not in found]
    undeclared = [cid for cid in found if cid not in CLAIM_IDS]
    if missing or undeclared:
        raise RuntimeError(f"claim registry out of step with CLAIM_IDS: no module for {missing}; "
                           f"modules with undeclared ids {undeclared}")
    return {cid: found[cid] for cid in CLAIM_IDS}


REGISTRY: dict[str, Claim] = _discover()


def get_claim(claim_id: str) -> Claim:
    try:
        return REGISTRY[claim_id]
    except KeyError:
        raise ValueError(f"unknown claim id {claim_id!r}; run `ibnorm-verify --list` for the ids") from None


__all__ = ["REGISTRY", "CLAIM_IDS", "get_claim", "module_name", "Claim", "Context", "Param"]
