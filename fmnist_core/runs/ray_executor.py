"""Training on a Ray cluster: ``FMNIST_EXECUTOR=ray`` (with ``RAY_ADDRESS`` and a PostgreSQL store).

The same contract as the local executor: the store is the only channel. The app queues a
run in the store; here each queued run becomes **one Ray task** (``num_cpus``, ``num_gpus``
where the cluster has GPUs, ``max_retries=0``: a retry would be a silent second training,
so a retry is a new run the user can see). The task claims its run in the store (a
conditional UPDATE: whoever claims first trains it, so it runs exactly once), trains it
with the worker's own code (progress, heartbeat and stop polling through the store) and
records how it ended.

Who submits: one detached Ray actor per cluster, ``fmnist-dispatcher`` (0 CPUs, on the head
node). Every app process asks it to ``ensure`` the queue, so two app processes never submit
a run twice, and the tasks it owns outlive the app process that asked (a Streamlit restart
does not kill a training, as with local workers). The dispatcher also watches its tasks
every ``WATCH_EVERY_S``:
  * a task that died (its worker process or its whole node lost) marks its run ``failed``
    with Ray's cause, within seconds of Ray noticing, well inside the heartbeat window;
  * a run of a node that Ray reports dead is failed too (covers tasks of a restarted dispatcher);
  * stop stays a store flag that the trainer polls after each batch. Only a task that has not
    stopped ``STOP_GRACE_S`` after the request (hung in an op) is ``ray.cancel``-ed, and its run
    is failed with that reason.

Models: a node has no access to the app's model folder (no shared filesystem is assumed).
The task stages the model with ``saving.stage_model`` in a temporary folder on the node (one
file, its metadata inside) and sends it **through the store**, in the same transaction that
records the result under the run's lease (table ``model_blobs``, with the file's sha256). The
app installs waiting models into its folder on its next look (``ensure_worker``, called on
every submit and refresh): hash-checked, verified like any saved model, published with the
same single rename as a local save, the blob deleted in the same transaction. Why the store and not Ray's object store: an object lives only as long as its
owner, so a model would be lost with the dispatcher or app process; the store is durable,
already reachable from every node, and makes "completed" and "its model" one commit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from fmnist_core.runs.store import RunStore

DISPATCHER = "fmnist-dispatcher"
NAMESPACE = "fmnist"
WATCH_EVERY_S = 2.0
STOP_GRACE_S = 60.0  # a task still running this long after its stop request is taken as hung
TAG = "ray:"  # runs.executor = "ray:<node id>:<task id>"


# ---------------------------------------------------------------- a model's way back to the app


def pack_model(staged) -> dict:
    """The staged model file (one unit: weights with their metadata inside) and its sha256, for the store."""
    data = Path(staged.tmp).read_bytes()
    return {"model_name": staged.target.stem, "sha256": hashlib.sha256(data).hexdigest(), "data": data}


def install_model(blob: dict, directory: Path) -> Path:
    """Put a model that came through the store into ``directory`` by the rules of a local save.

    The bytes' sha256 is checked, then the file is written under its own name in a private
    temp folder beside the target, verified like any saved model (``saving.read_metadata``:
    the payload hash and the metadata schema), and published with the same single rename as
    a local save. DamagedModelError or ValueError if anything is off; nothing is installed then.
    """
    from fmnist_core.modeling import saving

    name = saving.check_name(blob["model_name"])
    data = bytes(blob["data"])
    if hashlib.sha256(data).hexdigest() != blob["sha256"]:
        raise saving.DamagedModelError(name, "it arrived from its node with a sha256 mismatch")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=f".{name}.incoming-") as staging:
        tmp = Path(staging) / f"{name}.keras"
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        meta = saving.read_metadata(tmp)
        return saving.StagedModel(tmp, directory / f"{name}.keras", meta).publish()


def install_waiting_models(store: RunStore, directory: Path | None = None) -> list[int]:
    """Install every model waiting in the store into ``directory`` (the store's home); returns their run ids.

    A model that does not check out is not installed: its run is marked failed with the reason.
    """
    directory = Path(directory) if directory else store.home
    done = []
    for rid in store.model_blobs_waiting():
        try:
            if store.take_model_blob(rid, lambda blob: install_model(blob, directory)):
                done.append(rid)
        except ValueError as exc:  # DamagedModelError is one
            store.model_lost(rid, f"its model could not be installed: {exc}")
    return done


# ---------------------------------------------------------------- the task (runs on any node)


def train_run_task(store_url: str, run_id: int) -> dict:
    """Claim run ``run_id`` and train it on this node; the model goes back through the store."""
    import ray

    from fmnist_core.runs import worker

    store = RunStore(store_url)
    ctx = ray.get_runtime_context()
    tag = f"{TAG}{ctx.get_node_id()}:{ctx.get_task_id()}"
    lease = store.mark_running(run_id, os.getpid(), log_path=None, executor=tag)
    if lease is None:
        store.close()
        return {"run_id": run_id, "claimed": False}  # stopped before it started, or trained elsewhere
    run = store.get_run(run_id)
    run["lease"] = lease
    beat = worker.Heartbeat(store)
    beat.run_id, beat.lease = run_id, lease
    beat.start()

    def deliver(staged):
        return {"model_path": staged.target.name, "model_blob": pack_model(staged)}

    try:
        with tempfile.TemporaryDirectory(prefix=f"fmnist-run{run_id}-") as tmp:
            worker.run_one(store, run, directory=Path(tmp), deliver=deliver)
        return {"run_id": run_id, "claimed": True, "status": store.get_status(run_id)}
    finally:
        beat.run_id = beat.lease = None
        store.close()  # Ray reuses this worker process for the next task: release the connections


def _cause(exc: BaseException) -> str:
    import ray.exceptions as rex

    if isinstance(exc, rex.NodeDiedError) or "node" in type(exc).__name__.lower():
        what = "its Ray node died"
    elif isinstance(exc, rex.OutOfMemoryError):
        what = "its Ray worker ran out of memory"
    elif isinstance(exc, rex.WorkerCrashedError):
        what = "its Ray worker process died (killed, or its node was lost)"
    elif isinstance(exc, rex.TaskCancelledError):
        what = "its Ray task was cancelled"
    else:
        what = f"its Ray task failed ({type(exc).__name__})"
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{what}; nothing was saved for this run. Ray said: {first}" if first else what


class Dispatcher:
    """The one submitter per cluster (a detached actor): tasks for queued runs, and their watcher."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stores: dict[str, RunStore] = {}
        self.refs: dict[tuple[str, int], object] = {}  # (store url, run id) -> ObjectRef
        self.options: dict[str, dict] = {}
        self.stop_seen: dict[tuple[str, int], float] = {}
        self.submitted: dict[tuple[str, int], int] = {}  # tasks submitted per run (the tests check: one)
        threading.Thread(target=self._watch_forever, daemon=True, name="watch").start()

    def ensure(self, store_url: str, num_cpus: float, num_gpus: float) -> int:
        """Submit one task per queued run of the store that has none; returns how many were submitted."""
        import ray

        with self.lock:
            store = self.stores.get(store_url) or self.stores.setdefault(store_url, RunStore(store_url))
            self.options[store_url] = {"num_cpus": num_cpus, "num_gpus": num_gpus}
            task = ray.remote(train_run_task)
            new = 0
            for rid in store.queued_ids():
                if (store_url, rid) not in self.refs:
                    self.refs[(store_url, rid)] = task.options(
                        num_cpus=num_cpus, num_gpus=num_gpus or None, max_retries=0, name=f"fmnist-run-{rid}"
                    ).remote(store_url, rid)
                    self.submitted[(store_url, rid)] = self.submitted.get((store_url, rid), 0) + 1
                    new += 1
        self.watch()
        return new

    def watch(self) -> list[int]:
        """Fail the runs whose task or node died, cancel hung stops; returns the run ids failed."""
        import ray

        failed = []
        with self.lock:
            if self.refs:
                done, _ = ray.wait(list(self.refs.values()), num_returns=len(self.refs), timeout=0)
                done = set(done)
                for key, ref in list(self.refs.items()):
                    if ref not in done:
                        continue
                    del self.refs[key]
                    self.stop_seen.pop(key, None)
                    try:
                        ray.get(ref)
                    except Exception as exc:  # the task never reported back: mark its run with Ray's cause
                        if self.stores[key[0]].fail_running(key[1], _cause(exc)):
                            failed.append(key[1])
            alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
            for url, store in self.stores.items():
                for r in store.running_with_executor(TAG):
                    node = r["executor"][len(TAG) :].split(":")[0]
                    key = (url, r["id"])
                    if node not in alive:
                        if store.fail_running(
                            r["id"], f"its Ray node {node[:8]} died; nothing was saved for this run. Train it again."
                        ):
                            failed.append(r["id"])
                    elif r["stop_requested"] and key in self.refs:
                        first = self.stop_seen.setdefault(key, time.monotonic())
                        if time.monotonic() - first > STOP_GRACE_S:
                            ray.cancel(self.refs[key], force=True)
                            store.fail_running(
                                r["id"],
                                f"did not stop within {STOP_GRACE_S:.0f} s of the stop "
                                "request (hung); its Ray task was cancelled, nothing saved",
                            )
                            failed.append(r["id"])
        return failed

    def status(self, store_url: str | None = None) -> dict:
        """{"tasks": tasks not yet finished, "submitted": {run id: tasks submitted} for ``store_url``}."""
        with self.lock:
            return {
                "tasks": len(self.refs),
                "submitted": {rid: n for (url, rid), n in self.submitted.items() if url == store_url},
            }

    def _watch_forever(self):
        while True:
            time.sleep(WATCH_EVERY_S)
            try:
                self.watch()
            except Exception as exc:  # the watcher must outlive a store hiccup
                print(f"fmnist dispatcher: watch failed: {exc}", flush=True)


# ---------------------------------------------------------------- the executor (in the app process)


class RayExecutor:
    """Queued runs become Ray tasks on the cluster at ``address`` (see the module docstring).

    Implements ``executors.Executor`` (``ensure_worker``); selected by ``executors.executor_from_env``.

    num_cpus : CPUs each training task reserves (1 by default: one task per core slot).
    num_gpus : GPUs per task; None = 1 when the cluster has GPUs, else 0.
    """

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float | None = None):
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self._dispatcher = None

    @classmethod
    def from_env(cls) -> RayExecutor:
        from fmnist_core.schema.settings import settings

        return cls(address=os.environ.get("RAY_ADDRESS") or "auto", num_cpus=settings().ray_cpus)

    def connect(self):
        """Join the cluster (once per process) and find or start the dispatcher actor."""
        import ray

        if not ray.is_initialized():
            import fmnist_core

            # The package travels with the job (py_modules), so nodes need only the requirements installed.
            ray.init(
                address=self.address,
                namespace=NAMESPACE,
                log_to_driver=False,
                runtime_env={"py_modules": [str(Path(fmnist_core.__file__).parent)]},
            )
        if self._dispatcher is None:
            # On the head node: it outlives any worker node, and with it the record of the tasks.
            self._dispatcher = (
                ray.remote(Dispatcher)
                .options(
                    name=DISPATCHER,
                    namespace=NAMESPACE,
                    lifetime="detached",
                    get_if_exists=True,
                    num_cpus=0,
                    max_concurrency=8,
                    resources={"node:__internal_head__": 0.001},
                )
                .remote()
            )
        return self._dispatcher

    def prewarm(self, store: RunStore, idle_s: float) -> bool:
        """Nothing to warm here: Ray keeps its worker processes (TensorFlow imported) between tasks."""
        return False

    def _gpus(self) -> float:
        import ray

        if self.num_gpus is not None:
            return self.num_gpus
        return 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0

    def check(self, store: RunStore) -> None:
        if store.is_sqlite:
            raise ValueError(
                "FMNIST_EXECUTOR=ray needs a store every node can reach: set FMNIST_STORE_URL to a "
                "postgresql:// URL (see README, 'Serving a class')"
            )

    def ensure_worker(self, store: RunStore) -> bool:
        self.check(store)
        import ray

        dispatcher = self.connect()
        install_waiting_models(store)
        return ray.get(dispatcher.ensure.remote(store.url_string, self.num_cpus, self._gpus()), timeout=60) > 0

    def cluster_status(self) -> dict:
        """Nodes, free training slots and the dispatcher's task count, for the app's cluster panel."""
        import ray

        self.connect()
        nodes = [
            {
                "node": n["NodeID"][:8],
                "address": n["NodeManagerAddress"],
                "alive": n["Alive"],
                "cpus": n["Resources"].get("CPU", 0),
                "gpus": n["Resources"].get("GPU", 0),
            }
            for n in ray.nodes()
        ]
        free = ray.available_resources().get("CPU", 0)
        return {
            "nodes": nodes,
            "free_slots": int(free // self.num_cpus),
            "total_slots": int(ray.cluster_resources().get("CPU", 0) // self.num_cpus),
            "tasks": ray.get(self._dispatcher.status.remote(), timeout=30)["tasks"],
        }
