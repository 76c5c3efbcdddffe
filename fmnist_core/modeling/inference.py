"""Using saved models: load (cached), predict on images, evaluate on a split.

A 10-class model asked about a binary task is scored on its binarized predictions:
each group's probability mass is summed (see ``tasks.binarize``).
"""

from __future__ import annotations

import functools

import numpy as np

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import binarize, get_task
from fmnist_core.modeling import prediction_cache
from fmnist_core.modeling.evaluation import evaluate_predictions, predict_proba
from fmnist_core.modeling.precision import float32_twin, keeps_bfloat16
from fmnist_core.modeling.saving import find_model, load_metadata, load_model

SPLITS = ("test", "validation")


def model_task(meta: dict):
    return get_task(meta.get("task", "multiclass"))


# The shipped models in words; a user's model keeps the name its owner gave it.
SHIPPED_TITLES = {
    "fmnist_cnn": "10-class CNN",
    "shoes_cnn": "Shoes CNN",
    "footwear_luggage_cnn": "Footwear & bags CNN, from scratch",
    "footwear_luggage_transfer": "Footwear & bags CNN, with transfer",
}


def model_title(meta: dict) -> str:
    """A model in words for the pages: 'Footwear & bags CNN, with transfer' for a shipped model,
    the owner's name (underscores as spaces) for their own."""
    name = meta.get("name", "")
    if meta.get("shipped") and name in SHIPPED_TITLES:
        return SHIPPED_TITLES[name]
    return name.replace("_", " ")


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, mtime: float, keep_bfloat16: bool):
    model, meta = load_model(name)
    # The shipped models trained in bfloat16. Where it does not run (oneDNN below AVX-512: every call
    # fails) or runs emulated (slow), they compute in float32 with the same weights.
    return (model if keep_bfloat16 else float32_twin(model)), meta


def get_model(name: str):
    """(model, metadata), cached in memory and reloaded when the file changes; computing in bfloat16
    only where this machine runs it fast (``precision.keeps_bfloat16``)."""
    path = find_model(name)
    return _load_cached(name, path.stat().st_mtime, keeps_bfloat16())


def prepare(images: np.ndarray, meta: dict) -> np.ndarray:
    """uint8 images (n, 28, 28) -> the float input this model was trained on."""
    return fdata.preprocess(images, meta.get("hparams", {}).get("normalize", True))


def predict_images(name: str, images: np.ndarray) -> np.ndarray:
    """Probabilities (n, n_classes of the model's own task) for uint8 images (n, 28, 28)."""
    model, meta = get_model(name)
    return predict_proba(model, prepare(images, meta))


def predict_one(model, meta: dict, image: np.ndarray) -> np.ndarray:
    """One uint8 28x28 image -> probability vector. Calls the model directly (no ``model.predict``,
    whose per-call set-up costs ~40 ms)."""
    p = np.asarray(model(prepare(image[None], meta), training=False), dtype=np.float64)[0]
    return np.array([1 - p[0], p[0]]) if p.shape[0] == 1 else p


def split_data(split: str, seed: int = 42, val_fraction: float = 0.1, subset: int | None = None):
    """uint8 images and 10-class labels of 'test' or 'validation'.

    'validation' is the seeded split a model was trained with: pass the same seed,
    val_fraction and subset as its hparams, or images it trained on would be scored as
    validation (use ``split_args`` to read them from a model's metadata).
    """
    if split == "test":
        _, (x, y) = fdata.load_fashion_mnist()
        return x, y
    if split == "validation":
        _, (x, y) = fdata.train_val_split(val_fraction, seed, subset)
        return x, y
    raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def split_args(meta: dict) -> tuple[int, float, int | None]:
    """(seed, val_fraction, subset) of the validation split a saved model was trained with."""
    hp = meta.get("hparams") or {}
    subset = hp.get("subset")
    return int(hp.get("seed", 42)), float(hp.get("val_fraction", 0.1)), (int(subset) if subset else None)


@functools.lru_cache(maxsize=32)
def _probs_cached(name: str, sha: str, split: str, seed: int, val_fraction: float, subset) -> np.ndarray:
    """Probabilities of one split: from the model's prediction cache, else computed once and stored."""
    args = (seed, val_fraction, subset)
    probs = prediction_cache.load(name, split, args)
    if probs is None:
        x, _ = split_data(split, *args)
        probs = predict_images(name, x).astype(np.float32)
        prediction_cache.store(name, split, args, probs)
    probs = probs.astype(np.float64)
    probs.flags.writeable = False  # shared by every caller of this cache
    return probs


def has_predictions(name: str, split: str) -> bool:
    """True when ``split_probabilities(name, split)`` needs no model call: its predictions are stored."""
    return prediction_cache.is_cached(name, split, split_args(load_metadata(name)))


def compute_predictions(name: str, split: str, on_progress=None) -> None:
    """Compute and store a model's predictions on a split (the slow part), reporting
    ``on_progress(done_images, total_images)`` after each batch. For background work: the page
    then reads them with ``split_probabilities`` in milliseconds."""
    args = split_args(load_metadata(name))
    if prediction_cache.is_cached(name, split, args):
        return
    x, _ = split_data(split, *args)
    model, meta = get_model(name)
    probs = predict_proba(model, prepare(x, meta), on_progress=on_progress).astype(np.float32)
    prediction_cache.store(name, split, args, probs)


def split_probabilities(name: str, split: str = "test", task=None):
    """(probs on the requested task (n, k), task labels (n,), Task, 10-class labels (n,)).

    Reads the model's metadata only; the model itself is loaded (TensorFlow imported) only when
    its predictions on this split are not stored yet (see ``prediction_cache``).
    """
    meta = load_metadata(name)
    own = model_task(meta)
    args = split_args(meta)
    probs = _probs_cached(name, prediction_cache.model_sha256(name), split, *args)
    _, y10 = split_data(split, *args)
    task = get_task(task) if task is not None else own
    if task.name != own.name:
        if own.is_binary:
            raise ValueError(f"{name!r} is a binary {own.name!r} model; it can only be tested on that task")
        if task.is_binary:
            probs = binarize(probs, task)
    return probs, task.labels(y10), task, y10


def evaluate_saved(name: str, split: str = "test", task=None) -> dict:
    """Full evaluation of a saved model on a split; see ``evaluation.evaluate_predictions``."""
    probs, y, task, _ = split_probabilities(name, split, task)
    result = evaluate_predictions(y, probs, task.class_names)
    return {"model": name, "task": task.name, "split": split, "class_names": list(task.class_names), **result}


def store_shipped() -> None:
    """Compute and store the predictions of every shipped model on both splits (``make models`` runs ``python -m fmnist_core.modeling.inference``)."""
    from fmnist_core.modeling import saving

    for meta in saving.list_models():
        if meta.get("shipped") and "error" not in meta:
            for split in SPLITS:
                compute_predictions(meta["name"], split)
            print(f"predictions of {meta['name']} stored in {prediction_cache.cache_path(meta['name'])}")


if __name__ == "__main__":
    import argparse  # only for -h: this command takes no arguments

    argparse.ArgumentParser(
        prog="python -m fmnist_core.modeling.inference", description=store_shipped.__doc__
    ).parse_args()
    store_shipped()
