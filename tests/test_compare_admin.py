"""Compare runs: rename and delete runs and sweeps from the page, within the ownership rules
(AppTest on a real run store; the rules themselves are the store's)."""

import json
import os

from fmnist_core.runs import jobs
from fmnist_core.runs.store import RunStore
from test_pages_build import COMPARE, page, run_ok, widget

SPEC = [{"type": "Flatten"}]


def finished_run(store, name, owner, sweep=None):
    rid = store.create_run(
        name, "multiclass", SPEC, {"epochs": 1}, sweep, sweep_param="lr", sweep_value=1e-3, owner=owner
    )
    assert store.mark_running(rid, os.getpid())
    store.finish(rid, "completed", val={"accuracy": 0.8, "loss": 0.5}, test={"accuracy": 0.8, "loss": 0.5})
    return rid


def select(at, store, rid):
    ids = [r["id"] for r in store.list_runs(with_history=False)]  # the table: newest first
    at.session_state["cr_table"] = {"selection": {"rows": [ids.index(rid)], "columns": []}}
    return run_ok(at)


def test_runs_and_sweeps_are_renamed_and_deleted_by_their_owner_only(fmnist_home):
    store = RunStore()
    me = jobs.local_owner()
    mine = finished_run(store, "tinyvgg-10class-3ep", me)
    theirs = finished_run(store, "their run", "someone:else")
    swept = [finished_run(store, f"sweep run {i}", me, "sweep-a") for i in range(2)]

    at = select(page(COMPARE), store, mine)
    # (The parallel-coordinates chart is a component, invisible here: tests/browser/test_browser_runs_views.py.)
    widget(at.text_input, "Run name").input("my best run")
    run_ok(widget(at.button, "Rename run").click())
    assert store.get_run(mine)["name"] == "my best run"

    at = select(at, store, theirs)
    widget(at.text_input, "Run name").input("mine now")
    run_ok(widget(at.button, "Rename run").click())
    assert store.get_run(theirs)["name"] == "their run"
    assert any("belongs to someone else" in e.value for e in at.error), [e.value for e in at.error]
    run_ok(widget(at.button, "Delete run…").click())
    run_ok(widget(at.button, "Yes, delete").click())
    assert store.get_run(theirs) is not None  # refused, and said so
    assert any("belongs to someone else" in e.value for e in at.error)

    at.session_state["cr_table"] = {"selection": {"rows": [], "columns": []}}
    widget(at.selectbox, "Sweep").set_value("sweep-a")
    run_ok(at)
    widget(at.text_input, "Sweep name").input("lr sweep, first try")
    run_ok(widget(at.button, "Rename sweep").click())
    assert widget(at.selectbox, "Sweep").format_func("sweep-a").startswith("lr sweep, first try (lr, 2 runs)")
    run_ok(widget(at.button, "Delete sweep…").click())
    run_ok(widget(at.button, "Yes, delete the sweep").click())
    assert all(store.get_run(i) is None for i in swept)
    assert {r["id"] for r in store.list_runs()} == {mine, theirs}


def test_a_grid_sweep_is_summarised_as_a_heatmap_with_one_cell_per_run(fmnist_home):
    store = RunStore()
    ids = []
    for lr, acc in ((1e-3, 0.81), (1e-2, 0.84)):
        for bs in (32, 64):
            rid = store.create_run(
                f"grid lr={lr} bs={bs}",
                "multiclass",
                SPEC,
                {"epochs": 1, "lr": lr, "batch_size": bs},
                "sweep-g",
                sweep_param="lr,batch_size",
                sweep_value=[lr, bs],
            )
            assert store.mark_running(rid, os.getpid())
            store.finish(
                rid, "completed", val={"accuracy": acc + bs / 6400, "loss": 0.5}, test={"accuracy": acc, "loss": 0.5}
            )
            ids.append(rid)
    at = page(COMPARE)
    widget(at.selectbox, "Sweep").set_value("sweep-g")
    run_ok(at)
    assert sorted(at.dataframe[0].value["sweep"]) == [
        "lr=0.001, batch_size=32",
        "lr=0.001, batch_size=64",
        "lr=0.01, batch_size=32",
        "lr=0.01, batch_size=64",
    ]
    heat = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]
    heat = [h for h in heat if h["type"] == "heatmap"][0]
    assert heat["y"] == ["0.001", "0.01"] and heat["x"] == ["32", "64"]
    assert [[round(v, 2) for v in row] for row in heat["z"]] == [[81.5, 82.0], [84.5, 85.0]]


def test_curves_get_tensorboard_controls_and_an_overfitting_hint(fmnist_home):
    store = RunStore()
    rid = finished_run(store, "overfits", jobs.local_owner())
    for e, (lo, vl) in enumerate([(0.6, 0.50), (0.4, 0.41), (0.3, 0.44), (0.25, 0.47), (0.2, 0.52)], start=1):
        store.add_epoch(
            rid, {"epoch": e, "loss": lo, "accuracy": 0.9, "val_loss": vl, "val_accuracy": 0.85, "seconds": 2.0}
        )
    at = select(page(COMPARE), store, rid)
    assert any("Validation loss has risen for 3 epochs" in w.value for w in at.warning), [w.value for w in at.warning]

    def curves():
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        return [s for s in specs if s["layout"].get("yaxis2", {}).get("title", {}).get("text") == "accuracy (%)"][0]

    assert curves()["layout"]["yaxis"]["type"] == "linear"
    at.toggle(key=f"cr_curves_{rid}_logy").set_value(True)  # the run's own chart, not the overlay
    [s for s in at.get("segmented_control") if s.key == f"cr_curves_{rid}_x"][0].set_value("wall")
    run_ok(at)
    fig = curves()
    assert fig["layout"]["yaxis"]["type"] == "log" and fig["layout"]["xaxis"]["title"]["text"].startswith("wall")
    val = [t for t in fig["data"] if t["name"] == "validation" and t["yaxis"] == "y"][0]
    assert val["x"] == [2.0, 4.0, 6.0, 8.0, 10.0]  # wall-clock: the epochs' summed durations
    assert any(b.label == "Download the curves (CSV)" for b in at.get("download_button"))
