"""The app's frame: the page list, the shared sidebar, the model picker and small display helpers.

Not a page (it lives outside pages/) and not core (it imports Streamlit). Nothing here
imports TensorFlow at module level: the home and dataset pages import this and must start
in a few seconds. Model loading is behind ``load_model``, which imports it on first use.

Session state shared between pages:
  ``selected_model`` : name of the model the user picked in the sidebar (or on a page);
      any page may set it (it is not a widget key), the sidebar shows it on the next run.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from fmnist_core import data as fdata
from fmnist_core import saving

ROOT = Path(__file__).resolve().parent


def _leave_pages_directory_mode() -> None:
    """Make a fresh server route every URL through streamlit_app.py.

    Streamlit treats an app with a ``pages/`` folder as an old-style ("MPA v1") app until the
    first ``st.navigation`` call in the server process: until then a direct link such as
    /dataset runs ``pages/dataset.py`` on its own, without our sidebar, layout or page
    list. The first time this module is imported inside such a run we switch the process to
    ``st.navigation`` mode (what that call itself does) and rerun the session, which then goes
    through streamlit_app.py. Renaming the folder (e.g. to ``app_pages/``) would make this
    unnecessary.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and st.runtime.exists():
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()
PREFERRED_DEFAULT = "fmnist_cnn"

# (section, file, title, icon, one-line description). A page is listed only when its file
# exists, so the app keeps working while pages are being written.
PAGES = [
    ("Learn", "pages/home.py", "Home", ":material/home:", "What the lab is, the data and the models at a glance."),
    ("Learn", "pages/dataset.py", "Dataset", ":material/photo_library:",
     "Browse the 70,000 images by class; counts, mean images, histograms, PCA and t-SNE maps."),
    ("Build", "pages/build_train.py", "Build & Train", ":material/construction:",
     "Stack layers or pick a preset, set hyperparameters and watch it train live."),
    ("Build", "pages/lr_finder.py", "LR Finder", ":material/query_stats:",
     "Sweep the learning rate over a short run and pick a good one from the loss curve."),
    ("Results", "pages/evaluate.py", "Evaluate", ":material/fact_check:",
     "Accuracy, confusion matrix, per-class scores, top losses and feature maps of a saved model."),
    ("Results", "pages/compare_runs.py", "Compare runs", ":material/compare_arrows:",
     "Overlay training curves and hyperparameters of several runs."),
    ("Use", "pages/classify.py", "Classify", ":material/draw:",
     "Draw, upload or photograph a garment; see each preprocessing step, the prediction and a saliency map."),
    ("Studies", "pages/binary_study.py", "Binary vs 10-class", ":material/call_split:",
     "Is a dedicated binary model better than a binarized 10-class one?"),
    ("Studies", "pages/few_shot.py", "Few-shot", ":material/filter_1:",
     "How accuracy grows with 1, 5, 10 ... examples per class."),
]


def available_pages() -> list[tuple]:
    return [p for p in PAGES if (ROOT / p[1]).is_file()]


def navigation_pages() -> dict[str, list]:
    """{section: [st.Page, ...]} for ``st.navigation``, Home first and default."""
    sections: dict[str, list] = {}
    for section, path, title, icon, _ in available_pages():
        sections.setdefault(section, []).append(
            st.Page(path, title=title, icon=icon, default=path == "pages/home.py"))
    return sections


def page_link(path: str, label: str | None = None, icon: str | None = None, help: str | None = None) -> None:
    """st.page_link to a page of the navigation; a plain caption when the page is absent."""
    entry = next((p for p in PAGES if p[1] == path), None)
    label = label or (entry[2] if entry else path)
    if not (ROOT / path).is_file():
        st.caption(f"{label} (not available yet)")
        return
    try:
        st.page_link(path, label=label, icon=icon or (entry[3] if entry else None), help=help)
    except (st.errors.StreamlitAPIException, KeyError):  # page run on its own, outside the navigation
        st.caption(f"{label}: {path}")


# ---------------------------------------------------------------- models

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
    from fmnist_core import inference  # no TF import until a page really needs a model

    model, meta = inference.get_model(name)
    # One throw-away call: the first call of a Keras model builds its graph (~40 ms), which
    # would otherwise show up as the user's first "model call" time.
    inference.predict_one(model, meta, np.zeros((28, 28), np.uint8))
    return model, meta


def load_model(name: str):
    """(Keras model, metadata), loaded once per file version and shared by all sessions."""
    return _load_model(name, model_mtime(name))


# ---------------------------------------------------------------- sidebar

def sidebar() -> None:
    """Dataset status and the model selector, shown on every page."""
    with st.sidebar:
        status = fdata.dataset_status()
        if status["found"]:
            st.success("Fashion-MNIST found", icon=":material/check_circle:")
            st.caption(f"in `{status['folder']}`")
        else:
            st.error(f"Fashion-MNIST not found. Run `{status['fix']}` in the project folder, or set "
                     "`FMNIST_DATA_DIR` to a folder with the four IDX .gz files.", icon=":material/error:")
        model_picker("_sidebar_model", "Selected model",
                     help="The model the Evaluate and Classify pages start with.")


# ---------------------------------------------------------------- display helpers

def enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling: 28x28 pixels stay crisp squares instead of a browser blur."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_data_uri(image: np.ndarray) -> str:
    """uint8 image -> 'data:image/png;base64,...' (28x28 grayscale is about 0.5-1 kB)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


CAPTION_COLORS = {"green": "#2e7d32", "red": "#c62828", None: "rgba(49, 51, 63, 0.65)"}


def gallery(images, captions=None, colors=None, ncols: int = 8, factor: int | None = None) -> None:
    """A grid of small grayscale images with (optionally green/red) captions under each.

    Images fill their grid cell; ``factor`` caps the displayed size at ``factor`` times the
    image's own width (e.g. 3 -> at most 84 px for 28x28).

    One HTML element with the images inlined, shown with crisp pixels (``image-rendering:
    pixelated``; ``object-fit: contain`` because Streamlit's markdown style would otherwise keep
    them at their natural 28 px): far cheaper than one st.image per picture, each fetched separately, which
    made the Dataset page's first render seconds slower.
    """
    images = list(images)
    if not images:
        st.caption("No images.")
        return
    captions = list(captions) if captions is not None else [""] * len(images)
    colors = list(colors) if colors is not None else [None] * len(images)
    cells = []
    for img, cap, color in zip(images, captions, colors):
        size_cap = f"max-width:{np.asarray(img).shape[1] * factor}px;" if factor else ""
        frame = f"border:3px solid {CAPTION_COLORS.get(color, color)};box-sizing:border-box;" if color else ""
        cells.append(
            f'<figure style="margin:0;text-align:center">'
            f'<img src="{png_data_uri(img)}" alt="{html.escape(cap)}" style="width:100%;{size_cap}{frame}'
            f'object-fit:contain;image-rendering:pixelated;border-radius:4px;display:block;margin:0 auto"/>'
            f'<figcaption style="font-size:0.72rem;line-height:1.25;margin-top:2px;'
            f'color:{CAPTION_COLORS.get(color, color)}">{html.escape(cap)}</figcaption></figure>')
    st.markdown(f'<div class="fmnist-gallery" style="display:grid;grid-template-columns:repeat({ncols},'
                f'minmax(0,1fr));gap:10px 8px;margin-bottom:0.5rem">{"".join(cells)}</div>',
                unsafe_allow_html=True)
