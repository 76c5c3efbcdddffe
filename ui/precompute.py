"""Background prediction jobs: a model's predictions on a split, computed off the page's run.

The shipped models' predictions are stored beside them (``fmnist_core.modeling.prediction_cache``),
so pages read them in milliseconds. A user's new model has none yet: computing them takes
TensorFlow's import, a model load and a pass over 10,000 images. That runs here in a background
thread shared by all sessions (one per model and split), and the page shows what it already
knows plus a progress bar that polls the job and reruns the page when the predictions are stored.
"""
from __future__ import annotations

import threading

import streamlit as st

from fmnist_core.modeling import inference

POLL_SECONDS = 1.0


@st.cache_resource(show_spinner=False)
def _jobs() -> dict:
    """{(name, split): {'done', 'total', 'error', 'thread'}}, shared by every session of the server."""
    return {}


def _work(job: dict, name: str, split: str) -> None:
    def progress(done: int, total: int) -> None:
        job.update(done=done, total=total)
    try:
        inference.compute_predictions(name, split, on_progress=progress)
    except Exception as exc:  # shown on the page; the server keeps serving
        job["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        job["finished"] = True


def ready(name: str, split: str) -> bool:
    """True when the model's predictions on ``split`` are stored; otherwise starts (once) the
    background job that computes them and returns False."""
    if inference.has_predictions(name, split):
        return True
    jobs = _jobs()
    job = jobs.get((name, split))
    if job is None or (job.get("finished") and not job.get("error")):
        job = {"done": 0, "total": None, "error": None, "finished": False}
        job["thread"] = threading.Thread(target=_work, args=(job, name, split), daemon=True,
                                         name=f"predict-{name}-{split}")
        jobs[(name, split)] = job
        job["thread"].start()
    return False


def retry(name: str, split: str) -> None:
    _jobs().pop((name, split), None)


def progress_panel(name: str, split: str) -> None:
    """A progress bar for the job of (name, split) that reruns the whole page once it is done."""
    @st.fragment(run_every=POLL_SECONDS)
    def _panel():
        job = _jobs().get((name, split)) or {}
        if job.get("error"):
            st.error(f"Could not compute the predictions of {name} on the {split} split: {job['error']}")
            if st.button("Try again", key=f"precompute_retry_{name}_{split}"):
                retry(name, split)
                st.rerun()
            return
        if job.get("finished") or inference.has_predictions(name, split):
            st.rerun()  # stored: redraw the page with them
        done, total = job.get("done", 0), job.get("total")
        frac = done / total if total else 0.0
        st.progress(frac, text=f"Running {name} on the {split} split for the first time: "
                               + (f"{done:,} of {total:,} images" if total else "loading the model…")
                               + ". The results are stored, so this happens once per model.")
    _panel()
