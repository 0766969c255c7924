"""Data for the training experiments: synthetic tasks with known structure, and loaders for real files.

* :func:`synthetic_images`: class templates plus nuisance (a random per-image gain, a heavy-tailed
  Student-t pixel noise and a random circular shift), so the Bayes-relevant signal (the template) is
  known and the nuisance is the part a normalizer should suppress.
* :class:`MarkovLanguage`: a random *sparse* first-order Markov chain over a small vocabulary. Its entropy
  rate ``H = -sum_i pi_i sum_j P_ij log P_ij`` (nats/token, ``pi`` the stationary law) is the optimal
  expected next-token loss of any model when sequences start from ``pi``; the oracle loss of the true
  chain on the very test tokens is also available (:meth:`MarkovLanguage.oracle_loss`).
* :func:`load_cifar10`: the CIFAR-10 "python version" batches (``data_batch_1..5``, ``test_batch``: pickled
  dicts with ``b"data"`` (N, 3072) uint8 and ``b"labels"``).
* :func:`load_text_corpus`: a plain UTF-8 text file, character-level tokens, cut into fixed-length windows.
* :func:`load_digits`: scikit-learn's bundled handwritten digits (1797 real 8x8 grayscale images, 10
  classes; Alpaydin & Kaynak 1998, UCI "optdigits"): ships inside scikit-learn, no download.
* :func:`image_task` / :func:`lm_task`: the train / validation / test splits of a named task, as the
  learned-model claims use them (the seed draws the training subset; validation and test are fixed).

All arrays are returned as torch tensors: images (N, C, H, W) float32, labels (N,) int64, token windows
(N, T) int64.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["ImageData", "synthetic_images", "MarkovLanguage", "load_cifar10", "TextCorpus", "load_text_corpus",
           "split", "load_digits", "with_label_noise", "image_task", "lm_task", "IMAGE_TASKS", "LM_TASKS", "LMTask"]


@dataclass
class ImageData:
    """A classification split: ``x`` (N, C, H, W) (or flattened (N, D)) float32, ``y`` (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int

    def __post_init__(self):
        if self.x.dim() < 2 or self.y.dim() != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"expected x (N, ...) and y (N,), got {tuple(self.x.shape)} and {tuple(self.y.shape)}")
        if self.x.shape[0] == 0:
            raise ValueError("empty data set")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, idx) -> "ImageData":
        return ImageData(self.x[idx], self.y[idx], self.num_classes)

    def to(self, device) -> "ImageData":
        """The same data on ``device`` (labels included)."""
        return ImageData(self.x.to(device), self.y.to(device), self.num_classes)

    def flat(self, dtype: torch.dtype | None = None) -> "ImageData":
        """The same data with images flattened to (N, C*H*W) (for MLPs), optionally cast."""
        x = self.x.reshape(self.x.shape[0], -1)
        return ImageData(x if dtype is None else x.to(dtype), self.y, self.num_classes)


