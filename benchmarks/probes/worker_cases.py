"""Probes of workers: leases, paused, killed and fenced workers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from benchmarks.probes.fault_cases import PY, _env, _tamper, sound_models
from benchmarks.probes.harness import REPO, Case, Outcome, fresh_home, short

# ---------------------------------------------------------------- leases, paused and killed workers


def _queue(home: Path, **hp):
    from fmnist_core.data.tasks import get_task
    from fmnist_core.modeling.models import normalize_spec
    from fmnist_core.runs.store import RunStore

    s = RunStore(home / "runs.sqlite")
    rid = s.create_run(
        "w",
        get_task("multiclass"),
        normalize_spec("linear"),
        {"subset": 3000, "epochs": 30, "batch_size": 32, **hp},
        model_name="work",
    )
    return s, rid


def _start_worker(home: Path, lease: str = "60") -> subprocess.Popen:
    return subprocess.Popen(
        [PY, "-m", "fmnist_core.runs.worker", "--store", str(home / "runs.sqlite")],
        cwd=REPO,
        env=_env(home, FMNIST_LEASE_TIMEOUT_S=lease),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _until_batches(s, rid, proc, limit=180):
    deadline = time.monotonic() + limit
    while not (s.get_run(rid) or {}).get("current_batch"):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the worker never started training")
        time.sleep(0.2)


def worker_cases() -> list[Case]:
    g = "Paused, killed and fenced workers"

    def fenced():
        from fmnist_core.runs import leases

        home = fresh_home()
        s, rid = _queue(home)
        lease = s.claim_next(os.getpid())["lease"]
        _tamper(home, "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", rid)
        reaped = s.reap_dead()
        wrote = [
            s.heartbeat(rid, lease),
            s.add_epoch(rid, {"epoch": 1, "loss": 1.0}, lease=lease),
            s.add_batch(rid, {"step": 1, "epoch": 1, "batch": 1}, lease=lease),
        ]
        published = []
        try:
            s.finish(rid, "completed", val={"accuracy": 0.9}, lease=lease, publish=lambda: published.append(1))
            refused = False
        except leases.LeaseLostError:
            refused = True
        run = s.get_run(rid)
        ok = reaped == [rid] and not any(wrote) and refused and not published and run["status"] == "failed"
        return Outcome(
            f"reaped {reaped}; writes accepted: {sum(wrote)}/3; finish refused: {refused}; published: "
            f"{bool(published)}; run {run['status']}: {short(run['message'], 60)}",
            ok,
        )

    def expired():
        from fmnist_core.runs import leases

        home = fresh_home()
        s, rid = _queue(home)
        lease = s.claim_next(os.getpid())["lease"]
        _tamper(home, "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", rid)
        published = []
        try:
            s.finish(rid, "completed", lease=lease, publish=lambda: published.append(1))
            refused = False
        except leases.LeaseLostError:
            refused = True
        run = s.get_run(rid)
        return Outcome(
            f"finish refused: {refused}; published: {bool(published)}; run {run['status']}: "
            f"{short(run['message'], 70)}",
            refused and not published and "lease expired" in run["message"],
        )

    def paused():
        home = fresh_home()
        s, rid = _queue(home)
        proc = _start_worker(home, lease="4")
        try:
            _until_batches(s, rid, proc)
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(6)
            from fmnist_core.runs import leases

            old, leases.HEARTBEAT_TIMEOUT_S = leases.HEARTBEAT_TIMEOUT_S, 4.0
            try:
                reaped = s.reap_dead()
            finally:
                leases.HEARTBEAT_TIMEOUT_S = old
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(8)  # it resumes, notices its lease is gone, writes nothing
        finally:
            proc.kill()
            proc.wait()
        run = s.get_run(rid)
        saved = (home / "work.keras").exists()
        ok = reaped == [rid] and run["status"] == "failed" and run["val_accuracy"] is None and not saved
        return Outcome(
            f"reaped {reaped}; run {run['status']}: {short(run['message'], 70)}; model saved after: {saved}", ok
        )

    def killed(sig):
        def run():
            home = fresh_home()
            s, rid = _queue(home)
            proc = _start_worker(home)
            try:
                _until_batches(s, rid, proc)
                os.kill(proc.pid, sig)
                proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            s.reap_dead()
            run = s.get_run(rid)
            ok_models, ids, problems = sound_models(home)
            want = "stopped" if sig == signal.SIGTERM else "failed"
            ok = run["status"] == want and ok_models and (want == "failed" or ids.get("work") == rid)
            return Outcome(
                f"run {run['status']}: {short(run['message'], 70)}; models sound: {ok_models}; "
                f"'work' {'saved' if 'work' in ids else 'not saved'}",
                ok,
            )

        return run

    return [
        Case(
            "worker.fenced-writes",
            g,
            "a worker writes after its lease was taken (heartbeat, epoch, batch, finish)",
            "every write refused, nothing published",
            "store API, see `worker_cases`",
            fenced,
        ),
        Case(
            "worker.expired-lease-finish",
            g,
            "finish with a lease expired that nobody took",
            "refused, run failed with 'lease expired'",
            "store API",
            expired,
        ),
        Case(
            "worker.sigstop-past-lease",
            g,
            "a real worker SIGSTOPped past its 4 s lease, reaped, then SIGCONT",
            "run failed; no model, no result written afterwards",
            "`kill -STOP`, `runs`, `kill -CONT`",
            paused,
        ),
        Case(
            "worker.sigkill-mid-training",
            g,
            "a real worker SIGKILLed mid-epoch",
            "run failed with the cause, listed models sound",
            "`kill -9 <worker>`",
            killed(signal.SIGKILL),
        ),
        Case(
            "worker.sigterm-mid-training",
            g,
            "a real worker SIGTERMed mid-epoch",
            "run 'stopped', its weights saved whole",
            "`kill <worker>`",
            killed(signal.SIGTERM),
        ),
    ]


def cases() -> list[Case]:
    return worker_cases()
