"""Plotly figures for training work: training curves (live and finished runs, run overlays), the LR
finder, sweep summaries and hyperparameter views. No Streamlit here.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

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


# ---------------------------------------------------------------- training curves: one run (live or finished), many runs
# Every training-curve chart comes from one series function (``series``) through one renderer,
# Plotly: the live view's browser draws ``curves_figure`` from the app's route with Plotly.js
# (ui/training/live_feed.js); a finished run and Compare runs' overlay are drawn by st.plotly_chart.
# The figures are plain dicts, not graph_objects: the live route builds one every poll, and
# Plotly's object validation of a 4-trace figure costs ~100 ms of server CPU at 2,000 points.

X_AXES = {"epoch": "epoch", "step": "step (batch)", "wall": "wall-clock (s since the start)"}
BATCH_COLOR, TRAIN_COLOR, VAL_COLOR = "rgba(110,110,110,0.55)", "#1f77b4", "#ff7f0e"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
_HOVER_X = {"epoch": "epoch %{x:.2f}", "step": "step %{x}", "wall": "%{x:.1f} s"}


def thin(points: list, limit: int) -> list:
    """At most ``limit`` evenly spaced points, always keeping the last (the curve keeps its shape)."""
    if len(points) <= limit:
        return list(points)
    step = -(-len(points) // (limit - 1))
    return list(points[::step]) + [points[-1]]


def ema(values: list, weight: float) -> list:
    """TensorBoard's smoothing: a debiased exponential moving average; None (a gap) passes through.

    weight : 0 = raw, 0.99 = very smooth. Debiased, so the curve starts at the first value
    instead of rising from zero.
    """
    if not weight:
        return list(values)
    out, last, n = [], 0.0, 0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
            continue
        last, n = last * weight + (1 - weight) * v, n + 1
        out.append(last / (1 - weight ** n))
    return out


def _x_of_points(points: list, bpe: int, x: str) -> list:
    if x == "step":
        return [p["step"] for p in points]
    if x == "wall":
        return [p.get("elapsed") for p in points]
    return [round(p["step"] / bpe, 4) for p in points]


def _x_of_epochs(history: list, bpe: int, x: str) -> list:
    if x == "step":
        return [h["epoch"] * bpe for h in history]
    if x == "wall":   # the epochs' own durations, summed: when each one (and its validation) ended
        total, out = 0.0, []
        for h in history:
            total += h.get("seconds") or 0.0
            out.append(round(total, 2))
        return out
    return [h["epoch"] for h in history]


def _values(items: list[dict], key: str) -> list:
    """``key`` of each item, accuracies in percent, 6 significant digits (the live route sends them
    every poll); None where missing."""
    scale = 100 if key.endswith("accuracy") else 1
    return [None if it.get(key) is None else float(f"{it[key] * scale:.6g}") for it in items]


def series(history: list[dict], points: list[dict], batches_per_epoch: int | None, *, x: str = "epoch",
           smoothing: float = 0.0, smooth_epochs: bool = False, max_points: int = 400) -> list[dict]:
    """Every curve of one run: ``{"source": "batch" | "epoch", "metric", "x", "y"}``.

    history : finished epochs only (epoch, loss, accuracy, val_loss, val_accuracy, seconds): sources
        "epoch" for loss, accuracy, val_loss, val_accuracy; an unfinished epoch has batch points only.
    points : per-batch points (step, loss, accuracy, elapsed): source "batch" for loss and accuracy,
        thinned to ``max_points`` (the last kept).
    x : "epoch" (fractional for batches), "step" or "wall" (seconds since the start).
    smoothing : ``ema`` weight, applied to the batch curves, or with ``smooth_epochs`` to the epochs'.
    Accuracies are in percent, like the rest of the app.
    """
    bpe = batches_per_epoch or max((p.get("batch") or 1 for p in points), default=1)
    out = []
    pts = thin(points, max_points)
    if pts:
        px = _x_of_points(pts, bpe, x)
        out += [{"source": "batch", "metric": key, "x": px, "y": ema(_values(pts, key), smoothing)}
                for key in ("loss", "accuracy")]
    if history:
        ex = _x_of_epochs(history, bpe, x)
        weight = smoothing if smooth_epochs else 0.0
        out += [{"source": "epoch", "metric": key, "x": ex, "y": ema(_values(history, key), weight)}
                for key in ("loss", "accuracy", "val_loss", "val_accuracy")]
    return out


def _trace(panel: int, curve: dict, name: str, group: str, color: str, hover: str, *, batch: bool = False) -> dict:
    axis = "" if panel == 0 else str(panel + 1)
    return {"type": "scatter", "mode": "lines" if batch else "lines+markers", "x": curve["x"], "y": curve["y"],
            "name": name, "legendgroup": group, "showlegend": panel == 0, "xaxis": f"x{axis}", "yaxis": f"y{axis}",
            "line": {"width": 1.2, "color": color} if batch else {"color": color},
            **({} if batch else {"marker": {"size": 7}}), "hovertemplate": hover + "<extra></extra>"}


def _panels_figure(titles: list[str], log_y: list[bool], traces: list[dict], x: str, *, height: int,
                   title: str | None = None, x_range: list | None = None) -> dict:
    """A Plotly figure dict of side-by-side panels sharing the x title, one y axis per panel."""
    gap = 0.08
    width = (1 - gap * (len(titles) - 1)) / len(titles)
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 60 if title else 36, "b": 10},
              "uirevision": "keep", "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}}
    if title:
        layout["title"] = {"text": title}
    for i, (ytitle, log) in enumerate(zip(titles, log_y)):
        axis, lo = "" if i == 0 else str(i + 1), i * (width + gap)
        # automargin: the tick labels and titles push the margins out instead of being cut off.
        layout[f"xaxis{axis}"] = {"domain": [round(lo, 4), round(lo + width, 4)], "title": {"text": X_AXES[x]},
                                  "anchor": f"y{axis}", "automargin": True, **({"range": x_range} if x_range else {})}
        layout[f"yaxis{axis}"] = {"title": {"text": ytitle + (" (log)" if log else "")}, "automargin": True,
                                  "type": "log" if log else "linear", "anchor": f"x{axis}"}
    return {"data": traces, "layout": layout}


def curves_figure(history: list[dict], points: list[dict], batches_per_epoch: int | None, *, x: str = "epoch",
                  smoothing: float = 0.0, log_y: bool = False, max_points: int = 400, height: int = 340,
                  epochs: int | None = None) -> dict:
    """Loss and accuracy (%) of one run, side by side: batch points, train (epoch mean) and validation.

    The live view and a finished run draw this same figure (``series`` for the arguments).
    epochs : the run's planned epochs: with ``x="epoch"``, the x axis spans all of them (the live view).
    """
    curves = series(history, points, batches_per_epoch, x=x, smoothing=smoothing, max_points=max_points)
    traces = []
    for c in curves:
        panel = 0 if c["metric"].endswith("loss") else 1
        key = c["metric"].removeprefix("val_")
        if c["source"] == "batch":
            name = "batch" + (f" (smoothed {smoothing:g})" if smoothing else "")
            traces.append(_trace(panel, c, name, "batch", BATCH_COLOR,
                                 f"{_HOVER_X[x]}<br>batch {key} %{{y:.3f}}", batch=True))
        else:
            name, color = (("validation", VAL_COLOR) if c["metric"].startswith("val_")
                           else ("train (epoch mean)", TRAIN_COLOR))
            traces.append(_trace(panel, c, name, name, color, f"{_HOVER_X[x]}<br>{name} {key} %{{y:.3f}}"))
    last = max((v for c in curves for v in c["x"] if v is not None), default=0)
    x_range = [0, max(epochs, last)] if epochs and x == "epoch" else None
    return _panels_figure(["loss", "accuracy (%)"], [log_y, False], traces, x, height=height, x_range=x_range)


def run_label(run: dict) -> str:
    name = run.get("name") or ""
    return f"#{run['id']} {name}".strip()


def overlay_figure(runs: list[dict], metrics=("val_accuracy", "val_loss"), title: str | None = None, *,
                   smoothing: float = 0.0, log_y: bool = False, x: str = "epoch", height: int = 400) -> dict:
    """Per-epoch curves of several runs, one colour per run, one panel per metric (``series`` of each run).

    runs : run dicts with ``id``, ``name`` and ``history`` (finished epochs), and
        ``batches_per_epoch`` for ``x="step"``.
    smoothing : ``ema`` weight applied to each curve; log_y puts the loss panels on a log axis.
    """
    traces = []
    for i, run in enumerate(runs):
        curves = {c["metric"]: c for c in series(run.get("history") or [], [], run.get("batches_per_epoch"), x=x,
                                                  smoothing=smoothing, smooth_epochs=True)}
        label = run_label(run)
        for panel, metric in enumerate(metrics):
            curve = curves.get(metric, {"x": [], "y": []})
            traces.append(_trace(panel, curve, label, str(run["id"]), PALETTE[i % len(PALETTE)],
                                 f"{label}<br>{X_AXES[x]} %{{x}}<br>{metric} %{{y:.4f}}"))
    titles = [METRIC_LABELS.get(m, m) + (" (%)" if "accuracy" in m else "") for m in metrics]
    return _panels_figure(titles, [log_y and "loss" in m for m in metrics], traces, x, height=height, title=title)


def curves_csv(history: list[dict], points: list[dict]) -> str:
    """The run's curves as CSV: one row per batch point and per finished epoch (kind = batch | epoch)."""
    cols = ("kind", "epoch", "batch", "step", "elapsed", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
            "seconds")
    rows = [",".join(cols)]
    for kind, items in (("batch", points), ("epoch", history)):
        for item in items:
            rows.append(",".join([kind] + ["" if item.get(c) is None else f"{item[c]:.6g}"
                                           if isinstance(item[c], float) else str(item[c]) for c in cols[1:]]))
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- many runs: hyperparameters vs result

