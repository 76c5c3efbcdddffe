"""Build & Train's model summary (layers, parameter count) and its measured time per epoch."""

import json

import streamlit as st

from fmnist_core.modeling import models
from ui.training import run_widgets

ss = st.session_state


@st.cache_data(show_spinner=False, max_entries=64)
def estimate(spec_json: str, task_name: str, hp_json: str) -> dict:
    from fmnist_core.data.tasks import get_task
    from fmnist_core.modeling.timing import estimate_epoch_seconds

    return estimate_epoch_seconds(json.loads(spec_json), get_task(task_name), json.loads(hp_json))


def summary(spec, task) -> bool:
    """The summary table and parameter count; False (with the error shown) if the spec is invalid."""
    try:
        rows = run_widgets.summary_rows(spec, task)
        n_params = models.check_param_cap(spec, task)
    except models.SpecError as exc:
        st.error(f"This model cannot be built: {exc}")
        return False
    left, right = st.columns([3, 2])
    left.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height="auto" if len(rows) <= 10 else 560,
        column_config={"params": st.column_config.NumberColumn(format="localized")},
    )
    right.metric("Parameters", f"{n_params:,}")
    right.caption(
        f"{len(spec)} hidden layers + the output layer; cap {models.DEFAULT_PARAM_CAP:,} parameters. "
        f"Float32 weights: about {n_params * 4 / 1e6:.2f} MB."
    )
    return True


def time_estimate(spec, task, hp) -> None:
    """Measured time per epoch for this model and batch size, on request (cached per spec, task, sizes)."""
    key = (
        run_widgets.spec_key(spec),
        task.name,
        json.dumps(
            {k: hp.get(k) for k in ("batch_size", "subset", "val_fraction", "normalize", "optimizer", "precision")},
            sort_keys=True,
        ),
    )
    done = ss.setdefault("bt_estimates", {})
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    if c1.button(
        "Estimate time per epoch", icon=":material/timer:", help="Builds the model and times a few real training steps"
    ):
        with c2, st.spinner("Timing a few training steps…"):
            done[key] = estimate(*key)
    if key not in done:
        c2.caption("Measured on a few real batches of this model at this batch size.")
        return
    e = done[key]
    per_epoch = e["seconds_per_epoch"]
    c2.markdown(
        f"**≈ {run_widgets.fmt_seconds(per_epoch) if per_epoch >= 1 else f'{per_epoch:.2f} s'} per epoch**, "
        f"≈ {run_widgets.fmt_seconds(per_epoch * hp['epochs'])} for {hp['epochs']} epochs"
    )
    c2.caption(
        f"{e['batches_per_epoch']} batches of {e['batch_size']} ({e['seconds_per_batch'] * 1000:.0f} ms each, "
        f"median of {e['measured_steps']}, {e['precision']}) on {e['n_train']:,} images, plus validation. Slower while "
        "another run is training."
    )
