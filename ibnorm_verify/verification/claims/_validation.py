"""Estimator ground truth as a sweep item: the rows of an estimator's ``validate()``, run once per claim
(the rule that turns them into a precondition is :func:`~ibnorm_verify.verification.verdict.check_validation`)."""
from __future__ import annotations

from dataclasses import dataclass

from ..estimators import lipschitz as _lipschitz
from ..estimators import smoothness as _smoothness
from ..evidence import ValidationRow

__all__ = ["lipschitz_validation", "smoothness_validation", "ValidationItem",
           "validation_record", "split_validation"]


def lipschitz_validation(seed: int = 0) -> list[ValidationRow]:
    """The Lipschitz estimator's ground-truth rows."""
    return list(_lipschitz.validate(seed=seed))


def smoothness_validation(seed: int = 0) -> list[ValidationRow]:
    """The smoothness estimator's ground-truth rows."""
    return list(_smoothness.validate(seed=seed))


@dataclass(frozen=True)
class ValidationItem:
    """A sweep item that runs an estimator's ground truth (so that ``analyze`` sees it as a record). It has
    no ``seed`` attribute on purpose: a run extended to more seeds does not repeat it."""

    estimator: str                 # "lipschitz" | "smoothness"
    validation_seed: int = 0


def validation_record(item: ValidationItem) -> dict:
    rows = {"lipschitz": lipschitz_validation, "smoothness": smoothness_validation}[item.estimator](
        seed=item.validation_seed)
    return {"kind": "validation", "estimator": item.estimator, "rows": [r.to_dict() for r in rows]}


def split_validation(records: list[dict]) -> tuple[list[ValidationRow], list[dict]]:
    """(the validation rows, the other records) of a sweep."""
    rows = [ValidationRow.from_dict(d) for r in records if r.get("kind") == "validation" for d in r["rows"]]
    return rows, [r for r in records if r.get("kind") != "validation"]
