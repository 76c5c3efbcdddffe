"""Probes over files: uploads (sizes, modes, bit depths, flat colours, damage), metadata of the
wrong shape per field, damaged ``.keras`` files, damaged run stores under every command."""
from __future__ import annotations

import io
import json
from contextlib import closing
import os
import shutil
import sqlite3
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from benchmarks.probes.harness import (Case, Outcome, cli_command, describe, fresh_home, lost, one_line_error,
                                       run_cli, short, snapshot)

MEMORY_BUDGET_MB = 300   # extra peak RSS one upload may cost (issue 11: a 6300² 16-bit PNG cost +987 MB)


# ---------------------------------------------------------------- uploads

def _peak_reset() -> float:
    with open("/proc/self/clear_refs", "w") as fh:   # resets VmHWM (peak RSS) to the current RSS
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
    a[h // 5: max(h // 5 + 1, 4 * h // 5), w // 4: max(w // 4 + 1, 3 * w // 4)] = top
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
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


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
        **{f"png-grey-{d}bit": ((lambda d=d: raw_png((shape(64, 48) > 100) * (2**d - 1), d)), A) for d in (1, 2, 4, 8, 16)},
        "png-rgb-16bit": (lambda: raw_png(np.stack([shape(64, 48, dtype=np.uint16)] * 3, -1), 16, 2), A),
        "png-rgba-16bit": (lambda: raw_png(np.dstack([shape(64, 48, dtype=np.uint16)] * 3 + [np.full((48, 64), 65535)]), 16, 6), A),
        "png-la-16bit": (lambda: raw_png(np.dstack([shape(64, 48, dtype=np.uint16), np.full((48, 64), 65535)]), 16, 4), A),
        # other formats
        "jpeg-L": (lambda: encode(s, "JPEG"), A), "jpeg-RGB": (lambda: encode(rgb, "JPEG"), A),
        "jpeg-CMYK": (lambda: encode(Image.fromarray(rgb).convert("CMYK"), "JPEG"), A),
        "jpeg-progressive": (lambda: encode(rgb, "JPEG", progressive=True), A),
        "jpeg-quality-1": (lambda: encode(rgb, "JPEG", quality=1), A),
        "bmp-1bit": (lambda: encode(Image.fromarray(s > 100), "BMP"), A),
        "bmp-8bit-P": (lambda: encode(Image.fromarray(rgb).convert("P"), "BMP"), A),
        "bmp-24bit": (lambda: encode(rgb, "BMP"), A), "bmp-32bit-RGBA": (lambda: encode(rgba, "BMP"), A),
        "gif-static": (lambda: encode(Image.fromarray(rgb).convert("P"), "GIF"), A),
        "gif-transparent": (lambda: encode(Image.fromarray(rgb).convert("P"), "GIF", transparency=0), A),
        "gif-animated-3": (lambda: _animated("GIF", rgb), A), "webp-animated-3": (lambda: _animated("WEBP", rgb), A),
        "webp-lossy": (lambda: encode(rgb, "WEBP", quality=50), A),
        "webp-lossless-RGBA": (lambda: encode(rgba, "WEBP", lossless=True), A),
        **{f"jpeg-exif-orientation-{o}": ((lambda o=o: _exif(rgb, o)), A) for o in range(1, 9)},
        # formats we do not take
        "tiff": (lambda: encode(rgb, "TIFF"), R), "ico": (lambda: encode(rgb, "ICO"), R),
        "ppm": (lambda: encode(rgb, "PPM"), R), "pcx": (lambda: encode(rgb, "PCX"), R),
        "tga": (lambda: encode(rgb, "TGA"), R), "eps-header": (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", R),
        "pdf-header": (lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\n", R),
        "xbm": (lambda: b"#define x_width 8\n#define x_height 1\nstatic char x_bits[] = {0xff};\n", R),
        # sizes
        "size-1x1": (lambda: encode(np.full((1, 1), 200, np.uint8)), R),
        "size-2x1-two-colours": (lambda: encode(np.array([[0, 255]], np.uint8)), A),
        "size-1x10000": (lambda: encode(shape(1, 10000)), A), "size-10000x1": (lambda: encode(shape(10000, 1)), A),
        "size-27x27": (lambda: encode(shape(27, 27)), A), "size-28x28-dark-bg": (lambda: encode(shape(28, 28)), A),
        "size-28x28-light-bg": (lambda: encode(shape(28, 28, light_bg=True)), A), "size-29x29": (lambda: encode(shape(29, 29)), A),
        "size-6300x6300-L": (lambda: encode(shape(6300, 6300), compress_level=1), A),
        "size-6300x6300-16bit (issue 11)": (lambda: encode(shape(6300, 6300, dtype=np.uint16), compress_level=1), A),
        "size-6300x6300-RGBA (issue 11)": (lambda: encode(np.dstack([shape(6300, 6300)] * 3 + [np.full((6300, 6300), 255, np.uint8)]), compress_level=1), R),
        "size-5000x5000-RGBA": (lambda: encode(np.dstack([shape(5000, 5000)] * 3 + [np.full((5000, 5000), 255, np.uint8)]), compress_level=1), A),
        "size-6400x6400-over-40Mpx": (lambda: encode(shape(6400, 6400), compress_level=1), R),
        "size-5500x5500-RGBA-over-100MB": (lambda: encode(np.dstack([shape(5500, 5500)] * 4), compress_level=1), R),
        "size-5000x5000-JPEG": (lambda: encode(np.stack([shape(5000, 5000)] * 3, -1), "JPEG"), A),
        "size-9000x5000-JPEG-over-40Mpx": (lambda: encode(shape(9000, 5000), "JPEG"), R),
        # flat colours: blank, whatever the colour
        "flat-black": (lambda: _flat("L", 0), R), "flat-white": (lambda: _flat("L", 255), R),
        "flat-grey": (lambda: _flat("L", 128), R), "flat-red": (lambda: _flat("RGB", (255, 0, 0)), R),
        "flat-green": (lambda: _flat("RGB", (0, 255, 0)), R), "flat-blue": (lambda: _flat("RGB", (0, 0, 255)), R),
        "flat-olive": (lambda: _flat("RGB", (128, 128, 0)), R),
        "flat-transparent": (lambda: _flat("RGBA", (255, 0, 0, 0)), R),
        "flat-half-alpha": (lambda: _flat("RGBA", (0, 0, 255, 128)), R),
        "flat-16bit": (lambda: encode(np.full((64, 64), 30000, np.uint16)), R),
        "flat-palette": (lambda: encode(Image.new("RGB", (64, 64), (9, 200, 9)).convert("P", palette=Image.Palette.ADAPTIVE)), R),
        "flat-noise-pm4": (lambda: encode((128 + np.random.default_rng(0).integers(-4, 5, (64, 64))).astype(np.uint8)), R),
        "flat-jpeg-q10": (lambda: _flat_jpeg(), R),
        "flat-6000x6000-grey": (lambda: encode(np.full((6000, 6000), 90, np.uint8), compress_level=1), R),
        # damaged or not images
        "empty": (lambda: b"", R), "text": (lambda: b"hello, I am not an image\n" * 10, R),
        "zip": (lambda: _zip_bytes(), R), "html": (lambda: b"<html><script>alert(1)</script>", R),
        "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>', R),
        "png-header-only": (lambda: b"\x89PNG\r\n\x1a\n", R),
        **{f"png-truncated-{p}pct": ((lambda p=p: (lambda b: b[: len(b) * p // 100])(encode(rgb))), R) for p in (10, 50)},
        # cutting the last 10% of a tiny PNG loses only the stream's tail: every pixel still decodes, rightly
        "png-truncated-90pct-tail-only": (lambda: (lambda b: b[: len(b) * 90 // 100])(encode(rgb)), A),
        "png-truncated-90pct-noisy": (lambda: (lambda b: b[: len(b) * 90 // 100])(
            encode(np.random.default_rng(3).integers(0, 256, (256, 256), dtype=np.uint8))), R),
        "png-bad-zlib-idat": (lambda: _bad_idat(), R), "png-bad-ihdr-crc": (lambda: _bad_crc(encode(s)), R),
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
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


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
    b[i: i + 8] = b"\xde\xad\xbe\xef" * 2
    return bytes(b)


def _bad_crc(b: bytes) -> bytes:
    b = bytearray(b)
    b[29] ^= 0xFF   # the IHDR chunk's CRC
    return bytes(b)


def _text_bomb(b: bytes) -> bytes:
    data = b"Comment\0\0" + zlib.compress(b"A" * (64 * 2**20))
    chunk = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data))
    return b[:33] + chunk + b[33:]


def _bmp_header(w, h):
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0))


def upload_case(name, make, expected) -> Case:
    def run() -> Outcome:
        from fmnist_core.data import imaging
        data = make()
        base = _peak_reset()
        try:
            img = imaging.load_upload(data)
            arr, steps = imaging.to_fashion_mnist(img)
            got = f"{arr.shape[0]}x{arr.shape[1]} {arr.dtype}" + (f", notes: {short('; '.join(img.info.get('notes', [])), 60)}"
                                                                   if img.info.get("notes") else "")
            good = expected == "28x28" and arr.shape == (28, 28) and arr.dtype == np.uint8
            tb = False
        except imaging.ImageInputError as exc:
            got, tb = f"refused: {short(exc, 110)}", False
            good = expected == "refused" and len(str(exc)) < 400
        except Exception as exc:   # noqa: BLE001
            got, good, tb = f"TRACEBACK {type(exc).__name__}: {short(exc, 100)}", False, True
        peak = _status("VmHWM") - base
        within = peak <= MEMORY_BUDGET_MB
        return Outcome(f"{got}; peak +{peak:.0f} MB", good and within, traceback=tb)
    return Case(f"upload.{name}", "Uploads (load_upload + to_fashion_mnist)", f"{name} ({'generated'})",
                f"{'a 28x28 image' if expected == '28x28' else 'ImageInputError, clear message'}; peak ≤ +{MEMORY_BUDGET_MB} MB",
                "`imaging.to_fashion_mnist(imaging.load_upload(data))`", run)


# ---------------------------------------------------------------- metadata of the wrong shape, per field

MISSING = object()
META_BAD = {
    "name": [MISSING, None, 5, "", "../x", "other", "x" * 65, ["m"]],
    "task": [MISSING, None, "multiclass", {}, {"name": 5}, {"name": "foo"}, {"name": "multiclass"}],
    "spec": ["linear", [1], [{}], None],
    "hparams": [MISSING, None, [], "x"],
    "n_params": [MISSING, None, -1, 1.5, "10", True],
    "val_metrics": [[], "x", {"accuracy": "high"}, {"loss": "x"}],
    "test_metrics": [[], "x", {"accuracy": "high"}],
    "history": [{}, "x", [1]],
    "run_id": ["1", 1.5],
    "owner": [5, []],
    "seed": ["42", 4.2],
    "payload_sha256": [MISSING, "abc", "0" * 64, None],
}
META_FINE = {"owner": None, "run_id": None, "val_metrics": {"accuracy": None}, "extra_field": {"any": 1}}


def _rewrite(src: Path, dst: Path, meta=MISSING, raw: bytes | None = None, keep_sha=False, drop=(), add=None):
    """Copy a model file, replacing its metadata (payload hash recomputed unless keep_sha) and entries."""
    from fmnist_core.modeling import saving
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename != saving.META_ENTRY and info.filename not in drop:
                zout.writestr(info, (add or {}).pop(info.filename, None) or zin.read(info.filename))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    if raw is None and meta is MISSING:
        return
    with zipfile.ZipFile(dst) as zf:
        digest = saving._payload_sha256(zf)
    if isinstance(meta, dict) and not keep_sha and "payload_sha256" in meta:
        meta = {**meta, "payload_sha256": digest}
    with zipfile.ZipFile(dst, "a") as zf:
        zf.writestr(saving.META_ENTRY, raw if raw is not None else json.dumps(meta))


def _kept_meta(home: Path) -> dict:
    from fmnist_core.modeling import saving
    with zipfile.ZipFile(home / "kept.keras") as zf:
        return json.loads(zf.read(saving.META_ENTRY))


def model_case(cid, group, what, damage, expect="damaged") -> Case:
    """``damage(home)`` writes ``m.keras`` (and maybe more); then the listing, the loader and the CLI look at it.

    expect: "damaged" (listed as ``damaged: ...`` or not listed, never loaded), "at-load" (the file's
    hash and metadata check out, so the listing, which does not build the Keras model, shows it;
    loading it is refused as damaged), or "loads"."""
    expect_damaged = expect != "loads"
    def run() -> Outcome:
        from fmnist_core.modeling import saving
        home = fresh_home()
        damage(home)
        before = snapshot(home)
        os.environ["FMNIST_HOME"] = str(home)
        try:
            listed = {m["name"]: m for m in saving.list_models()}
            entry = listed.get("m")
            try:
                saving.load_model("m")
                loaded = "loads"
            except saving.DamagedModelError as exc:
                loaded = f"load refused ({short(exc.reason, 70)})"
            except saving.ModelNotFoundError:
                loaded = "not found"
        finally:
            os.environ.pop("FMNIST_HOME", None)
        test = run_cli(["test", "-mn", "m"], home) if expect_damaged else None
        models = run_cli(["models"], home)
        gone = lost(before, snapshot(home))
        listing = "not listed" if entry is None else entry.get("error") or "listed healthy"
        if expect_damaged:
            listed_ok = listing.startswith("damaged:") or listing == "not listed" or expect == "at-load"
            ok = listed_ok and loaded.startswith(("load refused", "not found")) \
                and one_line_error(test) and models.code == 0 and models.tb is None
        else:
            ok = listing == "listed healthy" and loaded == "loads" and models.code == 0
        text = f"listed: {short(listing, 80)}; {loaded}" + (f"; test: {describe(test)[:70]}" if test else "") \
            + f"; models exit {models.code}"
        tb = bool((test and test.tb) or models.tb)
        return Outcome(text, ok and not gone, traceback=tb, data_lost=bool(gone))
    exp = {"damaged": "listed as `damaged: ...` (or not listed), never loaded; `test` one line; `models` exit 0",
           "at-load": "loading refused as `damaged: ...` (the listing does not build the model); `test` one line",
           "loads": "listed and loads"}[expect]
    return Case(cid, group, what, exp, "`python -m fmnist_core models; python -m fmnist_core test -mn m`", run)


def _meta_damage(field, value):
    def damage(home):
        meta = {**_kept_meta(home), "name": "m", "model_file": "m.keras"}
        if value is MISSING:
            meta.pop(field, None)
        else:
            meta[field] = value
        _rewrite(home / "kept.keras", home / "m.keras", meta, keep_sha=field == "payload_sha256")
    return damage


def _whole_doc(raw: bytes):
    def damage(home):
        _rewrite(home / "kept.keras", home / "m.keras", raw=raw)
    return damage


def _legacy(doc_bytes: bytes | None):
    def damage(home):
        _rewrite(home / "kept.keras", home / "m.keras")   # no metadata inside: the old two-file format
        if doc_bytes is not None:
            (home / "m.json").write_bytes(doc_bytes)
    return damage


def metadata_cases() -> list[Case]:
    g, out = "Model metadata of the wrong shape", []
    for field, values in META_BAD.items():
        for v in values:
            label = "missing" if v is MISSING else json.dumps(v)[:40]
            semantic = field == "task" and isinstance(v, dict) and isinstance(v.get("name"), str)
            out.append(model_case(f"meta.{field}={label}", g, f"metadata field `{field}` = {label}",
                                  _meta_damage(field, v), expect="at-load" if semantic else "damaged"))
    for field, v in META_FINE.items():
        out.append(model_case(f"meta.{field}={json.dumps(v)}.ok", g, f"metadata field `{field}` = {json.dumps(v)} (allowed)",
                              _meta_damage(field, v), expect="loads"))
    for label, raw in {"[]": b"[]", "null": b"null", '"text"': b'"text"', "5": b"5", "{}": b"{}",
                       "not JSON": b"{", "not UTF-8": b"\xff\xfe\x00", "nested 100000 deep": b"[" * 100000 + b"]" * 100000,
                       "NaN accuracy": b'{"val_metrics": {"accuracy": NaN}}'}.items():
        out.append(model_case(f"meta.doc={label}", g, f"the whole metadata is {label}", _whole_doc(raw)))
    for label, raw in {"[]": b"[]", "null": b"null", "{}": b"{}", '"text"': b'"text"', '{"name": 5}': b'{"name": 5}',
                       "string accuracy": b'{"name": "m", "val_metrics": {"accuracy": "high"}}', "truncated": b'{"name": "m", "ta',
                       "not UTF-8": b"\xff\xfe", "absent": None}.items():
        out.append(model_case(f"meta.legacy={label}", g, f"old two-file format, sidecar {label}", _legacy(raw)))
    return out


# ---------------------------------------------------------------- damaged .keras files

def _bytes_of(fn):
    def damage(home):
        (home / "m.keras").write_bytes(fn((home / "kept.keras").read_bytes()))
    return damage


def _flip(at: float):
    def fn(b: bytes) -> bytes:
        b = bytearray(b)
        i = min(len(b) - 1, int(len(b) * at)) if at >= 0 else len(b) + int(at)
        b[i] ^= 0x55
        return bytes(b)
    return fn


def keras_cases() -> list[Case]:
    g, out = "Damaged model files", []
    for p in (0, 1, 10, 50, 90, 99):
        out.append(model_case(f"keras.truncated-{p}pct", g, f"`.keras` truncated to {p}% of its bytes",
                              _bytes_of(lambda b, p=p: b[: len(b) * p // 100])))
    out.append(model_case("keras.garbage", g, "`.keras` of random bytes",
                          _bytes_of(lambda b: np.random.default_rng(1).bytes(len(b)))))
    for at in (0.0, 0.05, 0.3, 0.5, 0.8, -60, -10):
        out.append(model_case(f"keras.flip@{at}", g, f"one byte flipped at {'offset ' + str(at) if at < 0 else f'{at:.0%}'}",
                              _bytes_of(_flip(at))))

    def entries(drop=(), add=None, meta_fix=True):
        def damage(home):
            meta = {**_kept_meta(home), "name": "m", "model_file": "m.keras"}
            _rewrite(home / "kept.keras", home / "m.keras", meta if meta_fix else MISSING, drop=drop, add=add)
        return damage
    for entry in ("config.json", "model.weights.h5", "metadata.json"):
        out.append(model_case(f"keras.without-{entry}", g, f"`{entry}` removed (hash recomputed to match)",
                              entries(drop=(entry,)), expect="loads" if entry == "metadata.json" else "at-load"))
    out.append(model_case("keras.extra-entry-stale-hash", g, "an extra entry added, hash not updated",
                          lambda home: _rewrite(home / "kept.keras", home / "m.keras",
                                                {**_kept_meta(home), "name": "m"}, keep_sha=True,
                                                add={"evil.py": b"import os"})))
    out.append(model_case("keras.config-not-json", g, "`config.json` is not JSON (hash recomputed)",
                          entries(add={"config.json": b"{nope"}), expect="at-load"))
    lam = json.dumps({"module": "keras.layers", "class_name": "Lambda", "config": {"name": "l", "function": {
        "class_name": "__lambda__", "config": {"code": "YQ==", "defaults": None, "closure": None}}}}).encode()
    out.append(model_case("keras.lambda-layer", g, "config replaced by a Lambda layer (code), hash recomputed",
                          entries(add={"config.json": lam}), expect="at-load"))

    def other_arch(home):
        from fmnist_core.modeling import saving
        shipped = saving.find_model("shoes_cnn")
        with zipfile.ZipFile(shipped) as zf:
            weights = zf.read("model.weights.h5")
        entries(add={"model.weights.h5": weights})(home)
    out.append(model_case("keras.weights-of-another-architecture", g, "weights of another architecture inside "
                          "(hash recomputed)", other_arch, expect="at-load"))
    out.append(model_case("keras.another-models-file", g, "another model's complete file under this name",
                          lambda home: shutil.copy(home / "kept.keras", home / "m.keras")))
    out.append(model_case("keras.directory", g, "a directory named `m.keras`", lambda home: (home / "m.keras").mkdir()))
    out.append(model_case("keras.fifo", g, "a FIFO named `m.keras` (a read would block)",
                          lambda home: os.mkfifo(home / "m.keras")))
    out.append(model_case("keras.dangling-symlink", g, "a dangling symlink `m.keras`",
                          lambda home: os.symlink("/nonexistent/x.keras", home / "m.keras")))
    out.append(model_case("keras.symlink-outside", g, "a symlink `m.keras` to a model file outside the home",
                          lambda home: os.symlink(home / "kept.keras", home / "m.keras")))

    def zip_bomb(home):
        meta = {**_kept_meta(home), "name": "m"}
        with zipfile.ZipFile(home / "kept.keras") as zin, zipfile.ZipFile(home / "m.keras", "w",
                                                                        zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
            with zout.open("pad.bin", "w") as fh:
                for _ in range(256):
                    fh.write(bytes(4 * 2**20))
            zout.writestr("fmnist/metadata.json", json.dumps(meta))
    out.append(model_case("keras.zip-bomb-1GiB-entry", g, "a 1 GiB zero-filled entry (4 MB compressed), stale hash",
                          zip_bomb))
    return out


# ---------------------------------------------------------------- damaged run stores, under every command

def _store_damage(kind: str):
    def damage(home: Path):
        p = home / "runs.sqlite"
        good = p.read_bytes()
        for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
            (home / side).unlink(missing_ok=True)
        if kind == "garbage":
            p.write_bytes(np.random.default_rng(2).bytes(len(good)))
        elif kind == "truncated":
            p.write_bytes(good[: len(good) // 3])
        elif kind == "zero-bytes":
            p.write_bytes(b"")
        elif kind == "header-only":
            p.write_bytes(good[:100])
        elif kind == "header+garbage":
            p.write_bytes(good[:100] + b"\xee" * (len(good) - 100))
        elif kind in ("newer-schema", "no-runs-table"):
            with closing(sqlite3.connect(p, isolation_level=None)) as conn:   # closed: its WAL is checkpointed
                conn.execute("PRAGMA user_version = 99" if kind == "newer-schema" else "DROP TABLE runs")
        elif kind == "directory":
            p.unlink()
            p.mkdir()
        elif kind == "garbage-wal":
            (home / "runs.sqlite-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\xee" * 4096)
    return damage


STORE_KINDS = ["garbage", "truncated", "zero-bytes", "header-only", "header+garbage", "newer-schema", "no-runs-table",
               "directory", "garbage-wal"]
STORE_COMMANDS = {"runs": ["runs"], "train": ["train", "--preset", "linear", "--detach", "-mn", "x"],
                  "stop": ["stop", "1"], "delete": ["delete", "run", "1"], "rename": ["rename", "run", "1", "x"],
                  "models": ["models"], "store-reset": ["store-reset"], "store-reset--yes": ["store-reset", "--yes"]}


def store_case(kind: str, cmd: str) -> Case:
    argv = STORE_COMMANDS[cmd]
    healthy = kind == "garbage-wal"   # SQLite ignores a WAL whose header does not check out

    def run() -> Outcome:
        home = fresh_home()
        _store_damage(kind)(home)
        store = home / "runs.sqlite"
        raw = store.read_bytes() if store.is_file() else None
        before = snapshot(home)
        res = run_cli(argv, home)
        after = snapshot(home)
        text = describe(res)
        if healthy:   # delete and rename are meant to change run 1
            ok = res.tb is None and res.code in (0, 1, 2) and (cmd in ("delete", "rename") or not lost(before, after))
        elif cmd == "models":
            ok = res.code == 0 and res.tb is None and after == before
        elif kind in ("newer-schema", "directory") and cmd.startswith("store-reset"):
            ok = one_line_error(res) and after == before   # never moved aside: update the app / not a file
        elif cmd == "store-reset--yes":
            asides = sorted(home.glob("runs.sqlite.damaged-*"))
            kept = bool(asides) and (raw is None or (asides[0].is_file() and asides[0].read_bytes() == raw))
            fresh = store.is_file() and store.stat().st_size > 0
            ok = res.code == 0 and res.tb is None and kept and fresh
            text += f"; damaged file kept aside {'byte for byte' if kept else 'NOT KEPT'}, fresh store {'made' if fresh else 'MISSING'}"
        elif cmd == "store-reset":
            ok = res.code == 1 and res.tb is None and after == before and "--yes" in res.err
        else:
            ok = one_line_error(res) and after == before
        if (cmd != "store-reset--yes" or kind in ("newer-schema", "directory")) and not healthy:
            text += "; store untouched" if after == before else "; STORE CHANGED"
        gone = [] if cmd == "store-reset--yes" else lost(before, after)
        return Outcome(text, ok, traceback=res.tb is not None, data_lost=bool(gone))
    exp = ("no traceback, run 1 kept" if healthy else
           "exit 1, one line, store untouched" if kind in ("newer-schema", "directory") and cmd.startswith("store-reset") else "exit 0, models listed" if cmd == "models" else
           "exit 0, damaged file kept aside byte for byte, fresh store" if cmd == "store-reset--yes" else
           "exit 1, asks for --yes, nothing changed" if cmd == "store-reset" else "exit 1, one line, store untouched")
    return Case(f"store.{kind}.{cmd}", "Damaged run stores", f"`runs.sqlite` {kind}; `{' '.join(argv)}`", exp,
                cli_command(argv), run)


def cases() -> list[Case]:
    return ([upload_case(n, make, exp) for n, (make, exp) in _uploads().items()] + metadata_cases() + keras_cases()
            + [store_case(k, c) for k in STORE_KINDS for c in STORE_COMMANDS])
