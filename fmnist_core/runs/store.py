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
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import create_engine, event, insert, select, update
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
from fmnist_core.runs.liveness import now_iso
from fmnist_core.runs.ownership import OwnerSide
from fmnist_core.runs.reaper import Reaper
from fmnist_core.runs.schema import (  # noqa: F401 (re-exported)
    SCHEMA_VERSION,
    SchemaTooNewError,
    StoreDamagedError,
    StoreError,
    StoreUnavailableError,
)

STATUSES = ("queued", "running", "completed", "stopped", "failed")
JSON_COLUMNS = ("task_def", "spec", "hparams", "sweep_value")
RESET_HINT = "`python -m fmnist_core store-reset` (or the button on the Build & Train page)"
R = S.runs


class NameTakenError(ValueError):
    """The model name is reserved by another queued or running run, or names an existing model."""


def default_path() -> Path:
    from fmnist_core.modeling.saving import home_dir

    return home_dir() / "runs.sqlite"


def default_location() -> str | Path:
    """$FMNIST_STORE_URL when set (a PostgreSQL store for a cluster), else the SQLite file in the home."""
    from fmnist_core.schema.settings import settings

    return settings().store_url or default_path()  # a bad URL is never taken for a file name


def _classify(exc, path: Path) -> StoreError | None:
    """Turn a SQLite or OS fault into one StoreError that says what to do; None for transient ones."""
    exc = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(exc).lower()
    if (
        isinstance(exc, OSError)
        and exc.errno == errno.ENOSPC
        or "full" in text
        or ("i/o error" in text and _nearly_full(path))
    ):
        return StoreUnavailableError(
            f"the disk holding {path.parent} is full: free some space (old models or worker logs there), then try again"
        )
    if (
        isinstance(exc, OSError)
        and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
        or "readonly" in text
        or "read-only" in text
        or "unable to open" in text
    ):
        return StoreUnavailableError(
            f"the run store folder {path.parent} is not writable (read-only disk or "
            "permissions): make it writable, or set FMNIST_HOME to a writable folder"
        )
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreUnavailableError(
            f"the run store {path} stayed locked by another process (a training worker, "
            f"the app or another command) for {_timeout_s():g} s: wait for it to finish "
            "or stop it, then try again (FMNIST_DB_TIMEOUT_S sets how long to wait)"
        )
    if isinstance(exc, sqlite3.DatabaseError):
        return StoreDamagedError(
            f"the run store {path} is damaged ({exc}); it is left untouched. To keep using the "
            f"app, move it aside and start a fresh, empty store with {RESET_HINT}; "
            "or set FMNIST_HOME to another folder"
        )
    return None


def _timeout_s() -> float:
    """$FMNIST_DB_TIMEOUT_S: the longest a store call waits for a lock, a connection or a statement."""
    from fmnist_core.schema.settings import Settings, SettingsError, settings

    try:
        return settings().db_timeout_s
    except SettingsError:  # another bad setting: refused where it is used (submit, the CLI), not by every open
        return Settings.model_fields["db_timeout_s"].default


def _server_connect_args() -> dict:
    """psycopg's connect timeout (whole seconds), and server-side statement and lock timeouts, so an
    address that never answers or a stuck lock ends in a StoreError instead of a hang."""
    ms = int(_timeout_s() * 1000)
    return {
        "connect_timeout": max(1, round(_timeout_s())),
        "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
    }


def _classify_server(exc, where: str) -> StoreError | None:
    """A PostgreSQL store that cannot be reached (down, wrong address or password): one clear error."""
    if isinstance(exc, sa_exc.OperationalError):
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:200]
        return StoreUnavailableError(
            f"the run store {where} cannot be reached ({first}): start PostgreSQL, or fix "
            "FMNIST_STORE_URL (unset it to use the local runs.sqlite)"
        )
    return None


def _nearly_full(path: Path) -> bool:
    """SQLite reports a full disk as "disk I/O error" when its WAL cannot grow: look at the free space."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def quarantine(path=None) -> Path:
    """Move a damaged store (and its -wal/-shm files) aside as ``runs.sqlite.damaged-<time>``; returns
    the new name. Only on the user's explicit request: the next ``RunStore`` starts a fresh store."""
    path = Path(path) if path else default_path()
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
    if path.exists():
        os.replace(path, aside)
    return aside


