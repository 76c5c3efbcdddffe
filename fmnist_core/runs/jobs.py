"""Training jobs: queue a run in the store; a separate worker process trains it.

The page (or CLI) only writes a ``queued`` row and makes sure a worker is running; the
worker (``python -m fmnist_core.runs.worker``, its own OS process and session) claims queued
runs oldest first, trains them, writes progress into the store and saves the model. So a
run outlives the browser tab, the page reload and the Streamlit server itself, and two
users training at once just queue one behind the other.

How many trainers: one by default (the machine has 2 cores and Keras already uses both);
``FMNIST_MAX_WORKERS=N`` allows N. Each worker holds one "slot", an exclusive ``flock`` on
``runs.sqlite.worker<i>.lock`` next to the store, for its whole life; the kernel releases it
when the process dies, even on SIGKILL. A worker that finds every slot taken exits at once,
so racing submits can never start two trainers on one slot.

The executor is a small interface (``Executor.ensure_worker``) so a distributed engine can
replace the local process pool; see docs/SCALING.md.
"""
from __future__ import annotations

import copy
import fcntl
import importlib
import math
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import fields
from pathlib import Path

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import ACTIVATIONS, check_param_cap, normalize_spec
from fmnist_core.modeling.training import HParams
from fmnist_core.runs.leases import lease_timeout
from fmnist_core.runs.store import TERMINAL, RunStore

SPEC_SWEEP_PARAMS = ("activation", "dropout")   # rewrite the spec's layers rather than an hparam
MAX_SWEEP_VALUES = 20
KEEP_LOGS = 200   # worker logs kept in <store folder>/logs; older ones are deleted at the next start


def _store(store) -> RunStore:
    return store if store is not None else RunStore()


# A worker locks its slot within about a second of starting (before it imports TensorFlow); until
# then a free-looking slot is not free, and a second worker started for the same run would exit.
SLOT_TAKEN_WITHIN_S = 3.0


def max_workers() -> int:
    raw = os.environ.get("FMNIST_MAX_WORKERS") or "1"
    if not re.fullmatch(r"[0-9]{1,2}", raw) or not 1 <= int(raw) <= 16:
        raise ValueError(f"FMNIST_MAX_WORKERS must be an integer in 1-16, got {raw!r}")
    return int(raw)


# ---------------------------------------------------------------- worker slots (shared with worker.py)

def slot_paths(store: RunStore) -> list[Path]:
    anchor = store.local_anchor  # the SQLite file, or a name in the home for a PostgreSQL store
    return [anchor.with_name(f"{anchor.name}.worker{i}.lock") for i in range(max_workers())]


