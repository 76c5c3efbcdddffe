"""The Dataset map in a real browser (issue 14): hovering a point shows that image, enlarged with
crisp pixels and captioned with its index and class; a lasso shows the selected images with
per-class counts, in pages of 48, filtered to one class on request. The map is a custom component (ui/projector.image_map), which AppTest cannot see.

The hover check is end to end: the test picks an isolated point from the chart's own data, moves
the mouse onto it, then compares the card's caption and the pixels it shows with the data set
itself (read here, not through the page).
"""

import re

import numpy as np
import pytest
from scipy.spatial import cKDTree
from test_browser_classify import no_exception, shot, url_of

pytestmark = pytest.mark.browser

MAP = 'iframe[title*="fmnist_projector"]'
# Every point of the chart in the frame's pixels: [x, y, row (customdata)].
POINTS_JS = """() => {
  const plot = document.getElementById('plot'), xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
  const out = [];
  for (const t of plot._fullData) {
    if (t.visible !== true) continue;
    for (let i = 0; i < t.x.length; i++)
      out.push([xa._offset + xa.l2p(t.x[i]), ya._offset + ya.l2p(t.y[i]), t.customdata[i]]);
  }
  return out;
}"""
# The 28x28 tile the hover card shows, read back from the sprite through a canvas, and how it is drawn.
SHOWN_JS = """async () => {
  const t = document.getElementById('thumb'), st = getComputedStyle(t);
  const url = st.backgroundImage.slice(5, -2), size = t.getBoundingClientRect().width;
  const [bx, by] = st.backgroundPosition.split(' ').map(parseFloat);
  const img = new Image(); img.src = url; await img.decode();
  const scale = size / 28, c = document.createElement('canvas'); c.width = c.height = 28;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, -bx / scale, -by / scale, 28, 28, 0, 0, 28, 28);
  const px = Array.from(ctx.getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 === 0);
  return {pixels: px, size: size, rendering: st.imageRendering, url: url};
}"""


def drag_lasso(page, area, r):
    """A square lasso of half-width ``r`` px round the middle of ``area`` (a bounding box in page pixels)."""
    cx, cy = area["x"] + area["width"] / 2, area["y"] + area["height"] / 2
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for dx, dy in ((r, -r), (r, r), (-r, r), (-r, -r)):
        page.mouse.move(cx + dx, cy + dy, steps=8)
    page.mouse.up()


def test_hover_shows_the_point_s_image_and_a_lasso_shows_the_selection(app_server, page, wait_idle):
    from fmnist_core.data import fashion_mnist as fdata

    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(url_of(app_server, "pages/dataset.py"))
    wait_idle(page)
    page.get_by_role("tab", name="Embedding").click()
    wait_idle(page)
    no_exception(page)
    frame = page.frame_locator(MAP)
    frame.locator("#plot .nsewdrag").first.wait_for(timeout=120_000)
    page.wait_for_timeout(500)  # let WebGL draw
    pts = np.array(frame.locator("#plot").evaluate(f"({POINTS_JS})"), dtype=float)
    assert len(pts) == 5000, len(pts)  # the default map: 5,000 test images
    # The most isolated point: the mouse on it can only mean that point.
    gaps = cKDTree(pts[:, :2]).query(pts[:, :2], k=2)[0][:, 1]
    x, y, row = pts[gaps.argmax()]
    origin = page.locator(MAP).bounding_box()
    page.mouse.move(origin["x"] + x + 6, origin["y"] + y + 6)
    page.mouse.move(origin["x"] + x, origin["y"] + y, steps=3)
    card = frame.locator("#card")
    card.wait_for(state="visible", timeout=10_000)
    assert frame.locator("#thumb").get_attribute("data-index") == str(int(row))
    caption = frame.locator("#cap").inner_text()
    m = re.fullmatch(r"#(\d+) · (.+)", caption)
    assert m, caption
    index, name = int(m.group(1)), m.group(2)
    images, labels = fdata.load_fashion_mnist()[1]  # the test split, read here
    assert fdata.CLASS_NAMES[labels[index]] == name, (index, name)
    shown = frame.locator("#plot").evaluate(f"({SHOWN_JS})")
    assert shown["size"] >= 140 and shown["rendering"] in ("pixelated", "crisp-edges"), shown
    assert shown["url"].endswith(".png") and not shown["url"].startswith("data:")  # a cached file
    diff = np.abs(np.array(shown["pixels"], dtype=int).reshape(28, 28) - images[index].astype(int))
    assert diff.max() <= 2, diff.max()  # the very image of that index
    page.wait_for_timeout(300)
    shot(page, "dataset-map-hover")
    page.mouse.move(origin["x"] + 2, origin["y"] + 2)  # off the plot: the card goes
    card.wait_for(state="hidden", timeout=10_000)

    drag_lasso(page, frame.locator("#plot .nsewdrag").first.bounding_box(), 120)
    wait_idle(page)
    no_exception(page)
    # The paragraph, not its bold lead-in ("310 images selected:"), which alone carries no counts.
    label = page.get_by_text(re.compile(r"^[\d,]+ images selected: \w")).inner_text()
    n = int(label.split()[0].replace(",", ""))
    counts = dict(
        (c, int(k.replace(",", ""))) for c, k in re.findall(r"(\w[\w/ -]*?) ([\d,]+)(?:, |$)", label.split(": ", 1)[1])
    )
    assert sum(counts.values()) == n > 48, label  # per-class counts that add up; two pages
    gallery = page.locator(".fmnist-gallery").last
    assert gallery.locator("img").count() == 48
    shot(page, "dataset-lasso")
    pager = page.get_by_label(re.compile(r"^Page \(of \d+\)"))
    pager.fill("2")
    pager.press("Enter")
    wait_idle(page)
    page.get_by_text(re.compile(rf"^Images 49–{min(n, 96)} of {n:,}")).wait_for()
    assert gallery.locator("img").count() == min(n - 48, 48)
    # Only one class: every caption names it, and there are as many as its count says.
    name, k = max(counts.items(), key=lambda kv: kv[1])
    page.locator(".st-key-ds_sel_class").get_by_role("combobox").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} \(")).click()
    wait_idle(page)
    no_exception(page)
    captions = gallery.locator("figcaption").all_inner_texts()
    assert len(captions) == min(k, 48) and all(c.endswith(f"· {name}") for c in captions), captions[:3]
