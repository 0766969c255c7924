"""Estimators (Lipschitz constants, smoothness, mutual information, generalization bounds), each validated
against ground truth before a claim uses it."""