def try_lock(path: Path) -> int | None:
    """An exclusive, non-blocking flock on ``path``: the open fd, or None if someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


# ---------------------------------------------------------------- executors

class Executor:
    """Where queued runs get trained. The store is the only channel between the two sides:
    runs are claimed from it, progress and results written to it, stop requests read from it."""

    def ensure_worker(self, store: RunStore) -> bool:
        """Make sure the queued runs of ``store`` will be picked up; True if a worker was started."""
        raise NotImplementedError

    def check(self, store: RunStore) -> None:
        """ValueError if this executor cannot train runs of ``store`` (asked before anything is queued)."""

    def prewarm(self, store: RunStore, idle_s: float) -> bool:
        """Optionally get a trainer ready before a run is queued (a warm start); False if not done."""
        return False


class LocalProcessExecutor(Executor):
    """Trains on this machine in ``python -m fmnist_core.runs.worker`` processes, one per free slot."""

    def __init__(self):
        self._procs: list[subprocess.Popen] = []

    def ensure_worker(self, store: RunStore) -> bool:
        self._reap()
        if store.next_queued() is None:
            return False
        if any(time.monotonic() - p.started_at < SLOT_TAKEN_WITHIN_S for p in self._procs):
            return False  # ours, just started: it takes a slot and the queue within a moment
        # The run is committed before this probe. A worker that is about to exit releases its
        # slot, then looks at the queue once more, so either it sees the new run or we get the
        # slot here and start a fresh worker: a queued run is never left without one.
        # It stays warm for the next run too, for as long as a pre-warmed worker would: a second
        # Train then starts in ~1 s instead of re-importing TensorFlow.
        return self._spawn_if_a_slot_is_free(store, prewarm_seconds())

    def prewarm(self, store: RunStore, idle_s: float) -> bool:
        """Start a worker that imports TensorFlow now and waits ``idle_s`` for a run, if no worker holds
        a slot; True if one was started."""
        self._reap()
        if self._procs:  # ours, alive: it holds a slot, or takes one within a second of starting
            return False
        return self._spawn_if_a_slot_is_free(store, idle_s)

    def _spawn_if_a_slot_is_free(self, store: RunStore, idle_s: float) -> bool:
        """Start a worker (waiting ``idle_s`` for more runs once the queue is empty) if a slot is free."""
        for path in slot_paths(store):
            fd = try_lock(path)
            if fd is not None:
                unlock(fd)
                self._spawn(store, ["--idle-wait", str(idle_s)] if idle_s > 0 else [])
                return True
        return False

    def _spawn(self, store: RunStore, extra=()) -> subprocess.Popen:
        logs = store.local_anchor.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for old in sorted(logs.glob("worker-*.log"))[:-KEEP_LOGS]:  # names sort by start time
            old.unlink(missing_ok=True)
        log_path = logs / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if env.get("FMNIST_HOME"):  # the worker runs in the repo root: make a relative path absolute
            env["FMNIST_HOME"] = str(saving.home_dir().resolve())
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fmnist_core.runs.worker", "--store", store.url_string, "--log",
                 str(log_path), *extra],
                cwd=saving.REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own session: Ctrl-C in a terminal or a server restart spares it
        proc.started_at = time.monotonic()
        self._procs.append(proc)
        return proc

    def terminate_started(self, timeout: float = 30) -> None:
        """SIGTERM the workers this process started that still run (each saves its run as 'stopped')."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout)
        self._reap()

    def _reap(self) -> None:
        """Collect exited workers we started, so they do not linger as zombies."""
        self._procs = [p for p in self._procs if p.poll() is None]


def executor_from_env() -> Executor:
    """$FMNIST_EXECUTOR: "local" (default: worker processes on this machine) or "ray" (a Ray cluster
    at $RAY_ADDRESS; needs requirements-cluster.txt and a store every node reaches, $FMNIST_STORE_URL)."""
    kind = (os.environ.get("FMNIST_EXECUTOR") or "local").strip().lower()
    if kind == "local":
        return LocalProcessExecutor()
    if kind == "ray":
        # Loaded by name: Ray is an optional extra (requirements-cluster.txt), and the Ray executor
        # builds on the worker, which builds on this module.
        return importlib.import_module("fmnist_core.runs.ray_executor").RayExecutor.from_env()
    raise ValueError(f"FMNIST_EXECUTOR must be 'local' or 'ray', got {kind!r}")


_executor: Executor | None = None


def set_executor(executor: Executor) -> None:
    global _executor
    _executor = executor


def get_executor() -> Executor:
    global _executor
    if _executor is None:
        _executor = executor_from_env()
    return _executor


# ---------------------------------------------------------------- validation at the boundary

MAX_SEED = 2**32 - 1   # NumPy and TensorFlow seeds are unsigned 32-bit


def conv_body(spec) -> list[dict]:
    """The layers ``transfer_conv_weights`` copies from: everything before the classifier head."""
    out = []
    for layer in spec:
        if layer["type"] in ("Flatten", "GlobalAvgPool", "Dense"):
            break
        out.append(layer)
    return out


def check_transfer(spec, init_from: str) -> None:
    """ValueError unless ``init_from`` is a healthy saved model whose conv body matches ``spec``'s
    (what ``models.transfer_conv_weights`` would otherwise fail on inside the worker)."""
    try:
        meta = saving.load_metadata(init_from)
    except saving.ModelNotFoundError as exc:
        raise ValueError(str(exc)) from None
    mine = conv_body(spec)
    if not any(layer["type"] in ("Conv2D", "BatchNorm") for layer in mine):
        return   # nothing to copy: the transfer is a no-op (as for a linear model), not an error
    try:
        theirs = conv_body(normalize_spec(meta.get("spec") or []))
    except ValueError:
        theirs = None
    if theirs != mine:
        raise ValueError(f"--init-from {init_from!r} has a different architecture: its convolutional layers "
                         "differ from this model's; pick a model trained with the same preset")


