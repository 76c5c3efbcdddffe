"""Few-shot's k-shot curve: accuracy against images per class, every method on the same draws,
computed on request in a background task shared by every session."""

import plotly.graph_objects as go
import streamlit as st

from fmnist_core.studies import fewshot as fs
from fmnist_core.studies import fewshot_eval as fe
from ui.app import catalog
from ui.studies.fewshot_results import COLORS
from ui.studies.fewshot_task import TASKS
from ui.tasks import widgets as tasks

ss = st.session_state


def _figure(rows, methods) -> go.Figure:
    fig = go.Figure()
    for m in methods:
        pts = [row for row in rows if row["method"] == m]
        fig.add_trace(
            go.Scatter(
                x=[p["k"] for p in pts],
                y=[100 * p["mean"] for p in pts],
                mode="lines+markers",
                name=m,
                line_color=COLORS[m],
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[100 * (p["interval"][1] - p["mean"]) for p in pts],
                    arrayminus=[100 * (p["mean"] - p["interval"][0]) for p in pts],
                ),
                customdata=[[p["n"], 100 * p["interval"][0], 100 * p["interval"][1]] for p in pts],
                hovertemplate="k=%{x}: %{y:.1f}% (95% CI %{customdata[1]:.1f}-%{customdata[2]:.1f}%, "
                "n=%{customdata[0]})",
            )
        )
    shown_ks = sorted({row["k"] for row in rows})
    fig.update_layout(
        xaxis=dict(
            type="log", title="k (images per class, log scale)", tickvals=shown_ks, ticktext=[str(k) for k in shown_ks]
        ),
        yaxis_title="test accuracy (%)",
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
        legend_orientation="h",
    )
    return fig


def curve_panel(jobs, data, data_key, task_kind, methods, backbone) -> None:
    """The k and draws pickers, the Compute button, then the curve; stops the page until it is drawn."""
    if data.max_shots() < 2:
        st.caption(
            f"{TASKS[task_kind]} has only {data.max_shots()} training image per class, so there is no curve "
            "to draw: switch to the 216 validation boots or Shoe types, or give your classes more images."
        )
        st.stop()
    k1, k2 = st.columns([3, 1])
    ks_all = [k for k in (1, 2, 5, 10, 20, 50) if k <= data.max_shots()]
    ks = k1.multiselect("k (images per class)", ks_all, default=[k for k in fs.KS if k in ks_all], key="fs_ks")
    draws = int(k2.number_input("Draws per k", 1, 10, 3, key="fs_draws"))
    curve_key = ("curve", data_key, tuple(methods), backbone, catalog.model_mtime(backbone), tuple(sorted(ks)), draws)
    if jobs.get(curve_key) is None:
        n_fits = len(ks) * len(methods) * draws
        if not st.button(
            f"Compute the curve ({n_fits} fits)", icon=":material/show_chart:", key="fs_curve_go", disabled=not ks
        ):
            st.caption(
                "Each point is the mean over draws of k random training images per class, the same draws "
                "for every method. It runs in the background: the page stays usable."
            )
            st.stop()
        jobs.start(
            curve_key,
            tasks.fraction_work(
                lambda progress: fe.kshot_curve(data, methods, sorted(ks), draws, backbone, on_progress=progress)
            ),
        )
    rows = tasks.result_or_stop(jobs, curve_key, "Computing the k-shot curve", "fs_curve_retry")
    ss["fewshot_curve"] = rows
    st.plotly_chart(_figure(rows, methods), key="fs_curve")
    n_each = rows[0]["n"] // max(1, rows[0]["draws"]) if rows else 0
    st.caption(
        f"Mean over {draws} draws; whiskers: 95% Wilson interval of all draws' answers pooled "
        f"(n = {draws} × ~{n_each:,} test images; the draws share test images, so the draw-to-draw spread "
        f"can be larger); backbone `{backbone}`."
    )
    if n_each and n_each < fe.SMALL_TEST:
        st.warning(fe.small_test_warning(n_each))
