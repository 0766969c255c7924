"""Closed forms for the information claims of IBNorm (arXiv 2510.25262) and the ground truth of the MI
benchmark. Everything is in nats. Nothing here draws random numbers by itself: a task's sampler takes
the generator it is handed (the 40 benchmark samplers live in
:mod:`ibnorm_verify.verification.estimators.information.benchmark_tasks`).

* :func:`gaussian_mi`: I = 1/2 (log det S_xx + log det S_yy - log det S) for jointly Gaussian pairs, and
  the correlation matrices of the "Beyond Normal" benchmark (Czyz et al., NeurIPS 2023):
  :func:`dense_correlation`, :func:`paired_correlation`, :func:`sparse_lvm_correlation`.
* :func:`student_t_mi_correction`: the multivariate-t MI is the Gaussian part of its dispersion plus a
  df/dimension correction (Arellano-Valle, Contreras-Reyes & Genton 2013, eq. 7 entropies).
* :func:`additive_uniform_mi`: X ~ U(0,1), Y = X + U(-e, e).
* :func:`label_gaussian_mi`: a uniform label with class-conditional Gaussians (1-D quadrature).
* :func:`gaussian_mi_sample_bias`: the exact expectation of the plug-in Gaussian MI's error on Gaussian
  data (log-determinants of Wishart matrices), the bias correction of Gaussian-copula MI (Ince et al. 2017).
* :func:`entropy_after_monotone_map`: h(f(X)) = h(X) + E log f'(X) for strictly increasing f.
* :func:`gaussian_channel_mi`: I(X; AX + N) and I(Y; AX + N) for Gaussian X (the Gaussian IB closed form,
  Chechik et al. 2005) -- also the ground truth of the noisy-channel estimator.
* :class:`GroundTruthTask` (a named sampler carrying its closed-form MI; the sampler is handed its random
  generator), the suite's small closed-form task sets ``DEV_TASKS`` / ``HELDOUT_TASKS`` / ``LABEL_TASKS``
  with :func:`task_by_name`, and :func:`validate_estimator` / :func:`summarize_validation`. They stay here
  for the claims that import them from this module; the estimator package re-exports them beside the 40
  benchmark tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import integrate, special, stats

__all__ = [
    "gaussian_mi", "student_t_mi_correction", "student_t_mi", "additive_uniform_mi", "label_gaussian_mi",
    "dense_correlation", "paired_correlation", "sparse_lvm_correlation", "wishart_logdet_bias",
    "gaussian_mi_sample_bias", "entropy_gaussian", "entropy_after_monotone_map", "compression_log_deriv",
    "gaussian_channel_mi",
    # the suite's ground-truth task type and its closed-form task sets (the 40 "Beyond Normal" tasks are in
    # ibnorm_verify.verification.estimators.information.benchmark_tasks), and the validation helpers
    "GroundTruthTask", "gaussian_pair_task", "paired_gaussian_task", "student_t_task", "transformed_task",
    "label_gaussian_task", "MARGINAL_MAPS", "DEV_TASKS", "HELDOUT_TASKS", "LABEL_TASKS", "task_by_name",
    "validate_estimator", "summarize_validation",
]

Array = np.ndarray


# ------------------------------------------------------------------------------- Gaussian / Student-t

def _logdet(a: Array) -> float:
    sign, ld = np.linalg.slogdet(np.atleast_2d(a))
    if sign <= 0:
        raise ValueError("covariance is not positive definite")
    return float(ld)


def gaussian_mi(cov: Array, dim_x: int) -> float:
    """I(X;Y) for a jointly Gaussian (X, Y) with joint covariance ``cov`` ((dx+dy, dx+dy)), X first."""
    cov = np.asarray(cov, dtype=float)
    if not 0 < dim_x < cov.shape[0]:
        raise ValueError(f"dim_x must be in 1..{cov.shape[0] - 1}, got {dim_x}")
    return 0.5 * (_logdet(cov[:dim_x, :dim_x]) + _logdet(cov[dim_x:, dim_x:]) - _logdet(cov))


def student_t_mi_correction(df: float, dim_x: int, dim_y: int) -> float:
    """I_t - I_Gauss for a multivariate t with ``df`` degrees of freedom (same dispersion matrix).

    From the entropy of the multivariate t (Arellano-Valle et al. 2013):
    h = 1/2 log det S + log((nu pi)^(d/2) G(nu/2)/G((nu+d)/2)) + (nu+d)/2 (psi((nu+d)/2) - psi(nu/2));
    marginals of a multivariate t are t with the same nu, so I = h_x + h_y - h_xy and the pi terms cancel.
    """
    def g(d: int) -> float:
        a, b = df / 2.0, (df + d) / 2.0
        return float(special.gammaln(a) - special.gammaln(b) + b * (special.digamma(b) - special.digamma(a)))
    return g(dim_x) + g(dim_y) - g(dim_x + dim_y)


def student_t_mi(dispersion: Array, dim_x: int, df: float) -> float:
    """I(X;Y) of a multivariate t with dispersion matrix ``dispersion`` and ``df`` degrees of freedom."""
    dispersion = np.asarray(dispersion, dtype=float)
    return gaussian_mi(dispersion, dim_x) + student_t_mi_correction(df, dim_x, dispersion.shape[0] - dim_x)


def additive_uniform_mi(epsilon: float) -> float:
    """I(X; X + N) for X ~ U(0, 1), N ~ U(-e, e): 1/(4e) if e > 1/2, else e - log(2e) (bmi's additive task)."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be finite and > 0, got {epsilon!r}")
    return 0.25 / epsilon if epsilon > 0.5 else epsilon - math.log(2 * epsilon)


def dense_correlation(dim_x: int, dim_y: int, off_diag: float = 0.5) -> Array:
    """Every pair of distinct coordinates (within and across X, Y) correlated with ``off_diag`` (bmi "dense")."""
    d = dim_x + dim_y
    return np.eye(d) * (1.0 - off_diag) + off_diag


def paired_correlation(dim_x: int, dim_y: int, rho: float, n_pairs: int) -> Array:
    """X_i and Y_i correlated with ``rho`` for i < ``n_pairs``; every other pair independent.
    I = -(n_pairs / 2) log(1 - rho^2)."""
    if not 0 <= n_pairs <= min(dim_x, dim_y):
        raise ValueError(f"n_pairs must be in 0..{min(dim_x, dim_y)}, got {n_pairs}")
    cov = np.eye(dim_x + dim_y)
    for i in range(n_pairs):
        cov[i, dim_x + i] = cov[dim_x + i, i] = rho
    return cov


def sparse_lvm_correlation(dim_x: int, dim_y: int, n_interacting: int = 2, strength: float = 2.0) -> Array:
    """bmi's sparse latent-variable model (alpha = beta = 0, lambda = eta = ``strength``, epsilon = 1):
    X_i = lambda Z_i + E_i and Y_i = lambda Z_i + F_i for i < n_interacting, the other coordinates
    independent with the same variance; hence corr(X_i, Y_i) = lambda^2 / (1 + lambda^2) (0.8 for 2)."""
    return paired_correlation(dim_x, dim_y, strength ** 2 / (1.0 + strength ** 2), n_interacting)


def label_gaussian_mi(n_classes: int, sep: float, sigma: float) -> float:
    """I(Y;X) for Y uniform on {0..C-1} and X = mu_Y + N(0, sigma^2 I), class means sep*y on one axis.

    Only the coordinate along the means carries information, so I = h(X_1) - h(X_1|Y) with h(X_1) of
    the 1-D Gaussian mixture computed by adaptive quadrature.
    """
    mus = sep * np.arange(n_classes, dtype=float)

    def p(u):
        return np.mean(stats.norm.pdf(u, loc=mus, scale=sigma))

    def integrand(u):
        v = p(u)
        return -v * math.log(v) if v > 0 else 0.0
    lo, hi = mus[0] - 12 * sigma, mus[-1] + 12 * sigma
    pts = list(mus)
    h_mix, _ = integrate.quad(integrand, lo, hi, points=pts, limit=400)
    h_cond = 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)
    return float(h_mix - h_cond)


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


