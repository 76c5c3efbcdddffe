"""``python -m fmnist_core app --port P``, the one way to start the lab on any OS (``make app`` calls it):
it checks the data, starts Streamlit on 127.0.0.1, and the Home page opens in Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, SERVER_START_TIMEOUT, _free_port, _healthy, _stop

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_command(tmp_path_factory):
    """The command's server, with its log (what the command printed, then Streamlit's)."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "app-command.log"
    port = _free_port()
    # As the suite's other servers: headless (no browser of its own) and no file watcher (.venv overflowed
    # inotify); Streamlit reads both from the environment, so the command's own flags stay as they are.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FMNIST_HOME": str(tmp_path_factory.mktemp("app_home")),
        "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fmnist_core", "app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(
                f"`python -m fmnist_core app` did not serve {url} (exit code {proc.poll()}):\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.3)
    yield url, log_path
    _stop(proc)


def test_the_app_command_serves_home_on_loopback(app_command, page, wait_idle):
    url, log_path = app_command
    printed = log_path.read_text(errors="replace")
    assert "Fashion-MNIST: " in printed and f"Starting the app at http://localhost:{url.rsplit(':', 1)[1]}" in printed
    page.goto(url)
    page.get_by_role("heading", name="Fashion-MNIST Lab", exact=True).wait_for(timeout=120_000)
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Sign in to Fashion-MNIST Lab" not in page.content()  # loopback: nobody to sign in
