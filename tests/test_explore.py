"""fmnist_core.insight.explore: browsing, class counts, mean/std images, histograms, embeddings.

Numbers are checked against what can be counted by hand on the real data set, and the
module must not import TensorFlow (the Dataset page relies on that for its start-up time).
"""

import subprocess
import sys

import numpy as np
import pytest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.insight import explore


@pytest.fixture(scope="module")
def test_set():
    return explore.split_arrays("test")


def test_class_counts_match_the_published_split_sizes():
    counts = explore.class_counts()
    assert counts["test"] == [1000] * 10  # Fashion-MNIST is balanced
    assert counts["train"] == [5400] * 10  # 90% of 6,000 per class, stratified
    assert counts["validation"] == [600] * 10


def test_test_split_is_the_official_test_set_read_alone(test_set):
    x, y = test_set
    (_, _), (xt, yt) = data.load_fashion_mnist()
    assert np.array_equal(x, xt) and np.array_equal(y, yt)
    assert x.shape == (10000, 28, 28) and not x.flags.writeable


def test_splits_are_the_training_split_and_cached_read_only():
    xtr, ytr = explore.split_arrays("train")
    (xt2, yt2), _ = data.train_val_split(0.1, 42)
    assert np.array_equal(ytr, yt2) and np.array_equal(xtr[:50], xt2[:50])
    assert explore.split_arrays("train")[0] is xtr  # cached: no second split
    assert not xtr.flags.writeable
    with pytest.raises(ValueError, match="split"):
        explore.split_arrays("training")


def test_browse_random_and_next(test_set):
    _, y = test_set
    idx = explore.browse(y, 3, 16, mode="random", seed=5)
    assert len(idx) == 16 and len(set(idx.tolist())) == 16 and (y[idx] == 3).all()
    assert np.array_equal(idx, explore.browse(y, 3, 16, mode="random", seed=5))  # seeded
    first = explore.browse(y, 3, 8, mode="next", start=0)
    assert np.array_equal(first, np.flatnonzero(y == 3)[:8])
    wrapped = explore.browse(y, 3, 8, mode="next", start=996)  # 1000 per class
    assert np.array_equal(wrapped, np.flatnonzero(y == 3)[[996, 997, 998, 999, 0, 1, 2, 3]])
    assert len(explore.browse(y, None, 12, mode="random")) == 12
    with pytest.raises(ValueError):
        explore.browse(y, 10, 8)
    with pytest.raises(ValueError):
        explore.browse(y, 1, 8, mode="sideways")


def test_mean_and_std_images_by_hand(test_set):
    x, y = test_set
    means, stds = explore.mean_std_images(x, y)
    assert means.shape == stds.shape == (10, 28, 28)
    trousers = x[y == 1].astype(np.float64)
    np.testing.assert_allclose(means[1], trousers.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stds[1], trousers.std(axis=0), rtol=1e-4)
    # Trousers have two legs: the centre column at the bottom is darker than the legs on average.
    assert means[1][24, 13:15].mean() < means[1][24, 9:11].mean()


def test_intensity_histograms(test_set):
    x, y = test_set
    h = explore.intensity_histograms(x, y, bins=16, skip_background=True)
    assert h["edges"].shape == (17,) and h["density"].shape == (10, 16)
    np.testing.assert_allclose(h["density"].sum(axis=1), 1.0)
    assert h["background_share"][0] == pytest.approx(np.mean(x[y == 0] == 0))
    full = explore.intensity_histograms(x, y, bins=16, skip_background=False)
    # With the background counted, the first bin (0-16) holds at least the zero pixels.
    assert (full["density"][:, 0] >= full["background_share"] - 1e-12).all()


def test_pca_embedding_is_stratified_and_explains_variance(test_set):
    x, y = test_set
    e = explore.embedding(x, y, "pca", n=1000)
    assert e["coords"].shape == (1000, 2) and e["index"].shape == (1000,)
    assert np.bincount(e["label"], minlength=10).tolist() == [100] * 10
    assert np.array_equal(e["label"], y[e["index"]])
    assert 0.2 < e["explained"][0] < 0.5 and e["explained"][0] >= e["explained"][1]
    # Trousers (1) and bags (8) sit apart on the first two components.
    c1, c8 = e["coords"][e["label"] == 1].mean(0), e["coords"][e["label"] == 8].mean(0)
    assert np.linalg.norm(c1 - c8) > 2.0


def test_tsne_embedding_small_and_capped(test_set):
    x, y = test_set
    e = explore.embedding(x, y, "tsne", n=250)
    assert e["coords"].shape == (250, 2) and e["explained"] is None
    # t-SNE keeps neighbours: most points' nearest neighbour in 2-D has the same class.
    d = ((e["coords"][:, None] - e["coords"][None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (e["label"][d.argmin(1)] == e["label"]).mean() > 0.6
    with pytest.raises(ValueError):
        explore.embedding(x, y, "umap")


def test_explore_does_not_import_tensorflow():
    code = (
        "import sys; from fmnist_core.insight import explore; x, y = explore.split_arrays('test'); "
        "explore.embedding(x, y, 'pca', 200); explore.class_counts(); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
