"""Classify: draw, upload or photograph a garment and see what a model makes of it.

The picture goes through ``fmnist_core.imaging.to_fashion_mnist`` (every step is shown),
then through the model with one direct call (``inference.predict_one``; ``model.predict``
would cost ~40 ms of set-up per image). Saliency maps come from ``fmnist_core.explain``.
Bad uploads get a clear message and the rest of the page keeps working.
"""
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from plotly.subplots import make_subplots

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data import imaging
from fmnist_core.modeling import inference
from ui import catalog

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]
CANVAS_SIZE = 280

st.title("Classify")

top1, top2 = st.columns([3, 2], vertical_alignment="bottom")
name = catalog.model_picker("cls_model", "Model", container=top1)
if name is None:
    st.stop()
compare_all = top2.toggle("Compare every saved model", key="cls_compare",
                          help="Run the same 28×28 image through all saved models, side by side.")

source = st.segmented_control("Input", ["Draw", "Upload", "Camera", "Test image"], default="Draw", required=True,
                              key="cls_input")


def drawn_image():
    """The canvas as an RGBA array, or None when nothing is drawn (or the component is unavailable)."""
    try:
        from streamlit_drawable_canvas import st_canvas  # raises outside a running app: import here
    except Exception as exc:  # noqa: BLE001 - any failure means: no canvas in this environment
        st.info(f"The drawing canvas is not available here ({type(exc).__name__}). Use Upload or Test image.")
        return None
    c1, c2 = st.columns([1, 1])
    with c2:
        st.markdown("Draw **one** garment, light on black, like the data set: a T-shirt, trousers, a shoe, a "
                    "bag… It is cropped to what you draw and scaled to 28×28, so size and position do not "
                    "matter. The toolbar above the canvas has undo, redo and clear.")
        width = st.slider("Brush width", 4, 40, 18, key="cls_brush")
    with c1:
        # Room for the canvas's own toolbar, which floats just above it.
        st.markdown("<div style='height:2.6rem'></div>", unsafe_allow_html=True)
        result = st_canvas(stroke_width=width, stroke_color="#FFFFFF", background_color="#000000",
                           height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
                           return_image_data=True, key="cls_canvas")
    img = result.image_data if result is not None else None
    if img is None or np.asarray(img)[..., :3].max() == 0:
        st.caption("Nothing drawn yet.")
        return None
    return np.asarray(img)


def uploaded_image(kind: str):
    """A PIL image from the uploader or the camera, or None (with the reason shown) when unusable."""
    if kind == "Upload":
        file = st.file_uploader("Upload a photo or picture of one garment", type=UPLOAD_TYPES, key="cls_upload",
                                help="PNG, JPEG, WebP, GIF or BMP, up to 20 MB. A plain background works best.")
    else:
        file = st.camera_input("Take a photo of one garment on a plain background", key="cls_camera")
    if file is None:
        return None
    try:
        img = imaging.load_upload(file.getvalue())
    except imaging.ImageInputError as exc:
        st.error(f"**{file.name}:** {exc}", icon=":material/broken_image:")
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
    c2.button("Random", icon=":material/shuffle:", key="cls_test_random", on_click=lambda: st.session_state.update(
        cls_test_index=int(np.random.default_rng().integers(len(y)))))
    st.caption(f"Test image #{i}: true class **{fdata.CLASS_NAMES[y[i]]}**.")
    return x[i]


if source == "Draw":
    picture = drawn_image()
elif source == "Test image":
    picture = test_image()
else:
    picture = uploaded_image(source)
if picture is None:
    st.stop()

try:
    image28, steps = imaging.to_fashion_mnist(picture)
except imaging.ImageInputError as exc:
    st.warning(str(exc), icon=":material/image_not_supported:")
    st.stop()