_BEGIN = threading.local()  # this thread's next BEGIN on SQLite: IMMEDIATE (a write) or DEFERRED (a read)


def _sqlite_engine(path: Path):
    # reset_on_return=None: every use is an explicit transaction that ends in COMMIT or ROLLBACK.
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": _timeout_s(), "check_same_thread": False},
        pool_reset_on_return=None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # We issue BEGIN ourselves (pysqlite's implicit one comes late), so a read-then-write
        # (claiming a run, marking a dead one) cannot interleave with another writer.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses no committed run
        if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cur.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(f"BEGIN {getattr(_BEGIN, 'mode', 'IMMEDIATE')}")

    return engine


class RunStore(WorkerSide, Reaper, OwnerSide, ClusterSide):
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

    # ------------------------------------------------------------ creating and reading

    def create_run(
        self,
        name,
        task,
        spec,
        hparams,
        sweep_id=None,
        *,
        model_name=None,
        sweep_param=None,
        sweep_value=None,
        reserved_names=(),
        owner=None,
        overwrite: bool = False,
        claim_pid: int | None = None,
    ) -> int:
        """Queue a run; returns its id. The model name is reserved in the same transaction.

        model_name : the name to save under; default ``run<id>`` (``run<id>_2``... past names in
            ``reserved_names``, e.g. existing model files). A name that a queued or running run
            already reserved is refused (NameTakenError), and so is an existing model's name
            (``reserved_names``, or a finished run's model) unless ``overwrite``.
        owner : who may stop, rename or delete the run (see ``check_owner``).
        claim_pid : create the run already running, held by this process (a run trained in-process):
            it is never queued, so no waiting worker can take it between create and claim.
        task : Task (or its dict); spec : normalized layer list; hparams : HParams or dict.
        """
        from fmnist_core.data.tasks import get_task

        task = get_task(task)
        hp = hparams.to_dict() if hasattr(hparams, "to_dict") else dict(hparams)
        try:
            with self._tx() as conn:
                if model_name is not None:
                    self._check_free(conn, model_name, reserved_names, overwrite)
                if sweep_id is not None:
                    _insert_ignore(
                        conn,
                        S.sweeps,
                        ["id"],
                        {"id": sweep_id, "name": sweep_id, "owner": owner, "created_at": now_iso()},
                    )
                run_id = conn.execute(
                    insert(R)
                    .values(
                        name=str(name),
                        status="queued",
                        task=task.name,
                        task_def=json.dumps(task.to_dict()),
                        spec=json.dumps(spec),
                        hparams=json.dumps(hp),
                        seed=hp.get("seed"),
                        created_at=now_iso(),
                        model_name=model_name,
                        sweep_id=sweep_id,
                        sweep_param=sweep_param,
                        sweep_value=None if sweep_id is None else json.dumps(sweep_value),
                        owner=owner,
                    )
                    .returning(R.c.id)
                ).scalar_one()
                if model_name is None:
                    taken = set(reserved_names) | set(
                        conn.execute(select(R.c.model_name).where(R.c.model_name.is_not(None))).scalars()
                    )
                    model_name, n = f"run{run_id}", 2
                    while model_name in taken:
                        model_name, n = f"run{run_id}_{n}", n + 1
                    conn.execute(update(R).where(R.c.id == run_id).values(model_name=model_name))
                if claim_pid is not None:
                    self._mark_running(conn, run_id, claim_pid, None)
        except sa_exc.IntegrityError:  # the UNIQUE index: a racing transaction took the name first
            raise NameTakenError(
                f"another queued or running run will already save a model named {model_name!r}; choose another name"
            ) from None
        return run_id

    @staticmethod
    def _check_free(conn, model_name, reserved_names, overwrite) -> None:
        active = conn.execute(
            select(R.c.id, R.c.status).where(R.c.model_name == model_name, R.c.status.in_(S.ACTIVE))
        ).first()
        if active:
            raise NameTakenError(
                f"run {active.id} ({active.status}) will already save a model named {model_name!r}; choose another name"
            )
        if overwrite:
            return
        if model_name in set(reserved_names):
            raise NameTakenError(
                f"a model named {model_name!r} already exists; choose another name, or overwrite "
                "it (overwrite=True, --overwrite)"
            )

    def _row_to_run(self, row) -> dict:
        run = dict(row._mapping)
        for key in JSON_COLUMNS:
            if key in run and run[key] is not None:
                run[key] = json.loads(run[key])
        run["epochs"] = (run.get("hparams") or {}).get("epochs")
        run["stop_requested"] = bool(run.get("stop_requested"))
        run["eta_seconds"] = None
        bpe, epoch, batch, elapsed = (
            run.get(k) for k in ("batches_per_epoch", "current_epoch", "current_batch", "elapsed")
        )
        if run["status"] == "running" and bpe and epoch and batch and elapsed and run["epochs"]:
            done = (epoch - 1) * bpe + batch
            run["eta_seconds"] = max(0.0, elapsed / done * (run["epochs"] * bpe - done))
        return run

    def get_run(self, run_id: int, after_step: int | None = None, with_batches: bool = True) -> dict | None:
        """The run with ``history`` (epoch dicts) and ``batches`` (batch dicts), or None.

        after_step : only the batch points past this step (a live view's poll reads just what is new).
        with_batches : False reads no batch point (``batches`` is empty).
        """
        self.reap_dead()
        E, B = S.epochs, S.batches
        with self._read() as conn:
            row = conn.execute(select(R).where(R.c.id == int(run_id))).first()
            if row is None:
                return None
            run = self._row_to_run(row)
            run["history"] = [
                dict(r._mapping)
                for r in conn.execute(
                    select(*(E.c[k] for k in EPOCH_KEYS)).where(E.c.run_id == run["id"]).order_by(E.c.epoch)
                )
            ]
            run["batches"] = (
                [
                    dict(r._mapping)
                    for r in conn.execute(
                        select(*(B.c[k] for k in BATCH_KEYS))
                        .where(B.c.run_id == run["id"], B.c.step > (-1 if after_step is None else int(after_step)))
                        .order_by(B.c.step)
                    )
                ]
                if with_batches
                else []
            )
        first, last = (run["batches"][0], run["batches"][-1]) if run["batches"] else ({}, {})
        if (
            run["eta_seconds"] is not None
            and len(run["batches"]) > 1
            and last["step"] > first["step"]
            and None not in (first["elapsed"], last["elapsed"])
        ):
            # Time per step measured from the first point on: that point carries the one-off graph compile.
            rate = (last["elapsed"] - first["elapsed"]) / (last["step"] - first["step"])
            run["eta_seconds"] = max(0.0, rate * (run["epochs"] * run["batches_per_epoch"] - last["step"]))
        return run

    def list_runs(self, task=None, status=None, sweep_id=None, with_history: bool = True) -> list[dict]:
        """Runs, newest first, each with its ``history`` (no batch points). ``status`` may be a list."""
        self.reap_dead()
        query = select(R).order_by(R.c.id.desc())
        if task is not None:
            query = query.where(R.c.task == getattr(task, "name", task))
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = set(statuses) - set(STATUSES)
            if bad:
                raise ValueError(f"unknown status {', '.join(sorted(bad))}; choose from {', '.join(STATUSES)}")
            query = query.where(R.c.status.in_(statuses))
        if sweep_id is not None:
            query = query.where(R.c.sweep_id == sweep_id)
        E = S.epochs
        with self._read() as conn:
            runs = [self._row_to_run(r) for r in conn.execute(query)]
            if with_history and runs:
                hist = {r["id"]: [] for r in runs}
                for row in conn.execute(
                    select(E.c.run_id, *(E.c[k] for k in EPOCH_KEYS))
                    .where(E.c.run_id.in_(list(hist)))
                    .order_by(E.c.run_id, E.c.epoch)
                ):
                    row = dict(row._mapping)
                    hist[row.pop("run_id")].append(row)
                for r in runs:
                    r["history"] = hist[r["id"]]
        return runs

    def next_queued(self) -> int | None:
        """Id of the oldest queued run (the one a worker claims next), or None."""
        with self._read() as conn:
            return conn.execute(select(R.c.id).where(R.c.status == "queued").order_by(R.c.id).limit(1)).scalar()

    def get_status(self, run_id: int) -> str | None:
        """Just the status (cheap: no history, no dead-worker check)."""
        with self._read() as conn:
            return conn.execute(select(R.c.status).where(R.c.id == int(run_id))).scalar()


def _insert_ignore(conn, table, index, values: dict) -> None:
    """INSERT ... ON CONFLICT (index) DO NOTHING, in each dialect's Core construct."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    conn.execute(dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=index))
