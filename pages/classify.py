"""Classify: draw, upload or photograph a garment, or open one from another page, and see what a
model makes of it.

Storyboard: choose a model and an input -> the picture is brought to Fashion-MNIST form
(``imaging.to_fashion_mnist``, every step shown) -> the prediction (one direct model call,
marked right or wrong when the true class is known) -> a saliency map for the predicted class
(or one the user picks). Everything below the input selector is one ``st.fragment``
(``panel``): a canvas stroke reruns only that. The model is loaded in the background as soon
as the page opens. Parts live in ``ui.images.classify_view``; images arrive from other pages through
``ui.app.handoff``; a drawing survives a reload through ``ui.images.drawings``.
"""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data import imaging, input_checks
from fmnist_core.modeling import inference
from ui.app import catalog, handoff
from ui.images import classify_view as view
from ui.images import drawings, sketch
from ui.tasks import model_warmup

st.title("Classify")

top1, top2 = st.columns([3, 2], vertical_alignment="bottom")
name = catalog.model_picker("cls_model", "Model", container=top1)
if name is None:
    st.stop()
model_warmup.warm_in_background(name)  # TensorFlow and the model load while the user starts drawing
compare_all = top2.toggle(
    "Compare every saved model",
    key="cls_compare",
    help="Run the same 28×28 image through all saved models, side by side.",
)

opened = handoff.pending()
inputs = view.INPUTS + ([handoff.INPUT_LABEL] if opened else [])
if st.session_state.get(handoff.INPUT_KEY) not in inputs:  # state-only default: open_in_classify writes it too
    st.session_state[handoff.INPUT_KEY] = "Draw"
source = st.segmented_control("Input", inputs, required=True, key=handoff.INPUT_KEY)


# ---------------------------------------------------------------- inputs: each returns (picture, true label)


def drawn_image():
    """The canvas as an RGBA array (or None when nothing is drawn); the strokes are kept server-side
    under ?drawing=<id>, so a reload (a new session) shows the same drawing."""
    state = st.session_state
    if "cls_canvas_gen" not in state:  # first run of this session, e.g. after a reload
        saved = drawings.load_drawing(st.query_params.get(drawings.QUERY_KEY))
        state.update(
            cls_canvas_gen=0,
            cls_canvas_initial=saved[0] if saved else None,
            cls_canvas_png=saved[1] if saved else None,
            cls_canvas_saved=None,
        )

    def clear():
        drawings.forget_drawing(st.query_params.get(drawings.QUERY_KEY))
        st.query_params.pop(drawings.QUERY_KEY, None)
        state.update(
            cls_canvas_gen=state["cls_canvas_gen"] + 1,
            cls_canvas_initial=None,
            cls_canvas_png=None,
            cls_canvas_saved=None,
        )

    c1, c2 = st.columns([1, 1])
    with c2:
        st.markdown(view.CANVAS_HELP)
        width = st.slider("Brush width", 4, 40, 18, key="cls_brush")
        st.button("Clear", icon=":material/delete:", key="cls_clear", on_click=clear)
    with c1:
        png, strokes = sketch.sketch(
            f"cls_canvas_{state['cls_canvas_gen']}",
            size=view.CANVAS_SIZE,
            brush=width,
            initial=(state["cls_canvas_initial"] or {}).get("strokes"),
        )
    if png is not None:
        digest = hashlib.sha1(png).hexdigest()
        if digest != state["cls_canvas_saved"]:  # a new stroke (or undo): keep it for a reload
            drawing_id = drawings.save_drawing(st.query_params.get(drawings.QUERY_KEY), {"strokes": strokes}, png)
            if drawing_id:
                st.query_params[drawings.QUERY_KEY] = drawing_id
            state["cls_canvas_saved"] = digest
    else:
        png = state["cls_canvas_png"]  # restored after a reload; the canvas has not sent its picture yet
    state["cls_strokes"] = len(strokes)
    try:
        img = None if png is None else np.asarray(imaging.load_upload(png))
    except imaging.ImageInputError as exc:  # only a tampered client sends a PNG that fails here
        st.warning(f"The drawing could not be read: {exc} Clear the canvas and draw again.")
        return None
    if img is None or img[..., :3].max() == 0:
        st.caption("Nothing drawn yet.")
        return None
    return img


