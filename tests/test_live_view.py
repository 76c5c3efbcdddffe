"""The live view and the Build & Train form (AppTest), with a real run store and real jobs.

Runs marked 'running' here belong to this test process (its pid, a fresh heartbeat), so the
store treats them as alive and no worker is started for them.
"""

import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core.runs import jobs
from fmnist_core.runs.store import RunStore
from test_pages_build import BUILD, widget
from test_pages_build import page as build_page
from ui.app.text import plain
from ui.training.live import next_active, phase
from ui.training.run_widgets import default_run_name, hparam_errors

SPEC = [{"type": "Flatten"}]


@pytest.fixture
def store(fmnist_home):
    yield RunStore()
    jobs.get_executor().terminate_started()


def page(**state) -> AppTest:
    return build_page(BUILD, **state)


def train_enabled(at) -> bool:
    return any(b.label == "Train" and not b.disabled for b in at.button)


def make_run(store, sweep=None, status="running", **hp):
    rid = store.create_run(
        f"run in {sweep}", "multiclass", SPEC, {"epochs": 3, **hp}, sweep, sweep_param="lr", sweep_value=1e-3
    )
    assert store.mark_running(rid, os.getpid())
    if status != "running":
        store.finish(rid, status, val={"accuracy": 0.8123, "loss": 0.5}, test={"accuracy": 0.8, "loss": 0.5})
    return rid


# ---------------------------------------------------------------- the form (issue 10, item 4)


@pytest.mark.parametrize(
    "label, bad", [("Learning rate", 1e6), ("Training images", -100), ("Validation share", -0.1), ("Seed", 99999999999)]
)
def test_every_field_with_an_error_disables_train(store, label, bad):
    at = page()
    assert train_enabled(at)
    widget(at.number_input, label).set_value(bad)
    at.run()
    assert not at.exception
    assert any(label in e.value for e in at.error), [e.value for e in at.error]
    assert not train_enabled(at)


def test_field_checks_name_each_bad_field_and_never_fall_back_to_a_default():
    good = {
        "optimizer": "adam",
        "lr": 1e-3,
        "momentum": 0.9,
        "batch_size": 128,
        "epochs": 3,
        "schedule": "constant",
        "step_epoch": 5,
        "step_factor": 0.5,
        "decay_rate": 0.9,
        "early_stopping": 0,
        "augment_shift": 0.0,
        "augment_flip": False,
        "normalize": True,
        "val_fraction": 0.1,
        "subset": 6000,
        "seed": 42,
        "init_from": None,
    }
    hp, errors = hparam_errors(good)
    assert errors == {} and hp["lr"] == 1e-3 and hp["subset"] == 6000
    assert hparam_errors({**good, "subset": 60000})[0]["subset"] is None  # 60000 = all images
    hp, errors = hparam_errors({**good, "lr": 1e6, "seed": -1, "epochs": 2.5})
    assert hp is None and set(errors) == {"Learning rate", "Seed", "Epochs"}


def test_new_runs_get_descriptive_default_names(store):
    from fmnist_core.data.tasks import get_task

    assert default_run_name("tinyvgg", get_task("multiclass"), 3) == "tinyvgg-10class-3ep"
    assert default_run_name("tinyvgg (edited)", get_task("shoes"), 1) == "custom-shoes-1ep"
    at = page()
    preset = at.session_state["bt_preset"]  # the page's default preset
    epochs = at.session_state["bt_hp_epochs"]  # its recipe's: 5 for quick
    assert widget(at.text_input, "Run name (optional)").placeholder == f"{preset}-10class-{epochs}ep"


# ---------------------------------------------------------------- sweeps and the banner (issue 10, item 8)


def test_watch_next_run_of_a_sweep_and_the_banner_ends_with_the_runs(store):
    first = make_run(store, "sweep-x", status="completed")
    other = make_run(store, None)  # a run outside the sweep, started earlier than the sweep's next
    second = make_run(store, "sweep-x")
    assert next_active(store, after=store.get_run(first))["id"] == second  # the sweep goes first
    assert next_active(store)["id"] == other  # else the oldest running one

    at = page(bt_watch_id=first)
    assert any("2 run(s) training or queued" in i.value for i in at.info)
    watch = widget(at.button, f"Watch run #{second} (running): {plain('run in sweep-x')}")  # names are plain text
    at = watch.click().run()
    assert not at.exception
    assert at.session_state["bt_watch_id"] == second
    assert at.query_params["run"] in (str(second), [str(second)])
    assert any(f"Run #{second}:" in m.value for m in at.markdown)

    for rid in (other, second):
        store.finish(rid, "completed", val={"accuracy": 0.8, "loss": 0.5}, test={"accuracy": 0.8, "loss": 0.5})
    at = page(bt_watch_id=second)
    assert not any("training or queued" in i.value for i in at.info)


