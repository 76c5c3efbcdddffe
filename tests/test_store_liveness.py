"""The run store: dead workers are found and failed; a fenced or expired lease publishes nothing."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fmnist_core.runs import leases
from fmnist_core.runs.liveness import pid_alive
from fmnist_core.runs.store import RunStore
from store_helpers import queue_run


@pytest.fixture
def store(fmnist_home):
    return RunStore()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_worker_is_marked_failed_on_next_look(store):
    victim, bystander, done = queue_run(store), queue_run(store), queue_run(store)
    store.mark_running(done, os.getpid())
    store.finish(done, "completed", val={"accuracy": 0.9, "loss": 0.3})
    pid = _dead_pid()
    store.mark_running(victim, pid, "/tmp/worker.log")
    store.set_progress(victim, epoch=3, batch=7, batches_per_epoch=10)
    runs = {r["id"]: r for r in store.list_runs()}
    assert runs[victim]["status"] == "failed"
    assert f"worker process {pid} died" in runs[victim]["message"]
    assert "during epoch 3" in runs[victim]["message"] and "/tmp/worker.log" in runs[victim]["message"]
    assert runs[bystander]["status"] == "queued"
    assert runs[done]["status"] == "completed" and runs[done]["val_accuracy"] == 0.9


def test_killed_unreaped_child_counts_as_dead(store):
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert pid_alive(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(proc.pid)  # a zombie until reaped, yet dead
    finally:
        proc.wait()


def test_stale_heartbeat_is_dead_even_with_a_live_pid(store):
    fresh, stale = queue_run(store), queue_run(store)
    store.mark_running(fresh, os.getpid())
    store.mark_running(stale, os.getpid())
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (stale,))
    assert store.reap_dead() == [stale]
    assert store.get_status(stale) == "failed" and store.get_status(fresh) == "running"
    assert "before its first epoch ended" in store.get_run(stale)["message"]


def test_a_fenced_worker_cannot_write_after_its_lease_was_taken(store, fmnist_home):
    """Issue 11 item 4: a paused worker declared dead must not save its results or its model afterwards."""
    rid = queue_run(store)
    run = store.claim_next(os.getpid())
    lease = run["lease"]
    assert store.heartbeat(rid, lease) and store.add_epoch(rid, {"epoch": 1, "loss": 1.0}, lease=lease)
    with sqlite3.connect(store.path) as conn:  # 66 s of SIGSTOP, as far as the store can tell
        conn.execute("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (rid,))
    assert store.reap_dead() == [rid]
    assert "stopped heartbeating" in store.get_run(rid)["message"]  # the real cause: pid alive, silent
    assert not store.heartbeat(rid, lease)
    assert not store.add_epoch(rid, {"epoch": 2, "loss": 0.5}, lease=lease)
    assert not store.add_batch(rid, {"step": 9, "epoch": 2, "batch": 1}, lease=lease)
    assert store.stop_requested(rid, lease)
    published = []
    with pytest.raises(leases.LeaseLostError):
        store.finish(rid, "completed", val={"accuracy": 0.9}, lease=lease, publish=lambda: published.append(1))
    assert published == [] and store.get_status(rid) == "failed" and len(store.get_run(rid)["history"]) == 1


def test_an_expired_lease_publishes_nothing_and_records_why(store):
    rid = queue_run(store)
    lease = store.claim_next(os.getpid())["lease"]
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (rid,))
    published = []
    with pytest.raises(leases.LeaseLostError, match="expired"):
        store.finish(rid, "completed", lease=lease, publish=lambda: published.append(1))
    assert published == [] and store.get_status(rid) == "failed"
    assert "lease expired" in store.get_run(rid)["message"]
