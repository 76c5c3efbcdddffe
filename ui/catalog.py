"""Which saved models exist, which one is selected, and loading them once for all sessions.

Nothing here imports TensorFlow at module level: Home and Dataset must start in a few seconds.

Session state shared between pages:
  ``selected_model`` : name of the model the user picked in the sidebar (or on a page);
      any page may set it (it is not a widget key), the sidebar shows it on the next run.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.modeling import saving

PREFERRED_DEFAULT = "fmnist_cnn"


def models_info() -> list[dict]:
    """Metadata of the usable saved models (unreadable ones are left out). Reads small JSON files: cheap."""
    return [m for m in saving.list_models() if "error" not in m]


def model_label(meta: dict) -> str:
    task = (meta.get("task") or {}).get("name", "multiclass")
    acc = (meta.get("test_metrics") or {}).get("accuracy")
    if acc is None:
        acc = (meta.get("val_metrics") or {}).get("accuracy")
        acc_txt = f"val {acc:.1%}" if acc is not None else "no score"
    else:
        acc_txt = f"test {acc:.1%}"
    kind = "10 classes" if task == "multiclass" else task
    return f"{meta['name']} · {kind} · {acc_txt}"


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


def model_picker(key: str, label: str = "Model", container=st, names: list[str] | None = None,
                 help: str | None = None) -> str | None:
    """A model selectbox kept in step with the sidebar's: choosing here changes the global selection.

    ``names`` restricts the choice (e.g. to CNNs); when the global selection is not among them
    the first allowed one is shown. Returns the chosen name, or None (with a note) when none exist.
    """
    infos = {m["name"]: m for m in models_info()}
    allowed = [n for n in (names if names is not None else list(infos)) if n in infos]
    if not allowed:
        container.info("No saved model yet. Train one on **Build & Train**, or run `make models` for the "
                       "shipped ones.")
        return None
    current = selected_model()
    # Widget state may be written before the widget is created in this run: that is how the
    # two pickers follow each other without 'value set via session state' warnings.
    st.session_state[key] = current if current in allowed else allowed[0]
    return container.selectbox(label, allowed, key=key, format_func=lambda n: model_label(infos[n]),
                               on_change=_sync_from, args=(key,), help=help)


def model_mtime(name: str) -> float:
    return saving.find_model(name).stat().st_mtime


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _load_model(name: str, mtime: float):
    from fmnist_core.modeling import inference  # no TF import until a page really needs a model

    model, meta = inference.get_model(name)
    # One throw-away call: the first call of a Keras model builds its graph (~40 ms), which
    # would otherwise show up as the user's first "model call" time.
    inference.predict_one(model, meta, np.zeros((28, 28), np.uint8))
    return model, meta


def load_model(name: str):
    """(Keras model, metadata), loaded once per file version and shared by all sessions."""
    return _load_model(name, model_mtime(name))
