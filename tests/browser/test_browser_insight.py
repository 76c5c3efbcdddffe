"""Looking inside a model in a real browser: the conv-layer inspector and the learned-feature
projector on Evaluate (screenshots in test-artifacts/)."""
import re

import pytest
from test_browser_classify import needs_a_model, no_exception, shot, url_of

pytestmark = pytest.mark.browser


def _open_tab(page, wait_idle, name):
    page.goto(url_of(page.app_url, "pages/evaluate.py"))
    wait_idle(page, timeout=240)
    page.get_by_role("tab", name=name).click(timeout=300_000)   # the first run scores 10,000 images
    wait_idle(page, timeout=240)
    no_exception(page)


def test_conv_inspector_shows_kernels_patch_and_the_multiply_add(app_server, page, wait_idle):
    needs_a_model("fmnist_cnn")
    page.app_url = app_server
    page.set_viewport_size({"width": 1400, "height": 1800})
    _open_tab(page, wait_idle, "Feature maps")
    page.get_by_text("Inside a conv layer").wait_for()
    assert page.locator(".fmnist-arch").inner_text().startswith("input")
    assert "7×7×64" in page.locator(".fmnist-arch").inner_text()
    channel = page.get_by_label("Channel", exact=True)
    channel.fill("7")
    channel.press("Enter")
    wait_idle(page)
    no_exception(page)
    page.get_by_text(re.compile(r"block 1, conv 1, channel 7")).first.wait_for()
    eq = page.locator("p", has_text="The multiply-add.").inner_text()
    assert re.search(r"bias \(-?\d+\.\d{4}\) = -?\d+\.\d{4}$", eq), eq
    page.set_viewport_size({"width": 1400, "height": 3400})   # Streamlit scrolls inside the page: show it all
    page.locator("p", has_text="The multiply-add.").scroll_into_view_if_needed()
    shot(page, "evaluate-conv-inspector")
