"""Discrete and label-feature MI, and the comparison-only estimators (binning, matrix-based Renyi).

* :func:`plugin`: discrete-discrete plug-in MI with the Miller-Madow correction
  (H_MM = H_plugin + (K - 1) / (2n) per entropy; Miller 1955, Paninski 2003).
* :func:`classifier_bound`: label Y (discrete) against features X (continuous, any dimension):
  H(Y) - CE >= ... <= H(Y): a classifier q(y|x) trained on a training split (logistic regression and a
  small MLP, the better on a validation split kept) gives the lower bound I(X;Y) >= H(Y) - E[-log q(Y|X)]
  on the untouched test split (the "cross-entropy" or Barber-Agakov bound, Barber & Agakov 2003; McAllester
  & Stratos 2020), and I(X;Y) <= H(Y) always. Returns the bracket.
* :func:`binning`: equal-width histograms per coordinate (the information-plane estimator of
  Shwartz-Ziv & Tishby 2017); biased, kept for comparison, warned about beyond 2 dimensions.
* :func:`renyi`: matrix-based Renyi alpha-order MI (Giraldo, Rao & Principe 2015); NOT Shannon MI.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .inputs import standardize

Array = np.ndarray


# ------------------------------------------------------------------------------------ discrete-discrete

def entropy_codes(c: Array, miller_madow: bool = False) -> float:
    """Plug-in entropy (nats) of integer codes (n,), optionally with the Miller-Madow correction."""
    counts = np.bincount(c)
    counts = counts[counts > 0]
    p = counts / c.size
    h = float(-(p * np.log(p)).sum())
    return h + (counts.size - 1) / (2.0 * c.size) if miller_madow else h


def joint_codes(a: Array, b: Array) -> Array:
    return np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)[1].reshape(-1)


def plugin(x: Array, y: Array, miller_madow: bool = True) -> float:
    """I(X;Y) = H(X) + H(Y) - H(X,Y) for integer codes x (n,), y (n,) (nats)."""
    return (entropy_codes(x, miller_madow) + entropy_codes(y, miller_madow)
            - entropy_codes(joint_codes(x, y), miller_madow))


# ---------------------------------------------------------------------------------- label-features

def _fit_classifier(xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, n_classes: int,
                    hidden: int, steps: int, seed: int) -> nn.Module:
    """Full-batch Adam on the training split with weight decay; the step with the best validation
    cross-entropy (checked every 25 steps) is kept."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        d = xt.shape[1]
        net = (nn.Linear(d, n_classes) if hidden == 0 else
               nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                             nn.Linear(hidden, n_classes)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2 if hidden == 0 else 3e-3, weight_decay=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    best, state = math.inf, None
    for step in range(steps):
        loss = loss_fn(net(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 24:
            with torch.no_grad():
                v = float(loss_fn(net(xv), yv))
            if v < best:
                best, state = v, {k: t.clone() for k, t in net.state_dict().items()}
    if state is not None:
        net.load_state_dict(state)
    return net


def classifier_bound(x: Array, y: Array, *, hidden: int = 64, steps: int = 600, seed: int = 0,
                     train_frac: float = 0.6, val_frac: float = 0.15) -> dict:
    """Bracket I(X;Y) for integer labels y (n,) and features x (n, d).

    Returns ``{"lower", "upper", "se", "n_test", "model"}``: ``lower`` = H(Y) - CE_test (a lower bound
    in expectation; ``se`` its standard error over test rows), ``upper`` = H(Y) (plug-in on all n, with
    Miller-Madow). ``model`` is "linear" or "mlp", whichever had the lower validation cross-entropy.
    """
    n = x.shape[0]
    n_classes = int(y.max()) + 1
    g = np.random.default_rng(seed)
    perm = g.permutation(n)
    n_tr, n_va = int(train_frac * n), int(val_frac * n)
    if min(n_tr, n_va, n - n_tr - n_va) < 50:
        raise ValueError(f"the classifier bound needs n >= ~300 samples for its three splits, got {n}")
    X = torch.as_tensor(standardize(x)[perm], dtype=torch.float32)
    Y = torch.as_tensor(y[perm], dtype=torch.long)
    tr, va, te = slice(0, n_tr), slice(n_tr, n_tr + n_va), slice(n_tr + n_va, n)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    best_v, best_net, best_name = math.inf, None, ""
    for name, h in (("linear", 0), ("mlp", hidden)):
        net = _fit_classifier(X[tr], Y[tr], X[va], Y[va], n_classes, h, steps, seed)
        with torch.no_grad():
            v = float(loss_fn(net(X[va]), Y[va]).mean())
        if v < best_v:
            best_v, best_net, best_name = v, net, name
    if best_net is None:  # every validation cross-entropy was NaN
        raise ValueError("classifier_bound: the validation cross-entropy is NaN for every classifier "
                         "(non-finite features?)")
    with torch.no_grad():
        ce = loss_fn(best_net(X[te]), Y[te]).double().numpy()
    # H(Y) on the test labels for the lower bound (same sample as the cross-entropy), on all n for the upper
    h_test = entropy_codes(y[perm][te])
    h_all = entropy_codes(y, miller_madow=True)
    return {"lower": h_test - float(ce.mean()), "upper": h_all, "se": float(ce.std(ddof=1) / math.sqrt(ce.size)),
            "n_test": int(ce.size), "model": best_name}


# ---------------------------------------------------------------------------- comparison-only

def _discrete_codes(a: Array, bins: int) -> Array:
    """Equal-width bins per column over the observed range; each row -> one joint code."""
    lo, hi = a.min(0), a.max(0)
    idx = np.clip(((a - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    return np.unique(idx, axis=0, return_inverse=True)[1].reshape(-1)


def binning(x: Array, y: Array, bins: int = 10) -> float:
    cx, cy = _discrete_codes(x, bins), _discrete_codes(y, bins)
    return plugin(cx, cy, miller_madow=False)


def _renyi_gram(a: Array, sigma: float) -> Array:
    sq = np.sum(a * a, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * a @ a.T, 0.0)
    K = np.exp(-d2 / (2 * sigma ** 2))
    return K / np.trace(K)


def _renyi_entropy(A: Array, alpha: float) -> float:
    w = np.clip(np.linalg.eigvalsh(A), 0.0, None)
    return float(np.log(np.sum(w ** alpha)) / (1.0 - alpha))


def renyi(x: Array, y: Array, alpha: float = 1.01, bandwidth: float = 1.0) -> float:
    """Giraldo et al. 2015: I_a = S_a(A) + S_a(B) - S_a(A o B / tr(A o B)), Gaussian kernels of width
    bandwidth * n^(-1/(4+d)) on standardized data (Silverman's rate)."""
    n = x.shape[0]
    A = _renyi_gram(standardize(x), bandwidth * n ** (-1.0 / (4 + x.shape[1])))
    B = _renyi_gram(standardize(y), bandwidth * n ** (-1.0 / (4 + y.shape[1])))
    AB = A * B
    return _renyi_entropy(A, alpha) + _renyi_entropy(B, alpha) - _renyi_entropy(AB / np.trace(AB), alpha)
