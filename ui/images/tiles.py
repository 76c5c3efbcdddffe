"""Image tiles: crisp enlarged pixels and one-element HTML galleries with coloured captions."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import streamlit as st
from PIL import Image


def enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling: 28x28 pixels stay crisp squares instead of a browser blur."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_data_uri(image: np.ndarray) -> str:
    """uint8 image -> 'data:image/png;base64,...' (28x28 grayscale is about 0.5-1 kB)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


TILE_MIN_PX = 76
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
            f'color:{CAPTION_COLORS.get(color, color)}">{html.escape(cap)}</figcaption></figure>'
        )
    # ``ncols`` columns where they fit, fewer (each at least TILE_MIN_PX) on a narrow page: at 820 px
    # eight columns made 54 px tiles with captions broken over three lines.
    columns = f"repeat(auto-fill,minmax(max({TILE_MIN_PX}px,calc((100% - {ncols - 1} * 8px) / {ncols})),1fr))"
    st.markdown(
        f'<div class="fmnist-gallery" style="display:grid;grid-template-columns:{columns};'
        f'gap:10px 8px;margin-bottom:0.5rem">{"".join(cells)}</div>',
        unsafe_allow_html=True,
    )
