"""The worker side of the run store: claiming runs under a lease, live progress, results.

A worker that claims a run gets a **lease**: a random token written into the run's row. It
renews the lease with every heartbeat (``heartbeat`` returns False once the lease is gone),
and every write it makes (progress, epochs, the result) is conditional on still holding it.
When a run is declared dead (``reaper.reap_dead``: pid gone, or no heartbeat for
``HEARTBEAT_TIMEOUT_S``) its lease is taken away, so a worker that was only paused (SIGSTOP,
a swapped-out laptop) cannot write anything for it afterwards: that is the fencing.

The result and the model are published together: ``finish(..., publish=fn)`` checks the
lease and calls ``fn`` (which moves the staged model file into place) inside the same write
transaction that records the result; a worker on another node passes ``model_blob`` instead,
and the model travels in that transaction (see ``ray_executor``). The reaper needs that same
row, so a model is published only by a worker that held the lease at that instant.

Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so many workers claim at once without
waiting on each other or taking the same run (SQLite has no row locks: its BEGIN IMMEDIATE
serialises writers instead; SQLAlchemy renders no locking clause there).

Mixed into ``store.RunStore``; kept apart because the worker's protocol is its own concept.
"""

from __future__ import annotations

import socket
import uuid

from sqlalchemy import and_, delete, func, insert, select, update

from fmnist_core.runs import schema as S
from fmnist_core.runs.liveness import age_seconds, now_iso
from fmnist_core.schema.settings import settings

TERMINAL = ("completed", "stopped", "failed")


# A lease not renewed this long is gone, whatever the worker's pid says. FMNIST_LEASE_TIMEOUT_S
# shortens it for the fault-injection tests (a 66 s SIGSTOP becomes a 10 s one).
def lease_timeout() -> float:
    """$FMNIST_LEASE_TIMEOUT_S (default 60) in seconds; SettingsError unless it is a number in 3-86400
    (a worker heartbeats every 2 s, so a shorter lease would be taken from healthy workers)."""
    return settings().lease_timeout_s


try:  # a bad value must not break every import: ``jobs.submit`` refuses it, in one line, before queueing
    HEARTBEAT_TIMEOUT_S = lease_timeout()
except ValueError:
    HEARTBEAT_TIMEOUT_S = 60.0
MAX_BATCH_POINTS = 5000  # per run; beyond it every other point is dropped (the curve keeps its shape)
EPOCH_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
BATCH_KEYS = ("step", "epoch", "batch", "loss", "accuracy", "lr", "elapsed")
R = S.runs


class LeaseLostError(RuntimeError):
    """This worker's lease on a run was taken away (the run was declared dead); it must not write."""


def _num(v):
    """NaN is stored as NULL (SQLite does so anyway); numpy scalars become floats."""
    import math

    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _held(run_id, lease):
    """The run is running and (when a lease is given) under this lease. None means an unfenced write by
    an operator or a test; the worker always passes its token."""
    cond = and_(R.c.id == run_id, R.c.status == "running")
    return cond if lease is None else and_(cond, R.c.lease_token == lease)