HP_AXES = ("lr", "batch_size", "epochs", "optimizer", "schedule", "subset", "augment_shift", "augment_flip",
           "normalize", "val_fraction", "momentum", "seed")


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
            dims.append({"label": key.replace("_", " "), "values": [cats.index(str(v)) for v in values],
                         "tickvals": list(range(len(cats))), "ticktext": cats})
    scores = [100 * r[metric] if "accuracy" in metric else r[metric] for r in runs]
    dims.append({"label": METRIC_LABELS.get(metric, metric) + (" (%)" if "accuracy" in metric else ""),
                 "values": scores})
    lo, hi = (min(scores), max(scores)) if scores else (0, 1)
    chosen = set(selected)
    # Colour: blues by the metric in [0, 0.8], selected runs at 1 (red): one colour scale does both,
    # with a gap before the red so the best unselected run stays blue.
    color = [1.0 if r["id"] in chosen else 0.8 * (s - lo) / ((hi - lo) or 1) for r, s in zip(runs, scores)]
    fig = go.Figure(go.Parcoords(line={"color": color, "cmin": 0, "cmax": 1, "colorscale": [
        [0, "#c6dbef"], [0.8, "#08306b"], [0.9, "#08306b"], [0.95, "#d62728"], [1, "#d62728"]]}, dimensions=dims))
    fig.update_layout(height=380, margin={"l": 70, "r": 90, "t": 50, "b": 20})   # room for the end labels
    return fig


