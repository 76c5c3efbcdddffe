"""Fault injection: SIGKILL a real worker at each step of a save, SIGSTOP one past its lease.

After every fault, each listed model must load and agree with its metadata (the loader checks
the sha256, the schema and the output size), and the overwritten name must hold the complete
old model or the complete new one. ``FMNIST_FAULT_AT`` (see ``saving``) picks the step.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import build_model, normalize_spec
from fmnist_core.runs import jobs
from fmnist_core.runs.store import RunStore
from waiting import wait_for

TINY = {"subset": 500, "epochs": 1, "batch_size": 64}


@pytest.fixture
def store(fmnist_home):
    yield RunStore()
    jobs.get_executor().terminate_started()


def all_models_sound() -> dict:
    """name -> metadata of every listed model, each loaded for real and checked against its metadata."""
    out = {}
    for m in saving.list_models():
        assert "error" not in m, m
        model, meta = saving.load_model(m["name"])
        assert meta["name"] == m["name"] and model.count_params() == meta["n_params"]
        out[m["name"]] = meta
    return out


@pytest.mark.slow
def test_kill_at_every_step_of_an_overwrite_leaves_one_whole_model(store, fmnist_home, monkeypatch):
    saving.save_model(
        build_model("linear", "multiclass"),
        "victim",
        {
            "task": get_task("multiclass").to_dict(),
            "spec": normalize_spec("linear"),
            "hparams": {},
            "run_id": 0,
            "source": "run",
        },
    )
    current = 0  # the run whose model "victim" holds
    for step in ("keras_written", "staged", "published"):
        monkeypatch.setenv("FMNIST_FAULT_AT", step)  # the worker inherits it and dies at that step
        rid = jobs.submit("linear", "multiclass", TINY, store=store, model_name="victim", overwrite=True)
        run = jobs.wait(rid, timeout=180, store=store, poll=0.2)
        assert run["status"] == "failed" and "died" in run["message"], (step, run["message"])
        models = all_models_sound()
        # Killed before the rename: the old model; after it: the new one, complete.
        if step == "published":
            current = rid
            assert "was saved whole" in run["message"]
        assert models["victim"]["run_id"] == current, step
    monkeypatch.delenv("FMNIST_FAULT_AT")
    # The killed saves' temp files are cleaned by the next worker; that run completes normally.
    rid = jobs.submit("linear", "multiclass", TINY, store=store, model_name="victim", overwrite=True)
    assert jobs.wait(rid, timeout=180, store=store, poll=0.2)["status"] == "completed"
    assert all_models_sound()["victim"]["run_id"] == rid
    assert sorted(p.name for p in fmnist_home.glob("*.keras*")) == ["victim.keras"]
    assert not list(fmnist_home.glob(".victim.*"))


def test_kill_during_a_delete_leaves_the_model_whole(fmnist_home):
    saving.save_model(
        build_model("linear", "shoes"),
        "doomed",
        {"task": get_task("shoes").to_dict(), "spec": normalize_spec("linear"), "hparams": {}},
    )
    env = dict(os.environ, FMNIST_FAULT_AT="before_delete")
    proc = subprocess.run(
        [sys.executable, "-c", "from fmnist_core.modeling import saving; saving.delete_model('doomed')"], env=env
    )
    assert proc.returncode == -signal.SIGKILL
    assert "doomed" in all_models_sound()
    saving.delete_model("doomed")
    assert "doomed" not in {m["name"] for m in saving.list_models()}


@pytest.mark.slow
def test_a_paused_worker_past_its_lease_saves_nothing(fmnist_home, monkeypatch):
    """Issue 11 item 4, end to end: SIGSTOP past the lease, reaped, SIGCONT: no model, no result."""
    monkeypatch.setenv("FMNIST_LEASE_TIMEOUT_S", "6")
    script = (
        "import sys; from fmnist_core.runs import leases; "
        "assert leases.HEARTBEAT_TIMEOUT_S == 6.0; from fmnist_core.runs.worker import main; sys.exit(main())"
    )
    store = RunStore()
    rid = store.create_run(
        "paused",
        get_task("multiclass"),
        normalize_spec("linear"),
        {**TINY, "epochs": 3, "subset": 3000},
        model_name="paused",
    )
    proc = subprocess.Popen([sys.executable, "-c", script, "--store", str(store.path)], env=os.environ)
    try:
        deadline = time.monotonic() + 120
        while not (store.get_run(rid) or {}).get("batches"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGSTOP)
        import fmnist_core.runs.leases as leases

        monkeypatch.setattr(leases, "HEARTBEAT_TIMEOUT_S", 6.0)
        # Reaped once its last heartbeat is 6 s old (the pid stays alive: it is only stopped).
        assert wait_for(store.reap_dead, timeout=60, what="the paused run reaped", poll=0.25) == [rid]
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = store.get_run(rid)
    assert run["status"] == "failed" and "stopped heartbeating" in run["message"]
    assert run["val_accuracy"] is None and run["model_path"] is None
    assert not (fmnist_home / "paused.keras").exists()
    assert not list(fmnist_home.glob(".paused.*"))
