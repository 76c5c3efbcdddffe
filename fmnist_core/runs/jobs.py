"""Training jobs: queue a run in the store; a separate worker process trains it.

The page (or CLI) only writes a ``queued`` row and asks the executor (``executors``) to make sure
a worker will train it; the worker (``python -m fmnist_core.runs.worker``, its own OS process and
session) claims queued runs oldest first, trains them, writes progress into the store and saves
the model. So a run outlives the browser tab, the page reload and the Streamlit server itself,
and two users training at once just queue one behind the other.

This module is the job API (submit, sweeps, stop, rename, prewarm, refresh, wait). It also
re-exports what its callers use from the modules it is built on: ``executors`` (where runs train),
``checks`` (the boundary checks) and ``sweeps`` (planning one run per value); those never import
this module, so no import cycle runs through it.
"""

from __future__ import annotations

import time
import uuid

from fmnist_core.modeling import saving
from fmnist_core.runs.checks import check_run, conv_body
from fmnist_core.runs.executors import (
    Executor,
    LocalProcessExecutor,
    executor_from_env,
    get_executor,
    prewarm_seconds,
    set_executor,
)
from fmnist_core.runs.store import TERMINAL, RunStore
from fmnist_core.runs.sweeps import label_of, plan_grid, plan_sweep
from fmnist_core.schema.settings import settings

__all__ = [  # the job API, and what its callers use from the modules below it
    "Executor",
    "LocalProcessExecutor",
    "check_run",
    "conv_body",
    "executor_from_env",
    "get_executor",
    "local_owner",
    "plan_grid",
    "plan_sweep",
    "prewarm",
    "prewarm_seconds",
    "refresh",
    "rename_model",
    "set_executor",
    "stop",
    "submit",
    "submit_sweep",
    "train_here",
    "wait",
]


def _store(store) -> RunStore:
    return store if store is not None else RunStore()


def _check_target(model_name: str) -> None:
    """A name a run may save under: well formed, and not a shipped model's file (refused before
    any training; the publish itself refuses again, whatever path gets there)."""
    saving.check_name(model_name)
    saving.refuse_shipped(saving.home_dir() / f"{model_name}.keras", "overwritten")


def _existing_models() -> set[str]:
    return {m["name"] for m in saving.list_models()}


# ---------------------------------------------------------------- the API


def submit(
    spec,
    task="multiclass",
    hparams=None,
    name=None,
    store=None,
    *,
    model_name=None,
    overwrite: bool = False,
    owner=None,
) -> int:
    """Queue a training run and make sure a worker will train it; returns the run id.

    spec : preset name or layer list; task : task name, Task or dict; hparams : HParams or dict.
    name : display name (default: ``model_name`` or "<preset> <task>").
    model_name : name of the saved model (default ``run<id>``), reserved in the store in the same
        transaction that queues the run; an existing model's name is refused unless ``overwrite=True``,
        and a name another queued or running run reserved is always refused.
    owner : the identity that may stop, rename or delete the run (``ui.app.identity``; None from the CLI
        means the local user).
    Raises ValueError (SpecError, NameTakenError are ones) for anything that could not train;
    nothing is queued then.
    """
    settings()  # a bad FMNIST_* setting is refused before anything is queued
    executor = get_executor()
    store = _store(store)
    executor.check(store)
    label = label_of(spec)
    spec, task, hp = check_run(spec, task, hparams)
    if model_name is not None:
        _check_target(model_name)
    run_id = store.create_run(
        name or model_name or f"{label} {task.name}",
        task,
        spec,
        hp,
        model_name=model_name,
        reserved_names=_existing_models(),
        overwrite=overwrite,
        owner=owner or local_owner(),
    )
    executor.ensure_worker(store)
    return run_id


