"""Figures of the training pages: training curves (one run, live or finished; run overlays), LR finder
chart, sweep summary."""

import math

import plotly.graph_objects as go
import pytest

from fmnist_core.insight.fit_hints import fit_hints
from fmnist_core.insight.training_figures import (
    curves_csv,
    curves_figure,
    ema,
    overlay_figure,
    series,
    thin,
)
from fmnist_core.insight.tuning_figures import lr_finder_figure, sweep_points, sweep_summary_figure


def finder_result():
    lrs = [1e-6 * 10 ** (i / 4) for i in range(25)]  # 1e-6 .. 1
    losses = [2.3 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 2)) for lr in lrs[:20]] + [1.0, 1.5, 2.5, 4, 8]
    return {
        "lrs": lrs,
        "losses": losses,
        "smoothed": losses,
        "suggestions": {"valley": 1e-3, "steepest": 3e-4, "min_div_10": 1e-2},
    }


def test_lr_finder_figure_has_log_axis_both_curves_and_a_marker_per_suggestion():
    res = finder_result()
    fig = lr_finder_figure(res)
    assert fig.layout.xaxis.type == "log"
    names = [t.name for t in fig.data]
    assert names[:2] == ["raw loss", "smoothed loss"]
    assert sorted(n.split(":")[0] for n in names[2:]) == ["min / 10", "steepest", "valley"]
    assert len(fig.layout.shapes) == 3  # one vertical line per suggestion
    assert sorted(s.x0 for s in fig.layout.shapes) == [3e-4, 1e-3, 1e-2]
    lo, hi = fig.layout.yaxis.range
    assert lo <= min(res["losses"]) and hi < max(res["losses"])  # the divergent tail is cut off


def test_sweep_summary_sorts_by_value_and_highlights_the_best():
    runs = [
        {"id": 1, "sweep_value": 1e-2, "val_accuracy": 0.80, "status": "completed"},
        {"id": 2, "sweep_value": 1e-4, "val_accuracy": 0.60, "status": "completed"},
        {"id": 3, "sweep_value": 1e-3, "val_accuracy": 0.85, "status": "completed"},
        {"id": 4, "sweep_value": 1e-1, "val_accuracy": None, "status": "failed"},
    ]
    assert [p[2] for p in sweep_points(runs)] == [2, 3, 1]  # failed run without a metric left out
    fig = sweep_summary_figure(runs, "lr")
    assert fig.layout.xaxis.type == "log"
    assert list(fig.data[0].x) == [1e-4, 1e-3, 1e-2]
    assert list(fig.data[0].marker.color).count("#d62728") == 1 and fig.data[0].marker.color[1] == "#d62728"
    loss_fig = sweep_summary_figure(
        [dict(r, val_loss=1 - (r["val_accuracy"] or 0)) for r in runs[:3]], "lr", "val_loss"
    )
    assert loss_fig.data[0].marker.color[1] == "#d62728"  # lowest loss is best for a loss


def test_sweep_summary_of_a_categorical_parameter_is_a_bar_chart():
    runs = [{"id": 1, "sweep_value": "adam", "val_accuracy": 0.8}, {"id": 2, "sweep_value": "sgd", "val_accuracy": 0.7}]
    fig = sweep_summary_figure(runs, "optimizer")
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == ["adam", "sgd"]


# ---------------------------------------------------------------- TensorBoard-style curves

HISTORY = [
    {
        "epoch": e,
        "loss": 1 / e,
        "accuracy": 0.5 + e / 20,
        "val_loss": 1.2 / e,
        "val_accuracy": 0.5 + e / 25,
        "seconds": 10.0,
    }
    for e in (1, 2, 3)
]
POINTS = [
    {
        "step": s,
        "epoch": (s - 1) // 10 + 1,
        "batch": (s - 1) % 10 + 1,
        "loss": 2.0 - s / 40,
        "accuracy": 0.1 + s / 50,
        "elapsed": 1.0 * s,
    }
    for s in range(1, 36)
]  # 3.5 epochs of 10 batches


