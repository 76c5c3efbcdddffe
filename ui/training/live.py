"""The live view of a training run (Build & Train): curves, metrics, stop, the final result.

Cheap by design, since it runs while a run trains on the same two cores:
  * served by ``streamlit run streamlit_app.py`` (``live_feed.mounted()``), an active run is drawn
    by the browser from the app's live route (``ui.training.live_feed``): the page does not rerun until the
    run ends or the user clicks (Stop, another run);
  * otherwise (AppTest, a server without the route) fragments poll: every second until the first
    points, then every two, each reading only the batch points new since the last poll
    (``after_step``) into the session, thinned to a bound;
  * both show the same values and the same curves figure (``ui.training.live_state``, Plotly); the finished
    run gets that figure with its controls: smoothing, log-y, x axis and CSV/PNG download;
  * while the browser tab is hidden nothing is read or drawn; polling stops when the run ends;
  * the worker never waits on the app: the store is the only channel, written by the worker
    and read here.
"""

from __future__ import annotations

import streamlit as st

from ui.app.frame import go_to, page_link
from ui.app.identity import can_change
from ui.app.text import plain
from ui.training import hints, live_feed
from ui.training.live_state import caption, live_figure, metric_values, phase, progress
from ui.training.run_widgets import (
    COMPARE_PAGE,
    EVALUATE_PAGE,
    chart_config,
    curve_controls,
    curves_download,
    fmt_seconds,
    get_store,
    pct,
    status_badge,
)

POLL_SECONDS = 1.0  # until the run's first points are drawn: the first point shows fast
TRAINING_POLL_SECONDS = 2.0  # from then on: each poll costs the browser ~0.1 s of a core's time
# The live charts redraw on their own, slower clock: they were half of what watching cost the
# browser (Chromium 0.17 of a core with them at every 2-s poll, 0.08 without; BENCHMARKS.md, "Where
# watching's browser cost goes").
CHART_POLL_SECONDS = 6.0
MAX_CHART_POINTS = 300  # per curve on screen
MAX_CACHED_POINTS = 4000  # per run in the session; thinned past this

ss = st.session_state

# Reports whether the browser tab is hidden, so the page stops polling while nobody looks.
_TAB_JS = """
export default function({ setStateValue }) {
  const report = () => setStateValue("hidden", document.hidden);
  document.addEventListener("visibilitychange", report);
  if (document.hidden) report();   // opened in a background tab
  return () => document.removeEventListener("visibilitychange", report);
}
"""
# Scrolls the live view into sight once per Train click (data = a new number per click).
_SCROLL_JS = """
export default function({ data }) {
  if (!data || window.__fmnistScrolled === data.nonce) return;
  window.__fmnistScrolled = data.nonce;
  const go = (tries) => {
    const el = document.getElementById(data.anchor);
    if (el) el.scrollIntoView({ behavior: "smooth", block: "start" });
    else if (tries > 0) setTimeout(() => go(tries - 1), 100);
  };
  go(20);
}
"""


@st.cache_resource(show_spinner=False)
def _components():
    v2 = st.components.v2
    return v2.component("fmnist_tab_visibility", js=_TAB_JS), v2.component("fmnist_scroll_to", js=_SCROLL_JS)


def tab_hidden() -> bool:
    """True while the browser tab showing this page is hidden; a change reruns the fragment it is in."""
    try:
        result = _components()[0](key="bt_tab_visibility", on_hidden_change=lambda: None)
    except Exception:  # no browser (AppTest) or an old Streamlit: poll as before
        return False
    return bool(getattr(result, "hidden", False))


def scroll_to(anchor: str) -> None:
    """Bring ``anchor`` into sight after this run, once per call of ``request_scroll``."""
    nonce = ss.pop("bt_scroll_nonce", None)
    if nonce is None:
        return
    try:
        _components()[1](data={"anchor": anchor, "nonce": nonce}, key=f"bt_scroll_{nonce}")
    except Exception:
        pass


