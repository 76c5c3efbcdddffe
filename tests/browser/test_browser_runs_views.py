"""Compare runs' new views and the live view's pause, in a real browser, with screenshots in
test-artifacts/: a two-parameter sweep's heatmap and the parallel-coordinates chart; a run's
TensorBoard-style curves (log-y), over/underfitting hint and weight/gradient histograms (recorded by a
real one-epoch training); the live view pausing while its tab is hidden.

Runs are written straight into the server's run store (no worker), so nothing trains here but
the one short in-process training whose histograms the store's run shows.
"""

import os
import re
from pathlib import Path

import pytest

from fmnist_core.modeling.training import train
from fmnist_core.runs import histograms
from fmnist_core.runs.store import RunStore
from waiting import wait_for

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SPEC = [{"type": "Flatten"}]
PLOTTED_JS = """(kind) => [...document.querySelectorAll('.js-plotly-plot')].some(
  g => g.data && g.data.length && g.data[0].type === kind)"""
# The run's own curves (the figure its live view drew): found by its validation trace; its loss panel's scale.
CURVES_JS = """(log) => [...document.querySelectorAll('.js-plotly-plot')].some(
  g => (g.data || []).some(t => t.name === 'validation') && (g.layout.yaxis.type === 'log') === log)"""
HIDE_JS = """(hidden) => {
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"runs_{name}.png"), full_page=True)


def finished(store, name, hp, sweep=None, param=None, value=None, history=()):
    # Created already running, held by this process: the server's pre-warmed worker (any page view
    # starts one) would otherwise claim a queued run before we do.
    rid = store.create_run(
        name, "multiclass", SPEC, hp, sweep, sweep_param=param, sweep_value=value, claim_pid=os.getpid()
    )
    for e in history:
        store.add_epoch(rid, e)
    last = history[-1] if history else {"val_accuracy": 0.8, "val_loss": 0.5}
    store.finish(
        rid,
        "completed",
        val={"accuracy": last["val_accuracy"], "loss": last["val_loss"]},
        test={"accuracy": last["val_accuracy"], "loss": last["val_loss"]},
    )
    return rid


def test_compare_runs_grid_parallel_curves_and_histograms(app_server, app_home, page, wait_idle):
    store = RunStore(app_home / "runs.sqlite")
    for lr in (1e-3, 1e-2):
        for bs in (32, 128):
            acc = 0.78 + (lr == 1e-2) * 0.04 + (bs == 32) * 0.01
            finished(
                store,
                f"grid lr={lr} bs={bs}",
                {"epochs": 1, "lr": lr, "batch_size": bs},
                "sweep-grid",
                "lr,batch_size",
                [lr, bs],
                [{"epoch": 1, "loss": 0.6, "accuracy": acc, "val_loss": 0.6, "val_accuracy": acc, "seconds": 3.0}],
            )
    # One run with a real training's histograms and an overfitting history.
    events = []
    train("linear", "multiclass", {"subset": 1000, "epochs": 1, "batch_size": 32}, on_progress=events.append)
    hist = [(e["loss"], e["val_loss"]) for e in events if e["kind"] == "epoch"]
    assert hist
    rid = finished(
        store,
        "overfitting run",
        {"epochs": 5},
        history=[
            {"epoch": e, "loss": lo, "accuracy": 0.9, "val_loss": vl, "val_accuracy": 0.85, "seconds": 2.0}
            for e, (lo, vl) in enumerate([(0.6, 0.5), (0.4, 0.41), (0.3, 0.44), (0.25, 0.47), (0.2, 0.52)], start=1)
        ],
    )
    for ev in events:
        if ev["kind"] == "histograms":
            histograms.append(rid, ev, app_home)

    page.set_viewport_size({"width": 1400, "height": 2200})
    page.goto(app_server)
    page.get_by_role("link", name="Compare runs").first.click()
    page.get_by_role("heading", name="Compare runs").wait_for(timeout=60_000)
    page.get_by_role("combobox", name="Sweep").click()
    page.get_by_role("option", name=re.compile(r"^sweep-grid")).click()
    wait_idle(page)
    page.wait_for_function(PLOTTED_JS, arg="heatmap", timeout=60_000)  # the grid sweep's heatmap
    # The parallel coordinates: a component (its own frame). Brushing the learning-rate axis around
    # 1e-2 (log10 -2) keeps 2 of the 4 runs; the page lists them and compares their curves.
    frame = wait_for(
        lambda: [f for f in page.frames if "fmnist_parcoords" in (f.url or "")],
        60,
        "the parallel-coordinates component's frame",
        poll=0.2,
    )[0]
    frame.wait_for_function(
        """() => { const g = document.getElementById('plot');
        return g && g.data && g.data[0].type === 'parcoords' && g.data[0].dimensions.length === 3; }""",
        timeout=60_000,
    )
    shot(page, "grid_and_parallel")
    # What Plotly does when an axis is dragged: a restyle of that dimension's constraintrange.
    frame.evaluate("""() => Plotly.restyle(document.getElementById('plot'),
        {'dimensions[0].constraintrange': [[-2.3, -1.7]]})""")
    page.get_by_text("2 of 4 runs").wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_text(re.compile(r"the curves below compare them")).wait_for()
    # The curves compare exactly the brushed runs (the dataframes are canvases: read the chart instead).
    page.wait_for_function(
        r"""() => [...document.querySelectorAll('.js-plotly-plot')].some(
        g => (g.data || []).length && g.data.every(t => /lr=0\.01 /.test(t.name || '') || !/lr=/.test(t.name || ''))
             && g.data.filter(t => /lr=0\.01 /.test(t.name || '')).length >= 2)""",
        timeout=60_000,
    )
    shot(page, "parallel_brushed")

    page.get_by_role("combobox", name="Sweep").click()
    page.get_by_role("option", name="(all runs)").click()
    wait_idle(page)
    grid = page.get_by_test_id("stDataFrame").first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)  # the first row's checkbox: the newest run
    wait_idle(page)
    page.get_by_text(re.compile(r"Validation loss has risen for 3 epochs")).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Download the curves (CSV)").first.wait_for(timeout=10_000)
    page.wait_for_function(CURVES_JS, arg=False, timeout=30_000)
    page.get_by_text("Log-scale loss").last.click()  # the run's own chart's toggle (the overlay's is first)
    wait_idle(page)
    page.wait_for_function(CURVES_JS, arg=True, timeout=30_000)
    shot(page, "curves_and_hint")
    page.get_by_role("tab", name="Weights & gradients").click()
    page.get_by_text(re.compile(r"One outline per epoch")).wait_for(timeout=30_000)
    traces = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(
        g => (g.data || []).map(t => t.name)).find(n => n.length && n[0] === 'epoch 0')""")
    assert traces == ["epoch 0", "epoch 1"]
    shot(page, "histograms")


