"""The worker side of the run store: claiming runs under a lease, live progress, results, dead workers.

A worker that claims a run gets a **lease**: a random token written into the run's row. It
renews the lease with every heartbeat (``heartbeat`` returns False once the lease is gone),
and every write it makes (progress, epochs, the result) is conditional on still holding it.
When a run is declared dead (``reap_dead``: pid gone, or no heartbeat for
``HEARTBEAT_TIMEOUT_S``) its lease is taken away, so a worker that was only paused (SIGSTOP,
a swapped-out laptop) cannot write anything for it afterwards: that is the fencing.

The result and the model are published together: ``finish(..., publish=fn)`` checks the
lease and calls ``fn`` (which moves the staged model file into place) inside the same write
transaction that records the result. The reaper needs that same write lock, so a model is
published only by a worker that held the lease at that instant.

Mixed into ``store.RunStore``; kept apart because the worker's protocol is its own concept.
"""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from fmnist_core.runs.liveness import age_seconds, now_iso, pid_alive

TERMINAL = ("completed", "stopped", "failed")
# A lease not renewed this long is gone, whatever the worker's pid says. FMNIST_LEASE_TIMEOUT_S
# shortens it for the fault-injection tests (a 66 s SIGSTOP becomes a 10 s one).
HEARTBEAT_TIMEOUT_S = float(os.environ.get("FMNIST_LEASE_TIMEOUT_S") or 60.0)
MAX_BATCH_POINTS = 5000      # per run; beyond it every other point is dropped (the curve keeps its shape)
EPOCH_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
BATCH_KEYS = ("step", "epoch", "batch", "loss", "accuracy", "lr", "elapsed")


class LeaseLostError(RuntimeError):
    """This worker's lease on a run was taken away (the run was declared dead); it must not write."""


def _num(v):
    """SQLite stores NaN as NULL anyway; say so explicitly and turn numpy scalars into floats."""
    import math
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


# ``lease`` arguments: the token from ``claim_next``/``mark_running``. None means an unfenced
# write by an operator or a test; the worker always passes its token.
_HELD = " AND status = 'running' AND (? IS NULL OR lease_token = ?)"


