"""Few-shot's methods and results: the method picker, the background fit of every method over the
seeds (stored per settings for every session), the results chart and table, and a try-your-picture box.
"""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fmnist_core.insight import figures
from fmnist_core.studies import fewshot as fs
from fmnist_core.studies import fewshot_data as fd
from fmnist_core.studies import fewshot_eval as fe
from fmnist_core.studies import fewshot_spread as fss
from fmnist_core.studies import fewshot_store as fstore
from ui.app import catalog, layout
from ui.app.text import plain
from ui.images import tiles
from ui.studies.fewshot_task import UPLOAD_TYPES
from ui.tasks import widgets as tasks

METHOD_HELP = {
    "spread": "label spreading: the shots' labels flow to their neighbours among thousands of unlabelled "
    "images of the same kind, in the 10-class model's conv features (PCA-whitened)",
    "frozen": "backbone fixed, a new softmax head trained on its features (the earlier project's way)",
    "finetune": "that head first, then the whole network at a low learning rate, BatchNorm frozen",
    "prototype": "nearest class mean of the features (Euclidean): no training at all",
    "scratch": "the same architecture from random weights, trained on the few images only",
}
COLORS = {"spread": "#9467bd", "frozen": "#1f77b4", "finetune": "#ff7f0e", "prototype": "#2ca02c", "scratch": "#d62728"}

ss = st.session_state


def methods_panel(data, task_kind) -> tuple[str, list[str], int]:
    """(backbone, methods, seeds); stops the page when there is no backbone or no method."""
    infos = {m["name"]: m for m in catalog.models_info()}
    default_bb = fe.default_backbone(data)
    options = [b for b in fs.BACKBONES if b in infos] + [n for n in infos if n not in fs.BACKBONES]
    if not options:
        st.info("No saved model to start from. Run `make models` for the shipped ones.")
        st.stop()
    with layout.stacked("fs_setup"):  # one under the other at 820 px, where the method tags were cut off
        c1, c2, c3 = st.columns([2, 3, 1])
    backbone = c1.selectbox(
        "Backbone (pre-trained network)",
        options,
        index=options.index(default_bb) if default_bb in options else 0,
        key=f"fs_backbone_{task_kind}",
        format_func=lambda n: catalog.model_label(infos[n]),
        help="Its features are what the methods build on (spread: the conv features of "
        f"{fss.SETTINGS['backbone']} unless you pick another backbone).",
    )
    methods = c2.multiselect(
        "Methods",
        fs.METHODS,
        default=list(fs.QUICK_METHODS),
        key="fs_methods",
        help="; ".join(f"{m}: {h}" for m, h in METHOD_HELP.items())
        + ". Fine-tune and scratch train a network per seed: seconds each.",
    )
    seeds = c3.number_input(
        "Seeds",
        1,
        10,
        3,
        key="fs_seeds",
        help="Each seed: its own draw of the training images (where there is a choice) and its own random start.",
    )
    for m in methods:
        st.caption(f"**{m}**: {METHOD_HELP[m]}.")
    if not methods:
        st.info("Pick at least one method.")
        st.stop()
    return backbone, methods, int(seeds)


def fit_methods(jobs, data, data_key, task_kind, methods, backbone, seeds, shots):
    """(results per method, the task that fitted them or None): from this server's tasks, else the
    stored summary, else a new background fit (the page waits for it with a progress bar)."""
    key = ("compare", data_key, tuple(methods), backbone, catalog.model_mtime(backbone), seeds, shots)
    stored_key = fstore.result_key(data, methods, backbone, seeds, shots) if task_kind != "own" else None

    def compare(progress):
        out = fe.compare_methods(data, methods, backbone, seeds, shots, on_progress=progress)
        if stored_key:
            fstore.store(stored_key, out)
        return out

    job = jobs.get(key)
    results = job.result if job and job.result else (fstore.load(stored_key) if stored_key else None)
    if results is None:
        jobs.start(key, tasks.fraction_work(compare))
        results = tasks.result_or_stop(jobs, key, "Fitting the methods", "fs_retry")
    ss["fewshot_result"] = {
        m: {
            k: r[k]
            for k in (
                "accuracy",
                "sd",
                "accuracies",
                "n_test",
                "n_train",
                "backbone",
                "interval",
                "correct",
                "unlabelled",
                "warning",
            )
        }
        for m, r in results.items()
    }
    return results, job


def pct_ci(r) -> str:
    lo, hi = r["interval"]
    return f"{100 * r['accuracies'][0]:.1f}% ({r['correct'][0]}/{r['n_test']}; 95% CI {100 * lo:.0f}-{100 * hi:.0f}%)"