def grid_figure(runs: list[dict], params: list[str], metric: str = "val_accuracy") -> go.Figure:
    """A two-parameter sweep as a heatmap: rows = the first parameter's values, columns = the second's,
    each cell the run's metric (accuracy in %), the best cell outlined.

    runs : sweep runs whose ``sweep_value`` is the pair [value, value2]; unfinished ones stay blank.
    """
    pairs = [(r["sweep_value"][0], r["sweep_value"][1], r) for r in runs
             if isinstance(r.get("sweep_value"), list) and len(r["sweep_value"]) == 2]

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
    fig = go.Figure(go.Heatmap(z=z, x=[f"{v:g}" if isinstance(v, float) else str(v) for v in cols],
                               y=[f"{v:g}" if isinstance(v, float) else str(v) for v in rows], text=text,
                               texttemplate="%{text}", colorscale="Blues" if scale == 100 else "Blues_r",
                               colorbar={"title": {"text": label}},
                               hovertemplate=f"{params[0]} %{{y}}<br>{params[1]} %{{x}}<br>{label} %{{z:.3f}}"
                                             "<extra></extra>"))
    fig.update_xaxes(title_text=params[1], type="category")
    fig.update_yaxes(title_text=params[0], type="category")
    fig.update_layout(height=120 + 60 * len(rows), margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig
