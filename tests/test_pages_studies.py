"""AppTest for the two study pages: Binary vs 10-class, and Few-shot.

Each renders without an exception, shows its main widgets, and a main interaction works.
Charts are invisible to AppTest; the pages also leave their results in session state, which
the tests read.
"""
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core import jobs, saving
from fmnist_core.models import preset
from fmnist_core.tasks import get_task
from fmnist_core.training import HParams, train

ROOT = Path(__file__).resolve().parent.parent
BINARY_PAGE = str(ROOT / "pages" / "binary_study.py")
FEWSHOT_PAGE = str(ROOT / "pages" / "few_shot.py")
TIMEOUT = 240  # seconds per script run: 2 shared cores, and the first run scores 10,000 images per model


def require_shipped(*names):
    missing = [n for n in names if not (saving.SHIPPED_DIR / f"{n}.keras").exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"shipped model(s) {missing} missing: run `make models`")
        pytest.skip(f"shipped model(s) {missing} not trained yet: run `make models`")


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _train_and_save(preset_name, task, hp, name):
    hp = HParams(**hp)
    spec = preset(preset_name)
    saving.save_model(train(spec, task, hp).model, name,
                      {"task": get_task(task).to_dict(), "spec": spec, "hparams": hp.to_dict(), "seed": hp.seed})


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Tiny linear models in a temporary $FMNIST_HOME: 10-class and footwear_luggage (scratch, transfer)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        hp = {"epochs": 1, "subset": 2000, "lr": 3e-3, "seed": 0}
        _train_and_save("linear", "multiclass", hp, "lin_mc")
        _train_and_save("linear", "footwear_luggage", hp, "lin_fl")
        _train_and_save("linear", "footwear_luggage", {**hp, "init_from": "lin_mc"}, "lin_fl_tr")
        yield home


def binary_page_with_tiny_models(grouping="footwear_luggage", seeds=1) -> AppTest:
    at = AppTest.from_file(BINARY_PAGE, default_timeout=TIMEOUT)
    at.session_state["bs_seeds"] = seeds
    at.run()
    ok(at)
    if grouping != "footwear_luggage":
        at.radio(key="bs_grouping").set_value(grouping).run()
        ok(at)
    at.selectbox(key=f"bs_multi_{grouping}").set_value("lin_mc").run()
    for key, name in (("bs_direct", "lin_fl"), ("bs_transfer", "lin_fl_tr")):
        if grouping == "footwear_luggage":
            at.selectbox(key=f"{key}_{grouping}").set_value(name).run()
    return ok(at)


# ---------------------------------------------------------------- binary study

def test_binary_page_shows_the_study_for_chosen_models(home):
    at = binary_page_with_tiny_models()
    res = at.session_state["binary_study_result"]
    assert set(res["approaches"]) == {"binarized", "direct", "transfer"}
    assert [res["approaches"][a]["models"] for a in ("binarized", "direct", "transfer")] == \
        [["lin_mc"], ["lin_fl"], ["lin_fl_tr"]]
    assert at.title[0].value == "Binary vs 10-class"
    assert (at.success or at.info)                                 # the verdict's headline
    metrics, mcnemar, disagreements = (d.value for d in at.dataframe)   # AppTest keeps no dataframe keys
    assert list(metrics["approach"]) == ["Binarized 10-class (probability mass)", "Direct binary (from scratch)",
                                         "Direct binary with transfer", "Binarized 10-class (arg-max class)"]
    assert len(mcnemar) == 4 and mcnemar["p"].between(0, 1).all()
    assert len(disagreements) == 32
    # An interaction: only the images the direct model gets wrong.
    at.segmented_control(key="bs_only").set_value("direct gets wrong").run()
    table = ok(at).dataframe[2].value
    assert len(table) > 0 and (table["direct"] != table["true"]).all()


def test_binary_page_trains_missing_models_for_a_new_grouping_through_jobs(home):
    at = binary_page_with_tiny_models("shoes", seeds=1)
    assert any("needs at least one trained binary model" in w.value for w in at.warning)
    assert "binary_study_result" not in at.session_state
    at.button(key="bs_train").click().run()
    ok(at)
    runs = at.session_state["bs_runs"]
    assert set(runs) == {"shoes_cnn_seed0", "shoes_transfer_seed0"}
    for rid in runs.values():
        assert jobs.wait(rid, timeout=300)["status"] == "completed"
    at.run()
    res = ok(at).session_state["binary_study_result"]
    assert res["task"] == "shoes" and res["approaches"]["direct"]["models"] == ["shoes_cnn_seed0"]
    assert res["approaches"]["direct"]["accuracy"] > 0.8                    # 70% are "not shoes"


def test_binary_page_opens_on_the_shipped_models(fmnist_home):
    require_shipped("fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer")
    at = ok(AppTest.from_file(BINARY_PAGE, default_timeout=TIMEOUT).run())
    res = at.session_state["binary_study_result"]
    assert [res["approaches"][a]["models"][0] for a in ("binarized", "direct", "transfer")] == \
        ["fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer"]
    assert at.button(key="bs_train")       # 2 more seeds per approach can be trained