def train_here(
    spec, task, hparams, model_name: str, store=None, *, overwrite: bool = False, owner=None, on_event=None
) -> dict:
    """Train in this process, as a run: the name is reserved in the store exactly as ``submit`` does
    (so a queued run or another ``train-here`` can never claim it at the same time), the run is
    created already running under this process's lease, and the model is published in the
    transaction that records the result, as a worker does. Returns the saved model's metadata.

    Raises ValueError (NameTakenError) before any training when the name is taken, and RuntimeError
    with the cause when the run failed (it is recorded ``failed`` in the store).
    """
    import os

    from fmnist_core.runs import worker

    settings()
    store = _store(store)
    spec, task, hp = check_run(spec, task, hparams)
    _check_target(model_name)
    store.reap_dead()  # a killed train-here's reservation ends here, not at the next listing
    run_id = store.create_run(
        model_name,
        task,
        spec,
        hp,
        model_name=model_name,
        reserved_names=_existing_models(),
        overwrite=overwrite,
        owner=owner or local_owner(),
        claim_pid=os.getpid(),
    )
    run = store.get_run(run_id, with_batches=False)
    run["lease"] = run.get("lease_token")
    worker._quiet.set()
    beat = worker.Heartbeat(store)  # renews the lease while training (evaluation has no progress events)
    beat.run_id, beat.lease = run_id, run["lease"]
    beat.start()
    try:
        meta, failure = worker.run_one(store, run, on_event=on_event)
    except KeyboardInterrupt:  # Ctrl-C: record it, so the name is free again at once
        store.finish(run_id, "failed", "interrupted (Ctrl-C) before it finished; nothing was saved", lease=run["lease"])
        raise
    finally:
        beat.run_id = beat.lease = None
    if meta is None:
        raise TrainingFailedError(f"run {run_id} failed: {failure}")
    return meta


class TrainingFailedError(RuntimeError):
    """A run trained in this process ended in failure; the message is the recorded cause."""


def local_owner() -> str:
    """The identity of the person at this machine (the CLI, and the app when it is not served)."""
    import getpass

    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:user"


def submit_sweep(
    base: dict, param: str, values, store=None, owner=None, param2: str | None = None, values2=None
) -> tuple[str, list[int]]:
    """Queue one run per value (or per pair of values, with ``param2``: a grid, see ``plan_grid``)
    under one sweep id; returns (sweep_id, run ids in value order)."""
    settings()
    store = _store(store)
    plans = plan_grid(base, param, values, param2, values2) if param2 else plan_sweep(base, param, values)
    sweep_id = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    reserved = _existing_models()
    owner = owner or local_owner()
    label = f"{param},{param2}" if param2 else param
    ids = [
        store.create_run(
            p["name"],
            p["task"],
            p["spec"],
            p["hparams"],
            sweep_id,
            sweep_param=label,
            sweep_value=p["value"],
            reserved_names=reserved,
            owner=owner,
        )
        for p in plans
    ]
    get_executor().ensure_worker(store)
    return sweep_id, ids


def stop(run_id: int, store=None, owner=None) -> dict:
    """Stop a run: a queued one at once; a running one after its current batch, keeping its
    best weights, which the worker saves before marking it ``stopped``. Returns the run.
    PermissionError if ``owner`` is given and the run is someone else's."""
    store = _store(store)
    store.request_stop(run_id, owner=owner)
    return store.get_run(run_id)


def rename_model(old: str, new: str, store=None, owner=None) -> None:
    """Rename a saved model of the home and the runs that point at it. Refused while a queued or
    running run will save either name, and for someone else's model."""
    store = _store(store)
    saving.check_name(new)
    for name in (old, new):
        if store.model_name_active(name):
            raise ValueError(f"a queued or running run will save a model named {name!r}; wait until it ends")
    saving.rename_model(old, new, owner=owner)
    store.rename_model_refs(old, new)


def prewarm(store=None) -> bool:
    """Have a worker import TensorFlow and wait for a run, so the next Train starts in ~1 s instead of
    ~5. It waits ``prewarm_seconds()``, then exits."""
    idle_s = prewarm_seconds()
    return idle_s > 0 and get_executor().prewarm(_store(store), idle_s)


def refresh(store=None) -> None:
    """Mark runs whose worker died as failed, and start a worker if queued runs have none."""
    store = _store(store)
    store.reap_dead()
    get_executor().ensure_worker(store)


def wait(run_id: int, timeout: float | None = None, store=None, poll: float = 0.5) -> dict:
    """Poll until the run is completed, stopped or failed; returns it. TimeoutError after ``timeout`` s."""
    store = _store(store)
    deadline = None if timeout is None else time.monotonic() + timeout
    last_refresh = 0.0
    while True:
        run = store.get_run(run_id)
        if run is None:
            raise ValueError(f"no run with id {run_id}")
        if run["status"] in TERMINAL:
            return run
        if time.monotonic() - last_refresh > 5:  # restart an orphaned queue; cheap
            refresh(store)
            last_refresh = time.monotonic()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout} s")
        time.sleep(poll)
