"""The learned-feature projector on Evaluate (a model's penultimate-layer features of up to 5,000
images mapped with PCA, t-SNE or UMAP; colour by true or predicted class, misclassified points
drawn as crosses) and ``image_map``, the chart it and Dataset's map are drawn with: hovering a
point shows its image, a lasso selection comes back as the selected points.

The chart is a small custom component (ui/images/projector_component/index.html: Plotly plus a hover
card) because st.plotly_chart reports selections but not hovers.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from fmnist_core.insight import projector
from fmnist_core.insight.figures import CLASS_COLORS
from fmnist_core.modeling.saving import load_metadata
from ui.images import classify_links, plotly_component, tiles

COMPONENT_SRC = Path(__file__).with_name("projector_component")
GALLERY_MAX = 48
SPRITES_KEPT = 64  # sprite files kept in the component folder (the oldest go first): bounded disk
THUMB_PX = 168  # a hovered 28x28 image is shown 6x, each pixel a crisp 6x6 square


COMPONENT = "fmnist_projector"


def _component_dir() -> Path:
    """The component's folder (the one it is declared and served from): its page, a copy of the
    installed plotly.js and the sprites."""
    target = plotly_component.component_dir(COMPONENT, str(COMPONENT_SRC / "index.html"))
    (target / "sprites").mkdir(exist_ok=True)
    return target


def _component():
    _component_dir()
    return plotly_component.declare(COMPONENT, str(COMPONENT_SRC / "index.html"))


def sprite_sheet(images: np.ndarray) -> tuple[np.ndarray, int]:
    """(n, 28, 28) uint8 -> one grid image ``cols`` tiles wide (row-major: image i at row i // cols)."""
    images = np.asarray(images, dtype=np.uint8)
    n, h, w = images.shape
    cols = max(1, int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / cols))
    sheet = np.zeros((rows * cols, h, w), np.uint8)
    sheet[:n] = images
    return sheet.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w), cols


