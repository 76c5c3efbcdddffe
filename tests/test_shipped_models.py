"""The models in saved_models/: they load, they are small, and their stored figures are true."""

import os

import pytest

from fmnist_core.modeling import saving
from fmnist_core.modeling.inference import evaluate_saved

SHIPPED = {  # name: (task, minimum test accuracy promised in the README)
    "fmnist_cnn": ("multiclass", 0.93),
    "shoes_cnn": ("shoes", 0.995),
    "footwear_luggage_cnn": ("footwear_luggage", 0.98),
    "footwear_luggage_transfer": ("footwear_luggage", 0.98),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_loads_and_its_stored_test_accuracy_is_true(name):
    path = saving.SHIPPED_DIR / f"{name}.keras"
    if not path.exists() and os.environ.get("CI") != "true":
        pytest.skip(f"{name} not trained yet: run `make models`")
    assert path.stat().st_size < 5_000_000
    model, meta = saving.load_model(name)
    task, minimum = SHIPPED[name]
    assert meta["task"]["name"] == task
    assert set(meta) >= {"spec", "hparams", "seed", "val_metrics", "test_metrics", "train_seconds", "versions"}
    fresh = evaluate_saved(name, split="test")
    assert fresh["n"] == 10000
    assert fresh["accuracy"] == pytest.approx(meta["test_metrics"]["accuracy"], abs=1e-9)
    assert fresh["loss"] == pytest.approx(meta["test_metrics"]["loss"], rel=1e-4)
    assert fresh["accuracy"] >= minimum


def test_transfer_model_started_from_the_10_class_model():
    if not (saving.SHIPPED_DIR / "footwear_luggage_transfer.keras").exists() and os.environ.get("CI") != "true":
        pytest.skip("not trained yet")
    meta = saving.load_metadata("footwear_luggage_transfer")
    assert meta["hparams"]["init_from"] == "fmnist_cnn"
    assert (
        meta["spec"]
        == saving.load_metadata("footwear_luggage_cnn")["spec"]
        == saving.load_metadata("fmnist_cnn")["spec"]
    )
