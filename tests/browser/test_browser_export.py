"""'Take it with you' on Evaluate in a real browser: the three downloads arrive and work."""

import re

import pytest
from test_browser_classify import needs_a_model, no_exception, shot, url_of

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.modeling import export
from fmnist_core.modeling.saving import find_model

pytestmark = pytest.mark.browser


def _download(page, label, tmp_path):
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=label).click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_evaluate_downloads_keras_script_and_a_checked_tflite(app_server, page, wait_idle, tmp_path):
    needs_a_model("fmnist_cnn")
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.goto(url_of(app_server, "pages/evaluate.py"))
    # On a cold, loaded server the first run scores 10,000 images: wait for its result, not just a pause.
    page.get_by_text(re.compile(r"^\d+ images of ")).wait_for(timeout=300_000)
    wait_idle(page, timeout=240)
    page.get_by_text("Take it with you").click(timeout=120_000)
    wait_idle(page)
    keras_file = _download(page, "fmnist_cnn.keras", tmp_path)
    assert keras_file.read_bytes() == find_model("fmnist_cnn").read_bytes()
    script = _download(page, "fmnist_cnn_train.py", tmp_path).read_text()
    assert "def build_model" in script and "fmnist_core" not in script
    compile(script, "fmnist_cnn_train.py", "exec")

    page.get_by_text("Convert and check").click()
    wait_idle(page, timeout=240)
    no_exception(page)
    page.get_by_text("TFLite vs Keras on the first 1,000 test images").wait_for()
    lite = _download(page, "fmnist_cnn.tflite", tmp_path).read_bytes()
    _, (x, y) = fdata.load_fashion_mnist()
    probs = export.run_tflite(lite, fdata.preprocess(x[:300]))
    assert (probs.argmax(1) == y[:300]).mean() > 0.85
    page.get_by_text("Take it with you").scroll_into_view_if_needed()
    shot(page, "evaluate-export")
