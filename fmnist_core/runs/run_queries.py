"""Queueing a run and reading runs back: ``create_run`` (the model name reserved in the same
transaction), ``get_run`` (with its epochs and live points), ``list_runs``, ``next_queued``, ``get_status``.

Every read of a run first fails the runs whose worker died (``reaper.reap_dead``), so a reader never
sees a dead run as ``running``. Mixed into ``store.RunStore`` (needs its ``_tx``, ``_read``,
``reap_dead`` and ``_mark_running``).
"""

from __future__ import annotations

import json

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select, update

from fmnist_core.runs import schema as S
from fmnist_core.runs.leases import BATCH_KEYS, EPOCH_KEYS
from fmnist_core.runs.liveness import now_iso

STATUSES = ("queued", "running", "completed", "stopped", "failed")
JSON_COLUMNS = ("task_def", "spec", "hparams", "sweep_value")
R = S.runs


class NameTakenError(ValueError):
    """The model name is reserved by another queued or running run, or names an existing model."""


class RunQueries:
    """Creating and reading runs, for ``RunStore``."""

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
