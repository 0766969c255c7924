"""Estimators the information claims use beyond :mod:`ibnorm_verify.verification.estimators.information`,
and the run-time ground-truth validation of every estimator they use, as
:class:`~ibnorm_verify.verification.evidence.ValidationRow` s.

* :func:`gaussian_cmi_bound`: 1/2 log det(I + Cov(Z)/s^2) = I(X; Z + N(0, s^2 I)) for Gaussian Z, an
  upper bound otherwise (the Gaussian maximizes entropy at fixed covariance; Cover & Thomas, Thm 8.6.5).
* :func:`marginal_entropy`: the Kozachenko-Leonenko k-nearest-neighbour estimator of the differential
  entropy of one coordinate (Kozachenko & Leonenko 1987; Kraskov et al. 2004, eq. 20, d = 1).
* :func:`mixture_mi_draws` / :func:`paired_mixture_mi`: I(X; T_s) and I(Y; T_s) of a deterministic
  representation through the Gaussian channel (the sample-propagation estimator of Goldfeld et al.
  2019, with the noise density as a control variate), for several representations with common random
  numbers and a Monte-Carlo budget set from a target half-width of the paired differences.
* ``validate_*``: closed-form cases for each estimator (rows), and :func:`validation_preconditions`,
  one precondition per estimator (mean and worst absolute error within tolerance), which the verdict
  code of :mod:`~ibnorm_verify.verification.verdict` turns into "inconclusive" when it fails.

These estimators and validations belong with the estimators package (each with its own
``validate()``); they live here until it provides them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from scipy import special
from scipy import stats as sps
from scipy.spatial import cKDTree

from ibnorm_verify.theory.information import (
    LABEL_TASKS,
    GroundTruthTask,
    gaussian_channel_mi,
    label_gaussian_mi,
    task_by_name,
)

from ..estimators.information import MIEstimate, mutual_information
from ..evidence import Check, ValidationRow
from ..verdict import check_precondition
from .base import Param

__all__ = ["MIXTURE", "gaussian_cmi_bound", "marginal_entropy", "mixture_mi_draws", "MixtureMI", "paired_mixture_mi",
           "mixture_mi", "mc_budget_params", "ValidationItem", "run_validation", "validate_ksg", "validate_mixed_ksg",
           "validate_mixture",
           "validate_ksg_channel", "validate_gaussian_bound", "validate_entropy", "validated", "validation_preconditions",
           "tolerance", "estimator_preconditions", "auto_mi", "validate_auto", "AUTO", "KSG", "MIXED_KSG", "ENTROPY", "GAUSSIAN_BOUND", "MEAN_TOL", "WORST_TOL",
           "REL_TOL"]

VALIDATION_N = 2000
#: nats: every case's |error| must stay within max(WORST_TOL, REL_TOL * |truth|), and the mean of
#: |error| / tolerance over an estimator's cases within 1/2 (MEAN_TOL nats on the small tasks)
MEAN_TOL, WORST_TOL, REL_TOL = 0.05, 0.10, 0.05
#: held-out closed-form tasks the run-time KSG validation uses (a cheap subset; the tests run them all)
RUNTIME_KSG_TASKS = ("normal-1x1-0.75", "asinh(student-2x2-df2-0.6)", "independent-2x2")
#: the name the validation rows and the claims' conditions give the mixture estimator
MIXTURE = "mixture (Gaussian-mixture sample propagation, control variate)"
CRITERION = (f"|error| <= max({WORST_TOL} nats, {REL_TOL:.0%} of the truth); mean |error| / tolerance over the "
             "estimator's cases <= 1/2")


# ------------------------------------------------------------------------------------ estimators

def auto_mi(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> MIEstimate:
    """The estimators package's default, ``mutual_information(method="auto")`` (route by input type and
    dimension: KSG for 1+1, the hybrid of Gaussian copula / contrastive-bottleneck KSG / KSG beyond, the
    classifier bracket for labels against more than 3 dimensions). The critic's batch shrinks below
    n = 1024 (the neural estimators need n >= 4 batches). No sampling uncertainty is computed (the claims'
    uncertainty is the spread over seeds); the estimate keeps the route (``picked``) and bias band."""
    n = int(np.asarray(x).shape[0])
    settings = {} if n >= 1024 else {"batch": max(16, n // 8)}
    return mutual_information(x, y, "auto", uncertainty="none", seed=seed, **settings)


def gaussian_cmi_bound(z: np.ndarray, s: float) -> float:
    """1/2 log det(I + Cov(z)/s^2): I(X; Z + N(0, s^2 I)) for Gaussian Z, an upper bound otherwise. z: (n, d)."""
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    return 0.5 * float(np.linalg.slogdet(np.eye(cov.shape[0]) + cov / s ** 2)[1])


def marginal_entropy(u: np.ndarray, k: int = 5) -> float:
    """Differential entropy (nats) of the 1-D sample ``u`` (n,), Kozachenko-Leonenko with k neighbours:
    h = psi(n) - psi(k) + log 2 + mean_i log eps_i, eps_i the distance from u_i to its k-th neighbour.

    Raises ``ValueError`` for repeated values (a zero distance: the density has an atom and the
    differential entropy is -inf) or too few samples.
    """
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    if u.size <= k + 1 or not np.all(np.isfinite(u)):
        raise ValueError(f"marginal_entropy needs more than {k + 1} finite samples, got {u.size}")
    eps = cKDTree(u[:, None]).query(u[:, None], k + 1)[0][:, k]
    if np.any(eps <= 0):
        raise ValueError("marginal_entropy: repeated values (zero neighbour distance); the distribution has an "
                         "atom and its differential entropy is -inf")
    return float(special.digamma(u.size) - special.digamma(k) + math.log(2.0) + np.mean(np.log(eps)))


def mixture_mi_draws(t: np.ndarray, s: float, y: np.ndarray | None, idx: np.ndarray, eps: np.ndarray,
                     chunk: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-draw integrands of the Gaussian-mixture (sample-propagation) MI of T_s = T + N(0, s^2 I).

    The input X is uniform over the n sample points, T = t_X (n, d). Draw i (``idx``, (m,)) and
    z = t_i + s eps (``eps``, (m, d)); with p(z) = 1/n sum_j N(z; t_j, s^2 I) and p(z|y) the same mixture
    over the points of class y,

        I(X; T_s) = E log[N(z; t_i, s^2 I) / p(z)],      I(Y; T_s) = E log[p(z | y_i) / p(z)].

    These are the quantities of the sample-propagation estimator of Goldfeld et al. (2019),
    h(T_s) - h(N) and h(T_s) - h(T_s|Y), written with the noise density as a control variate: the
    chi-square term of -log p(z) cancels, so I(Y;T_s) has about 4x smaller Monte-Carlo spread, and the
    per-draw values of two representations drawn with the same (idx, eps) give the Monte-Carlo error
    of their paired difference directly. Returns ``(ix, iy)`` (m,) (``iy`` None without labels): the
    means are the estimates, sd / sqrt(m) their Monte-Carlo standard errors. Both are <= log n (the
    mixture has n components): a small s against a spread T saturates.
    """
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 2 or idx.shape[0] != eps.shape[0] or eps.shape[1] != t.shape[1]:
        raise ValueError(f"need t (n, d), idx (m,), eps (m, d); got {t.shape}, {idx.shape}, {eps.shape}")
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"noise std s must be finite and > 0, got {s!r}")
    n, m = t.shape[0], idx.shape[0]
    T = torch.as_tensor(t)
    z = torch.as_tensor(t[idx] + s * eps)                               # (m, d)
    ix = np.empty(m)
    iy = None if y is None else np.empty(m)
    if y is not None:
        lab = torch.as_tensor(np.asarray(y))
        log_py = torch.log(torch.bincount(lab).double() / n)
    for a in range(0, m, chunk):
        zz, ii = z[a:a + chunk], torch.as_tensor(idx[a:a + chunk])
        w = torch.cdist(zz, T).square_().mul_(-0.5 / (s * s))          # (c, n) log N(z; t_j) + const
        lse = torch.logsumexp(w, dim=1)
        ix[a:a + chunk] = (w[torch.arange(ii.shape[0]), ii] - lse).numpy() + math.log(n)
        if iy is not None:
            own = lab[ii]
            wy = w.masked_fill(lab[None, :] != own[:, None], -math.inf)
            iy[a:a + chunk] = (torch.logsumexp(wy, dim=1) - lse - log_py[own]).numpy()
    return ix, iy


