"""'Open in Classify' from an Evaluate gallery in a real browser: Classify shows the image with its
true label and the prediction marked (screenshots of both ends in test-artifacts/)."""

import re

import pytest
from test_browser_classify import needs_a_model, no_exception, shot, url_of

pytestmark = pytest.mark.browser


def test_open_a_confusion_cell_image_in_classify(app_server, page, wait_idle):
    needs_a_model("fmnist_cnn")
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(url_of(app_server, "pages/evaluate.py"))
    button = page.get_by_role("button", name="Open in Classify").first
    button.wait_for(timeout=300_000)  # the first run scores 10,000 images
    wait_idle(page, timeout=240)
    no_exception(page)
    picked = page.get_by_role("combobox", name="Open one of these images in Classify").first.input_value()
    index = re.match(r"#(\d+) · (.+)", picked)
    assert index, picked
    button.scroll_into_view_if_needed()
    shot(page, "evaluate-open-in-classify")
    button.click()
    page.wait_for_url(re.compile(r"/classify"), timeout=120_000)
    wait_idle(page, timeout=240)
    no_exception(page)
    verdict = page.get_by_text(re.compile(r"^(Right|Wrong):")).first
    verdict.wait_for(timeout=120_000)
    assert index.group(2) in verdict.inner_text()  # the true class arrived with the image
    shot(page, "classify-opened-from-evaluate")
