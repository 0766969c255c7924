"""Data: synthetic tasks with known structure, and the real-file loaders on files written here."""
import math
import pickle

import numpy as np
import pytest
import torch

from ibnorm_verify.verification.training.data import (
    ImageData,
    MarkovLanguage,
    image_task,
    lm_task,
    load_cifar10,
    load_digits,
    load_text_corpus,
    split,
    synthetic_images,
    with_label_noise,
)


def test_synthetic_images_deterministic_and_shaped():
    a = synthetic_images(20, num_classes=3, channels=2, size=6, seed=1)
    b = synthetic_images(20, num_classes=3, channels=2, size=6, seed=1)
    c = synthetic_images(20, num_classes=3, channels=2, size=6, seed=2)
    assert a.x.shape == (20, 2, 6, 6) and a.y.dtype == torch.int64 and a.num_classes == 3
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    assert a.flat().x.shape == (20, 72)


def test_synthetic_images_label_noise_flips_some_labels():
    clean = synthetic_images(400, seed=3)
    noisy = synthetic_images(400, seed=3, label_noise=0.5)
    frac = float((clean.y != noisy.y).float().mean())
    assert 0.2 < frac < 0.55  # half are redrawn uniformly over 4 classes: 3/8 expected


@pytest.mark.parametrize("kw", [dict(n=0), dict(n=5, noise=-1.0), dict(n=5, label_noise=2.0), dict(n=5, size=0)])
def test_synthetic_images_bad_input(kw):
    with pytest.raises(ValueError):
        synthetic_images(**kw)


def test_markov_language_entropy_rate_is_the_oracle_loss():
    lang = MarkovLanguage(vocab=12, branching=3, seed=4)
    assert np.allclose(lang.P.sum(axis=1), 1.0)
    assert np.allclose(lang.pi @ lang.P, lang.pi, atol=1e-10) and abs(lang.pi.sum() - 1) < 1e-12
    assert 0 < lang.entropy_rate < math.log(12)
    tok = lang.sample(400, 200, seed=0)
    assert tok.shape == (400, 200) and tok.dtype == torch.int64 and int(tok.max()) < 12
    # the true chain's mean next-token loss on a long sample converges to the entropy rate
    assert abs(lang.oracle_loss(tok) - lang.entropy_rate) < 0.02
    # and every sampled transition has positive probability
    assert (lang.P[tok[:, :-1].numpy(), tok[:, 1:].numpy()] > 0).all()


def test_markov_language_bad_input():
    with pytest.raises(ValueError):
        MarkovLanguage(vocab=4, branching=5)
    with pytest.raises(ValueError):
        MarkovLanguage(vocab=4, alpha=0.0)
    with pytest.raises(ValueError):
        MarkovLanguage(vocab=4).oracle_loss(torch.zeros(3, 1, dtype=torch.int64))


def _write_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"x", b"labels": rng.integers(0, 10, n).tolist(),
         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"f"] * n}
    with open(path, "wb") as fh:
        pickle.dump(d, fh)
    return d


def test_load_cifar10_python_batches(tmp_path):
    d1 = _write_batch(tmp_path / "data_batch_1", 5, 0)
    _write_batch(tmp_path / "data_batch_2", 3, 1)
    dt = _write_batch(tmp_path / "test_batch", 4, 2)
    tr = load_cifar10(tmp_path, train=True, normalize=False)
    te = load_cifar10(tmp_path, train=False, normalize=False)
    assert tr.x.shape == (8, 3, 32, 32) and te.x.shape == (4, 3, 32, 32) and tr.num_classes == 10
    assert tr.y[:5].tolist() == d1[b"labels"] and te.y.tolist() == dt[b"labels"]
    # row-major CIFAR layout: the first 1024 bytes are the red plane
    assert torch.allclose(tr.x[0, 0].reshape(-1), torch.as_tensor(d1[b"data"][0, :1024] / 255.0, dtype=torch.float32))
    z = load_cifar10(tmp_path, train=True)
    assert torch.allclose(z.x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert load_cifar10(tmp_path, limit=2).x.shape[0] == 2


def test_load_cifar10_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_cifar10(tmp_path)
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError):
        load_cifar10(tmp_path, train=False)


