"""Neural variational MI estimators: one separable critic, four bounds, validation-split early stopping.

A critic f(x, y) = g(x) . h(y) / sqrt(k) with g, h small MLPs plus a linear skip (a "separable" critic,
Poole et al. 2019, "On variational bounds of mutual information"). Separable critics fit every task of
the "Beyond Normal" benchmark well (each of its transforms acts on X and on Y separately, so the true
log density ratio is an inner product of embeddings of x and of y) and score all n^2 pairs of a batch
with one matrix product, so every bound is evaluated on all pairs of the held-out split.

Bounds (``objective``), all lower bounds on I(X;Y) in expectation for a fixed critic:

* ``"infonce"`` (van den Oord et al. 2018), symmetrized over rows and columns: low variance, but it
  **can never exceed log(B)** for B scored samples (B = the held-out split at evaluation, ``batch``
  during training); the estimator raises when the estimate comes within 1 nat of that cap.
* ``"nwj"`` (Nguyen, Wainwright & Jordan 2010): E_p[f] - e^{-1} E_q[e^f]; unbiased, variance ~ e^I.
* ``"dv"`` (Donsker-Varadhan / MINE, Belghazi et al. 2018): E_p[f] - log E_q[e^f], trained with MINE's
  moving-average correction of the biased gradient of the log term.
* ``"smile"`` (Song & Ermon 2020): DV with the critic clipped to [-tau, tau] inside the partition
  term (variance control; tau = 5).

Training (the smile-mi / bmi recipe plus early stopping): Adam on the training split (``train_frac``),
the bound on all pairs of a validation split checked every ``eval_every`` steps, the best critic kept,
stop after ``patience`` checks without improvement; the reported value is the bound on the untouched
test split, with its standard error over test rows. Inputs are rank-transformed to normal scores first
(``copula=True``; MI is invariant to the marginal maps, and it tames heavy tails).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

Objective = Literal["infonce", "nwj", "dv", "smile"]
OBJECTIVES: tuple[str, ...] = ("infonce", "nwj", "dv", "smile")
SMILE_TAU = 5.0
Array = np.ndarray


class SeparableCritic(nn.Module):
    """f(x, y) = g(x) . h(y) / sqrt(k) + a(x) + b(y); [g, a] and [h, b] = linear skip + 2-hidden-layer MLP
    (dx -> k + 1, dy -> k + 1). The embeddings g (n, k), h (n, k) are the critic's bottleneck: for a critic
    equal to the log density ratio they are sufficient statistics, I(g(X); h(Y)) = I(X; Y)."""

    def __init__(self, dx: int, dy: int, hidden: int = 64, embed: int = 32):
        super().__init__()
        self.k = embed
        self.g, self.h = (self._embedding(d, hidden, embed + 1) for d in (dx, dy))
        self.g_skip, self.h_skip = nn.Linear(dx, embed + 1), nn.Linear(dy, embed + 1)
        self.scale = 1.0 / math.sqrt(embed)

    def embed_x(self, x: torch.Tensor) -> torch.Tensor:
        return (self.g(x) + self.g_skip(x))[:, :self.k]

    def embed_y(self, y: torch.Tensor) -> torch.Tensor:
        return (self.h(y) + self.h_skip(y))[:, :self.k]

    @staticmethod
    def _embedding(d: int, hidden: int, embed: int) -> nn.Module:
        return nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                             nn.Linear(hidden, embed))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (B, dx), y (B', dy) -> scores (B, B') with scores[i, j] = f(x_i, y_j)."""
        gx = self.g(x) + self.g_skip(x)
        hy = self.h(y) + self.h_skip(y)
        k = self.k
        return gx[:, :k] @ hy[:, :k].T * self.scale + gx[:, k:] + hy[:, k:].T


def _offdiag_logmeanexp(scores: torch.Tensor) -> torch.Tensor:
    """log of the mean of exp over the off-diagonal entries (the product-of-marginals pairs)."""
    B = scores.shape[0]
    masked = scores.masked_fill(torch.eye(B, dtype=torch.bool), float("-inf"))
    return torch.logsumexp(masked.reshape(-1), 0) - math.log(B * (B - 1))


