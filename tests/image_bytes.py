"""Picture bytes built for the imaging tests: encoded images and PNGs that lie about their size."""

import io
import struct
import zlib

from PIL import Image


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR chunk is rewritten to claim width x height (CRC fixed up)."""
    raw = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    ihdr = 8 + 8  # signature, then chunk length + type; IHDR data starts here
    raw[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    raw[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(raw[12 : ihdr + 13])))
    return bytes(raw)


# ---------------------------------------------------------------- already Fashion-MNIST form
