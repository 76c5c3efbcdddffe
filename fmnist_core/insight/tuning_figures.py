"""Plotly figures for tuning hyperparameters: the LR finder's loss curve, a sweep's metric against
the swept value, and the views of many runs' hyperparameters against their result (parallel
coordinates, a two-parameter grid). No Streamlit here; training curves are ``training_figures``'s.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from fmnist_core.insight.training_figures import METRIC_LABELS

SUGGESTION_LABELS = {"valley": "valley", "steepest": "steepest", "min_div_10": "min / 10"}
SUGGESTION_COLORS = {"valley": "#2ca02c", "steepest": "#d62728", "min_div_10": "#9467bd"}
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
    fig.add_trace(
        go.Scatter(
            x=lrs,
            y=raw,
            mode="lines",
            name="raw loss",
            line=dict(width=1, color="rgba(120,120,120,0.6)"),
            hovertemplate="lr %{x:.2e}<br>loss %{y:.4f}<extra>raw</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=lrs,
            y=smooth,
            mode="lines",
            name="smoothed loss",
            line=dict(width=3, color="#1f77b4"),
            hovertemplate="lr %{x:.2e}<br>loss %{y:.4f}<extra>smoothed</extra>",
        )
    )
    for key, lr in (result.get("suggestions") or {}).items():
        color = SUGGESTION_COLORS.get(key, "black")
        label = SUGGESTION_LABELS.get(key, key)
        fig.add_vline(x=lr, line=dict(color=color, dash="dash", width=2))
        # An invisible marker at the curve gives the line a legend entry and a hover label.
        fig.add_trace(
            go.Scatter(
                x=[lr],
                y=[_interp(lrs, smooth, lr)],
                mode="markers",
                marker=dict(size=11, color=color, symbol="diamond"),
                name=f"{label}: {lr:.2e}",
                hovertemplate=f"{label}<br>lr %{{x:.2e}}<extra></extra>",
            )
        )
    if smooth:
        # From the lowest loss seen (raw dips below the lagging average) to a little above the
        # starting loss: the divergent tail runs off the top instead of flattening the curve.
        lo = min(min(smooth), min(raw))
        hi = max(smooth[0], raw[0], lo + 1e-3)
        pad = 0.05 * (hi - lo)
        fig.update_yaxes(range=[max(0.0, lo - pad), hi + 3 * pad])
    fig.update_xaxes(type="log", title_text="learning rate (log scale)", exponentformat="power")
    fig.update_yaxes(title_text="training loss")
    fig.update_layout(
        title=title,
        height=420,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def _interp(xs, ys, x):
    """Loss at ``x`` on the smoothed curve (nearest sweep point in log space)."""
    if not xs:
        return None
    i = min(range(len(xs)), key=lambda j: abs(math.log(xs[j]) - math.log(x)))
    return ys[i]


def sweep_points(runs: list[dict], metric: str = "val_accuracy") -> list[tuple]:
    """(swept value, metric, run id, status) for each run with a value and the metric, sorted by value."""
    pts = [
        (r.get("sweep_value"), r.get(metric), r["id"], r.get("status"))
        for r in runs
        if r.get("sweep_value") is not None and r.get(metric) is not None
    ]
    try:
        return sorted(pts, key=lambda p: p[0])
    except TypeError:  # mixed types: keep submission order
        return sorted(pts, key=lambda p: p[2])


def sweep_summary_figure(
    runs: list[dict], param: str, metric: str = "val_accuracy", title: str | None = None
) -> go.Figure:
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
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers+text",
                text=text,
                textposition="top center",
                marker=dict(size=11, color=colors),
                line=dict(color="#1f77b4"),
                name=ylabel,
                hovertemplate=f"{param} %{{x}}<br>{ylabel} %{{y:.4f}}<br>%{{text}}<extra></extra>",
            )
        )
        # Ticks at the swept values themselves: a log axis's minor ticks are clutter here.
        fig.update_xaxes(type="log" if param in LOG_PARAMS else "linear", tickvals=xs, ticktext=[f"{x:g}" for x in xs])
    else:
        fig.add_trace(
            go.Bar(
                x=[str(x) for x in xs],
                y=ys,
                text=[f"{y:.4f}" for y in ys],
                marker_color=colors,
                name=ylabel,
                customdata=text,
                hovertemplate=f"{param} %{{x}}<br>{ylabel} %{{y:.4f}}<br>%{{customdata}}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text=param)
    fig.update_yaxes(title_text=ylabel)
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50 if title else 20, b=10), showlegend=False)
    return fig


# ---------------------------------------------------------------- many runs: hyperparameters vs result

HP_AXES = (
    "lr",
    "batch_size",
    "epochs",
    "optimizer",
    "schedule",
    "subset",
    "augment_shift",
    "augment_flip",
    "normalize",
    "val_fraction",
    "momentum",
    "seed",
)


def parallel_figure(runs: list[dict], selected=(), metric: str = "val_accuracy") -> go.Figure:
    """Parallel coordinates of runs: one axis per hyperparameter that differs between them (the
    learning rate on a log10 axis), then the metric in percent. Runs in ``selected`` (ids) are drawn
    red, the others in blues by their metric; drag along an axis to brush a range.

    runs : run dicts with ``hparams`` and the metric; those without the metric are left out.
    """
    runs = [r for r in runs if r.get(metric) is not None]
    hps = [r.get("hparams") or {} for r in runs]
    dims = []
    for key in HP_AXES:
        values = [h.get(key) for h in hps]
        if key != "lr" and len({repr(v) for v in values}) < 2:
            continue  # the same for every run: no information on this axis
        if key == "subset":
            values = [v or 60000 for v in values]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            if key == "lr":
                dims.append({"label": "log10 learning rate", "values": [math.log10(v) for v in values]})
            else:
                dims.append({"label": key.replace("_", " "), "values": values})
        else:  # categories (optimizer, schedule, booleans): one tick per value
            cats = sorted({str(v) for v in values})
            dims.append(
                {
                    "label": key.replace("_", " "),
                    "values": [cats.index(str(v)) for v in values],
                    "tickvals": list(range(len(cats))),
                    "ticktext": cats,
                }
            )
    scores = [100 * r[metric] if "accuracy" in metric else r[metric] for r in runs]
    dims.append(
        {"label": METRIC_LABELS.get(metric, metric) + (" (%)" if "accuracy" in metric else ""), "values": scores}
    )
    lo, hi = (min(scores), max(scores)) if scores else (0, 1)
    chosen = set(selected)
    # Colour: blues by the metric in [0, 0.8], selected runs at 1 (red): one colour scale does both,
    # with a gap before the red so the best unselected run stays blue.
    color = [1.0 if r["id"] in chosen else 0.8 * (s - lo) / ((hi - lo) or 1) for r, s in zip(runs, scores)]
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": color,
                "cmin": 0,
                "cmax": 1,
                "colorscale": [[0, "#c6dbef"], [0.8, "#08306b"], [0.9, "#08306b"], [0.95, "#d62728"], [1, "#d62728"]],
            },
            dimensions=dims,
        )
    )
    fig.update_layout(height=380, margin={"l": 70, "r": 90, "t": 50, "b": 20})  # room for the end labels
    return fig


def grid_figure(runs: list[dict], params: list[str], metric: str = "val_accuracy") -> go.Figure:
    """A two-parameter sweep as a heatmap: rows = the first parameter's values, columns = the second's,
    each cell the run's metric (accuracy in %), the best cell outlined.

    runs : sweep runs whose ``sweep_value`` is the pair [value, value2]; unfinished ones stay blank.
    """
    pairs = [
        (r["sweep_value"][0], r["sweep_value"][1], r)
        for r in runs
        if isinstance(r.get("sweep_value"), list) and len(r["sweep_value"]) == 2
    ]

    def order(vals):
        vals = list(dict.fromkeys(vals))
        try:
            return sorted(vals)
        except TypeError:
            return vals

    rows, cols = order(p[0] for p in pairs), order(p[1] for p in pairs)
    scale = 100 if "accuracy" in metric else 1
    z = [[None] * len(cols) for _ in rows]
    text = [[""] * len(cols) for _ in rows]
    for a, b, r in pairs:
        i, j = rows.index(a), cols.index(b)
        if r.get(metric) is not None:
            z[i][j] = r[metric] * scale
            text[i][j] = f"{r[metric] * scale:.2f}{'%' if scale == 100 else ''}<br>run #{r['id']}"
    label = METRIC_LABELS.get(metric, metric)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{v:g}" if isinstance(v, float) else str(v) for v in cols],
            y=[f"{v:g}" if isinstance(v, float) else str(v) for v in rows],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues" if scale == 100 else "Blues_r",
            colorbar={"title": {"text": label}},
            hovertemplate=f"{params[0]} %{{y}}<br>{params[1]} %{{x}}<br>{label} %{{z:.3f}}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=params[1], type="category")
    fig.update_yaxes(title_text=params[0], type="category")
    fig.update_layout(height=120 + 60 * len(rows), margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig
