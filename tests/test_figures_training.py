"""Figures of the training pages: LR finder chart, run overlay, sweep summary."""
import math

from fmnist_core.insight.training_figures import lr_finder_figure, overlay_figure, sweep_points, sweep_summary_figure


def finder_result():
    lrs = [1e-6 * 10 ** (i / 4) for i in range(25)]            # 1e-6 .. 1
    losses = [2.3 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 2)) for lr in lrs[:20]] + [1.0, 1.5, 2.5, 4, 8]
    return {"lrs": lrs, "losses": losses, "smoothed": losses,
            "suggestions": {"valley": 1e-3, "steepest": 3e-4, "min_div_10": 1e-2}}


def test_lr_finder_figure_has_log_axis_both_curves_and_a_marker_per_suggestion():
    res = finder_result()
    fig = lr_finder_figure(res)
    assert fig.layout.xaxis.type == "log"
    names = [t.name for t in fig.data]
    assert names[:2] == ["raw loss", "smoothed loss"]
    assert sorted(n.split(":")[0] for n in names[2:]) == ["min / 10", "steepest", "valley"]
    assert len(fig.layout.shapes) == 3                          # one vertical line per suggestion
    assert sorted(s.x0 for s in fig.layout.shapes) == [3e-4, 1e-3, 1e-2]
    lo, hi = fig.layout.yaxis.range
    assert lo <= min(res["losses"]) and hi < max(res["losses"])  # the divergent tail is cut off


def test_overlay_has_one_trace_per_run_and_metric_with_one_legend_entry_per_run():
    runs = [{"id": i, "name": f"r{i}", "history": [{"epoch": e, "val_accuracy": 0.5 + e / 10, "val_loss": 1 / e}
                                                   for e in (1, 2, 3)]} for i in (1, 2)]
    fig = overlay_figure(runs)
    assert len(fig.data) == 4
    assert [t.name for t in fig.data if t.showlegend] == ["#1 r1", "#2 r2"]
    assert list(fig.data[0].y) == [0.6, 0.7, 0.8]


def test_sweep_summary_sorts_by_value_and_highlights_the_best():
    runs = [{"id": 1, "sweep_value": 1e-2, "val_accuracy": 0.80, "status": "completed"},
            {"id": 2, "sweep_value": 1e-4, "val_accuracy": 0.60, "status": "completed"},
            {"id": 3, "sweep_value": 1e-3, "val_accuracy": 0.85, "status": "completed"},
            {"id": 4, "sweep_value": 1e-1, "val_accuracy": None, "status": "failed"}]
    assert [p[2] for p in sweep_points(runs)] == [2, 3, 1]        # failed run without a metric left out
    fig = sweep_summary_figure(runs, "lr")
    assert fig.layout.xaxis.type == "log"
    assert list(fig.data[0].x) == [1e-4, 1e-3, 1e-2]
    assert list(fig.data[0].marker.color).count("#d62728") == 1 and fig.data[0].marker.color[1] == "#d62728"
    loss_fig = sweep_summary_figure([dict(r, val_loss=1 - (r["val_accuracy"] or 0)) for r in runs[:3]], "lr",
                                    "val_loss")
    assert loss_fig.data[0].marker.color[1] == "#d62728"        # lowest loss is best for a loss


def test_sweep_summary_of_a_categorical_parameter_is_a_bar_chart():
    runs = [{"id": 1, "sweep_value": "adam", "val_accuracy": 0.8}, {"id": 2, "sweep_value": "sgd", "val_accuracy": 0.7}]
    fig = sweep_summary_figure(runs, "optimizer")
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == ["adam", "sgd"]
