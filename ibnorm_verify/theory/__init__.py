"""Closed-form and symbolic results (no randomness, no training) behind the claims' predictions."""
