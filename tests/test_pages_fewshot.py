"""AppTest for the Few-shot page: methods fitted in the background, results with n and intervals,
a curve that never blocks the page, stored results, and the small-test-set warning.

The page's work runs as background tasks (ui.tasks); AppTest does not run the page's
polling fragment, so ``settle`` reruns the page until the job's result is in.
"""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from shared_models import require_shipped, tiny_footwear_home

ROOT = Path(__file__).resolve().parent.parent
FEWSHOT_PAGE = str(ROOT / "pages" / "few_shot.py")
TIMEOUT = 240


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Tiny linear models in a temporary $FMNIST_HOME (cnn_mc: 10-class)."""
    yield from tiny_footwear_home(tmp_path_factory)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def settle(at: AppTest, key: str, timeout: float = 400) -> AppTest:
    """Rerun the page until it has put ``key`` in session state (its background job finished)."""
    end = time.monotonic() + timeout
    ok(at.run())
    while key not in at.session_state:
        assert time.monotonic() < end, f"{key} never appeared"
        time.sleep(0.5)
        ok(at.run())
    return at


def _jobs():
    from ui.tasks import widgets

    return widgets.shared("few-shot", max_running=2, keep=48)


def _clear_jobs():
    _jobs().clear()


@pytest.mark.slow
def test_page_fits_in_the_background_switches_task_and_draws_a_readable_curve(home, monkeypatch):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    _clear_jobs()
    at = AppTest.from_file(FEWSHOT_PAGE, default_timeout=TIMEOUT)
    at.session_state["fs_seeds"] = 2
    at.session_state["fs_methods"] = ["prototype", "frozen"]
    at.session_state["fs_backbone_flats-heels"] = "cnn_mc"
    ok(at.run())
    assert at.title[0].value == "Few-shot"
    settle(at, "fewshot_result")
    res = at.session_state["fewshot_result"]
    assert set(res) == {"prototype", "frozen"} and res["frozen"]["backbone"] == "cnn_mc"
    for r in res.values():  # n and a Wilson interval that contains the accuracy
        assert r["n_test"] == 20 and len(r["accuracies"]) == 2
        lo, hi = r["interval"]
        assert lo <= r["accuracies"][0] <= hi and r["correct"][0] == round(20 * r["accuracies"][0])
    assert any("no curve to draw" in c.value for c in at.caption)

    at.segmented_control(key="fs_task").set_value("shoe-types").run()
    at.selectbox(key="fs_backbone_shoe-types").set_value("cnn_mc")
    at.select_slider(key="fs_shots").set_value(2)
    settle(at, "fewshot_result")
    res = at.session_state["fewshot_result"]
    assert res["frozen"]["n_train"] == 6 and res["frozen"]["n_test"] == 3000
    assert res["prototype"]["accuracy"] > 0.45  # chance is 1/3
    at.multiselect(key="fs_ks").set_value([1, 2, 10])
    at.number_input(key="fs_draws").set_value(2)
    at.button(key="fs_curve_go").click().run()
    ok(at)
    assert "fewshot_curve" not in at.session_state  # the click returned before the work ended
    settle(at, "fewshot_curve")
    rows = at.session_state["fewshot_curve"]
    assert [(r["k"], r["method"]) for r in rows][:2] == [(1, "prototype"), (1, "frozen")]
    assert all(r["n"] == 2 * 3000 and r["interval"][0] <= r["mean"] <= r["interval"][1] for r in rows)
    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert chart["layout"]["xaxis"]["tickvals"] == [1, 2, 10]
    assert chart["layout"]["xaxis"]["ticktext"] == ["1", "2", "10"]  # not "9, 1, 2 ... 9, 10, 2"


def test_your_images_with_few_test_images_says_they_prove_nothing(home, monkeypatch):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    from fmnist_core.data.fashion_mnist import load_fashion_mnist

    y_train = load_fashion_mnist()[0][1]
    at = AppTest.from_file(FEWSHOT_PAGE, default_timeout=TIMEOUT)
    at.session_state["fs_seeds"] = 3
    at.session_state["fs_methods"] = ["prototype"]
    at.session_state["fs_backbone_own"] = "cnn_mc"
    ok(at.run())
    at.segmented_control(key="fs_task").set_value("own").run()
    assert any("at least 2 images" in i.value for i in ok(at).info)
    trousers, bags = np.flatnonzero(y_train == 1)[:5], np.flatnonzero(y_train == 8)[:5]
    at.text_input(key="fs_own_names").set_value("trouser, bag").run()
    at.text_input(key="fs_idx_trouser").set_value(", ".join(map(str, trousers)))
    at.text_input(key="fs_idx_bag").set_value(", ".join(map(str, bags)))
    settle(at, "fewshot_result")
    res = at.session_state["fewshot_result"]["prototype"]
    assert res["backbone"] == "cnn_mc"
    assert res["n_train"] == 4 and res["n_test"] == 6  # default k = 2 of 5: 3 per class to test
    lo, hi = res["interval"]
    assert hi - lo > 0.3  # 6 images: a very wide interval
    warnings = " ".join(w.value for w in at.warning)
    assert "Only 6 test images" in warnings and "cannot" in warnings
    assert not any("tie for best" in m.value or "scores highest" in m.value for m in at.markdown)


def test_page_opens_on_stored_results_without_fitting_again(home, monkeypatch):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    _clear_jobs()
    at = AppTest.from_file(FEWSHOT_PAGE, default_timeout=TIMEOUT)
    at.session_state["fs_seeds"] = 1
    at.session_state["fs_methods"] = ["prototype"]
    at.session_state["fs_backbone_flats-heels"] = "cnn_mc"
    first = settle(at, "fewshot_result").session_state["fewshot_result"]
    assert list((Path(home) / "cache").glob("fewshot_results_*.json"))
    _clear_jobs()  # a fresh server: no job, no memory
    again = AppTest.from_file(FEWSHOT_PAGE, default_timeout=TIMEOUT)
    for k in ("fs_seeds", "fs_methods", "fs_backbone_flats-heels"):
        again.session_state[k] = at.session_state[k]
    ok(again.run())  # one run: read from disk
    stored = again.session_state["fewshot_result"]["prototype"]
    for k in ("accuracies", "correct", "n_test", "n_train", "interval", "backbone"):  # (sd is NaN: one seed)
        assert stored[k] == first["prototype"][k], k
    assert not len(_jobs())  # nothing was started


def test_page_opens_on_label_spreading_with_the_shipped_model(fmnist_home):
    require_shipped("fmnist_cnn")
    at = AppTest.from_file(FEWSHOT_PAGE, default_timeout=TIMEOUT)
    at.session_state["fs_methods"] = ["spread", "prototype"]
    at.session_state["fs_seeds"] = 1
    res = settle(at, "fewshot_result").session_state["fewshot_result"]
    assert res["spread"]["backbone"] == "fmnist_cnn" and res["spread"]["n_test"] == 20
    assert "6,000 unlabelled Fashion-MNIST training-split images (Ankle boot)" in res["spread"]["unlabelled"]
    assert any("without their labels" in c.value for c in at.caption)
