"""Carrying an image into the Classify page: from another page, and across a browser reload.

``open_in_classify(image, true_label, source)`` is what an "Open in Classify" button on any
image tile calls (Evaluate, Dataset, the binary study): the 28x28 image and its true label go
into session state and the browser switches to Classify, which shows the image with its true
label, the prediction marked right or wrong, and its saliency map. Call it in the script
body, e.g. ``if st.button("Open in Classify", key=...): handoff.open_in_classify(x[i], y[i], "Evaluate: test #12")``.

Drawings survive a reload (a reload is a new session, so session state is gone): the strokes
are kept server-side under ``$FMNIST_HOME/drawings/<id>.json``, and the id in the page's URL
(``?drawing=<id>``). The store is bounded: at most ``MAX_DRAWINGS`` files (oldest dropped)
of at most ``MAX_DRAWING_BYTES`` each.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import numpy as np
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.modeling import saving
from ui import frame

CLASSIFY_PAGE = "pages/classify.py"
STATE_KEY = "classify_handoff"     # session state: {"image": uint8 (28, 28), "true_label": int | None, "source": str}
INPUT_KEY = "cls_input"            # the Classify page's input selector
INPUT_LABEL = "Opened image"       # its option for a handed-over image
QUERY_KEY = "drawing"              # ?drawing=<id> in the Classify URL
MAX_DRAWINGS = 200
MAX_DRAWING_BYTES = 256 * 1024     # a few hundred freehand strokes; a bigger drawing is not kept
_ID = re.compile(r"[0-9a-f]{16}")


# ---------------------------------------------------------------- from another page

def check_image(image) -> np.ndarray:
    """A Fashion-MNIST image as uint8 (28, 28); raises ValueError for anything else."""
    arr = np.asarray(image)
    if arr.shape != (28, 28):
        raise ValueError(f"open_in_classify expects one 28x28 grayscale image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"open_in_classify expects uint8 pixels 0-255, got {arr.dtype}")
        arr = arr.astype(np.uint8)
    return arr


def open_in_classify(image_uint8_28x28, true_label: int | None = None, source: str = "") -> None:
    """Show ``image`` on the Classify page: store it in session state and switch pages.

    image_uint8_28x28 : uint8 array (28, 28), light on black as in the data set.
    true_label : its 10-class label (0-9), or None when unknown.
    source : where it came from, shown as plain text ("Evaluate: test image #123").
    """
    image = check_image(image_uint8_28x28)
    if true_label is not None:
        if isinstance(true_label, bool) or not isinstance(true_label, (int, np.integer)) \
                or not 0 <= int(true_label) < len(fdata.CLASS_NAMES):
            raise ValueError(f"true_label must be a class index 0-9 or None, got {true_label!r}")
        true_label = int(true_label)
    st.session_state[STATE_KEY] = {"image": image.copy(), "true_label": true_label, "source": str(source)}
    st.session_state[INPUT_KEY] = INPUT_LABEL
    frame.go_to(CLASSIFY_PAGE)


def pending() -> dict | None:
    """The handed-over image (see STATE_KEY), or None."""
    return st.session_state.get(STATE_KEY)


def true_label_text(true_label: int | None) -> str | None:
    return None if true_label is None else fdata.CLASS_NAMES[true_label]


# ---------------------------------------------------------------- drawings across reloads

def drawings_dir() -> Path:
    return saving.home_dir() / "drawings"


def _path(drawing_id: str) -> Path | None:
    return drawings_dir() / f"{drawing_id}.json" if _ID.fullmatch(drawing_id or "") else None


def save_drawing(drawing_id: str | None, strokes: dict, png: bytes | None = None) -> str | None:
    """Keep ``strokes`` (the canvas's ``{"strokes": [...]}``, see ui.sketch) and its rendered PNG under an id; returns the id
    (a new one when ``drawing_id`` is None or malformed), or None when the drawing is too big to keep."""
    import base64

    payload = json.dumps({"strokes": strokes, "png": base64.b64encode(png).decode() if png else None})
    if len(payload) > MAX_DRAWING_BYTES:
        return None
    if _path(drawing_id) is None:
        drawing_id = secrets.token_hex(8)
    folder = drawings_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{drawing_id}.{os.getpid()}.tmp"
    tmp.write_text(payload)
    os.replace(tmp, _path(drawing_id))          # a reader sees the old drawing or the new one, never half
    _prune(folder)
    return drawing_id


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in files[:max(0, len(files) - MAX_DRAWINGS)]:
        old.unlink(missing_ok=True)


def load_drawing(drawing_id: str | None) -> tuple[dict, bytes | None] | None:
    """(strokes, png bytes or None) kept under ``drawing_id``, or None (unknown, malformed or damaged)."""
    import base64

    path = _path(drawing_id)
    if path is None or not path.is_file() or path.stat().st_size > MAX_DRAWING_BYTES:
        return None
    try:
        data = json.loads(path.read_text())
        strokes = data["strokes"]
        png = base64.b64decode(data["png"]) if data.get("png") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(strokes, dict) or not isinstance(strokes.get("objects", []), list):
        return None
    return strokes, png


def forget_drawing(drawing_id: str | None) -> None:
    path = _path(drawing_id)
    if path is not None:
        path.unlink(missing_ok=True)
