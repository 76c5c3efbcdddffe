"""Dataset: browse Fashion-MNIST by class, and see what the classes look like on average.

numpy, scikit-learn and Plotly only (no TensorFlow): this page must render within a few
seconds from a cold start. The work is in ``fmnist_core.insight.explore``; results are cached.
"""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.insight import explore, figures
from ui.app import layout
from ui.images import classify_links, projector, tiles

CLASSES = list(fdata.CLASS_NAMES)
PALETTE = figures.CLASS_COLORS  # one fixed colour per class, the same on every page
PAGE_SIZE = 48
ALL = "All classes"

st.title("Dataset")
status = fdata.dataset_status()
if not status["found"]:
    st.error(
        f"Fashion-MNIST is not installed. Run `{status['fix']}` in the project folder, then reload.",
        icon=":material/error:",
    )
    st.stop()


@st.cache_resource(show_spinner="Loading images…")
def split_arrays(split: str):
    """Read-only uint8 images and labels of a split, shared by all sessions (no copy per run)."""
    return explore.split_arrays(split)


@st.cache_resource(show_spinner=False)
def warm_up():
    """Once per server: split the training images and store the class statistics in the background."""
    return explore.warm_up()


@st.cache_data(show_spinner="Computing the class statistics (once; then they are stored)…")
def stats():
    return explore.dataset_stats()


def class_counts():
    return {s: stats()[f"{s}_counts"].tolist() for s in explore.SPLITS}


def mean_std(split: str):
    return stats()[f"{split}_mean"], stats()[f"{split}_std"]


@st.cache_data(show_spinner=False)
def histograms(split: str, skip_background: bool):
    return explore.histograms_from_counts(stats()[f"{split}_pixels"], bins=32, skip_background=skip_background)


@st.cache_data(show_spinner="Computing the embedding…", max_entries=8)
def embedding(split: str, method: str, n: int):
    return explore.embedding(*split_arrays(split), method=method, n=n)


warm_up()
split = st.segmented_control(
    "Split",
    explore.SPLITS,
    default="test",
    required=True,
    key="ds_split",
    help="Test: the official 10,000 test images (shown first: it needs no split, so the "
    "page opens fastest). Train and validation: the seeded 90/10 split of the 60,000 "
    "training images that training uses.",
)


def browse_view(split, x, y):
    """A grid of n images of one class (or all): random samples or the next n in file order."""
    # One row that wraps (the buttons keep their labels at 820 px, where four columns cut them to "S…").
    row = st.container(horizontal=True, vertical_alignment="bottom")
    cls_name = row.selectbox("Class", [ALL] + CLASSES, key="ds_class")
    n = row.slider("Images", 8, 64, 24, step=8, key="ds_n")
    state = st.session_state
    view = (split, cls_name)
    if state.get("ds_view") != view:  # new class or split: start again from the top
        state.update(ds_view=view, ds_mode="random", ds_seed=0, ds_start=0)
    if row.button("Shuffle", icon=":material/shuffle:", key="ds_shuffle"):
        state.update(ds_mode="random", ds_seed=state.ds_seed + 1)
    if row.button("Next", icon=":material/arrow_forward:", key="ds_next"):
        state.ds_start = state.ds_start + n if state.ds_mode == "next" else 0
        state.ds_mode = "next"
    cls = None if cls_name == ALL else CLASSES.index(cls_name)
    idx = explore.browse(y, cls, n, mode=state.ds_mode, start=state.ds_start, seed=state.ds_seed)
    state["dataset_shown"] = {"split": split, "class": cls_name, "indices": idx.tolist()}
    pool = len(y) if cls is None else int((y == cls).sum())
    where = (
        f"random sample #{state.ds_seed + 1}"
        if state.ds_mode == "random"
        else f"images {state.ds_start % pool + 1}–{(state.ds_start % pool) + len(idx)} in file order"
    )
    st.caption(
        f"{len(idx)} of {pool:,} {cls_name if cls is not None else ''} images in the {split} split, "
        f"{where}. Captions: index in the split · label."
    )
    tiles.gallery([x[i] for i in idx], [f"#{i} · {CLASSES[y[i]]}" for i in idx], ncols=8)
    classify_links.picker(idx, x, y, f"Dataset ({split})", "ds_browse_open")


