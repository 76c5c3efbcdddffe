"""The few-shot study's own validation set (flats_heels_val.csv) and its draws."""

import numpy as np
import pytest

from fmnist_core.data.fashion_mnist import load_fashion_mnist
from fmnist_core.studies import fewshot_data as fd


def test_validation_set_is_216_labelled_training_split_ankle_boots_in_the_documented_random_order():
    rows = fd.flats_heels_val_rows(labelled_only=False)
    (x_tr, y_tr), _ = load_fashion_mnist()
    boots = np.flatnonzero(y_tr == 9)
    order = [int(i) for i in np.random.default_rng(2026).permutation(boots) if i not in (646, 746)]
    assert [r["fmnist_index"] for r in rows] == order[:240]  # a random sample, every one viewed
    assert all(r["fmnist_split"] == "train" for r in rows)  # never the test split
    labels = [r["label"] for r in rows]
    assert (labels.count("flats"), labels.count("heels"), labels.count("ambiguous")) == (136, 80, 24)
    seed_indices = {r["fmnist_index"] for r in fd.flats_heels_rows() if r["fmnist_split"] == "train"}
    assert not seed_indices & {r["fmnist_index"] for r in rows}  # the seed's shots are not scored
    assert "by eye" in fd.FLATS_HEELS_VAL_CSV.with_name("flats_heels_val_README.md").read_text()


def test_validation_task_scores_the_seed_shots_on_all_216_and_draws_never_test_on_their_own_shots():
    data = fd.builtin("flats-heels-val")
    assert data.classes == ("flats", "heels") and np.bincount(data.y_test).tolist() == [136, 80]
    x, y, xt, yt = data.split(None, 0)
    np.testing.assert_array_equal(x, fd.flats_heels().x_pool)
    assert len(yt) == 216
    x, y, xt, yt = data.split(5, 3)
    assert np.bincount(y).tolist() == [5, 5] and len(yt) == 206
    shots = {a.tobytes() for a in x}
    assert not shots & {a.tobytes() for a in xt}
    np.testing.assert_array_equal(data.split(5, 3)[0], x)  # reproducible
    assert data.max_shots() == 79
    with pytest.raises(ValueError, match="at most 79"):
        data.split(80, 0)
