"""A safe default server: loopback only, no tracebacks to browsers, sign-in when served, owners, plain text."""

import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from fmnist_core import cli
from fmnist_core.data import imaging
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.runs.store import RunStore
from ui.app.text import plain

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def test_config_is_safe_by_default():
    assert CONFIG["server"]["address"] == "127.0.0.1"
    assert CONFIG["client"]["showErrorDetails"] == "none"
    assert CONFIG["server"]["maxUploadSize"] == imaging.MAX_UPLOAD_MB
    # make app runs the cross-platform command, which passes --host on as Streamlit's --server.address
    # (tests/test_app_command.py checks that command line)
    out = subprocess.run(["make", "-n", "app"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "-m fmnist_core app --host 127.0.0.1" in out
    out = subprocess.run(["make", "-n", "app", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "-m fmnist_core app --host 0.0.0.0" in out


def _listening(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:  # 0A = LISTEN
                found.add(addr)
    return found


@pytest.mark.slow
def test_the_server_listens_on_loopback_only(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FMNIST_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
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
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
                time.sleep(0.3)
        # 0100007F is 127.0.0.1 in /proc's byte order; 00000000 would be every interface.
        assert _listening(port) == {"0100007F"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_add_user_stores_only_a_bcrypt_hash(tmp_path, monkeypatch, capsys):
    path = tmp_path / "auth.yaml"
    monkeypatch.setenv("FMNIST_AUTH_FILE", str(path))
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("correct horse battery\n"))
    assert cli.main(["add-user", "ann", "--name", "Ann", "--password-stdin"]) == 0
    text = path.read_text()
    assert "correct horse" not in text and oct(path.stat().st_mode & 0o777) == "0o600"
    user = yaml.safe_load(text)["credentials"]["usernames"]["ann"]
    assert bcrypt.checkpw(b"correct horse battery", user["password"].encode()) and user["name"] == "Ann"
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("short\n"))
    assert cli.main(["add-user", "bob", "--password-stdin"]) == 2
    assert "at least 8" in capsys.readouterr().err


def test_served_app_without_accounts_refuses_to_open(fmnist_home, tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_SERVED", "1")
    monkeypatch.setenv("FMNIST_AUTH_FILE", str(tmp_path / "none.yaml"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("add-user" in e.value for e in at.error)
    assert not at.title  # no page ran


def test_served_app_asks_to_sign_in(fmnist_home, tmp_path, monkeypatch):
    from fmnist_core.runs.accounts import add_user

    monkeypatch.setenv("FMNIST_SERVED", "1")
    monkeypatch.setenv("FMNIST_AUTH_FILE", str(add_user("ann", "correct horse battery", path=tmp_path / "a.yaml")))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.title


def test_others_runs_are_visible_as_plain_text_and_not_deletable(fmnist_home):
    """Compare runs as someone who did not start the run: it is visible, its name is not Markdown, no delete."""
    store = RunStore()
    evil = "![x](http://attacker.example/pixel.png) **bold** :red[alarm]"
    rid = store.create_run(evil, get_task("multiclass"), normalize_spec("linear"), {}, owner="user:someone-else")
    store.request_stop(rid, owner="user:someone-else")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.switch_page("pages/compare_runs.py")
    at.session_state["cr_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    texts = [m.value for m in list(at.markdown) + list(at.caption)]
    assert any(plain(evil) in t for t in texts), texts
    assert not any("![x](http" in t for t in texts)
    # Offered, but refused by the store, and said so (tests/test_compare_admin.py clicks through it).
    with pytest.raises(PermissionError):
        store.delete_run(rid, owner="local:intruder")


def test_no_full_garbage_collection_after_every_script_run():
    # runner.postScriptGC: a gc.collect(2) after each run and fragment rerun, 40% of the server's CPU
    # while watching a run (BENCHMARKS.md, "watch" row).
    assert CONFIG["runner"]["postScriptGC"] is False