def _verdict(results, data, backbone, seeds, shots) -> str:
    """Which method scores highest; the caveats under it."""
    best = max(results, key=lambda m: results[m]["accuracy"])
    any_r = results[best]
    if any_r.get("warning"):
        st.warning(any_r["warning"] + " The numbers below are shown, but they cannot tell the methods apart.")
    tied = [m for m in results if abs(results[m]["accuracy"] - any_r["accuracy"]) < 1e-9]
    verdict = (
        ""
        if any_r.get("warning")
        else (
            f"**{best}** scores highest"
            if len(tied) == 1
            else " and ".join(f"**{m}**" for m in tied) + " score the same"
        )
        + f", {100 * any_r['accuracy']:.1f}%"
        + (f" (mean of {seeds} seeds, sd {100 * any_r['sd']:.1f})" if seeds > 1 else "")
        + ". "
    )
    st.markdown(
        f"On **{any_r['n_test']}** test images, with **{any_r['n_train']}** training images per seed, "
        f"backbone `{backbone}`: " + verdict + f"Chance is {100 / len(data.classes):.0f}%. Each accuracy "
        "below carries its 95% Wilson interval: overlapping intervals mean the test set cannot tell those "
        "methods apart."
    )
    for m, r in results.items():
        if r.get("unlabelled"):
            st.caption(f"**{m}** also used, without their labels: {r['unlabelled']}.")
    steady = [m for m, r in results.items() if len(r["accuracies"]) > 1 and r["sd"] == 0]
    if steady and data.fixed and shots is None:
        st.caption(
            f"{', '.join(steady)}: the same score for every seed. With one fixed training set these methods "
            "have nothing random left (label spreading and the prototype never had; the frozen head starts "
            "from the class means), so the seeds repeat one experiment and the spread says nothing about the "
            "test set: its uncertainty is the interval, not the sd."
        )
    return best


def _bars(results, data) -> go.Figure:
    fig = go.Figure()
    for m, r in results.items():
        lo, hi = r["interval"]
        acc0 = r["accuracies"][0]
        fig.add_trace(
            go.Bar(
                x=[m],
                y=[100 * acc0],
                marker_color=COLORS[m],
                name=m,
                showlegend=False,
                error_y=dict(type="data", symmetric=False, array=[100 * (hi - acc0)], arrayminus=[100 * (acc0 - lo)]),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[m] * len(r["accuracies"]),
                y=[100 * a for a in r["accuracies"]],
                mode="markers",
                marker=dict(color="black", size=6),
                showlegend=False,
                hovertemplate="%{y:.1f}%",
            )
        )
    fig.add_hline(y=100 / len(data.classes), line_dash="dot", annotation_text="chance")
    fig.update_layout(
        yaxis_title="test accuracy (%)", yaxis_range=[0, 100], height=320, margin=dict(l=10, r=10, t=40, b=10)
    )  # t: the toolbar
    return fig


def results_panel(results, data, backbone, seeds, shots) -> str:
    """The verdict, the chart and table, and a closer look at one method; returns that method."""
    best = _verdict(results, data, backbone, seeds, shots)
    with layout.stacked("fs_results"):  # the table under the chart at 820 px
        left, right = st.columns([2, 3])
    left.plotly_chart(_bars(results, data), key="fs_bars")
    left.caption(f"Bars: seed 1, whiskers: its 95% Wilson interval (n = {results[best]['n_test']}); dots: each seed.")
    # A static table: its cells wrap instead of being cut off in a narrow column.
    right.table(
        pd.DataFrame(
            [
                {
                    "method": m,
                    "seed 1": pct_ci(r),
                    "mean over seeds": f"{100 * r['accuracy']:.1f}%",
                    "sd": "–" if r["sd"] is None or np.isnan(r["sd"]) else f"{100 * r['sd']:.1f}",
                    "per seed": ", ".join(f"{100 * a:.0f}" for a in r["accuracies"]),
                }
                for m, r in results.items()
            ]
        ).set_index("method")
    )
    shown = right.selectbox("Look closer at", list(results), index=list(results).index(best), key="fs_closer")
    r = results[shown]
    x_seen, y_seen = data.split(shots, 0)[2:]  # seed 1's test images (the whole test set unless shots come from it)
    with layout.stacked("fs_cm"):
        cm_col, img_col = st.columns([2, 3]) if len(y_seen) <= 60 else (st.container(), None)
    cm_col.plotly_chart(
        figures.confusion_matrix_figure(r["confusion_matrix"], data.classes, title=f"{shown}, seed 1"), key="fs_cm"
    )
    if img_col is not None:
        pred = r["predictions"]
        caps = [f"{data.classes[t]}" + ("" if p == t else f" → {data.classes[p]}") for t, p in zip(y_seen, pred)]
        with img_col:
            st.caption(f"The test images, as {shown} (seed 1) labels them: green right, red wrong.")
            tiles.gallery(
                x_seen, caps, colors=["green" if p == t else "red" for t, p in zip(y_seen, pred)], ncols=7, factor=2
            )
    return shown


def try_your_picture(job, shown, data, backbone, shots) -> None:
    with st.expander("Try the fitted model on your own picture"):
        up = st.file_uploader("A picture of one of the classes", type=UPLOAD_TYPES, key="fs_try")
        if up is None:
            return
        try:
            img = fd.image_to_fmnist(up.getvalue())
        except ValueError as exc:
            st.error(plain(exc))
            return
        fitted = ((job or {}).get("result") or {}).get(shown, {}).get("model")
        if fitted is None:  # a stored summary has no model: fit this one method once, seed 0
            with st.spinner(f"Fitting {shown}…"):
                x_tr, y_tr, x_te, _ = data.split(shots, 0)
                fitted = fs.fit(shown, backbone, x_tr, y_tr, data.classes, seed=0, x_unlabelled=x_te)
        probs = fitted.predict_proba(img[None])[0]
        t1, t2 = st.columns([1, 3])
        t1.image(tiles.enlarge(img, 4), caption="as the model sees it")
        t2.markdown(f"**{data.classes[int(probs.argmax())]}** ({probs.max():.0%}) by **{shown}**, seed 1")
        t2.dataframe(pd.DataFrame({"class": data.classes, "probability": probs}), hide_index=True)
