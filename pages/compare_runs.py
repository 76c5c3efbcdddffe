"""Compare runs: every training run in a sortable table; tick runs to overlay their curves and
open one's full history, hyperparameters and confusion matrix; sweeps get a summary chart of
the metric against the swept value.
"""

import pandas as pd
import streamlit as st

from fmnist_core.data.tasks import get_task
from fmnist_core.insight import figures
from fmnist_core.insight.training_figures import METRIC_LABELS, curves_figure, overlay_figure
from fmnist_core.insight.tuning_figures import grid_figure, parallel_figure, sweep_summary_figure
from fmnist_core.modeling import models
from fmnist_core.runs.store import STATUSES, TERMINAL
from ui.app import frame, handoff
from ui.app.text import plain
from ui.images import plotly_component
from ui.training import export_widgets, hints, run_admin, run_widgets

ss = st.session_state
ALL = "(all runs)"


@st.cache_data(show_spinner="Scoring the model on its validation split…", max_entries=32)
def validation_eval(model_name: str, mtime: float) -> dict:
    """Confusion matrix and scores of a run's model on the validation split it was trained with
    (its own seed, validation share and subset, read from the model's metadata), so none of its
    training images are scored."""
    from fmnist_core.modeling.inference import evaluate_saved

    return evaluate_saved(model_name, split="validation")


def table(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for r in runs:
        hp = r.get("hparams") or {}
        try:
            n_params = models.count_params(r["spec"], get_task(r["task_def"]))
        except (models.SpecError, ValueError):
            n_params = None
        done = len(r.get("history") or [])
        rows.append(
            {
                "id": r["id"],
                "name": r["name"],
                "task": r["task"],
                "status": r["status"],
                "val acc": r.get("val_accuracy"),
                "test acc": r.get("test_accuracy"),
                "val loss": r.get("val_loss"),
                "epochs": f"{done}/{r.get('epochs') or '?'}",
                "params": n_params,
                "optimizer": hp.get("optimizer"),
                "lr": hp.get("lr"),
                "batch": hp.get("batch_size"),
                "images": hp.get("subset") or 60000,
                "train s": r.get("train_seconds"),
                "created": (r.get("created_at") or "")[:19].replace("T", " "),
                "sweep": sweep_cell(r),
            }
        )
    return pd.DataFrame(rows)


def brushed_runs(inside: list[dict], n_scored: int, n_axes: int, ticked: bool) -> None:
    """The runs inside the chart's brushed ranges, as a table (linked to the chart by run id)."""
    ranges = "range" if n_axes == 1 else f"ranges of {n_axes} axes"
    st.markdown(
        f"**{len(inside)} of {n_scored} runs** are inside the brushed {ranges}"
        + ("." if not inside or ticked else ": the curves below compare them (tick rows above to choose).")
    )
    if inside:
        cols = ["id", "name", "val acc", "optimizer", "lr", "batch", "images", "epochs", "sweep"]
        st.dataframe(
            table(inside)[cols],
            hide_index=True,
            key="cr_brushed",
            column_config={
                "val acc": st.column_config.NumberColumn(format="%.4f"),
                "lr": st.column_config.NumberColumn(format="%.2e"),
            },
        )


def sweep_cell(run: dict) -> str:
    """ "lr=0.001", or "lr=0.001, batch_size=32" for a grid's run."""
    if not run.get("sweep_id"):
        return ""
    params, value = run["sweep_param"].split(","), run["sweep_value"]
    values = value if len(params) > 1 and isinstance(value, list) else [value]
    return ", ".join(f"{p}={v}" for p, v in zip(params, values))


def sweep_label(sweep_id: str, runs: list[dict], names: dict) -> str:
    if sweep_id == ALL:
        return ALL
    members = [r for r in runs if r.get("sweep_id") == sweep_id]
    param = members[0]["sweep_param"] if members else "?"
    return f"{names.get(sweep_id, sweep_id)} ({param}, {len(members)} runs)"


def sweep_summary(sweep_runs: list[dict]) -> None:
    param = sweep_runs[0]["sweep_param"]
    finished = [r for r in sweep_runs if r["status"] in TERMINAL and r.get("val_accuracy") is not None]
    st.markdown(f"**Sweep summary: {len(sweep_runs)} runs over {param}**")
    if len(finished) < len(sweep_runs):
        st.caption(f"{len(finished)} of {len(sweep_runs)} runs finished; the chart fills in as the others do.")
    if not finished:
        return
    metric = (
        st.segmented_control(
            "Metric",
            ["val_accuracy", "val_loss", "test_accuracy"],
            default="val_accuracy",
            format_func=METRIC_LABELS.get,
            key="cr_sweep_metric",
        )
        or "val_accuracy"
    )
    if "," in param:  # a grid over two parameters
        st.plotly_chart(
            grid_figure(sweep_runs, param.split(","), metric),
            key="cr_sweep_chart",
            config=run_widgets.chart_config("sweep_grid"),
        )
    else:
        st.plotly_chart(sweep_summary_figure(finished, param, metric), key="cr_sweep_chart")


def _fmt4(v) -> str:
    return f"{v:.4f}" if v is not None else "–"


def run_detail(run_id: int) -> None:
    store = run_widgets.get_store()
    run = store.get_run(run_id)
    if run is None:
        st.warning(f"Run #{run_id} no longer exists.")
        return
    with st.container(border=True):
        head, badge = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"### Run #{run['id']}: {plain(run['name'])}")
        with badge:
            run_widgets.status_badge(run["status"])
        if run.get("message"):
            st.caption(plain(run["message"]))
        m = st.columns(4)
        m[0].metric("Validation accuracy", _fmt4(run.get("val_accuracy")))
        m[1].metric("Test accuracy", _fmt4(run.get("test_accuracy")))
        m[2].metric("Best epoch", run.get("best_epoch") or "–")
        m[3].metric("Training time", run_widgets.fmt_seconds(run.get("train_seconds")))
        bpe = run.get("batches_per_epoch")
        curves, epochs, hists, setup, confusion = st.tabs(
            ["Curves", "Epochs", "Weights & gradients", "Hyperparameters & model", "Confusion matrix"]
        )
        with hists:
            run_widgets.histograms(run_id)
        with curves:
            if run["history"] or run["batches"]:
                opts = run_widgets.curve_controls(f"cr_curves_{run_id}", smoothing=0.6)
                st.plotly_chart(
                    curves_figure(run["history"], run["batches"], bpe, **opts),
                    key=f"cr_hist_{run_id}",
                    config=run_widgets.chart_config(f"run{run_id}_curves"),
                )
                run_widgets.curves_download(
                    run["history"], run["batches"], f"run{run_id}_curves", key=f"cr_csv_{run_id}"
                )
                hints.show(run["history"])
            else:
                st.caption("No epoch finished yet.")
        with epochs:
            st.dataframe(pd.DataFrame(run["history"]), hide_index=True, width="stretch")
        with setup:
            c1, c2 = st.columns(2)
            c1.dataframe(
                pd.DataFrame(
                    {"hyperparameter": list(run["hparams"]), "value": [str(v) for v in run["hparams"].values()]}
                ),
                hide_index=True,
                width="stretch",
            )
            try:
                c2.dataframe(
                    run_widgets.summary_rows(run["spec"], get_task(run["task_def"])), hide_index=True, width="stretch"
                )
            except models.SpecError as exc:
                c2.error(str(exc))
            c2.caption(f"Task: {get_task(run['task_def']).description} Model file: {run.get('model_name')}")
        with confusion:
            confusion_matrix(run)
        actions(run)
        export_widgets.take_it_with_you(run.get("model_path") and run["model_name"], key=f"cr_export_{run['id']}")


