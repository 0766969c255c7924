"""``cap.unnormalized-exponential-params`` (arXiv 2511.00958, ``docs/papers/capacity.md`` section 2.1).

The parameter version of :mod:`.cap_unnormalized_exponential_input`: the Lipschitz constant w.r.t. all
weights at fixed inputs grows exponentially in depth. For linear chains W_i = g Q_i it is exactly
sqrt(L) g^(L-1) ||x|| (:func:`ibnorm_verify.theory.capacity.linear_chain_param_lipschitz`), so the
slope of log Lip - 0.5 log L against L is log g there (a sanity check). Shared anatomy: :mod:`._depth_sweep`.
"""
from __future__ import annotations

from ._depth_sweep import DepthSweepClaim, depth_series, depth_sweep_params

__all__ = ["CLAIM", "UnnormalizedExponentialParams"]


class UnnormalizedExponentialParams(DepthSweepClaim):
    id = "cap.unnormalized-exponential-params"
    title = "Unnormalized nets: parameter-Lipschitz constant grows exponentially with depth"
    statement = ("The same for the Lipschitz constant with respect to the parameters at fixed inputs: it grows "
                 "exponentially in depth for a continuum of gains g > 1; for linear chains ||J_theta|| = "
                 "sqrt(L) g^(L-1) ||x||, so log Lip - 0.5 log L has slope log g in L.")
    conditions = {"gain": "> 1 (a regime axis)", "||x||": "sqrt(input size)", "bias": False}
    wrt = "params"
    series = depth_series("params")
    params = depth_sweep_params(4, ["relu", "identity"])


CLAIM = UnnormalizedExponentialParams()
