"""The app in a real browser: every page renders (screenshots saved), and drawing on the canvas
or uploading a picture gives a prediction.

Drives Debian's Chromium against `streamlit run` (fixtures in conftest.py). Screenshots go to
test-artifacts/ (git-ignored).
"""

import os
import re

import pytest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.data import imaging
from fmnist_core.modeling.saving import SHIPPED_DIR
from ui.app import frame

pytestmark = pytest.mark.browser

ARTIFACTS = frame.ROOT / "test-artifacts"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def url_of(base: str, path: str) -> str:
    return base + "/" if path == "pages/home.py" else f"{base}/{path.removeprefix('pages/').removesuffix('.py')}"


def no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]').all_inner_texts()
    assert not errors, errors[0][:2000]


def needs_a_model(name: str = "fmnist_cnn"):
    """The server's own $FMNIST_HOME starts empty, so a shipped model is what it classifies with."""
    if (SHIPPED_DIR / f"{name}.keras").is_file():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"shipped model {name} missing under CI; run `make models`")
    pytest.skip(f"shipped model {name} not trained yet (run `make models`)")


def top1(page) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Top-1")
    metric.wait_for(timeout=60_000)
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_every_page_renders_and_is_screenshotted(app_server, page, wait_idle):
    page.set_viewport_size({"width": 1400, "height": 2200})
    pages = frame.available_pages()
    page.goto(app_server)
    wait_idle(page)
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    for _, _, title, _, _ in pages:
        assert title in nav, f"{title} missing from the navigation"
    for _, path, _, _, _ in pages:
        page.goto(url_of(app_server, path))
        wait_idle(page, timeout=240)  # Evaluate scores 10,000 images on its first visit
        no_exception(page)
        heading = page.locator("h1").first.inner_text()
        assert heading.strip(), f"{path}: no page title"
        shot(page, f"page-{path.removeprefix('pages/').removesuffix('.py')}")