def uploaded_image(kind: str):
    """A PIL image from the uploader or the camera, or None (with the reason shown) when unusable."""
    if kind == "Upload":
        file = st.file_uploader(
            "Upload a photo or picture of one garment",
            type=view.UPLOAD_TYPES,
            key="cls_upload",
            max_upload_size=imaging.MAX_UPLOAD_MB,
            help=f"PNG, JPEG, WebP, GIF or BMP, up to {imaging.MAX_UPLOAD_MB} MB. A plain background works best.",
        )
    else:
        file = st.camera_input("Take a photo of one garment on a plain background", key="cls_camera")
    if file is None:
        return None
    try:
        img = imaging.load_upload(file.getvalue())
    except imaging.ImageInputError as exc:
        st.error(f"**{view.plain(file.name)}:** {exc}", icon=":material/broken_image:")
        return None
    for note in img.info.get("notes", []):
        st.info(note, icon=":material/info:")
    return img


@st.cache_resource(show_spinner=False)
def test_images():
    return fdata.load_fashion_mnist()[1]


def test_image():
    x, y = test_images()
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    st.session_state.setdefault("cls_test_index", 0)  # state-only default: the Random button writes it too
    i = c1.number_input("Test image index", 0, len(y) - 1, key="cls_test_index")
    c2.button(
        "Random",
        icon=":material/shuffle:",
        key="cls_test_random",
        on_click=lambda: st.session_state.update(cls_test_index=int(np.random.default_rng().integers(len(y)))),
    )
    st.caption(f"Test image #{i}: true class **{fdata.CLASS_NAMES[y[i]]}**.")
    return x[i], int(y[i])


def opened_image():
    h = handoff.pending()
    true = h.true_label_text
    st.caption(f"Opened from {view.plain(h.source) or 'another page'}" + (f": true class **{true}**." if true else "."))
    return h.image, h.true_label


# ---------------------------------------------------------------- the panel (a fragment)


def predict(model_name: str, image28):
    """(probabilities, class names, task, milliseconds for the model call) for the 28x28 image."""
    model, meta = model_warmup.load_model(model_name)
    p, ms = view.timed_ms(inference.predict_one, model, meta, image28)
    return p, list(inference.model_task(meta).class_names), inference.model_task(meta), ms


def task_label(task, y10: int | None) -> int | None:
    return None if y10 is None else int(task.labels(np.array([y10]))[0])


