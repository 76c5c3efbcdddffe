"""Who may change a run: owners, and the owner-checked stop, rename and delete of runs and sweeps.

Every run (and sweep) records the identity that started it (``ui.identity`` in the app: the
signed-in user, or the local user; ``local:<login>`` from the CLI). Anyone may read every
run; only its owner may stop, rename or delete it. ``owner=None`` in these calls is the
operator at the machine (the CLI), who can edit the files anyway.

Mixed into ``store.RunStore`` (needs its ``_tx``, ``_read``, ``home``).
"""
from __future__ import annotations

from contextlib import nullcontext

from fmnist_core.runs.liveness import now_iso


class OwnerSide:
    # ------------------------------------------------------------ owners: stop, rename, delete

    @staticmethod
    def check_owner(row, owner, what: str) -> None:
        """Only a run's (or sweep's) owner may change it. ``owner=None`` is the operator at the machine
        (the CLI, who can edit the files anyway); a row without an owner (made before owners existed)
        may be changed by anyone."""
        if owner is None or row["owner"] is None or row["owner"] == owner:
            return
        raise PermissionError(f"{what} belongs to someone else; only the person who started it can change it "
                              "(everyone can still view it)")

    def _owned_run(self, conn, run_id, owner):
        row = conn.execute("SELECT id, status, owner, model_name, sweep_id FROM runs WHERE id = ?",
                           (int(run_id),)).fetchone()
        if row is None:
            raise ValueError(f"no run with id {run_id}; `python -m fmnist_core runs` lists them")
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
                conn.execute("UPDATE runs SET status = 'stopped', message = 'stopped before it started',"
                             " finished_at = ? WHERE id = ?", (now_iso(), row["id"]))
                return "stopped"
            if row["status"] == "running":
                conn.execute("UPDATE runs SET stop_requested = 1 WHERE id = ?", (row["id"],))
            return row["status"]

    def rename_run(self, run_id: int, name: str, owner=None) -> None:
        """Change a run's display name (not its model's name: see ``jobs.rename_model``)."""
        name = _display_name(name)
        with self._tx() as conn:
            row = self._owned_run(conn, run_id, owner)
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, row["id"]))

    def delete_run(self, run_id: int, delete_model: bool = True, owner=None) -> None:
        """Delete a finished or queued run and its history; also its model, if the model is still its own.

        A running run must be stopped first. The model is looked up by name in this store's
        home only (never through a stored path), and kept when another run has since
        overwritten that name (its metadata names a different run id).
        """
        with self._tx() as conn:
            row = self._owned_run(conn, run_id, owner)
            if row["status"] == "running":
                raise ValueError(f"run {run_id} is running; stop it first")
            conn.execute("DELETE FROM runs WHERE id = ?", (row["id"],))
            if row["sweep_id"] and not conn.execute("SELECT 1 FROM runs WHERE sweep_id = ?",
                                                    (row["sweep_id"],)).fetchone():
                conn.execute("DELETE FROM sweeps WHERE id = ?", (row["sweep_id"],))
        if delete_model and row["model_name"]:
            from fmnist_core.modeling.saving import delete_run_model
            delete_run_model(self.home, row["model_name"], row["id"])

    def rename_model_refs(self, old: str, new: str, conn=None) -> None:
        """Point the runs that saved model ``old`` at its new name (after ``saving.rename_model``)."""
        with (nullcontext(conn) if conn is not None else self._tx()) as c:
            c.execute("UPDATE runs SET model_name = ?, model_path = CASE WHEN model_path IS NULL THEN NULL"
                      " ELSE ? END WHERE model_name = ?", (new, f"{new}.keras", old))

    def model_name_active(self, model_name: str) -> bool:
        with self._read() as conn:
            return conn.execute("SELECT 1 FROM runs WHERE model_name = ? AND status IN ('queued', 'running')",
                                (model_name,)).fetchone() is not None

    # ------------------------------------------------------------ sweeps

    def list_sweeps(self) -> list[dict]:
        """Sweeps, newest first: id, name, owner, created_at, n_runs."""
        with self._read() as conn:
            return [dict(r) for r in conn.execute(
                "SELECT s.id, s.name, s.owner, s.created_at, COUNT(r.id) AS n_runs FROM sweeps s"
                " LEFT JOIN runs r ON r.sweep_id = s.id GROUP BY s.id ORDER BY s.created_at DESC")]

    def _owned_sweep(self, conn, sweep_id, owner):
        row = conn.execute("SELECT id, owner FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise ValueError(f"no sweep with id {sweep_id!r}")
        self.check_owner(row, owner, f"sweep {sweep_id}")
        return row

    def rename_sweep(self, sweep_id: str, name: str, owner=None) -> None:
        name = _display_name(name)
        with self._tx() as conn:
            self._owned_sweep(conn, sweep_id, owner)
            conn.execute("UPDATE sweeps SET name = ? WHERE id = ?", (name, sweep_id))

    def delete_sweep(self, sweep_id: str, delete_models: bool = True, owner=None) -> list[int]:
        """Delete a sweep and its runs (none may be running); returns the deleted run ids."""
        with self._read() as conn:
            self._owned_sweep(conn, sweep_id, owner)
            ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE sweep_id = ?", (sweep_id,))]
            if conn.execute("SELECT 1 FROM runs WHERE sweep_id = ? AND status = 'running'", (sweep_id,)).fetchone():
                raise ValueError(f"sweep {sweep_id} has a running run; stop it first")
        for rid in ids:
            self.delete_run(rid, delete_model=delete_models, owner=owner)
        with self._tx() as conn:
            conn.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,))
        return ids


def _display_name(name) -> str:
    """A run or sweep name: 1-100 printable characters (shown as plain text, never as Markdown)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("a name must be 1-100 printable characters (no line breaks)")
    return name.strip()
