"""The live view without reruns: the browser fetches a training run's new state from an app route
and draws it itself, so the page does not rerun while the run trains.

Why: each Streamlit rerun costs Chromium ~0.1 s of a core's time whatever it draws (React
re-rendering the page), and on the 2-core machine that CPU comes out of the training run:
a run watched through rerunning fragments trained 1.06-1.11x as long as one nobody watched
(BENCHMARKS.md, "Watching without reruns"). Here one poll is a small JSON fetch and a Plotly.react
of the same curves figure a finished run gets (BENCHMARKS.md, "One chart").

* ``routes()`` builds the routes, ``GET <baseUrlPath>/fmnist/live/<run id>`` and, for the LR
  Finder's progress bar (``ui/training/progress_feed.js``), ``GET <baseUrlPath>/fmnist/lr/<sweep id>``, and
  the installed plotly package's Plotly.js, ``GET <baseUrlPath>/fmnist/plotly-<version>.min.js``;
  ``streamlit_app.py`` mounts them through ``st.App`` when ``streamlit run`` serves it. Under AppTest, or any server that
  did not mount it, ``mounted()`` is False and ``ui.training.live`` polls with fragments as before.
* Only pages that passed the sign-in gate can read it: each page render hands the browser a
  short-lived token (an HMAC of its expiry under a secret made at server start), and the route
  answers 403 without a valid one. Everyone signed in may view every run (``ui.app.identity``), so
  the token carries no user; it proves the page came from this server's gate.
* The route reads only the batch points that are new since the last poll of that run, into a
  process-wide cache shared by every viewer (bounded: ``MAX_RUNS`` runs, ``MAX_POINTS`` each).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

import streamlit as st

ROUTE = "/fmnist/live"
LR_ROUTE = "/fmnist/lr"
PLOTLY_ROUTE = "/fmnist/plotly-{version}.min.js"  # the version in the name: browsers may keep it for good
TOKEN_SECONDS = 3600  # a page renews it on every render; the browser asks for a rerun on a 403
MAX_RUNS = 16  # runs whose points the route keeps
MAX_POINTS = 4000  # per run; thinned past this (the charts draw at most 300)
FIRST_POLL_MS, POLL_MS = 1000, 2000  # every second until the first points show, then every two
# The chart takes new batch points at most every 6 s (new epochs at once): a Plotly redraw costs
# Chromium several times what the numbers' update does (BENCHMARKS.md, "One chart").
CHART_MS = 6000

_SECRET = secrets.token_bytes(32)
_mounted = False
_lock = threading.Lock()
_points: OrderedDict[int, list[dict]] = OrderedDict()


# ---------------------------------------------------------------- tokens


def issue_token(now: float | None = None) -> str:
    """A token valid for ``TOKEN_SECONDS``: "<expiry>.<hmac>"."""
    expiry = int((time.time() if now is None else now) + TOKEN_SECONDS)
    return f"{expiry}.{_sign(expiry)}"


def token_ok(token: str | None, now: float | None = None) -> bool:
    """True for a token this server issued that has not expired."""
    expiry, _, sig = (token or "").partition(".")
    if not expiry.isdigit() or len(expiry) > 12:
        return False
    return hmac.compare_digest(sig, _sign(int(expiry))) and int(expiry) > (time.time() if now is None else now)


def _sign(expiry: int) -> str:
    return hmac.new(_SECRET, f"live:{expiry}".encode(), hashlib.sha256).hexdigest()[:32]


# ---------------------------------------------------------------- the route


def routes() -> list:
    """The live routes, for ``st.App(..., routes=routes())``; marks this process as serving them:
    a training run's live state, and an LR Finder sweep's progress."""
    global _mounted
    from starlette.routing import Route

    _mounted = True
    return [
        Route(route_path() + "/{run_id:int}", live_endpoint, methods=["GET"]),
        Route(route_path(LR_ROUTE) + "/{sweep_id:str}", lr_endpoint, methods=["GET"]),
        Route(plotly_url(), plotly_endpoint, methods=["GET"]),
    ]


def mounted() -> bool:
    """True when this server process serves the live route (``streamlit run streamlit_app.py``)."""
    return _mounted


def route_path(route: str = ROUTE) -> str:
    """A route's path under the server's ``baseUrlPath`` (which st.App does not add to our routes)."""
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return (f"/{base}" if base else "") + route


_NO_STORE = {"Cache-Control": "no-store"}


def _refused(request):
    """A 403 response unless the request carries a valid token; None when it does."""
    from starlette.responses import JSONResponse

    if token_ok(request.headers.get("x-fmnist-live")):
        return None
    return JSONResponse(
        {"error": "This page's access to the live view expired; reload the page."}, status_code=403, headers=_NO_STORE
    )


def live_endpoint(request):
    """GET .../fmnist/live/<run id>: the run's live state (``ui.training.live_state.snapshot``) as JSON.

    403 without a valid ``X-Fmnist-Live`` token; 404 for an unknown run; 503 when the run store
    cannot be read (its message says why). Runs in a worker thread (a plain function route).
    """
    from starlette.responses import JSONResponse

    from fmnist_core.runs.store import StoreError

    headers = _NO_STORE
    refused = _refused(request)
    if refused is not None:
        return refused
    run_id = request.path_params["run_id"]
    try:
        snap = live_snapshot(run_id)
    except StoreError as exc:
        return JSONResponse({"error": f"The run store cannot be read: {exc}"}, status_code=503, headers=headers)
    if snap is None:
        return JSONResponse({"error": f"Run #{run_id} no longer exists (deleted?)."}, status_code=404, headers=headers)
    return JSONResponse(snap, headers=headers)


def lr_endpoint(request):
    """GET .../fmnist/lr/<sweep id>: an LR Finder sweep's progress, {"frac", "text", "done"}.

    403 without a valid token; 404 for a sweep this server does not know (ended long ago, or a
    restarted server). Sweep ids are random (``ui.tasks.lr_sweeps``).
    """
    from starlette.responses import JSONResponse

    from ui.tasks import lr_sweeps

    refused = _refused(request)
    if refused is not None:
        return refused
    snap = lr_sweeps.progress_snapshot(request.path_params["sweep_id"])
    if snap is None:
        return JSONResponse({"error": "No such sweep on this server."}, status_code=404, headers=_NO_STORE)
    return JSONResponse(snap, headers=_NO_STORE)


def plotly_url() -> str:
    """Where the browser gets Plotly.js (``plotly_endpoint``)."""
    import plotly

    return route_path(PLOTLY_ROUTE.format(version=plotly.__version__))


@functools.cache
def _plotly_js_gzip() -> bytes:
    """The installed plotly package's plotly.min.js, gzipped once per process (4.8 MB -> ~1.4 MB)."""
    import plotly

    return gzip.compress((Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes(), 6)


def plotly_endpoint(request):
    """GET .../fmnist/plotly-<version>.min.js: Plotly.js for the live view's charts, the same library
    st.plotly_chart draws finished runs with. Public (a published library, no run data), cached
    by the browser for a year: the version is in the path."""
    from starlette.responses import Response

    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    body = _plotly_js_gzip()
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type="text/javascript", headers=headers)


