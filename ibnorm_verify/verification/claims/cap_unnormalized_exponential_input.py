"""``cap.unnormalized-exponential-input`` (arXiv 2511.00958, ``docs/papers/capacity.md`` section 2.1).

An unnormalized network can have an input-Lipschitz constant exponentially large in its depth, for a
continuum of weight gains. The experiment, its statistics and what counts as evidence are in
:mod:`._depth_sweep` (shared with the parameter version); the regimes in :mod:`._capacity_regimes`.
"""
from __future__ import annotations

from ._depth_sweep import DepthSweepClaim, depth_series, depth_sweep_params

__all__ = ["CLAIM", "UnnormalizedExponentialInput"]


class UnnormalizedExponentialInput(DepthSweepClaim):
    id = "cap.unnormalized-exponential-input"
    title = "Unnormalized nets: input-Lipschitz constant grows exponentially with depth"
    statement = ("For a continuum of weight gains g > 1, the input-Lipschitz constant of an unnormalized depth-L "
                 "network grows exponentially in L: log Lip against L has a positive slope. With W_i = g Q_i and a "
                 "1-Lipschitz activation the rate is at most log g, with equality for linear chains.")
    conditions = {"gain": "> 1 (a regime axis)", "bias": False,
                  "estimator": "estimate_lipschitz at the inputs: attained lower and certified upper bounds"}
    wrt = "input"
    series = depth_series("input")
    params = depth_sweep_params(8, ["relu", "identity", "tanh"])


CLAIM = UnnormalizedExponentialInput()