def _check_pos_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def synthetic_images(n: int, *, num_classes: int = 4, channels: int = 3, size: int = 8, noise: float = 1.0,
                     noise_df: float = 3.0, gain_spread: float = 1.0, shift: int = 1, label_noise: float = 0.0,
                     task_seed: int = 0, seed: int = 0) -> ImageData:
    """``n`` images of ``num_classes`` classes: template[y] * gain + Student-t noise, randomly shifted.

    ``task_seed`` fixes the templates (the task); ``seed`` the sampled images (train/test use the same
    task seed and different sample seeds). ``gain`` is log-uniform in ``[e^-gain_spread, e^gain_spread]``
    (a nuisance scale that LN/IBNorm remove and BN does not), the noise is Student-t with ``noise_df``
    degrees of freedom scaled by ``noise`` (heavy tails: the nuisance IBNorm's compression targets), the
    shift is a circular roll by up to ``shift`` pixels. ``label_noise`` flips that fraction of labels to
    a uniformly random class (a knob for the generalization gap).
    """
    n, num_classes, channels, size = (_check_pos_int(k, v) for k, v in
                                      (("n", n), ("num_classes", num_classes), ("channels", channels), ("size", size)))
    for k, v in (("noise", noise), ("gain_spread", gain_spread), ("label_noise", label_noise)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{k} must be finite and >= 0, got {v!r}")
    if not noise_df > 0 or label_noise > 1:
        raise ValueError("noise_df must be > 0 and label_noise <= 1")
    trng = np.random.default_rng([task_seed, 7919])
    # smooth templates: low-frequency random fields, unit RMS
    base = trng.standard_normal((num_classes, channels, size, size))
    kernel = np.array([0.25, 0.5, 0.25])
    for ax in (2, 3):
        base = 0.5 * base + np.apply_along_axis(lambda v: np.convolve(np.r_[v[-1], v, v[0]], kernel, "valid"), ax,
                                                base)
    base /= np.sqrt((base ** 2).mean(axis=(1, 2, 3), keepdims=True))
    rng = np.random.default_rng([task_seed, seed, 104729])
    y = rng.integers(0, num_classes, n)
    gain = np.exp(rng.uniform(-gain_spread, gain_spread, (n, 1, 1, 1)))
    x = base[y] * gain + noise * rng.standard_t(noise_df, (n, channels, size, size))
    if shift > 0:
        s = rng.integers(-shift, shift + 1, (n, 2))
        x = np.stack([np.roll(xi, tuple(si), axis=(1, 2)) for xi, si in zip(x, s)])
    if label_noise > 0:
        flip = rng.random(n) < label_noise
        y = np.where(flip, rng.integers(0, num_classes, n), y)
    return ImageData(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64), num_classes)


