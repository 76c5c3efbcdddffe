"""Dead workers: finding the running runs whose worker is gone, failing them, and saying why.

A run whose worker died (SIGKILL, out of memory) or stopped heartbeating (paused, hung) is still
``running`` in the table. ``reap_dead`` marks it ``failed`` and takes its lease, so that worker,
if it was only paused, can write nothing for it afterwards (the fencing of ``leases``). Its message
is as precise as we can tell: the log's last error line, and whether the model was saved whole.

Mixed into ``store.RunStore`` (needs its ``_tx``, ``_read`` and ``home``); every read of runs
calls ``reap_dead`` first. The timeout is read from ``leases.HEARTBEAT_TIMEOUT_S`` at call time
(the fault tests shorten it).
"""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy import select, update

from fmnist_core.runs import leases
from fmnist_core.runs import schema as S
from fmnist_core.runs.liveness import age_seconds, now_iso, pid_alive

R = S.runs


class Reaper:
    """The dead-worker check of ``RunStore``."""

    def reap_dead(self) -> list[int]:
        """Mark ``failed`` every running run whose worker is gone, taking its lease; returns their ids.

        Dead means: on this host and its pid no longer alive, or (any host) no heartbeat
        for leases.HEARTBEAT_TIMEOUT_S. Each update is conditional on the heartbeat read, so a run
        that heartbeats meanwhile is left alone. For a run of a cluster executor (``executor``
        set) only the heartbeat counts here: its pid lives on a node, which the executor watches.
        """
        with self._read() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        R.c.id,
                        R.c.pid,
                        R.c.host,
                        R.c.heartbeat_at,
                        R.c.current_epoch,
                        R.c.log_path,
                        R.c.model_name,
                        R.c.executor,
                    ).where(R.c.status == "running")
                )
            ]
        here = socket.gethostname()
        dead = [
            r
            for r in rows
            if (r["host"] == here and r["executor"] is None and not pid_alive(r["pid"]))
            or age_seconds(r["heartbeat_at"]) > leases.HEARTBEAT_TIMEOUT_S
        ]
        marked = []
        for r in dead:
            msg = self._death_message(r)
            with self._tx() as conn:
                cur = conn.execute(
                    update(R)
                    .where(
                        R.c.id == r["id"],
                        R.c.status == "running",
                        R.c.heartbeat_at.is_not_distinct_from(r["heartbeat_at"]),
                    )
                    .values(status="failed", message=msg, finished_at=now_iso(), lease_token=None)
                )
                if cur.rowcount:
                    marked.append(r["id"])
        return marked

    def _death_message(self, r: dict) -> str:
        """Why the run ended, as precisely as we can tell: its log's last error line says the real cause."""
        when = f"during epoch {r['current_epoch']}" if r["current_epoch"] else "before its first epoch ended"
        alive = r["host"] == socket.gethostname() and pid_alive(r["pid"])
        what = (
            f"worker process {r['pid']} stopped heartbeating for over {leases.HEARTBEAT_TIMEOUT_S:.0f} s (paused or"
            " hung); its lease was taken"
            if alive
            else f"worker process {r['pid']} died"
        )
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
        # A line naming the cause wins over a later generic error: which lines reach the log before
        # a worker dies depends on timing (on a full disk, a failed progress write may come last).
        for keys in (("is full", "not writable", "No space left", "Read-only"), ("Error", "error:")):
            for line in reversed(lines):
                if any(k in line for k in keys):
                    line = line.strip()[-200:]
                    if "No space left" in line and "is full" not in line:
                        return f"the disk is full ({line})"
                    if "Read-only" in line and "not writable" not in line:
                        return f"the model folder is not writable ({line})"
                    return line
        return None
