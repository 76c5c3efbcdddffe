"""Stored predictions (fmnist_core.modeling.prediction_cache): computed once, keyed by the model
file's sha256, recomputed when stale or damaged, and read without TensorFlow."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.modeling import inference, prediction_cache, saving
from shared_models import cached_models, require_shipped, train_and_save_unscored

ROOT = Path(__file__).resolve().parent.parent
HP = {"epochs": 1, "subset": 2000, "lr": 3e-3, "seed": 0}


def tiny_linear():
    train_and_save_unscored("linear", "multiclass", HP, "tiny_cache")


@pytest.fixture
def tiny(fmnist_home):
    """A fresh copy of the trained model (trained once, see ``shared_models.cached_models``)."""
    shutil.copytree(cached_models(tiny_linear), fmnist_home, dirs_exist_ok=True)
    return "tiny_cache"


def test_predictions_are_stored_beside_the_model_and_match_a_fresh_model_call(tiny, fmnist_home):
    path = prediction_cache.cache_path(tiny)
    assert path == fmnist_home / "tiny_cache.predictions.npz" and not path.exists()
    assert not inference.has_predictions(tiny, "validation")
    probs, y, task, _ = inference.split_probabilities(tiny, "validation")
    assert path.exists() and inference.has_predictions(tiny, "validation")
    assert not inference.has_predictions(tiny, "test")  # one split at a time
    # The model's own validation split (subset 2000 -> 200 images), scored by a direct model call.
    x, _ = inference.split_data("validation", *inference.split_args(saving.load_metadata(tiny)))
    assert probs.shape == (200, 10) and len(y) == 200
    np.testing.assert_allclose(probs, inference.predict_images(tiny, x), atol=1e-6)
    stored = prediction_cache.load(tiny, "validation", inference.split_args(saving.load_metadata(tiny)))
    assert stored.dtype == np.float32 and np.array_equal(stored.astype(np.float64), probs)
    # Other split arguments (another seed) are not served from the cache.
    assert prediction_cache.load(tiny, "validation", (1, 0.1, 2000)) is None


def test_a_replaced_model_file_makes_the_cache_stale(tiny):
    first = inference.split_probabilities(tiny, "validation")[0].copy()
    sha = prediction_cache.model_sha256(tiny)
    train_and_save_unscored("linear", "multiclass", {**HP, "seed": 1}, tiny)  # same name, other weights
    assert prediction_cache.model_sha256(tiny) != sha
    args = inference.split_args(saving.load_metadata(tiny))
    assert prediction_cache.load(tiny, "validation", args) is None  # stale: never trusted
    second = inference.split_probabilities(tiny, "validation")[0]
    x, _ = inference.split_data("validation", *args)
    np.testing.assert_allclose(second, inference.predict_images(tiny, x), atol=1e-6)
    assert not np.allclose(first, second)


def test_a_damaged_cache_file_is_recomputed(tiny):
    probs = inference.split_probabilities(tiny, "validation")[0].copy()
    prediction_cache.cache_path(tiny).write_bytes(b"not an npz")
    inference._probs_cached.cache_clear()
    assert not inference.has_predictions(tiny, "validation")
    np.testing.assert_array_equal(inference.split_probabilities(tiny, "validation")[0], probs)
    assert inference.has_predictions(tiny, "validation")


def test_compute_predictions_reports_progress_per_batch(tiny):
    seen = []
    inference.compute_predictions(tiny, "test", on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (10_000, 10_000) and len(seen) == 10  # batches of 1,024
    assert inference.has_predictions(tiny, "test")


def test_shipped_models_evaluate_and_binary_study_without_tensorflow(fmnist_home):
    """With the stored predictions, scoring a shipped model and the binary study need no model call."""
    names = ["fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer"]
    require_shipped(*names)
    for name in names:
        for split in inference.SPLITS:
            assert inference.has_predictions(name, split), f"run `make models` to store {name}'s predictions"
    code = textwrap.dedent("""
        import sys
        from fmnist_core.modeling import inference
        from fmnist_core.studies import binary_study
        r = inference.evaluate_saved("fmnist_cnn", "validation")
        s = binary_study.compare_binary("footwear_luggage")
        print("ACC", r["accuracy"], s["approaches"]["binarized"]["accuracy"])
        print("TF", "tensorflow" in sys.modules or "keras" in sys.modules)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TF False" in out.stdout
    meta = saving.load_metadata("fmnist_cnn")
    acc = float(out.stdout.split("ACC ")[1].split()[0])
    assert acc == pytest.approx(meta["val_metrics"]["accuracy"], abs=5e-4)
    assert len(fdata.CLASS_NAMES) == 10
