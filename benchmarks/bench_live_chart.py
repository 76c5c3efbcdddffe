"""What the live view's drawing costs the browser: two checkouts of the app side by side.

For each checkout (``--tree``, alternating, ``--rounds`` times), a fresh ``streamlit run
streamlit_app.py`` serves Build & Train on a run that this script feeds itself: a run held by this
process, given ``--preload`` batch points, then 4 new points a second and an epoch every 50, as a
training worker writes them (no TensorFlow: the machine's CPU goes to the page, not to training).
Chromium watches the run through the live route; after the view settles, for ``--seconds``:

* Chromium CPU: user + system seconds of this script's own Chromium processes (renderer, GPU,
  browser), per second of the window: the figure ``bench_interactive.py --rows watch`` reports,
  without other Chromiums on a shared machine;
* the page's main-thread task time (DevTools ``Performance.getMetrics``: TaskDuration,
  ScriptDuration), per second: what the page itself does, whatever else runs;
* the server's CPU per second;
* "open": Chromium's CPU seconds from opening the page to the start of the window (its render,
  the chart library's load, the first draws): a one-off cost per page view.

    nice -n 5 .venv/bin/python benchmarks/bench_live_chart.py --tree /tmp/old --tree . [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_app_start import free_port, healthy  # the script's own folder is on sys.path
from interactive_browser import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, _stat_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SPEC = [{"type": "Flatten"}]
BPE, EPOCHS = 50, 20


def my_chromium_cpu() -> float:
    """CPU seconds so far of the Chromium processes descended from this script."""
    parent, stat = {}, {}
    for p in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = p.read_text()
        except OSError:
            continue
        pid = int(p.parent.name)
        parent[pid] = int(text.rsplit(")", 1)[1].split()[1])
        stat[pid] = text
    total, me = 0.0, os.getpid()
    for pid, text in stat.items():
        if "chrom" not in text[text.find("(") + 1 : text.rfind(")")].lower():
            continue
        up = parent.get(pid)
        while up and up != me:
            up = parent.get(up)
        if up == me:
            total += _stat_cpu_seconds(text)
    return total


def point(step: int) -> dict:
    return {
        "step": step,
        "epoch": (step - 1) // BPE + 1,
        "batch": (step - 1) % BPE + 1,
        "batches_per_epoch": BPE,
        "loss": 2.0 / (1 + step / 100) + 0.05 * ((step * 7919) % 13) / 13,
        "accuracy": min(0.95, 0.3 + step / 2000),
        "lr": 1e-3,
        "elapsed": 0.25 * step,
    }


def feeder(store, rid: int, start: int, stop: threading.Event) -> None:
    """4 points a second and an epoch every BPE points, as a training worker writes them."""
    step = start
    while not stop.wait(0.25):
        step += 1
        store.add_batch(rid, point(step))
        if step % BPE == 0:
            store.add_epoch(
                rid,
                {
                    "epoch": step // BPE,
                    "loss": point(step)["loss"],
                    "accuracy": 0.5,
                    "val_loss": point(step)["loss"] * 1.1,
                    "val_accuracy": 0.48,
                    "seconds": 12.5,
                },
            )


def measure(tree: Path, browser, seconds: float, preload: int, shots: str | None = None) -> dict:
    from fmnist_core.runs.store import RunStore

    with tempfile.TemporaryDirectory(prefix="bench_chart_") as home:
        store = RunStore(Path(home) / "runs.sqlite")
        rid = store.create_run("watched", "multiclass", SPEC, {"epochs": EPOCHS}, claim_pid=os.getpid())
        for s in range(1, preload + 1):
            store.add_batch(rid, point(s))
            if s % BPE == 0:
                store.add_epoch(
                    rid,
                    {
                        "epoch": s // BPE,
                        "loss": 1.0,
                        "accuracy": 0.5,
                        "val_loss": 1.1,
                        "val_accuracy": 0.48,
                        "seconds": 12.5,
                    },
                )
        port = free_port()
        env = {**os.environ, "FMNIST_HOME": home, "FMNIST_PREWARM_S": "0", "PYTHONPATH": str(tree)}
        server = subprocess.Popen(
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
                str(port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stop = threading.Event()
        thread = threading.Thread(target=feeder, args=(store, rid, preload, stop), daemon=True)
        try:
            url = f"http://127.0.0.1:{port}"
            while not healthy(url):
                time.sleep(0.3)
            thread.start()
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function(IDLE_JS, timeout=120_000)
            open0 = my_chromium_cpu()
            page.goto(f"{url}/build_train?run={rid}")
            page.get_by_text("batch points ·").first.wait_for(timeout=120_000)
            page.locator('[class*="st-key-live_feed_"]').first.scroll_into_view_if_needed()
            page.wait_for_timeout(8000)  # the page's render, the chart library's load and first draw
            cdp = ctx.new_cdp_session(page)
            cdp.send("Performance.enable")

            def metrics():
                return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

            m0, b0, s0 = metrics(), my_chromium_cpu(), _stat_cpu_seconds(Path(f"/proc/{server.pid}/stat").read_text())
            t0 = time.monotonic()
            page.wait_for_timeout(seconds * 1000)
            dt = time.monotonic() - t0
            m1, b1 = metrics(), my_chromium_cpu()
            s1 = _stat_cpu_seconds(Path(f"/proc/{server.pid}/stat").read_text())
            caption = page.get_by_text("batch points ·").first.inner_text()
            if shots:
                page.screenshot(path=f"{shots}/live_{tree.name or 'tree'}.png", full_page=True)
            ctx.close()
            return {
                "open": b0 - open0,
                "chromium": (b1 - b0) / dt,
                "task": (m1["TaskDuration"] - m0["TaskDuration"]) / dt,
                "script": (m1["ScriptDuration"] - m0["ScriptDuration"]) / dt,
                "server": (s1 - s0) / dt,
                "caption": caption,
            }
        finally:
            stop.set()
            thread.join(timeout=5)
            store.finish(rid, "stopped", "benchmark over")
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, help="a checkout of the app (give two or more)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--preload", type=int, default=400, help="batch points already stored when the page opens")
    ap.add_argument("--shots", default=None, help="a folder for a screenshot of each checkout's page")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  load {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, list[dict]] = {t: [] for t in args.tree}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for r in range(args.rounds):
            for tree in args.tree if r % 2 == 0 else reversed(args.tree):
                res = measure(Path(tree).resolve(), browser, args.seconds, args.preload, args.shots)
                results[tree].append(res)
                print(
                    f"round {r + 1} {tree}: open {res['open']:.2f} CPU-s; chromium {res['chromium']:.3f}  main thread {res['task']:.3f} "
                    f"(script {res['script']:.3f})  server {res['server']:.3f}  [{res['caption']}]  "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        browser.close()
    print("\n# medians, share of one core")
    for tree, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("open", "chromium", "task", "script", "server")}
        print(
            f"{tree}: open {med['open']:.2f} CPU-s; chromium {med['chromium']:.3f}  main thread {med['task']:.3f} (script {med['script']:.3f})"
            f"  server {med['server']:.3f}  n {len(rows)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
