"""The closed vocabularies of :mod:`ibnorm` as ``Literal`` types, and the one compute-dtype rule.

* :data:`Backend`: how the row-wise family (LayerNorm / RMSNorm grouping) is computed (see
  :mod:`ibnorm.kernels`); :data:`ConcreteBackend` what ``"auto"`` resolves to.
* :data:`Order`: where the compression sits relative to the standardization (:mod:`ibnorm.functional`).
* :data:`GroupingName`: which elements share statistics (:mod:`ibnorm.groupings`).
* :func:`compute_dtype`: every path (composite, torch, C and Triton kernels) computes statistics and
  the compression in fp32 for 16-bit inputs and in fp64 for fp64 inputs, and rounds once at the end.

This module imports nothing from the package (it is the bottom of :mod:`ibnorm`'s import graph).
"""
from __future__ import annotations

from typing import Literal, get_args

import torch

__all__ = ["Backend", "ConcreteBackend", "Order", "GroupingName", "BACKENDS", "ORDERS",
           "GROUPING_NAMES", "compute_dtype", "stat_dtype"]

Backend = Literal["auto", "triton", "cpu", "torch", "composite"]
ConcreteBackend = Literal["triton", "cpu", "torch", "composite"]
Order = Literal["compress_first", "standardize_first"]
GroupingName = Literal["layer", "rms", "batch", "group", "instance"]

#: "composite" = the autograd-differentiated reference (supports double backward, e.g. Hessian-vector
#: products, which the fused ops do not).
BACKENDS: tuple[Backend, ...] = get_args(Backend)
ORDERS: tuple[Order, ...] = get_args(Order)
GROUPING_NAMES: tuple[GroupingName, ...] = get_args(GroupingName)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Arithmetic dtype of every path: fp64 for fp64 inputs, fp32 otherwise (fp32, fp16, bf16)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def stat_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype of the saved per-row statistics: the compute dtype (fp64 only for fp64 inputs, so that
    gradcheck sees fp64 precision)."""
    return compute_dtype(dtype)
