"""The run-time validation of the information claims' estimators where the claims use them: rows,
tolerances, and the preconditions (per estimator, and per estimator and channel noise)."""
import math

import pytest

from ibnorm_verify.verification.claims._ib_estimators import MIXTURE
from ibnorm_verify.verification.claims._ib_validation import (
    KSG,
    ValidationItem,
    estimator_preconditions,
    run_validation,
    validate_entropy,
    validate_gaussian_bound,
    validate_mixture,
    validated,
    validation_preconditions,
)
from ibnorm_verify.verification.evidence import ValidationRow, Verdict


def test_mixture_estimator_matches_gaussian_channel_and_label_truths():
    rows = validate_mixture([0.5, 1.0], n=1500, n_mc=3000)
    assert {r.estimator for r in rows} == {MIXTURE} and len(rows) == 4
    assert all(r.passed for r in rows), [(r.case, r.error) for r in rows]
    assert all(r.details["mc_se"] < 0.03 for r in rows)


def test_mixture_validation_fails_where_the_estimator_saturates():
    """At s = 0.01 the true I(X; AX+N) exceeds log(n): the validation must fail, not pass silently."""
    rows = validate_mixture([0.01], n=500, n_mc=500, targets=("input",))
    assert rows[0].truth > math.log(500) and not rows[0].passed
    pre = validation_preconditions(rows)
    assert [c.verdict for c in pre] == [Verdict.INCONCLUSIVE]


def test_ksg_fails_where_the_ib_claim_uses_it_and_the_mixture_passes():
    """X and T in 4 dims, n = 1000, s = 0.3: KSG is more than 1 nat low (its precondition fails), the
    mixture estimator is within a few % (an estimator validated only on small tasks would not be trusted)."""
    rows = run_validation(ValidationItem(("ksg", "mixture"), (0.3, 1.0), dim=4, n=1000, ksg_channel=True))
    assert not validated(rows, KSG) and validated(rows, MIXTURE)
    ksg_case = next(r for r in rows if r.estimator == KSG and r.family == "gaussian-channel")
    assert ksg_case.error < -1.0 and not ksg_case.passed
    pre = {c.name: c.verdict for c in validation_preconditions(rows)}
    assert pre == {f"validation:{KSG}": Verdict.INCONCLUSIVE, f"validation:{MIXTURE}": Verdict.SUPPORTED}


def test_gaussian_bound_is_exact_for_gaussians():
    rows = validate_gaussian_bound([0.5, 1.0])
    assert all(r.passed and abs(r.error) < 0.05 for r in rows)


def test_rows_and_preconditions():
    rows = validate_entropy(n=1500) + run_validation(ValidationItem(("gaussian_bound",), (1.0,)))
    assert all(isinstance(r, ValidationRow) and r.passed for r in rows)
    pre = validation_preconditions(rows)
    assert [c.role for c in pre] == ["precondition"] * 2 and all(c.verdict is Verdict.SUPPORTED for c in pre)
    bad = ValidationRow("x", "case", 1.0, 1.5, False, "|error| <= 0.1")
    assert validation_preconditions(rows + [bad])[-1].verdict is Verdict.INCONCLUSIVE
    assert not validated(rows, "no such estimator")
    with pytest.raises(ValueError, match="no validation"):
        run_validation(ValidationItem(("nope",)))


def test_preconditions_are_scoped_to_the_noise_where_an_estimator_fails():
    rows = [ValidationRow(MIXTURE, "small task", 0.5, 0.51, True, "c"),
            ValidationRow(MIXTURE, "channel s=0.5", 4.4, 4.0, False, "c", details={"noise": 0.5}),
            ValidationRow(MIXTURE, "channel s=1", 2.0, 1.98, True, "c", details={"noise": 1.0}),
            ValidationRow(KSG, "small task", 0.5, 0.5, True, "c")]
    shared, failing = estimator_preconditions(rows, {"mixture": (MIXTURE,), "knn": (KSG,)}, [0.5, 1.0])
    assert [c.name for c in shared] == ["validation:knn"] and set(failing) == {("mixture", 0.5)}
    assert failing[("mixture", 0.5)].verdict is Verdict.INCONCLUSIVE and "channel s=0.5" in failing[("mixture", 0.5)].reason
    _, missing = estimator_preconditions(rows, {"other": ("nope",)}, [1.0])
    assert "no validation rows" in missing[("other", 1.0)].reason



def test_a_case_at_the_claims_dims_passes_on_its_own():
    """One truth at a claim's own dims and s must pass on its own tolerance; it does not enter a mean over
    cases (a verdict must not depend on which other s the claim sweeps)."""
    at_s = [ValidationRow(MIXTURE, "channel s=0.3", 3.6, 3.5, True, "c", details={"noise": 0.3, "tolerance": 0.18})]
    assert validated(at_s, MIXTURE)
    small = [ValidationRow(MIXTURE, f"task {i}", 0.5, 0.58, True, "c") for i in range(3)]     # 0.08 each: mean > 0.05
    assert not validated(small + at_s, MIXTURE)
