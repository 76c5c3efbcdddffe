import json
import os

import numpy as np
import pytest

from fmnist_core.modeling import saving
from fmnist_core.modeling.models import build_model


def test_names_are_checked():
    for bad in ["../x", "a/b", "", "x" * 65, "sp ace", "évil"]:
        with pytest.raises(ValueError, match="invalid model name"):
            saving.check_name(bad)
    assert saving.check_name("fmnist_cnn-2") == "fmnist_cnn-2"


def test_round_trip_metadata_and_safe_loading(fmnist_home):
    model = build_model("tinyvgg", "shoes")
    path = saving.save_model(model, "tiny", {"task": {"name": "shoes"}, "hparams": {"normalize": True}})
    assert path == fmnist_home / "tiny.keras"
    assert os.path.getsize(path) < 5_000_000
    loaded, meta = saving.load_model("tiny")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    assert meta["name"] == "tiny" and meta["n_params"] == model.count_params()
    assert set(meta["versions"]) >= {"tensorflow", "keras", "numpy", "python"}
    assert [m["name"] for m in saving.list_models() if not m["shipped"]] == ["tiny"]
    # No temp files left behind by the atomic writes.
    assert sorted(p.name for p in fmnist_home.iterdir()) == ["tiny.json", "tiny.keras"]


def test_failed_save_keeps_the_previous_model(fmnist_home, monkeypatch):
    model = build_model("linear")
    saving.save_model(model, "keep", {"v": 1})
    before = (fmnist_home / "keep.keras").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(saving.os, "replace", boom)
    with pytest.raises(OSError):
        saving.save_model(build_model("linear"), "keep", {"v": 2})
    monkeypatch.undo()
    assert (fmnist_home / "keep.keras").read_bytes() == before
    assert json.loads((fmnist_home / "keep.json").read_text())["v"] == 1
    assert sorted(p.name for p in fmnist_home.iterdir()) == ["keep.json", "keep.keras"]


def test_missing_and_corrupt(fmnist_home):
    with pytest.raises(saving.ModelNotFoundError, match="models"):
        saving.load_model("nope")
    saving.save_model(build_model("linear"), "broken", {})
    (fmnist_home / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        saving.load_metadata("broken")
    assert any(m.get("error") for m in saving.list_models() if m["name"] == "broken")


def test_trained_model_is_saved_without_optimizer_state(fmnist_home):
    """Adam's two moment tensors per weight would triple the file; inference does not need them."""
    import zipfile

    import h5py

    from fmnist_core.modeling.training import train

    res = train("tinyvgg", "multiclass", {"epochs": 1, "subset": 500})
    path = saving.save_model(res.model, "trained", {})
    with zipfile.ZipFile(path) as zf:
        zf.extract("model.weights.h5", fmnist_home / "x")
    with h5py.File(fmnist_home / "x" / "model.weights.h5") as h5:
        assert "optimizer" not in h5 or len(h5["optimizer"]) == 0
    assert os.path.getsize(path) < 4 * res.model.count_params() + 100_000
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
