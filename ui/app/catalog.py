"""Which saved models exist, which one is selected, and loading them once for all sessions.

Nothing here imports TensorFlow at module level: Home and Dataset must start in a few seconds.

Session state shared between pages:
  ``selected_model`` : name of the model the user picked in the sidebar (or on a page);
      any page may set it (it is not a widget key), the sidebar shows it on the next run.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import streamlit as st

from fmnist_core.data.tasks import display_name
from fmnist_core.modeling import inference, saving
from ui.app import layout

PREFERRED_DEFAULT = "fmnist_cnn"


def models_info() -> list[dict]:
    """Metadata of the usable saved models (unreadable ones are left out), the user's own first, newest
    first, then the shipped ones. Reads small JSON files: cheap."""
    infos = [m for m in saving.list_models() if "error" not in m]
    own = sorted((m for m in infos if not m.get("shipped")), key=lambda m: m.get("saved_at") or "", reverse=True)
    shipped = sorted((m for m in infos if m.get("shipped")), key=lambda m: m.get("saved_at") or "", reverse=True)
    return own + shipped


def age(saved_at: str | None, now: _dt.datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 days ago' from an ISO time; '' when unknown."""
    try:
        then = _dt.datetime.fromisoformat(saved_at)
    except (TypeError, ValueError):
        return ""
    now = now or _dt.datetime.now(_dt.UTC)
    if then.tzinfo is None:
        then = then.replace(tzinfo=_dt.UTC)
    secs = max(0.0, (now - then).total_seconds())
    if secs < 60:
        return "just now"
    if secs < 3600:
        return f"{int(secs // 60)} min ago"
    if secs < 86400 * 2:
        return f"{int(secs // 3600)} h ago"
    return f"{int(secs // 86400)} days ago"


def accuracy_text(meta: dict) -> str:
    """'test 94.00%' (or 'val 97.12%' when the model was never tested): one format, two decimals."""
    acc = (meta.get("test_metrics") or {}).get("accuracy")
    if acc is not None:
        return f"test {acc:.2%}"
    acc = (meta.get("val_metrics") or {}).get("accuracy")
    return f"val {acc:.2%}" if acc is not None else "no score yet"


def saved_on(saved_at: str | None) -> str:
    """'saved 25 Nov 17:52' (UTC): a fixed text, unlike '5 min ago', so a widget's options do not
    change between reruns (Streamlit would then reset the selection)."""
    try:
        return "saved " + _dt.datetime.fromisoformat(saved_at).astimezone(_dt.UTC).strftime("%d %b %H:%M")
    except (TypeError, ValueError):
        return ""


def model_label(meta: dict) -> str:
    """'10-class CNN · All 10 classes · test 94.00% · shipped' or 'my run · Shoes vs the rest · val 97.12% · yours,
    saved 25 Nov 17:52'."""
    origin = "shipped" if meta.get("shipped") else ("yours, " + saved_on(meta.get("saved_at"))).rstrip(", ")
    return " · ".join(
        [inference.model_title(meta), display_name(meta.get("task") or "multiclass"), accuracy_text(meta), origin]
    )


def selected_model() -> str | None:
    """The model chosen in the sidebar (valid, or the default), or None when there is no model."""
    names = [m["name"] for m in models_info()]
    current = st.session_state.get("selected_model")
    if current in names:
        return current
    current = PREFERRED_DEFAULT if PREFERRED_DEFAULT in names else (names[0] if names else None)
    st.session_state["selected_model"] = current
    return current


def _sync_from(widget_key: str) -> None:
    st.session_state["selected_model"] = st.session_state[widget_key]


def model_picker(
    key: str,
    label: str = "Model",
    container=st,
    names: list[str] | None = None,
    help: str | None = None,
    compact: bool = False,
) -> str | None:
    """A model selectbox kept in step with the sidebar's: choosing here changes the global selection.

    Options: the user's own models, newest first, then the shipped ones, each labelled with its
    task, accuracy and age (``model_label``). ``names`` restricts the choice (e.g. to CNNs); when
    the global selection is not among them the first allowed one is shown. ``compact`` (the
    narrow sidebar) shows only the model's title in the box and the rest in a caption under it.
    Returns the chosen name, or None (with a note) when none exist.
    """
    infos = {m["name"]: m for m in models_info()}
    allowed = [n for n in infos if names is None or n in names]
    if not allowed:
        container.info("No saved model yet. Train one on **Build & Train**, or run `make models` for the shipped ones.")
        return None
    current = selected_model()
    # Widget state may be written before the widget is created in this run: that is how the
    # two pickers follow each other without 'value set via session state' warnings.
    st.session_state[key] = current if current in allowed else allowed[0]
    layout.style()  # long labels wrap in the dropdown instead of being cut at 820 px
    fmt = (lambda n: inference.model_title(infos[n])) if compact else (lambda n: model_label(infos[n]))
    chosen = container.selectbox(label, allowed, key=key, format_func=fmt, on_change=_sync_from, args=(key,), help=help)
    if compact and chosen:
        container.caption(" · ".join(model_label(infos[chosen]).split(" · ")[1:]))
    return chosen


def model_mtime(name: str) -> float:
    return saving.find_model(name).stat().st_mtime


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _load_model(name: str, mtime: float):
    model, meta = inference.get_model(name)
    # One throw-away call: the first call of a Keras model builds its graph (~40 ms), which
    # would otherwise show up as the user's first "model call" time.
    inference.predict_one(model, meta, np.zeros((28, 28), np.uint8))
    return model, meta


def load_model(name: str):
    """(Keras model, metadata), loaded once per file version and shared by all sessions."""
    return _load_model(name, model_mtime(name))
