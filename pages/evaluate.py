"""Evaluate: how good is a saved model, and where does it go wrong?

Accuracy and loss on the test (or validation) split, a clickable confusion matrix, per-class
precision/recall/F1, the most-confused pairs, a gallery of top losses, and the feature maps
of every conv layer for one image. Work happens in fmnist_core (inference, evaluation,
explain); results are cached per model file version.
"""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import BUILTIN_TASKS, display_name
from fmnist_core.insight import figures
from fmnist_core.modeling import evaluation, inference
from ui.app import catalog, layout
from ui.images import classify_links, inspector, projector, tiles
from ui.tasks import predictions
from ui.training import export_widgets

st.title("Evaluate")
if not fdata.dataset_status()["found"]:
    st.error("Fashion-MNIST is not installed. Run `make data` in the project folder, then reload.")
    st.stop()

name = catalog.model_picker("eval_model", "Model")  # full width: its labels carry task, accuracy and date
c2, c3 = st.columns([1, 2])
if name is None:
    st.stop()
meta = next(m for m in catalog.models_info() if m["name"] == name)
own = inference.model_task(meta)
split = c2.radio(
    "Split",
    inference.SPLITS,
    horizontal=True,
    key="eval_split",
    help="Test: the 10,000 official test images. Validation: the images this model held out "
    "from training (its own seed, fraction and subset).",
)
task_options = [own.name] if own.is_binary else [own.name] + [t for t in BUILTIN_TASKS if t != own.name]
task_name = c3.selectbox(
    "Score on task",
    task_options,
    key=f"eval_task_{name}",
    format_func=lambda t: (
        f"{display_name(t)} (its own task)" if t == own.name else f"{display_name(t)} (10 classes grouped)"
    ),
    help="A 10-class model can be scored on a binary task by summing each group's probabilities.",
)


if not predictions.ready(name, split):
    # A model seen for the first time: its predictions are computed in the background (once, then
    # stored beside it); meanwhile show what its metadata already says.
    known = [
        (label, (meta.get(key) or {}).get("accuracy"))
        for label, key in (("Test accuracy", "test_metrics"), ("Validation accuracy", "val_metrics"))
    ]
    layout.metric_cards(
        [
            (label, "–" if acc is None else f"{acc:.2%}", "As recorded when the model was saved.")
            for label, acc in known
        ],
        key="eval_saved",
    )
    predictions.progress_panel(name, split)
    st.stop()


@st.cache_data(show_spinner="Reading the stored predictions…", max_entries=16)
def evaluate(name: str, mtime: float, split: str, task_name: str):
    """(evaluation dict, probabilities (n, k), task labels (n,), class names)."""
    probs, y, task, _ = inference.split_probabilities(name, split, task_name)
    result = evaluation.evaluate_predictions(y, probs, task.class_names)
    return result, probs, y, list(task.class_names)


@st.cache_resource(show_spinner=False, max_entries=8)
def split_images(split: str, seed: int, val_fraction: float, subset):
    return inference.split_data(split, seed, val_fraction, subset)[0]


result, probs, y, class_names = evaluate(name, catalog.model_mtime(name), split, task_name)
images = split_images(split, *inference.split_args(meta))
pred = probs.argmax(axis=1)

# A grid, not five columns: at 820 px five columns cut every value to "9…" (3 + 2 cards there).
layout.metric_cards(
    [
        (
            "Accuracy",
            f"{result['accuracy']:.2%}",
            f"Share of the {result['n']:,} {split} images whose top class is right.",
        ),
        ("Loss", f"{result['loss']:.4f}", "Mean cross-entropy, as Keras computes it (lower is better)."),
        (
            "Balanced accuracy",
            f"{result['balanced_accuracy']:.2%}",
            "The mean of the per-class recalls: every class counts the same, however many images it has.",
        ),
        ("Macro F1", f"{result['macro_f1']:.3f}", "The mean of the per-class F1 scores (see the Per class tab)."),
        ("Images", f"{result['n']:,}", f"The {split} images scored."),
    ],
    key="eval_metrics",
)
saved = (meta.get("test_metrics") or {}).get("accuracy") if split == "test" else None
if saved is not None and task_name == own.name and abs(saved - result["accuracy"]) > 5e-4:
    st.warning(
        f"The accuracy recorded when this model was saved was {saved:.2%}; it scores "
        f"{result['accuracy']:.2%} now. Was the model file replaced?"
    )
st.session_state["evaluate_result"] = {
    "model": name,
    "split": split,
    "task": task_name,
    "accuracy": result["accuracy"],
    "loss": result["loss"],
}
export_widgets.take_it_with_you(name, key="eval_export")