def thumbnail(arr: np.ndarray, side: int = 200) -> Image.Image:
    """Fit a step's image into a side x side frame (letterboxed on grey), so the six steps line up.
    Small images are enlarged by whole pixels (nearest) so 28x28 pixels stay visible squares."""
    img = Image.fromarray(np.asarray(arr, dtype=np.uint8))
    w, h = img.size
    if max(w, h) * 2 <= side:
        f = side // max(w, h)
        img = img.resize((w * f, h * f), Image.Resampling.NEAREST)
    else:
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
    frame = Image.new("RGBA", (side, side), (128, 128, 128, 255))
    frame.paste(img.convert("RGBA"), ((side - img.width) // 2, (side - img.height) // 2), img.convert("RGBA"))
    return frame


st.subheader("Preprocessing")
cols = st.columns(len(steps))
for col, (title, arr) in zip(cols, steps):
    col.image(thumbnail(arr), caption=title, width="stretch")
st.caption("Fashion-MNIST items are light on black and fill the frame on their longest side; these steps "
           "bring any picture to that form. The model only ever sees step 6.")


def predict(model_name: str):
    """(probabilities, class names, milliseconds for the model call) for the 28x28 image."""
    model, meta = catalog.load_model(model_name)
    t0 = time.perf_counter()
    p = inference.predict_one(model, meta, image28)
    ms = (time.perf_counter() - t0) * 1000
    return p, list(inference.model_task(meta).class_names), ms


def bar_chart(p, names, k, height=None):
    order = np.argsort(-p)[:k][::-1]  # best on top
    fig = go.Figure(go.Bar(x=p[order], y=[names[i] for i in order], orientation="h",
                           marker_color=["#2e7d32" if i == order[-1] else "#90a4ae" for i in order],
                           text=[f"{p[i]:.1%}" for i in order], textposition="auto",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(height=height or 60 + 32 * len(order), xaxis_range=[0, 1], xaxis_tickformat=".0%",
                      margin=dict(l=10, r=10, t=10, b=10))
    return fig


st.subheader("Prediction")
probs, names, ms = predict(name)
best = int(np.argmax(probs))
st.session_state["classify_result"] = {"model": name, "top1": names[best], "p": float(probs[best]),
                                       "probs": probs.tolist(), "image": image28.tolist()}
if not compare_all:
    left, right = st.columns([1, 2])
    with left:
        st.metric("Top-1", names[best], f"{probs[best]:.1%} confidence", delta_color="off", delta_arrow="off",
                  border=True)
        k = st.slider("Top k", 2, len(names), min(5, len(names)), key="cls_topk") if len(names) > 2 else 2
        st.caption(f"One direct model call: {ms:.1f} ms.")
    right.plotly_chart(bar_chart(probs, names, k), key="cls_bars")
else:
    rows, charts = [], []
    for m in catalog.models_info():
        try:
            p, n, t = predict(m["name"])
        except Exception as exc:  # noqa: BLE001 - one broken model file must not hide the others
            rows.append({"model": m["name"], "prediction": f"cannot load: {exc}", "confidence": None})
            continue
        j = int(np.argmax(p))
        rows.append({"model": m["name"], "task": (m.get("task") or {}).get("name", "multiclass"),
                     "prediction": n[j], "confidence": float(p[j]), "model call (ms)": round(t, 1)})
        charts.append((m["name"], p, n))
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        "confidence": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})
    st.session_state["classify_all"] = rows
    per_row = 3
    for start in range(0, len(charts), per_row):
        for col, (mname, p, n) in zip(st.columns(per_row), charts[start:start + per_row]):
            col.markdown(f"**{mname}**")
            col.plotly_chart(bar_chart(p, n, min(5, len(n)), height=200), key=f"cls_bars_{mname}")


st.subheader("What did the model look at?")
s1, s2, s3 = st.columns([2, 2, 2])
method = s1.radio("Saliency", ["Occlusion", "Gradient"], horizontal=True, key="cls_saliency",
                  help="Occlusion: hide each patch (set it to black) and measure how much the class's log-odds "
                       "drop. Gradient: how sensitive the class probability is to each pixel (SmoothGrad, "
                       "16 noisy copies).")
target = s2.selectbox("For class", names, index=best, key=f"cls_target_{name}")
patch = s3.select_slider("Occlusion patch (pixels)", [2, 4, 6, 8], value=4, key="cls_patch",
                         disabled=method != "Occlusion")


@st.cache_data(show_spinner="Computing the saliency map…", max_entries=32)
def saliency(model_name: str, mtime: float, image_bytes: bytes, method: str, target: int, patch: int):
    from fmnist_core.insight import explain

    model, meta = catalog.load_model(model_name)
    img = np.frombuffer(image_bytes, dtype=np.uint8).reshape(28, 28)
    if method == "Occlusion":
        return explain.occlusion_map(model, meta, img, target=target, patch=patch, stride=max(1, patch // 2),
                                     score="log-odds")
    return explain.gradient_saliency(model, meta, img, target=target, smooth=16)


smap = saliency(name, catalog.model_mtime(name), image28.tobytes(), method, names.index(target), patch)
fig = make_subplots(1, 2, subplot_titles=("model input (28×28)", f"{method.lower()} saliency for {target}"),
                    horizontal_spacing=0.08)
fig.add_trace(go.Heatmap(z=image28, colorscale="gray", showscale=False, zmin=0, zmax=255,
                         hovertemplate="x %{x}, y %{y}: %{z}<extra></extra>"), 1, 1)
if method == "Occlusion":
    lim = float(np.abs(smap).max()) or 1.0
    fig.add_trace(go.Heatmap(z=smap, colorscale="RdBu_r", zmid=0, zmin=-lim, zmax=lim,
                             colorbar=dict(title="log-odds drop", len=0.9),
                             hovertemplate="x %{x}, y %{y}: drop %{z:.2f}<extra></extra>"), 1, 2)
else:
    fig.add_trace(go.Heatmap(z=smap, colorscale="Inferno", zmin=0, zmax=1, colorbar=dict(len=0.9),
                             hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>"), 1, 2)
fig.update_xaxes(visible=False)
fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
st.plotly_chart(fig, key="cls_saliency_chart")
st.caption("Red: regions that support the class (hiding them lowers its log-odds). Blue: regions that argue "
           "against it. White: no effect." if method == "Occlusion" else
           "Bright: pixels where a small change moves the class probability most (absolute gradient, scaled to "
           "the largest).")
