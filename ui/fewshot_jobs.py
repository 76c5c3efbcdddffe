"""Few-shot work off the page's run: comparisons and k-shot curves in background threads, with progress.

A comparison with fine-tuning, or a k-shot curve, takes from seconds to minutes on a 2-core CPU.
Run in the page's own script it blocks every widget until it ends. Here each piece of work runs
in a thread shared by all sessions (keyed by its settings), the page renders at once with what is
known, and a small fragment polls the job and reruns the page when the result is in.

Results of the built-in tasks are also stored on disk (``fmnist_core.studies.fewshot_store``),
so a fresh server shows them without TensorFlow.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from ui.text import plain

POLL_SECONDS = 1.0
KEEP = 48


@st.cache_resource(show_spinner=False)
def _jobs() -> OrderedDict:
    """{key: {'fraction', 'message', 'result', 'error', 'finished'}}, shared by every session of the server."""
    return OrderedDict()


def _work(job: dict, compute) -> None:
    def progress(fraction: float, message: str) -> None:
        job.update(fraction=min(1.0, max(0.0, float(fraction))), message=message)
    try:
        job["result"] = compute(progress)
    except Exception as exc:  # shown on the page; the server keeps serving
        job["error"] = f"{exc}" if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    finally:
        job["finished"] = True


def start(key, compute) -> dict:
    """The job for ``key``, started (once) with ``compute(progress)`` in a background thread."""
    jobs = _jobs()
    job = jobs.get(key)
    if job is None or (job.get("finished") and job.get("error") and job.get("retry")):
        job = {"fraction": 0.0, "message": "starting…", "result": None, "error": None, "finished": False}
        jobs[key] = job
        threading.Thread(target=_work, args=(job, compute), daemon=True, name="fewshot-job").start()
        while len(jobs) > KEEP:
            oldest = next(iter(jobs))
            if not jobs[oldest].get("finished"):
                break
            jobs.pop(oldest)
    jobs.move_to_end(key)
    return job


def get(key) -> dict | None:
    return _jobs().get(key)


def retry(key) -> None:
    _jobs().pop(key, None)


def panel(key, what: str) -> None:
    """A progress bar for the job ``key`` that reruns the page once it has finished."""
    @st.fragment(run_every=POLL_SECONDS)
    def _panel():
        job = _jobs().get(key) or {}
        if job.get("finished"):
            st.rerun()
        st.progress(job.get("fraction", 0.0), text=f"{what}: {job.get('message', 'starting…')} "
                    "(runs in the background: the rest of the page stays usable)")
    _panel()


def result_or_stop(key, what: str, retry_key: str):
    """The finished job's result; otherwise its error with a "Try again" button, or its progress
    panel, and the page stops here (the parts above it are already drawn)."""
    job = _jobs().get(key) or {}
    if job.get("error"):
        st.error(plain(job["error"]))   # may quote file or class names: plain text
        if st.button("Try again", key=retry_key):
            retry(key)
            st.rerun()
        st.stop()
    if not job.get("finished"):
        panel(key, what)
        st.stop()
    return job["result"]
