"""The run store: records, worker-side writes, dead-worker detection, schema upgrades. No training here."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.modeling.training import HParams
from fmnist_core.runs import leases
from fmnist_core.runs import store as store_mod
from fmnist_core.runs.liveness import pid_alive
from fmnist_core.runs.store import SCHEMA_VERSION, RunStore, SchemaTooNewError


@pytest.fixture
def store(fmnist_home):
    return RunStore()


def _queue(store, name="r", task="multiclass", preset="linear", **hp):
    return store.create_run(name, get_task(task), normalize_spec(preset), HParams(**hp))


def test_new_store_is_wal_and_current_schema(store, fmnist_home):
    assert store.path == fmnist_home / "runs.sqlite"
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_create_get_and_filter_runs(store):
    a = _queue(store, "first", "shoes", epochs=3, seed=7)
    b = _queue(store, "second", "multiclass", preset="tinyvgg")
    run = store.get_run(a)
    assert run["status"] == "queued" and run["name"] == "first" and run["model_name"] == f"run{a}"
    assert run["task"] == "shoes" and run["task_def"]["positive"] == [5, 7, 9]
    assert run["spec"] == [{"type": "Flatten"}] and run["hparams"]["epochs"] == 3
    assert run["seed"] == 7 and run["epochs"] == 3
    assert run["history"] == [] and run["batches"] == [] and run["eta_seconds"] is None
    assert [r["id"] for r in store.list_runs()] == [b, a]  # newest first
    assert [r["id"] for r in store.list_runs(task="shoes")] == [a]
    assert [r["id"] for r in store.list_runs(status="queued")] == [b, a]
    assert store.list_runs(status="running") == []
    assert store.get_run(12345) is None
    with pytest.raises(ValueError, match="unknown status"):
        store.list_runs(status="done")


def test_default_model_name_skips_reserved_names(store):
    rid = store.create_run(
        "x", get_task("multiclass"), normalize_spec("linear"), HParams(), reserved_names={"run1", "run1_2"}
    )
    assert store.get_run(rid)["model_name"] == "run1_3"


def test_worker_claims_fifo_and_records_progress(store):
    a, b = _queue(store, "a", epochs=2), _queue(store, "b")
    claimed = store.claim_next(os.getpid(), "/tmp/w.log")
    assert claimed["id"] == a and claimed["status"] == "running" and claimed["pid"] == os.getpid()
    assert store.get_status(b) == "queued"

    store.set_progress(a, batches_per_epoch=10)
    for step, elapsed in ((1, 4.0), (3, 5.0), (5, 6.0)):  # the first batch carries 3.5 s of graph compile
        store.add_batch(
            a,
            {
                "step": step,
                "epoch": 1,
                "batch": step,
                "loss": 2.0 / step,
                "accuracy": 0.1 * step,
                "lr": 1e-3,
                "elapsed": elapsed,
            },
        )
    run = store.get_run(a)
    assert [p["step"] for p in run["batches"]] == [1, 3, 5]
    assert run["current_epoch"] == 1 and run["current_batch"] == 5
    # From its batch points: 0.5 s a step after the first; 15 of 2 x 10 steps left.
    assert run["eta_seconds"] == pytest.approx(7.5)
    # The listing has no points: 6 s for 5 steps, so 15 steps left take 18 s.
    assert store.list_runs(status="running")[0]["eta_seconds"] == pytest.approx(18.0)
    # A live view's poll between two batches: nothing new past step 5 (raised KeyError 'step', seen while
    # benchmarking Build & Train), and the estimate from the listing stands.
    polled = store.get_run(a, after_step=5)
    assert polled["batches"] == [] and polled["eta_seconds"] == pytest.approx(18.0)
    assert [p["step"] for p in store.get_run(a, after_step=1)["batches"]] == [3, 5]
    bare = store.get_run(a, with_batches=False)  # the row (and epochs) without reading any point
    assert bare["batches"] == [] and bare["current_batch"] == 5

    epoch = {
        "epoch": 1,
        "loss": 1.5,
        "accuracy": 0.5,
        "val_loss": 1.4,
        "val_accuracy": 0.55,
        "lr": 1e-3,
        "seconds": 10.0,
    }
    store.add_epoch(a, epoch)
    store.add_epoch(a, {**epoch, "epoch": 2, "loss": float("nan")})  # NaN is stored as NULL
    assert store.get_run(a)["history"] == [epoch, {**epoch, "epoch": 2, "loss": None}]

    assert store.finish(
        a,
        "completed",
        val={"accuracy": 0.8, "loss": 0.5},
        test={"accuracy": 0.79, "loss": 0.6},
        model_path="/x/run1.keras",
        train_seconds=12.5,
        best_epoch=2,
    )
    run = store.get_run(a)
    assert (run["status"], run["val_accuracy"], run["test_accuracy"], run["model_path"]) == (
        "completed",
        0.8,
        0.79,
        "/x/run1.keras",
    )  # outside the home: kept as given, never followed
    assert run["finished_at"] >= run["started_at"] >= run["created_at"] and run["eta_seconds"] is None
    assert not store.finish(a, "failed", "late")  # only a running run can be finished
    assert store.get_status(a) == "completed"
    assert store.claim_next(os.getpid())["id"] == b
    assert store.claim_next(os.getpid()) is None


def test_batch_points_are_thinned_past_the_cap(store, monkeypatch):
    monkeypatch.setattr(leases, "MAX_BATCH_POINTS", 10)
    rid = _queue(store)
    store.claim_next(os.getpid())
    for step in range(1, 26):
        store.add_batch(
            rid,
            {"step": step, "epoch": 1, "batch": step, "loss": 1.0, "accuracy": 0.5, "lr": 1e-3, "elapsed": step * 0.25},
        )
    steps = [p["step"] for p in store.get_run(rid)["batches"]]
    assert len(steps) <= 10 and steps[-1] == 25 and steps == sorted(steps) and steps[0] < 10


def test_request_stop(store):
    queued, running = _queue(store), _queue(store)
    store.mark_running(running, os.getpid())
    assert store.request_stop(queued) == "stopped"
    run = store.get_run(queued)
    assert run["status"] == "stopped" and run["message"] == "stopped before it started"
    assert not store.stop_requested(running)
    assert store.request_stop(running) == "running"
    assert store.stop_requested(running) and store.get_run(running)["stop_requested"]
    assert store.claim_next(os.getpid()) is None  # the stopped one is not claimed
    with pytest.raises(ValueError, match="no run with id 99"):
        store.request_stop(99)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_worker_is_marked_failed_on_next_look(store):
    victim, bystander, done = _queue(store), _queue(store), _queue(store)
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
    fresh, stale = _queue(store), _queue(store)
    store.mark_running(fresh, os.getpid())
    store.mark_running(stale, os.getpid())
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (stale,))
    assert store.reap_dead() == [stale]
    assert store.get_status(stale) == "failed" and store.get_status(fresh) == "running"
    assert "before its first epoch ended" in store.get_run(stale)["message"]


def _saved_model(home, name, run_id):
    from fmnist_core.modeling.models import build_model
    from fmnist_core.modeling.saving import save_model

    return save_model(
        build_model("linear", "shoes"),
        name,
        {
            "task": get_task("shoes").to_dict(),
            "spec": normalize_spec("linear"),
            "hparams": {},
            "run_id": run_id,
            "source": "run",
        },
        home,
    )


def test_a_run_created_claimed_is_never_queued(store):
    """A run trained in-process is created running, held by its process: a worker waiting on the
    queue (the app's pre-warmed one) cannot take it between create and claim."""
    rid = store.create_run(
        "in-process", get_task("multiclass"), normalize_spec("linear"), HParams(), claim_pid=os.getpid()
    )
    run = store.get_run(rid)
    assert (run["status"], run["pid"], run["model_name"]) == ("running", os.getpid(), f"run{rid}")
    assert store.next_queued() is None and store.claim_next(os.getpid()) is None


def test_delete_run(store, fmnist_home):
    mine, other, running = _queue(store), _queue(store), _queue(store)
    for rid in (mine, other):
        store.mark_running(rid, os.getpid())
        store.finish(rid, "completed", model_path=fmnist_home / f"run{rid}.keras")
    # run<mine>'s model is its own; run<other>'s name was since overwritten by a later run 999.
    _saved_model(fmnist_home, f"run{mine}", mine)
    _saved_model(fmnist_home, f"run{other}", 999)
    store.mark_running(running, os.getpid())
    with pytest.raises(ValueError, match="stop it first"):
        store.delete_run(running)
    store.delete_run(mine)
    store.delete_run(other)
    assert [r["id"] for r in store.list_runs()] == [running]
    assert not (fmnist_home / f"run{mine}.keras").exists()
    assert (fmnist_home / f"run{other}.keras").exists()  # another run's model is never deleted
    with pytest.raises(ValueError, match="no run with id"):
        store.delete_run(mine)


def test_paths_are_relative_and_deleting_in_a_copied_home_spares_the_original(tmp_path, monkeypatch):
    """Issue 11 item 3: copy a home, delete a run in the copy: the original's model stays."""
    import shutil

    original = tmp_path / "original"
    monkeypatch.setenv("FMNIST_HOME", str(original))
    store = RunStore()
    rid = _queue(store)
    store.mark_running(rid, os.getpid())
    store.finish(rid, "completed", model_path=original / f"run{rid}.keras")
    _saved_model(original, f"run{rid}", rid)
    assert store.get_run(rid)["model_path"] == f"run{rid}.keras"
    store.close()
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    monkeypatch.setenv("FMNIST_HOME", str(copy))
    RunStore().delete_run(rid)
    assert not (copy / f"run{rid}.keras").exists()
    assert (original / f"run{rid}.keras").exists()


def test_a_name_is_reserved_in_the_same_transaction_as_the_run(fmnist_home):
    """Issue 11 item 2: ten processes submitting the same model name at once: exactly one is queued."""
    script = (
        "import os, sys, time\n"
        "from fmnist_core.runs.store import RunStore, NameTakenError\n"
        "from fmnist_core.data.tasks import get_task\n"
        "s = RunStore(); go = sys.argv[1]\n"
        "print('ready', flush=True)\n"
        "while not os.path.exists(go):\n"  # a start barrier: all ten are imported and waiting
        "    time.sleep(0.001)\n"
        "try:\n"
        "    s.create_run('x', get_task('multiclass'), [{'type': 'Flatten'}], {}, model_name='shared')\n"
        "    print('queued')\n"
        "except NameTakenError:\n"
        "    print('taken')\n"
    )
    RunStore()  # create it once, so the racers only race for the name
    go = fmnist_home / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(go)], stdout=subprocess.PIPE, text=True, env=os.environ)
        for _ in range(10)
    ]
    assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 10
    go.touch()
    outs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outs == ["queued"] + ["taken"] * 9
    runs = RunStore().list_runs(with_history=False)
    assert [r["model_name"] for r in runs] == ["shared"]


