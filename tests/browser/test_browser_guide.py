"""The first hour in a real browser (issue 14): the four-step "Start here" path from a fresh server,
a mistyped address, no Deploy button, and screenshots of Home, the study pages and the model
pickers at 820 and 1400 px wide (saved to test-artifacts/screens/ for a person to look at)."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
STEPS = [("data", "dataset"), ("train", "build_train"), ("evaluate", "evaluate"), ("classify", "classify")]


TITLES = {
    "": "Fashion-MNIST Lab",
    "dataset": "Dataset",
    "build_train": "Build & Train",
    "evaluate": "Evaluate",
    "classify": "Classify",
    "binary_study": "Binary vs 10-class",
    "few_shot": "Few-shot",
}


def settle(page, wait_idle, title):
    """Wait until the page's own title is drawn and its script run has finished (a fresh server on a
    loaded machine can take seconds before the run even starts)."""
    page.get_by_test_id("stMain").get_by_role("heading", name=title, exact=True).first.wait_for(timeout=300_000)
    wait_idle(page, timeout=300)


def open_app(page, url, wait_idle, path=""):
    page.goto(f"{url}/{path}")
    settle(page, wait_idle, TITLES.get(path, "Page not found"))


def no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


# Text cut off by its box: an element that hides overflow (or ends it in "…") whose content is wider
# than the element, or a table (drawn on a canvas) that needs a horizontal scroll bar.
CLIPPED_JS = """(root) => {
  const out = [];
  for (const el of document.querySelectorAll(root + ' *')) {
    if (el.closest('.js-plotly-plot, svg, canvas') || !el.textContent.trim()) continue;
    const st = getComputedStyle(el);
    if (!el.getClientRects().length || st.visibility === 'hidden') continue;
    const clips = st.overflowX !== 'visible' || st.textOverflow === 'ellipsis';
    if (clips && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.dataset.testid || el.tagName} ${el.scrollWidth}>${el.clientWidth}: ${el.textContent.trim().slice(0, 60)}`);
  }
  for (const el of document.querySelectorAll(root + ' [data-testid="stDataFrame"] .dvn-scroller'))
    if (el.getClientRects().length && el.scrollWidth > el.clientWidth + 1)
      out.push(`table ${el.scrollWidth}>${el.clientWidth}: ${el.closest('[data-testid="stDataFrame"]').innerText.slice(0, 60)}`);
  return out;
}"""


# Plotly's toolbar over a legend, a title, an annotation or the plot area (it appears on hover, so it would
# cover them exactly when the student points at the chart), in the page's charts and in its components'.
UNDER_TOOLBAR_JS = r"""() => {
  const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const out = [];
  const plots = [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')];
  for (const f of document.querySelectorAll('[data-testid="stMain"] iframe')) {
    try { plots.push(...f.contentDocument.querySelectorAll('.js-plotly-plot')); } catch (e) {}
  }
  for (const p of plots) {
    const bar = p.querySelector('.modebar');
    if (!bar || !bar.getClientRects().length) continue;
    const mb = bar.getBoundingClientRect();
    for (const sel of ['.legend', '.nsewdrag', '.gtitle', '.annotation']) {
      for (const el of p.querySelectorAll(sel)) {
        if (hit(mb, el.getBoundingClientRect())) out.push(`${sel} under the toolbar (${p.closest('[class*="st-key"]')?.className.match(/st-key-\S+/)?.[0] || ''})`);
      }
    }
  }
  return [plots.length, out];
}"""


DRAWN_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return !main.querySelector('[data-testid="stSkeleton"]') && [...main.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every((c) => c.querySelector('.main-svg'));
}"""


def drawn(page):
    """Wait until every element is drawn (no placeholder left, every Plotly chart rendered): the checks below
    would pass trivially on placeholders."""
    page.wait_for_function(DRAWN_JS, timeout=120_000)
    page.wait_for_timeout(300)


def under_toolbar(page):
    """What Plotly's toolbar covers on the page's charts (empty when it covers nothing)."""
    return page.evaluate(UNDER_TOOLBAR_JS)[1]


def clipped(page, root='[data-testid="stMain"]'):
    """Every piece of text under ``root`` that is cut off at the current width (empty when all is readable)."""
    return page.evaluate(CLIPPED_JS, root)


def go_home(page, wait_idle):
    page.get_by_test_id("stSidebarNav").get_by_text("Home", exact=True).click()
    page.wait_for_url(re.compile(r"/$|/home$"))
    settle(page, wait_idle, TITLES[""])


def test_start_here_walks_the_four_steps_each_to_its_page(fresh_server, page, wait_idle):
    open_app(page, fresh_server, wait_idle)  # the student's first request to a just-started server
    assert page.get_by_text("Start here", exact=True).is_visible()
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0  # client.toolbarMode
    for key, url_path in STEPS:
        page.locator(f".st-key-guide_{key} button").click()
        page.wait_for_url(re.compile(rf"/{url_path}$"), timeout=120_000)
        settle(page, wait_idle, TITLES[url_path])
        no_exception(page)
        if key == "classify":  # opened in drawing mode: draw a pair of trousers and see a prediction
            canvas = page.locator(".fmnist-sketch canvas").first
            canvas.wait_for(timeout=120_000)
            box = canvas.bounding_box()
            for line in (((90, 40), (190, 40)), ((95, 40), (85, 250)), ((185, 40), (195, 250))):
                page.mouse.move(box["x"] + line[0][0], box["y"] + line[0][1])
                page.mouse.down()
                page.mouse.move(box["x"] + line[1][0], box["y"] + line[1][1], steps=8)
                page.mouse.up()
            page.get_by_role("heading", name="Prediction").first.wait_for(timeout=300_000)
            wait_idle(page, timeout=300)
            no_exception(page)
        go_home(page, wait_idle)
        card = page.locator(f".st-key-guide_{key}").locator("xpath=../..")
        if key != "train":  # training starts only when the student presses Train
            assert "done" in card.inner_text(), (key, card.inner_text())
    no_exception(page)


@pytest.fixture
def fresh_server(app_home):
    """A second server, started for this test: the first request to a fresh server takes another path
    through Streamlit (see ui/app/streamlit_compat.py)."""
    from tests.browser.conftest import _stop, start_server

    proc, url = start_server({"FMNIST_HOME": str(app_home)}, timeout=120)
    yield url
    _stop(proc)


def test_a_page_address_on_a_fresh_server_opens_inside_the_app(fresh_server, page, wait_idle):
    """The first request of all, for /dataset, runs streamlit_app.py (sections, shared sidebar), not
    pages/dataset.py alone as in Streamlit's pages-directory mode."""
    open_app(page, fresh_server, wait_idle, "dataset")
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Learn" in nav and "Build & Train" in nav and "build train" not in nav, nav
    page.get_by_test_id("stSidebar").get_by_text("Selected model").first.wait_for(timeout=60_000)
    no_exception(page)


@pytest.mark.parametrize("server", ["fresh", "warm"])
def test_a_mistyped_address_says_the_page_does_not_exist(request, server, page, wait_idle):
    url = request.getfixturevalue("fresh_server" if server == "fresh" else "app_server")
    open_app(page, url, wait_idle, "evaluat")
    main = page.get_by_test_id("stMain")
    main.get_by_role("heading", name="Page not found").wait_for(timeout=60_000)
    main.get_by_text("/evaluat", exact=True).wait_for(timeout=60_000)
    if page.get_by_test_id("stDialog").count():  # Streamlit's own notice, when it sends one
        page.keyboard.press("Escape")
    main.get_by_role("link", name="Evaluate").click()
    page.wait_for_url(re.compile(r"/evaluate$"))
    settle(page, wait_idle, "Evaluate")
    no_exception(page)
    open_app(page, url, wait_idle, "dataset")  # a right address still opens its page
    assert page.get_by_test_id("stMain").get_by_role("heading", name="Page not found").count() == 0


@pytest.mark.parametrize("width", [820, 1400])
def test_screenshots_of_home_studies_and_pickers(app_server, page, wait_idle, width):
    """Each page as a student first sees it, at the narrowest width we support and a wide one: no text cut
    off anywhere (labels, buttons, tags, table columns), and a screenshot for a person to look at."""
    from shared_models import shown_test_accuracy

    shipped_test = shown_test_accuracy("fmnist_cnn")
    SCREENS.mkdir(parents=True, exist_ok=True)
    # Tall enough for the whole page: Streamlit scrolls inside its own container, which full_page misses.
    page.set_viewport_size({"width": width, "height": 5000})
    for name, path in (
        ("home", ""),
        ("binary_study", "binary_study"),
        ("few_shot", "few_shot"),
        ("dataset", "dataset"),
        ("evaluate", "evaluate"),
    ):
        open_app(page, app_server, wait_idle, path)
        if name == "few_shot":  # its methods fit in the background: check the results table and matrix too
            page.get_by_role("heading", name="3. Results").wait_for(timeout=240_000)
            wait_idle(page)
        drawn(page)
        no_exception(page)
        assert clipped(page) == [], (name, width)
        assert under_toolbar(page) == [], (name, width)
        page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
    # Evaluate's five metric cards: every label and value whole (at 820 px five columns cut them to "9…").
    cards = page.locator('[class*="st-key-cards_eval_metrics"] [data-testid="stMetric"]')
    assert cards.count() == 5
    texts = [cards.nth(i).inner_text() for i in range(5)]
    assert texts[0].split() == ["Accuracy", shipped_test] and texts[4].split() == ["Images", "10,000"], texts
    if width == 820:  # Evaluate's other tabs, where narrow columns cut tables and labels before
        for tab in ("Per class", "Gallery", "Feature maps"):
            page.get_by_role("tab", name=tab).click()
            wait_idle(page, timeout=300)
            drawn(page)
            no_exception(page)
            assert clipped(page) == [], (tab, width)
            assert under_toolbar(page) == [], (tab, width)
        page.screenshot(path=str(SCREENS / f"evaluate-feature-maps-{width}.png"), full_page=True)
        page.get_by_role("tab", name="Confusion matrix").click()
        wait_idle(page)
    page.set_viewport_size({"width": width, "height": 1000})
    page.locator(".st-key-eval_model").get_by_role("combobox").click()
    page.wait_for_selector('[role="option"]')
    options = page.locator('[role="option"]').all_inner_texts()
    assert any(f"10-class CNN · All 10 classes · test {shipped_test} · shipped" in o for o in options), options
    assert clipped(page, '[role="listbox"]') == [], width
    page.screenshot(path=str(SCREENS / f"picker-{width}.png"))
    page.keyboard.press("Escape")
    # Dataset's statistics tab: the counts table and the histogram's toggle sit under their neighbours at 820 px.
    page.set_viewport_size({"width": width, "height": 3000})
    open_app(page, app_server, wait_idle, "dataset")
    page.get_by_role("tab", name="Class statistics").click()
    wait_idle(page)
    page.get_by_text("Ignore black background").wait_for()
    drawn(page)
    assert clipped(page) == [], ("dataset statistics", width)
    assert under_toolbar(page) == [], ("dataset statistics", width)
    page.screenshot(path=str(SCREENS / f"dataset-statistics-{width}.png"), full_page=True)