@dataclass
class MixtureMI:
    """Paired mixture-MI estimates of R representations: means (R,), Monte-Carlo standard errors (R,),
    the standard errors of the caller's contrasts (K,) and the number of draws."""

    i_x: np.ndarray
    i_y: np.ndarray | None
    se_x: np.ndarray
    se_y: np.ndarray | None
    contrast_se: np.ndarray
    n_mc: int


def paired_mixture_mi(reps: Sequence[np.ndarray], s: float, y: np.ndarray | None, *, seed: int, n_mc: int,
                      max_n_mc: int, halfwidth: float,
                      contrasts: Callable[[np.ndarray, np.ndarray | None], np.ndarray]) -> MixtureMI:
    """:func:`mixture_mi_draws` for several representations of the same samples, with common random
    numbers, and a Monte-Carlo budget set from a target 95% half-width.

    ``contrasts(ix, iy)`` maps the per-draw values (R, m) to the per-draw values of the paired
    statistics the caller tests (K, m) (e.g. IB(variant) - IB(baseline)). After ``n_mc`` draws the
    budget becomes ``n_mc * max_k (1.96 se_k / halfwidth)^2`` (capped at ``max_n_mc``) and the extra
    draws are added once; the Monte-Carlo error of each contrast is then about ``halfwidth`` or less.
    """
    rng = np.random.default_rng(seed)
    n, d = reps[0].shape

    def draw(m: int) -> tuple[np.ndarray, np.ndarray | None]:
        idx, eps = rng.integers(0, n, m), rng.standard_normal((m, d))
        out = [mixture_mi_draws(t, s, y, idx, eps) for t in reps]
        return np.stack([o[0] for o in out]), (None if y is None else np.stack([o[1] for o in out]))
    m = min(int(n_mc), int(max_n_mc))
    ix, iy = draw(m)
    se = contrasts(ix, iy).std(axis=1, ddof=1) / math.sqrt(m)
    need = int(math.ceil(m * float(np.max((1.96 * se / float(halfwidth)) ** 2, initial=0.0))))
    extra = min(need, int(max_n_mc)) - m
    if extra > 0:
        ix2, iy2 = draw(extra)
        ix = np.concatenate([ix, ix2], axis=1)
        iy = None if iy is None or iy2 is None else np.concatenate([iy, iy2], axis=1)
        m += extra
    k = contrasts(ix, iy)
    root = math.sqrt(m)
    return MixtureMI(ix.mean(1), None if iy is None else iy.mean(1), ix.std(1, ddof=1) / root,
                     None if iy is None else iy.std(1, ddof=1) / root, k.std(1, ddof=1) / root, m)


