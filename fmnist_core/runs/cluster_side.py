"""The store's side for a cluster executor: the queue, runs by executor, and models in transit.

Mixed into ``store.RunStore`` (needs its ``_tx`` and ``_read``); used by ``ray_executor`` and
the app's cluster panel.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from fmnist_core.runs import schema as S

R = S.runs
STATUSES = ("queued", "running", "completed", "stopped", "failed")


class ClusterSide:
    def queued_ids(self) -> list[int]:
        """Ids of every queued run, oldest first."""
        with self._read() as conn:
            return list(conn.execute(select(R.c.id).where(R.c.status == "queued").order_by(R.c.id)).scalars())

    def count_by_status(self) -> dict:
        """{status: number of runs} (one grouped count: the cluster panel's queue)."""
        with self._read() as conn:
            rows = conn.execute(select(R.c.status, func.count()).group_by(R.c.status)).all()
        return {s: 0 for s in STATUSES} | {s: n for s, n in rows}

    def running_with_executor(self, prefix: str) -> list[dict]:
        """Running runs whose executor starts with ``prefix``: [{"id", "executor", "stop_requested"}]."""
        with self._read() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(R.c.id, R.c.executor, R.c.stop_requested).where(
                        R.c.status == "running", R.c.executor.startswith(prefix, autoescape=True)
                    )
                )
            ]

    # ------------------------------------------------------------ models that travel through the store

    def model_blobs_waiting(self) -> list[int]:
        """Run ids whose model is in the store, waiting to be installed in the app's model folder."""
        with self._read() as conn:
            return list(conn.execute(select(S.model_blobs.c.run_id).order_by(S.model_blobs.c.run_id)).scalars())

    def take_model_blob(self, run_id: int, install) -> bool:
        """Hand the waiting model of ``run_id`` to ``install(blob)`` and delete it, in one transaction
        (on PostgreSQL the row is locked: two app processes never install one model twice)."""
        MB = S.model_blobs
        with self._tx() as conn:
            row = conn.execute(select(MB).where(MB.c.run_id == run_id).with_for_update(skip_locked=True)).first()
            if row is None:
                return False
            install(dict(row._mapping))
            conn.execute(MB.delete().where(MB.c.run_id == run_id))
            return True

    def model_lost(self, run_id: int, message: str) -> None:
        """A finished run whose model could not be installed: failed with ``message``, its blob dropped."""
        with self._tx() as conn:
            conn.execute(
                update(R)
                .where(R.c.id == run_id, R.c.status.in_(("completed", "stopped")))
                .values(status="failed", message=message)
            )
            conn.execute(S.model_blobs.delete().where(S.model_blobs.c.run_id == run_id))