def bound_terms(scores: torch.Tensor, objective: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(value, per-row contributions) of a bound from a (B, B) score matrix with positives on the diagonal.

    The per-row contributions (B,) have the bound's value as their mean up to the partition term, which
    is shared by all rows; their spread gives the standard error over rows.
    """
    B = scores.shape[0]
    diag = torch.diagonal(scores)
    if objective == "infonce":
        rows = diag - torch.logsumexp(scores, 1) + math.log(B)
        cols = diag - torch.logsumexp(scores, 0) + math.log(B)
        per = 0.5 * (rows + cols)
        return per.mean(), per
    if objective == "nwj":
        off = scores.masked_select(~torch.eye(B, dtype=torch.bool)).reshape(B, B - 1)
        per = diag - torch.exp(off - 1.0).mean(1)
        return per.mean(), per
    if objective in ("dv", "smile"):
        s = scores.clamp(-SMILE_TAU, SMILE_TAU) if objective == "smile" else scores
        return diag.mean() - _offdiag_logmeanexp(s), diag
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def _dv_loss_with_ema(scores: torch.Tensor, ema: list[float], rate: float = 0.01) -> torch.Tensor:
    """MINE's bias-corrected DV gradient: the gradient of log E_q[e^f] is E_q[grad e^f] / E_q[e^f]; the
    denominator is replaced by its moving average (Belghazi et al. 2018, section 3.2)."""
    B = scores.shape[0]
    off = scores.masked_select(~torch.eye(B, dtype=torch.bool))
    m = torch.exp(torch.logsumexp(off, 0) - math.log(off.numel()))
    ema[0] = m.item() if ema[0] <= 0 else (1 - rate) * ema[0] + rate * m.item()
    return -(torch.diagonal(scores).mean() - m / ema[0])


def neural_mi(x: Array, y: Array, objective: str = "infonce", *, steps: int = 1000, batch: int = 256,
              hidden: int = 64, embed: int = 32, lr: float = 2e-3, weight_decay: float = 0.0,
              train_frac: float = 0.5, val_frac: float = 0.2, eval_every: int = 50, patience: int = 5,
              seed: int = 0) -> dict:
    """Train a separable critic with ``objective`` and return the held-out bound.

    x: (n, dx), y: (n, dy), already preprocessed (normal scores). Returns ``{"value", "se", "steps",
    "best_val", "n_test", "cap"}`` (``cap`` = log(n_test) for InfoNCE, else ``inf``).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    n = x.shape[0]
    n_train, n_val = int(train_frac * n), int(val_frac * n)
    n_test = n - n_train - n_val
    if min(n_train, n_val, n_test) < 64 or n_train < batch:
        raise ValueError(f"neural estimators need n large enough for train/val/test splits of at least "
                         f"64 samples and a training split >= batch={batch}; got n={n}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    X = torch.as_tensor(x, dtype=torch.float32)[perm]
    Y = torch.as_tensor(y, dtype=torch.float32)[perm]
    tr, va, te = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = SeparableCritic(x.shape[1], y.shape[1], hidden, embed)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, weight_decay=weight_decay)
    ema = [0.0]

    def held_out(sl: slice) -> tuple[float, Array]:
        with torch.no_grad():
            v, per = bound_terms(critic(X[sl], Y[sl]), objective)
        return float(v), per.numpy()

    best, best_state, since, step = -math.inf, None, 0, 0
    for step in range(1, steps + 1):
        idx = torch.randint(0, n_train, (batch,), generator=g)
        scores = critic(X[tr][idx], Y[tr][idx])
        if objective == "dv":
            loss = _dv_loss_with_ema(scores, ema)
        else:
            loss = -bound_terms(scores, objective)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % eval_every == 0:
            v, _ = held_out(va)
            if v > best:
                best, since = v, 0
                best_state = {k: t.clone() for k, t in critic.state_dict().items()}
            else:
                since += 1
                if since >= patience:
                    break
    if best_state is not None:
        critic.load_state_dict(best_state)
    value, per = held_out(te)
    se = float(per.std(ddof=1) / math.sqrt(per.size))
    cap = math.log(n_test) if objective == "infonce" else math.inf
    with torch.no_grad():
        ex, ey = critic.embed_x(X[te]).double().numpy(), critic.embed_y(Y[te]).double().numpy()
    return {"value": value, "se": se, "steps": step, "best_val": best, "n_test": n_test, "cap": cap,
            "embed_x": ex, "embed_y": ey}


def bottleneck_embeddings(x: Array, y: Array, *, embed: int = 2, seed: int = 0, **settings) -> dict:
    """Train an InfoNCE separable critic with a ``embed``-dimensional bottleneck and return the held-out
    embeddings g(x_test) (n_test, embed), h(y_test) (n_test, embed) with the training record.

    By data processing I(g(X); h(Y)) <= I(X; Y), with equality when the critic's bottleneck holds
    sufficient statistics (the log density ratio is g(x).h(y) + a(x) + b(y) with the true embeddings:
    true of every "Beyond Normal" task with at most ``embed`` informative directions, and of the
    multivariate t, whose dependence runs through |x| and |y| alone). The embeddings' MI is then a
    low-dimensional problem for KSG (:func:`~.knn.ksg`): the "latent MI" idea of Gowri et al. 2024 with a
    contrastive instead of an autoencoding embedding.
    """
    return neural_mi(x, y, "infonce", embed=embed, seed=seed, **settings)
