"""A drawing canvas for Classify: white strokes on black, sent the moment the pen lifts.

A small ``st.components.v2`` component (ui/images/sketch_component: canvas, undo, redo; no iframe) in
place of streamlit-drawable-canvas, whose bundle waits a fixed 200 ms after every stroke before
sending it: two thirds of the 300 ms a stroke may take to show its prediction.

What comes back is validated here, at the boundary: the PNG is capped in bytes before decoding
and the strokes (kept only to redraw the picture after a reload) must have the expected shape.
"""

from __future__ import annotations

import base64
import functools
import math
from pathlib import Path

import streamlit as st

SRC = Path(__file__).with_name("sketch_component")
MAX_PNG_BYTES = 2 * 1024 * 1024  # a 280x280 drawing is ~10-40 KB
MAX_STROKES = 2_000
MAX_POINTS = 20_000  # the component stops adding points there too
PNG_PREFIX = "data:image/png;base64,"


@functools.lru_cache(maxsize=1)
def _component():
    # Registered on first use, inside a running app (not at import: AppTest and the CLI import ui).
    return st.components.v2.component(
        "fmnist_sketch",
        html='<div class="fmnist-sketch"><canvas></canvas><div class="bar">'
        '<button data-act="undo" title="Remove the last stroke">Undo</button>'
        '<button data-act="redo" title="Put the stroke back">Redo</button></div></div>',
        js=(SRC / "sketch.js").read_text(),
        css=(SRC / "sketch.css").read_text(),
    )


def valid_strokes(strokes) -> list[dict] | None:
    """``strokes`` as ``[{"w": width, "p": [x0, y0, x1, y1, ...]}, ...]`` if it has that shape
    within the size limits, else None."""
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        return None
    out, points = [], 0
    for s in strokes:
        if not isinstance(s, dict):
            return None
        w, p = s.get("w"), s.get("p")
        if (
            not isinstance(w, (int, float))
            or isinstance(w, bool)
            or not 0 < w <= 200
            or not isinstance(p, list)
            or not p
            or len(p) % 2
        ):
            return None
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p):
            return None
        points += len(p) // 2
        if points > MAX_POINTS:
            return None
        out.append({"w": float(w), "p": [float(v) for v in p]})
    return out


def decode_png(data_url) -> bytes | None:
    """The PNG bytes of a ``data:image/png;base64,`` URL, or None if it is not one or is too big."""
    if not isinstance(data_url, str) or not data_url.startswith(PNG_PREFIX):
        return None
    if (len(data_url) - len(PNG_PREFIX)) * 3 // 4 > MAX_PNG_BYTES:
        return None
    try:
        return base64.b64decode(data_url[len(PNG_PREFIX) :], validate=True)
    except ValueError:
        return None


def sketch(key: str, *, size: int = 280, brush: int = 18, initial: list[dict] | None = None):
    """Draw the canvas; returns (png bytes or None, strokes).

    png is None until the user has drawn (or undone) something in this canvas. ``initial`` strokes
    are drawn when the canvas is created (a restored drawing); a new ``key`` is a fresh canvas.
    """
    initial = valid_strokes(initial or []) or []
    result = _component()(
        data={"size": int(size), "brush": int(brush), "initial": initial, "initialKey": key},
        key=key,
        default={"drawing": None},
        on_drawing_change=lambda: None,
        width="content",
        height="content",
    )
    drawing = result.get("drawing") if hasattr(result, "get") else None
    if not isinstance(drawing, dict):
        return None, initial
    strokes, png = valid_strokes(drawing.get("strokes")), decode_png(drawing.get("png"))
    if strokes is None or png is None:  # not what our component sends: ignore it whole
        return None, initial
    return png, strokes