def read_run(run_id: int, store=None) -> tuple[dict | None, list[dict]]:
    """The run (with ``history``) and its batch points, reading only those past the points already
    cached for it; (None, []) if there is no such run."""
    from fmnist_core.insight.training_figures import thin
    from ui.training.run_widgets import open_store

    store = store or open_store()
    with _lock:
        cached = list(_points.get(run_id, ()))
    run = store.get_run(run_id, after_step=cached[-1]["step"] if cached else None)
    if run is None:
        with _lock:
            _points.pop(run_id, None)
        return None, []
    pts = cached + run.pop("batches")
    if len(pts) > MAX_POINTS:
        pts = thin(pts, MAX_POINTS // 2)  # keeps the last point, so the next read starts after it
    with _lock:
        _points[run_id] = pts
        _points.move_to_end(run_id)
        while len(_points) > MAX_RUNS:
            _points.popitem(last=False)
    return run, pts


def live_snapshot(run_id: int, store=None) -> dict | None:
    """The run's live state (``ui.training.live_state.snapshot``), or None if there is no such run."""
    from ui.training.run_widgets import open_store

    store = store or open_store()
    run, pts = read_run(run_id, store)
    return None if run is None else snapshot_of(run, pts, store)


def snapshot_of(run: dict, pts: list[dict], store) -> dict:
    """``ui.training.live_state.snapshot`` of a run read by ``read_run``, counting the runs ahead of a queued one."""
    from ui.training.live_state import snapshot

    return snapshot(run, pts, runs_ahead(store, run))


def runs_ahead(store, run: dict) -> int:
    """How many runs are queued or running before a queued ``run`` (0 for a run that is not queued)."""
    if run["status"] != "queued":
        return 0
    return sum(r["id"] < run["id"] for r in store.list_runs(status=["queued", "running"], with_history=False))


# ---------------------------------------------------------------- the browser side

# Scoped under each view's root class: the live view is not style-isolated (Plotly's own stylesheet,
# which it puts in the page's <head>, must reach its chart), so these rules are global.
_CSS = """
:is(.lv, .pf) .bar { height: 0.5rem; border-radius: 0.25rem; background: rgba(128, 128, 128, 0.2); overflow: hidden; }
:is(.lv, .pf) .fill { height: 100%; width: 0; background: rgb(255, 75, 75); }
:is(.lv, .pf) .ptext { margin-top: 0.3rem; }
.lv { font-size: 0.95rem; }
.lv .badge { display: inline-block; padding: 0.05rem 0.55rem; border-radius: 0.5rem; font-size: 0.85rem;
             background: rgba(28, 131, 225, 0.15); color: rgb(0, 84, 163); }
.lv .badge.stopping, .lv .badge.validating { background: rgba(255, 164, 33, 0.18); color: rgb(146, 84, 0); }
.lv .badge.queued, .lv .badge.starting { background: rgba(128, 128, 128, 0.15); color: inherit; }
.lv .note { margin-left: 0.75rem; opacity: 0.75; }
.lv .prog { margin: 0.6rem 0 0.4rem; }
.lv .metrics { display: grid; grid-template-columns: repeat(4, 1fr); gap: 1rem; margin: 0.8rem 0; }
.lv .mlabel { font-size: 0.85rem; opacity: 0.8; }
.lv .mvalue { font-size: 1.9rem; line-height: 1.3; }
.lv .chart { min-height: 340px; }
.lv .caption { font-size: 0.85rem; opacity: 0.7; margin-top: 0.4rem; }
.lv .hint { margin-top: 0.5rem; padding: 0.6rem 0.9rem; border-radius: 0.5rem; background: rgba(255, 193, 7, 0.15); }
"""


@st.cache_resource(show_spinner=False)
def _component(script: str, isolate_styles: bool = True):
    """The v2 component of ``ui/<script>.js``, with ``ui/training/feed_common.js`` (its shared helpers) in front."""
    here = Path(__file__).parent
    js = "\n".join((here / name).read_text(encoding="utf-8") for name in ("feed_common.js", f"{script}.js"))
    return st.components.v2.component(f"fmnist_{script}", js=js, css=_CSS, isolate_styles=isolate_styles)


def _token() -> str:
    """This session's token, renewed with 10 minutes to spare."""
    ss = st.session_state
    token = ss.get("live_feed_token")
    if not token or not token_ok(token, time.time() + 600):
        token = ss.live_feed_token = issue_token()
    return token


def show_sweep_progress(sweep_id: str, first: tuple[float, str], poll_ms: int = 500) -> None:
    """An LR Finder sweep's progress bar, polled by the browser (``lr_endpoint``); the page reruns
    once when the sweep is done. ``first``: (fraction, text) to show before the first answer.
    Call only when ``mounted()``."""
    data = {
        "url": f"{route_path(LR_ROUTE)}/{sweep_id}",
        "token": _token(),
        "poll_ms": int(poll_ms),
        "first": {"frac": first[0], "text": first[1]},
    }
    _component("progress_feed")(data=data, key=f"progress_feed_{sweep_id}", on_done_change=lambda: None)


def show(run_id: int, on_end, first: dict | None = None) -> None:
    """The browser-side live view of ``run_id``; ``on_end`` runs (then the page reruns) when the
    browser sees the run end. ``first``: a snapshot to draw before the first fetch answers.
    Call only when ``mounted()``."""
    data = {
        "run": int(run_id),
        "url": route_path(),
        "token": _token(),
        "first_poll_ms": FIRST_POLL_MS,
        "poll_ms": POLL_MS,
        "first": first,
        "plotly_url": plotly_url(),
        "chart_ms": CHART_MS,
    }
    _component("live_feed", isolate_styles=False)(
        data=data, key=f"live_feed_{run_id}", on_ended_change=on_end, on_renew_change=_renew
    )


def _renew() -> None:
    st.session_state.pop("live_feed_token", None)
