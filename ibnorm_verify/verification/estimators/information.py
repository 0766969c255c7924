"""Mutual-information estimators, each validated against closed forms (:mod:`ibnorm_verify.theory.information`).

``mutual_information(x, y, method=..., **settings) -> MIEstimate`` (nats). Methods:

* ``"ksg"`` (default): Kraskov, Stoegbauer & Grassberger 2004, estimator 1, max-norm, scipy ``cKDTree``;
  ``copula=True`` (default) first maps every marginal to normal scores through its ranks, which
  leaves the MI unchanged (invertible marginal maps) and removes heavy tails (bmi's finding that a
  tail-shortening pre-transform helps). Settings ``k=5``.
* ``"gaussian"``: the closed form 1/2 (log det S_xx + log det S_yy - log det S) on the sample
  covariance; exact for Gaussians, blind to non-Gaussian dependence.
* ``"binning"``: plug-in MI of equal-width histograms per coordinate (the information-plane
  estimator of Shwartz-Ziv & Tishby 2017); biased, kept for comparison.
* ``"renyi"``: matrix-based Renyi alpha-order MI (Giraldo, Rao & Principe 2015) with a Gaussian
  kernel; NOT Shannon MI (no calibration to nats is implied); kept for comparison.
* ``"infonce"`` (van den Oord et al. 2018) and ``"nwj"`` (Nguyen, Wainwright & Jordan 2010): neural
  critic lower bounds in torch, trained on one half of the data and evaluated on the other.
  InfoNCE is capped at log(batch size).
* Discrete ``y`` (integer labels, shape (n,)): ``"mixed_ksg"`` (Ross 2014, the discrete-continuous
  kNN estimator), and :func:`noisy_channel_mi` with ``y`` for a noisy representation.

For deterministic networks see :func:`noisy_channel_mi`: I(X;T) is infinite for continuous X and a
deterministic T (Goldfeld et al. 2019), so the suite measures I(X; T + N(0, s^2 I)) with a stated s.

Uncertainty: the standard deviation over ``n_blocks`` disjoint subsamples scaled by 1/sqrt(n_blocks)
(the variance of these estimators scales as 1/n; Holmes & Nemenman 2019). The bootstrap is NOT
used: duplicated points bias kNN estimators upward.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
from scipy import special, stats
from scipy.spatial import cKDTree

__all__ = ["MIEstimate", "mutual_information", "noisy_channel_mi", "METHODS", "DISCRETE_METHODS",
           "DEFAULT_METHOD", "estimator"]

Array = np.ndarray
DEFAULT_METHOD = "ksg"


@dataclass(frozen=True)
class MIEstimate:
    """An MI estimate in nats with its uncertainty (a standard deviation), method, settings and n."""

    value: float
    uncertainty: float
    method: str
    settings: dict = field(default_factory=dict)
    n: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------ input checks

def _as_2d(a: Any, name: str) -> Array:
    """(n,) or (n, d) array-like or tensor -> float64 (n, d); raises on bad shape / non-finite values."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(a).__name__}")
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def _check_not_constant(arr: Array, name: str) -> None:
    const = np.flatnonzero(np.ptp(arr, axis=0) == 0)
    if const.size:
        raise ValueError(f"{name} has constant column(s) {const.tolist()}: MI of a constant is 0 and "
                         "kNN/covariance estimators are undefined there; drop them first")


def _as_labels(y: Any) -> Array:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"discrete y must be a non-empty 1-D array of labels, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("y contains non-finite values")
        if not np.all(arr == np.round(arr)):
            raise TypeError("discrete methods need integer labels y; use a continuous method for real-valued y")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"labels must be integers, got dtype {arr.dtype}")
    return np.unique(arr, return_inverse=True)[1].astype(np.int64)


def _positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


# ------------------------------------------------------------------------------- preprocessing

def normal_scores(a: Array) -> Array:
    """Rank-based copula transform of every column to standard-normal scores (ties get average ranks)."""
    n = a.shape[0]
    r = stats.rankdata(a, axis=0)
    return special.ndtri((r - 0.5) / n)


