"""CLI commands over training jobs: ``train``, ``runs``, ``stop``, ``rename``, ``delete``, ``store-reset``
(registered by cli/main.py).

``train`` queues a run for the same worker the app uses. With ``--detach`` it prints the run
id and returns; otherwise it follows the run in the terminal (one line per epoch, a live
progress bar on a TTY) and exits 0 if the run completed, 1 if it stopped or failed.
Ctrl-C while following stops the run (its best weights are saved); a second Ctrl-C detaches.
"""

from __future__ import annotations

import sys
import time

from fmnist_core.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    add_train_arguments,
    fmt_table,
    hparams_from_args,
    model_name,
    pct,
    print_json,
    run_id,
    task_name,
)
from fmnist_core.runs.store import STATUSES, TERMINAL


def register(subparsers) -> None:

    tr = subparsers.add_parser("train", help="train a model as a job (survives the terminal with --detach)")
    add_train_arguments(tr)
    tr.add_argument("--detach", action="store_true", help="print the run id and return at once")
    tr.set_defaults(func=cmd_train)

    ru = subparsers.add_parser("runs", help="list training runs: status, validation and test accuracy")
    ru.add_argument("--json", action="store_true", help="print a JSON list of run objects")
    ru.add_argument("--task", type=task_name, help="only runs of this task")
    ru.add_argument("--status", choices=STATUSES, help="only runs with this status")
    ru.add_argument("--sweep", help="only runs of this sweep id")
    ru.set_defaults(func=cmd_runs)

    st = subparsers.add_parser("stop", help="stop a run after its current batch; its best weights are saved")
    st.add_argument("run_id", type=run_id)
    st.add_argument("--wait", action="store_true", help="wait until the run has ended")
    st.set_defaults(func=cmd_stop)

    rn = subparsers.add_parser("rename", help="rename a run, a sweep or a saved model of your home")
    rn.add_argument("kind", choices=["run", "sweep", "model"])
    rn.add_argument("target", help="run id, sweep id or model name")
    rn.add_argument("new_name", help="the new name (a model name: letters, digits, '-' or '_')")
    rn.set_defaults(func=cmd_rename)

    de = subparsers.add_parser("delete", help="delete a finished run (and its model), a sweep, or a saved model")
    de.add_argument("kind", choices=["run", "sweep", "model"])
    de.add_argument("target", help="run id, sweep id or model name")
    de.add_argument("--keep-model", action="store_true", help="runs and sweeps: keep the saved model(s)")
    de.set_defaults(func=cmd_delete)

    au = subparsers.add_parser("add-user", help="add an account for a served app (bcrypt-hashed; see README)")
    au.add_argument("username", help="1-32 lower-case letters, digits, '.', '-' or '_'")
    au.add_argument("--name", default=None, help="the name shown in the app (default: the user name)")
    au.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
    au.set_defaults(func=cmd_add_user)

    rs = subparsers.add_parser("store-reset", help="move a damaged run store aside and start a fresh, empty one")
    rs.add_argument("--yes", action="store_true", help="agree without the prompt (the old file is kept aside)")
    rs.set_defaults(func=cmd_store_reset)


# ---------------------------------------------------------------- train


def cmd_train(args) -> int:
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import RunStore

    store = RunStore()
    run_id = jobs.submit(
        args.preset,
        args.task,
        hparams_from_args(args),
        name=args.model_name,
        store=store,
        model_name=args.model_name,
        overwrite=args.overwrite,
    )
    if args.detach:
        print(run_id, flush=True)
        sys.stderr.write(
            f"queued run {run_id}; `python -m fmnist_core runs` shows it, "
            f"`python -m fmnist_core stop {run_id}` stops it\n"
        )
        return EXIT_OK
    run = follow(run_id, store)
    return EXIT_OK if run["status"] == "completed" else EXIT_FAIL


