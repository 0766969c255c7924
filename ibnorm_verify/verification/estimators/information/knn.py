"""k-nearest-neighbour MI estimators: KSG (continuous-continuous) and Ross's mixed estimator (label-continuous).

* :func:`ksg`: Kraskov, Stoegbauer & Grassberger 2004, estimator 1:
  psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >, max-norm joint distance.
* :func:`mixed_ksg`: Ross 2014, psi(N) - <psi(N_y)> + psi(k) - <psi(m)>.

Distances are float64: squared distances computed as |a|^2 + |b|^2 - 2 a.b lose the small neighbour
distances of large n to cancellation in float32 (mixed_ksg was 0.03-0.07 nats low at n = 5000-20000 in
1-D with float32, -0.002 in float64).

The largest value KSG can return is psi(N) - psi(k) (every point's k neighbours coincide in both
marginals): :func:`ksg_ceiling`. An estimate near it says the data resolve no upper limit on the MI
(deterministic dependence; see :class:`~.inputs.UnboundedMIError`).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import special
from scipy.spatial import cKDTree

Array = np.ndarray


def _sqdist_rows(a: torch.Tensor, b: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (c, n) between rows of ``a`` (c, d) and ``b`` (n, d); bb = |b|^2."""
    G = torch.addmm(bb[None, :], a, b.T, beta=1.0, alpha=-2.0)
    return G.add_((a * a).sum(1)[:, None]).clamp_(min=0.0)


def _count(mask: torch.Tensor) -> torch.Tensor:
    """Row counts of a boolean (c, n) mask."""
    return mask.view(torch.uint8).sum(1, dtype=torch.int64)


def knn_counts(x: Array, y: Array | None, k: int, labels: Array | None = None,
               chunk: int = 512) -> tuple[Array, Array]:
    """Chunked brute-force kNN counts in torch float64.

    Without ``labels`` (KSG 1): joint distance max(|x-x'|, |y-y'|) with Euclidean marginal norms
    (Kraskov et al. 2004 allow any marginal norms under the max-norm joint); returns (n_x, n_y), the
    numbers of points strictly closer than the k-th joint neighbour in each marginal, self excluded.
    With ``labels`` (Ross 2014): d_i = distance to the k-th same-label neighbour; returns (m, m), m the
    number of points (any label, self excluded) within d_i.
    """
    n = x.shape[0]
    X = torch.as_tensor(x, dtype=torch.float64)
    xx = (X * X).sum(1)
    Y = yy = lab = None
    if y is not None:
        Y = torch.as_tensor(y, dtype=torch.float64)
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
            assert yy is not None  # set together with Y
            Dy = _sqdist_rows(Y[a:b], Y, yy)
            Dy[r, a + r] = 0.0
            eps = torch.maximum(Dx, Dy).topk(k + 1, dim=1, largest=False).values[:, -1:]
            c1[a:b] = _count(Dx < eps) - 1
            c2[a:b] = _count(Dy < eps) - 1
        else:
            assert lab is not None  # set whenever y is None
            same = lab[a:b, None] == lab[None, :]
            d = Dx.masked_fill(~same, float("inf")).topk(k + 1, dim=1, largest=False).values[:, -1:]
            c1[a:b] = _count(Dx <= d) - 1
            c2[a:b] = c1[a:b]
    return c1.numpy(), c2.numpy()


def ksg_ceiling(n: int, k: int) -> float:
    """The largest value KSG estimator 1 can return on n samples: psi(n) - psi(k)."""
    return float(special.digamma(n) - special.digamma(k))


def ksg(x: Array, y: Array, k: int = 5, algorithm: str = "auto", workers: int = 1) -> float:
    """KSG estimator 1 (nats).

    ``algorithm="brute"``: torch brute force in float64, Euclidean marginal norms (any dimension, n up to
    ~2e4); ``"kdtree"``: scipy cKDTree with max-norm marginals (fast in low dimension at large n);
    ``"auto"``: kdtree when both marginals have <= 3 dimensions or n > 20000, else brute.
    """
    n = x.shape[0]
    if algorithm == "auto":
        algorithm = "kdtree" if (n > 20000 or max(x.shape[1], y.shape[1]) <= 3) else "brute"
    if algorithm == "brute":
        nx, ny = knn_counts(x, y, k)
    elif algorithm == "kdtree":
        xy = np.hstack([x, y])
        d, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=workers)
        eps = np.nextafter(d[:, -1], 0)            # strictly inside the k-th neighbour distance
        nx = cKDTree(x).query_ball_point(x, eps, p=np.inf, return_length=True, workers=workers) - 1
        ny = cKDTree(y).query_ball_point(y, eps, p=np.inf, return_length=True, workers=workers) - 1
    else:
        raise ValueError(f"algorithm must be 'auto', 'brute' or 'kdtree', got {algorithm!r}")
    return float(special.digamma(k) + special.digamma(n)
                 - np.mean(special.digamma(nx + 1) + special.digamma(ny + 1)))


def mixed_ksg(x: Array, y: Array, k: int = 5) -> float:
    """Ross 2014 for integer labels ``y`` (n,) and continuous ``x`` (n, d): psi(N) - <psi(N_y)> + psi(k)
    - <psi(m)>; m = points of any label within the distance to the k-th same-label neighbour."""
    n = x.shape[0]
    counts = np.bincount(y)
    if counts.min() <= k:
        raise ValueError(f"every label needs more than k={k} samples; smallest class has {counts.min()}")
    m, _ = knn_counts(x, None, k, labels=y)
    return float(special.digamma(n) - np.mean(special.digamma(counts[y])) + special.digamma(k)
                 - np.mean(special.digamma(m)))
