"""The registries every session of the server shares, and how a page shows one of their tasks:
a progress bar that polls the task and reruns the page when it has finished, its error as one
line with "Try again", or its result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

import streamlit as st

from ui.app.text import plain
from ui.tasks.registry import Task, TaskRegistry

POLL_SECONDS = 1.0


_CREATING = threading.Lock()


@st.cache_resource(show_spinner=False)
def _registries() -> dict[str, TaskRegistry]:
    return {}


def shared(name: str, max_running: int, keep: int) -> TaskRegistry:
    """The server-wide registry called ``name``: created with these bounds on first use, then the same
    one for every rerun and session."""
    with _CREATING:
        registries = _registries()
        if name not in registries:
            registries[name] = TaskRegistry(name, max_running=max_running, keep=keep)
        return registries[name]


def fraction_work(compute: Callable) -> Callable[[Task], object]:
    """Work for ``compute(progress)``, whose ``progress(fraction, message)`` is stored as the task's progress."""
    return lambda task: compute(lambda fraction, message: task.report((min(1.0, max(0.0, float(fraction))), message)))


def waiting_line(task: Task) -> str:
    ahead = task.ahead()
    return "waiting for the work before it to finish" + (f" ({ahead} more ahead)" if ahead else "")


def progress_panel(
    task: Task, describe: Callable[[Task], tuple[float, str]], poll_seconds: float = POLL_SECONDS
) -> None:
    """A progress bar for ``task`` (``describe(task)`` gives its fraction and line) that reruns the page
    once the task has finished."""

    @st.fragment(run_every=poll_seconds)
    def _panel():
        if task.finished:
            st.rerun()
        fraction, text = describe(task)
        st.progress(fraction, text=text)

    _panel()


def result_or_stop(registry: TaskRegistry, key: Hashable, what: str, retry_key: str):
    """The finished task's result; otherwise its error with a "Try again" button, or its progress bar
    (with "Stop"), and the page stops here (the parts above it are already drawn). The task's progress
    is (fraction, message), as ``fraction_work`` stores it."""
    task = registry.get(key)
    if task is None:
        st.stop()
    if task.error:
        st.error(plain(task.error))  # may quote file or class names: plain text
        if st.button("Try again", key=retry_key):
            registry.forget(key)
            st.rerun()
        st.stop()
    if task.finished and task.state == "cancelled":
        st.info(f"{what}: stopped.")
        if st.button("Start again", key=retry_key):
            registry.forget(key)
            st.rerun()
        st.stop()
    if not task.finished:

        def describe(t: Task) -> tuple[float, str]:
            fraction, message = t.progress or (0.0, waiting_line(t) if t.state == "queued" else "starting…")
            return fraction, (f"{what}: {message} (runs in the background: the rest of the page stays usable)")

        progress_panel(task, describe)
        st.button("Stop", key=f"{retry_key}_stop", icon=":material/stop:", on_click=registry.cancel, args=(key,))
        st.stop()
    return task.result
