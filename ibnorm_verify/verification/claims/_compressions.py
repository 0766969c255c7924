"""The compressions a claim sweeps (ibnorm.compression's registry), shared by cap.norm-jacobian and
ib.standardization: which names 'all' means, and which lambdas each compression admits."""
from __future__ import annotations

from ibnorm.compression import COMPRESSIONS, Compression, get_compression, validate_lam

__all__ = ["resolve_compressions", "lam_ok", "smallest_valid_lam"]


def resolve_compressions(names, include_identity: bool = True) -> list[str]:
    """``["all"]`` -> every registered compression (sorted); else the names, checked (``ValueError``)."""
    out = sorted(COMPRESSIONS) if list(names) == ["all"] else [get_compression(n).name for n in names]
    return [c for c in out if include_identity or not COMPRESSIONS[c].is_identity]


def lam_ok(name: str, lam: float) -> bool:
    """Whether ``lam`` is in the domain of compression ``name``."""
    try:
        validate_lam(COMPRESSIONS[name], lam)
        return True
    except ValueError:
        return False


def smallest_valid_lam(comp: Compression) -> float:
    return comp.lam_min if comp.lam_min_inclusive else (comp.lam_min + 1.0 if comp.lam_min > 0 else 1.0)
