"""A model's predictions on a split, computed off the page's run.

The shipped models' predictions are stored beside them (``fmnist_core.modeling.prediction_cache``),
so pages read them in milliseconds. A user's new model has none yet: computing them takes
TensorFlow's import, a model load and a pass over 10,000 images. That runs here as a background
task shared by all sessions (one per model and split), and the page shows what it already knows
plus a progress bar that polls the task and reruns the page when the predictions are stored.
"""

from __future__ import annotations

import streamlit as st

from fmnist_core.modeling import inference
from ui.tasks.widgets import progress_panel as _progress_bar
from ui.tasks.widgets import shared, waiting_line

MAX_RUNNING = 2  # a pass is TensorFlow on every core: more at once only slows each
KEEP = 64  # finished tasks remembered: a few numbers each (the predictions are on disk)


def _tasks():
    return shared("predictions", MAX_RUNNING, KEEP)


def _work(name: str, split: str):
    def work(task):
        inference.compute_predictions(name, split, on_progress=lambda done, total: task.report((done, total)))

    return work


def ready(name: str, split: str) -> bool:
    """True when the model's predictions on ``split`` are stored; otherwise starts (once) the background
    task that computes them and returns False."""
    if inference.has_predictions(name, split):
        return True
    known = _tasks().get((name, split))
    # Finished without an error yet nothing stored (the file was removed since): compute again.
    _tasks().start((name, split), _work(name, split), again=known is not None and known.state == "done")
    return False


def _describe(name: str, split: str):
    def describe(task) -> tuple[float, str]:
        done, total = task.progress or (0, None)
        if task.state == "queued":
            where = waiting_line(task)
        else:
            where = f"{done:,} of {total:,} images" if total else "loading the model…"
        line = (
            f"Running {name} on the {split} split for the first time: {where}. "
            "The results are stored, so this happens once per model."
        )
        return (done / total if total else 0.0), line

    return describe


def progress_panel(name: str, split: str) -> None:
    """The task's progress bar, which reruns the whole page once the predictions are stored; its error
    with "Try again" if it failed."""
    task = _tasks().get((name, split))
    if task is None:
        return
    if task.error:
        st.error(f"Could not compute the predictions of {name} on the {split} split: {task.error}")
        if st.button("Try again", key=f"precompute_retry_{name}_{split}"):
            _tasks().forget((name, split))
            st.rerun()
        return
    _progress_bar(task, _describe(name, split))