def request_scroll() -> None:
    ss.bt_scroll_nonce = ss.get("bt_scroll_seq", 0) + 1
    ss.bt_scroll_seq = ss.bt_scroll_nonce


# ---------------------------------------------------------------- which run to watch


def _url_run() -> int | None:
    """The run named by ?run= in the page's URL, if any."""
    q = st.query_params.get("run")
    return int(q) if q and q.isdigit() else None


def _watch_target(store) -> int | None:
    """The run to show: ?run= in the URL, else the session's, else the running (or newest queued) one."""
    url_run = _url_run()
    if url_run is not None:
        ss.bt_watch_id = url_run
    if ss.get("bt_watch_id") is not None and store.get_status(ss.bt_watch_id) is None:
        st.warning(f"Run #{ss.bt_watch_id} no longer exists (deleted?).")
        ss.bt_watch_id = None
        st.query_params.pop("run", None)
    if ss.get("bt_watch_id") is None:
        active = next_active(store)
        if active:
            ss.bt_watch_id = active["id"]
    if ss.get("bt_watch_id") is not None and st.query_params.get("run") != str(ss.bt_watch_id):
        st.query_params["run"] = str(ss.bt_watch_id)  # so a reload comes back to this run
    return ss.get("bt_watch_id")


def next_active(store, after: dict | None = None) -> dict | None:
    """The run to follow: after a sweep's run, the next run of the same sweep that has not ended;
    otherwise the running run, else the oldest queued one (the next to start)."""
    active = sorted(
        store.list_runs(status=["running", "queued"], with_history=False),
        key=lambda r: (r["status"] != "running", r["id"]),
    )
    if after and after.get("sweep_id"):
        same = [r for r in active if r.get("sweep_id") == after["sweep_id"]]
        if same:
            return min(same, key=lambda r: (r["status"] != "running", r["id"]))
    return active[0] if active else None


def set_watch(run_id: int) -> None:
    ss.bt_watch_id = int(run_id)
    st.query_params["run"] = str(run_id)


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
    labels = {
        r["id"]: f"#{r['id']} {r['name']} · {r['task']} · {(r.get('created_at') or '')[:16].replace('T', ' ')}"
        for r in recent
    }
    if run_id not in labels:
        labels[run_id] = f"#{run_id}"
    ss.bt_watch_select = run_id
    st.selectbox(
        "Watching",
        list(labels),
        format_func=labels.get,
        key="bt_watch_select",
        on_change=lambda: watch(ss.bt_watch_select),
    )
    active = store.get_status(run_id) not in TERMINAL
    if active and live_feed.mounted():  # the browser polls the app's route: no reruns while it trains
        _feed_view(store, run_id)
        return
    hidden = tab_hidden()  # a change reruns the page, which starts or stops the polling
    if hidden and active:
        st.caption("Paused while this tab is hidden; it catches up when you come back.")
    st.fragment(_live_body, run_every=poll_seconds(run_id) if active and not hidden else None)(run_id, active)
    if active:  # a finished run's full chart is drawn once, by _live_body
        st.fragment(_live_charts, run_every=CHART_POLL_SECONDS if _have_points(run_id) and not hidden else None)(run_id)


def _have_points(run_id: int) -> bool:
    cache = ss.get("bt_live_cache")
    return bool(cache and cache["run"] == run_id and cache["points"])


def poll_seconds(run_id: int) -> float:
    """How often the live view polls: every second until the first points are drawn, then every two.

    Measured on the 2-core machine (BENCHMARKS.md, "Watching"): Chromium spends 18-24% of a core on a
    page that polls every second, charts or not, and a watched run trained 1.16x as long as an
    unwatched one; polling every two seconds gave 1.05x.
    """
    return TRAINING_POLL_SECONDS if _have_points(run_id) else POLL_SECONDS


# ---------------------------------------------------------------- one poll


