"""Weight and gradient histograms of a run, per layer per epoch, drawn like TensorBoard's histogram
view (the records: ``fmnist_core.runs.histograms``). No Streamlit."""

from __future__ import annotations

import plotly.graph_objects as go


def histogram_figure(records: list[dict], layer: str, kind: str = "weights") -> go.Figure:
    """One outline per epoch (older epochs lighter) of the layer's weight or gradient histogram."""
    fig = go.Figure()
    shown = [r for r in records if any(e["layer"] == layer and kind in e for e in r["layers"])]
    for i, rec in enumerate(shown):
        h = next(e[kind] for e in rec["layers"] if e["layer"] == layer)
        centres = [(a + b) / 2 for a, b in zip(h["edges"], h["edges"][1:])]
        shade = 0.25 + 0.75 * (i + 1) / len(shown)
        fig.add_trace(
            go.Scatter(
                x=centres,
                y=h["counts"],
                mode="lines",
                line={"shape": "hvh", "width": 1.5, "color": f"rgba(214, 96, 39, {shade:.2f})"},
                name=f"epoch {rec['epoch']}",
                hovertemplate=f"epoch {rec['epoch']}<br>value %{{x:.3g}}<br>count %{{y}}<extra></extra>",
            )
        )
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title=f"{kind[:-1]} value",
        yaxis_title="count",
        legend={"orientation": "v"},
    )
    return fig
