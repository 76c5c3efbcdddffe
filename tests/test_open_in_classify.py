"""'Open in Classify' from the image galleries of Evaluate and Dataset: the picked image arrives in
Classify with its true label, and the prediction is marked right or wrong (AppTest, real pages)."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.modeling.inference import split_probabilities
from shared_models import shipped_model
from test_app_pages import ROOT, TIMEOUT


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def app(page):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page)
    return ok(at.run())


@pytest.fixture(scope="module")
def test_set():
    return fdata.load_fashion_mnist()[1]


def test_a_confusion_cell_image_opens_in_classify_marked_wrong(fmnist_home, test_set):
    name = shipped_model("fmnist_cnn")
    x, y = test_set
    at = app("pages/evaluate.py")
    at.selectbox(key="eval_true").set_value("Shirt")
    ok(at.selectbox(key="eval_pred").set_value("T-shirt/top").run())
    options = at.selectbox(key="eval_cm_open").options
    pred = split_probabilities(name, "test")[0].argmax(1)
    i = int(options[1].split()[0].lstrip("#"))  # options read "#index · class"
    assert y[i] == 6 and pred[i] == 0  # a Shirt the model calls a T-shirt
    at.selectbox(key="eval_cm_open").set_value(i)
    ok(at.button(key="eval_cm_open_go").click().run())
    res = at.session_state["classify_result"]
    assert res["image"] == x[i].tolist() and res["true"] == "Shirt"
    assert res["correct"] is False
    assert any(e.value.startswith("Wrong: the true class is Shirt") for e in at.error)


def test_a_dataset_image_opens_in_classify_with_its_label(fmnist_home, test_set):
    shipped_model("fmnist_cnn")
    x, y = test_set
    at = app("pages/dataset.py")
    i = at.selectbox(key="ds_browse_open").value  # the first image shown
    ok(at.button(key="ds_browse_open_go").click().run())
    res = at.session_state["classify_result"]
    assert res["image"] == x[i].tolist() and res["true"] == fdata.CLASS_NAMES[y[i]]
    assert isinstance(res["correct"], bool)
    marked = [s.value for s in at.success] + [e.value for e in at.error]
    assert any(m.startswith("Right:" if res["correct"] else "Wrong:") for m in marked)
    assert np.array_equal(np.asarray(res["image"], np.uint8), x[i])


def test_a_binary_study_disagreement_opens_in_classify(fmnist_home, test_set):
    for name in ("fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer"):
        shipped_model(name)
    x, y = test_set
    at = app("pages/binary_study.py")
    disagreements = at.dataframe[1].value  # the table under the image grid
    i = at.selectbox(key="bs_open").value
    assert i == int(disagreements["index"].iloc[0])  # the hardest image comes first
    ok(at.button(key="bs_open_go").click().run())
    res = at.session_state["classify_result"]
    assert res["image"] == x[i].tolist() and res["true"] == fdata.CLASS_NAMES[y[i]]
