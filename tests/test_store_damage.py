"""The run store: damaged or newer-schema files are one clear error and kept; old schemas are upgraded."""

import json
import os
import sqlite3

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.modeling.training import HParams
from fmnist_core.runs import store as store_mod
from fmnist_core.runs.store import SCHEMA_VERSION, RunStore, SchemaTooNewError
from store_helpers import queue_run


@pytest.fixture
def store(fmnist_home):
    return RunStore()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero-byte", "newer-schema"])
def test_store_faults_are_one_clear_error_and_the_file_is_kept(fmnist_home, damage):
    store = RunStore()
    for _ in range(30):
        queue_run(store, "x" * 200)
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
