"""AppTests of the LR Finder page: it defaults to Build & Train's model, runs the sweep in the
background (the page keeps answering), and hands the LR, with the model it was found for, to
Build & Train. The chart and the run_every progress fragment are invisible to AppTest."""

import math
import time
from pathlib import Path

import pytest

from fmnist_core.modeling import models
from test_pages_build import page, run_ok, store, widget  # noqa: F401  (store: a fixture)
from ui.app import handoff

ROOT = Path(__file__).resolve().parent.parent
BUILD, LR = (str(ROOT / "pages" / p) for p in ("build_train.py", "lr_finder.py"))


def test_defaults_to_the_model_build_and_train_holds_or_will_load(store):
    fresh = page(LR)  # Build & Train not visited yet: it will load the default
    assert widget(fresh.selectbox, "Model").value == models.DEFAULT_PRESET
    assert not fresh.warning

    bt = page(BUILD)
    bt.session_state["bt_hp_batch_size"] = 64
    run_ok(bt)  # it hands its settings over (ui.app.handoff), as they are now
    held = page(LR, **{handoff.BUILD_SETTINGS_KEY: bt.session_state[handoff.BUILD_SETTINGS_KEY]})
    assert widget(held.selectbox, "Model").value == "The model in Build & Train"
    assert widget(held.selectbox, "Batch size").value == 64  # the batch size changes the best LR
    assert not held.warning

    other = next(n for n in models.PRESETS if n not in ("linear", models.DEFAULT_PRESET))
    widget(held.selectbox, "Model").set_value(other)
    run_ok(held)
    assert any(f"not {other}" in w.value for w in held.warning), [w.value for w in held.warning]


@pytest.mark.slow
def test_sweep_runs_in_the_background_and_hands_the_lr_and_its_model_to_build_and_train(store):
    at = page(LR)
    widget(at.selectbox, "Model").set_value("linear")
    widget(at.number_input, "Training images").set_value(1000)
    widget(at.number_input, "Batches in the sweep").set_value(40)
    run_ok(at)
    run_ok(widget(at.button, "Run the LR finder").click())
    assert widget(at.button, "Run the LR finder").disabled  # the click returned while the sweep runs
    deadline = time.time() + 300
    while not at.metric and time.time() < deadline:
        time.sleep(1)
        run_ok(at)
    labels = {m.label: float(m.value) for m in at.metric}
    assert set(labels) == {"valley", "steepest", "min / 10"}
    # A linear model with Adam learns between ~1e-4 and ~1: the suggestions must land there.
    assert all(1e-5 < lr < 3 for lr in labels.values()), labels
    assert at.get("plotly_chart"), "the loss-vs-LR chart is drawn"
    assert any("linear" in w.value for w in at.warning)  # Build & Train will hold another model

    use = [b for b in at.button if b.label == "Use this LR"]
    run_ok(use[list(labels).index("valley")].click())
    offer = at.session_state["lr_from_finder"]
    assert math.isclose(offer["lr"], labels["valley"], rel_tol=0.01) and offer["optimizer"] == "adam"

    bt = page(BUILD, lr_from_finder=offer)
    assert math.isclose(widget(bt.number_input, "Learning rate").value, offer["lr"])
    assert any("comes from the LR finder" in i.value for i in bt.info)
    assert any("found for linear" in w.value for w in bt.warning)  # it holds the default preset, not linear


def test_precision_follows_build_and_train(store):
    assert widget(page(LR).selectbox, "Precision").value == "auto"
    built = handoff.BuildSettings(
        spec=models.preset(models.DEFAULT_PRESET), origin=models.DEFAULT_PRESET, precision="float32"
    )
    assert (
        widget(page(LR, **{handoff.BUILD_SETTINGS_KEY: built.model_dump()}).selectbox, "Precision").value == "float32"
    )