def confusion_matrix(run: dict) -> None:
    if not run.get("model_path"):
        st.caption("No saved model for this run (it failed or has not finished).")
        return
    from fmnist_core.modeling.saving import ModelNotFoundError, find_model

    try:
        mtime = find_model(run["model_name"]).stat().st_mtime
    except ModelNotFoundError:
        st.warning(f"The model file {run['model_name']} is gone; the run's numbers above are all that is left.")
        return
    if not st.toggle(
        "Compute on the validation split",
        key=f"cr_cm_{run['id']}",
        help="Loads the model and classifies the run's own validation images",
    ):
        return
    res = validation_eval(run["model_name"], mtime)
    normalized = st.checkbox("Row-normalized (recall on the diagonal)", key=f"cr_cm_norm_{run['id']}")
    st.plotly_chart(
        figures.confusion_matrix_figure(res["confusion_matrix"], res["class_names"], normalized),
        key=f"cr_cm_fig_{run['id']}",
    )
    st.caption(f"{res['n']:,} validation images · accuracy {res['accuracy']:.4f} · macro F1 {res['macro_f1']:.4f}")


def actions(run: dict) -> None:
    c1, c2 = st.columns(2)
    if c1.button("Watch in Build & Train", icon=":material/monitoring:", key=f"cr_watch_{run['id']}"):
        handoff.watch_run(run["id"])
    if run.get("model_path") and c2.button(
        "Evaluate this model", icon=":material/fact_check:", key=f"cr_eval_{run['id']}"
    ):
        frame.go_to(run_widgets.EVALUATE_PAGE, selected_model=run["model_name"])
    run_admin.manage_run(run)


