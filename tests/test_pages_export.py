"""AppTest: 'Take it with you' on Compare runs, for a model trained by a real run (TFLite checked)."""

import pytest

from fmnist_core.runs import jobs
from test_pages_build import COMPARE, QUICK, page, run_ok, store, widget  # noqa: F401 - store is a fixture


@pytest.mark.slow
def test_compare_runs_offers_the_three_exports_of_a_run(store):  # noqa: F811
    rid = jobs.submit("linear", "multiclass", QUICK, name="export me", store=store)
    run = jobs.wait(rid, timeout=200, store=store)
    assert run["status"] == "completed", run["message"]
    at = page(COMPARE)
    at.session_state["cr_table"] = {"selection": {"rows": [0], "columns": []}}
    run_ok(at)
    assert any(e.label.startswith("Take it with you") for e in at.expander)
    buttons = [b.proto.label for b in at.get("download_button")]
    assert f"{run['model_name']}.keras" in buttons and f"{run['model_name']}_train.py" in buttons
    run_ok(widget(at.toggle, "Convert and check").set_value(True))
    cap = [c.value for c in at.caption if "TFLite vs Keras" in c.value]
    assert cap and "on the first 1,000 test images" in cap[0], [c.value for c in at.caption]
    agree = int(cap[0].split("same top-1 class on ")[1].split("/")[0].replace(",", ""))
    assert agree >= 995
    assert f"{run['model_name']}.tflite" in [b.proto.label for b in at.get("download_button")]
