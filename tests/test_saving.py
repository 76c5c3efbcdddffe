"""Saved models: one verified file per model (metadata inside), damaged ones reported, never used."""

import hashlib
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import build_model, normalize_spec


def _meta(task="shoes", preset="linear", **extra):
    return {"task": get_task(task).to_dict(), "spec": normalize_spec(preset), "hparams": {"normalize": True}, **extra}


def _save(name, task="shoes", preset="linear", **extra):
    return saving.save_model(build_model(preset, task), name, _meta(task, preset, **extra))


def test_names_are_checked():
    for bad in ["../x", "a/b", "", "x" * 65, "sp ace", "évil", "x\n", "x\r", "x\x00"]:
        with pytest.raises(ValueError, match="invalid model name"):
            saving.check_name(bad)
    assert saving.check_name("fmnist_cnn-2") == "fmnist_cnn-2"


def test_round_trip_one_file_with_metadata_inside(fmnist_home):
    model = build_model("tinyvgg", "shoes")
    path = saving.save_model(model, "tiny", _meta(preset="tinyvgg"))
    assert path == fmnist_home / "tiny.keras"
    assert os.path.getsize(path) < 5_000_000 and oct(os.stat(path).st_mode & 0o777) == "0o644"
    loaded, meta = saving.load_model("tiny")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    assert meta["name"] == "tiny" and meta["n_params"] == model.count_params()
    assert set(meta["versions"]) >= {"tensorflow", "keras", "numpy", "python"}
    assert [m["name"] for m in saving.list_models() if not m["shipped"]] == ["tiny"]
    # One file, nothing beside it, no temp files left behind.
    assert sorted(p.name for p in fmnist_home.iterdir()) == ["tiny.keras"]
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read(saving.META_ENTRY))["payload_sha256"] == meta["payload_sha256"]


def test_failed_save_keeps_the_previous_model(fmnist_home, monkeypatch):
    _save("keep", run_id=1)
    before = (fmnist_home / "keep.keras").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as m, pytest.raises(OSError):
        m.setattr(saving.os, "replace", boom)
        _save("keep", run_id=2)
    assert (fmnist_home / "keep.keras").read_bytes() == before
    assert saving.load_metadata("keep")["run_id"] == 1
    assert sorted(p.name for p in fmnist_home.iterdir()) == ["keep.keras"]


