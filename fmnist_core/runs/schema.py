"""The run store's schema and its migrations, in SQLAlchemy Core (see ``store``).

One schema for both backends: SQLite (the zero-setup default, ``runs.sqlite``) and PostgreSQL
(``FMNIST_STORE_URL=postgresql://...``, for a cluster). The tables are Core ``Table`` objects
and every migration is built from Core constructs, so SQLAlchemy renders each dialect:
nothing here is written twice.

``MIGRATIONS[i]`` upgrades version i to i + 1; a shipped entry is never edited, only appended
to, so every older store can be brought up to date. A fresh store runs them all. The version
lives in ``PRAGMA user_version`` on SQLite (as it always has) and in a one-row
``schema_version`` table on PostgreSQL. Before upgrading a SQLite file it is copied to
``runs.sqlite.v<N>.bak``; on PostgreSQL the upgrade is one transaction (its DDL is
transactional) under an advisory lock, and backups are the administrator's ``pg_dump``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

STATUS_CHECK = "status IN ('queued','running','completed','stopped','failed')"
ACTIVE = ("queued", "running")


# ---------------------------------------------------------------- columns, by the version that added them


def _runs_v1():
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("message", Text),
        Column("task", Text, nullable=False),
        Column("task_def", Text, nullable=False),
        Column("spec", Text, nullable=False),
        Column("hparams", Text, nullable=False),
        Column("seed", Integer),
        Column("created_at", Text, nullable=False),
        Column("started_at", Text),
        Column("finished_at", Text),
        Column("pid", Integer),
        Column("heartbeat_at", Text),
        Column("stop_requested", Integer, nullable=False, server_default=text("0")),
        Column("batches_per_epoch", Integer),
        Column("current_epoch", Integer),
        Column("current_batch", Integer),
        Column("elapsed", Float),
        Column("val_accuracy", Float),
        Column("val_loss", Float),
        Column("test_accuracy", Float),
        Column("test_loss", Float),
        Column("train_seconds", Float),
        Column("best_epoch", Integer),
        Column("model_name", Text),
        Column("model_path", Text),
    ]


def _runs_v2():
    # Sweeps, and where the worker runs (host, log) for diagnosis.
    return [
        Column("sweep_id", Text),
        Column("sweep_param", Text),
        Column("sweep_value", Text),
        Column("host", Text),
        Column("log_path", Text),
    ]


def _runs_v3():
    # Integrity: who may change the run, and the lease (a token per claim) that fences its worker.
    return [Column("owner", Text), Column("lease_token", Text)]


def _runs_v4():
    # Which executor trains the run: NULL for a local worker process, "ray:<node id>:<task id>" on a cluster.
    return [Column("executor", Text)]


RUNS_BY_VERSION = [_runs_v1, _runs_v2, _runs_v3, _runs_v4]


def _runs(meta: MetaData, version: int) -> Table:
    cols = [c for v in RUNS_BY_VERSION[:version] for c in v()]
    return Table("runs", meta, *cols, CheckConstraint(STATUS_CHECK), sqlite_autoincrement=True)


def _epochs(meta: MetaData) -> Table:
    return Table(
        "epochs",
        meta,
        Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        Column("epoch", Integer, nullable=False),
        *(Column(k, Float) for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")),
        PrimaryKeyConstraint("run_id", "epoch"),
    )


def _batches(meta: MetaData) -> Table:
    return Table(
        "batches",
        meta,
        Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        Column("step", Integer, nullable=False),
        Column("epoch", Integer),
        Column("batch", Integer),
        *(Column(k, Float) for k in ("loss", "accuracy", "lr", "elapsed")),
        PrimaryKeyConstraint("run_id", "step"),
    )


def _sweeps(meta: MetaData) -> Table:
    return Table(
        "sweeps",
        meta,
        Column("id", Text, primary_key=True),
        Column("name", Text, nullable=False),
        Column("owner", Text),
        Column("created_at", Text, nullable=False),
    )


def _model_blobs(meta: MetaData) -> Table:
    # A model trained on a node without our filesystem travels here: the staged model file with its
    # sha256, written in the transaction that records the result; the app installs it and deletes the
    # row (see ray_executor).
    return Table(
        "model_blobs",
        meta,
        Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
        Column("model_name", Text, nullable=False),
        Column("sha256", Text, nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("created_at", Text, nullable=False),
    )


def _active_name_index(runs: Table) -> Index:
    # At most one queued or running run per model name (a later run may still overwrite a finished one's).
    where = runs.c.status.in_(ACTIVE)
    return Index("runs_active_model_name", runs.c.model_name, unique=True, sqlite_where=where, postgresql_where=where)


# The current schema, used by every query of the store.
metadata = MetaData()
runs = _runs(metadata, len(RUNS_BY_VERSION))
epochs = _epochs(metadata)
batches = _batches(metadata)
sweeps = _sweeps(metadata)
model_blobs = _model_blobs(metadata)


# ---------------------------------------------------------------- migrations (Core, rendered per dialect)


def _add_columns(conn, table: str, columns) -> None:
    for col in columns:
        Table(table, MetaData(), col)  # a column compiles only as part of a table
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {CreateColumn(col).compile(dialect=conn.dialect)}"))


def _v1(conn):
    meta = MetaData()
    r = _runs(meta, 1)
    conn.execute(CreateTable(r))
    conn.execute(CreateIndex(Index("runs_status", r.c.status)))
    conn.execute(CreateTable(_epochs(meta)))


def _v2(conn):
    _add_columns(conn, "runs", _runs_v2())
    meta = MetaData()
    r = _runs(meta, 2)
    conn.execute(CreateIndex(Index("runs_sweep", r.c.sweep_id)))
    conn.execute(CreateTable(_batches(meta)))


def _v3(conn):
    # Integrity. Older stores may hold duplicate active names from the old check-then-insert race:
    # all but the oldest are failed first. Model paths become relative to the home.
    _add_columns(conn, "runs", _runs_v3())
    meta = MetaData()
    r, s = _runs(meta, 3), _sweeps(meta)
    oldest = select(func.min(r.c.id)).where(r.c.status.in_(ACTIVE)).group_by(r.c.model_name)
    conn.execute(
        update(r)
        .where(r.c.status.in_(ACTIVE), r.c.model_name.is_not(None), r.c.id.not_in(oldest))
        .values(
            status="failed",
            finished_at=func.coalesce(r.c.finished_at, r.c.created_at),
            message="another queued or running run already reserved this model name",
        )
    )
    conn.execute(CreateIndex(_active_name_index(r)))
    conn.execute(
        update(r)
        .where(r.c.model_path.is_not(None), r.c.model_name.is_not(None))
        .values(model_path=r.c.model_name + ".keras")
    )
    conn.execute(CreateTable(s))
    conn.execute(
        insert(s).from_select(
            ["id", "name", "created_at"],
            select(r.c.sweep_id, r.c.sweep_id.label("name"), func.min(r.c.created_at))
            .where(r.c.sweep_id.is_not(None))
            .group_by(r.c.sweep_id),
        )
    )


def _v4(conn):
    # Cluster: the executor that trains a run, and models that travel through the store.
    _add_columns(conn, "runs", _runs_v4())
    meta = MetaData()
    _runs(meta, 4)
    conn.execute(CreateTable(_model_blobs(meta)))


MIGRATIONS = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The run store cannot be used; the message says what to do. Shown as one line, never a traceback."""


