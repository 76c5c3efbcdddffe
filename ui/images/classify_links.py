"""'Open in Classify' under an image gallery (Evaluate, Dataset, the binary study): pick one of the
shown images and it opens in Classify with its true label (``ui.app.handoff.open_in_classify``), where
the prediction is marked right or wrong and its saliency shown."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.data.fashion_mnist import CLASS_NAMES
from ui.app import handoff


def labels10(meta: dict, split: str) -> np.ndarray:
    """The 10-class labels of a model's split (test, or its own validation split)."""
    from fmnist_core.modeling import inference

    return inference.split_data(split, *inference.split_args(meta))[1]


def picker(indices, images, y10, source: str, key: str) -> None:
    """A selectbox of the gallery's images (by index and true class) and an 'Open in Classify' button.

    indices : the shown images' indices into ``images`` / ``y10`` (uint8 (n, 28, 28), labels 0-9).
    source : where they come from, e.g. "Evaluate, test split"; the image's index is added.
    """
    indices = [int(i) for i in indices]
    if not indices:
        return
    # A row that gives the button its whole label and the selectbox the rest (columns cut the label at 820 px).
    row = st.container(horizontal=True, vertical_alignment="bottom")
    pick = row.selectbox(
        "Open one of these images in Classify",
        indices,
        key=key,
        format_func=lambda i: f"#{i} · {CLASS_NAMES[int(y10[i])]}",
        help="Classify shows it with its true label, every model's prediction marked right or "
        "wrong, and the saliency map.",
    )
    if row.button("Open in Classify", icon=":material/open_in_new:", key=f"{key}_go", width="content"):
        handoff.open_in_classify(np.asarray(images[pick]), int(y10[pick]), f"{source} #{pick}")
