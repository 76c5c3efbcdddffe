"""The training worker: ``python -m fmnist_core.runs.worker --store PATH [--log PATH]``.

Started by ``executors`` in its own process and session, never inside the Streamlit server. It
takes a worker slot (see ``slots``), then claims queued runs oldest first and trains each:

  * progress goes into the store as it happens (batch points, epochs, position);
  * a background thread heartbeats every 2 s, renewing the run's lease, so a dead worker is
    noticed (see ``reaper.reap_dead``); every write is fenced by the lease, so a worker whose
    run was taken away (paused past the timeout) writes nothing more, model included;
  * a stop request (or SIGTERM) ends training after the current batch; the best weights
    so far are saved and the run is marked ``stopped``;
  * NaN loss, a bad spec or any error marks the run ``failed`` with the message;
  * the model is staged, then published (one rename) in the same store transaction that
    records the result, and only while the lease is held.

It exits when the queue is empty; a *pre-warmed* worker (``--idle-wait S``, started by
``jobs.prewarm`` when Build & Train opens) first imports TensorFlow and reads the data, then
waits up to S seconds for a run, so a Train click skips the ~3-5 s process start. It leaves
early when the process that started it is gone (a stopped server or test run).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import threading
import time
import traceback

from fmnist_core.runs.slots import slot_paths, try_lock, unlock
from fmnist_core.runs.store import LeaseLostError, RunStore, StoreError

HEARTBEAT_EVERY_S = 2.0
_terminate = threading.Event()  # set by SIGTERM: finish the current run as 'stopped', then exit


_quiet = threading.Event()  # set for a run trained in the user's own process (``jobs.train_here``)


def log(msg: str) -> None:
    if _quiet.is_set():
        return  # train-here prints its own lines; the error comes back from run_one
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [worker {os.getpid()}] {msg}", flush=True)


def acquire_slot(store: RunStore, patience_s: float = 2.0) -> int | None:
    """Lock a free slot, retrying briefly: a submitter probing the slot holds it for microseconds."""
    deadline = time.monotonic() + patience_s
    while True:
        for path in slot_paths(store):
            fd = try_lock(path)
            if fd is not None:
                return fd
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


class Heartbeat(threading.Thread):
    """Touches the current run's heartbeat every few seconds while the training thread works.

    TensorFlow releases the GIL inside its ops, so this thread keeps beating during long steps.
    """

    def __init__(self, store: RunStore):
        super().__init__(daemon=True, name="heartbeat")
        self.store, self.run_id, self.lease = store, None, None

    def run(self):
        while True:
            time.sleep(HEARTBEAT_EVERY_S)
            rid, lease = self.run_id, self.lease
            if rid is not None:
                try:
                    if not self.store.heartbeat(rid, lease):
                        log(f"run {rid}: lease lost (the run was taken away); it will write nothing more")
                except Exception as exc:  # a locked database for a moment must not kill the worker
                    log(f"heartbeat failed: {exc}")


def warm_up() -> None:
    """Import what training needs and read the dataset into memory, before any run is claimed."""
    import keras  # noqa: F401  (the ~3 s TensorFlow import)

    from fmnist_core.data.fashion_mnist import load_fashion_mnist
    from fmnist_core.modeling.precision import choose_precision
    from fmnist_core.runs import runner  # noqa: F401

    load_fashion_mnist()
    # Precision "auto" is measured once per machine (~10-20 s): here it happens while the student
    # reads the page, before the first Train, instead of inside the first run.
    choose_precision()


def wait_for_run(store: RunStore, idle_s: float, parent: int, poll_s: float = 0.1) -> bool:
    """Poll the queue (one indexed read each ``poll_s``) for up to ``idle_s``; True if a run is waiting."""
    deadline = time.monotonic() + idle_s
    while time.monotonic() < deadline and not _terminate.is_set():
        if store.next_queued() is not None:
            return True
        if os.getppid() != parent:
            return False  # whoever started us has exited: nobody is about to press Train
        time.sleep(poll_s)
    return False


def _train(store: RunStore, run: dict, publish, directory=None, on_event=None) -> dict:
    """Train and save one claimed run (staged in ``directory``, default the home); returns the saved
    model's metadata (see runner.train_and_save). ``on_event(ev)`` also sees each progress event."""
    from fmnist_core.data.tasks import get_task
    from fmnist_core.modeling.saving import home_dir
    from fmnist_core.modeling.training import HParams
    from fmnist_core.runs.runner import train_and_save

    rid, lease = run["id"], run.get("lease")
    task, hp = get_task(run["task_def"]), HParams.from_dict(run["hparams"])
    log(f"run {rid} '{run['name']}': {task.name}, {hp.epochs} epochs, model -> {run['model_name']}")

    def on_progress(ev):
        if on_event is not None:
            on_event(ev)
        try:
            if ev["kind"] == "start":
                store.set_progress(rid, batches_per_epoch=ev["batches_per_epoch"], lease=lease)
            elif ev["kind"] == "batch":
                store.add_batch(rid, ev, lease=lease)
            elif ev["kind"] == "histograms":
                from fmnist_core.runs import histograms

                histograms.append(rid, ev, store.home)
            elif ev["kind"] == "epoch":
                store.add_epoch(rid, ev, lease=lease)
                log(
                    f"run {rid} epoch {ev['epoch']}/{ev['epochs']} loss={ev['loss']:.4f} "
                    f"val_accuracy={ev['val_accuracy'] or float('nan'):.4f}"
                )
        except Exception as exc:  # progress is best-effort; the run itself must go on
            log(f"run {rid}: could not record progress: {exc}")

    def should_stop():
        # Also True when the run is no longer ours (marked failed, its lease taken).
        return _terminate.is_set() or store.stop_requested(rid, lease)

    extra = {
        "run_id": rid,
        "run_name": run["name"],
        "sweep_id": run.get("sweep_id"),
        "source": "run",
        "owner": run.get("owner"),
    }
    return train_and_save(
        run["spec"],
        task,
        hp,
        run["model_name"],
        on_progress=on_progress,
        should_stop=should_stop,
        extra_meta=extra,
        directory=directory or home_dir(),
        publish=publish,
    )


