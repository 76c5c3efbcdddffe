"""AppTest for the Binary vs 10-class study page (the Few-shot page: tests/test_pages_fewshot.py).

Each renders without an exception, shows its main widgets, and a main interaction works.
Charts are invisible to AppTest; the pages also leave their results in session state, which
the tests read.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core.data.fashion_mnist import CLASS_NAMES
from fmnist_core.runs import jobs
from shared_models import require_shipped, tiny_footwear_home

ROOT = Path(__file__).resolve().parent.parent
BINARY_PAGE = str(ROOT / "pages" / "binary_study.py")
TIMEOUT = 240  # seconds per script run: 2 shared cores, and the first run scores 10,000 images per model


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Tiny CNNs in a temporary $FMNIST_HOME: 10-class and footwear_luggage (scratch, transfer)."""
    yield from tiny_footwear_home(tmp_path_factory)


def binary_page_with_tiny_models(custom_classes=None, seeds=1) -> AppTest:
    """The page on footwear_luggage with the tiny models chosen, or on a custom grouping (no models yet)."""
    at = AppTest.from_file(BINARY_PAGE, default_timeout=TIMEOUT)
    at.session_state["bs_seeds"] = seeds
    at.run()
    ok(at)
    task = "footwear_luggage"
    if custom_classes:
        at.radio(key="bs_grouping").set_value("custom").run()
        at.multiselect(key="bs_custom_classes").set_value(custom_classes).run()
        task = ok(at).session_state["bs_custom_classes"] and "custom_" + "".join(
            str(CLASS_NAMES.index(c)) for c in sorted(custom_classes, key=CLASS_NAMES.index)
        )
    at.selectbox(key=f"bs_multi_{task}").set_value("cnn_mc").run()
    if not custom_classes:
        for key, name in (("bs_direct", "cnn_fl"), ("bs_transfer", "cnn_fl_tr")):
            at.selectbox(key=f"{key}_{task}").set_value(name).run()
    return ok(at)


# ---------------------------------------------------------------- binary study


def test_binary_page_shows_the_study_for_chosen_models(home):
    at = binary_page_with_tiny_models()
    res = at.session_state["binary_study_result"]
    assert set(res["approaches"]) == {"binarized", "direct", "transfer"}
    assert [res["approaches"][a]["models"] for a in ("binarized", "direct", "transfer")] == [
        ["cnn_mc"],
        ["cnn_fl"],
        ["cnn_fl_tr"],
    ]
    assert at.title[0].value == "Binary vs 10-class"
    assert at.success or at.info  # the verdict's headline
    mcnemar, disagreements = (d.value for d in at.dataframe)  # AppTest keeps no dataframe keys
    metrics = at.table[0].value  # a static table: it wraps at 820 px
    assert list(metrics.index) == [
        "Binarized 10-class (probability mass)",
        "Direct binary (from scratch)",
        "Direct binary with transfer",
        "Binarized 10-class (arg-max class)",
    ]
    assert len(mcnemar) == 4 and mcnemar["p"].between(0, 1).all()
    assert len(disagreements) == 32
    # An interaction: only the images the direct model gets wrong.
    at.segmented_control(key="bs_only").set_value("direct gets wrong").run()
    table = ok(at).dataframe[1].value
    assert len(table) > 0 and (table["direct"] != table["true"]).all()


@pytest.mark.slow
def test_binary_page_trains_missing_models_for_a_new_grouping_through_jobs(home):
    at = binary_page_with_tiny_models(["Trouser", "Bag"], seeds=1)
    assert any("needs at least one trained binary model" in w.value for w in at.warning)
    assert "binary_study_result" not in at.session_state
    at.button(key="bs_train").click().run()
    ok(at)
    runs = at.session_state["bs_runs"]
    assert set(runs) == {"custom_18_cnn_seed0", "custom_18_transfer_seed0"}
    for rid in runs.values():
        assert jobs.wait(rid, timeout=300)["status"] == "completed"
    at.run()
    res = ok(at).session_state["binary_study_result"]
    assert res["task"] == "custom_18" and res["approaches"]["direct"]["models"] == ["custom_18_cnn_seed0"]
    assert res["approaches"]["direct"]["accuracy"] > 0.85  # 80% are neither trousers nor bags


def test_binary_page_opens_on_the_shipped_models(fmnist_home):
    require_shipped("fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer")
    at = ok(AppTest.from_file(BINARY_PAGE, default_timeout=TIMEOUT).run())
    res = at.session_state["binary_study_result"]
    assert [res["approaches"][a]["models"][0] for a in ("binarized", "direct", "transfer")] == [
        "fmnist_cnn",
        "footwear_luggage_cnn",
        "footwear_luggage_transfer",
    ]
    assert at.button(key="bs_train")  # 2 more seeds per approach can be trained


# The Few-shot page's tests live in tests/test_pages_fewshot.py.
