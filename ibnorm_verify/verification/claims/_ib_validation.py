"""Run-time ground-truth validation of every estimator the information claims use, where they use it,
as :class:`~ibnorm_verify.verification.evidence.ValidationRow` s, and the preconditions built from them.

* ``validate_*``: closed-form cases per estimator: the suite's small tasks, and the Gaussian channel
  I(X; AX + s N) (and a label task) at a claim's own width, n and s;
* :func:`validated`: every case within max(0.1 nats, 5% of the truth), and the mean |error| / tolerance
  over the small tasks at most 1/2; :func:`validation_preconditions` (one precondition per estimator, guarding every cell)
  and :func:`estimator_preconditions` (per estimator group and channel noise s, so that an estimator
  that fails at some s holds only its own cells), which
  :func:`~ibnorm_verify.verification.verdict.decide` turns into "inconclusive" where they fail.

These validations belong with the estimators (their own ``validate()``); they live here until the
estimators package provides them for the mixture estimator, the Gaussian channel bound and the entropy
estimator at the claims' dimensions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps

from ibnorm_verify.theory.information import gaussian_channel_mi, label_gaussian_mi

from ..estimators.information import LABEL_TASKS, GroundTruthTask, mutual_information, task_by_name
from ..evidence import Check, ValidationRow
from ..verdict import check_precondition
from ._ib_estimators import AUTO, MIXTURE, auto_mi, gaussian_cmi_bound, marginal_entropy, mixture_mi

__all__ = ["ValidationItem", "run_validation", "validate_ksg", "validate_ksg_channel", "validate_mixed_ksg",
           "validate_mixture", "validate_auto", "validate_gaussian_bound", "validate_entropy", "validated",
           "validation_preconditions", "estimator_preconditions", "tolerance", "KSG", "MIXED_KSG", "ENTROPY",
           "GAUSSIAN_BOUND", "MEAN_TOL", "WORST_TOL", "REL_TOL"]

VALIDATION_N = 2000
#: nats: every case's |error| must stay within max(WORST_TOL, REL_TOL * |truth|), and the mean of
#: |error| / tolerance over an estimator's cases within 1/2 (MEAN_TOL nats on the small tasks)
MEAN_TOL, WORST_TOL, REL_TOL = 0.05, 0.10, 0.05
#: held-out closed-form tasks the run-time KSG validation uses (a cheap subset; the tests run them all)
RUNTIME_KSG_TASKS = ("normal-1x1-0.75", "asinh(student-2x2-df2-0.6)", "independent-2x2")
CRITERION = (f"|error| <= max({WORST_TOL} nats, {REL_TOL:.0%} of the truth); mean |error| / tolerance over the "
             "estimator's cases <= 1/2")
#: the estimator names of the validation rows (MIXTURE and AUTO: see the estimators module)
KSG, MIXED_KSG, ENTROPY, GAUSSIAN_BOUND = "ksg(k=5, copula)", "mixed_ksg(k=5, copula)", "kl_entropy(k=5)", "gaussian_bound"


@dataclass(frozen=True)
class ValidationItem:
    """The run-time validation a claim needs, as a sweep item (it does not depend on the seed).

    ``estimators``: ``ksg``, ``mixed_ksg``, ``mixture``, ``entropy``, ``gaussian_bound``. ``dim`` and ``n``
    are the claim's own representation width and sample size: the Gaussian-channel case
    I(X; AX + s N) is run there (for the mixture's ``"input"`` target, and for ``ksg`` with
    ``ksg_channel``) at each s, so an estimator is validated where the claim uses it, not only on small
    closed-form tasks.
    """

    estimators: tuple[str, ...]
    noise_stds: tuple[float, ...] = ()
    mixture_targets: tuple[str, ...] = ("input", "labels")
    dim: int = 4
    n: int = VALIDATION_N
    ksg_channel: bool = False                     # validate KSG on the Gaussian channel at (dim, n) too


def run_validation(item: ValidationItem) -> list[ValidationRow]:
    rows: list[ValidationRow] = []
    for name in item.estimators:
        if name == "mixture":
            rows += validate_mixture(item.noise_stds, n=item.n, dim=item.dim, targets=item.mixture_targets)
        elif name == "ksg":
            rows += validate_ksg()
            if item.ksg_channel:
                rows += validate_ksg_channel(item.noise_stds, n=item.n, dim=item.dim)
        elif name == "mixed_ksg":
            rows += validate_mixed_ksg()
        elif name == "entropy":
            rows += validate_entropy()
        elif name == "gaussian_bound":
            rows += validate_gaussian_bound(item.noise_stds, dim=item.dim)
        elif name == "auto":
            rows += validate_auto(item.noise_stds, n=item.n, dim=item.dim, targets=item.mixture_targets)
        else:
            raise ValueError(f"no validation for estimator {name!r}; known: ksg, mixed_ksg, mixture, entropy, "
                             "gaussian_bound, auto")
    return rows


def tolerance(truth: float) -> float:
    """A case's tolerance: ``WORST_TOL`` nats, or ``REL_TOL`` of the truth for large MI (a few % of several nats)."""
    return max(WORST_TOL, REL_TOL * abs(float(truth)))


