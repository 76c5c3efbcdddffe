"""Where queued runs get trained: the ``Executor`` interface, the local worker processes, and the
choice between them (``$FMNIST_EXECUTOR``).

The page (or CLI) only writes a ``queued`` row (``jobs.submit``) and asks the executor to make
sure a worker will train it. The local executor starts ``python -m fmnist_core.runs.worker``
processes (each in its own session, so a run outlives the browser tab and the server), one per
free slot (``slots``). A distributed engine implements the same interface: ``ray_executor``, see
docs/SCALING.md.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import uuid

from fmnist_core.modeling import saving
from fmnist_core.runs.slots import SLOT_TAKEN_WITHIN_S, slot_paths, try_lock, unlock
from fmnist_core.runs.store import RunStore
from fmnist_core.schema.settings import settings

KEEP_LOGS = 200  # worker logs kept in <store folder>/logs; older ones are deleted at the next start


def prewarm_seconds() -> float:
    """How long a warm worker waits for the next run: ``$FMNIST_PREWARM_S`` (default 300; 0 = never)."""
    return settings().prewarm_s


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
        if settings().home:  # the worker runs in the repo root: make a relative path absolute
            env["FMNIST_HOME"] = str(saving.home_dir().resolve())
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fmnist_core.runs.worker",
                    "--store",
                    store.url_string,
                    "--log",
                    str(log_path),
                    *extra,
                ],
                cwd=saving.REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # its own session: Ctrl-C in a terminal or a server restart spares it
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
    if settings().executor == "ray":
        # Loaded by name: Ray is an optional extra (requirements-cluster.txt).
        return importlib.import_module("fmnist_core.runs.ray_executor").RayExecutor.from_env()
    return LocalProcessExecutor()


_executor: Executor | None = None


def set_executor(executor: Executor | None) -> None:
    """Use ``executor`` from now on (None: choose again from the environment at the next use)."""
    global _executor
    _executor = executor


def get_executor() -> Executor:
    global _executor
    if _executor is None:
        _executor = executor_from_env()
    return _executor
