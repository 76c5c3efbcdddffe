"""Decoding uploaded bytes into a PIL image, safely: size, pixel and decoded-memory limits, EXIF
rotation, every Pillow mode brought to 'L', 'LA', 'RGB' or 'RGBA'. Split from ``imaging`` (which
re-exports ``load_upload`` and ``ImageInputError``); numpy and Pillow only.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_MB = 20  # a large phone photo is ~5-10 MB; server.maxUploadSize matches
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024  # Streamlit counts upload megabytes as MiB
MAX_PIXELS = 40_000_000  # 40 Mpx: above any phone camera, far below a decompression bomb
WORK_SIDE = 1024  # steps 2-5 run on a copy at most this big: the output is 28 px
REDUCED_SIDE = 2 * WORK_SIDE  # uploads are shrunk to this right after decoding
MAX_DECODED_BYTES = 100 * 2**20  # decoded size cap: 25 Mpx of RGB(A), 40 Mpx of 8/16-bit grey
ROW_POINTER_BYTES = 8  # Pillow keeps a pointer per row: tall, thin images cost it, not pixels
MAX_FRAMES = 1000  # an animation's frames are counted before any is decoded
ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP")  # MPO: JPEG from phone cameras


class ImageInputError(ValueError):
    """A picture we cannot use; the message says what is wrong and what to do."""


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
        raise ImageInputError(
            f"The file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB. "
            "Resize or crop the picture and upload it again."
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read(max_bytes + 1)  # an upload object: read only once its size is known to be in budget
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between its own limit and twice it; we want a hard stop.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_big(None, max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError(
            "This file is not an image we can read. Upload a PNG, JPEG, WebP, GIF or BMP picture."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(
            f"The image is damaged and cannot be opened ({exc}). Save it again and re-upload."
        ) from exc
    if img.format not in ALLOWED_FORMATS:
        raise ImageInputError(f"{img.format} images are not supported. Convert it to PNG or JPEG and upload again.")
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageInputError("The image has no pixels.")
    if w * h > max_pixels:
        raise _too_big((w, h), max_pixels)

    n_frames = getattr(img, "n_frames", 1)
    if n_frames > MAX_FRAMES:
        raise ImageInputError(
            f"The image has {n_frames:,} frames; the limit is {MAX_FRAMES:,}. "
            "Save the frame you want as a PNG or JPEG and upload that."
        )
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
            "and upload again."
        )
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


_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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
    what = (
        f"The image is {size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels)"
        if size
        else "The image has far too many pixels (a possible decompression bomb)"
    )
    return ImageInputError(
        f"{what}; the limit is {max_pixels / 1e6:.0f} megapixels. Resize it (e.g. to 1000 px wide) and upload again."
    )


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


def _sixteen_to_eight(arr: np.ndarray) -> np.ndarray:
    """0-65535 integers -> uint8, rounded as rint(v / 257), in integer arithmetic (no float64 copy)."""
    v = np.clip(arr, 0, 65535).astype(np.uint32)
    return ((2 * v + 257) // 514).astype(np.uint8)
