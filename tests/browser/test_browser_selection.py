"""Chart selections in a real browser: a click on an Evaluate confusion-matrix cell shows that
cell's images (the Dataset map's lasso is in test_browser_dataset_map.py).

AppTest cannot see Plotly charts, so these interactions are only tested here.
"""

import re

import pytest
from test_browser_classify import needs_a_model, no_exception, shot, url_of

pytestmark = pytest.mark.browser


def test_click_a_confusion_matrix_cell_and_see_its_images(app_server, page, wait_idle):
    needs_a_model()
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(url_of(app_server, "pages/evaluate.py"))
    wait_idle(page, timeout=240)
    no_exception(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    area = chart.locator(".nsewdrag").first.bounding_box()  # the heatmap's plot area
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
