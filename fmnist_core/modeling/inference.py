"""Using saved models: load (cached), predict on images, evaluate on a split.

A 10-class model asked about a binary task is scored on its binarized predictions:
each group's probability mass is summed (see ``tasks.binarize``).
"""
from __future__ import annotations

import functools

import numpy as np

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import binarize, get_task
from fmnist_core.modeling.evaluation import evaluate_predictions, predict_proba
from fmnist_core.modeling.saving import find_model, load_model

SPLITS = ("test", "validation")


def model_task(meta: dict):
    return get_task(meta.get("task", "multiclass"))


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, mtime: float):
    return load_model(name)


def get_model(name: str):
    """(model, metadata), cached in memory and reloaded when the file changes."""
    path = find_model(name)
    return _load_cached(name, path.stat().st_mtime)


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
def _probs_cached(name: str, mtime: float, split: str, seed: int, val_fraction: float, subset) -> np.ndarray:
    x, _ = split_data(split, seed, val_fraction, subset)
    return predict_images(name, x)


def split_probabilities(name: str, split: str = "test", task=None):
    """(probs on the requested task (n, k), task labels (n,), Task, 10-class labels (n,))."""
    model, meta = get_model(name)
    own = model_task(meta)
    args = split_args(meta)
    probs = _probs_cached(name, find_model(name).stat().st_mtime, split, *args)
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
