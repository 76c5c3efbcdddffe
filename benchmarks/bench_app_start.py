"""Cold-start time of every page of the app, each the first page of a fresh server, in a real browser.

For each trial and each page: start a fresh `streamlit run` server (new process: nothing
imported, nothing cached), wait for /_stcore/health, open the page's URL in Debian's
Chromium and wait until the script has finished and the page's content is on screen
(Home: the models table; Dataset: the 24 images of the grid; the other pages: their title, with
the script finished). Afterwards the server process's memory map is checked for TensorFlow's shared
libraries (Home and Dataset must not load it).

Run: .venv/bin/python benchmarks/bench_app_start.py [--trials 3] [--pages home,few_shot]
     [--profile native|laptop-nobf16|laptop-avx2]
Prints one line per trial and the medians; copy them into BENCHMARKS.md with the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DONE_JS = """([sel, n]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const found = [...document.querySelectorAll(sel)];
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning' && found.length >= n
         && found.every(e => e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0));
}"""
TITLE = ('[data-testid="stMainBlockContainer"] h1', 1)
PAGES = {  # url path -> (CSS selector of the content that must be there, how many)
    "": ('[data-testid="stDataFrame"], [data-testid="stAlert"]', 2),
    "dataset": (".fmnist-gallery img", 24),  # the grid's images are there and decoded
    "build_train": TITLE,
    "lr_finder": TITLE,
    "evaluate": TITLE,
    "compare_runs": TITLE,
    "classify": TITLE,
    "binary_study": TITLE,
    "few_shot": TITLE,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def tensorflow_loaded(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "tensorflow" in maps


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used: unlike wall time, not inflated by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_trial(browser, path: str, home: str) -> dict:
    port = free_port()
    url = f"http://localhost:{port}"
    env = {**os.environ, "FMNIST_HOME": home, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
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
    try:
        while not healthy(url):
            if proc.poll() is not None:
                raise RuntimeError("streamlit exited")
            time.sleep(0.05)
        t_health = time.perf_counter()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        t_request = time.perf_counter()
        page.goto(f"{url}/{path}")
        selector, count = PAGES[path]
        page.wait_for_function(DONE_JS, arg=[selector, count], timeout=120_000, polling=50)
        t_done = time.perf_counter()
        context.close()
        return {
            "page": path or "home",
            "server_start_s": t_health - t0,
            "page_render_s": t_done - t_request,
            "total_s": t_done - t0,
            "server_cpu_s": cpu_seconds(proc.pid),
            "tensorflow_loaded": tensorflow_loaded(proc.pid),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def main():
    import profiles  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument(
        "--pages", default="home,dataset", help="comma-separated, from: home, " + ", ".join(list(PAGES)[1:])
    )
    profiles.add_argument(ap)
    args = ap.parse_args()
    profiles.apply(args.profile)
    paths = ["" if p.strip() == "home" else p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PAGES]
    if unknown:
        ap.error(f"unknown pages {unknown}")
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}  {platform.machine()}  cores={os.cpu_count()}  profile {args.profile}  "
        f"load average at start {load[0]:.1f}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as home, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for trial in range(args.trials):
            for path in paths:
                r = one_trial(browser, path, home)
                rows.append(r)
                print(
                    f"trial {trial + 1} {r['page']:8s} server start {r['server_start_s']:.2f} s, "
                    f"page render {r['page_render_s']:.2f} s, total {r['total_s']:.2f} s, "
                    f"server CPU {r['server_cpu_s']:.2f} s, TensorFlow loaded: {r['tensorflow_loaded']}"
                )
        browser.close()
    for page in [p or "home" for p in paths]:
        sel = [r for r in rows if r["page"] == page]
        print(
            f"median {page:8s} server start {statistics.median(r['server_start_s'] for r in sel):.2f} s, "
            f"page render {statistics.median(r['page_render_s'] for r in sel):.2f} s, "
            f"total {statistics.median(r['total_s'] for r in sel):.2f} s, "
            f"server CPU {statistics.median(r['server_cpu_s'] for r in sel):.2f} s, "
            f"TensorFlow loaded in any trial: {any(r['tensorflow_loaded'] for r in sel)}"
        )
    print(f"# load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
