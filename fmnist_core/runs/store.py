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

A run whose worker died (SIGKILL, out of memory) is still ``running`` in the table; every
read (``list_runs``, ``get_run``) first marks such runs ``failed``, judged from the pid
(same host) and the heartbeat age, so "the next time anyone looks" they show as failed.
"""
from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from fmnist_core.runs.liveness import age_seconds, now_iso, pid_alive
from fmnist_core.runs.schema import SCHEMA_VERSION, SchemaTooNewError, upgrade  # noqa: F401 (re-exported)

STATUSES = ("queued", "running", "completed", "stopped", "failed")
TERMINAL = ("completed", "stopped", "failed")
HEARTBEAT_TIMEOUT_S = 60.0   # a running run silent this long is dead, whatever its pid says
MAX_BATCH_POINTS = 5000      # per run; beyond it every other point is dropped (the curve keeps its shape)

JSON_COLUMNS = ("task_def", "spec", "hparams", "sweep_value")
EPOCH_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
BATCH_KEYS = ("step", "epoch", "batch", "loss", "accuracy", "lr", "elapsed")


def _num(v):
    """SQLite stores NaN as NULL anyway; say so explicitly and turn numpy scalars into floats."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def default_path() -> Path:
    from fmnist_core.modeling.saving import home_dir
    return home_dir() / "runs.sqlite"


