"""'Inside a conv layer' (Evaluate, Feature maps tab): the architecture strip, a layer's kernels
for one channel, the input patch under a chosen output pixel with the multiply-add that gives
its value, and the channel's map before and after BatchNorm, the activation and pooling."""

from __future__ import annotations

import functools
import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fmnist_core.insight import conv_inspect
from ui.app import layout
from ui.images import tiles


def layer_label(model, keras_name: str) -> str:
    """'block 1, conv 2' for a Keras layer name such as 'conv2d_4'."""
    return conv_inspect.friendly_names(model).get(keras_name, keras_name)


def step_label(model, keras_name: str) -> str:
    """The step alone, e.g. 'BatchNorm' or 'ReLU' for the layers that follow a conv."""
    return layer_label(model, keras_name).rsplit(", ", 1)[-1]


def architecture_strip(model) -> None:
    """Every layer as a chip with the tensor shape it outputs, left to right."""
    chips = []
    for row in conv_inspect.architecture(model):
        shape = "×".join(str(d) for d in row["shape"])
        strong = row["kind"] in ("Input", "Conv2D", "MaxPooling2D", "Dense", "Flatten")
        chips.append(
            f'<div style="border:1px solid {"#4a6fa5" if strong else "#ccc"};border-radius:6px;padding:3px 7px;'
            f'font-size:0.74rem;line-height:1.25;background:{"#eef3fa" if strong else "#fafafa"}">'
            f"{html.escape(row['label'])}<br><b>{shape}</b></div>"
        )
    arrow = '<div style="align-self:center;color:#888">→</div>'
    st.markdown(
        '<div class="fmnist-arch" style="display:flex;flex-wrap:wrap;gap:4px;margin-bottom:0.6rem">'
        + arrow.join(chips)
        + "</div>",
        unsafe_allow_html=True,
    )