def test_existing_model_names_need_overwrite_and_active_names_are_never_shared(store):
    spec, task = normalize_spec("linear"), get_task("multiclass")
    with pytest.raises(store_mod.NameTakenError, match="already exists"):
        store.create_run("x", task, spec, {}, model_name="m", reserved_names={"m"})
    first = store.create_run("x", task, spec, {}, model_name="m", reserved_names={"m"}, overwrite=True)
    with pytest.raises(store_mod.NameTakenError, match=f"run {first} \\(queued\\)"):
        store.create_run("x", task, spec, {}, model_name="m", overwrite=True)
    store.request_stop(first)
    assert store.create_run("x", task, spec, {}, model_name="m", overwrite=True) == first + 1


def test_a_fenced_worker_cannot_write_after_its_lease_was_taken(store, fmnist_home):
    """Issue 11 item 4: a paused worker declared dead must not save its results or its model afterwards."""
    rid = _queue(store)
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
    rid = _queue(store)
    lease = store.claim_next(os.getpid())["lease"]
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (rid,))
    published = []
    with pytest.raises(leases.LeaseLostError, match="expired"):
        store.finish(rid, "completed", lease=lease, publish=lambda: published.append(1))
    assert published == [] and store.get_status(rid) == "failed"
    assert "lease expired" in store.get_run(rid)["message"]


