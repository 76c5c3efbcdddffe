"""The live view's route and its values (ui.training.live_feed, ui.training.live_state), on a real run store.

The route is called with real Starlette requests; the browser side (the page not rerunning while
a run trains, the route answering over HTTP) is in tests/browser/test_browser_training.py.
"""

import json
import os

import pytest
from starlette.requests import Request

from fmnist_core.runs.store import RunStore
from ui.training import live_feed
from ui.training.live_state import live_figure, metric_values, progress, snapshot

SPEC = [{"type": "Flatten"}]


@pytest.fixture
def store(fmnist_home):
    live_feed._points.clear()
    yield RunStore()
    live_feed._points.clear()


def running_run(store, epochs=2, bpe=4):
    rid = store.create_run("watched", "multiclass", SPEC, {"epochs": epochs})
    assert store.mark_running(rid, os.getpid())
    return rid


def add_points(store, rid, steps, bpe=4):
    for step in steps:
        epoch, batch = step // bpe + 1, step % bpe + 1
        store.add_batch(
            rid,
            {
                "step": step,
                "epoch": epoch,
                "batch": batch,
                "batches_per_epoch": bpe,
                "loss": 2.0 - 0.1 * step,
                "accuracy": 0.1 + 0.05 * step,
                "lr": 1e-3,
                "elapsed": 0.5 * step,
            },
        )


def get(run_id, token="valid"):
    headers = (
        [] if token is None else [(b"x-fmnist-live", (live_feed.issue_token() if token == "valid" else token).encode())]
    )
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": f"/fmnist/live/{run_id}",
            "headers": headers,
            "query_string": b"",
            "path_params": {"run_id": run_id},
        }
    )
    response = live_feed.live_endpoint(request)
    return response.status_code, json.loads(response.body)


# ---------------------------------------------------------------- tokens


def test_a_token_is_good_until_it_expires_and_cannot_be_forged():
    token = live_feed.issue_token(now=1000.0)
    assert live_feed.token_ok(token, now=1000.0 + live_feed.TOKEN_SECONDS - 1)
    assert not live_feed.token_ok(token, now=1000.0 + live_feed.TOKEN_SECONDS)
    expiry, sig = token.split(".")
    later = str(int(expiry) + 10**6)
    assert not live_feed.token_ok(f"{later}.{sig}", now=1000.0)  # a longer life, same signature
    assert not live_feed.token_ok(f"{expiry}.{'0' * len(sig)}", now=1000.0)
    for junk in (None, "", ".", "abc.def", "9" * 40 + ".x"):
        assert not live_feed.token_ok(junk)


# ---------------------------------------------------------------- the route


def test_the_route_refuses_a_request_without_a_valid_token(store):
    rid = running_run(store)
    assert get(rid, token=None)[0] == 403
    status, body = get(rid, token="123.abc")
    assert status == 403 and "reload the page" in body["error"]


def test_an_unknown_run_is_a_404_that_says_so(store):
    status, body = get(4242)
    assert status == 404 and "#4242" in body["error"]


def test_each_poll_reads_only_the_new_points_and_the_snapshot_adds_up(store):
    rid = running_run(store, epochs=2, bpe=4)
    add_points(store, rid, range(3))  # steps 0..2 of epoch 1
    status, body = get(rid)
    assert status == 200 and body["caption"] == "3 batch points · 0 epochs done · status running"
    assert body["phase"] == "training" and not body["terminal"]
    # Epoch 1, batch 3 of 4, of 2 epochs x 4 batches: (0 * 4 + 3) / 8 done.
    assert body["progress"]["frac"] == pytest.approx(3 / 8)
    assert body["progress"]["text"].startswith("epoch 1/2 · batch 3/4 · elapsed")
    add_points(store, rid, range(3, 6))
    store.add_epoch(rid, {"epoch": 1, "loss": 1.5, "accuracy": 0.4, "val_loss": 1.6, "val_accuracy": 0.35})
    body = get(rid)[1]
    assert body["caption"] == "6 batch points · 1 epochs done · status running"
    assert [p["step"] for p in live_feed._points[rid]] == list(range(6))  # in order, none twice
    traces = {(t["name"], t["yaxis"]): t for t in body["figure"]["data"]}
    batch = traces["batch", "y"]  # the loss panel
    # x in epochs: step / batches per epoch; the last batch point is step 5, loss 2.0 - 0.5.
    assert (batch["x"][-1], batch["y"][-1]) == (pytest.approx(5 / 4), pytest.approx(1.5))
    val = traces["validation", "y2"]  # the accuracy panel, in percent
    assert (val["x"], val["y"]) == ([1], [pytest.approx(35.0)])
    assert body["figure"]["layout"]["xaxis"]["range"] == [0, 2]  # the run's 2 epochs
    assert dict(body["metrics"])["Best validation accuracy"] == "35.00%"
    assert dict(body["metrics"])["Batch loss"] == "1.500"


def test_the_route_answers_a_stopping_then_a_finished_run(store):
    rid = running_run(store)
    add_points(store, rid, range(2))
    store.request_stop(rid)
    body = get(rid)[1]
    assert body["phase"] == "stopping" and body["progress"]["text"].startswith("Stopping… at epoch 1/2")
    store.finish(rid, "stopped", "stopped on request")
    body = get(rid)[1]
    assert body["terminal"] and body["status"] == "stopped" and body["progress"] is None


