"""The result type of every MI estimator: :class:`MIEstimate`."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class MIEstimate:
    """An MI estimate in nats.

    ``uncertainty`` is always finite: sqrt(statistical^2 + bias_band^2), where ``statistical`` is the
    sampling spread (subsample standard deviation / sqrt(blocks), or the held-out standard error of a
    trained estimator; 0 when ``uncertainty="none"`` was asked) and ``bias_band`` the largest absolute
    bias this method showed on the benchmark tasks of the nearest dimension (0 where none was measured;
    see ``notes``). ``lower`` / ``upper`` bracket the MI where the method yields bounds. ``picked`` names
    the estimator that ``method="auto"`` (or ``"hybrid"``) routed to.
    """

    value: float
    uncertainty: float
    method: str
    settings: dict = field(default_factory=dict)
    n: int = 0
    picked: str = ""
    statistical: float = 0.0
    bias_band: float = 0.0
    lower: float | None = None
    upper: float | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("value", "uncertainty", "statistical", "bias_band"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValueError(f"MIEstimate.{name} must be finite, got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)