def _poll(store, run_id: int) -> tuple[dict | None, list[dict]]:
    """The run (with its epochs) and all its batch points, reading only the points new since the last poll."""
    cache = ss.get("bt_live_cache")
    if not cache or cache["run"] != run_id:
        cache = ss.bt_live_cache = {"run": run_id, "points": []}  # one run at a time: memory stays bounded
    pts = cache["points"]
    run = store.get_run(run_id, after_step=pts[-1]["step"] if pts else None)
    if run is None:
        return None, []
    pts.extend(run.pop("batches"))
    if len(pts) > MAX_CACHED_POINTS:
        from fmnist_core.insight.training_figures import thin

        cache["points"] = pts = thin(pts, MAX_CACHED_POINTS // 2)
    cache["run_info"] = {k: run.get(k) for k in ("history", "batches_per_epoch", "epochs")}  # for the charts
    return run, pts


def _live_charts(run_id: int) -> None:
    """The running run's curves, from what the last poll cached (no store read)."""
    cache = ss.get("bt_live_cache")
    if not cache or cache["run"] != run_id or not (cache["points"] or (cache.get("run_info") or {}).get("history")):
        return
    fig = live_figure(cache["run_info"], cache["points"], MAX_CHART_POINTS)
    st.plotly_chart(fig, key=f"bt_live_chart_{run_id}", config=chart_config(f"run{run_id}_curves"))


def _live_body(run_id: int, polling: bool) -> None:
    from fmnist_core.insight.training_figures import curves_figure
    from fmnist_core.runs.store import TERMINAL

    store = get_store()
    if polling and _have_points(run_id) and ss.get("bt_live_fast") == run_id:
        # The first points were drawn by the last poll: rerun the page once, which sets the slower
        # poll (a fragment cannot change its own interval).
        ss.bt_live_fast = None
        st.rerun(scope="app")
    if polling and not _have_points(run_id):
        ss.bt_live_fast = run_id  # polling fast, waiting for the first points
    run, pts = _poll(store, run_id)
    if run is None:
        st.warning(f"Run #{run_id} was deleted.")
        return
    if polling and run["status"] in TERMINAL:
        _follow_sweep(store, run)
        st.rerun()  # the whole page: redraw once more (or the next run), with the final results and banner
    history = run["history"]
    now = phase(run, len(history))
    _header(run, now, badge=True)
    _progress(store, run, pts, now)
    _live_metrics(history, pts)
    if (pts or history) and run["status"] in TERMINAL:  # drawn once: the full chart, with its controls
        opts = curve_controls(f"bt_curves_{run_id}")
        st.plotly_chart(
            curves_figure(history, pts, run.get("batches_per_epoch"), **opts),
            key=f"bt_chart_{run_id}",
            config=chart_config(f"run{run_id}_curves"),
        )
        curves_download(history, pts, f"run{run_id}_curves", key=f"bt_csv_{run_id}")
    st.caption(caption(len(pts), history, run["status"]))
    hints.show(history)
    if run["status"] in TERMINAL:
        _final(run, history)


def _header(run: dict, now: str, badge: bool) -> None:
    """The run's title, its phase (``badge``) and, while it may still be stopped, the Stop button."""
    head, stop_col = st.columns([5, 1], vertical_alignment="center")
    with head:
        st.markdown(f"#### Run #{run['id']}: {plain(run['name'])}")
        if badge:
            status_badge(run["status"] if now in ("training", "starting") else now)
    if run["status"] in ("queued", "running") and now != "stopping" and can_change(run):
        stop_col.button(
            "Stop training",
            icon=":material/stop_circle:",
            key=f"bt_stop_{run['id']}",
            on_click=_stop,
            args=(run["id"],),
            help="Stop after the current batch, keep the best epoch's weights, save",
        )


def _follow_sweep(store, run: dict) -> None:
    """After a sweep's run ends, watch the sweep's next run (with a toast that says so)."""
    nxt = next_active(store, after=run)
    if nxt and nxt.get("sweep_id") and nxt["sweep_id"] == run.get("sweep_id"):
        st.toast(
            f"Run #{run['id']} {run['status']} (validation {pct(run.get('val_accuracy'))}); now watching "
            f"the sweep's next run, #{nxt['id']}."
        )
        set_watch(nxt["id"])


def _feed_view(store, run_id: int) -> None:
    """An active run, drawn by the browser from the live route (``ui.training.live_feed``); the page reruns
    only when the run ends (or on the user's own clicks, e.g. Stop)."""
    run, pts = live_feed.read_run(run_id, store)
    if run is None:
        st.warning(f"Run #{run_id} was deleted.")
        return
    _header(run, phase(run, len(run["history"])), badge=False)  # the browser draws the phase

    def ended():
        ended_run = store.get_run(run_id, with_batches=False)
        if ended_run is not None:
            _follow_sweep(store, ended_run)

    live_feed.show(run_id, on_end=ended, first=live_feed.snapshot_of(run, pts, store))


def _progress(store, run: dict, pts: list[dict], now: str) -> None:
    prog = progress(run, pts, now, live_feed.runs_ahead(store, run))
    if prog is not None:
        st.progress(prog[0], text=prog[1])


def _stop(run_id: int) -> None:
    from fmnist_core.runs import jobs
    from ui.app import identity

    try:
        run = jobs.stop(run_id, store=get_store(), owner=identity.current_owner())
    except PermissionError as exc:
        st.toast(str(exc))
        return
    st.toast(
        f"Run #{run_id}: "
        + (
            "stopped before it started."
            if run and run["status"] == "stopped"
            else "stopping after this batch; the best finished epoch's weights are saved."
        )
    )


def _live_metrics(history, pts) -> None:
    for col, (label, value) in zip(st.columns(4), metric_values(history, pts)):
        col.metric(label, value)


def _final(run, history) -> None:
    status = run["status"]
    msg = run.get("message") or ""
    if status == "completed":
        st.success(
            f"Completed in {fmt_seconds(run.get('train_seconds'))}. Validation accuracy "
            f"{pct(run['val_accuracy'])}, test accuracy {pct(run['test_accuracy'])}. Saved as "
            f"`{run['model_name']}`."
        )
    elif status == "stopped":
        extra = (
            f" Validation accuracy {pct(run['val_accuracy'])}, test accuracy {pct(run['test_accuracy'])}, "
            f"saved as `{run['model_name']}`."
            if run.get("val_accuracy") is not None
            else ""
        )
        st.warning(f"Stopped: {plain(msg)}.{extra}")
    else:
        st.error(f"Failed: {plain(msg) or 'no message'}")
    if run.get("model_path"):
        c1, c2 = st.columns(2)
        if c1.button("Evaluate this model", icon=":material/search:", key=f"bt_eval_{run['id']}"):
            go_to(EVALUATE_PAGE, selected_model=run["model_name"])
        with c2:
            page_link(COMPARE_PAGE, "Compare with other runs", ":material/compare_arrows:")
    # A sweep or a queue goes on after this run: follow it.
    nxt = next_active(get_store(), after=run)
    if nxt and st.button(
        f"Watch run #{nxt['id']} ({nxt['status']}): {plain(nxt['name'])}",
        icon=":material/skip_next:",
        key=f"bt_next_{run['id']}",
    ):
        set_watch(nxt["id"])
        st.rerun(scope="app")  # a button in a fragment reruns only the fragment, with the old run id


def active_banner() -> None:
    """ "N run(s) training or queued", kept current: it polls (one cheap query) while runs are active."""
    active = {r["id"] for r in get_store().list_runs(status=["running", "queued"], with_history=False)}
    # Not while this page's live view polls an active run: the view reruns the whole page when that
    # run ends, which redraws the count, and every rerun costs Chromium ~0.1 s of CPU whatever it
    # draws (BENCHMARKS.md, "Quiet-machine run, every row, after the warm LR Finder").
    watched = _url_run()
    watched = ss.get("bt_watch_id") if watched is None else watched
    st.fragment(_banner, run_every=5.0 if active and watched not in active else None)()


def _banner() -> None:
    n = len(get_store().list_runs(status=["running", "queued"], with_history=False))
    if n:
        st.info(f"{n} run(s) training or queued. [Jump to the live view ↓](#live-run)")
