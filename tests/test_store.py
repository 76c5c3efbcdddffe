"""The run store: records, queueing, progress, naming, deletion and ownership. No training here."""

import os
import sqlite3
import subprocess
import sys

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.modeling.training import HParams
from fmnist_core.runs import leases
from fmnist_core.runs import store as store_mod
from fmnist_core.runs.store import SCHEMA_VERSION, RunStore
from store_helpers import queue_run


@pytest.fixture
def store(fmnist_home):
    return RunStore()


def test_new_store_is_wal_and_current_schema(store, fmnist_home):
    assert store.path == fmnist_home / "runs.sqlite"
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_create_get_and_filter_runs(store):
    a = queue_run(store, "first", "shoes", epochs=3, seed=7)
    b = queue_run(store, "second", "multiclass", preset="tinyvgg")
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
    a, b = queue_run(store, "a", epochs=2), queue_run(store, "b")
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
    rid = queue_run(store)
    store.claim_next(os.getpid())
    for step in range(1, 26):
        store.add_batch(
            rid,
            {"step": step, "epoch": 1, "batch": step, "loss": 1.0, "accuracy": 0.5, "lr": 1e-3, "elapsed": step * 0.25},
        )
    steps = [p["step"] for p in store.get_run(rid)["batches"]]
    assert len(steps) <= 10 and steps[-1] == 25 and steps == sorted(steps) and steps[0] < 10


def test_request_stop(store):
    queued, running = queue_run(store), queue_run(store)
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
    mine, other, running = queue_run(store), queue_run(store), queue_run(store)
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
    rid = queue_run(store)
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
