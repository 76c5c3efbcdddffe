"""Stored few-shot results: a comparison's numbers on disk, so a fresh server shows them at once.

A comparison of the methods on a built-in task never changes while its inputs do not, yet it
costs TensorFlow's import, the backbones and a label spreading over thousands of images. Its
summary (every number the page shows, no fitted model) is kept in
``<home>/cache/fewshot_results_<key>.json``. The key hashes everything the result depends on:
the task's images and labels, the methods, seeds, shots, and the sha256 of every model file
used (the backbone and the spread method's models), plus ``VERSION`` of the code's methods. A
stale summary has another key, so it is never read.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

VERSION = 1  # bump when a method's behaviour changes, so old summaries are not shown
KEEP = (
    "task",
    "method",
    "backbone",
    "classes",
    "shots",
    "n_train",
    "n_test",
    "seeds",
    "accuracies",
    "accuracy",
    "sd",
    "confusion_matrix",
    "correct",
    "intervals",
    "interval",
    "unlabelled",
    "warning",
    "predictions",
)


def data_hash(data) -> str:
    h = hashlib.sha1()
    for a in (data.x_pool, data.y_pool, data.x_test, data.y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr((data.classes, data.shots_from_test)).encode())
    return h.hexdigest()


def result_key(data, methods, backbone: str, seeds: int, shots) -> str:
    from fmnist_core.modeling.prediction_cache import model_sha256
    from fmnist_core.studies.fewshot_spread import SETTINGS

    models = sorted({backbone, SETTINGS["backbone"], SETTINGS["pool_model"]})
    ident = repr(
        (VERSION, data_hash(data), tuple(methods), backbone, int(seeds), shots, [(m, model_sha256(m)) for m in models])
    )
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _path(key: str):
    from fmnist_core.modeling.saving import home_dir

    return home_dir() / "cache" / f"fewshot_results_{key}.json"


def summary(results: dict) -> dict:
    """{method: result} -> the JSON-able part (no fitted model; predictions as lists)."""
    return {
        m: {k: (np.asarray(v).tolist() if k == "predictions" else v) for k, v in r.items() if k in KEEP}
        for m, r in results.items()
    }


def load(key: str) -> dict | None:
    """The stored summary for ``key``, or None (missing or unreadable)."""
    path = _path(key)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def store(key: str, results: dict) -> None:
    """Store ``summary(results)``; a read-only home keeps nothing (the page still works, only slower)."""
    from fmnist_core.modeling.saving import atomic_write_json, json_default

    try:
        atomic_write_json(_path(key), json.loads(json.dumps(summary(results), default=json_default)))
    except OSError:
        pass
