"""The server and browser side of benchmarks/bench_interactive.py: a `streamlit run` server on a
free loopback port, Chromium pages, and the waits every row times against."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

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
