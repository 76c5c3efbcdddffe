"""Build & Train's form in a real browser (no training): a field the browser marks as wrong
must also stop Train, and the layer editor stays readable at 820 px.

A number typed out of a widget's min/max is refused by the browser itself, without telling
Python, so only a browser test sees that bug; AppTest sets values on the Python side.
"""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BAD = [("Learning rate", "1e6"), ("Training images", "-100"), ("Validation share", "-0.1"), ("Seed", "99999999999")]
# A label whose words each sit on one line: no word is split across two lines.
SPLIT_WORDS_JS = """(sel) => {
  const out = [];
  for (const p of document.querySelectorAll(sel)) {
    const text = p.textContent;
    for (const m of text.matchAll(/\\S+/g)) {
      const node = p.firstChild && p.firstChild.nodeType === 3 ? p.firstChild : null;
      if (!node) continue;
      const r = document.createRange();
      r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].map(c => Math.round(c.top)));
      if (tops.size > 1) out.push(m[0]);
    }
  }
  return out;
}"""


def open_build(page, app_server, wait_idle):
    page.goto(app_server)
    page.get_by_role("link", name="Build & Train").first.click()
    page.get_by_role("heading", name="Build & Train").wait_for(timeout=60_000)
    wait_idle(page)


def train_button(page):
    return page.get_by_role("button", name="Train", exact=True)


def test_a_field_marked_wrong_disables_train_until_it_is_fixed(app_server, page, wait_idle):
    open_build(page, app_server, wait_idle)
    assert train_button(page).is_enabled()
    for label, bad in BAD:
        box = page.get_by_role("spinbutton", name=label)
        good = box.input_value()
        box.fill(bad)
        box.press("Enter")
        wait_idle(page)
        alert = page.get_by_test_id("stAlertContentError").filter(has_text="Fix these before training")
        alert.wait_for(timeout=30_000)
        assert label in alert.inner_text(), (label, alert.inner_text())
        assert train_button(page).is_disabled(), f"Train stayed enabled with {label} = {bad}"
        if label == "Learning rate":
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "build_form_error.png"), full_page=False)
        box.fill(good)
        box.press("Enter")
        wait_idle(page)
        assert train_button(page).is_enabled(), f"Train stayed off after {label} went back to {good}"


def test_layer_editor_labels_do_not_break_mid_word_at_820_px(app_server, page, wait_idle):
    page.set_viewport_size({"width": 820, "height": 1200})
    open_build(page, app_server, wait_idle)
    for preset in ("tinyvgg", "fmnist_net"):
        page.get_by_label("Start from a preset").first.click()
        page.get_by_role("option", name=re.compile(rf"^{preset}:")).click()
        page.get_by_role("button", name="Load preset into the editor").click()
        wait_idle(page)
        editor = ".st-key-bt_layer_editor [data-testid='stWidgetLabel'] p, .st-key-bt_layer_editor strong"
        assert page.locator(editor).count() > 5
        split = page.evaluate(SPLIT_WORDS_JS, editor)
        assert not split, f"{preset}: labels broken mid-word at 820 px: {split}"
    page.locator(".st-key-bt_layer_editor").screenshot(path=str(ARTIFACTS / "build_layer_editor_820.png"))
