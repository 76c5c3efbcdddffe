"""No command waits forever on its store: a SQLite store another process holds locked, and a
PostgreSQL URL at a socket that never answers, each end in one line (exit 1) within the bounded
timeout ($FMNIST_DB_TIMEOUT_S, set small here)."""

import os
import socket
import subprocess
import sys

import pytest

from fmnist_core.modeling.saving import REPO_ROOT
from fmnist_core.runs.store import RunStore

HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS held_by_test (x)")
print("held", flush=True)
sys.stdin.read()   # hold the lock until the test closes our stdin
"""


def _runs(env):
    return subprocess.run(
        [sys.executable, "-m", "fmnist_core", "runs"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FMNIST_DB_TIMEOUT_S": "2", **env},
    )


def _one_error(out) -> str:
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), out.stderr[-3000:]
    return lines[0]


def test_a_sqlite_store_locked_by_another_process_is_one_line(fmnist_home):
    store = RunStore()
    store.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        line = _one_error(_runs({"FMNIST_HOME": str(fmnist_home)}))
        assert str(store.path) in line and "locked" in line and "another process" in line
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_postgresql_store_that_never_answers_is_one_line(fmnist_home):
    with socket.socket() as server:  # accepts connections in the kernel's backlog, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        line = _one_error(
            _runs({"FMNIST_HOME": str(fmnist_home), "FMNIST_STORE_URL": f"postgresql://lab@127.0.0.1:{port}/runs"})
        )
    assert f"127.0.0.1:{port}" in line and "FMNIST_STORE_URL" in line


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "100000"])
def test_a_bad_db_timeout_is_refused_in_one_line(fmnist_home, bad):
    out = _runs({"FMNIST_HOME": str(fmnist_home), "FMNIST_DB_TIMEOUT_S": bad})
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "FMNIST_DB_TIMEOUT_S" in lines[0], out.stderr[-2000:]
