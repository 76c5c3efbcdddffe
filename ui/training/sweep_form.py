"""Build & Train's last step: the Train button (one run) and the sweep form (one run per value of a
hyperparameter, or a grid over two). Both queue jobs and point the live view at the first run.
"""

import streamlit as st

from fmnist_core.runs import jobs
from ui.app import frame, handoff, identity
from ui.app.text import plain
from ui.training import live, run_widgets

NO_GRID = "(nothing: one parameter)"
SWEEP_EXAMPLES = {
    "lr": "1e-4, 1e-3, 1e-2",
    "batch_size": "32, 128, 512",
    "optimizer": "adam, sgd, rmsprop",
    "dropout": "0, 0.25, 0.5",
    "activation": "relu, tanh, gelu",
    "normalize": "true, false",
    "seed": "1, 2, 3",
    "epochs": "2, 4, 8",
    "augment_shift": "0, 0.1",
    "momentum": "0, 0.9",
}


def train_form(spec, task, hp, label: str) -> None:
    """Run and model names, and Train; off while the model or the hyperparameters are invalid (None)."""
    ok = hp is not None and spec is not None
    default = run_widgets.default_run_name(label, task, hp["epochs"]) if ok and task else "my-run"
    c1, c2 = st.columns(2)
    name = c1.text_input("Run name (optional)", key="bt_name", placeholder=default)
    model_name = c2.text_input(
        "Save the model as (optional)",
        key="bt_model_name",
        placeholder=default,
        help="1-64 letters, digits, - or _. Defaults to the run name (plus -2, -3... if that model exists).",
    )
    if st.button("Train", icon=":material/rocket_launch:", type="primary", disabled=not ok, key="bt_train"):
        store = run_widgets.get_store()
        try:
            rid = jobs.submit(
                spec,
                task,
                hp,
                name=name.strip() or default,
                model_name=model_name.strip() or run_widgets.unique_model_name(default, store),
                store=store,
                owner=identity.current_owner(),
            )
        except ValueError as exc:
            st.error(f"Could not start the run: {exc}")
        else:
            live.set_watch(rid)
            live.request_scroll()
            st.toast(f"Run #{rid} queued; its live view is below.")


def _values(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def sweep_form(spec, task, hp, label: str) -> None:
    """The sweep expander: what to vary, the runs it plans (named), and Start."""
    ok = hp is not None and spec is not None
    with st.expander("Sweep: train one run per value of a hyperparameter (or a grid over two)"):
        c1, c2 = st.columns([1, 2])
        param = c1.selectbox("Vary", list(SWEEP_EXAMPLES), key="bt_sweep_param")
        text = c2.text_input("Values, comma-separated", key="bt_sweep_values", placeholder=SWEEP_EXAMPLES[param])
        c1, c2 = st.columns([1, 2])
        param2 = c1.selectbox(
            "And vary (a grid)",
            [NO_GRID] + [p for p in SWEEP_EXAMPLES if p != param],
            key="bt_sweep_param2",
            help="Every combination of the two lists is one run.",
        )
        text2 = c2.text_input(
            "Its values, comma-separated",
            key="bt_sweep_values2",
            disabled=param2 == NO_GRID,
            placeholder=SWEEP_EXAMPLES.get(param2, ""),
        )
        values = _values(text)
        values2 = _values(text2) if param2 != NO_GRID else []
        grid = dict(param2=param2, values2=values2) if values2 else {}
        base = {"spec": spec, "task": task, "hparams": hp, "name": label}
        plans = None
        if values and ok:
            try:
                plans = (
                    jobs.plan_grid(base, param, values, param2, values2)
                    if grid
                    else jobs.plan_sweep(base, param, values)
                )
            except ValueError as exc:
                st.error(f"Sweep: {exc}")
        if plans:
            st.caption(f"{len(plans)} runs, one after another: " + "; ".join(plain(p["name"]) for p in plans))
        if st.button(f"Start sweep ({len(plans or [])} runs)", disabled=not plans, key="bt_sweep"):
            _start_sweep(base, param, values, grid)


def _start_sweep(base, param, values, grid) -> None:
    try:
        sweep_id, ids = jobs.submit_sweep(
            base, param, values, store=run_widgets.get_store(), **grid, owner=identity.current_owner()
        )
    except ValueError as exc:
        st.error(f"Sweep: {exc}")
    else:
        live.set_watch(ids[0])
        live.request_scroll()
        handoff.offer_sweep(sweep_id)
        st.success(
            f"Sweep {sweep_id} queued: runs {', '.join(f'#{i}' for i in ids)}. Compare them on "
            "the Compare runs page when they finish."
        )
        frame.page_link(run_widgets.COMPARE_PAGE, "Compare runs", ":material/compare_arrows:")
