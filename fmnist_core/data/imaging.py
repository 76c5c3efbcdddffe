"""Turning a user's picture (drawing, upload, photo) into a Fashion-MNIST image.

Fashion-MNIST images are 28x28 8-bit grayscale, a light product on a black background,
and the product fills the frame on its longest edge (Xiao et al. 2017 trimmed each
product photo to its bounding box, resized the longest edge to 28, centred it and
negated it). ``to_fashion_mnist`` repeats those steps on any picture and returns every
intermediate stage, so the Classify page can show *why* a prediction looks the way it does:

  1. the original;
  2. grayscale, with any transparency flattened;
  3. the garment found (``segment``: OpenCV, a background surface, a mask, GrabCut), inverted when it is
     darker than its surroundings, the background moved to black;
  4. cropped to the object;
  5. padded to a square (centred, black);
  6. resized to 28x28.

An image that is already in Fashion-MNIST form (28x28 grayscale, dark background) is
returned exactly unchanged, with one step (``FASHION_MNIST_FORM``) instead of six. A flat
image of any colour is refused as blank. Uploads are shrunk right after decoding, so memory
stays bounded (``MAX_DECODED_BYTES``, ``REDUCED_SIDE``); nothing makes a float64 full-size copy. ``load_upload`` turns uploaded bytes into a PIL image and
refuses bad files with an ``ImageInputError`` whose message says what to do.

No TensorFlow and no Streamlit here: numpy, Pillow and OpenCV (``segment``). Loading uploads lives in
``uploads`` (re-exported here). ``input_checks.check_input`` says when the result looks unlike Fashion-MNIST.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from fmnist_core.data import segment
from fmnist_core.data.uploads import (  # noqa: F401 - the upload API, kept importable from here
    ALLOWED_FORMATS,
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_MB,
    REDUCED_SIDE,
    WORK_SIDE,
    ImageInputError,
    _sixteen_to_eight,
    _to_standard_mode,
    load_upload,
)

SIZE = 28
DARK_BACKGROUND = 128  # a 28x28 image whose border median is below this is kept as is
OBJECT_THRESHOLD = 13  # 5% of 255, the closeness Fashion-MNIST's trimming used


FASHION_MNIST_FORM = (
    "Already in Fashion-MNIST form (28x28 grayscale, light on a dark background): the model sees it exactly as it is."
)


# ---------------------------------------------------------------- to Fashion-MNIST form


def to_fashion_mnist(image) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Any picture -> (uint8 array (28, 28), steps).

    image : PIL image, encoded bytes (see ``load_upload``) or a numpy array: (h, w)
        grayscale or (h, w, 3|4) RGB(A); uint8, uint16 (0-65535), bool, or float
        (0-1 when its maximum is <= 1, else 0-255).
    steps : list of (title, uint8 array) for the six stages listed in the module docstring
        (one, ``FASHION_MNIST_FORM``, for an image already in that form); stage 1 keeps the
        original's colours (h, w[, c]) at most WORK_SIDE on its longer side, the others are 2-D.

    Raises ImageInputError for empty or malformed arrays.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = load_upload(bytes(image))
    original_size = image.info.get("original_size") if isinstance(image, Image.Image) else None
    rgba = _as_array(image)
    h, w = rgba.shape[:2]
    if max(h, w) > WORK_SIDE:  # work on a smaller copy: the result is 28 px anyway
        scale = WORK_SIDE / max(h, w)
        small_rgba = Image.fromarray(rgba[..., 0] if rgba.shape[2] == 1 else rgba).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX
        )
        rgba = _as_array(small_rgba)
    ow, oh = original_size or (w, h)
    original = (f"1. Original ({ow}x{oh})", rgba[..., 0] if rgba.shape[2] == 1 else rgba)
    gray, flatten_note = _grayscale_flattened(rgba)
    if int(gray.max()) - int(gray.min()) < OBJECT_THRESHOLD:  # one flat colour, whichever colour
        raise ImageInputError(
            "No object found: the picture is blank (one flat colour). Draw or photograph a single clothing item."
        )
    background = _border_median(gray)

    if gray.shape == (SIZE, SIZE) and background < DARK_BACKGROUND:
        # Already Fashion-MNIST form: any change would only move it away from the data, and six
        # identical pictures would only say "nothing happened" six times.
        return gray.copy(), [(FASHION_MNIST_FORM, gray)]

    steps = [original, (f"2. Grayscale{flatten_note}", gray)]
    colour = rgba[..., :3] if rgba.shape[2] == 3 else np.repeat(gray[..., None], 3, axis=2)
    seg = segment.segment(colour)
    light = not seg.light_object
    work = _remove_background(255 - gray if light else gray, seg)
    how = "" if seg.clean else ", background removed"
    steps.append(
        (
            f"3. Inverted (object darker than its surroundings){how}"
            if light
            else f"3. Kept (object lighter than its surroundings){how}",
            work,
        )
    )

    top, bottom, left, right = _object_box(work)
    cropped = work[top:bottom, left:right]
    steps.append((f"4. Cropped to the object ({right - left}x{bottom - top})", cropped))

    square = _pad_square(cropped)
    steps.append((f"5. Padded to a square ({square.shape[0]}x{square.shape[0]})", square))

    # Shrinking: area averaging (no ringing halos around the garment). Enlarging a tiny crop: bicubic.
    resample = Image.Resampling.BOX if square.shape[0] >= SIZE else Image.Resampling.BICUBIC
    small = np.asarray(Image.fromarray(square).resize((SIZE, SIZE), resample), dtype=np.uint8)
    steps.append(("6. Resized to 28x28", small))
    return small.copy(), steps


def _as_array(image) -> np.ndarray:
    """PIL image or array -> uint8 (h, w, c) with c in 1, 3 or 4."""
    if isinstance(image, Image.Image):
        image = _to_standard_mode(image, [])
        arr = np.asarray(image)
    else:
        arr = np.asarray(image)
        if arr.dtype == object or arr.size == 0:
            raise ImageInputError(f"expected a non-empty image array, got shape {arr.shape}")
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype == np.uint16:
            arr = _sixteen_to_eight(arr)
        elif np.issubdtype(arr.dtype, np.floating):
            if not np.isfinite(arr).all():
                raise ImageInputError("the image array contains NaN or infinite values")
            arr = np.clip(np.rint(arr * 255 if arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
        elif arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 1:
        raise ImageInputError(f"expected an image of shape (h, w), (h, w, 3) or (h, w, 4), got {arr.shape}")
    if arr.shape[2] == 2:  # gray + alpha -> RGBA
        arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
    return np.ascontiguousarray(arr)


def _grayscale_flattened(rgba: np.ndarray) -> tuple[np.ndarray, str]:
    """uint8 (h, w, c) -> uint8 (h, w) luminance, and a note on how transparency was handled.

    Transparent pixels are background. They are flattened onto the colour *opposite* to the
    visible object's mean brightness, so a dark object on a transparent background lands on
    white (and is inverted next) and a light drawing lands on black: either way the object
    stays visible.
    """
    c = rgba.shape[2]
    color = rgba[..., :3] if c >= 3 else rgba[..., :1]
    if color.shape[2] == 3 and not (
        np.array_equal(color[..., 0], color[..., 1]) and np.array_equal(color[..., 0], color[..., 2])
    ):
        lum = color.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as Pillow's "L"
    else:
        lum = color[..., 0].astype(np.float64)
    if c != 4 or rgba[..., 3].min() == 255:
        return np.clip(np.rint(lum), 0, 255).astype(np.uint8), ""
    alpha = rgba[..., 3].astype(np.float64) / 255.0
    if alpha.max() == 0:
        raise ImageInputError("The image is fully transparent: there is nothing to classify.")
    object_brightness = (lum * alpha).sum() / alpha.sum()
    fill = 255.0 if object_brightness < 128 else 0.0
    flat = lum * alpha + fill * (1 - alpha)
    note = f", transparency flattened onto {'white' if fill else 'black'}"
    return np.clip(np.rint(flat), 0, 255).astype(np.uint8), note


def _border_median(gray: np.ndarray) -> float:
    """Median of the outer ring of pixels (about 4% of the side, at least 1 px): the background level."""
    h, w = gray.shape
    k = max(1, round(0.04 * min(h, w)))
    ring = np.concatenate([gray[:k].ravel(), gray[-k:].ravel(), gray[:, :k].ravel(), gray[:, -k:].ravel()])
    return float(np.median(ring))


def _remove_background(work: np.ndarray, seg: segment.Segmentation) -> np.ndarray:
    """Move the background to 0 and everything outside the garment's mask to 0, keeping the brightest
    pixel where it is.

    The background is not one level: a photo's lighting falls off across the table (a gradient) or
    towards the corners (lens vignetting). It is modelled as a smooth surface fitted to the border
    (``segment.background_surface``) and subtracted; a flat background is the special case of a
    constant surface. Then the mask from ``segment.segment`` (scaled up, edges softened) clears what
    the surface left behind: noise, shadows, clutter at the frame. On an image whose background is
    already 0 this is the identity.
    """
    surface = segment.background_surface(work)
    hi = float(work.max())
    diff = work.astype(np.float32) - surface
    if not seg.clean:
        h, w = work.shape
        mask = cv2.resize(seg.mask, (w, h), interpolation=cv2.INTER_LINEAR)
        diff = np.maximum(diff, 0) * cv2.GaussianBlur(mask, (0, 0), sigmaX=max(0.5, min(h, w) / 300))
    peak = float(diff.max())
    if peak < OBJECT_THRESHOLD:  # nothing stands out of the background: one flat colour, any colour
        raise ImageInputError(
            "No object found: the picture is blank (one flat colour). Draw or photograph a single clothing item."
        )
    if seg.clean and surface.size == 1 and float(surface.flat[0]) == 0:
        return work
    out = diff * (hi / peak)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _object_box(work: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the object: rows/columns holding enough pixels above the threshold.

    "Enough" is 0.5% of the row length (at least 1 pixel), so isolated JPEG noise or dust on
    a large photo does not stretch the box. A blank image keeps its full frame.
    """
    mask = work > max(OBJECT_THRESHOLD, 0.05 * float(work.max()))
    if not mask.any():
        raise ImageInputError(
            "No object found: the picture is blank (one flat colour). Draw or photograph a single clothing item."
        )
    h, w = mask.shape
    rows = np.flatnonzero(mask.sum(axis=1) >= max(1, 0.005 * w))
    cols = np.flatnonzero(mask.sum(axis=0) >= max(1, 0.005 * h))
    if rows.size == 0 or cols.size == 0:  # only scattered specks: fall back to every marked pixel
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _pad_square(img: np.ndarray) -> np.ndarray:
    """Centre ``img`` on a black square whose side is its longest edge.

    An odd leftover pixel goes above / left of the object, as in the data set (measured on
    the test images: the top margin is more often one pixel larger than the bottom).
    """
    h, w = img.shape
    side = max(h, w)
    out = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - h + 1) // 2, (side - w + 1) // 2
    out[top : top + h, left : left + w] = img
    return out


def looks_like_outline(image28: np.ndarray, level: int = 64) -> bool:
    """True when a 28x28 image is a thin closed outline (a shoe drawn as its contour) rather than a solid
    shape: the holes that its strokes enclose cover more than the strokes themselves.

    Fashion-MNIST items are solid silhouettes; a model trained on them reads an outline as something
    else (a bag, a sandal), so the page suggests filling the shape.
    """
    from scipy import ndimage

    mask = np.asarray(image28) > level
    if mask.sum() < 10:
        return False
    holes = ndimage.binary_fill_holes(mask) & ~mask
    return bool(holes.sum() >= 20 and holes.sum() > mask.sum())


def to_png_bytes(image: np.ndarray) -> bytes:
    """uint8 (h, w) or (h, w, c) array -> PNG bytes (for downloads and tests)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling for display, so 28x28 pixels stay crisp squares, not a blur."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