def test_the_live_view_pauses_while_its_tab_is_hidden(app_server, app_home, page, wait_idle):
    store = RunStore(app_home / "runs.sqlite")
    page.goto(app_server)
    page.get_by_role("link", name="Build & Train").first.click()
    page.get_by_role("heading", name="Build & Train").wait_for(timeout=60_000)
    # Alive: held by this process, fresh heartbeat (60 s); never queued, so the server's pre-warmed
    # worker cannot take it.
    rid = store.create_run("watched while hidden", "multiclass", SPEC, {"epochs": 3}, claim_pid=os.getpid())
    try:
        page.goto(f"{app_server}/build_train?run={rid}")
        page.get_by_role("heading", name=re.compile(rf"Run #{rid}\b")).wait_for(timeout=60_000)
        paused = page.get_by_text("Paused while this tab is hidden")
        assert paused.count() == 0
        # The page's listener mounts a moment after the live view shows: report until it is heard.
        for _ in range(30):
            page.evaluate(HIDE_JS, True)
            if paused.count():
                break
            page.wait_for_timeout(1000)
        paused.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "runs_live_paused_while_hidden.png"))
        page.evaluate(HIDE_JS, False)
        paused.wait_for(state="detached", timeout=30_000)
        page.get_by_text(re.compile(r"0 batch points · 0 epochs done · status running")).wait_for(timeout=30_000)
    finally:
        store.finish(rid, "stopped", "test over")
