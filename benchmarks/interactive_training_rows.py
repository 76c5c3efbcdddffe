"""The rows of benchmarks/bench_interactive.py that time training from the browser: the first
batch point, Stop, and watched against unwatched runs. Each ``row_<name>(ctx)`` returns
{label: values per repeat}."""

from __future__ import annotations

import re
import time

from interactive_browser import Server, settle, timed, wait_idle, widget

# While a run trains, the live view (``ui/training/live_feed.js``, inside its component's shadow root) draws
# its charts and, under them, "N batch points · M epochs done · status …": the first point is drawn
# when N > 0. Without the live route (fragments polling) the same caption is a Streamlit caption.
FIRST_POINT_JS = """() => {
    const shown = (text) => { const m = (text || '').match(/(\\d+) batch points/); return !!m && +m[1] > 0; };
    const feed = [...document.querySelectorAll('[class*="st-key-live_feed_"] *')].some(
        e => e.shadowRoot && e.shadowRoot.querySelector('.chart svg polyline') && shown((e.shadowRoot.querySelector('.caption') || {}).textContent));
    return feed || (!!document.querySelector('[data-testid="stVegaLiteChart"], .js-plotly-plot')
        && [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(e => shown(e.innerText)));
}"""


def set_number(page, key: str, value) -> None:
    """Type ``value`` into the number input with widget ``key`` and wait for the page's rerun."""
    box = widget(page, key).locator("input")
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def start_training_in_page(page, url: str, subset: int | None = None) -> float:
    """Open Build & Train (with ``subset`` training images if given), press Train, return seconds
    until the first batch point is drawn."""
    page.goto(url + "/build_train")
    settle(page)
    if subset:
        set_number(page, "bt_hp_subset", subset)
    train = widget(page, "bt_train").locator("button")
    return timed(train.click, lambda: page.wait_for_function(FIRST_POINT_JS, timeout=300_000, polling=50))


def active_runs(server: Server, columns: str = "id, name, status, train_seconds") -> list[tuple]:
    """``columns`` of every run, read straight from the run store: a `runs` CLI call would add its
    own ~0.3 s (and more under load) to every poll."""
    import sqlite3

    db = server.home / "runs.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(f"SELECT {columns} FROM runs").fetchall()


