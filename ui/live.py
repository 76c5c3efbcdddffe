"""The live view of a training run (Build & Train): curves, metrics, stop, the final result."""
from __future__ import annotations

import streamlit as st

from ui.frame import go_to, page_link
from ui.run_widgets import COMPARE_PAGE, EVALUATE_PAGE, fmt_seconds, get_store, status_badge

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
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import TERMINAL

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
    from fmnist_core.insight import figures
    from fmnist_core.insight.training_figures import legend_below
    from fmnist_core.runs.store import TERMINAL

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
    from fmnist_core.runs import jobs
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
