"""Live training in a real browser: start a run from Build & Train, watch the live curve gain
points while it trains, leave the page and come back, reload it, and see the same run carry
on each time; then stop it with the Stop button.

Drives Debian's Chromium against ``streamlit run`` (fixtures in conftest.py). Screenshots go
to test-artifacts/ (git-ignored).
"""

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fmnist_core.runs.store import RunStore

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The default (quick preset, batch 256) on 6,000 images: 22 batches per epoch. 100 epochs is
# far longer than the test needs, so the run cannot finish before the test is done with it (the
# page is slow to drive on a loaded machine while training races ahead); the test stops it.
SUBSET, EPOCHS = 6000, 100
POINTS = re.compile(r"(\d+) batch points · (\d+) epochs done · status (\w+)")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"training_{name}.png"), full_page=True)


def live_state(page) -> tuple[int, int, str] | None:
    """(batch points, epochs done, status) from the live view's caption, or None before it shows."""
    texts = page.get_by_text(POINTS).all_inner_texts()
    if not texts:
        return None
    m = POINTS.search(texts[0])
    return int(m.group(1)), int(m.group(2)), m.group(3)


LIVE_CHART_JS = """() => {
    const g = document.querySelector('[class*="st-key-live_feed_"] .chart.js-plotly-plot');
    if (!g || !g.data) return null;
    const batch = g.data.find(t => t.name === 'batch' && t.yaxis === 'y');
    return {points: batch ? batch.x.length : 0, names: g.data.map(t => t.name), xmax: g.layout.xaxis.range[1]};
}"""


def live_chart(page) -> dict | None:
    """The live view's chart as Plotly.js drew it (ui/training/live_feed.js, the route's curves figure): the
    loss panel's batch points, the trace names and the x axis's end; None before it is drawn."""
    return page.evaluate(LIVE_CHART_JS)


def chart_points(page) -> tuple[int, list[str]]:
    """The finished run's chart (st.plotly_chart): points of its first trace (the per-batch loss)
    and its trace names, read from Plotly itself."""
    # In one step in the page: the live view redraws every second, so a handle could go stale.
    # Streamlit draws a chart once it is on screen, hence the scroll.
    return page.evaluate("""() => {
        const box = document.querySelector('[data-testid=stPlotlyChart]');
        if (!box) return [0, []];
        box.scrollIntoView({block: 'center'});
        const g = box.querySelector('.js-plotly-plot');
        return g && g.data && g.data.length ? [g.data[0].x.length, g.data.map(t => t.name)] : [0, []];
    }""")


def wait_for(page, pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        page.wait_for_timeout(250)
    shot(page, "timeout")
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last state {live_state(page)}")


def set_number(page, label: str, value) -> None:
    box = page.get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(800)  # let the rerun land before the next change


def test_the_live_route_answers_only_pages_of_this_server(app_server):
    """Without the token a page render hands out, the route says 403 (and never shows a run)."""
    for headers in ({}, {"X-Fmnist-Live": "99999999999.0123456789abcdef0123456789abcdef"}):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(f"{app_server}/fmnist/live/1", headers=headers), timeout=10)
        assert err.value.code == 403


