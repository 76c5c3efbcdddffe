"""AppTest (streamlit.testing.v1) for the app frame and the Home, Dataset and Evaluate
pages: each renders without an exception, its main widgets exist and a main
interaction works. Pages run through streamlit_app.py, as in the real app.

Charts and the drawing canvas are invisible to AppTest; tests/browser/ covers those.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.modeling import inference
from shared_models import shipped_model
from ui.app import catalog, frame

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # seconds per script run: the first Evaluate run scores 10,000 images on 2 shared cores


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def test_set():
    return data.load_fashion_mnist()[1]


# ---------------------------------------------------------------- frame and home


def test_navigation_lists_exactly_the_page_files_that_exist():
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_")}
    listed = {path for _, path, *_ in frame.available_pages()}
    assert listed == files & {path for _, path, *_ in frame.PAGES}
    assert {"pages/home.py", "pages/dataset.py", "pages/evaluate.py", "pages/classify.py"} <= listed
    sections = frame.navigation_pages()
    assert list(sections)[0] == "Learn"


def test_home_renders_with_sidebar_status_models_and_links(fmnist_home):
    at = app()
    assert at.title[0].value == "Fashion-MNIST Lab"
    assert at.sidebar.success and "Fashion-MNIST found" in at.sidebar.success[0].value
    names = [m["name"] for m in catalog.models_info()]
    if names:
        assert len(at.sidebar.selectbox(key="_sidebar_model").options) == len(names)
        table = at.table[0].value  # one row per model, in the pickers' order
        assert list(table.index) == [inference.model_title(m) for m in catalog.models_info()]
        assert at.session_state["selected_model"] in names
    else:
        assert any("No saved model" in i.value for i in at.info)
        assert any("No saved model" in i.value for i in at.sidebar.info)
    assert any("Quick classify" in m.value for m in at.markdown)


def test_any_page_warms_a_training_worker_in_the_background(fmnist_home, monkeypatch):
    """Opening Home (not Build & Train) starts one idle, pre-warmed worker; another view starts none;
    with FMNIST_PREWARM_S=0 (the suite's default) nothing is started and no store is created."""
    from fmnist_core.runs import jobs

    logs = fmnist_home / "logs"
    app()
    assert not logs.exists() and not (fmnist_home / "runs.sqlite").exists()
    monkeypatch.setenv("FMNIST_PREWARM_S", "30")
    try:
        app()
        app()
        started = list(logs.glob("worker-*.log"))
        assert len(started) == 1, started
        assert len(jobs.get_executor()._procs) == 1
    finally:
        jobs.get_executor().terminate_started()


def test_home_shows_the_exact_fix_when_the_data_is_missing(fmnist_home, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "candidate_dirs", lambda: [tmp_path / "nowhere"])
    at = app()
    assert any("not found" in e.value for e in at.error)
    assert any(c.value == "make data" for c in at.code)
    assert any("not found" in e.value for e in at.sidebar.error)


def test_sidebar_choice_is_shared_with_pages(fmnist_home):
    name = shipped_model()
    others = [m["name"] for m in catalog.models_info() if m["name"] != name]
    at = app()
    assert at.session_state["selected_model"] == name  # fmnist_cnn is the default
    if others:
        at.sidebar.selectbox(key="_sidebar_model").set_value(others[0]).run()
        assert at.session_state["selected_model"] == others[0]


def test_home_and_dataset_do_not_import_tensorflow(fmnist_home):
    """Run both pages (all Dataset tabs) in a fresh interpreter and look at sys.modules."""
    code = textwrap.dedent(f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=120)
        at.run()
        at.switch_page("pages/dataset.py"); at.run()
        for tab in ("Class statistics", "Embedding"):
            at.session_state["ds_tab"] = tab
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        print("TF", "tensorflow" in sys.modules)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TF False" in out.stdout


# ---------------------------------------------------------------- dataset


def test_dataset_browse_change_class_next_and_split(fmnist_home, test_set):
    at = app("pages/dataset.py")
    shown = at.session_state["dataset_shown"]
    assert shown["split"] == "test" and len(shown["indices"]) == 24  # test first: no split to compute
    assert at.selectbox(key="ds_class").value == "All classes"
    at.button_group(key="ds_split").set_value("train").run()
    ok(at)

    at.selectbox(key="ds_class").set_value("Trouser").run()
    ok(at)
    xtr, ytr = data.train_val_split(0.1, 42)[0]
    shown = at.session_state["dataset_shown"]
    assert shown["class"] == "Trouser" and (ytr[shown["indices"]] == 1).all()
    grid = next(m.value for m in at.markdown if "fmnist-gallery" in m.value)
    assert grid.count("<img") == 24 and f"#{shown['indices'][0]} · Trouser" in grid

    at.button(key="ds_next").click().run()
    first = np.flatnonzero(ytr == 1)[:24].tolist()
    assert at.session_state["dataset_shown"]["indices"] == first
    at.button(key="ds_next").click().run()
    assert at.session_state["dataset_shown"]["indices"] == np.flatnonzero(ytr == 1)[24:48].tolist()

    at.button_group(key="ds_split").set_value("test").run()
    ok(at)
    _, yt = test_set
    shown = at.session_state["dataset_shown"]
    assert shown["split"] == "test" and (yt[shown["indices"]] == 1).all()
    assert at.session_state["ds_mode"] == "random"  # a new split starts over


def test_dataset_statistics_and_embedding_tabs(fmnist_home):
    at = app("pages/dataset.py")
    at.session_state["ds_tab"] = "Class statistics"
    ok(at.run())
    counts = at.dataframe[0].value
    assert counts.loc["Trouser", "train"] == 5400 and counts.loc["Total", "test"] == 10000
    assert at.multiselect(key="ds_hist_classes").value == ["Trouser", "Shirt", "Sandal", "Bag"]
    at.toggle(key="ds_hist_skip").set_value(False).run()
    ok(at)
    at.session_state["ds_tab"] = "Embedding"
    ok(at.run())
    assert at.radio(key="ds_embed_method").value == "pca"
    at.radio(key="ds_embed_method").set_value("tsne").run()
    assert any("Compute" in b.label for b in at.button)  # t-SNE waits for the button
    assert any("t-SNE takes several seconds" in i.value for i in at.info)


# ---------------------------------------------------------------- evaluate


def test_evaluate_shows_the_shipped_models_accuracy_and_pair_images(fmnist_home, test_set):
    name = shipped_model()
    at = app("pages/evaluate.py")
    at.selectbox(key="eval_model").set_value(name).run()
    ok(at)
    x, y = test_set
    probs = inference.split_probabilities(name, "test")[0]  # cached by the page's own run
    pred = probs.argmax(1)
    accuracy = float((pred == y).mean())  # counted here from the probabilities
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{accuracy:.2%}"
    assert metrics["Images"] == "10,000"
    assert accuracy >= 0.93
    assert at.session_state["evaluate_result"]["accuracy"] == pytest.approx(accuracy)

    at.selectbox(key="eval_true").set_value("Shirt")
    at.selectbox(key="eval_pred").set_value("T-shirt/top").run()
    ok(at)
    assert at.session_state["evaluate_pair"]["count"] == int(((y == 6) & (pred == 0)).sum())

    at.toggle(key="eval_norm").set_value(True).run()
    ok(at)
    for tab in ("Per class", "Gallery", "Feature maps"):
        at.session_state["eval_tab"] = tab
        ok(at.run())
    assert sum("maps of" in m.value for m in at.markdown) == 4  # fmnist_net: four Conv2D layers


def test_evaluate_binarized_and_validation(fmnist_home):
    name = shipped_model()
    at = app("pages/evaluate.py")
    at.selectbox(key="eval_model").set_value(name).run()
    at.selectbox(key=f"eval_task_{name}").set_value("shoes").run()
    ok(at)
    result = inference.evaluate_saved(name, "test", "shoes")
    assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{result['accuracy']:.2%}"
    at.radio(key="eval_split").set_value("validation").run()
    ok(at)
    assert {m.label: m.value for m in at.metric}["Images"] == "6,000"