def test_only_the_owner_may_stop_rename_or_delete(store):
    rid = store.create_run(
        "ann's", get_task("multiclass"), normalize_spec("linear"), {}, owner="user:ann", sweep_id="sw-1"
    )
    for call in (
        lambda: store.request_stop(rid, owner="user:bob"),
        lambda: store.rename_run(rid, "mine now", owner="user:bob"),
        lambda: store.delete_run(rid, owner="user:bob"),
        lambda: store.rename_sweep("sw-1", "bob's", owner="user:bob"),
    ):
        with pytest.raises(PermissionError, match="belongs to someone else"):
            call()
    assert store.get_run(rid)["name"] == "ann's"  # everyone can still read it
    store.rename_run(rid, "ann's first", owner="user:ann")
    store.rename_sweep("sw-1", "lr sweep", owner="user:ann")
    assert store.get_run(rid)["name"] == "ann's first"
    assert store.list_sweeps()[0]["name"] == "lr sweep"
    with pytest.raises(ValueError, match="printable"):
        store.rename_run(rid, "two\nlines", owner="user:ann")
    assert store.request_stop(rid, owner="user:ann") == "stopped"
    assert store.delete_sweep("sw-1", owner="user:ann") == [rid]
    assert store.list_runs() == [] and store.list_sweeps() == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero-byte", "newer-schema"])
