"""The run store's schema and its migrations (see ``store``).

The version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` upgrades version i to i + 1;
a shipped entry is never edited, only appended to, so every older store can be brought up
to date. Before upgrading, the old file is copied to ``runs.sqlite.v<N>.bak``.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS = [
    # v1: runs and their per-epoch history.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued','running','completed','stopped','failed')),
        message TEXT,
        task TEXT NOT NULL, task_def TEXT NOT NULL, spec TEXT NOT NULL, hparams TEXT NOT NULL,
        seed INTEGER,
        created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
        pid INTEGER, heartbeat_at TEXT, stop_requested INTEGER NOT NULL DEFAULT 0,
        batches_per_epoch INTEGER, current_epoch INTEGER, current_batch INTEGER, elapsed REAL,
        val_accuracy REAL, val_loss REAL, test_accuracy REAL, test_loss REAL,
        train_seconds REAL, best_epoch INTEGER,
        model_name TEXT, model_path TEXT
    );
    CREATE INDEX runs_status ON runs(status);
    CREATE TABLE epochs (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        loss REAL, accuracy REAL, val_loss REAL, val_accuracy REAL, lr REAL, seconds REAL,
        PRIMARY KEY (run_id, epoch)
    );
    """,
    # v2: sweeps, live per-batch points, and where the worker runs (host, log) for diagnosis.
    """
    ALTER TABLE runs ADD COLUMN sweep_id TEXT;
    ALTER TABLE runs ADD COLUMN sweep_param TEXT;
    ALTER TABLE runs ADD COLUMN sweep_value TEXT;
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN log_path TEXT;
    CREATE INDEX runs_sweep ON runs(sweep_id);
    CREATE TABLE batches (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL, epoch INTEGER, batch INTEGER,
        loss REAL, accuracy REAL, lr REAL, elapsed REAL,
        PRIMARY KEY (run_id, step)
    );
    """,
    # v3: integrity. Names are reserved by the store itself: at most one queued or running run per
    # model name (a partial UNIQUE index, so a later run may still overwrite a finished run's model).
    # Older stores may hold such duplicates from the old check-then-insert race: all but the oldest
    # are failed first. Leases (a token per claim) fence a worker whose run was taken from it.
    # Owners say who may stop, rename or delete a run. Model paths become relative to the home.
    """
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_token TEXT;
    UPDATE runs SET status = 'failed', finished_at = COALESCE(finished_at, created_at),
        message = 'another queued or running run already reserved this model name'
        WHERE status IN ('queued', 'running') AND model_name IS NOT NULL AND id NOT IN
        (SELECT MIN(id) FROM runs WHERE status IN ('queued', 'running') GROUP BY model_name);
    CREATE UNIQUE INDEX runs_active_model_name ON runs(model_name) WHERE status IN ('queued', 'running');
    UPDATE runs SET model_path = model_name || '.keras' WHERE model_path IS NOT NULL AND model_name IS NOT NULL;
    CREATE TABLE sweeps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner TEXT,
        created_at TEXT NOT NULL
    );
    INSERT INTO sweeps (id, name, created_at)
        SELECT sweep_id, sweep_id, MIN(created_at) FROM runs WHERE sweep_id IS NOT NULL GROUP BY sweep_id;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)



class StoreError(RuntimeError):
    """The run store cannot be used; the message says what to do. Shown as one line, never a traceback."""


class SchemaTooNewError(StoreError):
    """The store was written by a newer app than this one."""


class StoreDamagedError(StoreError):
    """The store file is corrupt, truncated or empty. It is kept as it is until the user agrees to
    move it aside (``store.quarantine``, ``python -m fmnist_core store-reset``)."""


class StoreUnavailableError(StoreError):
    """The store cannot be written: a read-only home or a full disk."""


def upgrade(conn: sqlite3.Connection, path: Path, transaction) -> int:
    """Bring the store behind ``conn`` to SCHEMA_VERSION (WAL mode on); returns the version it had.

    ``transaction`` is the store's ``_tx`` context manager (BEGIN IMMEDIATE ... COMMIT), so a
    failed migration leaves the old schema intact and two processes never migrate twice.
    """
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the run store {path} has schema version {version}, but this app knows only up to {SCHEMA_VERSION}: "
            "update the app (git pull), or set FMNIST_HOME to another folder")
    if version == SCHEMA_VERSION:
        return version
    if version > 0:  # keep a copy of the old store before touching it
        dst = sqlite3.connect(path.with_name(f"{path.name}.v{version}.bak"))
        conn.backup(dst)
        dst.close()
    with transaction() as tx:
        # Re-read inside the write lock: another process may have upgraded meanwhile.
        version = tx.execute("PRAGMA user_version").fetchone()[0]
        for i in range(version, SCHEMA_VERSION):
            for stmt in filter(str.strip, MIGRATIONS[i].split(";")):
                tx.execute(stmt)
        tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version
