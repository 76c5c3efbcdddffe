"""AppTests of the training pages: Build & Train, Compare runs (LR Finder: test_lr_finder_page.py).

Runs go to a temporary run store ($FMNIST_HOME); the training itself is real (worker
processes on small real subsets). Charts and ``run_every`` polling are invisible to
AppTest: the browser test (tests/browser/test_browser_training.py) covers those.
"""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core.modeling import models, saving
from fmnist_core.runs import jobs
from fmnist_core.runs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
BUILD, COMPARE = (str(ROOT / "pages" / p) for p in ("build_train.py", "compare_runs.py"))
QUICK = {"subset": 1000, "epochs": 1, "batch_size": 32, "lr": 1e-2}  # ~2 s of training, well above chance


@pytest.fixture
def store(fmnist_home):
    yield RunStore()
    jobs.get_executor().terminate_started()  # never leave a worker training in a finished test's folder


def page(path, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def widget(seq, label):
    found = [w for w in seq if w.label == label]
    assert found, f"no widget labelled {label!r} among {[w.label for w in seq]}"
    return found[0]


def metric(at, label) -> str:
    return widget(at.metric, label).value


def run_ok(x) -> AppTest:
    """Run the app (x: the AppTest, or a widget after set_value/click) and check nothing raised."""
    at = x.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def quick_linear(at) -> AppTest:
    """Set the Build page to the linear model and the QUICK hyperparameters."""
    widget(at.selectbox, "Start from a preset").set_value("linear")
    run_ok(widget(at.button, "Load preset into the editor").click())
    widget(at.number_input, "Training images").set_value(QUICK["subset"])
    widget(at.number_input, "Epochs").set_value(QUICK["epochs"])
    widget(at.selectbox, "Batch size").set_value(QUICK["batch_size"])
    widget(at.number_input, "Learning rate").set_value(QUICK["lr"])
    return run_ok(at)


# ---------------------------------------------------------------- Build & Train


def test_build_page_edits_layers_and_shows_live_parameter_counts(store):
    at = page(BUILD)
    for label in ("Task", "Start from a preset", "Optimizer", "Batch size", "LR schedule"):
        widget(at.selectbox, label)
    for label in ("Learning rate", "Epochs", "Training images", "Seed"):
        widget(at.number_input, label)
    widget(at.button, "Train")
    assert metric(at, "Parameters") == f"{models.count_params(models.DEFAULT_PRESET):,}"  # the default preset

    widget(at.selectbox, "Start from a preset").set_value("linear")
    run_ok(widget(at.button, "Load preset into the editor").click())
    assert metric(at, "Parameters") == "7,850"  # 784 * 10 weights + 10 biases

    widget(at.selectbox, "Layer type").set_value("Dense")
    run_ok(widget(at.button, "Add layer").click())  # at the end: Flatten, Dense(128)
    assert metric(at, "Parameters") == f"{785 * 128 + 129 * 10:,}"

    ups = [b for b in at.button if b.key and b.key.startswith("bt_up")]
    run_ok(ups[1].click())  # Dense above Flatten: cannot be built
    assert any("needs a flat input" in e.value for e in at.error), [e.value for e in at.error]
    assert not any(b.label == "Train" and not b.disabled for b in at.button)

    removes = [b for b in at.button if b.key and b.key.startswith("bt_rm")]
    run_ok(removes[0].click())  # remove the Dense layer again
    assert not at.error
    assert metric(at, "Parameters") == "7,850"

    conv = [n for n in at.number_input if n.label == "filters"]
    assert not conv  # the linear model has no conv layer to edit


def test_build_page_measures_the_time_per_epoch(store):
    at = page(BUILD)
    run_ok(widget(at.button, "Estimate time per epoch").click())
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    # Defaults: 6000 images, 10% held out -> 5400 training images in ceil(5400 / 256) = 22 batches (the
    # quick preset's recipe sets batch 256).
    assert "per epoch" in text and "22 batches of 256" in text and "5,400 images" in text


def test_the_default_preset_comes_with_its_recipe_and_loading_another_keeps_the_fields(store):
    """Issue 15 item 4: the quick preset is the default, trained with its own recipe (bfloat16, batch
    256, one-cycle 5e-3, 4 epochs); the fields show it. A preset without a recipe leaves them as set."""
    at = page(BUILD)
    hp = {k: at.session_state[f"bt_hp_{k}"] for k in models.RECIPES["quick"]}
    assert hp == models.RECIPES["quick"]
    assert any(
        "Loaded with its training recipe (precision auto, batch 256, one-cycle LR 5.0e-03, 3 epochs)" in c.value
        for c in at.caption
    )
    assert at.session_state["bt_hp_subset"] == 6000  # the image count is the user's to choose
    widget(at.number_input, "Epochs").set_value(7)
    widget(at.selectbox, "Start from a preset").set_value("tinyvgg")
    run_ok(widget(at.button, "Load preset into the editor").click())
    assert at.session_state["bt_hp_epochs"] == 7 and at.session_state["bt_hp_batch_size"] == 256
    assert not any("Loaded with its training recipe" in c.value for c in at.caption)


def test_build_page_explains_invalid_choices(store):
    at = page(BUILD)
    widget(at.selectbox, "Task").set_value("custom")
    run_ok(at)
    widget(at.multiselect, "Positive classes (the group)").set_value([])
    run_ok(at)
    assert any("between 1 and 9" in e.value for e in at.error), [e.value for e in at.error]

    widget(at.selectbox, "Task").set_value("shoes")
    run_ok(at)
    widget(at.selectbox, "Vary").set_value("lr")
    widget(at.text_input, "Values, comma-separated").input("1e-3, fast")
    run_ok(at)
    assert any("lr (learning rate) must be a number in (0, 10], got 'fast'" in e.value for e in at.error), [
        e.value for e in at.error
    ]
    sweep = [b for b in at.button if b.label.startswith("Start sweep")][0]
    assert sweep.disabled


@pytest.mark.slow
def test_build_page_submits_a_one_epoch_job_that_trains_and_shows_its_result(store):
    at = quick_linear(page(BUILD))
    widget(at.text_input, "Run name (optional)").input("apptest run")
    run_ok(widget(at.button, "Train").click())

    runs = store.list_runs()
    assert len(runs) == 1 and runs[0]["name"] == "apptest run"
    rid = runs[0]["id"]
    assert runs[0]["hparams"]["subset"] == 1000 and runs[0]["hparams"]["epochs"] == 1
    assert [layer["type"] for layer in runs[0]["spec"]] == ["Flatten"]
    assert at.query_params["run"] in (str(rid), [str(rid)])  # a reload comes back to this run
    assert at.session_state["bt_watch_id"] == rid

    run = jobs.wait(rid, timeout=150, store=store)
    assert run["status"] == "completed", run["message"]
    assert run["val_accuracy"] > 0.4  # 10 classes: chance is 0.1
    assert len(run["history"]) == 1 and run["batches"]

    again = page(BUILD, bt_watch_id=rid)  # coming back to the page shows the finished run
    assert any("Completed" in s.value and f"{100 * run['val_accuracy']:.2f}%" in s.value for s in again.success)
    assert any(b.label == "Evaluate this model" for b in again.button)


# ---------------------------------------------------------------- Compare runs


def test_compare_page_without_runs_says_how_to_get_some(store):
    at = page(COMPARE)
    assert any("No runs yet" in i.value for i in at.info)


@pytest.mark.slow
def test_a_sweep_from_the_build_page_is_compared_filtered_and_opened_with_its_confusion_matrix(store):
    bt = quick_linear(page(BUILD))
    widget(bt.selectbox, "Vary").set_value("lr")
    widget(bt.text_input, "Values, comma-separated").input("1e-3, 1e-2")
    run_ok(bt)
    run_ok(widget(bt.button, "Start sweep (2 runs)").click())
    sweep = store.list_runs()
    assert len(sweep) == 2 and len({r["sweep_id"] for r in sweep}) == 1
    sweep_id, ids = sweep[0]["sweep_id"], [r["id"] for r in sweep[::-1]]
    assert [r["sweep_value"] for r in sweep[::-1]] == [1e-3, 1e-2]
    assert [r["hparams"]["lr"] for r in sweep[::-1]] == [1e-3, 1e-2]
    assert all(r["hparams"]["subset"] == QUICK["subset"] for r in sweep)
    assert any(sweep_id in s.value for s in bt.success)
    other = jobs.submit("linear", "shoes", QUICK, name="shoes run", store=store)
    runs = [jobs.wait(i, timeout=200, store=store) for i in ids + [other]]
    assert [r["status"] for r in runs] == ["completed"] * 3, [r["message"] for r in runs]

    at = page(COMPARE)
    table = at.dataframe[0].value
    assert list(table["id"]) == [other] + ids[::-1]  # newest first
    widget(at.selectbox, "Sweep").set_value(sweep_id)
    run_ok(at)
    table = at.dataframe[0].value
    assert sorted(table["id"]) == sorted(ids)
    assert list(table["sweep"]) == ["lr=0.01", "lr=0.001"]
    assert any("Sweep summary" in m.value for m in at.markdown)

    at.session_state["cr_table"] = {"selection": {"rows": [0, 1], "columns": []}}
    run_ok(at)
    assert [s.value for s in at.subheader] == ["Curves", "Run details"]
    first = runs[1]  # row 0 = the newest sweep run (lr=1e-2)
    assert f"{first['val_accuracy']:.4f}" == metric(at, "Validation accuracy")

    widget(at.toggle, "Compute on the validation split").set_value(True)
    run_ok(at)
    # Its own validation split: 10% of its 1000-image subset, scored as in training.
    cap = [c.value for c in at.caption if "validation images" in c.value][0]
    assert cap.startswith("100 validation images") and f"accuracy {first['val_accuracy']:.4f}" in cap

    # Weights & gradients: the worker recorded the output kernel's histograms before and after the epoch.
    assert len(widget(at.selectbox, "Layer").options) == 1  # linear: one kernel
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    hist = [sp for sp in specs if sp["data"] and sp["data"][0].get("name") == "epoch 0"][0]
    assert [t["name"] for t in hist["data"]] == ["epoch 0", "epoch 1"]
    assert sum(hist["data"][1]["y"]) == 784 * 10  # every weight of the kernel, once

    widget(at.text_input, "Saved model name").input("lr-sweep-best")  # rename the model of a real run
    run_ok(widget(at.button, "Rename model").click())
    names = {m["name"] for m in saving.list_models()}
    assert "lr-sweep-best" in names and first["model_name"] not in names
    assert store.get_run(first["id"])["model_name"] == "lr-sweep-best"

    run_ok(widget(at.button, "Delete run…").click())
    run_ok(widget(at.button, "Yes, delete").click())
    assert store.get_run(first["id"]) is None
    assert "lr-sweep-best" not in {m["name"] for m in saving.list_models()}  # its model went too
    assert list(at.dataframe[0].value["id"]) == [ids[0]]
