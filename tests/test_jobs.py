"""Training jobs end to end: real worker processes training on small real subsets.

Each worker start costs ~3-4 s (TensorFlow import), so tests queue several runs per worker.
"""

import os
import signal

import pytest

from fmnist_core import cli
from fmnist_core.data.fashion_mnist import load_fashion_mnist, preprocess
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.evaluation import loss_and_accuracy, predict_proba
from fmnist_core.runs import jobs
from fmnist_core.runs.liveness import pid_alive
from fmnist_core.runs.store import RunStore
from waiting import wait_for

TINY = {"subset": 1500, "epochs": 2, "batch_size": 64}
LONG = {"subset": 3000, "epochs": 30, "batch_size": 32}  # long enough to stop or kill mid-way


@pytest.fixture
def store(fmnist_home):
    yield RunStore()
    # Never leave a worker we started training in a finished test's folder.
    jobs.get_executor().terminate_started()


def running_with_points(store, run_id):
    run = store.get_run(run_id)
    return run if run["status"] == "running" and run["batches"] else None


@pytest.mark.slow
def test_two_jobs_run_one_after_the_other_to_completion(store):
    a = jobs.submit("linear", "multiclass", TINY, store=store)
    b = jobs.submit("linear", "shoes", TINY, name="shoes run", store=store)
    assert (store.get_status(a), store.get_status(b)) == ("queued", "queued")

    seen = set()

    def both_done():
        # One SELECT, one snapshot: two separate reads can straddle a's finish and b's start and
        # see both 'running' although they never overlapped.
        status = {r["id"]: r["status"] for r in store.list_runs(with_history=False)}
        pair = (status[a], status[b])
        seen.add(pair)
        return pair[0] in ("completed", "stopped", "failed") and pair[1] in ("completed", "stopped", "failed")

    wait_for(both_done, timeout=180, poll=0.02)
    assert ("running", "queued") in seen  # queued, then running...
    assert ("running", "running") not in seen  # ...one at a time

    ra, rb = jobs.wait(a, store=store), jobs.wait(b, store=store)
    assert (ra["status"], rb["status"]) == ("completed", "completed"), (ra["message"], rb["message"])
    assert rb["started_at"] >= ra["finished_at"]  # FIFO: b waited for a
    assert rb["name"] == "shoes run" and ra["name"] == "linear multiclass"
    for run in (ra, rb):
        assert [e["epoch"] for e in run["history"]] == [1, 2]
        assert all(e["val_accuracy"] is not None and e["seconds"] > 0 for e in run["history"])
        assert run["batches"] and run["batches"][-1]["step"] <= 2 * run["batches_per_epoch"]
        assert run["pid"] and run["model_path"].endswith(f"{run['model_name']}.keras")
    # A 10-class linear model on 1,350 images beats chance (10%) by far; shoes beats the 70% majority.
    assert ra["val_accuracy"] > 0.45 and ra["test_accuracy"] > 0.45
    assert rb["val_accuracy"] > 0.9 and rb["test_accuracy"] > 0.9

    # The saved model loads and reproduces the test accuracy the run recorded.
    model, meta = saving.load_model(ra["model_name"])
    assert meta["run_id"] == a and meta["source"] == "run" and meta["epochs_trained"] == 2
    _, (x, y) = load_fashion_mnist()
    acc = loss_and_accuracy(get_task("multiclass").labels(y), predict_proba(model, preprocess(x)))["accuracy"]
    assert acc == pytest.approx(ra["test_accuracy"], abs=1e-6)

    # A taken model name is refused (nothing queued), and deleting a run removes its model.
    with pytest.raises(ValueError, match="already exists"):
        jobs.submit("linear", "multiclass", TINY, store=store, model_name=ra["model_name"])
    store.delete_run(a)
    assert [r["id"] for r in store.list_runs()] == [b]
    assert ra["model_name"] not in {m["name"] for m in saving.list_models()}
    assert rb["model_name"] in {m["name"] for m in saving.list_models()}


@pytest.mark.slow
def test_stop_keeps_best_weights_and_saves_a_loadable_model(store, capsys):
    a = jobs.submit("tinyvgg", "multiclass", LONG, store=store, model_name="to_stop")
    b = jobs.submit("linear", "multiclass", TINY, store=store)
    assert jobs.stop(b, store=store)["status"] == "stopped"  # a queued run stops at once
    wait_for(lambda: running_with_points(store, a), timeout=120)
    assert cli.main(["stop", str(a)]) == 0
    assert "stop requested" in capsys.readouterr().out
    run = jobs.wait(a, timeout=120, store=store)
    assert run["status"] == "stopped", run["message"]
    assert "stopped on request" in run["message"]
    assert len(run["history"]) < LONG["epochs"] and run["test_accuracy"] is not None
    model, meta = saving.load_model("to_stop")
    assert meta["stopped"] and meta["run_id"] == a
    assert model.output_shape == (None, 10)
    assert store.get_run(b)["message"] == "stopped before it started"


