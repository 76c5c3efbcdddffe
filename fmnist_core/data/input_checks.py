"""Does the model's 28x28 input look like Fashion-MNIST? One sentence when it does not.

A photo that could not be segmented comes out nearly black, or as a grey block with the background
still in it; the model then answers confidently about nothing. ``check_input`` measures the final
28x28 input (foreground fraction, contrast, the object's size and centring) against Fashion-MNIST's
own training images (``input_reference.json``: the 0.5th and 99.5th percentiles of each measure,
written once by ``python -m fmnist_core.data.input_checks``) and looks at the model's confidence.
The page shows the prediction *with* the sentence, never instead of it.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).with_name("input_reference.json")
FOREGROUND = 32  # a pixel belongs to the object above this (1/8 of full scale)
LOW_CONFIDENCE = 0.5  # top-1 below this: the model is guessing between classes
MEASURES = ("foreground", "contrast", "size", "offcentre")

SEPARATE = (
    "the garment could not be separated from the background: try a plain background that contrasts "
    "with the garment (dark on light or light on dark)."
)


@dataclass(frozen=True)
class InputCheck:
    """ok: the input looks like Fashion-MNIST and the model is confident; message: None when ok, else one
    sentence saying what looks wrong and what to try; measures: the figures it was decided on."""

    ok: bool
    message: str | None = None
    measures: dict = field(default_factory=dict)


def measure(images28: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 (n, 28, 28) -> per-image measures: foreground share, contrast (95th percentile of the
    object's pixels / 255), size (longer side of the object's box, px), off-centre (px from the centre
    to the intensity-weighted centroid)."""
    x = np.asarray(images28, np.float32).reshape(-1, 28, 28)
    fg = x > FOREGROUND
    share = fg.mean(axis=(1, 2))
    masked = np.where(fg, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty input: all NaN, contrast 0
        contrast = np.nan_to_num(np.nanpercentile(masked, 95, axis=(1, 2)) / 255.0)
    rows, cols = fg.any(axis=2), fg.any(axis=1)
    size = np.array([max(_extent(r), _extent(c)) for r, c in zip(rows, cols)], np.float32)
    total = x.sum(axis=(1, 2))
    grid = np.arange(28, dtype=np.float32)
    cy = (x.sum(axis=2) @ grid) / np.maximum(total, 1)
    cx = (x.sum(axis=1) @ grid) / np.maximum(total, 1)
    off = np.where(total > 0, np.hypot(cy - 13.5, cx - 13.5), 14.0)
    return {"foreground": share, "contrast": contrast, "size": size, "offcentre": off}


def _extent(flags: np.ndarray) -> int:
    idx = np.flatnonzero(flags)
    return int(idx[-1] - idx[0] + 1) if idx.size else 0


def compute_reference(train_images: np.ndarray) -> dict:
    """The 0.5th and 99.5th percentile of each measure over Fashion-MNIST's training images."""
    m = measure(train_images)
    return {
        k: [round(float(np.percentile(m[k], 0.5)), 4), round(float(np.percentile(m[k], 99.5)), 4)] for k in MEASURES
    }


@functools.lru_cache(maxsize=1)
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


def check_input(image28: np.ndarray, probs=None) -> InputCheck:
    """Check a uint8 (28, 28) model input (and, if given, the model's class probabilities).

    The first problem found, in the order a student can act on it, gives the sentence.
    """
    m = {k: float(v[0]) for k, v in measure(image28).items()}
    ref = reference()
    lo, hi = {k: v[0] for k, v in ref.items()}, {k: v[1] for k, v in ref.items()}
    message = None
    if m["foreground"] < lo["foreground"] or m["contrast"] < lo["contrast"]:
        message = "The input is nearly black, so " + SEPARATE
    elif m["foreground"] > hi["foreground"]:
        message = "Most of the frame was taken for the garment, so " + SEPARATE
    elif m["size"] < lo["size"]:
        message = "The garment is too small in the picture: move closer or crop the picture to the garment."
    elif m["offcentre"] > hi["offcentre"]:
        message = (
            "The garment is not centred as in Fashion-MNIST (something else may have been kept beside "
            "it): crop the picture to the garment alone."
        )
    elif probs is not None and float(np.max(probs)) < LOW_CONFIDENCE:
        m["confidence"] = float(np.max(probs))
        message = (
            f"The model is unsure (top answer {m['confidence']:.0%}): photograph the garment alone, "
            "flat and whole, on a plain contrasting background."
        )
    return InputCheck(ok=message is None, message=message, measures=m)


if __name__ == "__main__":  # regenerate input_reference.json from the training images
    import argparse

    from fmnist_core.data import fashion_mnist as fdata

    argparse.ArgumentParser(
        prog="python -m fmnist_core.data.input_checks",
        description="Recompute input_reference.json (the 0.5th and 99.5th percentiles of "
        "foreground, contrast, size and centring) from the 60,000 training "
        "images, and print it.",
    ).parse_args()

    (x_train, _), _ = fdata.load_fashion_mnist(allow_download=False)
    REFERENCE.write_text(json.dumps(compute_reference(x_train), indent=1) + "\n")
    print(REFERENCE.read_text())