def test_live_metrics_are_in_percent(store):
    rid = make_run(store, None, status="completed")
    store.add_epoch(rid, {"epoch": 1, "loss": 0.6, "accuracy": 0.7512, "val_loss": 0.55, "val_accuracy": 0.8123})
    at = page(bt_watch_id=rid)
    assert widget(at.metric, "Train accuracy (last epoch)").value == "75.12%"
    assert widget(at.metric, "Best validation accuracy").value == "81.23%"
    assert any("Validation accuracy 81.23%" in s.value for s in at.success)


def test_the_live_view_polls_every_second_until_its_first_points_then_every_two(store):
    """AppTest cannot see run_every; the rule is read off the session the page leaves behind."""
    from ui.training import live

    rid = make_run(store, None)  # running, held by this test, no points yet
    at = page(bt_watch_id=rid)
    assert at.session_state["bt_live_fast"] == rid and not at.session_state["bt_live_cache"]["points"]
    store.add_batch(
        rid,
        {
            "step": 1,
            "epoch": 1,
            "batch": 1,
            "loss": 2.0,
            "accuracy": 0.2,
            "lr": 1e-3,
            "elapsed": 0.5,
            "batches_per_epoch": 10,
        },
    )
    at.run()  # a poll draws the first point
    assert len(at.session_state["bt_live_cache"]["points"]) == 1
    at.run()  # the next one reruns the page once, which sets the slower poll
    assert not at.exception and at.session_state["bt_live_fast"] is None
    assert (live.POLL_SECONDS, live.TRAINING_POLL_SECONDS) == (1.0, 2.0)


def test_phase_names_validating_and_stopping(store):
    run = {"status": "running", "current_epoch": 2, "current_batch": 43, "batches_per_epoch": 43}
    assert phase(run, 1) == "validating"  # epoch 2's last batch done, its validation not yet
    assert phase(run, 2) == "training"
    assert phase({**run, "current_batch": 5}, 1) == "training"
    assert phase({**run, "stop_requested": True}, 1) == "stopping"
    assert phase({"status": "running"}, 0) == "starting"


# ---------------------------------------------------------------- a stopped run (issue 10, item 5)


@pytest.mark.slow
def test_a_run_stopped_mid_epoch_keeps_only_finished_epochs_and_says_where_it_stopped(store):
    rid = jobs.submit("linear", "multiclass", {"subset": 3000, "epochs": 30, "batch_size": 16}, store=store)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = store.get_run(rid)
        if run["status"] == "running" and (run.get("current_epoch") or 0) >= 2 and (run.get("current_batch") or 0) >= 5:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the run never reached epoch 2")
    jobs.stop(rid, store=store)
    run = jobs.wait(rid, timeout=60, store=store, poll=0.05)
    assert run["status"] == "stopped", run["message"]
    e, b, bpe = run["current_epoch"], run["current_batch"], run["batches_per_epoch"]
    assert 0 < b < bpe, (e, b, bpe)  # stopped inside an epoch
    assert [h["epoch"] for h in run["history"]] == list(range(1, e))  # the unfinished epoch is not one
    assert f"at epoch {e}, batch {b}/{bpe}" in run["message"]
    assert f"saved the weights of epoch {run['best_epoch']}" in run["message"] and run["best_epoch"] < e

    at = page(bt_watch_id=rid)
    assert any(f"{e - 1} epochs done" in c.value for c in at.caption), [c.value for c in at.caption]


# ---------------------------------------------------------------- a pre-warmed worker (issue 9)