# ------------------------------------------------------------------ bias of the plug-in Gaussian MI

def wishart_logdet_bias(n: int, d: int) -> float:
    """E[log det S] - log det Sigma for the sample covariance S (divisor n - 1) of n Gaussian draws in d dims.

    (n - 1) S ~ Wishart_d(Sigma, n - 1) and E log det W = log det Sigma + sum_{i=1..d} psi((n - i)/2) + d log 2,
    so the bias is sum_{i=1..d} psi((n - i)/2) + d log(2 / (n - 1)) (negative; about -d(d+1)/(2n)).
    """
    if d < 1 or n <= d + 1:
        raise ValueError(f"need n > d + 1 samples for a non-singular covariance (n={n}, d={d})")
    i = np.arange(1, d + 1)
    return float(np.sum(special.digamma((n - i) / 2.0)) + d * math.log(2.0 / (n - 1)))


def gaussian_mi_sample_bias(n: int, dim_x: int, dim_y: int) -> float:
    """E[I_plugin] - I for the plug-in Gaussian MI 1/2 (log det S_xx + log det S_yy - log det S) on n
    Gaussian draws: exact, and independent of the true covariance (Ince et al. 2017, Gaussian-copula MI).
    Positive: about dim_x dim_y / (2 n)."""
    b = wishart_logdet_bias
    return 0.5 * (b(n, dim_x) + b(n, dim_y) - b(n, dim_x + dim_y))


# ---------------------------------------------------------------------- entropy under monotone maps