def statistics_view(split):
    """Class counts of the three splits, mean/std images and pixel histograms."""
    counts = class_counts()
    st.subheader("Images per class")
    table = pd.DataFrame({s: counts[s] for s in explore.SPLITS}, index=CLASSES)
    table.loc["Total"] = table.sum()
    with layout.stacked("ds_counts"):  # the table under the chart at 820 px (its columns were cut)
        left, right = st.columns([3, 2])
    with left:
        fig = go.Figure(
            [
                go.Bar(name=s, x=CLASSES, y=counts[s], marker_color=color)
                for s, color in zip(explore.SPLITS, ("#4E79A7", "#A0CBE8", "#F28E2B"))
            ]
        )
        # Legend in a row just above the plot, Plotly's toolbar above that: neither covers the other at 820 px.
        fig.update_layout(
            barmode="group",
            height=400,
            margin=dict(l=10, r=10, t=72, b=10),
            xaxis_tickangle=-35,
            yaxis_title="images",
            legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        )
        st.plotly_chart(fig, key="ds_counts_chart")
    with right:
        st.dataframe(
            table,
            height=35 * (len(table) + 1) + 3,
            column_config={s: st.column_config.NumberColumn(format="localized") for s in explore.SPLITS},
        )
        st.caption("Every class has exactly the same number of images: accuracy is a fair summary here.")

    st.subheader(f"Mean and standard-deviation image per class ({split})")
    means, stds = mean_std(split)
    st.caption(
        "Mean: the 'average' garment of each class. Std: where images of the class disagree (bright = varies a lot)."
    )
    tiles.gallery(np.clip(means, 0, 255).astype(np.uint8), [f"mean · {c}" for c in CLASSES], ncols=10)
    tiles.gallery((stds / max(stds.max(), 1e-9) * 255).astype(np.uint8), [f"std · {c}" for c in CLASSES], ncols=10)

    st.subheader("Pixel intensities")
    with layout.stacked("ds_hist"):  # the toggle under the classes at 820 px (its label was cut)
        h1, h2 = st.columns([3, 1])
    shown = h1.multiselect("Classes", CLASSES, default=["Trouser", "Shirt", "Sandal", "Bag"], key="ds_hist_classes")
    skip = h2.toggle(
        "Ignore black background",
        value=True,
        key="ds_hist_skip",
        help="About half of every image is 0 (background); leaving it out shows the garment's pixels.",
    )
    hist = histograms(split, skip)
    centers = (hist["edges"][:-1] + hist["edges"][1:]) / 2
    fig = go.Figure()
    for c in shown:
        k = CLASSES.index(c)
        fig.add_trace(
            go.Scatter(x=centers, y=hist["density"][k], mode="lines", name=c, line=dict(color=PALETTE[k], width=2))
        )
    fig.update_layout(
        height=360,
        xaxis_title="pixel value (0 = black, 255 = white)",
        yaxis_title="share of pixels",
        margin=dict(l=10, r=10, t=72, b=10),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    st.plotly_chart(fig, key="ds_hist_chart")
    st.caption(
        "Background share (pixels exactly 0): "
        + ", ".join(f"{c} {hist['background_share'][CLASSES.index(c)]:.0%}" for c in shown)
    )


def embedding_view(split, x, y):
    """PCA or t-SNE scatter of a stratified sample; selected points are shown as images."""
    e1, e2, e3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    method = e1.radio(
        "Method",
        ["pca", "tsne"],
        horizontal=True,
        key="ds_embed_method",
        format_func={"pca": "PCA (instant)", "tsne": "t-SNE (slower)"}.get,
    )
    limit = explore.TSNE_MAX if method == "tsne" else 10_000
    n_points = e2.select_slider(
        "Images",
        [500, 1000, 2000, 5000, 10_000][: 3 if method == "tsne" else 5],
        value=1000 if method == "tsne" else 5000,
        key=f"ds_embed_n_{method}",
    )
    n_points = min(n_points, limit)
    ready = st.session_state.setdefault("ds_embed_ready", [])
    wanted = [split, method, n_points]
    if method == "tsne" and wanted not in ready:
        run = e3.button("Compute", type="primary", key="ds_embed_go", width="stretch")
        st.info("t-SNE takes several seconds on a CPU (about 5-15 s for 1,000 images). Press **Compute**.")
        if run:
            ready.append(wanted)
            st.rerun()
    else:
        emb = embedding(split, method, n_points)
        if wanted not in ready:
            ready.append(wanted)
        chosen = map_view(emb, split, method, x, y)
        st.session_state["dataset_selected"] = chosen
        if chosen:
            selection_view(chosen, x, y)


def map_view(emb: dict, split: str, method: str, x, y) -> list[int]:
    """The map, one trace per class; hovering a point shows its image. Returns the lasso's images
    (indices in the split)."""
    fig = go.Figure()
    for k, c in enumerate(CLASSES):
        rows = np.flatnonzero(emb["label"] == k)  # customdata: the point's row in the map's arrays
        fig.add_trace(
            go.Scattergl(
                x=emb["coords"][rows, 0],
                y=emb["coords"][rows, 1],
                mode="markers",
                name=c,
                customdata=rows,
                hoverinfo="none",
                marker=dict(size=5, color=PALETTE[k], opacity=0.75),
            )
        )
    axis = ("PC 1", "PC 2") if method == "pca" else ("t-SNE 1", "t-SNE 2")
    if emb["explained"]:
        axis = tuple(f"{a} ({v:.0%} of variance)" for a, v in zip(axis, emb["explained"]))
    # A top margin for Plotly's toolbar, so it sits above the legend (right) instead of over it.
    fig.update_layout(
        height=560,
        xaxis_title=axis[0],
        yaxis_title=axis[1],
        dragmode="lasso",
        hovermode="closest",
        margin=dict(l=10, r=10, t=36, b=10),
        template="plotly_white",
        legend=dict(itemsizing="constant", y=1, yanchor="top"),
    )
    index = emb["index"]
    rows = projector.image_map(
        fig, x[index], [f"#{i} · {CLASSES[y[i]]}" for i in index], key=f"ds_map_{split}_{method}_{len(index)}"
    )
    st.caption(
        f"{len(index):,} images of the {split} split, stratified by class. Hover a point to see its image "
        "(#index in the split · class). Draw a lasso round some points (the box tool is in the chart's "
        "toolbar) to see those images; click a class in the legend to hide it, double-click to show only it."
    )
    return [int(index[r]) for r in rows]


def selection_view(chosen: list[int], x, y) -> None:
    """The selected images: how many of each class, then a paged gallery (filterable by class)."""
    labels = y[np.asarray(chosen)]
    counts = np.bincount(labels, minlength=len(CLASSES))
    present = [k for k in np.argsort(-counts, kind="stable") if counts[k]]
    st.markdown(f"**{len(chosen):,} images selected:** " + ", ".join(f"{CLASSES[k]} {counts[k]:,}" for k in present))
    st.session_state["dataset_selected_counts"] = {CLASSES[k]: int(counts[k]) for k in present}
    f1, f2 = st.columns([3, 2], vertical_alignment="bottom")
    only = f1.selectbox(
        "Show",
        [ALL] + [CLASSES[k] for k in present],
        key="ds_sel_class",
        format_func=lambda c: f"{c} ({counts[CLASSES.index(c)]:,})" if c != ALL else f"{ALL} ({len(chosen):,})",
    )
    pool = [i for i in chosen if only == ALL or y[i] == CLASSES.index(only)]
    pages = max(1, -(-len(pool) // PAGE_SIZE))
    page = int(f2.number_input(f"Page (of {pages})", 1, pages, 1, key=f"ds_sel_page_{only}_{len(chosen)}"))
    shown = pool[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    st.caption(
        f"Images {(page - 1) * PAGE_SIZE + 1}–{(page - 1) * PAGE_SIZE + len(shown)} of {len(pool):,}"
        + ("" if only == ALL else f" {only}")
        + ". Captions: index in the split · label."
    )
    tiles.gallery([x[i] for i in shown], [f"#{i} · {CLASSES[y[i]]}" for i in shown], ncols=12, factor=2)
    classify_links.picker(shown, x, y, "Dataset map selection", "ds_sel_open")


# Lazy tabs (on_change="rerun"): only the open tab's code runs, so the first render only
# pays for the image grid; statistics and embeddings are computed when asked for.
browse_tab, stats_tab, embed_tab = st.tabs(["Browse", "Class statistics", "Embedding"], key="ds_tab", on_change="rerun")
if browse_tab.open:
    with browse_tab:
        browse_view(split, *split_arrays(split))
if stats_tab.open:
    with stats_tab:
        statistics_view(split)
if embed_tab.open:
    with embed_tab:
        embedding_view(split, *split_arrays(split))