def _standardize(a: Array) -> Array:
    return (a - a.mean(0)) / a.std(0)


# -------------------------------------------------------------------------------- point estimators

def _sqdist_rows(a, b, bb):
    """Squared Euclidean distances (c, n) between rows of ``a`` (c, d) and ``b`` (n, d); bb = |b|^2."""
    import torch
    G = torch.addmm(bb[None, :], a, b.T, beta=1.0, alpha=-2.0)
    return G.add_((a * a).sum(1)[:, None]).clamp_(min=0.0)


def _count(mask):
    """Row counts of a boolean (c, n) mask (a uint8 view sums ~3x faster than count_nonzero on CPU)."""
    import torch
    return mask.view(torch.uint8).sum(1, dtype=torch.int64)


def _knn_brute(x: Array, y: Array | None, k: int, labels: Array | None = None, chunk: int = 512,
               dtype=None):
    """Chunked brute-force kNN counts in torch (BLAS distances; float32 by default, see below).

    Without ``labels`` (KSG 1): joint distance max(|x-x'|, |y-y'|) with Euclidean marginal norms
    (Kraskov et al. 2004 allow any marginal norms under the max-norm joint); returns (n_x, n_y), the
    numbers of points strictly closer than the k-th joint neighbour in each marginal, self excluded.
    With ``labels`` (Ross 2014): d_i = distance to the k-th same-label neighbour; returns m, the
    number of points (any label, self excluded) within d_i.

    Precision: the counts only compare distances computed by the same expression, so rounding cannot
    make a point count on both sides; float32 (the default, half the memory traffic) perturbs squared
    distances by ~1e-7 |x|^2, far below the k-th-neighbour distances of standardized data.
    """
    import torch
    dtype = torch.float32 if dtype is None else dtype
    n = x.shape[0]
    X = torch.as_tensor(x, dtype=dtype)
    xx = (X * X).sum(1)
    Y = yy = lab = None
    if y is not None:
        Y = torch.as_tensor(y, dtype=dtype)
        yy = (Y * Y).sum(1)
    else:
        lab = torch.as_tensor(labels)
    c1 = torch.empty(n, dtype=torch.long)
    c2 = torch.empty(n, dtype=torch.long)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        r = torch.arange(b - a)
        Dx = _sqdist_rows(X[a:b], X, xx)                  # (c, n)
        Dx[r, a + r] = 0.0
        if Y is not None:
            Dy = _sqdist_rows(Y[a:b], Y, yy)
            Dy[r, a + r] = 0.0
            eps = torch.maximum(Dx, Dy).topk(k + 1, dim=1, largest=False).values[:, -1:]
            c1[a:b] = _count(Dx < eps) - 1
            c2[a:b] = _count(Dy < eps) - 1
        else:
            same = lab[a:b, None] == lab[None, :]
            d = Dx.masked_fill(~same, float("inf")).topk(k + 1, dim=1, largest=False).values[:, -1:]
            c1[a:b] = _count(Dx <= d) - 1
    return c1.numpy(), c2.numpy()


def _ksg(x: Array, y: Array, k: int = 5, algorithm: str = "auto", workers: int = 1) -> float:
    """KSG estimator 1: psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >.

    ``algorithm="brute"``: torch brute force, Euclidean marginal norms (fast for any dimension up to
    n ~ 2e4); ``"kdtree"``: scipy cKDTree with max-norm marginals (fast in low dimension at large n);
    ``"auto"``: kdtree when both marginals have <= 3 dimensions or n > 20000, else brute (the choice
    measured in ``benchmarks/bench_mi.py``; both paths are validated on the same closed-form tasks).
    """
    n = x.shape[0]
    if algorithm == "auto":          # kd-trees win in low dimension (benchmarks/bench_mi.py), brute force above
        algorithm = "kdtree" if (n > 20000 or max(x.shape[1], y.shape[1]) <= 3) else "brute"
    if algorithm == "brute":
        nx, ny = _knn_brute(x, y, k)
    elif algorithm == "kdtree":
        xy = np.hstack([x, y])
        d, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=workers)
        eps = np.nextafter(d[:, -1], 0)            # strictly inside the k-th neighbour distance
        nx = cKDTree(x).query_ball_point(x, eps, p=np.inf, return_length=True, workers=workers) - 1
        ny = cKDTree(y).query_ball_point(y, eps, p=np.inf, return_length=True, workers=workers) - 1
    else:
        raise ValueError(f"algorithm must be 'auto', 'brute' or 'kdtree', got {algorithm!r}")
    return float(special.digamma(k) + special.digamma(n) - np.mean(special.digamma(nx + 1) + special.digamma(ny + 1)))


