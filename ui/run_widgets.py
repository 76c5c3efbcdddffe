"""Widgets shared by the training pages (Build & Train, LR Finder, Compare runs): the run store,
the task picker, run labels and badges. The work itself happens in ``fmnist_core``.
"""
from __future__ import annotations

import json

import streamlit as st

from fmnist_core.data.fashion_mnist import CLASS_NAMES
from fmnist_core.data.tasks import BUILTIN_TASKS, custom_task, get_task
from fmnist_core.modeling import models
from fmnist_core.runs.store import RunStore, default_path

BUILD_PAGE = "pages/build_train.py"
LR_PAGE = "pages/lr_finder.py"
COMPARE_PAGE = "pages/compare_runs.py"
EVALUATE_PAGE = "pages/evaluate.py"

TASK_LABELS = {"multiclass": "10 classes", "shoes": "Shoes vs the rest",
               "footwear_luggage": "Footwear + bags vs clothing", "custom": "Custom: my classes vs the rest"}
STATUS_COLORS = {"queued": "gray", "running": "blue", "completed": "green", "stopped": "orange", "failed": "red"}


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> RunStore:
    return RunStore(path)


def get_store() -> RunStore:
    """The run store of $FMNIST_HOME, opened once per path for all sessions (cheap: a path and no connection)."""
    return _store_at(str(default_path().resolve()))


def task_picker(prefix: str, label: str = "Task"):
    """A task selector (built-in tasks or a custom group of classes). Returns a Task, or None with an
    error shown when the custom group is invalid."""
    kind = st.selectbox(label, list(TASK_LABELS), format_func=TASK_LABELS.get, key=f"{prefix}_task",
                        persist_state="session",
                        help="Binary tasks put a group of classes against all the others.")
    if kind != "custom":
        task = BUILTIN_TASKS[kind]
    else:
        chosen = st.multiselect("Positive classes (the group)", CLASS_NAMES, default=["Sandal", "Sneaker"],
                                key=f"{prefix}_task_classes", persist_state="session")
        try:
            task = custom_task(chosen)
        except ValueError as exc:
            st.error(f"{exc}. Pick at least one and at most nine classes.")
            return None
    st.caption(task.description)
    return task


def spec_key(spec) -> str:
    """A stable string for a spec: cache key and equality test."""
    return json.dumps(models.normalize_spec(spec), sort_keys=True)


def summary_rows(spec, task) -> list[dict]:
    """Rows for a model-summary table (pure Python, no TensorFlow); raises SpecError."""
    return [{"layer": name, "output shape": " × ".join(str(d) for d in shape), "params": params}
            for name, shape, params in models.layer_shapes(spec, get_task(task))]


def status_badge(status: str) -> None:
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))


def run_option_label(run: dict) -> str:
    acc = run.get("val_accuracy")
    tail = f", val acc {acc:.3f}" if acc is not None else ""
    return f"#{run['id']} {run['name']} ({run['status']}{tail})"


def fmt_seconds(s) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"