def mixture_mi(t: np.ndarray, s: float, y: np.ndarray | None = None, *, seed: int, n_mc: int, max_n_mc: int,
               halfwidth: float) -> MixtureMI:
    """One representation: I(X; T_s) (and I(Y; T_s)) with the budget set from the target half-width."""
    return paired_mixture_mi([t], s, y, seed=seed, n_mc=n_mc, max_n_mc=max_n_mc, halfwidth=halfwidth,
                             contrasts=lambda ix, iy: ix if iy is None else np.concatenate([ix, iy]))


def mc_budget_params(halfwidth: float = 0.01, n_mc: int = 2000, max_n_mc: int = 16000,
                     what: str = "each per-seed paired difference") -> tuple[Param, ...]:
    """The Monte-Carlo budget of the mixture estimator: pilot draws, target 95% half-width, cap."""
    return (Param("mc_halfwidth", halfwidth, halfwidth, exclusive_minimum=0.0,
                  help=f"target 95% half-width (nats) of the Monte-Carlo error of {what}; sets n_mc per seed"),
            Param("n_mc", n_mc, n_mc, minimum=2, tiny=500, help="pilot Monte-Carlo draws of the mixture estimator"),
            Param("max_n_mc", max_n_mc, 4 * max_n_mc, minimum=2, tiny=2000,
                  help="Monte-Carlo budget cap of the mixture estimator per seed"))


# ------------------------------------------------------------------------------------ validation

#: the estimator names of the validation rows
KSG, MIXED_KSG, ENTROPY, GAUSSIAN_BOUND = "ksg(k=5, copula)", "mixed_ksg(k=5, copula)", "kl_entropy(k=5)", "gaussian_bound"
AUTO = "mi:auto"


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
    """Whether ``estimator`` has validation rows and passes them: every case within its tolerance and the
    mean of |error| / tolerance at most 1/2 (for the small tasks: mean |error| <= 0.05 nats)."""
    rs = [r for r in rows if r.estimator == estimator]
    if not rs:
        return False
    rel = np.array([abs(r.error) / tolerance(r.truth) for r in rs], dtype=float)
    return bool(np.all(np.isfinite(rel)) and all(r.passed for r in rs) and rel.mean() <= 0.5)


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
