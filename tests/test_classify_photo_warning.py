"""Classify says when an upload is unlike Fashion-MNIST (issue: phone photos), and stays quiet on a clean one.

The prediction is still shown, with the caveat above it: never silently, never instead of it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from fmnist_core import data
from fmnist_core.data import imaging
from test_classify_page import app, ok, top1

CAVEAT = "looks unlike Fashion-MNIST"


def _upload(at, name: str, payload: bytes, mime: str):
    at.button_group(key="cls_input").set_value("Upload").run()
    return ok(at.file_uploader(key="cls_upload").set_value((name, payload, mime)).run())


def _caveats(at) -> list[str]:
    return [w.value for w in at.warning if CAVEAT in w.value]


def test_a_photo_of_nothing_gets_the_caveat_and_still_a_prediction(fmnist_home):
    """A noisy grey photo with no garment in it: nothing can be separated from the background."""
    rng = np.random.default_rng(0)
    pixels = np.clip(128 + rng.normal(0, 6, (360, 480, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=60)
    at = _upload(app(), "empty.jpg", buf.getvalue(), "image/jpeg")
    caveats = _caveats(at)
    assert len(caveats) == 1 and "try" in caveats[0]  # one sentence saying what to try
    assert top1(at)  # and the prediction is still there


def test_a_clean_test_image_gets_no_caveat(fmnist_home):
    (_, _), (x, _) = data.load_fashion_mnist()
    at = _upload(app(), "item.png", imaging.to_png_bytes(x[0]), "image/png")
    assert _caveats(at) == [] and top1(at)
