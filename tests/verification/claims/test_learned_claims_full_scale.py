"""The learned-model claims at the full scale (meant for a GPU) start and train their first items on CPU,
with local CIFAR-10 and text files written here and a few steps (--param overrides)."""
import pickle

import numpy as np
import pytest

from ibnorm_verify.verification.claims import cap_local_generalization_bound as bound
from ibnorm_verify.verification.claims import cap_training_statistics as stats
from ibnorm_verify.verification.claims import ib_empirical_performance as perf
from ibnorm_verify.verification.claims.base import Context

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]


@pytest.fixture(scope="module")
def local_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("full-data")
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 400), ("test_batch", 50)):
        with open(d / name, "wb") as fh:
            pickle.dump({b"labels": rng.integers(0, 10, n).tolist(),
                         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}, fh)
    text = d / "corpus.txt"
    text.write_text("It was the best of times, it was the worst of times. " * 1200, encoding="utf-8")
    return d, text


def _first_items(mod, overrides):
    params = mod.CLAIM.resolve_params("full", overrides)
    items = mod.CLAIM.items(Context(params=params, seeds=[0, 1, 2, 3, 4], scale="full"))
    return params, items


def test_full_defaults_need_the_local_data():
    for mod in (stats, perf):
        params = mod.CLAIM.resolve_params("full")
        with pytest.raises(ValueError, match="cifar10_dir|text_path"):
            mod.CLAIM.items(Context(params=params, seeds=[0], scale="full"))


def test_full_scale_trains_its_first_items_on_cpu(local_data):
    d, text = local_data
    _, items = _first_items(stats, {"cifar10_dir": str(d), "steps": 20, "n_train": 32})
    r = stats.worker(items[0])
    assert items[0].task == "cifar10" and items[0].width == 32 and len(r["var_endpoints"]) == 5
    _, items = _first_items(bound, {"steps": 3, "lip_inputs": 4, "mc_samples": 1})
    r = bound.worker(items[0])
    assert items[0].width == 128 and r["local_lower"] <= r["local_upper"]
    params, items = _first_items(perf, {"cifar10_dir": str(d), "text_path": str(text), "steps": 3, "n_train": 32})
    assert {it.task for it in items} == {"text", "cifar10"} and params["vision_arch"] == "resnet"
    assert len(items) == 2 * 2 * len(params["lr_grid"]) * 5 * 2 * len(params["lam_grid"])
    for task in ("text", "cifar10"):
        r = perf.worker(next(it for it in items if it.task == task))
        assert np.isfinite(r["test_loss"]) and r["task"] == task
