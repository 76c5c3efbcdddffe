"""Chart selections in a real browser: a lasso on the Dataset embedding shows the selected
images; a click on an Evaluate confusion-matrix cell shows that cell's images.

AppTest cannot see Plotly charts, so these interactions are only tested here.
"""
import re

import pytest
from test_browser_classify import needs_a_model, no_exception, shot, url_of

pytestmark = pytest.mark.browser


def test_lasso_on_the_embedding_shows_the_selected_images(app_server, page, wait_idle):
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(url_of(app_server, "pages/dataset.py"))
    wait_idle(page)
    page.get_by_role("tab", name="Embedding").click()
    wait_idle(page)
    no_exception(page)
    area = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box()
    cx, cy = area["x"] + area["width"] / 2, area["y"] + area["height"] / 2
    page.mouse.move(cx - 60, cy - 60)
    page.mouse.down()
    for dx, dy in ((60, -60), (60, 60), (-60, 60), (-60, -60)):
        page.mouse.move(cx + dx, cy + dy, steps=6)
    page.mouse.up()
    wait_idle(page)
    no_exception(page)
    # The paragraph, not its bold lead-in ("310 images selected:"), which alone carries no counts.
    label = page.get_by_text(re.compile(r"^[\d,]+ images selected: \w")).inner_text()
    n = int(label.split()[0].replace(",", ""))
    assert re.search(r"selected: (\w[\w/ -]* [\d,]+)(, |$)", label)    # per-class counts
    assert n > 0
    assert page.locator(".fmnist-gallery img").count() == min(n, 48)
    shot(page, "dataset-lasso")


def test_click_a_confusion_matrix_cell_and_see_its_images(app_server, page, wait_idle):
    needs_a_model()
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(url_of(app_server, "pages/evaluate.py"))
    wait_idle(page, timeout=240)
    no_exception(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    area = chart.locator(".nsewdrag").first.bounding_box()   # the heatmap's plot area
    k, ti, pj = 10, 2, 4  # fmnist_cnn (the default model): row Pullover, column Coat
    cx = area["x"] + (pj + 0.5) * area["width"] / k
    cy = area["y"] + (ti + 0.5) * area["height"] / k
    page.mouse.move(cx - 4, cy - 4)
    page.mouse.move(cx, cy, steps=3)
    page.mouse.click(cx, cy)
    wait_idle(page)
    no_exception(page)
    page.get_by_text(re.compile(r"\d[\d,]* images of Pullover predicted as Coat")).wait_for()
    shot(page, "evaluate-cell-click")
