"""Real-browser fixtures: one `streamlit run` server per test session, Debian's Chromium via Playwright.

Fixtures
--------
app_home   (session) : Path of the empty $FMNIST_HOME the server uses (user models, run store).
                       Shipped models stay visible through ``saving.model_dirs()``.
app_server (session) : base URL, e.g. ``http://localhost:53117``, of a server started with
                       ``.venv/bin/python -m streamlit run streamlit_app.py --server.headless true
                       --server.port FREE --browser.gatherUsageStats false``, healthy on /_stcore/health.
browser    (session) : a Playwright Chromium browser (/usr/bin/chromium, or $CHROMIUM).
page       (function): a fresh page (1400x1000) in its own context; closed after the test, with a
                       screenshot in test-artifacts/ when the test failed.
wait_idle  (function): ``wait_idle(page, timeout=120)`` waits for the rerun just triggered to finish
                       (the app's ``data-test-script-state`` goes ``running`` -> ``notRunning``).

Without Chromium or Playwright the tests are skipped with the reason; with ``CI=true`` they fail
instead, so CI cannot pass by silently skipping them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 90
RUNNING_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'running';
}"""
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
         && app.getAttribute('data-test-connection-state') === 'CONNECTED';
}"""


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; install Chromium with `make browser`)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="session")
def app_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser_fmnist_home")


@pytest.fixture(scope="session")
def app_server(app_home):
    ARTIFACTS.mkdir(exist_ok=True)
    proc, url = start_server({"FMNIST_HOME": str(app_home)}, log_path=ARTIFACTS / "streamlit-server.log")
    yield url
    _stop(proc)


def start_server(env: dict, log_path: Path | None = None, timeout: float = SERVER_START_TIMEOUT):
    """``streamlit run streamlit_app.py`` on a free port, with ``env`` over this process's environment;
    returns (process, base URL) once /_stcore/health answers. Stop it with ``_stop``. The test fails
    (with the log's tail, when ``log_path`` is given) if it exits or is not healthy in ``timeout`` s."""
    python = ROOT / ".venv" / "bin" / "python"
    python = str(python) if python.exists() else sys.executable
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with open(log_path or os.devnull, "wb") as log:
        proc = subprocess.Popen(
            [
                python,
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
                # No file watcher: tests do not edit the app, and watching .venv overflowed inotify.
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            pytest.fail(f"streamlit did not become healthy on {url} (exit code {proc.poll()}):\n{tail}")
        time.sleep(0.3)
    return proc, url


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started (its own process group: start_new_session=True)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a failed screenshot must not hide the test's own failure
            pass
    context.close()


def _wait_idle(pg, timeout: float = 120, start_within: float = 2.0) -> None:
    """Wait for the rerun an action just triggered to finish.

    First give the rerun up to ``start_within`` seconds to begin (an upload, for one, reaches
    the server before the rerun starts), then wait until the script is no longer running.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        pg.wait_for_function(RUNNING_JS, timeout=start_within * 1000, polling=50)
    except PlaywrightTimeout:
        pass  # it was quick and has already finished, or nothing was triggered
    pg.wait_for_function(IDLE_JS, timeout=timeout * 1000)
    time.sleep(0.3)  # let the last deltas paint


@pytest.fixture
def wait_idle():
    return _wait_idle
