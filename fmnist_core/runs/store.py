"""The run store: every training run as a row in a SQLite database, with its history.

One file, ``runs.sqlite`` in ``saving.home_dir()`` ($FMNIST_HOME or saved_models/), in WAL
mode so the app can read while a worker process writes. Written by the worker
(``jobs``/``worker``), read by the app pages and the CLI.

Tables
  runs     one row per run: identity, status, what was trained (task, spec, hparams as
           JSON), live progress, final metrics, the saved model's name and path.
  epochs   per-epoch history: loss, accuracy, val_loss, val_accuracy, lr, seconds.
  batches  throttled per-batch points (~4/s) for the live curve; thinned to at most
           ``MAX_BATCH_POINTS`` per run.

The schema is versioned with ``PRAGMA user_version``. Opening an older store applies the
missing migrations in one transaction, after a backup copy (``runs.sqlite.v<N>.bak``), so an
upgrade never loses a run. A store from a *newer* app is refused with a clear message.

Integrity (schema v3): a model name is reserved in the same transaction that queues the run
(a partial UNIQUE index: one queued or running run per name); model and log paths are stored
relative to the home, so a copied home refers to its own files; a worker holds a lease with
fencing (see ``leases``); each run has an owner, and only its owner may stop, rename or delete
it (everyone may read). Faults of the file itself (corrupt, truncated, empty, newer schema,
read-only home, full disk) raise a ``StoreError`` whose message says what to do; a damaged
store is moved aside only when the user asks (``quarantine``).

A run whose worker died (SIGKILL, out of memory) is still ``running`` in the table; every
read (``list_runs``, ``get_run``) first marks such runs ``failed`` (see ``leases.reap_dead``).
"""
from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from fmnist_core.runs.leases import (  # noqa: F401 (re-exported)
    BATCH_KEYS, EPOCH_KEYS, HEARTBEAT_TIMEOUT_S, MAX_BATCH_POINTS, TERMINAL, LeaseLostError, WorkerSide)
from fmnist_core.runs.liveness import now_iso
from fmnist_core.runs.ownership import OwnerSide
from fmnist_core.runs.schema import (  # noqa: F401 (re-exported)
    SCHEMA_VERSION, SchemaTooNewError, StoreDamagedError, StoreError, StoreUnavailableError, upgrade)

STATUSES = ("queued", "running", "completed", "stopped", "failed")
JSON_COLUMNS = ("task_def", "spec", "hparams", "sweep_value")
RESET_HINT = "`python -m fmnist_core store-reset` (or the button on the Build & Train page)"


class NameTakenError(ValueError):
    """The model name is reserved by another queued or running run, or names an existing model."""


def default_path() -> Path:
    from fmnist_core.modeling.saving import home_dir
    return home_dir() / "runs.sqlite"


def _classify(exc: sqlite3.Error, path: Path) -> StoreError | None:
    """Turn a SQLite or OS fault into one StoreError that says what to do; None for transient ones."""
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "full" in text:
        return StoreUnavailableError(f"the disk holding {path.parent} is full: free some space (old models or "
                                     "worker logs there), then try again")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text \
            or "read-only" in text or "unable to open" in text:
        return StoreUnavailableError(f"the run store folder {path.parent} is not writable (read-only disk or "
                                     "permissions): make it writable, or set FMNIST_HOME to a writable folder")
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return None
    if isinstance(exc, sqlite3.DatabaseError):
        return StoreDamagedError(f"the run store {path} is damaged ({exc}); it is left untouched. To keep using the "
                                 f"app, move it aside and start a fresh, empty store with {RESET_HINT}; "
                                 "or set FMNIST_HOME to another folder")
    return None


@contextmanager
def _plain_tx(conn):
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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