def test_missing_and_garbage_or_truncated_files_are_damaged(fmnist_home):
    with pytest.raises(saving.ModelNotFoundError, match="models"):
        saving.load_model("nope")
    path = _save("whole")
    data = path.read_bytes()
    (fmnist_home / "garbage.keras").write_bytes(b"not a zip at all" * 100)
    (fmnist_home / "truncated.keras").write_bytes(data[: len(data) // 2])
    (fmnist_home / "empty.keras").write_bytes(b"")
    flipped = bytearray(data)
    flipped[len(flipped) // 3] ^= 0xFF  # one bit-flip inside the weights
    (fmnist_home / "flipped.keras").write_bytes(bytes(flipped))
    listed = {m["name"]: m for m in saving.list_models() if not m["shipped"]}
    assert "error" not in listed["whole"]
    for name in ("garbage", "truncated", "empty", "flipped"):
        assert listed[name]["error"].startswith("damaged: "), name
        with pytest.raises(saving.DamagedModelError, match="is damaged"):
            saving.load_model(name)


def test_weights_with_another_models_metadata_are_refused(fmnist_home):
    """Issue 11 item 1: a new .keras beside the old model's metadata must never be used."""
    a, b = _save("a", run_id=1), _save("b", run_id=2)
    with zipfile.ZipFile(a) as za:
        meta_a = za.read(saving.META_ENTRY)
    mixed = fmnist_home / "mixed.keras"
    with zipfile.ZipFile(b) as zb, zipfile.ZipFile(mixed, "w") as zm:
        for info in zb.infolist():
            if info.filename != saving.META_ENTRY:
                zm.writestr(info, zb.read(info.filename))
        zm.writestr(saving.META_ENTRY, json.loads(json.dumps(meta_a.decode())).replace('"a"', '"mixed"'))
    with pytest.raises(saving.DamagedModelError):
        saving.load_metadata("mixed")


def _legacy_pair(path, home, name: str, meta: dict) -> dict:
    """Write ``home/<name>.keras`` (the model at ``path`` without its embedded metadata) and the
    ``<name>.json`` sidecar of the old two-file format; returns the sidecar's metadata."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(home / f"{name}.keras", "w") as zout:
        for info in zin.infolist():
            if info.filename != saving.META_ENTRY:
                zout.writestr(info, zin.read(info.filename))
    sha = hashlib.sha256((home / f"{name}.keras").read_bytes()).hexdigest()
    side = {**meta, "name": name, "model_sha256": sha}
    (home / f"{name}.json").write_text(json.dumps(side))
    return side


@pytest.mark.parametrize(
    "bad",
    [
        [],
        None,
        {},
        "text",
        {"name": 5},
        {"val_metrics": {"accuracy": "high"}},
        {"task": "multiclass"},
        {"n_params": -1},
    ],
)
def test_wrong_shaped_legacy_metadata_is_damaged_not_a_crash(fmnist_home, bad):
    """The old two-file format: a sidecar .json of the wrong shape is reported, never raised."""
    good = _legacy_pair(_save("old"), fmnist_home, "legacy", {**_meta(), "n_params": 10})
    sha = good["model_sha256"]
    assert saving.load_metadata("legacy")["model_sha256"] == sha  # a healthy legacy pair still loads
    doc = {**good, **bad} if isinstance(bad, dict) and bad else bad  # [], null, {} replace the whole document
    (fmnist_home / "legacy.json").write_text(json.dumps(doc))
    listed = {m["name"]: m for m in saving.list_models()}
    assert listed["legacy"]["error"].startswith("damaged: ")
    assert "error" not in listed["old"]


def test_legacy_pair_with_mismatched_weights_is_damaged(fmnist_home):
    """Issue 11 item 1 in the old format: new weights beside the old metadata (kill between the two files)."""
    shipped = saving.SHIPPED_DIR / "shoes_cnn.keras"
    meta = {k: v for k, v in saving.read_metadata(shipped).items() if k != "payload_sha256"}
    _legacy_pair(shipped, fmnist_home, "pair", meta)
    assert saving.load_metadata("pair")["name"] == "pair"
    path = _save("other", task="shoes", preset="shoe_cnn")
    (fmnist_home / "pair.keras").unlink()
    shutil.copy(path, fmnist_home / "pair.keras")
    with zipfile.ZipFile(fmnist_home / "pair.keras") as zf:
        assert saving.META_ENTRY in zf.namelist()
    # The embedded metadata wins over the stale sidecar; it names "other", so the file is not "pair".
    with pytest.raises(saving.DamagedModelError, match="holds model 'other'"):
        saving.load_metadata("pair")


def test_output_size_must_match_the_task(fmnist_home):
    saving.save_model(build_model("linear", "shoes"), "liar", _meta(task="multiclass"))
    with pytest.raises(saving.DamagedModelError, match="1 outputs but its task 'multiclass' has 10"):
        saving.load_model("liar")


def test_rename_and_delete_stay_in_the_home_and_check_owners(fmnist_home):
    _save("mine", owner="user:ann")
    with pytest.raises(PermissionError, match="someone else"):
        saving.rename_model("mine", "yours", owner="user:bob")
    saving.rename_model("mine", "ours", owner="user:ann")
    assert saving.load_metadata("ours")["name"] == "ours" and not (fmnist_home / "mine.keras").exists()
    with pytest.raises(ValueError, match="already exists"):
        _save("taken")
        saving.rename_model("ours", "taken")
    with pytest.raises(PermissionError, match="someone else"):
        saving.delete_model("ours", owner="user:bob")
    saving.delete_model("ours", owner="user:ann")
    assert not (fmnist_home / "ours.keras").exists()
    with pytest.raises(PermissionError, match="shipped"):
        saving.delete_model("shoes_cnn")


def test_trained_model_is_saved_without_optimizer_state(fmnist_home):
    """Adam's two moment tensors per weight would triple the file; inference does not need them."""
    import h5py

    from fmnist_core.modeling.training import train

    res = train("tinyvgg", "multiclass", {"epochs": 1, "subset": 500})
    path = saving.save_model(res.model, "trained", _meta("multiclass", "tinyvgg"))
    with zipfile.ZipFile(path) as zf:
        zf.extract("model.weights.h5", fmnist_home / "x")
    with h5py.File(fmnist_home / "x" / "model.weights.h5") as h5:
        assert "optimizer" not in h5 or len(h5["optimizer"]) == 0
    assert os.path.getsize(path) < 4 * res.model.count_params() + 100_000
