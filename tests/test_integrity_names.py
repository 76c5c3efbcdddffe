"""One way to claim a model name: in-process training (``train-here``) is a run too, reserved in the
store like a queued one, so concurrent claimants of one name never both report success."""

import os
import subprocess
import sys

import pytest

from fmnist_core.modeling.saving import REPO_ROOT, find_model, read_metadata
from fmnist_core.runs import jobs
from fmnist_core.runs.store import RunStore

TINY = ["--preset", "linear", "--subset", "600", "--epochs", "1"]


def _start(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "fmnist_core", *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def env(fmnist_home):
    yield {**os.environ, "FMNIST_HOME": str(fmnist_home), "FMNIST_PREWARM_S": "0"}
    jobs.get_executor().terminate_started()


@pytest.mark.slow
def test_concurrent_claimants_of_one_name_one_wins_and_the_file_is_its_model(env):
    here = [_start(["train-here", *TINY, "-mn", "shared"], env) for _ in range(3)]
    detached = [_start(["train", *TINY, "-mn", "shared", "--detach"], env) for _ in range(2)]
    done = [(p, *p.communicate(timeout=600)) for p in here + detached]
    won = [(p, out, err) for p, out, err in done if p.returncode == 0]
    lost = [(p, out, err) for p, out, err in done if p.returncode != 0]
    assert len(won) == 1, [(p.returncode, err[-300:]) for p, _, err in done]
    for p, _, err in lost:  # refused in one line, before training
        assert p.returncode == 2 and len(_errors(err)) == 1 and "shared" in _errors(err)[0], err[-500:]

    store = RunStore()
    runs = [r for r in store.list_runs() if r["model_name"] == "shared"]
    assert len(runs) == 1
    run = jobs.wait(runs[0]["id"], timeout=600, store=store)
    assert run["status"] == "completed"
    meta = read_metadata(find_model("shared"))
    assert meta["run_id"] == run["id"]
    assert meta["val_metrics"]["accuracy"] == pytest.approx(run["val_accuracy"])
    _, out, _ = won[0]
    if "saved" in out:  # the train-here winner reports the accuracy the file holds
        assert f"val acc {meta['val_metrics']['accuracy']:.4f}" in out


def test_overwrite_of_a_name_an_active_run_holds_is_refused(env):
    store = RunStore()
    rid = store.create_run(
        "held", "multiclass", [{"type": "dense", "units": 10}], {"epochs": 1}, model_name="held", claim_pid=os.getpid()
    )
    assert store.get_status(rid) == "running"
    p = _start(["train-here", *TINY, "-mn", "held", "--overwrite"], env)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and len(_errors(err)) == 1 and f"run {rid}" in _errors(err)[0], err[-500:]
    assert store.get_status(rid) == "running" and [r["id"] for r in store.list_runs()] == [rid]


@pytest.mark.slow
def test_an_interrupted_train_here_frees_its_name(env):
    import signal

    from waiting import wait_for

    p = _start(["train-here", "--preset", "linear", "--subset", "6000", "--epochs", "20", "-mn", "cut"], env)
    store = RunStore()
    run = wait_for(
        lambda: next(
            (r for r in store.list_runs(with_history=False) if r["model_name"] == "cut" and r.get("current_batch")),
            None,
        ),
        timeout=300,
        what="train-here training",
    )
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-2000:]
    assert store.get_run(run["id"])["status"] == "failed"
    assert not store.model_name_active("cut")