def _map_image(values: np.ndarray, mark: tuple[int, int] | None, size: int = 168) -> np.ndarray:
    """A (h, w) map as an RGB image scaled to its own min..max, the pixel ``mark`` outlined in red."""
    v = np.asarray(values, dtype=np.float64)
    span = v.max() - v.min()
    grey = np.zeros_like(v) if span <= 0 else (v - v.min()) / span * 255
    rgb = np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=2)
    factor = max(1, size // v.shape[0])
    big = tiles.enlarge(rgb, factor)
    if mark is not None:
        r, c = mark[0] * factor, mark[1] * factor
        big[r : r + factor, [c, c + factor - 1]] = big[[r, r + factor - 1], c : c + factor] = (230, 30, 30)
    return big


def _clickable_map(values: np.ndarray, mark: tuple[int, int]) -> go.Figure:
    """The map as a grey heatmap with an invisible marker on every pixel (heatmap cells cannot be
    selected in Plotly; markers can), and the chosen pixel outlined in red."""
    h, w = values.shape
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    fig = go.Figure(go.Heatmap(z=values, colorscale="gray", showscale=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=cc.ravel().tolist(),
            y=rr.ravel().tolist(),
            mode="markers",
            showlegend=False,
            marker=dict(size=max(4, 220 // w), symbol="square", color="rgba(0,0,0,0)"),
            customdata=values.ravel().round(4).tolist(),
            hovertemplate="row %{y}, column %{x}: %{customdata}<extra></extra>",
        )
    )
    fig.add_shape(
        type="rect",
        x0=mark[1] - 0.5,
        x1=mark[1] + 0.5,
        y0=mark[0] - 0.5,
        y1=mark[0] + 0.5,
        line=dict(color="red", width=2),
    )
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(height=250, margin=dict(l=0, r=0, t=0, b=0), plot_bgcolor="white")
    return fig


def _pick_pixel(chart_key: str, row_key: str, col_key: str) -> None:
    """on_select callback: runs before the rerun, so it may set the row/column inputs."""
    event = st.session_state.get(chart_key)
    points = (event or {}).get("selection", {}).get("points", [])
    for p in points:
        if "x" in p and "y" in p:
            st.session_state[row_key], st.session_state[col_key] = int(round(p["y"])), int(round(p["x"]))
            return


def _kernel_mosaic(kernel: np.ndarray) -> np.ndarray:
    """(k, k, c_in) kernels -> one RGB mosaic on a shared symmetric scale: blue < 0 < red, white = 0."""
    k, _, c = kernel.shape
    ncols = min(c, 16)
    nrows = int(np.ceil(c / ncols))
    lim = float(np.abs(kernel).max()) or 1.0
    out = np.full((nrows * (k + 1) - 1, ncols * (k + 1) - 1, 3), 200, np.uint8)
    for ch in range(c):
        t = kernel[..., ch] / lim
        rgb = np.stack([1 - np.clip(-t, 0, 1), 1 - np.abs(t), 1 - np.clip(t, 0, 1)], axis=-1)
        r, col = divmod(ch, ncols)
        out[r * (k + 1) : r * (k + 1) + k, col * (k + 1) : col * (k + 1) + k] = np.rint(rgb * 255).astype(np.uint8)
    return tiles.enlarge(out, max(4, 160 // out.shape[1]))


def _grid(values: np.ndarray, rows: range | None = None, cols: range | None = None) -> pd.DataFrame:
    df = pd.DataFrame(np.asarray(values, dtype=np.float64))
    df.index = [f"r{r}" for r in rows] if rows is not None else [f"i{i}" for i in range(len(df))]
    df.columns = [f"c{c}" for c in cols] if cols is not None else [f"j{j}" for j in range(df.shape[1])]
    return df.map(lambda x: f"{x:.4f}")


def conv_inspector(model, meta: dict, image: np.ndarray, key: str = "insp") -> None:
    """The whole section for one uint8 (28, 28) image."""
    st.subheader("Inside a conv layer")
    st.caption("The tensor shape between layers (height × width × channels, then flat vectors):")
    architecture_strip(model)
    convs = conv_inspect.conv_layers(model)
    if not convs:
        return
    labels = dict(convs)
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    layer = c1.selectbox("Layer", [n for n, _ in convs], format_func=labels.get, key=f"{key}_layer")
    n_filters = model.get_layer(layer).get_config()["filters"]
    channel = c2.number_input("Channel", 1, n_filters, 1, key=f"{key}_channel_{layer}") - 1
    ins = conv_inspect.inspect(model, meta, image, layer, channel)
    h, w = ins.stages[0][1].shape
    default = np.unravel_index(np.argmax(ins.stages[0][1]), (h, w))  # the strongest response
    row_key, col_key = f"{key}_row_{layer}_{channel}", f"{key}_col_{layer}_{channel}"
    # A click on the map sets these through session state (see _pick_pixel); the default only starts them.
    st.session_state.setdefault(row_key, int(default[0]))
    st.session_state.setdefault(col_key, int(default[1]))
    row = c3.number_input("Output row", 0, h - 1, key=row_key)
    col = c4.number_input("Output column", 0, w - 1, key=col_key)
    px = ins.pixel(row, col)
    shown = conv_inspect.shown_sums(px)

    st.markdown(
        f"**{ins.label}, channel {channel + 1}**: its map before and after each step; "
        f"the red square is output pixel (row {row}, column {col})."
    )
    stage_cols = st.columns(len(ins.stages))
    for n_stage, (sc, (label, values)) in enumerate(zip(stage_cols, ins.stages)):
        pooled = values.shape != (h, w)
        mark = (row * values.shape[0] // h, col * values.shape[1] // w) if pooled else (row, col)
        caption = f"{label} · {values.shape[0]}×{values.shape[1]} · value here {values[mark]:.4f}"
        if n_stage == 0:  # the conv output itself: click a pixel to take it apart
            chart_key = f"{key}_pick_{layer}_{channel}"
            pick = functools.partial(
                _pick_pixel, chart_key, f"{key}_row_{layer}_{channel}", f"{key}_col_{layer}_{channel}"
            )
            sc.plotly_chart(
                _clickable_map(values, mark),
                key=chart_key,
                on_select=pick,
                selection_mode="points",
                config={"displayModeBar": False},
            )
            sc.caption(caption + " · click a pixel to pick it")
        else:
            sc.image(_map_image(values, mark), caption=caption)

    k, _, c_in = ins.kernels.shape[:3]
    left, right = st.columns([2, 3])
    with left:
        st.markdown(
            f"**Its {c_in} kernel{'s' if c_in > 1 else ''} of {k}×{k}** (one per input channel; "
            "blue negative, red positive, white 0)"
        )
        st.image(_kernel_mosaic(px.kernel))
    with right:
        order = np.argsort(-np.abs(px.per_channel))
        pick = (
            st.selectbox(
                "Input channel to open",
                [int(i) + 1 for i in order],
                key=f"{key}_inch_{layer}_{channel}",
                format_func=lambda i: f"input channel {i} (contributes {shown['per_channel'][i - 1]:+.4f})",
                help="Sorted by how much each input channel adds to this output value.",
            )
            - 1
        )
    with layout.stacked(f"{key}_grids"):  # one under the other at 820 px, where three columns cut the numbers
        g1, g2, g3 = st.columns(3)
    g1.markdown(f"Input patch (input channel {pick + 1}, rows r, columns c)")
    g1.dataframe(_grid(px.patch[..., pick], px.rows, px.cols))
    g2.markdown("× kernel")
    g2.dataframe(_grid(px.kernel[..., pick]))
    g3.markdown("= products")
    g3.dataframe(_grid(shown["products"][..., pick]))
    st.caption(
        f"Rows/columns outside 0-{ins.layer_input.shape[0] - 1} are padding (zeros). The {k * k} "
        f"products of input channel {pick + 1} add up to {shown['per_channel'][pick]:.4f}."
    )

    terms = [f"{v:.4f}" for v in shown["per_channel"]]
    if c_in <= 8:
        equation = " + ".join(f"({t})" for t in terms) + f" + bias ({shown['bias']:.4f}) = **{shown['total']:.4f}**"
    else:
        equation = (
            f"sum of the {c_in} input-channel contributions ({sum(shown['per_channel']):.4f}, table below) "
            f"+ bias ({shown['bias']:.4f}) = **{shown['total']:.4f}**"
        )
    st.markdown(f"**The multiply-add.** {equation}")
    st.caption(
        f"Every product is rounded to 4 decimals and the sums are of those rounded numbers, so they add up "
        f"exactly; unrounded, the value is {px.value:.6f} and TensorFlow's float32 conv gives "
        f"{px.keras_value:.6f}."
        + (
            ""
            if ins.compute_dtype == "float32"
            else f" The model itself computes in {ins.compute_dtype}, so its maps "
            "after the conv are rounded to 8 significant bits (2-3 decimal digits)."
        )
    )
    if c_in > 8:
        table = pd.DataFrame({"input channel": np.arange(1, c_in + 1), "contribution": terms})
        st.dataframe(table.iloc[order], hide_index=True, height=240)
