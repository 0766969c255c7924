"""Ground-truth tasks of the suite and the validation that runs an estimator on them.

* :class:`GroundTruthTask`: a named sampler carrying its closed-form MI (nats) from
  :mod:`ibnorm_verify.theory.information`; the sampler is handed its random generator.
* The suite's small closed-form task sets: ``DEV_TASKS`` (used while developing the estimators: their
  settings were tuned on these only), ``HELDOUT_TASKS`` (never used for tuning), ``LABEL_TASKS``
  (a discrete label against Gaussian features), with :func:`task_by_name`. The 40 "Beyond Normal"
  tasks (Czyz et al., NeurIPS 2023) are in :mod:`.benchmark_tasks`.
* :func:`validate_estimator` / :func:`summarize_validation`: one row per task with the estimate averaged
  over seeds, and the mean / worst absolute error against tolerances.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from ibnorm_verify.theory.information import (
    gaussian_mi,
    label_gaussian_mi,
    paired_correlation,
    student_t_mi_correction,
)

__all__ = [
    "GroundTruthTask", "gaussian_pair_task", "paired_gaussian_task", "student_t_task", "transformed_task",
    "label_gaussian_task", "MARGINAL_MAPS", "DEV_TASKS", "HELDOUT_TASKS", "LABEL_TASKS", "task_by_name",
    "validate_estimator", "summarize_validation",
]

Array = np.ndarray


# ------------------------------------------------------------------------------------------ tasks

@dataclass(frozen=True)
class GroundTruthTask:
    """A sampler with a known mutual information (nats). ``sample(n, seed) -> (x (n,dim_x), y (n,dim_y))``.

    ``discrete_y`` tasks return integer labels ``y`` of shape (n,).
    """

    name: str
    dim_x: int
    dim_y: int
    mutual_information: float
    sampler: Callable[[int, np.random.Generator], tuple]
    family: str = ""
    discrete_y: bool = False

    def sample(self, n: int, seed: int = 0) -> tuple[Array, Array]:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return self.sampler(int(n), np.random.default_rng(seed))


def _gaussian_sampler(cov: Array, dim_x: int):
    chol = np.linalg.cholesky(cov)

    def sample(n, rng):
        z = rng.standard_normal((n, cov.shape[0])) @ chol.T
        return z[:, :dim_x], z[:, dim_x:]
    return sample


def gaussian_pair_task(name: str, cov: Array, dim_x: int) -> GroundTruthTask:
    cov = np.asarray(cov, dtype=float)
    return GroundTruthTask(name, dim_x, cov.shape[0] - dim_x, gaussian_mi(cov, dim_x),
                           _gaussian_sampler(cov, dim_x), family="gaussian")


def _paired_cov(dim: int, rho: float, n_pairs: int | None = None) -> Array:
    """X_i and Y_i correlated with ``rho`` for the first ``n_pairs`` coordinates, all else independent."""
    return paired_correlation(dim, dim, rho, dim if n_pairs is None else n_pairs)

def paired_gaussian_task(name: str, dim: int, rho: float, n_pairs: int | None = None) -> GroundTruthTask:
    """bmi's "2-pair"/"sparse" family: I = -(k/2) log(1 - rho^2) for k correlated pairs."""
    return gaussian_pair_task(name, _paired_cov(dim, rho, n_pairs), dim)


def _dense_cov(dim_x: int, dim_y: int, rho: float, off: float = 0.0) -> Array:
    """Every X-Y pair correlated with ``rho``; within-block correlation ``off`` (bmi's "dense")."""
    d = dim_x + dim_y
    cov = np.full((d, d), off)
    cov[:dim_x, dim_x:] = rho
    cov[dim_x:, :dim_x] = rho
    np.fill_diagonal(cov, 1.0)
    return cov


def student_t_task(name: str, cov: Array, dim_x: int, df: float) -> GroundTruthTask:
    """Multivariate t: (X, Y) = Z / sqrt(W/nu), Z ~ N(0, cov), W ~ chi2_nu. I = Gaussian part + correction."""
    cov = np.asarray(cov, dtype=float)
    chol = np.linalg.cholesky(cov)
    mi = gaussian_mi(cov, dim_x) + student_t_mi_correction(df, dim_x, cov.shape[0] - dim_x)

    def sample(n, rng):
        z = rng.standard_normal((n, cov.shape[0])) @ chol.T
        w = rng.chisquare(df, size=(n, 1))
        t = z / np.sqrt(w / df)
        return t[:, :dim_x], t[:, dim_x:]
    return GroundTruthTask(name, dim_x, cov.shape[0] - dim_x, mi, sample, family="student")


#: invertible marginal maps (strictly increasing, applied coordinatewise): MI is unchanged.
MARGINAL_MAPS: dict[str, Callable[[Array], Array]] = {
    "asinh": np.arcsinh,                                 # tail-shortening (bmi)
    "halfcube": lambda v: v * np.sqrt(np.abs(v)),        # tail-lengthening (bmi's half-cube)
    "normal_cdf": stats.norm.cdf,                        # to the unit interval (bmi's "uniform")
    "cube": lambda v: v ** 3,
    "exp": np.exp,
}


def transformed_task(base: GroundTruthTask, fx: str, fy: str | None = None) -> GroundTruthTask:
    """``base`` with invertible marginal maps applied to X and Y; the MI is that of ``base``."""
    fy = fx if fy is None else fy
    for f in (fx, fy):
        if f not in MARGINAL_MAPS:
            raise ValueError(f"unknown marginal map {f!r}; known: {sorted(MARGINAL_MAPS)}")
    gx, gy = MARGINAL_MAPS[fx], MARGINAL_MAPS[fy]

    def sample(n, rng):
        x, y = base.sampler(n, rng)
        return gx(x), gy(y)
    tag = fx if fx == fy else f"{fx}-{fy}"
    return GroundTruthTask(f"{tag}({base.name})", base.dim_x, base.dim_y, base.mutual_information, sample,
                           family=f"transformed-{base.family}")


