"""Widgets shared by the training pages (Build & Train, LR Finder, Compare runs): the run store,
the task picker, run labels and badges. The work itself happens in ``fmnist_core``.
"""

from __future__ import annotations

import json

import streamlit as st

from fmnist_core.data.fashion_mnist import CLASS_NAMES
from fmnist_core.data.tasks import BUILTIN_TASKS, custom_task, get_task
from fmnist_core.modeling import models
from fmnist_core.runs.store import RunStore, StoreError, default_location
from ui.training.live_state import fmt_seconds, pct  # noqa: F401  (shared by the pages through this module)

BUILD_PAGE = "pages/build_train.py"
LR_PAGE = "pages/lr_finder.py"
COMPARE_PAGE = "pages/compare_runs.py"
EVALUATE_PAGE = "pages/evaluate.py"

TASK_LABELS = {
    "multiclass": "10 classes",
    "shoes": "Shoes vs the rest",
    "footwear_luggage": "Footwear + bags vs clothing",
    "custom": "Custom: my classes vs the rest",
}
STATUS_COLORS = {"queued": "gray", "running": "blue", "completed": "green", "stopped": "orange", "failed": "red"}


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> RunStore:
    return RunStore(path)


def open_store() -> RunStore:
    """The run store of $FMNIST_STORE_URL (a cluster's PostgreSQL), else the home's runs.sqlite, opened
    once per location for all sessions (cheap: a path and no connection). Raises StoreError."""
    loc = default_location()
    return _store_at(loc if isinstance(loc, str) else str(loc.resolve()))


def get_store() -> RunStore:
    """``open_store()``, checked: a fault of the store stops the page with one clear message
    (``ui.app.store_guard``).
    """
    from ui.app import store_guard

    try:
        store = open_store()
        store.schema_version()  # a file damaged since it was opened fails here, not halfway down the page
        return store
    except StoreError as exc:
        _store_at.clear()
        store_guard.show_and_stop(exc)


def task_picker(prefix: str, label: str = "Task"):
    """A task selector (built-in tasks or a custom group of classes). Returns a Task, or None with an
    error shown when the custom group is invalid."""
    kind = st.selectbox(
        label,
        list(TASK_LABELS),
        format_func=TASK_LABELS.get,
        key=f"{prefix}_task",
        persist_state="session",
        help="Binary tasks put a group of classes against all the others.",
    )
    if kind != "custom":
        task = BUILTIN_TASKS[kind]
    else:
        chosen = st.multiselect(
            "Positive classes (the group)",
            CLASS_NAMES,
            default=["Sandal", "Sneaker"],
            key=f"{prefix}_task_classes",
            persist_state="session",
        )
        try:
            task = custom_task(chosen)
        except ValueError as exc:
            st.error(f"{exc}. Pick at least one and at most nine classes.")
            return None
    st.caption(task.description)
    return task


# Build & Train's labels of the hyperparameter fields, so an error names the field as the form shows it.
# The rules are the schema's (``fmnist_core.schema.hparams``), checked here rather than by the widgets,
# whose min/max the browser enforces without telling Python.
HPARAM_LABELS = {
    "optimizer": "Optimizer",
    "lr": "Learning rate",
    "momentum": "Momentum (SGD)",
    "batch_size": "Batch size",
    "epochs": "Epochs",
    "schedule": "LR schedule",
    "step_epoch": "Step: keep LR until epoch",
    "step_factor": "Step factor / epoch",
    "decay_rate": "Exponential decay / epoch",
    "subset": "Training images",
    "val_fraction": "Validation share",
    "seed": "Seed",
    "early_stopping": "Early stopping patience (0 = off)",
    "augment_shift": "Augment: max shift",
    "augment_flip": "Augment: flip",
    "precision": "Precision",
    "normalize": "Normalize to [0, 1]",
    "init_from": "Initialize conv layers from",
}


def hparam_errors(raw: dict) -> tuple[dict | None, dict]:
    """(HParams dict ready to submit, {} ) or (None, {field label: what is wrong and what it accepts}).

    Every field is checked, so the user sees all mistakes at once; nothing falls back to a default.
    "Training images" 60000 means all of them (subset None).
    """
    from fmnist_core.schema.hparams import MAX_IMAGES, HParams

    hp = dict(raw)
    if hp.get("subset") == MAX_IMAGES and not isinstance(hp["subset"], bool):
        hp["subset"] = None
    errors = HParams.errors(hp)
    if errors:
        return None, {HPARAM_LABELS.get(k, "Hyperparameters"): msg for k, msg in errors.items()}
    return HParams.from_dict(hp).to_dict(), {}


def spec_key(spec) -> str:
    """A stable string for a spec: cache key and equality test."""
    return json.dumps(models.normalize_spec(spec), sort_keys=True)


