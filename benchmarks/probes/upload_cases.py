"""Upload probes: generated images (every mode, bit depth, format, size, flat colour, damage) through
``imaging.load_upload`` and ``to_fashion_mnist``, with the peak memory each one costs."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np

from benchmarks.probes.harness import Case, Outcome, short

MEMORY_BUDGET_MB = 300  # extra peak RSS one upload may cost (issue 11: a 6300² 16-bit PNG cost +987 MB)


# ---------------------------------------------------------------- uploads


def _peak_reset() -> float:
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM (peak RSS) to the current RSS
        fh.write("5")
    return _status("VmRSS")


def _status(key: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def shape(w: int, h: int, light_bg: bool = False, dtype=np.uint8, top: int = 220) -> np.ndarray:
    """A light garment-like block on a dark background (or the reverse)."""
    a = np.full((h, w), 20, dtype=np.int64)
    a[h // 5 : max(h // 5 + 1, 4 * h // 5), w // 4 : max(w // 4 + 1, 3 * w // 4)] = top
    if light_bg:
        a = top + 20 - a
    if dtype == np.uint16:
        a = a * 257
    return a.astype(dtype)


def encode(img, fmt: str = "PNG", **kw) -> bytes:
    from PIL import Image

    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def raw_png(vals: np.ndarray, depth: int, colour: int = 0) -> bytes:
    """A PNG written by hand, for bit depths Pillow does not write (2, 4, 16-bit colour)."""
    h, w = vals.shape[:2]
    rows = []
    for r in vals.reshape(h, -1):
        if depth < 8:
            bits = ((r[:, None] >> np.arange(depth - 1, -1, -1)) & 1).astype(np.uint8).ravel()
            rows.append(b"\0" + np.packbits(bits).tobytes())
        elif depth == 8:
            rows.append(b"\0" + r.astype(np.uint8).tobytes())
        else:
            rows.append(b"\0" + r.astype(">u2").tobytes())

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def _flat(mode, colour, size=(64, 64)):
    from PIL import Image

    return encode(Image.new(mode, size, colour))


def _uploads() -> dict:
    """name -> (bytes factory, expected "28x28" or "refused")."""
    from PIL import Image

    s = shape(64, 48)
    rgb = np.stack([s, s // 2, 255 - s], -1).astype(np.uint8)
    rgba = np.dstack([rgb, np.full(s.shape, 255, np.uint8)])
    A, R = "28x28", "refused"
    up = {
        # PNG modes
        "png-mode-1": (lambda: encode(Image.fromarray(s > 100)), A),
        "png-mode-L": (lambda: encode(s), A),
        "png-mode-LA": (lambda: encode(Image.fromarray(s).convert("LA")), A),
        "png-mode-P": (lambda: encode(Image.fromarray(rgb).convert("P")), A),
        "png-mode-P-transparency": (lambda: encode(Image.fromarray(rgb).convert("P"), transparency=0), A),
        "png-mode-RGB": (lambda: encode(rgb), A),
        "png-mode-RGBA": (lambda: encode(rgba), A),
        "png-mode-RGBA-transparent-bg": (lambda: encode(np.dstack([rgb, (s > 100).astype(np.uint8) * 255])), A),
        "png-mode-I;16": (lambda: encode(shape(64, 48, dtype=np.uint16)), A),
        # bit depths, written by hand
        **{
            f"png-grey-{d}bit": ((lambda d=d: raw_png((shape(64, 48) > 100) * (2**d - 1), d)), A)
            for d in (1, 2, 4, 8, 16)
        },
        "png-rgb-16bit": (lambda: raw_png(np.stack([shape(64, 48, dtype=np.uint16)] * 3, -1), 16, 2), A),
        "png-rgba-16bit": (
            lambda: raw_png(np.dstack([shape(64, 48, dtype=np.uint16)] * 3 + [np.full((48, 64), 65535)]), 16, 6),
            A,
        ),
        "png-la-16bit": (
            lambda: raw_png(np.dstack([shape(64, 48, dtype=np.uint16), np.full((48, 64), 65535)]), 16, 4),
            A,
        ),
        # other formats
        "jpeg-L": (lambda: encode(s, "JPEG"), A),
        "jpeg-RGB": (lambda: encode(rgb, "JPEG"), A),
        "jpeg-CMYK": (lambda: encode(Image.fromarray(rgb).convert("CMYK"), "JPEG"), A),
        "jpeg-progressive": (lambda: encode(rgb, "JPEG", progressive=True), A),
        "jpeg-quality-1": (lambda: encode(rgb, "JPEG", quality=1), A),
        "bmp-1bit": (lambda: encode(Image.fromarray(s > 100), "BMP"), A),
        "bmp-8bit-P": (lambda: encode(Image.fromarray(rgb).convert("P"), "BMP"), A),
        "bmp-24bit": (lambda: encode(rgb, "BMP"), A),
        "bmp-32bit-RGBA": (lambda: encode(rgba, "BMP"), A),
        "gif-static": (lambda: encode(Image.fromarray(rgb).convert("P"), "GIF"), A),
        "gif-transparent": (lambda: encode(Image.fromarray(rgb).convert("P"), "GIF", transparency=0), A),
        "gif-animated-3": (lambda: _animated("GIF", rgb), A),
        "webp-animated-3": (lambda: _animated("WEBP", rgb), A),
        "webp-lossy": (lambda: encode(rgb, "WEBP", quality=50), A),
        "webp-lossless-RGBA": (lambda: encode(rgba, "WEBP", lossless=True), A),
        **{f"jpeg-exif-orientation-{o}": ((lambda o=o: _exif(rgb, o)), A) for o in range(1, 9)},
        # formats we do not take
        "tiff": (lambda: encode(rgb, "TIFF"), R),
        "ico": (lambda: encode(rgb, "ICO"), R),
        "ppm": (lambda: encode(rgb, "PPM"), R),
        "pcx": (lambda: encode(rgb, "PCX"), R),
        "tga": (lambda: encode(rgb, "TGA"), R),
        "eps-header": (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", R),
        "pdf-header": (lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\n", R),
        "xbm": (lambda: b"#define x_width 8\n#define x_height 1\nstatic char x_bits[] = {0xff};\n", R),
        # sizes
        "size-1x1": (lambda: encode(np.full((1, 1), 200, np.uint8)), R),
        "size-2x1-two-colours": (lambda: encode(np.array([[0, 255]], np.uint8)), A),
        "size-1x10000": (lambda: encode(shape(1, 10000)), A),
        "size-10000x1": (lambda: encode(shape(10000, 1)), A),
        "size-27x27": (lambda: encode(shape(27, 27)), A),
        "size-28x28-dark-bg": (lambda: encode(shape(28, 28)), A),
        "size-28x28-light-bg": (lambda: encode(shape(28, 28, light_bg=True)), A),
        "size-29x29": (lambda: encode(shape(29, 29)), A),
        "size-6300x6300-L": (lambda: encode(shape(6300, 6300), compress_level=1), A),
        "size-6300x6300-16bit (issue 11)": (lambda: encode(shape(6300, 6300, dtype=np.uint16), compress_level=1), A),
        "size-6300x6300-RGBA (issue 11)": (
            lambda: encode(
                np.dstack([shape(6300, 6300)] * 3 + [np.full((6300, 6300), 255, np.uint8)]), compress_level=1
            ),
            R,
        ),
        "size-5000x5000-RGBA": (
            lambda: encode(
                np.dstack([shape(5000, 5000)] * 3 + [np.full((5000, 5000), 255, np.uint8)]), compress_level=1
            ),
            A,
        ),
        "size-6400x6400-over-40Mpx": (lambda: encode(shape(6400, 6400), compress_level=1), R),
        "size-5500x5500-RGBA-over-100MB": (lambda: encode(np.dstack([shape(5500, 5500)] * 4), compress_level=1), R),
        "size-5000x5000-JPEG": (lambda: encode(np.stack([shape(5000, 5000)] * 3, -1), "JPEG"), A),
        "size-9000x5000-JPEG-over-40Mpx": (lambda: encode(shape(9000, 5000), "JPEG"), R),
        # flat colours: blank, whatever the colour
        "flat-black": (lambda: _flat("L", 0), R),
        "flat-white": (lambda: _flat("L", 255), R),
        "flat-grey": (lambda: _flat("L", 128), R),
        "flat-red": (lambda: _flat("RGB", (255, 0, 0)), R),
        "flat-green": (lambda: _flat("RGB", (0, 255, 0)), R),
        "flat-blue": (lambda: _flat("RGB", (0, 0, 255)), R),
        "flat-olive": (lambda: _flat("RGB", (128, 128, 0)), R),
        "flat-transparent": (lambda: _flat("RGBA", (255, 0, 0, 0)), R),
        "flat-half-alpha": (lambda: _flat("RGBA", (0, 0, 255, 128)), R),
        "flat-16bit": (lambda: encode(np.full((64, 64), 30000, np.uint16)), R),
        "flat-palette": (
            lambda: encode(Image.new("RGB", (64, 64), (9, 200, 9)).convert("P", palette=Image.Palette.ADAPTIVE)),
            R,
        ),
        "flat-noise-pm4": (
            lambda: encode((128 + np.random.default_rng(0).integers(-4, 5, (64, 64))).astype(np.uint8)),
            R,
        ),
        "flat-jpeg-q10": (lambda: _flat_jpeg(), R),
        "flat-6000x6000-grey": (lambda: encode(np.full((6000, 6000), 90, np.uint8), compress_level=1), R),
        # damaged or not images
        "empty": (lambda: b"", R),
        "text": (lambda: b"hello, I am not an image\n" * 10, R),
        "zip": (lambda: _zip_bytes(), R),
        "html": (lambda: b"<html><script>alert(1)</script>", R),
        "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>', R),
        "png-header-only": (lambda: b"\x89PNG\r\n\x1a\n", R),
        **{
            f"png-truncated-{p}pct": ((lambda p=p: (lambda b: b[: len(b) * p // 100])(encode(rgb))), R)
            for p in (10, 50)
        },
        # cutting the last 10% of a tiny PNG loses only the stream's tail: every pixel still decodes, rightly
        "png-truncated-90pct-tail-only": (lambda: (lambda b: b[: len(b) * 90 // 100])(encode(rgb)), A),
        "png-truncated-90pct-noisy": (
            lambda: (lambda b: b[: len(b) * 90 // 100])(
                encode(np.random.default_rng(3).integers(0, 256, (256, 256), dtype=np.uint8))
            ),
            R,
        ),
        "png-bad-zlib-idat": (lambda: _bad_idat(), R),
        "png-bad-ihdr-crc": (lambda: _bad_crc(encode(s)), R),
        "png-bomb-header-100000x100000": (lambda: raw_png_header(100_000, 100_000), R),
        "png-zero-size": (lambda: raw_png_header(0, 0), R),
        "png-text-bomb-ztxt": (lambda: _text_bomb(encode(s)), R),
        "jpeg-header-only": (lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", R),
        "jpeg-truncated-50pct": (lambda: (lambda b: b[: len(b) // 2])(encode(rgb, "JPEG")), R),
        "gif-header-only": (lambda: b"GIF89a", R),
        "bmp-header-100000x100000": (lambda: _bmp_header(100_000, 100_000), R),
        "too-many-bytes": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(20 * 2**20 + 1), R),
        "exactly-20MiB-padded-png": (lambda: (lambda b: b + bytes(20 * 2**20 - len(b)))(encode(s)), A),
    }
    return up


def raw_png_header(w, h) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _animated(fmt, rgb):
    from PIL import Image

    frames = [Image.fromarray(np.roll(rgb, 5 * i, axis=1)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _exif(rgb, orientation):
    from PIL import Image

    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif.tobytes())


def _flat_jpeg():
    from PIL import Image

    return encode(Image.new("RGB", (64, 64), (200, 30, 30)), "JPEG", quality=10)


def _zip_bytes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "x")
    return buf.getvalue()


def _bad_idat():
    b = bytearray(raw_png(shape(64, 48), 8))
    i = b.index(b"IDAT") + 6
    b[i : i + 8] = b"\xde\xad\xbe\xef" * 2
    return bytes(b)


def _bad_crc(b: bytes) -> bytes:
    b = bytearray(b)
    b[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(b)


def _text_bomb(b: bytes) -> bytes:
    data = b"Comment\0\0" + zlib.compress(b"A" * (64 * 2**20))
    chunk = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data))
    return b[:33] + chunk + b[33:]


def _bmp_header(w, h):
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0)


def upload_case(name, make, expected) -> Case:
    def run() -> Outcome:
        from fmnist_core.data import imaging

        data = make()
        base = _peak_reset()
        try:
            img = imaging.load_upload(data)
            arr, steps = imaging.to_fashion_mnist(img)
            got = f"{arr.shape[0]}x{arr.shape[1]} {arr.dtype}" + (
                f", notes: {short('; '.join(img.info.get('notes', [])), 60)}" if img.info.get("notes") else ""
            )
            good = expected == "28x28" and arr.shape == (28, 28) and arr.dtype == np.uint8
            tb = False
        except imaging.ImageInputError as exc:
            got, tb = f"refused: {short(exc, 110)}", False
            good = expected == "refused" and len(str(exc)) < 400
        except Exception as exc:  # noqa: BLE001
            got, good, tb = f"TRACEBACK {type(exc).__name__}: {short(exc, 100)}", False, True
        peak = _status("VmHWM") - base
        within = peak <= MEMORY_BUDGET_MB
        return Outcome(f"{got}; peak +{peak:.0f} MB", good and within, traceback=tb)

    return Case(
        f"upload.{name}",
        "Uploads (load_upload + to_fashion_mnist)",
        f"{name} ({'generated'})",
        f"{'a 28x28 image' if expected == '28x28' else 'ImageInputError, clear message'}; peak ≤ +{MEMORY_BUDGET_MB} MB",
        "`imaging.to_fashion_mnist(imaging.load_upload(data))`",
        run,
    )


def cases() -> list[Case]:
    return [upload_case(n, make, exp) for n, (make, exp) in _uploads().items()]