def caption(i: int, loss: float | None = None) -> str:
    """'#index true → predicted · confidence', or '· loss x.xx' where the images are sorted by loss."""
    t, p = int(y[i]), int(pred[i])
    return (f"#{i} {class_names[t]}" if t == p else f"#{i} {class_names[t]} → {class_names[p]}") + (
        f" · {probs[i, p]:.0%}" if loss is None else f" · loss {loss:.2f}"
    )


def confusion_view():
    with layout.stacked("eval_cm"):  # side by side when wide; the table under the matrix at 820 px
        left, right = st.columns([3, 2])
    with left:
        normalized = st.toggle("Normalize rows (recall on the diagonal)", key="eval_norm")
        cm = np.asarray(result["confusion_matrix"])
        fig = figures.confusion_matrix_figure(cm, class_names, normalized=normalized)
        # Heatmap cells are not selectable in Plotly; an invisible marker on each cell is.
        k = len(class_names)
        ii, jj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        fig.add_trace(
            go.Scatter(
                x=[class_names[j] for j in jj.ravel()],
                y=[class_names[i] for i in ii.ravel()],
                mode="markers",
                marker=dict(symbol="square", size=34 if k > 2 else 120, color="rgba(0,0,0,0)"),
                customdata=np.stack([ii.ravel(), jj.ravel(), cm.ravel()], axis=1),
                showlegend=False,
                hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata[2]}<extra></extra>",
            )
        )
        # Pin the axes to the cells: the marker layer must not pad the ranges.
        fig.update_xaxes(range=[-0.5, k - 0.5])
        fig.update_yaxes(range=[k - 0.5, -0.5], autorange=False)
        # (No clickmode/dragmode here: setting either stops Streamlit from reporting clicks.)
        event = st.plotly_chart(
            fig, key=f"eval_cm_{name}_{split}_{task_name}", on_select="rerun", selection_mode=("points", "box")
        )
        st.caption("Rows: true class. Columns: predicted. Click a cell (or drag a box) to see its images.")
    points = event.selection.points if event and event.selection else []
    # Heatmap and marker points both carry their cell's labels: x = predicted, y = true.
    cells = [
        (class_names.index(p["y"]), class_names.index(p["x"]))
        for p in points
        if p.get("y") in class_names and p.get("x") in class_names
    ]
    st.session_state["eval_cm_points"] = points
    last = st.session_state.get("eval_cm_last")
    if cells and cells != last:  # a new chart selection drives the pickers below
        st.session_state.update(eval_true=class_names[cells[0][0]], eval_pred=class_names[cells[0][1]])
    st.session_state["eval_cm_last"] = cells
    with right:
        st.markdown("**Most confused pairs**")
        rows = [
            {
                "true": c["true"],
                "predicted as": c["predicted"],
                "count": c["count"],
                "share of true class": c["count"] / max(1, int(cm[c["true_index"]].sum())),
            }
            for c in result["most_confused"][:8]
        ]
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            column_config={"share of true class": st.column_config.NumberColumn(format="percent")},
        )
        if "eval_true" not in st.session_state or st.session_state["eval_true"] not in class_names:
            top = (
                result["most_confused"][0]
                if result["most_confused"]
                else {"true": class_names[0], "predicted": class_names[0]}
            )
            st.session_state.update(eval_true=top["true"], eval_pred=top["predicted"])
        if st.session_state.get("eval_pred") not in class_names:
            st.session_state["eval_pred"] = class_names[0]
        p1, p2 = st.columns(2)
        true = p1.selectbox("True class", class_names, key="eval_true")
        predicted = p2.selectbox("Predicted as", class_names, key="eval_pred")
    ti, pj = class_names.index(true), class_names.index(predicted)
    idx = evaluation.pair_indices(y, probs, ti, pj)
    st.session_state["evaluate_pair"] = {"true": true, "predicted": predicted, "count": int(len(idx))}
    order = idx[np.argsort(-probs[idx, pj])][:32]  # most confident first
    st.markdown(
        f"**{len(idx):,} images of {true} predicted as {predicted}**"
        + (" (showing the 32 most confident)" if len(idx) > 32 else "")
    )
    tiles.gallery(
        [images[i] for i in order],
        [caption(i) for i in order],
        colors=["green" if ti == pj else "red"] * len(order),
        ncols=8,
    )
    classify_links.picker(order, images, classify_links.labels10(meta, split), f"Evaluate ({split})", "eval_cm_open")


def projector_view():
    # Its own lazy tab: the projection needs the model's features (seconds), which the confusion
    # matrix, the page's first view, must not wait for.
    projector.projector_section(name, split, images, y, probs, class_names, key="eval_proj")


