"""Training on a real two-node Ray cluster (head + one worker node, 1 CPU each) with the run store on
a real PostgreSQL, both started by the fixtures. Tiny real trainings. The test that kills the worker
node runs last (file order), as the cluster has one node fewer after it; stop is tested through the
app, in the browser test."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fmnist_core.modeling import saving
from fmnist_core.runs import jobs
from fmnist_core.runs.store import TERMINAL, RunStore
from waiting import wait_for

pytestmark = pytest.mark.cluster
TINY = {"subset": 1500, "epochs": 2, "batch_size": 64}
LONG = {
    "subset": 3000,
    "epochs": 400,
    "batch_size": 32,
}  # minutes even on a quiet machine: it cannot finish before the kill is noticed


def node_of(run):
    return run["executor"].split(":")[1] if run.get("executor") else None


def all_done(store, ids):
    jobs.refresh(store)  # what the app's live view does: fails dead runs, installs arrived models
    runs = [store.get_run(i) for i in ids]
    return runs if all(r["status"] in TERMINAL for r in runs) else None


def test_four_runs_spread_over_both_nodes_each_once_with_live_progress(cluster_env):
    store = RunStore()
    assert store.where.startswith("postgresql")
    ids = [jobs.submit("linear", "multiclass", TINY, name=f"run {i}", store=store) for i in range(4)]

    def a_live_point():
        runs = [store.get_run(i) for i in ids]
        assert not all(r["status"] in TERMINAL for r in runs), [(r["status"], r["message"]) for r in runs]
        return next((r for r in runs if r["status"] == "running" and r["batches"]), None)

    live = wait_for(a_live_point, 180, "a live batch point")
    assert live["current_epoch"] >= 1 and live["batches"][-1]["loss"] > 0  # progress visible through the store
    runs = wait_for(lambda: all_done(store, ids), 240, "all four runs finished", poll=0.5)
    assert [r["status"] for r in runs] == ["completed"] * 4, [r["message"] for r in runs]
    assert len({node_of(r) for r in runs}) == 2  # spread over both nodes
    dispatcher = jobs.get_executor().connect()
    import ray

    submitted = ray.get(dispatcher.status.remote(cluster_env["store_url"]))["submitted"]
    assert submitted == {i: 1 for i in ids}  # one Ray task per run...
    for r in runs:  # ...and each trained once
        assert [e["epoch"] for e in r["history"]] == [1, 2]
        assert r["val_accuracy"] > 0.45 and r["test_accuracy"] > 0.45  # chance is 0.10
    jobs.refresh(store)
    for r in runs:  # the models came through the store into the app's folder, hash-checked
        assert r["model_path"] == f"{r['model_name']}.keras"
        meta = saving.read_metadata(cluster_env["home"] / r["model_path"])  # verified: payload hash, schema
        assert meta["run_id"] == r["id"] and meta["test_metrics"]["accuracy"] == pytest.approx(r["test_accuracy"])
        model, _ = saving.load_model(r["model_name"])
        assert model.count_params() == meta["n_params"]
    assert store.model_blobs_waiting() == []


APP = textwrap.dedent("""
    import sys, time
    from fmnist_core.runs import jobs
    go = float(sys.argv[1])
    while time.time() < go:
        time.sleep(0.005)
    ids = [jobs.submit("linear", "multiclass", {"subset": 300, "epochs": 1, "batch_size": 64},
                       model_name=f"{sys.argv[2]}_{i}") for i in range(3)]
    print(" ".join(map(str, ids)))
""")


def test_two_app_processes_submitting_at_once_lose_nothing(cluster_env):
    env = dict(os.environ)
    go = time.time() + 12  # both processes imported everything by then; then they submit together
    apps = [
        subprocess.Popen(
            [sys.executable, "-c", APP, str(go), name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob")
    ]
    outs = [p.communicate(timeout=120) for p in apps]
    assert [p.returncode for p in apps] == [0, 0], [o[1][-2000:] for o in outs]
    ids = sorted(int(i) for out, _ in outs for i in out.split())
    assert len(ids) == len(set(ids)) == 6
    store = RunStore()
    # The submitting processes have exited; the dispatcher owns their tasks, so they still train.
    runs = wait_for(lambda: all_done(store, ids), 240, "all six runs finished", poll=0.5)
    assert [r["status"] for r in runs] == ["completed"] * 6, [r["message"] for r in runs]
    jobs.refresh(store)
    names = sorted(m["name"] for m in saving.list_models() if not m["shipped"])
    assert names == sorted(f"{who}_{i}" for who in ("alice", "bob") for i in range(3))


def test_app_with_the_ray_executor_shows_live_curves_and_stops(cluster_env):
    """The browser test of the live view (Train, live curves, reload, Stop: the store flag the task
    obeys), run against an app started with the Ray executor and the PostgreSQL store: the same user
    story, on the cluster. The stopped run's best weights come back as its model."""
    if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        pytest.skip("Chromium missing: apt-get install chromium")
    browser_test = "tests/browser/test_browser_training.py::test_live_curve_grows_and_the_run_survives_a_reload"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", browser_test],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    store = RunStore()
    runs = store.list_runs(with_history=False)
    assert runs and runs[0]["status"] == "stopped" and runs[0]["executor"].startswith("ray:")
    assert "stopped on request" in runs[0]["message"] and runs[0]["model_path"] == f"{runs[0]['model_name']}.keras"


def test_killed_worker_node_fails_its_run_while_the_other_keeps_training(cluster_env):
    # Both runs are long: Ray places them, so either may be on the worker node, and a short victim
    # could finish in the seconds before the node's loss is noticed (seen in CI).
    store = RunStore()
    a = jobs.submit("linear", "multiclass", dict(LONG), name="long a", store=store)
    b = jobs.submit("linear", "multiclass", dict(LONG), name="long b", store=store)
    both = wait_for(
        lambda: (
            (rs := [store.get_run(a), store.get_run(b)])
            and all(r["status"] == "running" and r["batches"] for r in rs)
            and rs
        ),
        120,
        "both runs training",
    )
    head = cluster_env["ray"]
    import ray

    head_node = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "node:__internal_head__" in n["Resources"])
    on_worker = [r for r in both if node_of(r) != head_node]
    assert len(on_worker) == 1, [node_of(r) for r in both]
    victim, survivor = on_worker[0]["id"], ({a, b} - {on_worker[0]["id"]}).pop()
    killed_at = time.monotonic()
    os.kill(head.raylet_pid(1), signal.SIGKILL)  # the worker node's raylet: the node is lost
    dead = wait_for(lambda: (r := store.get_run(victim))["status"] in TERMINAL and r, 60, "the victim failed")
    assert dead["status"] == "failed" and "Ray" in dead["message"], dead["message"]
    assert time.monotonic() - killed_at < 60  # within the heartbeat window
    # The survivor is untouched: still running, and still adding batches after the victim was failed.
    seen = store.get_run(survivor)
    assert seen["status"] == "running", seen["message"]
    wait_for(
        lambda: (
            (r := store.get_run(survivor))["status"] == "running"
            and r["batches"][-1]["step"] > seen["batches"][-1]["step"]
        ),
        60,
        "the survivor training on",
    )
    jobs.stop(survivor, store=store)
    done = wait_for(lambda: all_done(store, [survivor]), 180, "the survivor stopped", poll=0.5)[0]
    assert done["status"] == "stopped", done["message"]