def test_live_curve_grows_and_the_run_survives_a_reload(app_server, app_home, page):
    page.set_viewport_size({"width": 1400, "height": 3400})  # the whole page fits in the screenshots
    # Every websocket message from the server: a Streamlit rerun sends several (deltas, script
    # finished); the live view must draw new points without any.
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    # Enter through the app's front door and its navigation, as a user does. (A fresh server's
    # very first request straight to /build_train would run the page without streamlit_app.py.)
    page.goto(app_server)
    page.get_by_role("link", name="Build & Train").first.click()
    page.get_by_role("heading", name="Build & Train").wait_for(timeout=60_000)
    assert page.url.rstrip("/").endswith("/build_train")
    set_number(page, "Training images", SUBSET)
    set_number(page, "Epochs", EPOCHS)
    page.set_viewport_size({"width": 1400, "height": 900})  # a real screen: the live view starts below it
    live = page.get_by_role("heading", name="Live run")
    page.get_by_role("button", name="Train", exact=True).click()
    # Pressing Train brings the live view into sight (it sits far below the button).
    page.wait_for_function(
        """() => { const h = [...document.querySelectorAll('h3')].find(
        e => e.textContent.startsWith('Live run')); if (!h) return false; const r = h.getBoundingClientRect();
        return r.top >= 0 && r.top < window.innerHeight; }""",
        timeout=30_000,
        polling=100,
    )
    assert live.is_visible()
    shot(page, "0_after_train_click")
    page.set_viewport_size({"width": 1400, "height": 3400})

    page.wait_for_url(re.compile(r"[?&]run=\d+"), timeout=30_000)
    run_id = re.search(r"run=(\d+)", page.url).group(1)
    page.get_by_role("heading", name=re.compile(rf"Run #{run_id}\b")).wait_for(timeout=30_000)
    stopped = False
    try:
        # The worker process starts (TensorFlow import), then batch points arrive ~4 a second.
        wait_for(
            page,
            lambda: (s := live_state(page)) and s[2] == "running" and s[0] >= 3 and s,
            timeout=120,
            what="the first batch points",
        )
        shot(page, "1_running")
        drawn = wait_for(
            page, lambda: (c := live_chart(page)) and c["points"] >= 3 and c, timeout=60, what="the live chart to draw"
        )
        assert drawn["xmax"] == EPOCHS  # the x axis spans the run's epochs
        page.wait_for_timeout(1500)  # the page's last rerun (after the click) has landed
        n_frames, before = len(frames), live_state(page)
        assert n_frames > 0  # the listener hears this page's socket (its renders came through it)
        later = wait_for(
            page, lambda: (s := live_state(page)) and s[0] > before[0] + 5 and s, timeout=60, what="more batch points"
        )
        assert later[2] == "running"
        grown = wait_for(
            page,
            lambda: (c := live_chart(page)) and c["points"] > drawn["points"] and c,
            timeout=30,
            what="the live chart to gain points",
        )
        assert len(frames) == n_frames, f"{len(frames) - n_frames} websocket messages while the points grew"
        shot(page, "2_more_points")

        # Leave for another page and come back through the navigation: same run, same settings.
        page.get_by_role("link", name="LR Finder").first.click()
        page.get_by_role("heading", name="LR Finder").wait_for(timeout=30_000)
        page.get_by_role("link", name="Build & Train").first.click()
        page.get_by_role("heading", name=re.compile(rf"Run #{run_id}\b")).wait_for(timeout=30_000)
        back = wait_for(page, lambda: live_state(page), timeout=30, what="the live view after coming back")
        assert back[2] == "running" and back[0] >= later[0], (later, back)
        assert page.get_by_role("spinbutton", name="Epochs").input_value() == str(EPOCHS)
        assert f"run={run_id}" in page.url

        page.reload()
        page.get_by_role("heading", name=re.compile(rf"Run #{run_id}\b")).wait_for(timeout=60_000)
        assert f"run={run_id}" in page.url
        after = wait_for(page, lambda: live_state(page), timeout=30, what="the live view after the reload")
        assert after[2] == "running" and after[0] >= back[0], (back, after)  # the same run, still going
        resumed = wait_for(
            page, lambda: (s := live_state(page)) and s[0] > after[0] and s, timeout=60, what="points after the reload"
        )
        assert resumed[2] == "running"
        progress = re.compile(rf"epoch \d+/{EPOCHS} · batch \d+/22 · elapsed .* · ETA")
        page.get_by_text(progress).wait_for(timeout=10_000)
        shot(page, "3_after_reload")

        page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop training").click()
        stopped = True
        page.get_by_text(re.compile(r"^Stopping… at epoch|^Stopped:")).first.wait_for(timeout=30_000)
        page.get_by_text(re.compile(r"^Stopped: stopped on request")).wait_for(timeout=120_000)
        final = live_state(page)
        assert final[2] == "stopped" and final[0] >= resumed[0]
        # The finished run: the same figure drawn by st.plotly_chart, every batch point (up to the
        # drawing cap), with its controls.
        n, names = wait_for(page, lambda: (c := chart_points(page))[0] and c, timeout=30, what="the final chart")
        assert n >= min(final[0], 100)
        # One figure: the live chart's curves are the finished chart's (which may hold epochs finished since).
        assert set(grown["names"]) <= set(names) <= {"batch", "train (epoch mean)", "validation"}, (grown, names)
        page.get_by_role("button", name="Download the curves (CSV)").wait_for(timeout=10_000)
        shot(page, "4_stopped")
    finally:
        if not stopped:  # never leave a 100-epoch run training after a failed test
            store = RunStore(app_home / "runs.sqlite")
            for run in store.list_runs(status=["queued", "running"], with_history=False):
                store.request_stop(run["id"])


def test_the_lr_finder_shows_its_progress_without_rerunning_the_page(app_server, page):
    """The sweep's progress comes from the app's route (ui/training/live_feed.py): the bar moves with no
    websocket message; the page reruns once, at the end, to draw the curve and the suggestions."""
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    page.goto(app_server)
    page.get_by_role("link", name="LR Finder").first.click()
    page.get_by_role("heading", name="LR Finder").wait_for(timeout=60_000)
    page.get_by_role("button", name="Run the LR finder").click()
    batch = re.compile(r"^batch (\d+)/(\d+) · lr ")

    def progress() -> int | None:
        texts = page.get_by_text(batch).all_inner_texts()
        return int(batch.search(texts[0]).group(1)) if texts else None

    first = wait_for(page, progress, timeout=120, what="the sweep's progress")
    page.wait_for_timeout(300)  # the click's own rerun has landed
    n_frames, start = len(frames), progress()
    moved = wait_for(
        page,
        lambda: (b := progress()) is None or b >= (start or first) + 5,
        timeout=60,
        what="the progress bar to move",
    )
    if progress() is not None:  # still sweeping: everything since came over the route
        assert len(frames) == n_frames, f"{len(frames) - n_frames} websocket messages while the bar moved"
    assert moved
    page.get_by_text(re.compile("valley", re.IGNORECASE)).first.wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"\d+ batches in [\d.]+ s")).wait_for(timeout=10_000)
