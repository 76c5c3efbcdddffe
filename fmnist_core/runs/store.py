"""The run store: every training run as a row in a database, with its history.

By default one file, ``runs.sqlite`` in ``saving.home_dir()`` ($FMNIST_HOME or saved_models/),
in WAL mode so the app can read while a worker process writes: zero set-up. On a cluster,
``FMNIST_STORE_URL=postgresql://user@host/db`` puts the same tables on PostgreSQL, which every
node can reach. One code path for both: SQLAlchemy Core renders each dialect (the schema and
its migrations are in ``schema``), over psycopg 3 for PostgreSQL. Written by the worker
(``jobs``/``worker``, or a Ray task), read by the app pages and the CLI.

Tables
  runs     one row per run: identity, status, what was trained (task, spec, hparams as
           JSON), live progress, final metrics, the saved model's name and path.
  epochs   per-epoch history: loss, accuracy, val_loss, val_accuracy, lr, seconds.
  batches  throttled per-batch points (~4/s) for the live curve; thinned to at most
           ``MAX_BATCH_POINTS`` per run.
  sweeps   one row per sweep: its name and owner.
  model_blobs  models from cluster nodes on their way to the app's model folder.

The schema is versioned. Opening an older store applies the missing migrations in one
transaction, after a backup copy of a SQLite file (``runs.sqlite.v<N>.bak``), so an upgrade
never loses a run. A store from a *newer* app is refused with a clear message.

Integrity (schema v3): a model name is reserved in the same transaction that queues the run
(a partial UNIQUE index: one queued or running run per name); model and log paths are stored
relative to the home, so a copied home refers to its own files; a worker holds a lease with
fencing (see ``leases``); each run has an owner, and only its owner may stop, rename or delete
it (everyone may read). Faults of the file itself (corrupt, truncated, empty, newer schema,
read-only home, full disk) or an unreachable database server raise a ``StoreError`` whose
message says what to do; a damaged store is moved aside only when the user asks (``quarantine``).

A run whose worker died (SIGKILL, out of memory) is still ``running`` in the table; every
read (``list_runs``, ``get_run``) first marks such runs ``failed`` (see ``reaper.reap_dead``).

This module is the ``RunStore`` itself (opening, transactions); its concerns live beside it:
``store_engine`` (engines, timeouts, faults), ``run_queries`` (queueing and reading runs),
``leases`` (a worker's writes), ``reaper`` (dead workers), ``ownership``, ``cluster_side``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from fmnist_core.runs import schema as S
from fmnist_core.runs.cluster_side import ClusterSide
from fmnist_core.runs.leases import (  # noqa: F401 (re-exported)
    BATCH_KEYS,
    EPOCH_KEYS,
    HEARTBEAT_TIMEOUT_S,
    MAX_BATCH_POINTS,
    TERMINAL,
    LeaseLostError,
    WorkerSide,
)
from fmnist_core.runs.ownership import OwnerSide
from fmnist_core.runs.reaper import Reaper
from fmnist_core.runs.run_queries import JSON_COLUMNS, STATUSES, NameTakenError, RunQueries  # noqa: F401 (re-exported)
from fmnist_core.runs.schema import (  # noqa: F401 (re-exported)
    SCHEMA_VERSION,
    SchemaTooNewError,
    StoreDamagedError,
    StoreError,
    StoreUnavailableError,
)
from fmnist_core.runs.store_engine import (  # noqa: F401 (re-exported)
    _BEGIN,
    RESET_HINT,
    _classify,
    _classify_server,
    _server_connect_args,
    _sqlite_engine,
    _timeout_s,
    default_location,
    default_path,
    quarantine,
)


class RunStore(RunQueries, WorkerSide, Reaper, OwnerSide, ClusterSide):
    """The run store at ``location``: a SQLite path (default ``saving.home_dir()/runs.sqlite``) or a
    ``postgresql://`` URL (default $FMNIST_STORE_URL); created or upgraded on open.

    Thread-safe: one RunStore may be shared by Streamlit's threads, or by a worker's heartbeat
    and training threads. Raises a StoreError (one-line message) when the store cannot be used.
    ``url_string`` is what a worker in another process or on another node opens.
    """

    def __init__(self, location=None):
        location = default_location() if location is None else location
        self._lock = threading.RLock()  # one writer per process at a time on SQLite (one file lock anyway)
        self._engine, self._pid = None, None
        if isinstance(location, str) and "://" in location:
            self._init_server(location)
            return
        self.path = Path(location)
        self.home = self.path.parent
        self.is_sqlite, self.local_anchor = True, self.path
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
            elif self.path.stat().st_size == 0:
                # A store is created whole (``_create``), so an empty file is a damaged one, not a new one.
                raise StoreDamagedError(
                    f"the run store {self.path} is an empty file (0 bytes); it is left "
                    f"untouched. Move it aside and start a fresh store with {RESET_HINT}"
                )
            S.upgrade(self._eng(), str(self.path), self.path)
        except (sqlite3.Error, sa_exc.DBAPIError, OSError) as exc:
            self.close()
            raise _classify(exc, self.path) or exc from None
        except StoreError:
            self.close()
            raise

    def _init_server(self, location: str) -> None:
        from fmnist_core.modeling.saving import home_dir

        self.url = make_url(location)
        if self.url.get_backend_name() != "postgresql":
            raise ValueError(
                f"FMNIST_STORE_URL must be a postgresql:// URL (or unset, for runs.sqlite), "
                f"got a {self.url.get_backend_name()!r} URL"
            )
        if self.url.drivername == "postgresql":
            self.url = self.url.set(drivername="postgresql+psycopg")  # psycopg 3, the maintained driver
        self.path, self.is_sqlite = None, False
        self.home = home_dir()  # this machine's models and logs; paths in the store are relative to a home
        self.local_anchor = self.home / "runs.postgresql"  # names the local worker slots (no such file)
        try:
            S.upgrade(self._eng(), self.where)
        except sa_exc.DBAPIError as exc:
            self.close()
            raise _classify_server(exc, self.where) or exc from None
        except StoreError:
            self.close()
            raise

    @property
    def where(self) -> str:
        """The store, for messages (a URL without its password)."""
        return str(self.path) if self.is_sqlite else self.url.render_as_string(hide_password=True)

    @property
    def url_string(self) -> str:
        """The store's address for another process or node (with the password: never shown)."""
        return str(self.path.resolve()) if self.is_sqlite else self.url.render_as_string(hide_password=False)

    # ------------------------------------------------------------ plumbing

    def _create(self) -> None:
        """Create a new SQLite store whole: build it in a temp file, then link it into place (never over one)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            engine = _sqlite_engine(tmp)
            S.upgrade(engine, str(tmp), tmp)
            engine.dispose()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it meanwhile: use theirs
        finally:
            for p in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                p.unlink(missing_ok=True)

    def _eng(self):
        # One engine (a pool) per store and process: pooled connections stay open, because closing the
        # last connection to a WAL database checkpoints it with an fsync (~10 ms a write).
        if self._engine is None or self._pid != os.getpid():
            if self._engine is not None:
                self._engine.dispose(close=False)  # inherited over fork: leave the parent's connections alone
            self._engine = (
                _sqlite_engine(self.path)
                if self.is_sqlite
                else create_engine(
                    self.url, pool_pre_ping=True, pool_size=2, max_overflow=8, connect_args=_server_connect_args()
                )
            )
            self._pid = os.getpid()
        return self._engine

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE"):
        """A transaction; on SQLite IMMEDIATE takes the write lock up front, DEFERRED is a consistent read.

        Faults of the store (damaged, read-only, full; a server down) become a StoreError with what to do.
        """
        with self._lock if (self.is_sqlite and mode == "IMMEDIATE") else nullcontext():
            try:
                with self._eng().connect() as conn:
                    _BEGIN.mode = mode
                    if mode == "DEFERRED" and not self.is_sqlite:
                        # PostgreSQL's default (READ COMMITTED) gives each statement its own snapshot:
                        # a run's row and its points, read in turn, could straddle a worker's commit
                        # (a point with no epoch). A read-only REPEATABLE READ never fails to serialize.
                        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                    with conn.begin():
                        yield conn
            except sa_exc.IntegrityError:
                raise
            except (sa_exc.DBAPIError, sqlite3.Error) as exc:
                err = _classify(exc, self.path) if self.is_sqlite else _classify_server(exc, self.where)
                raise err or exc from None

    def _read(self):
        return self._tx("DEFERRED")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _rel(self, path) -> str | None:
        """A path as stored: relative to the home when inside it (a copied home then points at its own files)."""
        if path is None:
            return None
        p = Path(path)
        if not p.is_absolute():
            return str(p)
        try:
            return str(p.resolve().relative_to(self.home.resolve()))
        except ValueError:
            return str(p)

    def schema_version(self) -> int:
        with self._read() as conn:  # through _tx: a store damaged since it was opened is a StoreError here
            return S.version_of(conn)