def follow(run_id: int, store, out=None, poll: float = 0.5) -> dict:
    """Print a run's progress until it ends; returns the final run dict."""
    from fmnist_core.runs import jobs

    out = out or sys.stdout
    tty = out.isatty()
    shown, said, interrupted, last_refresh = 0, None, False, time.monotonic()
    while True:
        try:
            run = store.get_run(run_id)
            status = run["status"]
            if status == "queued" and said != "queued":
                ahead = sum(
                    1 for r in store.list_runs(status=["queued", "running"], with_history=False) if r["id"] < run_id
                )
                _line(out, tty, f"run {run_id} queued" + (f" behind {ahead} other run(s)" if ahead else ""))
                said = "queued"
            elif status != "queued" and said in (None, "queued"):
                _line(
                    out,
                    tty,
                    f"run {run_id} training '{run['name']}' ({run['task']}, {run['epochs']} epochs, "
                    f"model {run['model_name']})",
                )
                said = "running"
            for e in run["history"][shown:]:
                _line(out, tty, epoch_line(e, run["epochs"]))
            shown = len(run["history"])
            if status in TERMINAL:
                _line(out, tty, _final_line(run))
                return run
            if tty and status == "running":
                out.write("\r\033[K" + _bar(run))
                out.flush()
            if time.monotonic() - last_refresh > 5:  # a dead worker's queue gets a new one
                jobs.refresh(store)
                last_refresh = time.monotonic()
            time.sleep(poll)
        except KeyboardInterrupt:
            if interrupted:
                _line(
                    out,
                    tty,
                    f"detached; run {run_id} goes on in the background (`python -m fmnist_core runs` shows it)",
                )
                raise
            interrupted = True
            jobs.stop(run_id, store)
            _line(
                out,
                tty,
                f"stopping run {run_id} after its current batch; its best weights are saved (Ctrl-C again to detach)",
            )


def _line(out, tty, text: str) -> None:
    out.write(("\r\033[K" if tty else "") + text + "\n")
    out.flush()


def _f(v, fmt=".4f") -> str:
    return "-" if v is None else format(v, fmt)


def epoch_line(e: dict, epochs) -> str:
    """One line per epoch, shared by `train` (following a job) and `train-here`."""
    return (
        f"epoch {e['epoch']}/{epochs}  loss {_f(e['loss'])}  acc {_f(e['accuracy'])}  "
        f"val_loss {_f(e['val_loss'])}  val_acc {_f(e['val_accuracy'])}  lr {_f(e['lr'], '.2e')}  "
        f"{_f(e['seconds'], '.1f')}s"
    )


def _bar(run: dict, width: int = 30) -> str:
    bpe, epoch, batch = run.get("batches_per_epoch"), run.get("current_epoch"), run.get("current_batch")
    if not (bpe and epoch and batch):
        return f"run {run['id']} starting (loading TensorFlow and the data)..."
    if len(run["history"]) >= (run["epochs"] or 0) and batch == bpe:
        return f"run {run['id']} scoring on the test set and saving the model..."
    frac = min(1.0, batch / bpe)
    last = run["batches"][-1] if run["batches"] else {}
    eta = run.get("eta_seconds")
    return (
        f"epoch {epoch}/{run['epochs']} [{'#' * int(frac * width):<{width}}] {batch}/{bpe}  "
        f"loss {_f(last.get('loss'))}  acc {_f(last.get('accuracy'))}"
        + (f"  eta {eta:.0f}s" if eta is not None else "")
    )


def _final_line(run: dict) -> str:
    text = f"run {run['id']} {run['status']}"
    if run.get("message"):
        text += f": {run['message']}"
    if run.get("val_accuracy") is not None:
        text += (
            f"\nval acc {run['val_accuracy']:.4f}  test acc {_f(run.get('test_accuracy'))}  saved {run['model_path']}"
        )
    return text


# ---------------------------------------------------------------- runs and stop


