"""Plotly figures shared by the pages (and usable from notebooks). No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# One colour per Fashion-MNIST class, the same on every page (Tableau 10: ten hues that stay apart,
# so Trouser, Shirt and Bag are orange, purple and brown, not three pinks; Ankle boot near-black).
# Index = class label.
CLASS_COLORS = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
                "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#222222")


def confusion_matrix_figure(cm, class_names, normalized: bool = False, title: str | None = None) -> go.Figure:
    """Heatmap of a confusion matrix (rows = true class, columns = predicted).

    cm : (k, k) counts. With ``normalized``, each row is divided by its total (recall on the
    diagonal) and cells show percentages; hover always shows the raw count.
    """
    cm = np.asarray(cm, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    z = rows if normalized else cm
    text = [[f"{v:.1%}" if normalized else f"{int(v)}" for v in row] for row in z]
    names = list(class_names)
    k = len(names)
    # Long group names ("Footwear and luggage") wrap onto two lines instead of colliding when rotated.
    ticks = [wrap_label(n) for n in names] if k <= 3 else names
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        textfont=dict(size=18 if k <= 3 else 12),
        customdata=cm, hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata:.0f}<extra></extra>",
        showscale=False))
    fig.update_xaxes(tickvals=names, ticktext=ticks, tickangle=0 if k <= 3 else None)
    fig.update_yaxes(tickvals=names, ticktext=ticks)
    # The top margin leaves room for Plotly's toolbar above the cells (it would cover the top-right one).
    fig.update_layout(title=dict(text=title, font_size=14) if title else None, xaxis_title="predicted",
                      yaxis_title="true", yaxis_autorange="reversed",
                      margin=dict(l=10, r=10, t=70 if title else 40, b=10), height=max(340, 150 + 42 * k))
    return fig


def wrap_label(text: str, width: int = 12) -> str:
    """Break a tick label at spaces into lines of about ``width`` characters (Plotly's '<br>')."""
    lines, line = [], ""
    for word in str(text).split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join(lines + [line])


def history_figure(history: list[dict], batches: list[dict] | None = None, title: str | None = None) -> go.Figure:
    """Loss and accuracy curves: per-batch points (thin) and per-epoch train vs validation (markers).

    history : epoch dicts with epoch, loss, accuracy, val_loss, val_accuracy.
    batches : batch dicts with step, loss, accuracy and batches_per_epoch or epoch/batch; plotted on the
        same x axis as epochs (fractional epochs).
    """
    fig = make_subplots(1, 2, subplot_titles=("loss", "accuracy"))
    if batches:
        bpe = max(b.get("batches_per_epoch") or 1 for b in batches)
        x = [(b["step"]) / bpe for b in batches]
        for col, key in ((1, "loss"), (2, "accuracy")):
            fig.add_trace(go.Scatter(x=x, y=[b.get(key) for b in batches], mode="lines", name=f"batch {key}",
                                     line=dict(width=1, color="rgba(100,100,100,0.5)"), legendgroup="batch",
                                     showlegend=col == 1), 1, col)
    if history:
        ep = [h["epoch"] for h in history]
        for col, key in ((1, "loss"), (2, "accuracy")):
            fig.add_trace(go.Scatter(x=ep, y=[h.get(key) for h in history], mode="lines+markers",
                                     name="train (epoch mean)", line=dict(color="#1f77b4"), legendgroup="train",
                                     showlegend=col == 1), 1, col)
            fig.add_trace(go.Scatter(x=ep, y=[h.get(f"val_{key}") for h in history], mode="lines+markers",
                                     name="validation", line=dict(color="#ff7f0e"), legendgroup="val",
                                     showlegend=col == 1), 1, col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=50, b=10), legend_orientation="h")
    return fig