def test_store_faults_are_one_clear_error_and_the_file_is_kept(fmnist_home, damage):
    store = RunStore()
    for _ in range(30):
        _queue(store, "x" * 200)
    store.close()
    path = fmnist_home / "runs.sqlite"
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 1000)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "zero-byte":
        path.write_bytes(b"")
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    with pytest.raises(store_mod.StoreError) as err:
        RunStore().list_runs()
    message = str(err.value)
    assert "\n" not in message and ("store-reset" in message or "update the app" in message)
    assert path.read_bytes() == before  # kept as it was until the user agrees
    if damage != "newer-schema":
        aside = store_mod.quarantine()
        assert aside.read_bytes() == before and RunStore().list_runs() == []


# The schema exactly as version 1 of the app wrote it (frozen copy: never edit).
V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','completed','stopped','failed')), message TEXT,
    task TEXT NOT NULL, task_def TEXT NOT NULL, spec TEXT NOT NULL, hparams TEXT NOT NULL, seed INTEGER,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
    pid INTEGER, heartbeat_at TEXT, stop_requested INTEGER NOT NULL DEFAULT 0,
    batches_per_epoch INTEGER, current_epoch INTEGER, current_batch INTEGER, elapsed REAL,
    val_accuracy REAL, val_loss REAL, test_accuracy REAL, test_loss REAL, train_seconds REAL, best_epoch INTEGER,
    model_name TEXT, model_path TEXT);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    loss REAL, accuracy REAL, val_loss REAL, val_accuracy REAL, lr REAL, seconds REAL, PRIMARY KEY (run_id, epoch));
PRAGMA user_version = 1;
"""


def test_store_written_by_schema_v1_is_upgraded_without_loss(fmnist_home):
    path = fmnist_home / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    task = json.dumps(get_task("shoes").to_dict())
    conn.execute(
        "INSERT INTO runs (name, status, task, task_def, spec, hparams, seed, created_at, started_at,"
        " finished_at, val_accuracy, test_accuracy, model_name, model_path) VALUES ('old run', 'completed',"
        ' \'shoes\', ?, \'[{"type": "Flatten"}]\', \'{"epochs": 2, "seed": 1}\', 1,'
        " '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:01+00:00', '2024-01-01T00:01:00+00:00', 0.97, 0.96,"
        " 'old', '/models/old.keras')",
        (task,),
    )
    conn.executemany(
        "INSERT INTO epochs VALUES (1, ?, ?, ?, ?, ?, 0.001, 30.0)",
        [(1, 0.3, 0.9, 0.25, 0.92), (2, 0.2, 0.95, 0.15, 0.97)],
    )
    conn.commit()
    conn.close()

    store = RunStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    old = store.get_run(1)
    assert (old["name"], old["status"], old["task"], old["val_accuracy"], old["model_name"]) == (
        "old run",
        "completed",
        "shoes",
        0.97,
        "old",
    )
    assert [e["val_accuracy"] for e in old["history"]] == [0.92, 0.97]
    assert old["sweep_id"] is None and old["batches"] == []
    # The pre-upgrade copy is kept, still at version 1.
    with sqlite3.connect(fmnist_home / "runs.sqlite.v1.bak") as bak:
        assert bak.execute("PRAGMA user_version").fetchone()[0] == 1
        assert bak.execute("SELECT name FROM runs").fetchall() == [("old run",)]
    # New features work on the upgraded store.
    new = store.create_run(
        "swept",
        get_task("multiclass"),
        normalize_spec("linear"),
        HParams(),
        "sweep-x",
        sweep_param="lr",
        sweep_value=0.01,
    )
    assert new == 2 and store.list_runs(sweep_id="sweep-x")[0]["sweep_value"] == 0.01
    store.mark_running(new, os.getpid())
    store.add_batch(new, {"step": 1, "epoch": 1, "batch": 1, "loss": 2.3, "accuracy": 0.1, "lr": 0.01, "elapsed": 0.1})
    assert len(store.get_run(new)["batches"]) == 1
    assert RunStore(path).schema_version() == SCHEMA_VERSION  # re-opening is a no-op


def test_store_from_a_newer_app_is_refused(store):
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaTooNewError, match="update the app"):
        RunStore(store.path)