@pytest.mark.slow
def test_a_prewarmed_worker_waits_warm_and_trains_the_next_run(store, monkeypatch):
    monkeypatch.setenv("FMNIST_PREWARM_S", "60")
    assert jobs.prewarm(store)
    assert not jobs.prewarm(store)  # one worker holds the slot: no second one
    logs = store.path.parent / "logs"
    deadline = time.monotonic() + 90
    while not any("warm; waiting" in f.read_text() for f in logs.glob("worker-*.log")):
        assert time.monotonic() < deadline, "the worker never got warm"
        time.sleep(0.2)
    rid = jobs.submit("linear", "multiclass", {"subset": 1000, "epochs": 1, "batch_size": 32, "lr": 1e-2}, store=store)
    assert len(list(logs.glob("worker-*.log"))) == 1  # the warm worker took it; none was started
    run = jobs.wait(rid, timeout=120, store=store)
    assert run["status"] == "completed" and run["val_accuracy"] > 0.4
    assert store.get_run(rid)["pid"] == run["pid"]


@pytest.mark.slow
def test_a_worker_started_for_a_run_stays_warm_for_the_next(store, monkeypatch):
    """Train, wait for the result, Train again: the second run is taken by the same, already warm
    worker (the benchmark's 6-8 s 'click -> first point' was a fresh worker importing TensorFlow)."""
    monkeypatch.setenv("FMNIST_PREWARM_S", "60")
    hp = {"subset": 1000, "epochs": 1, "batch_size": 32, "lr": 1e-2}
    first = jobs.wait(jobs.submit("linear", "multiclass", hp, store=store), timeout=180, store=store)
    assert first["status"] == "completed"
    second = jobs.wait(jobs.submit("linear", "multiclass", hp, store=store), timeout=180, store=store)
    assert second["status"] == "completed" and second["pid"] == first["pid"]
    assert len(list((store.path.parent / "logs").glob("worker-*.log"))) == 1  # no second worker started


def test_a_grid_sweep_queues_every_pair_and_refuses_a_too_big_one(store):
    base = {"spec": "linear", "task": "multiclass", "hparams": {"epochs": 1, "subset": 1000}}
    plans = jobs.plan_grid(base, "lr", ["1e-3", "1e-2"], "batch_size", ["32", "64", "128"])
    assert [p["value"] for p in plans] == [[1e-3, 32], [1e-3, 64], [1e-3, 128], [1e-2, 32], [1e-2, 64], [1e-2, 128]]
    assert [(p["hparams"].lr, p["hparams"].batch_size) for p in plans][4] == (1e-2, 64)
    with pytest.raises(ValueError, match="too big"):
        jobs.plan_grid(base, "lr", [str(10**-i) for i in range(1, 6)], "seed", [str(i) for i in range(5)])
    with pytest.raises(ValueError, match="two different"):
        jobs.plan_grid(base, "lr", ["1e-3", "1e-2"], "lr", ["1e-4", "1e-5"])

    at = page()
    widget(at.selectbox, "Start from a preset").set_value("linear")
    widget(at.selectbox, "Vary").set_value("lr")
    widget(at.text_input, "Values, comma-separated").input("1e-3, 1e-2")
    widget(at.selectbox, "And vary (a grid)").set_value("batch_size")
    at.run()
    widget(at.text_input, "Its values, comma-separated").input("32, 64")
    at.run()
    assert not at.exception
    start = widget(at.button, "Start sweep (4 runs)")
    # The test checks what was queued; stop the runs at once (the fixture ends the worker).
    at = start.click().run()
    runs = store.list_runs(with_history=False)
    for r in runs:
        store.request_stop(r["id"])
    assert sorted(r["sweep_value"] for r in runs) == [[1e-3, 32], [1e-3, 64], [1e-2, 32], [1e-2, 64]]
    assert {r["sweep_param"] for r in runs} == {"lr,batch_size"} and len({r["sweep_id"] for r in runs}) == 1


def test_augmentation_preview_on_the_build_page(store):
    at = page()
    assert not [t for t in at.toggle if t.label == "Preview the augmentation"]  # no augmentation: nothing to show
    widget(at.checkbox, "Augment: flip").check()
    at.run()
    widget(at.toggle, "Preview the augmentation").set_value(True)
    at.run()
    assert not at.exception
    grid = [m.value for m in at.markdown if "fmnist-gallery" in m.value]
    assert grid and grid[0].count("<img") == 8 * 5  # 8 originals + 4 draws of each
    assert "T-shirt/top (original)" in grid[0] and "draw 4" in grid[0]