def _cause(exc: Exception) -> str:
    """The message a failed run records: the real cause, in words, with what to do."""
    from fmnist_core.modeling.precision import PrecisionUnsupportedError
    from fmnist_core.modeling.training import TrainingDivergedError

    if isinstance(exc, (TrainingDivergedError, StoreError, PrecisionUnsupportedError)):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the disk is full ({exc.filename or 'saving the model'}): free some space, then train it again"
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES):
        return f"the model folder is not writable ({exc}): make it writable or set FMNIST_HOME, then train again"
    return f"{type(exc).__name__}: {exc}"


def run_one(store: RunStore, run: dict, directory=None, deliver=None, on_event=None) -> tuple[dict | None, str | None]:
    """Train one claimed run and record how it ended; any error fails the run, never the worker.

    directory : where the model is staged (default the home). deliver : for a node without the
    app's model folder, ``deliver(staged)`` returns the ``finish`` arguments that carry the model
    instead of publishing the file here (see ray_executor). on_event : also sees each progress event.
    Returns (the saved model's metadata, None), or (None, why it failed).
    """
    rid, lease = run["id"], run.get("lease")

    def publish(staged, meta):
        stopped, best = meta["stopped"], meta["best_epoch"]
        message = None
        if stopped:
            # Where it stopped: the last batch point (the unfinished epoch is not in the history).
            now = store.get_run(rid) or {}
            e, b, bpe = now.get("current_epoch"), now.get("current_batch"), now.get("batches_per_epoch")
            where = f"epoch {e}, batch {b}/{bpe}" if e and b and bpe else f"epoch {meta['epochs_trained'] + 1}"
            kept = (
                f"the weights of epoch {best} (lowest validation loss)"
                if best
                else "the weights it had (no epoch had finished)"
            )
            n = meta["epochs_trained"]
            message = f"stopped on request at {where}; {n} epoch{'' if n == 1 else 's'} finished; saved {kept}"
        model = deliver(staged) if deliver else {"model_path": staged.target, "publish": staged.publish}
        store.finish(
            rid,
            "stopped" if stopped else "completed",
            message,
            val=meta["val_metrics"],
            test=meta["test_metrics"],
            train_seconds=meta["train_seconds"],
            best_epoch=best,
            lease=lease,
            **model,
        )

    try:
        meta = _train(store, run, publish, directory, on_event)
    except LeaseLostError as exc:
        log(f"run {rid}: {exc}; nothing written")
        return None, str(exc)
    except Exception as exc:
        from fmnist_core.modeling.training import TrainingDivergedError

        if not isinstance(exc, (TrainingDivergedError, StoreError)) and not _quiet.is_set():
            traceback.print_exc()
        message = _cause(exc)
        log(f"run {rid} failed: error: {message}")
        try:
            store.finish(rid, "failed", message, lease=lease)
        except (LeaseLostError, StoreError) as exc2:
            log(f"run {rid}: could not record the failure: error: {exc2}")
        return None, message
    log(
        f"run {rid} {'stopped' if meta['stopped'] else 'completed'}: val accuracy "
        f"{meta['val_metrics'].get('accuracy', float('nan')):.4f}, test accuracy "
        f"{meta['test_metrics']['accuracy']:.4f}, saved {meta['path']}"
    )
    return meta, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist_core.runs.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="path of runs.sqlite, or the store's postgresql:// URL")
    parser.add_argument("--log", default=None, help="this worker's log file (recorded with each run)")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=0.0,
        help="pre-warmed: import TensorFlow now, then wait up to this many seconds for a run",
    )
    args = parser.parse_args(argv)
    parent = os.getppid()

    try:
        store = RunStore(args.store)
    except StoreError as exc:
        log(f"error: {exc}")
        return 1
    fd = acquire_slot(store)
    if fd is None:
        log("every worker slot is taken; another worker is training. Exiting.")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: _terminate.set())
    from fmnist_core.modeling.saving import clean_stale_temps
    from fmnist_core.runs.liveness import pid_alive

    for tmp in clean_stale_temps(store.home, pid_alive):
        log(f"removed {tmp.name}, left by a save that was killed")
    beat = Heartbeat(store)
    beat.start()
    log(f"started for {store.where}")
    if args.idle_wait > 0:
        warm_up()
        log(f"warm; waiting up to {args.idle_wait:.0f} s for a run")
    try:
        while not _terminate.is_set():
            run = store.claim_next(os.getpid(), args.log)
            if run is None and args.idle_wait > 0 and wait_for_run(store, args.idle_wait, parent):
                continue  # still holding the slot: the new run is ours
            if run is None:
                # Release the slot, then look once more: a run submitted while we held the slot
                # did not start a worker (its submitter saw the slot taken), so it is ours.
                unlock(fd)
                fd = None
                if store.next_queued() is None:
                    break
                fd = acquire_slot(store, patience_s=0)
                if fd is None:
                    break  # a new worker took the slot and will run it
                continue
            beat.run_id, beat.lease = run["id"], run.get("lease")
            try:
                run_one(store, run)
            finally:
                beat.run_id = beat.lease = None
    finally:
        if fd is not None:
            unlock(fd)
    log("queue empty; exiting")
    return 0


if __name__ == "__main__":
    from fmnist_core import quiet_tf

    quiet_tf.install()  # before warm_up or a run imports TensorFlow: its start-up lines stay out of the log
    raise SystemExit(main())
