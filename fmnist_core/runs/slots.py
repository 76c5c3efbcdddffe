"""Worker slots: how many trainers may run at once on this machine, and the lock each one holds.

One trainer by default (the machine has 2 cores and Keras already uses both);
``FMNIST_MAX_WORKERS=N`` allows N. Each worker holds one "slot", an exclusive lock on
``runs.sqlite.worker<i>.lock`` next to the store, for its whole life; the kernel releases it
when the process dies, even on SIGKILL. The lock is ``filelock``'s: ``flock`` on Linux and macOS,
``msvcrt.locking`` on Windows, where ``fcntl`` does not exist. A worker that finds every slot taken exits at once,
so racing submits can never start two trainers on one slot. Used by the local executor (which
probes for a free slot before it starts a worker) and by the worker itself.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from fmnist_core.runs.store import RunStore
from fmnist_core.schema.settings import settings

# A worker locks its slot within about a second of starting (before it imports TensorFlow); until
# then a free-looking slot is not free, and a second worker started for the same run would exit.
SLOT_TAKEN_WITHIN_S = 3.0


def max_workers() -> int:
    """$FMNIST_MAX_WORKERS (default 1); SettingsError unless it is an integer in 1-16."""
    return settings().max_workers


def slot_paths(store: RunStore) -> list[Path]:
    anchor = store.local_anchor  # the SQLite file, or a name in the home for a PostgreSQL store
    return [anchor.with_name(f"{anchor.name}.worker{i}.lock") for i in range(max_workers())]


def try_lock(path: Path) -> FileLock | None:
    """An exclusive, non-blocking lock on ``path``: held (release it with ``unlock``), or None if taken."""
    lock = FileLock(str(path), mode=0o644)
    try:
        lock.acquire(blocking=False)
        return lock
    except Timeout:
        return None


def unlock(lock: FileLock) -> None:
    lock.release()
