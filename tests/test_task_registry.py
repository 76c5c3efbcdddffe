"""The background-task registry (ui.tasks.registry) on its own: one task per key, progress, errors as
one line, at most max_running at once in order, cancellation, and the bound on remembered tasks.
Every wait is on an event; a blocked test fails by pytest's timeout, never by a clock."""

import re
import threading

import pytest

from ui.tasks.registry import CANCELLED, DONE, FAILED, QUEUED, RUNNING, TaskRegistry, one_line


class Gate:
    """Work that says when it has started and finishes only when let go."""

    def __init__(self, result=None):
        self.started, self.go = threading.Event(), threading.Event()
        self.calls = 0
        self.result = result

    def __call__(self, task):
        self.calls += 1
        self.started.set()
        self.go.wait()
        task.report("after the gate")  # where a cancelled task stops
        return self.result


def finished(task):
    assert task.wait(timeout=60), "the task never finished"
    return task


def test_one_task_per_key_until_asked_again():
    reg = TaskRegistry("t", max_running=2, keep=8)
    gate = Gate(result=42)
    first = reg.start("k", gate)
    gate.started.wait()
    assert reg.start("k", gate) is first and first.state == RUNNING  # a second press joins the running one
    gate.go.set()
    assert finished(first).result == 42 and first.state == DONE
    assert reg.start("k", gate) is first  # kept for later reruns
    again = reg.start("k", gate, again=True)
    assert again is not first and finished(again).result == 42
    assert gate.calls == 2 and reg.get("k") is again


def test_progress_reported_by_the_work_is_read_by_the_page():
    reg = TaskRegistry("t", max_running=1, keep=8)
    reported, go = threading.Event(), threading.Event()

    def work(task):
        task.report((0.5, "half way"))
        reported.set()
        go.wait()
        return "done"

    task = reg.start("k", work)
    reported.wait()
    assert task.progress == (0.5, "half way") and not task.finished
    go.set()
    assert finished(task).result == "done"


def test_an_error_is_kept_as_one_line_and_the_registry_keeps_serving():
    reg = TaskRegistry("t", max_running=1, keep=8)

    def bad_input(task):
        raise ValueError("Pick at least\n   two classes.")

    def crash(task):
        raise KeyError("layer")

    t1, t2 = finished(reg.start("a", bad_input)), finished(reg.start("b", crash))
    assert (t1.state, t1.error, t1.result) == (FAILED, "Pick at least two classes.", None)
    assert t2.error == "KeyError: 'layer'"
    assert reg.start("a", bad_input) is t1  # the error stays until "Try again"
    assert finished(reg.start("a", lambda task: 1, again=True)).result == 1
    assert one_line(RuntimeError()) == "RuntimeError"


def test_no_more_than_max_running_at_once_and_the_rest_wait_in_order():
    reg = TaskRegistry("t", max_running=2, keep=8)
    lock, running, peak = threading.Lock(), [0], [0]
    gates = [Gate() for _ in range(4)]

    def counted(gate):
        def work(task):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return gate(task)
            finally:
                with lock:
                    running[0] -= 1

        return work

    tasks = [reg.start(i, counted(g)) for i, g in enumerate(gates)]
    gates[0].started.wait()
    gates[1].started.wait()
    assert [t.state for t in tasks[2:]] == [QUEUED, QUEUED]
    assert [t.ahead() for t in tasks[2:]] == [0, 1]
    gates[1].go.set()
    gates[2].started.wait()  # the first in line takes the freed slot
    assert tasks[3].state == QUEUED and tasks[3].ahead() == 0
    for g in gates:
        g.go.set()
    assert all(finished(t).state == DONE for t in tasks)
    assert peak[0] == 2


def test_wait_false_starts_only_when_a_slot_is_free():
    reg = TaskRegistry("t", max_running=1, keep=8)
    gate = Gate()
    busy = reg.start("busy", gate)
    gate.started.wait()
    assert reg.start("warm-up", lambda task: 1, wait=False) is None and "warm-up" not in reg
    gate.go.set()
    finished(busy)
    assert finished(reg.start("warm-up", lambda task: 1, wait=False)).result == 1


def test_cancel_stops_a_queued_task_before_it_starts_and_a_running_one_at_its_next_report():
    reg = TaskRegistry("t", max_running=1, keep=8)
    gate, never = Gate(), Gate()
    running, queued = reg.start("running", gate), reg.start("queued", never)
    gate.started.wait()
    reg.cancel("queued")
    assert finished(queued).state == CANCELLED and never.calls == 0
    reg.cancel("running")
    gate.go.set()
    assert finished(running).state == CANCELLED and running.result is None


def test_finished_tasks_beyond_keep_are_forgotten_least_recently_used_first_never_unfinished_ones():
    reg = TaskRegistry("t", max_running=3, keep=3)
    gate = Gate()
    slow = reg.start("slow", gate)
    for key in ("a", "b"):
        finished(reg.start(key, lambda task, key=key: key))
    assert reg.get("a") is not None  # read again: "b" is now the least recently used
    finished(reg.start("c", lambda task: "c"))
    assert ["slow" in reg, "a" in reg, "b" in reg, "c" in reg] == [True, True, False, True]
    for key in ("d", "e", "f"):  # the oldest of all, but running: kept
        finished(reg.start(key, lambda task, key=key: key))
    assert "slow" in reg and len(reg) == 3 and reg.get("f").result == "f"
    gate.go.set()
    finished(slow)


def test_task_ids_are_unguessable_hex_valid_in_a_component_key():
    """A v2 component's key must not contain "__" (Streamlit raises BidiComponentInvalidIdError); the
    LR Finder's progress bar's key holds the sweep's task id."""
    reg = TaskRegistry("t", max_running=1, keep=2000)
    tasks = [reg.start(i, lambda task: None) for i in range(300)]
    assert len({t.id for t in tasks}) == 300 and all(re.fullmatch(r"[0-9a-f]{24}", t.id) for t in tasks)
    assert reg.by_id(tasks[5].id) is tasks[5] and reg.by_id("nope") is None
    for t in tasks:
        finished(t)


@pytest.mark.parametrize("bad", [{"max_running": 0, "keep": 1}, {"max_running": 1, "keep": 0}])
def test_bounds_must_be_positive(bad):
    with pytest.raises(ValueError):
        TaskRegistry("t", **bad)


def test_drain_cancels_every_task_and_waits_for_the_running_ones():
    """At exit the registry cancels its tasks and waits for them to stop at their next report, so no
    daemon thread is inside TensorFlow while the interpreter finalizes (that aborts the process)."""
    import threading
    import time

    reg = TaskRegistry("drain", max_running=1, keep=4)
    started, stopped = threading.Event(), threading.Event()

    def work(task):
        started.set()
        try:
            while True:
                task.report("working")
                time.sleep(0.01)
        finally:
            stopped.set()

    running = reg.start("a", work)
    queued = reg.start("b", lambda task: "never")
    assert started.wait(10)
    reg.drain(time.monotonic() + 10)
    assert stopped.is_set() and running.state == CANCELLED and queued.state == CANCELLED