class WorkerSide:
    """Worker-side writers of ``RunStore`` (needs its ``_tx``, ``_read``, ``get_run``, ``home``)."""

    def claim_next(self, pid: int, log_path: str | None = None) -> dict | None:
        """Atomically move the oldest queued run to ``running`` under a new lease; None if the queue is empty.

        The returned run carries its lease token as ``run["lease"]``.
        """
        with self._tx() as conn:
            row = conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            lease = self._mark_running(conn, row[0], pid, log_path)
        run = self.get_run(row[0])
        run["lease"] = lease
        return run

    def mark_running(self, run_id: int, pid: int, log_path: str | None = None) -> str | None:
        """Claim one queued run; its lease token, or None if it was not queued."""
        with self._tx() as conn:
            return self._mark_running(conn, run_id, pid, log_path)

    def _mark_running(self, conn, run_id, pid, log_path) -> str | None:
        now, lease = now_iso(), uuid.uuid4().hex
        cur = conn.execute("UPDATE runs SET status = 'running', pid = ?, host = ?, log_path = ?, started_at = ?,"
                           " heartbeat_at = ?, lease_token = ? WHERE id = ? AND status = 'queued'",
                           (int(pid), socket.gethostname(), self._rel(log_path), now, now, lease, int(run_id)))
        return lease if cur.rowcount == 1 else None

    def heartbeat(self, run_id: int, lease: str | None = None) -> bool:
        """Renew the lease; False if it is gone (the run was taken away or ended)."""
        with self._tx() as conn:
            return conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?" + _HELD,
                                (now_iso(), run_id, lease, lease)).rowcount == 1

    def set_progress(self, run_id: int, epoch=None, batch=None, batches_per_epoch=None, elapsed=None,
                     lease: str | None = None) -> None:
        """Live position; None leaves a field unchanged."""
        with self._tx() as conn:
            self._set_progress(conn, run_id, epoch, batch, batches_per_epoch, elapsed, lease)

    @staticmethod
    def _set_progress(conn, run_id, epoch=None, batch=None, batches_per_epoch=None, elapsed=None, lease=None):
        return conn.execute(
            "UPDATE runs SET current_epoch = COALESCE(?, current_epoch), current_batch = COALESCE(?,"
            " current_batch), batches_per_epoch = COALESCE(?, batches_per_epoch), elapsed = COALESCE(?,"
            " elapsed), heartbeat_at = ? WHERE id = ?" + _HELD,
            (epoch, batch, batches_per_epoch, _num(elapsed), now_iso(), run_id, lease, lease)).rowcount == 1

    @staticmethod
    def _held(conn, run_id, lease) -> bool:
        return conn.execute("SELECT 1 FROM runs WHERE id = ?" + _HELD, (run_id, lease, lease)).fetchone() is not None

    def add_epoch(self, run_id: int, e: dict, lease: str | None = None) -> bool:
        with self._tx() as conn:
            if lease is not None and not self._held(conn, run_id, lease):
                return False
            conn.execute(f"INSERT OR REPLACE INTO epochs (run_id, {', '.join(EPOCH_KEYS)}) VALUES (?{', ?' * 7})",
                         (run_id, int(e["epoch"]), *(_num(e.get(k)) for k in EPOCH_KEYS[1:])))
            return True

    def add_batch(self, run_id: int, b: dict, lease: str | None = None) -> bool:
        """Store one live point and the run's position; thins the run's points past MAX_BATCH_POINTS."""
        from fmnist_core.runs import leases as mod   # the cap is read at call time (tests lower it)
        with self._tx() as conn:
            if not self._set_progress(conn, run_id, int(b["epoch"]), int(b["batch"]), b.get("batches_per_epoch"),
                                      b.get("elapsed"), lease) and lease is not None:
                return False
            conn.execute(f"INSERT OR REPLACE INTO batches (run_id, {', '.join(BATCH_KEYS)}) VALUES (?{', ?' * 7})",
                         (run_id, int(b["step"]), int(b["epoch"]), int(b["batch"]),
                          *(_num(b.get(k)) for k in BATCH_KEYS[3:])))
            n = conn.execute("SELECT COUNT(*) FROM batches WHERE run_id = ?", (run_id,)).fetchone()[0]
            if n > mod.MAX_BATCH_POINTS:
                # Drop every second point but never the newest one.
                conn.execute("DELETE FROM batches WHERE run_id = ? AND step IN (SELECT step FROM (SELECT step,"
                             " ROW_NUMBER() OVER (ORDER BY step DESC) AS rn FROM batches WHERE run_id = ?)"
                             " WHERE rn % 2 = 0)", (run_id, run_id))
            return True

    def stop_requested(self, run_id: int, lease: str | None = None) -> bool:
        """True if a stop was asked for, or the run is no longer ours to run (failed, or its lease taken)."""
        with self._read() as conn:
            row = conn.execute("SELECT status, stop_requested, lease_token FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
        return (row is None or row["status"] != "running" or bool(row["stop_requested"])
                or (lease is not None and row["lease_token"] != lease))

    def finish(self, run_id: int, status: str, message: str | None = None, val: dict | None = None,
               test: dict | None = None, model_path=None, train_seconds=None, best_epoch=None,
               lease: str | None = None, publish=None) -> bool:
        """Record how a running run ended. Returns False (and changes nothing) if it was no longer running.

        With ``lease``: raises LeaseLostError if the lease was taken away or has expired (no heartbeat
        for HEARTBEAT_TIMEOUT_S; the run is then marked failed with that cause), and nothing is written.
        ``publish``: called inside the transaction once the lease is checked (e.g. moving the staged
        model into place); if it raises, nothing is recorded and the error propagates.
        """
        if status not in TERMINAL:
            raise ValueError(f"finish status must be one of {', '.join(TERMINAL)}, got {status!r}")
        val, test = val or {}, test or {}
        expired = False
        with self._tx() as conn:
            row = conn.execute("SELECT status, lease_token, heartbeat_at FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            if lease is not None:
                if row is None or row["status"] != "running" or row["lease_token"] != lease:
                    raise LeaseLostError(f"run {run_id} was taken from this worker (declared dead); "
                                         "its result is discarded")
                if age_seconds(row["heartbeat_at"]) > HEARTBEAT_TIMEOUT_S:
                    expired = True
            elif row is None or row["status"] != "running":
                return False
            if not expired:
                if publish is not None:
                    publish()
                conn.execute(
                    "UPDATE runs SET status = ?, message = ?, finished_at = ?, val_accuracy = ?, val_loss = ?,"
                    " test_accuracy = ?, test_loss = ?, model_path = ?, train_seconds = ?, best_epoch = ?,"
                    " lease_token = NULL WHERE id = ?",
                    (status, message, now_iso(), _num(val.get("accuracy")), _num(val.get("loss")),
                     _num(test.get("accuracy")), _num(test.get("loss")), self._rel(model_path),
                     _num(train_seconds), best_epoch, run_id))
                return True
            age = age_seconds(row["heartbeat_at"])
            conn.execute("UPDATE runs SET status = 'failed', message = ?, finished_at = ?, lease_token = NULL"
                         " WHERE id = ?", (f"the worker's lease expired: no heartbeat for {age:.0f} s (the worker was"
                                           " paused or starved), so its result was discarded. Train it again.",
                                           now_iso(), run_id))
        raise LeaseLostError(f"run {run_id}: lease expired after {age:.0f} s without a heartbeat; result discarded")

    # ------------------------------------------------------------ dead workers

    def reap_dead(self) -> list[int]:
        """Mark ``failed`` every running run whose worker is gone, taking its lease; returns their ids.

        Dead means: on this host and its pid no longer alive, or (any host) no heartbeat
        for HEARTBEAT_TIMEOUT_S. Each update is conditional on the heartbeat read, so a run
        that heartbeats meanwhile is left alone.
        """
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT id, pid, host, heartbeat_at, current_epoch, log_path, model_name FROM runs"
                " WHERE status = 'running'")]
        here = socket.gethostname()
        dead = [r for r in rows if (r["host"] == here and not pid_alive(r["pid"]))
                or age_seconds(r["heartbeat_at"]) > HEARTBEAT_TIMEOUT_S]
        marked = []
        for r in dead:
            msg = self._death_message(r)
            with self._tx() as conn:
                cur = conn.execute("UPDATE runs SET status = 'failed', message = ?, finished_at = ?, lease_token = NULL"
                                   " WHERE id = ? AND status = 'running' AND heartbeat_at IS ?",
                                   (msg, now_iso(), r["id"], r["heartbeat_at"]))
                if cur.rowcount:
                    marked.append(r["id"])
        return marked

    def _death_message(self, r: dict) -> str:
        """Why the run ended, as precisely as we can tell: its log's last error line says the real cause."""
        when = f"during epoch {r['current_epoch']}" if r["current_epoch"] else "before its first epoch ended"
        alive = r["host"] == socket.gethostname() and pid_alive(r["pid"])
        what = (f"worker process {r['pid']} stopped heartbeating for over {HEARTBEAT_TIMEOUT_S:.0f} s (paused or"
                " hung); its lease was taken" if alive else f"worker process {r['pid']} died")
        cause = self._log_cause(r["log_path"])
        msg = f"{what} {when}" + (f": {cause}" if cause else " (killed or out of memory)")
        if self._saved_by(r):
            msg += f"; its model {r['model_name']!r} was saved whole just before, but its result was not recorded"
        else:
            msg += "; nothing was recorded for this run"
        if r["log_path"]:
            msg += f"; its log: {r['log_path']}"
        return msg + ". Try a smaller batch size or model, or train it again."

    def _saved_by(self, r: dict) -> bool:
        """Did this run publish its model before dying (killed between the rename and the commit)?"""
        from fmnist_core.modeling.saving import read_metadata
        try:
            return read_metadata(self.home / f"{r['model_name']}.keras").get("run_id") == r["id"]
        except Exception:
            return False

    def _log_cause(self, log_path) -> str | None:
        """The last error-looking line of the worker's log (e.g. 'No space left on device'), if any."""
        if not log_path:
            return None
        path = Path(log_path) if Path(log_path).is_absolute() else self.home / log_path
        try:
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 4096))
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            if any(k in line for k in ("Error", "error:", "No space left", "Read-only")):
                return line.strip()[-200:]
        return None