def check_run(spec, task, hparams):
    """(normalized spec, Task, HParams) or ValueError: everything the worker would trip over later."""
    task = get_task(task)
    spec = normalize_spec(spec)
    check_param_cap(spec, task)
    hp = hparams.validate() if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    if not (isinstance(hp.seed, int) and not isinstance(hp.seed, bool) and 0 <= hp.seed <= MAX_SEED):
        raise ValueError(f"seed must be an integer in 0-{MAX_SEED}, got {hp.seed!r}")
    if hp.subset is not None:
        if not isinstance(hp.subset, int) or isinstance(hp.subset, bool) or not 1 <= hp.subset <= 60000:
            raise ValueError(f"subset must be an integer in 1-60000 (or None for all images), got {hp.subset!r}")
        n_val = math.ceil(hp.subset * hp.val_fraction)
        if n_val < 10 or hp.subset - n_val < 10:   # the stratified split holds out one image per class at least
            least = next(n for n in range(20, 60001) if math.ceil(n * hp.val_fraction) >= 10
                         and n - math.ceil(n * hp.val_fraction) >= 10)
            raise ValueError(f"subset {hp.subset} is too small: the validation split ({hp.val_fraction:.0%}) needs "
                             f"at least 10 images, one per class; use --subset {least} or more")
    if hp.init_from:
        check_transfer(spec, hp.init_from)
    return spec, task, hp


def _label(spec) -> str:
    return spec if isinstance(spec, str) else "custom"


def _existing_models() -> set[str]:
    return {m["name"] for m in saving.list_models()}


# ---------------------------------------------------------------- the API

def submit(spec, task="multiclass", hparams=None, name=None, store=None, *, model_name=None,
           overwrite: bool = False, owner=None) -> int:
    """Queue a training run and make sure a worker will train it; returns the run id.

    spec : preset name or layer list; task : task name, Task or dict; hparams : HParams or dict.
    name : display name (default: ``model_name`` or "<preset> <task>").
    model_name : name of the saved model (default ``run<id>``), reserved in the store in the same
        transaction that queues the run; an existing model's name is refused unless ``overwrite=True``,
        and a name another queued or running run reserved is always refused.
    owner : the identity that may stop, rename or delete the run (``ui.identity``; None from the CLI
        means the local user).
    Raises ValueError (SpecError, NameTakenError are ones) for anything that could not train;
    nothing is queued then.
    """
    max_workers()   # bad settings are refused before anything is queued
    lease_timeout()
    executor = get_executor()
    store = _store(store)
    executor.check(store)
    label = _label(spec)
    spec, task, hp = check_run(spec, task, hparams)
    if model_name is not None:
        saving.check_name(model_name)
    run_id = store.create_run(name or model_name or f"{label} {task.name}", task, spec, hp,
                              model_name=model_name, reserved_names=_existing_models(), overwrite=overwrite,
                              owner=owner or local_owner())
    executor.ensure_worker(store)
    return run_id


def local_owner() -> str:
    """The identity of the person at this machine (the CLI, and the app when it is not served)."""
    import getpass
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:user"


def plan_sweep(base: dict, param: str, values) -> list[dict]:
    """One run description per value: [{"spec", "task", "hparams" (HParams), "name", "value"}].

    base : {"spec": ..., "task": ..., "hparams": {...}, "name": optional}.
    param : "activation" (every hidden activation in the spec), "dropout" (every Dropout
        layer's rate), or an HParams field (lr, optimizer, normalize, batch_size, seed, ...).
    Every run is validated here, so a bad value queues nothing.
    """
    if not isinstance(base, dict) or "spec" not in base:
        raise ValueError('base must be a dict with at least "spec" (and optionally "task", "hparams", "name")')
    values = list(values)
    if not 2 <= len(values) <= MAX_SWEEP_VALUES:
        raise ValueError(f"a sweep needs 2-{MAX_SWEEP_VALUES} values, got {len(values)}")
    hp_fields = {f.name: f for f in fields(HParams)}
    if param not in SPEC_SWEEP_PARAMS and param not in hp_fields:
        raise ValueError(f"cannot sweep {param!r}; choose {', '.join(SPEC_SWEEP_PARAMS)} or a hyperparameter: "
                         f"{', '.join(hp_fields)}")
    label = base.get("name") or _label(base["spec"])
    spec0, task, hp0 = check_run(base["spec"], base.get("task", "multiclass"), base.get("hparams"))
    plans = []
    for value in values:
        spec, hp = copy.deepcopy(spec0), hp0.to_dict()
        if param == "activation":
            spec = _with_activation(spec, value)
        elif param == "dropout":
            spec = _with_dropout(spec, value)
        else:
            hp[param] = value = _coerce(param, value, HParams().to_dict()[param])
        if param == "dropout":
            value = _coerce(param, value, 0.0)
        spec, task, hp = check_run(spec, task, hp)
        plans.append({"spec": spec, "task": task, "hparams": hp, "name": f"{label} {param}={value}",
                      "value": value})
    if len({repr(p["value"]) for p in plans}) != len(plans):  # after parsing: "1e-3" and "0.001" are one value
        raise ValueError("sweep values must be distinct")
    return plans


