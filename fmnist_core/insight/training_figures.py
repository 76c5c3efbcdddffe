"""Plotly figures for training work: the LR finder, run overlays and sweep summaries. No Streamlit here.

The generic training-curve and confusion-matrix figures live in ``figures``; these are the
ones the LR Finder and Compare Runs pages need.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

SUGGESTION_LABELS = {"valley": "valley", "steepest": "steepest", "min_div_10": "min / 10"}
SUGGESTION_COLORS = {"valley": "#2ca02c", "steepest": "#d62728", "min_div_10": "#9467bd"}
METRIC_LABELS = {"val_accuracy": "validation accuracy", "val_loss": "validation loss",
                 "accuracy": "train accuracy", "loss": "train loss",
                 "test_accuracy": "test accuracy", "test_loss": "test loss"}
# Swept hyperparameters whose values span orders of magnitude: plot them on a log axis.
LOG_PARAMS = {"lr"}


def lr_finder_figure(result: dict, title: str | None = None) -> go.Figure:
    """Loss against learning rate (log x): raw per-batch losses, the smoothed curve, and the
    suggested LRs as vertical lines.

    result : the dict returned by ``lr_finder.lr_find`` (lrs, losses, smoothed, suggestions).
    The y range is clipped to the interesting part: from just below the lowest smoothed loss
    to a little above the starting loss, so a divergent tail does not flatten the curve.
    """
    lrs, raw, smooth = result["lrs"], result["losses"], result["smoothed"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lrs, y=raw, mode="lines", name="raw loss",
                             line=dict(width=1, color="rgba(120,120,120,0.6)"),
                             hovertemplate="lr %{x:.2e}<br>loss %{y:.4f}<extra>raw</extra>"))
    fig.add_trace(go.Scatter(x=lrs, y=smooth, mode="lines", name="smoothed loss", line=dict(width=3, color="#1f77b4"),
                             hovertemplate="lr %{x:.2e}<br>loss %{y:.4f}<extra>smoothed</extra>"))
    for key, lr in (result.get("suggestions") or {}).items():
        color = SUGGESTION_COLORS.get(key, "black")
        label = SUGGESTION_LABELS.get(key, key)
        fig.add_vline(x=lr, line=dict(color=color, dash="dash", width=2))
        # An invisible marker at the curve gives the line a legend entry and a hover label.
        fig.add_trace(go.Scatter(x=[lr], y=[_interp(lrs, smooth, lr)], mode="markers",
                                 marker=dict(size=11, color=color, symbol="diamond"),
                                 name=f"{label}: {lr:.2e}", hovertemplate=f"{label}<br>lr %{{x:.2e}}<extra></extra>"))
    if smooth:
        # From the lowest loss seen (raw dips below the lagging average) to a little above the
        # starting loss: the divergent tail runs off the top instead of flattening the curve.
        lo = min(min(smooth), min(raw))
        hi = max(smooth[0], raw[0], lo + 1e-3)
        pad = 0.05 * (hi - lo)
        fig.update_yaxes(range=[max(0.0, lo - pad), hi + 3 * pad])
    fig.update_xaxes(type="log", title_text="learning rate (log scale)", exponentformat="power")
    fig.update_yaxes(title_text="training loss")
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=50 if title else 20, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def _interp(xs, ys, x):
    """Loss at ``x`` on the smoothed curve (nearest sweep point in log space)."""
    if not xs:
        return None
    i = min(range(len(xs)), key=lambda j: abs(math.log(xs[j]) - math.log(x)))
    return ys[i]


def run_label(run: dict) -> str:
    name = run.get("name") or ""
    return f"#{run['id']} {name}".strip()


def overlay_figure(runs: list[dict], metrics=("val_accuracy", "val_loss"), title: str | None = None) -> go.Figure:
    """Per-epoch curves of several runs on shared axes, one colour per run, one panel per metric.

    runs : run dicts with ``id``, ``name`` and ``history`` (epoch dicts).
    """
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf")
    fig = make_subplots(1, len(metrics), subplot_titles=[METRIC_LABELS.get(m, m) for m in metrics])
    for i, run in enumerate(runs):
        hist = run.get("history") or []
        color = palette[i % len(palette)]
        for col, metric in enumerate(metrics, start=1):
            fig.add_trace(go.Scatter(x=[h["epoch"] for h in hist], y=[h.get(metric) for h in hist],
                                     mode="lines+markers", name=run_label(run), legendgroup=str(run["id"]),
                                     showlegend=col == 1, line=dict(color=color),
                                     hovertemplate=f"{run_label(run)}<br>epoch %{{x}}<br>{metric} "
                                                   "%{y:.4f}<extra></extra>"),
                          1, col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=400)
    return legend_below(fig)


def legend_below(fig: go.Figure) -> go.Figure:
    """Move a horizontal legend under the x-axis title, where it does not cover it."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
                      margin=dict(l=10, r=10, t=50, b=80))
    return fig


def sweep_points(runs: list[dict], metric: str = "val_accuracy") -> list[tuple]:
    """(swept value, metric, run id, status) for each run with a value and the metric, sorted by value."""
    pts = [(r.get("sweep_value"), r.get(metric), r["id"], r.get("status")) for r in runs
           if r.get("sweep_value") is not None and r.get(metric) is not None]
    try:
        return sorted(pts, key=lambda p: p[0])
    except TypeError:  # mixed types: keep submission order
        return sorted(pts, key=lambda p: p[2])


def sweep_summary_figure(runs: list[dict], param: str, metric: str = "val_accuracy",
                         title: str | None = None) -> go.Figure:
    """The metric of each finished run of a sweep against the swept value.

    Numeric values get a line (log x for the learning rate); categorical ones (optimizer,
    activation, normalize) get bars. The best run is highlighted.
    """
    pts = sweep_points(runs, metric)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    higher_is_better = "accuracy" in metric
    best = None
    if ys:
        best = max(range(len(ys)), key=lambda i: ys[i] if higher_is_better else -ys[i])
    colors = ["#d62728" if i == best else "#1f77b4" for i in range(len(ys))]
    text = [f"run #{p[2]}" for p in pts]
    ylabel = METRIC_LABELS.get(metric, metric)
    fig = go.Figure()
    if numeric:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers+text", text=text, textposition="top center",
                                 marker=dict(size=11, color=colors), line=dict(color="#1f77b4"), name=ylabel,
                                 hovertemplate=f"{param} %{{x}}<br>{ylabel} %{{y:.4f}}<br>%{{text}}<extra></extra>"))
        # Ticks at the swept values themselves: a log axis's minor ticks are clutter here.
        fig.update_xaxes(type="log" if param in LOG_PARAMS else "linear", tickvals=xs,
                         ticktext=[f"{x:g}" for x in xs])
    else:
        fig.add_trace(go.Bar(x=[str(x) for x in xs], y=ys, text=[f"{y:.4f}" for y in ys], marker_color=colors,
                             name=ylabel, customdata=text,
                             hovertemplate=f"{param} %{{x}}<br>{ylabel} %{{y:.4f}}<br>%{{customdata}}<extra></extra>"))
    fig.update_xaxes(title_text=param)
    fig.update_yaxes(title_text=ylabel)
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50 if title else 20, b=10), showlegend=False)
    return fig
