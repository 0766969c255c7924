"""What every figure module shares: reading Evidence and failing loudly on missing data.

A figure never computes a result: it reads the ``series`` / ``validation`` / ``checks`` of the
:class:`~ibnorm_verify.verification.evidence.Evidence` a claim produced (handed to it by the application,
from a run or a ``results.json``). When the data it needs is not there, :class:`FigureDataError` says
which claim and which series, rather than drawing an empty figure.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["FigureDataError", "evidence_index", "get_evidence", "require_series"]


class FigureDataError(LookupError):
    """The Evidence a figure needs is missing (claim not run or crashed, a series absent, of other dims or empty)."""


def evidence_index(evidence: Iterable) -> dict:
    """``[Evidence, ...]`` -> ``{claim_id: Evidence}`` (a dict passes through)."""
    if isinstance(evidence, Mapping):
        return dict(evidence)
    return {ev.claim_id: ev for ev in evidence}


def get_evidence(evidence_by_id: Mapping, claim_id: str, figure: str):
    ev = evidence_by_id.get(claim_id)
    if ev is None:
        raise FigureDataError(f"{figure}: no Evidence for claim {claim_id!r} "
                              f"(have: {', '.join(sorted(evidence_by_id)) or 'none'})")
    if not ev.ok:
        raise FigureDataError(f"{figure}: claim {claim_id!r} crashed: {ev.error}")
    return ev


# ---------------------------------------------------------------------------------- typed series
def require_series(ev, name: str, figure: str, dims: Sequence[str] | None = None):
    """``ev.series[name]`` (a :class:`~ibnorm_verify.verification.evidence.Series`), checked to have
    exactly ``dims`` (in order) when given. Raises :class:`FigureDataError` naming what is missing or
    different, never a wrong plot."""
    series = getattr(ev, "series", None) or {}
    if name not in series:
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r} has no series {name!r} "
                              f"(available: {sorted(series) or 'none'})")
    s = series[name]
    if dims is not None and tuple(s.dims) != tuple(dims):
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r}: series {name!r} has dims {s.dims}, "
                              f"expected {tuple(dims)}")
    if s.values.size == 0 or not np.isfinite(s.values).any():
        raise FigureDataError(f"{figure}: claim {ev.claim_id!r}: series {name!r} has no finite values")
    return s