def per_class_view():
    report = pd.DataFrame(result["report"])
    with layout.stacked("eval_report"):
        left, right = st.columns([2, 3])
    left.dataframe(
        report,
        hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")},
    )
    fig = go.Figure([go.Bar(name=m, x=report["class"], y=report[m]) for m in ("precision", "recall", "f1")])
    low = float(report[["precision", "recall", "f1"]].min().min())
    fig.update_layout(
        barmode="group",
        height=360,
        yaxis_range=[max(0, low - 0.1), 1.0],
        margin=dict(l=10, r=10, t=40, b=10),
        legend_orientation="h",
    )  # t: room for the toolbar
    right.plotly_chart(fig, key="eval_report_chart")
    st.caption(
        "Precision: of the images predicted as the class, the share that are. Recall: of the class's "
        "images, the share found. F1: their harmonic mean."
    )


def gallery_view():
    g1, g2 = st.columns([3, 1])
    kind = g1.radio(
        "Show", ["Top losses", "Misclassified (random)", "Random sample"], horizontal=True, key="eval_gallery_kind"
    )
    n = g2.select_slider("Images", [16, 24, 32, 48], value=24, key="eval_gallery_n")
    if kind == "Top losses":
        rows = evaluation.top_losses(y, probs, k=n)
        tiles.gallery(
            [images[r["index"]] for r in rows],
            [caption(r["index"], r["loss"]) for r in rows],
            colors=["green" if r["true"] == r["predicted"] else "red" for r in rows],
            ncols=8,
        )
        classify_links.picker(
            [r["index"] for r in rows],
            images,
            classify_links.labels10(meta, split),
            f"Evaluate top losses ({split})",
            "eval_tl_open",
        )
        st.caption(
            "The images with the highest loss, sorted by loss (highest first): the model gave the true "
            "class the lowest probability (loss = −ln p(true class)). Caption: true → predicted · loss. "
            "Green = correct, red = wrong."
        )
        return
    pool = np.flatnonzero(pred != y) if kind.startswith("Misclassified") else np.arange(len(y))
    idx = np.sort(np.random.default_rng(0).choice(pool, size=min(n, len(pool)), replace=False)).tolist()
    st.caption(f"{len(pool):,} images in this pool. Green = correct, red = wrong.")
    tiles.gallery(
        [images[i] for i in idx],
        [caption(i) for i in idx],
        colors=["green" if y[i] == pred[i] else "red" for i in idx],
        ncols=8,
    )
    classify_links.picker(idx, images, classify_links.labels10(meta, split), f"Evaluate ({split})", "eval_g_open")


def feature_maps_view():
    from fmnist_core.insight import explain

    model, _ = catalog.load_model(name)
    convs = explain.conv_layers(model)
    if not convs:
        st.info(f"{name} has no convolutional layers, so there are no feature maps. Pick a CNN.")
        return
    f1, f2 = st.columns([1, 3])
    wrong = np.flatnonzero(pred != y)
    default = int(wrong[0]) if len(wrong) else 0
    i = f1.number_input(f"Image index in the {split} split", 0, len(y) - 1, default, key=f"eval_fm_index_{split}")
    with f1:
        st.image(tiles.enlarge(images[i], 6), caption=caption(i))
        st.caption(f"True: {class_names[y[i]]}. Predicted: {class_names[pred[i]]} ({probs[i, pred[i]]:.1%}).")
    maps = explain.feature_maps(model, meta, images[i])
    after = {c.name: [inspector.step_label(model, a.name) for a in rest] for c, rest in explain.conv_blocks(model)}
    with f2:
        for layer, act in maps:
            h, w, c = act.shape
            tail = f" → {' → '.join(after[layer])}" if after.get(layer) else ""
            st.markdown(
                f"**{inspector.layer_label(model, layer)}**{tail} · {c} maps of {h}×{w} · "
                f"mean activation {act.mean():.3f}"
            )
            mosaic = explain.tile_maps(act, ncols=16 if c > 32 else 8)
            st.image(tiles.enlarge(mosaic, max(1, 56 // h)))
        st.caption(
            "Each square is one filter's output for this image, scaled to its own min (black) and max "
            "(white): early layers find edges and textures, later ones larger parts of the garment."
        )
    inspector.conv_inspector(model, meta, images[i], key="eval_insp")


tabs = st.tabs(
    ["Confusion matrix", "Per class", "Gallery", "Feature maps", "Feature projector"], key="eval_tab", on_change="rerun"
)
views = [confusion_view, per_class_view, gallery_view, feature_maps_view, projector_view]
for tab, view in zip(tabs, views):
    if tab.open:
        with tab:
            view()
