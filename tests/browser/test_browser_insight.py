"""Looking inside a model in a real browser: the conv-layer inspector and the learned-feature
projector on Evaluate (screenshots in test-artifacts/)."""

import re

import pytest
from test_browser_classify import needs_a_model, no_exception, shot, url_of
from test_browser_dataset_map import drag_lasso

pytestmark = pytest.mark.browser


def _open_tab(page, wait_idle, name):
    page.goto(url_of(page.app_url, "pages/evaluate.py"))
    wait_idle(page, timeout=240)
    page.get_by_role("tab", name=name).click(timeout=300_000)  # the first run scores 10,000 images
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
    page.set_viewport_size({"width": 1400, "height": 3400})  # Streamlit scrolls inside the page: show it all
    page.locator("p", has_text="The multiply-add.").scroll_into_view_if_needed()
    shot(page, "evaluate-conv-inspector")


def test_projector_hover_shows_the_image_and_a_lasso_shows_a_gallery(app_server, page, wait_idle):
    needs_a_model("fmnist_cnn")
    page.app_url = app_server
    page.set_viewport_size({"width": 1400, "height": 2600})
    _open_tab(page, wait_idle, "Feature projector")
    page.get_by_text("Learned-feature projector").wait_for()
    slider = page.get_by_role("slider").last  # the projector's Images slider
    slider.focus()
    slider.press("Home")  # its first stop: 500 points
    wait_idle(page, timeout=240)
    frame = page.frame_locator('iframe[title*="fmnist_projector"]')
    frame.locator(".scatterlayer .point").first.wait_for(timeout=120_000)
    wrong = int(page.get_by_text(re.compile(r"misclassified \(×\)")).inner_text().split("features; ")[1].split()[0])
    assert frame.locator(".scatterlayer .point").count() == 500 + wrong
    no_exception(page)
    # Hover one point: its image and caption appear beside it (the hover itself is checked end to end,
    # pixels included, on the Dataset map, which draws with the same component).
    point = frame.locator(".scatterlayer .point").nth(123)
    point.hover(force=True)
    thumb = frame.locator("#thumb")
    frame.locator("#card").wait_for(state="visible", timeout=10_000)
    assert thumb.get_attribute("data-index") != ""
    assert re.search(r"sprites/\w+\.png", thumb.evaluate("e => e.style.backgroundImage"))
    assert re.match(r"#\d+ ", frame.locator("#cap").inner_text())
    # Lasso a region of the plot: the selected images appear as a gallery under it.
    drag_lasso(page, frame.locator(".nsewdrag").first.bounding_box(), 150)
    wait_idle(page)
    no_exception(page)
    label = page.get_by_text(re.compile(r"^\d[\d,]* images selected")).inner_text()
    n = int(label.split()[0].replace(",", ""))
    assert n > 0
    assert page.locator(".fmnist-gallery").last.locator("img").count() == min(n, 48)
    page.set_viewport_size({"width": 1400, "height": 4200})  # Streamlit scrolls inside the page: show it all
    shot(page, "evaluate-projector")


def test_clicking_the_conv_map_picks_the_output_pixel(app_server, page, wait_idle):
    needs_a_model("fmnist_cnn")
    page.app_url = app_server
    page.set_viewport_size({"width": 1400, "height": 2400})
    _open_tab(page, wait_idle, "Feature maps")
    chart = page.locator('[data-testid="stPlotlyChart"]').last  # the conv output map
    chart.scroll_into_view_if_needed()
    row, col = 3, 20  # a 28x28 map, one marker per pixel
    box = chart.locator(".scatterlayer .point").nth(row * 28 + col).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_idle(page)
    no_exception(page)
    assert page.get_by_label("Output row", exact=True).input_value() == str(row)
    assert page.get_by_label("Output column", exact=True).input_value() == str(col)
    page.get_by_text(f"output pixel (row {row}, column {col})").wait_for()
    assert not page.locator('[data-testid="stAlert"]').filter(has_text="Session State").count()