def label_gaussian_task(name: str, n_classes: int, sep: float, sigma: float = 1.0, dim: int = 1) -> GroundTruthTask:
    """Discrete label Y, continuous X in ``dim`` dims (extra dims pure noise). ``y`` is an int array (n,)."""
    mi = label_gaussian_mi(n_classes, sep, sigma)

    def sample(n, rng):
        y = rng.integers(0, n_classes, size=n)
        x = sigma * rng.standard_normal((n, dim))
        x[:, 0] += sep * y
        return x, y
    return GroundTruthTask(name, dim, 1, mi, sample, family="label", discrete_y=True)


def _build_tasks():
    g1 = paired_gaussian_task("normal-1x1-0.5", 1, 0.5)
    g2 = paired_gaussian_task("normal-2x2-pair-0.6", 2, 0.6)
    s1 = student_t_task("student-1x1-df3-0.5", _paired_cov(1, 0.5), 1, 3.0)
    dev = [g1, g2, s1, transformed_task(s1, "asinh"), transformed_task(g2, "cube"),
           paired_gaussian_task("independent-1x1", 1, 0.0)]

    h1 = paired_gaussian_task("normal-1x1-0.75", 1, 0.75)
    h2 = gaussian_pair_task("normal-3x3-dense-0.3", _dense_cov(3, 3, 0.3, 0.5), 3)
    h3 = paired_gaussian_task("normal-3x3-sparse-0.8", 3, 0.8, n_pairs=1)
    h4 = student_t_task("student-2x2-df2-0.6", _paired_cov(2, 0.6), 2, 2.0)
    h5 = student_t_task("student-1x1-df1-0", _paired_cov(1, 0.0), 1, 1.0)     # dependence only via scale
    heldout = [h1, h2, h3, h4, h5,
               transformed_task(h1, "normal_cdf"), transformed_task(h3, "halfcube"),
               transformed_task(h4, "asinh"), transformed_task(h2, "exp"),
               paired_gaussian_task("independent-2x2", 2, 0.0)]
    labels = [label_gaussian_task("label-2class-sep2", 2, 2.0), label_gaussian_task("label-4class-sep1.5-3d", 4, 1.5, dim=3),
              label_gaussian_task("label-3class-sep0", 3, 0.0, dim=2)]
    return dev, heldout, labels


#: tasks used while developing the estimators (settings were tuned on these only)
#: ``HELDOUT_TASKS``: never used for tuning; the default estimator's accuracy is judged on them.
DEV_TASKS, HELDOUT_TASKS, LABEL_TASKS = _build_tasks()


def task_by_name(name: str) -> GroundTruthTask:
    for t in DEV_TASKS + HELDOUT_TASKS + LABEL_TASKS:
        if t.name == name:
            return t
    known = ", ".join(t.name for t in DEV_TASKS + HELDOUT_TASKS + LABEL_TASKS)
    raise ValueError(f"unknown task {name!r}; known: {known}")



# ------------------------------------------------------------------------------------ validation

def validate_estimator(estimate: Callable[..., object], tasks: Sequence[GroundTruthTask], n: int,
                       seeds: Sequence[int], method: str = "") -> list[dict]:
    """Run ``estimate(x, y)`` (returning a float or an object with ``.value``/``.uncertainty``) on every
    task and seed. Returns one row per task: ``{task, family, true, estimate, error, abs_error,
    uncertainty, n, seeds, method}`` with the estimate averaged over seeds (nats)."""
    if not tasks:
        raise ValueError("no tasks given")
    if not seeds:
        raise ValueError("no seeds given")
    rows = []
    for task in tasks:
        vals, uncs = [], []
        for s in seeds:
            x, y = task.sample(n, seed=int(s))
            r: Any = estimate(x, y)  # a float or an object with .value and .uncertainty
            vals.append(float(getattr(r, "value", r)))
            u = getattr(r, "uncertainty", float("nan"))
            uncs.append(float(u))
        est = float(np.mean(vals))
        finite = [u for u in uncs if math.isfinite(u)]
        unc = float(np.std(vals, ddof=1)) if len(vals) > 1 else (float(np.mean(finite)) if finite else float("nan"))
        rows.append({"task": task.name, "family": task.family, "true": float(task.mutual_information),
                     "estimate": est, "error": est - task.mutual_information,
                     "abs_error": abs(est - task.mutual_information), "uncertainty": unc, "n": int(n),
                     "seeds": [int(s) for s in seeds], "method": method})
    return rows


def summarize_validation(rows: Sequence, mean_tol: float, worst_tol: float) -> dict:
    """Mean and worst absolute error of validation rows (dicts with ``abs_error``, or objects with ``error``
    such as ``ValidationRow``), and whether both are within tolerance."""
    errs = np.array([abs(r.error) if hasattr(r, "error") else r["abs_error"] for r in rows], dtype=float)
    if errs.size == 0 or not np.all(np.isfinite(errs)):
        return {"mean_abs_error": float("nan"), "worst_abs_error": float("nan"), "passed": False,
                "mean_tol": mean_tol, "worst_tol": worst_tol, "n_tasks": int(errs.size)}
    mae, worst = float(errs.mean()), float(errs.max())
    return {"mean_abs_error": mae, "worst_abs_error": worst, "passed": bool(mae <= mean_tol and worst <= worst_tol),
            "mean_tol": mean_tol, "worst_tol": worst_tol, "n_tasks": int(errs.size)}