def entropy_gaussian(sigma: float, dim: int = 1) -> float:
    """h(N(0, sigma^2 I_dim)) = dim/2 log(2 pi e sigma^2)."""
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    return 0.5 * dim * math.log(2 * math.pi * math.e * sigma ** 2)


def compression_log_deriv(name: str, lam: float) -> Callable[[float], float]:
    """log f'(u) of a registered IBNorm compression (:mod:`ibnorm.compression`), overflow-safe.

    tanh(lam u)/lam: log 4 - 2|lam u| - 2 log(1 + e^{-2|lam u|}); log: -log(1 + lam|u|);
    softsign: -2 log(1 + lam|u|); root: log(1/lam) + (1/lam - 1) log(|u| + d); identity: 0.
    Any other registered compression falls back to log of its ``deriv`` in float64.
    """
    from ibnorm.compression import ROOT_DELTA, get_compression, validate_lam
    comp = get_compression(name)
    lam = validate_lam(comp, lam)
    closed = {
        "identity": lambda u: 0.0,
        "tanh": lambda u: math.log(4.0) - 2 * abs(lam * u) - 2 * math.log1p(math.exp(-2 * abs(lam * u))),
        "log": lambda u: -math.log1p(lam * abs(u)),
        "softsign": lambda u: -2.0 * math.log1p(lam * abs(u)),
        "root": lambda u: math.log(1.0 / lam) + (1.0 / lam - 1.0) * math.log(abs(u) + ROOT_DELTA),
    }
    if comp.name in closed:
        return closed[comp.name]
    import torch

    def fallback(u: float) -> float:
        return float(torch.log(comp.deriv(torch.tensor([u], dtype=torch.float64), lam))[0])
    return fallback


def entropy_after_monotone_map(log_deriv: Callable[[float], float], *, dist: str = "gaussian",
                               scale: float = 1.0, df: float | None = None) -> dict:
    """h(f(X)) = h(X) + E log f'(X) for a strictly increasing differentiable f (change of variables).

    ``log_deriv(u) = log f'(u)`` (a float; see :func:`compression_log_deriv`). X is N(0, scale^2)
    (``dist="gaussian"``) or a scaled Student-t with ``df`` (``dist="student"``). The expectation is
    computed by adaptive quadrature. Returns ``{"h_x", "e_log_deriv", "h_fx"}`` in nats.
    """
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")
    if dist == "gaussian":
        rv = stats.norm(scale=scale)
    elif dist == "student":
        if df is None or not df > 0:
            raise ValueError("dist='student' needs df > 0")
        rv = stats.t(df, scale=scale)
    else:
        raise ValueError(f"dist must be 'gaussian' or 'student', got {dist!r}")

    def integrand(u):
        p = rv.pdf(u)
        if p == 0.0:
            return 0.0
        ld = float(log_deriv(float(u)))
        if not math.isfinite(ld):
            raise ValueError(f"log f'({u}) = {ld} is not finite: f must be strictly increasing")
        return p * ld
    e_log = 0.0
    for a, b in ((-np.inf, -1.0), (-1.0, 0.0), (0.0, 1.0), (1.0, np.inf)):
        e_log += integrate.quad(integrand, a, b, limit=400)[0]
    h_x = float(rv.entropy())
    return {"h_x": h_x, "e_log_deriv": float(e_log), "h_fx": h_x + float(e_log)}


# ------------------------------------------------------------------- Gaussian channel / Gaussian IB

def gaussian_channel_mi(A: Array, cov_x: Array, noise_var: float, cov_x_given_y: Array | None = None) -> dict:
    """For X ~ N(0, cov_x) and T = A X + N(0, s^2 I): I(X;T) = 1/2 log det(I + A cov_x A^T / s^2).

    With ``cov_x_given_y`` (the conditional covariance of X given a jointly Gaussian Y) also
    I(Y;T) = 1/2 log det(A cov_x A^T + s^2 I) - 1/2 log det(A cov_x|y A^T + s^2 I) (Gaussian IB,
    Chechik, Globerson, Tishby & Weiss 2005). Returns ``{"I_XT", "I_YT"?}`` in nats.
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    cov_x = np.atleast_2d(np.asarray(cov_x, dtype=float))
    if not (noise_var > 0 and math.isfinite(noise_var)):
        raise ValueError(f"noise_var must be finite and > 0, got {noise_var!r}")
    k = A.shape[0]
    S = A @ cov_x @ A.T + noise_var * np.eye(k)
    out = {"I_XT": 0.5 * (_logdet(S) - k * math.log(noise_var))}
    if cov_x_given_y is not None:
        C = np.atleast_2d(np.asarray(cov_x_given_y, dtype=float))
        out["I_YT"] = 0.5 * (_logdet(S) - _logdet(A @ C @ A.T + noise_var * np.eye(k)))
    return out


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
            r = estimate(x, y)
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