def cmd_runs(args) -> int:
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import RunStore

    store = RunStore()
    jobs.refresh(store)  # the listing shows dead workers' runs as failed, and restarts an orphaned queue
    runs = store.list_runs(task=args.task, status=args.status, sweep_id=args.sweep)
    if args.json:
        print_json(runs)
        return EXIT_OK
    if not runs:
        print("no runs yet: start one with `python -m fmnist_core train --preset linear -mn my_first --detach`")
        return EXIT_OK
    rows = []
    for r in runs:
        done = r["current_epoch"] if r["status"] == "running" else len(r["history"])
        msg = r.get("message") or ""
        rows.append(
            [
                r["id"],
                r["name"][:32],
                r["status"],
                r["task"],
                f"{done or 0}/{r['epochs']}",
                pct(r["val_accuracy"]),
                pct(r["test_accuracy"]),
                r["model_name"],
                msg if len(msg) <= 60 else msg[:57] + "...",
            ]
        )
    print(fmt_table(rows, ["id", "name", "status", "task", "epochs", "val acc", "test acc", "model", "message"]))
    return EXIT_OK


def cmd_stop(args) -> int:
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import RunStore

    store = RunStore()
    before = store.get_status(args.run_id)
    if before is None:
        raise ValueError(f"no run with id {args.run_id}; `python -m fmnist_core runs` lists them")
    if before in TERMINAL:
        raise ValueError(f"run {args.run_id} is already {before}; nothing to stop")
    run = jobs.stop(args.run_id, store)
    if run["status"] == "stopped":
        print(f"run {args.run_id} was still queued: removed from the queue (marked stopped)")
        return EXIT_OK
    print(f"stop requested: run {args.run_id} finishes its current batch, saves its best weights and ends as 'stopped'")
    if args.wait:
        run = jobs.wait(args.run_id, store=store)
        print(_final_line(run))
    return EXIT_OK


# ---------------------------------------------------------------- rename, delete, store-reset


def _target(kind: str, target: str):
    import argparse

    try:
        if kind == "run":
            return run_id(target)
        if kind == "model":
            return model_name(target)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    return target


def cmd_rename(args) -> int:
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import RunStore

    store, target = RunStore(), _target(args.kind, args.target)
    if args.kind == "run":
        store.rename_run(target, args.new_name)
    elif args.kind == "sweep":
        store.rename_sweep(target, args.new_name)
    else:
        jobs.rename_model(target, _target("model", args.new_name), store)
    print(f"renamed {args.kind} {target} to {args.new_name}")
    return EXIT_OK


def cmd_delete(args) -> int:
    from fmnist_core.modeling import saving
    from fmnist_core.runs.store import RunStore

    target = _target(args.kind, args.target)
    if args.kind == "model":
        saving.delete_model(target)
    elif args.kind == "run":
        RunStore().delete_run(target, delete_model=not args.keep_model)
    else:
        RunStore().delete_sweep(target, delete_models=not args.keep_model)
    print(f"deleted {args.kind} {target}")
    return EXIT_OK


def cmd_store_reset(args) -> int:
    """Only on the user's explicit consent: the damaged file is moved aside, never deleted."""
    from fmnist_core.runs import store as store_mod

    path = store_mod.default_path()
    try:
        store = store_mod.RunStore(path)
        try:
            store.list_runs(with_history=False)  # opening reads the schema version only: touch the tables too
        finally:
            store.close()
        print(f"the run store {path} is healthy; nothing to do")
        return EXIT_OK
    except store_mod.SchemaTooNewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except store_mod.StoreDamagedError as exc:
        print(exc, file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: pass --yes to move the damaged store aside and start a fresh one", file=sys.stderr)
            return EXIT_FAIL
        if input("Move it aside and start a fresh, empty store? Type yes: ").strip().lower() != "yes":
            print("nothing changed")
            return EXIT_FAIL
    aside = store_mod.quarantine(path)
    store_mod.RunStore(path).close()
    print(f"kept the damaged store as {aside}; started a fresh one at {path}")
    return EXIT_OK


def cmd_add_user(args) -> int:
    import getpass

    from fmnist_core.runs.accounts import add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ; nothing changed")
    path = add_user(args.username, password, args.name)
    print(f"account {args.username!r} saved in {path} (bcrypt hash; the file is readable by you only)")
    return EXIT_OK
