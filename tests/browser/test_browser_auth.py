"""Served mode in a real browser: the sign-in form, a wrong password, a right one, signing out.

The server is started here with FMNIST_SERVED=1 (served mode while still bound to 127.0.0.1, so the
test never opens a port to the network) and an accounts file made by ``add-user``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory):
    from tests.browser.conftest import _stop, start_server

    tmp = tmp_path_factory.mktemp("served")
    env = {"FMNIST_HOME": str(tmp / "home"), "FMNIST_AUTH_FILE": str(tmp / "auth.yaml"), "FMNIST_SERVED": "1"}
    subprocess.run(
        [sys.executable, "-m", "fmnist_core", "add-user", "ann", "--name", "Ann Teacher", "--password-stdin"],
        input="correct horse battery\n",
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )
    proc, url = start_server(env)
    yield url
    _stop(proc)


def _sign_in(page, wait_idle, password: str) -> None:
    page.get_by_role("textbox", name="User name").fill("ann")
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page, timeout=60)


def test_sign_in_wrong_then_right_then_out(served_app, page, wait_idle):
    page.goto(served_app)
    page.get_by_text("Sign in to Fashion-MNIST Lab").wait_for(timeout=60_000)
    # Nothing of the lab is shown before signing in.
    assert page.get_by_role("heading", name="Fashion-MNIST Lab", exact=True).count() == 0
    _sign_in(page, wait_idle, "wrong password")
    page.get_by_text("Wrong user name or password.").wait_for(timeout=30_000)
    _sign_in(page, wait_idle, "correct horse battery")
    page.get_by_text("Signed in as Ann Teacher").wait_for(timeout=60_000)
    # The sidebar's "Signed in" can show while the same rerun is still replacing the form (Streamlit
    # keeps the last run's elements until the new run reaches them), so wait for the form to go.
    expect(page.get_by_text("Sign in to Fashion-MNIST Lab")).to_have_count(0, timeout=30_000)
    assert "Traceback" not in page.content()
    page.get_by_role("button", name="Sign out").click()
    wait_idle(page, timeout=60)
    page.get_by_text("Sign in to Fashion-MNIST Lab").wait_for(timeout=30_000)
    urllib.request.urlopen(served_app + "/_stcore/health", timeout=5).close()  # still serving