def test_load_text_corpus(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text("abcabcabd\n", encoding="utf-8")
    c = load_text_corpus(f)
    assert c.vocab == ["\n", "a", "b", "c", "d"]
    assert "".join(c.vocab[i] for i in c.tokens.tolist()) == "abcabcabd\n"
    w = c.windows(4)
    assert w.shape == (2, 4) and w.dtype == torch.int64
    assert c.windows(4, stride=2).shape == (4, 4)
    with pytest.raises(ValueError):
        c.windows(20)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError):
        load_text_corpus(tmp_path / "empty.txt")


def test_split_and_imagedata_validation():
    a, b = split(10, (0.5, 0.3), seed=0)
    assert len(a) == 5 and len(b) == 3 and not set(a) & set(b)
    with pytest.raises(ValueError):
        split(10, (0.7, 0.7))
    with pytest.raises(ValueError):
        ImageData(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64), 2)


def test_load_digits_is_the_real_bundled_data():
    d = load_digits()
    assert d.x.shape == (1797, 1, 8, 8) and d.num_classes == 10 and float(d.x.max()) == 1.0
    assert sorted(set(d.y.tolist())) == list(range(10))


def test_image_task_digits_splits():
    tr, va, te = image_task("digits", 300, seed=1, n_val=100, n_test=200)
    tr2, va2, te2 = image_task("digits", 300, seed=2, n_val=100, n_test=200)
    assert tr.x.shape == (300, 1, 8, 8) and va.x.shape[0] == 100 and te.x.shape[0] == 200
    assert torch.equal(te.y, te2.y) and not torch.equal(tr.x, tr2.x)       # fixed test set, seeded training draw
    assert abs(float(tr.x.mean())) < 1e-5 and abs(float(tr.x.std()) - 1) < 1e-2
    raw = load_digits()
    rows = {tuple(r.tolist()) for r in raw.x.reshape(1797, -1)}
    assert len(rows) > 1700
    with pytest.raises(ValueError, match="exceeds"):
        image_task("digits", 1700, seed=0)
    with pytest.raises(ValueError, match="unknown image task"):
        image_task("mnist", 10, seed=0)


def test_label_noise_on_training_split_only():
    tr, _, te = image_task("digits", 400, seed=0, label_noise=0.5)
    clean, _, te0 = image_task("digits", 400, seed=0)
    assert torch.equal(te.y, te0.y) and 0.3 < float((tr.y != clean.y).float().mean()) < 0.6
    with pytest.raises(ValueError):
        with_label_noise(clean, 1.5, 0)


def test_image_task_cifar10_from_a_local_folder(tmp_path):
    _write_batch(tmp_path / "data_batch_1", 40, 0)
    _write_batch(tmp_path / "test_batch", 10, 2)
    tr, va, te = image_task("cifar10", 20, seed=0, n_val=8, n_test=6, cifar10_dir=tmp_path)
    assert tr.x.shape == (20, 3, 32, 32) and va.x.shape[0] == 8 and te.x.shape[0] == 6
    with pytest.raises(ValueError, match="cifar10_dir"):
        image_task("cifar10", 20, seed=0)


def test_lm_tasks(tmp_path):
    m = lm_task("markov", 16, 8, seed=0, n_val=4, n_test=5, vocab=6, branching=2)
    assert m.train.shape == (16, 9) and m.test.shape == (5, 9) and m.vocab == 6 and m.oracle > 0
    f = tmp_path / "corpus.txt"
    f.write_text("the quick brown fox jumps over the lazy dog. " * 20, encoding="utf-8")
    t = lm_task("text", 10, 7, seed=0, n_val=5, n_test=5, text_path=f)
    assert t.train.shape == (10, 8) and t.val.shape == (5, 8) and t.vocab == len(set(f.read_text())) and math.isnan(t.oracle)
    with pytest.raises(ValueError, match="text_path"):
        lm_task("text", 10, 7, seed=0)
    with pytest.raises(ValueError, match="too few"):
        lm_task("text", 10, 400, seed=0, text_path=f)