def test_ema_is_tensorboards_debiased_average_and_skips_gaps():
    assert ema([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    out = ema([2.0, None, 4.0], 0.5)
    assert out[0] == 2.0 and out[1] is None  # debiased: starts at the first value, not at 0
    assert out[2] == (2.0 * 0.5 * 0.5 + 4.0 * 0.5) / (1 - 0.25)  # (0.5 * 1.0 + 0.5 * 4.0) / 0.75 = 3.333...


def test_curves_figure_is_a_valid_plotly_dict_in_percent_with_each_x_axis():
    fig = curves_figure(HISTORY, POINTS, 10)
    go.Figure(fig)  # valid for Plotly
    batch_loss, batch_acc = fig["data"][0], fig["data"][1]
    assert batch_loss["x"][0] == 0.1 and batch_loss["x"][-1] == 3.5  # fractional epochs: step / batches per epoch
    assert batch_acc["y"][0] == pytest.approx(12.0)  # percent
    train_acc = [t for t in fig["data"] if t["name"] == "train (epoch mean)" and t["yaxis"] == "y2"][0]
    assert train_acc["x"] == [1, 2, 3] and train_acc["y"][0] == pytest.approx(
        55.0
    )  # epoch 4 is unfinished: no epoch point
    assert curves_figure(HISTORY, POINTS, 10, x="step")["data"][2]["x"] == [10, 20, 30]
    assert curves_figure(HISTORY, POINTS, 10, x="wall")["data"][2]["x"] == [10.0, 20.0, 30.0]
    assert curves_figure(HISTORY, POINTS, 10, log_y=True)["layout"]["yaxis"]["type"] == "log"
    smooth = curves_figure(HISTORY, POINTS, 10, smoothing=0.9)["data"][0]["y"]
    assert (
        smooth[0] == pytest.approx(POINTS[0]["loss"]) and smooth[-1] > POINTS[-1]["loss"]
    )  # lags the falling raw curve
    assert len(curves_figure(HISTORY, POINTS * 40, 10, max_points=100)["data"][0]["x"]) <= 100


def test_series_is_every_curve_of_a_run_in_percent_thinned_and_smoothed():
    curves = series(HISTORY, POINTS * 20, 10, max_points=50, smoothing=0.5)
    assert [(c["source"], c["metric"]) for c in curves] == [
        ("batch", "loss"),
        ("batch", "accuracy"),
        ("epoch", "loss"),
        ("epoch", "accuracy"),
        ("epoch", "val_loss"),
        ("epoch", "val_accuracy"),
    ]
    batch_loss, batch_acc = curves[0], curves[1]
    assert len(batch_loss["x"]) <= 50 and batch_loss["x"][-1] == 3.5  # thinned, the last point kept
    assert batch_acc["y"][0] == pytest.approx(12.0)  # percent
    assert batch_loss["y"][1] != (POINTS * 20)[1]["loss"]  # smoothed...
    assert curves[4]["y"] == pytest.approx([1.2, 0.6, 0.4])  # ...the epochs not, unless asked
    smoothed = series(HISTORY, [], 10, smoothing=0.5, smooth_epochs=True)
    assert [c["source"] for c in smoothed] == ["epoch"] * 4 and smoothed[2]["y"][1] != pytest.approx(0.6)
    assert series([], [], None) == []


def test_the_live_x_axis_spans_the_runs_planned_epochs():
    fig = curves_figure(HISTORY, POINTS, 10, epochs=8)
    assert fig["layout"]["xaxis"]["range"] == [0, 8] and fig["layout"]["xaxis2"]["range"] == [0, 8]
    assert "range" not in curves_figure(HISTORY, POINTS, 10)["layout"]["xaxis"]  # a finished run: autorange
    assert "range" not in curves_figure(HISTORY, POINTS, 10, x="step", epochs=8)["layout"]["xaxis"]
    assert curves_figure([], POINTS, 10, epochs=2)["layout"]["xaxis"]["range"] == [0, 3.5]  # never cut a point off
    empty = curves_figure([], [], None, epochs=3)
    go.Figure(empty)  # a run that has not started: empty panels
    assert empty["data"] == [] and empty["layout"]["xaxis"]["range"] == [0, 3]


def test_overlay_has_one_trace_per_run_and_metric_with_one_legend_entry_per_run():
    runs = [
        {
            "id": i,
            "name": f"r{i}",
            "batches_per_epoch": 50,
            "history": [
                {"epoch": e, "val_accuracy": 0.5 + e / 10, "val_loss": 1 / e, "seconds": 4.0} for e in (1, 2, 3)
            ],
        }
        for i in (1, 2)
    ]
    fig = overlay_figure(runs)
    go.Figure(fig)
    assert len(fig["data"]) == 4
    assert [t["name"] for t in fig["data"] if t["showlegend"]] == ["#1 r1", "#2 r2"]
    assert [round(y, 6) for y in fig["data"][0]["y"]] == [60, 70, 80]  # accuracy in percent, as in the app
    assert fig["data"][0]["line"]["color"] != fig["data"][2]["line"]["color"]  # one colour per run
    assert [t["xaxis"] for t in fig["data"]] == ["x", "x2", "x", "x2"]  # one panel per metric
    logged = overlay_figure(runs, ["val_accuracy", "val_loss"], log_y=True, x="step", smoothing=0.6)
    assert logged["layout"]["yaxis"]["type"] == "linear" and logged["layout"]["yaxis2"]["type"] == "log"
    assert logged["data"][0]["x"] == [50, 100, 150]
    assert logged["data"][0]["y"][0] == pytest.approx(60) and logged["data"][0]["y"][2] < 80  # smoothed epochs
    assert overlay_figure(runs, x="wall")["data"][0]["x"] == [4.0, 8.0, 12.0]


def test_thin_keeps_the_last_point_and_the_bound():
    pts = list(range(1000))
    out = thin(pts, 100)
    assert len(out) <= 100 and out[0] == 0 and out[-1] == 999


def test_curves_csv_has_a_row_per_point_and_per_epoch():
    lines = curves_csv(HISTORY, POINTS[:2]).splitlines()
    assert lines[0].startswith("kind,epoch,batch,step,elapsed,loss,accuracy,val_loss,val_accuracy")
    assert len(lines) == 1 + 2 + 3 and lines[1].startswith("batch,1,1,1,1,1.975,0.12")
    assert lines[3].startswith("epoch,1,,,,1,0.55,1.2,0.54")


# ---------------------------------------------------------------- over/underfitting hints


def test_hint_names_rising_validation_loss_with_its_numbers():
    hist = [
        {"epoch": e, "loss": lo, "accuracy": a, "val_loss": vl, "val_accuracy": va}
        for e, lo, a, vl, va in [
            (1, 0.6, 0.80, 0.50, 0.82),
            (2, 0.4, 0.86, 0.41, 0.85),
            (3, 0.3, 0.90, 0.44, 0.85),
            (4, 0.25, 0.92, 0.47, 0.85),
            (5, 0.2, 0.94, 0.52, 0.85),
        ]
    ]
    hints = fit_hints(hist)
    assert hints[0]["kind"] == "overfitting"
    assert "Validation loss has risen for 3 epochs (0.410 at epoch 2 → 0.520 at epoch 5)" in hints[0]["text"]
    assert "training loss fell (0.400 → 0.200)" in hints[0]["text"] and "early stopping" in hints[0]["text"]
    assert fit_hints(hist[:3]) == []  # one rise is noise, not a trend


def test_hint_underfitting_and_gap():
    still = [
        {"epoch": 1, "loss": 0.9, "accuracy": 0.70, "val_loss": 0.85, "val_accuracy": 0.705},
        {"epoch": 2, "loss": 0.7, "accuracy": 0.75, "val_loss": 0.69, "val_accuracy": 0.755},
    ]
    assert [h["kind"] for h in fit_hints(still)] == ["underfitting"]
    assert "room to learn more" in fit_hints(still)[0]["text"]
    gap = [
        {"epoch": 1, "loss": 0.3, "accuracy": 0.95, "val_loss": 0.5, "val_accuracy": 0.84},
        {"epoch": 2, "loss": 0.2, "accuracy": 0.97, "val_loss": 0.5, "val_accuracy": 0.85},
    ]
    assert fit_hints(gap)[0]["kind"] == "overfitting" and "12.0 points above" in fit_hints(gap)[0]["text"]


def test_parallel_figure_has_an_axis_per_varied_hyperparameter_and_marks_the_selection():
    from fmnist_core.insight.tuning_figures import parallel_figure

    runs = [
        {"id": i, "val_accuracy": acc, "hparams": {"lr": lr, "batch_size": 128, "optimizer": opt, "epochs": 3}}
        for i, lr, opt, acc in [(1, 1e-3, "adam", 0.85), (2, 1e-2, "sgd", 0.80), (3, 1e-4, "adam", 0.70)]
    ]
    runs.append({"id": 4, "val_accuracy": None, "hparams": {"lr": 1.0}})  # failed: left out
    fig = parallel_figure(runs, selected=[2])
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["log10 learning rate", "optimizer", "validation accuracy (%)"]
    assert [round(v, 6) for v in dims[0].values] == [-3, -2, -4]
    assert list(dims[1].ticktext) == ["adam", "sgd"] and list(dims[1].values) == [0, 1, 0]
    assert [round(v, 6) for v in dims[2].values] == [85, 80, 70]
    assert [round(c, 6) for c in fig.data[0].line.color] == [0.8, 1.0, 0.0]  # best dark blue, selected red


def test_grid_figure_puts_each_run_in_its_cell():
    from fmnist_core.insight.tuning_figures import grid_figure

    runs = [
        {"id": i, "sweep_value": [lr, bs], "val_accuracy": acc}
        for i, lr, bs, acc in [(1, 1e-3, 32, 0.80), (2, 1e-3, 128, 0.82), (3, 1e-2, 32, 0.85), (4, 1e-2, 128, None)]
    ]
    fig = grid_figure(runs, ["lr", "batch_size"])
    hm = fig.data[0]
    assert list(hm.y) == ["0.001", "0.01"] and list(hm.x) == ["32", "128"]
    assert [[None if v is None else round(v, 6) for v in row] for row in hm.z] == [[80, 82], [85, None]]
    assert hm.text[1][0].startswith("85.00%") and "run #3" in hm.text[1][0]
