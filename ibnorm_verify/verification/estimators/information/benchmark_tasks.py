"""Ground-truth MI tasks: samplers that carry their exact mutual information (nats).

* :data:`BENCHMARK_TASKS`: the 40 tasks of "Beyond Normal" v1 (Czyz, Grabowski, Vogt, Beerenwinkel &
  Marx, NeurIPS 2023; ``bmi.benchmark.task_list.BENCHMARK_TASKS_LIST`` of PyPI ``benchmark-mi`` 0.1.x),
  ported to numpy from their published definitions, under the same task ids. Families (``family``):
  ``1d`` (9: bivariate normal rho = 0.75, its normal-CDF, additive uniform noise 0.1 / 0.75, bimodal,
  wiggly, half-cube, Student-t df 1 and its asinh), ``embedding`` (Swiss roll 2 x 1), ``dense``
  (multinormal, every correlation 0.5, 2..50 dims), ``sparse`` (2 correlated pairs, rho = 0.8),
  ``sparse-transformed`` (normal-CDF and half-cube of the sparse ones), ``spiral`` (the spiral
  diffeomorphism, with and without normal-CDF) and ``student`` (multivariate t with identity dispersion,
  and their asinh). Ground truth: :mod:`ibnorm_verify.theory.information`. Every transform is a
  diffeomorphism of X and of Y separately (the Swiss roll an embedding), so the MI is that of the base.
  The benchmark runs them unscaled; bmi's v1 workflow rescales each coordinate, which no estimator
  here depends on (they standardize or rank-transform).
* :data:`DEV_TASKS` / :data:`HELDOUT_TASKS` / :data:`LABEL_TASKS` (re-exported from
  :mod:`ibnorm_verify.theory.information`): the suite's earlier closed-form tasks (settings of the
  low-dimensional KSG path were chosen on ``DEV_TASKS`` only) and a discrete label with class-conditional
  Gaussians; :data:`FUNCTION_LABEL_TASKS`: a binary label that is a function of the features
  (I = H(Y) = log 2).

``task.sample(n, seed) -> (x (n, dim_x), y (n, dim_y))`` (labels: ``y`` int (n,)). The samplers use
numpy's ``default_rng(seed)``: they match bmi in distribution, not draw for draw.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
from scipy import special, stats

from ibnorm_verify.theory.information import (
    additive_uniform_mi,
    dense_correlation,
    paired_correlation,
    sparse_lvm_correlation,
)

from .ground_truth import (
    DEV_TASKS,
    HELDOUT_TASKS,
    LABEL_TASKS,
    MARGINAL_MAPS,
    GroundTruthTask,
    gaussian_pair_task,
    label_gaussian_task,
    paired_gaussian_task,
    student_t_task,
    transformed_task,
)

__all__ = [
    "GroundTruthTask", "BENCHMARK_TASKS", "BENCHMARK_FAMILIES", "DEV_TASKS", "HELDOUT_TASKS", "LABEL_TASKS",
    "FUNCTION_LABEL_TASKS", "ALL_TASKS", "task_by_name", "gaussian_task", "student_t_task", "transformed_task",
    "label_gaussian_task", "label_function_task", "MARGINAL_MAPS", "gaussian_pair_task", "paired_gaussian_task",
]

Array = np.ndarray
Sampler = Callable[[int, np.random.Generator], tuple]


# ------------------------------------------------------------------------------------- base samplers

def gaussian_task(name: str, cov: Array, dim_x: int, family: str) -> GroundTruthTask:
    """Jointly Gaussian (X, Y) with covariance ``cov`` (X first), in benchmark family ``family``."""
    return dataclasses.replace(gaussian_pair_task(name, cov, dim_x), family=family)


def _student_task(name: str, dispersion: Array, dim_x: int, df: float, family: str) -> GroundTruthTask:
    """Multivariate t: (X, Y) = Z / sqrt(W / df), Z ~ N(0, dispersion), W ~ chi2_df (bmi's SplitStudentT)."""
    return dataclasses.replace(student_t_task(name, dispersion, dim_x, df), family=family)


def _additive_uniform_task(epsilon: float) -> GroundTruthTask:
    def sample(n, rng):
        x = rng.uniform(0.0, 1.0, (n, 1))
        return x, x + rng.uniform(-epsilon, epsilon, (n, 1))
    return GroundTruthTask(f"1v1-additive-{epsilon}", 1, 1, additive_uniform_mi(epsilon), sample, "1d")


# ----------------------------------------------------------------------------------------- transforms

def _normal_cdf(v: Array) -> Array:
    return special.ndtr(v)


def _half_cube(v: Array) -> Array:
    return v * np.sqrt(np.abs(v))


def _wiggly_x(v: Array) -> Array:
    return v + 0.4 * np.sin(v) + 0.2 * np.sin(1.7 * v + 1) + 0.03 * np.sin(3.3 * v - 2.5)


def _wiggly_y(v: Array) -> Array:
    return v - 0.4 * np.sin(0.4 * v) + 0.17 * np.sin(1.3 * v + 3.5) + 0.02 * np.sin(4.3 * v - 2.5)


def _invert_increasing(f: Callable[[Array], Array], lo: float = -10.0, hi: float = 10.0,
                       iters: int = 64) -> Callable[[Array], Array]:
    """Vectorized bisection inverse of a strictly increasing f on [lo, hi] (bmi's ``invert_cdf``)."""
    def inv(u: Array) -> Array:
        a = np.full(u.shape, lo)
        b = np.full(u.shape, hi)
        for _ in range(iters):
            m = 0.5 * (a + b)
            below = f(m) < u
            a = np.where(below, m, a)
            b = np.where(below, b, m)
        return 0.5 * (a + b)
    return inv


#: bimodal marginals: inverse CDFs of two Gaussian mixtures, applied to uniform marginals (bmi)
_BIMODAL_X = _invert_increasing(lambda v: 0.3 * special.ndtr(v) + 0.7 * special.ndtr(v - 5))
_BIMODAL_Y = _invert_increasing(lambda v: 0.5 * special.ndtr(v + 1) + 0.5 * special.ndtr(v - 3))


def _swissroll(u: Array) -> Array:
    """(n, 1) in [0, 1] -> (n, 2) on the Swiss roll: t = 1.5 pi (1 + 2u), (t cos t, t sin t) / 21 (bmi)."""
    t = 1.5 * math.pi * (1 + 2 * u[:, 0])
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 21.0


def _spiral(i: int, j: int, speed: float) -> Callable[[Array], Array]:
    """x -> exp(speed |x|^2 A) x, A the (i, j) generator of so(n): a rotation of the (i, j) plane by the
    angle speed |x|^2 (bmi's ``Spiral`` with ``so_generator(n, i, j)``); a diffeomorphism of R^n."""
    def f(x: Array) -> Array:
        theta = speed * np.sum(x * x, axis=1)
        c, s = np.cos(theta), np.sin(theta)
        out = x.copy()
        out[:, i] = c * x[:, i] - s * x[:, j]
        out[:, j] = s * x[:, i] + c * x[:, j]
        return out
    return f


def _mapped(base: GroundTruthTask, name: str, fx: Callable[[Array], Array], fy: Callable[[Array], Array],
            family: str | None = None, dim_x: int | None = None) -> GroundTruthTask:
    def sample(n, rng):
        x, y = base.sampler(n, rng)
        return fx(x), fy(y)
    return GroundTruthTask(name, base.dim_x if dim_x is None else dim_x, base.dim_y, base.mutual_information,
                           sample, base.family if family is None else family)


def _spiral_task(base: GroundTruthTask, family: str = "spiral") -> GroundTruthTask:
    """bmi's ``transform_spiral_task`` (speed 1, normalized by the dimension): X spirals in its (0, 1)
    plane, Y in its (1, 2) plane."""
    if base.dim_x < 2 or base.dim_y < 3:
        raise ValueError("the spiral needs dim_x >= 2 and dim_y >= 3")
    return _mapped(base, f"spiral-{base.name}", _spiral(0, 1, 1.0 / base.dim_x), _spiral(1, 2, 1.0 / base.dim_y),
                   family)


# ------------------------------------------------------------------------------ the 40 bmi v1 tasks

def _bmi_tasks() -> list[GroundTruthTask]:
    def cdf(b, family=None):
        return _mapped(b, f"normal_cdf-{b.name}", _normal_cdf, _normal_cdf, family)

    def half_cube(b, family=None):
        return _mapped(b, f"half_cube-{b.name}", _half_cube, _half_cube, family)

    def asinh(b, family=None):
        return _mapped(b, f"asinh-{b.name}", np.arcsinh, np.arcsinh, family)

    def dense(d):
        return gaussian_task(f"multinormal-dense-{d}-{d}-0.5", dense_correlation(d, d, 0.5), d, "dense")

    def two_pair(d, family="sparse"):
        return gaussian_task(f"multinormal-sparse-{d}-{d}-2-2.0", sparse_lvm_correlation(d, d, 2, 2.0), d, family)

    def student(d, df, family="student"):
        return _student_task(f"student-identity-{d}-{d}-{df}", np.eye(2 * d), d, df, family)

    binormal = gaussian_task("1v1-normal-0.75", paired_correlation(1, 1, 0.75, 1), 1, "1d")
    uniform = cdf(binormal)
    bistudent = student(1, 1, "1d")
    one_dim = [
        binormal, uniform, _additive_uniform_task(0.1), _additive_uniform_task(0.75),
        _mapped(uniform, "1v1-bimodal-0.75", _BIMODAL_X, _BIMODAL_Y),
        _mapped(binormal, f"wiggly-{binormal.name}", _wiggly_x, _wiggly_y),
        half_cube(binormal), bistudent, asinh(bistudent),
    ]
    embedding = [_mapped(uniform, f"swissroll_x-{uniform.name}", _swissroll, lambda v: v, "embedding", dim_x=2)]
    multinormal = [dense(d) for d in (2, 3, 5, 25, 50)] + [two_pair(d) for d in (2, 3, 5, 25)]
    students = [student(d, df) for d, df in ((2, 1), (2, 2), (3, 2), (3, 3), (5, 2), (5, 3))]
    bases = [two_pair(d, "sparse-transformed") for d in (3, 5, 25)]
    transformed = ([cdf(b) for b in bases] + [half_cube(b) for b in bases]
                   + [_spiral_task(b) for b in bases] + [_spiral_task(cdf(b)) for b in bases]
                   + [asinh(student(d, df)) for d, df in ((2, 1), (3, 2), (5, 2))])
    return one_dim + embedding + multinormal + students + transformed


#: the 40 "Beyond Normal" v1 tasks, in bmi's order, under bmi's task ids
BENCHMARK_TASKS: list[GroundTruthTask] = _bmi_tasks()
#: families of :data:`BENCHMARK_TASKS` in table order
BENCHMARK_FAMILIES = ("1d", "embedding", "dense", "sparse", "sparse-transformed", "spiral", "student")


# ------------------------------------------------------------------- the suite's own closed-form tasks

def label_function_task(name: str, dim: int, kind: str = "halfspace") -> GroundTruthTask:
    """A binary label that is a deterministic function of x ~ N(0, I_dim): I(X;Y) = H(Y) = log 2.

    ``kind="halfspace"``: y = [w.x > 0] for a fixed unit w; ``"radial"``: y = [|x|^2 > median of chi2_dim].
    """
    w = np.ones(dim) / math.sqrt(dim)
    med = float(stats.chi2.median(dim))
    if kind not in ("halfspace", "radial"):
        raise ValueError(f"kind must be 'halfspace' or 'radial', got {kind!r}")

    def sample(n, rng):
        x = rng.standard_normal((n, dim))
        y = (x @ w > 0) if kind == "halfspace" else (np.sum(x * x, 1) > med)
        return x, y.astype(np.int64)
    return GroundTruthTask(name, dim, 1, math.log(2.0), sample, family="label-function", discrete_y=True)


#: binary labels that are functions of 16-dimensional Gaussian features (I = log 2)
FUNCTION_LABEL_TASKS = [label_function_task("label-halfspace-16d", 16),
                        label_function_task("label-radial-16d", 16, "radial")]
ALL_TASKS: list[GroundTruthTask] = DEV_TASKS + HELDOUT_TASKS + LABEL_TASKS + FUNCTION_LABEL_TASKS + BENCHMARK_TASKS


def task_by_name(name: str, tasks: Sequence[GroundTruthTask] | None = None) -> GroundTruthTask:
    """The task called ``name`` (suite tasks and the 40 benchmark tasks); ``ValueError`` naming the known ones."""
    pool = ALL_TASKS if tasks is None else tasks
    for t in pool:
        if t.name == name:
            return t
    raise ValueError(f"unknown task {name!r}; known: {', '.join(t.name for t in pool)}")
