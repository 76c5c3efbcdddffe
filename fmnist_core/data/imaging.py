"""Turning a user's picture (drawing, upload, photo) into a Fashion-MNIST image.

Fashion-MNIST images are 28x28 8-bit grayscale, a light product on a black background,
and the product fills the frame on its longest edge (Xiao et al. 2017 trimmed each
product photo to its bounding box, resized the longest edge to 28, centred it and
negated it). ``to_fashion_mnist`` repeats those steps on any picture and returns every
intermediate stage, so the Classify page can show *why* a prediction looks the way it does:

  1. the original;
  2. grayscale, with any transparency flattened;
  3. inverted when the background is light, background level moved to black;
  4. cropped to the object;
  5. padded to a square (centred, black);
  6. resized to 28x28.

An image that is already in Fashion-MNIST form (28x28 grayscale, dark background) is
returned exactly unchanged, with one step (``FASHION_MNIST_FORM``) instead of six. A flat
image of any colour is refused as blank. Uploads are shrunk right after decoding, so memory
stays bounded (``MAX_DECODED_BYTES``, ``REDUCED_SIDE``); nothing makes a float64 full-size copy. ``load_upload`` turns uploaded bytes into a PIL image and
refuses bad files with an ``ImageInputError`` whose message says what to do.

No TensorFlow and no Streamlit here: numpy and Pillow only.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

SIZE = 28
MAX_UPLOAD_MB = 20                         # a large phone photo is ~5-10 MB; server.maxUploadSize matches
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024  # Streamlit counts upload megabytes as MiB
MAX_PIXELS = 40_000_000                    # 40 Mpx: above any phone camera, far below a decompression bomb
WORK_SIDE = 1024                           # steps 2-5 run on a copy at most this big: the output is 28 px
REDUCED_SIDE = 2 * WORK_SIDE               # uploads are shrunk to this right after decoding
MAX_DECODED_BYTES = 100 * 2**20            # decoded size cap: 25 Mpx of RGB(A), 40 Mpx of 8/16-bit grey
ROW_POINTER_BYTES = 8                      # Pillow keeps a pointer per row: tall, thin images cost it, not pixels
MAX_FRAMES = 1000                          # an animation's frames are counted before any is decoded
ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP")  # MPO: JPEG from phone cameras
DARK_BACKGROUND = 128                      # border median below this = already light-on-dark
OBJECT_THRESHOLD = 13                      # 5% of 255, the closeness Fashion-MNIST's trimming used


FASHION_MNIST_FORM = ("Already in Fashion-MNIST form (28x28 grayscale, light on a dark background): "
                      "the model sees it exactly as it is.")


class ImageInputError(ValueError):
    """A picture we cannot use; the message says what is wrong and what to do."""


# ---------------------------------------------------------------- loading uploads

def load_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode uploaded bytes into a PIL image in mode 'L', 'LA', 'RGB' or 'RGBA'.

    Handles EXIF rotation (phone photos), 16-bit grayscale, CMYK, palette images with
    transparency and animations (the first frame is used). What was done is listed in
    ``image.info["notes"]`` (list of str) so the page can say so.

    Raises ImageInputError for: no bytes, too many bytes, not an image, a format other than
    PNG/JPEG/WebP/GIF/BMP, more than ``max_pixels`` pixels (decompression bombs), and
    damaged or truncated files.
    """
    size = _byte_size(data)
    if not size:
        raise ImageInputError("The file is empty (0 bytes). Choose a PNG, JPEG, WebP, GIF or BMP image.")
    if size > max_bytes:
        raise ImageInputError(f"The file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB. "
                              "Resize or crop the picture and upload it again.")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read(max_bytes + 1)   # an upload object: read only once its size is known to be in budget
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between its own limit and twice it; we want a hard stop.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_big(None, max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError("This file is not an image we can read. Upload a PNG, JPEG, WebP, GIF or BMP "
                              "picture.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(f"The image is damaged and cannot be opened ({exc}). "
                              "Save it again and re-upload.") from exc
    if img.format not in ALLOWED_FORMATS:
        raise ImageInputError(f"{img.format} images are not supported. Convert it to PNG or JPEG and upload again.")
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageInputError("The image has no pixels.")
    if w * h > max_pixels:
        raise _too_big((w, h), max_pixels)

    n_frames = getattr(img, "n_frames", 1)
    if n_frames > MAX_FRAMES:
        raise ImageInputError(f"The image has {n_frames:,} frames; the limit is {MAX_FRAMES:,}. "
                              "Save the frame you want as a PNG or JPEG and upload that.")
    if n_frames > 1:
        img.seek(0)
        notes.append(f"Animated image ({n_frames} frames): the first frame is used.")
    if img.format in ("JPEG", "MPO"):
        # JPEG decodes at 1/2, 1/4 or 1/8 scale for free: never hold more than ~2x REDUCED_SIDE.
        img.draft(img.mode, (REDUCED_SIDE, REDUCED_SIDE))
    decoded = _decoded_bytes(img)
    if decoded > MAX_DECODED_BYTES:
        raise ImageInputError(
            f"The image is {w}x{h} {img.mode} pixels: {decoded / 2**20:.0f} MB once decoded, over the "
            f"{MAX_DECODED_BYTES / 2**20:.0f} MB limit. Resize it (e.g. to 2000 px wide) or save it as JPEG, "
            "and upload again.")
    try:
        img.load()
        # EXIF Orientation tag: read after decoding (a PNG's getexif decodes the pixels to reach
        # chunks after them) and before the resize, which drops it.
        orientation = img.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(f"The image file is truncated or damaged ({exc}). Upload the complete file.") from exc

    img = _reduce(img)  # before any other copy: every later step works on at most REDUCED_SIDE^2 pixels
    if orientation in _EXIF_TRANSPOSE:
        img = img.transpose(_EXIF_TRANSPOSE[orientation])
        notes.append(f"Rotated upright using the photo's EXIF orientation (tag {orientation}).")
    img = _to_standard_mode(img, notes)
    img.info["notes"] = notes
    img.info["original_size"] = (w, h) if orientation not in (5, 6, 7, 8) else (h, w)
    return img


_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _byte_size(data) -> int:
    """The size of uploaded bytes, or of an upload object (``.size``, as Streamlit's has; else seek/tell),
    without reading it."""
    if data is None:
        return 0
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    if getattr(data, "size", None) is not None:
        return int(data.size)
    here = data.tell()
    end = data.seek(0, io.SEEK_END)
    data.seek(here)
    return end - here


def _decoded_bytes(img: Image.Image) -> int:
    """Bytes Pillow allocates to decode ``img`` at its (draft) size: 1 per pixel for L/P/1, 2 for 16-bit,
    4 for everything else (Pillow stores RGB as 4 bytes per pixel too), plus one pointer per row
    (Pillow's line table): a 1x40,000,000 PNG is 40 MB of pixels but 320 MB of row pointers."""
    w, h = img.size
    per_pixel = 1 if img.mode in ("1", "L", "P") else 2 if img.mode.startswith("I;16") else 4
    return w * h * per_pixel + h * ROW_POINTER_BYTES


def _reduce(img: Image.Image, band_blocks: int = 64) -> Image.Image:
    """Shrink by an integer factor (area average) so the longer side is at most REDUCED_SIDE.

    Done band by band: Pillow's own resize of a whole RGBA image first makes a full-size
    premultiplied copy (+95 MB for 25 Mpx), a band costs ``band_blocks * factor`` rows.
    16-bit grey goes through mode 'I' per band (``reduce`` has no 16-bit mode); palette, 1-bit
    and CMYK bands are converted first. The output is 28 px; steps 2-5 of ``to_fashion_mnist``
    run at WORK_SIDE anyway.
    """
    w, h = img.size
    if max(w, h) <= REDUCED_SIDE:
        return img
    factor = -(-max(w, h) // REDUCED_SIDE)

    def standard(band: Image.Image) -> Image.Image:
        if band.mode.startswith("I;16"):
            return band.convert("I")
        if band.mode in ("P", "PA"):
            return band.convert("RGBA" if band.mode == "PA" or "transparency" in img.info else "RGB")
        if band.mode in ("1", "CMYK"):
            return band.convert("L" if band.mode == "1" else "RGB")
        return band

    rows = band_blocks * factor
    out = None
    for top in range(0, h, rows):
        small = standard(img.crop((0, top, w, min(h, top + rows)))).reduce(factor)
        if out is None:
            out = Image.new(small.mode, (-(-w // factor), -(-h // factor)))
        out.paste(small, (0, top // factor))
    out.info.update({k: v for k, v in img.info.items() if k == "transparency" and out.mode == "P"})
    return out


def _too_big(size, max_pixels) -> ImageInputError:
    what = (f"The image is {size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels)" if size
            else "The image has far too many pixels (a possible decompression bomb)")
    return ImageInputError(f"{what}; the limit is {max_pixels / 1e6:.0f} megapixels. "
                           "Resize it (e.g. to 1000 px wide) and upload again.")


def _to_standard_mode(img: Image.Image, notes: list[str]) -> Image.Image:
    """Any Pillow mode -> 'L', 'LA', 'RGB' or 'RGBA', keeping transparency."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (and 32-bit int) images use 0-65535 for black-white: map that range, not the
        # image's own min/max, so a dark photo stays dark. Float images are taken as 0-1 or 0-255.
        # load_upload has already shrunk the image, so these copies are small.
        if mode == "F":
            arr = np.asarray(img, dtype=np.float32)
            out8 = np.clip(np.rint(arr * 255 if arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
        else:
            out8 = _sixteen_to_eight(np.asarray(img))
        out = Image.fromarray(out8, "L")
        notes.append(f"{'16-bit' if mode != 'F' else 'Floating-point'} grayscale converted to 8-bit.")
        return out
    if mode == "CMYK":
        notes.append("CMYK colours converted to RGB.")
        return img.convert("RGB")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return img.convert("L")
    return img.convert("RGBA" if "A" in mode else "RGB")


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
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
        rgba = _as_array(small_rgba)
    ow, oh = original_size or (w, h)
    original = (f"1. Original ({ow}x{oh})", rgba[..., 0] if rgba.shape[2] == 1 else rgba)
    gray, flatten_note = _grayscale_flattened(rgba)
    if int(gray.max()) - int(gray.min()) < OBJECT_THRESHOLD:  # one flat colour, whichever colour
        raise ImageInputError("No object found: the picture is blank (one flat colour). "
                              "Draw or photograph a single clothing item.")
    background = _border_median(gray)

    if gray.shape == (SIZE, SIZE) and background < DARK_BACKGROUND:
        # Already Fashion-MNIST form: any change would only move it away from the data, and six
        # identical pictures would only say "nothing happened" six times.
        return gray.copy(), [(FASHION_MNIST_FORM, gray)]

    steps = [original, (f"2. Grayscale{flatten_note}", gray)]
    light = background >= DARK_BACKGROUND
    work = 255 - gray if light else gray
    work = _level_background(work)
    steps.append(("3. Inverted (light background)" if light else "3. Kept (background already dark)", work))

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


def _sixteen_to_eight(arr: np.ndarray) -> np.ndarray:
    """0-65535 integers -> uint8, rounded as rint(v / 257), in integer arithmetic (no float64 copy)."""
    v = np.clip(arr, 0, 65535).astype(np.uint32)
    return ((2 * v + 257) // 514).astype(np.uint8)


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
    if color.shape[2] == 3 and not (np.array_equal(color[..., 0], color[..., 1])
                                    and np.array_equal(color[..., 0], color[..., 2])):
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


def _level_background(work: np.ndarray) -> np.ndarray:
    """Move the background to 0, keeping the brightest pixel where it is.

    The background is not one level: a photo's lighting falls off across the table
    (a gradient) or towards the corners (lens vignetting). It is modelled as a smooth
    surface, a quadratic in x and y fitted to the outer ring of pixels (see
    ``_background_surface``), and subtracted; a flat background is the special case of a
    constant surface. Jeans on a beige gradient kept half the background after the old
    single-level subtraction and were cropped as a Pullover. On an image whose
    background is already 0 this is the identity.
    """
    surface = _background_surface(work)
    hi = float(work.max())
    diff = work.astype(np.float32) - surface
    peak = float(diff.max())
    if peak < OBJECT_THRESHOLD:  # nothing stands out of the background: one flat colour, any colour
        raise ImageInputError("No object found: the picture is blank (one flat colour). "
                              "Draw or photograph a single clothing item.")
    if surface.size == 1 and float(surface.flat[0]) == 0:
        return work
    out = diff * (hi / peak)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _background_surface(work: np.ndarray, ring_share: float = 0.05, max_points: int = 4000) -> np.ndarray:
    """float32 (h, w): a quadratic surface a + b*u + c*v + d*u^2 + e*u*v + f*v^2 fitted to the border.

    The fit uses the outer ring (``ring_share`` of the side, at least 1 px) and is robust: three
    rounds of least squares, each dropping ring pixels more than 3 robust standard deviations
    (and 4 grey levels) from the surface, so a garment that touches the edge does not drag it.
    A quadratic follows a lighting gradient and a radial vignette (u^2 + v^2) but is too stiff
    to follow a garment. Float32 at the working size (<= WORK_SIDE^2): at most 4 MB.
    """
    h, w = work.shape
    k = max(1, round(ring_share * min(h, w)))
    ring = np.zeros((h, w), bool)
    ring[:k], ring[-k:], ring[:, :k], ring[:, -k:] = True, True, True, True
    rows, cols = np.nonzero(ring)
    if rows.size > max_points:  # an even subsample is plenty for 6 coefficients
        step = rows.size // max_points + 1
        rows, cols = rows[::step], cols[::step]
    vals = work[rows, cols].astype(np.float64)
    if vals.max() - vals.min() <= 2:  # a flat border (a drawing on black, a scan): a constant surface
        return np.full((1, 1), np.median(vals), np.float32)

    def design(r, c):
        u, v = c / max(w - 1, 1) - 0.5, r / max(h - 1, 1) - 0.5
        return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)

    a = design(rows.astype(np.float64), cols.astype(np.float64))
    keep = np.ones(vals.size, bool)
    coef = np.zeros(6)
    for _ in range(3):
        if keep.sum() < 6:
            break
        coef = np.linalg.lstsq(a[keep], vals[keep], rcond=None)[0]
        resid = vals - a @ coef
        mad = np.median(np.abs(resid[keep] - np.median(resid[keep])))
        keep = np.abs(resid) <= max(3 * 1.4826 * mad, 4.0)
    if np.allclose(coef, 0):
        return np.zeros((h, w), np.float32)
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = cc / max(w - 1, 1) - 0.5, rr / max(h - 1, 1) - 0.5
    c0, c1, c2, c3, c4, c5 = (np.float32(t) for t in coef)
    return c0 + c1 * u + c2 * v + c3 * u * u + c4 * u * v + c5 * v * v


def _object_box(work: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the object: rows/columns holding enough pixels above the threshold.

    "Enough" is 0.5% of the row length (at least 1 pixel), so isolated JPEG noise or dust on
    a large photo does not stretch the box. A blank image keeps its full frame.
    """
    mask = work > max(OBJECT_THRESHOLD, 0.05 * float(work.max()))
    if not mask.any():
        raise ImageInputError("No object found: the picture is blank (one flat colour). "
                              "Draw or photograph a single clothing item.")
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
    out[top:top + h, left:left + w] = img
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