class MarkovLanguage:
    """A random sparse first-order Markov chain: each state has ``branching`` successors with Dirichlet(``alpha``)
    probabilities (plus a ring edge i -> i+1 so the chain is irreducible and aperiodic-friendly).

    The known ground truth: :attr:`entropy_rate` (nats/token) = the minimal expected next-token
    cross-entropy when sequences start from the stationary law :attr:`pi`.
    """

    def __init__(self, vocab: int = 16, branching: int = 3, alpha: float = 1.0, seed: int = 0):
        self.vocab = _check_pos_int("vocab", vocab)
        branching = _check_pos_int("branching", branching)
        if branching > vocab or vocab < 2:
            raise ValueError(f"need 2 <= vocab and branching <= vocab, got vocab={vocab}, branching={branching}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        rng = np.random.default_rng([seed, 31337])
        P = np.zeros((vocab, vocab))
        for i in range(vocab):
            succ = set(rng.choice(vocab, size=branching, replace=False).tolist())
            succ.add((i + 1) % vocab)
            cols = sorted(succ)
            P[i, cols] = rng.dirichlet(np.full(len(cols), alpha))
        self.P = P  # (V, V), rows sum to 1
        w, v = np.linalg.eig(P.T)
        pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
        self.pi = pi / pi.sum()  # (V,)
        with np.errstate(divide="ignore", invalid="ignore"):
            logP = np.where(P > 0, np.log(np.where(P > 0, P, 1.0)), 0.0)
        self.row_entropy = -(P * logP).sum(axis=1)  # (V,)
        self.entropy_rate = float(self.pi @ self.row_entropy)

    def sample(self, n_seq: int, seq_len: int, seed: int = 0) -> torch.Tensor:
        """(n_seq, seq_len) int64 token ids; the first token ~ pi, then the chain."""
        n_seq, seq_len = _check_pos_int("n_seq", n_seq), _check_pos_int("seq_len", seq_len)
        rng = np.random.default_rng([seed, 65537])
        cum = np.cumsum(self.P, axis=1)
        out = np.empty((n_seq, seq_len), dtype=np.int64)
        out[:, 0] = rng.choice(self.vocab, size=n_seq, p=self.pi)
        u = rng.random((n_seq, seq_len))
        for t in range(1, seq_len):
            out[:, t] = np.minimum((u[:, t:t + 1] > cum[out[:, t - 1]]).sum(axis=1), self.vocab - 1)
        return torch.as_tensor(out)

    def oracle_loss(self, tokens: torch.Tensor) -> float:
        """Mean -log P(x_t | x_{t-1}) of the true chain over the next-token targets of ``tokens`` (N, T)."""
        t = np.asarray(tokens)
        if t.ndim != 2 or t.shape[1] < 2:
            raise ValueError(f"tokens must be (N, T) with T >= 2, got {t.shape}")
        return float(-np.log(self.P[t[:, :-1], t[:, 1:]]).mean())


def split(n: int, fractions: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
    """Random disjoint index sets of ``round(f*n)`` items for each fraction (they must sum to <= 1)."""
    if sum(fractions) > 1 + 1e-12 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be >= 0 and sum to <= 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for f in fractions:
        k = int(round(f * n))
        out.append(perm[start:start + k])
        start += k
    return out


# ----------------------------------------------------------------------------------- real files

def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        d = pickle.load(fh, encoding="bytes")
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a CIFAR-10 python batch (expected a pickled dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def load_cifar10(root: str | Path, *, train: bool = True, limit: int | None = None,
                 normalize: bool = True) -> ImageData:
    """Load the CIFAR-10 python batches from ``root`` (the ``cifar-10-batches-py`` folder).

    Train = ``data_batch_1`` .. ``data_batch_5`` (those present, at least one); test = ``test_batch``.
    Pixels are scaled to [0, 1] and, with ``normalize``, standardized per channel with the loaded
    split's statistics. Returns (N, 3, 32, 32) float32 images and (N,) labels.
    """
    root = Path(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    files = [root / nm for nm in names if (root / nm).exists()]
    if not files:
        raise FileNotFoundError(f"no CIFAR-10 python batches {names} in {root}")
    xs, ys = [], []
    for f in files:
        d = _unpickle(f)
        if "data" not in d or "labels" not in d:
            raise ValueError(f"{f}: missing 'data'/'labels' keys (found {sorted(d)})")
        data = np.asarray(d["data"])
        if data.ndim != 2 or data.shape[1] != 3072 or len(d["labels"]) != data.shape[0]:
            raise ValueError(f"{f}: data must be (N, 3072) with N labels, got {data.shape} and {len(d['labels'])}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d["labels"], dtype=np.int64))
    x = np.concatenate(xs).astype(np.float32) / 255.0
    y = np.concatenate(ys)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    if y.min() < 0 or y.max() > 9:
        raise ValueError("CIFAR-10 labels must lie in 0..9")
    if normalize:
        x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / (x.std(axis=(0, 2, 3), keepdims=True) + 1e-8)
    return ImageData(torch.as_tensor(x), torch.as_tensor(y), 10)


@dataclass
class TextCorpus:
    """Character-level corpus: ``tokens`` (M,) int64, ``vocab`` (index -> character)."""

    tokens: torch.Tensor
    vocab: list

    def windows(self, seq_len: int, stride: int | None = None) -> torch.Tensor:
        """(N, seq_len) non-overlapping (or ``stride``-spaced) windows of the token stream."""
        seq_len = _check_pos_int("seq_len", seq_len)
        stride = seq_len if stride is None else _check_pos_int("stride", stride)
        m = self.tokens.numel()
        if m < seq_len:
            raise ValueError(f"corpus has {m} tokens, fewer than seq_len={seq_len}")
        starts = torch.arange(0, m - seq_len + 1, stride)
        return torch.stack([self.tokens[s:s + seq_len] for s in starts.tolist()])


def load_text_corpus(path: str | Path, encoding: str = "utf-8") -> TextCorpus:
    """Read a plain-text file; characters become tokens (vocabulary sorted for determinism)."""
    text = Path(path).read_text(encoding=encoding)
    if not text:
        raise ValueError(f"{path}: empty text corpus")
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    return TextCorpus(torch.tensor([index[c] for c in text], dtype=torch.int64), vocab)


def load_digits() -> ImageData:
    """scikit-learn's bundled digits: (1797, 1, 8, 8) float32 pixels in [0, 1] (raw 0..16 / 16), 10 classes."""
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is a dependency of ibnorm-verify
        raise ImportError("the digits task needs scikit-learn (pip install scikit-learn)") from e
    d = _sk_load_digits()
    x = torch.as_tensor(np.asarray(d.data, dtype=np.float32).reshape(-1, 1, 8, 8) / 16.0)
    return ImageData(x, torch.as_tensor(np.asarray(d.target, dtype=np.int64)), 10)


def with_label_noise(data: ImageData, p: float, seed: int) -> ImageData:
    """``data`` with a fraction ``p`` of labels replaced by a uniformly random class (seeded)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"label noise must lie in [0, 1], got {p!r}")
    if p == 0:
        return data
    rng = np.random.default_rng(seed)
    y = data.y.numpy().copy()
    flip = rng.random(y.size) < p
    y[flip] = rng.integers(0, data.num_classes, int(flip.sum()))
    return ImageData(data.x, torch.as_tensor(y), data.num_classes)


#: image tasks: synthetic (templates + heavy-tailed nuisance, 3x8x8, 4 classes), digits (real, 1x8x8, 10
#: classes, scikit-learn), cifar10 (real, 3x32x32, 10 classes, from a local folder)
IMAGE_TASKS = ("synthetic", "digits", "cifar10")
LM_TASKS = ("markov", "text")


def _standardize(train: ImageData, *others: ImageData) -> list[ImageData]:
    """Standardize every split with the training split's per-channel mean and std."""
    dims = (0,) + tuple(range(2, train.x.dim()))
    mu = train.x.mean(dim=dims, keepdim=True)[0]
    sd = train.x.std(dim=dims, keepdim=True)[0].clamp_min(1e-6)
    return [ImageData((d.x - mu) / sd, d.y, d.num_classes) for d in (train, *others)]


def image_task(name: str, n_train: int, seed: int, *, n_val: int = 256, n_test: int = 512,
               label_noise: float = 0.0, image_size: int = 8, cifar10_dir: str | Path = "",
               task_seed: int = 0) -> tuple[ImageData, ImageData, ImageData]:
    """(train, val, test) of an image task; ``seed`` draws the training subset (and its label noise).

    ``digits``: a fixed permutation (``task_seed``) sets aside ``n_test`` test and ``n_val`` validation
    images; the ``n_train`` training images are drawn from the remaining pool (at most 1797 - n_val -
    n_test). ``cifar10``: the training subset is drawn from the 50000 training images, validation is a
    fixed subset of them disjoint from every training draw, test is ``test_batch``. ``synthetic``: see
    :func:`synthetic_images`. Pixels are standardized per channel with the training split's statistics;
    label noise applies to the training split only.
    """
    n_train = _check_pos_int("n_train", n_train)
    if name == "synthetic":
        tr_data = synthetic_images(n_train, size=image_size, task_seed=task_seed, seed=seed)
        va_data = synthetic_images(n_val, size=image_size, task_seed=task_seed, seed=2 ** 31 - 1)
        te_data = synthetic_images(n_test, size=image_size, task_seed=task_seed, seed=2 ** 31 - 2)
        return with_label_noise(tr_data, label_noise, seed + 1), va_data, te_data
    if name == "digits":
        full = load_digits()
        perm = np.random.default_rng([task_seed, 1797]).permutation(len(full))
        te, va, pool = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
        if n_train > pool.size:
            raise ValueError(f"digits: n_train={n_train} exceeds the {pool.size} images left after n_val={n_val} "
                             f"and n_test={n_test}")
        tr = np.sort(np.random.default_rng(seed).choice(pool, n_train, replace=False))
        train, val, test = _standardize(full.subset(torch.as_tensor(tr)), full.subset(torch.as_tensor(va)),
                                        full.subset(torch.as_tensor(te)))
        return with_label_noise(train, label_noise, seed + 1), val, test
    if name == "cifar10":
        if not str(cifar10_dir):
            raise ValueError("the cifar10 task needs the path of the cifar-10-batches-py folder (cifar10_dir)")
        full = load_cifar10(cifar10_dir, train=True, normalize=False)
        test = load_cifar10(cifar10_dir, train=False, normalize=False)
        perm = np.random.default_rng([task_seed, 50000]).permutation(len(full))
        va, pool = perm[:n_val], perm[n_val:]
        if n_train > pool.size:
            raise ValueError(f"cifar10: n_train={n_train} exceeds the {pool.size} training images left")
        tr = np.sort(np.random.default_rng(seed).choice(pool, n_train, replace=False))
        test = test.subset(torch.arange(min(n_test, len(test))))
        train, val, test = _standardize(full.subset(torch.as_tensor(tr)), full.subset(torch.as_tensor(va)), test)
        return with_label_noise(train, label_noise, seed + 1), val, test
    raise ValueError(f"unknown image task {name!r}; known: {IMAGE_TASKS}")


@dataclass
class LMTask:
    """(train, val, test) token windows (N, T) int64 of a language task, its vocabulary size and, for the
    Markov language, the oracle loss on the test tokens and the entropy rate (nats/token); NaN otherwise."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    vocab: int
    oracle: float = math.nan
    entropy_rate: float = math.nan


def lm_task(name: str, n_train: int, seq_len: int, seed: int, *, n_val: int = 256, n_test: int = 512,
            vocab: int = 16, branching: int = 3, text_path: str | Path = "", task_seed: int = 0) -> LMTask:
    """The splits of a language task with windows of ``seq_len + 1`` tokens (inputs and next-token targets).

    ``markov``: a :class:`MarkovLanguage` (``task_seed``) with its oracle loss. ``text``: a character-level
    corpus from ``text_path``; its non-overlapping windows are split by a fixed permutation into test,
    validation and a pool from which ``seed`` draws the training windows.
    """
    T = _check_pos_int("seq_len", seq_len) + 1
    if name == "markov":
        lang = MarkovLanguage(vocab, branching, seed=task_seed)
        tr_tok = lang.sample(n_train, T, seed=seed)
        va_tok, te_tok = lang.sample(n_val, T, seed=2 ** 31 - 1), lang.sample(n_test, T, seed=2 ** 31 - 2)
        return LMTask(tr_tok, va_tok, te_tok, vocab, lang.oracle_loss(te_tok), lang.entropy_rate)
    if name == "text":
        if not str(text_path):
            raise ValueError("the text task needs the path of a UTF-8 text file (text_path)")
        corpus = load_text_corpus(text_path)
        w = corpus.windows(T)
        perm = np.random.default_rng([task_seed, w.shape[0]]).permutation(w.shape[0])
        te, va, pool = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
        if pool.size < 1 or te.size < 1 or va.size < 1:
            raise ValueError(f"text: {w.shape[0]} windows of {T} characters are too few for n_val={n_val}, "
                             f"n_test={n_test} and a training pool")
        tr = np.sort(np.random.default_rng(seed).choice(pool, min(n_train, pool.size), replace=False))
        return LMTask(w[torch.as_tensor(tr)], w[torch.as_tensor(va)], w[torch.as_tensor(te)], len(corpus.vocab))
    raise ValueError(f"unknown language task {name!r}; known: {LM_TASKS}")
