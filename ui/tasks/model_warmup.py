"""A saved model loaded in the background as soon as a page knows it will need it (Classify: when it
opens), so that TensorFlow's import, the file and the first call are done before the first stroke.
"""

from __future__ import annotations

import numpy as np

from ui.app import catalog
from ui.tasks.widgets import shared

MAX_RUNNING = 1  # a load is mostly TensorFlow's one-time import: two at once gain nothing
KEEP = 16  # as many as catalog.load_model keeps (one small record each)


def _tasks():
    return shared("model-warmup", MAX_RUNNING, KEEP)


def _key(name: str):
    try:
        return name, catalog.model_mtime(name)  # a retrained model of the same name is warmed again
    except OSError:
        return None  # no such file: the page's own load says so


def _warm(name: str):
    def work(_task) -> None:
        # TensorFlow: imported in this thread, off the page's path.
        from fmnist_core.modeling import inference

        model, meta = inference.get_model(name)
        inference.predict_one(model, meta, np.zeros((28, 28), np.uint8))  # builds the call graph

    return work


def warm_in_background(name: str) -> None:
    """Start loading ``name`` (once per file version) in the background; returns at once. A model that
    fails to load is reported when the page really loads it."""
    key = _key(name)
    if key is not None:
        _tasks().start(key, _warm(name))


def wait_warm(name: str) -> None:
    """Block until a background warm-up of ``name`` has finished (returns at once when there is none)."""
    key = _key(name)
    task = _tasks().get(key) if key is not None else None
    if task is not None:
        task.wait()


def load_model(name: str):
    """(model, meta), waiting for a background warm-up of the same model instead of loading it twice."""
    wait_warm(name)
    return catalog.load_model(name)