def _gaussian(x: Array, y: Array) -> float:
    dx = x.shape[1]
    c = np.cov(np.hstack([x, y]), rowvar=False).reshape(dx + y.shape[1], -1)

    def ld(m):
        s, v = np.linalg.slogdet(np.atleast_2d(m))
        if s <= 0:
            raise ValueError("sample covariance is singular (collinear columns?)")
        return v
    return float(0.5 * (ld(c[:dx, :dx]) + ld(c[dx:, dx:]) - ld(c)))


def _discrete_codes(a: Array, bins: int) -> Array:
    """Equal-width bins per column over the observed range; each row -> one joint code."""
    lo, hi = a.min(0), a.max(0)
    idx = np.clip(((a - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    return np.unique(idx, axis=0, return_inverse=True)[1].reshape(-1)


def _entropy_codes(c: Array) -> float:
    p = np.bincount(c) / c.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _binning(x: Array, y: Array, bins: int = 10) -> float:
    cx, cy = _discrete_codes(x, bins), _discrete_codes(y, bins)
    cxy = np.unique(np.stack([cx, cy], 1), axis=0, return_inverse=True)[1].reshape(-1)
    return _entropy_codes(cx) + _entropy_codes(cy) - _entropy_codes(cxy)


def _renyi_gram(a: Array, sigma: float) -> Array:
    sq = np.sum(a * a, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * a @ a.T, 0.0)
    K = np.exp(-d2 / (2 * sigma ** 2))
    return K / np.trace(K)


def _renyi_entropy(A: Array, alpha: float) -> float:
    w = np.clip(np.linalg.eigvalsh(A), 0.0, None)
    return float(np.log(np.sum(w ** alpha)) / (1.0 - alpha))


def _renyi(x: Array, y: Array, alpha: float = 1.01, bandwidth: float = 1.0) -> float:
    """Giraldo et al. 2015: I_a = S_a(A) + S_a(B) - S_a(A o B / tr(A o B)), Gaussian kernels of width
    bandwidth * n^(-1/(4+d)) on standardized data (Silverman's rate)."""
    n = x.shape[0]
    A = _renyi_gram(_standardize(x), bandwidth * n ** (-1.0 / (4 + x.shape[1])))
    B = _renyi_gram(_standardize(y), bandwidth * n ** (-1.0 / (4 + y.shape[1])))
    AB = A * B
    return _renyi_entropy(A, alpha) + _renyi_entropy(B, alpha) - _renyi_entropy(AB / np.trace(AB), alpha)


def _mixed_ksg(x: Array, y: Array, k: int = 5, workers: int = 1) -> float:
    """Ross 2014: psi(N) - <psi(N_y)> + psi(k) - <psi(m)>; m = points of any label within the distance
    to the k-th same-label neighbour (Euclidean), self excluded."""
    n = x.shape[0]
    counts = np.bincount(y)
    if counts.min() <= k:
        raise ValueError(f"every label needs more than k={k} samples; smallest class has {counts.min()}")
    m, _ = _knn_brute(x, None, k, labels=y)
    return float(special.digamma(n) - np.mean(special.digamma(counts[y])) + special.digamma(k)
                 - np.mean(special.digamma(m)))


# -------------------------------------------------------------------------------- neural critics

def _mlp(d_in: int, hidden: int, d_out: int):
    import torch.nn as nn
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, d_out))


def _critic_scores(net, xb, yb):
    """Concat critic on all pairs: scores[i, j] = f(x_i, y_j); xb (B, dx), yb (B, dy) -> (B, B)."""
    import torch
    B = xb.shape[0]
    pairs = torch.cat([xb[:, None, :].expand(B, B, -1), yb[None, :, :].expand(B, B, -1)], -1)
    return net(pairs).squeeze(-1)


def _bound(scores, kind: str):
    """Per-batch lower bound from a (B, B) score matrix with the positives on the diagonal."""
    import torch
    B = scores.shape[0]
    if kind == "infonce":
        return (torch.diagonal(scores) - torch.logsumexp(scores, 1)).mean() + math.log(B)
    # NWJ: E_p[f] - e^{-1} E_q[e^f] with f = scores (off-diagonal pairs as the product of marginals)
    off = scores[~torch.eye(B, dtype=torch.bool)]
    return torch.diagonal(scores).mean() - torch.exp(off - 1.0).mean()


def _neural(x: Array, y: Array, kind: str, steps: int = 300, batch: int = 128, hidden: int = 64,
            lr: float = 1e-3, seed: int = 0) -> tuple[float, float]:
    """Train a concat critic on the first half, report the bound's mean (and its s.e.) on the second."""
    import torch
    n = x.shape[0]
    if n < 4 * batch:
        raise ValueError(f"{kind} needs n >= 4*batch = {4 * batch} samples, got {n}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    perm = torch.randperm(n, generator=g).numpy()
    xs, ys = (torch.as_tensor(_standardize(a)[perm], dtype=torch.float32) for a in (x, y))
    h = n // 2
    net = _mlp(x.shape[1] + y.shape[1], hidden, 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, h, (batch,), generator=g)
        loss = -_bound(_critic_scores(net, xs[idx], ys[idx]), kind)
        opt.zero_grad()
        loss.backward()
        opt.step()
    vals = []
    with torch.no_grad():
        for s in range(h, n - batch + 1, batch):
            vals.append(float(_bound(_critic_scores(net, xs[s:s + batch], ys[s:s + batch]), kind)))
    v = np.asarray(vals)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")


# ------------------------------------------------------------------------------------- dispatch

@dataclass(frozen=True)
class _Method:
    fn: Callable
    defaults: dict
    discrete_y: bool = False
    copula_ok: bool = True
    min_n: Callable[[dict], int] = lambda s: 2
    max_n: int | None = None          # larger inputs are randomly subsampled (O(n^3) methods)


METHODS: dict[str, _Method] = {
    "ksg": _Method(_ksg, {"k": 5, "copula": True, "algorithm": "auto"}, min_n=lambda s: s["k"] + 2),
    "gaussian": _Method(_gaussian, {"copula": False}, min_n=lambda s: 3),
    "binning": _Method(_binning, {"bins": 10, "copula": False}, min_n=lambda s: 2),
    "renyi": _Method(_renyi, {"alpha": 1.01, "bandwidth": 1.0, "copula": False}, min_n=lambda s: 10, max_n=1000),
    "infonce": _Method(_neural, {"steps": 300, "batch": 128, "hidden": 64, "lr": 1e-3, "copula": False}),
    "nwj": _Method(_neural, {"steps": 300, "batch": 128, "hidden": 64, "lr": 1e-3, "copula": False}),
    "mixed_ksg": _Method(_mixed_ksg, {"k": 5, "copula": True}, discrete_y=True, min_n=lambda s: s["k"] + 2),
}
DISCRETE_METHODS = tuple(k for k, m in METHODS.items() if m.discrete_y)
_NEURAL = ("infonce", "nwj")
_PRIVATE = ("uncertainty", "n_blocks", "seed", "workers")


def _point(method: str, x: Array, y: Array, s: dict, seed: int) -> tuple[float, float]:
    """One estimate (value, own s.e. or nan) on already-checked arrays."""
    m = METHODS[method]
    args = {k: v for k, v in s.items() if k not in ("copula",) + _PRIVATE}
    if s.get("copula"):
        x = normal_scores(x)
        if not m.discrete_y:
            y = normal_scores(y)
    if m.max_n is not None and x.shape[0] > m.max_n:
        idx = np.random.default_rng(seed).choice(x.shape[0], m.max_n, replace=False)
        x, y = x[idx], y[idx]
    if method in _NEURAL:
        return _neural(x, y, method, seed=seed, **args)
    if method == "ksg":
        args["workers"] = s.get("workers", 1)
    return float(m.fn(x, y, **args)), float("nan")


def mutual_information(x: Any, y: Any, method: str = DEFAULT_METHOD, *, uncertainty: str = "subsample",
                       n_blocks: int = 5, seed: int = 0, **settings) -> MIEstimate:
    """Estimate I(X;Y) in nats from paired samples ``x`` (n, dx) and ``y`` (n, dy) (or labels (n,)).

    Args:
        method: one of :data:`METHODS` (``"ksg"`` by default; ``"mixed_ksg"`` needs integer labels ``y``).
        uncertainty: ``"subsample"`` (std over ``n_blocks`` disjoint subsamples / sqrt(n_blocks); for the
            neural critics their held-out standard error is used instead) or ``"none"``.
        seed: seeds the subsampling and the neural critics' training.
        **settings: method settings (e.g. ``k=5, copula=True`` for KSG); unknown ones raise ``ValueError``.

    Raises:
        ValueError: unknown method/setting, mismatched lengths, too few samples (e.g. n <= k), constant
            columns, non-finite values, empty input. TypeError: non-numeric input or non-integer labels.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    m = METHODS[method]
    unknown = set(settings) - set(m.defaults) - {"workers"}
    if unknown:
        raise ValueError(f"method {method!r} has no setting(s) {sorted(unknown)}; known: {sorted(m.defaults)}")
    s = {**m.defaults, **settings}
    for key in ("k", "bins", "steps", "batch", "hidden"):
        if key in s:
            s[key] = _positive_int(s[key], key, 2 if key == "bins" else 1)
    if uncertainty not in ("subsample", "none"):
        raise ValueError(f"uncertainty must be 'subsample' or 'none', got {uncertainty!r}")
    x = _as_2d(x, "x")
    y = _as_labels(y) if m.discrete_y else _as_2d(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {x.shape[0]} and {y.shape[0]}")
    _check_not_constant(x, "x")
    if not m.discrete_y:
        _check_not_constant(y, "y")
    n = x.shape[0]
    need = m.min_n(s)
    if n < need:
        raise ValueError(f"method {method!r} with settings {s} needs at least {need} samples, got {n}")
    value, own_se = _point(method, x, y, s, seed)
    unc = float("nan")
    if uncertainty == "subsample":
        if method in _NEURAL:
            unc = own_se
        else:
            nb = _positive_int(n_blocks, "n_blocks", 2)
            size = n // nb
            if size >= need and (not m.discrete_y or np.bincount(y).min() // nb > s.get("k", 0)):
                perm = np.random.default_rng(seed).permutation(n)
                vals = [_point(method, x[perm[b * size:(b + 1) * size]], y[perm[b * size:(b + 1) * size]], s,
                               seed + b)[0] for b in range(nb)]
                unc = float(np.std(vals, ddof=1) / math.sqrt(nb))
    rec = dict(s)
    rec.update(uncertainty=uncertainty, n_blocks=n_blocks if uncertainty == "subsample" else None, seed=seed)
    return MIEstimate(value=value, uncertainty=unc, method=method, settings=rec, n=n)


def estimator(method: str = DEFAULT_METHOD, **settings) -> Callable[[Any, Any], MIEstimate]:
    """``estimator("ksg", k=5)`` -> ``f(x, y) -> MIEstimate`` (for :func:`ibnorm_verify.theory.information.validate_estimator`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")

    def f(x, y):
        return mutual_information(x, y, method=method, **settings)
    f.__name__ = f"mi_{method}"
    return f


# ------------------------------------------------------------------------------- noisy channel

def noisy_channel_mi(t: Any, noise_std: float, y: Any = None, *, n_mc: int = 2000, seed: int = 0,
                     max_centers: int = 4000) -> MIEstimate:
    """I(X; T + N(0, s^2 I)) for a deterministic representation T = g(X), or I(Y; T + N) given labels y.

    For continuous X and deterministic T, I(X;T) is infinite (Goldfeld et al. 2019); with a Gaussian
    channel of stated width s it is finite: I(X; T_s) = h(T_s) - h(N) = h(P_T * N) - d/2 log(2 pi e s^2).
    h(P_T * N) is estimated by the sample-propagation estimator of Goldfeld et al.: the entropy of the
    Gaussian mixture (1/n) sum_i N(t_i, s^2 I), by Monte Carlo with ``n_mc`` draws. With labels,
    I(Y; T_s) = h(T_s) - sum_y p(y) h(T_s | Y=y), each term from its class's mixture.

    The estimate cannot exceed log(n) (the mixture has n components): a small s against a spread T
    saturates; the caller must state s. Uncertainty: the Monte-Carlo standard error.
    """
    t = _as_2d(t, "t")
    s = float(noise_std)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"noise_std must be finite and > 0, got {noise_std!r}")
    n_mc = _positive_int(n_mc, "n_mc", 2)
    rng = np.random.default_rng(seed)
    if t.shape[0] > max_centers:
        t = t[rng.choice(t.shape[0], max_centers, replace=False)] if y is None else t
    d = t.shape[1]

    def mixture_logpdf_samples(centers: Array, m: int) -> Array:
        """-log p_mix(z) at m draws z ~ mixture (n_c, d) -> (m,)."""
        import torch
        z = centers[rng.integers(0, centers.shape[0], m)] + s * rng.standard_normal((m, d))
        C = torch.as_tensor(centers)
        cc = (C * C).sum(1)
        out = np.empty(m)
        for a in range(0, m, 1024):
            d2 = _sqdist_rows(torch.as_tensor(z[a:a + 1024]), C, cc)          # (chunk, n_c)
            lp = torch.logsumexp(d2.mul_(-0.5 / (s * s)), dim=1).numpy() - math.log(centers.shape[0])
            out[a:a + 1024] = -(lp - 0.5 * d * math.log(2 * math.pi * s * s))
        return out

    h_noise = 0.5 * d * math.log(2 * math.pi * math.e * s * s)
    nlp = mixture_logpdf_samples(t, n_mc)
    h_t = float(nlp.mean())
    var = float(nlp.var(ddof=1) / n_mc)
    settings = {"noise_std": s, "n_mc": n_mc, "seed": seed, "estimator": "gaussian-mixture sample propagation"}
    if y is None:
        return MIEstimate(h_t - h_noise, math.sqrt(var), "noisy_channel", settings, int(t.shape[0]))
    lab = _as_labels(y)
    if lab.shape[0] != t.shape[0]:
        raise ValueError(f"t and y must have the same number of samples, got {t.shape[0]} and {lab.shape[0]}")
    p = np.bincount(lab) / lab.size
    h_cond = 0.0
    for c in range(p.size):
        tc = t[lab == c]
        if tc.shape[0] > max_centers:
            tc = tc[rng.choice(tc.shape[0], max_centers, replace=False)]
        nc = mixture_logpdf_samples(tc, n_mc)
        h_cond += p[c] * float(nc.mean())
        var += p[c] ** 2 * float(nc.var(ddof=1) / n_mc)
    return MIEstimate(h_t - h_cond, math.sqrt(var), "noisy_channel", {**settings, "target": "labels"},
                      int(t.shape[0]))
