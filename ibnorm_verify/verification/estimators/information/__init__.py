"""Mutual-information estimators, each validated against closed forms before a claim uses them.

``mutual_information(x, y, method="auto", **settings) -> MIEstimate`` (nats); see :mod:`.api` for the
methods and the routing, :mod:`.benchmark_tasks` for the 40 "Beyond Normal" tasks (Czyz et al., NeurIPS
2023) and the suite's own closed-form tasks, :mod:`.validation` for ``validate() -> list[ValidationRow]``,
:mod:`.noisy_channel` for I(X; T + N(0, s^2 I)) of deterministic representations. Accuracy and cost of
every method: ``docs/benchmarks/information.md``.

Modules: :mod:`.inputs` (checks, input-type detection), :mod:`.knn` (KSG, mixed KSG),
:mod:`.gaussian` (Gaussian and Gaussian-copula), :mod:`.neural` (variational bounds, contrastive
bottleneck), :mod:`.discrete` (plug-in, classifier bracket, binning, Renyi), :mod:`.bias_bands`.
"""
from .api import DEFAULT_METHOD, DISCRETE_METHODS, LABEL_METHODS, METHODS, estimator, mutual_information, route
from .benchmark_tasks import (
    ALL_TASKS,
    BENCHMARK_FAMILIES,
    BENCHMARK_TASKS,
    DEV_TASKS,
    FUNCTION_LABEL_TASKS,
    HELDOUT_TASKS,
    LABEL_TASKS,
    MARGINAL_MAPS,
    GroundTruthTask,
    gaussian_pair_task,
    label_function_task,
    label_gaussian_task,
    paired_gaussian_task,
    student_t_task,
    task_by_name,
    transformed_task,
)
from .estimate import MIEstimate
from .inputs import UnboundedMIError, is_discrete, normal_scores
from .noisy_channel import noisy_channel_mi
from .validation import default_tolerance, summarize_validation, validate, validate_estimator

__all__ = [
    "MIEstimate", "mutual_information", "estimator", "noisy_channel_mi", "route", "METHODS", "DEFAULT_METHOD",
    "DISCRETE_METHODS", "LABEL_METHODS", "UnboundedMIError", "is_discrete", "normal_scores",
    "GroundTruthTask", "BENCHMARK_TASKS", "BENCHMARK_FAMILIES", "DEV_TASKS", "HELDOUT_TASKS", "LABEL_TASKS",
    "FUNCTION_LABEL_TASKS", "ALL_TASKS", "MARGINAL_MAPS", "task_by_name", "gaussian_pair_task",
    "paired_gaussian_task", "student_t_task", "transformed_task", "label_gaussian_task", "label_function_task",
    "validate", "validate_estimator", "summarize_validation", "default_tolerance",
]
