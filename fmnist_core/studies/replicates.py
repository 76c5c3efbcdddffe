"""Seed replicates for the binary study: which binary models to use, and training the missing ones.

A shipped model is one seed. To tell a real difference from seed luck, the study retrains the
same recipe (spec + hyperparameters from the model's metadata) with other seeds. Replicates
are ordinary saved models with predictable names, so they are trained once and reused:

* same recipe as the shipped model: ``<base>`` itself, then ``<base>_seed<s>`` for s = seed+1, ...
* a cheaper recipe (``epochs``/``subset`` overridden): ``<base>_e<E>_n<N>_seed<s>`` for all N
  seeds, starting at the base seed. The shipped model is then *not* mixed in: every model of
  a replicate set shares one recipe.

For a custom grouping with no binary models yet, the recipe is the 10-class model's (same
body, same hyperparameters), with ``init_from`` set for the transfer approach.
Training goes through ``jobs`` (a worker process and the run store), never in the caller.
"""

from __future__ import annotations

import time

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.saving import ModelNotFoundError, find_model, load_metadata
from fmnist_core.studies.binary_study import default_model_names

TERMINAL = ("completed", "stopped", "failed")


def _exists(name: str) -> bool:
    try:
        find_model(name)
        return True
    except ModelNotFoundError:
        return False


def _recipe(base: str, approach: str, task, multiclass: str) -> tuple[list, dict]:
    """(spec, hparams) of the base model, or of the 10-class model when the base does not exist."""
    if _exists(base):
        meta = load_metadata(base)
        return meta["spec"], dict(meta.get("hparams") or {})
    meta = load_metadata(multiclass)
    hp = dict(meta.get("hparams") or {})
    hp["init_from"] = multiclass if approach == "transfer" else None
    return meta["spec"], hp


def plan_replicates(
    task,
    n_seeds: int = 3,
    multiclass: str | None = None,
    direct: str | None = None,
    transfer: str | None = None,
    epochs: int | None = None,
    subset: int | None = None,
) -> dict:
    """The models each binary approach uses with ``n_seeds`` seeds.

    Returns {'direct': [entry, ...], 'transfer': [...]}, each entry a dict with name, seed,
    spec, task (name), hparams and exists (bool). Nothing is trained here.
    """
    task = get_task(task)
    if not task.is_binary:
        raise ValueError(f"task {task.name!r} is not binary")
    if not isinstance(n_seeds, int) or not 1 <= n_seeds <= 20:
        raise ValueError(f"the number of seeds must be an integer in 1-20, got {n_seeds!r}")
    if epochs is not None and not 1 <= int(epochs) <= 500:
        raise ValueError(f"epochs must be in 1-500, got {epochs}")
    defaults = default_model_names(task)
    multiclass = multiclass or defaults["multiclass"]
    tag = (f"_e{epochs}" if epochs else "") + (f"_n{subset}" if subset else "")
    plan = {}
    for approach, base in (("direct", direct or defaults["direct"]), ("transfer", transfer or defaults["transfer"])):
        spec, hp = _recipe(base, approach, task, multiclass)
        seed0 = int(hp.get("seed", 42))
        if epochs:
            hp["epochs"] = int(epochs)
        if subset:
            hp["subset"] = int(subset)
        entries = []
        for i in range(n_seeds):
            seed = seed0 + i
            if i == 0 and not tag and _exists(base):
                name = base
            else:
                name = f"{base}{tag}_seed{seed}"
            entries.append(
                {
                    "name": name,
                    "seed": seed,
                    "spec": spec,
                    "task": task.name,
                    "hparams": {**hp, "seed": seed},
                    "exists": _exists(name),
                }
            )
        plan[approach] = entries
    return plan


def missing(plan: dict) -> list[dict]:
    """The entries of a plan that are not trained yet."""
    return [e for approach in ("direct", "transfer") for e in plan[approach] if not e["exists"]]


def in_flight(store=None) -> dict:
    """{model name: run id} of the queued or running jobs that will save a model."""
    from fmnist_core.runs.store import RunStore

    store = store or RunStore()
    return {
        r["model_name"]: r["id"]
        for r in store.list_runs(status=["queued", "running"], with_history=False)
        if r.get("model_name")
    }


def submit_missing(plan: dict, store=None) -> dict:
    """Queue one training job per missing model; returns {model name: run id}.

    A model already being trained by a queued or running job is not queued twice: its
    run id is returned instead, so pressing "train" again just follows the same jobs.
    """
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import RunStore

    store = store or RunStore()
    active = in_flight(store)
    out = {}
    for e in missing(plan):
        if e["name"] in active:
            out[e["name"]] = active[e["name"]]
            continue
        out[e["name"]] = jobs.submit(
            e["spec"],
            e["task"],
            e["hparams"],
            name=f"{e['name']} (binary study seed)",
            store=store,
            model_name=e["name"],
        )
    return out


def wait_for(run_ids: dict, on_progress=None, poll: float = 2.0, store=None) -> None:
    """Block until every run is finished; ``on_progress(name, run dict)`` is called on each poll.

    Raises RuntimeError naming the first run that failed or was stopped.
    """
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import RunStore

    store = store or RunStore()
    pending = dict(run_ids)
    while pending:
        jobs.refresh(store=store)  # restarts a dead worker, marks crashed runs failed
        for name, rid in list(pending.items()):
            run = store.get_run(rid) or {}
            if on_progress:
                on_progress(name, run)
            if run.get("status") in TERMINAL:
                del pending[name]
                if run["status"] != "completed":
                    raise RuntimeError(
                        f"training {name} (run {rid}) ended {run['status']}: "
                        f"{run.get('message') or 'see the Runs page'}"
                    )
        if pending:
            time.sleep(poll)


def model_lists(plan: dict) -> dict:
    """{'direct': [names], 'transfer': [names]} for ``compare_binary``."""
    return {a: [e["name"] for e in entries] for a, entries in plan.items()}