class SchemaTooNewError(StoreError):
    """The store was written by a newer app than this one."""


class StoreDamagedError(StoreError):
    """The store file is corrupt, truncated or empty. It is kept as it is until the user agrees to
    move it aside (``store.quarantine``, ``python -m fmnist_core store-reset``)."""


class StoreUnavailableError(StoreError):
    """The store cannot be written or reached: a read-only home, a full disk, a database server down."""


# ---------------------------------------------------------------- the version, per backend

_pg_version = Table("schema_version", MetaData(), Column("version", Integer, nullable=False))


def version_of(conn) -> int:
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql("PRAGMA user_version").scalar()
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    return conn.execute(select(_pg_version.c.version)).scalar() or 0


def _write_version(conn, version: int) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
        return
    if not conn.dialect.has_table(conn, "schema_version"):
        conn.execute(CreateTable(_pg_version))
    conn.execute(_pg_version.delete())
    conn.execute(_pg_version.insert().values(version=version))


def read_version(engine) -> int:
    with engine.connect() as conn:
        return version_of(conn)


def upgrade(engine, where: str, sqlite_path: Path | None = None) -> int:
    """Bring the store behind ``engine`` to SCHEMA_VERSION; returns the version it had.

    All migrations run in one write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: under a
    transaction-scoped advisory lock), so a failed migration leaves the old schema intact and two
    processes never migrate twice. ``where`` names the store in messages.
    """
    version = read_version(engine)
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the run store {where} has schema version {version}, but this app knows only up to {SCHEMA_VERSION}: "
            "update the app (git pull), or set FMNIST_HOME (or FMNIST_STORE_URL) to another store"
        )
    if version == SCHEMA_VERSION:
        return version
    if version > 0 and sqlite_path is not None:  # keep a copy of the old SQLite file before touching it
        src = sqlite3.connect(sqlite_path)
        dst = sqlite3.connect(sqlite_path.with_name(f"{sqlite_path.name}.v{version}.bak"))
        src.backup(dst)
        src.close()
        dst.close()
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            # Serialises concurrent first opens of an empty database (CREATE TABLE would race).
            conn.execute(select(func.pg_advisory_xact_lock(470012)))
        version = version_of(conn)  # re-read inside the lock: another process may have upgraded
        for migrate in MIGRATIONS[version:]:
            migrate(conn)
        if version < SCHEMA_VERSION:
            _write_version(conn, SCHEMA_VERSION)
    return version