def test_draw_a_garment_on_the_canvas_and_see_a_prediction(app_server, page, wait_idle):
    needs_a_model()
    page.goto(url_of(app_server, "pages/classify.py"))
    wait_idle(page)
    canvas = page.locator(".fmnist-sketch canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()

    def stroke(points):
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()

    # A pair of trousers: waistband and two legs.
    stroke([(90, 40), (190, 40)])
    stroke([(95, 40), (85, 250)])
    stroke([(185, 40), (195, 250)])
    stroke([(140, 55), (120, 250)])
    stroke([(140, 55), (160, 250)])
    wait_idle(page)
    no_exception(page)
    assert top1(page) in data.CLASS_NAMES
    captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
    assert any(c.startswith("6. Resized to 28x28") for c in captions), captions
    shot(page, "classify-draw")


def test_upload_an_image_and_see_a_prediction(app_server, page, wait_idle, tmp_path):
    needs_a_model()
    x, y = data.load_fashion_mnist()[1]
    i = 1  # a pullover, which the shipped CNN gets right with high confidence
    png = tmp_path / "pullover.png"
    png.write_bytes(imaging.to_png_bytes(x[i]))
    page.goto(url_of(app_server, "pages/classify.py"))
    wait_idle(page)
    page.locator('[data-testid="stButtonGroup"] button').filter(has_text=re.compile("^Upload$")).click()
    wait_idle(page)
    page.locator('input[type="file"]').set_input_files(str(png))
    wait_idle(page)
    no_exception(page)
    assert top1(page) == data.CLASS_NAMES[y[i]]  # fmnist_cnn is the default model
    shot(page, "classify-upload")

    # A file that is not an image: a clear message, and the page still works.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are my notes, not a picture")
    page.locator('input[type="file"]').set_input_files(str(bad))
    wait_idle(page)
    no_exception(page)
    page.get_by_text("This file is not an image we can read").wait_for()
    wait_idle(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0  # no stale prediction left
    shot(page, "classify-bad-upload")


def open_canvas(page, url, wait_idle):
    page.goto(url)
    wait_idle(page)
    canvas = page.locator(".fmnist-sketch canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()

    count = [0]

    def stroke(points):
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()
        count[0] += 1
        # The rerun may start late on a busy machine: wait for the answer to *this* stroke, then idle.
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                                  .some(e => e.innerText.includes('after ' + n + ' strokes'))""",
            arg=count[0],
        )
        wait_idle(page)

    return stroke


def saliency_title(page) -> str:
    """The saliency chart's right-hand subplot title, e.g. 'occlusion saliency for Trouser'."""
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="saliency for").first
    chart.wait_for()
    return next(t for t in chart.locator(".annotation-text").all_text_contents() if "saliency for" in t)


def test_drawing_survives_a_reload_and_every_title_names_the_explained_class(app_server, page, wait_idle):
    """Issue 14 (a drawing is lost on reload) and issue 10 items 1 and 'consistency': the class in the
    saliency chart's title and caption equals the class the 'For class' box claims, which follows the
    top-1 from stroke to stroke."""
    needs_a_model()
    stroke = open_canvas(page, url_of(app_server, "pages/classify.py"), wait_idle)
    for a, b in [
        ((90, 40), (190, 40)),
        ((95, 40), (85, 250)),
        ((185, 40), (195, 250)),
        ((140, 55), (120, 250)),
        ((140, 55), (160, 250)),
    ]:
        stroke([a, b])
    no_exception(page)
    first = top1(page)
    for _ in range(2):
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text="For class")
        picked = box.inner_text() + " ".join(i.input_value() for i in box.locator("input").all())
        assert "Top-1 prediction" in picked, picked  # follows the prediction, names no (stale) class
        assert saliency_title(page) == f"occlusion saliency for {top1(page)}"
        caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="red regions").inner_text()
        assert caption.startswith(f"For {top1(page)}:"), caption
        # A big filled blob across the middle changes the drawing (and usually the class).
        for y in range(110, 200, 30):
            stroke([(30, y), (250, y)])
    assert "drawing=" in page.url
    shot(page, "classify-before-reload")
    last = top1(page)

    page.reload()
    wait_idle(page)
    no_exception(page)
    assert top1(page) == last, (first, last)  # the same drawing, restored in a new session
    page.locator(".fmnist-sketch canvas").first.wait_for()
    shot(page, "classify-after-reload")
    page.get_by_role("button", name="Clear").click()
    wait_idle(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert "drawing=" not in page.url


def test_an_outline_drawing_gets_a_fill_the_shape_hint(app_server, page, wait_idle):
    needs_a_model()
    stroke = open_canvas(page, url_of(app_server, "pages/classify.py") + "?fresh=1", wait_idle)
    stroke([(60, 60), (220, 60), (220, 220), (60, 220), (60, 60)])  # a hollow square, like an outlined bag
    no_exception(page)
    page.get_by_text("fill the shape").wait_for()
    shot(page, "classify-outline-hint")


def test_undo_and_redo_take_back_one_stroke(app_server, page, wait_idle):
    """The canvas's own buttons (ui.images.sketch), always visible under it: each answers with a new prediction."""
    needs_a_model()
    stroke = open_canvas(page, url_of(app_server, "pages/classify.py") + "?fresh=2", wait_idle)
    stroke([(90, 40), (190, 40)])
    stroke([(95, 40), (85, 250)])
    undo, redo = (page.locator(f".fmnist-sketch button[data-act={a}]") for a in ("undo", "redo"))
    assert undo.is_visible() and redo.is_visible() and redo.is_disabled()
    for button, strokes in ((undo, 1), (redo, 2), (undo, 1), (undo, 0)):
        button.click()
        if strokes:
            page.wait_for_function(
                """(n) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                                      .some(e => e.innerText.includes('after ' + n + ' strokes'))""",
                arg=strokes,
            )
        else:
            page.get_by_text("Nothing drawn yet.").wait_for()
        wait_idle(page)
    no_exception(page)
    assert undo.is_disabled() and not redo.is_disabled()