class RunStore(WorkerSide, OwnerSide):
    """The run store at ``path`` (default ``saving.home_dir()/runs.sqlite``); created or upgraded on open.

    Thread-safe: one RunStore may be shared by Streamlit's threads, or by a worker's heartbeat
    and training threads. Raises a StoreError (one-line message) when the file cannot be used.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path else default_path()
        self.home = self.path.parent
        self._lock = threading.RLock()   # Streamlit threads and a worker's heartbeat share the connection
        self._connection, self._pid = None, None
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
            elif self.path.stat().st_size == 0:
                # A store is created whole (``_create``), so an empty file is a damaged one, not a new one.
                raise StoreDamagedError(f"the run store {self.path} is an empty file (0 bytes); it is left "
                                        f"untouched. Move it aside and start a fresh store with {RESET_HINT}")
            self._upgrade()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise _classify(exc, self.path) or exc from None
        except StoreError:
            self.close()
            raise

    # ------------------------------------------------------------ plumbing

    def _create(self) -> None:
        """Create a new store whole: build it in a temp file, then link it into place (never over one)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            upgrade(conn, tmp, lambda: _plain_tx(conn))
            conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it meanwhile: use theirs
        finally:
            for p in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                p.unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so a read-then-write (claiming a run,
        # marking a dead one) cannot interleave with another writer.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses no committed run
        return conn

    def _conn(self) -> sqlite3.Connection:
        # One long-lived connection per store and process: closing the last connection to a WAL
        # database checkpoints it with an fsync, which per operation cost ~10 ms a write.
        if self._connection is None or self._pid != os.getpid():
            self._connection, self._pid = self._connect(), os.getpid()
        return self._connection

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE"):
        """A transaction; IMMEDIATE takes the write lock up front, DEFERRED is a consistent read.

        SQLite faults of the file (damaged, read-only, full) become a StoreError with what to do.
        """
        with self._lock:
            try:
                conn = self._conn()
                conn.execute(f"BEGIN {mode}")
            except sqlite3.Error as exc:
                raise _classify(exc, self.path) or exc from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                    raise _classify(exc, self.path) or exc from None
                raise

    def _read(self):
        return self._tx("DEFERRED")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _upgrade(self) -> None:
        upgrade(self._conn(), self.path, self._tx)

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
        with self._read() as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    # ------------------------------------------------------------ creating and reading

    def create_run(self, name, task, spec, hparams, sweep_id=None, *, model_name=None, sweep_param=None,
                   sweep_value=None, reserved_names=(), owner=None, overwrite: bool = False) -> int:
        """Queue a run; returns its id. The model name is reserved in the same transaction.

        model_name : the name to save under; default ``run<id>`` (``run<id>_2``... past names in
            ``reserved_names``, e.g. existing model files). A name that a queued or running run
            already reserved is refused (NameTakenError), and so is an existing model's name
            (``reserved_names``, or a finished run's model) unless ``overwrite``.
        owner : who may stop, rename or delete the run (see ``check_owner``).
        task : Task (or its dict); spec : normalized layer list; hparams : HParams or dict.
        """
        from fmnist_core.data.tasks import get_task
        task = get_task(task)
        hp = hparams.to_dict() if hasattr(hparams, "to_dict") else dict(hparams)
        with self._tx() as conn:
            if model_name is not None:
                self._check_free(conn, model_name, reserved_names, overwrite)
            if sweep_id is not None:
                conn.execute("INSERT OR IGNORE INTO sweeps (id, name, owner, created_at) VALUES (?, ?, ?, ?)",
                             (sweep_id, sweep_id, owner, now_iso()))
            try:
                cur = conn.execute(
                    "INSERT INTO runs (name, status, task, task_def, spec, hparams, seed, created_at, model_name,"
                    " sweep_id, sweep_param, sweep_value, owner) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (str(name), task.name, json.dumps(task.to_dict()), json.dumps(spec), json.dumps(hp),
                     hp.get("seed"), now_iso(), model_name, sweep_id, sweep_param,
                     None if sweep_id is None else json.dumps(sweep_value), owner))
            except sqlite3.IntegrityError:   # the UNIQUE index: a racing transaction took the name first
                raise NameTakenError(f"another queued or running run will already save a model named "
                                     f"{model_name!r}; choose another name") from None
            run_id = cur.lastrowid
            if model_name is None:
                taken = set(reserved_names) | {r[0] for r in conn.execute(
                    "SELECT model_name FROM runs WHERE model_name IS NOT NULL")}
                model_name, n = f"run{run_id}", 2
                while model_name in taken:
                    model_name, n = f"run{run_id}_{n}", n + 1
                conn.execute("UPDATE runs SET model_name = ? WHERE id = ?", (model_name, run_id))
        return run_id

    @staticmethod
    def _check_free(conn, model_name, reserved_names, overwrite) -> None:
        active = conn.execute("SELECT id, status FROM runs WHERE model_name = ? AND status IN ('queued', 'running')",
                              (model_name,)).fetchone()
        if active:
            raise NameTakenError(f"run {active['id']} ({active['status']}) will already save a model named "
                                 f"{model_name!r}; choose another name")
        if overwrite:
            return
        if model_name in set(reserved_names):
            raise NameTakenError(f"a model named {model_name!r} already exists; choose another name, or overwrite "
                                 "it (overwrite=True, --overwrite)")

    def _row_to_run(self, row) -> dict:
        run = dict(row)
        for key in JSON_COLUMNS:
            if key in run and run[key] is not None:
                run[key] = json.loads(run[key])
        run["epochs"] = (run.get("hparams") or {}).get("epochs")
        run["stop_requested"] = bool(run.get("stop_requested"))
        run["eta_seconds"] = None
        bpe, epoch, batch, elapsed = (run.get(k) for k in ("batches_per_epoch", "current_epoch", "current_batch",
                                                           "elapsed"))
        if run["status"] == "running" and bpe and epoch and batch and elapsed and run["epochs"]:
            done = (epoch - 1) * bpe + batch
            run["eta_seconds"] = max(0.0, elapsed / done * (run["epochs"] * bpe - done))
        return run

    def get_run(self, run_id: int, after_step: int | None = None) -> dict | None:
        """The run with ``history`` (epoch dicts) and ``batches`` (batch dicts), or None.

        after_step : only the batch points past this step (a live view's poll reads just what is new).
        """
        self.reap_dead()
        with self._read() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                return None
            run = self._row_to_run(row)
            run["history"] = [dict(r) for r in conn.execute(
                f"SELECT {', '.join(EPOCH_KEYS)} FROM epochs WHERE run_id = ? ORDER BY epoch", (run["id"],))]
            run["batches"] = [dict(r) for r in conn.execute(
                f"SELECT {', '.join(BATCH_KEYS)} FROM batches WHERE run_id = ? AND step > ? ORDER BY step",
                (run["id"], -1 if after_step is None else int(after_step)))]
        first, last = (run["batches"][0], run["batches"][-1]) if run["batches"] else ({}, {})
        if run["eta_seconds"] is not None and last["step"] > first["step"] and None not in (first["elapsed"],
                                                                                           last["elapsed"]):
            # Time per step measured from the first point on: that point carries the one-off graph compile.
            rate = (last["elapsed"] - first["elapsed"]) / (last["step"] - first["step"])
            run["eta_seconds"] = max(0.0, rate * (run["epochs"] * run["batches_per_epoch"] - last["step"]))
        return run

    def list_runs(self, task=None, status=None, sweep_id=None, with_history: bool = True) -> list[dict]:
        """Runs, newest first, each with its ``history`` (no batch points). ``status`` may be a list."""
        self.reap_dead()
        where, args = [], []
        if task is not None:
            where.append("task = ?")
            args.append(getattr(task, "name", task))
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = set(statuses) - set(STATUSES)
            if bad:
                raise ValueError(f"unknown status {', '.join(sorted(bad))}; choose from {', '.join(STATUSES)}")
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if sweep_id is not None:
            where.append("sweep_id = ?")
            args.append(sweep_id)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        with self._read() as conn:
            runs = [self._row_to_run(r) for r in conn.execute(sql, args)]
            if with_history and runs:
                hist = {r["id"]: [] for r in runs}
                ids = ", ".join(str(i) for i in hist)
                for row in conn.execute(f"SELECT run_id, {', '.join(EPOCH_KEYS)} FROM epochs WHERE run_id IN ({ids})"
                                        " ORDER BY run_id, epoch"):
                    row = dict(row)
                    hist[row.pop("run_id")].append(row)
                for r in runs:
                    r["history"] = hist[r["id"]]
        return runs

    def next_queued(self) -> int | None:
        """Id of the oldest queued run (the one a worker claims next), or None."""
        with self._read() as conn:
            row = conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    def get_status(self, run_id: int) -> str | None:
        """Just the status (cheap: no history, no dead-worker check)."""
        with self._read() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        return row[0] if row else None
