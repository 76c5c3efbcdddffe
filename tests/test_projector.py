"""The learned-feature projector: penultimate features checked against the output layer by hand,
stratified sampling, PCA / t-SNE / UMAP maps that keep classes together, and the disk cache."""

import sys

import numpy as np
import pytest

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.insight import projector
from fmnist_core.modeling.inference import get_model, predict_images
from shared_models import shipped_model


def _knn_agreement(coords, labels):
    """Share of points whose nearest other point (in 2-D) has the same label."""
    d = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def test_stratified_sample_keeps_the_class_shares():
    y = np.repeat(np.arange(10), 1000)
    idx = projector.sample_indices(y, 500)
    assert len(idx) == 500 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [50] * 10
    assert len(projector.sample_indices(y[:30], 500)) == 30


def test_features_are_what_the_output_layer_reads():
    model, meta = get_model(shipped_model("fmnist_cnn"))
    x = fdata.load_fashion_mnist()[1][0][:64]
    feats, probs = projector.penultimate_features(model, meta, x)
    assert feats.shape == (64, 128)
    w, b = model.get_layer("output").get_weights()
    logits = feats.astype(np.float64) @ w + b
    by_hand = np.exp(logits - logits.max(1, keepdims=True))
    by_hand /= by_hand.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, by_hand, atol=1e-5)
    np.testing.assert_allclose(probs, predict_images("fmnist_cnn", x), atol=1e-5)


def test_pca_projection_is_cached_and_reopened(fmnist_home):
    name = shipped_model("fmnist_cnn")
    first = projector.projection(name, "test", 500, "pca")
    assert not first["cached"] and first["coords"].shape == (500, 2) and first["dims"] == 128
    assert 0 < sum(first["explained"]) <= 1
    _, y = fdata.load_fashion_mnist()[1]
    assert np.bincount(y[first["index"]]).tolist() == [50] * 10
    again = projector.projection(name, "test", 500, "pca")
    assert again["cached"] and np.array_equal(again["coords"], first["coords"])
    assert len(list((fmnist_home / "cache" / "projector").glob("*.npz"))) == 1
    with pytest.raises(ValueError, match="between 10 and 5000"):
        projector.projection(name, "test", 6000, "pca")
    with pytest.raises(ValueError, match="method"):
        projector.projection(name, "test", 500, "lda")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_nonlinear_maps_keep_each_class_together(fmnist_home, method):
    if method == "umap" and not projector.umap_available()[0]:
        pytest.skip("umap-learn is an optional extra, not installed here: pip install -r requirements-umap.txt")
    name = shipped_model("fmnist_cnn")
    proj = projector.projection(name, "test", 300, method)
    _, y = fdata.load_fashion_mnist()[1]
    # A 94%-accurate model's features separate the classes: a point's 2-D neighbour is mostly its class
    # (chance would be ~10%).
    assert _knn_agreement(proj["coords"].astype(np.float64), y[proj["index"]]) > 0.75


def test_without_umap_the_option_and_the_error_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if the optional umap-learn were not installed
    assert projector.method_labels() == {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP (optional install)"}
    ok, why = projector.umap_available()
    assert not ok and "pip install -r requirements-umap.txt" in why
    with pytest.raises(ValueError, match="requirements-umap.txt"):
        projector.embed(np.random.default_rng(0).normal(size=(60, 8)), "umap")
