"""Interactive speed of the app in a real browser: every row of the interactive-speed issue's table.

Starts one `streamlit run` server on a free loopback port with an empty $FMNIST_HOME (the
shipped models stay visible), drives Debian's Chromium through Playwright and times what a
user waits for. Selectors use visible text, labels, widget keys (Streamlit's ``st-key-<key>``
classes) and data-testid, so the script keeps working while the pages change; a row whose
page no longer has what it looks for is reported as an error, and the other rows still run.

Rows (``--rows`` takes a comma-separated subset; default: all):
  classify        stroke on the canvas -> the new prediction's caption shows   (median and p90)
  classify_first  open Classify in a new tab, first stroke -> prediction
  fewshot         first open / switch task / k-shot curve (until the page is idle again)
  binary          Binary vs 10-class, first open
  evaluate        first open / switch split
  lrfinder        LR Finder on fmnist_net (or --lr-preset): click -> the page is idle with a result
  dataset         switch split / class statistics tab
  train_first     Build & Train: Train click -> the first batch point is drawn
  stop            Stop training click -> the run is shown as stopped
  watch           one training run watched on Build & Train vs one nobody watches, side by side
                  in this run (alternating), and the server's CPU while watching; the watched run
                  is opened in a fresh page once it has been submitted (someone else's run)
  watch_train     the same, for a run started with Build & Train's Train button: the page stays on
                  it (watched) or goes to about:blank right after the click (unwatched)

"First open" is a new browser context on the same server: the first repeat is the cold one
(nothing cached in the server yet) and is printed apart from the median of the rest.
Training rows use fewer repeats (--train-repeats, default 2) and small runs; they say so.

Run: nice -n 5 .venv/bin/python benchmarks/bench_interactive.py [--rows classify,classify_first]
     [--repeats 5] [--train-repeats 2] [--watch-epochs 2]
Prints one line per measurement and a table of medians; copy it into BENCHMARKS.md with
the date, the machine and `uptime`.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import profiles  # noqa: E402 - benchmarks/profiles.py; the script's own folder is on sys.path
from bench_app_start import free_port, healthy  # noqa: E402 - the script's own folder is on sys.path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RUNNING_JS = (
    """() => document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state') === 'running'"""
)
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') !== 'running'
         && app.getAttribute('data-test-connection-state') === 'CONNECTED'
         && !document.querySelector('[data-testid="stSpinner"]');
}"""
TRAIN_ARGS = ["--preset", "tinyvgg", "--subset", "6000", "--epochs", "2", "--seed", "0"]
ALL_ROWS = [
    "classify",
    "classify_first",
    "fewshot",
    "binary",
    "evaluate",
    "lrfinder",
    "dataset",
    "train_first",
    "stop",
    "watch",
    "watch_train",
]


# ---------------------------------------------------------------- server and browser


def _stat_cpu_seconds(stat: str) -> float:
    """User + system CPU seconds from a /proc/<pid>/stat line (fields after the command's ")")."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """`streamlit run streamlit_app.py` on 127.0.0.1:<free port>, in its own process group."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FMNIST_HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.log = open(home / "server.log", "wb")
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "streamlit",
                "run",
                "streamlit_app.py",
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(self.port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not healthy(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"streamlit did not start; see {home / 'server.log'}")
            time.sleep(0.3)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far."""
        return _stat_cpu_seconds(Path(f"/proc/{self.proc.pid}/stat").read_text())

    @staticmethod
    def browser_cpu_seconds() -> float:
        """User + system CPU seconds so far of every Chromium process on the machine (renderer, GPU
        and browser processes: what drawing the page costs, which the server's figure leaves out)."""
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # exited meanwhile
            if "chrom" in text[text.find("(") + 1 : text.rfind(")")].lower():
                total += _stat_cpu_seconds(text)
        return total

    def cli(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            [PYTHON, "-m", "fmnist_core", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"fmnist_core {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()


def wait_idle(page, timeout: float = 300, start_within: float = 1.5) -> None:
    """Wait for the rerun an action just triggered to begin (briefly) and then to finish."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(RUNNING_JS, timeout=start_within * 1000, polling=20)
    except PlaywrightTimeout:
        pass
    page.wait_for_function(IDLE_JS, timeout=timeout * 1000, polling=20)


def settle(page, timeout: float = 300, quiet: float = 0.5) -> float:
    """After a navigation: wait until the page is idle and stays idle for ``quiet`` seconds (a fresh
    page is 'not running' for a moment before its first run starts), with its title shown.
    Returns the perf_counter time at which that last idle began."""
    deadline = time.monotonic() + timeout
    page.locator("h1").first.wait_for(timeout=timeout * 1000)
    while time.monotonic() < deadline:
        page.wait_for_function(IDLE_JS, timeout=timeout * 1000, polling=20)
        idle_at = time.perf_counter()
        time.sleep(quiet)
        if page.evaluate(IDLE_JS):
            return idle_at
    raise TimeoutError("the page did not settle")


def timed(action, until) -> float:
    t0 = time.perf_counter()
    action()
    until()
    return time.perf_counter() - t0


def new_page(browser, url: str | None = None):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(300_000)
    if url:
        page.goto(url)
    return ctx, page


def open_timed(browser, url: str, ready=None) -> float:
    """Seconds from navigation to an idle page (and ``ready(page)`` when given) in a new context."""
    ctx, page = new_page(browser)
    try:
        t0 = time.perf_counter()
        page.goto(url)
        idle_at = settle(page, quiet=0.3)
        if ready:
            ready(page)
        return idle_at - t0
    finally:
        ctx.close()


def widget(page, key: str):
    """The element container Streamlit gives a widget with ``key`` (class ``st-key-<key>``)."""
    return page.locator(f".st-key-{key}")


def option(page, key: str, text: str):
    """A choice in a radio / segmented control / button group, by widget key and visible text
    (waits until the widget has really been drawn: a skeleton stands in for it while loading)."""
    exact = re.compile(rf"^\s*{re.escape(text)}\s*$", re.I)
    choice = widget(page, key).locator("button, label").filter(has_text=exact).first
    choice.wait_for()
    return choice


# ---------------------------------------------------------------- rows


def row_classify(ctx) -> dict:
    page = ctx["page"]
    page.goto(ctx["url"] + "/classify")
    settle(page)
    stroke = canvas_stroker(page)
    out, cpu = [], []
    for i in range(ctx["repeats"] + 1):  # the first stroke is row classify_first's business: dropped here
        y = 40 + (i * 23) % 200
        cpu0 = ctx["server"].cpu_seconds()
        t = stroke([(60, y), (220, y + 15)], expect_strokes=i + 1)
        if i:
            out.append(t)
            cpu.append(ctx["server"].cpu_seconds() - cpu0)
    # Server CPU seconds per stroke (prediction, steps and saliency map): what load on the machine does
    # not inflate, unlike the wall-clock rows.
    return {"Classify: stroke -> new prediction": out, "Classify: server CPU per stroke (s, until idle)": cpu}


def canvas_stroker(page):
    canvas = page.locator(".fmnist-sketch canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()

    def stroke(points, expect_strokes: int) -> float:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        t0 = time.perf_counter()
        page.mouse.up()
        # The prediction's caption says how many strokes it answers ("Prediction after 3 strokes ...").
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                                  .some(e => e.innerText.includes('after ' + n + ' strokes'))""",
            arg=expect_strokes,
            polling="raf",
            timeout=120_000,
        )
        dt = time.perf_counter() - t0
        wait_idle(page)  # let the saliency map finish before the next stroke
        return dt

    return stroke


def row_classify_first(ctx) -> dict:
    out = []
    for _ in range(ctx["repeats"]):
        bctx, page = new_page(ctx["browser"], ctx["url"] + "/classify")
        try:
            settle(page)
            out.append(canvas_stroker(page)([(80, 60), (200, 220)], expect_strokes=1))
        finally:
            bctx.close()
    return {"Classify: first stroke after opening": out}


FEWSHOT_READY_JS = """() => document.body.innerText.includes('Five ways to learn')
    && !!document.querySelector('.st-key-fs_bars, [data-testid="stProgress"]')"""


def fewshot_ready(page) -> None:
    """The page is useful: the task, its images and the methods are drawn, and the comparison is
    either shown or running in the background with its progress bar (which polls every second, so
    the page never stays idle long enough for ``settle`` while a job runs)."""
    page.wait_for_function(FEWSHOT_READY_JS, timeout=300_000, polling=50)


def row_fewshot(ctx) -> dict:
    url = ctx["url"] + "/few_shot"
    first = []
    for _ in range(ctx["repeats"]):
        bctx, fresh = new_page(ctx["browser"])
        try:
            first.append(timed(lambda: fresh.goto(url), lambda: fewshot_ready(fresh)))
        finally:
            bctx.close()
    page = ctx["page"]
    page.goto(url)
    fewshot_ready(page)
    tasks = ["Flats vs heels: 216 validation boots", "Shoe types", "Flats vs heels"]
    switch = [
        timed(
            lambda: option(page, "fs_task", tasks[i % len(tasks)]).click(),
            lambda: (wait_idle(page), fewshot_ready(page)),
        )
        for i in range(ctx["repeats"])
    ]
    # The k-shot curve runs in the background. Timed: the click until its progress bar shows; while it
    # runs, a switch to another task until that task's page is ready (the page is not blocked); and
    # the click until the finished curve is drawn (after switching back).
    option(page, "fs_task", "Shoe types").click()
    wait_idle(page)
    fewshot_ready(page)
    go = widget(page, "fs_curve_go").locator("button")
    go.wait_for()  # the button shows once this task's comparison (a background job) is in
    t0 = time.perf_counter()
    go.click()
    page.locator('[data-testid="stProgress"]').filter(has_text="k-shot curve").first.wait_for()
    progress = time.perf_counter() - t0
    during = timed(
        lambda: option(page, "fs_task", "Flats vs heels").click(),
        lambda: page.wait_for_function(
            """() => document.body.innerText.includes('no curve')""", timeout=300_000, polling=50
        ),
    )
    option(page, "fs_task", "Shoe types").click()
    widget(page, "fs_curve").wait_for(timeout=900_000)
    done = time.perf_counter() - t0
    return {
        "Few-shot: first open": first,
        "Few-shot: switch task": switch,
        "Few-shot: k-shot curve click -> progress shown (1 repeat)": [progress],
        "Few-shot: switch task while the curve computes (1 repeat)": [during],
        "Few-shot: k-shot curve click -> curve drawn (1 repeat, background)": [done],
    }


def row_binary(ctx) -> dict:
    return {
        "Binary vs 10-class: first open": [
            open_timed(ctx["browser"], ctx["url"] + "/binary_study") for _ in range(ctx["repeats"])
        ]
    }


def row_evaluate(ctx) -> dict:
    url = ctx["url"] + "/evaluate"
    first = [
        open_timed(ctx["browser"], url, ready=lambda p: p.locator('[data-testid="stMetric"]').first.wait_for())
        for _ in range(ctx["repeats"])
    ]
    page = ctx["page"]
    page.goto(url)
    settle(page)
    switch = []
    for i in range(ctx["repeats"]):
        split = "validation" if i % 2 == 0 else "test"
        switch.append(timed(lambda: option(page, "eval_split", split).click(), lambda: wait_idle(page)))
    return {"Evaluate: first open": first, "Evaluate: switch split": switch}


SWEEP_CAPTION = re.compile(r"\d+ batches in ([\d.]+) s")  # the LR Finder page's "93 batches in 14.0 s"


def row_lrfinder(ctx) -> dict:
    page = ctx["page"]
    out, sweep = [], []
    for _ in range(max(1, ctx["train_repeats"])):
        page.goto(ctx["url"] + "/lr_finder")
        settle(page)
        box = widget(page, "lrf_model")
        box.click()
        page.get_by_role("option").filter(has_text=ctx["lr_preset"]).first.click()
        wait_idle(page)
        run = widget(page, "lrf_run").locator("button")
        out.append(
            timed(
                run.click,
                lambda: (wait_idle(page, timeout=600), page.get_by_text(re.compile("valley", re.I)).first.wait_for()),
            )
        )
        # The page's caption gives the sweep's own time inside the server: the rest is the page's.
        caption = page.get_by_text(SWEEP_CAPTION).first.inner_text()
        sweep.append(float(SWEEP_CAPTION.search(caption).group(1)))
    return {
        f"LR Finder on {ctx['lr_preset']} ({len(out)} repeats)": out,
        "LR Finder: the sweep itself (lr_find's seconds)": sweep,
    }


def row_dataset(ctx) -> dict:
    page = ctx["page"]
    page.goto(ctx["url"] + "/dataset")
    settle(page)
    split, stats = [], []
    for i in range(ctx["repeats"]):
        target = "train" if i % 2 == 0 else "test"
        split.append(timed(lambda: option(page, "ds_split", target).click(), lambda: wait_idle(page)))
    for _ in range(ctx["repeats"]):
        page.get_by_role("tab", name=re.compile("Browse")).click()
        wait_idle(page)
        tab = page.get_by_role("tab", name=re.compile("Class statistics"))
        stats.append(
            timed(
                tab.click,
                lambda: (
                    wait_idle(page),
                    page.locator('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]').first.wait_for(),
                ),
            )
        )
    return {"Dataset: switch split": split, "Dataset: class statistics tab": stats}


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


ROWS = {name: globals()[f"row_{name}"] for name in ALL_ROWS}


# ---------------------------------------------------------------- main


def summary(values: list[float]) -> str:
    if not values:
        return "no value"
    v = sorted(values)
    med = statistics.median(v)
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    return f"median {med:8.3f}   p90 {p90:8.3f}   min {v[0]:8.3f}   max {v[-1]:8.3f}   n {len(v)}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(ALL_ROWS), help=f"comma-separated subset of {', '.join(ALL_ROWS)}")
    ap.add_argument("--repeats", type=int, default=5, help="repeats per interactive row (>= 5 for the record)")
    ap.add_argument("--train-repeats", type=int, default=2, help="repeats for the training rows")
    ap.add_argument("--watch-epochs", type=int, default=2, help="epochs of the watch rows' runs")
    ap.add_argument(
        "--home", default=None, help="the server's FMNIST_HOME (kept, with worker logs); default a temp dir"
    )
    ap.add_argument(
        "--lr-preset", default="fmnist_net", help="the preset of the lrfinder row (the default preset: quick)"
    )
    profiles.add_argument(ap)
    args = ap.parse_args(argv)
    profiles.apply(args.profile)  # inherited by the server and its workers (Server copies os.environ)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {', '.join(ALL_ROWS)}")
    from playwright.sync_api import sync_playwright

    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.node()}  {os.cpu_count()} CPUs  "
        f"profile {args.profile}  "
        f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    results: dict[str, list[float] | str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_home_") as tmp_home:
        home = Path(args.home) if args.home else Path(tmp_home)
        home.mkdir(parents=True, exist_ok=True)
        server = Server(home)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                bctx, page = new_page(browser)
                page.goto(server.url)
                settle(page)
                WATCH_ARGS[WATCH_ARGS.index("--epochs") + 1] = str(args.watch_epochs)
                ctx = {
                    "url": server.url,
                    "browser": browser,
                    "page": page,
                    "server": server,
                    "repeats": args.repeats,
                    "train_repeats": args.train_repeats,
                    "lr_preset": args.lr_preset,
                }
                for row in rows:
                    t0 = time.monotonic()
                    try:
                        for label, values in ROWS[row](ctx).items():
                            results[label] = values
                            print(f"{label:<60} {' '.join(f'{v:.3f}' for v in values)}", flush=True)
                    except Exception as exc:  # noqa: BLE001 - one page's change must not stop the other rows
                        results[f"{row} (error)"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                        print(f"{row}: ERROR {results[f'{row} (error)']}", flush=True)
                        bctx.close()
                        bctx, page = new_page(browser)
                        ctx["page"] = page
                    print(f"  ({row}: {time.monotonic() - t0:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True)
                bctx.close()
                browser.close()
        finally:
            server.stop()
    print(f"\n# seconds (ratios and CPU shares as numbers); load at the end {os.getloadavg()[0]:.2f}")
    for label, values in results.items():
        print(f"{label:<60} {values if isinstance(values, str) else summary(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