def plan_grid(base: dict, param: str, values, param2: str, values2) -> list[dict]:
    """A two-parameter sweep: one run per (value, value2) pair, every run validated; each plan's
    ``value`` is the pair [value, value2]. At most MAX_SWEEP_VALUES runs in all."""
    if param2 == param:
        raise ValueError("a grid needs two different parameters")
    values, values2 = list(values), list(values2)
    if len(values) * len(values2) > MAX_SWEEP_VALUES:
        raise ValueError(f"a grid of {len(values)} × {len(values2)} = {len(values) * len(values2)} runs is too "
                         f"big; at most {MAX_SWEEP_VALUES} runs")
    plans = []
    for first in plan_sweep(base, param, values):
        inner = {"spec": first["spec"], "task": first["task"], "hparams": first["hparams"], "name": first["name"]}
        plans += [dict(p, value=[first["value"], p["value"]]) for p in plan_sweep(inner, param2, values2)]
    return plans


def submit_sweep(base: dict, param: str, values, store=None, owner=None, param2: str | None = None,
                 values2=None) -> tuple[str, list[int]]:
    """Queue one run per value (or per pair of values, with ``param2``: a grid, see ``plan_grid``)
    under one sweep id; returns (sweep_id, run ids in value order)."""
    max_workers()
    store = _store(store)
    plans = plan_grid(base, param, values, param2, values2) if param2 else plan_sweep(base, param, values)
    sweep_id = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    reserved = _existing_models()
    owner = owner or local_owner()
    label = f"{param},{param2}" if param2 else param
    ids = [store.create_run(p["name"], p["task"], p["spec"], p["hparams"], sweep_id, sweep_param=label,
                            sweep_value=p["value"], reserved_names=reserved, owner=owner) for p in plans]
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


def prewarm_seconds() -> float:
    """How long a warm worker waits for the next run: ``$FMNIST_PREWARM_S`` (default 300; 0 = never)."""
    raw = os.environ.get("FMNIST_PREWARM_S") or "300"
    return float(raw) if raw.replace(".", "", 1).isdigit() else 300.0


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


# ---------------------------------------------------------------- sweep helpers

def _with_activation(spec: list[dict], activation) -> list[dict]:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    changed = 0
    for layer in spec:
        # "linear" marks a pre-activation layer (Conv -> BatchNorm -> Activation): leave it linear.
        if layer.get("activation") not in (None, "linear"):
            layer["activation"] = activation
            changed += 1
    if not changed:
        raise ValueError("this model has no hidden activations to vary (e.g. the linear preset); "
                         "pick a model with Dense or Conv2D layers")
    return spec


def _with_dropout(spec: list[dict], rate) -> list[dict]:
    rate = _coerce("dropout", rate, 0.0)
    drops = [layer for layer in spec if layer["type"] == "Dropout"]
    if not drops:
        raise ValueError("this model has no Dropout layer; add one in the builder (or use the mlp preset) "
                         "to sweep dropout")
    for layer in drops:
        layer["rate"] = rate
    return spec


def _coerce(param: str, value, default):
    """Sweep values typed in a UI or CLI arrive as strings: turn them into the field's type."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                    raise ValueError
                return low in ("true", "on", "1", "yes")
            return bool(value)
        if isinstance(default, int) or param == "subset":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{param} value {value!r} has the wrong type (expected {type(default).__name__})") from None
    return value
