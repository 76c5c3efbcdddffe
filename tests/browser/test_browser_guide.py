"""The first hour in a real browser (issue 14): the four-step "Start here" path from a fresh server,
a mistyped address, no Deploy button, and screenshots of Home, the study pages and the model
pickers at 820 and 1400 px wide (saved to test-artifacts/screens/ for a person to look at)."""
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
STEPS = [("data", "dataset"), ("train", "build_train"), ("evaluate", "evaluate"), ("classify", "classify")]


def open_app(page, url, wait_idle, path=""):
    page.goto(f"{url}/{path}")
    page.wait_for_selector('[data-testid="stApp"]')
    wait_idle(page, timeout=180)


def no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def go_home(page, wait_idle):
    page.get_by_test_id("stSidebarNav").get_by_text("Home", exact=True).click()
    page.wait_for_url(re.compile(r"/$|/home$"))
    wait_idle(page, timeout=180)


def test_start_here_walks_the_four_steps_each_to_its_page(app_server, page, wait_idle):
    open_app(page, app_server, wait_idle)
    assert page.get_by_text("Start here", exact=True).is_visible()
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0      # client.toolbarMode
    for key, url_path in STEPS:
        page.locator(f".st-key-guide_{key} button").click()
        page.wait_for_url(re.compile(rf"/{url_path}$"), timeout=120_000)
        wait_idle(page, timeout=300)
        no_exception(page)
        if key == "classify":
            assert page.locator(".st-key-cls_input").get_by_text("Draw").count() >= 1
        go_home(page, wait_idle)
        card = page.locator(f".st-key-guide_{key}").locator("xpath=../..")
        if key != "train":  # training starts only when the student presses Train
            assert "done" in card.inner_text(), (key, card.inner_text())
    no_exception(page)


def test_a_mistyped_address_says_the_page_does_not_exist(app_server, page, wait_idle):
    open_app(page, app_server, wait_idle, "evaluat")
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert page.get_by_text("/evaluat", exact=True).is_visible()
    page.get_by_test_id("stMain").get_by_role("link", name="Evaluate").click()
    page.wait_for_url(re.compile(r"/evaluate$"))
    wait_idle(page, timeout=300)
    no_exception(page)


@pytest.mark.parametrize("width", [820, 1400])
def test_screenshots_of_home_studies_and_pickers(app_server, page, wait_idle, width):
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 1000})
    for name, path in (("home", ""), ("binary_study", "binary_study"), ("few_shot", "few_shot")):
        open_app(page, app_server, wait_idle, path)
        no_exception(page)
        page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
    open_app(page, app_server, wait_idle, "evaluate")
    page.locator(".st-key-eval_model [data-baseweb='select']").click()
    page.wait_for_selector('[role="option"]')
    options = page.locator('[role="option"]').all_inner_texts()
    assert any("10-class CNN · All 10 classes · test 94.00% · shipped" in o for o in options), options
    page.screenshot(path=str(SCREENS / f"picker-{width}.png"))
