"""A registry of background tasks, keyed by what they compute: one task per key, at most
``max_running`` at once (the rest wait their turn, first come first served), progress that the
work reports and a page reads, the result or a one-line error kept for later reruns, and at most
``keep`` tasks remembered (the least recently used finished ones are forgotten first; a task
that has not finished is never forgotten).

No Streamlit here: the registries the pages share live in ``ui.tasks.widgets``.

The threads are daemon threads, started by hand rather than by ``concurrent.futures``: the
executor's threads are joined at interpreter exit, so stopping the server would wait for a
minutes-long few-shot curve to end. At exit every task is cancelled instead, and the process
waits (at most ``DRAIN_S``) for the running ones to stop at their next report: a daemon thread
still inside TensorFlow while the interpreter finalizes aborts the process ("FATAL: exception not
rethrown", exit 134), which turned a finished, passing run of a test file into a failure.
"""

from __future__ import annotations

import atexit
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
DRAIN_S = 30.0  # at exit: how long to wait, in all, for cancelled tasks to stop
_REGISTRIES: weakref.WeakSet = weakref.WeakSet()


class Cancelled(Exception):
    """Raised by ``Task.report`` inside a task's work once the task has been cancelled."""


def one_line(exc: BaseException) -> str:
    """An exception as the one line a page shows: a ValueError is the user's to fix and says so in
    its own words; anything else is named by its type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ValueError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


class Task:
    """One piece of background work. Its work reads nothing of this but calls ``report``."""

    def __init__(self, key: Hashable, registry: TaskRegistry):
        self.key = key
        # How a browser names the task to a route (``ui.training.live_feed``): unguessable, and hex because it
        # goes into a component's key, which must not contain "__" (token_urlsafe may).
        self.id = secrets.token_hex(12)
        self.asked = time.time()  # when it was asked for: its wait in the queue counts
        self.state = QUEUED
        self.progress: Any = None
        self.result: Any = None
        self.error: str | None = None
        self._registry = registry
        self._cancel = threading.Event()
        self._finished = threading.Event()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def report(self, progress: Any) -> None:
        """Called by the work: its progress, in whatever form its page reads. Raises ``Cancelled``
        once the task was cancelled, so work is cancellable wherever it reports."""
        if self._cancel.is_set():
            raise Cancelled
        self.progress = progress

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task has finished (True) or ``timeout`` seconds passed (False)."""
        return self._finished.wait(timeout)

    def ahead(self) -> int:
        """How many queued tasks start before this one (0 once it runs)."""
        return self._registry._ahead(self)


class TaskRegistry:
    def __init__(self, name: str, *, max_running: int, keep: int):
        if max_running < 1 or keep < 1:
            raise ValueError("max_running and keep must be at least 1")
        self.name, self.max_running, self.keep = name, max_running, keep
        self._changed = threading.Condition()  # guards everything below; notified when a slot frees
        self._tasks: OrderedDict[Hashable, Task] = OrderedDict()  # least recently used first
        self._queue: deque[Task] = deque()
        self._running = 0
        self._threads: set[threading.Thread] = set()
        _REGISTRIES.add(self)

    def start(
        self, key: Hashable, work: Callable[[Task], Any], *, again: bool = False, wait: bool = True
    ) -> Task | None:
        """The task for ``key``: the one already known (running, queued or finished), or a new one
        running ``work(task)`` in a thread. ``again``: replace a finished task by a new run.
        ``wait=False``: start only if a slot is free now, else return None (for work that is only
        worth doing at once, such as a warm-up for settings the user may flick past)."""
        with self._changed:
            task = self._tasks.get(key)
            if task is not None and not (again and task.finished):
                self._tasks.move_to_end(key)
                return task
            if not wait and (self._running >= self.max_running or self._queue):
                return None
            task = Task(key, self)
            self._tasks[key] = task
            self._tasks.move_to_end(key)
            self._queue.append(task)
            self._evict()
        thread = threading.Thread(target=self._run, args=(task, work), daemon=True, name=f"{self.name}-task")
        with self._changed:
            self._threads.add(thread)
        thread.start()
        return task

    def get(self, key: Hashable) -> Task | None:
        with self._changed:
            task = self._tasks.get(key)
            if task is not None:
                self._tasks.move_to_end(key)
            return task

    def by_id(self, task_id: str) -> Task | None:
        with self._changed:
            return next((t for t in self._tasks.values() if t.id == task_id), None)

    def cancel(self, key: Hashable) -> None:
        """Ask the task to stop: a queued one never starts, a running one stops at its next report."""
        with self._changed:
            task = self._tasks.get(key)
            if task is not None:
                task._cancel.set()
                self._changed.notify_all()

    def forget(self, key: Hashable) -> None:
        """Drop the task for ``key`` (a running one runs on, unseen), so the next start runs afresh."""
        with self._changed:
            self._tasks.pop(key, None)

    def clear(self) -> None:
        with self._changed:
            self._tasks.clear()

    def drain(self, deadline: float) -> None:
        """Cancel every task and wait, until ``deadline`` (time.monotonic), for their threads to end."""
        with self._changed:
            for task in self._tasks.values():
                task._cancel.set()
            for task in self._queue:
                task._cancel.set()
            self._changed.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __len__(self) -> int:
        with self._changed:
            return len(self._tasks)

    def __contains__(self, key: Hashable) -> bool:
        with self._changed:
            return key in self._tasks

    def _ahead(self, task: Task) -> int:
        with self._changed:
            return self._queue.index(task) if task in self._queue else 0

    def _evict(self) -> None:
        finished = [k for k, t in self._tasks.items() if t.finished]
        for key in finished[: max(0, len(self._tasks) - self.keep)]:
            del self._tasks[key]

    def _run(self, task: Task, work: Callable[[Task], Any]) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: task._cancel.is_set() or (self._queue[0] is task and self._running < self.max_running)
            )
            self._queue.remove(task)
            started = not task._cancel.is_set()
            if started:
                self._running += 1
                task.state = RUNNING
            self._changed.notify_all()  # the next in the queue may start too
        state, result, error = CANCELLED, None, None
        if started:
            try:
                result, state = work(task), DONE
            except Cancelled:
                state = CANCELLED
            except Exception as exc:  # noqa: BLE001 - shown as one line on the page; the server keeps serving
                state, error = FAILED, one_line(exc)
        with self._changed:
            task.result, task.error, task.state = result, error, state
            if started:
                self._running -= 1
            self._threads.discard(threading.current_thread())
            self._changed.notify_all()
            task._finished.set()


@atexit.register
def _drain_all() -> None:
    deadline = time.monotonic() + DRAIN_S
    for registry in list(_REGISTRIES):
        registry.drain(deadline)