@st.cache_data(show_spinner="Computing the saliency map…", max_entries=32)
def saliency(model_name: str, mtime: float, image_bytes: bytes, method: str, target: int, patch: int):
    from fmnist_core.insight import explain

    model, meta = model_warmup.load_model(model_name)
    img = np.frombuffer(image_bytes, dtype=np.uint8).reshape(28, 28)
    if method == "Occlusion":
        return explain.occlusion_map(
            model, meta, img, target=target, patch=patch, stride=max(1, patch // 2), score="log-odds"
        )
    return explain.gradient_saliency(model, meta, img, target=target, smooth=16)


@st.fragment
def panel(name: str, compare_all: bool, source: str) -> None:
    true10 = None
    if source == "Draw":
        picture = drawn_image()
    elif source == "Test image":
        picture, true10 = test_image()
    elif source == handoff.INPUT_LABEL and handoff.pending():
        picture, true10 = opened_image()
    else:
        picture = uploaded_image(source)
    if picture is None:
        return
    try:
        image28, steps = imaging.to_fashion_mnist(picture)
    except imaging.ImageInputError as exc:
        st.warning(str(exc), icon=":material/image_not_supported:")
        return
    if source == "Draw" and imaging.looks_like_outline(image28):
        st.info(
            "This looks like an outline. Fashion-MNIST garments are solid shapes: **fill the shape** in "
            "(a wider brush helps) and the prediction gets much more reliable.",
            icon=":material/format_color_fill:",
        )
    steps_box = st.container()  # drawn after the prediction: the answer to a stroke comes first

    st.subheader("Prediction")
    probs, names, task, ms = predict(name, image28)
    best = int(np.argmax(probs))
    true = task_label(task, true10)
    result = {
        "model": name,
        "top1": names[best],
        "p": float(probs[best]),
        "probs": probs.tolist(),
        "image": image28.tolist(),
        "true": None if true is None else names[true],
        "correct": None if true is None else best == true,
    }
    st.session_state["classify_result"] = result
    if source not in ("Draw", "Test image"):  # a photo or upload: say when the input is unlike Fashion-MNIST
        check = input_checks.check_input(image28, probs)
        if not check.ok:
            st.warning(
                f"**This input looks unlike Fashion-MNIST, so the prediction below is unreliable.** {check.message}",
                icon=":material/warning:",
            )
    if compare_all:
        compare_models(image28, true10)
        with steps_box:
            view.show_steps(steps)
        return
    left, right = st.columns([1, 2])
    with left:
        st.metric(
            "Top-1", names[best], f"{probs[best]:.1%} confidence", delta_color="off", delta_arrow="off", border=True
        )
        marked = view.verdict(names, best, true)
        if marked:
            (st.success if marked[1] else st.error)(
                marked[0], icon=":material/check_circle:" if marked[1] else ":material/cancel:"
            )
        k = st.slider("Top k", 2, len(names), min(5, len(names)), key="cls_topk") if len(names) > 2 else 2
        strokes = f"after {st.session_state.get('cls_strokes', 0)} strokes · " if source == "Draw" else ""
        st.caption(f"Prediction {strokes}one direct model call: {ms:.1f} ms.")
    right.plotly_chart(view.bar_chart(probs, names, k), key="cls_bars")
    with steps_box:
        view.show_steps(steps)
    explain_section(name, image28, names, best)


def compare_models(image28, true10) -> None:
    rows, charts = [], []
    for m in catalog.models_info():
        try:
            p, n, task, t = predict(m["name"], image28)
        except Exception as exc:  # noqa: BLE001 - one broken model file must not hide the others
            rows.append({"model": m["name"], "prediction": f"cannot load: {exc}", "confidence": None})
            continue
        j, true = int(np.argmax(p)), task_label(task, true10)
        rows.append(
            {
                "model": m["name"],
                "task": task.name,
                "prediction": n[j],
                "confidence": float(p[j]),
                **({} if true is None else {"right?": "✓ right" if j == true else f"✗ true: {n[true]}"}),
                "model call (ms)": round(t, 1),
            }
        )
        charts.append((m["name"], p, n))
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"confidence": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
    )
    st.session_state["classify_all"] = rows
    per_row = 3
    for start in range(0, len(charts), per_row):
        for col, (mname, p, n) in zip(st.columns(per_row), charts[start : start + per_row]):
            col.markdown(f"**{mname}**")
            col.plotly_chart(view.bar_chart(p, n, min(5, len(n)), height=200), key=f"cls_bars_{mname}")


def explain_section(name: str, image28, names: list[str], best: int) -> None:
    st.subheader("What did the model look at?")
    s1, s2, s3 = st.columns([2, 2, 2])
    method = s1.radio(
        "Saliency",
        ["Occlusion", "Gradient"],
        horizontal=True,
        key="cls_saliency",
        help="Occlusion: hide each patch (set it to black) and measure how much the class's "
        "log-odds drop. Gradient: how sensitive the class probability is to each pixel "
        "(SmoothGrad, 16 noisy copies).",
    )
    # "Top-1" follows the current prediction on every stroke; picking a class keeps that class. The option's
    # text is fixed: the browser keeps a selectbox's shown text while its value is unchanged, so a text
    # naming the current class would lag one stroke behind. The chart title and caption name the class.
    choice = s2.selectbox(
        "For class",
        [view.TOP1, *names],
        key=f"cls_target_{name}",
        format_func=lambda c: "Top-1 prediction" if c == view.TOP1 else c,
    )
    target = best if choice == view.TOP1 else names.index(choice)
    patch = s3.select_slider(
        "Occlusion patch (pixels)", [2, 4, 6, 8], value=4, key="cls_patch", disabled=method != "Occlusion"
    )
    smap = saliency(name, catalog.model_mtime(name), image28.tobytes(), method, target, patch)
    st.session_state["classify_result"]["saliency_for"] = names[target]
    st.plotly_chart(view.saliency_figure(image28, smap, method, names[target]), key="cls_saliency_chart")
    st.caption(view.saliency_caption(method, names[target]))


panel(name, compare_all, source)
# The page stays "running" until the model is warm (the canvas is already usable), so a stroke made
# as soon as the page looks finished is answered at once; an earlier stroke waits for the warm-up.
model_warmup.wait_warm(name)