class RunStore:
    """The run store at ``path`` (default ``saving.home_dir()/runs.sqlite``); created or upgraded on open.

    Thread-safe: one RunStore may be shared by Streamlit's threads, or by a worker's heartbeat
    and training threads.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()   # Streamlit threads and a worker's heartbeat share the connection
        self._connection, self._pid = None, None
        self._upgrade()

    # ------------------------------------------------------------ plumbing

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
        """A transaction; IMMEDIATE takes the write lock up front, DEFERRED is a consistent read."""
        with self._lock:
            conn = self._conn()
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self):
        return self._tx("DEFERRED")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _upgrade(self) -> None:
        try:
            upgrade(self._conn(), self.path, self._tx)
        except SchemaTooNewError:
            self.close()
            raise

    def schema_version(self) -> int:
        with self._read() as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    # ------------------------------------------------------------ creating and reading

    def create_run(self, name, task, spec, hparams, sweep_id=None, *, model_name=None, sweep_param=None,
                   sweep_value=None, reserved_names=()) -> int:
        """Queue a run; returns its id. ``model_name`` defaults to ``run<id>`` (``run<id>_2``... if
        that name is in ``reserved_names``, e.g. a model file left from a deleted store).

        task : Task (or its dict); spec : normalized layer list; hparams : HParams or dict.
        """
        from fmnist_core.data.tasks import get_task
        task = get_task(task)
        hp = hparams.to_dict() if hasattr(hparams, "to_dict") else dict(hparams)
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO runs (name, status, task, task_def, spec, hparams, seed, created_at, model_name,"
                " sweep_id, sweep_param, sweep_value) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(name), task.name, json.dumps(task.to_dict()), json.dumps(spec), json.dumps(hp), hp.get("seed"),
                 now_iso(), model_name, sweep_id, sweep_param,
                 None if sweep_id is None else json.dumps(sweep_value)))
            run_id = cur.lastrowid
            if model_name is None:
                taken = set(reserved_names) | {r[0] for r in conn.execute(
                    "SELECT model_name FROM runs WHERE model_name IS NOT NULL")}
                model_name, n = f"run{run_id}", 2
                while model_name in taken:
                    model_name, n = f"run{run_id}_{n}", n + 1
                conn.execute("UPDATE runs SET model_name = ? WHERE id = ?", (model_name, run_id))
        return run_id

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

    def delete_run(self, run_id: int, delete_model: bool = True) -> None:
        """Delete a finished or queued run and its history; also its model, if the model is still its own.

        A running run must be stopped first. The model is kept when another run has since
        overwritten that name (its metadata names a different run id).
        """
        run = self.get_run(run_id)
        if run is None:
            raise ValueError(f"no run with id {run_id}")
        if run["status"] == "running":
            raise ValueError(f"run {run_id} is running; stop it first")
        with self._tx() as conn:
            if not conn.execute("DELETE FROM runs WHERE id = ? AND status != 'running'", (run["id"],)).rowcount:
                raise ValueError(f"run {run_id} started meanwhile; stop it first")
        if delete_model and run.get("model_path"):
            path = Path(run["model_path"])
            meta_path = path.with_suffix(".json")
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                meta = {}
            if meta.get("run_id") == run["id"] and meta.get("source") == "run":
                path.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)

    # ------------------------------------------------------------ worker-side writers

    def claim_next(self, pid: int, log_path: str | None = None) -> dict | None:
        """Atomically move the oldest queued run to ``running`` for this worker; None if the queue is empty."""
        with self._tx() as conn:
            row = conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            self._mark_running(conn, row[0], pid, log_path)
        return self.get_run(row[0])

    def mark_running(self, run_id: int, pid: int, log_path: str | None = None) -> bool:
        with self._tx() as conn:
            return self._mark_running(conn, run_id, pid, log_path)

    @staticmethod
    def _mark_running(conn, run_id, pid, log_path) -> bool:
        now = now_iso()
        cur = conn.execute("UPDATE runs SET status = 'running', pid = ?, host = ?, log_path = ?, started_at = ?,"
                           " heartbeat_at = ? WHERE id = ? AND status = 'queued'",
                           (int(pid), socket.gethostname(), log_path, now, now, int(run_id)))
        return cur.rowcount == 1

    def heartbeat(self, run_id: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", (now_iso(), run_id))

    def set_progress(self, run_id: int, epoch=None, batch=None, batches_per_epoch=None, elapsed=None) -> None:
        """Live position; None leaves a field unchanged."""
        with self._tx() as conn:
            self._set_progress(conn, run_id, epoch, batch, batches_per_epoch, elapsed)

    @staticmethod
    def _set_progress(conn, run_id, epoch=None, batch=None, batches_per_epoch=None, elapsed=None):
        conn.execute("UPDATE runs SET current_epoch = COALESCE(?, current_epoch), current_batch = COALESCE(?,"
                     " current_batch), batches_per_epoch = COALESCE(?, batches_per_epoch), elapsed = COALESCE(?,"
                     " elapsed), heartbeat_at = ? WHERE id = ? AND status = 'running'",
                     (epoch, batch, batches_per_epoch, _num(elapsed), now_iso(), run_id))

    def add_epoch(self, run_id: int, e: dict) -> None:
        with self._tx() as conn:
            conn.execute(f"INSERT OR REPLACE INTO epochs (run_id, {', '.join(EPOCH_KEYS)}) VALUES (?{', ?' * 7})",
                         (run_id, int(e["epoch"]), *(_num(e.get(k)) for k in EPOCH_KEYS[1:])))

    def add_batch(self, run_id: int, b: dict) -> None:
        """Store one live point and the run's position; thins the run's points past MAX_BATCH_POINTS."""
        with self._tx() as conn:
            conn.execute(f"INSERT OR REPLACE INTO batches (run_id, {', '.join(BATCH_KEYS)}) VALUES (?{', ?' * 7})",
                         (run_id, int(b["step"]), int(b["epoch"]), int(b["batch"]),
                          *(_num(b.get(k)) for k in BATCH_KEYS[3:])))
            self._set_progress(conn, run_id, int(b["epoch"]), int(b["batch"]), b.get("batches_per_epoch"),
                               b.get("elapsed"))
            n = conn.execute("SELECT COUNT(*) FROM batches WHERE run_id = ?", (run_id,)).fetchone()[0]
            if n > MAX_BATCH_POINTS:
                # Drop every second point but never the newest one.
                conn.execute("DELETE FROM batches WHERE run_id = ? AND step IN (SELECT step FROM (SELECT step,"
                             " ROW_NUMBER() OVER (ORDER BY step DESC) AS rn FROM batches WHERE run_id = ?)"
                             " WHERE rn % 2 = 0)", (run_id, run_id))

    def stop_requested(self, run_id: int) -> bool:
        """True if a stop was asked for, or the run is no longer ours to run (marked failed meanwhile)."""
        with self._read() as conn:
            row = conn.execute("SELECT status, stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row is None or row["status"] != "running" or bool(row["stop_requested"])

    def request_stop(self, run_id: int) -> str:
        """Stop a run: a queued one becomes ``stopped`` at once; a running one is flagged for its worker.

        Returns the run's status afterwards ('stopped', 'running' = stop requested, or the
        terminal status it already had). Raises ValueError for an unknown id.
        """
        with self._tx() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise ValueError(f"no run with id {run_id}; `python -m fmnist_core runs` lists them")
            if row["status"] == "queued":
                conn.execute("UPDATE runs SET status = 'stopped', message = 'stopped before it started',"
                             " finished_at = ? WHERE id = ?", (now_iso(), run_id))
                return "stopped"
            if row["status"] == "running":
                conn.execute("UPDATE runs SET stop_requested = 1 WHERE id = ?", (run_id,))
            return row["status"]

    def finish(self, run_id: int, status: str, message: str | None = None, val: dict | None = None,
               test: dict | None = None, model_path=None, train_seconds=None, best_epoch=None) -> bool:
        """Record how a running run ended. Returns False (and changes nothing) if it was no longer running."""
        if status not in TERMINAL:
            raise ValueError(f"finish status must be one of {', '.join(TERMINAL)}, got {status!r}")
        val, test = val or {}, test or {}
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, message = ?, finished_at = ?, val_accuracy = ?, val_loss = ?,"
                " test_accuracy = ?, test_loss = ?, model_path = ?, train_seconds = ?, best_epoch = ?"
                " WHERE id = ? AND status = 'running'",
                (status, message, now_iso(), _num(val.get("accuracy")), _num(val.get("loss")),
                 _num(test.get("accuracy")), _num(test.get("loss")), None if model_path is None else str(model_path),
                 _num(train_seconds), best_epoch, run_id))
            return cur.rowcount == 1

    # ------------------------------------------------------------ dead workers

    def reap_dead(self) -> list[int]:
        """Mark ``failed`` every running run whose worker is gone; returns their ids.

        Dead means: on this host and its pid no longer alive, or (any host) no heartbeat
        for HEARTBEAT_TIMEOUT_S. Each update is conditional on the heartbeat read, so a run
        that heartbeats meanwhile is left alone.
        """
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT id, pid, host, heartbeat_at, current_epoch, log_path FROM runs WHERE status = 'running'")]
        here = socket.gethostname()
        dead = [r for r in rows if (r["host"] == here and not pid_alive(r["pid"]))
                or age_seconds(r["heartbeat_at"]) > HEARTBEAT_TIMEOUT_S]
        marked = []
        for r in dead:
            when = f"during epoch {r['current_epoch']}" if r["current_epoch"] else "before its first epoch ended"
            msg = (f"worker process {r['pid']} died (killed or out of memory) {when}; nothing was saved for this run"
                   + (f"; its log: {r['log_path']}" if r["log_path"] else "")
                   + ". Try a smaller batch size or model, or train it again.")
            with self._tx() as conn:
                cur = conn.execute("UPDATE runs SET status = 'failed', message = ?, finished_at = ? WHERE id = ?"
                                   " AND status = 'running' AND heartbeat_at IS ?",
                                   (msg, now_iso(), r["id"], r["heartbeat_at"]))
                if cur.rowcount:
                    marked.append(r["id"])
        return marked
