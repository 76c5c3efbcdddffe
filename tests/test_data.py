"""The real Fashion-MNIST: shapes, counts, labels, search order, corruption, splits."""

import gzip
import shutil

import numpy as np
import pytest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.data.tasks import FOOTWEAR_LUGGAGE, SHOES, binarize


def test_shapes_counts_and_labels():
    (x, y), (xt, yt) = data.load_fashion_mnist()
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert xt.shape == (10000, 28, 28) and xt.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(yt))
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(yt).tolist() == [1000] * 10
    assert len(data.CLASS_NAMES) == 10 and data.CLASS_NAMES[9] == "Ankle boot"


def test_cached_in_memory_and_read_only():
    a = data.load_fashion_mnist()
    b = data.load_fashion_mnist()
    assert a[0][0] is b[0][0]
    with pytest.raises(ValueError):
        a[0][0][0, 0, 0] = 1


def test_binarized_label_sets():
    (_, y), (_, yt) = data.load_fashion_mnist()
    assert binarize(y, SHOES).sum() == 3 * 6000
    assert binarize(yt, FOOTWEAR_LUGGAGE).sum() == 4 * 1000
    assert set(np.unique(binarize(yt, SHOES))) == {0, 1}


def test_split_is_stratified_seeded_and_disjoint_from_test():
    (xtr, ytr), (xva, yva) = data.train_val_split(0.1, seed=3)
    assert len(ytr) == 54000 and len(yva) == 6000
    assert np.bincount(yva).tolist() == [600] * 10
    (_, ytr2), (_, yva2) = data.train_val_split(0.1, seed=3)
    assert np.array_equal(yva, yva2)
    (_, _), (_, yva3) = data.train_val_split(0.1, seed=4)
    assert not np.array_equal(yva, yva3)
    (xs, ys), (xsv, ysv) = data.train_val_split(0.2, seed=0, subset=3000)
    assert len(ys) + len(ysv) == 3000 and np.bincount(ysv).tolist() == [60] * 10


def test_split_rejects_bad_parameters():
    with pytest.raises(ValueError, match="val_fraction"):
        data.train_val_split(1.5)
    with pytest.raises(ValueError, match="subset"):
        data.train_val_split(0.1, subset=5)


def test_preprocess_normalization_switch():
    (x, _), _ = data.load_fashion_mnist()
    norm = data.preprocess(x[:5])
    raw = data.preprocess(x[:5], normalize=False)
    assert norm.shape == (5, 28, 28, 1) and norm.dtype == np.float32
    assert norm.max() <= 1.0 and raw.max() == x[:5].max() > 1


def _copy_files(dst):
    dst.mkdir(parents=True, exist_ok=True)
    for name, _, _ in data.FILES.values():
        shutil.copy(data.DEBIAN_DIR / name, dst / name)


def test_user_folder_comes_first_and_corruption_is_reported(tmp_path, monkeypatch):
    user = tmp_path / "user"
    _copy_files(user)
    monkeypatch.setenv("FMNIST_DATA_DIR", str(user))
    assert data.candidate_dirs()[0] == user
    assert data.find_dataset()[0] == user
    # Corrupt the user's label file: the loader must say so, then fall back to the next place.
    with gzip.open(user / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(b"\x00\x00\x08\x01" + b"\x00" * 4)
    data._load_cached.cache_clear()
    try:
        (_, y), _ = data.load_fashion_mnist(allow_download=False)
        assert len(y) == 60000  # loaded from the Debian folder after skipping the corrupt one
    finally:
        data._load_cached.cache_clear()


def test_missing_everywhere_names_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    data._load_cached.cache_clear()
    try:
        with pytest.raises(data.DatasetNotFoundError) as err:
            data.load_fashion_mnist(allow_download=False)
        msg = str(err.value)
        assert str(tmp_path / "nothing") in msg and str(tmp_path / "keras") in msg and str(tmp_path / "debian") in msg
        assert "make data" in msg
        assert data.dataset_status()["found"] is False
    finally:
        data._load_cached.cache_clear()
