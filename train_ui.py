"""Streamlit widgets shared by the training pages (Build & Train, LR Finder, Compare runs).

Not a page (it lives outside pages/ so the navigation does not list it) and not core (it
imports Streamlit). The pages call these; the work itself happens in ``fmnist_core``.
"""
from __future__ import annotations

import json

import streamlit as st

import app_ui  # noqa: F401  importing it sends a direct page URL on a fresh server through streamlit_app.py
from fmnist_core import models
from fmnist_core.data import CLASS_NAMES
from fmnist_core.store import RunStore, default_path
from fmnist_core.tasks import BUILTIN_TASKS, custom_task, get_task

BUILD_PAGE = "pages/build_train.py"
LR_PAGE = "pages/lr_finder.py"
COMPARE_PAGE = "pages/compare_runs.py"
EVALUATE_PAGE = "pages/evaluate.py"

TASK_LABELS = {"multiclass": "10 classes", "shoes": "Shoes vs the rest",
               "footwear_luggage": "Footwear + bags vs clothing", "custom": "Custom: my classes vs the rest"}
STATUS_COLORS = {"queued": "gray", "running": "blue", "completed": "green", "stopped": "orange", "failed": "red"}


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> RunStore:
    return RunStore(path)


def get_store() -> RunStore:
    """The run store of $FMNIST_HOME, opened once per path for all sessions (cheap: a path and no connection)."""
    return _store_at(str(default_path().resolve()))


def task_picker(prefix: str, label: str = "Task"):
    """A task selector (built-in tasks or a custom group of classes). Returns a Task, or None with an
    error shown when the custom group is invalid."""
    kind = st.selectbox(label, list(TASK_LABELS), format_func=TASK_LABELS.get, key=f"{prefix}_task",
                        persist_state="session",
                        help="Binary tasks put a group of classes against all the others.")
    if kind != "custom":
        task = BUILTIN_TASKS[kind]
    else:
        chosen = st.multiselect("Positive classes (the group)", CLASS_NAMES, default=["Sandal", "Sneaker"],
                                key=f"{prefix}_task_classes", persist_state="session")
        try:
            task = custom_task(chosen)
        except ValueError as exc:
            st.error(f"{exc}. Pick at least one and at most nine classes.")
            return None
    st.caption(task.description)
    return task


def spec_key(spec) -> str:
    """A stable string for a spec: cache key and equality test."""
    return json.dumps(models.normalize_spec(spec), sort_keys=True)


def summary_rows(spec, task) -> list[dict]:
    """Rows for a model-summary table (pure Python, no TensorFlow); raises SpecError."""
    return [{"layer": name, "output shape": " × ".join(str(d) for d in shape), "params": params}
            for name, shape, params in models.layer_shapes(spec, get_task(task))]


def status_badge(status: str) -> None:
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))


def run_option_label(run: dict) -> str:
    acc = run.get("val_accuracy")
    tail = f", val acc {acc:.3f}" if acc is not None else ""
    return f"#{run['id']} {run['name']} ({run['status']}{tail})"


def go_to(page: str, **state) -> None:
    """Set session state and switch page; when the page is not in the navigation (a page run on its own,
    as in tests) show a note instead of failing."""
    for key, value in state.items():
        st.session_state[key] = value
    try:
        st.switch_page(page)
    except st.errors.StreamlitAPIException:
        st.info(f"Open {page} from the navigation to continue.")


def page_link(page: str, label: str, icon: str | None = None) -> None:
    """st.page_link that degrades to a caption when the page is not registered (page run standalone)."""
    try:
        st.page_link(page, label=label, icon=icon)
    except (st.errors.StreamlitAPIException, KeyError):
        st.caption(f"{label}: {page}")


def fmt_seconds(s) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


# ---------------------------------------------------------------- the live view of a run (Build & Train)

POLL_SECONDS = 1.0
MAX_CHART_POINTS = 2000


def _watch_target(store) -> int | None:
    """The run to show: ?run= in the URL, else the session's, else the running (or newest queued) one."""
    ss = st.session_state
    q = st.query_params.get("run")
    if q and q.isdigit():
        ss.bt_watch_id = int(q)
    if ss.get("bt_watch_id") is not None and store.get_status(ss.bt_watch_id) is None:
        st.warning(f"Run #{ss.bt_watch_id} no longer exists (deleted?).")
        ss.bt_watch_id = None
        st.query_params.pop("run", None)
    if ss.get("bt_watch_id") is None:
        running = store.list_runs(status="running", with_history=False)
        queued = store.list_runs(status="queued", with_history=False)
        if running or queued:
            ss.bt_watch_id = (running or queued)[0]["id"]
    if ss.get("bt_watch_id") is not None and st.query_params.get("run") != str(ss.bt_watch_id):
        st.query_params["run"] = str(ss.bt_watch_id)   # so a reload comes back to this run
    return ss.get("bt_watch_id")


def live_run_section(watch) -> None:
    """Pick the watched run and show it; polls the store while the run is queued or running."""
    from fmnist_core import jobs
    from fmnist_core.store import TERMINAL

    store = get_store()
    jobs.refresh(store)  # fail runs whose worker died; restart a worker for an orphaned queue
    run_id = _watch_target(store)
    if run_id is None:
        st.caption("No run yet: press **Train** above, and its curves appear here as it trains.")
        return
    recent = store.list_runs(with_history=False)[:40]
    # No status in these labels: they are drawn once, while the status below updates live.
    labels = {r["id"]: f"#{r['id']} {r['name']} · {r['task']} · {(r.get('created_at') or '')[:16].replace('T', ' ')}"
              for r in recent}
    if run_id not in labels:
        labels[run_id] = f"#{run_id}"
    st.session_state.bt_watch_select = run_id
    st.selectbox("Watching", list(labels), format_func=labels.get, key="bt_watch_select",
                 on_change=lambda: watch(st.session_state.bt_watch_select))
    active = store.get_status(run_id) not in TERMINAL
    st.fragment(_live_body, run_every=POLL_SECONDS if active else None)(run_id, active)


