"""Plotly figures shared by the pages (and usable from notebooks). No Streamlit here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

# One colour per Fashion-MNIST class, the same on every page (Tableau 10: ten hues that stay apart,
# so Trouser, Shirt and Bag are orange, purple and brown, not three pinks; Ankle boot near-black).
# Index = class label.
CLASS_COLORS = (
    "#4E79A7",
    "#F28E2B",
    "#E15759",
    "#76B7B2",
    "#59A14F",
    "#EDC948",
    "#B07AA1",
    "#FF9DA7",
    "#9C755F",
    "#222222",
)


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
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            textfont=dict(size=18 if k <= 3 else 12),
            customdata=cm,
            hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata:.0f}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_xaxes(tickvals=names, ticktext=ticks, tickangle=0 if k <= 3 else None)
    fig.update_yaxes(tickvals=names, ticktext=ticks)
    # The top margin leaves room for Plotly's toolbar above the cells (it would cover the top-right one).
    fig.update_layout(
        title=dict(text=title, font_size=14) if title else None,
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        margin=dict(l=10, r=10, t=70 if title else 40, b=10),
        height=max(340, 150 + 42 * k),
    )
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