def sprite(images: np.ndarray) -> tuple[str, int]:
    """All thumbnails in one PNG file in the component's folder, named by the images' hash, and its
    URL relative to the component's page: the browser fetches (and caches) one file instead of
    thousands, and a rerun sends a short name instead of megabytes of base64."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    digest = hashlib.sha1(images.tobytes() + str(images.shape).encode()).hexdigest()[:20]
    folder = _component_dir() / "sprites"
    path = folder / f"{digest}.png"
    cols = max(1, int(np.ceil(np.sqrt(len(images)))))  # as sprite_sheet lays it out
    if not path.is_file():
        # Written aside, then renamed into place: a browser (or another session) never reads half a file.
        tmp = folder / f"{digest}.{os.getpid()}.{threading.get_ident()}.tmp"
        Image.fromarray(sprite_sheet(images)[0]).save(tmp, format="PNG")
        tmp.replace(path)
        for old in sorted(folder.glob("*.png"), key=lambda f: f.stat().st_mtime)[:-SPRITES_KEPT]:
            old.unlink(missing_ok=True)
    return f"sprites/{path.name}", cols


def image_map(
    fig: go.Figure, images: np.ndarray, captions: list[str], *, key: str, caption_colors: list[str] | None = None
) -> list[int]:
    """Draw ``fig`` with hover images; return the rows of ``images`` selected with the lasso or box.

    Every trace's ``customdata`` holds, per point, its row in ``images`` (n, 28, 28) and in
    ``captions`` (n,); hovering shows that image ``THUMB_PX`` px wide with its caption (in its
    ``caption_colors`` colour, if given) beside the point.
    """
    url, cols = sprite(images)
    value = _component()(
        figure=fig.to_json(),
        sprite=url,
        sprite_cols=cols,
        captions=list(captions),
        colors=caption_colors,
        thumb_px=THUMB_PX,
        key=key,
        default=None,
    )
    return [int(i) for i in (value or {}).get("selected", []) if 0 <= int(i) < len(images)]


def figure(coords, colour_by, wrong, class_names, explained, method) -> go.Figure:
    """One trace per class (its own colour), then crosses over the misclassified; customdata = point id."""
    fig = go.Figure()
    for k, cname in enumerate(class_names):
        ids = np.flatnonzero(colour_by == k)
        if not len(ids):
            continue
        fig.add_trace(
            go.Scatter(
                x=coords[ids, 0].tolist(),
                y=coords[ids, 1].tolist(),
                mode="markers",
                name=cname,
                customdata=ids.tolist(),
                hoverinfo="none",
                marker=dict(size=6, color=CLASS_COLORS[k % len(CLASS_COLORS)], opacity=0.8, line=dict(width=0)),
            )
        )
    bad = np.flatnonzero(wrong)
    if len(bad):  # a black cross over each misclassified point, one legend entry to hide them all
        fig.add_trace(
            go.Scatter(
                x=coords[bad, 0].tolist(),
                y=coords[bad, 1].tolist(),
                mode="markers",
                name="misclassified",
                customdata=bad.tolist(),
                hoverinfo="none",
                marker=dict(size=7, color="rgba(0,0,0,0.85)", symbol="x-thin-open", line=dict(width=1.5)),
            )
        )
    label = projector.METHOD_LABELS[method]
    axes = [f"{label} 1", f"{label} 2"]
    if explained:
        axes = [f"{a} ({v:.0%} of variance)" for a, v in zip(axes, explained)]
    fig.update_layout(
        height=560,
        dragmode="lasso",
        xaxis_title=axes[0],
        yaxis_title=axes[1],
        # A top margin for Plotly's toolbar: above the legend, not over its first entries.
        margin=dict(l=10, r=10, t=36, b=10),
        legend=dict(itemsizing="constant", y=1, yanchor="top"),
        hovermode="closest",
        template="plotly_white",
    )
    return fig


def projector_section(
    name: str,
    split: str,
    images: np.ndarray,
    y: np.ndarray,
    probs: np.ndarray,
    class_names: list[str],
    key: str = "proj",
) -> None:
    """The whole section. ``images``, ``y`` and ``probs`` are the page's split (all images, the
    task's labels and probabilities), so the colours match the task the page scores."""
    st.subheader("Learned-feature projector")
    st.caption(
        "Each point is one image, placed by what the model's last hidden layer makes of it (the "
        "features its output layer reads). Images the model finds alike sit together."
    )
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    method = c1.radio(
        "Map", projector.METHODS, format_func=projector.method_labels().get, horizontal=True, key=f"{key}_method"
    )
    n = c2.select_slider("Images", projector.SIZES, value=2000, key=f"{key}_n")
    colour = c3.radio("Colour by", ["true class", "predicted class"], horizontal=True, key=f"{key}_colour")
    umap_ok, why = projector.umap_available() if method == "umap" else (True, "")
    if not umap_ok:
        st.warning(f"{why}. PCA and t-SNE work without it.")
        return
    wanted = f"{name}|{split}|{n}|{method}"
    ready = st.session_state.setdefault(f"{key}_ready", [])
    if method != "pca" and wanted not in ready:
        st.info(
            f"{projector.METHOD_LABELS[method]} of {n:,} images takes from seconds to a minute or two on a "
            "CPU; the result is stored, so it opens instantly next time."
        )
        if not c4.button("Compute", type="primary", key=f"{key}_go"):
            return
    with st.spinner(f"Features of {n:,} images, then {projector.METHOD_LABELS[method]}…"):
        proj = projector.projection(name, split, n, method)
    if wanted not in ready:
        ready.append(wanted)
    index = proj["index"]
    pred = probs[index].argmax(axis=1)
    true = np.asarray(y)[index]
    wrong = pred != true
    colour_by = true if colour == "true class" else pred
    fig = figure(proj["coords"], colour_by, wrong, class_names, proj["explained"], method)
    captions = [
        f"#{int(i)} {class_names[t]}" + ("" if t == p else f" → predicted {class_names[p]}") + f" · {probs[i, p]:.0%}"
        for i, t, p in zip(index, true, pred)
    ]
    selected = image_map(
        fig,
        images[index],
        captions,
        key=f"{key}_chart_{wanted}",
        caption_colors=[tiles.CAPTION_COLORS["red" if w else "green"] for w in wrong],
    )
    st.caption(
        f"{len(index):,} images of the {split} split (stratified sample, seed 0), {proj['dims']}-dimensional "
        f"features; {int(wrong.sum()):,} misclassified (×). "
        + ("Opened from the stored result." if proj["cached"] else f"Computed in {proj['seconds']:.1f} s.")
        + " Hover a point to see its image; draw a lasso (or a box, from the chart's toolbar) to see "
        "a group's images below; click a class in the legend to hide it."
    )
    st.session_state[f"{key}_selected"] = selected
    if selected:
        counts = np.bincount(true[selected], minlength=len(class_names))
        st.markdown(
            f"**{len(selected):,} images selected** ({int(wrong[selected].sum())} misclassified): "
            + ", ".join(f"{class_names[k]} {counts[k]}" for k in np.argsort(-counts) if counts[k])
        )
        shown = selected[:GALLERY_MAX]
        tiles.gallery(
            [images[index[i]] for i in shown],
            [captions[i] for i in shown],
            colors=["red" if wrong[i] else "green" for i in shown],
            ncols=12,
        )
        if len(selected) > GALLERY_MAX:
            st.caption(f"Showing the first {GALLERY_MAX} of {len(selected):,}.")
        classify_links.picker(
            [int(index[i]) for i in shown],
            images,
            classify_links.labels10(load_metadata(name), split),
            f"Evaluate projector ({split})",
            f"{key}_open",
        )