def wait_no_active_run(server: Server, timeout: float = 900, poll: float = 1.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = active_runs(server)
        if not any(r[2] in ("queued", "running") for r in runs):
            return runs
        time.sleep(poll)
    raise TimeoutError("runs still active")


def row_train_first(ctx) -> dict:
    out = []
    for _ in range(ctx["train_repeats"]):
        out.append(start_training_in_page(ctx["page"], ctx["url"]))
        stop_button(ctx["page"]).click()
        wait_no_active_run(ctx["server"])
    return {f"Train: click -> first batch point ({len(out)} repeats)": out}


def stop_button(page):
    return page.get_by_role("button", name=re.compile("Stop training"))


STOP_SUBSET = 60000  # the default 6,000 images train in ~5 s now: the run must still be running at the click


def row_stop(ctx) -> dict:
    out, flag, missed = [], [], 0
    page = ctx["page"]
    for _ in range(ctx["train_repeats"]):
        start_training_in_page(page, ctx["url"], subset=STOP_SUBSET)
        time.sleep(3)  # a few batches in
        server = ctx["server"]
        if not any(r[2] == "running" for r in active_runs(server)):
            missed += 1  # it ended by itself: a click now would time nothing
            wait_no_active_run(server)
            continue

        marks = {}

        def stopped():
            # Where the time goes: the click reaching the server (the flag in the store), then
            # the worker halting, scoring and saving (the status).
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                runs = active_runs(server, "status, stop_requested")
                if "flag" not in marks and any(r[1] for r in runs if r[0] in ("queued", "running")):
                    marks["flag"] = time.perf_counter()
                if not any(r[0] in ("queued", "running") for r in runs):
                    return
                time.sleep(0.02)
            raise TimeoutError("the run did not stop")

        t0 = time.perf_counter()
        seconds = timed(stop_button(page).click, stopped)
        if max(active_runs(server, "id, status"))[1] != "stopped":
            missed += 1  # it completed on its own before the click took effect
            continue
        out.append(seconds)
        if "flag" in marks:
            flag.append(marks["flag"] - t0)
    if missed:
        print(f"  (stop: {missed} run(s) ended by themselves before the click; not counted)", flush=True)
    return {
        f"Stop: click -> run stopped in the store ({len(out)} repeats, {STOP_SUBSET} images)": out,
        "Stop: click -> stop flag in the store": flag,
    }


# 2 epochs: ~10-20 s of training (the runs were 23 s); --watch-epochs makes longer runs, where
# the page's one-off costs (its first render, the rerun at the first points) weigh less.
WATCH_ARGS = ["--preset", "tinyvgg", "--subset", "40000", "--epochs", "2", "--seed", "0"]


def row_watch(ctx) -> dict:
    """The same CLI-submitted run (``WATCH_ARGS``), once with Build & Train open on it, once with no
    browser: alternating, ``train_repeats`` pairs; the worker's train_seconds from the run store. The
    server's CPU share is taken from when the watching page has settled (its one-off first render
    is not "watching") to the run's end."""
    server, page = ctx["server"], ctx["page"]
    watched, unwatched, cpu_share, browser_share = [], [], [], []
    for i in range(ctx["train_repeats"]):
        for watch in (True, False) if i % 2 == 0 else (False, True):
            name = f"bench_{'w' if watch else 'u'}{i}"
            page.goto("about:blank")
            run_id = server.cli("train", *WATCH_ARGS, "-mn", name, "--detach", "--overwrite").split()[-1].strip("#")
            if watch:
                page.goto(f"{ctx['url']}/build_train?run={run_id}")
                settle(page, quiet=0.3)
                cpu0, bcpu0, t0 = server.cpu_seconds(), server.browser_cpu_seconds(), time.monotonic()
            runs = wait_no_active_run(server, poll=0.2)
            if watch:
                seconds = time.monotonic() - t0
                cpu_share.append((server.cpu_seconds() - cpu0) / seconds)
                browser_share.append((server.browser_cpu_seconds() - bcpu0) / seconds)
            run = next(r for r in runs if str(r[0]) == run_id or r[1] == name)
            (watched if watch else unwatched).append(float(run[3] or 0))
    ratio = [w / u for w, u in zip(watched, unwatched) if u]
    return {
        f"Training time, watched (s; {len(watched)} runs, {' '.join(WATCH_ARGS)})": watched,
        "Training time, unwatched (s)": unwatched,
        "Watched / unwatched ratio": ratio,
        "Server CPU while watching (share of one core)": cpu_share,
        "Browser (Chromium) CPU while watching (share of one core)": browser_share,
    }


def train_from_page(page, url: str) -> None:
    """Build & Train with ``WATCH_ARGS``'s run (tinyvgg, 40,000 images, its epochs, seed 0; the page's
    other defaults), Train pressed; returns right after the click."""
    page.goto(url + "/build_train")
    settle(page)
    widget(page, "bt_preset").click()
    page.get_by_role("option").filter(has_text=re.compile(r"^\s*tinyvgg")).first.click()
    wait_idle(page)
    page.get_by_role("button", name="Load preset into the editor").click()
    wait_idle(page)
    epochs = WATCH_ARGS[WATCH_ARGS.index("--epochs") + 1]
    for key, value in (("bt_hp_subset", 40000), ("bt_hp_epochs", epochs), ("bt_hp_seed", 0)):
        set_number(page, key, value)
    widget(page, "bt_train").locator("button").click()


def row_watch_train(ctx) -> dict:
    """A run started with the Train button, as a user starts one: watched (the page stays on Build &
    Train, which shows it live) or not (the page leaves for about:blank right after the click),
    alternating, ``train_repeats`` pairs. Both pay the click's page rerun; only the watched one keeps
    the live view. CPU shares from when the run is in the store (and the page has left, unwatched)
    to the run's end."""
    server, page = ctx["server"], ctx["page"]
    watched, unwatched, cpu_share, browser_share = [], [], [], []
    for i in range(ctx["train_repeats"]):
        for watch in (True, False) if i % 2 == 0 else (False, True):
            before = {r[0] for r in active_runs(server)}
            train_from_page(page, ctx["url"])
            deadline = time.monotonic() + 60
            while not {r[0] for r in active_runs(server)} - before:
                if time.monotonic() > deadline:
                    raise TimeoutError("the Train click queued no run")
                time.sleep(0.05)
            if not watch:
                page.goto("about:blank")
            cpu0, bcpu0, t0 = server.cpu_seconds(), server.browser_cpu_seconds(), time.monotonic()
            runs = wait_no_active_run(server, poll=0.2)
            seconds = time.monotonic() - t0
            if watch:
                cpu_share.append((server.cpu_seconds() - cpu0) / seconds)
                browser_share.append((server.browser_cpu_seconds() - bcpu0) / seconds)
            run = max(r for r in runs if r[0] not in before)
            (watched if watch else unwatched).append(float(run[3] or 0))
    ratio = [w / u for w, u in zip(watched, unwatched) if u]
    epochs = WATCH_ARGS[WATCH_ARGS.index("--epochs") + 1]
    return {
        f"Train button: training time, watched (s; {len(watched)} runs, tinyvgg 40000 images {epochs} epochs)": watched,
        "Train button: training time, unwatched (s)": unwatched,
        "Train button: watched / unwatched ratio": ratio,
        "Train button: server CPU while watching (share of one core)": cpu_share,
        "Train button: Chromium CPU while watching (share of one core)": browser_share,
    }