def _row(estimator: str, case: str, truth: float, estimate: float, family: str, n: int, **details) -> ValidationRow:
    err = float(estimate) - float(truth)
    tol = tolerance(truth)
    return ValidationRow(estimator=estimator, case=case, truth=float(truth), estimate=float(estimate),
                         passed=bool(math.isfinite(err) and abs(err) <= tol), criterion=CRITERION,
                         family=family, unit="nats", n=int(n), details={"tolerance": tol, **details})


def _task_rows(name: str, fn: Callable, tasks: Sequence[GroundTruthTask], n: int, seed: int) -> list[ValidationRow]:
    rows = []
    for task in tasks:
        x, y = task.sample(n, seed=seed)
        rows.append(_row(name, task.name, task.mutual_information, fn(x, y), task.family, n, seed=seed))
    return rows


def validate_ksg(n: int = VALIDATION_N, seed: int = 0) -> list[ValidationRow]:
    """KSG (k=5, copula) on held-out closed-form tasks."""
    return _task_rows(KSG, lambda x, y: mutual_information(x, y, "ksg", uncertainty="none").value,
                      [task_by_name(t) for t in RUNTIME_KSG_TASKS], n, seed)


def _gaussian_channel(dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((dim, dim)) / math.sqrt(dim)
    return A, rng.standard_normal((n, dim)), rng


def validate_ksg_channel(noise_stds: Sequence[float], n: int = VALIDATION_N, seed: int = 0,
                         dim: int = 4) -> list[ValidationRow]:
    """KSG on the Gaussian channel I(X; AX + s N) at a claim's own dims (X and T in ``dim`` dims, n samples)."""
    A, x, rng = _gaussian_channel(dim, n, seed)
    rows = []
    for s in noise_stds:
        t = x @ A.T + s * rng.standard_normal(x.shape)
        rows.append(_row(KSG, f"gaussian-channel-{dim}+{dim}d(s={s:g})", gaussian_channel_mi(A, np.eye(dim), s * s)["I_XT"],
                         mutual_information(x, t, "ksg", uncertainty="none").value, "gaussian-channel", n,
                         noise=float(s)))
    return rows


def validate_mixed_ksg(n: int = VALIDATION_N, seed: int = 0) -> list[ValidationRow]:
    """Mixed KSG (Ross 2014, k=5, copula) on label-Gaussian tasks with a quadrature truth."""
    return _task_rows(MIXED_KSG, lambda x, y: mutual_information(x, y, "mixed_ksg", uncertainty="none").value,
                      LABEL_TASKS[:2], n, seed)


def validate_mixture(noise_stds: Sequence[float], n: int = VALIDATION_N, seed: int = 0, dim: int = 4,
                     n_mc: int = 4000, targets: Sequence[str] = ("input", "labels")) -> list[ValidationRow]:
    """Closed forms for the mixture estimator at each s: I(X; AX + N) for Gaussian X in ``dim`` dims with n
    samples (Gaussian channel; ``"input"``) and I(Y; X + N) for class-conditional Gaussians (1-D
    quadrature; ``"labels"``). Validate only the targets a claim uses: I(X; T_s) saturates at log(n)."""
    A, x, rng = _gaussian_channel(dim, n, seed)
    rows = []
    for s in noise_stds:
        if "input" in targets:
            truth = gaussian_channel_mi(A, np.eye(dim), s * s)["I_XT"]
            est = mixture_mi(x @ A.T, s, seed=seed, n_mc=n_mc, max_n_mc=n_mc, halfwidth=1.0)
            rows.append(_row(MIXTURE, f"gaussian-channel-{dim}d(s={s:g})", truth, est.i_x[0], "gaussian-channel", n,
                             n_mc=est.n_mc, mc_se=float(est.se_x[0]), target="input", noise=float(s)))
        if "labels" in targets:
            lab = rng.integers(0, 2, n)
            xl = rng.standard_normal((n, 1)) + 2.0 * lab[:, None]
            truth = label_gaussian_mi(2, 2.0, math.sqrt(1.0 + s * s))
            est = mixture_mi(xl, s, lab, seed=seed, n_mc=n_mc, max_n_mc=n_mc, halfwidth=1.0)
            assert est.i_y is not None and est.se_y is not None
            rows.append(_row(MIXTURE, f"label-2class-sep2(s={s:g})", truth, est.i_y[0], "label", n, n_mc=est.n_mc,
                             mc_se=float(est.se_y[0]), target="labels", noise=float(s)))
    return rows


def validate_auto(noise_stds: Sequence[float], n: int = VALIDATION_N, seed: int = 0, dim: int = 4,
                  targets: Sequence[str] = ("input", "labels")) -> list[ValidationRow]:
    """The default estimator (:func:`auto_mi`) where a claim uses it: I(X; AX + s N) at ``dim`` dims and n
    samples (``"input"``), and I(Y; X + s N) for labels against ``dim``-dimensional features whose first
    coordinate carries the class (sep 2) and the others are independent noise, so the truth is the 1-D
    quadrature (``"labels"``)."""
    A, x, rng = _gaussian_channel(dim, n, seed)
    rows = []
    for s in noise_stds:
        if "input" in targets:
            t = x @ A.T + s * rng.standard_normal(x.shape)
            e = auto_mi(x, t, seed=seed)
            rows.append(_row(AUTO, f"gaussian-channel-{dim}+{dim}d(s={s:g})", gaussian_channel_mi(A, np.eye(dim), s * s)["I_XT"],
                             e.value, "gaussian-channel", n, noise=float(s), picked=e.picked, bias_band=e.bias_band))
        if "labels" in targets:
            lab = rng.integers(0, 2, n)
            xl = rng.standard_normal((n, dim)) + s * rng.standard_normal((n, dim))
            xl[:, 0] += 2.0 * lab
            e = auto_mi(xl, lab, seed=seed)
            rows.append(_row(AUTO, f"label-2class-sep2-{dim}d(s={s:g})", label_gaussian_mi(2, 2.0, math.sqrt(1.0 + s * s)),
                             e.value, "label", n, noise=float(s), picked=e.picked, bias_band=e.bias_band))
    return rows


def validate_gaussian_bound(noise_stds: Sequence[float], n: int = VALIDATION_N, seed: int = 0,
                            dim: int = 4) -> list[ValidationRow]:
    """The Gaussian channel bound is exact for Gaussian representations: check it against the closed form."""
    A, x, _ = _gaussian_channel(dim, n, seed)
    return [_row(GAUSSIAN_BOUND, f"gaussian-channel-{dim}d(s={s:g})", gaussian_channel_mi(A, np.eye(dim), s * s)["I_XT"],
                 gaussian_cmi_bound(x @ A.T, s), "gaussian-channel", n, noise=float(s)) for s in noise_stds]


def validate_entropy(n: int = VALIDATION_N, seed: int = 0) -> list[ValidationRow]:
    """Kozachenko-Leonenko 1-D entropy against the closed forms of a Gaussian, a Laplace and a Student-t (df 2)."""
    rng = np.random.default_rng(seed)
    cases = (("normal(0,1)", sps.norm()), ("laplace(0,1)", sps.laplace()), ("student-t(df=2)", sps.t(2.0)))
    return [_row(ENTROPY, name, float(rv.entropy()), marginal_entropy(rv.rvs(size=n, random_state=rng)),
                 "entropy-1d", n) for name, rv in cases]


def validated(rows: Sequence[ValidationRow], estimator: str) -> bool:
    """Whether ``estimator`` has validation rows and passes them: every case within its tolerance, and over
    the suite's small closed-form tasks (rows without a channel noise) the mean of |error| / tolerance at
    most 1/2 (mean |error| <= 0.05 nats). A case at a claim's own dims and s is one truth and must pass on
    its own; it does not enter a mean, so a claim's verdict does not depend on which other s it sweeps."""
    rs = [r for r in rows if r.estimator == estimator]
    if not rs or not all(r.passed and np.isfinite(r.error) for r in rs):
        return False
    small = [abs(r.error) / tolerance(r.truth) for r in rs if r.details.get("noise") is None]
    return not small or float(np.mean(small)) <= 0.5


def validation_preconditions(rows: Sequence[ValidationRow]) -> list[Check]:
    """One precondition per estimator (see :func:`validated`), named ``validation:<estimator>``; it guards
    every regime cell (a claim that scopes it to the cells of one estimator copies it into those cells)."""
    by: dict[str, list[ValidationRow]] = {}
    for r in rows:
        by.setdefault(r.estimator, []).append(r)
    checks = []
    for est, rs in by.items():
        errs = np.array([abs(r.error) for r in rs], dtype=float)
        failed = [r.case for r in rs if not r.passed]
        checks.append(check_precondition(
            f"validation:{est}", validated(rs, est),
            f"{est}: worst |err| {errs.max():.3f} nats, mean {errs.mean():.3f} on {len(rs)} closed-form cases"
            + (f"; failed: {', '.join(failed)}" if failed else ""),
            details={"mean_abs_error": float(errs.mean()), "worst_abs_error": float(errs.max()), "n_cases": len(rs),
                     "failed_cases": failed}))
    return checks


def _rows_at(rows: Sequence[ValidationRow], estimator: str, noise: float | None) -> list[ValidationRow]:
    """An estimator's rows that apply at channel noise ``noise``: those without a noise level, and those at it."""
    return [r for r in rows if r.estimator == estimator and r.details.get("noise") in (None, noise)]


def estimator_preconditions(rows: Sequence[ValidationRow], groups: dict[str, tuple[str, ...]],
                            noise_stds: Sequence[float]) -> tuple[list[Check], dict[tuple[str, float], Check]]:
    """Preconditions of the estimators a claim uses, per channel noise s.

    ``groups``: estimator axis value -> the validation-row estimators it relies on (e.g. ``"knn"`` ->
    (KSG, mixed KSG)). A group that passes (:func:`validated`) at every s gets one shared precondition
    (it guards every cell); where it fails at some s, that s gets a failed precondition
    ``failing[(group, s)]``, which the claim copies into the regime cells of that group and s only (and
    those cells make no evidence check: an estimator that fails where it is used measures nothing).
    """
    shared: list[Check] = []
    failing: dict[tuple[str, float], Check] = {}
    for g, ests in groups.items():
        bad: dict[float, list[str]] = {}
        for s in noise_stds:
            for e in ests:
                rs = _rows_at(rows, e, float(s))
                if not validated(rs, e):
                    bad.setdefault(float(s), []).append(f"{e}: " + ("no validation rows" if not rs else ", ".join(
                        f"{r.case} error {r.error:+.3f} (tol {tolerance(r.truth):.3f})" for r in rs if not r.passed)
                        or "mean |error| / tolerance > 1/2"))
        mine = [r for r in rows if r.estimator in ests]
        worst = max((abs(r.error) for r in mine), default=math.nan)
        summary = f"worst |err| {worst:.3f} nats on {len(mine)} closed-form cases"
        if not bad:
            shared.append(check_precondition(f"validation:{g}", bool(mine), f"{g} ({', '.join(ests)}): {summary}"))
        for s, why in bad.items():
            failing[(g, s)] = check_precondition(f"validation:{g} at s={s:g}", False,
                                                 f"{g} fails its validation where the claim uses it: {'; '.join(why)}")
    return shared, failing
