"""Home: what the lab is, the data set's status, the saved models and a map of the pages.

Imports no TensorFlow (see tests/test_app_pages.py): it must render fast from a cold start.
"""

import pandas as pd
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import display_name
from fmnist_core.modeling import inference
from ui.app import catalog, frame, guide

st.title("Fashion-MNIST Lab")
st.markdown(
    "Learn deep learning hands-on on **Fashion-MNIST**: 70,000 grayscale 28×28 photos of clothing in 10 "
    "classes. Browse the data, build and train models live, find a learning rate, evaluate what a model "
    "gets wrong and why, and try it on your own drawings and photos. Everything runs on this machine's CPU."
)

guide.start_here()
guide.questions()

# ---------------------------------------------------------------- data set
st.subheader("Data set")
status = fdata.dataset_status()
if status["found"]:
    st.success(
        f"Fashion-MNIST is installed in `{status['folder']}`: 60,000 training and 10,000 test images, "
        f"classes {', '.join(fdata.CLASS_NAMES)}.",
        icon=":material/check_circle:",
    )
else:
    st.error("Fashion-MNIST was not found, so the pages that need data cannot work yet.", icon=":material/error:")
    st.markdown("**Fix:** in the project folder, run")
    st.code(status["fix"], language="bash")
    st.markdown(
        "It installs Debian's `dataset-fashion-mnist` package (or downloads the files with Keras). "
        "Alternatively set `FMNIST_DATA_DIR` to a folder holding the four IDX `.gz` files. Searched:"
    )
    st.code("\n".join(status["notes"] or status["searched"]))

# ---------------------------------------------------------------- models
st.subheader("Saved models")
infos = catalog.models_info()
if not infos:
    st.info("No saved model yet. Run `make models` to train the shipped ones, or train your own on **Build & Train**.")
else:

    def pct(metrics):
        acc = (metrics or {}).get("accuracy")
        return None if acc is None else f"{acc:.2%}"  # one format everywhere: 94.00%

    rows = [
        {
            "model": inference.model_title(m),
            "task": display_name(m.get("task") or "multiclass"),
            "test acc.": pct(m.get("test_metrics")),
            "val. acc.": pct(m.get("val_metrics")),
            "weights": "–" if m.get("n_params") is None else f"{int(m['n_params']):,}",
            "saved": " · ".join(
                filter(
                    None,
                    ("shipped" if m.get("shipped") else "yours", catalog.age(m.get("saved_at")).replace(" ", "\u00a0")),
                )
            ),
        }
        for m in infos
    ]
    # A static table: its cells wrap, so every name and figure is readable at 820 px (a data grid there
    # cut the task column and hid the rest behind a horizontal scroll bar).
    st.table(pd.DataFrame(rows).set_index("model"))
    st.caption(
        "Test accuracy is on the 10,000 official test images (never used for training or model choice); "
        "validation accuracy on the held-out 10% of the training images. Weights: its number of "
        "parameters. `python -m fmnist_core models` lists them by file name for the command line."
    )

# ---------------------------------------------------------------- pages
st.subheader("Pages")
sections: dict[str, list] = {}
for page in frame.PAGES:
    sections.setdefault(page[0], []).append(page)
cols = [c for _ in range(3) for c in st.columns(2)]  # two per row: five narrow columns cut the names at 820 px
for col, (section, pages) in zip(cols, sections.items()):
    with col:
        st.markdown(f"**{section}**")
        for _, path, title, icon, blurb in pages:
            if path == "pages/home.py":
                continue
            frame.page_link(path, title, icon)
            st.caption(blurb)

st.divider()
left, right = st.columns([3, 2])
with left:
    st.markdown(
        "**Quick classify:** draw a garment, upload a photo or use your camera, and see each "
        "preprocessing step, the top-5 classes and what the model looked at."
    )
with right:
    frame.page_link("pages/classify.py", "Classify an image →", ":material/draw:")
