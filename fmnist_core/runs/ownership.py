"""Who may change a run: owners, and the owner-checked stop, rename and delete of runs and sweeps.

Every run (and sweep) records the identity that started it (``ui.app.identity`` in the app: the
signed-in user, or the local user; ``local:<login>`` from the CLI). Anyone may read every
run; only its owner may stop, rename or delete it. ``owner=None`` in these calls is the
operator at the machine (the CLI), who can edit the files anyway.

Mixed into ``store.RunStore`` (needs its ``_tx``, ``_read``, ``home``).
"""

from __future__ import annotations

from contextlib import nullcontext

from sqlalchemy import case, delete, func, select, update

from fmnist_core.runs import schema as S
from fmnist_core.runs.liveness import now_iso

R, SW = S.runs, S.sweeps


class OwnerSide:
    # ------------------------------------------------------------ owners: stop, rename, delete

    @staticmethod
    def check_owner(row, owner, what: str) -> None:
        """Only a run's (or sweep's) owner may change it. ``owner=None`` is the operator at the machine
        (the CLI, who can edit the files anyway); a row without an owner (made before owners existed)
        may be changed by anyone."""
        if owner is None or row["owner"] is None or row["owner"] == owner:
            return
        raise PermissionError(
            f"{what} belongs to someone else; only the person who started it can change it (everyone can still view it)"
        )

    def _owned_run(self, conn, run_id, owner):
        # FOR UPDATE: on PostgreSQL a concurrent claim or stop of this run waits for our decision.
        row = conn.execute(
            select(R.c.id, R.c.status, R.c.owner, R.c.model_name, R.c.sweep_id)
            .where(R.c.id == int(run_id))
            .with_for_update()
        ).first()
        if row is None:
            raise ValueError(f"no run with id {run_id}; `python -m fmnist_core runs` lists them")
        row = row._mapping
        self.check_owner(row, owner, f"run {run_id}")
        return row

    def request_stop(self, run_id: int, owner=None) -> str:
        """Stop a run: a queued one becomes ``stopped`` at once; a running one is flagged for its worker.

        Returns the run's status afterwards ('stopped', 'running' = stop requested, or the
        terminal status it already had). ValueError for an unknown id, PermissionError for
        someone else's run.
        """
        with self._tx() as conn:
            row = self._owned_run(conn, run_id, owner)
            if row["status"] == "queued":
                conn.execute(
                    update(R)
                    .where(R.c.id == row["id"])
                    .values(status="stopped", message="stopped before it started", finished_at=now_iso())
                )
                return "stopped"
            if row["status"] == "running":
                conn.execute(update(R).where(R.c.id == row["id"]).values(stop_requested=1))
            return row["status"]

    def rename_run(self, run_id: int, name: str, owner=None) -> None:
        """Change a run's display name (not its model's name: see ``jobs.rename_model``)."""
        name = _display_name(name)
        with self._tx() as conn:
            row = self._owned_run(conn, run_id, owner)
            conn.execute(update(R).where(R.c.id == row["id"]).values(name=name))

    def delete_run(self, run_id: int, delete_model: bool = True, owner=None) -> None:
        """Delete a finished or queued run and its history; also its model, if the model is still its own.

        A running run must be stopped first. The model is looked up by name in this store's
        home only (never through a stored path), and kept when another run has since
        overwritten that name (its metadata names a different run id).
        """
        with self._tx() as conn:
            row = dict(self._owned_run(conn, run_id, owner))
            if row["status"] == "running":
                raise ValueError(f"run {run_id} is running; stop it first")
            conn.execute(delete(R).where(R.c.id == row["id"]))
            if row["sweep_id"] and conn.execute(select(R.c.id).where(R.c.sweep_id == row["sweep_id"])).first() is None:
                conn.execute(delete(SW).where(SW.c.id == row["sweep_id"]))
        if delete_model and row["model_name"]:
            from fmnist_core.modeling.saving import delete_run_model

            delete_run_model(self.home, row["model_name"], row["id"])

    def rename_model_refs(self, old: str, new: str, conn=None) -> None:
        """Point the runs that saved model ``old`` at its new name (after ``saving.rename_model``)."""
        with nullcontext(conn) if conn is not None else self._tx() as c:
            c.execute(
                update(R)
                .where(R.c.model_name == old)
                .values(model_name=new, model_path=case((R.c.model_path.is_(None), None), else_=f"{new}.keras"))
            )

    def model_name_active(self, model_name: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(select(R.c.id).where(R.c.model_name == model_name, R.c.status.in_(S.ACTIVE))).first()
                is not None
            )

    # ------------------------------------------------------------ sweeps

    def list_sweeps(self) -> list[dict]:
        """Sweeps, newest first: id, name, owner, created_at, n_runs."""
        with self._read() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(SW.c.id, SW.c.name, SW.c.owner, SW.c.created_at, func.count(R.c.id).label("n_runs"))
                    .select_from(SW.outerjoin(R, R.c.sweep_id == SW.c.id))
                    .group_by(SW.c.id, SW.c.name, SW.c.owner, SW.c.created_at)
                    .order_by(SW.c.created_at.desc())
                )
            ]

    def _owned_sweep(self, conn, sweep_id, owner):
        row = conn.execute(select(SW.c.id, SW.c.owner).where(SW.c.id == sweep_id)).first()
        if row is None:
            raise ValueError(f"no sweep with id {sweep_id!r}")
        row = row._mapping
        self.check_owner(row, owner, f"sweep {sweep_id}")
        return row

    def rename_sweep(self, sweep_id: str, name: str, owner=None) -> None:
        name = _display_name(name)
        with self._tx() as conn:
            self._owned_sweep(conn, sweep_id, owner)
            conn.execute(update(SW).where(SW.c.id == sweep_id).values(name=name))

    def delete_sweep(self, sweep_id: str, delete_models: bool = True, owner=None) -> list[int]:
        """Delete a sweep and its runs (none may be running); returns the deleted run ids."""
        with self._read() as conn:
            self._owned_sweep(conn, sweep_id, owner)
            ids = list(conn.execute(select(R.c.id).where(R.c.sweep_id == sweep_id)).scalars())
            if conn.execute(select(R.c.id).where(R.c.sweep_id == sweep_id, R.c.status == "running")).first():
                raise ValueError(f"sweep {sweep_id} has a running run; stop it first")
        for rid in ids:
            self.delete_run(rid, delete_model=delete_models, owner=owner)
        with self._tx() as conn:
            conn.execute(delete(SW).where(SW.c.id == sweep_id))
        return ids


def _display_name(name) -> str:
    """A run or sweep name: 1-100 printable characters (shown as plain text, never as Markdown)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("a name must be 1-100 printable characters (no line breaks)")
    return name.strip()