# ---------------------------------------------------------------- the page

st.title("Compare runs")
runs = run_widgets.get_store().list_runs()
if not runs:
    st.info("No runs yet. Train a model on Build & Train; every run is recorded here.")
    frame.page_link(run_widgets.BUILD_PAGE, "Build & Train", ":material/construction:")
    st.stop()

c1, c2, c3 = st.columns(3)
tasks = c1.multiselect("Task", sorted({r["task"] for r in runs}), key="cr_tasks", placeholder="all tasks")
statuses = c2.multiselect("Status", STATUSES, key="cr_status", placeholder="any status")
sweeps = [ALL] + sorted({r["sweep_id"] for r in runs if r.get("sweep_id")}, reverse=True)
offered = handoff.take_sweep()  # a sweep just queued on Build & Train
if offered is not None:
    ss.cr_sweep = offered
if ss.get("cr_sweep") not in sweeps:
    ss.cr_sweep = ALL
names = run_admin.sweep_names()
sweep = c3.selectbox("Sweep", sweeps, key="cr_sweep", format_func=lambda s: sweep_label(s, runs, names))

shown = [
    r
    for r in runs
    if (not tasks or r["task"] in tasks)
    and (not statuses or r["status"] in statuses)
    and (sweep == ALL or r.get("sweep_id") == sweep)
]
df = table(shown)
st.caption(
    f"{len(shown)} of {len(runs)} runs. Click column headers to sort; tick rows to overlay their curves "
    "and open their details."
)
event = st.dataframe(
    df,
    key="cr_table",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    width="stretch",
    column_config={
        "val acc": st.column_config.NumberColumn(format="%.4f"),
        "test acc": st.column_config.NumberColumn(format="%.4f"),
        "val loss": st.column_config.NumberColumn(format="%.4f"),
        "lr": st.column_config.NumberColumn(format="%.2e"),
        "params": st.column_config.NumberColumn(format="localized"),
        "images": st.column_config.NumberColumn(format="localized"),
        "train s": st.column_config.NumberColumn(format="%.1f"),
    },
)
# The selection is by row position; after a delete or a filter change it may point past the end.
picked = [int(df.iloc[i]["id"]) for i in event.selection.rows if i < len(df)]
by_id = {r["id"]: r for r in shown}

if sweep != ALL:
    sweep_summary([r for r in runs if r.get("sweep_id") == sweep])
    run_admin.manage_sweep(sweep)
elif picked and len({by_id[i].get("sweep_id") for i in picked}) == 1 and by_id[picked[0]].get("sweep_id"):
    sweep_summary([r for r in runs if r.get("sweep_id") == by_id[picked[0]]["sweep_id"]])

scored = [r for r in shown if r.get("val_accuracy") is not None]
if len(scored) >= 2:
    with st.expander(
        f"Hyperparameters vs validation accuracy ({len(scored)} runs, parallel coordinates)", expanded=sweep != ALL
    ):
        brushed, n_axes = plotly_component.parallel_coordinates(
            parallel_figure(scored, picked), [r["id"] for r in scored], key="cr_parallel"
        )
        st.caption(
            "One line per finished run of the table above; an axis per hyperparameter that differs between "
            "them. Ticked rows are red. Drag along an axis to brush a range (several axes: runs inside "
            "all of them); click an axis outside its brush to clear it."
        )
        if n_axes:
            brushed_runs([by_id[i] for i in brushed], len(scored), n_axes, bool(picked))
            if brushed and not picked:
                picked = brushed  # nothing ticked: the curves below compare the brushed runs

if not picked:
    st.info("Tick one or more runs in the table to compare their curves and see details.")
    st.stop()

st.subheader("Curves")
metrics = st.multiselect(
    "Curves to overlay",
    ["val_accuracy", "val_loss", "accuracy", "loss"],
    default=["val_accuracy", "val_loss"],
    format_func=METRIC_LABELS.get,
    key="cr_metrics",
)
if metrics:
    opts = run_widgets.curve_controls("cr_overlay")
    st.plotly_chart(
        overlay_figure([by_id[i] for i in picked], metrics, **opts),
        key="cr_overlay",
        config=run_widgets.chart_config("runs_overlay"),
    )

st.subheader("Run details")
detail = (
    st.selectbox("Run", picked, format_func=lambda i: run_widgets.run_option_label(by_id[i]), key="cr_detail")
    if len(picked) > 1
    else picked[0]
)
run_detail(detail)