def summary_rows(spec, task) -> list[dict]:
    """Rows for a model-summary table (pure Python, no TensorFlow); raises SpecError."""
    return [
        {"layer": name, "output shape": " × ".join(str(d) for d in shape), "params": params}
        for name, shape, params in models.layer_shapes(spec, get_task(task))
    ]


TASK_SHORT = {"multiclass": "10class", "shoes": "shoes", "footwear_luggage": "footwear-bags"}


def default_run_name(origin: str | None, task, epochs: int) -> str:
    """A descriptive default name, e.g. ``tinyvgg-10class-3ep`` (an edited preset counts as custom)."""
    model = origin if origin in models.PRESETS else "custom"
    return f"{model}-{TASK_SHORT.get(task.name, task.name.replace('_', ''))}-{int(epochs)}ep"


def unique_model_name(base: str, store: RunStore) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first name no saved model and no run has taken."""
    from fmnist_core.modeling.saving import list_models

    taken = {m["name"] for m in list_models()} | {r["model_name"] for r in store.list_runs(with_history=False)}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def status_badge(status: str) -> None:
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))


def run_option_label(run: dict) -> str:
    acc = run.get("val_accuracy")
    tail = f", val acc {pct(acc)}" if acc is not None else ""
    return f"#{run['id']} {run['name']} ({run['status']}{tail})"


# ---------------------------------------------------------------- TensorBoard-style chart controls


def curve_controls(prefix: str, smoothing: float = 0.0) -> dict:
    """Smoothing (EMA), x axis and log-y for training curves; returns keyword arguments for
    ``training_figures.curves_figure`` / ``overlay_figure``."""
    from fmnist_core.insight.training_figures import X_AXES

    c = st.columns([3, 3, 2], vertical_alignment="bottom")
    weight = c[0].slider(
        "Smoothing",
        0.0,
        0.99,
        smoothing,
        step=0.01,
        key=f"{prefix}_smooth",
        help="Exponential moving average, as in TensorBoard: 0 = raw, 0.9 = smooth. "
        "It smooths the noisy curves (batch points; epochs in overlays).",
    )
    x = (
        c[1].segmented_control(
            "x axis",
            list(X_AXES),
            default="epoch",
            key=f"{prefix}_x",
            format_func={"epoch": "epoch", "step": "step", "wall": "wall-clock"}.get,
        )
        or "epoch"
    )
    log_y = c[2].toggle("Log-scale loss", key=f"{prefix}_logy")
    return {"smoothing": weight, "x": x, "log_y": log_y}


def chart_config(filename: str) -> dict:
    """Plotly's toolbar with a PNG download of the chart (the camera icon), named after the run."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def curves_download(history: list[dict], points: list[dict], filename: str, key: str) -> None:
    from fmnist_core.insight.training_figures import curves_csv

    st.download_button(
        "Download the curves (CSV)",
        curves_csv(history, points),
        file_name=f"{filename}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=key,
        help="One row per batch point and per finished epoch. PNG: the camera icon on the chart.",
    )


def histograms(run_id: int) -> None:
    """Weight and gradient histograms per layer over the epochs (recorded by the run's worker)."""
    from fmnist_core.insight import weight_histograms
    from fmnist_core.runs.histograms import read

    records = read(run_id, get_store().home)
    if not records:
        st.caption("No histograms for this run (recorded from the first epoch on, for runs trained by this app).")
        return
    layers = [e["layer"] for e in records[-1]["layers"]]
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", layers, key=f"cr_hist_layer_{run_id}")
    kind = (
        c2.segmented_control("Histogram of", ["weights", "gradients"], default="weights", key=f"cr_hist_kind_{run_id}")
        or "weights"
    )
    st.plotly_chart(
        weight_histograms.histogram_figure(records, layer, kind),
        key=f"cr_hist_fig_{run_id}",
        config=chart_config(f"run{run_id}_{layer}_{kind}"),
    )
    st.caption(
        f"One outline per epoch (epoch 0 = before training; darker = later), {len(records)} in all. "
        "Gradients: of the mean loss on 64 fixed training images, at the end of each epoch."
    )


def recipe_text(recipe: dict) -> str:
    """A training recipe in words, e.g. 'precision auto, batch 256, one-cycle LR 5.0e-03, 3 epochs'."""
    parts = []
    if recipe.get("precision"):
        parts.append(
            {"mixed_bfloat16": "bfloat16", "auto": "precision auto"}.get(recipe["precision"], recipe["precision"])
        )
    if recipe.get("batch_size"):
        parts.append(f"batch {recipe['batch_size']}")
    if recipe.get("lr"):
        sched = {"onecycle": "one-cycle", "constant": "constant"}.get(
            recipe.get("schedule"), recipe.get("schedule") or ""
        )
        parts.append(f"{sched} LR {recipe['lr']:.1e}".strip())
    if recipe.get("epochs"):
        parts.append(f"{recipe['epochs']} epochs")
    return ", ".join(parts)