@pytest.mark.slow
def test_killed_worker_marks_its_run_failed_and_spares_the_others(store):
    done = jobs.submit("linear", "multiclass", {**TINY, "epochs": 1}, store=store)
    victim = jobs.submit("tinyvgg", "multiclass", LONG, store=store)
    after = jobs.submit("linear", "shoes", {**TINY, "epochs": 1}, store=store)
    run = wait_for(lambda: running_with_points(store, victim), timeout=120)
    first = store.get_run(done)
    assert first["status"] == "completed"
    model_file = saving.find_model(first["model_name"])
    before = (model_file.stat().st_mtime_ns, model_file.read_bytes())

    os.kill(run["pid"], signal.SIGKILL)
    wait_for(lambda: not pid_alive(run["pid"]), timeout=10)  # the kernel takes a moment
    listed = {r["id"]: r for r in store.list_runs()}  # the next listing already knows
    assert listed[victim]["status"] == "failed"
    dead = store.get_run(victim)
    assert f"worker process {run['pid']} died" in dead["message"] and "during epoch 1" in dead["message"]
    assert store.get_status(after) == "queued" and store.get_run(done)["status"] == "completed"
    assert (model_file.stat().st_mtime_ns, model_file.read_bytes()) == before
    assert dead["model_name"] not in {m["name"] for m in saving.list_models()}

    jobs.refresh(store)  # a new worker picks up the queue
    assert jobs.wait(after, timeout=120, store=store)["status"] == "completed"
    assert store.get_status(victim) == "failed" and store.get_status(done) == "completed"


@pytest.mark.slow
def test_sweep_queues_one_run_per_value_under_one_sweep_id(store):
    base = {"spec": "linear", "task": "multiclass", "hparams": {"subset": 1000, "epochs": 1, "batch_size": 64}}
    sweep_id, ids = jobs.submit_sweep(base, "lr", ["0.001", 0.003, 0.01], store=store)
    runs = store.list_runs(sweep_id=sweep_id)
    assert sorted(r["id"] for r in runs) == sorted(ids) and len(ids) == 3
    by_id = {r["id"]: r for r in runs}
    assert [by_id[i]["hparams"]["lr"] for i in ids] == [0.001, 0.003, 0.01]
    assert [by_id[i]["sweep_value"] for i in ids] == [0.001, 0.003, 0.01]
    assert {r["sweep_param"] for r in runs} == {"lr"} and by_id[ids[0]]["name"] == "linear lr=0.001"
    finals = [jobs.wait(i, timeout=180, store=store) for i in ids]
    assert [f["status"] for f in finals] == ["completed"] * 3
    assert all(f["val_accuracy"] > 0.3 for f in finals)


def test_plan_sweep_rewrites_specs_and_validates_every_value(store):
    mlp = {"spec": "mlp", "task": "multiclass", "hparams": {"subset": 1000}}
    plans = jobs.plan_sweep(mlp, "activation", ["elu", "relu", "selu", "tanh", "sigmoid"])
    assert [[layer["activation"] for layer in p["spec"] if layer["type"] == "Dense"] for p in plans] == [
        [a, a] for a in ("elu", "relu", "selu", "tanh", "sigmoid")
    ]
    plans = jobs.plan_sweep(mlp, "dropout", [0, 0.5])
    assert [[layer["rate"] for layer in p["spec"] if layer["type"] == "Dropout"] for p in plans] == [[0, 0], [0.5, 0.5]]
    plans = jobs.plan_sweep({"spec": "dense_20x3"}, "normalize", ["on", "off"])
    assert [p["hparams"].normalize for p in plans] == [True, False]
    # shoe_cnn's convolutions are linear (an Activation layer follows): only the activations change.
    plans = jobs.plan_sweep({"spec": "shoe_cnn", "task": "shoes"}, "activation", ["elu", "tanh"])
    assert [layer.get("activation") for layer in plans[0]["spec"]] == [
        "linear",
        None,
        "elu",
        "linear",
        None,
        "elu",
        None,
    ]

    with pytest.raises(ValueError, match="no hidden activations"):
        jobs.plan_sweep({"spec": "linear"}, "activation", ["relu", "elu"])
    with pytest.raises(ValueError, match="no Dropout layer"):
        jobs.plan_sweep({"spec": "tinyvgg"}, "dropout", [0.1, 0.2])
    with pytest.raises(ValueError, match="cannot sweep 'width'"):
        jobs.plan_sweep(mlp, "width", [1, 2])
    with pytest.raises(ValueError, match="distinct"):
        jobs.plan_sweep(mlp, "lr", ["1e-3", 0.001])  # the same value once parsed
    with pytest.raises(ValueError, match="learning rate"):
        jobs.submit_sweep(mlp, "lr", [0.01, 50.0], store=store)
    assert store.list_runs() == []  # a bad value queues nothing


def test_submit_refuses_what_could_not_train(store, fmnist_home):
    with pytest.raises(ValueError, match="unknown preset"):
        jobs.submit("resnet", "multiclass", {}, store=store)
    with pytest.raises(ValueError, match="epochs"):
        jobs.submit("linear", "multiclass", {"epochs": 0}, store=store)
    with pytest.raises(ValueError, match="unknown task"):
        jobs.submit("linear", "hats", {}, store=store)
    with pytest.raises(ValueError, match="subset"):
        jobs.submit("linear", "multiclass", {"subset": 5}, store=store)
    with pytest.raises(ValueError, match="no saved model named 'nope'"):
        jobs.submit("tinyvgg", "multiclass", {"init_from": "nope"}, store=store)
    with pytest.raises(ValueError, match="invalid model name"):
        jobs.submit("linear", "multiclass", {}, store=store, model_name="../evil")
    assert store.list_runs() == [] and not (fmnist_home / "logs").exists()  # nothing queued, no worker