def _live_body(run_id: int, polling: bool) -> None:
    from fmnist_core import figures
    from fmnist_core.figures_training import legend_below
    from fmnist_core.store import TERMINAL

    store = get_store()
    run = store.get_run(run_id)
    if run is None:
        st.warning(f"Run #{run_id} was deleted.")
        return
    if polling and run["status"] in TERMINAL:
        st.rerun()  # the whole page: redraw this view once more, without polling, with the final results
    status = run["status"]
    head, stop_col = st.columns([5, 1], vertical_alignment="center")
    with head:
        st.markdown(f"#### Run #{run['id']}: {run['name']}")
        status_badge(status + (" (stop requested)" if run.get("stop_requested") and status == "running" else ""))
    if status in ("queued", "running"):
        stop_col.button("Stop training", icon=":material/stop_circle:", key=f"bt_stop_{run_id}", on_click=_stop,
                        args=(run_id,), help="Finish the current batch, keep the best weights and save the model")

    epochs, bpe = run.get("epochs") or 1, run.get("batches_per_epoch")
    if status == "queued":
        ahead = [r for r in store.list_runs(status=["queued", "running"], with_history=False) if r["id"] < run_id]
        st.progress(0.0, text=f"Queued: waiting for {len(ahead)} run(s) ahead of it. It starts by itself.")
    elif status == "running":
        e, b = run.get("current_epoch") or 0, run.get("current_batch") or 0
        if not (e and bpe):
            st.progress(0.0, text="Starting: loading TensorFlow and the data, building the model…")
        else:
            eta = run.get("eta_seconds")
            st.progress(min(1.0, max(0.0, ((e - 1) * bpe + b) / (epochs * bpe))),
                        text=f"epoch {e}/{epochs} · batch {b}/{bpe} · elapsed {fmt_seconds(run.get('elapsed'))}"
                             f" · ETA {fmt_seconds(eta) if eta is not None else '–'}")
    history, batches = run["history"], run["batches"]
    _live_metrics(run, history, batches)
    if batches or history:
        pts = [dict(b, batches_per_epoch=bpe) for b in batches]
        if len(pts) > MAX_CHART_POINTS:  # keep the drawing light; the curve keeps its shape
            pts = pts[::len(pts) // MAX_CHART_POINTS + 1] + [pts[-1]]
        st.plotly_chart(legend_below(figures.history_figure(history, pts)), key=f"bt_live_chart_{run_id}")
    elif status == "running":
        st.caption("Preparing the data and building the model…")
    st.caption(f"{len(batches)} batch points · {len(history)} epochs done · status {status}")
    if status in TERMINAL:
        _final(run)


def _stop(run_id: int) -> None:
    from fmnist_core import jobs
    run = jobs.stop(run_id, store=get_store())
    st.toast(f"Run #{run_id}: " + ("stopped before it started." if run and run["status"] == "stopped" else
                                   "stop requested; it finishes its batch and saves the best weights."))


def _live_metrics(run, history, batches) -> None:
    cols = st.columns(4)
    last_b = batches[-1] if batches else {}
    last_e = history[-1] if history else {}
    best = max((h["val_accuracy"] for h in history if h.get("val_accuracy") is not None), default=None)
    cols[0].metric("Batch loss", f"{last_b['loss']:.4f}" if last_b.get("loss") is not None else "–")
    cols[1].metric("Train accuracy (last epoch)", f"{last_e['accuracy']:.4f}" if last_e.get("accuracy") is not None
                   else "–")
    cols[2].metric("Best validation accuracy", f"{best:.4f}" if best is not None else "–")
    lr = last_b.get("lr") if last_b else last_e.get("lr")
    cols[3].metric("Learning rate", f"{lr:.2e}" if lr is not None else "–")


def _final(run) -> None:
    status = run["status"]
    msg = run.get("message") or ""
    if status == "completed":
        st.success(f"Completed in {fmt_seconds(run.get('train_seconds'))}. Validation accuracy "
                   f"{run['val_accuracy']:.4f}, test accuracy {run['test_accuracy']:.4f}. Saved as "
                   f"`{run['model_name']}`.")
    elif status == "stopped":
        extra = (f" Validation accuracy {run['val_accuracy']:.4f}, test accuracy {run['test_accuracy']:.4f}, "
                 f"saved as `{run['model_name']}`." if run.get("val_accuracy") is not None else "")
        st.warning(f"Stopped: {msg}.{extra}")
    else:
        st.error(f"Failed: {msg or 'no message'}")
    if run.get("model_path"):
        c1, c2 = st.columns(2)
        if c1.button("Evaluate this model", icon=":material/search:", key=f"bt_eval_{run['id']}"):
            go_to(EVALUATE_PAGE, selected_model=run["model_name"])
        with c2:
            page_link(COMPARE_PAGE, "Compare with other runs", ":material/compare_arrows:")
    # A sweep or a queue goes on after this run: offer to follow the next one.
    active = sorted(get_store().list_runs(status=["running", "queued"], with_history=False),
                    key=lambda r: (r["status"] != "running", r["id"]))
    if active:
        nxt = active[0]
        if st.button(f"Watch run #{nxt['id']} ({nxt['status']}): {nxt['name']}", icon=":material/skip_next:",
                     key=f"bt_next_{run['id']}"):
            st.session_state.bt_watch_id = nxt["id"]
            st.query_params["run"] = str(nxt["id"])
            st.rerun()  # the whole page, so the live view polls again
