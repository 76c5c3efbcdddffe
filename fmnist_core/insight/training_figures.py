"""Plotly figures of training curves: one run (the live view and a finished run) and several runs
overlaid, all from one series function (``series``), plus the curves as CSV. No Streamlit here.

The LR finder, sweep summaries and hyperparameter views are ``tuning_figures``'s.
"""

from __future__ import annotations

import math

METRIC_LABELS = {
    "val_accuracy": "validation accuracy",
    "val_loss": "validation loss",
    "accuracy": "train accuracy",
    "loss": "train loss",
    "test_accuracy": "test accuracy",
    "test_loss": "test loss",
}


# ---------------------------------------------------------------- training curves: one run (live or finished), many runs
# Every training-curve chart comes from one series function (``series``) through one renderer,
# Plotly: the live view's browser draws ``curves_figure`` from the app's route with Plotly.js
# (ui/training/live_feed.js); a finished run and Compare runs' overlay are drawn by st.plotly_chart.
# The figures are plain dicts, not graph_objects: the live route builds one every poll, and
# Plotly's object validation of a 4-trace figure costs ~100 ms of server CPU at 2,000 points.

X_AXES = {"epoch": "epoch", "step": "step (batch)", "wall": "wall-clock (s since the start)"}
BATCH_COLOR, TRAIN_COLOR, VAL_COLOR = "rgba(110,110,110,0.55)", "#1f77b4", "#ff7f0e"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
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
        out.append(last / (1 - weight**n))
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
    if x == "wall":  # the epochs' own durations, summed: when each one (and its validation) ended
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


def series(
    history: list[dict],
    points: list[dict],
    batches_per_epoch: int | None,
    *,
    x: str = "epoch",
    smoothing: float = 0.0,
    smooth_epochs: bool = False,
    max_points: int = 400,
) -> list[dict]:
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
        out += [
            {"source": "batch", "metric": key, "x": px, "y": ema(_values(pts, key), smoothing)}
            for key in ("loss", "accuracy")
        ]
    if history:
        ex = _x_of_epochs(history, bpe, x)
        weight = smoothing if smooth_epochs else 0.0
        out += [
            {"source": "epoch", "metric": key, "x": ex, "y": ema(_values(history, key), weight)}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy")
        ]
    return out


def _trace(panel: int, curve: dict, name: str, group: str, color: str, hover: str, *, batch: bool = False) -> dict:
    axis = "" if panel == 0 else str(panel + 1)
    return {
        "type": "scatter",
        "mode": "lines" if batch else "lines+markers",
        "x": curve["x"],
        "y": curve["y"],
        "name": name,
        "legendgroup": group,
        "showlegend": panel == 0,
        "xaxis": f"x{axis}",
        "yaxis": f"y{axis}",
        "line": {"width": 1.2, "color": color} if batch else {"color": color},
        **({} if batch else {"marker": {"size": 7}}),
        "hovertemplate": hover + "<extra></extra>",
    }


def _panels_figure(
    titles: list[str],
    log_y: list[bool],
    traces: list[dict],
    x: str,
    *,
    height: int,
    title: str | None = None,
    x_range: list | None = None,
) -> dict:
    """A Plotly figure dict of side-by-side panels sharing the x title, one y axis per panel."""
    gap = 0.08
    width = (1 - gap * (len(titles) - 1)) / len(titles)
    layout = {
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 60 if title else 36, "b": 10},
        "uirevision": "keep",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    }
    if title:
        layout["title"] = {"text": title}
    for i, (ytitle, log) in enumerate(zip(titles, log_y)):
        axis, lo = "" if i == 0 else str(i + 1), i * (width + gap)
        # automargin: the tick labels and titles push the margins out instead of being cut off.
        layout[f"xaxis{axis}"] = {
            "domain": [round(lo, 4), round(lo + width, 4)],
            "title": {"text": X_AXES[x]},
            "anchor": f"y{axis}",
            "automargin": True,
            **({"range": x_range} if x_range else {}),
        }
        layout[f"yaxis{axis}"] = {
            "title": {"text": ytitle + (" (log)" if log else "")},
            "automargin": True,
            "type": "log" if log else "linear",
            "anchor": f"x{axis}",
        }
    return {"data": traces, "layout": layout}


def curves_figure(
    history: list[dict],
    points: list[dict],
    batches_per_epoch: int | None,
    *,
    x: str = "epoch",
    smoothing: float = 0.0,
    log_y: bool = False,
    max_points: int = 400,
    height: int = 340,
    epochs: int | None = None,
) -> dict:
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
            traces.append(
                _trace(panel, c, name, "batch", BATCH_COLOR, f"{_HOVER_X[x]}<br>batch {key} %{{y:.3f}}", batch=True)
            )
        else:
            name, color = (
                ("validation", VAL_COLOR) if c["metric"].startswith("val_") else ("train (epoch mean)", TRAIN_COLOR)
            )
            traces.append(_trace(panel, c, name, name, color, f"{_HOVER_X[x]}<br>{name} {key} %{{y:.3f}}"))
    last = max((v for c in curves for v in c["x"] if v is not None), default=0)
    x_range = [0, max(epochs, last)] if epochs and x == "epoch" else None
    return _panels_figure(["loss", "accuracy (%)"], [log_y, False], traces, x, height=height, x_range=x_range)


def run_label(run: dict) -> str:
    name = run.get("name") or ""
    return f"#{run['id']} {name}".strip()


def overlay_figure(
    runs: list[dict],
    metrics=("val_accuracy", "val_loss"),
    title: str | None = None,
    *,
    smoothing: float = 0.0,
    log_y: bool = False,
    x: str = "epoch",
    height: int = 400,
) -> dict:
    """Per-epoch curves of several runs, one colour per run, one panel per metric (``series`` of each run).

    runs : run dicts with ``id``, ``name`` and ``history`` (finished epochs), and
        ``batches_per_epoch`` for ``x="step"``.
    smoothing : ``ema`` weight applied to each curve; log_y puts the loss panels on a log axis.
    """
    traces = []
    for i, run in enumerate(runs):
        curves = {
            c["metric"]: c
            for c in series(
                run.get("history") or [], [], run.get("batches_per_epoch"), x=x, smoothing=smoothing, smooth_epochs=True
            )
        }
        label = run_label(run)
        for panel, metric in enumerate(metrics):
            curve = curves.get(metric, {"x": [], "y": []})
            traces.append(
                _trace(
                    panel,
                    curve,
                    label,
                    str(run["id"]),
                    PALETTE[i % len(PALETTE)],
                    f"{label}<br>{X_AXES[x]} %{{x}}<br>{metric} %{{y:.4f}}",
                )
            )
    titles = [METRIC_LABELS.get(m, m) + (" (%)" if "accuracy" in m else "") for m in metrics]
    return _panels_figure(titles, [log_y and "loss" in m for m in metrics], traces, x, height=height, title=title)


def curves_csv(history: list[dict], points: list[dict]) -> str:
    """The run's curves as CSV: one row per batch point and per finished epoch (kind = batch | epoch)."""
    cols = (
        "kind",
        "epoch",
        "batch",
        "step",
        "elapsed",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    )
    rows = [",".join(cols)]
    for kind, items in (("batch", points), ("epoch", history)):
        for item in items:
            rows.append(
                ",".join(
                    [kind]
                    + [
                        "" if item.get(c) is None else f"{item[c]:.6g}" if isinstance(item[c], float) else str(item[c])
                        for c in cols[1:]
                    ]
                )
            )
    return "\n".join(rows) + "\n"