def test_the_route_tells_a_queued_run_how_many_are_ahead(store):
    first = running_run(store)
    queued = store.create_run("next", "multiclass", SPEC, {"epochs": 1})
    body = get(queued)[1]
    assert first < queued and body["phase"] == "queued"
    assert body["progress"]["text"] == "Queued: waiting for 1 run(s) ahead of it. It starts by itself."


def test_the_routes_point_cache_stays_bounded(store, monkeypatch):
    monkeypatch.setattr(live_feed, "MAX_RUNS", 3)
    monkeypatch.setattr(live_feed, "MAX_POINTS", 10)
    runs = [running_run(store) for _ in range(5)]
    for rid in runs:
        add_points(store, rid, range(25))
        get(rid)
    assert list(live_feed._points) == runs[-3:]  # the least recently polled went first
    assert all(len(p) <= 10 for p in live_feed._points.values())
    assert all(p[-1]["step"] == 24 for p in live_feed._points.values())  # thinning keeps the newest


def test_a_damaged_store_is_a_503_with_the_reason(store, fmnist_home):
    from ui.training.run_widgets import _store_at

    rid = running_run(store)
    (fmnist_home / "runs.sqlite").write_bytes(b"not a database" * 100)
    _store_at.clear()
    try:
        status, body = get(rid)
    finally:
        _store_at.clear()
    assert status == 503 and "run store" in body["error"]


# ---------------------------------------------------------------- the values, by hand


def test_the_live_figure_is_the_finished_runs_figure_thinned_to_300_points():
    """One series function, one figure: the live view draws what the finished run's chart draws
    (with its default controls), batch points capped per curve."""
    from fmnist_core.insight.training_figures import curves_figure

    pts = [{"step": s, "loss": 1.0, "accuracy": 0.5} for s in range(1000)]
    history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.45}]
    run = {"history": history, "batches_per_epoch": 100, "epochs": 12}
    fig = live_figure(run, pts)
    assert fig == curves_figure(history, pts, 100, max_points=300, epochs=12)
    batch = [t for t in fig["data"] if t["name"] == "batch"]
    assert len(batch) == 2 and all(len(t["x"]) <= 300 for t in batch)
    assert batch[0]["x"][-1] == pytest.approx(9.99)  # the newest point is always kept
    assert batch[1]["y"][0] == 50.0  # accuracy in percent
    assert fig["layout"]["xaxis"]["range"] == [0, 12]


def test_metric_tiles_and_progress_of_a_starting_run():
    run = {"id": 1, "status": "running", "epochs": 3, "history": []}
    assert metric_values([], []) == [
        ("Batch loss", "–"),
        ("Train accuracy (last epoch)", "–"),
        ("Best validation accuracy", "–"),
        ("Learning rate", "–"),
    ]
    assert progress(run, [], "starting") == (0.0, "Starting: loading TensorFlow and the data, building the model…")
    snap = snapshot(run, [])
    assert snap["phase"] == "starting" and json.loads(json.dumps(snap)) == snap


# ---------------------------------------------------------------- the LR Finder's progress route


def get_lr(sweep_id, token="valid"):
    headers = [] if token is None else [(b"x-fmnist-live", live_feed.issue_token().encode())]
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": f"/fmnist/lr/{sweep_id}",
            "headers": headers,
            "query_string": b"",
            "path_params": {"sweep_id": sweep_id},
        }
    )
    response = live_feed.lr_endpoint(request)
    return response.status_code, json.loads(response.body)


def test_the_sweep_progress_route_names_sweeps_by_their_random_id():
    import threading
    import time

    from ui.tasks import lr_sweeps

    reported, finish = threading.Event(), threading.Event()

    def work(sweep):
        sweep.report({"batch": 25, "num_batches": 100, "lr": 1e-3, "loss": 0.5})
        reported.set()
        finish.wait()

    sweeps = lr_sweeps.sweeps()
    state = sweeps.start("test sweep", work)
    try:
        reported.wait()
        state.asked = time.time() - 3
        assert get_lr(state.id, token=None)[0] == 403
        assert get_lr("test sweep")[0] == 404  # the key is not the id
        status, body = get_lr(state.id)
        assert status == 200 and body["frac"] == 0.25 and not body["done"]
        assert body["text"].startswith("batch 25/100 · lr 1.00e-03 · loss 0.5000 · 3 s")
        finish.set()
        state.wait()
        assert get_lr(state.id)[1]["done"]
    finally:
        finish.set()
        sweeps.forget("test sweep")


# ---------------------------------------------------------------- Plotly.js for the live charts


def test_the_live_view_gets_the_installed_plotly_js_from_a_versioned_route(monkeypatch):
    import gzip
    from pathlib import Path

    import plotly

    monkeypatch.setattr(live_feed, "_mounted", live_feed._mounted)  # routes() marks the process as serving them
    url = live_feed.plotly_url()
    assert url == f"/fmnist/plotly-{plotly.__version__}.min.js"
    assert url in [r.path for r in live_feed.routes()]
    bundle = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    for accept, encoded in ((b"gzip, deflate, br", True), (b"", False)):
        request = Request(
            {
                "type": "http",
                "method": "GET",
                "path": url,
                "query_string": b"",
                "headers": [(b"accept-encoding", accept)] if accept else [],
            }
        )
        response = live_feed.plotly_endpoint(request)  # no token: a public library, no run data
        assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
        assert (response.headers.get("content-encoding") == "gzip") == encoded
        assert (gzip.decompress(response.body) if encoded else response.body) == bundle
