"""The run store on a real PostgreSQL: the same RunStore code as SQLite, rendered by SQLAlchemy."""

import os
import threading

import pytest
from sqlalchemy import create_engine, text

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.modeling.training import HParams
from fmnist_core.runs import schema
from fmnist_core.runs.store import SCHEMA_VERSION, RunStore, SchemaTooNewError

pytestmark = pytest.mark.cluster


def _queue(store, name="r", **hp):
    return store.create_run(name, get_task("multiclass"), normalize_spec("linear"), HParams(**hp))


def test_postgres_store_round_trip(pg_url, fmnist_home):
    store = RunStore(pg_url)
    assert store.schema_version() == SCHEMA_VERSION and not store.is_sqlite
    a, b = _queue(store, "first", epochs=3, seed=7), _queue(store, "second")
    run = store.get_run(a)
    assert (run["status"], run["name"], run["model_name"], run["hparams"]["epochs"]) == (
        "queued",
        "first",
        f"run{a}",
        3,
    )
    assert [r["id"] for r in store.list_runs()] == [b, a]
    claimed = store.claim_next(os.getpid())
    assert claimed["id"] == a and claimed["status"] == "running"
    for step in (1, 2, 2):  # an upsert: the repeated step replaces, never duplicates
        store.add_batch(
            a,
            {
                "step": step,
                "epoch": 1,
                "batch": step,
                "loss": 2.0 / step,
                "accuracy": 0.1 * step,
                "lr": 0.01,
                "elapsed": 0.1 * step,
                "batches_per_epoch": 10,
            },
        )
    store.add_epoch(
        a,
        {
            "epoch": 1,
            "loss": 1.0,
            "accuracy": 0.5,
            "val_loss": 1.1,
            "val_accuracy": float("nan"),
            "lr": 0.01,
            "seconds": 2.0,
        },
    )
    run = store.get_run(a)
    assert [p["step"] for p in run["batches"]] == [1, 2] and run["current_batch"] == 2
    assert run["history"][0]["val_accuracy"] is None and run["eta_seconds"] is not None
    # The live view's reads: only the new points; the row and epochs without any point.
    assert [p["step"] for p in store.get_run(a, after_step=1)["batches"]] == [2]
    bare = store.get_run(a, with_batches=False)
    assert bare["batches"] == [] and bare["history"] == run["history"] and bare["current_batch"] == 2
    assert store.request_stop(a) == "running" and store.stop_requested(a)
    assert store.request_stop(b) == "stopped"
    blob = {"model_name": f"run{a}", "sha256": "0" * 64, "data": b"\x00\x01bytes"}
    assert store.finish(a, "stopped", "stopped on request", model_path=f"run{a}.keras", model_blob=blob)
    assert not store.finish(a, "completed")  # no longer running: nothing changes
    assert store.model_blobs_waiting() == [a]
    got = []
    assert store.take_model_blob(a, got.append) and bytes(got[0]["data"]) == b"\x00\x01bytes"
    assert store.model_blobs_waiting() == [] and not store.take_model_blob(a, got.append)
    assert store.count_by_status()["stopped"] == 2
    assert store.get_run(a)["model_path"] == f"run{a}.keras"  # relative to the home
    RunStore(pg_url)  # re-opening an up-to-date store is a no-op


def test_claims_skip_locked_rows_each_run_exactly_once(pg_url, fmnist_home):
    store = RunStore(pg_url)
    ids = [_queue(store, f"r{i}") for i in range(12)]
    got, errors = [], []
    start = threading.Barrier(4)

    def claimer():
        mine = RunStore(pg_url)  # each its own pool, as separate workers would be
        start.wait()
        try:
            while (run := mine.claim_next(os.getpid())) is not None:
                got.append(run["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(got) == ids  # all claimed, none twice


def test_names_reserved_and_leases_fenced_on_postgres(pg_url, fmnist_home):
    from fmnist_core.runs.store import LeaseLostError, NameTakenError

    store = RunStore(pg_url)
    rid = store.create_run("a", get_task("multiclass"), normalize_spec("linear"), HParams(), model_name="shared")
    with pytest.raises(NameTakenError):  # the partial UNIQUE index, rendered for PostgreSQL
        store.create_run("b", get_task("multiclass"), normalize_spec("linear"), HParams(), model_name="shared")
    run = store.claim_next(os.getpid())
    assert run["id"] == rid and run["lease"] and store.heartbeat(rid, run["lease"])
    assert not store.heartbeat(rid, "someone else's lease")
    assert store.fail_running(rid, "its node died")  # what the Ray dispatcher does
    assert not store.add_batch(rid, {"step": 1, "epoch": 1, "batch": 1}, lease=run["lease"])
    with pytest.raises(LeaseLostError):
        store.finish(rid, "completed", lease=run["lease"])
    assert store.get_run(rid)["message"] == "its node died"


def test_stale_heartbeat_and_migration_on_postgres(pg_url, fmnist_home):
    # Build the version-2 schema with the shipped migrations, as an older app left it, then open it:
    # v3 (integrity) and v4 (cluster) run on PostgreSQL too.
    engine = create_engine(pg_url)
    with engine.connect() as conn, conn.begin():
        for migrate in schema.MIGRATIONS[:2]:
            migrate(conn)
        schema._write_version(conn, 2)
        conn.execute(
            text(
                "INSERT INTO runs (name, status, task, task_def, spec, hparams, created_at, pid,"
                " heartbeat_at) VALUES ('old', 'running', 'multiclass', '{}', '[]', '{}', 'x', 1,"
                " '2000-01-01T00:00:00.000+00:00')"
            )
        )
    engine.dispose()
    store = RunStore(pg_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.reap_dead() == [1] and "died" in store.get_run(1)["message"]
    with create_engine(pg_url).begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 99"))
    with pytest.raises(SchemaTooNewError, match="update the app"):
        RunStore(pg_url)


def test_a_read_sees_one_moment_even_while_a_worker_writes(pg_url, fmnist_home):
    """CI once saw a run with a batch point but no epoch: get_run read the run's row, a worker's
    add_batch committed, then get_run read the points. One read must be one snapshot."""
    store, worker = RunStore(pg_url), RunStore(pg_url)
    rid = _queue(store)
    assert worker.mark_running(rid, os.getpid())
    with store._read() as conn:
        before = conn.execute(text("SELECT current_epoch FROM runs WHERE id = :i"), {"i": rid}).scalar()
        worker.add_batch(
            rid,
            {
                "step": 1,
                "epoch": 1,
                "batch": 1,
                "loss": 2.0,
                "accuracy": 0.1,
                "lr": 0.01,
                "elapsed": 0.1,
                "batches_per_epoch": 10,
            },
        )  # commits in between
        points = conn.execute(text("SELECT count(*) FROM batches WHERE run_id = :i"), {"i": rid}).scalar()
    assert (before, points) == (None, 0)
    run = store.get_run(rid)
    assert run["current_epoch"] == 1 and len(run["batches"]) == 1


def test_a_run_created_claimed_is_never_queued(pg_url, fmnist_home):
    store = RunStore(pg_url)
    rid = store.create_run(
        "in-process", get_task("multiclass"), normalize_spec("linear"), HParams(), claim_pid=os.getpid()
    )
    assert store.get_run(rid)["status"] == "running" and store.claim_next(os.getpid()) is None
