"""The Classify page's parts: input widgets, preprocessing strip, prediction, saliency.

``panel`` is an ``st.fragment``: a canvas stroke (or any widget inside it) reruns only the
panel, not the page. The model is loaded in the background as soon as the page opens
(``ui.tasks.model_warmup``), so it is warm before the first stroke.

Session state written for tests and other pages:
  ``classify_result`` : {"model", "top1", "p", "probs", "image" (28x28 list), "true" (task class
      name or None), "correct" (bool or None), "saliency_for" (class the map explains)}.
"""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from ui.app.text import plain  # noqa: F401  (the page calls view.plain: one escaping rule app-wide)

CANVAS_SIZE = 280
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]
INPUTS = ["Draw", "Upload", "Camera", "Test image"]
TOP1 = "__top1__"  # the saliency selector's "follow the prediction" option
CANVAS_HELP = (
    "Draw **one** garment, light on black, like the data set: a T-shirt, trousers, a shoe, a bag… "
    "Fill it in: Fashion-MNIST items are solid shapes, not outlines. It is cropped to what you draw "
    "and scaled to 28×28, so size and position do not matter. **Undo** and **Redo** under the canvas "
    "take back one stroke; **Clear** starts again."
)

# ---------------------------------------------------------------- pictures


def thumbnail(arr: np.ndarray, side: int = 200) -> Image.Image:
    """Fit a step's image into a side x side frame (letterboxed on grey), so the steps line up.
    Small images are enlarged by whole pixels (nearest) so 28x28 pixels stay visible squares."""
    img = Image.fromarray(np.asarray(arr, dtype=np.uint8))
    w, h = img.size
    if max(w, h) * 2 <= side:
        f = side // max(w, h)
        img = img.resize((w * f, h * f), Image.Resampling.NEAREST)
    else:
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
    frame = Image.new("RGBA", (side, side), (128, 128, 128, 255))
    rgba = img.convert("RGBA")
    frame.paste(rgba, ((side - img.width) // 2, (side - img.height) // 2), rgba)
    return frame


def show_steps(steps) -> None:
    st.subheader("Preprocessing")
    if len(steps) == 1:  # already in Fashion-MNIST form: one line, not six identical pictures
        title, arr = steps[0]
        c1, c2 = st.columns([1, 5], vertical_alignment="center")
        c1.image(thumbnail(arr, 112))
        c2.markdown(title)
        return
    cols = st.columns(len(steps))
    for col, (title, arr) in zip(cols, steps):
        col.image(thumbnail(arr), caption=title, width="stretch")
    st.caption(
        "Fashion-MNIST items are light on black and fill the frame on their longest side; these steps "
        f"bring any picture to that form. The model only ever sees step {len(steps)}."
    )


def bar_chart(p, names, k, height=None) -> dict:
    """Top-k horizontal bars, best on top (a plain dict figure: no graph_objects validation per stroke)."""
    order = np.argsort(-p)[:k][::-1]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [float(p[i]) for i in order],
                "y": [names[i] for i in order],
                "text": [f"{p[i]:.1%}" for i in order],
                "textposition": "auto",
                "hovertemplate": "%{y}: %{x:.2%}<extra></extra>",
                "marker": {"color": ["#2e7d32" if i == order[-1] else "#90a4ae" for i in order]},
            }
        ],
        "layout": {
            "height": height or 60 + 32 * len(order),
            "xaxis": {"range": [0, 1], "tickformat": ".0%"},
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        },
    }


def saliency_title(method: str, target: str) -> str:
    return f"{method.lower()} saliency for {target}"


def saliency_figure(image28: np.ndarray, smap: np.ndarray, method: str, target: str) -> go.Figure:
    from plotly.subplots import make_subplots

    fig = make_subplots(
        1, 2, subplot_titles=("model input (28×28)", saliency_title(method, target)), horizontal_spacing=0.08
    )
    fig.add_trace(
        go.Heatmap(
            z=image28,
            colorscale="gray",
            showscale=False,
            zmin=0,
            zmax=255,
            hovertemplate="x %{x}, y %{y}: %{z}<extra></extra>",
        ),
        1,
        1,
    )
    if method == "Occlusion":
        lim = float(np.abs(smap).max()) or 1.0
        fig.add_trace(
            go.Heatmap(
                z=smap,
                colorscale="RdBu_r",
                zmid=0,
                zmin=-lim,
                zmax=lim,
                colorbar=dict(title="log-odds drop", len=0.9),
                hovertemplate="x %{x}, y %{y}: drop %{z:.2f}<extra></extra>",
            ),
            1,
            2,
        )
    else:
        fig.add_trace(
            go.Heatmap(
                z=smap,
                colorscale="Inferno",
                zmin=0,
                zmax=1,
                colorbar=dict(len=0.9),
                hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>",
            ),
            1,
            2,
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def saliency_caption(method: str, target: str) -> str:
    if method == "Occlusion":
        return (
            f"For **{target}**: red regions support it (hiding them lowers its log-odds), blue regions argue "
            "against it, white has no effect."
        )
    return (
        f"For **{target}**: bright pixels are where a small change moves its probability most (absolute "
        "gradient, scaled to the largest)."
    )


def verdict(names: list[str], best: int, true_idx: int | None) -> tuple[str, bool] | None:
    """('Right: ...' or 'Wrong: ...', correct) for a known true class, else None."""
    if true_idx is None:
        return None
    if best == true_idx:
        return f"Right: the true class is {names[true_idx]}.", True
    return f"Wrong: the true class is {names[true_idx]}, the model says {names[best]}.", False


def timed_ms(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000
