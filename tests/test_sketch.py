"""ui.images.sketch's boundary: what the drawing component sends is checked before anything uses it."""

import base64

import numpy as np

from fmnist_core.data import imaging
from ui.images import sketch


def test_strokes_of_the_right_shape_pass_and_come_back_as_floats():
    strokes = [{"w": 18, "p": [10, 20, 30, 40.5]}, {"w": 4.0, "p": [5, 5]}]
    assert sketch.valid_strokes(strokes) == [{"w": 18.0, "p": [10.0, 20.0, 30.0, 40.5]}, {"w": 4.0, "p": [5.0, 5.0]}]
    assert sketch.valid_strokes([]) == []


def test_anything_else_is_refused():
    bad = [
        None,
        {},
        "strokes",
        [1],
        [{"w": 18}],
        [{"w": 18, "p": []}],
        [{"w": 18, "p": [1, 2, 3]}],
        [{"w": 0, "p": [1, 2]}],
        [{"w": 1e9, "p": [1, 2]}],
        [{"w": True, "p": [1, 2]}],
        [{"w": 18, "p": [1, float("nan")]}],
        [{"w": 18, "p": [1, "2"]}],
        [{"w": 18, "p": [True, 2]}],
        [{"w": 18, "p": [1, 2]}] * (sketch.MAX_STROKES + 1),
        [{"w": 18, "p": [1, 2] * (sketch.MAX_POINTS + 1)}],
    ]
    for strokes in bad:
        assert sketch.valid_strokes(strokes) is None, strokes


def test_png_data_urls_are_decoded_and_capped():
    png = imaging.to_png_bytes(np.zeros((28, 28), np.uint8))
    assert sketch.decode_png(sketch.PNG_PREFIX + base64.b64encode(png).decode()) == png
    for bad in (
        None,
        42,
        "data:image/jpeg;base64,AAAA",
        sketch.PNG_PREFIX + "not base64!",
        sketch.PNG_PREFIX + "A" * (sketch.MAX_PNG_BYTES * 4 // 3 + 8),
    ):
        assert sketch.decode_png(bad) is None
