"""Label spreading over unlabelled images (fmnist_core.studies.fewshot_spread) and the spread method."""

import numpy as np
import pytest

from fmnist_core.studies import fewshot as fs
from fmnist_core.studies import fewshot_data as fd
from fmnist_core.studies import fewshot_eval as fe
from fmnist_core.studies import fewshot_spread as sp
from shared_models import require_shipped


def test_symmetric_knn_kernel_links_both_ways_and_answers_new_points_by_k_neighbours():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
    kernel = sp.SymmetricKNN(4)
    W = kernel(X, X).toarray()
    np.testing.assert_array_equal(W, W.T)
    assert np.all(np.diag(W) == 0) and np.all(W.sum(axis=1) >= 4)
    V = kernel(X, Y).toarray()
    assert V.shape == (50, 7) and np.all(V.sum(axis=0) == 4)


def test_two_shots_label_two_unequal_clusters_and_every_class_keeps_its_mass():
    rng = np.random.default_rng(1)
    big, small = rng.normal(0, 1, size=(300, 2)), rng.normal(12, 1, size=(40, 2))
    X = np.concatenate([big, small])
    labels = np.full(len(X), -1)
    labels[0], labels[300] = 0, 1
    ls, mass, dist = sp.spread_features(X, labels, 2, n_neighbors=8)
    pred = dist.argmax(axis=1)
    assert np.all(pred[:300] == 0) and np.all(pred[300:] == 1)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    assert mass.shape == (2,) and mass[0] > mass[1]  # raw mass follows cluster size; CMN divides it out


@pytest.fixture(scope="module")
def shipped_home(tmp_path_factory):
    require_shipped("fmnist_cnn")
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("home")
        mp.setenv("FMNIST_HOME", str(home))
        yield home


def test_spread_uses_the_unlabelled_boots_says_so_and_answers_new_images(shipped_home):
    data = fd.flats_heels()
    fitted = fs.fit("spread", None, data.x_pool, data.y_pool, data.classes, x_unlabelled=data.x_test)
    assert fitted.unlabelled.startswith("6,000 unlabelled Fashion-MNIST training-split images (Ankle boot)")
    assert "20 test images (their labels unused)" in fitted.unlabelled
    assert list((shipped_home / "cache").glob("fewshot_pool_*.npz"))  # the pool's embedding is stored
    p = fitted.predict_proba(data.x_test)
    assert p.shape == (20, 2) and np.allclose(p.sum(axis=1), 1)
    # A new image (not in the graph: shifted by one pixel) is answered through its nearest graph points.
    moved = np.roll(data.x_test[:3], 1, axis=2)
    q = fitted.predict_proba(moved)
    assert q.shape == (3, 2) and np.allclose(q.sum(axis=1), 1)
    assert (q.argmax(1) == p[:3].argmax(1)).mean() >= 2 / 3
    with pytest.raises(ValueError, match="not a Keras model"):
        fitted.keras_model()


def test_default_method_holds_on_the_validation_set_with_the_seed_shots(shipped_home):
    """The issue's bar: >= 92% on the study's 216 validation boots from the seed's two shots."""
    res = fe.run_fewshot("flats-heels-val", seeds=1)
    assert res["method"] == fs.DEFAULT_METHOD == "spread" and res["n_test"] == 216
    assert res["accuracy"] >= 0.92, res["confusion_matrix"]
    lo, hi = res["interval"]
    assert lo < res["accuracy"] < hi and res["correct"][0] == round(216 * res["accuracy"])
    assert res["warning"] is None


def test_one_odd_shot_does_not_bring_a_second_class_into_the_pool(shipped_home):
    """5 flats + 5 heels (validation set, draw 0): one heeled boot reads as a Sneaker. Taking every
    shot's class put 6,000 sneakers in the graph and the draw fell to 54.9% (RESULTS.md); the pool
    is now each user class's main kind: Ankle boot only."""
    from fmnist_core.modeling.inference import predict_images

    xtr, ytr, xte, yte = fd.builtin("flats-heels-val").split(5, 0)
    assert sorted({int(c) for c in predict_images("fmnist_cnn", xtr).argmax(axis=1)}) == [7, 9]
    assert sp.pool_classes(xtr, ytr) == [9]
    fitted, text = sp.spread(xtr, ytr, xte, 2)
    assert "(Ankle boot)" in text
    assert (fitted.predict_proba(xte).argmax(axis=1) == yte).mean() >= 0.88  # 91.3% measured
