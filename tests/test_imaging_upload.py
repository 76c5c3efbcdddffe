"""fmnist_core.data.imaging, uploads: formats decode, bad or damaged bytes are refused with a
clear message, and huge uploads stay within a memory budget. Picture-to-Fashion-MNIST processing
is in test_imaging.py.
"""

import numpy as np
import pytest
from PIL import Image

from fmnist_core.data import fashion_mnist as data
from fmnist_core.data import imaging
from fmnist_core.data.imaging import ImageInputError, load_upload, to_fashion_mnist
from image_bytes import encode, png_claiming


@pytest.fixture(scope="module")
def test_set():
    return data.load_fashion_mnist()[1]


# ---------------------------------------------------------------- uploads


def test_upload_formats_decode(test_set):
    x, _ = test_set
    img = Image.fromarray(255 - x[5]).resize((84, 84))
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP"):
        loaded = load_upload(encode(img.convert("RGB") if fmt == "JPEG" else img, fmt))
        assert loaded.mode in ("L", "LA", "RGB", "RGBA") and loaded.size == (84, 84)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"this is a text file, not a picture", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|damaged"),
    ],
)
def test_bad_bytes_give_a_clear_message(payload, message):
    with pytest.raises(ImageInputError, match=message):
        load_upload(payload)


def test_truncated_file_is_refused(test_set):
    x, _ = test_set
    full = encode(Image.fromarray(x[3]).resize((200, 200)).convert("RGB"), "JPEG", quality=95)
    with pytest.raises(ImageInputError, match="truncated|damaged"):
        load_upload(full[: len(full) // 2])
    png = encode(Image.fromarray(x[3]).resize((200, 200)), "PNG")
    with pytest.raises(ImageInputError, match="truncated|damaged"):
        load_upload(png[: len(png) // 2])


def test_too_many_bytes_and_pixels_are_refused():
    with pytest.raises(ImageInputError, match="MB"):
        load_upload(b"\x00" * 1001, max_bytes=1000)
    # A decompression bomb: a 100-byte PNG whose header claims 30000 x 30000 pixels.
    bomb = png_claiming(30000, 30000)
    assert len(bomb) < 200
    with pytest.raises(ImageInputError, match="megapixels"):
        load_upload(bomb)
    with pytest.raises(ImageInputError, match="megapixels"):
        load_upload(encode(Image.new("L", (300, 300)), "PNG"), max_pixels=10_000)


def test_unsupported_format_is_named():
    with pytest.raises(ImageInputError, match="TIFF"):
        load_upload(encode(Image.new("L", (10, 10)), "TIFF"))


def test_sixteen_bit_png_maps_full_range(test_set):
    x, _ = test_set
    img16 = Image.fromarray(x[7].astype(np.uint16) * 257)  # mode I;16
    loaded = load_upload(encode(img16, "PNG"))
    assert loaded.mode == "L"
    assert np.array_equal(np.asarray(loaded), x[7])
    assert any("16-bit" in n for n in loaded.info["notes"])
    assert np.array_equal(to_fashion_mnist(loaded)[0], x[7])


def test_cmyk_jpeg_is_converted(test_set):
    x, _ = test_set
    rgb = Image.fromarray(255 - x[9]).convert("RGB").resize((56, 56))
    loaded = load_upload(encode(rgb.convert("CMYK"), "JPEG", quality=95))
    assert loaded.mode == "RGB"
    assert any("CMYK" in n for n in loaded.info["notes"])
    gray = np.asarray(loaded.convert("L"), dtype=int)
    assert abs(gray[0, 0] - 255) < 12  # the white background stays white


def test_palette_with_transparency_keeps_alpha():
    img = Image.new("P", (30, 30), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.paste(1, (5, 5, 25, 25))
    img.info["transparency"] = 0
    loaded = load_upload(encode(img, "PNG", transparency=0))
    assert loaded.mode == "RGBA"
    assert np.asarray(loaded)[0, 0, 3] == 0 and np.asarray(loaded)[10, 10, 3] == 255


def test_animated_gif_uses_first_frame_and_says_so():
    frames = [Image.new("L", (20, 20), v) for v in (10, 200, 90)]
    data_ = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_upload(data_)
    assert any("first frame" in n and "3 frames" in n for n in loaded.info["notes"])
    assert np.asarray(loaded.convert("L"))[0, 0] == 10


def test_exif_rotation_is_applied(test_set):
    x, _ = test_set
    upright = Image.fromarray(x[1]).resize((60, 40))  # wider than tall
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    stored = upright.rotate(90, expand=True)  # how a phone would store it
    loaded = load_upload(encode(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.size == (60, 40)
    assert any("EXIF" in n for n in loaded.info["notes"])


# ---------------------------------------------------------------- round trips through a real model


# ---------------------------------------------------------------- memory (issue 11 item 7)

MEMORY_PROBE = r"""
import sys, resource
from fmnist_core.data import imaging

def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

data = open(sys.argv[1], "rb").read()
try:
    open("/proc/self/clear_refs", "w").write("5")   # reset the peak (VmHWM) to the current RSS
except OSError:
    pass
before = rss_kb("VmRSS:")
try:
    out, steps = imaging.to_fashion_mnist(imaging.load_upload(data))
    result = "ok %d" % len(steps)
except imaging.ImageInputError as exc:
    result = "refused " + str(exc)
print(result)
print((rss_kb("VmHWM:") - before) / 1024)
"""


def peak_mb(tmp_path, payload: bytes) -> tuple[str, float]:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    path = tmp_path / "upload.bin"
    path.write_bytes(payload)
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result, peak = done.stdout.strip().splitlines()[-2:]
    return result, float(peak)


def big_png(mode: str, side: int) -> bytes:
    """A side x side PNG of a light square on a dark field: compresses to a few hundred KB."""
    if mode == "I;16":
        arr = np.full((side, side), 3000, np.uint16)
        arr[side // 4 : 3 * side // 4, side // 3 : 2 * side // 3] = 60000
        img = Image.fromarray(arr)
    else:
        dark, light = (10, 240) if mode == "L" else ((10, 10, 10, 255), (240, 240, 240, 255))
        img = Image.new(mode, (side, side), dark)
        img.paste(light, (side // 3, side // 4, 2 * side // 3, 3 * side // 4))
    return encode(img, "PNG", compress_level=1)


BUDGET_MB = 150  # issue 11: a 77 KB 6300x6300 16-bit PNG cost +987 MB, an RGBA one +608 MB


def test_huge_uploads_stay_within_a_memory_budget(tmp_path):
    result, peak = peak_mb(tmp_path, big_png("I;16", 6300))
    assert result == "ok 6" and peak < BUDGET_MB, (result, peak)
    result, peak = peak_mb(tmp_path, big_png("RGBA", 6300))  # 159 MB decoded: refused before decoding
    assert result.startswith("refused") and "once decoded" in result and peak < BUDGET_MB, (result, peak)
    result, peak = peak_mb(tmp_path, big_png("RGBA", 5000))  # just under the decoded-size cap: processed
    assert result == "ok 6" and peak < BUDGET_MB, (result, peak)


def test_upload_is_shrunk_right_after_decoding_and_says_its_original_size():
    img = load_upload(big_png("L", 5000))
    assert max(img.size) <= imaging.REDUCED_SIDE and img.info["original_size"] == (5000, 5000)
    out, steps = to_fashion_mnist(img)
    assert steps[0][0] == "1. Original (5000x5000)"
    assert out[14, 14] > 200 and out[14, 0] == 0