def _upsert(conn, table, index, values: dict) -> None:
    """INSERT ... ON CONFLICT (index) DO UPDATE: both dialects have it, with the same Core API."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=index, set_={k: stmt.excluded[k] for k in values if k not in index})
    )


class WorkerSide:
    """Worker-side writers of ``RunStore`` (needs its ``_tx``, ``_read``, ``get_run``, ``home``, ``_rel``)."""

    def claim_next(self, pid: int, log_path: str | None = None) -> dict | None:
        """Atomically move the oldest queued run to ``running`` under a new lease; None if the queue is empty.

        The returned run carries its lease token as ``run["lease"]``.
        """
        with self._tx() as conn:
            run_id = conn.execute(
                select(R.c.id).where(R.c.status == "queued").order_by(R.c.id).limit(1).with_for_update(skip_locked=True)
            ).scalar()
            if run_id is None:
                return None
            lease = self._mark_running(conn, run_id, pid, log_path)
        run = self.get_run(run_id)
        run["lease"] = lease
        return run

    def mark_running(
        self, run_id: int, pid: int, log_path: str | None = None, executor: str | None = None
    ) -> str | None:
        """Claim one queued run; its lease token, or None if it was not queued (taken, or stopped)."""
        with self._tx() as conn:
            return self._mark_running(conn, run_id, pid, log_path, executor)

    def _mark_running(self, conn, run_id, pid, log_path, executor=None) -> str | None:
        now, lease = now_iso(), uuid.uuid4().hex
        cur = conn.execute(
            update(R)
            .where(R.c.id == int(run_id), R.c.status == "queued")
            .values(
                status="running",
                pid=int(pid),
                host=socket.gethostname(),
                log_path=self._rel(log_path),
                started_at=now,
                heartbeat_at=now,
                lease_token=lease,
                executor=executor,
            )
        )
        return lease if cur.rowcount == 1 else None

    def heartbeat(self, run_id: int, lease: str | None = None) -> bool:
        """Renew the lease; False if it is gone (the run was taken away or ended)."""
        with self._tx() as conn:
            return conn.execute(update(R).where(_held(run_id, lease)).values(heartbeat_at=now_iso())).rowcount == 1

    def set_progress(
        self, run_id: int, epoch=None, batch=None, batches_per_epoch=None, elapsed=None, lease: str | None = None
    ) -> None:
        """Live position; None leaves a field unchanged."""
        with self._tx() as conn:
            self._set_progress(conn, run_id, epoch, batch, batches_per_epoch, elapsed, lease)

    @staticmethod
    def _set_progress(conn, run_id, epoch=None, batch=None, batches_per_epoch=None, elapsed=None, lease=None):
        values = {
            "current_epoch": epoch,
            "current_batch": batch,
            "batches_per_epoch": batches_per_epoch,
            "elapsed": _num(elapsed),
        }
        return (
            conn.execute(
                update(R)
                .where(_held(run_id, lease))
                .values(heartbeat_at=now_iso(), **{k: v for k, v in values.items() if v is not None})
            ).rowcount
            == 1
        )

    @staticmethod
    def _is_held(conn, run_id, lease) -> bool:
        return conn.execute(select(R.c.id).where(_held(run_id, lease))).first() is not None

    def add_epoch(self, run_id: int, e: dict, lease: str | None = None) -> bool:
        with self._tx() as conn:
            if lease is not None and not self._is_held(conn, run_id, lease):
                return False
            _upsert(
                conn,
                S.epochs,
                ["run_id", "epoch"],
                {"run_id": run_id, "epoch": int(e["epoch"]), **{k: _num(e.get(k)) for k in EPOCH_KEYS[1:]}},
            )
            return True

    def add_batch(self, run_id: int, b: dict, lease: str | None = None) -> bool:
        """Store one live point and the run's position; thins the run's points past MAX_BATCH_POINTS."""
        from fmnist_core.runs import leases as mod  # the cap is read at call time (tests lower it)

        B = S.batches
        with self._tx() as conn:
            if (
                not self._set_progress(
                    conn, run_id, int(b["epoch"]), int(b["batch"]), b.get("batches_per_epoch"), b.get("elapsed"), lease
                )
                and lease is not None
            ):
                return False
            _upsert(
                conn,
                B,
                ["run_id", "step"],
                {
                    "run_id": run_id,
                    "step": int(b["step"]),
                    "epoch": int(b["epoch"]),
                    "batch": int(b["batch"]),
                    **{k: _num(b.get(k)) for k in BATCH_KEYS[3:]},
                },
            )
            n = conn.execute(select(func.count()).select_from(B).where(B.c.run_id == run_id)).scalar()
            if n > mod.MAX_BATCH_POINTS:
                # Drop every second point but never the newest one.
                ranked = (
                    select(B.c.step, func.row_number().over(order_by=B.c.step.desc()).label("rn"))
                    .where(B.c.run_id == run_id)
                    .subquery()
                )
                conn.execute(
                    delete(B).where(
                        B.c.run_id == run_id, B.c.step.in_(select(ranked.c.step).where(ranked.c.rn % 2 == 0))
                    )
                )
            return True

    def stop_requested(self, run_id: int, lease: str | None = None) -> bool:
        """True if a stop was asked for, or the run is no longer ours to run (failed, or its lease taken)."""
        with self._read() as conn:
            row = conn.execute(select(R.c.status, R.c.stop_requested, R.c.lease_token).where(R.c.id == run_id)).first()
        return (
            row is None
            or row.status != "running"
            or bool(row.stop_requested)
            or (lease is not None and row.lease_token != lease)
        )

    def finish(
        self,
        run_id: int,
        status: str,
        message: str | None = None,
        val: dict | None = None,
        test: dict | None = None,
        model_path=None,
        train_seconds=None,
        best_epoch=None,
        lease: str | None = None,
        publish=None,
        model_blob: dict | None = None,
    ) -> bool:
        """Record how a running run ended. Returns False (and changes nothing) if it was no longer running.

        With ``lease``: raises LeaseLostError if the lease was taken away or has expired (no heartbeat
        for HEARTBEAT_TIMEOUT_S; the run is then marked failed with that cause), and nothing is written.
        ``publish``: called inside the transaction once the lease is checked (e.g. moving the staged
        model into place); if it raises, nothing is recorded and the error propagates.
        ``model_blob``: {"model_name", "sha256", "data"}, a model from a node without our folder,
        stored in the same transaction, so a run is never recorded done without its model.
        """
        if status not in TERMINAL:
            raise ValueError(f"finish status must be one of {', '.join(TERMINAL)}, got {status!r}")
        val, test = val or {}, test or {}
        expired = False
        with self._tx() as conn:
            # FOR UPDATE: on PostgreSQL the reaper and a stop wait for this row until we commit.
            row = conn.execute(
                select(R.c.status, R.c.lease_token, R.c.heartbeat_at).where(R.c.id == run_id).with_for_update()
            ).first()
            if lease is not None:
                if row is None or row.status != "running" or row.lease_token != lease:
                    raise LeaseLostError(
                        f"run {run_id} was taken from this worker (declared dead); its result is discarded"
                    )
                if age_seconds(row.heartbeat_at) > HEARTBEAT_TIMEOUT_S:
                    expired = True
            elif row is None or row.status != "running":
                return False
            if not expired:
                if publish is not None:
                    publish()
                conn.execute(
                    update(R)
                    .where(R.c.id == run_id)
                    .values(
                        status=status,
                        message=message,
                        finished_at=now_iso(),
                        val_accuracy=_num(val.get("accuracy")),
                        val_loss=_num(val.get("loss")),
                        test_accuracy=_num(test.get("accuracy")),
                        test_loss=_num(test.get("loss")),
                        model_path=self._rel(model_path),
                        train_seconds=_num(train_seconds),
                        best_epoch=best_epoch,
                        lease_token=None,
                    )
                )
                if model_blob is not None:
                    conn.execute(insert(S.model_blobs).values(run_id=run_id, created_at=now_iso(), **model_blob))
                return True
            age = age_seconds(row.heartbeat_at)
            conn.execute(
                update(R)
                .where(R.c.id == run_id)
                .values(
                    status="failed",
                    finished_at=now_iso(),
                    lease_token=None,
                    message=f"the worker's lease expired: no heartbeat for {age:.0f} s (the worker was paused or "
                    "starved), so its result was discarded. Train it again.",
                )
            )
        raise LeaseLostError(f"run {run_id}: lease expired after {age:.0f} s without a heartbeat; result discarded")

    def fail_running(self, run_id: int, message: str) -> bool:
        """Mark a running run failed and take its lease (its executor saw it die); False if not running."""
        with self._tx() as conn:
            return (
                conn.execute(
                    update(R)
                    .where(R.c.id == int(run_id), R.c.status == "running")
                    .values(status="failed", message=message, finished_at=now_iso(), lease_token=None)
                ).rowcount
                == 1
            )
