"""Watching a run must not slow it down: the live-training rows of the interactive-speed table.

One `streamlit run` server and Debian's Chromium, in one run, side by side:
  * training time of the same run unwatched (no browser page) and watched (Build & Train open
    on it, polling), interleaved so that machine load hits both alike; the ratio of medians;
  * the server's CPU while watching (user + system CPU of the server process / wall time, from
    the page showing the run until the run ended);
  * Train click until the first batch point shows in the live view (the page pre-warms a worker);
  * Stop click until the view says "Stopping…", and until the run is stopped (status stopped).

Run: .venv/bin/python benchmarks/bench_live.py [--repeats 3] [--preset tinyvgg --subset 6000 --epochs 2]
Prints one line per measurement and the medians; copy them into BENCHMARKS.md with the load.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_app_start import CHROMIUM_ARGS, ROOT, cpu_seconds, free_port, healthy  # noqa: E402

POINTS = re.compile(r"(\d+) batch points · (\d+) epochs done · status (\w+)")


def start_server(home: str):
    port = free_port()
    env = {**os.environ, "FMNIST_HOME": home, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://localhost:{port}"
    while not healthy(url):
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited")
        time.sleep(0.1)
    return proc, url


def train_once(store, hp: dict, preset: str, page=None, url: str = "", server_pid: int | None = None) -> dict:
    """Submit one run (through the store, as the CLI does), optionally watch it in the page; the run,
    with ``server_cpu`` = the server's CPU share from the page showing the run until the run ended."""
    from fmnist_core.runs import jobs

    rid = jobs.submit(preset, "multiclass", hp, store=store)
    if page is not None:
        page.goto(f"{url}/build_train?run={rid}")
        page.get_by_text(POINTS).first.wait_for(timeout=120_000)
        c0, t0 = cpu_seconds(server_pid), time.perf_counter()
    run = jobs.wait(rid, timeout=1800, store=store, poll=0.2)
    if page is not None:
        run["server_cpu"] = (cpu_seconds(server_pid) - c0) / (time.perf_counter() - t0)
    assert run["status"] == "completed", run["message"]
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-ratio", action="store_true", help="only the Train and Stop clicks")
    ap.add_argument("--preset", default="tinyvgg")
    ap.add_argument("--subset", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}  cores={os.cpu_count()}  load average at start "
        f"{os.getloadavg()[0]:.1f}  ({args.preset}, {args.subset} images, {args.epochs} epochs)"
    )
    hp = {"subset": args.subset, "epochs": args.epochs}
    with tempfile.TemporaryDirectory() as home, sync_playwright() as pw:
        os.environ["FMNIST_HOME"] = home
        from fmnist_core.runs import jobs
        from fmnist_core.runs.store import RunStore

        store = RunStore(Path(home) / "runs.sqlite")
        proc, url = start_server(home)
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        try:
            rows = {"unwatched": [], "watched": [], "cpu": []}
            train_once(store, {**hp, "epochs": 1}, args.preset)  # warm-up: caches, first worker
            for i in range(0 if args.skip_ratio else args.repeats):
                page.goto("about:blank")
                run = train_once(store, hp, args.preset)
                rows["unwatched"].append(run["train_seconds"])
                run = train_once(store, hp, args.preset, page, url, proc.pid)
                cpu = run["server_cpu"]
                rows["watched"].append(run["train_seconds"])
                rows["cpu"].append(cpu)
                print(
                    f"repeat {i + 1}: unwatched {rows['unwatched'][-1]:.1f} s, watched {run['train_seconds']:.1f} s,"
                    f" server CPU while watching {100 * cpu:.1f}% of a core  (load {os.getloadavg()[0]:.1f})"
                )
            if rows["watched"]:
                u, w = statistics.median(rows["unwatched"]), statistics.median(rows["watched"])
                print(
                    f"median: unwatched {u:.1f} s, watched {w:.1f} s, ratio {w / u:.3f}; "
                    f"server CPU {100 * statistics.median(rows['cpu']):.1f}% of a core"
                )

            page.goto("about:blank")
            clicks, stops, stopped = [], [], []
            for i in range(args.repeats):
                page.goto(f"{url}/build_train")
                page.get_by_role("heading", name="Build & Train").wait_for(timeout=60_000)
                page.get_by_role("combobox", name="Start from a preset").click(timeout=120_000)
                page.get_by_role("option", name=re.compile(r"^fmnist_net")).click(timeout=120_000)
                page.get_by_role("button", name="Load preset into the editor").click(timeout=120_000)
                page.wait_for_timeout(8000)  # the user reads the page; the pre-warmed worker gets ready
                t0 = time.perf_counter()
                page.get_by_role("button", name="Train", exact=True).click()
                # A locator, not document.body.innerText: the live view draws in its component's shadow root.
                page.get_by_text(
                    re.compile(r"\b[1-9]\d* batch points · \d+ epochs done · status running")
                ).first.wait_for(timeout=180_000)
                clicks.append(time.perf_counter() - t0)
                page.wait_for_timeout(3000)
                t0 = time.perf_counter()
                page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop training").click()
                page.get_by_text(re.compile(r"Stopping…|^Stopped:")).first.wait_for(timeout=60_000)
                stops.append(time.perf_counter() - t0)
                rid = int(re.search(r"run=(\d+)", page.url).group(1))
                run = jobs.wait(rid, timeout=120, store=store, poll=0.02)
                stopped.append(time.perf_counter() - t0)
                print(
                    f"repeat {i + 1}: Train click -> first batch point {clicks[-1]:.2f} s; Stop click -> "
                    f"'Stopping…' {stops[-1]:.2f} s -> status {run['status']} {stopped[-1]:.2f} s "
                    f"(load {os.getloadavg()[0]:.1f})"
                )
            print(
                f"median: Train -> first point {statistics.median(clicks):.2f} s; Stop -> 'Stopping…' "
                f"{statistics.median(stops):.2f} s; Stop -> stopped {statistics.median(stopped):.2f} s"
            )
        finally:
            browser.close()
            for run in store.list_runs(status=["queued", "running"], with_history=False):
                store.request_stop(run["id"])
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
            jobs.get_executor().terminate_started()
    print(f"# load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
